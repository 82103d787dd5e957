"""Two traces from two instruments on one time base: the current trace's (the ammeter digitizes it),
with the voltage trace moved onto it and resampled there.

How the two trigger instants are related, and how well:
- hardware trigger (declared in the station file, `trigger_line`): the ammeter's trigger output starts
  the voltmeter's record on the same edge; the voltmeter's first sample follows the edge by its stated
  trigger latency (the model table's `trigger_latency_s`), anywhere in [0, latency];
- trigger timestamps (no trigger line): the rig triggers each instrument by a command and takes the
  host's monotonic clock before sending it and after its checked reply: each instrument triggered
  somewhere inside its own window, so the offset is the difference of the windows' middles, within
  half the sum of their widths.
The uncertainty is a rectangular half-width in seconds; each cut-off's budget turns it into its own
unit (rig/procedures/cutoffs/budgets.py, `alignment_components`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ONE_INSTRUMENT = "one instrument"
HARDWARE_TRIGGER = "hardware trigger"
TIMESTAMPS = "trigger timestamps"
HALF = 0.5


@dataclass(frozen=True)
class Alignment:
    """Where the voltage record's trigger sample lies on the current trace's time axis."""

    method: str
    offset_s: float  # estimate: voltage trigger sample minus current trigger sample
    half_width_s: float  # the true offset lies within offset_s -/+ this (rectangular)


def same_instrument() -> Alignment:
    return Alignment(ONE_INSTRUMENT, 0.0, 0.0)


def from_hardware_trigger(trigger_latency_s: float) -> Alignment:
    """The voltmeter's first sample somewhere in [0, latency] after the shared edge."""
    return Alignment(HARDWARE_TRIGGER, HALF * trigger_latency_s, HALF * trigger_latency_s)


def from_timestamps(current_window_s: tuple[float, float], voltage_window_s: tuple[float, float]) -> Alignment:
    """Each trigger happened inside its (sent, acknowledged) window of the host's clock."""
    (c0, c1), (v0, v1) = current_window_s, voltage_window_s
    if c1 < c0 or v1 < v0:
        raise ValueError(f"a trigger window ends before it starts: {current_window_s}, {voltage_window_s}")
    offset_s = HALF * (v0 + v1) - HALF * (c0 + c1)
    return Alignment(TIMESTAMPS, offset_s, HALF * (c1 - c0) + HALF * (v1 - v0))


@dataclass(frozen=True)
class AlignedSpan:
    """The current samples [first, stop) that the voltage record covers, and the voltage there."""

    first: int
    stop: int
    voltage_v: np.ndarray


def align_onto(current_time_s: np.ndarray, voltage_time_s: np.ndarray, voltage_v: np.ndarray,
               alignment: Alignment) -> AlignedSpan:
    """The voltage trace (times relative to its own trigger sample) on the current trace's times
    (relative to its trigger sample): linear interpolation, over the span both cover only."""
    if voltage_v.size < 2 or voltage_time_s.size != voltage_v.size:
        raise ValueError(f"a voltage trace needs at least 2 samples with their times, got {voltage_v.size}")
    shifted_s = voltage_time_s + alignment.offset_s
    inside = np.flatnonzero((current_time_s >= shifted_s[0]) & (current_time_s <= shifted_s[-1]))
    if inside.size == 0:
        raise ValueError("the voltage trace does not overlap the current trace")
    first, stop = int(inside[0]), int(inside[-1]) + 1
    return AlignedSpan(first, stop, np.interp(current_time_s[first:stop], shifted_s, voltage_v))
