"""Cut-off trip levels judged against the band the unit's own reading tolerance puts around each
threshold (dut-protocol.md section 1, the paragraph after the table), on synthetic runaway traces.

The over-current procedure runs end to end against a fake slot whose analyzer returns a trace with a
known answer: a unit whose condition is met when the true current crosses `level_ma`, which trips
`dwell_s` later and is below the off level `off_after_trip_s` after that.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

from rig.dut.errors import DutCommandError
from rig.dut.protocol import ErrorCode
from rig.instruments.analyzer import Trace
from rig.metrology.decision import DecisionRule
from rig.procedures.cutoffs import contact, overcurrent
from rig.procedures.cutoffs import trace_analysis as ta
from rig.procedures.cutoffs.context import CutoffContext
from rig.spec import load_spec
from rig.station import default_models

SPEC = load_spec()
SETPOINT_MA = 10.0
RUNAWAY_MA_PER_S = 200.0  # TEST:INJECT RUNAWAY (dut-protocol.md section 4)
RUNAWAY_FROM_S = 0.010
FAST_OFF_S = 0.010  # from the trip to below the off level: a prompt switch-off


def runaway_trace(level_ma: float, *, dwell_s: float = 0.005, off_after_trip_s: float = FAST_OFF_S,
                  interval_s: float = overcurrent.INTERVAL_S) -> Trace:
    """The setpoint, then the runaway's climb, the trip `dwell_s` after the climb passed `level_ma`,
    and an exponential fall that is below the off level `off_after_trip_s` after the trip."""
    trip_s = RUNAWAY_FROM_S + (level_ma - SETPOINT_MA) / RUNAWAY_MA_PER_S + dwell_s
    # Sampled at the trip instant itself, so that the figures carry no sampling error of their own.
    t = trip_s + interval_s * np.arange(-round(trip_s / interval_s), round((0.2 - trip_s) / interval_s))
    climb_ma = SETPOINT_MA + RUNAWAY_MA_PER_S * np.clip(t - RUNAWAY_FROM_S, 0.0, None)
    peak_ma = SETPOINT_MA + RUNAWAY_MA_PER_S * (trip_s - RUNAWAY_FROM_S)
    tau_s = off_after_trip_s / math.log(peak_ma / SPEC.overcurrent.off_level_ma)
    fall_ma = peak_ma * np.exp(-np.clip(t - trip_s, 0.0, None) / tau_s)
    current_ma = np.where(t <= trip_s, climb_ma, fall_ma)
    return Trace(interval_s, 0, current_ma / 1000.0, None)


class FakeDut:
    """Answers a cut-off procedure as a unit that trips on `code` and latches it would."""

    def __init__(self, code: int, name: str) -> None:
        self.code, self.name = code, name
        self.state_now = "TEST"
        self.injection = "NONE"

    def __getattr__(self, name: str):
        return lambda *args, **kwargs: None  # settings the procedure writes

    def start(self) -> None:
        self.state_now = "ON"

    def test_inject(self, fault: str) -> None:
        self.injection = fault

    def wait_for_event(self, prefix: str, timeout_s: float):
        self.state_now = "FAULT"
        return SimpleNamespace(body=f"!FAULT {self.code} {self.name}")

    def fault(self) -> tuple[int, str]:
        return (self.code, self.name) if self.state_now == "FAULT" else (0, "NONE")

    def state(self):
        return SimpleNamespace(state=self.state_now)

    def clear(self) -> None:
        if self.injection != "NONE":
            raise DutCommandError("fake", "CLEAR", ErrorCode.FAULT, "FAULT")
        self.state_now = "TEST"


class _Quiet:
    def __getattr__(self, name: str):
        return lambda *args, **kwargs: None

    def measure_current_a(self) -> float:
        return 0.0


def fake_context(rule: DecisionRule, points: list, dut: FakeDut) -> CutoffContext:
    analyzer = default_models()["N6705C"]
    station = SimpleNamespace(figures=lambda instrument: analyzer,
                              slot=lambda number: SimpleNamespace(ammeter=SimpleNamespace(instrument="pa1"),
                                                                  voltmeter=SimpleNamespace(instrument="pa1")))
    slot = SimpleNamespace(station=station, number=1, dut=dut, ammeter=_Quiet(), load=_Quiet(),
                           settle_after_setpoint_s=0.0, settle_after_load_s=0.0, make_safe=lambda: None)
    return CutoffContext(slot, SPEC, rule, points.append)


def fake_capture(monkeypatch, module, trace: Trace) -> None:
    """The procedure's capture returns `trace`."""

    class Capture:
        def __init__(self, *args, **kwargs) -> None:
            pass

        def arm(self) -> None:
            pass

        def trigger_and_fetch(self) -> Trace:
            return trace

    monkeypatch.setattr(module, "RigTriggeredCapture", Capture)


