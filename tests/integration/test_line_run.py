"""Several slots from `rig calibrate` (one worker process per slot) on a two-slot virtual bench: each
slot's table goes to its own unit; a stop (SIGTERM to the rig, or Ctrl-C to the whole process group)
ends every slot's run aborted, with its output off and its points stored."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rig.dut.client import Ix30Client
from rig.exit_codes import ExitCode
from rig.procedures.calibrate import readback_differences
from rig.records.cal_table import read_table
from rig.slot import WATCHDOG_PERIOD_S
from rig.spec import load_spec
from tests.integration.bench_control import BenchUnderTest

pytestmark = pytest.mark.slow

SLOTS = 2
POINTS_BEFORE_STOP = 20
WAIT_S = 60.0
POLL_S = 0.2


def _calibrate(bench: BenchUnderTest, tmp_path, **popen) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "rig.cli", "calibrate", "--station", str(bench.station),
         "--db", f"sqlite:///{tmp_path / 'r.sqlite'}", "--calibrations", str(tmp_path / "cal"),
         "--reports", str(tmp_path / "rep")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **popen,
    )


def _slot_status(entry: dict) -> dict:
    """STATUS of one slot, from its own bench process's control channel."""
    host, port = entry["control"].split(":")
    with socket.create_connection((host, int(port)), timeout=5.0) as sock, sock.makefile("rw") as channel:
        channel.write(f"STATUS {entry['slot']}\n")
        channel.flush()
        return json.loads(channel.readline())


def _runs(tmp_path) -> list[tuple]:
    db = tmp_path / "r.sqlite"
    if not db.exists():
        return []
    with sqlite3.connect(db) as con:
        try:
            return con.execute(
                "select r.slot, r.status, (select count(*) from points p where p.run_id = r.id)"
                " from runs r order by r.slot").fetchall()
        except sqlite3.OperationalError:  # the schema is not there yet
            return []


def test_every_slot_passes_with_its_own_table(tmp_path):
    with BenchUnderTest(tmp_path, "--slots", str(SLOTS)) as bench:
        rig = _calibrate(bench, tmp_path)
        out, _ = rig.communicate(timeout=180)
        assert rig.returncode == ExitCode.PASS, out
        assert "Traceback" not in out
        for entry in bench.description["slots"]:
            serial = entry["serial"]
            assert f"slot {entry['slot']} {serial}: PASS" in out, out
            (table_path,) = (tmp_path / "cal" / serial).glob("*.json")
            table = read_table(table_path, load_spec(), expected_serial=serial)
            with Ix30Client.open(entry["dut"], expected_serial=serial) as dut:
                assert readback_differences(table.coefficients, dut.read_calibration()) == []
    assert [(slot, status) for slot, status, _ in _runs(tmp_path)] == [(1, "finished"), (2, "finished")]


@pytest.mark.parametrize("stop", ["sigterm-to-the-rig", "ctrl-c-to-the-group"])
def test_a_stop_ends_every_slot_safe_and_aborted(tmp_path, stop):
    with BenchUnderTest(tmp_path, "--slots", str(SLOTS)) as bench:
        rig = _calibrate(bench, tmp_path, start_new_session=True)
        deadline = time.monotonic() + WAIT_S
        while not (len(runs := _runs(tmp_path)) == SLOTS and all(r[2] >= POINTS_BEFORE_STOP for r in runs)):
            assert time.monotonic() < deadline and rig.poll() is None, "the slots' runs did not get going"
            time.sleep(POLL_S)
        if stop == "sigterm-to-the-rig":
            rig.send_signal(signal.SIGTERM)
        else:
            os.killpg(rig.pid, signal.SIGINT)
        out, _ = rig.communicate(timeout=60)
        outputs_on = [_slot_status(entry)["output_on"] for entry in bench.description["slots"]]
    assert rig.returncode == ExitCode.ERROR, out
    assert "Traceback" not in out, out
    assert outputs_on == [False] * SLOTS
    runs = _runs(tmp_path)
    assert [(slot, status) for slot, status, _ in runs] == [(1, "aborted"), (2, "aborted")], runs
    assert all(points >= POINTS_BEFORE_STOP for *_, points in runs)


