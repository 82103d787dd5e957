"""Bounds on every input (issue 12 item 5): serials and the paths they become, settling and slot
numbers, spec plausibility, key sources, file decoding, table depth. Each is refused with a message
naming the file or option and the field, before anything is written to a unit or to disk."""

from __future__ import annotations

import copy
import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest

from rig.cli import main
from rig.dut.calibration import PolarityCalibration, UnitCalibration
from rig.keys import KeyError_, KeySource
from rig.records.cal_table import CalibrationTableError, coefficients_dict, read_table, write_table
from rig.spec import SpecError, load_spec, parse_spec
from rig.station import StationError, load_station, parse_station

SPEC_TEXT = (Path(__file__).parents[2] / "rig" / "specs" / "ix30.toml").read_text(encoding="utf-8")
# Nothing listens on port 1: a run that got as far as opening the slot would fail there instead.
STATION = {
    "name": "LINE1-ST03", "unlock_keys": "env:RIG_TEST_KEYS",
    "instruments": [
        {"id": "pa1", "model": "N6705C", "serial": "MY1", "resource": "TCPIP::127.0.0.1::1::SOCKET"},
        {"id": "load1", "model": "RDEC-1M", "serial": "RD1", "resource": "TCPIP::127.0.0.1::1::SOCKET"},
    ],
    "slots": [{"slot": 1, "dut": "/dev/null-ix30", "ammeter": {"instrument": "pa1", "channel": 1},
               "voltmeter": {"instrument": "pa1", "channel": 2}, "load": {"instrument": "load1"}}],
}
STATION_TOML = """name = "LINE1-ST03"
unlock_keys = "env:RIG_TEST_KEYS"
[[instruments]]
id = "pa1"
model = "N6705C"
serial = "MY1"
resource = "TCPIP::127.0.0.1::1::SOCKET"
[[instruments]]
id = "load1"
model = "RDEC-1M"
serial = "RD1"
resource = "TCPIP::127.0.0.1::1::SOCKET"
[[slots]]
slot = 1
dut = "/dev/null-ix30"
ammeter = { instrument = "pa1", channel = 1 }
voltmeter = { instrument = "pa1", channel = 2 }
load = { instrument = "load1" }
"""


def _table(serial: str) -> dict:
    pol = PolarityCalibration(120.0, 0.0, 0.0083, 0.0)
    cal = UnitCalibration(pol, pol, 0.0161, 0.0, dt.date(2026, 1, 2))
    return {"serial": serial, "created_at": "2026-01-02T03:04:05", "coefficients": coefficients_dict(cal)}


def _files_under(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file()}


# -- serials and table paths ------------------------------------------------------------------


@pytest.mark.parametrize("serial", ["../../pwn", "../pwn", "..", ".", "", "a/b", "/tmp/rig-bounds-abs", "SN 1"])
def test_table_for_an_unsafe_serial_is_refused_and_nothing_written(tmp_path, serial):
    root = tmp_path / "work" / "calibrations"
    root.mkdir(parents=True)
    with pytest.raises(CalibrationTableError, match="serial"):
        write_table(root, _table(serial))
    assert _files_under(tmp_path) == set()
    assert not Path("/tmp/rig-bounds-abs").exists()


def test_table_folder_that_is_a_symlink_out_of_calibrations_is_refused(tmp_path):
    root, elsewhere = tmp_path / "calibrations", tmp_path / "elsewhere"
    root.mkdir()
    elsewhere.mkdir()
    (root / "SN000123").symlink_to(elsewhere)
    with pytest.raises(CalibrationTableError, match="outside"):
        write_table(root, _table("SN000123"))
    assert _files_under(elsewhere) == set()


def test_table_for_a_protocol_serial_lands_in_its_folder(tmp_path):
    paths = write_table(tmp_path / "calibrations", _table("SN000123"))
    assert paths.json_path.parent == (tmp_path / "calibrations" / "SN000123").resolve()
    assert read_table(paths.json_path, load_spec(), "SN000123").serial == "SN000123"


def _run_cli(capsys, tmp_path, *options: str) -> tuple[int, str]:
    station = tmp_path / "station.toml"
    station.write_text(STATION_TOML, encoding="utf-8")
    code = main(["calibrate", "--station", str(station), "--db", f"sqlite:///{tmp_path}/r.sqlite",
                 "--calibrations", str(tmp_path / "calibrations"), "--reports", str(tmp_path / "reports"),
                 *options])
    captured = capsys.readouterr()
    return code, (captured.out + captured.err).strip()


@pytest.mark.parametrize("serial", ["", "../../pwn", "/etc/pwn", "SN,1"])
def test_bad_serial_option_is_one_line_exit_2(capsys, tmp_path, serial):
    code, output = _run_cli(capsys, tmp_path, "--serial", serial)
    assert code == 2
    assert "--serial" in output and "Traceback" not in output
    assert len(output.splitlines()) == 1, output
    assert not (tmp_path / "calibrations").exists()


@pytest.mark.parametrize("slot", ["0", "99999999999999999999999999999"])
def test_bad_slot_option_is_one_line_exit_2(capsys, tmp_path, slot):
    code, output = _run_cli(capsys, tmp_path, "--slot", slot)
    assert code == 2
    assert "--slot" in output and "Traceback" not in output
    assert len(output.splitlines()) == 1, output


@pytest.mark.parametrize("option", [("--serial", ""), ("--slot", "0")])
def test_bad_serial_or_slot_option_under_pytest_is_a_usage_error(option):
    repo = Path(__file__).parents[2]
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--collect-only", "-q", *option,
                           str(Path(__file__).relative_to(repo))], cwd=repo, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == pytest.ExitCode.USAGE_ERROR, done.stdout + done.stderr
    assert option[0] in done.stderr and "Traceback" not in done.stderr


