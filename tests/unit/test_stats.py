"""`rig stats`' statistics against values computed by hand on small frames: Cp/Cpk, yield with
retests, each Western Electric rule and a clean series, the drift pairs and the recommended interval."""

import math

import numpy as np
import pandas as pd
import pytest

from rig.stats.capability import capability_table, indices
from rig.stats.control_chart import individuals_chart, moving_range_sigma, western_electric
from rig.stats.drift import MAX_INTERVAL_DAYS, calibration_pairs, coefficient_drift, recommend_interval
from rig.stats.yields import pareto, yield_table


def _points(rows):
    """rows: (requirement, load_ohm, polarity, lower, upper, measured), all as left, DC."""
    return pd.DataFrame([{"phase": "as_left", "requirement": r, "waveform": "DC", "load_ohm": load,
                          "polarity": pol, "lower": lo, "upper": up, "measured": m, "nominal": (lo + up) / 2,
                          "unit": "mA", "station": "ST-A"} for r, load, pol, lo, up, m in rows])


def test_cp_cpk_by_hand():
    # z = 0.1, 0.2, 0.3: mean 0.2, s 0.1 -> Cp = 1/0.3, Cpk = (1 - 0.2)/0.3
    assert indices(pd.Series([0.1, 0.2, 0.3])) == pytest.approx((3.3333333, 2.6666667))
    assert all(math.isnan(v) for v in indices(pd.Series([0.5])))
    assert all(math.isnan(v) for v in indices(pd.Series([0.5, 0.5])))


def test_capability_table_normalises_each_tolerance_and_flags_low_cpk():
    points = _points([
        ("dc_accuracy", 1000.0, "POS", 9.0, 11.0, 10.1), ("dc_accuracy", 1000.0, "POS", 9.0, 11.0, 10.2),
        ("dc_accuracy", 1000.0, "POS", 9.0, 11.0, 10.3),
        # half-width 2: z again 0.1, 0.2, 0.3
        ("dc_accuracy", 500.0, "POS", 18.0, 22.0, 20.2), ("dc_accuracy", 500.0, "POS", 18.0, 22.0, 20.4),
        ("dc_accuracy", 500.0, "POS", 18.0, 22.0, 20.6),
        # z = 0.5, 0.7, 0.9: Cpk = 0.3 / 0.6 = 0.5, below 1.33
        ("reading_current", 1000.0, "NEG", -0.1, 0.1, 0.05), ("reading_current", 1000.0, "NEG", -0.1, 0.1, 0.07),
        ("reading_current", 1000.0, "NEG", -0.1, 0.1, 0.09),
    ])
    points.loc[len(points)] = {**points.iloc[0].to_dict(), "phase": "as_found", "measured": 50.0}  # not counted
    table = capability_table(points).set_index(["requirement", "family"])
    one = table.loc[("dc_accuracy", "DC 1000 ohm POS")]
    assert (one["n"], one["cp"], one["cpk"]) == (3, pytest.approx(1 / 0.3), pytest.approx(0.8 / 0.3))
    assert one["mean_error"] == pytest.approx(0.2) and not one["below_target"]
    # all six: z mean 0.2, s = sqrt(0.04 / 5) = 0.08944 -> Cp 3.7268, Cpk 2.9814
    pooled = table.loc[("dc_accuracy", "all")]
    assert (pooled["n"], pooled["cp"], pooled["cpk"]) == (6, pytest.approx(3.7268, abs=1e-4),
                                                          pytest.approx(2.9814, abs=1e-4))
    low = table.loc[("reading_current", "DC 1000 ohm NEG")]
    assert low["cpk"] == pytest.approx(0.5) and low["below_target"]
    assert capability_table(points).iloc[0]["requirement"] == "reading_current"  # lowest Cpk first
    by_station = capability_table(points, by=["station"])
    assert set(by_station["station"]) == {"ST-A"} and len(by_station) == len(table)