def run_overcurrent(monkeypatch, trace: Trace, rule: DecisionRule) -> dict[str, object]:
    """The over-current procedure on `trace`: its points by figure (cutoff-time, trip-level, ...)."""
    fake_capture(monkeypatch, overcurrent, trace)
    stored: list = []
    result = overcurrent.measure(fake_context(rule, stored, FakeDut(1, "OVERCURRENT")), SETPOINT_MA)
    assert [p.name for p in stored] == [p.name for p in result.points]  # each point reached the sink
    return {p.name.removeprefix(f"overcurrent-{SETPOINT_MA:g}mA-"): p for p in result.points}


def failing(points: dict) -> set[str]:
    return {name for name, p in points.items() if not p.decision.passed}


def test_the_trip_band_is_the_threshold_widened_by_the_reading_tolerance():
    assert SPEC.overcurrent_trip_band_ma(10.0) == pytest.approx((10.84, 11.16))  # the spec's own example
    assert SPEC.overcurrent_trip_band_ma(25.0) == pytest.approx((27.5 - 0.325, 27.5 + 0.325))
    assert SPEC.overcurrent_trip_band_ma(None) == pytest.approx((31.0 - 0.36, 31.0 + 0.36))
    assert SPEC.contact_voltage_band_v() == pytest.approx((57.0 - 0.77, 57.0 + 0.77))
    assert SPEC.contact_current_band_ma(5.0) == pytest.approx((2.5 - 0.075, 2.5 + 0.075))


def test_a_healthy_unit_tripping_inside_the_band_below_the_threshold_passes(monkeypatch):
    """Issue 11: a unit tripping at 10.97 mA of true current failed the bare 11.0 mA lower limit."""
    points = run_overcurrent(monkeypatch, runaway_trace(10.97), DecisionRule.GUARD_BAND)
    assert failing(points) == set()
    assert points["trip-level"].measured == pytest.approx(10.97, abs=1e-6)
    assert points["trip-level"].lower == pytest.approx(10.84)


@pytest.mark.parametrize(("level_ma", "off_after_trip_s", "fails"), [
    (10.85, FAST_OFF_S, set()),  # near the band's low edge
    (11.15, 0.0449, set()),  # near its high edge, off 49.9 ms after its own crossing
    (10.80, FAST_OFF_S, {"trip-level"}),  # a nuisance trip: below the band
    (11.20, 0.0449, {"cutoff-time"}),  # a late trip: off 50.1 ms after the current passed 11.16 mA
], ids=["10.85", "11.15", "10.80-nuisance", "11.20-late"])
def test_the_band_edges_under_simple_acceptance(monkeypatch, level_ma, off_after_trip_s, fails):
    trace = runaway_trace(level_ma, off_after_trip_s=off_after_trip_s)
    assert failing(run_overcurrent(monkeypatch, trace, DecisionRule.SIMPLE)) == fails


def test_guard_band_rejects_what_the_rigs_uncertainty_cannot_place_inside(monkeypatch):
    inside = run_overcurrent(monkeypatch, runaway_trace(10.90), DecisionRule.GUARD_BAND)
    assert failing(inside) == set()
    edge = run_overcurrent(monkeypatch, runaway_trace(10.845), DecisionRule.GUARD_BAND)
    assert edge["trip-level"].budget.expanded > 0.005
    assert failing(edge) == {"trip-level"}  # 5 uA inside the band, less than U: not a plain pass


def test_a_longer_dwell_at_the_threshold_is_not_a_late_trip(monkeypatch):
    """The virtual bench's unit trips on the true current at 11.0 mA after 6 to 8 ms (its 1 ms ticks):
    5 ms before the trip the current is above the band, yet the output is off well within 50 ms."""
    points = run_overcurrent(monkeypatch, runaway_trace(11.0, dwell_s=0.008), DecisionRule.GUARD_BAND)
    assert points["trip-level"].measured > SPEC.overcurrent_trip_band_ma(SETPOINT_MA)[1]
    assert failing(points) == set()


def test_a_unit_that_takes_its_whole_50_ms_from_above_the_band_is_late(monkeypatch):
    points = run_overcurrent(monkeypatch, runaway_trace(11.0, dwell_s=0.040, off_after_trip_s=0.012),
                             DecisionRule.GUARD_BAND)
    assert failing(points) == {"cutoff-time"}


