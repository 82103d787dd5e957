"""Fill a results store with a population of calibrated units, for `rig stats` (not in CI).

    python benchmarks/population.py --units 40 --stations 2 [--slots 4] [--seed 1] [--db URL]

Each station (a thread here) calibrates its share of the units in batches of `--slots`, each batch on a
virtual bench of its own (`rig bench --station-out`, one process per slot) through the public CLI
(`rig calibrate --station FILE`, one worker per slot). The first half of the batches run firmware
2.4.1, the second half 2.5.0. About one unit in ten has a bench fault that fails a requirement, about
one in ten a communication fault on its first run; a unit whose run ended in an error is retested
once, with the communication fault gone. About one unit in four is calibrated a second time: between
its runs the bench lets 60 to 240 days pass for it (control `AGE`: its errors drift at its own rates,
its saved calibration's date moves back). The store is the rig's default (`RIG_DB_URL` or
reports/results.sqlite) unless `--db` says otherwise; calibration tables, reports and audit logs go to
a temporary folder. Last line: `units=… stations=… runs=… pass=… fail=… error=… population_s=…`.
"""

from __future__ import annotations

import argparse
import json
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, text

from rig.bench.station_file import KEYS_SUFFIX, PUBLIC_KEY_SUFFIX, SIGNING_KEY_SUFFIX, station_toml
from rig.records.store_engine import default_url

FIRMWARE_VERSIONS = ("2.4.1", "2.5.0")
BENCH_FAULTS = ("uncorrectable", "reading_gain_drift", "save_not_persisted")  # each fails a calibrate-run row
COMM_FAULTS = ("drop_reply:0.002", "delay_reply:0.003", "scpi_close:0.002")
BENCH_FAULT_SHARE = 0.1
COMM_FAULT_SHARE = 0.1
RECALIBRATED_SHARE = 0.25
AGE_DAYS = (60, 240)
OPERATORS = ("alice", "bob", "carol")
RUN_TIMEOUT_S = 600.0
ENDED_BADLY = ("error", "aborted", "interrupted")


@dataclass
class PlannedUnit:
    serial: str
    station: str
    firmware: str
    operator: str
    bench_fault: str | None
    comm_fault: str | None
    recalibrate_after_days: int | None


def plan(units: int, stations: int, slots: int, seed: int) -> list[list[PlannedUnit]]:
    """The batches (one bench each), station by station in turn."""
    rng = random.Random(seed)
    per_station = [[k for k in range(units) if k % stations == s] for s in range(stations)]
    batches = []
    for s, numbers in enumerate(per_station):
        chunks = [numbers[i:i + slots] for i in range(0, len(numbers), slots)]
        for b, chunk in enumerate(chunks):
            firmware = FIRMWARE_VERSIONS[0] if b < (len(chunks) + 1) // 2 else FIRMWARE_VERSIONS[1]
            batches.append([PlannedUnit(
                serial=f"PX{seed:02d}{k:05d}", station=f"LINE1-ST{s + 1:02d}", firmware=firmware,
                operator=OPERATORS[(b + s) % len(OPERATORS)],
                bench_fault=rng.choice(BENCH_FAULTS) if rng.random() < BENCH_FAULT_SHARE else None,
                comm_fault=rng.choice(COMM_FAULTS) if rng.random() < COMM_FAULT_SHARE else None,
                recalibrate_after_days=rng.randint(*AGE_DAYS) if rng.random() < RECALIBRATED_SHARE else None)
                for k in chunk])
    return batches


class Control:
    """The bench's control port (one per slot process): one request, one line back."""

    def __init__(self, address: str) -> None:
        host, port = address.split(":")
        self._file = socket.create_connection((host, int(port)), timeout=10.0).makefile("rw", encoding="ascii")

    def ask(self, line: str) -> str:
        self._file.write(line + "\n")
        self._file.flush()
        answer = self._file.readline().strip()
        if answer != "OK" and not answer.startswith("{"):
            raise RuntimeError(f"bench control {line!r}: {answer}")
        return answer


def _station_file(description: dict, station_path: Path, name: str, slots: list[int], out: Path) -> Path:
    """A station file for some of the bench's slots, named as the station, with the bench's keys."""
    chosen = {**description, "slots": [s for s in description["slots"] if s["slot"] in slots]}
    body = station_toml(chosen, station_path.with_name(station_path.name + KEYS_SUFFIX),
                        station_path.with_name(station_path.name + SIGNING_KEY_SUFFIX),
                        station_path.with_name(station_path.name + PUBLIC_KEY_SUFFIX))
    out.write_text(body.replace('name = "virtual-bench"', f"name = {json.dumps(name)}", 1), encoding="utf-8")
    return out


# The one place that makes a run: the public CLI, as an operator would (the rig's internals may move).
def calibrate(station_file: Path, operator: str, db: str | None, work: Path) -> int:
    command = [sys.executable, "-m", "rig.cli", "calibrate", "--station", str(station_file), "--operator", operator,
               "--calibrations", str(work / "calibrations"), "--reports", str(work / "reports")]
    if db is not None:
        command += ["--db", db]
    return subprocess.run(command, capture_output=True, text=True, timeout=RUN_TIMEOUT_S).returncode