def test_huge_slot_number_in_a_station_is_refused():
    document = copy.deepcopy(STATION)
    document["slots"][0]["slot"] = 99999999999999999999999999999
    with pytest.raises(StationError, match=r"st\.toml(.|\n)*slots\.0\.slot"):
        parse_station(document, "st.toml")


def test_empty_dut_serial_in_a_station_is_refused():
    document = copy.deepcopy(STATION)
    document["slots"][0]["dut_serial"] = ""
    with pytest.raises(StationError, match="dut_serial"):
        parse_station(document, "st.toml")


# -- settling and timing ----------------------------------------------------------------------


@pytest.mark.parametrize("settle_s", [float("inf"), 1e300, 3600.0, 1.5])
def test_settling_override_beyond_the_physics_is_refused(settle_s):
    document = copy.deepcopy(STATION)
    document["instruments"][1]["settle_s"] = settle_s
    with pytest.raises(StationError, match=r"instruments\.1\.settle_s"):
        parse_station(document, "st.toml")


@pytest.mark.parametrize("field, value", [("settle_s", 3600.0), ("settle_s", float("inf")),
                                          ("reply_latency_s", 10.0)])
def test_model_timing_override_beyond_the_physics_is_refused(field, value):
    document = {**copy.deepcopy(STATION), "models": {"IX-30": {field: value}}}
    with pytest.raises(StationError, match=rf"models\.IX-30\.{field}"):
        parse_station(document, "st.toml")


def test_settling_bound_is_below_the_watchdog_period():
    from rig.slot import WATCHDOG_PERIOD_S
    from rig.station import MAX_SETTLE_S

    assert MAX_SETTLE_S < WATCHDOG_PERIOD_S
    document = copy.deepcopy(STATION)
    document["instruments"][1]["settle_s"] = 0.5  # a slow real load: allowed
    assert parse_station(document, "st.toml").settle_s("load1") == 0.5


# -- product spec plausibility ------------------------------------------------------------------


@pytest.mark.parametrize("old, new, named", [
    ("pct_of_setpoint = 1.0", "pct_of_setpoint = inf", "dc_accuracy.pct_of_setpoint"),
    ("pct_of_setpoint = 1.0", "pct_of_setpoint = 1e6", "dc_accuracy.pct_of_setpoint"),
    ("pct_of_reading = 1.0\nabs_ma = 0.05", "pct_of_reading = 1.0\nabs_ma = 1e6", "reading_current.abs_ma"),
    ("abs_v = 0.2", "abs_v = inf", "reading_voltage.abs_v"),
    ("tolerance_pct = 10.0", "tolerance_pct = 150.0", "ramp.tolerance_pct"),
    ("setpoint_min_ma = 0.5", "setpoint_min_ma = 40.0", "setpoint_min_ma"),
    ("min_ma = 0.0\nmax_ma = 30.0", "min_ma = 35.0\nmax_ma = 30.0", "min_ma"),
    ("freq_min_hz = 100.0", "freq_min_hz = 20000.0", "freq_min_hz"),
    ("min_s = 10.0", "min_s = 7200.0", "min_s"),
    ('product = "IX-30"', 'product = "IX-40"', "product"),
])
def test_implausible_spec_is_refused_naming_the_field(old, new, named):
    assert old in SPEC_TEXT
    with pytest.raises(SpecError) as raised:
        parse_spec(SPEC_TEXT.replace(old, new, 1), "bad.toml")
    assert "bad.toml" in str(raised.value) and named in str(raised.value)


# -- key source -------------------------------------------------------------------------------


@pytest.mark.parametrize("source", ["bogus", "env:", "file:", "ftp:keys"])
def test_unusable_key_source_is_refused_with_the_station(source):
    document = {**copy.deepcopy(STATION), "unlock_keys": source}
    with pytest.raises(StationError, match="unlock_keys"):
        parse_station(document, "st.toml")


# -- file decoding and table depth --------------------------------------------------------------

NOT_UTF8 = b'name = "\xff\xfe"\n'


def test_non_utf8_station_file_is_named(tmp_path):
    path = tmp_path / "station.toml"
    path.write_bytes(NOT_UTF8)
    with pytest.raises(StationError, match="station.toml.*UTF-8"):
        load_station(path)


def test_non_utf8_spec_file_is_named(tmp_path):
    path = tmp_path / "spec.toml"
    path.write_bytes(NOT_UTF8)
    with pytest.raises(SpecError, match="spec.toml.*UTF-8"):
        load_spec(path)


def test_non_utf8_key_file_is_named_without_a_key(tmp_path):
    path = tmp_path / "keys.toml"
    path.write_bytes(b'SN1 = "s3cr3t\xff"\n')
    with pytest.raises(KeyError_, match="keys.toml.*UTF-8") as raised:
        KeySource(f"file:{path}").key_for("SN1")
    assert "s3cr3t" not in str(raised.value)


def test_deeply_nested_table_is_a_table_error(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text('{"format": ' + "[" * 100_000 + "]" * 100_000 + "}", encoding="utf-8")
    with pytest.raises(CalibrationTableError, match="deep.json"):
        read_table(path, load_spec())


def test_brackets_inside_strings_do_not_count_as_depth(tmp_path):
    paths = write_table(tmp_path, {**_table("SN1"), "bow_note": "[[[[" * 20 + '{"\\"'})
    document = json.loads(paths.json_path.read_text(encoding="utf-8"))
    assert read_table(paths.json_path, load_spec()).document["bow_note"] == document["bow_note"]
