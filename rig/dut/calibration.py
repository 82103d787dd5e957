"""The calibration a unit reports (`CAL?`) and the number format the rig writes back."""

from __future__ import annotations

import datetime
import math
import re
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any

from rig.dut.errors import DutCommandError, DutError, DutFrameError
from rig.dut.protocol import POLARITIES, Polarity
from rig.spec import ProductSpec

# The unit stores coefficients as float32-like values: 8 significant digits round-trip them.
COEFFICIENT_DIGITS = 8
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_POLARITY_FIELDS = 5
_GLOBAL_FIELDS_WITH_DATE = 3
_GLOBAL_FIELDS_WITHOUT_DATE = 2


@dataclass(frozen=True)
class PolarityCalibration:
    dac_gain: float
    dac_offset: float
    adc_gain: float
    adc_offset: float


@dataclass(frozen=True)
class UnitCalibration:
    pos: PolarityCalibration
    neg: PolarityCalibration
    v_gain: float
    v_offset: float
    date: datetime.date | None

    def polarity(self, pol: str) -> PolarityCalibration:
        key = pol.strip().upper()
        if key not in POLARITIES:
            raise ValueError(f"polarity {pol!r} is not POS or NEG")
        return self.pos if key == Polarity.POS else self.neg


def format_coefficient(value: float) -> str:
    """8 significant digits in plain decimal notation (the protocol has no exponents)."""
    if not math.isfinite(value):
        raise ValueError(f"coefficient {value!r} is not a finite number")
    text = format(Decimal(f"{value:.{COEFFICIENT_DIGITS}g}"), "f")
    return "0" if text.lstrip("-").strip("0.") == "" else text


