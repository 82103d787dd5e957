"""A digitized trace drawn with the limits it is judged against (the cut-off suites' report figures).

Object API with the Agg canvas, no pyplot (see plots.py): safe for parallel slots and headless runs.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

PNG_DPI = 90
FIGURE_SIZE_IN = (9.0, 3.6)
LIMIT_COLOUR = "tab:red"
MARKER_COLOUR = "tab:green"
SPAN_ALPHA = 0.15
MS_PER_S = 1000.0
# Fixed margins (figure fractions) rather than tight_layout, which draws the figure twice: a third of
# the rendering time, and every trace of the cut-off suite is rendered.
MARGINS = {"left": 0.07, "right": 0.92, "bottom": 0.14, "top": 0.90}


@dataclass(frozen=True)
class LimitLine:
    """A horizontal limit on one of the trace's quantities ("current" in mA or "voltage" in V)."""

    value: float
    label: str
    quantity: str = "current"


@dataclass(frozen=True)
class TimeMark:
    """A vertical marker (an instant found by the analysis), or a span when `until_s` is given
    (e.g. the time allowed by a limit, drawn from the instant it counts from)."""

    at_s: float
    label: str
    until_s: float | None = None


@dataclass(frozen=True)
class TracePlot:
    """What a report shows of one capture: the samples, and the limits and instants that judge it."""

    title: str
    time_s: np.ndarray
    current_ma: np.ndarray
    voltage_v: np.ndarray | None = None
    limits: tuple[LimitLine, ...] = ()
    marks: tuple[TimeMark, ...] = ()
    reference_ma: np.ndarray | None = None  # e.g. the ramp the current is judged against
    show_voltage: bool = False
    extra: dict = field(default_factory=dict)


def trace_figure(plot: TracePlot) -> Figure:
    figure = Figure(figsize=FIGURE_SIZE_IN)
    FigureCanvasAgg(figure)
    axis = figure.add_subplot(1, 1, 1)
    t_ms = np.asarray(plot.time_s) * MS_PER_S
    axis.plot(t_ms, plot.current_ma, linewidth=0.8, label="current (analyzer)")
    if plot.reference_ma is not None:
        axis.plot(t_ms, plot.reference_ma, linestyle="--", linewidth=0.8, label="reference")
    axis.set_xlabel("time from trigger (ms)")
    axis.set_ylabel("current (mA)")
    voltage_axis = None
    if plot.show_voltage and plot.voltage_v is not None:
        voltage_axis = axis.twinx()
        voltage_axis.plot(t_ms, plot.voltage_v, color="tab:purple", linewidth=0.8, label="voltage (analyzer)")
        voltage_axis.set_ylabel("voltage (V)")
    for limit in plot.limits:
        target = voltage_axis if limit.quantity == "voltage" and voltage_axis is not None else axis
        target.axhline(limit.value, color=LIMIT_COLOUR, linestyle=":", linewidth=1.0)
        target.annotate(limit.label, (0.01, limit.value), xycoords=("axes fraction", "data"),
                        color=LIMIT_COLOUR, fontsize=7, va="bottom")
    for mark in plot.marks:
        if not np.isfinite(mark.at_s):
            continue
        if mark.until_s is None:
            axis.axvline(mark.at_s * MS_PER_S, color=MARKER_COLOUR, linewidth=0.8)
        else:
            axis.axvspan(mark.at_s * MS_PER_S, mark.until_s * MS_PER_S, color=LIMIT_COLOUR, alpha=SPAN_ALPHA)
        axis.annotate(mark.label, (mark.at_s * MS_PER_S, 0.98), xycoords=("data", "axes fraction"),
                      fontsize=7, rotation=90, va="top", ha="right")
    axis.set_title(plot.title, fontsize=9)
    axis.legend(loc="upper right", fontsize=7)
    figure.subplots_adjust(**MARGINS)
    return figure


def trace_png(plot: TracePlot) -> bytes:
    buffer = io.BytesIO()
    trace_figure(plot).savefig(buffer, format="png", dpi=PNG_DPI)
    return buffer.getvalue()
