"""The results store: every run, point, calibration and verdict, committed as it is taken.

An embedded SQLite file by default (WAL, synchronous FULL: a SIGKILL loses no committed row);
any SQLAlchemy URL otherwise, e.g. postgresql+psycopg://... for a line of stations writing to
one database. A run that never reaches finish_run stays "running": that is the "did not finish"
state; the run keeps host, pid and process start so a dead writer can be told from a live one.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from dataclasses import asdict
from datetime import date
from typing import TYPE_CHECKING, Any

import pandas as pd
from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError, ProgrammingError
from sqlalchemy.orm import Session

from rig.records import digest
from rig.records.store_engine import DB_URL_ENV, add_missing_columns, default_url, make_engine, masked_url
from rig.records.store_schema import (
    Base,
    Calibration,
    CalibrationRecord,
    Instrument,
    Point,
    PointRecord,
    RequirementVerdict,
    Run,
    RunInstrument,
    Station,
    Unit,
    get_or_create,
    naive_utc,
    point_values,
    process_alive,
    process_start_marker,
    row_dict,
    text_value,
    utc_now,
)

if TYPE_CHECKING:
    from rig.records.signing import Signer

__all__ = ["DB_URL_ENV", "CalibrationRecord", "PointRecord", "ResultsStore", "default_url", "process_alive"]

RUNNING = "running"
INTERRUPTED = "interrupted"  # left running by a process that died (rig/records/stale_runs.py)
END_STATUSES = ("finished", "aborted", "error", INTERRUPTED)


def _as_date(value: Any) -> date | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _rig_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ix30-rig")
    except PackageNotFoundError:
        return "unknown"


INSTRUMENT_KEYS = ("role", "model", "serial", "certificate", "cal_due")


def _ambient(ambient: dict | None) -> tuple[float | None, float | None]:
    ambient = ambient or {}
    return (digest.storable_float(ambient.get("temperature_c")),
            digest.storable_float(ambient.get("humidity_pct")))


def _settings_with_override(settings: dict | None, override: dict | None) -> dict:
    """Settings as given, plus the whole override (who allowed it, ...) beside its reason."""
    merged = dict(settings or {})
    if override:
        merged["due_override"] = dict(override)
    return merged


class ResultsStore:
    def __init__(self, url: str | None = None) -> None:
        self.url = url or default_url()
        self.engine = make_engine(self.url)
        try:
            Base.metadata.create_all(self.engine)
        except (IntegrityError, ProgrammingError):
            # Another station created the tables at the same moment: theirs will do.
            Base.metadata.create_all(self.engine)
        add_missing_columns(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> ResultsStore:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def start_run(self, *, kind: str, station: str, slot: int, operator: str, unit_serial: str,
                  unit_model: str, firmware: str, decision_rule: str,
                  instruments: Sequence[dict], ambient: dict | None = None,
                  settings: dict | None = None, override: dict | None = None) -> int:
        """Open a run (status "running") and commit it; returns the run id.

        instruments: dicts with role, model, serial, certificate, cal_due (ISO date), and
        optionally resource; other keys are kept as details. ambient: temperature_c,
        humidity_pct. settings: settle times and other knobs used. override: {"reason": ...}
        when the run goes ahead with an instrument past its calibration due date.
        """
        temp_c, rh_pct = _ambient(ambient)
        pid = os.getpid()
        with Session(self.engine) as session, session.begin():
            run = Run(kind=kind, started_at=utc_now(), status=RUNNING, operator=operator,
                      station=get_or_create(session, Station, {"name": station}), slot=slot,
                      unit=get_or_create(session, Unit, {"serial": unit_serial},
                                          {"model": unit_model}),
                      firmware=firmware, decision_rule=text_value(decision_rule),
                      ambient_temp_c=temp_c, ambient_rh_pct=rh_pct,
                      due_override=bool(override and override.get("active", True)),
                      due_override_reason=str((override or {}).get("reason", "")),
                      settings=digest.storable_json(_settings_with_override(settings, override)),
                      message="",
                      rig_version=_rig_version(), host=socket.gethostname(), pid=pid,
                      process_start=process_start_marker(pid))
            session.add(run)
            for spec in instruments:
                self._attach_instrument(session, run, spec)
            session.flush()
            return run.id

    @staticmethod
    def _attach_instrument(session: Session, run: Run, spec: dict) -> None:
        keys = {k: str(spec.get(k) or "") for k in INSTRUMENT_KEYS if k != "cal_due"}
        keys["cal_due"] = _as_date(spec.get("cal_due"))
        instrument = get_or_create(session, Instrument, keys)
        details = {k: v for k, v in spec.items() if k not in (*INSTRUMENT_KEYS, "resource")}
        session.add(RunInstrument(run=run, instrument=instrument,
                                  resource=str(spec.get("resource", "")),
                                  details=digest.storable_json(details)))

    def _open_run(self, session: Session, run_id: int) -> Run:
        run = session.get(Run, run_id)
        if run is None:
            raise KeyError(f"no run {run_id} in {masked_url(self.url)}")
        if run.status != RUNNING:
            raise ValueError(f"run {run_id} is {run.status}; its record is closed")
        return run

    def add_point(self, run_id: int, point: PointRecord) -> int:
        """Store one point and commit before returning; returns its row id.

        Core statements, not the ORM session: a run stores hundreds of points, and the session's
        identity map and unit of work cost 3.7 ms of CPU per point for nothing a single insert needs.
        """
        values = point_values(run_id, point)
        with self.engine.begin() as connection:
            status = connection.scalar(select(Run.status).where(Run.id == run_id))
            if status is None:
                raise KeyError(f"no run {run_id} in {masked_url(self.url)}")
            if status != RUNNING:
                raise ValueError(f"run {run_id} is {status}; its record is closed")
            if values["seq"] is None:
                last = connection.scalar(select(func.max(Point.seq)).where(Point.run_id == run_id))
                values["seq"] = (last or 0) + 1
            sha, per_field = digest.row_digests(values, digest.POINT_FIELDS)
            # Values as parameters, not .values(): the compiled statement is then cached across points.
            inserted = connection.execute(insert(Point), {**values, "sha256": sha, "field_digests": per_field})
            return inserted.inserted_primary_key[0]

    def add_calibration(self, run_id: int, record: CalibrationRecord) -> int:
        values = {k: digest.storable_json(v) for k, v in asdict(record).items()
                  if k != "taken_at"}
        values.update(run_id=run_id, taken_at=naive_utc(record.taken_at),
                      written=bool(record.written), notes=str(record.notes))
        return self._add_digested(run_id, Calibration, values, digest.CALIBRATION_FIELDS)

    def set_requirement_verdict(self, run_id: int, requirement: str, clause: str,
                                verdict: str, worst_margin: float | None,
                                notes: str = "") -> None:
        """Record (or replace) the verdict of one requirement of a run; commits."""
        values = {"run_id": run_id, "requirement": requirement, "clause": clause,
                  "verdict": text_value(verdict), "worst_margin": digest.storable_float(worst_margin),
                  "notes": notes}
        self._add_digested(run_id, RequirementVerdict, values, digest.REQUIREMENT_FIELDS,
                           replace={"run_id": run_id, "requirement": requirement})

    def _add_digested(self, run_id: int, model: type, values: dict, fields: tuple[str, ...],
                      replace: dict | None = None) -> int:
        sha, per_field = digest.row_digests(values, fields)
        with Session(self.engine) as session, session.begin():
            self._open_run(session, run_id)
            if replace is not None:
                for old in session.scalars(select(model).filter_by(**replace)):
                    session.delete(old)
                session.flush()
            row = model(**values, sha256=sha, field_digests=per_field)
            session.add(row)
            session.flush()
            return row.id

    def finish_run(self, run_id: int, *, status: str, verdict: str | None, message: str = "",
                   audit_head: dict | None = None, signer: Signer | None = None) -> None:
        """Close a run; then seal it with its run digest and per-field header digests, the audit
        chain's head it ended against, and (with the station key) a signature over both."""
        if status not in END_STATUSES:
            raise ValueError(f"finish status must be one of {END_STATUSES}, got {status!r}")
        with Session(self.engine) as session, session.begin():
            run = self._open_run(session, run_id)
            run.status, run.finished_at, run.message = status, utc_now(), message
            run.verdict = None if verdict is None else text_value(verdict)
            run.n_points = session.scalar(select(func.count()).where(Point.run_id == run_id))
        header = self.run(run_id)
        _, per_field = digest.row_digests(header, digest.RUN_FIELDS)
        run_digest = digest.run_sha256(self, run_id)
        with Session(self.engine) as session, session.begin():
            run = session.get(Run, run_id)
            run.sha256, run.field_digests = run_digest, per_field
            run.audit_head = audit_head
            if signer is not None:
                run.signature = signer.sign(digest.run_message(run_id, run_digest, audit_head))

    def run(self, run_id: int) -> dict:
        """The run's header: its columns, station name, unit serial/model, instruments used."""
        with Session(self.engine) as session:
            run = session.get(Run, run_id)
            if run is None:
                raise KeyError(f"no run {run_id} in {masked_url(self.url)}")
            return self._run_dict(session, run)

    @staticmethod
    def _run_dict(session: Session, run: Run) -> dict:
        data = row_dict(run)
        data.update(station=run.station.name, unit_serial=run.unit.serial,
                    unit_model=run.unit.model)
        links = session.scalars(select(RunInstrument).where(RunInstrument.run_id == run.id)
                                .order_by(RunInstrument.id))
        data["instruments"] = [
            {**{k: getattr(link.instrument, k) for k in INSTRUMENT_KEYS},
             "resource": link.resource, **link.details} for link in links]
        return data

    def runs(self, *, status: str | None = None, station: str | None = None,
             unit_serial: str | None = None, kind: str | None = None,
             limit: int | None = None) -> list[dict]:
        """Run headers, newest first, filtered by any of the given fields."""
        statement = select(Run).order_by(Run.id.desc()).limit(limit)
        if status is not None:
            statement = statement.where(Run.status == status)
        if kind is not None:
            statement = statement.where(Run.kind == kind)
        if station is not None:
            statement = statement.join(Run.station).where(Station.name == station)
        if unit_serial is not None:
            statement = statement.join(Run.unit).where(Unit.serial == unit_serial)
        with Session(self.engine) as session:
            return [self._run_dict(session, run) for run in session.scalars(statement)]

    def unfinished_runs(self) -> list[dict]:
        """Runs still "running", each with process_alive: False means its writer died."""
        found = self.runs(status=RUNNING)
        for run in found:
            run["process_alive"] = process_alive(run["host"], run["pid"], run["process_start"])
        return found

    def rows(self, run_id: int) -> dict[str, list[dict]]:
        """Every stored column of the run's points, calibrations and requirement verdicts."""
        tables = {"points": (Point, Point.seq), "calibrations": (Calibration, Calibration.id),
                  "requirement_verdicts": (RequirementVerdict, RequirementVerdict.id)}
        with Session(self.engine) as session:
            return {name: [row_dict(row) for row in session.scalars(
                        select(model).where(model.run_id == run_id).order_by(order))]
                    for name, (model, order) in tables.items()}

    def points(self, run_id: int) -> pd.DataFrame:
        """The run's points in order; parameter keys also get their own columns."""
        records = self.rows(run_id)["points"]
        frame = pd.DataFrame(records, columns=[c.key for c in Point.__table__.columns])
        params = pd.DataFrame([r["parameters"] for r in records], index=frame.index)
        extra = [c for c in params.columns if c not in frame.columns]
        return pd.concat([frame, params[extra]], axis=1)

    def calibrations(self, run_id: int) -> list[dict]:
        return self.rows(run_id)["calibrations"]

    def requirement_verdicts(self, run_id: int) -> list[dict]:
        return self.rows(run_id)["requirement_verdicts"]
