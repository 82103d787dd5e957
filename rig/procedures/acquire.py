"""One reading of the analyzer, with its samples: what every accuracy point is built from.

DC: the analyzer's default integration. Pulsed: an integration window of a whole number of pulse
periods, so that the mean of the window is the mean of the waveform and not of a fraction of a pulse.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from rig.instruments.analyzer import PowerAnalyzer
from rig.station import ModelFigures
from rig.units import MA_PER_A

# A pulse train is sampled, not integrated: the window spans whole periods, and a sample count
# coprime with the period count puts every sample at a different phase of the pulse, so the mean
# resolves the duty cycle to 1/points instead of to the few phases a commensurate grid repeats.
MIN_PULSED_WINDOW_S = 0.100
# How far the window may grow, and the sample interval coarsen, for whole periods of whole samples.
MAX_PULSED_WINDOW_FACTOR = 4
MAX_INTERVAL_MULTIPLE = 64
MIN_PULSED_POINTS = 256
# A window this close to whole periods (relative) is whole enough: the mean then errs by at most this
# share of the pulse amplitude (0.01 %, against the 2 % tolerance), and 100 Hz keeps its 100 ms window
# (4883 samples of 20.48 us) instead of growing to the 320 ms that an exact multiple needs.
WINDOW_MATCH_REL = 1e-4


@dataclass(frozen=True)
class Acquisition:
    interval_s: float
    points: int

    @property
    def window_s(self) -> float:
        return self.interval_s * self.points


def dc_acquisition(figures: ModelFigures) -> Acquisition:
    return Acquisition(figures.sample_interval_s(figures.default_interval_s), figures.default_points)


def pulsed_acquisition(figures: ModelFigures, freq_hz: float) -> Acquisition:
    """Whole pulse periods, at least MIN_PULSED_WINDOW_S, sampled at a whole multiple of the analyzer's
    shortest interval (exact however the analyzer rounds an interval to its resolution), the finest that
    spans them to WINDOW_MATCH_REL, with a sample count coprime with the number of periods. The window may grow to
    MAX_PULSED_WINDOW_FACTOR times the shortest for that; a frequency with no such window is sampled at
    the finest interval over the nearest whole number of samples."""
    period_s = 1.0 / freq_hz
    base_s = figures.sample_interval_s(figures.default_interval_s)
    first = max(1, math.ceil(MIN_PULSED_WINDOW_S / period_s - WINDOW_MATCH_REL))
    for periods in range(first, MAX_PULSED_WINDOW_FACTOR * first + 1):
        for multiple in range(1, MAX_INTERVAL_MULTIPLE + 1):
            exact_points = periods * period_s / (multiple * base_s)
            points = round(exact_points)
            if points >= MIN_PULSED_POINTS and abs(points - exact_points) <= WINDOW_MATCH_REL * exact_points \
                    and math.gcd(points, periods) == 1:
                return Acquisition(multiple * base_s, points)
    points = max(1, round(first * period_s / base_s))
    while points > 1 and math.gcd(points, first) != 1:
        points -= 1
    return Acquisition(base_s, points)


@dataclass(frozen=True)
class Reading:
    """The mean current and voltage of one acquisition, and the current samples (for type A)."""

    current_ma: float
    voltage_v: float
    current_samples_ma: np.ndarray
    acquisition: Acquisition

    @property
    def window_s(self) -> float:
        return self.acquisition.window_s


def take_reading(analyzer: PowerAnalyzer, acquisition: Acquisition) -> Reading:
    """One acquisition of current and voltage together (one trigger, both channels).

    The unit's own reading is asked for after it, not during: the protocol does not say over which
    window the unit averages, so only a reading taken after a settled window is sure to cover it."""
    analyzer.arm_trace(acquisition.interval_s, acquisition.points, immediate=True)
    trace = analyzer.fetch_trace(with_voltage=True)
    samples_ma = trace.current_a * MA_PER_A
    voltage = float(np.mean(trace.voltage_v)) if trace.voltage_v is not None else math.nan
    return Reading(float(np.mean(samples_ma)), voltage, samples_ma, acquisition)


DC_REPEATABILITY_BLOCKS = 16


def repeatability_samples(reading: Reading, freq_hz: float | None) -> np.ndarray:
    """Means of independent blocks of one acquisition, for the type-A line of the budget.

    DC: equal blocks. Pulsed: blocks of whole pulse periods (a sample of a pulse train says nothing
    of repeatability; the mean of whole periods does). Fewer than two blocks: empty (no type-A line).
    """
    samples = reading.current_samples_ma
    blocks = DC_REPEATABILITY_BLOCKS
    if freq_hz is not None:
        periods = int(round(reading.window_s * freq_hz))
        blocks = max((b for b in range(1, DC_REPEATABILITY_BLOCKS + 1) if periods % b == 0), default=1)
    if blocks < 2 or samples.size < blocks:
        return np.array([])
    usable = samples[: samples.size - samples.size % blocks]
    return usable.reshape(blocks, -1).mean(axis=1)