def last_status(db: str, serials: list[str]) -> dict[str, str]:
    """Each serial's latest run status in the store."""
    engine = create_engine(db)
    try:
        with engine.connect() as connection:
            rows = connection.execute(text(
                "SELECT u.serial, r.status FROM runs r JOIN units u ON u.id = r.unit_id ORDER BY r.id")).all()
    finally:
        engine.dispose()
    return {serial: status for serial, status in rows if serial in serials}


def run_batch(batch: list[PlannedUnit], number: int, seed: int, db: str | None, work: Path,
              lock: threading.Lock) -> list[str]:
    folder = work / f"batch{number:03d}"
    folder.mkdir(parents=True)
    station_path = folder / "bench.toml"
    command = [sys.executable, "-m", "rig.bench", "--slots", str(len(batch)), "--seed", str(seed),
               "--firmware-version", batch[0].firmware, "--station-out", str(station_path)]
    for slot, unit in enumerate(batch, start=1):
        command += ["--serial", unit.serial] + (["--fault", f"{slot}:{unit.bench_fault}"] if unit.bench_fault else [])
    bench = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        description = json.loads(bench.stdout.readline())
        controls = {s["slot"]: Control(s.get("control") or description["control"]) for s in description["slots"]}
        for slot, unit in enumerate(batch, start=1):
            if unit.comm_fault:
                controls[slot].ask(f"COMM_FAULT {slot} {unit.comm_fault}")
        station = batch[0].station
        slots = list(range(1, len(batch) + 1))
        exits = [calibrate(_station_file(description, station_path, station, slots, folder / "round1.toml"),
                           batch[0].operator, db, folder)]
        status = last_status(db or default_url(), [u.serial for u in batch])
        again = []
        for slot, unit in enumerate(batch, start=1):
            if status.get(unit.serial) in ENDED_BADLY:
                controls[slot].ask(f"COMM_FAULT {slot} NONE")
                again.append(slot)
            elif unit.recalibrate_after_days and status.get(unit.serial) == "finished":
                controls[slot].ask(f"AGE {slot} {unit.recalibrate_after_days}")
                again.append(slot)
        if again:
            exits.append(calibrate(_station_file(description, station_path, station, again, folder / "round2.toml"),
                                   OPERATORS[(OPERATORS.index(batch[0].operator) + 1) % len(OPERATORS)], db, folder))
        with lock:
            print(f"{station} batch {number:3d} firmware {batch[0].firmware}: {len(batch)} units, "
                  f"second runs on slots {again or '-'}, exits {exits}", flush=True)
        return [u.serial for u in batch]
    finally:
        bench.terminate()
        bench.wait(timeout=30)


def outcomes(db: str, serials: set[str]) -> dict[str, int]:
    engine = create_engine(db)
    try:
        with engine.connect() as connection:
            rows = connection.execute(text(
                "SELECT u.serial, r.status, r.verdict FROM runs r JOIN units u ON u.id = r.unit_id")).all()
    finally:
        engine.dispose()
    mine = [(status, verdict) for serial, status, verdict in rows if serial in serials]
    return {"runs": len(mine), "pass": sum(v == "PASS" for _, v in mine),
            "fail": sum(s == "finished" and v != "PASS" for s, v in mine),
            "error": sum(s in ENDED_BADLY for s, _ in mine)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=40)
    parser.add_argument("--stations", type=int, default=2)
    parser.add_argument("--slots", type=int, default=4, help="units calibrated at once per station")
    parser.add_argument("--seed", type=int, default=1, help="the population's seed (serials, faults, drift)")
    parser.add_argument("--parallel", type=int, default=None, metavar="K",
                        help="stations working at once (default: all); fewer on a loaded machine, where the "
                             "units' 2 s watchdog trips when replies come late")
    parser.add_argument("--db", default=None, help="results store URL (default: RIG_DB_URL or reports/results.sqlite)")
    args = parser.parse_args(argv)
    if args.units < 1 or args.stations < 1 or not 1 <= args.slots <= 16 or not 0 <= args.seed <= 99 or (
            args.parallel is not None and args.parallel < 1):
        parser.error("need --units >= 1, --stations >= 1, --slots 1..16, --seed 0..99 and --parallel >= 1")
    batches = plan(args.units, args.stations, args.slots, args.seed)
    started = time.monotonic()
    lock = threading.Lock()
    with tempfile.TemporaryDirectory(prefix="rig-population-") as work:
        queues = {}
        for number, batch in enumerate(batches, start=1):
            queues.setdefault(batch[0].station, []).append((number, batch))

        at_once = threading.Semaphore(args.parallel or len(queues))

        def station_worker(queue: list) -> None:
            with at_once:
                for number, batch in queue:
                    try:
                        run_batch(batch, number, args.seed, args.db, Path(work), lock)
                    except (OSError, ValueError, RuntimeError, subprocess.SubprocessError) as exc:
                        with lock:
                            print(f"{batch[0].station} batch {number:3d}: not run to its end: {exc}", flush=True)

        threads = [threading.Thread(target=station_worker, args=(queue,)) for queue in queues.values()]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    elapsed = time.monotonic() - started
    serials = {u.serial for batch in batches for u in batch}
    counts = outcomes(args.db or default_url(), serials)
    print(f"units={len(serials)} stations={args.stations} runs={counts['runs']} pass={counts['pass']} "
          f"fail={counts['fail']} error={counts['error']} population_s={elapsed:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
