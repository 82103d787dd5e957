"""Each emulated unit's own errors: output gain, offset and bow and reading errors per polarity, the
voltage reading's errors, noise and residual current, drawn from a seed within the product spec's
stated uncalibrated maxima (dut-protocol.md section 1)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rig.spec import load_spec
from rig.units import PERCENT

_SPEC = load_spec()
_UNCAL = _SPEC.uncalibrated
FULL_SCALE_MA = _SPEC.calibration_nominal.dac_code_max / _SPEC.calibration_nominal.dac_gain
POLARITIES = ("POS", "NEG")

# Unit figures that the product spec does not list (instruments.md section 3, bench choices).
VOLTAGE_GAIN_MAX = 0.01
VOLTAGE_OFFSET_MAX_V = 0.3
OUTPUT_NOISE_MA_RMS = 0.003
RESIDUAL_MAX_UA = 3.0


def check_polarity(polarity: str) -> str:
    if polarity not in POLARITIES:
        raise ValueError(f"polarity must be one of {POLARITIES}, got {polarity!r}")
    return polarity


@dataclass(frozen=True)
class PolarityErrors:
    output_gain: float  # relative: +0.031 means the output is 3.1 % high
    output_offset_ma: float
    output_bow_ma: float  # INL: parabolic deviation from the endpoint line, max at mid-scale
    reading_gain: float  # relative error of the current ADC path
    reading_offset_ma: float


def _draw_polarity(rng: np.random.Generator, scale: float) -> PolarityErrors:
    gain_max = _UNCAL.output_gain_pct / PERCENT
    offset_max = _UNCAL.output_offset_ma
    if scale > 1.0:
        # A uniform draw within ±scale×max may land inside the correctable range; take the top
        # band [scale-1, scale]×max, gain high, so that nominal/(1+gain) leaves the dac_gain bounds.
        gain = rng.uniform(scale - 1.0, scale) * gain_max
        offset = rng.choice((-1.0, 1.0)) * rng.uniform(scale - 1.0, scale) * offset_max
    else:
        gain = rng.uniform(-1.0, 1.0) * gain_max * scale
        offset = rng.uniform(-1.0, 1.0) * offset_max * scale
    bow_max_ma = _UNCAL.bow_pct_of_full_scale / PERCENT * FULL_SCALE_MA
    return PolarityErrors(
        output_gain=float(gain),
        output_offset_ma=float(offset),
        output_bow_ma=float(rng.uniform(-1.0, 1.0) * bow_max_ma),
        reading_gain=float(rng.uniform(-1.0, 1.0) * _UNCAL.reading_gain_pct / PERCENT),
        reading_offset_ma=float(rng.uniform(-1.0, 1.0) * _UNCAL.reading_offset_ma),
    )


@dataclass(frozen=True)
class UnitErrors:
    pos: PolarityErrors
    neg: PolarityErrors
    voltage_gain: float  # relative error of the voltage ADC path (within ±1 %)
    voltage_offset_v: float  # within ±0.3 V
    noise_ma_rms: float  # 3 µA rms, instruments.md
    residual_ua: float  # leakage with the output off, 0..3 µA
    reading_noise_ma_rms: float = 0.0  # noise of the current reading's ADC (a bench variant's)

    @classmethod
    def from_seed(cls, seed: int, scale: float = 1.0) -> UnitErrors:
        """Errors within the spec's `uncalibrated` maxima; `scale` > 1 scales the output errors
        beyond what the calibration bounds can correct."""
        rng = np.random.default_rng(seed)
        return cls(
            pos=_draw_polarity(rng, scale),
            neg=_draw_polarity(rng, scale),
            voltage_gain=float(rng.uniform(-1.0, 1.0) * VOLTAGE_GAIN_MAX),
            voltage_offset_v=float(rng.uniform(-1.0, 1.0) * VOLTAGE_OFFSET_MAX_V),
            noise_ma_rms=OUTPUT_NOISE_MA_RMS,
            residual_ua=float(rng.uniform(0.0, RESIDUAL_MAX_UA)),
        )

    def for_polarity(self, polarity: str) -> PolarityErrors:
        return self.pos if check_polarity(polarity) == "POS" else self.neg