def _runs(rows):
    """rows: (serial, station, firmware, verdict); one run a minute in that order."""
    start = pd.Timestamp("2026-11-02 08:00")
    return pd.DataFrame([{"run_id": k + 1, "serial": s, "station": st, "slot": 1, "firmware": fw, "operator": "bob",
                          "verdict": v, "started_at": start + pd.Timedelta(minutes=k)}
                         for k, (s, st, fw, v) in enumerate(rows)])


def test_yield_counts_a_retested_unit_once():
    runs = _runs([("A", "ST1", "1.0", "PASS"), ("B", "ST1", "1.0", "FAIL"), ("C", "ST2", "2.0", None),
                  ("B", "ST1", "1.0", "PASS"), ("C", "ST2", "2.0", "CONDITIONAL PASS"), ("D", "ST2", "2.0", "FAIL")])
    table = yield_table(runs).set_index(["grouping", "group"])
    overall = table.loc[("all", "all")]
    # A passes first time; B fails then passes; C errs then conditionally passes (not a plain PASS); D fails.
    assert (overall["units"], overall["tests"], overall["first_pass"], overall["final_pass"]) == (4, 6, 1, 2)
    assert overall["first_pass_yield"] == pytest.approx(0.25) and overall["final_yield"] == pytest.approx(0.5)
    st1, st2 = table.loc[("station", "ST1")], table.loc[("station", "ST2")]
    assert (st1["units"], st1["first_pass_yield"], st1["final_yield"]) == (2, 0.5, 1.0)
    assert (st2["units"], st2["first_pass_yield"], st2["final_yield"]) == (2, 0.0, 0.0)
    assert table.loc[("day", "2026-11-02")]["units"] == 4
    assert table.loc[("firmware", "2.0")]["tests"] == 3


def test_pareto_ranks_requirements_by_runs_failed():
    verdicts = pd.DataFrame([(1, "A", "ramp", "FAIL"), (1, "A", "dc_accuracy", "FAIL"), (2, "B", "ramp", "FAIL"),
                             (3, "C", "ramp", "FAIL"), (3, "C", "timer", "PASS")],
                            columns=["run_id", "serial", "requirement", "requirement_verdict"])
    table = pareto(verdicts)
    assert list(table["requirement"]) == ["ramp", "dc_accuracy"]
    assert list(table["runs_failed"]) == [3, 1]
    assert list(table["cumulative_share"]) == pytest.approx([0.75, 1.0])


@pytest.mark.parametrize(("values", "expected"), [
    ([0, 0, 3.5, 0], {2: [1]}),
    ([0, 0, -3.5, 0], {2: [1]}),
    ([0, 2.5, 0.5, 2.5], {3: [2]}),
    ([0, -2.5, -2.5], {2: [2]}),
    ([1.5, 1.5, 0, 1.5, 1.5], {4: [3]}),
    ([-1.5, -1.5, -1.5, 0.2, -1.5], {4: [3]}),
    ([0.5] * 8, {7: [4]}),
    ([-0.5] * 9, {7: [4], 8: [4]}),
    ([0.5, -0.5] * 6, {}),
    ([2.5, -2.5, 0.5, 2.5], {}),  # beyond 2 sigma, but never twice on one side within three
])
def test_western_electric_rules(values, expected):
    assert western_electric(np.array(values, dtype=float), centre=0.0, sigma=1.0) == expected


def test_individuals_chart_limits_from_moving_range():
    # moving ranges 2, 1, 2: mean 5/3; sigma = (5/3) / 1.128 = 1.4775; centre 2.5
    chart = individuals_chart([1.0, 3.0, 2.0, 4.0])
    assert moving_range_sigma(np.array([1.0, 3.0, 2.0, 4.0])) == pytest.approx(1.47754, abs=1e-5)
    assert chart.centre == pytest.approx(2.5)
    assert (chart.lower_limit, chart.upper_limit) == pytest.approx((2.5 - 4.43262, 2.5 + 4.43262), abs=1e-5)
    assert chart.in_control
    shifted = individuals_chart([0.0] * 10 + [10.0], centre=0.0, sigma=1.0)
    assert shifted.rules_broken() == [1] and not shifted.in_control


