"""Each injected communication or instrument fault, against the real transports of a bench process:
the rig's drivers either ride it out (bounded retries, reconnection) or stop with a typed error whose
message is one line naming the cause; the output is off afterwards. One whole `rig calibrate` run
with a mid-run reboot shows the job's answer: a clean error, every point taken in the store."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time

import pytest

from rig.dut.errors import DutError, UnitRebooted
from rig.exit_codes import ExitCode
from rig.instruments.analyzer import PowerAnalyzer
from rig.instruments.errors import InstrumentError
from rig.slot import open_slot
from rig.station import load_station
from tests.integration.bench_control import BenchUnderTest

pytestmark = pytest.mark.slow

RATE = "0.05"  # high enough that a few dozen requests meet the fault several times
# Faults that cost a 1 s timeout each stay rarer; those that only change a reply strike often.
SCPI_RATES = {"scpi_close": "0.05", "scpi_drop": "0.05", "scpi_error": "0.2", "over_range": "0.2"}
REQUESTS = 40
SETPOINT_MA = 2.0
REBOOT_AFTER_S = 8.0

SERIAL_FAULTS = ["drop_reply", "delay_reply", "corrupt_reply", "corrupt_request", "port_vanish", "reboot"]
SCPI_FAULTS = ["scpi_close", "scpi_drop", "scpi_error", "over_range"]


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    with BenchUnderTest(tmp_path_factory.mktemp("bench")) as running:
        yield running


def _one_line(exc: BaseException) -> str:
    text = str(exc)
    assert "\n" not in text and text, repr(text)
    return text


@pytest.mark.parametrize("fault", SERIAL_FAULTS)
def test_unit_link_fault(bench, fault):
    station = load_station(bench.station)
    outcome = "rode it out"
    with open_slot(station, 1) as slot:
        slot.arm_watchdog()
        assert bench.ask(f"COMM_FAULT 1 {fault}:{RATE}") == "OK"
        try:
            for _ in range(REQUESTS):
                slot.dut.set_current_ma(SETPOINT_MA)
                slot.dut.state()
        except DutError as exc:
            outcome = _one_line(exc)
            if fault == "reboot":
                assert isinstance(exc, UnitRebooted) and "rebooted" in outcome
        finally:
            bench.ask("COMM_FAULT 1 NONE")
    counts = bench.status()["comm_fault_counts"]
    assert counts.get(fault, 0) > 0, f"{fault} never struck: the test proves nothing"
    assert not bench.status()["output_on"]
    print(f"{fault}: {outcome}")


@pytest.mark.parametrize("fault", SCPI_FAULTS)
def test_instrument_fault(bench, fault):
    station = load_station(bench.station)
    resource = station.instrument("analyzer1").resource
    with PowerAnalyzer.open(resource, name="analyzer", timeout_s=1.0) as analyzer:
        assert bench.ask(f"COMM_FAULT 1 {fault}:{SCPI_RATES[fault]}") == "OK"
        errors = []
        try:
            for _ in range(REQUESTS):
                try:
                    analyzer.measure_current_a()
                except InstrumentError as exc:
                    errors.append(_one_line(exc))
        finally:
            bench.ask("COMM_FAULT 1 NONE")
        assert analyzer.query("*IDN?").startswith("Keysight")  # still usable afterwards
    if fault in ("scpi_error", "over_range"):
        assert errors, f"{fault} was never reported"
    print(f"{fault}: {len(errors)} errors, e.g. {errors[:1]}")


def test_reboot_mid_run_is_a_clean_error_with_every_point_stored(tmp_path):
    db = tmp_path / "r.sqlite"
    with BenchUnderTest(tmp_path) as bench:
        rig = subprocess.Popen(
            [sys.executable, "-m", "rig.cli", "calibrate", "--station", str(bench.station), "--db", f"sqlite:///{db}",
             "--calibrations", str(tmp_path / "cal"), "--reports", str(tmp_path / "rep")],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        time.sleep(REBOOT_AFTER_S)
        assert bench.ask("REBOOT 1") == "OK"
        out, err = rig.communicate(timeout=60)
        status = bench.status()
    assert rig.returncode == ExitCode.ERROR, (out, err)
    assert "Traceback" not in out + err
    assert "rebooted" in out, out
    assert not status["output_on"]
    with sqlite3.connect(db) as con:
        (run_status,) = con.execute("select status from runs").fetchone()
        (points,) = con.execute("select count(*) from points").fetchone()
    assert run_status == "error" and points > 0
