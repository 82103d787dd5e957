"""Figures for reports: error against setpoint per load, with the spec's tolerance band.

Figures are built on matplotlib's object API with the Agg canvas (no pyplot, no global state,
no display), so that parallel slots and a headless station can draw at the same time.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from rig.spec import ProductSpec
from rig.units import MA_PER_A

PNG_DPI = 90
FIGURE_SIZE_IN = (11.0, 4.0)
BAND_ALPHA = 0.15
BAND_POINTS = 200
# Headroom beyond the largest x so the band does not end on the last marker.
X_HEADROOM = 1.05
PHASE_MARKERS = {"as_found": "x", "as_left": "o"}
PHASE_LINESTYLES = {"as_found": ":", "as_left": "-"}
DEFAULT_MARKER = "s"
SUBPLOT_MARGINS = {"left": 0.07, "right": 0.78, "bottom": 0.13, "top": 0.9, "wspace": 0.08}
DEFAULT_LINESTYLE = "--"


@dataclass(frozen=True)
class ErrorPlot:
    """How to plot one requirement: its x quantity, axis labels and the spec's tolerance."""

    requirement: str
    title: str
    x_label: str
    y_label: str
    x_of: Callable[[pd.DataFrame], pd.Series]
    tolerance: Callable[[ProductSpec, np.ndarray], np.ndarray]
    band_label: Callable[[ProductSpec], str]


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    if name not in frame.columns:
        return pd.Series(np.nan, index=frame.index)
    return pd.to_numeric(frame[name], errors="coerce")


def _raw_value(frame: pd.DataFrame, key: str) -> pd.Series:
    raws = frame["raw"] if "raw" in frame.columns else pd.Series(None, index=frame.index)
    values = [r.get(key) if isinstance(r, dict) else None for r in raws]
    return pd.to_numeric(pd.Series(values, index=frame.index, dtype=object), errors="coerce")


def _true_voltage(frame: pd.DataFrame) -> pd.Series:
    """The analyzer's voltage when recorded, else setpoint × load (no compliance)."""
    fallback = _column(frame, "setpoint_ma") / MA_PER_A * _column(frame, "load_ohm")
    return _raw_value(frame, "analyzer_voltage_v").fillna(fallback)


def _vectorised(function: Callable[[float], float]) -> Callable[[np.ndarray], np.ndarray]:
    return lambda xs: np.array([function(float(x)) for x in xs])


ERROR_PLOTS = (
    ErrorPlot("dc_accuracy", "DC output error", "setpoint (mA)", "output error (mA)",
              lambda f: _column(f, "setpoint_ma"),
              lambda s, xs: _vectorised(s.dc_accuracy.tolerance_ma)(xs),
              lambda s: f"±({s.dc_accuracy.pct_of_setpoint:g} % + {s.dc_accuracy.abs_ma:g} mA)"),
    ErrorPlot("pulsed_accuracy", "Pulsed output error (mean current)", "expected mean (mA)",
              "mean current error (mA)", lambda f: _column(f, "nominal"),
              lambda s, xs: _vectorised(s.pulsed_accuracy.tolerance_ma)(xs),
              lambda s: f"±({s.pulsed_accuracy.pct_of_mean:g} % + {s.pulsed_accuracy.abs_ma:g} mA)"),
    ErrorPlot("reading_current", "Current reading error (MEAS?)", "setpoint (mA)",
              "reading error (mA)", lambda f: _column(f, "setpoint_ma"),
              lambda s, xs: _vectorised(s.reading_current.tolerance_ma)(xs),
              lambda s: f"±({s.reading_current.pct_of_reading:g} % + "
                        f"{s.reading_current.abs_ma:g} mA)"),
    ErrorPlot("reading_voltage", "Voltage reading error (MEAS?)", "true output voltage (V)",
              "reading error (V)", _true_voltage,
              lambda s, xs: _vectorised(s.reading_voltage.tolerance_v)(xs),
              lambda s: f"±({s.reading_voltage.pct_of_reading:g} % + "
                        f"{s.reading_voltage.abs_v:g} V)"),
)


def plot_frame(points: pd.DataFrame, plot: ErrorPlot) -> pd.DataFrame:
    """The requirement's points with x, error (measured − nominal), phase, load and polarity."""
    rows = points[points["requirement"] == plot.requirement] if len(points) else points
    if rows.empty:
        return pd.DataFrame(columns=["x", "error", "phase", "load_ohm", "polarity"])
    nominal = _column(rows, "nominal").fillna(0.0)
    frame = pd.DataFrame({
        "x": plot.x_of(rows),
        "error": _column(rows, "measured") - nominal,
        "phase": rows["phase"].astype(str),
        "load_ohm": _column(rows, "load_ohm"),
        "polarity": rows["polarity"].astype(str) if "polarity" in rows else "",
    })
    return frame.dropna(subset=["x", "error"])


def _draw_band(axes, spec: ProductSpec, plot: ErrorPlot, x_max: float) -> None:
    xs = np.linspace(0.0, x_max * X_HEADROOM, BAND_POINTS)
    tolerance = plot.tolerance(spec, xs)
    axes.fill_between(xs, -tolerance, tolerance, alpha=BAND_ALPHA, color="tab:green",
                      label=f"tolerance {plot.band_label(spec)}")
    axes.plot(xs, tolerance, color="tab:green", linewidth=0.8)
    axes.plot(xs, -tolerance, color="tab:green", linewidth=0.8)


