"""Soft start and soft stop (dut-protocol.md section 1): the ramp rate read off the trace by a line
fit, at several configured rates, against the configured rate ±10 %.

The fit starts at the lowest setpoint of the DC accuracy domain (0.5 mA), not at a fraction of the
plateau: below it a calibrated unit's output need not follow its setpoint. A unit with a positive
output offset, calibrated with a negative DAC offset, keeps its output switch open (DAC code 0) until
the ramp reaches that offset and then steps to it; a fit across that step reads the rate up to 18 %
high on a 0.3 mA ramp although the current ramps at the right rate wherever it is specified.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from rig.dut.protocol import IDLE_STATES, State
from rig.instruments.analyzer import Trace
from rig.procedures.cutoffs.budgets import rate_budget
from rig.procedures.cutoffs.context import (
    MA_PER_A,
    STATE_MARGIN_S,
    CutoffContext,
    CutoffResult,
    RigTriggeredCapture,
    end_session,
    start_session,
    trace_summary,
    wait_for_state,
)
from rig.procedures.cutoffs.step import BenchTimes, CutoffStep
from rig.procedures.cutoffs.trace_analysis import fit_between_levels
from rig.spec import ProductSpec
from rig.trace_view import LimitLine, TraceView
from rig.units import PERCENT

LOAD_OHM = 1000.0
# ...and it spans at least this many setpoint steps: a unit may ramp in steps of its setpoint
# resolution (0.1 mA; the documents allow it), and a line fitted across a staircase of n steps errs by
# up to about 1/n of the rate at a given phase: 1.5 steps read 0.42 mA/s for 0.5 mA/s (seen on a bench
# variant); 10 steps keep it within 1 %.
FIT_SPAN_STEPS = 10
# The fitted stretch of each ramp lasts this long: long enough for the 3 uA rms noise and the DAC's
# 8 uA steps to matter little against the ±10 % limit, short enough to keep the suite near its floor.
FIT_SPAN_S = 0.3
# The fit ends below the top corner, which the output's settling rounds.
FIT_HIGH_FRACTION = 0.9
INTERVAL_S = 0.001
PRETRIGGER_S = 0.020
PLATEAU_HOLD_S = 0.050
# The capture ends this long after the unit reports the soft stop done (the rig's trigger): the output
# settled off.
POST_TRIGGER_S = 0.020
SMOOTH_SAMPLES = 20
LOW_RATE_FRACTION_OF_DEFAULT = 0.5


def rates(spec: ProductSpec) -> list[float]:
    """The configured rates tested: the default, half of it and the maximum. The 0.1 mA/s minimum is
    left out: a 0.1 mA ramp is too close to the 3 uA noise and the DAC's steps for a useful U."""
    ramp = spec.ramp
    return sorted({LOW_RATE_FRACTION_OF_DEFAULT * ramp.rate_default_ma_per_s, ramp.rate_default_ma_per_s,
                   ramp.rate_max_ma_per_s})


def fit_low_ma(spec: ProductSpec) -> float:
    """Where the fit starts: the lowest setpoint at which the spec makes the output follow it."""
    return spec.dc_accuracy.setpoint_min_ma


def setpoint_for(spec: ProductSpec, rate_ma_per_s: float) -> float:
    """The plateau whose ramp spends FIT_SPAN_S, and at least FIT_SPAN_STEPS setpoint steps, between
    the fit's two levels."""
    step = spec.setpoint.resolution_ma
    span_ma = max(rate_ma_per_s * FIT_SPAN_S, FIT_SPAN_STEPS * step)
    wanted = (fit_low_ma(spec) + span_ma) / FIT_HIGH_FRACTION
    return math.ceil(round(wanted / step, 6)) * step


def capture_s(spec: ProductSpec, rate_ma_per_s: float) -> float:
    """The trace's length before its trigger: both ramps at the slowest allowed rate, the plateau and
    the time to see it, and a margin before the start."""
    ramp_s = setpoint_for(spec, rate_ma_per_s) / rate_ma_per_s
    return PRETRIGGER_S + 2 * ramp_s * (1 + spec.ramp.tolerance_pct / PERCENT) + PLATEAU_HOLD_S + STATE_MARGIN_S


@dataclass(frozen=True)
class Capture:
    rate_ma_per_s: float
    setpoint_ma: float
    trace: Trace


