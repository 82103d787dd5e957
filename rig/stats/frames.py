"""The store read as tidy pandas frames: one row per run, per point (with its run's metadata and its
grid parameters as columns) and per calibration record. Read-only; SQLite and PostgreSQL alike."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import pandas as pd
from sqlalchemy import Select, select
from sqlalchemy.engine import Engine

from rig.records.store_schema import Calibration, Point, RequirementVerdict, Run, Station, Unit

RUNNING = "running"
PASSED = "PASS"  # only a plain PASS passes on the production line
# Grid parameters every accuracy point carries (rig/procedures/accuracy.py), as their own columns.
PARAMETER_COLUMNS = ("polarity", "waveform", "load_ohm", "setpoint_ma")
RUN_COLUMNS = ("run_id", "kind", "started_at", "finished_at", "status", "verdict", "operator", "station",
               "slot", "serial", "firmware", "decision_rule")


@dataclass(frozen=True)
class Filters:
    """What `rig stats` was asked to look at; None: everything."""

    since: date | None = None
    station: str | None = None
    firmware: str | None = None
    requirement: str | None = None


@dataclass
class StoreFrames:
    runs: pd.DataFrame  # RUN_COLUMNS, ended runs only, oldest first
    points: pd.DataFrame  # one row per point: run metadata, point columns, PARAMETER_COLUMNS
    calibrations: pd.DataFrame  # one row per calibration record (polarity) with run metadata
    requirement_verdicts: pd.DataFrame  # one row per run and requirement: verdict, with run metadata


def _run_select(filters: Filters) -> Select:
    statement = (select(Run.id.label("run_id"), Run.kind, Run.started_at, Run.finished_at, Run.status,
                        Run.verdict, Run.operator, Station.name.label("station"), Run.slot,
                        Unit.serial.label("serial"), Run.firmware, Run.decision_rule)
                 .join(Station, Run.station_id == Station.id).join(Unit, Run.unit_id == Unit.id)
                 .where(Run.status != RUNNING).order_by(Run.started_at, Run.id))
    if filters.since is not None:
        statement = statement.where(Run.started_at >= datetime.combine(filters.since, datetime.min.time()))
    if filters.station is not None:
        statement = statement.where(Station.name == filters.station)
    if filters.firmware is not None:
        statement = statement.where(Run.firmware == filters.firmware)
    return statement


def _with_parameters(points: pd.DataFrame) -> pd.DataFrame:
    params = pd.DataFrame([p if isinstance(p, dict) else {} for p in points["parameters"]], index=points.index)
    for column in PARAMETER_COLUMNS:
        values = params[column] if column in params.columns else pd.Series(None, index=points.index, dtype=object)
        points[column] = pd.to_numeric(values, errors="coerce") if column.endswith(("_ohm", "_ma")) else values
    return points.drop(columns=["parameters"])


def read_frames(engine: Engine, filters: Filters = Filters()) -> StoreFrames:
    """The ended runs the filters select, their points and calibration records."""
    runs_q = _run_select(filters).subquery()
    with engine.connect() as connection:
        runs = pd.DataFrame(connection.execute(select(runs_q)).mappings().all(), columns=list(RUN_COLUMNS))
        point_q = (select(runs_q, Point.seq, Point.phase, Point.requirement, Point.name, Point.parameters,
                          Point.measured, Point.unit, Point.nominal, Point.lower, Point.upper,
                          Point.expanded_uncertainty, Point.verdict.label("point_verdict"), Point.taken_at)
                   .join(runs_q, Point.run_id == runs_q.c.run_id).order_by(runs_q.c.started_at, Point.run_id,
                                                                             Point.seq))
        if filters.requirement is not None:
            point_q = point_q.where(Point.requirement == filters.requirement)
        rows = connection.execute(point_q).mappings().all()
        point_columns = [c.name for c in point_q.selected_columns]
        points = _with_parameters(pd.DataFrame(rows, columns=point_columns))
        cal_q = (select(runs_q, Calibration.polarity, Calibration.before, Calibration.after,
                        Calibration.written, Calibration.readback_ok)
                 .join(runs_q, Calibration.run_id == runs_q.c.run_id).order_by(runs_q.c.started_at,
                                                                                 Calibration.id))
        calibrations = pd.DataFrame(connection.execute(cal_q).mappings().all(),
                                    columns=[c.name for c in cal_q.selected_columns])
        verdict_q = (select(runs_q, RequirementVerdict.requirement,
                            RequirementVerdict.verdict.label("requirement_verdict"))
                     .join(runs_q, RequirementVerdict.run_id == runs_q.c.run_id)
                     .order_by(runs_q.c.started_at, RequirementVerdict.id))
        if filters.requirement is not None:
            verdict_q = verdict_q.where(RequirementVerdict.requirement == filters.requirement)
        verdicts = pd.DataFrame(connection.execute(verdict_q).mappings().all(),
                                columns=[c.name for c in verdict_q.selected_columns])
    for frame in (runs, points, calibrations, verdicts):
        for column in ("started_at", "finished_at", "taken_at"):
            if column in frame.columns:
                frame[column] = pd.to_datetime(frame[column])
    for column in ("measured", "nominal", "lower", "upper", "expanded_uncertainty"):
        points[column] = pd.to_numeric(points[column], errors="coerce")
    return StoreFrames(runs=runs, points=points, calibrations=calibrations, requirement_verdicts=verdicts)

