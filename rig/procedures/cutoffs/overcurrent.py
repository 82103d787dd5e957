"""Over-current cut-off (dut-protocol.md section 1) with `TEST:INJECT RUNAWAY`, from the analyzer's trace.

Figures: cut-off time (threshold crossing to output below the off level), the trip level (the current
the unit held for the persistence time before it tripped), the fault latched and reported, and
CLEAR refused while the runaway persists.
"""

from __future__ import annotations

import numpy as np

from rig.dut.errors import DutTimeout
from rig.procedures.cutoffs.budgets import edge_components, interval_budget, level_budget
from rig.procedures.cutoffs.context import (
    MA_PER_A,
    CutoffContext,
    CutoffResult,
    RigTriggeredCapture,
    clear_refused,
    end_session,
    start_session,
    trace_summary,
)
from rig.procedures.cutoffs.trace_analysis import crossing_time, local_slope, value_at
from rig.records.trace_plots import LimitLine, TimeMark, TracePlot

# Low, middle and high setpoints: the relative threshold (+0.5 mA, then 1.10 x) and a threshold near
# the absolute one.
SETPOINTS_MA = (2.0, 10.0, 25.0)
# The lowest test load keeps the runaway's peak (full scale, ~34 mA) inside the load's power rating.
LOAD_OHM = 500.0
# At least 10 samples inside the 50 ms limit (issue 4); 100 us gives 500.
INTERVAL_S = 100e-6
PRETRIGGER_S = 0.010
# The rig waits for the fault this multiple of the spec's persistence plus switch-off, so a slow unit is
# measured, not lost.
WINDOW_LIMIT_MULTIPLE = 3.0
# How late the fault event may arrive after the trip (serial line, the rig's reader thread).
FAULT_EVENT_WAIT_S = 1.0
# After the trigger (the fault reported): the output seen staying off.
POST_TRIGGER_S = 0.010
SLOPE_HALF_WIDTH_S = 0.0005
OVERCURRENT_CODE = 1  # dut-protocol.md section 5


def measure(ctx: CutoffContext, setpoint_ma: float) -> CutoffResult:
    spec = ctx.spec.overcurrent
    threshold_ma = spec.threshold_ma(setpoint_ma)
    params = {"setpoint_ma": setpoint_ma, "load_ohm": LOAD_OHM, "threshold_ma": threshold_ma}
    name = f"overcurrent-{setpoint_ma:g}mA"
    dut = ctx.slot.dut
    # Triggered by the rig once the unit reports the fault (or the window has passed without one): the
    # capture lasts as long as the unit takes to trip, and a slow trip is measured, not lost.
    window_s = WINDOW_LIMIT_MULTIPLE * (spec.persist_s + spec.off_within_s)
    capture = RigTriggeredCapture(ctx.slot.ammeter, INTERVAL_S, PRETRIGGER_S + window_s + FAULT_EVENT_WAIT_S,
                                  POST_TRIGGER_S)
    try:
        start_session(ctx, setpoint_ma=setpoint_ma, load_ohm=LOAD_OHM)
        capture.arm()
        dut.test_inject("RUNAWAY")
        try:
            event = dut.wait_for_event("!FAULT", window_s + FAULT_EVENT_WAIT_S).body
        except DutTimeout:
            event = ""
        trace = capture.trigger_and_fetch()
        code, fault_name = dut.fault()
        state = dut.state().state
        refused = clear_refused(ctx)
    finally:
        end_session(ctx)
    t, i_ma = trace.time_s, trace.current_a * MA_PER_A
    result = CutoffResult()
    summary = trace_summary(trace)

    t_cross = crossing_time(t, i_ma, threshold_ma, rising=True)
    t_peak = float(t[int(np.argmax(i_ma))])
    t_off = crossing_time(t, i_ma, spec.off_level_ma, rising=False, after_s=t_peak)
    cutoff_s = t_off - t_cross if np.isfinite(t_off) else float("inf")
    cross_edge = edge_components("threshold crossing", INTERVAL_S, threshold_ma,
                                 local_slope(t, i_ma, t_cross, SLOPE_HALF_WIDTH_S), ctx.current_meter)
    off_edge = edge_components("output below the off level", INTERVAL_S, spec.off_level_ma,
                               local_slope(t, i_ma, t_off, SLOPE_HALF_WIDTH_S), ctx.current_meter)
    result.points.append(ctx.point(
        "overcurrent", f"{name}-cutoff-time", params, cutoff_s, "s", nominal=None, lower=None,
        upper=spec.off_within_s, budget=interval_budget("cut-off time", cross_edge, off_edge), trace=summary))

    # The unit trips once the current has stayed above its threshold for the persistence time, so the
    # current one persistence time before the trip is the level it tripped at; it must not be below
    # the threshold (no trip before). A trip above it is caught by the cut-off time, which counts from
    # the threshold crossing; the spec gives the threshold no tolerance of its own.
    trip_at_s = t_peak - spec.persist_s
    trip_level_ma = value_at(t, i_ma, trip_at_s)
    slope = local_slope(t, i_ma, trip_at_s, SLOPE_HALF_WIDTH_S)
    result.points.append(ctx.point(
        "overcurrent", f"{name}-trip-level", params, trip_level_ma, "mA", nominal=None,
        lower=threshold_ma, upper=None,
        budget=level_budget("trip level", threshold_ma, ctx.current_meter, INTERVAL_S, slope)))
    latched = code == OVERCURRENT_CODE and state == "FAULT" and event.startswith(f"!FAULT {OVERCURRENT_CODE}")
    result.points.append(ctx.check("overcurrent", f"{name}-latched", params, latched,
                                   f"fault latched and reported: FAULT? {code} {fault_name}, state {state}, "
                                   f"event {event or 'none'}"))
    result.points.append(ctx.check("overcurrent", f"{name}-clear-refused", params, refused,
                                   "CLEAR refused (ERR 6) while the runaway persists"))
    result.plots.append(TracePlot(
        f"Over-current cut-off, setpoint {setpoint_ma:g} mA into {LOAD_OHM:g} ohm: "
        f"{cutoff_s * 1e3:.1f} ms (limit {spec.off_within_s * 1e3:g} ms)",
        t, i_ma,
        limits=(LimitLine(threshold_ma, f"threshold {threshold_ma:g} mA"),
                LimitLine(spec.off_level_ma, f"off level {spec.off_level_ma:g} mA")),
        marks=(TimeMark(t_cross, "threshold crossing", t_cross + spec.off_within_s),
               TimeMark(t_off, "output off"), TimeMark(trip_at_s, "trip level")),
    ))
    return result
