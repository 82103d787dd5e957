"""Canonical JSON and SHA-256 digests of stored runs, and naming what was altered.

Every point, calibration and requirement verdict carries its own sha256 and a digest per field,
computed when it is written; a finished run carries the digest of the whole run and of each
header field. Recomputing them from the stored rows tells whether a row was altered and which
field. A finished run without its digests is itself a finding (a missing digest is never "intact").
Digests alone are tamper-evidence against edits of the data, not against someone who also
rewrites them: for that the station key signs `run_message` at finish (rig/records/signing.py).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rig.records.store import ResultsStore

# Enough to tell fields apart (64 bits) while keeping the per-field map small.
FIELD_DIGEST_HEX_CHARS = 16

POINT_FIELDS = ("run_id", "seq", "phase", "requirement", "clause", "name", "parameters",
                "measured", "unit", "nominal", "lower", "upper", "expanded_uncertainty", "tur",
                "verdict", "budget", "raw", "taken_at")
CALIBRATION_FIELDS = ("run_id", "polarity", "before", "after", "residuals", "written",
                      "readback_ok", "notes", "taken_at")
REQUIREMENT_FIELDS = ("run_id", "requirement", "clause", "verdict", "worst_margin", "notes")
RUN_FIELDS = ("id", "kind", "started_at", "finished_at", "status", "verdict", "message",
              "operator", "station", "slot", "unit_serial", "unit_model", "firmware",
              "decision_rule", "ambient_temp_c", "ambient_rh_pct", "due_override",
              "due_override_reason", "settings", "rig_version", "host", "pid", "process_start",
              "n_points", "instruments")
TABLE_FIELDS = {"points": POINT_FIELDS, "calibrations": CALIBRATION_FIELDS,
                "requirement_verdicts": REQUIREMENT_FIELDS}


def storable_float(value: float | None) -> float | None:
    """What a float column gives back: NaN becomes NULL (SQLite cannot keep a NaN)."""
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value


def storable_json(value: Any) -> Any:
    """Plain JSON data that round-trips through SQLite and PostgreSQL unchanged.

    NaN becomes null and infinities the strings "inf"/"-inf" (PostgreSQL's JSON refuses both);
    numpy scalars and arrays, enums, tuples and dates become their plain forms.
    """
    if isinstance(value, dict):
        return {str(k): storable_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [storable_json(v) for v in value]
    if isinstance(value, Enum):
        return storable_json(value.value)
    if hasattr(value, "tolist"):  # numpy array or scalar
        return storable_json(value.tolist())
    if isinstance(value, bool | int | str) or value is None:
        return value
    if isinstance(value, float):
        if math.isnan(value):
            return None
        return value if math.isfinite(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def _canonical(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if not math.isfinite(value):
            return "inf" if value > 0 else "-inf"
        return 0.0 if value == 0.0 else value  # -0.0 does not survive SQLite
    if isinstance(value, datetime):
        return value.isoformat(timespec="microseconds")
    if isinstance(value, date):
        return value.isoformat()
    return storable_json(value)


def canonical_bytes(value: Any) -> bytes:
    """Stable bytes of plain JSON data: sorted keys, no spaces, ASCII, shortest round-trip float
    repr, no NaN/inf. What every digest and signature of the rig is taken over."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      allow_nan=False).encode("ascii")


def canonical_sha256(value: Any) -> str:
    """The SHA-256 (hex) of `canonical_bytes(value)`: the one canonical-JSON digest."""
    return hashlib.sha256(canonical_bytes(value)).hexdigest()


def canonical_json(value: Any) -> bytes:
    """Stored-row data as canonical bytes (NaN as null, -0.0 as 0.0, dates as ISO text)."""
    return canonical_bytes(_canonical(value))


def sha256_hex(value: Any) -> str:
    return canonical_sha256(_canonical(value))


def row_digests(row: dict, fields: tuple[str, ...]) -> tuple[str, dict[str, str]]:
    """The digest of a row over `fields`, and a short digest per field."""
    subset = {f: row.get(f) for f in fields}
    per_field = {f: sha256_hex(v)[:FIELD_DIGEST_HEX_CHARS] for f, v in subset.items()}
    return sha256_hex(subset), per_field


def canonical_run(store: ResultsStore, run_id: int) -> dict:
    """The run as plain data: header, points, calibrations, requirement verdicts."""
    header = store.run(run_id)
    rows = store.rows(run_id)
    return {
        "run": {f: header.get(f) for f in RUN_FIELDS},
        **{table: [{f: row.get(f) for f in fields} for row in rows[table]]
           for table, fields in TABLE_FIELDS.items()},
    }


def canonical_run_json(store: ResultsStore, run_id: int) -> bytes:
    return canonical_json(canonical_run(store, run_id))


def run_sha256(store: ResultsStore, run_id: int) -> str:
    return sha256_hex(canonical_run(store, run_id))


def run_message(run_id: int, run_digest: str | None, audit_head: dict | None) -> dict:
    """What the station key signs when a run is finalised: its digest and the audit head it ended at."""
    return {"kind": "run", "run_id": run_id, "sha256": run_digest, "audit_head": audit_head}


@dataclass(frozen=True)
class TamperFinding:
    table: str
    row_id: int | None
    seq: int | None
    field: str
    detail: str

    def __str__(self) -> str:
        where = f"{self.table} row {self.row_id}" + (f" (seq {self.seq})" if self.seq else "")
        return f"{where}: field {self.field!r} {self.detail}"


def _row_findings(table: str, row: dict) -> list[TamperFinding]:
    fields = TABLE_FIELDS[table]
    sha, per_field = row_digests(row, fields)
    if sha == row.get("sha256"):
        return []
    stored = row.get("field_digests") or {}
    changed = [f for f in fields if stored.get(f) != per_field[f]]
    seq = row.get("seq")
    if not changed:
        return [TamperFinding(table, row.get("id"), seq, "sha256", "digest column altered")]
    return [TamperFinding(table, row.get("id"), seq, f, f"changed since written: now "
                          f"{row.get(f)!r}") for f in changed]


def _sequence_findings(header: dict, points: list[dict]) -> list[TamperFinding]:
    """Points are numbered 1..n with no gap; a finished run also knows its n."""
    seqs = sorted(p["seq"] for p in points)
    sealed_n = header.get("n_points")
    expected_n = sealed_n if sealed_n is not None else (seqs[-1] if seqs else 0)
    missing = sorted(set(range(1, expected_n + 1)) - set(seqs))
    findings = [TamperFinding("points", None, s, "seq", "point missing (deleted?)")
                for s in missing]
    findings += [TamperFinding("points", p["id"], p["seq"], "seq",
                               f"point added after the run finished with {sealed_n} points")
                 for p in points if sealed_n is not None and p["seq"] > sealed_n]
    return findings


def diff_runs_for_tamper(store: ResultsStore, run_id: int,
                         stored_digest: str | None = None) -> list[TamperFinding]:
    """Name every altered row and field of a run; empty when the run is as written.

    `stored_digest` is a run digest kept elsewhere (a report); by default the one stored at
    finish_run. Points, calibrations and verdicts are checked against their own digests.
    """
    header = store.run(run_id)
    rows = store.rows(run_id)
    findings = [finding for table in TABLE_FIELDS for row in rows[table]
                for finding in _row_findings(table, row)]
    findings += _sequence_findings(header, rows["points"])
    findings += _header_findings(header)
    if header.get("status") != "running":
        findings += [TamperFinding("runs", run_id, None, name,
                                   f"missing on a closed run (status {header.get('status')!r}; removed?)")
                     for name in ("sha256", "field_digests") if not header.get(name)]
    expected = stored_digest or header.get("sha256")
    if expected is not None and not findings and run_sha256(store, run_id) != expected:
        findings.append(TamperFinding("runs", run_id, None, "(run digest)",
                                      "differs from the stored run digest"))
    return findings


def _header_findings(header: dict) -> list[TamperFinding]:
    """The run's own fields, checked once the run is finished (before that they change)."""
    stored = header.get("field_digests")
    if not stored:
        return []
    _, per_field = row_digests(header, RUN_FIELDS)
    return [TamperFinding("runs", header.get("id"), None, f,
                          f"changed since the run finished: now {header.get(f)!r}")
            for f in RUN_FIELDS if stored.get(f) != per_field[f]]


verify_run = diff_runs_for_tamper
