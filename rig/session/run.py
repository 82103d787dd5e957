"""The main job: characterise, calibrate, write back and verify one unit, recording everything.

A library function (no CLI, no pytest): `rig calibrate` and the fixtures call it. Every measured point
is committed to the store before the next is taken; whatever way the run ends, the slot is made safe
and the run's state in the store says how it ended.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from rig.keys import KeySource
from rig.metrology.decision import DecisionRule, Verdict, worst_verdict
from rig.procedures.accuracy import AccuracySweep
from rig.procedures.calibrate import (
    CalibrationFit,
    CalibrationRefused,
    ReadbackMismatch,
    bound_violations,
    fit_calibration,
    write_calibration,
)
from rig.procedures.characterise import RawPoint, characterisation_plan, characterise
from rig.procedures.grid import GridPoint, accuracy_grid
from rig.procedures.points import MeasuredPoint
from rig.procedures.unit_events import UnitFault
from rig.records.audit import AuditChainError, AuditLog
from rig.records.cal_table import TablePaths, table_folder, write_table
from rig.records.point_writer import BackgroundPointWriter
from rig.records.signing import Signer
from rig.records.store import PointRecord, ResultsStore
from rig.session import findings as run_findings
from rig.session.records import calibration_records, instruments_of, record_of, table_document
from rig.slot import DueDateOverride, OpenSlot, SafeState, open_slot
from rig.spec import ProductSpec
from rig.station import Station

log = logging.getLogger(__name__)

CALIBRATION_REQUIREMENT = "calibration"
CALIBRATION_CLAUSE = "4: CAL:SAVE (kept over RESET)"
PERSISTED_NOTE = "written, saved, and read back unchanged with CAL? before and after a RESET"


class Progress(Protocol):
    def phase(self, name: str, total: int) -> None: ...
    def advance(self) -> None: ...


class NoProgress:
    def phase(self, name: str, total: int) -> None:
        log.info("phase %s (%d steps)", name, total)

    def advance(self) -> None:
        pass


@dataclass
class CalibrationJob:
    station: Station
    slot: int
    keys: KeySource
    spec: ProductSpec
    store: ResultsStore
    rule: DecisionRule = DecisionRule.GUARD_BAND
    operator: str = "unknown"
    calibrations_dir: Path = Path("calibrations")
    reports_dir: Path = Path("reports")
    expected_serial: str | None = None
    override: DueDateOverride | None = None
    ambient: dict | None = None
    today: dt.date = field(default_factory=dt.date.today)
    progress: Progress = field(default_factory=NoProgress)
    build_report: Callable[[ResultsStore, int, Path], Path | None] | None = None
    # Set by whoever runs several slots at once: an operator's Ctrl-C must stop every slot, and
    # only the main thread receives it. Checked after every stored point and before every step that
    # writes (the calibration write, the table): a write under way is finished and recorded, never
    # left half done. May carry a `reason` (e.g. the worker's parent died).
    abort: threading.Event = field(default_factory=threading.Event)
    # The station's signing key: signs the audit entries, the run, the table and the report.
    signer: Signer | None = None


class RunAborted(KeyboardInterrupt):
    """Stopped on request (another thread saw Ctrl-C or SIGTERM); the slot is made safe as for Ctrl-C."""


@dataclass
class CalibrationOutcome:
    verdict: str  # "PASS", "FAIL" or "ERROR"
    reason: str
    unit_serial: str | None = None
    run_id: int | None = None
    table: TablePaths | None = None
    report: Path | None = None
    points: list[MeasuredPoint] = field(default_factory=list)
    # The slot's state as read back when it was closed (None: the slot was never opened).
    safe: SafeState | None = None


def _latched_fault(slot: OpenSlot) -> str | None:
    code, name = slot.dut.fault()
    return f"{code} {name}" if code else None


class _Run:
    """One run's state: the open slot, the store's run id, what has been measured so far."""

    def __init__(self, job: CalibrationJob, slot: OpenSlot) -> None:
        self.job, self.slot = job, slot
        self.points: list[MeasuredPoint] = []
        self.findings: list[str] = []  # as-found trips and the like: the unit's history, no verdict
        ident = slot.dut.identity
        self.serial, self.firmware = ident.serial, ident.firmware
        self.settings = {
            "settle_after_load_s": slot.settle_after_load_s,
            "settle_after_setpoint_s": slot.settle_after_setpoint_s,
            "spec": job.spec.document,
            "key_source": job.keys.describe(),
            "virtual_bench": job.station.virtual,
            "overdue_instruments": slot.overdue,
            "latched_fault_at_start": _latched_fault(slot),
        }
        override = None
        if job.override is not None:
            override = {"reason": job.override.reason, "operator": job.override.operator}
        self.run_id = job.store.start_run(
            kind="calibrate", station=job.station.name, slot=slot.number, operator=job.operator,
            unit_serial=self.serial, unit_model=ident.model, firmware=self.firmware,
            decision_rule=job.rule.value, instruments=instruments_of(slot), ambient=job.ambient,
            settings=self.settings, override=override,
        )
        self.writer = BackgroundPointWriter(job.store, self.run_id)

    def sink(self, point: MeasuredPoint) -> None:
        self.check_abort(output_cut_only=True)
        self.writer.submit(record_of(point))
        self.points.append(point)
        self.job.progress.advance()
        self.check_abort()

    def check_abort(self, output_cut_only: bool = False) -> None:
        """Raise RunAborted on a stop request. output_cut_only (before a point is stored): only if
        the stop already switched the output off, which makes the point in flight no measurement."""
        cut = getattr(self.job.abort, "output_cut", None)
        if output_cut_only and not (cut is not None and cut.is_set()):
            return
        if self.job.abort.is_set():
            reason = getattr(self.job.abort, "reason", None) or "stopped by the operator"
            raise RunAborted(f"slot {self.slot.number}: {reason}")

    def sweep(self, phase: str) -> list[MeasuredPoint]:
        # As found, the unit may be uncalibrated: out of compliance, and a trip is a finding.
        as_found = phase == "as_found"
        grid = accuracy_grid(self.job.spec, self._load_max_power_w(), uncalibrated=as_found)
        self.job.progress.phase(phase.replace("_", "-"), len(grid) + sum(p.waveform == "DC" for p in grid) * 2)
        sweep = AccuracySweep(self.slot, self.job.spec, self.job.rule, phase, self.sink,
                              before_reading=self.writer.barrier, on_trip=self._as_found_trip if as_found else None)
        return sweep.run(grid)

    def _as_found_trip(self, point: GridPoint, fault: UnitFault) -> None:
        self._record(run_findings.as_found_trip(point, fault, self.job.spec))

    def _characterisation_trip(self, polarity: str, load_ohm: float, code: int, fault: UnitFault) -> None:
        self._record(run_findings.characterisation_trip(polarity, load_ohm, code, fault, self.job.spec))

    def _record(self, finding: run_findings.Finding) -> None:
        """Stored before the procedure goes on, like any point."""
        self.writer.submit(finding.record)
        self.findings.append(finding.summary)
        log.info("unit %s: %s (recorded)", self.serial, finding.summary)

    def _store_raw(self, point: RawPoint) -> None:
        """Characterisation data is measured data too: stored like any point (it has no verdict)."""
        self.check_abort(output_cut_only=True)
        self.writer.submit(PointRecord(
            phase="characterise", requirement="characterisation", clause="4: CAL:DAC / CAL:ADC / CAL:VADC",
            name=f"{point.polarity}-code{point.dac_code}-{point.load_ohm:g}ohm", measured=point.true_ma,
            unit="mA", verdict="N/A", parameters={"polarity": point.polarity, "load_ohm": point.load_ohm,
                                                  "dac_code": point.dac_code},
            raw={"true_v": point.true_v, "i_code": point.i_code, "v_code": point.v_code},
        ))
        self.job.progress.advance()
        self.check_abort()

    def finish_writing(self) -> None:
        """Every submitted point committed (a failed commit is logged: the run is ending anyway)."""
        try:
            self.writer.barrier()
        except RuntimeError as exc:
            log.error("run %d: %s", self.run_id, exc)
        self.writer.close()

    def _load_max_power_w(self) -> float:
        load_id = self.job.station.slot(self.slot.number).load.instrument
        power = self.job.station.figures(load_id).max_power_w
        if power is None:
            raise ValueError(f"load model of {load_id!r} states no power rating; the rig will not guess one")
        return power

    def characterise_and_fit(self) -> CalibrationFit:
        plan = characterisation_plan(self.job.spec)
        self.job.progress.phase("characterise", 2 * len(plan))
        raw = characterise(self.slot, self.job.spec, on_point=self._store_raw, before_reading=self.writer.barrier,
                           on_trip=self._characterisation_trip)
        self.raw_points = raw
        return fit_calibration(raw, self.job.spec, self.job.today)


def requirement_verdicts(points: list[MeasuredPoint], phase: str) -> dict[str, tuple[MeasuredPoint, Verdict]]:
    """Worst verdict per requirement over one phase's points, with the point of least margin."""
    by_req: dict[str, list[MeasuredPoint]] = {}
    for p in points:
        if p.phase == phase:
            by_req.setdefault(p.requirement.key, []).append(p)
    result = {}
    for key, pts in by_req.items():
        worst = min(pts, key=lambda p: p.decision.margin)
        result[key] = (worst, worst_verdict([p.decision.verdict for p in pts]))
    return result


