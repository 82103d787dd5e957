"""The launcher: `python -m rig.bench` as a subprocess, and a full in-process bench."""

from __future__ import annotations

import json
import selectors
import signal
import subprocess
import sys
import time

import pytest
import pyvisa
import serial

from rig.bench.launcher import VirtualBench, parse_faults, unlock_key
from rig.bench.physics import UnitErrors
from rig.dut.framing import decode_frame, encode_frame, is_event

START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0


def first_line(proc: subprocess.Popen) -> str:
    selector = selectors.DefaultSelector()
    selector.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline and proc.poll() is None:
        if selector.select(timeout=0.1):
            return proc.stdout.readline()
    raise AssertionError(f"no JSON line; stderr: {proc.stderr.read() if proc.poll() else ''}")


def test_module_prints_its_description_and_stops_cleanly_on_sigterm() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "rig.bench", "--slots", "2", "--serial", "SN900001", "--seed", "4",
         "--fault", "2:fast_ramp"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        description = json.loads(first_line(proc))
        assert [s["serial"] for s in description["slots"]] == ["SN900001", "SN000124"]
        assert description["analyzer"] == description["slots"][0]["analyzer"]
        assert description["dut"] == [s["dut"] for s in description["slots"]]
        assert description["slots"][1]["faults"] == ["fast_ramp"]
        assert description["slots"][0]["key"] == unlock_key("SN900001", 4)
        rm = pyvisa.ResourceManager("@py")
        analyzer = rm.open_resource(description["analyzer"], read_termination="\n",
                                    write_termination="\n")
        assert analyzer.query("*IDN?").startswith("Keysight Technologies,N6705C,")
        analyzer.close()

    finally:
        proc.send_signal(signal.SIGTERM)
        returncode = proc.wait(timeout=STOP_TIMEOUT_S)
    assert returncode == 0


def test_unknown_fault_is_refused_with_exit_2() -> None:
    result = subprocess.run([sys.executable, "-m", "rig.bench", "--fault", "melted"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "melted" in result.stderr
    assert result.stdout == ""


def test_fault_specs_apply_to_all_or_one_slot() -> None:
    assert parse_faults(["timer_slow", "2:no_reramp"], 2) == [
        frozenset({"timer_slow"}), frozenset({"timer_slow", "no_reramp"})]
    with pytest.raises(ValueError):
        parse_faults(["3:timer_slow"], 2)


def test_units_are_reproducible_and_uncorrectable_is_applied() -> None:
    with VirtualBench(slots=2, seed=9, faults=["2:uncorrectable"], with_units=False) as one:
        errors = [s.circuit.errors for s in one.slots]
        keys = [s["key"] for s in one.description["slots"]]
    with VirtualBench(slots=2, seed=9, with_units=False) as two:
        assert two.slots[0].circuit.errors == errors[0]
        assert two.slots[1].circuit.errors != errors[1]
        assert [s["key"] for s in two.description["slots"]] == keys
    assert keys[0] != keys[1]
    assert abs(errors[1].pos.output_gain) > 0.2
    assert isinstance(errors[0], UnitErrors)


def read_reply(port: serial.Serial) -> str:
    """The next non-event frame body."""
    while True:
        line = port.readline()
        assert line, "no reply from the unit"
        body = decode_frame(line)
        if not is_event(body):
            return body


def test_serial_round_trip_to_the_emulated_unit() -> None:
    with VirtualBench(slots=1, seed=1) as bench:
        path = bench.description["dut"][0]
        with serial.Serial(path, 115200, timeout=2) as port:
            port.write(b"ID?*4914\n")
            reply = read_reply(port)
            assert reply.startswith("OK IONTO,IX-30,SN000123,")
            port.write(encode_frame("STATE?"))
            assert read_reply(port).startswith("OK IDLE")


def test_several_slots_are_served_by_one_process_each() -> None:
    """`--slots 2` starts a process per slot and prints one merged JSON line; SIGTERM stops them all."""
    import os

    process = subprocess.Popen([sys.executable, "-m", "rig.bench", "--slots", "2", "--fault", "2:fast_ramp"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        description = json.loads(process.stdout.readline())
        slots = description["slots"]
        assert [s["slot"] for s in slots] == [1, 2]
        assert [s["serial"] for s in slots] == ["SN000123", "SN000124"]
        assert slots[0]["faults"] == [] and slots[1]["faults"] == ["fast_ramp"]
        assert slots[0]["control"] != slots[1]["control"] and description["control"] == slots[0]["control"]
        children = subprocess.run(["pgrep", "-P", str(process.pid)], capture_output=True, text=True).stdout.split()
        assert len(children) == 2
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
    for child in children:
        assert not os.path.exists(f"/proc/{child}") or "Z" in open(f"/proc/{child}/stat").read().split()[2]
