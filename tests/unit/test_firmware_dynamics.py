"""Time behaviour on a hand-stepped clock: ramps, cut-offs, watchdog, timer, reset, and each
firmware fault changing what it should. Exact times, because the clock only moves when told."""

from __future__ import annotations

import math

import numpy as np
import pytest
from test_firmware_harness import SPEC, Unit

from rig.bench.faults import FIRMWARE_FAULTS
from rig.dut.framing import encode_frame

RAMP_TOL = SPEC.ramp.tolerance_pct / 100.0


def _ramp_up_time_s(unit: Unit, rate: float, setpoint_ma: float) -> float:
    unit.ok(f"RAMP {rate}")
    unit.ok(f"SET {setpoint_ma}")
    unit.ok("START")
    return unit.run_until(lambda: unit.fw.state == "ON", limit_s=5.0)


def test_soft_start_and_stop_at_the_configured_rate() -> None:
    unit = Unit()
    rate = SPEC.ramp.rate_max_ma_per_s
    took_s = _ramp_up_time_s(unit, rate, 1.0)
    assert took_s == pytest.approx(1.0 / rate, rel=RAMP_TOL)
    half_way_ma = unit.current_ma()
    unit.ok("STOP")
    took_s = unit.run_until(lambda: unit.fw.state == "IDLE", limit_s=5.0)
    assert took_s == pytest.approx(1.0 / rate, rel=RAMP_TOL)
    assert unit.fw.dac_code == 0
    assert half_way_ma > 0.9
    assert unit.events == ["!STATE RAMP_UP", "!STATE ON", "!STATE RAMP_DOWN", "!STATE IDLE"]


def test_fast_ramp_fault_ramps_thirty_percent_faster() -> None:
    healthy = _ramp_up_time_s(Unit(), SPEC.ramp.rate_max_ma_per_s, 1.0)
    faulty = _ramp_up_time_s(Unit(faults=frozenset({"fast_ramp"})), SPEC.ramp.rate_max_ma_per_s, 1.0)
    assert healthy / faulty == pytest.approx(1.3, rel=0.02)


def test_set_while_on_ramps_to_the_new_target() -> None:
    unit = Unit()
    unit.start_fast(5.0)
    unit.ok("SET 10.0")
    unit.run(0.001)
    assert unit.fw.state == "RAMP_UP"
    took_s = unit.run_until(lambda: unit.fw.state == "ON", limit_s=1.0)
    assert took_s == pytest.approx(5.0 / 1000.0, abs=0.002)


def _runaway_until_fault(unit: Unit) -> tuple[float, float]:
    """Runaway from 10 mA: return (time above threshold, time to < off level after crossing)."""
    unit.start_fast(10.0)
    t0 = unit.clock.t_s
    unit.ok("TEST:INJECT RUNAWAY")
    unit.run_until(lambda: unit.fw.state == "FAULT", limit_s=1.0)
    unit.run(0.06)
    step_s = 0.0002
    points = round((unit.clock.t_s - t0) / step_s)
    current_a, _ = unit.circuit.sample(t0, step_s, points)
    i_ma = np.abs(current_a) * 1000.0
    above = np.nonzero(i_ma > SPEC.overcurrent.threshold_ma(10.0))[0]
    cross = above[0]
    off = cross + np.nonzero(i_ma[cross:] < SPEC.overcurrent.off_level_ma)[0][0]
    return len(above) * step_s, (off - cross) * step_s


def test_overcurrent_trips_runaway_and_latches() -> None:
    unit = Unit()
    _, off_after_s = _runaway_until_fault(unit)
    assert off_after_s < SPEC.overcurrent.off_within_s
    assert unit.fw.dac_code == 0
    assert unit.events[-2:] == ["!FAULT 1 OVERCURRENT", "!STATE FAULT"]
    assert unit.ok("STATE?") == "FAULT 1"
    assert unit.ok("FAULT?") == "1 OVERCURRENT"
    assert unit.ask("START") == "ERR 6 FAULT"
    assert unit.ask("CLEAR") == "ERR 6 FAULT"  # RUNAWAY still injected
    unit.ok("TEST:INJECT NONE")
    unit.ok("CLEAR")
    assert unit.ok("STATE?") == "TEST 0"
    unit.ok("START")


def test_slow_overcurrent_fault_misses_the_50_ms() -> None:
    above_s, off_after_s = _runaway_until_fault(Unit(faults=frozenset({"slow_overcurrent"})))
    assert above_s >= 0.080
    assert off_after_s > SPEC.overcurrent.off_within_s


def test_raw_dac_only_the_absolute_threshold_applies() -> None:
    unit = Unit(load_ohm=500.0)
    unit.ok("TEST ON")
    unit.ok("TEST:DAC 3000")  # 25 mA nominal: far above any setpoint rule, below 31 mA
    unit.run(0.05)
    assert unit.fw.state == "TEST"
    unit.ok("TEST:DAC 4095")  # ~34 mA nominal
    unit.run_until(lambda: unit.fw.state == "FAULT", limit_s=0.1)
    assert unit.fw.fault_code == 1


def test_loss_of_contact_trips_after_250_ms() -> None:
    unit = Unit()
    unit.start_fast(5.0)
    unit.circuit.set_load(math.inf)
    took_s = unit.run_until(lambda: unit.fw.state == "FAULT", limit_s=1.0)
    assert took_s == pytest.approx(SPEC.loss_of_contact.persist_s, abs=0.003)
    assert unit.ok("FAULT?") == "2 LOSS_OF_CONTACT"
    assert unit.fw.dac_code == 0
    unit.ok("CLEAR")
    assert unit.ok("STATE?") == "TEST 0"


