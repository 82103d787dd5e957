"""Time of the whole cut-off suite on one unit against the floor the spec makes unavoidable.

Two figures:
- in-process (`run_suite`, also used by benchmarks/cycle.py): the suite's declared steps (rig/procedures/
  cutoffs/suite.py, which the test module parametrises from) on an open slot, each ended as the test
  fixture ends it, every point stored; the bench's start is not timed, nor the calibration the suite
  needs first (it judges a calibrated unit: printed on its own line).
- under pytest (`pytest tests/hil/test_cutoffs.py` in a subprocess on a fresh virtual bench, as the line
  runs it, without an HTML report): set-up, call and teardown of every test from `--durations=0`, less
  the session's own set-up and teardown (starting and stopping the bench, opening the slot, calibrating
  the fresh unit), which fall on the first test's set-up and the last test's teardown.
The floor is what a conforming unit and the bench's instruments need at the suite's own parameters: ramp
times, detection windows and the timer, and around them the load switching, the session's requests at the
line rate, the settling, the captures' windows after their trigger and the residual readings' integration;
the sum of the suite's declared steps' floors (each step's `floor_s`: from the spec, the step's own
constants and the instrument models' stated figures, never typed here). Issue 4 asks for ratio <= 1.3.

Run: python benchmarks/cutoffs.py [--no-pytest]. The last line is `suite_s=… floor_s=… ratio=…` (the
pytest figure; the in-process one with --no-pytest).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from floor import SET_EXCHANGE, serial_exchange_s

from rig.metrology.decision import DecisionRule
from rig.procedures.cutoffs.context import CutoffContext
from rig.procedures.cutoffs.step import BenchTimes, SuiteStep
from rig.procedures.cutoffs.suite import run_steps, suite_steps
from rig.records.store import ResultsStore
from rig.session.config import RunConfig
from rig.session.launch import make_job
from rig.session.plans import Plan
from rig.session.records import record_of
from rig.session.run import calibrate_slot
from rig.session.stations import StationContext
from rig.slot import OpenSlot, open_slot
from rig.spec import ProductSpec, load_spec
from rig.station import ModelFigures, default_models
from rig.virtual_bench import VirtualBenchProcess

REPO = Path(__file__).resolve().parents[1]
SUITE = "tests/hil/test_cutoffs.py"
DURATION_LINE = re.compile(r"^([\d.]+)s (setup|call|teardown)\s+(\S+)")


def bench_times(models: dict[str, ModelFigures] | None = None) -> BenchTimes:
    """The stated figures of the bench's instruments and the line rate that the steps' floors use."""
    models = models or default_models()
    dut, analyzer, load = models["IX-30"], models["N6705C"], models["RDEC-1M"]
    return BenchTimes(exchange_s=serial_exchange_s(dut, *SET_EXCHANGE),
                      load_switch_s=load.settle_s + load.command_latency_s,
                      settle_s=dut.settle_s + analyzer.settle_s,  # the slot's settle_after_setpoint_s
                      dut_settle_s=dut.settle_s,
                      integration_s=analyzer.default_points * analyzer.default_interval_s,
                      load_max_power_w=load.max_power_w)


def floor_s(spec: ProductSpec, models: dict[str, ModelFigures] | None = None) -> dict[str, float]:
    """What a conforming unit and the bench's instruments need at the suite's parameters, per requirement
    (s): the sum of the suite's declared steps' floors (each step's own `floor_s`). Nothing here is a
    host's processing time."""
    bench = bench_times(models)
    floors: dict[str, float] = {}
    for step in suite_steps(spec):
        floors[step.requirement] = floors.get(step.requirement, 0.0) + step.floor_s(spec, bench)
    return floors


def run_suite(slot: OpenSlot, store: ResultsStore, spec: ProductSpec) -> tuple[float, float]:
    """Run the cut-off suite in-process on an open slot (watchdog armed by the caller); every point is
    stored in a run of its own. Returns (suite_s, floor_s)."""
    ident = slot.dut.identity
    rule = DecisionRule.GUARD_BAND
    run_id = store.start_run(kind="cutoff-benchmark", station=slot.station.name, slot=slot.number,
                             operator="benchmark", unit_serial=ident.serial, unit_model=ident.model,
                             firmware=ident.firmware, decision_rule=rule.value, instruments=[])
    points = []

    def sink(point) -> None:
        store.add_point(run_id, record_of(point))
        points.append(point)

    ctx = CutoffContext(slot, spec, rule, sink)
    started = time.monotonic()
    step_started = started

    def timed(step: SuiteStep, _result: object) -> None:
        nonlocal step_started
        now = time.monotonic()
        print(f"step {step.name}: {now - step_started:.2f} s")
        step_started = now

    run_steps(ctx, suite_steps(spec), timed)
    suite = time.monotonic() - started
    verdict = "PASS" if all(p.decision.passed for p in points) else "FAIL"
    store.finish_run(run_id, status="finished", verdict=verdict, message=f"{len(points)} points")
    print(f"in-process verdict={verdict} points={len(points)}")
    return suite, sum(floor_s(spec).values())


def pytest_suite_s() -> tuple[float, int]:
    """The suite under pytest, without the session's set-up and teardown; and pytest's exit code."""
    with tempfile.TemporaryDirectory() as tmp:
        junit = Path(tmp) / "cutoffs.xml"
        done = subprocess.run(
            [sys.executable, "-m", "pytest", SUITE, "-q", "-p", "no:cacheprovider", "--durations=0", "-vv",
             "--junitxml", str(junit), "--db", f"sqlite:///{tmp}/bench.sqlite"],
            cwd=REPO, capture_output=True, text=True)
        # --durations sorts by time; the junit file keeps the order the tests ran in.
        order = [c.get("name") for c in ET.parse(junit).getroot().iter("testcase")] if junit.exists() else []
    phases = [(float(m[1]), m[2], m[3]) for m in map(DURATION_LINE.match, done.stdout.splitlines()) if m]
    if not phases or not order:
        print(done.stdout[-3000:], done.stderr[-3000:])
        return float("nan"), done.returncode
    session_phases = (("setup", order[0]), ("teardown", order[-1]))
    session = [s for s, when, node in phases if (when, node.rpartition("::")[2]) in session_phases]
    print(f"pytest: {len(order)} tests, exit {done.returncode}; session set-up + teardown {sum(session):.2f} s "
          "(bench start/stop, slot opening: not counted)")
    return sum(s for s, _, _ in phases) - sum(session), done.returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-pytest", action="store_true", help="only the in-process figure")
    args = parser.parse_args()
    spec = load_spec()
    floors = floor_s(spec)
    for name, seconds in floors.items():
        print(f"floor {name}: {seconds:.2f} s")
    floor = sum(floors.values())
    with tempfile.TemporaryDirectory() as tmp, VirtualBenchProcess() as bench, \
            ResultsStore(f"sqlite:///{tmp}/cutoffs.sqlite") as store, open_slot(bench.station, 1) as slot:
        # The suite judges a calibrated unit (tests/hil: `cutoff_context`); the bench's is fresh.
        job = make_job(RunConfig(calibrations=Path(tmp)), Plan.CALIBRATE, StationContext(bench.station, bench.keys),
                       1, spec, store)
        started = time.monotonic()
        calibration = calibrate_slot(job, slot)
        print(f"calibration first (not timed with the suite): {calibration.verdict} "
              f"{time.monotonic() - started:.1f} s")
        slot.arm_watchdog()
        in_process_s, _ = run_suite(slot, store, spec)
    print(f"in-process suite_s={in_process_s:.1f} floor_s={floor:.1f} ratio={in_process_s / floor:.2f}")
    if args.no_pytest:
        return 0
    suite, code = pytest_suite_s()
    print(f"suite_s={suite:.1f} floor_s={floor:.1f} ratio={suite / floor:.2f}")
    return code


if __name__ == "__main__":
    sys.exit(main())