def test_drift_pairs_use_the_date_the_unit_reported():
    runs = _runs([("A", "ST1", "1.0", "PASS"), ("A", "ST1", "1.0", "PASS"), ("B", "ST1", "1.0", None),
                  ("B", "ST1", "1.0", "FAIL"), ("B", "ST1", "1.0", "PASS")])
    held = {"dac_gain": 121.0, "date": "2026-10-03"}  # 30 days before 2026-11-02
    calibrations = pd.DataFrame([
        {"run_id": 1, "polarity": "POS", "before": {"dac_gain": 120.0}, "after": {"dac_gain": 121.0},
         "written": True, "readback_ok": True},
        {"run_id": 2, "polarity": "POS", "before": held, "after": {"dac_gain": 121.6}, "written": True,
         "readback_ok": True},
        {"run_id": 3, "polarity": "POS", "before": {"dac_gain": 120.0}, "after": {"dac_gain": 125.0},
         "written": False, "readback_ok": None},  # never written: B's next run is no recalibration
        {"run_id": 4, "polarity": "POS", "before": {"dac_gain": 120.0}, "after": {"dac_gain": 124.0},
         "written": True, "readback_ok": True},
        # written, but the unit failed: never released with it, so B's next run is no recalibration either
        {"run_id": 5, "polarity": "POS", "before": {"dac_gain": 124.0}, "after": {"dac_gain": 124.0},
         "written": True, "readback_ok": True}])
    pairs = calibration_pairs(runs, calibrations)
    assert pairs.to_dict("records") == [{"serial": "A", "earlier_run": 1, "later_run": 2, "days": 30.0}]
    moves = coefficient_drift(pairs, calibrations)
    assert moves["delta"].tolist() == pytest.approx([0.6]) and moves["delta_per_day"].tolist() == pytest.approx([0.02])


def _reliability(m0, s0, mr, sr, t):
    """R(t) written out with math.erf: the fraction of N(m0 + mr t, s0^2 + sr^2 t^2) inside [-1, 1]."""
    mean, spread = m0 + mr * t, math.sqrt(s0 ** 2 + (sr * t) ** 2)
    phi = lambda x: 0.5 * (1 + math.erf(x / math.sqrt(2)))  # noqa: E731
    return phi((1 - mean) / spread) - phi((-1 - mean) / spread)


def test_recommended_interval_by_hand():
    # z as left -0.1, 0, 0.1 (mean 0, s 0.1); drift 0.001, 0.002, 0.003 a day (mean 0.002, s 0.001).
    # R(200) = Phi(0.6 / 0.2236) - Phi(-1.4 / 0.2236) = 0.9964; R(300) = Phi(0.4 / 0.3162) - ... = 0.897.
    moves = pd.DataFrame({"requirement": "dc_accuracy", "name": "POS-DC-1000ohm-10mA", "z_left": [-0.1, 0.0, 0.1],
                          "z_move_per_day": [0.001, 0.002, 0.003]})
    assert _reliability(0, 0.1, 0.002, 0.001, 200) == pytest.approx(0.99635, abs=1e-4)
    assert _reliability(0, 0.1, 0.002, 0.001, 300) == pytest.approx(0.8971, abs=1e-3)
    found = recommend_interval(moves, 0.95)
    assert 200 < found.interval_days < 300 and found.governing_point == "dc_accuracy POS-DC-1000ohm-10mA"
    assert _reliability(0, 0.1, 0.002, 0.001, found.interval_days) >= 0.95
    assert _reliability(0, 0.1, 0.002, 0.001, found.interval_days + 1) < 0.95
    assert recommend_interval(moves, 0.99).interval_days < found.interval_days
    # A second, faster point governs; too few pairs give no figure; no drift gives the search's end.
    faster = moves.assign(name="NEG", z_move_per_day=moves["z_move_per_day"] * 2)
    assert recommend_interval(pd.concat([moves, faster]), 0.95).governing_point == "dc_accuracy NEG"
    assert recommend_interval(moves.head(2), 0.95).interval_days is None
    still = moves.assign(z_move_per_day=0.0)
    assert recommend_interval(still, 0.95).interval_days == MAX_INTERVAL_DAYS
    with pytest.raises(ValueError, match="reliability"):
        recommend_interval(moves, 1.5)
