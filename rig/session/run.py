"""One run on one slot: open the slot and its run record, the point sink, finish the run.

A library function (no CLI, no pytest): `rig run`, `rig calibrate`, the fixtures, the line runner and the
benchmarks call it; what the run does is its plan (rig/session/plans.py). Every measured point is
committed to the store before the next is taken; whatever way the run ends, the slot is made safe and
the run's state in the store says how it ended.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rig.keys import KeySource
from rig.metrology.decision import DecisionRule, RunVerdict
from rig.procedures.accuracy import AccuracySweep
from rig.procedures.calibrate import CalibrationFit, fit_calibration
from rig.procedures.characterise import RawPoint, characterise
from rig.procedures.grid import GridPoint, accuracy_grid
from rig.procedures.points import MeasuredPoint
from rig.procedures.unit_events import UnitFault
from rig.records.audit import AuditChainError, AuditLog
from rig.records.point_writer import BackgroundPointWriter
from rig.records.signing import Signer
from rig.records.store import PointRecord, ResultsStore
from rig.session import findings as run_findings
from rig.session.events import EventSink, PhaseCounter, RunFinished, RunStarted, log_events
from rig.session.outcome import CalibrationOutcome
from rig.session.plans import VERIFY_PHASE, Plan, characterise_units, run_plan, sweep_units
from rig.session.records import record_of, start_run_record
from rig.slot import DueDateOverride, OpenSlot, open_slot
from rig.spec import ProductSpec
from rig.station import Station

log = logging.getLogger(__name__)


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
    plan: Plan = Plan.CALIBRATE
    # Every progress event of the run (rig/session/events.py); must be picklable where the line
    # runner forks workers (it replaces it by its queue's put).
    on_event: EventSink = log_events
    build_report: Callable[[ResultsStore, int, Path], Path | None] | None = None
    # Set by whoever runs several slots at once: an operator's Ctrl-C must stop every slot, and
    # only the main thread receives it. Checked after every stored point and before every step that
    # writes (the calibration write, the table): a write under way is finished and recorded, never
    # left half done. May carry a `reason` (e.g. the worker's parent died).
    abort: threading.Event = field(default_factory=threading.Event)
    # The station's signing key: signs the audit entries, the run, the table and the report.
    signer: Signer | None = None
    # The operator's answers to prompts before the run (the station page): recorded with the run.
    operator_answers: tuple[dict, ...] = ()


class RunAborted(KeyboardInterrupt):
    """Stopped on request (another thread saw Ctrl-C or SIGTERM); the slot is made safe as for Ctrl-C."""


def _latched_fault(slot: OpenSlot) -> str | None:
    code, name = slot.dut.fault()
    return f"{code} {name}" if code else None


class Run:
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
        if job.operator_answers:
            self.settings["operator_prompts"] = list(job.operator_answers)
        override = None
        if job.override is not None:
            override = {"reason": job.override.reason, "operator": job.override.operator}
        self.settings["plan"] = job.plan.value
        self.run_id = start_run_record(job.store, slot, kind=job.plan.run_kind, station=job.station,
                                       operator=job.operator, rule=job.rule, settings=self.settings,
                                       ambient=job.ambient, override=override)
        self.writer = BackgroundPointWriter(job.store, self.run_id)
        self.progress = PhaseCounter(job.on_event, slot.number)
        self.fit: CalibrationFit | None = None
        self.written = None  # the calibration written, once kept over a RESET
        self.raw_points: list[RawPoint] = []
        self.tripped: dict[str, str] = {}  # requirement failed by a trip (verify): what happened
        self.count_points = True  # off where a phase counts its steps, not its points (the cut-offs)

    def announce(self, phases: list[tuple[str, int]]) -> None:
        self.job.on_event(RunStarted(self.slot.number, self.run_id, self.job.plan.value,
                                     tuple(name for name, _ in phases), sum(total for _, total in phases)))

    def sink(self, point: MeasuredPoint) -> None:
        self.check_abort(output_cut_only=True)
        self.writer.submit(record_of(point))
        if not self.count_points:
            self.writer.barrier()  # procedures without a before_reading hook: committed at once
        self.points.append(point)
        if self.count_points:
            self.progress.advance(point.name, point.verdict)
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
        grid = self.grid(phase)
        self.progress.start(phase.replace("_", "-"), sweep_units(grid))
        on_trip = self._as_found_trip if as_found else self._verify_trip if phase == VERIFY_PHASE else None
        sweep = AccuracySweep(self.slot, self.job.spec, self.job.rule, phase, self.sink,
                              before_reading=self.writer.barrier, on_trip=on_trip)
        return sweep.run(grid)

    def _as_found_trip(self, point: GridPoint, fault: UnitFault) -> None:
        self._record(run_findings.as_found_trip(point, fault, self.job.spec))

    def _verify_trip(self, point: GridPoint, fault: UnitFault) -> None:
        finding = run_findings.verify_trip(point, fault, self.job.spec)
        self._record(finding)
        self.tripped[finding.record.requirement] = finding.summary

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
        self.progress.advance(f"characterise {point.polarity} code {point.dac_code}", "N/A")
        self.check_abort()

    def grid(self, phase: str) -> list[GridPoint]:
        """As found, the unit may be uncalibrated: the grid leaves out where it could reach compliance."""
        return accuracy_grid(self.job.spec, self._load_max_power_w(), uncalibrated=phase == "as_found")

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
        self.progress.start("characterise", characterise_units(self.job.spec))
        raw = characterise(self.slot, self.job.spec, on_point=self._store_raw, before_reading=self.writer.barrier,
                           on_trip=self._characterisation_trip)
        self.raw_points = raw
        return fit_calibration(raw, self.job.spec, self.job.today)


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
    run = Run(job, slot)
    if hasattr(job.abort, "on_stop"):  # a worker's own stop switches the output off at once
        job.abort.on_stop(slot.dut.output_off)
    try:
        outcome = run_plan(run)
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
        job.on_event(RunFinished(slot.number, run.run_id, RunVerdict.ERROR, reason=message))
        raise
    _no_more_urgent(job)
    slot.make_safe()
    run.finish_writing()
    job.store.finish_run(run.run_id, status="finished", verdict=outcome.verdict, message=outcome.reason,
                         audit_head=_audit_head(job), signer=job.signer)
    if job.build_report is not None:
        outcome.report = job.build_report(job.store, run.run_id, job.reports_dir)
    job.on_event(RunFinished(slot.number, run.run_id, outcome.verdict, outcome.failing, outcome.reason,
                             str(outcome.report) if outcome.report else None))
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


