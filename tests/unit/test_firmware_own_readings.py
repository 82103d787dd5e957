"""The emulated unit decides its over-current and loss-of-contact cut-offs on its own readings, with
their errors, as a real unit does (dut-protocol.md section 1, the paragraph after the table); the
over-voltage backstop holds the true voltage. Units with explicit errors on a hand-stepped clock."""

from __future__ import annotations

import dataclasses

from test_firmware_harness import SPEC, Unit

from rig.bench.faults import FirmwareBehaviour
from rig.bench.firmware_cutoffs import CutoffMonitor, OutputSample
from rig.bench.unit_errors import UnitErrors
from rig.dut.protocol import FaultCode

SETPOINT_MA = 10.0
# Output +5 % +0.3 mA (+ bow): about 10.86 mA true at 10 mA, below the 11.0 mA threshold; a reading
# +3 % +0.1 mA then reports about 11.28 mA, above it.
HIGH_CORNER = UnitErrors.corner(0)


def _reading_low(errors: UnitErrors) -> UnitErrors:
    """The same output, with the reading erring low instead."""
    pos = dataclasses.replace(errors.pos, reading_gain=-errors.pos.reading_gain,
                              reading_offset_ma=-errors.pos.reading_offset_ma)
    return dataclasses.replace(errors, pos=pos)


def test_the_true_current_stays_below_the_threshold_in_these_cases() -> None:
    unit = Unit(errors=_reading_low(HIGH_CORNER))
    unit.start_fast(SETPOINT_MA)
    unit.run(0.05)
    assert unit.fw.state == "ON"
    assert unit.current_ma() < SPEC.overcurrent.threshold_ma(SETPOINT_MA) - 0.1


def test_a_unit_whose_reading_errs_high_trips_on_its_own_reading() -> None:
    unit = Unit(errors=HIGH_CORNER)
    unit.ok("TEST ON")
    unit.ok("TEST:RAMP 1000")
    unit.ok(f"SET {SETPOINT_MA:.1f}")
    unit.ok("START")
    unit.run(0.1)
    assert unit.fw.fault_code == FaultCode.OVERCURRENT
    assert "!FAULT 1 OVERCURRENT" in unit.events
    assert unit.fw.dac_code == 0


def test_a_calibrated_reading_does_not_trip() -> None:
    """The cut-off reads through the calibration in use: correcting the reading removes the trip."""
    unit = Unit(errors=HIGH_CORNER)
    err = HIGH_CORNER.pos
    nominal = SPEC.calibration_nominal
    unit.ok("CAL:UNLOCK 0f1e2d3c4b5a6978")
    unit.ok(f"CAL:ADC POS {nominal.adc_gain / (1 + err.reading_gain):.6f} "
            f"{-err.reading_offset_ma / (1 + err.reading_gain):.4f}")
    unit.start_fast(SETPOINT_MA)
    unit.run(0.1)
    assert unit.fw.state == "ON"
    reading_ma = float(unit.ok("MEAS?").split()[0])
    assert abs(reading_ma - unit.current_ma()) < 0.02


def test_meas_reports_what_the_cut_off_compares() -> None:
    unit = Unit(errors=_reading_low(HIGH_CORNER))
    unit.start_fast(SETPOINT_MA)
    unit.run(0.05)
    reading_ma = float(unit.ok("MEAS?").split()[0])
    err = unit.circuit.errors.pos
    assert abs(reading_ma - (unit.current_ma() * (1 + err.reading_gain) + err.reading_offset_ma)) < 0.02


def test_overvoltage_backstop_holds_the_true_voltage_not_the_reading() -> None:
    monitor = CutoffMonitor(SPEC, FirmwareBehaviour.healthy(SPEC))
    v_max = SPEC.compliance.v_max_nominal_v

    def sample(reading_v: float, true_v: float) -> OutputSample:
        return OutputSample(5.0, reading_v, True, 5.0, 5.0, true_v)

    assert monitor.check(sample(1.2 * v_max, v_max), 0.0) == FaultCode.NONE
    assert monitor.check(sample(1.2 * v_max, v_max), 1.0) == FaultCode.NONE
    monitor.reset()
    assert monitor.check(sample(v_max, 1.2 * v_max), 0.0) == FaultCode.NONE
    assert monitor.check(sample(v_max, 1.2 * v_max), 1.0) == FaultCode.OVERVOLTAGE
