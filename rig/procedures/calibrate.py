"""From raw characterisation to coefficients in the unit: fit, bound-check, write, save, read back.

Nothing out of bounds is ever sent: the whole set is checked before the first write, and the client
checks each write again. The unlock key comes from the station's key source and is never shown.
Every write is recorded in the station's audit log (through the caller's hook) before it is sent,
then its outcome (readback compared, write failed, lost in a reboot). A reboot during the writes is
named: what was written but not saved is gone, and the run must not carry on as if the unit held it.

A `CAL:SAVE` answered OK does not show that flash holds the calibration: `CAL?` reads the set in use,
which a save that did not store still shows. So after the readback the unit is RESET (the only way
the protocol offers to read what flash holds), the watchdog the reset cleared is re-armed, and `CAL?`
is compared again; whatever is verified afterwards is verified on the unit as it leaves the line.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from rig.dut.calibration import PolarityCalibration, UnitCalibration, bound_violations, coefficients_record
from rig.dut.errors import UnitRebooted
from rig.dut.protocol import POLARITIES, Polarity
from rig.keys import KeySource
from rig.procedures.characterise import RawPoint, as_arrays
from rig.procedures.fit import DacFit, LineFit, fit_adc, fit_dac
from rig.slot import OpenSlot
from rig.spec import ProductSpec

# The readback must reproduce what was written to the precision of the written text (8 digits).
READBACK_REL_TOL = 1e-6
READBACK_ABS_TOL = 1e-9

# Where the audit entries of a write go: called as hook(event, **fields), before the write is sent and
# after each outcome; the caller owns the log (e.g. `AuditLog.append`, rig/records/audit.py).
AuditHook = Callable[..., Any]


class CalibrationRefused(RuntimeError):
    """The fitted coefficients cannot be written (outside the protocol's bounds): a FAIL, not an error."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(
            "calibration refused, coefficients outside the unit's bounds: " + "; ".join(problems)
        )


class ReadbackMismatch(RuntimeError):
    """CAL? after writing does not show what was written."""


class CalibrationNotPersisted(ReadbackMismatch):
    """CAL? after RESET does not show what was written and saved: the unit did not keep it."""


@dataclass(frozen=True)
class CalibrationFit:
    coefficients: UnitCalibration
    dac: dict[str, DacFit]
    adc: dict[str, LineFit]
    vadc: LineFit

    def residual_summary(self) -> dict[str, dict[str, float]]:
        """Per fit: worst and rms distance of the line from the truth (the bow left by a line)."""
        fits = {f"dac_{p}": self.dac[p].line for p in self.dac} | {f"adc_{p}": self.adc[p] for p in self.adc}
        fits["vadc"] = self.vadc
        return {
            name: {"max_abs": f.max_abs_residual, "rms": f.rms_residual, "unit": f.residual_unit}
            for name, f in fits.items()
        }


def fit_calibration(points: list[RawPoint], spec: ProductSpec, day: dt.date) -> CalibrationFit:
    dac, adc, per_pol = {}, {}, {}
    for pol in POLARITIES:
        data = as_arrays(points, pol)
        tolerance = np.array([spec.dc_accuracy.tolerance_ma(i) for i in data["true_ma"]])
        dac[pol] = fit_dac(data["dac_code"], data["true_ma"], tolerance, pol)
        adc[pol] = fit_adc(data["i_code"], data["true_ma"], f"ADC {pol}", "mA")
        per_pol[pol] = PolarityCalibration(dac[pol].dac_gain, dac[pol].dac_offset, adc[pol].slope,
                                           adc[pol].intercept)
    both = [as_arrays(points, pol) for pol in POLARITIES]
    vadc = fit_adc(np.concatenate([b["v_code"] for b in both]), np.concatenate([b["true_v"] for b in both]),
                   "VADC", "V")
    coefficients = UnitCalibration(per_pol[Polarity.POS], per_pol[Polarity.NEG], vadc.slope, vadc.intercept, day)
    return CalibrationFit(coefficients, dac, adc, vadc)


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=READBACK_REL_TOL, abs_tol=READBACK_ABS_TOL)


def readback_differences(written: UnitCalibration, read: UnitCalibration) -> list[str]:
    diffs = []
    for pol in POLARITIES:
        w, r = written.polarity(pol), read.polarity(pol)
        for name in ("dac_gain", "dac_offset", "adc_gain", "adc_offset"):
            if not _close(getattr(w, name), getattr(r, name)):
                diffs.append(f"{pol} {name}: wrote {getattr(w, name):.8g}, read {getattr(r, name):.8g}")
    for name in ("v_gain", "v_offset"):
        if not _close(getattr(written, name), getattr(read, name)):
            diffs.append(f"{name}: wrote {getattr(written, name):.8g}, read {getattr(read, name):.8g}")
    if written.date is not None and read.date != written.date:
        diffs.append(f"date: wrote {written.date}, read {read.date}")
    return diffs


