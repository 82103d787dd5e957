"""Pure functions over digitized traces: crossing times, slope fits, overshoot, summaries.

No instrument, no clock: each takes sample times and values (numpy arrays) and returns numbers,
so each is tested on synthetic traces (tests/unit/test_trace_analysis.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# A least-squares line needs at least three points to leave a residual to estimate its error from.
MIN_FIT_POINTS = 3


def crossing_time(
    time_s: np.ndarray, values: np.ndarray, level: float, *, rising: bool, after_s: float = -math.inf
) -> float:
    """The first time at or after `after_s` the values cross `level` in the given direction,
    linearly interpolated between the two samples around it; NaN when they never do."""
    t, y = np.asarray(time_s, dtype=float), np.asarray(values, dtype=float)
    start = int(np.searchsorted(t, after_s, side="left"))
    above = y[start:] > level if rising else y[start:] < level
    hits = np.flatnonzero(above)
    if hits.size == 0:
        return math.nan
    k = start + int(hits[0])
    if k == 0 or k == start:
        return float(t[k])
    y0, y1 = y[k - 1], y[k]
    fraction = (level - y0) / (y1 - y0) if y1 != y0 else 1.0
    return float(t[k - 1] + min(max(fraction, 0.0), 1.0) * (t[k] - t[k - 1]))


def value_at(time_s: np.ndarray, values: np.ndarray, at_s: float) -> float:
    """The trace's value at `at_s`, linearly interpolated; NaN outside the trace."""
    t = np.asarray(time_s, dtype=float)
    if not t[0] <= at_s <= t[-1]:
        return math.nan
    return float(np.interp(at_s, t, np.asarray(values, dtype=float)))


def local_slope(time_s: np.ndarray, values: np.ndarray, at_s: float, half_width_s: float) -> float:
    """The slope (per s) of a straight line fitted to the samples within ±half_width_s of at_s."""
    t = np.asarray(time_s, dtype=float)
    mask = np.abs(t - at_s) <= half_width_s
    if mask.sum() < MIN_FIT_POINTS:
        return math.nan
    return fit_line(t[mask], np.asarray(values, dtype=float)[mask]).slope


@dataclass(frozen=True)
class LineFit:
    slope: float
    intercept: float
    slope_stderr: float
    intercept_stderr: float
    residual_sd: float
    points: int
    time_mean_s: float = 0.0
    time_sxx: float = math.inf

    def value_stderr(self, time_s: float) -> float:
        """Standard error of the fitted line's value at `time_s` (slope and intercept correlated)."""
        return self.residual_sd * math.sqrt(1.0 / self.points + (time_s - self.time_mean_s) ** 2 / self.time_sxx)

    def at(self, time_s: float | np.ndarray) -> float | np.ndarray:
        return self.intercept + self.slope * time_s

    def time_of(self, value: float) -> float:
        """When the line reaches `value`."""
        return (value - self.intercept) / self.slope


def fit_line(time_s: np.ndarray, values: np.ndarray) -> LineFit:
    """Ordinary least squares y = a + b t, with the standard errors of a and b."""
    t, y = np.asarray(time_s, dtype=float), np.asarray(values, dtype=float)
    n = len(t)
    if n < MIN_FIT_POINTS:
        raise ValueError(f"a line fit needs at least {MIN_FIT_POINTS} points, got {n}")
    t_mean = t.mean()
    sxx = float(np.sum((t - t_mean) ** 2))
    if sxx == 0.0:
        raise ValueError("a line fit needs samples at more than one time")
    slope = float(np.sum((t - t_mean) * (y - y.mean())) / sxx)
    intercept = float(y.mean() - slope * t_mean)
    residual_sd = float(np.sqrt(np.sum((y - intercept - slope * t) ** 2) / (n - 2)))
    slope_se = residual_sd / math.sqrt(sxx)
    intercept_se = residual_sd * math.sqrt(1.0 / n + t_mean ** 2 / sxx)
    return LineFit(slope, intercept, slope_se, intercept_se, residual_sd, n, float(t_mean), sxx)


def fit_between_levels(
    time_s: np.ndarray, values: np.ndarray, low: float, high: float, *, rising: bool, after_s: float = -math.inf,
    smooth_window: int = 1,
) -> LineFit:
    """Fit the first stretch that passes from `low` to `high` (rising) or from `high` to `low`
    (falling), using the raw samples strictly between the two crossings; the crossings are found on
    a moving average of `smooth_window` samples so that noise on a plateau does not end it early."""
    first, second = (low, high) if rising else (high, low)
    smooth = moving_average(values, smooth_window)
    t_first = crossing_time(time_s, smooth, first, rising=rising, after_s=after_s)
    t_second = crossing_time(time_s, smooth, second, rising=rising, after_s=t_first)
    if math.isnan(t_first) or math.isnan(t_second):
        raise ValueError(f"the trace does not pass from {first:g} to {second:g}")
    t = np.asarray(time_s, dtype=float)
    mask = (t > t_first) & (t < t_second)
    return fit_line(t[mask], np.asarray(values, dtype=float)[mask])


