"""Least-squares fits of the raw characterisation data to the unit's calibration model.

The unit's model is linear (dut-protocol.md section 4): code = dac_gain x mA + dac_offset and
mA = adc_gain x i_code + adc_offset. The real output has a bow, which a line cannot follow; the fit
keeps the residuals so the table can say how far the bow leaves the line from the truth.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


class FitError(ValueError):
    """Too few or degenerate points for a fit; names the fit."""


@dataclass(frozen=True)
class LineFit:
    """y = slope * x + intercept, with residuals y - fit(x) at each point."""

    name: str
    slope: float
    intercept: float
    x: tuple[float, ...]
    y: tuple[float, ...]
    residuals: tuple[float, ...]
    residual_unit: str

    @property
    def max_abs_residual(self) -> float:
        return float(np.max(np.abs(self.residuals)))

    @property
    def rms_residual(self) -> float:
        return float(np.sqrt(np.mean(np.square(self.residuals))))


def fit_line(
    name: str,
    x: Sequence[float],
    y: Sequence[float],
    residual_unit: str,
    weights: Sequence[float] | None = None,
) -> LineFit:
    """Weighted least squares of y on x (weights multiply the residuals, 1/sigma style)."""
    xa, ya = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if xa.shape != ya.shape or xa.size < 2:
        raise FitError(f"{name}: need at least two (x, y) pairs, got {xa.size}")
    if not (np.all(np.isfinite(xa)) and np.all(np.isfinite(ya))):
        raise FitError(f"{name}: non-finite data")
    if np.ptp(xa) == 0:
        raise FitError(f"{name}: all x values equal ({xa[0]}), slope undefined")
    w = np.ones_like(xa) if weights is None else np.asarray(weights, dtype=float)
    design = np.column_stack([xa, np.ones_like(xa)]) * w[:, None]
    (slope, intercept), *_ = np.linalg.lstsq(design, ya * w, rcond=None)
    residuals = ya - (slope * xa + intercept)
    return LineFit(
        name, float(slope), float(intercept), tuple(xa), tuple(ya), tuple(residuals), residual_unit
    )


@dataclass(frozen=True)
class DacFit:
    """The output fit inverted into the unit's DAC coefficients, residuals in mA of output."""

    dac_gain: float
    dac_offset: float
    line: LineFit  # true mA against code


def fit_dac(
    codes: Sequence[int], true_ma: Sequence[float], tolerance_ma: Sequence[float], polarity: str
) -> DacFit:
    """Fit true output current against DAC code, weighted by 1/tolerance so the line is best where
    the spec is tightest, then invert: code = dac_gain x mA + dac_offset."""
    weights = 1.0 / np.asarray(tolerance_ma, dtype=float)
    line = fit_line(f"DAC {polarity}", codes, true_ma, "mA", weights)
    if line.slope <= 0:
        raise FitError(f"DAC {polarity}: output does not rise with the code (slope {line.slope:.4g})")
    return DacFit(dac_gain=1.0 / line.slope, dac_offset=-line.intercept / line.slope, line=line)


def fit_adc(codes: Sequence[int], true_values: Sequence[float], name: str, unit: str) -> LineFit:
    """Reading = gain x code + offset, fitted against the analyzer's truth."""
    return fit_line(name, codes, true_values, unit)