class CalibrationLost(UnitRebooted):
    """The unit rebooted during the calibration writes: what was written and not saved is lost."""


def write_calibration(
    slot: OpenSlot, cal: UnitCalibration, keys: KeySource, spec: ProductSpec, *,
    audit: AuditHook | None = None, operator: str = "unknown", run_id: int | None = None,
) -> UnitCalibration:
    """Unlock, write every coefficient, save with the date, lock, read back and compare; then RESET
    the unit, re-arm its watchdog and compare what it kept (CalibrationNotPersisted if it did not).
    Returns what the unit holds after the reset. With an audit hook: the intended write (old and new
    coefficients) is recorded before anything is sent, then the readback's outcome and the reset's."""
    problems = bound_violations(cal, spec)
    if problems:
        raise CalibrationRefused(problems)
    if cal.date is None:
        raise ValueError("a calibration to be saved needs a date")
    dut = slot.dut
    key = keys.key_for(dut.identity.serial)
    record = _Audit(audit, slot, operator, run_id)
    record.intent(dut.read_calibration() if audit is not None else None, cal)
    progress = _WriteProgress()
    try:
        _send_calibration(slot, cal, key, progress)
        read = dut.read_calibration()
    except UnitRebooted as exc:
        detail = (f"the unit rebooted {progress.describe()}: the calibration was not kept"
                  if not progress.saved else "the unit rebooted after CAL:SAVE, before the readback")
        record.outcome("lost in reboot" if not progress.saved else "reboot before readback", detail)
        raise CalibrationLost(exc.port, exc.command, f"{detail}; run stopped") from None
    except BaseException as exc:  # a stop landing mid-write too: the audit never keeps a bare intent
        record.outcome("write failed", f"{progress.describe()}: {type(exc).__name__}: {exc}")
        raise
    diffs = readback_differences(cal, read)
    record.outcome("readback differs" if diffs else "readback ok", "; ".join(diffs), read)
    if diffs:
        raise ReadbackMismatch("calibration readback differs from what was written: " + "; ".join(diffs))
    return _check_persisted(slot, cal, record)


def _check_persisted(slot: OpenSlot, cal: UnitCalibration, record: _Audit) -> UnitCalibration:
    """RESET (once, never repeated), wait for !BOOT, re-arm the watchdog, read CAL? and compare."""
    try:
        firmware = slot.reset_unit()
        kept = slot.dut.read_calibration()
    except Exception as exc:
        record.outcome("persistence not checked", f"RESET after CAL:SAVE: {type(exc).__name__}: {exc}")
        raise
    lost = readback_differences(cal, kept)
    detail = f"after RESET (booted {firmware}): " + ("; ".join(lost) if lost else "CAL? unchanged")
    record.outcome("not persisted after reset" if lost else "persisted after reset", detail, kept)
    if lost:
        raise CalibrationNotPersisted(
            "calibration not kept by the unit: CAL:SAVE answered OK, but after RESET CAL? differs from"
            " what was written: " + "; ".join(lost))
    return kept


class _WriteProgress:
    def __init__(self) -> None:
        self.writes, self.saved = 0, False

    def describe(self) -> str:
        saved = "after CAL:SAVE" if self.saved else "before CAL:SAVE"
        return f"after {self.writes} coefficient write(s), {saved}"


def _send_calibration(slot: OpenSlot, cal: UnitCalibration, key: str, progress: _WriteProgress) -> None:
    dut = slot.dut
    dut.unlock(key)
    try:
        for pol in POLARITIES:
            c = cal.polarity(pol)
            dut.write_dac_cal(pol, c.dac_gain, c.dac_offset)
            progress.writes += 1
            dut.write_adc_cal(pol, c.adc_gain, c.adc_offset)
            progress.writes += 1
        dut.write_vadc_cal(cal.v_gain, cal.v_offset)
        progress.writes += 1
        dut.save_calibration(cal.date)
        progress.saved = True
    finally:
        if not dut.rebooted:  # a rebooted unit is locked already; the request would only fail
            dut.lock()


class _Audit:
    """The audit entries of one calibration write (nothing when no log is given)."""

    def __init__(self, log: AuditHook | None, slot: OpenSlot, operator: str, run_id: int | None) -> None:
        self.log = log
        self.common = {"station": slot.station.name, "slot": slot.number, "operator": operator,
                       "serial": slot.dut.identity.serial, "run_id": run_id}

    def intent(self, old: UnitCalibration | None, new: UnitCalibration) -> None:
        if self.log is not None:
            self.log("calibration write", **self.common,
                            old=coefficients_record(old) if old is not None else None, new=coefficients_record(new))

    def outcome(self, result: str, detail: str, read: UnitCalibration | None = None) -> None:
        if self.log is not None:
            self.log("calibration result", **self.common, result=result, detail=detail,
                            readback=coefficients_record(read) if read is not None else None)
