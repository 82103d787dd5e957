"""The verdict matrix: does the rig accept every healthy unit and reject every faulty one, on several
implementation variants of the two documents?

    python benchmarks/verdicts.py [--variants N] [--parallel 2] [--cases NAME,...]

For each case (healthy units: typical, at the stated uncalibrated maxima, each polarity's worst corner;
every fault the virtual bench can switch on) and each bench variant (seeds 1..N, `rig bench --variant`):
- the main job, `rig calibrate` on an embedded virtual bench; its failing requirements are read from the
  results store (as-left requirement verdicts, or the calibration row when the job FAILs before as left);
- the HIL suites under pytest: the calibration test and the cut-off suite on the unit it calibrated
  (the accuracy suite re-measures the as-left grid that the main job and the calibration test judge
  already); their failing requirements are read from the junit file (fixtures/junit_verdicts.py).
One row per case and variant: the requirements expected to fail, those the rig failed, false accepts
(expected, not failed: a faulty unit would leave the line) and false rejects (failed, not expected: a
healthy unit scrapped or a requirement blamed for another's fault). A run that ended in an error is a
false reject for a healthy unit and leaves a faulty unit's requirement unjudged (counted apart).
Last line: `cases=… false_accepts=… false_rejects=… unjudged=…`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from fixtures.junit_verdicts import CALIBRATION_REQUIREMENT, suite_verdicts  # noqa: E402
from rig.bench.faults import ALL_FAULTS, violated_requirements  # noqa: E402
from rig.records.store import ResultsStore  # noqa: E402

CALIBRATION_TEST = "tests/hil/test_calibration.py::test_calibration_passes"
CUTOFF_SUITE = "tests/hil/test_cutoffs.py"
RUN_TIMEOUT_S = 600.0
# Healthy units at the stated uncalibrated maxima (`rig bench --unit-errors corner:<i>`; index bits: POS
# direction, POS bow, NEG direction, NEG bow, a set bit negative): every error high on both polarities,
# every error low, and each polarity at its worst high while the other errs low.
HEALTHY_CORNERS = {"maxima-high": "corner:0", "maxima-low": "corner:15", "pos-worst": "corner:12",
                   "neg-worst": "corner:3"}


@dataclass(frozen=True)
class Case:
    name: str
    bench_args: tuple[str, ...]
    expected: frozenset[str]

    @property
    def hil_suites(self) -> tuple[str, ...]:
        """The calibration test, then the cut-off suite on the unit it calibrated; only the former
        where the fault is in the calibration itself (the cut-off suite would only repeat it)."""
        if self.expected == {CALIBRATION_REQUIREMENT}:
            return (CALIBRATION_TEST,)
        return (CALIBRATION_TEST, CUTOFF_SUITE)


@dataclass(frozen=True)
class Row:
    case: Case
    variant: int
    failed: frozenset[str]
    errors: tuple[str, ...]
    seconds: float

    @property
    def false_accepts(self) -> frozenset[str]:
        return self.case.expected - self.failed if not self.errors else frozenset()

    @property
    def unjudged(self) -> frozenset[str]:
        return self.case.expected - self.failed if self.errors else frozenset()

    @property
    def false_rejects(self) -> frozenset[str]:
        wrong = self.failed - self.case.expected
        if self.errors and not self.case.expected:
            wrong |= {"error"}
        return wrong


def cases() -> list[Case]:
    healthy = [Case("healthy-typical", (), frozenset())]
    healthy += [Case(f"healthy-{name}", ("--bench-unit-errors", spec), frozenset())
                for name, spec in HEALTHY_CORNERS.items()]
    faults = [Case(f"fault-{name}", ("--bench-fault", name), violated_requirements(name))
              for name in sorted(ALL_FAULTS)]
    return healthy + faults


def run_main_job(case: Case, variant: int, work: Path) -> tuple[frozenset[str], list[str]]:
    db = work / "main.sqlite"
    command = [sys.executable, "-m", "rig.cli", "calibrate", "--db", f"sqlite:///{db}",
               "--calibrations", str(work / "calibrations"), "--reports", str(work / "reports"),
               "--bench-variant", str(variant), *case.bench_args]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=RUN_TIMEOUT_S,
                          env=os.environ | {"PYTHONPATH": str(REPO)})
    if done.returncode not in (0, 1):
        return frozenset(), [f"main job exit {done.returncode}: {(done.stdout + done.stderr).strip()[-300:]}"]
    with ResultsStore(f"sqlite:///{db}") as store:
        run = store.runs(kind="calibrate", limit=1)[0]
        failing = {v["requirement"] for v in store.requirement_verdicts(run["id"]) if v["verdict"] != "PASS"}
    if run["verdict"] == "FAIL" and not failing:
        failing = {CALIBRATION_REQUIREMENT}
    return frozenset(failing), []


def run_hil(case: Case, variant: int, work: Path) -> tuple[frozenset[str], list[str]]:
    junit = work / "hil.xml"
    command = [sys.executable, "-m", "pytest", *case.hil_suites, "-q", "-p", "no:cacheprovider",
               "--junitxml", str(junit), "--db", f"sqlite:///{work / 'hil.sqlite'}",
               "--bench-variant", str(variant), *case.bench_args]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=RUN_TIMEOUT_S,
                          env=os.environ | {"PYTHONPATH": str(REPO)})
    if not junit.exists():
        return frozenset(), [f"HIL exit {done.returncode}, no junit: {(done.stdout + done.stderr)[-300:]}"]
    verdicts = suite_verdicts(junit)
    unattributed = sorted(k for k in verdicts.failing if k.startswith("unattributed:"))
    return frozenset(k for k in verdicts.failing if not k.startswith("unattributed:")), unattributed


def run_case(case: Case, variant: int, root: Path) -> Row:
    work = root / f"{case.name}-v{variant}"
    work.mkdir(parents=True)
    start = time.monotonic()
    errors: list[str] = []
    failed: set[str] = set()
    for runner in (run_main_job, run_hil):
        try:
            found, problems = runner(case, variant, work)
        except subprocess.TimeoutExpired as exc:
            found, problems = frozenset(), [f"{runner.__name__} timed out after {exc.timeout:.0f} s"]
        failed |= found
        errors += problems
    return Row(case, variant, frozenset(failed), tuple(errors), time.monotonic() - start)


def _names(keys: frozenset[str]) -> str:
    return ",".join(sorted(keys)) or "-"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", type=int, default=1, help="bench variants 1..N (default 1)")
    parser.add_argument("--parallel", type=int, default=2, help="cases run at once (default 2)")
    parser.add_argument("--cases", default=None, help="comma-separated case names (default: all)")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows as JSON here")
    args = parser.parse_args(argv)
    chosen = cases()
    if args.cases:
        wanted = set(args.cases.split(","))
        unknown = wanted - {c.name for c in chosen}
        if unknown:
            parser.error(f"unknown case(s) {', '.join(sorted(unknown))}; known: {', '.join(c.name for c in chosen)}")
        chosen = [c for c in chosen if c.name in wanted]
    jobs = [(case, variant) for variant in range(1, args.variants + 1) for case in chosen]
    print(f"{'case':34} {'variant':>7} {'expected':22} {'failed':30} {'false accept':14} {'false reject':14} {'s':>5}")
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="rig-verdicts-") as tmp, ThreadPoolExecutor(args.parallel) as pool:
        for row in pool.map(lambda job: run_case(job[0], job[1], Path(tmp)), jobs):
            rows.append(row)
            print(f"{row.case.name:34} {row.variant:>7} {_names(row.case.expected):22} {_names(row.failed):30} "
                  f"{_names(row.false_accepts):14} {_names(row.false_rejects):14} {row.seconds:5.0f}", flush=True)
            for problem in row.errors:
                print(f"    error: {problem}", flush=True)
    if args.json:
        args.json.write_text(json.dumps([{
            "case": r.case.name, "variant": r.variant, "expected": sorted(r.case.expected),
            "failed": sorted(r.failed), "errors": list(r.errors), "seconds": round(r.seconds, 1)} for r in rows],
            indent=2))
    false_accepts = sum(bool(r.false_accepts) for r in rows)
    false_rejects = sum(bool(r.false_rejects) for r in rows)
    unjudged = sum(bool(r.unjudged) for r in rows)
    print(f"cases={len(rows)} false_accepts={false_accepts} false_rejects={false_rejects} unjudged={unjudged}")
    return 0 if false_accepts == false_rejects == unjudged == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
