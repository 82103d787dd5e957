"""The cut-off suite: the registry of its declared steps (rig/procedures/cutoffs/step.py), in the order
they run. tests/hil/test_cutoffs.py parametrises from it, `run_steps` runs it outside pytest (the
benchmarks, a run session) and benchmarks/cutoffs.py sums its floors. A new step is a module declaring
its `CutoffStep` and one entry in STEPS.

The steps judge a calibrated unit: the over-current and loss-of-contact trip levels are judged against
the band of the unit's reading tolerance, which holds once it is calibrated. Whoever runs them
calibrates a unit whose calibration was never saved first (tests/hil: `calibrated_slot`; the
benchmarks: the calibration job before `run_suite`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rig.procedures.cutoffs import compliance_voltage, contact, overcurrent, ramp, recovery, residual, timer
from rig.procedures.cutoffs.context import CutoffContext, CutoffResult, end_session
from rig.procedures.cutoffs.step import CutoffStep, SuiteStep
from rig.spec import ProductSpec

STEPS: tuple[CutoffStep, ...] = (
    overcurrent.STEP,
    contact.STEP,
    recovery.STEP,
    ramp.STEP,
    compliance_voltage.STEP,
    timer.STEP,
    residual.IDLE_STEP,
    residual.AFTER_OUTPUT_OFF_STEP,
)

# The load the residual current is measured into after a session and in FAULT.
RESIDUAL_CONDITION_LOAD_OHM = residual.CONDITION_LOAD_OHM


def suite_steps(spec: ProductSpec, steps: Sequence[CutoffStep] = STEPS) -> list[SuiteStep]:
    """Every instance of every declared step, in the order the suite runs them."""
    return [instance for step in steps for instance in step.instances(spec)]


def run_steps(ctx: CutoffContext, steps: Sequence[SuiteStep],
              on_result: Callable[[SuiteStep, CutoffResult], None] | None = None) -> list[CutoffResult]:
    """Run each step on the context (its points reach the context's sink as they are judged), each
    ended as the test fixture ends it: no injection, no latched fault, output off, load safe."""
    results = []
    for step in steps:
        try:
            result = step.run(ctx)
        finally:
            end_session(ctx)
        if on_result is not None:
            on_result(step, result)
        results.append(result)
    return results