def run_calibration(job: CalibrationJob) -> CalibrationOutcome:
    """Open the slot, run the job on it, always leave the slot safe."""
    slot = open_slot(job.station, job.slot, expected_unit_serial=job.expected_serial, override=job.override,
                     today=job.today)
    try:
        outcome = calibrate_slot(job, slot)
    except BaseException as exc:
        safe = slot.close()
        try:
            exc.safe = safe  # type: ignore[attr-defined]  # for the operator's closing line
        except AttributeError:
            pass
        raise
    outcome.safe = slot.close()
    return outcome


def calibrate_slot(job: CalibrationJob, slot: OpenSlot) -> CalibrationOutcome:
    """Run the job on an open slot. Errors propagate to the caller after the run is marked in the
    store; a refused calibration is a FAIL outcome, not an error. The slot is safe on return."""
    run = _Run(job, slot)
    if hasattr(job.abort, "on_stop"):  # a worker's own stop switches the output off at once
        job.abort.on_stop(slot.dut.output_off)
    try:
        outcome = _calibrate(run)
    except BaseException as exc:
        _no_more_urgent(job)
        slot.make_safe()
        run.finish_writing()
        message = _one_line(exc)
        stopped = isinstance(exc, KeyboardInterrupt | SystemExit)
        if not stopped and job.abort.is_set():  # e.g. a request refused once the stop cut the output
            stopped, message = True, f"{getattr(job.abort, 'reason', 'stopped')}; then {message}"
        job.store.finish_run(run.run_id, status="aborted" if stopped else "error", verdict=None, message=message,
                             audit_head=_audit_head(job), signer=job.signer)
        raise
    _no_more_urgent(job)
    slot.make_safe()
    run.finish_writing()
    job.store.finish_run(run.run_id, status="finished", verdict=outcome.verdict, message=outcome.reason,
                         audit_head=_audit_head(job), signer=job.signer)
    if job.build_report is not None:
        outcome.report = job.build_report(job.store, run.run_id, job.reports_dir)
    return outcome


