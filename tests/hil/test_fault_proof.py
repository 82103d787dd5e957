"""Proof that each product test can fail (issue 4, item 7): for every fault the virtual bench can
switch on, the suite run against a unit with that fault fails the matching requirement and no other,
and the same suite passes on a healthy unit.

Each fault is one `pytest` subprocess with `--bench-fault NAME` and a junit file; the failing
requirements are read from the junit properties (the `requirement(key)` marker, fixtures/traces.py).
Two run at a time. Marked `fault_proof` so that the line leaves it out (`-m "not fault_proof"`): it
needs the virtual bench, never a real station.

What each run selects, and why: `test_calibration_passes` always, then the whole cut-off suite (so
"no other requirement fails" is shown over all of it). The cut-off suite judges a calibrated unit (its
trip levels against the band of the unit's reading tolerance), so it reuses the unit the calibration
test calibrated (`calibrated_slot` calibrates only a unit whose calibration was never saved): the
calibration test costs nothing extra. Where the fault is in the calibration itself (the uncorrectable
unit, CAL:SAVE that does not store), only the calibration test runs: the unit leaves it uncalibrated
and the cut-off suite would only say so again. Two runs at a time keep the proof's wall time to about
half the sum.

Implementation variants (`--bench-variant`, rig.bench.variant: reply latency, control period, ramp
steps, event order, noise, instrument errors, TINT rounding): the healthy unit runs on one variant
other than the reference (the session's own HIL suites judge it on the reference); each fault runs
once, on one of VARIANTS in rotation, so that every variant carries faults (a second variant for
every case would double the proof's time). The variants chosen keep the reply latency low enough
for the run timeout; the cut-off suite alone is seen passing on several more (`--bench-variant N`).
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
from rig.bench.faults import ALL_FAULTS, violated_requirements

pytestmark = pytest.mark.fault_proof

REPO = Path(__file__).resolve().parents[2]
CUTOFFS = "tests/hil/test_cutoffs.py"
CALIBRATION = "tests/hil/test_calibration.py::test_calibration_passes"
HEALTHY = "healthy"


@dataclass(frozen=True)
class FaultCase:
    requirements: frozenset[str]  # the requirements that must fail, and only they
    tests: tuple[str, ...]  # what the run selects


CALIBRATION_ONLY = frozenset({"calibration"})


def _tests_for(fault: str) -> tuple[str, ...]:
    """The calibration test always (the cut-off suite then judges the unit it calibrated, at no extra
    cost); the cut-off suite too, unless the fault is in the calibration itself (then the unit is not
    calibrated and the cut-off suite would only say so again)."""
    return (CALIBRATION,) if violated_requirements(fault) == CALIBRATION_ONLY else (CALIBRATION, CUTOFFS)


FAULT_CASES: dict[str, FaultCase] = {
    HEALTHY: FaultCase(frozenset(), (CALIBRATION, CUTOFFS)),
    **{fault: FaultCase(violated_requirements(fault), _tests_for(fault)) for fault in sorted(ALL_FAULTS)},
}
# The reference first: the rotation starts there. The healthy unit runs on HEALTHY_VARIANT only: on the
# reference it is judged by the same session's own HIL suites (test_calibration, test_cutoffs).
VARIANTS = (0, 5, 2)
HEALTHY_VARIANT = 5


def proof_runs() -> list[tuple[str, int]]:
    """(case, variant) of every run: the healthy unit on HEALTHY_VARIANT, each fault
    on one variant in rotation."""
    runs = [(HEALTHY, HEALTHY_VARIANT)]
    faults = sorted(set(FAULT_CASES) - {HEALTHY})
    runs += [(fault, VARIANTS[k % len(VARIANTS)]) for k, fault in enumerate(faults)]
    return runs


def run_id(fault: str, variant: int) -> str:
    return f"{fault}@variant{variant}"


# Two runs at a time; one under pytest-xdist, whose other worker already loads the second core (a
# starved rig misses its unit's watchdog: !WDOG, seen with three suites at once on two cores).
PARALLEL_RUNS = 1 if os.environ.get("PYTEST_XDIST_WORKER") else 2
RUN_TIMEOUT_S = 240.0


@dataclass(frozen=True)
class RunOutcome:
    fault: str
    returncode: int
    tests: int
    failing: frozenset[str]
    seen: frozenset[str]  # every requirement the run gave a verdict on
    output: str


def run_with_fault(fault: str, case: FaultCase, work: Path, variant: int = 0) -> RunOutcome:
    name = run_id(fault, variant)
    junit = work / f"{name}.xml"
    command = [sys.executable, "-m", "pytest", *case.tests, "-q", "-p", "no:cacheprovider",
               "--junitxml", str(junit), "--db", f"sqlite:///{work / f'{name}.sqlite'}"]
    if fault != HEALTHY:
        command += ["--bench-fault", fault]
    if variant:
        command += ["--bench-variant", str(variant)]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    output = (done.stdout + done.stderr)[-4000:]
    if not junit.exists():
        return RunOutcome(fault, done.returncode, 0, frozenset(), frozenset(), output)
    found = suite_verdicts(junit)
    tests, failing, seen = found.tests, found.failing, found.seen
    return RunOutcome(fault, done.returncode, tests, failing, seen, output)


@pytest.fixture(scope="module")
def fault_runs(pytestconfig, tmp_path_factory) -> dict[tuple[str, int], Future[RunOutcome]]:
    if pytestconfig.getoption("station"):
        pytest.skip("the fault proof switches faults on in the virtual bench; a real station has none")
    work = tmp_path_factory.mktemp("fault_proof")
    with ThreadPoolExecutor(PARALLEL_RUNS) as pool:
        futures = {(fault, variant): pool.submit(run_with_fault, fault, FAULT_CASES[fault], work, variant)
                   for fault, variant in proof_runs()}
        yield futures
        for future in futures.values():
            future.cancel()


def test_every_bench_fault_has_a_case():
    assert set(FAULT_CASES) - {HEALTHY} == set(ALL_FAULTS)


def test_every_case_runs_and_every_variant_carries_faults():
    runs = proof_runs()
    assert {fault for fault, _ in runs} == set(FAULT_CASES)
    assert {variant for fault, variant in runs if fault == HEALTHY} == {HEALTHY_VARIANT}
    assert {variant for fault, variant in runs if fault != HEALTHY} == set(VARIANTS)


@pytest.mark.parametrize(("fault", "variant"), proof_runs(), ids=[run_id(*run) for run in proof_runs()])
def test_fault_fails_its_requirement_and_no_other(fault_runs, fault, variant):
    outcome = fault_runs[(fault, variant)].result(timeout=RUN_TIMEOUT_S * len(fault_runs))
    expected = FAULT_CASES[fault].requirements
    assert outcome.tests > 0, f"{run_id(fault, variant)}: no test ran\n{outcome.output}"
    assert expected <= outcome.seen or fault == HEALTHY, f"{run_id(fault, variant)}: {sorted(expected)} never judged"
    assert outcome.failing == expected, (
        f"{run_id(fault, variant)}: failing {sorted(outcome.failing)}, expected {sorted(expected)}\n{outcome.output}")
