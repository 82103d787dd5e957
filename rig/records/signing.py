"""The station signing key: Ed25519 signatures over the rig's integrity records.

What is signed: the audit chain's head after every entry, each run's digest (with the audit head
it was finished against) when the run is finalised, each calibration table and each report. A
SHA-256 alone can be recomputed by anyone with write access; a signature only by the station key.

Sources, kept like the unlock keys (rig/keys.py) outside the repository: `file:PATH` or `env:VAR`.
The private key is the station file's `signing_key`, else the variable RIG_SIGNING_KEY when set;
it is a PEM (PKCS#8) private key or 64 hex digits (the raw 32-byte seed). Verification needs only
the public key: `--public-key SOURCE` (or a bare path), else RIG_SIGNING_PUBLIC_KEY, else the one
derived from RIG_SIGNING_KEY. Key material is never logged or printed; errors name the source.

Without a key the rig still works, and every verification says UNSIGNED_NOTE (exit 3,
ExitCode.UNSIGNED in rig/exit_codes.py).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from rig.records.digest import canonical_bytes

SIGNING_KEY_ENV = "RIG_SIGNING_KEY"
PUBLIC_KEY_ENV = "RIG_SIGNING_PUBLIC_KEY"
SIGNATURE_ALGORITHM = "ed25519"
RAW_KEY_BYTES = 32
KEY_ID_HEX_CHARS = 16
UNSIGNED_NOTE = "unsigned: integrity not proven"


class SigningKeyError(ValueError):
    """No usable signing or public key at a configured source; names the source, never the key."""


def _key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:KEY_ID_HEX_CHARS]


@dataclass(frozen=True)
class Verifier:
    """A public key: checks signatures made by the station key."""

    public: Ed25519PublicKey = field(repr=False)

    @property
    def key_id(self) -> str:
        return _key_id(self.public)

    def check(self, message: Any, signature: Any) -> str | None:
        """None when `signature` (as `Signer.sign` made it) signs `message`; else what is wrong."""
        if not isinstance(signature, dict) or not signature.get("sig"):
            return "no signature"
        if signature.get("key_id") != self.key_id:
            return f"signed by key {signature.get('key_id')!r}, not by the given public key {self.key_id}"
        try:
            self.public.verify(base64.b64decode(str(signature["sig"]), validate=True), canonical_bytes(message))
        except (InvalidSignature, binascii.Error, ValueError):
            return "signature does not verify (content or signature altered)"
        return None


@dataclass(frozen=True)
class Signer:
    """The station's private key (its raw seed, so that forked slot workers can carry it)."""

    seed: bytes = field(repr=False)
    source: str = "unknown"

    def _private(self) -> Ed25519PrivateKey:
        return Ed25519PrivateKey.from_private_bytes(self.seed)

    @property
    def verifier(self) -> Verifier:
        return Verifier(self._private().public_key())

    def sign(self, message: Any) -> dict[str, str]:
        """A signature over the canonical JSON of `message`: {algorithm, key_id, sig (base64)}."""
        sig = self._private().sign(canonical_bytes(message))
        return {"algorithm": SIGNATURE_ALGORITHM, "key_id": self.verifier.key_id,
                "sig": base64.b64encode(sig).decode("ascii")}


def _read_source(spec: str, what: str) -> tuple[str, str]:
    """(text, description) from `env:VAR`, `file:PATH` or a bare path."""
    kind, sep, where = spec.partition(":")
    if sep and kind == "env":
        text = os.environ.get(where)
        if text is None:
            raise SigningKeyError(f"{what}: environment variable {where} is not set")
        return text, f"environment variable {where}"
    path = where if sep and kind == "file" else spec
    try:
        return Path(path).expanduser().read_text(encoding="utf-8"), f"file {path}"
    except (OSError, UnicodeDecodeError) as exc:
        raise SigningKeyError(f"{what} file {path}: cannot read: "
                              f"{getattr(exc, 'strerror', None) or 'not text'}") from None


def _hex32(text: str) -> bytes | None:
    stripped = text.strip()
    if len(stripped) != 2 * RAW_KEY_BYTES:
        return None
    try:
        return bytes.fromhex(stripped)
    except ValueError:
        return None


def _private_from_text(text: str, where: str) -> Ed25519PrivateKey:
    raw = _hex32(text)
    if raw is not None:
        return Ed25519PrivateKey.from_private_bytes(raw)
    try:
        key = serialization.load_pem_private_key(text.strip().encode("ascii"), password=None)
    except (ValueError, TypeError, UnicodeEncodeError):
        raise SigningKeyError(f"signing key from {where}: not a PEM private key nor 64 hex digits") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(f"signing key from {where}: not an Ed25519 key")
    return key


def load_signer(spec: str | None) -> Signer | None:
    """The station's signer from `spec`; without one, from RIG_SIGNING_KEY when set; else None."""
    if not spec:
        if os.environ.get(SIGNING_KEY_ENV) is None:
            return None
        spec = f"env:{SIGNING_KEY_ENV}"
    text, where = _read_source(spec, "signing key")
    key = _private_from_text(text, where)
    seed = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                             serialization.NoEncryption())
    return Signer(seed, where)


def load_verifier(spec: str | None) -> Verifier | None:
    """The public key from `spec` (`file:PATH`, `env:VAR` or a path; a private key is accepted and its
    public half used); else RIG_SIGNING_PUBLIC_KEY, else derived from RIG_SIGNING_KEY; else None."""
    if not spec:
        if os.environ.get(PUBLIC_KEY_ENV) is not None:
            spec = f"env:{PUBLIC_KEY_ENV}"
        else:
            signer = load_signer(None)
            return signer.verifier if signer else None
    text, where = _read_source(spec, "public key")
    if "PRIVATE KEY" in text:
        return Verifier(_private_from_text(text, where).public_key())
    raw = _hex32(text)
    if raw is not None:
        return Verifier(Ed25519PublicKey.from_public_bytes(raw))
    try:
        key = serialization.load_pem_public_key(text.strip().encode("ascii"))
    except (ValueError, TypeError, UnicodeEncodeError):
        raise SigningKeyError(f"public key from {where}: not a PEM public key nor 64 hex digits") from None
    if not isinstance(key, Ed25519PublicKey):
        raise SigningKeyError(f"public key from {where}: not an Ed25519 key")
    return Verifier(key)


def load_station_signer(signing_key: str | None, signing_public_key: str | None) -> Signer | None:
    """A station's signer; its `signing_public_key`, when given, must be the signer's public half."""
    signer = load_signer(signing_key)
    if signing_public_key and signer is not None:
        public = load_verifier(signing_public_key)
        if public is not None and public.key_id != signer.verifier.key_id:
            raise SigningKeyError(f"signing_public_key {signing_public_key} is not the public half of the signing key"
                                  f" from {signer.source}")
    return signer


def new_key_pem() -> tuple[bytes, bytes]:
    """A fresh key pair as (private PKCS#8 PEM, public PEM): for a throwaway station key."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, public
