"""The firmware's pure parts: fault table, cut-off monitor, output ramp, number formats."""

from __future__ import annotations

import math

import pytest

from rig.bench.faults import (
    ALL_FAULTS,
    FIRMWARE_FAULTS,
    UNIT_FAULTS,
    FirmwareBehaviour,
    UnknownFaultError,
    behaviour_for,
    fault_meaning,
    validate_fault_names,
)
from rig.bench.firmware_cutoffs import CutoffMonitor, OutputSample
from rig.bench.firmware_output import OutputRamp
from rig.bench.firmware_protocol import (
    CommandError,
    format_number,
    parse_decimal,
)
from rig.dut.protocol import FaultCode
from rig.spec import load_spec

SPEC = load_spec()
HEALTHY = FirmwareBehaviour.healthy(SPEC)


def test_fault_names() -> None:
    assert "uncorrectable" in UNIT_FAULTS
    assert ALL_FAULTS == FIRMWARE_FAULTS | UNIT_FAULTS
    assert all(fault_meaning(name) for name in ALL_FAULTS)
    assert validate_fault_names(["fast_ramp", "uncorrectable"]) == {"fast_ramp", "uncorrectable"}
    with pytest.raises(UnknownFaultError, match="bogus"):
        validate_fault_names(["fast_ramp", "bogus"])


def test_healthy_behaviour_comes_from_the_spec() -> None:
    assert behaviour_for([], SPEC) == HEALTHY
    assert behaviour_for(["uncorrectable"], SPEC) == HEALTHY  # a launcher fault
    assert HEALTHY.overcurrent_persist_s == SPEC.overcurrent.persist_s
    assert HEALTHY.v_max_v == SPEC.compliance.v_max_nominal_v


def test_each_firmware_fault_changes_exactly_one_thing() -> None:
    for name in FIRMWARE_FAULTS:
        faulty = behaviour_for([name], SPEC)
        changed = [k for k in vars(HEALTHY) if getattr(faulty, k) != getattr(HEALTHY, k)]
        assert len(changed) == 1, name
    assert behaviour_for(["high_compliance"], SPEC).v_max_v > SPEC.compliance.v_abs_max_v


def _sample(current_ma: float, voltage_v: float, setpoint_ma: float | None = 10.0) -> OutputSample:
    return OutputSample(current_ma, voltage_v, True, setpoint_ma, setpoint_ma or 0.0, voltage_v)


def test_overcurrent_needs_persistence() -> None:
    monitor = CutoffMonitor(SPEC, HEALTHY)
    persist_s = SPEC.overcurrent.persist_s
    high = _sample(11.2, 11.2)
    assert monitor.check(high, 0.0) == FaultCode.NONE
    assert monitor.check(_sample(10.0, 10.0), persist_s / 2) == FaultCode.NONE  # dip resets
    assert monitor.check(high, persist_s) == FaultCode.NONE
    assert monitor.check(high, 2 * persist_s) == FaultCode.OVERCURRENT


def test_raw_drive_uses_the_absolute_threshold() -> None:
    monitor = CutoffMonitor(SPEC, HEALTHY)
    below_abs = SPEC.overcurrent.absolute_ma - 1.0
    assert monitor.check(_sample(below_abs, 10.0, None), 0.0) == FaultCode.NONE
    assert monitor.check(_sample(below_abs, 10.0, None), 1.0) == FaultCode.NONE


def test_overvoltage_backstop() -> None:
    monitor = CutoffMonitor(SPEC, HEALTHY)
    too_high_v = 1.2 * SPEC.compliance.v_max_nominal_v
    assert monitor.check(_sample(1.0, too_high_v), 0.0) == FaultCode.NONE
    assert monitor.check(_sample(1.0, too_high_v), 1.0) == FaultCode.OVERVOLTAGE


