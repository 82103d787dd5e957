"""Station configuration (TOML): the asset register and what each slot binds.

A resource says where a thing is (a VISA resource string, a serial device or pyserial URL); the
instrument entry says what it is (model, serial, certificate, calibration due date); a slot binds one
unit, one ammeter channel, one voltmeter channel and one load (labgrid's place).
"""

from __future__ import annotations

import datetime as dt
import tomllib
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from rig.keys import KeyError_, check_source_spec
from rig.serial_numbers import protocol_serial_problem
from rig.validation import describe_invalid

MODELS_FILE = "instrument_models.toml"
# Upper bound of any settling time (a model's stated figure or a station's override). The physics:
# the slowest stage the rig waits for is the unit's output, 5 time constants of 2 ms = 10 ms
# (instruments.md section 3); the load settles in 5 ms. 100 times the unit's figure is 1.0 s, which is
# also below the unit's host watchdog period (2.0 s, rig/slot.py): a "settling" that long is a typo
# (inf, 1e300, 3600), and would only hold the output on for nothing, point after point.
UNIT_STATED_SETTLE_S = 0.010
MAX_SETTLE_S = 100 * UNIT_STATED_SETTLE_S
# Upper bound of a stated command or reply latency: the protocol's reply time, 100 ms
# (dut-protocol.md section 2), is 100 times the instruments' stated 1 ms (instruments.md).
MAX_LATENCY_S = 0.100
# Slot numbers are a station's positions: bounded so that no number overflows a store column.
MAX_SLOT_NUMBER = 9999


class StationError(ValueError):
    """A station file that is missing, malformed or inconsistent; names the file and the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CurrentRange(_Strict):
    upper_a: float = Field(gt=0)
    gain_pct: float = Field(ge=0)
    offset_a: float = Field(ge=0)
    noise_a_rms: float = Field(ge=0)
    resolution_a: float = Field(gt=0)


class VoltageRange(_Strict):
    upper_v: float = Field(gt=0)
    gain_pct: float = Field(ge=0)
    offset_v: float = Field(ge=0)
    noise_v_rms: float = Field(ge=0)
    resolution_v: float = Field(gt=0)


class ModelFigures(_Strict):
    """Stated figures of an instrument model: what the uncertainty budget and settling waits use."""

    kind: Literal["analyzer", "load", "dut", "voltmeter", "dmm"]
    settle_s: float = Field(ge=0, le=MAX_SETTLE_S)
    command_latency_s: float = Field(default=0.0, ge=0, le=MAX_LATENCY_S)
    reply_latency_s: float = Field(default=0.0, ge=0, le=MAX_LATENCY_S)
    baud: int | None = None
    default_interval_s: float | None = None
    default_points: int | None = None
    # The shortest sample interval the model states (instruments.md 1: 20.48 us); an implementation may
    # round an interval to its own resolution, which this is a multiple of (N678xA: 20.48 or 10.24 us).
    sample_interval_min_s: float | None = Field(default=None, gt=0)
    # A meter triggered through its external trigger input: the stated delay from the edge to its first
    # sample (its latency plus jitter), the alignment uncertainty of a hardware-triggered trace.
    trigger_latency_s: float | None = Field(default=None, ge=0, le=MAX_LATENCY_S)
    current_ranges: dict[str, CurrentRange] = Field(default_factory=dict)
    voltage_ranges: dict[str, VoltageRange] = Field(default_factory=dict)
    tolerance_pct: float | None = None
    tolerance_ohm: float | None = None
    min_ohm: float | None = None
    max_ohm: float | None = None
    max_power_w: float | None = None

    def sample_interval_s(self, wanted_s: float) -> float:
        """The whole multiple of the shortest stated sample interval nearest `wanted_s` (at least one):
        an interval any rounding to the instrument's resolution keeps exact. `wanted_s` itself when the
        model states no shortest interval."""
        if self.sample_interval_min_s is None:
            return wanted_s
        return max(1, round(wanted_s / self.sample_interval_min_s)) * self.sample_interval_min_s

    def current_range_for(self, upper_a: float) -> tuple[str, CurrentRange]:
        """The smallest current range whose upper end covers `upper_a`."""
        return _smallest_covering(self.current_ranges, "upper_a", upper_a, "A")

    def voltage_range_for(self, upper_v: float) -> tuple[str, VoltageRange]:
        return _smallest_covering(self.voltage_ranges, "upper_v", upper_v, "V")


def _smallest_covering(ranges: dict, attribute: str, value: float, unit: str) -> tuple:
    fitting = sorted((getattr(r, attribute), name, r) for name, r in ranges.items() if getattr(r, attribute) >= value)
    if not fitting:
        raise StationError(f"no range covers {value} {unit}")
    _, name, rng = fitting[0]
    return name, rng


class InstrumentAsset(_Strict):
    """One entry of the asset register."""

    id: str = Field(min_length=1)
    model: str = Field(min_length=1)
    serial: str = Field(min_length=1)
    resource: str = Field(min_length=1)
    certificate: str = ""
    cal_due: dt.date | None = None
    settle_s: float | None = Field(default=None, ge=0, le=MAX_SETTLE_S)


class RoleBinding(_Strict):
    instrument: str
    channel: int | None = Field(default=None, ge=1)


class TriggerLine(_Strict):
    """A wire from the ammeter instrument's trigger output (a digital port pin) to the voltmeter's
    external trigger input: both traces then start on the same edge (rig/instruments/paired.py)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    from_instrument: str = Field(alias="from", min_length=1)
    pin: int = Field(ge=1)
    to_instrument: str = Field(alias="to", min_length=1)


