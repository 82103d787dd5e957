"""Bench variants: every seed draws inside the documents' room; the parts act on what was drawn."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rig.bench.analyzer import _HIGH, _LOW, _VOLT, MeterErrors
from rig.bench.firmware_output import OutputRamp
from rig.bench.load import GAIN_ERROR_MAX, OFFSET_ERROR_MAX_OHM
from rig.bench.pty_port import BAUD, BITS_PER_BYTE
from rig.bench.unit_errors import OUTPUT_NOISE_MA_RMS
from rig.bench.variant import TINT_BASE_S, BenchVariant
from rig.dut.protocol import REPLY_WITHIN_S
from rig.spec import load_spec

SPEC = load_spec()
BYTE_S = BITS_PER_BYTE / BAUD
LONGEST_REPLY_BYTES = 256


@given(st.integers(min_value=1, max_value=2**40))
@settings(max_examples=300, deadline=None)
def test_every_seed_draws_inside_the_documents(seed):
    v = BenchVariant.from_seed(seed)
    assert v.seed == seed
    assert 0.001 <= v.control_period_s <= 0.005
    assert 0.0 <= v.ramp_step_ma <= SPEC.setpoint.resolution_ma
    assert v.reply_latency_base_s >= 0 and v.reply_latency_jitter_s >= 0
    # The longest latency plus the longest reply's line time ends inside the protocol's 100 ms.
    for frame_bytes in (8, 40, LONGEST_REPLY_BYTES):
        worst_s = min(v.reply_latency_base_s + v.reply_latency_jitter_s, v.latency_cap_s(frame_bytes, BYTE_S))
        assert worst_s + frame_bytes * BYTE_S < REPLY_WITHIN_S
    assert 0.0 <= v.event_first_probability <= 1.0
    assert v.servo_snap_headroom_ma <= SPEC.compliance_recovery.overshoot_max_ma / 2
    assert v.servo_ma_per_s * v.control_period_s <= 0.1  # servo dither per period, mA
    assert 0 < v.unit_noise_ma_rms <= OUTPUT_NOISE_MA_RMS
    assert 0 <= v.reading_noise_ma_rms <= 0.1 * SPEC.reading_current.abs_ma
    assert 0 < v.analyzer_noise_fraction <= 1.0
    assert 0.0 <= v.instrument_error_extremity <= 1.0
    assert v.tint_base_s in (0.0, TINT_BASE_S / 2, TINT_BASE_S)


@given(st.integers(min_value=1, max_value=2**40), st.floats(min_value=20.48e-6, max_value=1.0))
@settings(max_examples=200, deadline=None)
def test_a_rounded_interval_stays_in_range_and_near_the_asked_one(seed, asked_s):
    v = BenchVariant.from_seed(seed)
    got_s = v.interval_s(asked_s)
    assert got_s >= TINT_BASE_S * (1 - 1e-12)
    assert abs(got_s - asked_s) <= max(v.tint_base_s / 2, 0.0) + 1e-15
    if v.tint_base_s:
        assert math.isclose(got_s / v.tint_base_s, round(got_s / v.tint_base_s), abs_tol=1e-6)


def test_seed_zero_and_none_are_the_reference_and_seeds_repeat():
    assert BenchVariant.from_seed(0) == BenchVariant.from_seed(None) == BenchVariant.reference()
    assert BenchVariant.from_seed(7) == BenchVariant.from_seed(7)
    assert BenchVariant.from_seed(7) != BenchVariant.from_seed(8)
    assert BenchVariant.reference().interval_s(100e-6) == 100e-6
    assert BenchVariant.from_seed(7).describe()["seed"] == 7
    with pytest.raises(ValueError, match="seed"):
        BenchVariant.from_seed(-1)


def test_the_seeds_cover_the_room():
    """Across seeds, each detail takes more than one value (a variant that never varies tests nothing)."""
    drawn = [BenchVariant.from_seed(seed) for seed in range(1, 60)]
    assert {v.control_period_s for v in drawn} == {0.001, 0.002, 0.003, 0.004, 0.005}
    assert len({v.ramp_step_ma for v in drawn}) > 2
    assert len({v.tint_base_s for v in drawn}) == 3
    assert max(v.reply_latency_base_s + v.reply_latency_jitter_s for v in drawn) > 0.06


@given(st.integers(min_value=0, max_value=2**31), st.sampled_from([0.0, 0.5, 0.9]))
@settings(max_examples=100, deadline=None)
def test_instrument_errors_lie_inside_their_accuracy_and_toward_its_corners(seed, extremity):
    meter = MeterErrors.from_seed(seed, extremity)
    for (gain, offset), figures in ((meter.low, _LOW), (meter.high, _HIGH), (meter.volt, _VOLT)):
        assert extremity * figures["gain"] <= abs(gain) <= figures["gain"]
        assert extremity * figures["offset"] <= abs(offset) <= figures["offset"]
    assert GAIN_ERROR_MAX > 0 and OFFSET_ERROR_MAX_OHM > 0


def test_ramp_steps_lag_the_exact_ramp_by_less_than_a_step_and_reach_the_target():
    ramp = OutputRamp(reramp_enabled=True, snap_headroom_ma=0.25, floor_ma=0.1, step_ma=0.05)
    driven = []
    while not ramp.advance(1.23, 1.0, 0.001):
        driven.append(ramp.output_ma)
        assert ramp.level_ma - 0.05 < ramp.output_ma <= ramp.level_ma
    assert ramp.output_ma == 1.23
    steps = np.unique(np.round(driven, 9))
    assert np.allclose(np.diff(steps), 0.05)  # a staircase of 0.05 mA, not a continuous ramp
    while not ramp.advance(0.0, 1.0, 0.001):
        assert ramp.level_ma <= ramp.output_ma < ramp.level_ma + 0.05
    assert ramp.output_ma == 0.0
