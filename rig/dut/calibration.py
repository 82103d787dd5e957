"""The calibration a unit reports (`CAL?`) and the number format the rig writes back."""

from __future__ import annotations

import datetime
import math
import re
from dataclasses import dataclass
from decimal import Decimal

POLARITIES = ("POS", "NEG")
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
        return self.pos if key == "POS" else self.neg


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
        pos=blocks["POS"],
        neg=blocks["NEG"],
        v_gain=_number(tail[0], "v_gain"),
        v_offset=_number(tail[1], "v_offset"),
        date=date,
    )
