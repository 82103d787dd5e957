"""Soak of the parent's death: multi-slot `rig calibrate` runs whose parent is killed (kill -9) at a
random moment. After each kill: every slot worker must exit (else "hung"), every output be off
(STATUS of the slot), no calibration be written after the kill (audit trail), and the store hold each
slot's run ended (not "running") with at least the points it had at the kill, numbered without a gap.
Run from benchmarks/soak.py --kill-parent."""

from __future__ import annotations

import collections
import datetime as dt
import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

KILL_WINDOW_S = (0.0, 25.0)  # after every slot's first point: as found, characterisation, write, as left
EXIT_WAIT_S = 60.0
HANG_S = 240.0
POLL_S = 0.1


def _ask(address: str, line: str) -> str:
    host, port = address.split(":")
    with socket.create_connection((host, int(port)), timeout=5.0) as sock, sock.makefile("rw") as channel:
        channel.write(line + "\n")
        channel.flush()
        return channel.readline().strip()


def _live_group_members(pgid: int) -> list[int]:
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(stat.parent.name))
    return members


def _query(db: Path, sql: str, *params) -> list[tuple]:
    if not db.exists():
        return []
    with sqlite3.connect(db) as con:
        try:
            return con.execute(sql, params).fetchall()
        except sqlite3.OperationalError:  # no schema yet
            return []


def _runs_after(db: Path, first_id: int) -> dict[int, tuple[str, int | None, int, list[int]]]:
    """run id -> (status, n_points, points stored, seqs)."""
    return {run_id: (status, n_points, len(seqs := [s for (s,) in _query(
                db, "select seq from points where run_id = ? order by seq", run_id)]), seqs)
            for run_id, status, n_points in _query(db, "select id, status, n_points from runs where id >= ?",
                                                   first_id)}


def _audit_after(out: Path, since: str) -> int:
    return sum(1 for path in (out / "cal" / "audit").glob("*.jsonl") for line in path.read_text().splitlines()
               if line.strip() and json.loads(line)["time"] >= since)


def _one(entries: list[dict], station: Path, db: Path, out: Path, rng: random.Random) -> dict:
    first_id = (_query(db, "select max(id) from runs") or [(0,)])[0][0] or 0
    first_id += 1
    kill_after_s = rng.uniform(*KILL_WINDOW_S)
    started = time.monotonic()
    rig = subprocess.Popen([sys.executable, "-m", "rig.cli", "calibrate", "--station", str(station), "--db",
                            f"sqlite:///{db}", "--calibrations", str(out / "cal"), "--reports", str(out / "rep")],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    # The moment is counted from the slots' first stored points: starting the rig alone takes from 3 s
    # on a quiet machine to 30 s on a loaded one.
    while rig.poll() is None and time.monotonic() - started < HANG_S and not (
            len(points := _runs_after(db, first_id)) == len(entries) and all(p[2] for p in points.values())):
        time.sleep(POLL_S)
    going = time.monotonic()
    while rig.poll() is None and time.monotonic() - going < kill_after_s:
        time.sleep(POLL_S)
    killed = rig.poll() is None
    at_kill = _runs_after(db, first_id)
    bench_now = {e["slot"]: _ask(e["control"], "NOW") for e in entries}
    since = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
    if killed:
        rig.kill()
    rig.wait()
    deadline = time.monotonic() + (EXIT_WAIT_S if killed else HANG_S)
    while (left := _live_group_members(rig.pid)) and time.monotonic() < deadline:
        time.sleep(POLL_S)
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    after = _runs_after(db, first_id)
    lost = sum(max(0, points - (after.get(run_id, ("", 0, 0, []))[2])) for run_id, (_, _, points, _) in at_kill.items())
    gaps = sum(1 for _, n, count, seqs in after.values() if seqs != list(range(1, count + 1))
               or (n is not None and n != count))
    return {
        "killed": killed, "kill_after_s": kill_after_s, "hung": bool(left),
        "output_on": sum(json.loads(_ask(e["control"], f"STATUS {e['slot']}"))["output_on"] for e in entries),
        "on_after_kill_s": max(float(_ask(e["control"], f"ON_SECONDS {e['slot']} {bench_now[e['slot']]}"))
                               for e in entries),
        "cal_writes_after_kill": _audit_after(out, since) if killed else 0,
        "runs": len(after), "statuses": collections.Counter(s for s, *_ in after.values()),
        "left_running": sum(s == "running" for s, *_ in after.values()),
        "points_at_kill": sum(p for _, _, p, _ in at_kill.values()), "points_lost": lost, "gaps": gaps,
    }


def kill_parent_soak(runs: int, slots: int, seed: int, out: Path) -> int:
    station, db = out / "station.toml", out / "soak.sqlite"
    bench = subprocess.Popen([sys.executable, "-m", "rig.bench", "--slots", str(slots), "--station-out", str(station)],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    results = []
    try:
        entries = json.loads(bench.stdout.readline())["slots"]
        rng = random.Random(seed)
        for number in range(1, runs + 1):
            r = _one(entries, station, db, out, rng)
            results.append(r)
            print(f"{number:4d} kill at {r['kill_after_s']:5.1f}s killed={r['killed']} hung={r['hung']} "
                  f"output_on={r['output_on']} on_after_kill={r['on_after_kill_s']:.3f}s "
                  f"cal_writes_after_kill={r['cal_writes_after_kill']} runs={dict(r['statuses'])} "
                  f"points_at_kill={r['points_at_kill']} lost={r['points_lost']} gaps={r['gaps']}", flush=True)
    finally:
        bench.terminate()
        bench.wait(timeout=10)
    total = collections.Counter()
    for r in results:
        total.update(r["statuses"])
    print(f"runs={len(results)} slots={slots} killed={sum(r['killed'] for r in results)}"
          f" hung={sum(r['hung'] for r in results)} output_left_on={sum(r['output_on'] for r in results)}"
          f" max_on_after_kill_s={max(r['on_after_kill_s'] for r in results):.3f}"
          f" cal_writes_after_kill={sum(r['cal_writes_after_kill'] for r in results)}"
          f" points_lost={sum(r['points_lost'] for r in results)} gaps={sum(r['gaps'] for r in results)}"
          f" left_running={sum(r['left_running'] for r in results)} store_runs={dict(total)}")
    return 0