def test_no_loss_of_contact_fault_never_trips() -> None:
    unit = Unit(faults=frozenset({"no_loss_of_contact"}))
    unit.start_fast(5.0)
    unit.circuit.set_load(math.inf)
    unit.run(1.0, step_s=0.002)
    assert unit.fw.state == "ON"


def test_watchdog_turns_output_off_without_requests() -> None:
    unit = Unit()
    unit.ok("WDOG 0.5")
    unit.start_fast(5.0)
    for _ in range(5):  # requests every 0.3 s keep it alive
        unit.run(0.3)
        unit.ok("STATE?")
    assert unit.fw.state == "ON"
    unit.run_until(lambda: unit.fw.state != "ON", limit_s=0.6)
    assert unit.fw.state == "TEST"
    assert unit.fw.dac_code == 0
    assert "!WDOG" in unit.events


def test_watchdog_is_lost_on_reset() -> None:
    unit = Unit()
    unit.ok("WDOG 2")
    unit.send_raw(encode_frame("RESET")[:-1])
    unit.run(0.6)
    assert unit.ok("WDOG?") == "0.0"


@pytest.mark.parametrize(("faults", "factor"), [(frozenset(), 1.0), (frozenset({"timer_slow"}), 1.1)])
def test_session_timer_ramps_down_at_expiry(faults: frozenset[str], factor: float) -> None:
    unit = Unit(faults=faults)
    unit.ok("TIMER 10")
    unit.start_fast(1.0)
    unit.events.clear()
    took_s = unit.run_until(lambda: bool(unit.events), limit_s=12.0, step_s=0.005)
    assert took_s == pytest.approx(10.0 * factor, abs=0.05)
    assert unit.events[0] == "!STATE RAMP_DOWN"
    unit.run_until(lambda: unit.fw.state == "TEST", limit_s=1.0)


def test_reset_reboots_silently_then_boots_idle() -> None:
    unit = Unit()
    unit.ok("WDOG 5")
    unit.start_fast(5.0)
    assert unit.send_raw(encode_frame("RESET")[:-1]) == []
    assert unit.fw.dac_code == 0
    unit.run(0.1)
    assert unit.send_raw(b"ID?*4914") == []  # rebooting: no answer
    unit.run(0.5)
    assert unit.events[-1] == "!BOOT 2.4.1"
    assert unit.ok("STATE?") == "IDLE 0"
    assert unit.ok("SET?") == "0.0"


def test_compliance_recovery_re_ramps() -> None:
    recovered = _recovery_current_ma(frozenset())
    stepped = _recovery_current_ma(frozenset({"no_reramp"}))
    # 0.1 s after the load drops at 5 mA/s: about 0.5 mA above the compliance current (6 mA)
    assert recovered == pytest.approx(6.5, abs=0.4)
    assert stepped > 9.0


def _recovery_current_ma(faults: frozenset[str]) -> float:
    unit = Unit(faults=faults, load_ohm=10_000.0)  # 10 mA would need 100 V: complies at 6 mA
    unit.ok(f"RAMP {SPEC.ramp.rate_max_ma_per_s}")
    unit.ok("SET 10.0")
    unit.ok("START")
    unit.run(2.5, step_s=0.002)
    # In compliance: the ceiling's servo dithers at the boundary, in and out within a few ticks.
    unit.run_until(lambda: unit.ok("MEAS?").endswith(" 1"), limit_s=0.01)
    assert unit.current_ma() == pytest.approx(6.0, abs=0.05)
    unit.circuit.set_load(1000.0)
    unit.run(0.1)
    return unit.current_ma()


def test_high_compliance_fault_raises_the_open_circuit_voltage() -> None:
    for faults, v_max in [(frozenset(), 60.0), (frozenset({"high_compliance"}), 65.0)]:
        unit = Unit(faults=faults, load_ohm=math.inf)
        unit.ok("TEST ON")
        unit.ok("TEST:DAC 100")
        unit.run(0.01)
        assert abs(unit.circuit.voltage_v()) == pytest.approx(v_max)


def test_reading_gain_drift_reads_three_percent_high() -> None:
    readings = []
    for faults in (frozenset(), frozenset({"reading_gain_drift"})):
        unit = Unit(faults=faults)
        unit.start_fast(20.0)
        unit.run(0.05)
        readings.append(float(unit.ok("MEAS?").split()[0]))
    assert readings[1] / readings[0] == pytest.approx(1.03, abs=0.003)


def test_every_firmware_fault_is_exercised_above() -> None:
    exercised = {"fast_ramp", "slow_overcurrent", "no_loss_of_contact", "timer_slow", "no_reramp",
                 "high_compliance", "reading_gain_drift", "save_not_persisted"}
    assert exercised == FIRMWARE_FAULTS


def test_a_late_tick_replays_the_missed_control_periods_at_their_instants() -> None:
    rate = SPEC.ramp.rate_max_ma_per_s
    unit = Unit(faults=frozenset(), load_ohm=1000.0)
    unit.ok(f"RAMP {rate}")
    unit.ok("SET 2.0")
    unit.ok("START")
    unit.run(0.1)
    gap_start_s = unit.clock.t_s
    unit.clock.t_s += 0.1  # the tick thread starved for 100 ms
    unit.fw.tick()
    current_a, _ = unit.circuit.sample(gap_start_s, 0.01, 10)
    # The ramp went on inside the gap (0.05 mA per 10 ms), not flat and then a step at its end.
    steps_ma = np.diff(np.abs(current_a) * 1000.0)
    assert steps_ma == pytest.approx(np.full(9, rate * 0.01), abs=0.02)
