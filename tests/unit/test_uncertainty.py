"""GUM budget: hand-calculated numbers, written out, checked to the digit."""

import math

import pytest

from rig.metrology.uncertainty import (
    NORMAL,
    TYPE_A,
    Budget,
    Component,
    MeterAccuracy,
    coverage_factor,
    load_tolerance_component,
    reading_budget,
    rectangular,
)

# The analyzer's 100 mA range (instruments.md): ±(0.025 % of reading + 8 µA).
# Resolution chosen for the test: 0.1 µA = 0.0001 mA (one displayed digit).
ANALYZER_100MA = MeterAccuracy(gain_pct=0.025, offset=0.008, resolution=0.0001, unit="mA",
                               range_name="100 mA")
# Ten readings alternating 9.998 / 10.002 mA: mean 10.000, every deviation ±0.002 mA,
# s² = 10 × 0.002² / 9 = 4.444e-6 mA², s/√10 = √(4e-6/9) = 0.002/3 = 0.000666667 mA exactly.
SAMPLES_MA = [9.998, 10.002] * 5

REL = 1e-6


def test_reading_budget_hand_calculation():
    # Hand calculation (mA):
    #   meter:        half-width = 0.00025 × 10 + 0.008 = 0.0105;  u = 0.0105/√3  = 0.00606218
    #   resolution:   half-width = 0.0001/2  = 0.00005;             u = 0.00005/√3 = 0.0000288675
    #   repeatability (type A, normal): u = 0.002/3 = 0.000666667, ν = 9
    #   u_c² = 3.675e-5 + 8.3333e-10 + 4.44444e-7 = 3.7195278e-5;   u_c = 0.00609879
    #   U = 2 × u_c = 0.01219759 mA
    #   ν_eff = u_c⁴ / (u_A⁴ / 9) = 1.383488e-9 / 2.194787e-14 = 63035
    budget = reading_budget("output current", 10.0, ANALYZER_100MA, SAMPLES_MA)
    meter, resolution, repeat = budget.components

    assert ANALYZER_100MA.half_width(10.0) == pytest.approx(0.0105, rel=REL)
    assert meter.standard_uncertainty == pytest.approx(0.00606218, rel=REL)
    assert resolution.value == pytest.approx(0.00005, rel=REL)
    assert resolution.standard_uncertainty == pytest.approx(0.0000288675, rel=REL)
    assert repeat.kind == TYPE_A and repeat.distribution == NORMAL and repeat.dof == 9
    assert repeat.standard_uncertainty == pytest.approx(0.000666667, rel=REL)
    assert budget.combined_standard == pytest.approx(0.00609879, rel=REL)
    assert budget.expanded == pytest.approx(0.01219759, rel=REL)
    assert budget.effective_dof == pytest.approx(63035, rel=1e-4)


def test_budget_without_samples_has_no_type_a_line_and_infinite_dof():
    budget = reading_budget("output current", 10.0, ANALYZER_100MA)
    assert [c.kind for c in budget.components] == ["B", "B"]
    assert math.isinf(budget.effective_dof)
    # u_c = √(0.0105² + 0.00005²)/√3 = 0.006062247
    assert budget.combined_standard == pytest.approx(0.006062247, rel=REL)


def test_divisors_per_distribution():
    tri = Component("t", "B", 1.0, "mA", "triangular", math.sqrt(6))
    assert tri.standard_uncertainty == pytest.approx(0.408248, rel=REL)
    assert rectangular("r", 1.0, "mA", sensitivity=-2.0).standard_uncertainty == pytest.approx(
        1.154701, rel=REL)


def test_extra_components_are_appended_and_combine():
    extra = Component("reference", "B", 0.003, "mA", NORMAL, 1.0)
    budget = reading_budget("I", 10.0, ANALYZER_100MA, extra=[extra])
    assert budget.components[-1] is extra
    assert budget.combined_standard == pytest.approx(math.hypot(0.006062247, 0.003), rel=REL)


def test_single_sample_gives_no_type_a_line():
    budget = reading_budget("I", 10.0, ANALYZER_100MA, samples=[10.0])
    assert len(budget.components) == 2


def test_load_tolerance_in_compliance():
    # 10 mA into 5 kΩ ±(0.1 % + 0.5 Ω): half-width 5.5 Ω; dI/dR = -0.010/5000 A/Ω = -2e-6 A/Ω,
    # in mA: -0.002 mA/Ω; u = 5.5/√3 × 0.002 = 0.00635085 mA.
    line = load_tolerance_component(0.010, 5000.0, 0.1, 0.5, True, result_unit="mA")
    assert line.value == pytest.approx(5.5, rel=REL)
    assert line.sensitivity == pytest.approx(-0.002, rel=REL)
    assert line.standard_uncertainty == pytest.approx(0.00635085, rel=REL)
    amps = load_tolerance_component(0.010, 5000.0, 0.1, 0.5, True)
    assert amps.standard_uncertainty == pytest.approx(0.00635085e-3, rel=REL)


def test_load_tolerance_below_compliance_is_a_zero_line_that_says_why():
    line = load_tolerance_component(0.010, 1000.0, 0.1, 0.5, False)
    assert line.standard_uncertainty == 0.0
    assert "below compliance" in line.name
    assert line.value == pytest.approx(1.5, rel=REL)
    open_circuit = load_tolerance_component(0.0, math.inf, 0.1, 0.5, True)
    assert open_circuit.standard_uncertainty == 0.0


def test_as_rows_and_as_dict_carry_every_line():
    budget = reading_budget("I", 10.0, ANALYZER_100MA, SAMPLES_MA)
    rows = budget.as_rows()
    assert [r["name"] for r in rows] == [c.name for c in budget.components]
    assert rows[0]["standard_uncertainty"] == pytest.approx(0.00606218, rel=REL)
    data = budget.as_dict()
    assert data["expanded"] == pytest.approx(0.01219759, rel=REL)
    assert data["coverage_k"] == 2.0


def test_coverage_factor_from_student_t():
    # t(0.97725, ν=9) = 2.32 (JCGM 100 table G.2 gives 2.32 for 95.45 %, ν = 9)
    assert coverage_factor(9) == pytest.approx(2.32, abs=0.005)
    assert coverage_factor(math.inf) == 2.0
    few = Budget("I", "mA", (Component("rep", "A", 0.01, "mA", NORMAL, 1.0, dof=4),))
    assert few.effective_dof == pytest.approx(4.0)
    assert few.with_dof_coverage().coverage_k == pytest.approx(2.87, abs=0.005)


def test_meter_scaled_to_another_unit():
    amps = MeterAccuracy(0.025, 8e-6, 1e-7, "A", "100 mA")
    assert amps.scaled(1000.0, "mA").half_width(10.0) == pytest.approx(0.0105, rel=REL)
