"""The slot physics against the contract, on a hand-driven clock (no sleeping)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rig.bench.physics import (
    DAC_NOMINAL_COUNTS_PER_MA,
    FULL_SCALE_MA,
    SlotCircuit,
    UnitErrors,
)
from rig.spec import load_spec

SPEC = load_spec()
TAU_S = 0.002
V_MAX_V = SPEC.compliance.v_max_nominal_v
SETTLED_S = 20 * TAU_S


class FakeClock:
    def __init__(self) -> None:
        self.t_s = 1000.0

    def __call__(self) -> float:
        return self.t_s

    def advance(self, dt_s: float) -> float:
        self.t_s += dt_s
        return self.t_s


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def errors() -> UnitErrors:
    return UnitErrors.from_seed(7)


@pytest.fixture
def circuit(errors: UnitErrors, clock: FakeClock) -> SlotCircuit:
    c = SlotCircuit(errors, seed=7, v_max_v=V_MAX_V, settle_tau_s=TAU_S, clock=clock)
    c.set_load(1000.0)
    return c


def expected_ma(errors: UnitErrors, code: int, polarity: str = "POS") -> float:
    err = errors.pos if polarity == "POS" else errors.neg
    nominal = code / DAC_NOMINAL_COUNTS_PER_MA
    x = nominal / FULL_SCALE_MA
    bow = err.output_bow_ma * 4 * x * (1 - x)
    return nominal * (1 + err.output_gain) + err.output_offset_ma + bow


def test_errors_are_deterministic_and_within_the_uncalibrated_maxima() -> None:
    unc = SPEC.uncalibrated
    for seed in range(50):
        e = UnitErrors.from_seed(seed)
        assert e == UnitErrors.from_seed(seed)
        for p in (e.pos, e.neg):
            assert abs(p.output_gain) <= unc.output_gain_pct / 100
            assert abs(p.output_offset_ma) <= unc.output_offset_ma
            assert abs(p.reading_gain) <= unc.reading_gain_pct / 100
            assert abs(p.reading_offset_ma) <= unc.reading_offset_ma
            assert abs(p.output_bow_ma) <= unc.bow_pct_of_full_scale / 100 * FULL_SCALE_MA
        assert 0 <= e.residual_ua <= 3.0
    assert UnitErrors.from_seed(1) != UnitErrors.from_seed(2)


def test_scaled_errors_cannot_be_corrected_within_the_calibration_bounds() -> None:
    nominal = SPEC.calibration_nominal.dac_gain
    for seed in range(20):
        e = UnitErrors.from_seed(seed, scale=6)
        for p in (e.pos, e.neg):
            assert SPEC.calibration_bounds.violations(dac_gain=nominal / (1 + p.output_gain))


def test_settled_current_follows_the_error_model(circuit, clock, errors) -> None:
    code = 1200
    circuit.set_dac(code, "POS")
    clock.advance(SETTLED_S)
    assert circuit.current_a() * 1000 == pytest.approx(expected_ma(errors, code), abs=1e-6)
    assert circuit.voltage_v() == pytest.approx(circuit.current_a() * 1000.0)
    assert not circuit.in_compliance()


def test_step_settles_with_a_first_order_lag(circuit, clock, errors) -> None:
    start = circuit.current_a() * 1000
    t0 = clock.t_s
    circuit.set_dac(1200, "POS")
    clock.advance(SETTLED_S)
    target = expected_ma(errors, 1200)
    for n_tau in (0.5, 1.0, 2.0, 5.0):
        got = circuit.current_a(t0 + n_tau * TAU_S) * 1000
        assert got == pytest.approx(target + (start - target) * math.exp(-n_tau), rel=1e-9)


def test_negative_polarity_reverses_current_and_voltage(circuit, clock, errors) -> None:
    circuit.set_dac(1200, "NEG")
    clock.advance(SETTLED_S)
    assert circuit.current_a() * 1000 == pytest.approx(-expected_ma(errors, 1200, "NEG"))
    assert circuit.voltage_v() < 0


def test_compliance_limits_current_into_a_large_load(circuit, clock) -> None:
    circuit.set_load(50_000.0)
    circuit.set_dac(1200, "POS")
    clock.advance(SETTLED_S)
    assert circuit.current_a() == pytest.approx(V_MAX_V / 50_000.0)
    assert circuit.voltage_v() == pytest.approx(V_MAX_V)
    assert circuit.in_compliance()


def test_open_circuit_shows_v_max_only_while_the_source_is_on(circuit, clock) -> None:
    circuit.set_load(math.inf)
    circuit.set_dac(600, "POS")
    clock.advance(SETTLED_S)
    assert circuit.current_a() == 0.0
    assert circuit.voltage_v() == pytest.approx(V_MAX_V)
    assert circuit.in_compliance()
    circuit.set_dac(0, "POS")
    clock.advance(SETTLED_S)
    assert circuit.voltage_v() == 0.0


def test_code_zero_leaves_only_the_residual_leakage(circuit, clock, errors) -> None:
    circuit.set_dac(1200, "POS")
    clock.advance(SETTLED_S)
    circuit.set_dac(0, "POS")
    clock.advance(SETTLED_S * 2)
    assert circuit.current_a() * 1e6 == pytest.approx(errors.residual_ua, abs=1e-3)


def test_scheduled_load_change_takes_effect_at_its_time(circuit, clock) -> None:
    circuit.set_dac(1200, "POS")
    clock.advance(SETTLED_S)
    switch_at = clock.t_s + 0.005
    circuit.set_load(50_000.0, at_s=switch_at)
    # A DAC change before the switch must survive into the scheduled segment.
    clock.advance(0.001)
    circuit.set_dac(60, "POS")
    clock.advance(0.004 + SETTLED_S)
    assert circuit.voltage_v(switch_at - 1e-6) < circuit.voltage_v(switch_at + SETTLED_S)
    i_after = circuit.current_a(switch_at + SETTLED_S)
    assert i_after < V_MAX_V / 50_000.0  # 0.5 mA nominal, not the earlier 10 mA clamped
    assert i_after == pytest.approx(circuit.current_a())


def test_history_evaluates_past_instants_after_later_changes(circuit, clock, errors) -> None:
    circuit.set_dac(1200, "POS")
    t_on = clock.advance(SETTLED_S)
    clock.advance(1.0)
    circuit.set_dac(2400, "POS")
    clock.advance(SETTLED_S)
    assert circuit.current_a(t_on) * 1000 == pytest.approx(expected_ma(errors, 1200))
    assert circuit.current_a() * 1000 == pytest.approx(expected_ma(errors, 2400))


def test_pulse_gate_multiplies_the_current(circuit, clock, errors) -> None:
    circuit.set_dac(1200, "POS")
    clock.advance(SETTLED_S)
    circuit.set_pulse(1000.0, duty=0.25)
    t0 = clock.t_s
    clock.advance(0.1)
    assert circuit.current_a(t0 + 0.0001) > 0.009
    assert circuit.current_a(t0 + 0.0005) == 0.0
    current_a, _ = circuit.sample(t0, 1e-5, 10_000)
    assert np.mean(current_a) * 1000 == pytest.approx(0.25 * expected_ma(errors, 1200), rel=0.01)
    circuit.set_pulse(None)
    clock.advance(SETTLED_S)
    assert circuit.current_a() * 1000 == pytest.approx(expected_ma(errors, 1200))


def test_sample_adds_the_unit_noise_and_refuses_the_future(circuit, clock, errors) -> None:
    circuit.set_dac(1200, "POS")
    t0 = clock.advance(SETTLED_S)
    clock.advance(1.0)
    current_a, voltage_v = circuit.sample(t0, 1e-4, 5000)
    assert np.std(current_a * 1000) == pytest.approx(errors.noise_ma_rms, rel=0.1)
    assert np.mean(current_a * 1000) == pytest.approx(expected_ma(errors, 1200), abs=1e-3)
    assert np.allclose(voltage_v, current_a * 1000.0)
    with pytest.raises(ValueError):
        circuit.sample(clock.t_s, 0.1, 10)


def test_adc_codes_pass_through_the_reading_errors(circuit, clock, errors) -> None:
    circuit.set_dac(1200, "POS")
    clock.advance(SETTLED_S + 0.02)
    i_ma = expected_ma(errors, 1200)
    i_code, v_code = circuit.adc_codes("POS")
    p = errors.pos
    assert i_code == pytest.approx((i_ma * (1 + p.reading_gain) + p.reading_offset_ma) / 0.0083,
                                   abs=1)
    v = i_ma  # volts into 1 kΩ
    assert v_code == pytest.approx((v * (1 + errors.voltage_gain) + errors.voltage_offset_v)
                                   / 0.0161, abs=1)


def test_output_on_seconds_counts_time_above_the_on_level(circuit, clock, errors) -> None:
    since = clock.t_s
    clock.advance(0.5)
    circuit.set_dac(1200, "POS")
    clock.advance(1.0)
    circuit.set_dac(0, "POS")
    clock.advance(0.5)
    target = expected_ma(errors, 1200)
    residual = errors.residual_ua / 1000
    rise_s = -TAU_S * math.log((0.1 - target) / (residual - target))
    fall_s = -TAU_S * math.log((0.1 - residual) / (target - residual))
    assert circuit.output_on_seconds(since) == pytest.approx(1.0 - rise_s + fall_s, abs=1e-6)
    assert circuit.output_on_seconds(clock.t_s - 0.1) == 0.0


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.set_dac(4096, "POS"),
        lambda c: c.set_dac(-1, "POS"),
        lambda c: c.set_dac(10, "UP"),
        lambda c: c.set_load(0.0),
        lambda c: c.set_pulse(100.0, duty=1.5),
    ],
)
def test_invalid_inputs_are_refused(circuit, call) -> None:
    with pytest.raises(ValueError):
        call(circuit)


_input_changes = st.lists(
    st.tuples(
        st.floats(0.0, 0.01),  # time to the change
        st.sampled_from(["dac", "pulse", "load", "v_max"]),
        st.integers(0, 4000),
        st.sampled_from(["POS", "NEG"]),
        st.one_of(st.just(math.inf), st.floats(100.0, 200_000.0)),
        st.floats(0.05, 1.0),
    ),
    min_size=1, max_size=12,
)


@given(changes=_input_changes, offsets=st.lists(st.floats(-0.005, 0.05), min_size=1, max_size=8))
@settings(max_examples=150, deadline=None)
def test_one_instant_evaluates_as_the_sample_arrays_do(changes, offsets) -> None:
    """The firmware's per-millisecond scalar path and the analyzer's vectorised one are one model."""
    clock = FakeClock()
    circuit = SlotCircuit(UnitErrors.from_seed(3), seed=3, v_max_v=V_MAX_V, settle_tau_s=TAU_S, clock=clock)
    start_s = clock.t_s
    for wait_s, what, code, polarity, load_ohm, duty in changes:
        clock.advance(wait_s)
        if what == "dac":
            circuit.set_dac(code, polarity)
        elif what == "pulse":
            circuit.set_pulse(None if code % 3 == 0 else 50.0 + code, duty)
        elif what == "load":
            circuit.set_load(load_ohm)
        else:
            circuit.set_v_max(V_MAX_V * duty)
    clock.advance(0.05)
    for offset_s in offsets:
        t_s = min(start_s + offset_s + sum(c[0] for c in changes) / 2, clock.t_s)
        current_a, voltage_v, compliant = circuit._evaluate(np.array([t_s]), noise=False)
        point = circuit.point(t_s)
        assert point.current_a == pytest.approx(float(current_a[0]), rel=1e-12, abs=1e-15)
        assert point.voltage_v == pytest.approx(float(voltage_v[0]), rel=1e-12, abs=1e-12)
        assert point.compliant == bool(compliant[0])
