"""The product spec: loaded from a TOML file, validated, typed; the only place limits live.

Tolerances are methods, so a test never types a limit: it asks the spec for it.
"""

from __future__ import annotations

import math
import tomllib
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from rig.validation import describe_invalid

DEFAULT_SPEC = "ix30.toml"
# A tolerance in percent of the value is below this: at 100 % any reading, even 0, would pass.
MAX_TOLERANCE_PCT = 100.0


class SpecError(ValueError):
    """A product spec file that is missing, malformed or inconsistent; names file and field."""


class _Section(BaseModel):
    # A limit of inf or nan is no limit: every number in a spec is finite.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def _ordered(section: str, low_name: str, low: float, high_name: str, high: float) -> None:
    if not low < high:
        raise ValueError(f"{section}: {low_name} {low:g} must be below {high_name} {high:g}")


class Setpoint(_Section):
    min_ma: float = Field(ge=0)
    max_ma: float = Field(gt=0)
    resolution_ma: float = Field(gt=0)

    @model_validator(mode="after")
    def _range(self) -> Setpoint:
        _ordered("setpoint", "min_ma", self.min_ma, "max_ma", self.max_ma)
        return self


class Compliance(_Section):
    clause: str
    v_max_nominal_v: float = Field(gt=0)
    v_abs_max_v: float = Field(gt=0)


class DcAccuracy(_Section):
    clause: str
    pct_of_setpoint: float = Field(ge=0, lt=MAX_TOLERANCE_PCT)
    abs_ma: float = Field(ge=0)
    setpoint_min_ma: float = Field(ge=0)
    setpoint_max_ma: float = Field(gt=0)
    max_fraction_of_v_max: float = Field(gt=0, le=1)

    @model_validator(mode="after")
    def _range(self) -> DcAccuracy:
        _ordered("dc_accuracy", "setpoint_min_ma", self.setpoint_min_ma, "setpoint_max_ma", self.setpoint_max_ma)
        return self

    def tolerance_ma(self, setpoint_ma: float) -> float:
        return self.pct_of_setpoint / 100.0 * abs(setpoint_ma) + self.abs_ma


class PulsedAccuracy(_Section):
    clause: str
    pct_of_mean: float = Field(ge=0, lt=MAX_TOLERANCE_PCT)
    abs_ma: float = Field(ge=0)
    freq_min_hz: float = Field(gt=0)
    freq_max_hz: float = Field(gt=0)
    duty_min_pct: float = Field(gt=0, lt=100)
    duty_max_pct: float = Field(gt=0, lt=100)

    @model_validator(mode="after")
    def _ranges(self) -> PulsedAccuracy:
        _ordered("pulsed_accuracy", "freq_min_hz", self.freq_min_hz, "freq_max_hz", self.freq_max_hz)
        _ordered("pulsed_accuracy", "duty_min_pct", self.duty_min_pct, "duty_max_pct", self.duty_max_pct)
        return self

    def tolerance_ma(self, mean_ma: float) -> float:
        return self.pct_of_mean / 100.0 * abs(mean_ma) + self.abs_ma


class ReadingCurrent(_Section):
    clause: str
    pct_of_reading: float = Field(ge=0, lt=MAX_TOLERANCE_PCT)
    abs_ma: float = Field(ge=0)

    def tolerance_ma(self, reading_ma: float) -> float:
        return self.pct_of_reading / 100.0 * abs(reading_ma) + self.abs_ma


class ReadingVoltage(_Section):
    clause: str
    pct_of_reading: float = Field(ge=0, lt=MAX_TOLERANCE_PCT)
    abs_v: float = Field(ge=0)

    def tolerance_v(self, reading_v: float) -> float:
        return self.pct_of_reading / 100.0 * abs(reading_v) + self.abs_v


class Ramp(_Section):
    clause: str
    rate_min_ma_per_s: float = Field(gt=0)
    rate_max_ma_per_s: float = Field(gt=0)
    rate_default_ma_per_s: float = Field(gt=0)
    tolerance_pct: float = Field(ge=0, lt=MAX_TOLERANCE_PCT)

    @model_validator(mode="after")
    def _range(self) -> Ramp:
        _ordered("ramp", "rate_min_ma_per_s", self.rate_min_ma_per_s, "rate_max_ma_per_s", self.rate_max_ma_per_s)
        if not self.rate_min_ma_per_s <= self.rate_default_ma_per_s <= self.rate_max_ma_per_s:
            raise ValueError(f"ramp: rate_default_ma_per_s {self.rate_default_ma_per_s:g} outside"
                             f" [{self.rate_min_ma_per_s:g}, {self.rate_max_ma_per_s:g}]")
        return self