def _audit_head(job: CalibrationJob) -> dict | None:
    """The station audit chain's head as the run ends (after its last entry), for the run to record."""
    try:
        return AuditLog.for_station(job.calibrations_dir, job.station.name).head_record()
    except (AuditChainError, OSError, UnicodeDecodeError) as exc:
        log.error("audit log of %s unreadable, no head recorded with the run: %s", job.station.name, exc)
        return None


def _no_more_urgent(job: CalibrationJob) -> None:
    if hasattr(job.abort, "clear_urgent"):
        job.abort.clear_urgent()


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


def _check_before_first_point(run: _Run) -> None:
    """What would otherwise stop the run only at its end, checked once ID? is known: the unit's
    unlock key (source readable, key present and well-formed; the key itself is not kept) and the
    folder its table will be written to (the serial a safe path component under calibrations/)."""
    run.job.keys.key_for(run.serial)
    table_folder(run.job.calibrations_dir, run.serial)


def _calibrate(run: _Run) -> CalibrationOutcome:
    job, slot = run.job, run.slot
    _check_before_first_point(run)
    slot.arm_watchdog()
    before = slot.dut.read_calibration()
    _clear_latched_fault(run)
    # An over-current trip as found is recorded and the sweep goes on (AccuracySweep); anything else
    # that cuts the output (a watchdog, a reboot, another cut-off) stops the run with its cause.
    run.sweep("as_found")
    fit = run.characterise_and_fit()
    problems = bound_violations(fit.coefficients, job.spec)
    if problems:
        _store_calibration(run, before, fit, written=False, readback_ok=None, notes="; ".join(problems))
        reason = _with_findings(str(CalibrationRefused(problems)), run)
        _record_calibration_verdict(run, "FAIL", str(CalibrationRefused(problems)))
        return CalibrationOutcome("FAIL", reason, run.serial, run.run_id, points=run.points)
    run.check_abort()  # no calibration write begins after a stop
    job.progress.phase("write", 1)
    try:
        written = write_calibration(slot, fit.coefficients, job.keys, job.spec,
                                    audit=AuditLog.for_station(job.calibrations_dir, job.station.name, job.signer),
                                    operator=job.operator, run_id=run.run_id)
    except ReadbackMismatch as exc:  # also CalibrationNotPersisted: not kept over RESET
        _store_calibration(run, before, fit, written=True, readback_ok=False, notes=str(exc))
        _record_calibration_verdict(run, "FAIL", str(exc))
        return CalibrationOutcome("FAIL", str(exc), run.serial, run.run_id, points=run.points)
    job.progress.advance()
    _store_calibration(run, before, fit, written=True, readback_ok=True, notes=PERSISTED_NOTE)
    _record_calibration_verdict(run, "PASS", PERSISTED_NOTE)
    # The unit was RESET after the save: the as-left sweep verifies it as it will leave the line.
    run.sweep("as_left")
    verdicts = requirement_verdicts(run.points, "as_left")
    for key, (worst, verdict) in verdicts.items():
        job.store.set_requirement_verdict(run.run_id, key, worst.requirement.clause, verdict.value,
                                          worst.decision.margin)
    run.check_abort()
    failing = sorted(k for k, (_, v) in verdicts.items() if v is not Verdict.PASS)
    verdict = "FAIL" if failing else "PASS"
    reason = ("as-left not inside the spec (with guard band) for: " + ", ".join(failing)) if failing else (
        "all as-left points inside the spec")
    reason = _with_findings(reason, run)
    table = write_table(job.calibrations_dir, table_document(
        serial=run.serial, model=slot.dut.identity.model, firmware=run.firmware, day=job.today,
        station=job.station.name, slot=slot.number, operator=job.operator, run_id=run.run_id, verdict=verdict,
        instruments=instruments_of(slot), before=before, written=written, fit=fit, raw_points=run.raw_points,
        points=run.points,
    ), job.signer)
    return CalibrationOutcome(verdict, reason, run.serial, run.run_id, table, points=run.points)


def _record_calibration_verdict(run: _Run, verdict: str, notes: str) -> None:
    """The calibration row of the run: the coefficients written, saved and kept over a RESET."""
    run.job.store.set_requirement_verdict(run.run_id, CALIBRATION_REQUIREMENT, CALIBRATION_CLAUSE, verdict,
                                          None, notes=notes)


def _with_findings(reason: str, run: _Run) -> str:
    return reason + ("; findings: " + "; ".join(run.findings) if run.findings else "")


def _store_calibration(run: _Run, before, fit: CalibrationFit, *, written: bool, readback_ok, notes: str) -> None:
    for record in calibration_records(before, fit, written=written, readback_ok=readback_ok, notes=notes):
        run.job.store.add_calibration(run.run_id, record)


def _clear_latched_fault(run: _Run) -> None:
    """A unit may arrive with a fault latched (e.g. loss of contact when a session was cut): it is
    recorded with the run (settings "latched_fault_at_start") and cleared; a unit that refuses CLEAR
    stops the run with the unit's own error."""
    fault = run.settings.get("latched_fault_at_start")
    if fault:
        log.warning("unit %s arrived with fault %s latched: clearing it", run.serial, fault)
        run.slot.dut.clear()
