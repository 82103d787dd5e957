"""Findings of a calibration run: events the unit showed that are its history, not a verdict.

An uncalibrated unit decides its over-current cut-off on its own reading, so a unit inside the stated
maxima may trip during the as-found sweep (grid.safe_uncalibrated); a unit beyond them may trip during
the characterisation's raw codes. Each trip is stored as a point of its phase (verdict N/A, weighing
nothing on the run's verdict) naming where it happened, and summed up in one line for the outcome.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from rig.dut.protocol import Waveform
from rig.metrology.decision import Verdict
from rig.procedures.grid import GridPoint, safe_uncalibrated
from rig.procedures.unit_events import UnitFault
from rig.records.store import PointRecord
from rig.spec import ProductSpec


@dataclass(frozen=True)
class Finding:
    record: PointRecord  # what the store keeps
    summary: str  # one line for the run's outcome


def as_found_trip(point: GridPoint, fault: UnitFault, spec: ProductSpec) -> Finding:
    """A trip seen at an as-found point; the sweep leaves out the rest of its band."""
    band = f"{point.polarity} {point.waveform}" + (
        f" {point.freq_hz:g} Hz {point.duty_pct:g} %" if point.waveform != Waveform.DC else "")
    left_out = f"{band} from {point.setpoint_ma:g} mA up"
    record = PointRecord(
        phase="as_found", requirement="as_found_trip", clause=spec.overcurrent.clause,
        name=f"{point.name}-trip", measured=None, unit="mA", verdict="N/A",
        parameters={"polarity": point.polarity, "waveform": point.waveform, "load_ohm": point.load_ohm,
                    "setpoint_ma": point.setpoint_ma, "freq_hz": point.freq_hz, "duty_pct": point.duty_pct},
        raw={"event": fault.event, "message": str(fault), "left_out": left_out,
             # False: no unit inside the stated maxima reads above the threshold here
             "possible_within_uncalibrated_maxima": not safe_uncalibrated(point.setpoint_ma, spec)},
    )
    return Finding(record, f"as found, {fault.event.lstrip('!')} at {point.name} ({left_out} left out)")


def verify_trip(point: GridPoint, fault: UnitFault, spec: ProductSpec) -> Finding:
    """A trip during a verification (no calibration written, the unit judged as it is): a unit inside
    the spec cannot reach its over-current threshold on the accuracy grid, so the trip fails the
    over-current row (a nuisance trip); the sweep leaves out the rest of the band and goes on."""
    found = as_found_trip(point, fault, spec)
    record = replace(found.record, phase="verify", requirement="overcurrent", verdict=Verdict.FAIL.value)
    return Finding(record, "verify" + found.summary.removeprefix("as found"))


def characterisation_trip(polarity: str, load_ohm: float, code: int, fault: UnitFault,
                          spec: ProductSpec) -> Finding:
    """A trip at a raw code (the plan keeps a unit inside the maxima below it)."""
    record = PointRecord(
        phase="characterise", requirement="characterisation_trip", clause=spec.overcurrent.clause,
        name=f"{polarity}-code{code}-{load_ohm:g}ohm-trip", measured=None, unit="mA", verdict="N/A",
        parameters={"polarity": polarity, "load_ohm": load_ohm, "dac_code": code},
        raw={"event": fault.event, "message": str(fault)},
    )
    return Finding(record, f"characterisation, {fault.event.lstrip('!')} at raw code {code} "
                           f"({polarity}, higher codes left out)")