class Overcurrent(_Section):
    clause: str
    ratio_of_setpoint: float = Field(gt=1)
    margin_ma: float = Field(ge=0)
    absolute_ma: float = Field(gt=0)
    persist_s: float = Field(gt=0)
    off_level_ma: float = Field(gt=0)
    off_within_s: float = Field(gt=0)

    def threshold_ma(self, setpoint_ma: float | None) -> float:
        """Trip level for a setpoint; None (raw DAC drive) means the absolute limit only."""
        if setpoint_ma is None:
            return self.absolute_ma
        relative = max(self.ratio_of_setpoint * setpoint_ma, setpoint_ma + self.margin_ma)
        return min(relative, self.absolute_ma)


class LossOfContact(_Section):
    clause: str
    voltage_fraction_of_v_max: float = Field(gt=0, le=1)
    current_fraction_of_setpoint: float = Field(gt=0, le=1)
    persist_s: float = Field(gt=0)
    off_within_s: float = Field(gt=0)


class ComplianceRecovery(_Section):
    clause: str
    overshoot_max_ma: float = Field(ge=0)
    overshoot_max_s: float = Field(ge=0)


class Timer(_Section):
    clause: str
    min_s: float = Field(gt=0)
    max_s: float = Field(gt=0)
    tolerance_pct: float = Field(ge=0, lt=MAX_TOLERANCE_PCT)
    tolerance_abs_s: float = Field(ge=0)

    @model_validator(mode="after")
    def _range(self) -> Timer:
        _ordered("timer", "min_s", self.min_s, "max_s", self.max_s)
        if not self.tolerance_abs_s < self.min_s:
            raise ValueError(f"timer: tolerance_abs_s {self.tolerance_abs_s:g} must be below min_s {self.min_s:g}")
        return self

    def tolerance_s(self, duration_s: float) -> float:
        return self.tolerance_pct / 100.0 * duration_s + self.tolerance_abs_s


class ResidualCurrent(_Section):
    clause: str
    max_ua: float = Field(gt=0)


class TestLoads(_Section):
    clause: str
    ohms: tuple[float, ...] = Field(min_length=1)
    open_circuit: bool

    def all_ohms(self) -> tuple[float, ...]:
        """The test loads, open circuit as math.inf at the end."""
        return self.ohms + ((math.inf,) if self.open_circuit else ())


class Uncalibrated(_Section):
    output_gain_pct: float = Field(ge=0, lt=MAX_TOLERANCE_PCT)
    output_offset_ma: float = Field(ge=0)
    reading_gain_pct: float = Field(ge=0, lt=MAX_TOLERANCE_PCT)
    reading_offset_ma: float = Field(ge=0)
    bow_pct_of_full_scale: float = Field(ge=0, lt=MAX_TOLERANCE_PCT)


Bounds = tuple[float, float]


class CalibrationBounds(_Section):
    dac_gain: Bounds
    dac_offset: Bounds
    adc_gain: Bounds
    adc_offset: Bounds
    v_gain: Bounds
    v_offset: Bounds

    @model_validator(mode="after")
    def _ordered(self) -> CalibrationBounds:
        for name, (low, high) in self.model_dump().items():
            if not low < high:
                raise ValueError(f"{name}: lower bound {low} must be below upper bound {high}")
        return self

    def violations(self, **coefficients: float) -> list[str]:
        """Names and values of the coefficients outside their bounds (empty when all inside)."""
        problems = []
        for name, value in coefficients.items():
            low, high = getattr(self, name)
            if not (math.isfinite(value) and low <= value <= high):
                problems.append(f"{name}={value:.6g} outside [{low:g}, {high:g}]")
        return problems


class CalibrationNominal(_Section):
    dac_gain: float
    dac_offset: float
    adc_gain: float
    adc_offset: float
    v_gain: float
    v_offset: float
    dac_code_max: int = Field(gt=0)
    adc_code_max: int = Field(gt=0)


