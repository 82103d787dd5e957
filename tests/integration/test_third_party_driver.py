"""A line's own instrument driver, from a package of its own (tests/fixtures_pkg/rig_fake_meter),
registered through the `rig.instruments` entry points: a station file names its model for the
voltmeter role and the rig opens and uses it, with no change to rig/."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from third_party import install_fixture_package

from rig.instruments.registry import registered_drivers
from rig.slot import open_slot
from rig.station import parse_station
from rig.virtual_bench import VirtualBenchProcess

FAKE_VOLTS = 42.5
# The meter's stated figures, as a station adds a model the rig does not ship.
FAKE_MODEL = {"kind": "voltmeter", "settle_s": 0.0,
              "voltage_ranges": {"100V": {"upper_v": 100.0, "gain_pct": 0.01, "offset_v": 0.002,
                                          "noise_v_rms": 0.001, "resolution_v": 1e-4}}}


@pytest.fixture
def fake_meter_installed(tmp_path, monkeypatch):
    install_fixture_package("rig_fake_meter", tmp_path / "site", monkeypatch)
    yield
    sys.modules.pop("rig_fake_meter", None)


def _station(description: dict) -> dict:
    entry = description["slots"][0]
    return {
        "name": "line-with-its-own-meter", "virtual": True,
        "instruments": [
            {"id": "pa1", "model": "N6705C", "serial": entry["analyzer_serial"], "resource": entry["analyzer"]},
            {"id": "load1", "model": "RDEC-1M", "serial": entry["load_serial"], "resource": entry["load"]},
            {"id": "vm1", "model": "FAKE-VM1", "serial": "FVM-7", "resource": f"FAKE-VM1::{FAKE_VOLTS}"},
        ],
        "slots": [{"slot": 1, "dut": entry["dut"], "dut_serial": entry["serial"],
                   "ammeter": {"instrument": "pa1", "channel": 1}, "voltmeter": {"instrument": "vm1"},
                   "load": {"instrument": "load1"}}],
        "models": {"FAKE-VM1": FAKE_MODEL},
    }


def test_the_package_registers_its_driver_under_the_rig_group(fake_meter_installed):
    found = {d.name: d for d in registered_drivers()}
    assert found["fake-vm1"].source == "rig_fake_meter:FakeMeter"
    assert found["fake-vm1"].roles == ("voltmeter",) and found["fake-vm1"].models == ("FAKE-VM1",)


def test_a_station_puts_the_voltmeter_on_the_third_party_meter(fake_meter_installed):
    with VirtualBenchProcess(slots=1) as bench:
        station = parse_station(_station(bench.description), "line-with-its-own-meter.toml")
        with open_slot(station, 1) as slot:
            assert type(slot.voltmeter).__module__ == "rig_fake_meter"
            assert slot.voltmeter.range_v == 100.0  # the stated range covering the spec's 62 V
            assert slot.ammeter.measure_voltage_v() == FAKE_VOLTS
            slot.ammeter.arm_trace(1e-3, 40, pretrigger_points=10)
            slot.ammeter.trigger_now()
            trace = slot.ammeter.fetch_trace()
        assert slot.voltmeter.closed
    assert len(trace.current_a) == 40 and trace.pretrigger_points == 10
    np.testing.assert_array_equal(trace.voltage_v, FAKE_VOLTS)
    assert trace.alignment_method == "trigger timestamps" and trace.alignment_half_width_s > 0
