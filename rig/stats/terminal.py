"""The terminal summary of `rig stats`: rich tables of yield, the Pareto of failing requirements,
capability (lowest Cpk first), station health and unit drift with the recommended interval."""

from __future__ import annotations

import math

import pandas as pd
from rich.console import Console
from rich.table import Table

from rig.stats.capability import CPK_TARGET
from rig.stats.summary import StatsSummary
from rig.units import PERCENT

CAPABILITY_ROWS = 15  # the terminal shows the lowest Cpk first; the HTML page and exports have all


def _num(value: object, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def _pct(value: float) -> str:
    return "–" if not math.isfinite(value) else f"{value * PERCENT:.1f} %"


def _table(title: str, frame: pd.DataFrame, columns: dict[str, object], style_of=None) -> Table:
    """columns: header -> a column name, or a function of the row giving its text."""
    grid = Table(title=title, title_justify="left")
    for header in columns:
        grid.add_column(header)
    for row in frame.to_dict("records"):
        cells = [f(row) if callable(f) else _num(row[f]) for f in columns.values()]
        grid.add_row(*cells, style=style_of(row) if style_of else None)
    return grid


def print_summary(summary: StatsSummary, console: Console) -> None:
    runs = summary.frames.runs
    console.print(f"{len(runs)} runs of {runs['serial'].nunique() if len(runs) else 0} units, "
                  f"{len(summary.frames.points)} points")
    console.print(_table("Yield (a retested unit counts once)", summary.yields, {
        "by": "grouping", "group": "group", "units": "units", "tests": "tests",
        "first-pass yield": lambda r: _pct(r["first_pass_yield"]), "final yield": lambda r: _pct(r["final_yield"])}))
    if len(summary.pareto):
        console.print(_table("Failing requirements (Pareto)", summary.pareto, {
            "requirement": "requirement", "runs failed": "runs_failed", "units": "units_failed",
            "cumulative": lambda r: _pct(r["cumulative_share"])}))
    shown = summary.capability.head(CAPABILITY_ROWS)
    console.print(_table(f"Capability of as-left values (lowest Cpk first; {len(summary.capability)} rows, "
                         f"flag below {CPK_TARGET})", shown, {
        "requirement": "requirement", "family": "family", "n": "n", "mean error": "mean_error",
        "std": "std_error", "unit": "unit", "Cp": "cp", "Cpk": "cpk",
        "flag": lambda r: f"< {CPK_TARGET}" if r["below_target"] else ""},
        style_of=lambda r: "bold red" if r["below_target"] else None))
    if len(summary.health_table):
        console.print(_table("Station health: individuals chart of the reference point, Western Electric rules",
                             summary.health_table, {
            "station": "station", "n": "n", "centre": "centre", "sigma": "sigma", "LCL": "lcl", "UCL": "ucl",
            "unit": "unit", "rules broken": "rules_broken"},
            style_of=lambda r: "bold red" if r["rules_broken"] != "none" else None))
    _print_drift(summary, console)


def _print_drift(summary: StatsSummary, console: Console) -> None:
    pairs = summary.pairs
    if pairs.empty:
        console.print("Unit drift: no unit calibrated more than once")
        return
    console.print(f"Unit drift: {len(pairs)} recalibrations of {pairs['serial'].nunique()} units, "
                  f"{_num(pairs['days'].min(), 3)} to {_num(pairs['days'].max(), 3)} days apart")
    console.print(_table("Coefficient drift (fitted at the later run - held when the unit came back)",
                         summary.coefficient_summary, {
        "polarity": "polarity", "coefficient": "coefficient", "pairs": "pairs", "mean change": "mean_delta",
        "std": "std_delta", "mean per day": "mean_per_day", "std per day": "std_per_day"}))
    interval = summary.interval
    if interval.interval_days is None:
        console.print(f"Recommended calibration interval: not enough pairs (at least 3 per point); "
                      f"method: {interval.method}")
    else:
        console.print(f"Recommended calibration interval: [bold]{interval.interval_days} days[/] for "
                      f"{interval.reliability_target * PERCENT:g} % of units in tolerance at every point "
                      f"(governed by {interval.governing_point}; {interval.pairs} pairs; method: {interval.method})")
