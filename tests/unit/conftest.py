"""Fixtures shared by the unit tests."""

from __future__ import annotations

import pytest

from rig.records.store import ResultsStore


@pytest.fixture
def store(tmp_path):
    """An empty SQLite results store in the test's own folder."""
    results = ResultsStore(f"sqlite:///{tmp_path / 'results.sqlite'}")
    yield results
    results.close()


@pytest.fixture
def station_key(monkeypatch):
    """A fresh station signing key, configured as the station would (RIG_SIGNING_KEY): its Signer."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from rig.records.signing import PUBLIC_KEY_ENV, SIGNING_KEY_ENV, load_signer

    seed = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
    monkeypatch.delenv(PUBLIC_KEY_ENV, raising=False)
    monkeypatch.setenv(SIGNING_KEY_ENV, seed.hex())
    return load_signer(None)


@pytest.fixture
def no_station_key(monkeypatch):
    """No signing or public key configured anywhere."""
    from rig.records.signing import PUBLIC_KEY_ENV, SIGNING_KEY_ENV

    monkeypatch.delenv(SIGNING_KEY_ENV, raising=False)
    monkeypatch.delenv(PUBLIC_KEY_ENV, raising=False)
