"""The calibration phases of a run: as found, characterise and fit, write back (kept over a RESET),
as left and the calibration table. The plans (rig/session/plans.py) put them in order."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from rig.dut.calibration import UnitCalibration
from rig.metrology.decision import RunVerdict, Verdict
from rig.procedures.calibrate import (
    CalibrationFit,
    CalibrationRefused,
    ReadbackMismatch,
    bound_violations,
    write_calibration,
)
from rig.records.audit import AuditLog
from rig.records.cal_table import table_folder, write_table
from rig.session.outcome import CalibrationOutcome, record_requirement_verdicts
from rig.session.records import calibration_records, instruments_of, table_document

if TYPE_CHECKING:
    from rig.session.run import Run

log = logging.getLogger(__name__)

CALIBRATION_REQUIREMENT = "calibration"
CALIBRATION_CLAUSE = "4: CAL:SAVE (kept over RESET)"
PERSISTED_NOTE = "written, saved, and read back unchanged with CAL? before and after a RESET"


def check_before_first_point(run: Run) -> None:
    """What would otherwise stop the run only at its end, checked once ID? is known: the unit's
    unlock key (source readable, key present and well-formed; the key itself is not kept) and the
    folder its table will be written to (the serial a safe path component under calibrations/)."""
    run.job.keys.key_for(run.serial)
    table_folder(run.job.calibrations_dir, run.serial)


def prepare(run: Run) -> UnitCalibration:
    """The unit ready for the run's first point: watchdog armed, a latched fault recorded and cleared.
    Returns the calibration it carries."""
    run.slot.arm_watchdog()
    before = run.slot.dut.read_calibration()
    clear_latched_fault(run)
    return before


def calibrate(run: Run, before: UnitCalibration) -> CalibrationOutcome | None:
    """As found, fit, write back: a FAIL outcome when refused or not kept, None once written and kept."""
    job, slot = run.job, run.slot
    # An over-current trip as found is recorded and the sweep goes on (AccuracySweep); anything else
    # that cuts the output (a watchdog, a reboot, another cut-off) stops the run with its cause.
    run.sweep("as_found")
    fit = run.characterise_and_fit()
    problems = bound_violations(fit.coefficients, job.spec)
    if problems:
        _store_calibration(run, before, fit, written=False, readback_ok=None, notes="; ".join(problems))
        reason = with_findings(str(CalibrationRefused(problems)), run)
        _record_calibration_verdict(run, Verdict.FAIL, str(CalibrationRefused(problems)))
        return CalibrationOutcome(RunVerdict.FAIL, reason, (CALIBRATION_REQUIREMENT,), run.serial, run.run_id,
                                  points=run.points)
    run.check_abort()  # no calibration write begins after a stop
    run.progress.start("write", 1)
    try:
        run.written = write_calibration(slot, fit.coefficients, job.keys, job.spec,
                                        audit=AuditLog.for_station(job.calibrations_dir, job.station.name,
                                                                   job.signer).append,
                                        operator=job.operator, run_id=run.run_id)
    except ReadbackMismatch as exc:  # also CalibrationNotPersisted: not kept over RESET
        _store_calibration(run, before, fit, written=True, readback_ok=False, notes=str(exc))
        _record_calibration_verdict(run, Verdict.FAIL, str(exc))
        return CalibrationOutcome(RunVerdict.FAIL, str(exc), (CALIBRATION_REQUIREMENT,), run.serial, run.run_id,
                                  points=run.points)
    run.progress.advance("write", Verdict.PASS)
    run.fit = fit
    _store_calibration(run, before, fit, written=True, readback_ok=True, notes=PERSISTED_NOTE)
    _record_calibration_verdict(run, Verdict.PASS, PERSISTED_NOTE)
    return None


def as_left(run: Run, before: UnitCalibration) -> CalibrationOutcome:
    """The as-left sweep over the full grid, its verdicts, and the calibration table."""
    job, slot = run.job, run.slot
    # The unit was RESET after the save: the as-left sweep verifies it as it will leave the line.
    run.sweep("as_left")
    verdicts = record_requirement_verdicts(run, "as_left")
    run.check_abort()
    failing = tuple(sorted(k for k, v in verdicts.items() if v is not Verdict.PASS))
    verdict = RunVerdict.FAIL if failing else RunVerdict.PASS
    reason = ("as-left not inside the spec (with guard band) for: " + ", ".join(failing)) if failing else (
        "all as-left points inside the spec")
    reason = with_findings(reason, run)
    table = write_table(job.calibrations_dir, table_document(
        serial=run.serial, model=slot.dut.identity.model, firmware=run.firmware, day=job.today,
        station=job.station.name, slot=slot.number, operator=job.operator, run_id=run.run_id, verdict=verdict,
        instruments=instruments_of(slot), before=before, written=run.written, fit=run.fit,
        raw_points=run.raw_points, points=run.points,
    ), job.signer)
    return CalibrationOutcome(verdict, reason, failing, run.serial, run.run_id, table, points=run.points)


def _record_calibration_verdict(run: Run, verdict: Verdict, notes: str) -> None:
    """The calibration row of the run: the coefficients written, saved and kept over a RESET."""
    run.job.store.set_requirement_verdict(run.run_id, CALIBRATION_REQUIREMENT, CALIBRATION_CLAUSE, verdict,
                                          None, notes=notes)


def with_findings(reason: str, run: Run) -> str:
    return reason + ("; findings: " + "; ".join(run.findings) if run.findings else "")


def _store_calibration(run: Run, before: UnitCalibration, fit: CalibrationFit, *, written: bool,
                       readback_ok: bool | None, notes: str) -> None:
    for record in calibration_records(before, fit, written=written, readback_ok=readback_ok, notes=notes):
        run.job.store.add_calibration(run.run_id, record)


def clear_latched_fault(run: Run) -> None:
    """A unit may arrive with a fault latched (e.g. loss of contact when a session was cut): it is
    recorded with the run (settings "latched_fault_at_start") and cleared; a unit that refuses CLEAR
    stops the run with the unit's own error."""
    fault = run.settings.get("latched_fault_at_start")
    if fault:
        log.warning("unit %s arrived with fault %s latched: clearing it", run.serial, fault)
        run.slot.dut.clear()