class ProductSpec(_Section):
    product: Literal["IX-30"]  # the rig speaks the IX-30's protocol: a spec of another product is refused
    document: str
    setpoint: Setpoint
    compliance: Compliance
    dc_accuracy: DcAccuracy
    pulsed_accuracy: PulsedAccuracy
    reading_current: ReadingCurrent
    reading_voltage: ReadingVoltage
    ramp: Ramp
    overcurrent: Overcurrent
    loss_of_contact: LossOfContact
    compliance_recovery: ComplianceRecovery
    timer: Timer
    residual_current: ResidualCurrent
    test_loads: TestLoads
    uncalibrated: Uncalibrated
    calibration_bounds: CalibrationBounds
    calibration_nominal: CalibrationNominal

    # The unit decides its over-current and loss-of-contact cut-offs on its own readings
    # (dut-protocol.md section 1, the paragraph after the table): the true current or voltage at which
    # a healthy unit acts lies within its reading tolerance of the stated threshold, read at the
    # threshold (at 10 mA: 11.0 -/+ (1 % x 11.0 + 0.05) = 10.84 .. 11.16 mA). The 62.0 V limit stays absolute.
    def overcurrent_trip_band_ma(self, setpoint_ma: float | None) -> tuple[float, float]:
        """(low, high) true current at which a healthy unit's over-current cut-off acts."""
        threshold_ma = self.overcurrent.threshold_ma(setpoint_ma)
        widening_ma = self.reading_current.tolerance_ma(threshold_ma)
        return threshold_ma - widening_ma, threshold_ma + widening_ma

    def contact_voltage_band_v(self) -> tuple[float, float]:
        """(low, high) true output voltage at which a healthy unit sees its loss-of-contact voltage."""
        threshold_v = self.loss_of_contact.voltage_fraction_of_v_max * self.compliance.v_max_nominal_v
        widening_v = self.reading_voltage.tolerance_v(threshold_v)
        return threshold_v - widening_v, threshold_v + widening_v

    def contact_current_band_ma(self, setpoint_ma: float) -> tuple[float, float]:
        """(low, high) true current below which a healthy unit sees its loss-of-contact current."""
        threshold_ma = self.loss_of_contact.current_fraction_of_setpoint * setpoint_ma
        widening_ma = self.reading_current.tolerance_ma(threshold_ma)
        return threshold_ma - widening_ma, threshold_ma + widening_ma
    @model_validator(mode="after")
    def _plausible(self) -> ProductSpec:
        """Limits that only make sense together: an absolute tolerance below the range it applies
        to, accuracy domains inside the setpoint range, the compliance limit above its nominal."""
        top_ma = self.setpoint.max_ma
        for name, abs_ma in (("dc_accuracy", self.dc_accuracy.abs_ma), ("pulsed_accuracy", self.pulsed_accuracy.abs_ma),
                             ("reading_current", self.reading_current.abs_ma)):
            if not abs_ma < top_ma:
                raise ValueError(f"{name}.abs_ma {abs_ma:g} must be below setpoint.max_ma {top_ma:g}")
        if not self.reading_voltage.abs_v < self.compliance.v_max_nominal_v:
            raise ValueError(f"reading_voltage.abs_v {self.reading_voltage.abs_v:g} must be below"
                             f" compliance.v_max_nominal_v {self.compliance.v_max_nominal_v:g}")
        if not self.compliance.v_max_nominal_v <= self.compliance.v_abs_max_v:
            raise ValueError(f"compliance: v_max_nominal_v {self.compliance.v_max_nominal_v:g} must not be above"
                             f" v_abs_max_v {self.compliance.v_abs_max_v:g}")
        dc = self.dc_accuracy
        if not (self.setpoint.min_ma <= dc.setpoint_min_ma and dc.setpoint_max_ma <= top_ma):
            raise ValueError(f"dc_accuracy setpoints [{dc.setpoint_min_ma:g}, {dc.setpoint_max_ma:g}] mA must lie in"
                             f" setpoint [{self.setpoint.min_ma:g}, {top_ma:g}] mA")
        return self

    def in_dc_accuracy_domain(self, setpoint_ma: float, load_ohm: float) -> bool:
        """Where the DC accuracy row applies: setpoint range and setpoint × R ≤ 0.95 × V_max."""
        acc = self.dc_accuracy
        if not acc.setpoint_min_ma <= setpoint_ma <= acc.setpoint_max_ma:
            return False
        volts = setpoint_ma / 1000.0 * load_ohm
        return volts <= acc.max_fraction_of_v_max * self.compliance.v_max_nominal_v


def parse_spec(text: str, source: str = "<string>") -> ProductSpec:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"product spec {source} is not valid TOML: {exc}") from None
    try:
        return ProductSpec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(describe_invalid("product spec", source, exc)) from None


def load_spec(path: str | Path | None = None) -> ProductSpec:
    """Load a spec file; with no path, the IX-30 spec shipped with the rig."""
    if path is None:
        text = resources.files("rig.specs").joinpath(DEFAULT_SPEC).read_text(encoding="utf-8")
        return parse_spec(text, f"rig/specs/{DEFAULT_SPEC}")
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(f"product spec {path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise SpecError(f"product spec {path}: not UTF-8 text (byte {exc.start})") from None
    return parse_spec(text, str(path))
