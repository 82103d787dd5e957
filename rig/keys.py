"""Per-unit calibration unlock keys: a secret the station provides outside the repository.

Sources (dut-protocol.md section 4): an environment variable or a file, holding either a table
(JSON or TOML object serial -> key) or a template with `{serial}`. The key is never logged,
printed or reported; errors name the source and the serial, never the key.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path

MAX_KEY_LENGTH = 32


class KeyError_(LookupError):
    """No usable key for a unit; names the source and the serial, never a key."""


def _validate(key: str, serial: str, source: str) -> str:
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable() or " " in key:
        raise KeyError_(
            f"unlock key for {serial} from {source} is not a printable token without spaces"
            f" of at most {MAX_KEY_LENGTH} characters"
        )
    return key


def _from_text(text: str, serial: str, source: str) -> str:
    stripped = text.strip()
    table: object = None
    if stripped.startswith("{"):
        try:
            table = json.loads(stripped)
        except json.JSONDecodeError:
            raise KeyError_(f"{source} looks like JSON but does not parse") from None
    elif "=" in stripped:
        try:
            table = tomllib.loads(stripped)
        except tomllib.TOMLDecodeError:
            raise KeyError_(f"{source} looks like a TOML table but does not parse") from None
    if isinstance(table, Mapping):
        if serial not in table:
            raise KeyError_(f"{source} has no unlock key for unit {serial}")
        return _validate(str(table[serial]), serial, source)
    if "{serial}" in stripped:
        return _validate(stripped.replace("{serial}", serial), serial, source)
    raise KeyError_(f"{source} holds neither a serial->key table nor a template with {{serial}}")


def check_source_spec(spec: str) -> tuple[str, str]:
    """(kind, where) of a key source `env:VAR` or `file:PATH`; KeyError_ for anything else."""
    kind, _, where = spec.partition(":")
    if kind not in ("env", "file") or not where.strip():
        raise KeyError_(f"unlock key source {spec!r} must be 'env:VAR' or 'file:PATH'")
    return kind, where


class KeySource:
    """Where keys come from: `env:VAR`, `file:PATH`, or an in-memory table (virtual bench)."""

    def __init__(self, spec: str | None = None, table: Mapping[str, str] | None = None) -> None:
        self._spec = spec
        self._table = dict(table or {})

    def describe(self) -> str:
        return self._spec or ("virtual bench" if self._table else "none")

    def key_for(self, serial: str) -> str:
        if serial in self._table:
            return _validate(self._table[serial], serial, "the virtual bench")
        spec = self._spec or "env:RIG_UNLOCK_KEYS"
        kind, where = check_source_spec(spec)
        if kind == "env":
            text = os.environ.get(where)
            if text is None:
                raise KeyError_(f"environment variable {where} is not set (unlock key for {serial})")
            return _from_text(text, serial, f"environment variable {where}")
        try:
            text = Path(where).expanduser().read_text(encoding="utf-8")
        except OSError as exc:
            raise KeyError_(f"key file {where}: cannot read: {exc.strerror}") from None
        except UnicodeDecodeError as exc:
            raise KeyError_(f"key file {where}: not UTF-8 text (byte {exc.start})") from None
        return _from_text(text, serial, f"key file {where}")
