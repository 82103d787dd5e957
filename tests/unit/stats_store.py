"""A small synthetic population written through the store's public API, for the `rig stats` tests:
four units on two stations and two firmware versions, one retested, one recalibrated 30 days later."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from rig.records.store import CalibrationRecord, PointRecord, ResultsStore

TOLERANCE_MA = 0.2  # the reference point's limits in these records: 10 mA +/- 0.2 mA
REFERENCE = {"polarity": "POS", "waveform": "DC", "load_ohm": 1000.0, "setpoint_ma": 10.0}
OTHER = {"polarity": "NEG", "waveform": "DC", "load_ohm": 500.0, "setpoint_ma": 5.0}
RECALIBRATED_AFTER_DAYS = 30
HELD = {"dac_gain": 120.0, "dac_offset": 0.0, "adc_gain": 0.0083, "adc_offset": 0.0, "v_gain": 0.0161,
        "v_offset": 0.0}


def _point(phase: str, params: dict, error_ma: float) -> PointRecord:
    nominal = params["setpoint_ma"]
    measured = nominal + error_ma
    verdict = "PASS" if abs(error_ma) <= TOLERANCE_MA else "FAIL"
    name = f"{params['polarity']}-DC-{params['load_ohm']:g}ohm-{nominal:g}mA"
    return PointRecord(phase=phase, requirement="dc_accuracy", clause="1: DC output accuracy", name=name,
                       measured=measured, unit="mA", verdict=verdict, parameters=dict(params), nominal=nominal,
                       lower=nominal - TOLERANCE_MA, upper=nominal + TOLERANCE_MA, expanded_uncertainty=0.01)


def add_run(store: ResultsStore, *, serial: str, station: str, firmware: str, verdict: str | None,
            status: str = "finished", found_ma: float = 0.05, left_ma: float = 0.01,
            held: dict | None = None, fitted_gain: float = 121.0, failing: tuple[str, ...] = ()) -> int:
    run_id = store.start_run(kind="calibrate", station=station, slot=1, operator="alice", unit_serial=serial,
                             unit_model="IX-30", firmware=firmware, decision_rule="guard band w = U",
                             instruments=[])
    for phase, error in (("as_found", found_ma), ("as_left", left_ma)):
        store.add_point(run_id, _point(phase, REFERENCE, error))
        store.add_point(run_id, _point(phase, OTHER, -error))
    held = dict(HELD if held is None else held)
    for polarity in ("POS", "NEG"):
        store.add_calibration(run_id, CalibrationRecord(
            polarity=polarity, before=held, after={**HELD, "dac_gain": fitted_gain}, residuals={},
            written=status == "finished", readback_ok=status == "finished"))
    for key in ("dc_accuracy", "calibration"):
        store.set_requirement_verdict(run_id, key, "1", "FAIL" if key in failing else "PASS", 0.1)
    store.finish_run(run_id, status=status, verdict=verdict)
    return run_id


def make_population(store: ResultsStore, prefix: str = "") -> dict[str, int]:
    """SN1 passes (ST-A, 2.4.1); SN2 fails dc_accuracy, then passes on ST-B; SN3 ends in an error, then
    fails calibration (ST-B, 2.5.0); SN4 passes, then is recalibrated: it comes back holding the gain of
    121.0 dated 30 days before, and needs 121.6. prefix: before every serial and station name."""
    thirty_days_ago = (datetime.now(UTC).date() - timedelta(days=RECALIBRATED_AFTER_DAYS)).isoformat()
    plan = {
        "SN1": ("SN1", "ST-A", "2.4.1", "PASS", {}),
        "SN2a": ("SN2", "ST-A", "2.4.1", "FAIL", {"left_ma": 0.3, "failing": ("dc_accuracy",)}),
        "SN2b": ("SN2", "ST-B", "2.4.1", "PASS", {}),
        "SN3a": ("SN3", "ST-B", "2.5.0", None, {"status": "error"}),
        "SN3b": ("SN3", "ST-B", "2.5.0", "FAIL", {"failing": ("calibration",)}),
        "SN4a": ("SN4", "ST-A", "2.5.0", "PASS", {"left_ma": 0.02}),
        "SN4b": ("SN4", "ST-A", "2.5.0", "PASS", {"found_ma": 0.08, "fitted_gain": 121.6,
                                                  "held": {**HELD, "dac_gain": 121.0, "date": thirty_days_ago}}),
    }
    return {key: add_run(store, serial=prefix + serial, station=prefix + station, firmware=firmware,
                         verdict=verdict, **extra)
            for key, (serial, station, firmware, verdict, extra) in plan.items()}
