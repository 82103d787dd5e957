"""Soak: many `rig calibrate` runs on one virtual bench, each with a random fault injected.

Every run must end PASS (exit 0), FAIL (1) or a clean error (2, one line, no traceback), within
HANG_S; the unit's output must be off after it (asked of the bench's control channel); the store must
hold the run, ended (not left `running`), with its points. Prints one line per run and the figures.

    python benchmarks/soak.py --runs 200 [--seed N] [--out DIR]

With --kill-parent (and --slots N, default 2) each run is a multi-slot `rig calibrate` whose parent
process is killed (kill -9) at a random moment instead: its slot workers must make their units safe,
mark their runs aborted with every point already stored, and exit (benchmarks/soak_kill.py).
"""

from __future__ import annotations

import argparse
import collections
import json
import random
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rig.bench.comm_faults import COMM_FAULTS

HANG_S = 240.0
SETTLE_AFTER_RUN_S = 0.5
RATE_RANGE = (0.0005, 0.004)  # per line: from "rarely meets it" to "meets it a few times"
EVENT_WINDOW_S = (2.0, 30.0)  # when a reboot or a vanished port is triggered, if chosen
CHOICES = ["none", *sorted(COMM_FAULTS), "REBOOT", "VANISH"]


class Control:
    def __init__(self, address: str) -> None:
        host, port = address.split(":")
        self._file = socket.create_connection((host, int(port)), timeout=5.0).makefile("rw", encoding="ascii")

    def ask(self, line: str) -> str:
        self._file.write(line + "\n")
        self._file.flush()
        return self._file.readline().strip()


def _one_run(control: Control, station: Path, db: Path, out: Path, rng: random.Random) -> dict:
    choice = rng.choice(CHOICES)
    rate = rng.uniform(*RATE_RANGE)
    event_at_s = rng.uniform(*EVENT_WINDOW_S)
    control.ask("COMM_FAULT 1 NONE" if choice in ("none", "REBOOT", "VANISH") else f"COMM_FAULT 1 {choice}:{rate:.5f}")
    started = time.monotonic()
    rig = subprocess.Popen([sys.executable, "-m", "rig.cli", "calibrate", "--station", str(station), "--db",
                            f"sqlite:///{db}", "--calibrations", str(out / "cal"), "--reports", str(out / "rep")],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    fired = choice not in ("REBOOT", "VANISH")
    while rig.poll() is None and time.monotonic() - started < HANG_S:
        if not fired and time.monotonic() - started >= event_at_s:
            control.ask(f"{choice} 1")
            fired = True
        time.sleep(0.05)
    hung = rig.poll() is None
    if hung:
        rig.kill()
    stdout, stderr = rig.communicate()
    control.ask("COMM_FAULT 1 NONE")
    time.sleep(SETTLE_AFTER_RUN_S)
    status = json.loads(control.ask("STATUS 1"))
    lines = [ln for ln in stdout.splitlines() if ln.startswith(("ERROR", "stopped", "slot 1"))]
    return {"fault": choice, "rate": rate if choice in COMM_FAULTS else None, "exit": rig.returncode, "hung": hung,
            "seconds": time.monotonic() - started, "output_on": status["output_on"],
            "traceback": "Traceback" in stdout + stderr, "message": lines[-1] if lines else stdout.strip()[-200:]}


def _store_check(db: Path) -> tuple[int, int, int]:
    """(runs, runs left 'running', points) in the store."""
    with sqlite3.connect(db) as con:
        runs = con.execute("select count(*) from runs").fetchone()[0]
        running = con.execute("select count(*) from runs where status = 'running'").fetchone()[0]
        points = con.execute("select count(*) from points").fetchone()[0]
    return runs, running, points


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--kill-parent", action="store_true",
                        help="kill -9 the parent of a multi-slot run at a random moment, every run")
    parser.add_argument("--slots", type=int, default=2, help="with --kill-parent: slots per run")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="rig-soak-"))
    out.mkdir(parents=True, exist_ok=True)
    if args.kill_parent:
        from soak_kill import kill_parent_soak

        return kill_parent_soak(args.runs, args.slots, args.seed, out)
    station, db = out / "station.toml", out / "soak.sqlite"
    bench = subprocess.Popen([sys.executable, "-m", "rig.bench", "--station-out", str(station)],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        control = Control(json.loads(bench.stdout.readline())["control"])
        rng = random.Random(args.seed)
        results = []
        for number in range(1, args.runs + 1):
            result = _one_run(control, station, db, out, rng)
            results.append(result)
            print(f"{number:4d} {result['fault']:>16} exit={result['exit']} {result['seconds']:5.1f}s "
                  f"output_on={result['output_on']} | {result['message'][:110]}", flush=True)
    finally:
        bench.terminate()
        bench.wait(timeout=10)
    _summary(results, db)
    return 0


def _summary(results: list[dict], db: Path) -> None:
    outcomes = collections.Counter({0: "PASS", 1: "FAIL", 2: "clean error"}.get(r["exit"], f"exit {r['exit']}")
                                   for r in results)
    runs, running, points = _store_check(db)
    seconds = [r["seconds"] for r in results]
    print(f"runs={len(results)} " + " ".join(f"{k.replace(' ', '_')}={v}" for k, v in sorted(outcomes.items()))
          + f" hung={sum(r['hung'] for r in results)} output_left_on={sum(r['output_on'] for r in results)}"
          f" tracebacks={sum(r['traceback'] for r in results)}")
    print(f"store: runs={runs} left_running={running} points={points}; run time mean={sum(seconds)/len(seconds):.1f}s"
          f" max={max(seconds):.1f}s")
    by_fault = collections.defaultdict(collections.Counter)
    for r in results:
        by_fault[r["fault"]][{0: "PASS", 1: "FAIL", 2: "error"}.get(r["exit"], "other")] += 1
    for fault, counts in sorted(by_fault.items()):
        print(f"  {fault:>16}: " + " ".join(f"{k}={v}" for k, v in sorted(counts.items())))


if __name__ == "__main__":
    sys.exit(main())
