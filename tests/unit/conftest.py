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
