"""A capture as its judge saw it: the samples, the limits they are judged against and the instants the
analysis found. Plain data, declared by the cut-off steps' judges (rig/procedures/cutoffs/) and drawn by
the records side (rig/records/trace_plots.py), so that neither imports the other."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


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
class TraceView:
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
