"""`rig bench --unit-errors`: explicit errors reach the unit's circuit; bad ones are refused in one line."""

from __future__ import annotations

import subprocess
import sys

from rig.bench.launcher import VirtualBench
from rig.bench.unit_errors import UnitErrors


def test_explicit_errors_replace_the_seeded_ones() -> None:
    with VirtualBench(slots=2, seed=3, with_units=False, unit_errors=UnitErrors.corner(6)) as bench:
        assert [s.circuit.errors for s in bench.slots] == [UnitErrors.corner(6)] * 2


def test_bad_unit_errors_are_refused_with_exit_2() -> None:
    for text in ("corner:99", '{"pos": 1}'):
        result = subprocess.run([sys.executable, "-m", "rig.bench", "--unit-errors", text],
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 2
        assert result.stderr.startswith("rig bench: error: unit errors:")
        assert len(result.stderr.strip().splitlines()) == 1
        assert result.stdout == ""


def test_unit_errors_and_the_uncorrectable_fault_conflict() -> None:
    result = subprocess.run([sys.executable, "-m", "rig.bench", "--unit-errors", "corner:0",
                             "--fault", "uncorrectable"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "choose one" in result.stderr
