"""Output current accuracy and the unit's own readings, every grid point its own named result.

Each grid point is measured once (output and readings together, one acquisition); the point is stored
when measured, and the tests give the verdicts from the spec's declared limits.
"""

from __future__ import annotations

import pytest

from fixtures.recording import assert_passed
from rig.procedures.accuracy import AccuracySweep

pytestmark = pytest.mark.accuracy


@pytest.fixture(scope="module")
def verification_sweep(calibrated_slot, spec, decision_rule, store_point):
    sweep = AccuracySweep(calibrated_slot, spec, decision_rule, "verify", store_point)
    measured: dict[str, list] = {}

    def points_at(grid_point):
        if grid_point.name not in measured:
            sweep.goto(grid_point)
            measured[grid_point.name] = sweep.measure(grid_point)
        return measured[grid_point.name]

    yield points_at
    sweep.finish()  # the module's session ends here: later suites find the unit idle


def _by_requirement(points, key):
    found = [p for p in points if p.requirement.key == key]
    assert len(found) == 1, f"expected one {key} point, got {[p.name for p in points]}"
    return found[0]


def test_output_current(grid_point, verification_sweep, report_point):
    points = verification_sweep(grid_point)
    key = "dc_accuracy" if grid_point.waveform == "DC" else "pulsed_accuracy"
    assert_passed(report_point(_by_requirement(points, key)))


def test_own_current_reading(grid_point, dc_only, verification_sweep, report_point):
    assert_passed(report_point(_by_requirement(verification_sweep(grid_point), "reading_current")))


def test_own_voltage_reading(grid_point, dc_only, verification_sweep, report_point):
    assert_passed(report_point(_by_requirement(verification_sweep(grid_point), "reading_voltage")))
