"""Compliance voltage (dut-protocol.md section 1): the output voltage never above 62.0 V, into every
test load and open circuit, from the start of a session through its entry into compliance."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from rig.dut.protocol import TEST_RAMP_MAX_MA_PER_S
from rig.instruments.analyzer import Trace
from rig.procedures.cutoffs.budgets import reading_peak_budget
from rig.procedures.cutoffs.context import (
    CutoffContext,
    CutoffResult,
    end_session,
    start_session,
    trace_summary,
)
from rig.procedures.cutoffs.step import BenchTimes, CutoffStep, load_label
from rig.spec import ProductSpec
from rig.trace_view import LimitLine, TraceView
from rig.units import MA_PER_A

INTERVAL_S = 100e-6
PRETRIGGER_S = 0.005
# After the (fast test) ramp and the output's settling, the capture shows this much of compliance;
# the whole capture stays far shorter than the loss-of-contact persistence (250 ms), which ends a
# session into an open circuit.
COMPLIANCE_SHOWN_S = 0.020
# Drive the output to this multiple of the compliance current: into compliance for sure, yet above
# half the setpoint, so that loss of contact does not trip during the capture.
OVERDRIVE = 1.5
# Keep the load this far inside its power rating (at the highest voltage the spec allows).
POWER_MARGIN = 0.8
OPEN_CIRCUIT_SETPOINT_MA = 1.0


def setpoint_for(ctx: CutoffContext, load_ohm: float) -> float:
    """Into compliance where the load's power rating allows, else as high as it allows."""
    load_id = ctx.slot.station.slot(ctx.slot.number).load.instrument
    return setpoint_into(ctx.spec, ctx.slot.station.figures(load_id).max_power_w, load_ohm)


def setpoint_into(spec: ProductSpec, max_power_w: float, load_ohm: float) -> float:
    """setpoint_for, given the load's power rating."""
    if not math.isfinite(load_ohm):
        return OPEN_CIRCUIT_SETPOINT_MA
    compliance_ma = spec.compliance.v_max_nominal_v / load_ohm * MA_PER_A
    power_ma = math.sqrt(POWER_MARGIN * max_power_w / load_ohm) * MA_PER_A
    if spec.compliance.v_abs_max_v ** 2 / load_ohm <= POWER_MARGIN * max_power_w:
        power_ma = math.inf  # even at the highest allowed voltage the load is inside its rating
    wanted = min(OVERDRIVE * compliance_ma, power_ma, spec.setpoint.max_ma)
    step = spec.setpoint.resolution_ma
    return max(step, math.floor(round(wanted / step, 6)) * step)


def capture_window_s(setpoint_ma: float, settle_after_setpoint_s: float) -> float:
    """The capture after START: the fast test ramp, the output's settling, then compliance shown."""
    return setpoint_ma / TEST_RAMP_MAX_MA_PER_S + settle_after_setpoint_s + COMPLIANCE_SHOWN_S


@dataclass(frozen=True)
class Capture:
    load_ohm: float
    setpoint_ma: float
    trace: Trace


def act(ctx: CutoffContext, load_ohm: float) -> Capture:
    """A session into the load at the fastest test ramp, captured from before its start into compliance."""
    interval_s = ctx.figures.sample_interval_s(INTERVAL_S)  # exact on any analyzer resolution
    setpoint_ma = setpoint_for(ctx, load_ohm)
    analyzer = ctx.slot.ammeter
    window_s = capture_window_s(setpoint_ma, ctx.slot.settle_after_setpoint_s)
    try:
        start_session(ctx, setpoint_ma=setpoint_ma, load_ohm=load_ohm, wait_on=False,
                      before_start=lambda: analyzer.arm_trace(interval_s, round((window_s + PRETRIGGER_S) / interval_s),
                                                              pretrigger_points=round(PRETRIGGER_S / interval_s)))
        analyzer.trigger_now()
        trace = analyzer.fetch_trace()
    finally:
        end_session(ctx)
    return Capture(load_ohm, setpoint_ma, trace)


def judge(ctx: CutoffContext, capture: Capture) -> CutoffResult:
    load_ohm, setpoint_ma, trace = capture.load_ohm, capture.setpoint_ma, capture.trace
    v = np.abs(trace.voltage_v)
    peak_v = float(np.max(v))
    limit_v = ctx.spec.compliance.v_abs_max_v
    label = load_label(load_ohm)
    params = {"load_ohm": load_ohm, "setpoint_ma": setpoint_ma}
    noise_v = ctx.voltmeter_figures.voltage_ranges[ctx.voltage_meter.range_name].noise_v_rms
    result = CutoffResult()
    result.points.append(ctx.point(
        "compliance", f"compliance-voltage-{label}", params, peak_v, "V", nominal=None, lower=None, upper=limit_v,
        budget=reading_peak_budget("highest output voltage", peak_v, ctx.voltage_meter, noise_v),
        trace=trace_summary(trace)))
    result.plots.append(TraceView(
        f"Output voltage into {label} at {setpoint_ma:g} mA: highest {peak_v:.2f} V (limit {limit_v:g} V)",
        trace.time_s, trace.current_a * MA_PER_A, voltage_v=v, show_voltage=True,
        limits=(LimitLine(limit_v, f"limit {limit_v:g} V", "voltage"),),
    ))
    return result


def measure(ctx: CutoffContext, load_ohm: float) -> CutoffResult:
    return judge(ctx, act(ctx, load_ohm))


def floor_s(spec: ProductSpec, bench: BenchTimes, load_ohm: float) -> float:
    """The session and the capture: the fast ramp into compliance, the settling, compliance shown."""
    return bench.session_s + capture_window_s(setpoint_into(spec, bench.load_max_power_w, load_ohm), bench.settle_s)


STEP = CutoffStep("compliance_voltage", "compliance",
                  lambda spec: [{"load_ohm": ohm} for ohm in spec.test_loads.all_ohms()], act, judge, floor_s,
                  label=load_label)
