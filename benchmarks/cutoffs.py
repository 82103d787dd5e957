"""Time of the whole cut-off suite on one unit against the floor the spec makes unavoidable.

Runs `pytest tests/hil/test_cutoffs.py` on a fresh virtual bench (a subprocess, like the line would),
sums the suite's test times from its junit file (set-up, call and teardown of every test; not the
interpreter's start nor the bench's), and compares them with the floor: the ramp times, detection
windows and the timer that a conforming unit needs at the suite's own parameters, computed from the
spec and the procedures' constants (never typed here). Issue 4 asks for ratio <= 1.3.

Run: python benchmarks/cutoffs.py. The last line is `suite_s=… floor_s=… ratio=…`.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

from rig.procedures.cutoffs import overcurrent, ramp, recovery, timer
from rig.spec import ProductSpec, load_spec

REPO = Path(__file__).resolve().parents[1]
SUITE = "tests/hil/test_cutoffs.py"
MA_PER_A = 1000.0


def floor_s(spec: ProductSpec) -> dict[str, float]:
    """What a conforming unit needs at the suite's parameters, per behaviour (s)."""
    rate_max = spec.ramp.rate_max_ma_per_s
    compliance_ma = spec.compliance.v_max_nominal_v / recovery.HIGH_LOAD_OHM * MA_PER_A
    per_event = spec.overcurrent.persist_s + spec.overcurrent.off_within_s
    return {
        # The shortest session, with its own soft start and soft stop.
        "timer": timer.session_s(spec) + 2 * timer.SETPOINT_MA / rate_max,
        # Up and down at every tested rate, to each test's plateau.
        "ramps": sum(2 * ramp.setpoint_for(spec, r) / r for r in ramp.rates(spec)),
        # Soft start into compliance, then the re-ramp to the setpoint after the load step.
        "recovery": compliance_ma / rate_max + (recovery.SETPOINT_MA - compliance_ma) / rate_max,
        "loss_of_contact": spec.loss_of_contact.persist_s + spec.loss_of_contact.off_within_s,
        "overcurrent": len(overcurrent.SETPOINTS_MA) * per_event,
    }


def suite_times(junit: Path) -> dict[str, float]:
    """Seconds per test function (parameters summed)."""
    times: dict[str, float] = defaultdict(float)
    for case in ET.parse(junit).getroot().iter("testcase"):
        times[case.get("name", "").split("[")[0]] += float(case.get("time", 0.0))
    return dict(times)


def main() -> int:
    spec = load_spec()
    with tempfile.TemporaryDirectory() as tmp:
        junit = Path(tmp) / "cutoffs.xml"
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "pytest", SUITE, "-q", "-p", "no:cacheprovider", "--junitxml", str(junit),
             "--db", f"sqlite:///{tmp}/bench.sqlite"], cwd=REPO, capture_output=True, text=True)
        wall_s = time.monotonic() - started
        if not junit.exists():
            print(done.stdout[-3000:], done.stderr[-3000:])
            return 1
        times = suite_times(junit)
    floors = floor_s(spec)
    for name, seconds in sorted(times.items(), key=lambda item: -item[1]):
        print(f"test {name}: {seconds:.2f} s")
    for name, seconds in floors.items():
        print(f"floor {name}: {seconds:.2f} s")
    suite, floor = sum(times.values()), sum(floors.values())
    print(f"pytest exit={done.returncode} wall_s={wall_s:.1f} (with interpreter and bench start)")
    print(f"suite_s={suite:.1f} floor_s={floor:.1f} ratio={suite / floor:.2f}")
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