def test_loss_of_contact_rule() -> None:
    monitor = CutoffMonitor(SPEC, HEALTHY)
    v_max = SPEC.compliance.v_max_nominal_v
    persist_s = SPEC.loss_of_contact.persist_s
    # at V_max but carrying more than half the setpoint: compliance, not loss of contact
    assert monitor.check(_sample(6.0, v_max), 0.0) == FaultCode.NONE
    assert monitor.check(_sample(6.0, v_max), 2 * persist_s) == FaultCode.NONE
    assert monitor.check(_sample(0.0, v_max), 3 * persist_s) == FaultCode.NONE
    assert monitor.check(_sample(0.0, v_max), 4 * persist_s) == FaultCode.LOSS_OF_CONTACT


def test_ramp_advances_at_rate_and_holds() -> None:
    ramp = OutputRamp(reramp_enabled=True, snap_headroom_ma=0.25, floor_ma=0.1)
    assert not ramp.advance(1.0, 2.0, 0.25)
    assert ramp.output_ma == pytest.approx(0.5)
    assert ramp.advance(1.0, 2.0, 0.5)
    assert ramp.output_ma == 1.0


def test_compliance_ceiling_follows_the_current_then_re_ramps() -> None:
    ramp = OutputRamp(reramp_enabled=True, snap_headroom_ma=0.25, floor_ma=0.1)
    ramp.level_ma = 10.0
    ramp.track_compliance(True, 6.0, 1.0, 0.001)
    assert ramp.output_ma < 6.3
    ramp.track_compliance(False, 6.0, 1.0, 0.5)  # the drop fell somewhere in a late tick: one tick credited
    assert ramp.output_ma == pytest.approx(6.25 - 0.01 + 0.001, abs=0.001)
    ramp.track_compliance(False, 6.0, 1.0, 0.5)
    assert ramp.output_ma == pytest.approx(6.25 - 0.01 + 0.001 + 0.5, abs=0.001)
    ramp.track_compliance(False, 6.0, 1.0, 10.0)
    assert math.isinf(ramp.ceiling_ma) and ramp.output_ma == 10.0


def test_a_late_tick_moves_the_compliance_ceiling_at_most_a_few_ticks_worth() -> None:
    from rig.bench.firmware_output import COMPLIANCE_SERVO_MA_PER_S, SERVO_CATCH_UP_TICKS

    on_time, late = (OutputRamp(reramp_enabled=True, snap_headroom_ma=0.25, floor_ma=0.1) for _ in range(2))
    for ramp, dt_s in ((on_time, 0.001), (late, 0.1)):
        ramp.level_ma = 10.0
        ramp.track_compliance(True, 6.0, 1.0, dt_s)
        ramp.track_compliance(False, 6.0, 1.0, dt_s)
    servo_extra_ma = COMPLIANCE_SERVO_MA_PER_S * (SERVO_CATCH_UP_TICKS - 1) * 0.001
    assert late.output_ma == pytest.approx(on_time.output_ma - servo_extra_ma)


def test_no_reramp_never_limits() -> None:
    ramp = OutputRamp(reramp_enabled=False, snap_headroom_ma=0.25, floor_ma=0.1)
    ramp.level_ma = 10.0
    ramp.track_compliance(True, 6.0, 1.0, 0.001)
    assert ramp.output_ma == 10.0


def test_open_circuit_keeps_the_source_on() -> None:
    ramp = OutputRamp(reramp_enabled=True, snap_headroom_ma=0.25, floor_ma=0.1)
    ramp.level_ma = 10.0
    for _ in range(1000):
        ramp.track_compliance(True, 0.0, 1.0, 0.001)
    assert ramp.output_ma == 0.1


@pytest.mark.parametrize(("text", "value"), [("1", 1.0), ("1.", 1.0), (".5", 0.5), ("-2.25", -2.25)])
def test_parse_decimal(text: str, value: float) -> None:
    assert parse_decimal(text) == value


@pytest.mark.parametrize("text", ["", "1e3", "inf", "nan", "1,5", "0x10", "--1"])
def test_parse_decimal_rejects(text: str) -> None:
    with pytest.raises(CommandError):
        parse_decimal(text)


@pytest.mark.parametrize("value", [1.0, 0.0083, 120.0, 1e-5, -0.0, 123.456789012, 3600.0])
def test_format_number_round_trips_without_exponent(value: float) -> None:
    text = format_number(value)
    assert "e" not in text and "." in text
    assert float(text) == value
