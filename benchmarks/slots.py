"""Throughput of several slots on one station against one slot, on the virtual bench.

Runs the calibration job on 1 slot, then on N slots at once (one worker per slot, rig.session.line), and
prints the wall times and the throughput ratio: speedup = N x t(1 slot) / t(N slots).
Run: python benchmarks/slots.py [--slots 4]. Ends with one line `slots=N speedup=…`.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

from cpu_usage import tree_cpu_s

from rig.records.store import ResultsStore
from rig.session.config import RunConfig
from rig.session.launch import make_job
from rig.session.line import run_slots
from rig.session.plans import Plan
from rig.session.stations import StationContext
from rig.spec import load_spec
from rig.virtual_bench import VirtualBenchProcess


def _own_and_children_cpu_s() -> float:
    """This process and its ended children: the rig, with its slot worker processes once joined."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed_run(slots: int, folder: Path) -> tuple[float, dict]:
    """Wall time of the job on `slots` slots at once; prints the CPU the rig and the bench spent on it."""
    with VirtualBenchProcess(slots=slots) as bench, ResultsStore(f"sqlite:///{folder}/s{slots}.sqlite") as store:
        config, ctx = RunConfig(calibrations=folder / f"cal{slots}"), StationContext(bench.station, bench.keys)
        jobs = {s.slot: make_job(config, Plan.CALIBRATE, ctx, s.slot, load_spec(), store) for s in bench.station.slots}
        bench_cpu_before_s = tree_cpu_s(bench.process.pid)
        rig_cpu_before_s = _own_and_children_cpu_s()
        start = time.monotonic()
        outcomes = run_slots(jobs)
        wall_s = time.monotonic() - start
        rig_cpu_s = _own_and_children_cpu_s() - rig_cpu_before_s
        bench_cpu_after_s = tree_cpu_s(bench.process.pid)
        if bench_cpu_before_s is not None and bench_cpu_after_s is not None:
            print(f"{slots} slot(s): wall {wall_s:.1f} s, CPU rig {rig_cpu_s:.1f} s,"
                  f" bench {bench_cpu_after_s - bench_cpu_before_s:.1f} s")
        return wall_s, {n: o.verdict for n, o in outcomes.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slots", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        one_s, one = timed_run(1, Path(tmp))
        many_s, many = timed_run(args.slots, Path(tmp))
    print(f"1 slot: {one_s:.1f} s {one}")
    print(f"{args.slots} slots: {many_s:.1f} s {many}")
    print(f"slots={args.slots} speedup={args.slots * one_s / many_s:.2f}")


if __name__ == "__main__":
    main()
