"""The product suites on the other station layouts (issue 15): the voltmeter on a DMM of its own, with the
trigger line from the analyzer (`dmm`) or aligned by trigger timestamps (`dmm-no-trigger`); the verdicts
must be those of the analyzer-for-both layout, which the session's own HIL suites judge.

Each run is a `pytest` subprocess with `--bench-layout` (and `--bench-fault`), read back from its junit
file, two at a time, as the fault proof does (tests/hil/test_fault_proof.py). CI runs a slice: a healthy
unit's calibration, loss of contact and compliance voltage on the wired DMM layout, and a unit without
loss-of-contact detection on the timestamp layout (the two cut-offs whose budgets carry the alignment).
`--all-layouts` runs the full set: calibration and every cut-off on both DMM layouts, healthy and with
each fault of a requirement read on the voltage trace.
"""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from fixtures.junit_verdicts import suite_verdicts
from rig.procedures.cutoffs.suite import suite_steps
from rig.spec import load_spec

pytestmark = pytest.mark.fault_proof

REPO = Path(__file__).resolve().parents[2]
CALIBRATION = "tests/hil/test_calibration.py::test_calibration_passes"
CUTOFFS = "tests/hil/test_cutoffs.py"
# The cut-off suite's tests are named by the registry's steps (tests/hil/test_cutoffs.py::test_cutoff[<step>]).
_STEPS = suite_steps(load_spec())
CONTACT = tuple(f"{CUTOFFS}::test_cutoff[{s.name}]" for s in _STEPS if s.requirement == "loss_of_contact")
COMPLIANCE = tuple(f"{CUTOFFS}::test_cutoff[{s.name}]" for s in _STEPS if s.requirement == "compliance")
HEALTHY = "healthy"
# Two runs at a time; one under pytest-xdist, whose other worker already loads the second core (a
# starved rig misses its unit's watchdog: !WDOG, seen with three suites at once on two cores).
PARALLEL_RUNS = 1 if os.environ.get("PYTEST_XDIST_WORKER") else 2
RUN_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class LayoutRun:
    layout: str
    fault: str
    tests: tuple[str, ...]
    failing: frozenset[str]  # the requirements that must fail, and only they

    @property
    def id(self) -> str:
        return f"{self.fault}@{self.layout}"


SLICE = (
    LayoutRun("dmm", HEALTHY, (CALIBRATION, *CONTACT, *COMPLIANCE), frozenset()),
    LayoutRun("dmm-no-trigger", "no_loss_of_contact", (CALIBRATION, *CONTACT), frozenset({"loss_of_contact"})),
)
VOLTAGE_FAULTS = {"no_loss_of_contact": "loss_of_contact", "high_compliance": "compliance",
                  "no_reramp": "compliance_recovery"}
FULL = tuple(
    run for layout in ("dmm", "dmm-no-trigger") for run in (
        LayoutRun(layout, HEALTHY, (CALIBRATION, CUTOFFS), frozenset()),
        *(LayoutRun(layout, fault, (CALIBRATION, CUTOFFS), frozenset({requirement}))
          for fault, requirement in VOLTAGE_FAULTS.items()),
    )
)


@dataclass(frozen=True)
class Outcome:
    tests: int
    failing: frozenset[str]
    seen: frozenset[str]
    output: str


def run_on_layout(run: LayoutRun, work: Path) -> Outcome:
    junit = work / f"{run.id}.xml"
    command = [sys.executable, "-m", "pytest", *run.tests, "-q", "-p", "no:cacheprovider", "--junitxml", str(junit),
               "--db", f"sqlite:///{work / f'{run.id}.sqlite'}", "--bench-layout", run.layout]
    if run.fault != HEALTHY:
        command += ["--bench-fault", run.fault]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    output = (done.stdout + done.stderr)[-4000:]
    if not junit.exists():
        return Outcome(0, frozenset(), frozenset(), output)
    found = suite_verdicts(junit)
    return Outcome(found.tests, found.failing, found.seen, output)


def _runs(config: pytest.Config) -> tuple[LayoutRun, ...]:
    return FULL if config.getoption("all_layouts") else SLICE


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "layout_run" in metafunc.fixturenames:
        runs = _runs(metafunc.config)
        metafunc.parametrize("layout_run", runs, ids=[run.id for run in runs])


@pytest.fixture(scope="module")
def layout_runs(pytestconfig, tmp_path_factory) -> dict[str, Future[Outcome]]:
    if pytestconfig.getoption("station"):
        pytest.skip("the layouts are the virtual bench's; a real station has the one it has")
    work = tmp_path_factory.mktemp("layouts")
    with ThreadPoolExecutor(PARALLEL_RUNS) as pool:
        futures = {run.id: pool.submit(run_on_layout, run, work) for run in _runs(pytestconfig)}
        yield futures
        for future in futures.values():
            future.cancel()


def test_the_slice_judges_both_alignments_on_healthy_and_faulty_units():
    assert {run.layout for run in SLICE} == {"dmm", "dmm-no-trigger"}
    assert any(run.fault == HEALTHY for run in SLICE) and any(run.failing for run in SLICE)


def test_verdicts_on_the_layout_are_those_of_the_analyzer_layout(layout_runs, layout_run):
    outcome = layout_runs[layout_run.id].result(timeout=RUN_TIMEOUT_S * len(layout_runs))
    assert outcome.tests > 0, f"{layout_run.id}: no test ran\n{outcome.output}"
    assert layout_run.failing <= outcome.seen, f"{layout_run.id}: {sorted(layout_run.failing)} never judged"
    assert outcome.failing == layout_run.failing, (
        f"{layout_run.id}: failing {sorted(outcome.failing)}, expected {sorted(layout_run.failing)}\n{outcome.output}")
