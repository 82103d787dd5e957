"""Residual current with a setpoint armed but no START (dut-protocol.md section 1, residual current:
"with the output off (IDLE, ...)"; section 3: only START leaves IDLE): a unit given its setpoint stays
off until it is started.

The example of a step declared in one module: its act, judge and floor, and its `STEP`. It is not in
the product suite's registry (suite.STEPS), so that the suite's figures stay as they were; one entry
there makes it part of the suite, its pytest test and its benchmark floor.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rig.dut.protocol import IDLE_STATES
from rig.metrology.uncertainty import reading_budget
from rig.procedures.cutoffs.context import MA_PER_A, CutoffContext, CutoffResult, end_session
from rig.procedures.cutoffs.step import BenchTimes, CutoffStep, load_label
from rig.spec import ProductSpec
from rig.units import UA_PER_MA

SETPOINT_MA = 10.0
LOAD_OHM = 1000.0


@dataclass(frozen=True)
class Capture:
    load_ohm: float
    state: str  # what the unit reported with its setpoint armed
    samples_ua: np.ndarray


def act(ctx: CutoffContext, load_ohm: float) -> Capture:
    """The load set, the setpoint given without START; the state and one reading on the 1 mA range."""
    analyzer, dut = ctx.slot.ammeter, ctx.slot.dut
    try:
        ctx.slot.load.set_resistance_ohm(load_ohm)
        dut.set_current_ma(SETPOINT_MA)
        state = dut.state().state
        analyzer.set_current_range_a(ctx.spec.residual_current.max_ua / UA_PER_MA / MA_PER_A)
        samples_ua = np.abs(analyzer.measure_current_samples_a()) * MA_PER_A * UA_PER_MA
    finally:
        analyzer.set_current_range_a(ctx.spec.setpoint.max_ma / MA_PER_A)
        end_session(ctx)
    return Capture(load_ohm, state, samples_ua)


def judge(ctx: CutoffContext, capture: Capture) -> CutoffResult:
    residual_ua = float(np.mean(capture.samples_ua))
    name = f"residual-armed-{capture.load_ohm:g}ohm"
    params = {"load_ohm": capture.load_ohm, "setpoint_ma": SETPOINT_MA, "state": capture.state}
    meter = ctx.low_current_meter.scaled(UA_PER_MA, "uA")
    budget = reading_budget("residual current, setpoint armed", residual_ua, meter,
                            samples=capture.samples_ua.tolist())
    reading = ctx.point("residual_current", name, params, residual_ua, "uA", nominal=None, lower=None,
                        upper=ctx.spec.residual_current.max_ua, budget=budget)
    stayed = ctx.check("residual_current", f"{name}-not-started", params, capture.state in IDLE_STATES,
                       f"state {capture.state} after SET without START")
    return CutoffResult(points=[reading, stayed])


def floor_s(spec: ProductSpec, bench: BenchTimes, load_ohm: float) -> float:
    """The load switched, SET and STATE?, the output settled, one integration, the step's end."""
    return bench.load_switch_s + 2 * bench.exchange_s + bench.dut_settle_s + bench.integration_s + bench.end_s


STEP = CutoffStep("residual_armed", "residual_current", lambda spec: [{"load_ohm": LOAD_OHM}], act, judge, floor_s,
                  label=load_label)
