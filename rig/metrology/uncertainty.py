"""Measurement uncertainty after the GUM (JCGM 100:2008): one budget per measured point.

A budget is a list of components, each reduced to a standard uncertainty (value / divisor ×
|sensitivity|), combined by root sum of squares and expanded by a coverage factor k. Every
line is kept so that a report can show where the uncertainty comes from.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from scipy import stats

from rig.units import PERCENT

RECTANGULAR = "rectangular"
NORMAL = "normal"
TRIANGULAR = "triangular"

DIVISORS = {RECTANGULAR: math.sqrt(3.0), NORMAL: 1.0, TRIANGULAR: math.sqrt(6.0)}

TYPE_A = "A"
TYPE_B = "B"

# k = 2 gives about 95.45 % coverage for a normal distribution with infinite degrees of freedom.
DEFAULT_COVERAGE_K = 2.0
COVERAGE_PROBABILITY = 0.9545

# A resolution of one least significant digit means the true value can be anywhere within
# ± half a digit of the display.
RESOLUTION_HALF_WIDTH_FRACTION = 0.5


@dataclass(frozen=True)
class Component:
    """One line of a budget.

    `value` is the half-width of the limits (type B) or the standard deviation of the mean
    (type A), in `unit`; `sensitivity` converts `unit` into the budget's unit.
    `dof` is the degrees of freedom (infinite for a stated spec taken as limits).
    """

    name: str
    kind: str
    value: float
    unit: str
    distribution: str
    divisor: float
    sensitivity: float = 1.0
    dof: float = math.inf

    @property
    def standard_uncertainty(self) -> float:
        # A zero sensitivity makes the line contribute nothing, even for an infinite value
        # (e.g. the tolerance of an open circuit seen by a current source).
        if self.sensitivity == 0.0:
            return 0.0
        return abs(self.value) / self.divisor * abs(self.sensitivity)


def rectangular(name: str, half_width: float, unit: str, sensitivity: float = 1.0) -> Component:
    """A type B component from limits ±half_width (a stated spec, a resolution)."""
    return Component(name, TYPE_B, half_width, unit, RECTANGULAR, DIVISORS[RECTANGULAR],
                     sensitivity)


@dataclass(frozen=True)
class Budget:
    quantity: str
    unit: str
    components: tuple[Component, ...]
    coverage_k: float = DEFAULT_COVERAGE_K

    @property
    def combined_standard(self) -> float:
        return math.sqrt(sum(c.standard_uncertainty ** 2 for c in self.components))

    @property
    def expanded(self) -> float:
        return self.coverage_k * self.combined_standard

    @property
    def effective_dof(self) -> float:
        """Welch-Satterthwaite: u_c⁴ / Σ(u_i⁴ / ν_i); infinite when every line is type B."""
        u_c = self.combined_standard
        denominator = sum(c.standard_uncertainty ** 4 / c.dof for c in self.components
                          if math.isfinite(c.dof) and c.dof > 0)
        if denominator == 0.0:
            return math.inf
        return u_c ** 4 / denominator

    def with_dof_coverage(self, probability: float = COVERAGE_PROBABILITY) -> Budget:
        """The same budget with k from Student's t at the effective degrees of freedom."""
        return Budget(self.quantity, self.unit, self.components,
                      coverage_factor(self.effective_dof, probability))

    def as_rows(self) -> list[dict]:
        """One dict per component, with its standard uncertainty, for report tables."""
        rows = []
        for c in self.components:
            row = asdict(c)
            row["standard_uncertainty"] = c.standard_uncertainty
            row["standard_uncertainty_unit"] = self.unit
            rows.append(row)
        return rows

    def as_dict(self) -> dict:
        """The whole budget as plain data, for the results store and JSON reports."""
        return {
            "quantity": self.quantity,
            "unit": self.unit,
            "components": self.as_rows(),
            "combined_standard": self.combined_standard,
            "coverage_k": self.coverage_k,
            "expanded": self.expanded,
            "effective_dof": self.effective_dof,
        }


def coverage_factor(dof: float, probability: float = COVERAGE_PROBABILITY) -> float:
    """Two-sided Student's t factor; the k = 2 convention when the dof are infinite."""
    if not math.isfinite(dof):
        return DEFAULT_COVERAGE_K
    return float(stats.t.ppf(0.5 + probability / 2.0, dof))


@dataclass(frozen=True)
class MeterAccuracy:
    """A stated accuracy: ±(gain_pct % of reading + offset) on one range, in `unit`."""

    gain_pct: float
    offset: float
    resolution: float
    unit: str
    range_name: str

    def half_width(self, reading: float) -> float:
        return self.gain_pct / PERCENT * abs(reading) + self.offset

    def scaled(self, factor: float, unit: str) -> MeterAccuracy:
        """The same spec in another unit (e.g. factor 1000 for A -> mA)."""
        return MeterAccuracy(self.gain_pct, self.offset * factor, self.resolution * factor,
                             unit, self.range_name)


def type_a_component(name: str, samples: Sequence[float], unit: str) -> Component:
    """Repeatability: the experimental standard deviation of the mean, s / sqrt(n), n - 1 dof."""
    n = len(samples)
    if n < 2:
        raise ValueError(f"{name}: a type A evaluation needs at least 2 samples, got {n}")
    s_mean = statistics.stdev(samples) / math.sqrt(n)
    return Component(name, TYPE_A, s_mean, unit, NORMAL, DIVISORS[NORMAL], dof=n - 1)


def reading_budget(quantity: str, reading: float, meter: MeterAccuracy,
                   samples: Sequence[float] | None = None,
                   extra: Sequence[Component] = ()) -> Budget:
    """Budget of one meter reading: stated accuracy, resolution, repeatability, extras."""
    components = [
        rectangular(f"meter accuracy ({meter.range_name} range)", meter.half_width(reading),
                    meter.unit),
        rectangular(f"meter resolution ({meter.range_name} range, half a digit)",
                    meter.resolution * RESOLUTION_HALF_WIDTH_FRACTION, meter.unit),
    ]
    if samples is not None and len(samples) >= 2:
        components.append(type_a_component(f"repeatability (type A, n={len(samples)})",
                                           samples, meter.unit))
    components.extend(extra)
    return Budget(quantity, meter.unit, tuple(components))


def load_tolerance_component(current_a: float, load_ohm: float, gain_pct: float,
                             offset_ohm: float, in_compliance: bool,
                             *, result_unit: str = "A") -> Component:
    """The load resistor's tolerance as a budget line.

    In compliance the current is V/R, so dI/dR = -I/R; below compliance the unit is a current
    source and R does not set the current: the line is kept with sensitivity 0 so the report
    shows it was considered. `result_unit` ("A" or "mA") is the unit of the contribution.
    """
    scale = {"A": 1.0, "mA": 1000.0}[result_unit]
    if not math.isfinite(load_ohm):
        return rectangular("load tolerance (open circuit: no effect)", 0.0, "ohm", 0.0)
    half_width_ohm = gain_pct / PERCENT * load_ohm + offset_ohm
    if not in_compliance:
        return rectangular(f"load tolerance ({load_ohm:g} ohm; current source below compliance:"
                           " no effect)", half_width_ohm, "ohm", 0.0)
    sensitivity = -current_a / load_ohm * scale
    return rectangular(f"load tolerance ({load_ohm:g} ohm; in compliance, dI/dR = -I/R "
                       f"in {result_unit}/ohm)", half_width_ohm, "ohm", sensitivity)