class SlotConfig(_Strict):
    slot: int = Field(ge=1, le=MAX_SLOT_NUMBER)
    dut: str = Field(min_length=1, description="serial device path or pyserial URL")
    dut_serial: str | None = None
    ammeter: RoleBinding
    voltmeter: RoleBinding
    load: RoleBinding
    trigger_line: TriggerLine | None = None

    @field_validator("dut_serial")
    @classmethod
    def _serial_syntax(cls, value: str | None) -> str | None:
        problem = None if value is None else protocol_serial_problem(value)
        if problem:
            raise ValueError(f"an ID? serial {problem}")  # an empty one would turn the serial check off
        return value


class OperatorPrompt(_Strict):
    """A step a person must do, shown on the station page with confirm / reject (`{slot}` in the text
    is the slot number); image: a file in the station file's folder."""

    when: Literal["before_run", "after_pass", "after_fail"]
    text: str = Field(min_length=1, max_length=500)
    image: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$", max_length=100)
    slots: tuple[int, ...] = Field(default=(), description="the slots it applies to; empty: every slot")


class Station(_Strict):
    name: str = Field(min_length=1)
    virtual: bool = False
    unlock_keys: str | None = Field(
        default=None, description="env:VAR or file:PATH holding the per-unit calibration keys"
    )
    signing_key: str | None = Field(
        default=None, description="env:VAR or file:PATH holding the station's Ed25519 signing key"
    )
    signing_public_key: str | None = Field(
        default=None, description="env:VAR or file:PATH holding its public key, for verifying"
    )
    instruments: tuple[InstrumentAsset, ...] = Field(min_length=1)
    slots: tuple[SlotConfig, ...] = Field(min_length=1)
    models: dict[str, ModelFigures] = Field(default_factory=dict)
    prompts: tuple[OperatorPrompt, ...] = ()

    @field_validator("unlock_keys")
    @classmethod
    def _key_source_syntax(cls, value: str | None) -> str | None:
        # Found here, at load, not at the calibration write after some 200 points.
        if value is not None:
            try:
                check_source_spec(value)
            except KeyError_ as exc:
                raise ValueError(str(exc)) from None
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Station:
        ids = [inst.id for inst in self.instruments]
        if len(ids) != len(set(ids)):
            raise ValueError(f"instrument ids must be unique, got {ids}")
        numbers = [s.slot for s in self.slots]
        if len(numbers) != len(set(numbers)):
            raise ValueError(f"slot numbers must be unique, got {numbers}")
        for slot in self.slots:
            for role in ("ammeter", "voltmeter", "load"):
                binding: RoleBinding = getattr(slot, role)
                if binding.instrument not in ids:
                    raise ValueError(
                        f"slot {slot.slot} {role}: unknown instrument {binding.instrument!r}"
                        f" (known: {', '.join(ids)})"
                    )
            line = slot.trigger_line
            if line is not None and (line.from_instrument, line.to_instrument) != (
                    slot.ammeter.instrument, slot.voltmeter.instrument):
                raise ValueError(
                    f"slot {slot.slot} trigger_line: from {line.from_instrument!r} to {line.to_instrument!r};"
                    f" it must run from the ammeter ({slot.ammeter.instrument!r}) to the voltmeter"
                    f" ({slot.voltmeter.instrument!r})"
                )
        for inst in self.instruments:
            if inst.model not in self.models:
                raise ValueError(
                    f"instrument {inst.id!r}: model {inst.model!r} has no stated figures"
                    f" (known models: {', '.join(sorted(self.models))})"
                )
        return self

    def slot(self, number: int) -> SlotConfig:
        for slot in self.slots:
            if slot.slot == number:
                return slot
        known = ", ".join(str(s.slot) for s in self.slots)
        raise StationError(f"station {self.name!r} has no slot {number} (slots: {known})")

    def instrument(self, instrument_id: str) -> InstrumentAsset:
        for inst in self.instruments:
            if inst.id == instrument_id:
                return inst
        raise StationError(f"station {self.name!r} has no instrument {instrument_id!r}")

    def figures(self, instrument_id: str) -> ModelFigures:
        return self.models[self.instrument(instrument_id).model]

    def settle_s(self, instrument_id: str) -> float:
        """The instrument's stated settling time: the station's override, else the model's."""
        inst = self.instrument(instrument_id)
        return inst.settle_s if inst.settle_s is not None else self.models[inst.model].settle_s

    def dut_figures(self) -> ModelFigures:
        return self.models["IX-30"]


def default_models() -> dict[str, ModelFigures]:
    text = resources.files("rig.specs").joinpath(MODELS_FILE).read_text(encoding="utf-8")
    raw = tomllib.loads(text)["models"]
    return {name: ModelFigures.model_validate(fig) for name, fig in raw.items()}


def parse_station(data: dict, source: str) -> Station:
    """Validate a station mapping; the shipped model figures are the base, the file may add or
    override models under [models.NAME]."""
    data = dict(data)
    try:
        models = {name: fig.model_dump() for name, fig in default_models().items()}
        for name, fig in (data.pop("models", None) or {}).items():
            models[name] = {**models.get(name, {}), **fig}
        return Station.model_validate({**data, "models": models})
    except ValidationError as exc:
        raise StationError(describe_invalid("station file", source, exc)) from None
    except (TypeError, AttributeError) as exc:
        raise StationError(f"station file {source} is invalid: {exc}") from None


def load_station(path: str | Path) -> Station:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise StationError(f"station file {path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise StationError(f"station file {path}: not UTF-8 text (byte {exc.start})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise StationError(f"station file {path} is not valid TOML: {exc}") from None
    return parse_station(data, str(path))
