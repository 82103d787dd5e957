"""Uncertainty budgets (GUM) of the figures read off a trace: times, levels, rates, voltages.

Traces whose voltage comes from another instrument than the current (rig/instruments/alignment.py)
carry the alignment's half-width; it enters each budget that relates an instant on the voltage trace to
the current trace (`alignment_components`): loss of contact (the output-off instant is read on the voltage,
the contact loss on both), compliance recovery (the load step is read on the voltage, the re-ramp on the
current: in time for the duration, through the soft-start slope for the size). Compliance voltage reads
the highest voltage alone: no instant of the other trace, no alignment line.
"""

from __future__ import annotations

import math

from rig.instruments.analyzer import Trace
from rig.metrology.uncertainty import (
    DIVISORS,
    NORMAL,
    TYPE_A,
    Budget,
    Component,
    MeterAccuracy,
    rectangular,
)
from rig.procedures.cutoffs.trace_analysis import LineFit

HALF = 0.5


def edge_components(label: str, interval_s: float, level: float, slope_per_s: float,
                    meter: MeterAccuracy) -> list[Component]:
    """The two lines of one instant found where a trace crosses a level: the sampling (the true
    crossing lies anywhere within half an interval of the interpolated one) and the meter's stated
    accuracy at the level, converted into time through the trace's slope there."""
    lines = [rectangular(f"{label}: sampling (half an interval)", HALF * interval_s, "s")]
    if math.isfinite(slope_per_s) and slope_per_s != 0.0:
        lines.append(rectangular(f"{label}: level accuracy ({meter.range_name}) through the slope",
                                 meter.half_width(level), meter.unit, 1.0 / abs(slope_per_s)))
    else:
        lines.append(rectangular(f"{label}: a level with no slope (instant known to the sample)",
                                 HALF * interval_s, "s"))
    return lines


def alignment_components(trace: Trace, label: str, per_s: float = 1.0) -> list[Component]:
    """The voltage trace's alignment onto the current trace's time base, for an instant read on the
    voltage and related to the current (`per_s` turns seconds into the budget's unit: 1 for a time, a
    slope for a level); none when both come from one acquisition."""
    if trace.alignment_half_width_s == 0.0:
        return []
    return [rectangular(f"{label}: voltage trace aligned onto the current ({trace.alignment_method})",
                        trace.alignment_half_width_s, "s", abs(per_s))]


def interval_budget(quantity: str, *edges: list[Component]) -> Budget:
    """A time between instants: the lines of every edge combined."""
    return Budget(quantity, "s", tuple(line for edge in edges for line in edge))


def level_budget(quantity: str, level: float, meter: MeterAccuracy, interval_s: float,
                 slope_per_s: float) -> Budget:
    """A level read at an instant on a moving trace: the meter's accuracy, and how far the trace
    moves within half a sample interval."""
    return Budget(quantity, meter.unit, (
        rectangular(f"meter accuracy ({meter.range_name} range)", meter.half_width(level), meter.unit),
        rectangular("trace movement within half a sample interval", HALF * interval_s * abs(slope_per_s),
                    meter.unit),
    ))


def fit_slope_component(name: str, fit: LineFit, unit: str) -> Component:
    """The standard error of a fitted slope, type A with n - 2 degrees of freedom."""
    return Component(name, TYPE_A, fit.slope_stderr, unit, NORMAL, DIVISORS[NORMAL], dof=fit.points - 2)


def rate_budget(fit: LineFit, meter: MeterAccuracy) -> Budget:
    """A ramp rate from a line fit: its standard error and the meter's gain error on the slope (the
    meter's offset does not change a slope)."""
    unit = f"{meter.unit}/s"
    return Budget("ramp rate", unit, (
        fit_slope_component("line fit (standard error of the slope)", fit, unit),
        rectangular(f"meter gain ({meter.range_name} range)", meter.gain_pct / 100.0 * abs(fit.slope), unit),
    )).with_dof_coverage()


def extrapolated_start_component(name: str, fit: LineFit, level: float) -> Component:
    """When a fitted ramp reaches `level`: the fit's uncertainty at that level, in time."""
    u_level = fit.value_stderr(fit.time_of(level))
    return Component(name, TYPE_A, u_level / abs(fit.slope), "s", NORMAL, DIVISORS[NORMAL], dof=fit.points - 2)


def reading_peak_budget(quantity: str, value: float, meter: MeterAccuracy, noise_rms: float) -> Budget:
    """The largest sample of a trace: the meter's accuracy and one sample's noise."""
    return Budget(quantity, meter.unit, (
        rectangular(f"meter accuracy ({meter.range_name} range)", meter.half_width(value), meter.unit),
        Component("sample noise (one sample, normal)", "B", noise_rms, meter.unit, NORMAL, DIVISORS[NORMAL]),
    ))
