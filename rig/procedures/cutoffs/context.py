"""What every cut-off procedure shares: the slot, spec, decision rule and sink, the requirements of
dut-protocol.md section 1, the session set-up, and the way back to a safe, fault-free unit."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from rig.dut.errors import DutCommandError
from rig.dut.protocol import TEST_RAMP_MAX_MA_PER_S, ErrorCode, Injection, Polarity, State
from rig.instruments.analyzer import PowerAnalyzer, Trace
from rig.metrology.decision import DecisionRule
from rig.metrology.uncertainty import Budget, MeterAccuracy
from rig.procedures.accuracy import current_meter, voltage_meter
from rig.procedures.cutoffs.trace_analysis import downsample
from rig.procedures.points import MeasuredPoint, PointSink, Requirement, make_point
from rig.slot import OpenSlot
from rig.spec import ProductSpec
from rig.trace_view import TraceView
from rig.units import MA_PER_A

POLL_S = 0.005
# Beyond the ramp time, how long a state change may take to show (command latency, ticks, settling).
STATE_MARGIN_S = 1.0
# The results store keeps a reduced trace per point; the PNG in the report has every sample.
SUMMARY_POINTS = 400
PHASE = "cutoff"


def requirements(spec: ProductSpec) -> dict[str, Requirement]:
    rows = {
        "overcurrent": "Over-current cut-off",
        "loss_of_contact": "Loss of contact",
        "compliance_recovery": "Compliance recovery",
        "ramp": "Soft start / soft stop ramp rate",
        "compliance": "Compliance voltage",
        "timer": "Session timer",
        "residual_current": "Residual current with the output off",
    }
    return {key: Requirement(key, getattr(spec, key).clause, title) for key, title in rows.items()}


@dataclass
class CutoffResult:
    """The points of one procedure (already handed to the sink) and the traces that show them."""

    points: list[MeasuredPoint] = field(default_factory=list)
    plots: list[TraceView] = field(default_factory=list)


@dataclass
class CutoffContext:
    slot: OpenSlot
    spec: ProductSpec
    rule: DecisionRule
    sink: PointSink

    def __post_init__(self) -> None:
        station, number = self.slot.station, self.slot.number
        self.figures = station.figures(station.slot(number).ammeter.instrument)
        # The voltmeter role's stated figures: the same instrument's, or a DMM's of its own.
        self.voltmeter_figures = station.figures(station.slot(number).voltmeter.instrument)
        self.current_meter: MeterAccuracy = current_meter(self.figures, self.spec.setpoint.max_ma / MA_PER_A)
        self.low_current_meter: MeterAccuracy = current_meter(self.figures, self.spec.residual_current.max_ua / 1e6)
        self.voltage_meter: MeterAccuracy = voltage_meter(self.voltmeter_figures, self.spec.compliance.v_abs_max_v)
        self.requirements = requirements(self.spec)

    def point(self, key: str, name: str, parameters: dict, measured: float, unit: str, *,
              nominal: float | None, lower: float | None, upper: float | None, budget: Budget,
              trace: dict | None = None, raw: dict | None = None) -> MeasuredPoint:
        """Make a point against its declared limits and hand it to the sink at once."""
        extra = dict(raw or {})
        if trace is not None:
            extra["trace"] = trace
        made = make_point(phase=PHASE, requirement=self.requirements[key], name=name, parameters=parameters,
                          measured=measured, unit=unit, nominal=nominal, lower=lower, upper=upper,
                          budget=budget, rule=self.rule, raw=extra)
        self.sink(made)
        return made

    def check(self, key: str, name: str, parameters: dict, held: bool, what: str) -> MeasuredPoint:
        """A yes/no behaviour of the spec row (latched, refused, stayed off) as a 0/1 point that
        must be 1; no measurement uncertainty (it is read from the unit or the analyzer's verdict)."""
        return self.point(key, name, parameters, 1.0 if held else 0.0, "bool", nominal=1.0, lower=1.0,
                          upper=None, budget=Budget(what, "bool", ()), raw={"behaviour": what})


@dataclass
class RigTriggeredCapture:
    """A capture initiated before a session starts and triggered by the rig once the behaviour is over,
    so that it lasts as long as the unit takes, not as long as the slowest unit the spec allows.

    The pre-trigger is sized for that slowest unit; of it, only what the analyzer has recorded since it
    was initiated is kept (a real analyzer holds nothing from before; a bench may hold its history,
    including the previous test's)."""

    analyzer: PowerAnalyzer
    interval_s: float
    pretrigger_s: float
    post_trigger_s: float
    armed_at_s: float = math.nan

    def arm(self) -> None:
        before = round(self.pretrigger_s / self.interval_s)
        after = round(self.post_trigger_s / self.interval_s)
        self.analyzer.arm_trace(self.interval_s, before + after, pretrigger_points=before, trigger="BUS")
        self.armed_at_s = time.monotonic()

    def trigger_and_fetch(self) -> Trace:
        self.analyzer.trigger_now()
        recorded_s = time.monotonic() - self.armed_at_s
        return since_initiated(self.analyzer.fetch_trace(), recorded_s)


def since_initiated(trace: Trace, recorded_s: float) -> Trace:
    """The trace without the pre-trigger samples older than `recorded_s` before the trigger."""
    drop = max(0, trace.pretrigger_points - math.floor(recorded_s / trace.interval_s))
    voltage = trace.voltage_v[drop:] if trace.voltage_v is not None else None
    return replace(trace, pretrigger_points=trace.pretrigger_points - drop, current_a=trace.current_a[drop:],
                   voltage_v=voltage)


def trace_summary(trace: Trace) -> dict:
    """The downsampled trace kept in a point's raw record (current in mA, voltage in V)."""
    summary = {"interval_s": trace.interval_s, "points": len(trace.current_a),
               "current_ma": downsample(trace.time_s, trace.current_a * MA_PER_A, SUMMARY_POINTS)}
    if trace.voltage_v is not None:
        summary["voltage_v"] = downsample(trace.time_s, trace.voltage_v, SUMMARY_POINTS)
    return summary


def start_session(ctx: CutoffContext, *, setpoint_ma: float, load_ohm: float,
                  rate_ma_per_s: float | None = None, timer_s: float | None = None, wait_on: bool = True,
                  before_start: Callable[[], None] | None = None) -> None:
    """From a safe unit: load, polarity POS, DC, setpoint, timer and ramp, START.

    rate None: test mode with the fastest TEST:RAMP (the set-up ramp is not what is measured).
    """
    dut, spec = ctx.slot.dut, ctx.spec
    ctx.slot.ammeter.set_current_range_a(spec.setpoint.max_ma / MA_PER_A)
    ctx.slot.load.set_resistance_ohm(load_ohm)
    dut.set_polarity(Polarity.POS)
    dut.set_mode_dc()
    dut.set_timer_s(timer_s if timer_s is not None else spec.timer.max_s)
    if rate_ma_per_s is None:
        dut.test_on()
        dut.test_ramp(TEST_RAMP_MAX_MA_PER_S)
    else:
        dut.set_ramp_ma_per_s(rate_ma_per_s)
    dut.set_current_ma(setpoint_ma)
    dut.clear_events()
    if before_start is not None:
        before_start()
    dut.start()
    if wait_on:
        ramp_s = setpoint_ma / (rate_ma_per_s or TEST_RAMP_MAX_MA_PER_S)
        wait_for_state(ctx, (State.ON,), ramp_s + STATE_MARGIN_S)
        time.sleep(ctx.slot.settle_after_setpoint_s)


def wait_for_state(ctx: CutoffContext, states: tuple[str, ...], timeout_s: float) -> str:
    """Poll STATE? until one of `states`; return the last state seen (the caller judges a timeout)."""
    deadline = time.monotonic() + timeout_s
    while (state := ctx.slot.dut.state().state) not in states and time.monotonic() < deadline:
        time.sleep(POLL_S)
    return state


def clear_refused(ctx: CutoffContext) -> bool:
    """True when CLEAR is answered ERR 6 FAULT (the cause persists)."""
    try:
        ctx.slot.dut.clear()
    except DutCommandError as exc:
        return exc.code == ErrorCode.FAULT
    return False


def end_session(ctx: CutoffContext) -> None:
    """Back to a safe, fault-free unit: no injection, any latched fault cleared, output off, load safe."""
    dut = ctx.slot.dut
    state = dut.state()
    if state.state == State.FAULT:
        try:
            dut.test_inject(Injection.NONE)
        except DutCommandError:
            pass  # not in test mode: nothing was injected
        dut.clear()
    ctx.slot.make_safe()
