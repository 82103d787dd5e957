"""Plans, one verdict each: what a run does, phase by phase.

- calibrate: as found, characterise and fit, write back (kept over a RESET), as left, the table.
- end-of-line: calibrate, then every cut-off row and the residual current: one run, one verdict, one
  report judging every row of dut-protocol.md section 1.
- cutoffs: the cut-off suite alone; a unit whose calibration was never saved is calibrated first
  (its trip levels are judged against the band of a calibrated unit's reading tolerance).
- verify: no write: the accuracy as found, judged against the spec, and the cut-off suite (firmware
  regression, incoming inspection).
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING

from rig.metrology.decision import RunVerdict, Verdict, worst_verdict
from rig.procedures.characterise import characterisation_plan
from rig.procedures.cutoffs.context import CutoffContext, end_session
from rig.procedures.cutoffs.suite import suite_steps
from rig.session import calibration
from rig.session.events import TraceSamples
from rig.session.outcome import CalibrationOutcome, record_requirement_verdicts

if TYPE_CHECKING:
    from rig.procedures.grid import GridPoint
    from rig.session.run import Run
    from rig.spec import ProductSpec

CUTOFF_PHASE = "cutoff"  # the phase of the cut-off procedures' points (rig/procedures/cutoffs/context.py)
VERIFY_PHASE = "verify"  # accuracy as found, judged (unlike a calibration's informative as-found sweep)


class Plan(enum.Enum):
    CALIBRATE = "calibrate"
    END_OF_LINE = "end-of-line"
    CUTOFFS = "cutoffs"
    VERIFY = "verify"

    @property
    def run_kind(self) -> str:
        """The run's kind in the store ("calibrate" as before plans existed)."""
        return self.value

    @property
    def writes(self) -> bool:
        """Whether the plan may write a calibration into the unit."""
        return self is not Plan.VERIFY


def sweep_units(grid: list[GridPoint]) -> int:
    """Points of a sweep: the output's, and on DC the unit's current and voltage readings."""
    return len(grid) + sum(p.waveform == "DC" for p in grid) * 2


def characterise_units(spec: ProductSpec) -> int:
    return 2 * len(characterisation_plan(spec))


def plan_phases(run: Run, calibrate_first: bool) -> list[tuple[str, int]]:
    """The plan's phases and their progress units, for the run's first event."""
    plan, spec = run.job.plan, run.job.spec
    calibrating = [("as-found", sweep_units(run.grid("as_found"))), ("characterise", characterise_units(spec)),
                   ("write", 1), ("as-left", sweep_units(run.grid("as_left")))]
    cutoffs = [("cutoffs", len(suite_steps(spec)))]
    if plan is Plan.CALIBRATE:
        return calibrating
    if plan is Plan.END_OF_LINE:
        return calibrating + cutoffs
    if plan is Plan.CUTOFFS:
        return (calibrating if calibrate_first else []) + cutoffs
    return [("verify", sweep_units(run.grid(VERIFY_PHASE)))] + cutoffs


def run_plan(run: Run) -> CalibrationOutcome:
    """Run the job's plan on the run's open slot; the caller finishes the run."""
    plan = run.job.plan
    if plan.writes:
        calibration.check_before_first_point(run)
    before = calibration.prepare(run)
    calibrate_first = plan in (Plan.CALIBRATE, Plan.END_OF_LINE) or (plan is Plan.CUTOFFS and before.date is None)
    run.announce(plan_phases(run, calibrate_first))
    outcome = None
    if calibrate_first:
        outcome = calibration.calibrate(run, before) or calibration.as_left(run, before)
        if plan is Plan.CALIBRATE or outcome.table is None:  # refused or not kept: nothing more to judge
            return outcome
        run.slot.arm_watchdog()
    elif plan is Plan.VERIFY:
        run.sweep(VERIFY_PHASE)
    cutoffs(run)
    return _overall(run, outcome)


def cutoffs(run: Run) -> None:
    """Every step of the cut-off suite (rig/procedures/cutoffs/suite.py), each ended safe and fault-free."""
    steps = suite_steps(run.job.spec)
    run.progress.start("cutoffs", len(steps))
    ctx = CutoffContext(run.slot, run.job.spec, run.job.rule, run.sink)
    run.count_points = False
    try:
        for step in steps:
            run.check_abort()
            first = len(run.points)
            try:
                step.run(ctx)
            finally:
                end_session(ctx)
            taken = run.points[first:]
            for point in taken:
                _send_trace(run, point)
            verdict = worst_verdict([p.decision.verdict for p in taken]) if taken else Verdict.NOT_APPLICABLE
            run.progress.advance(step.name, verdict.value)
    finally:
        run.count_points = True


def _send_trace(run: Run, point) -> None:
    trace = point.raw.get("trace") if isinstance(point.raw, dict) else None
    current = (trace or {}).get("current_ma")
    if current:
        run.job.on_event(TraceSamples(run.slot.number, point.name, tuple(current["time_s"]),
                                      tuple(current["values"])))


def _overall(run: Run, calibrated: CalibrationOutcome | None) -> CalibrationOutcome:
    """One verdict over every phase the plan judged (the calibration's, as left, verify, cut-offs)."""
    failing = set(calibrated.failing if calibrated else ())
    for phase in (VERIFY_PHASE, CUTOFF_PHASE):
        verdicts = record_requirement_verdicts(run, phase)
        failing |= {key for key, verdict in verdicts.items() if verdict is not Verdict.PASS}
    for key, what in run.tripped.items():  # a trip fails its row whatever the row's own points say
        clause = getattr(getattr(run.job.spec, key, None), "clause", "")
        run.job.store.set_requirement_verdict(run.run_id, key, clause, Verdict.FAIL.value, None, notes=what)
        failing.add(key)
    run.check_abort()
    judged = sorted(failing)
    what = {Plan.END_OF_LINE: "end of line", Plan.CUTOFFS: "cut-offs", Plan.VERIFY: "verification"}[run.job.plan]
    reason = (f"{what}: not inside the spec (with guard band) for: " + ", ".join(judged)) if judged else (
        f"{what}: every judged point inside the spec")
    reason = calibration.with_findings(reason, run)
    verdict = RunVerdict.FAIL if judged else RunVerdict.PASS
    return CalibrationOutcome(verdict, reason, tuple(judged), run.serial, run.run_id,
                              calibrated.table if calibrated else None, points=run.points)
