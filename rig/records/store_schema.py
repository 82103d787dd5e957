"""Tables of the results store (SQLAlchemy 2.x ORM, typed columns), the records written,
and the row-level helpers the store uses (natural-key lookup, writer process identity).

Times are naive UTC everywhere (SQLite keeps no time zone; PostgreSQL's `timestamp` neither),
so the same row digests to the same bytes on both back ends.
"""

from __future__ import annotations

import os
import socket
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    select,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship

from rig.records import digest

if TYPE_CHECKING:
    from rig.metrology.decision import Decision
    from rig.metrology.uncertainty import Budget

NAME_LEN = 128
SHORT_LEN = 32
SHA256_HEX_LEN = 64


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class Station(Base):
    __tablename__ = "stations"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_LEN), unique=True)


class Unit(Base):
    __tablename__ = "units"
    id: Mapped[int] = mapped_column(primary_key=True)
    serial: Mapped[str] = mapped_column(String(NAME_LEN), unique=True)
    model: Mapped[str] = mapped_column(String(NAME_LEN))


class Instrument(Base):
    """One instrument in one certificate period: a recalibration is a new row."""

    __tablename__ = "instruments"
    __table_args__ = (UniqueConstraint("role", "model", "serial", "certificate", "cal_due"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    role: Mapped[str] = mapped_column(String(NAME_LEN))
    model: Mapped[str] = mapped_column(String(NAME_LEN))
    serial: Mapped[str] = mapped_column(String(NAME_LEN))
    certificate: Mapped[str] = mapped_column(String(NAME_LEN), default="")
    cal_due: Mapped[date | None] = mapped_column(Date)


class Run(Base):
    __tablename__ = "runs"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(SHORT_LEN))
    started_at: Mapped[datetime] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)
    status: Mapped[str] = mapped_column(String(SHORT_LEN), index=True)
    verdict: Mapped[str | None] = mapped_column(String(SHORT_LEN))
    message: Mapped[str] = mapped_column(Text, default="")
    operator: Mapped[str] = mapped_column(String(NAME_LEN))
    station_id: Mapped[int] = mapped_column(ForeignKey("stations.id"))
    slot: Mapped[int] = mapped_column(Integer)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    firmware: Mapped[str] = mapped_column(String(NAME_LEN))
    decision_rule: Mapped[str] = mapped_column(String(NAME_LEN))
    ambient_temp_c: Mapped[float | None] = mapped_column(Float)
    ambient_rh_pct: Mapped[float | None] = mapped_column(Float)
    due_override: Mapped[bool] = mapped_column(Boolean, default=False)
    due_override_reason: Mapped[str] = mapped_column(Text, default="")
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    rig_version: Mapped[str] = mapped_column(String(SHORT_LEN))
    host: Mapped[str] = mapped_column(String(NAME_LEN))
    pid: Mapped[int] = mapped_column(Integer)
    process_start: Mapped[str] = mapped_column(String(SHORT_LEN), default="")
    n_points: Mapped[int | None] = mapped_column(Integer)
    sha256: Mapped[str | None] = mapped_column(String(SHA256_HEX_LEN))
    field_digests: Mapped[dict[str, Any] | None] = mapped_column()
    # The audit chain's head ({log, seq, hash}) when the run was finished, and the station key's
    # signature over the run digest and that head (digest.run_message); NULL when unsigned.
    audit_head: Mapped[dict[str, Any] | None] = mapped_column()
    signature: Mapped[dict[str, Any] | None] = mapped_column()

    station: Mapped[Station] = relationship()
    unit: Mapped[Unit] = relationship()


class RunInstrument(Base):
    __tablename__ = "run_instruments"
    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), index=True)
    instrument_id: Mapped[int] = mapped_column(ForeignKey("instruments.id"))
    resource: Mapped[str] = mapped_column(String(NAME_LEN * 2), default="")
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)

    run: Mapped[Run] = relationship()
    instrument: Mapped[Instrument] = relationship()


class Point(Base):
    __tablename__ = "points"
    __table_args__ = (UniqueConstraint("run_id", "seq"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    phase: Mapped[str] = mapped_column(String(SHORT_LEN))
    requirement: Mapped[str] = mapped_column(String(NAME_LEN))
    clause: Mapped[str] = mapped_column(String(NAME_LEN * 2))
    name: Mapped[str] = mapped_column(String(NAME_LEN * 2))
    parameters: Mapped[dict[str, Any]] = mapped_column()
    measured: Mapped[float | None] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(SHORT_LEN))
    nominal: Mapped[float | None] = mapped_column(Float)
    lower: Mapped[float | None] = mapped_column(Float)
    upper: Mapped[float | None] = mapped_column(Float)
    expanded_uncertainty: Mapped[float | None] = mapped_column(Float)
    tur: Mapped[float | None] = mapped_column(Float)
    verdict: Mapped[str] = mapped_column(String(SHORT_LEN))
    budget: Mapped[dict[str, Any] | None] = mapped_column()
    raw: Mapped[dict[str, Any] | None] = mapped_column()
    taken_at: Mapped[datetime] = mapped_column(DateTime)
    sha256: Mapped[str] = mapped_column(String(SHA256_HEX_LEN))
    field_digests: Mapped[dict[str, Any]] = mapped_column()


class Calibration(Base):
    __tablename__ = "calibrations"
    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), index=True)
    polarity: Mapped[str] = mapped_column(String(SHORT_LEN))
    before: Mapped[dict[str, Any]] = mapped_column()
    after: Mapped[dict[str, Any]] = mapped_column()
    residuals: Mapped[dict[str, Any]] = mapped_column()
    written: Mapped[bool] = mapped_column(Boolean)
    readback_ok: Mapped[bool | None] = mapped_column(Boolean)
    notes: Mapped[str] = mapped_column(Text, default="")
    taken_at: Mapped[datetime] = mapped_column(DateTime)
    sha256: Mapped[str] = mapped_column(String(SHA256_HEX_LEN))
    field_digests: Mapped[dict[str, Any]] = mapped_column()


