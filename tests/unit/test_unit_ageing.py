"""A unit's drift between runs on the virtual bench (for `benchmarks/population.py`) and the date a unit
reports for its saved calibration, kept with the run's calibration record (for `rig stats` drift)."""

from __future__ import annotations

import datetime
from types import SimpleNamespace

import pytest

from rig.bench.control import BenchControl
from rig.bench.firmware_calibration import CalibrationMemory
from rig.bench.unit_errors import UnitErrors
from rig.dut.calibration import PolarityCalibration, UnitCalibration
from rig.session.records import calibration_records
from rig.spec import load_spec


def test_ageing_moves_gains_and_offsets_at_the_units_own_rates():
    errors = UnitErrors.from_seed(5)
    year = errors.aged(365.25, seed=11)
    assert year.pos.output_gain != errors.pos.output_gain and year.neg.reading_offset_ma != errors.neg.reading_offset_ma
    assert year.pos.output_bow_ma == errors.pos.output_bow_ma and year.residual_ua == errors.residual_ua
    assert abs(year.pos.output_gain - errors.pos.output_gain) < 0.05  # a few sigma of 0.8 % a year
    in_steps = errors.aged(100, seed=11).aged(265.25, seed=11)
    assert in_steps.pos.output_gain == pytest.approx(year.pos.output_gain)
    assert in_steps.voltage_gain == pytest.approx(year.voltage_gain)
    assert errors.aged(0, seed=11) == errors
    assert errors.aged(30, seed=12).pos.output_gain != errors.aged(30, seed=11).pos.output_gain


def test_ageing_moves_the_saved_calibrations_date_back():
    memory = CalibrationMemory(load_spec(), "KEY")
    memory.age(30)
    assert memory.in_use.date == "none"  # never saved: no date to move
    memory.unlock("KEY")
    memory.save("2026-11-30")
    memory.age(30)
    assert memory.in_use.date == "2026-10-31"
    memory.reboot()
    assert memory.in_use.date == "2026-10-31"  # flash too


def test_control_age_request():
    aged = []
    slot = SimpleNamespace(slot=1, age=aged.append)
    control = BenchControl([slot, SimpleNamespace(slot=2, age=None)])
    assert control.answer("AGE 1 45") == "OK" and aged == [45]
    for bad in ("AGE 1", "AGE 1 -3", "AGE 1 2.5", "AGE 1 0", "AGE 1 99999"):
        assert control.answer(bad).startswith("ERR AGE <slot> <days>")
    assert control.answer("AGE 2 5") == "ERR slot 2 has no unit"
    assert aged == [45]


def _unit(date: datetime.date | None) -> UnitCalibration:
    pol = PolarityCalibration(120.0, 0.0, 0.0083, 0.0)
    return UnitCalibration(pos=pol, neg=pol, v_gain=0.0161, v_offset=0.0, date=date)


def test_calibration_record_keeps_the_date_the_unit_reported():
    fit = SimpleNamespace(coefficients=_unit(None), residual_summary=dict)
    held = calibration_records(_unit(datetime.date(2026, 10, 31)), fit, written=True, readback_ok=True, notes="")
    assert [r.before["date"] for r in held] == ["2026-10-31", "2026-10-31"]
    assert "date" not in held[0].after
    never = calibration_records(_unit(None), fit, written=True, readback_ok=True, notes="")
    assert "date" not in never[0].before