def _live_group_members(pgid: int) -> list[int]:
    """Processes of a process group that still run (zombies awaiting their reaper do not count)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(stat.parent.name))
    return members


def _audit_entries(tmp_path) -> list[dict]:
    return [json.loads(line) for path in (tmp_path / "cal" / "audit").glob("*.jsonl")
            for line in path.read_text().splitlines() if line.strip()]


def _point_seqs(tmp_path) -> dict[int, tuple[list[int], int | None]]:
    with sqlite3.connect(tmp_path / "r.sqlite") as con:
        return {run_id: ([s for (s,) in con.execute("select seq from points where run_id = ? order by seq",
                                                    (run_id,))], n_points)
                for run_id, n_points in con.execute("select id, n_points from runs")}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc for the process group")
def test_kill_9_of_the_parent_ends_every_slot_safe_and_aborted(tmp_path):
    """kill -9 of `rig calibrate` with two slots: each worker makes its unit safe at once (not
    only by the unit's watchdog), writes no calibration, marks its run aborted with every point it
    measured, and exits."""
    with BenchUnderTest(tmp_path, "--slots", str(SLOTS)) as bench:
        rig = _calibrate(bench, tmp_path, start_new_session=True)
        deadline = time.monotonic() + WAIT_S
        while not (len(runs := _runs(tmp_path)) == SLOTS and all(r[2] >= POINTS_BEFORE_STOP for r in runs)):
            assert time.monotonic() < deadline and rig.poll() is None, "the slots' runs did not get going"
            time.sleep(POLL_S)
        entries = bench.description["slots"]
        killed_at_s = {entry["slot"]: _ask(entry, "NOW") for entry in entries}
        killed_at = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
        points_at_kill = {slot: points for slot, _, points in _runs(tmp_path)}
        rig.kill()
        deadline = time.monotonic() + WAIT_S
        try:  # the output pipe ends once every worker holding it has exited
            rig.communicate(timeout=WAIT_S)
        except subprocess.TimeoutExpired:
            pass
        while left := _live_group_members(rig.pid):
            if time.monotonic() > deadline:
                for pid in left:
                    os.kill(pid, signal.SIGKILL)
                pytest.fail(f"slot workers still running {WAIT_S:.0f} s after their parent's kill: {left}")
            time.sleep(POLL_S)
        on_after_kill_s = {entry["slot"]: float(_ask(entry, f"ON_SECONDS {entry['slot']} {killed_at_s[entry['slot']]}"))
                           for entry in entries}
        outputs_on = [_slot_status(entry)["output_on"] for entry in entries]
    assert outputs_on == [False] * SLOTS
    assert all(on_s <= WATCHDOG_PERIOD_S for on_s in on_after_kill_s.values()), on_after_kill_s
    assert [e for e in _audit_entries(tmp_path) if e["time"] >= killed_at] == []
    runs = _runs(tmp_path)
    assert [(slot, status) for slot, status, _ in runs] == [(1, "aborted"), (2, "aborted")], runs
    assert all(points >= points_at_kill[slot] for slot, _, points in runs), (runs, points_at_kill)
    for seqs, n_points in _point_seqs(tmp_path).values():
        assert seqs == list(range(1, len(seqs) + 1)) and n_points == len(seqs)
    with sqlite3.connect(tmp_path / "r.sqlite") as con:
        messages = [m for (m,) in con.execute("select message from runs")]
    assert all("parent process died" in m for m in messages), messages


def _ask(entry: dict, line: str) -> str:
    host, port = entry["control"].split(":")
    with socket.create_connection((host, int(port)), timeout=5.0) as sock, sock.makefile("rw") as channel:
        channel.write(line + "\n")
        channel.flush()
        return channel.readline().strip()