def act(ctx: CutoffContext, rate_ma_per_s: float) -> Capture:
    """A session ramped up to its plateau and down again at the rate, captured whole."""
    interval_s = ctx.figures.sample_interval_s(INTERVAL_S)  # exact on any analyzer resolution
    setpoint_ma = setpoint_for(ctx.spec, rate_ma_per_s)
    ramp_s = setpoint_ma / rate_ma_per_s
    analyzer, dut = ctx.slot.ammeter, ctx.slot.dut
    # Initiated before the start, triggered by the rig once the unit reports the soft stop done, with
    # everything since before the start as pre-trigger: the capture lasts as long as the unit's ramps
    # do, not as long as the slowest ramps the spec allows. (A level trigger on the soft stop's end
    # would also fire where noise recrosses the level on the way up.)
    capture = RigTriggeredCapture(analyzer, interval_s, capture_s(ctx.spec, rate_ma_per_s), POST_TRIGGER_S)
    slowest_ramp_s = ramp_s * (1 + ctx.spec.ramp.tolerance_pct / PERCENT)
    fastest_ramp_s = ramp_s / (1 + ctx.spec.ramp.tolerance_pct / PERCENT)
    try:
        start_session(ctx, setpoint_ma=setpoint_ma, load_ohm=LOAD_OHM, rate_ma_per_s=rate_ma_per_s, wait_on=False,
                      before_start=capture.arm)
        # Asked only from the earliest end of each ramp the spec allows on.
        time.sleep(fastest_ramp_s)
        wait_for_state(ctx, (State.ON,), slowest_ramp_s + STATE_MARGIN_S)
        time.sleep(PLATEAU_HOLD_S)
        dut.stop()
        time.sleep(fastest_ramp_s)
        wait_for_state(ctx, IDLE_STATES, slowest_ramp_s + STATE_MARGIN_S)
        trace = capture.trigger_and_fetch()
    finally:
        end_session(ctx)
    return Capture(rate_ma_per_s, setpoint_ma, trace)


def judge(ctx: CutoffContext, capture: Capture) -> CutoffResult:
    rate_ma_per_s, setpoint_ma, trace = capture.rate_ma_per_s, capture.setpoint_ma, capture.trace
    t, i_ma = trace.time_s, trace.current_a * MA_PER_A
    plateau_ma = float(np.max(np.convolve(i_ma, np.ones(SMOOTH_SAMPLES) / SMOOTH_SAMPLES, mode="same")))
    low, high = fit_low_ma(ctx.spec), FIT_HIGH_FRACTION * plateau_ma
    up = fit_between_levels(t, i_ma, low, high, rising=True, smooth_window=SMOOTH_SAMPLES)
    down = fit_between_levels(t, i_ma, low, high, rising=False, after_s=up.time_of(plateau_ma),
                              smooth_window=SMOOTH_SAMPLES)
    tolerance = ctx.spec.ramp.tolerance_pct / PERCENT * rate_ma_per_s
    params = {"rate_ma_per_s": rate_ma_per_s, "setpoint_ma": setpoint_ma, "load_ohm": LOAD_OHM}
    result = CutoffResult()
    summary = trace_summary(trace)
    for direction, fit in (("soft-start", up), ("soft-stop", down)):
        result.points.append(ctx.point(
            "ramp", f"ramp-{rate_ma_per_s:g}mA_s-{direction}", params | {"direction": direction}, abs(fit.slope),
            "mA/s", nominal=rate_ma_per_s, lower=rate_ma_per_s - tolerance, upper=rate_ma_per_s + tolerance,
            budget=rate_budget(fit, ctx.current_meter), trace=summary,
            raw={"fit_points": fit.points, "residual_sd_ma": fit.residual_sd}))
    reference = np.clip(np.minimum(up.at(t), down.at(t)), 0.0, None)
    result.plots.append(TraceView(
        f"Ramp at {rate_ma_per_s:g} mA/s: up {up.slope:.3f}, down {-down.slope:.3f} mA/s "
        f"(limits ±{ctx.spec.ramp.tolerance_pct:g} %)",
        t, i_ma, reference_ma=reference,
        limits=(LimitLine(low, "fit from"), LimitLine(high, "fit to")),
    ))
    return result


def measure(ctx: CutoffContext, rate_ma_per_s: float) -> CutoffResult:
    return judge(ctx, act(ctx, rate_ma_per_s))


def floor_s(spec: ProductSpec, bench: BenchTimes, rate_ma_per_s: float) -> float:
    """The session; up and down at the rate to the plateau, the plateau held to be seen, the capture
    after the soft stop."""
    return (bench.session_s + 2 * setpoint_for(spec, rate_ma_per_s) / rate_ma_per_s + PLATEAU_HOLD_S
            + POST_TRIGGER_S)


STEP = CutoffStep("ramp", "ramp", lambda spec: [{"rate_ma_per_s": r} for r in rates(spec)], act, judge, floor_s,
                  label=lambda rate_ma_per_s: f"{rate_ma_per_s:g}mA_s")
