"""CSV and Parquet exports of the tidy tables, for people who analyse elsewhere.

`OUT` names the points table (one row per point with its run's metadata); every other table goes
beside it as `<stem>-<table><suffix>`. JSON-like columns (the calibration records' coefficient dicts)
are written as JSON text so that both formats hold plain columns.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from rig.stats.summary import StatsSummary

POINTS_TABLE = "points"


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    for column in frame.columns:
        if frame[column].map(lambda v: isinstance(v, dict | list)).any():
            frame[column] = frame[column].map(lambda v: json.dumps(v, sort_keys=True) if v is not None else None)
        elif frame[column].dtype == object:
            frame[column] = frame[column].map(lambda v: v if v is None or isinstance(v, str) else str(v))
    return frame


def table_paths(out: Path, names: list[str]) -> dict[str, Path]:
    return {name: out if name == POINTS_TABLE else out.with_name(f"{out.stem}-{name}{out.suffix}") for name in names}


def write_tables(summary: StatsSummary, out: Path, fmt: str) -> list[Path]:
    """Write every table of the summary as CSV (fmt "csv") or Parquet (fmt "parquet"); the paths written."""
    tables = summary.tables()
    paths = table_paths(out, list(tables))
    out.parent.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        plain = _plain(frame)
        if fmt == "csv":
            plain.to_csv(paths[name], index=False)
        else:
            plain.to_parquet(paths[name], index=False)
    return list(paths.values())
