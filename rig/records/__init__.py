"""Records: the results store (SQLite / PostgreSQL) and run digests for tamper evidence."""

from rig.records.digest import (
    TamperFinding,
    canonical_run_json,
    diff_runs_for_tamper,
    run_sha256,
    verify_run,
)
from rig.records.store import CalibrationRecord, PointRecord, ResultsStore

__all__ = [
    "CalibrationRecord",
    "PointRecord",
    "ResultsStore",
    "TamperFinding",
    "canonical_run_json",
    "diff_runs_for_tamper",
    "run_sha256",
    "verify_run",
]
