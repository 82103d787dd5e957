"""A digitized trace drawn with the limits it is judged against (the cut-off suites' report figures), from
what the step's judge declared of it (rig/trace_view.py).

Object API with the Agg canvas, no pyplot (see plots.py): safe for parallel slots and headless runs.
"""

from __future__ import annotations

import io

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from rig.trace_view import TraceView

PNG_DPI = 90
FIGURE_SIZE_IN = (9.0, 3.6)
LIMIT_COLOUR = "tab:red"
MARKER_COLOUR = "tab:green"
SPAN_ALPHA = 0.15
MS_PER_S = 1000.0
# Fixed margins (figure fractions) rather than tight_layout, which draws the figure twice: a third of
# the rendering time, and every trace of the cut-off suite is rendered.
MARGINS = {"left": 0.07, "right": 0.92, "bottom": 0.14, "top": 0.90}


def trace_figure(plot: TraceView) -> Figure:
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


def trace_png(plot: TraceView) -> bytes:
    buffer = io.BytesIO()
    trace_figure(plot).savefig(buffer, format="png", dpi=PNG_DPI)
    return buffer.getvalue()