def moving_average(values: np.ndarray, window: int) -> np.ndarray:
    """Centred moving average of `window` samples (same length; the ends use fewer samples)."""
    y = np.asarray(values, dtype=float)
    if window <= 1:
        return y.copy()
    kernel = np.ones(window)
    sums = np.convolve(y, kernel, mode="same")
    counts = np.convolve(np.ones_like(y), kernel, mode="same")
    return sums / counts


@dataclass(frozen=True)
class Overshoot:
    peak: float  # largest excess of the values over the reference
    peak_s: float  # when it happened
    duration_s: float  # total time the excess stayed above the detection level


def overshoot(time_s: np.ndarray, values: np.ndarray, reference: np.ndarray, detect_level: float) -> Overshoot:
    """How far and how long `values` exceed `reference` (same sample times)."""
    t = np.asarray(time_s, dtype=float)
    excess = np.asarray(values, dtype=float) - np.asarray(reference, dtype=float)
    k = int(np.argmax(excess))
    interval_s = float(np.median(np.diff(t))) if len(t) > 1 else 0.0
    duration_s = float(np.count_nonzero(excess > detect_level)) * interval_s
    return Overshoot(float(excess[k]), float(t[k]), duration_s)


def downsample(time_s: np.ndarray, values: np.ndarray, max_points: int) -> dict[str, list[float]]:
    """A summary for the results store: at most `max_points` (min/max kept per bucket, so spikes
    and cut-offs survive the reduction)."""
    t, y = np.asarray(time_s, dtype=float), np.asarray(values, dtype=float)
    if len(t) <= max_points:
        return {"time_s": t.tolist(), "values": y.tolist()}
    buckets = np.array_split(np.arange(len(t)), max(1, max_points // 2))
    keep: list[int] = []
    for bucket in buckets:
        lo, hi = bucket[int(np.argmin(y[bucket]))], bucket[int(np.argmax(y[bucket]))]
        keep.extend(sorted({int(lo), int(hi)}))
    return {"time_s": t[keep].tolist(), "values": y[keep].tolist()}


@dataclass(frozen=True)
class TripInstants:
    """Where a cut-off that ends a rising trace acted, against the band of true values at which a
    healthy unit's condition is met (its threshold widened by its own reading tolerance)."""

    band_entered_s: float  # the trace first crossed the band's low edge (NaN: never)
    band_left_s: float  # ... its high edge (NaN: the cut-off acted before it got there)
    trip_s: float  # the output began to fall: the trace's peak
    off_s: float  # below the off level after the trip (NaN: never)
    trip_level: float  # the value `persist_s` before the trip
    condition_met_by_s: float  # the latest instant a healthy unit's condition can have been met

    @property
    def cutoff_s(self) -> float:
        """From the latest instant a healthy unit's condition can have been met to the output off."""
        return self.off_s - self.condition_met_by_s if math.isfinite(self.off_s) else math.inf


def trip_instants(time_s: np.ndarray, values: np.ndarray, band: tuple[float, float], persist_s: float,
                  off_level: float) -> TripInstants:
    """The instants of a cut-off on a rising trace (over-current with an injected runaway).

    A healthy unit's condition is met when its own reading crosses the threshold, so while the true
    value is somewhere in `band`, and the unit trips after it has held for at least `persist_s`. The
    latest instant that condition can have been met is therefore the earlier of the band's high edge
    crossing and `persist_s` before the trip; a time limit counted from there rejects no healthy unit.
    """
    t, y = np.asarray(time_s, dtype=float), np.asarray(values, dtype=float)
    low, high = band
    k_peak = int(np.argmax(y))
    trip_s = float(t[k_peak])
    entered_s = crossing_time(t, y, low, rising=True)
    left_s = crossing_time(t, y, high, rising=True)
    if not left_s <= trip_s:
        left_s = math.nan  # the peak is where it stopped rising: a crossing after it is not this climb's
    held_from_s = trip_s - persist_s
    condition_met_by_s = held_from_s if math.isnan(left_s) else min(left_s, held_from_s)
    return TripInstants(
        band_entered_s=entered_s,
        band_left_s=left_s,
        trip_s=trip_s,
        off_s=crossing_time(t, y, off_level, rising=False, after_s=trip_s),
        trip_level=value_at(t, y, held_from_s),
        condition_met_by_s=condition_met_by_s,
    )
