"""Each emulated unit's own errors: output gain, offset and bow and reading errors per polarity, the
voltage reading's errors, noise and residual current, drawn from a seed within the product spec's
stated uncalibrated maxima (dut-protocol.md section 1)."""

from __future__ import annotations

import json
from dataclasses import dataclass, fields, replace

import numpy as np

from rig.dut.protocol import POLARITIES, Polarity
from rig.spec import load_spec
from rig.units import PERCENT

_SPEC = load_spec()
_UNCAL = _SPEC.uncalibrated
FULL_SCALE_MA = _SPEC.calibration_nominal.dac_code_max / _SPEC.calibration_nominal.dac_gain

# Unit figures that the product spec does not list (instruments.md section 3, bench choices).
VOLTAGE_GAIN_MAX = 0.01
VOLTAGE_OFFSET_MAX_V = 0.3
OUTPUT_NOISE_MA_RMS = 0.003
RESIDUAL_MAX_UA = 3.0


# Drift of a unit's errors with time (a bench choice: the spec states no stability figure): per unit, each
# gain and offset moves linearly at a rate drawn once from a normal distribution, per year.
DRIFT_GAIN_PER_YEAR = (0.004, 0.008)  # (mean, standard deviation) of the relative change a year
DRIFT_OFFSET_MA_PER_YEAR = (0.0, 0.01)
DAYS_PER_YEAR = 365.25

CORNER_COUNT = 16
CORNER_PREFIX = "corner:"


class UnitErrorsError(ValueError):
    """An explicit unit-error description that cannot be used; the message names the field."""


def check_polarity(polarity: str) -> str:
    if polarity not in POLARITIES:
        raise ValueError(f"polarity must be one of {tuple(map(str, POLARITIES))}, got {polarity!r}")
    return polarity


@dataclass(frozen=True)
class PolarityErrors:
    output_gain: float  # relative: +0.031 means the output is 3.1 % high
    output_offset_ma: float
    output_bow_ma: float  # INL: parabolic deviation from the endpoint line, max at mid-scale
    reading_gain: float  # relative error of the current ADC path
    reading_offset_ma: float


_POLARITY_FIELDS = tuple(f.name for f in fields(PolarityErrors))


def _corner_polarity(direction: float, bow_sign: float) -> PolarityErrors:
    """Every error of one polarity at its stated maximum: gains and offsets of the output and of the
    reading all with `direction`'s sign (the reading then errs the same way as the output), the bow
    with its own sign."""
    return PolarityErrors(
        output_gain=direction * _UNCAL.output_gain_pct / PERCENT,
        output_offset_ma=direction * _UNCAL.output_offset_ma,
        output_bow_ma=bow_sign * _UNCAL.bow_pct_of_full_scale / PERCENT * FULL_SCALE_MA,
        reading_gain=direction * _UNCAL.reading_gain_pct / PERCENT,
        reading_offset_ma=direction * _UNCAL.reading_offset_ma,
    )


def _number(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value):
        raise UnitErrorsError(f"unit errors: {where} must be a finite number, got {value!r}")
    return float(value)


def _polarity_from(data: object, where: str) -> PolarityErrors:
    if not isinstance(data, dict):
        raise UnitErrorsError(f"unit errors: {where} must be an object of {_POLARITY_FIELDS}")
    unknown = sorted(set(data) - set(_POLARITY_FIELDS))
    missing = sorted(set(_POLARITY_FIELDS) - set(data))
    if unknown or missing:
        raise UnitErrorsError(f"unit errors: {where}: unknown fields {unknown}, missing fields {missing}")
    return PolarityErrors(**{name: _number(data[name], f"{where}.{name}") for name in _POLARITY_FIELDS})


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

    @classmethod
    def corner(cls, index: int) -> UnitErrors:
        """One of the CORNER_COUNT corners of the stated uncalibrated maxima: per polarity, one bit
        for the common sign of output and reading gain and offset, one for the bow's sign (index bits:
        POS direction, POS bow, NEG direction, NEG bow; a set bit is negative). The voltage reading
        errs at its maxima with POS's direction; noise and residual at their maxima."""
        if not 0 <= index < CORNER_COUNT:
            raise UnitErrorsError(f"unit errors: corner index must be 0..{CORNER_COUNT - 1}, got {index}")
        sign = [-1.0 if index >> bit & 1 else 1.0 for bit in range(4)]
        return cls(
            pos=_corner_polarity(sign[0], sign[1]),
            neg=_corner_polarity(sign[2], sign[3]),
            voltage_gain=sign[0] * VOLTAGE_GAIN_MAX,
            voltage_offset_v=sign[0] * VOLTAGE_OFFSET_MAX_V,
            noise_ma_rms=OUTPUT_NOISE_MA_RMS,
            residual_ua=RESIDUAL_MAX_UA,
        )

    @classmethod
    def parse(cls, text: str) -> UnitErrors:
        """`corner:<index>` (see corner) or a JSON object with every field of UnitErrors, `pos` and
        `neg` being objects of PolarityErrors' fields; explicit values are not limited to the maxima
        (a unit outside them is a test case too)."""
        if text.startswith(CORNER_PREFIX):
            index = text[len(CORNER_PREFIX):]
            if not index.isdigit():
                raise UnitErrorsError(f"unit errors: corner index must be an integer, got {index!r}")
            return cls.corner(int(index))
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UnitErrorsError(f"unit errors: neither corner:<index> nor JSON ({exc.msg})") from None
        if not isinstance(data, dict):
            raise UnitErrorsError("unit errors: JSON must be an object")
        names = [f.name for f in fields(cls)]
        unknown, missing = sorted(set(data) - set(names)), sorted(set(names) - set(data))
        if unknown or missing:
            raise UnitErrorsError(f"unit errors: unknown fields {unknown}, missing fields {missing}")
        values = {name: _number(data[name], name) for name in names if name not in ("pos", "neg")}
        return cls(pos=_polarity_from(data["pos"], "pos"), neg=_polarity_from(data["neg"], "neg"), **values)

    def aged(self, days: float, seed: int) -> UnitErrors:
        """These errors `days` later: every gain and offset of output and readings moved at the unit's own
        rate (drawn from `seed`, the same at every call, so ageing in steps adds up)."""
        rng = np.random.default_rng(seed)
        years = days / DAYS_PER_YEAR

        def moved(errors: PolarityErrors) -> PolarityErrors:
            gain, offset = rng.normal(*DRIFT_GAIN_PER_YEAR, size=2), rng.normal(*DRIFT_OFFSET_MA_PER_YEAR, size=2)
            return replace(errors, output_gain=errors.output_gain + float(gain[0]) * years,
                           output_offset_ma=errors.output_offset_ma + float(offset[0]) * years,
                           reading_gain=errors.reading_gain + float(gain[1]) * years,
                           reading_offset_ma=errors.reading_offset_ma + float(offset[1]) * years)

        pos, neg = moved(self.pos), moved(self.neg)
        voltage_gain = self.voltage_gain + float(rng.normal(*DRIFT_GAIN_PER_YEAR)) * years
        return replace(self, pos=pos, neg=neg, voltage_gain=voltage_gain)

    def for_polarity(self, polarity: str) -> PolarityErrors:
        return self.pos if check_polarity(polarity) == Polarity.POS else self.neg
