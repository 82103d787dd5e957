"""The emulated unit's calibration memory: coefficients in use, the flash copy, the unlock latch.

dut-protocol.md section 4: writes need `CAL:UNLOCK <key>`; three wrong keys lock calibration until
`RESET`; coefficients outside the spec's bounds are refused with ERR 3 and change nothing;
`CAL:SAVE` copies the coefficients in use to flash, and a reboot reverts to the flash copy.
A faulty firmware (`save_persists=False`) answers CAL:SAVE and dates the coefficients in use, but
its flash keeps the old copy: CAL? shows the new set until the next reboot.
"""

from __future__ import annotations

import datetime
import hmac
import re
from dataclasses import dataclass, replace

from rig.bench.firmware_protocol import (
    NEVER_SAVED_DATE,
    CommandError,
    format_number,
)
from rig.dut.protocol import ErrorCode, Polarity
from rig.spec import ProductSpec

MAX_WRONG_KEYS = 3
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class PolarityCal:
    dac_gain: float  # counts per mA
    dac_offset: float  # counts
    adc_gain: float  # mA per count
    adc_offset: float  # mA

    def describe(self) -> str:
        return " ".join(
            format_number(v) for v in (self.dac_gain, self.dac_offset, self.adc_gain, self.adc_offset)
        )


@dataclass(frozen=True)
class CalibrationSet:
    pos: PolarityCal
    neg: PolarityCal
    v_gain: float  # V per count
    v_offset: float  # V
    date: str = NEVER_SAVED_DATE

    def for_polarity(self, polarity: str) -> PolarityCal:
        return self.pos if polarity == Polarity.POS else self.neg

    def readings(self, polarity: str, i_code: int, v_code: int) -> tuple[float, float]:
        """The unit's own current (mA) and voltage (V) readings from raw ADC codes, through the
        coefficients in use: what MEAS? reports and what the cut-offs compare."""
        cal = self.for_polarity(polarity)
        return cal.adc_gain * i_code + cal.adc_offset, self.v_gain * v_code + self.v_offset

    def with_polarity(self, polarity: str, **changes: float) -> CalibrationSet:
        key = "pos" if polarity == Polarity.POS else "neg"
        return replace(self, **{key: replace(self.for_polarity(polarity), **changes)})

    def describe(self) -> str:
        """The CAL? payload: `POS g o ag ao; NEG g o ag ao; vg vo date`."""
        volts = f"{format_number(self.v_gain)} {format_number(self.v_offset)} {self.date}"
        return f"POS {self.pos.describe()}; NEG {self.neg.describe()}; {volts}"


def nominal_calibration(spec: ProductSpec) -> CalibrationSet:
    nominal = spec.calibration_nominal
    polarity = PolarityCal(nominal.dac_gain, nominal.dac_offset, nominal.adc_gain, nominal.adc_offset)
    return CalibrationSet(polarity, polarity, nominal.v_gain, nominal.v_offset)


def dac_code(cal: PolarityCal, current_ma: float, code_max: int) -> int:
    """code = gain * mA + offset, clamped; zero current means code 0 (the output switch open)."""
    if current_ma <= 0.0:
        return 0
    return max(0, min(code_max, round(cal.dac_gain * current_ma + cal.dac_offset)))


def parse_date(text: str) -> str:
    if not _DATE.fullmatch(text):
        raise CommandError(ErrorCode.SYNTAX)
    try:
        datetime.date.fromisoformat(text)
    except ValueError:
        raise CommandError(ErrorCode.RANGE) from None
    return text


class CalibrationMemory:
    """Coefficients in use and in flash, and the write latch. Not thread-safe: the firmware locks."""

    def __init__(self, spec: ProductSpec, unlock_key: str, *, save_persists: bool = True) -> None:
        self._bounds = spec.calibration_bounds
        self._save_persists = save_persists
        self._key = unlock_key.encode()
        self.in_use = nominal_calibration(spec)
        self._flash = self.in_use
        self.unlocked = False
        self._wrong_keys = 0

    @property
    def locked_out(self) -> bool:
        return self._wrong_keys >= MAX_WRONG_KEYS

    def unlock(self, key: str) -> None:
        if self.locked_out:
            raise CommandError(ErrorCode.LOCKED)
        if not hmac.compare_digest(key.encode(), self._key):
            self._wrong_keys += 1
            self.unlocked = False
            raise CommandError(ErrorCode.LOCKED)
        self.unlocked = True

    def lock(self) -> None:
        self.unlocked = False

    def write_dac(self, polarity: str, gain: float, offset: float) -> None:
        self._check_writable(dac_gain=gain, dac_offset=offset)
        self.in_use = self.in_use.with_polarity(polarity, dac_gain=gain, dac_offset=offset)

    def write_adc(self, polarity: str, gain: float, offset: float) -> None:
        self._check_writable(adc_gain=gain, adc_offset=offset)
        self.in_use = self.in_use.with_polarity(polarity, adc_gain=gain, adc_offset=offset)

    def write_vadc(self, gain: float, offset: float) -> None:
        self._check_writable(v_gain=gain, v_offset=offset)
        self.in_use = replace(self.in_use, v_gain=gain, v_offset=offset)

    def save(self, date: str) -> None:
        self._check_writable()
        self.in_use = replace(self.in_use, date=date)
        if self._save_persists:
            self._flash = self.in_use

    def age(self, days: int) -> None:
        """`days` pass: the saved calibration's date (in flash and in use) lies that much further back."""
        def earlier(date: str) -> str:
            try:
                return (datetime.date.fromisoformat(date) - datetime.timedelta(days=days)).isoformat()
            except ValueError:
                return date  # never saved: no date to move

        self._flash = replace(self._flash, date=earlier(self._flash.date))
        self.in_use = replace(self.in_use, date=earlier(self.in_use.date))

    def reboot(self) -> None:
        """Unsaved coefficients are lost; the latch and the wrong-key count start afresh."""
        self.in_use = self._flash
        self.unlocked = False
        self._wrong_keys = 0

    def _check_writable(self, **coefficients: float) -> None:
        if not self.unlocked or self.locked_out:
            raise CommandError(ErrorCode.LOCKED)
        if self._bounds.violations(**coefficients):
            raise CommandError(ErrorCode.RANGE)
