"""Wall time of one `rig calibrate` job on the virtual bench, per phase, and its point count.

Run: python benchmarks/calibration_time.py [--seed N]. Prints one `name=value` line at the end.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from rig.records.store import ResultsStore
from rig.session.config import RunConfig
from rig.session.events import Event, PhaseStarted
from rig.session.launch import make_job
from rig.session.plans import Plan
from rig.session.run import run_calibration
from rig.session.stations import StationContext
from rig.spec import load_spec
from rig.virtual_bench import VirtualBenchProcess


class PhaseClock:
    """An event sink that notes when each phase starts."""

    def __init__(self) -> None:
        self.starts: list[tuple[str, float]] = []

    def __call__(self, event: Event) -> None:
        if isinstance(event, PhaseStarted):
            self.starts.append((event.phase, time.monotonic()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, VirtualBenchProcess(seed=args.seed) as bench, \
            ResultsStore(f"sqlite:///{tmp}/bench.sqlite") as store:
        clock = PhaseClock()
        job = make_job(RunConfig(calibrations=Path(tmp)), Plan.CALIBRATE, StationContext(bench.station, bench.keys),
                       1, load_spec(), store, on_event=clock)
        start = time.monotonic()
        outcome = run_calibration(job)
        end = time.monotonic()
    marks = clock.starts + [("end", end)]
    for (name, t0), (_, t1) in zip(marks, marks[1:], strict=False):
        print(f"{name:14s} {t1 - t0:7.2f} s")
    print(f"verdict={outcome.verdict} points={len(outcome.points)} cycle_s={end - start:.2f}")


if __name__ == "__main__":
    main()
