"""Shewhart individuals chart and the Western Electric rules 1 to 4.

Centre line: the mean of the values. Sigma: the average moving range of consecutive values divided by
d2 = 1.128 (the range of two), the usual individuals-chart estimate, which a slow drift inflates less
than the overall standard deviation does. Limits at centre +/- 3 sigma. Zones A, B, C lie 2-3, 1-2
and 0-1 sigma from the centre. The rules (Western Electric Statistical Quality Control Handbook, 1956):

1. one point beyond 3 sigma;
2. two of three consecutive points beyond 2 sigma on the same side;
3. four of five consecutive points beyond 1 sigma on the same side;
4. eight consecutive points on the same side of the centre line.

A violation is reported on the point that completes the pattern.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

D2_FOR_RANGE_OF_TWO = 1.128
RULES = {
    1: "1 point beyond 3 sigma",
    2: "2 of 3 beyond 2 sigma, same side",
    3: "4 of 5 beyond 1 sigma, same side",
    4: "8 in a row on one side of the centre",
}
# (rule, window, how many in the window, sigma beyond which they count; 0: the side of the centre line)
_RUNS = ((2, 3, 2, 2.0), (3, 5, 4, 1.0), (4, 8, 8, 0.0))


@dataclass
class IndividualsChart:
    values: np.ndarray
    centre: float
    sigma: float
    violations: dict[int, list[int]] = field(default_factory=dict)  # point index -> rules broken there

    @property
    def upper_limit(self) -> float:
        return self.centre + 3.0 * self.sigma

    @property
    def lower_limit(self) -> float:
        return self.centre - 3.0 * self.sigma

    @property
    def in_control(self) -> bool:
        return not self.violations

    def rules_broken(self) -> list[int]:
        return sorted({rule for rules in self.violations.values() for rule in rules})


def moving_range_sigma(values: np.ndarray) -> float:
    if len(values) < 2:
        return float("nan")
    return float(np.mean(np.abs(np.diff(values)))) / D2_FOR_RANGE_OF_TWO


def western_electric(values: np.ndarray, centre: float, sigma: float) -> dict[int, list[int]]:
    """Point index -> the rules whose pattern that point completes."""
    found: dict[int, list[int]] = {}
    if not np.isfinite(sigma) or sigma <= 0.0:
        return found
    z = (np.asarray(values, dtype=float) - centre) / sigma
    for i, value in enumerate(z):
        if abs(value) > 3.0:
            found.setdefault(i, []).append(1)
        for rule, window, needed, beyond in _RUNS:
            recent = z[max(0, i + 1 - window):i + 1]
            for side in (1.0, -1.0):
                if side * z[i] > beyond and int(np.sum(side * recent > beyond)) >= needed:
                    found.setdefault(i, []).append(rule)
                    break
    return found


def individuals_chart(values: np.ndarray | list[float], centre: float | None = None,
                      sigma: float | None = None) -> IndividualsChart:
    """The chart of `values` in time order; centre and sigma from the values unless given (e.g. from a
    reference period, so that later points are judged against it)."""
    data = np.asarray(values, dtype=float)
    data = data[np.isfinite(data)]
    if centre is None:
        centre = float(np.mean(data)) if len(data) else float("nan")
    sigma = moving_range_sigma(data) if sigma is None else sigma
    return IndividualsChart(values=data, centre=centre, sigma=sigma,
                            violations=western_electric(data, centre, sigma))