class RequirementVerdict(Base):
    __tablename__ = "requirement_verdicts"
    __table_args__ = (UniqueConstraint("run_id", "requirement"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), index=True)
    requirement: Mapped[str] = mapped_column(String(NAME_LEN))
    clause: Mapped[str] = mapped_column(String(NAME_LEN * 2))
    verdict: Mapped[str] = mapped_column(String(SHORT_LEN))
    worst_margin: Mapped[float | None] = mapped_column(Float)
    notes: Mapped[str] = mapped_column(Text, default="")
    sha256: Mapped[str] = mapped_column(String(SHA256_HEX_LEN))
    field_digests: Mapped[dict[str, Any]] = mapped_column()


def utc_now() -> datetime:
    """Naive UTC, microseconds: what both back ends give back unchanged."""
    return datetime.now(UTC).replace(tzinfo=None)


def naive_utc(moment: datetime | None) -> datetime:
    if moment is None:
        return utc_now()
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def text_value(value: Any) -> str:
    return value.value if isinstance(value, Enum) else str(value)


@dataclass
class PointRecord:
    """One measured point as stored; parameters, budget and raw are plain dicts."""

    phase: str
    requirement: str
    clause: str
    name: str
    measured: float | None
    unit: str
    verdict: str
    parameters: dict = field(default_factory=dict)
    nominal: float | None = None
    lower: float | None = None
    upper: float | None = None
    expanded_uncertainty: float | None = None
    tur: float | None = None
    budget: dict | None = None
    raw: dict | None = None
    taken_at: datetime | None = None
    seq: int | None = None  # None: the next number in the run

    @classmethod
    def from_decision(cls, decision: Decision, *, phase: str, requirement: str, clause: str,
                      name: str, unit: str, parameters: dict | None = None,
                      nominal: float | None = None, budget: Budget | None = None,
                      raw: dict | None = None) -> PointRecord:
        """A point from a decision (limits, U, TUR, verdict) and the budget behind its U."""
        return cls(phase=phase, requirement=requirement, clause=clause, name=name,
                   measured=decision.measured, unit=unit, verdict=decision.verdict.value,
                   parameters=parameters or {}, nominal=nominal, lower=decision.lower,
                   upper=decision.upper, expanded_uncertainty=decision.expanded_uncertainty,
                   tur=decision.tur, budget=None if budget is None else budget.as_dict(),
                   raw={**(raw or {}), "decision": {
                       "rule": decision.rule.value, "margin": decision.margin,
                       "guard_band": decision.guard_band, "low_tur": decision.low_tur}})


@dataclass
class CalibrationRecord:
    polarity: str
    before: dict
    after: dict
    residuals: dict
    written: bool
    readback_ok: bool | None = None
    notes: str = ""
    taken_at: datetime | None = None


def point_values(run_id: int, point: PointRecord) -> dict:
    """The point as its row will read back, so its digest is computed on stored values."""
    values = asdict(point)
    for name in ("measured", "nominal", "lower", "upper", "expanded_uncertainty", "tur"):
        values[name] = digest.storable_float(values[name])
    for name in ("parameters", "budget", "raw"):
        values[name] = digest.storable_json(values[name])
    values.update(run_id=run_id, verdict=text_value(point.verdict),
                  taken_at=naive_utc(point.taken_at))
    return values


def row_dict(row: Any) -> dict:
    return {c.key: getattr(row, c.key) for c in row.__table__.columns}


def get_or_create(session: Session, model: type, keys: dict, extra: dict | None = None) -> Any:
    """Select a row by its natural key, inserting it if absent; safe against a racing station."""
    statement = select(model).filter_by(**keys)
    found = session.scalars(statement).first()
    if found is not None:
        return found
    try:
        with session.begin_nested():
            row = model(**keys, **(extra or {}))
            session.add(row)
        return row
    except IntegrityError:
        return session.scalars(statement).one()


def process_start_marker(pid: int) -> str:
    """Start time of a process in clock ticks since boot (Linux), to tell a reused pid apart."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    # Field 22; the command name (field 2) may hold spaces, so count after its closing paren.
    return stat.rsplit(")", 1)[1].split()[19]


def process_alive(host: str, pid: int, start_marker: str) -> bool | None:
    """True/False for a process on this host; None when it ran on another host."""
    if host != socket.gethostname():
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return not start_marker or process_start_marker(pid) == start_marker
