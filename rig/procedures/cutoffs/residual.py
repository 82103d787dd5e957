"""Residual current (dut-protocol.md section 1): at most 10 uA DC with the output off (IDLE, FAULT,
after a session ends), into any test load; on the analyzer's 1 mA range.

Idle means the unit reports IDLE (STATE?, dut-protocol.md section 3: output off). A unit found in a
session (left by an earlier test) is stopped and given its ramp-down (its present current at its ramp
rate, less the spec's rate tolerance, plus a margin); one that is still not IDLE is not measured: the
point is an error naming the state (a leftover session is not leakage), never a residual FAIL."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from rig.dut.errors import DutCommandError
from rig.dut.protocol import IDLE_STATES, STARTED_STATES, Injection, State
from rig.metrology.uncertainty import reading_budget
from rig.procedures.cutoffs.context import (
    MA_PER_A,
    STATE_MARGIN_S,
    TEST_RAMP_MAX_MA_PER_S,
    CutoffContext,
    CutoffResult,
    end_session,
    start_session,
    wait_for_state,
)
from rig.procedures.cutoffs.step import BenchTimes, CutoffStep, load_label
from rig.spec import ProductSpec
from rig.units import UA_PER_MA

CONDITIONS = ("idle", "after_session", "fault")
SESSION_SETPOINT_MA = 1.0
# The load the residual current is measured into after a session and in FAULT.
CONDITION_LOAD_OHM = 1000.0


class UnitNotIdle(RuntimeError):
    """The unit could not be brought to IDLE with its output off: an idle residual current is not
    measured (what would flow is the session's current, not leakage)."""


def _ramp_down_s(ctx: CutoffContext) -> float:
    """How long a ramp-down from the present output may take: its current at the unit's ramp rate less
    the spec's tolerance, plus the margin a state change takes to show."""
    current_ma = abs(ctx.slot.ammeter.measure_current_a()) * MA_PER_A
    rate_ma_per_s = ctx.slot.dut.ramp_ma_per_s() * (1.0 - ctx.spec.ramp.tolerance_pct / 100.0)
    return current_ma / rate_ma_per_s + STATE_MARGIN_S


def _bring_to_idle(ctx: CutoffContext) -> str:
    """IDLE, as the unit reports it, or UnitNotIdle naming the state it stayed in."""
    dut = ctx.slot.dut
    state = dut.state().state
    if state == State.IDLE:
        return state
    if state in STARTED_STATES:
        dut.stop()
    elif state == State.TEST:
        dut.test_dac(0)
        dut.test_off()
    elif state == State.FAULT:
        try:
            dut.clear()
        except DutCommandError:
            pass  # refused: the cause persists; named below
    state = wait_for_state(ctx, (State.IDLE,), _ramp_down_s(ctx))
    if state != State.IDLE:
        raise UnitNotIdle(f"residual current (idle): the unit reports {state}, not IDLE with its output off, "
                          "after STOP and its ramp-down time; not measured (a leftover session is not leakage)")
    return state


def _bring_to(ctx: CutoffContext, condition: str, load_ohm: float) -> str:
    """Put the unit in the off condition to measure in; return the state it reports."""
    if condition == "idle":
        state = _bring_to_idle(ctx)
        ctx.slot.load.set_resistance_ohm(load_ohm)
        return state
    start_session(ctx, setpoint_ma=SESSION_SETPOINT_MA, load_ohm=load_ohm)
    if condition == "fault":
        ctx.slot.dut.test_inject(Injection.RUNAWAY)
        return wait_for_state(ctx, (State.FAULT,), STATE_MARGIN_S)
    ctx.slot.dut.stop()
    return wait_for_state(ctx, IDLE_STATES, STATE_MARGIN_S)


@dataclass(frozen=True)
class Capture:
    load_ohm: float
    condition: str
    state: str  # what the unit reported in the off condition
    samples_ua: np.ndarray


def act(ctx: CutoffContext, load_ohm: float, condition: str = "idle") -> Capture:
    """The unit put in the off condition, the load set; one reading's samples on the 1 mA range."""
    if condition not in CONDITIONS or not math.isfinite(load_ohm):
        raise ValueError(f"residual current: condition {condition!r} into {load_ohm} ohm is not measured")
    analyzer = ctx.slot.ammeter
    try:
        state = _bring_to(ctx, condition, load_ohm)
        time.sleep(ctx.slot.settle_after_load_s)
        analyzer.set_current_range_a(ctx.spec.residual_current.max_ua / UA_PER_MA / MA_PER_A)
        samples_ua = np.abs(analyzer.measure_current_samples_a()) * MA_PER_A * UA_PER_MA
    finally:
        analyzer.set_current_range_a(ctx.spec.setpoint.max_ma / MA_PER_A)
        end_session(ctx)
    return Capture(load_ohm, condition, state, samples_ua)


def judge(ctx: CutoffContext, capture: Capture) -> CutoffResult:
    load_ohm, condition, samples_ua = capture.load_ohm, capture.condition, capture.samples_ua
    residual_ua = float(np.mean(samples_ua))
    params = {"load_ohm": load_ohm, "condition": condition, "state": capture.state}
    meter = ctx.low_current_meter.scaled(UA_PER_MA, "uA")
    budget = reading_budget("residual current", residual_ua, meter, samples=samples_ua.tolist())
    point = ctx.point("residual_current", f"residual-{condition}-{load_ohm:g}ohm", params, residual_ua, "uA",
                      nominal=None, lower=None, upper=ctx.spec.residual_current.max_ua, budget=budget)
    return CutoffResult(points=[point])


def measure(ctx: CutoffContext, load_ohm: float, condition: str = "idle") -> CutoffResult:
    return judge(ctx, act(ctx, load_ohm, condition))


def floor_s(spec: ProductSpec, bench: BenchTimes, load_ohm: float, condition: str) -> float:
    """One reading (the output settled into the load, one integration) and the step's end; after a
    session or in FAULT also the session, its fast set-up ramp and settling, and its soft stop (at
    the fastest test ramp) or the runaway to the trip."""
    reading_s = bench.dut_settle_s + bench.integration_s
    if condition == "idle":
        return reading_s + bench.end_s
    set_up_s = bench.session_s + SESSION_SETPOINT_MA / TEST_RAMP_MAX_MA_PER_S + bench.settle_s
    if condition == "fault":
        return reading_s + set_up_s + spec.overcurrent.persist_s + spec.overcurrent.off_within_s
    return reading_s + set_up_s + SESSION_SETPOINT_MA / TEST_RAMP_MAX_MA_PER_S


IDLE_STEP = CutoffStep("residual_idle", "residual_current",
                       lambda spec: [{"load_ohm": ohm, "condition": "idle"} for ohm in spec.test_loads.ohms],
                       act, judge, floor_s, label=lambda load_ohm, condition: load_label(load_ohm))
AFTER_OUTPUT_OFF_STEP = CutoffStep(
    "residual", "residual_current",
    lambda spec: [{"load_ohm": CONDITION_LOAD_OHM, "condition": c} for c in CONDITIONS if c != "idle"],
    act, judge, floor_s, label=lambda load_ohm, condition: condition)
