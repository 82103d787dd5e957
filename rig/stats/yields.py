"""Yield: units tested, first-pass yield and final yield, overall and per group, and the failing
requirements ranked (Pareto).

A unit counts once however often it was tested: it passed first time when its first ended run is a
plain PASS; it passed finally when its last ended run is. A run that ended in an error or was
aborted is a test that did not pass (the unit had to come back). Per group (day, station, slot,
firmware, operator) a unit is counted in the group of its first run there, so a unit retested on
another station counts once on each.
"""

from __future__ import annotations

import pandas as pd

from rig.stats.frames import PASSED

GROUPINGS = ("day", "station", "slot", "firmware", "operator")
YIELD_COLUMNS = ["grouping", "group", "units", "tests", "first_pass", "final_pass", "first_pass_yield",
                 "final_yield"]


def _unit_outcomes(runs: pd.DataFrame) -> pd.DataFrame:
    """Per unit: number of tests, whether its first and its last run passed."""
    ordered = runs.sort_values(["started_at", "run_id"])
    passed = ordered["verdict"].eq(PASSED)
    by_unit = ordered.assign(passed=passed).groupby("serial", sort=False)["passed"]
    return pd.DataFrame({"tests": by_unit.size(), "first_pass": by_unit.first(), "final_pass": by_unit.last()})


def _summary(runs: pd.DataFrame, grouping: str, group: object) -> dict:
    outcomes = _unit_outcomes(runs)
    units = len(outcomes)
    first, final = int(outcomes["first_pass"].sum()), int(outcomes["final_pass"].sum())
    return {"grouping": grouping, "group": str(group), "units": units, "tests": int(outcomes["tests"].sum()),
            "first_pass": first, "final_pass": final,
            "first_pass_yield": first / units if units else float("nan"),
            "final_yield": final / units if units else float("nan")}


def yield_table(runs: pd.DataFrame) -> pd.DataFrame:
    """One row overall (grouping "all"), then one per group of each grouping in GROUPINGS."""
    if runs.empty:
        return pd.DataFrame(columns=YIELD_COLUMNS)
    runs = runs.assign(day=runs["started_at"].dt.date.astype(str))
    rows = [_summary(runs, "all", "all")]
    for grouping in GROUPINGS:
        for group, part in runs.groupby(grouping, sort=True):
            rows.append(_summary(part, grouping, group))
    return pd.DataFrame(rows, columns=YIELD_COLUMNS)


def pareto(requirement_verdicts: pd.DataFrame) -> pd.DataFrame:
    """Requirements ranked by the number of runs they failed (the run's requirement verdict FAIL), with
    the units concerned and the cumulative share of all such failures."""
    columns = ["requirement", "runs_failed", "units_failed", "share", "cumulative_share"]
    failing = requirement_verdicts[requirement_verdicts["requirement_verdict"] == "FAIL"]
    if failing.empty:
        return pd.DataFrame(columns=columns)
    table = failing.groupby("requirement").agg(runs_failed=("run_id", "nunique"), units_failed=("serial", "nunique"))
    table = table.reset_index().sort_values(["runs_failed", "requirement"], ascending=[False, True])
    table["share"] = table["runs_failed"] / table["runs_failed"].sum()
    table["cumulative_share"] = table["share"].cumsum()
    return table[columns].reset_index(drop=True)
