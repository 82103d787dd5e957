"""Safety cut-offs (dut-protocol.md section 1), each measured from the analyzer's digitized trace.

Every test declares its requirement (the spec section) and gives the verdicts of its points against
the spec's limits; every trace is drawn in the report with its limits.
"""

from __future__ import annotations

import pytest

from rig.procedures.cutoffs import compliance_voltage, contact, overcurrent, ramp, recovery, residual, timer
from rig.procedures.cutoffs.suite import RESIDUAL_CONDITION_LOAD_OHM
from rig.spec import load_spec

pytestmark = pytest.mark.cutoffs
SPEC = load_spec()


def _load_id(ohm: float) -> str:
    return "open" if ohm == float("inf") else f"{ohm:g}ohm"


@pytest.mark.requirement("overcurrent")
@pytest.mark.parametrize("setpoint_ma", overcurrent.SETPOINTS_MA, ids=lambda s: f"{s:g}mA")
def test_overcurrent_cutoff(cutoff_context, record_cutoff, setpoint_ma):
    record_cutoff(overcurrent.measure(cutoff_context, setpoint_ma))


@pytest.mark.requirement("loss_of_contact")
def test_loss_of_contact(cutoff_context, record_cutoff):
    record_cutoff(contact.measure(cutoff_context))


@pytest.mark.requirement("compliance_recovery")
def test_compliance_recovery(cutoff_context, record_cutoff):
    record_cutoff(recovery.measure(cutoff_context))


@pytest.mark.requirement("ramp")
@pytest.mark.parametrize("rate_ma_per_s", ramp.rates(SPEC), ids=lambda r: f"{r:g}mA_s")
def test_ramp_rate(cutoff_context, record_cutoff, rate_ma_per_s):
    record_cutoff(ramp.measure(cutoff_context, rate_ma_per_s))


@pytest.mark.requirement("compliance")
@pytest.mark.parametrize("load_ohm", SPEC.test_loads.all_ohms(), ids=_load_id)
def test_compliance_voltage(cutoff_context, record_cutoff, load_ohm):
    record_cutoff(compliance_voltage.measure(cutoff_context, load_ohm))


@pytest.mark.requirement("timer")
def test_session_timer(cutoff_context, record_cutoff):
    record_cutoff(timer.measure(cutoff_context))


@pytest.mark.requirement("residual_current")
@pytest.mark.parametrize("load_ohm", SPEC.test_loads.ohms, ids=_load_id)
def test_residual_current_idle(cutoff_context, record_cutoff, load_ohm):
    record_cutoff(residual.measure(cutoff_context, load_ohm, "idle"))


@pytest.mark.requirement("residual_current")
@pytest.mark.parametrize("condition", [c for c in residual.CONDITIONS if c != "idle"])
def test_residual_current_after_output_off(cutoff_context, record_cutoff, condition):
    record_cutoff(residual.measure(cutoff_context, RESIDUAL_CONDITION_LOAD_OHM, condition))
