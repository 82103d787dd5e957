"""What a run writes down: its run record, points as the store keeps them, the instruments used, the
calibration records (before/after, residuals) and the calibration table's document."""

from __future__ import annotations

import datetime as dt

from rig.dut.calibration import UnitCalibration
from rig.dut.protocol import POLARITIES
from rig.metrology.decision import DecisionRule
from rig.procedures.calibrate import CalibrationFit
from rig.procedures.characterise import RawPoint
from rig.procedures.points import MeasuredPoint
from rig.records.cal_table import coefficients_dict
from rig.records.store import CalibrationRecord, PointRecord, ResultsStore
from rig.slot import OpenSlot
from rig.station import Station

BOW_NOTE = (
    "The unit's calibration model is linear; the fit residuals above are how far the unit's bow"
    " (integral non-linearity) leaves the fitted line from the analyzer's truth at each point."
)


def record_of(point: MeasuredPoint) -> PointRecord:
    """A measured point as the store keeps it."""
    return PointRecord(
        phase=point.phase, requirement=point.requirement.key, clause=point.requirement.clause,
        name=point.name, measured=point.measured, unit=point.unit, verdict=point.verdict,
        parameters=dict(point.parameters), nominal=point.nominal, lower=point.lower, upper=point.upper,
        expanded_uncertainty=point.budget.expanded, tur=point.decision.tur,
        budget=point.budget.as_dict(), raw=dict(point.raw),
    )


def start_run_record(store: ResultsStore, slot: OpenSlot, *, kind: str, station: Station, operator: str,
                     rule: DecisionRule, settings: dict, ambient: dict | None = None,
                     override: dict | None = None) -> int:
    """The one way a run is opened in the store: the unit's identity as ID? gave it, every instrument
    of the slot (register data), the settings the run used. Returns the run id."""
    ident = slot.dut.identity
    return store.start_run(
        kind=kind, station=station.name, slot=slot.number, operator=operator, unit_serial=ident.serial,
        unit_model=ident.model, firmware=ident.firmware, decision_rule=rule.value, instruments=instruments_of(slot),
        ambient=ambient, settings=settings, override=override,
    )


def instruments_of(slot: OpenSlot) -> list[dict]:
    """The slot's instruments as recorded with a run (register data), and the unit under test."""
    rows = []
    for role, asset in slot.assets.items():
        rows.append({"role": role, "id": asset.id, "model": asset.model, "serial": asset.serial,
                     "certificate": asset.certificate,
                     "cal_due": asset.cal_due.isoformat() if asset.cal_due else None,
                     "resource": asset.resource})
    ident = slot.dut.identity
    rows.append({"role": "unit under test", "id": "dut", "model": ident.model, "serial": ident.serial,
                 "certificate": "", "cal_due": None, "resource": slot.station.slot(slot.number).dut})
    return rows


def calibration_records(
    before: UnitCalibration, fit: CalibrationFit, *, written: bool, readback_ok: bool | None, notes: str
) -> list[CalibrationRecord]:
    """One record per polarity: coefficients before and after (voltage ones with each), residuals."""
    residuals = fit.residual_summary()
    old, new = coefficients_dict(before), coefficients_dict(fit.coefficients)
    # The date the unit says its calibration was saved (CAL?): how long it held it, for drift (rig stats).
    held_since = {"date": old["date"]} if old["date"] else {}
    return [
        CalibrationRecord(
            polarity=pol, before=old[pol] | {"v_gain": old["v_gain"], "v_offset": old["v_offset"]} | held_since,
            after=new[pol] | {"v_gain": new["v_gain"], "v_offset": new["v_offset"]},
            residuals={k: v for k, v in residuals.items() if k.endswith(pol) or k == "vadc"},
            written=written, readback_ok=readback_ok, notes=notes,
        )
        for pol in POLARITIES
    ]


def table_document(
    *, serial: str, model: str, firmware: str, day: dt.date, station: str, slot: int, operator: str,
    run_id: int, verdict: str, instruments: list[dict], before: UnitCalibration, written: UnitCalibration,
    fit: CalibrationFit, raw_points: list[RawPoint], points: list[MeasuredPoint],
) -> dict:
    """The calibration table's content (rig.records.cal_table writes it, with its SHA-256)."""
    rows = {phase: [p.as_row() for p in points if p.phase == phase] for phase in ("as_found", "as_left")}
    return {
        "serial": serial, "model": model, "firmware": firmware, "date": day.isoformat(),
        "created_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "station": station, "slot": slot, "operator": operator, "run_id": run_id, "verdict": verdict,
        "instruments": [i for i in instruments if i["role"] != "unit under test"],
        "coefficients": coefficients_dict(written), "previous_coefficients": coefficients_dict(before),
        "fit_residuals": fit.residual_summary(), "bow_note": BOW_NOTE,
        "characterisation": [vars(p) for p in raw_points],
        "as_found": rows["as_found"], "as_left": rows["as_left"],
    }
