"""Drivers by role, found through the `rig.instruments` entry points (rig/instruments/registry.py)."""

from __future__ import annotations

import pytest

from rig.instruments.analyzer import PowerAnalyzer
from rig.instruments.dmm import DigitalMultimeter
from rig.instruments.load import ResistanceLoad
from rig.instruments.registry import DriverLookupError, driver_for, registered_drivers
from rig.slot import open_slot
from rig.station import StationError, parse_station

WHERE = "station 'line-3' slot 1 voltmeter (vm1)"


def test_the_rig_registers_its_own_drivers_with_their_roles():
    found = {d.name: d for d in registered_drivers()}
    assert found["n6705"].cls is PowerAnalyzer and "digitizer" in found["n6705"].roles
    assert found["dmm-34465a"].cls is DigitalMultimeter and found["dmm-34465a"].roles == ("voltmeter",)
    assert found["resistance-load"].cls is ResistanceLoad


@pytest.mark.parametrize(("role", "model", "kind", "driver"), [
    ("ammeter", "N6705C", "analyzer", PowerAnalyzer),
    ("voltmeter", "N6705C", "analyzer", PowerAnalyzer),
    ("voltmeter", "34465A", "dmm", DigitalMultimeter),
    ("load", "RDEC-1M", "load", ResistanceLoad),
    ("load", "ACME-DECADE-9", "load", ResistanceLoad),  # a station's own load model: any of kind load
])
def test_a_role_on_a_model_finds_its_driver(role, model, kind, driver):
    assert driver_for(role, model, kind, where=WHERE) is driver


@pytest.mark.parametrize(("role", "model", "kind"), [
    ("voltmeter", "34401A", "dmm"),  # a meter no registered driver speaks to
    ("ammeter", "34465A", "dmm"),  # the DMM driver does not fill the ammeter role
])
def test_no_driver_for_a_role_is_one_line_naming_the_station_field(role, model, kind):
    with pytest.raises(DriverLookupError) as caught:
        driver_for(role, model, kind, where=WHERE)
    message = str(caught.value)
    assert WHERE in message and repr(model) in message and f"the {role} role" in message
    assert "\n" not in message


def test_a_broken_entry_point_is_named_not_a_traceback(tmp_path, monkeypatch):
    info = tmp_path / "rig_broken-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: rig-broken\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[rig.instruments]\nbroken = rig_no_such_module:Meter\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(DriverLookupError, match="'broken' \\(rig_no_such_module:Meter\\) cannot be loaded"):
        registered_drivers()


def test_a_slot_with_an_unregistered_model_is_refused_before_any_instrument_is_opened():
    station = parse_station({
        "name": "line-3",
        "instruments": [
            {"id": "pa1", "model": "N6705C", "serial": "S1", "resource": "TCPIP::192.0.2.1::5025::SOCKET"},
            {"id": "vm1", "model": "34401A", "serial": "S2", "resource": "TCPIP::192.0.2.2::5025::SOCKET"},
            {"id": "rl1", "model": "RDEC-1M", "serial": "S3", "resource": "TCPIP::192.0.2.3::5025::SOCKET"},
        ],
        "slots": [{"slot": 1, "dut": "/dev/null", "ammeter": {"instrument": "pa1", "channel": 1},
                   "voltmeter": {"instrument": "vm1"}, "load": {"instrument": "rl1"}}],
        "models": {"34401A": {"kind": "dmm", "settle_s": 0.0}},
    }, "line-3.toml")
    # The addresses are TEST-NET (nothing answers): a StationError at once shows nothing was opened.
    with pytest.raises(StationError, match="slot 1 voltmeter \\(vm1\\).*'34401A'"):
        open_slot(station, 1)