def _load_label(load_ohm: float) -> str:
    return "open" if not math.isfinite(load_ohm) else f"{load_ohm:g} Ω"


def _draw_polarity(axes, frame: pd.DataFrame, colours: dict[float, str]) -> None:
    for (phase, load_ohm), group in frame.groupby(["phase", "load_ohm"], sort=True):
        group = group.sort_values("x")
        axes.plot(group["x"], group["error"], color=colours[load_ohm],
                  marker=PHASE_MARKERS.get(phase, DEFAULT_MARKER),
                  linestyle=PHASE_LINESTYLES.get(phase, DEFAULT_LINESTYLE), linewidth=0.8,
                  markersize=4, label=f"{phase} {_load_label(load_ohm)}")


def error_figure(points: pd.DataFrame, plot: ErrorPlot, spec: ProductSpec) -> Figure | None:
    """One panel per polarity; None when the run has no point of this requirement."""
    frame = plot_frame(points, plot)
    if frame.empty:
        return None
    polarities = sorted(frame["polarity"].unique())
    loads = sorted(frame["load_ohm"].unique())
    palette = [f"C{i % 10}" for i in range(len(loads))]
    colours = dict(zip(loads, palette, strict=True))
    figure = Figure(figsize=FIGURE_SIZE_IN)
    # Fixed margins: constrained layout costs more than the drawing, and the legend goes right.
    figure.subplots_adjust(**SUBPLOT_MARGINS)
    axes_list = figure.subplots(1, len(polarities), sharey=True, squeeze=False)[0]
    x_max = float(frame["x"].max()) or 1.0
    for axes, polarity in zip(axes_list, polarities, strict=True):
        _draw_band(axes, spec, plot, x_max)
        _draw_polarity(axes, frame[frame["polarity"] == polarity], colours)
        axes.axhline(0.0, color="black", linewidth=0.5)
        axes.set_title(f"{plot.title}, {polarity}")
        axes.set_xlabel(plot.x_label)
        axes.grid(True, linewidth=0.3)
    axes_list[0].set_ylabel(plot.y_label)
    axes_list[-1].legend(fontsize="x-small", loc="center left", bbox_to_anchor=(1.0, 0.5))
    return figure


def error_figures(points: pd.DataFrame, spec: ProductSpec) -> list[tuple[str, Figure]]:
    """(requirement, figure) for every plotted requirement the run has points of."""
    made = [(plot.requirement, error_figure(points, plot, spec)) for plot in ERROR_PLOTS]
    return [(requirement, figure) for requirement, figure in made if figure is not None]


def figure_png(figure: Figure, dpi: int = PNG_DPI) -> bytes:
    buffer = io.BytesIO()
    FigureCanvasAgg(figure)  # attaches itself to the figure: no backend selection, no display
    figure.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def error_plot_pngs(points: pd.DataFrame, spec: ProductSpec) -> dict[str, bytes]:
    """PNG bytes per plotted requirement, for embedding in HTML."""
    return {requirement: figure_png(figure) for requirement, figure in error_figures(points, spec)}


DELTA_FIGURE_SIZE_IN = (11.0, 4.5)
# Beyond this many points the x labels overlap into a black bar; the CSV names every point.
MAX_LABELLED_POINTS = 40
LABELLED_BOTTOM = 0.4  # room for the point names written vertically
CHANGE_COLOURS = {"newly fails": "tab:red", "worse": "tab:orange", "better": "tab:green",
                  "fixed": "tab:blue", "moved": "tab:purple"}
UNCHANGED_COLOUR = "tab:gray"


def delta_figure(names: list[str], delta_fractions: list[float], changes: list[str],
                 title: str) -> Figure:
    """Bars of each point's change relative to its tolerance half-width; ±1 is a whole tolerance."""
    figure = Figure(figsize=DELTA_FIGURE_SIZE_IN)
    labelled = len(names) <= MAX_LABELLED_POINTS
    figure.subplots_adjust(**{**SUBPLOT_MARGINS, "bottom": LABELLED_BOTTOM if labelled else
                              SUBPLOT_MARGINS["bottom"]})
    axes = figure.subplots()
    xs = np.arange(len(names))
    colours = [CHANGE_COLOURS.get(c, UNCHANGED_COLOUR) for c in changes]
    axes.bar(xs, np.nan_to_num(np.asarray(delta_fractions, dtype=float)), color=colours)
    for level in (-1.0, 1.0):
        axes.axhline(level, color="tab:red", linewidth=0.8, linestyle="--")
    axes.axhline(0.0, color="black", linewidth=0.5)
    axes.set_ylabel("Δ measured / tolerance half-width")
    axes.set_title(title)
    if labelled:
        axes.set_xticks(xs, names, rotation=90, fontsize="x-small")
    else:
        axes.set_xlabel("point (see CSV for names)")
    handles = [Patch(color=colour, label=change) for change, colour in CHANGE_COLOURS.items()
               if change in changes]
    if handles:
        axes.legend(handles=handles, fontsize="x-small", loc="center left", bbox_to_anchor=(1.0, 0.5))
    axes.grid(True, axis="y", linewidth=0.3)
    return figure
