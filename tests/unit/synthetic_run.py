"""A synthetic calibration run written through the store's public API, for the report, verify and
compare tests (no bench needed)."""

from __future__ import annotations

from rig.dut.protocol import POLARITIES
from rig.metrology.decision import DecisionRule, decide
from rig.records.signing import Signer
from rig.records.store import CalibrationRecord, PointRecord, ResultsStore
from rig.spec import load_spec

SPEC = load_spec()
RULE = DecisionRule.GUARD_BAND
LOADS_OHM = (1000.0, 5000.0)
SETPOINTS_MA = (1.0, 10.0, 20.0)

U_MA = 0.01
U_V = 0.02
AS_FOUND_GAIN = 0.03  # 3 % high before calibration: fails the 1 % row
INSTRUMENTS = [
    {"role": "analyzer", "model": "PA-2000", "serial": "A123", "certificate": "C-77",
     "cal_due": "2099-01-31", "resource": "TCPIP::127.0.0.1::5025::SOCKET"},
    {"role": "load", "model": "EL-60", "serial": "L9", "certificate": "C-78",
     "cal_due": "2001-01-01", "resource": "TCPIP::127.0.0.1::5026::SOCKET"},
]


def _point(phase: str, requirement: str, name: str, measured: float, nominal: float,
           tolerance: float, u: float, unit: str, params: dict) -> PointRecord:
    lower, upper = nominal - tolerance, nominal + tolerance
    decision = decide(measured, lower=lower, upper=upper, expanded_uncertainty=u, rule=RULE,
                      nominal=nominal)
    return PointRecord(phase=phase, requirement=requirement,
                       clause=getattr(SPEC, requirement).clause, name=name, measured=measured,
                       unit=unit, verdict=decision.verdict.value, parameters=params,
                       nominal=nominal, lower=lower, upper=upper, expanded_uncertainty=u,
                       tur=decision.tur, budget={"expanded": u}, raw={"analyzer_voltage_v": 1.0})


def _phase_points(phase: str, gain: float, shift_ma: float) -> list[PointRecord]:
    made = []
    for pol in POLARITIES:
        for load in LOADS_OHM:
            for sp in SETPOINTS_MA:
                if sp * load / 1000.0 > SPEC.compliance.v_max_nominal_v * 0.9:
                    continue
                name = f"{pol}-DC-{load:g}ohm-{sp:g}mA"
                params = {"polarity": pol, "waveform": "DC", "load_ohm": load, "setpoint_ma": sp}
                out = sp * (1.0 + gain) + shift_ma
                made.append(_point(phase, "dc_accuracy", name, out, sp,
                                   SPEC.dc_accuracy.tolerance_ma(sp), U_MA, "mA", params))
                made.append(_point(phase, "reading_current", f"{name}-I", gain * sp / 2, 0.0,
                                   SPEC.reading_current.tolerance_ma(sp), U_MA, "mA", params))
                volts = sp * load / 1000.0
                made.append(_point(phase, "reading_voltage", f"{name}-V", 0.01, 0.0,
                                   SPEC.reading_voltage.tolerance_v(volts), U_V, "V", params))
    return made


AMBIENT = {"temperature_c": 23.4, "humidity_pct": 41.0}


def make_run(store: ResultsStore, *, finish: bool = True, as_left_shift_ma: float = 0.0,
             firmware: str = "2.4.1", signer: Signer | None = None, audit_head: dict | None = None,
             instruments: list[dict] | None = None, ambient: dict | None = AMBIENT, verdict_notes: str = "") -> int:
    """A calibration run: as-found 3 % high, then calibrated (as left), both polarities."""
    run_id = store.start_run(
        kind="calibrate", station="line-1/st-3", slot=2, operator="alice", unit_serial="SN0042",
        unit_model="IX-30", firmware=firmware, decision_rule=RULE, instruments=instruments or INSTRUMENTS,
        ambient=ambient, settings={"settle_s": 0.01},
        override={"reason": "load certificate renewal pending, QA-123"})
    for record in _phase_points("as_found", AS_FOUND_GAIN, 0.0):
        store.add_point(run_id, record)
    for pol in POLARITIES:
        store.add_calibration(run_id, CalibrationRecord(
            polarity=pol, before={"dac_gain": 120.0, "dac_offset": 0.0},
            after={"dac_gain": 116.5, "dac_offset": 1.5},
            residuals={"dac": {"max_abs": 0.004, "rms": 0.002, "unit": "mA"}},
            written=True, readback_ok=True))
    if not finish:
        return run_id
    for record in _phase_points("as_left", 0.0, as_left_shift_ma):
        store.add_point(run_id, record)
    for key in ("dc_accuracy", "reading_current", "reading_voltage"):
        store.set_requirement_verdict(run_id, key, getattr(SPEC, key).clause, "PASS", 0.1, verdict_notes)
    store.finish_run(run_id, status="finished", verdict="PASS", message="calibrated", audit_head=audit_head,
                     signer=signer)
    return run_id
