"""Decision rules (ILAC-G8:09/2019): guard band w = U, simple acceptance, boundaries, TUR."""

import math

import pytest

from rig.metrology.decision import (
    MIN_TUR,
    DecisionRule,
    Verdict,
    decide,
    test_uncertainty_ratio,
    worst_verdict,
)
from rig.spec import load_spec

GUARD = DecisionRule.GUARD_BAND
SIMPLE = DecisionRule.SIMPLE
SETPOINT_MA = 10.0


@pytest.fixture(scope="module")
def tolerance_ma() -> float:
    return load_spec().dc_accuracy.tolerance_ma(SETPOINT_MA)


def test_error_inside_limit_but_within_u_is_not_a_plain_pass(tolerance_ma):
    expanded_ma = 0.0122
    error_ma = tolerance_ma - expanded_ma / 2  # inside the limit, closer to it than U
    decision = decide(error_ma, lower=-tolerance_ma, upper=tolerance_ma,
                      expanded_uncertainty=expanded_ma, rule=GUARD)
    assert decision.verdict is Verdict.CONDITIONAL_PASS
    assert not decision.passed
    assert decision.margin == pytest.approx(expanded_ma / 2)
    # The same point under simple acceptance is a plain PASS: the rule is what decides.
    assert decide(error_ma, lower=-tolerance_ma, upper=tolerance_ma,
                  expanded_uncertainty=expanded_ma, rule=SIMPLE).passed


# Limits ±1 and U = 0.25: binary fractions, so the boundary values are exact in floating point.
@pytest.mark.parametrize(
    ("measured", "verdict"),
    [
        (0.0, Verdict.PASS),
        (0.7, Verdict.PASS),
        (0.75, Verdict.PASS),               # exactly U inside: the acceptance zone is closed
        (0.875, Verdict.CONDITIONAL_PASS),
        (1.0, Verdict.CONDITIONAL_PASS),    # exactly on the limit: inside (limits inclusive)
        (1.125, Verdict.CONDITIONAL_FAIL),
        (1.25, Verdict.FAIL),               # exactly U outside: the rejection zone is closed
        (5.0, Verdict.FAIL),
        (-0.875, Verdict.CONDITIONAL_PASS),
        (-1.125, Verdict.CONDITIONAL_FAIL),
        (-1.5, Verdict.FAIL),
    ],
)
def test_guard_band_zones(measured, verdict):
    decision = decide(measured, lower=-1.0, upper=1.0, expanded_uncertainty=0.25, rule=GUARD)
    assert decision.verdict is verdict
    assert decision.passed is (verdict is Verdict.PASS)
    assert decision.guard_band == 0.25


@pytest.mark.parametrize(
    ("measured", "verdict"),
    [(0.9, Verdict.PASS), (1.0, Verdict.PASS), (-1.0, Verdict.PASS), (1.0001, Verdict.FAIL),
     (-1.5, Verdict.FAIL)],
)
def test_simple_acceptance_limits_inclusive(measured, verdict):
    decision = decide(measured, lower=-1.0, upper=1.0, expanded_uncertainty=0.2, rule=SIMPLE)
    assert decision.verdict is verdict
    assert decision.guard_band == 0.0
    assert "simple acceptance" in decision.describe()


def test_guard_band_with_zero_uncertainty_is_simple_acceptance():
    assert decide(1.0, lower=-1.0, upper=1.0, expanded_uncertainty=0.0, rule=GUARD).passed
    assert decide(1.01, lower=-1.0, upper=1.0, expanded_uncertainty=0.0,
                  rule=GUARD).verdict is Verdict.FAIL


def test_one_sided_limit_and_no_limit():
    residual = decide(4.0, lower=None, upper=10.0, expanded_uncertainty=1.0, rule=GUARD)
    assert residual.verdict is Verdict.PASS and residual.margin == 6.0
    assert residual.tur is None and not residual.low_tur
    near = decide(9.5, lower=None, upper=10.0, expanded_uncertainty=1.0, rule=GUARD)
    assert near.verdict is Verdict.CONDITIONAL_PASS
    floor = decide(-3.0, lower=0.0, upper=None, expanded_uncertainty=1.0, rule=GUARD)
    assert floor.verdict is Verdict.FAIL and floor.margin == -3.0
    none = decide(4.0, lower=None, upper=None, expanded_uncertainty=1.0, rule=GUARD)
    assert none.verdict is Verdict.NOT_APPLICABLE and math.isinf(none.margin)
    assert not none.passed


def test_nan_measurement_fails():
    decision = decide(math.nan, lower=-1.0, upper=1.0, expanded_uncertainty=0.1, rule=SIMPLE)
    assert decision.verdict is Verdict.FAIL


def test_tur_two_sided_one_sided_and_low_flag():
    # ±0.15 mA tolerance, U = 0.0122 mA: TUR = 0.15 / 0.0122 = 12.295
    assert test_uncertainty_ratio(-0.15, 0.15, 0.0122) == pytest.approx(12.2951, rel=1e-4)
    assert test_uncertainty_ratio(None, 10.0, 1.0) is None
    assert test_uncertainty_ratio(None, 10.0, 1.0, nominal=0.0) == 10.0
    assert test_uncertainty_ratio(2.0, None, 0.5, nominal=4.0) == 4.0
    assert test_uncertainty_ratio(-1.0, 1.0, 0.0) == math.inf
    low = decide(0.0, lower=-1.0, upper=1.0, expanded_uncertainty=0.3, rule=GUARD)
    assert low.tur == pytest.approx(1 / 0.3) and low.tur < MIN_TUR and low.low_tur
    exact = decide(0.0, lower=-1.0, upper=1.0, expanded_uncertainty=0.25, rule=GUARD)
    assert exact.tur == MIN_TUR and not exact.low_tur


def test_invalid_inputs_are_refused():
    with pytest.raises(ValueError):
        decide(0.0, lower=-1.0, upper=1.0, expanded_uncertainty=-0.1, rule=GUARD)
    with pytest.raises(ValueError):
        decide(0.0, lower=1.0, upper=-1.0, expanded_uncertainty=0.1, rule=GUARD)


def test_rule_accepts_its_printed_name_and_verdicts_print_plainly():
    decision = decide(0.0, lower=-1.0, upper=1.0, expanded_uncertainty=0.1,
                      rule="guard band w = U")
    assert decision.rule is GUARD
    assert str(Verdict.CONDITIONAL_PASS) == "CONDITIONAL PASS"


def test_worst_verdict_of_a_requirement():
    assert worst_verdict([Verdict.PASS, Verdict.CONDITIONAL_PASS]) is Verdict.CONDITIONAL_PASS
    assert worst_verdict([Verdict.PASS, Verdict.FAIL, Verdict.CONDITIONAL_FAIL]) is Verdict.FAIL
    assert worst_verdict([Verdict.NOT_APPLICABLE]) is Verdict.NOT_APPLICABLE
    assert worst_verdict([Verdict.PASS, Verdict.NOT_APPLICABLE]) is Verdict.PASS
