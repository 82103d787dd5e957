"""The cut-off suites' trace analysis on synthetic traces with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rig.procedures.cutoffs import trace_analysis as ta

T = np.arange(0, 1.0, 0.001)


def test_crossing_time_interpolates_between_samples():
    y = 2.0 * T  # reaches 1.0 at 0.5 s
    assert ta.crossing_time(T, y, 1.0005, rising=True) == pytest.approx(0.50025, abs=1e-9)


def test_crossing_time_falling_after_a_given_instant_and_never():
    y = np.where(T < 0.5, 1.0, 0.0)
    assert 0.499 <= ta.crossing_time(T, y, 0.5, rising=False, after_s=0.1) <= 0.5
    assert math.isnan(ta.crossing_time(T, y, 2.0, rising=True))


def test_fit_line_recovers_slope_and_its_standard_error():
    rng = np.random.default_rng(1)
    y = 0.2 + 5.0 * T + rng.normal(0, 0.003, T.size)
    fit = ta.fit_line(T, y)
    assert fit.slope == pytest.approx(5.0, abs=4 * fit.slope_stderr)
    assert fit.slope_stderr == pytest.approx(0.003 / math.sqrt(np.sum((T - T.mean()) ** 2)), rel=0.1)
    assert fit.value_stderr(T.mean()) < fit.value_stderr(10.0)


def test_fit_between_levels_uses_only_the_ramp():
    y = np.clip(3.0 * (T - 0.2), 0.0, 1.5)  # ramp from 0.2 s to 0.7 s, plateau after
    fit = ta.fit_between_levels(T, y, 0.15, 1.35, rising=True)
    assert fit.slope == pytest.approx(3.0, rel=1e-6)
    assert fit.time_of(0.0) == pytest.approx(0.2, abs=1e-6)
    with pytest.raises(ValueError):
        ta.fit_between_levels(T, y, 0.1, 2.0, rising=True)


def test_overshoot_size_and_duration():
    reference = np.full(T.size, 1.0)
    y = reference + np.where((T >= 0.3) & (T < 0.32), 0.6, 0.0)
    found = ta.overshoot(T, y, reference, 0.05)
    assert found.peak == pytest.approx(0.6)
    assert found.peak_s == pytest.approx(0.3, abs=1e-3)
    assert found.duration_s == pytest.approx(0.02, abs=1.5e-3)


def test_downsample_keeps_extremes():
    y = np.zeros(T.size)
    y[537] = 9.0
    summary = ta.downsample(T, y, 100)
    assert len(summary["values"]) <= 100
    assert max(summary["values"]) == 9.0


def test_value_at_and_local_slope():
    y = 4.0 * T
    assert ta.value_at(T, y, 0.25) == pytest.approx(1.0)
    assert math.isnan(ta.value_at(T, y, 2.0))
    assert ta.local_slope(T, y, 0.5, 0.01) == pytest.approx(4.0)


def test_a_rig_triggered_trace_keeps_only_what_was_recorded_since_initiation():
    from rig.instruments.analyzer import Trace
    from rig.procedures.cutoffs.context import since_initiated

    current = np.arange(100, dtype=float)  # sample k at (k - 80) ms: 80 pre-trigger samples at 1 ms
    trace = Trace(0.001, 80, current, current * 2.0)
    kept = since_initiated(trace, 0.0305)  # initiated 30.5 ms before the trigger
    assert kept.pretrigger_points == 30
    assert kept.time_s[0] == pytest.approx(-0.030) and kept.time_s[-1] == pytest.approx(0.019)
    assert kept.current_a[0] == 50.0 and kept.voltage_v[0] == 100.0
    assert since_initiated(trace, 1.0).pretrigger_points == 80  # initiated long before: all kept


def test_suite_steps_cover_every_cutoff_requirement_once_per_test():
    from rig.procedures.cutoffs.context import requirements
    from rig.procedures.cutoffs.suite import suite_steps
    from rig.spec import load_spec

    spec = load_spec()
    steps = suite_steps(spec)
    assert {s.requirement for s in steps} == set(requirements(spec))
    assert len({s.name for s in steps}) == len(steps)
