"""Cycle time of the full job on the virtual bench against its physical floor.

The job: calibrate (as found, characterise, write, as left: the verification) and then the cut-off
suite when its procedures are present. The floor is what the bench's timing model makes unavoidable for
that same sequence (benchmarks/floor.py for the calibration; the cut-off suite's own floor from
benchmarks/cutoffs.py). Run: python benchmarks/cycle.py. Ends with `cycle_s=… floor_s=… ratio=…`.
"""

from __future__ import annotations

import importlib.util
import sys
import tempfile
import time
from pathlib import Path

from floor import calibration_floor

from rig.records.store import ResultsStore
from rig.session.config import RunConfig
from rig.session.launch import make_job
from rig.session.plans import Plan
from rig.session.run import calibrate_slot
from rig.session.stations import StationContext
from rig.slot import open_slot
from rig.spec import load_spec
from rig.virtual_bench import VirtualBenchProcess

HERE = Path(__file__).resolve().parent


def _cutoff_benchmark():
    """benchmarks/cutoffs.py, if the cut-off suite has one: run_suite(slot, store, spec) -> (suite_s, floor_s)."""
    path = HERE / "cutoffs.py"
    if not path.exists():
        return None
    spec = importlib.util.spec_from_file_location("cutoff_benchmark", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, "run_suite", None)


def main() -> int:
    spec = load_spec()
    cutoffs = _cutoff_benchmark()
    with tempfile.TemporaryDirectory() as tmp, VirtualBenchProcess() as bench, \
            ResultsStore(f"sqlite:///{tmp}/cycle.sqlite") as store, open_slot(bench.station, 1) as slot:
        job = make_job(RunConfig(calibrations=Path(tmp)), Plan.CALIBRATE, StationContext(bench.station, bench.keys),
                       1, spec, store)
        start = time.monotonic()
        outcome = calibrate_slot(job, slot)
        calibrate_s = time.monotonic() - start
        floor = calibration_floor(spec)
        parts = [("calibrate + verify", calibrate_s, floor.total_s)]
        if cutoffs is not None:
            slot.arm_watchdog()
            suite_s, suite_floor_s = cutoffs(slot, store, spec)
            parts.append(("cut-offs", suite_s, suite_floor_s))
    for name, wall_s, floor_s in parts:
        print(f"{name:20s} {wall_s:7.2f} s  floor {floor_s:7.2f} s  ratio {wall_s / floor_s:.2f}")
    if cutoffs is None:
        print("cut-off suite: no benchmarks/cutoffs.py run_suite(): not included", file=sys.stderr)
    cycle_s, floor_s = sum(p[1] for p in parts), sum(p[2] for p in parts)
    print(f"verdict={outcome.verdict}")
    print(f"cycle_s={cycle_s:.2f} floor_s={floor_s:.2f} ratio={cycle_s / floor_s:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
