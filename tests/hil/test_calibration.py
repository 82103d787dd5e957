"""The calibration suite: the job end to end, the table written and read back, and refusals.

Runs first in the session on an uncalibrated unit (the virtual bench's default) so the accuracy
suite then measures a calibrated one; on a real unit it recalibrates, which must pass just the same.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import pytest

from rig.dut.calibration import PolarityCalibration
from rig.procedures.calibrate import CalibrationRefused, readback_differences, write_calibration
from rig.records.cal_table import CalibrationTableError, read_table
from rig.session.run import CalibrationJob, calibrate_slot

pytestmark = pytest.mark.calibration


@pytest.fixture(scope="module")
def calibration(slot, station, unlock_keys, spec, results_store, decision_rule, tmp_path_factory):
    job = CalibrationJob(
        station=station, slot=slot.number, keys=unlock_keys, spec=spec, store=results_store,
        rule=decision_rule, operator="pytest", calibrations_dir=tmp_path_factory.mktemp("calibrations"),
        today=dt.date.today(),
    )
    outcome = calibrate_slot(job, slot)
    slot.arm_watchdog()
    return outcome


def test_calibration_passes(calibration):
    assert calibration.verdict == "PASS", calibration.reason
    as_left = [p for p in calibration.points if p.phase == "as_left"]
    assert as_left and all(p.decision.passed for p in as_left)


def test_coefficients_in_unit_match_table(calibration, slot, spec):
    table = read_table(calibration.table.json_path, spec, expected_serial=slot.dut.identity.serial)
    assert readback_differences(table.coefficients, slot.dut.read_calibration()) == []


def test_table_written_back_reproduces_coefficients(calibration, safe_slot, unlock_keys, spec):
    table = read_table(calibration.table.json_path, spec, expected_serial=safe_slot.dut.identity.serial)
    read = write_calibration(safe_slot, table.coefficients, unlock_keys, spec)
    assert readback_differences(table.coefficients, read) == []


def test_fit_residuals_recorded(calibration):
    document = json.loads(calibration.table.json_path.read_text())
    residuals = document["fit_residuals"]
    assert {"dac_POS", "dac_NEG", "adc_POS", "adc_NEG", "vadc"} <= set(residuals)
    assert all(r["max_abs"] >= r["rms"] >= 0 for r in residuals.values())


def test_table_of_another_unit_is_refused(calibration, spec):
    with pytest.raises(CalibrationTableError, match="is for unit"):
        read_table(calibration.table.json_path, spec, expected_serial="SN999999")


def test_corrupted_table_is_refused(calibration, spec, tmp_path):
    document = json.loads(calibration.table.json_path.read_text())
    document["coefficients"]["POS"]["dac_gain"] *= 1.01
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(document))
    with pytest.raises(CalibrationTableError, match="SHA-256"):
        read_table(edited, spec)


def test_out_of_bounds_coefficients_are_never_written(calibration, safe_slot, unlock_keys, spec):
    before = safe_slot.dut.read_calibration()
    low, _ = spec.calibration_bounds.dac_gain
    bad = dataclasses.replace(before, pos=dataclasses.replace(before.pos, dac_gain=low / 2),
                              date=dt.date.today())
    assert isinstance(bad.pos, PolarityCalibration)
    with pytest.raises(CalibrationRefused, match="dac_gain"):
        write_calibration(safe_slot, bad, unlock_keys, spec)
    assert readback_differences(before, safe_slot.dut.read_calibration()) == []
