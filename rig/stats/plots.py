"""Figures of `rig stats` (matplotlib's object API on the Agg canvas, as rig/records/plots.py): Cpk per
family, the stations' individuals charts and the distribution of unit drift; each as PNG bytes."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from rig.stats.capability import CPK_TARGET
from rig.stats.control_chart import IndividualsChart
from rig.stats.station_health import StationHealth

PNG_DPI = 90
MAX_CPK_BARS = 30


def png(figure: Figure) -> bytes:
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=PNG_DPI)
    return buffer.getvalue()


def capability_figure(table: pd.DataFrame) -> Figure:
    """Horizontal bars of Cpk per family (lowest first), the 1.33 target as a line."""
    families = table[(table["family"] != "all") & np.isfinite(table["cpk"].astype(float))].head(MAX_CPK_BARS)
    figure = Figure(figsize=(9.0, 0.3 * max(len(families), 4) + 1.2))
    axes = figure.add_subplot()
    labels = [f"{r} {f}" for r, f in zip(families["requirement"], families["family"], strict=True)]
    colours = ["tab:red" if low else "tab:blue" for low in families["below_target"]]
    axes.barh(range(len(families)), families["cpk"].astype(float), color=colours)
    axes.set_yticks(range(len(families)), labels, fontsize=7)
    axes.invert_yaxis()
    axes.axvline(CPK_TARGET, color="k", linestyle="--", label=f"target {CPK_TARGET}")
    axes.set_xlabel("Cpk (as left, against the spec's limits)")
    axes.set_title(f"Capability: the {len(families)} families with the lowest Cpk")
    axes.legend(loc="lower right")
    figure.tight_layout()
    return figure


def _chart_axes(axes, chart: IndividualsChart, title: str, unit: str) -> None:
    index = np.arange(len(chart.values))
    axes.plot(index, chart.values, marker="o", color="tab:blue", linewidth=1)
    for level, style in ((chart.centre, "-"), (chart.upper_limit, "--"), (chart.lower_limit, "--")):
        axes.axhline(level, color="k", linestyle=style, linewidth=0.8)
    for k in (1, 2):
        for sign in (1, -1):
            axes.axhline(chart.centre + sign * k * chart.sigma, color="grey", linestyle=":", linewidth=0.6)
    flagged = sorted(chart.violations)
    if flagged:
        axes.plot(flagged, chart.values[flagged], "o", color="tab:red", markersize=9, fillstyle="none",
                  label="Western Electric rule " + ",".join(map(str, chart.rules_broken())))
        axes.legend(loc="upper left", fontsize=7)
    axes.set_title(title, fontsize=9)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel("unit, in test order")
    axes.set_ylabel(f"error ({unit})")


def health_figure(health: list[StationHealth], reference: str) -> Figure:
    figure = Figure(figsize=(9.0, 2.8 * max(len(health), 1)))
    for k, station in enumerate(health):
        axes = figure.add_subplot(len(health), 1, k + 1)
        _chart_axes(axes, station.chart, f"{station.station}: {reference}", station.unit)
    figure.tight_layout()
    return figure


def drift_figure(point_moves: pd.DataFrame, coefficient_moves: pd.DataFrame) -> Figure:
    """Histogram of the per-day move on the tolerance's scale, and of the DAC gain's change per day."""
    figure = Figure(figsize=(9.0, 3.2))
    left, right = figure.add_subplot(1, 2, 1), figure.add_subplot(1, 2, 2)
    rates = point_moves["z_move_per_day"].astype(float) if len(point_moves) else pd.Series(dtype=float)
    left.hist(rates[np.isfinite(rates)], bins=30, color="tab:blue")
    left.set_xlabel("move per day, fraction of the tolerance")
    left.set_ylabel("points")
    left.set_title("As found (later run) - as left (earlier), per day", fontsize=9)
    gains = coefficient_moves[coefficient_moves["coefficient"] == "dac_gain"] if len(coefficient_moves) else None
    for polarity, colour in (("POS", "tab:blue"), ("NEG", "tab:orange")):
        if gains is None:
            break
        values = gains[gains["polarity"] == polarity]["delta_per_day"].astype(float)
        right.hist(values[np.isfinite(values)], bins=15, alpha=0.6, color=colour, label=polarity)
    right.set_xlabel("dac_gain change per day (counts/mA)")
    right.set_title("Coefficient drift: dac_gain", fontsize=9)
    right.legend(fontsize=7)
    figure.tight_layout()
    return figure