def test_trip_instants_count_the_cutoff_from_the_latest_instant_a_healthy_unit_can_have_acted():
    band = SPEC.overcurrent_trip_band_ma(SETPOINT_MA)
    persist_s, off_ma = SPEC.overcurrent.persist_s, SPEC.overcurrent.off_level_ma
    crossing_s = RUNAWAY_FROM_S + (band[1] - SETPOINT_MA) / RUNAWAY_MA_PER_S
    # Tripping above the band: from the band's high edge (1.6 ms after its low edge at 200 mA/s).
    late = runaway_trace(11.0, dwell_s=0.008)
    found = ta.trip_instants(late.time_s, late.current_a * 1000.0, band, persist_s, off_ma)
    assert found.band_left_s == pytest.approx(crossing_s, abs=1e-6)
    assert found.band_left_s - found.band_entered_s == pytest.approx(0.0016, abs=1e-6)
    assert found.condition_met_by_s == found.band_left_s
    # Held for exactly the persistence from inside the band: from there, the instant its reading crossed.
    exact = runaway_trace(10.9)
    found = ta.trip_instants(exact.time_s, exact.current_a * 1000.0, band, persist_s, off_ma)
    assert found.condition_met_by_s == pytest.approx(found.trip_s - persist_s)
    assert found.cutoff_s == pytest.approx(persist_s + FAST_OFF_S, abs=2 * overcurrent.INTERVAL_S)
    # Never switched off: no finite cut-off time.
    on = Trace(overcurrent.INTERVAL_S, 0, np.linspace(0.010, 0.034, 500), None)
    assert ta.trip_instants(on.time_s, on.current_a * 1000.0, band, persist_s, off_ma).cutoff_s == math.inf


def contact_trace(rise_s: float, off_after_s: float, *, v_max_v: float = 60.0) -> Trace:
    """Loss of contact at 50 ms: the current drops to almost 0 at once, the terminal voltage climbs
    from its value on the load to `v_max_v` in `rise_s` (a load with capacitance), and the output is off
    (0 V) `off_after_s` after the voltage passed the top of the band a healthy unit can see."""
    interval_s = contact.INTERVAL_S
    t = np.arange(0.0, 0.6, interval_s)
    lost_s = 0.050
    on_load_v = contact.SETPOINT_MA / 1000.0 * contact.LOAD_OHM
    current_ma = np.where(t < lost_s, contact.SETPOINT_MA, 0.008)
    voltage_v = np.where(t < lost_s, on_load_v,
                         np.minimum(v_max_v, on_load_v + (v_max_v - on_load_v) * (t - lost_s) / rise_s))
    high_v = SPEC.contact_voltage_band_v()[1]
    off_s = lost_s + (high_v - on_load_v) / (v_max_v - on_load_v) * rise_s + off_after_s
    voltage_v = np.where(t < off_s, voltage_v, 0.0)
    return Trace(interval_s, 0, current_ma / 1000.0, voltage_v)


def run_contact(monkeypatch, trace: Trace, rule: DecisionRule) -> dict[str, object]:
    fake_capture(monkeypatch, contact, trace)
    stored: list = []
    result = contact.measure(fake_context(rule, stored, FakeDut(2, "LOSS_OF_CONTACT")))
    return {p.name: p for p in result.points}


def test_loss_of_contact_time_counts_from_the_latest_instant_a_healthy_unit_sees_it(monkeypatch):
    """A load with capacitance: the voltage takes 30 ms to reach V_max. A unit whose reading is 0.77 V
    low sees 57.0 V only when the true voltage is 57.77 V, and is off 295 ms later: healthy. Counted
    from the current's drop, as before, it looked 324 ms late."""
    limit_s = SPEC.loss_of_contact.persist_s + SPEC.loss_of_contact.off_within_s
    points = run_contact(monkeypatch, contact_trace(0.030, 0.295), DecisionRule.GUARD_BAND)
    off_time = points["loss-of-contact-off-time"]
    assert off_time.decision.passed
    assert off_time.measured == pytest.approx(0.295, abs=contact.INTERVAL_S)
    late = run_contact(monkeypatch, contact_trace(0.030, limit_s + 0.004), DecisionRule.GUARD_BAND)
    assert not late["loss-of-contact-off-time"].decision.passed


def test_loss_of_contact_when_the_voltage_stops_below_the_bands_top(monkeypatch):
    """A unit limited at 57.5 V: counted from the voltage entering the band (the earliest instant)."""
    points = run_contact(monkeypatch, contact_trace(0.030, 0.200, v_max_v=57.5), DecisionRule.GUARD_BAND)
    assert points["loss-of-contact-off-time"].decision.passed
