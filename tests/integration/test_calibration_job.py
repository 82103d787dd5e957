"""The main job end to end on the virtual bench (real transports): seeds, slots, an uncorrectable unit."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import threading

import pytest

from rig.dut.client import Ix30Client
from rig.procedures.calibrate import readback_differences
from rig.records.cal_table import read_table
from rig.records.store import ResultsStore
from rig.session.run import CalibrationJob, calibrate_slot
from rig.slot import open_slot
from rig.spec import load_spec
from rig.virtual_bench import VirtualBenchProcess

pytestmark = pytest.mark.slow


def _job(bench, number, store, tmp_path):
    return CalibrationJob(
        station=bench.station, slot=number, keys=bench.keys, spec=load_spec(), store=store,
        calibrations_dir=tmp_path / "calibrations", today=dt.date.today(),
    )


@pytest.mark.parametrize("seed", [7, 2026])
def test_units_of_other_seeds_pass_well_inside_spec(seed, tmp_path):
    with VirtualBenchProcess(seed=seed) as bench, ResultsStore(f"sqlite:///{tmp_path}/r.sqlite") as store:
        with open_slot(bench.station, 1) as slot:
            outcome = calibrate_slot(_job(bench, 1, store, tmp_path), slot)
    assert outcome.verdict == "PASS", outcome.reason
    as_left = [p for p in outcome.points if p.phase == "as_left" and p.requirement.key == "dc_accuracy"]
    # well inside: the worst as-left DC error uses at most half of its tolerance
    worst = max(abs(p.measured - p.nominal) / (p.upper - p.nominal) for p in as_left)
    assert worst < 0.5, f"worst as-left DC error is {worst:.0%} of the tolerance"


def test_uncorrectable_unit_fails_and_nothing_is_written(tmp_path):
    with VirtualBenchProcess(faults=["uncorrectable"]) as bench, \
            ResultsStore(f"sqlite:///{tmp_path}/r.sqlite") as store:
        with open_slot(bench.station, 1) as slot:
            before = slot.dut.read_calibration()
            outcome = calibrate_slot(_job(bench, 1, store, tmp_path), slot)
            after = slot.dut.read_calibration()
        calibrations = store.calibrations(outcome.run_id)
    assert outcome.verdict == "FAIL"
    # Either it trips its own cut-off as found, or its fit lands outside the coefficient bounds.
    assert ("outside the unit's bounds" in outcome.reason and "dac_gain" in outcome.reason) or (
        "OVERCURRENT" in outcome.reason and "nothing written" in outcome.reason), outcome.reason
    assert readback_differences(before, after) == [] and after.date is None
    assert not any(c["written"] for c in calibrations)
    assert outcome.table is None


def test_two_slots_each_table_goes_to_its_own_unit(tmp_path):
    with VirtualBenchProcess(slots=2) as bench, ResultsStore(f"sqlite:///{tmp_path}/r.sqlite") as store:
        outcomes = {}

        def work(number):
            with open_slot(bench.station, number) as slot:
                outcomes[number] = calibrate_slot(_job(bench, number, store, tmp_path), slot)

        threads = [threading.Thread(target=work, args=(n,)) for n in (1, 2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert {n: o.verdict for n, o in outcomes.items()} == {1: "PASS", 2: "PASS"}
        for entry in bench.description["slots"]:
            outcome = outcomes[entry["slot"]]
            table = read_table(outcome.table.json_path, load_spec(), expected_serial=entry["serial"])
            with Ix30Client.open(entry["dut"], expected_serial=entry["serial"]) as dut:
                assert readback_differences(table.coefficients, dut.read_calibration()) == []
        assert outcomes[1].unit_serial != outcomes[2].unit_serial


def test_cli_exit_code_and_one_line_error_for_a_bad_station(tmp_path):
    bad = tmp_path / "station.toml"
    bad.write_text('name = "x"\n[[instruments]]\nid = "a"\n')
    result = subprocess.run(
        [sys.executable, "-m", "rig.cli", "calibrate", "--station", str(bad), "--db",
         f"sqlite:///{tmp_path}/r.sqlite"], capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stdout + result.stderr
    assert str(bad) in result.stdout and "instruments.0.model" in result.stdout


def test_a_unit_arriving_with_a_latched_fault_is_recorded_cleared_and_calibrated(tmp_path):
    with VirtualBenchProcess() as bench, ResultsStore(f"sqlite:///{tmp_path}/r.sqlite") as store:
        entry = bench.description["slots"][0]
        with Ix30Client.open(entry["dut"]) as dut:  # a session cut by a loss of contact: the load is open
            dut.test_on()
            dut.test_ramp(1000.0)
            dut.set_current_ma(5.0)
            dut.start()
            dut.wait_for_event("!FAULT", timeout_s=5.0)
        with open_slot(bench.station, 1) as slot:
            outcome = calibrate_slot(_job(bench, 1, store, tmp_path), slot)
        settings = store.run(outcome.run_id)["settings"]
    assert outcome.verdict == "PASS", outcome.reason
    assert settings["latched_fault_at_start"] == "2 LOSS_OF_CONTACT"
