"""The cut-off suite as one ordered list of steps, for running it outside pytest (benchmarks/cutoffs.py,
benchmarks/cycle.py) with the same procedures and parameters as tests/hil/test_cutoffs.py.

The steps judge a calibrated unit: the over-current and loss-of-contact trip levels are judged against
the band of the unit's reading tolerance, which holds once it is calibrated. Whoever runs them
calibrates a unit whose calibration was never saved first (tests/hil: `calibrated_slot`; the
benchmarks: the calibration job before `run_suite`)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from rig.procedures.cutoffs import compliance_voltage, contact, overcurrent, ramp, recovery, residual, timer
from rig.procedures.cutoffs.context import CutoffContext, CutoffResult
from rig.spec import ProductSpec

# The load the residual current is measured into after a session and in FAULT (tests/hil/test_cutoffs.py).
RESIDUAL_CONDITION_LOAD_OHM = 1000.0


@dataclass(frozen=True)
class SuiteStep:
    name: str
    requirement: str
    run: Callable[[CutoffContext], CutoffResult]


def _load_id(ohm: float) -> str:
    return "open" if not math.isfinite(ohm) else f"{ohm:g}ohm"


def suite_steps(spec: ProductSpec) -> list[SuiteStep]:
    """Every test of the suite, in the order the test module runs them."""
    steps = [SuiteStep(f"overcurrent[{s:g}mA]", "overcurrent", partial(overcurrent.measure, setpoint_ma=s))
             for s in overcurrent.SETPOINTS_MA]
    steps.append(SuiteStep("loss_of_contact", "loss_of_contact", contact.measure))
    steps.append(SuiteStep("compliance_recovery", "compliance_recovery", recovery.measure))
    steps += [SuiteStep(f"ramp[{r:g}mA_s]", "ramp", partial(ramp.measure, rate_ma_per_s=r)) for r in ramp.rates(spec)]
    steps += [SuiteStep(f"compliance_voltage[{_load_id(ohm)}]", "compliance",
                        partial(compliance_voltage.measure, load_ohm=ohm)) for ohm in spec.test_loads.all_ohms()]
    steps.append(SuiteStep("session_timer", "timer", timer.measure))
    steps += [SuiteStep(f"residual_idle[{_load_id(ohm)}]", "residual_current",
                        partial(residual.measure, load_ohm=ohm, condition="idle")) for ohm in spec.test_loads.ohms]
    steps += [SuiteStep(f"residual[{c}]", "residual_current",
                        partial(residual.measure, load_ohm=RESIDUAL_CONDITION_LOAD_OHM, condition=c))
              for c in residual.CONDITIONS if c != "idle"]
    return steps
