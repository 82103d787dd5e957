"""The history view, read from the results store (the only store): the station's last runs and a
unit's every run with its verdict, its as-found / as-left points and its report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rig.records.store import ResultsStore

LAST_RUNS = 20
UNIT_RUNS_MAX = 200
PHASES = ("as_found", "as_left")


def _run_row(run: dict[str, Any], reports_dir: Path) -> dict[str, Any]:
    report = reports_dir / f"run-{run['id']}.html"
    started = run.get("started_at")
    return {
        "run_id": run["id"], "started_at": started.isoformat(timespec="seconds") if started else "",
        "slot": run["slot"], "serial": run["unit_serial"], "operator": run["operator"], "status": run["status"],
        "verdict": run.get("verdict") or "", "message": run.get("message") or "", "kind": run["kind"],
        "report_url": f"/reports/{report.name}" if report.is_file() else None,
    }


def station_runs(store: ResultsStore, station: str, reports_dir: Path, limit: int = LAST_RUNS) -> list[dict]:
    return [_run_row(run, reports_dir) for run in store.runs(station=station, limit=limit)]


def unit_history(store: ResultsStore, serial: str, reports_dir: Path) -> list[dict]:
    """Every run of the unit, newest first, with its as-found / as-left points: how many and how many
    did not pass."""
    rows = []
    for run in store.runs(unit_serial=serial, limit=UNIT_RUNS_MAX):
        row = _run_row(run, reports_dir)
        points = store.rows(run["id"])["points"]
        for phase in PHASES:
            taken = [p for p in points if p["phase"] == phase]
            row[phase] = {"points": len(taken),
                          "not_pass": sum(p["verdict"] not in ("PASS", "N/A") for p in taken)}
        rows.append(row)
    return rows