def _number(token: str, what: str) -> float:
    try:
        value = float(token)
    except ValueError:
        raise ValueError(f"CAL? {what}: {token!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"CAL? {what}: {token!r} is not a finite number")
    return value


def _polarity_part(part: str) -> tuple[str, PolarityCalibration]:
    tokens = part.split()
    if len(tokens) != _POLARITY_FIELDS:
        raise ValueError(f"CAL? polarity block {part.strip()!r}: expected '<pol> 4 numbers'")
    pol = tokens[0].upper()
    if pol not in POLARITIES:
        raise ValueError(f"CAL? polarity block {part.strip()!r}: {tokens[0]!r} is not POS/NEG")
    names = ("dac_gain", "dac_offset", "adc_gain", "adc_offset")
    values = [_number(t, f"{pol} {n}") for t, n in zip(tokens[1:], names, strict=True)]
    return pol, PolarityCalibration(*values)


def _date(token: str) -> datetime.date | None:
    # A never-saved unit reports some placeholder ("none", "-", ...): that is "no date".
    if not _ISO_DATE.match(token):
        return None
    try:
        return datetime.date.fromisoformat(token)
    except ValueError:
        raise ValueError(f"CAL? date {token!r} is not a valid date") from None


def parse_cal_payload(payload: str) -> UnitCalibration:
    """Parse `POS g o g o ; NEG g o g o ; v_gain v_offset date`; ValueError names the defect."""
    parts = payload.split(";")
    if len(parts) != len(POLARITIES) + 1:
        raise ValueError(f"CAL? payload {payload!r}: expected three ';'-separated blocks")
    blocks = dict(_polarity_part(part) for part in parts[:2])
    if set(blocks) != set(POLARITIES):
        raise ValueError(f"CAL? payload {payload!r}: needs one POS and one NEG block")
    tail = parts[2].split()
    if len(tail) not in (_GLOBAL_FIELDS_WITHOUT_DATE, _GLOBAL_FIELDS_WITH_DATE):
        raise ValueError(f"CAL? voltage block {parts[2].strip()!r}: expected 'v_gain v_offset date'")
    date = _date(tail[2]) if len(tail) == _GLOBAL_FIELDS_WITH_DATE else None
    return UnitCalibration(
        pos=blocks[Polarity.POS],
        neg=blocks[Polarity.NEG],
        v_gain=_number(tail[0], "v_gain"),
        v_offset=_number(tail[1], "v_offset"),
        date=date,
    )


UNLOCK = "CAL:UNLOCK"
REDACTED = "<key withheld>"


def shown_request(body: str) -> str:
    """A request as it may appear in messages and logs: never with an unlock key."""
    return f"{UNLOCK} {REDACTED}" if body.upper().startswith(UNLOCK) else body


class CalibrationCommands:
    """The calibration commands of the IX-30 client (mixed into Ix30Client).

    Coefficients are checked against the spec's bounds before sending, so the rig refuses a bad
    fit itself instead of learning about it from `ERR 3 RANGE`. After one refused key, further
    unlocks are refused locally: the unit allows three tries, the rig spends at most one.
    """

    port_name: str
    spec: ProductSpec
    _wrong_key_seen: bool = False

    def request(self, body: str) -> str:
        raise NotImplementedError

    def read_calibration(self) -> UnitCalibration:
        payload = self.request("CAL?")
        try:
            return parse_cal_payload(payload)
        except ValueError as exc:
            raise DutFrameError(self.port_name, "CAL?", str(exc), payload) from None

    def unlock(self, key: str) -> None:
        if self._wrong_key_seen:
            raise DutError(self.port_name, f"{UNLOCK} {REDACTED}",
                           "refused by the rig: a key was already rejected in this session")
        if not _is_token(key):
            raise ValueError("unlock key must be a non-empty printable token without spaces")
        try:
            self.request(f"{UNLOCK} {key}")
        except DutCommandError:
            self._wrong_key_seen = True
            raise

    def forget_wrong_key(self) -> None:
        """After a RESET the unit's tries start over; the rig's one-try guard does too."""
        self._wrong_key_seen = False

    def _checked(self, **coefficients: float) -> None:
        problems = self.spec.calibration_bounds.violations(**coefficients)
        if problems:
            raise ValueError("calibration refused by the rig: " + "; ".join(problems))

    def write_dac_cal(self, pol: str, gain: float, offset: float) -> None:
        self._checked(dac_gain=gain, dac_offset=offset)
        self.request(f"CAL:DAC {_pol(pol)} {format_coefficient(gain)} {format_coefficient(offset)}")

    def write_adc_cal(self, pol: str, gain: float, offset: float) -> None:
        self._checked(adc_gain=gain, adc_offset=offset)
        self.request(f"CAL:ADC {_pol(pol)} {format_coefficient(gain)} {format_coefficient(offset)}")

    def write_vadc_cal(self, gain: float, offset: float) -> None:
        self._checked(v_gain=gain, v_offset=offset)
        self.request(f"CAL:VADC {format_coefficient(gain)} {format_coefficient(offset)}")

    def save_calibration(self, day: datetime.date) -> None:
        self.request(f"CAL:SAVE {day.isoformat()}")

    def lock(self) -> None:
        self.request("CAL:LOCK")


def _is_token(key: str) -> bool:
    # Also keeps the key out of framing errors, which would quote the whole line.
    printable = key.isascii() and key.isprintable()
    return bool(key) and printable and not any(c.isspace() or c == "*" for c in key)


def _pol(pol: str) -> str:
    key = pol.strip().upper()
    if key not in POLARITIES:
        raise ValueError(f"polarity {pol!r} is not POS or NEG")
    return key


def bound_violations(cal: UnitCalibration, spec: ProductSpec) -> list[str]:
    """The coefficients outside the protocol's bounds (the spec's calibration_bounds), each named."""
    problems = []
    for pol in POLARITIES:
        c = cal.polarity(pol)
        problems += [
            f"{pol} {p}" for p in spec.calibration_bounds.violations(
                dac_gain=c.dac_gain, dac_offset=c.dac_offset, adc_gain=c.adc_gain, adc_offset=c.adc_offset
            )
        ]
    problems += spec.calibration_bounds.violations(v_gain=cal.v_gain, v_offset=cal.v_offset)
    return problems


def coefficients_record(cal: UnitCalibration) -> dict[str, Any]:
    """A UnitCalibration as an audit entry keeps it (plain numbers, ISO date)."""
    return {"POS": asdict(cal.pos), "NEG": asdict(cal.neg), "v_gain": cal.v_gain, "v_offset": cal.v_offset,
            "date": cal.date.isoformat() if cal.date else None}
