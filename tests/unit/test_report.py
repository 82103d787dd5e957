"""Compliance report: requirement rows, HTML content and meta tags, PDF, `rig report`."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

from rig.cli import main
from rig.metrology.decision import DecisionRule, decide
from rig.records import plots
from rig.records.report import REQUIREMENT_KEYS, build_report, gather, public_url
from rig.records.report_html import META_BODY_SHA256, META_SHA256, body_sha256
from rig.records.store import CalibrationRecord, PointRecord, ResultsStore
from rig.spec import load_spec

SPEC = load_spec()
RULE = DecisionRule.GUARD_BAND
LOADS_OHM = (1000.0, 5000.0)
SETPOINTS_MA = (1.0, 10.0, 20.0)
POLARITIES = ("POS", "NEG")
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


def make_run(store: ResultsStore, *, finish: bool = True, as_left_shift_ma: float = 0.0,
             firmware: str = "2.4.1") -> int:
    """A calibration run: as-found 3 % high, then calibrated (as left), both polarities."""
    run_id = store.start_run(
        kind="calibrate", station="line-1/st-3", slot=2, operator="alice", unit_serial="SN0042",
        unit_model="IX-30", firmware=firmware, decision_rule=RULE, instruments=INSTRUMENTS,
        ambient={"temperature_c": 23.4, "humidity_pct": 41.0}, settings={"settle_s": 0.01},
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
        store.set_requirement_verdict(run_id, key, getattr(SPEC, key).clause, "PASS", 0.1)
    store.finish_run(run_id, status="finished", verdict="PASS", message="calibrated")
    return run_id


@pytest.fixture
def no_plots(monkeypatch):
    """For tests about something else: drawing the plots is most of a report's build time."""
    monkeypatch.setattr(plots, "error_figures", lambda points, spec: [])


@pytest.fixture
def store(tmp_path):
    results = ResultsStore(f"sqlite:///{tmp_path / 'results.sqlite'}")
    yield results
    results.close()


def meta(text: str, name: str) -> str:
    found = re.search(rf'<meta name="{name}" content="([^"]*)">', text)
    assert found, f"no meta {name}"
    return html.unescape(found.group(1))


def test_every_spec_requirement_has_a_row(store):
    run_id = make_run(store)
    rows = {r.key: r for r in gather(store, run_id, SPEC).requirements}
    assert set(REQUIREMENT_KEYS) <= set(rows)
    assert rows["dc_accuracy"].verdict == "PASS"
    # as_found points do not decide: only the as-left ones count
    assert rows["dc_accuracy"].n_points == 10
    for untested in ("ramp", "overcurrent", "timer", "residual_current", "compliance"):
        assert rows[untested].verdict == "N/A"
        assert rows[untested].clause == getattr(SPEC, untested).clause


def test_worst_point_and_min_tur(store):
    run_id = make_run(store, as_left_shift_ma=0.04)
    row = next(r for r in gather(store, run_id).requirements if r.key == "dc_accuracy")
    # the smallest setpoint has the narrowest band, so a fixed shift comes closest to its limit there
    assert row.worst_name.endswith("-1mA")
    assert row.worst_measured == pytest.approx(1.04)
    assert row.upper == pytest.approx(1.0 + SPEC.dc_accuracy.tolerance_ma(1.0))
    assert row.min_tur == pytest.approx(SPEC.dc_accuracy.tolerance_ma(1.0) / U_MA)
    assert not row.low_tur


def test_html_report_content(store, tmp_path):
    run_id = make_run(store)
    paths = build_report(store, run_id, tmp_path / "reports", SPEC)
    assert paths.html == tmp_path / "reports" / f"run-{run_id}.html"
    text = paths.html.read_text(encoding="utf-8")
    assert meta(text, META_SHA256) == paths.sha256 == store.run(run_id)["sha256"]
    assert meta(text, "rig-run-id") == str(run_id)
    assert meta(text, META_BODY_SHA256) == body_sha256(text)
    for expected in ("SN0042", "2.4.1", "line-1/st-3", "alice", "guard band w = U",
                     SPEC.overcurrent.clause, SPEC.residual_current.clause, "QA-123",
                     "OVERDUE", "A123", "C-78", "23.4", "116.5", "As found", "data:image/png;base64,"):
        assert expected in html.unescape(text), expected
    assert "DID NOT FINISH" not in text
    assert "http://" not in text and "https://" not in text  # opens with no network
    assert text.count("<img") == 3  # dc, reading current, reading voltage
    assert paths.pdf is not None and paths.pdf.read_bytes().startswith(b"%PDF")


@pytest.mark.usefixtures("no_plots")
def test_unfinished_run_is_shown_as_such(store, tmp_path):
    run_id = make_run(store, finish=False)
    paths = build_report(store, run_id, tmp_path, SPEC)
    text = paths.html.read_text(encoding="utf-8")
    assert "RUN DID NOT FINISH" in text and 'status "running"' in text
    assert "none (run did not finish)" in text


def test_store_url_is_printed_without_password():
    shown = public_url("postgresql+psycopg://rig:s3cret@db.example/results")
    assert "s3cret" not in shown and "db.example/results" in shown


@pytest.mark.usefixtures("no_plots")
def test_rig_report_command(store, tmp_path, capsys):
    run_id = make_run(store)
    out = tmp_path / "out"
    assert main(["report", str(run_id), "--db", store.url, "--out", str(out)]) == 0
    assert (out / f"run-{run_id}.html").is_file()
    assert str(out / f"run-{run_id}.html") in capsys.readouterr().out


@pytest.mark.parametrize("argv_tail, message", [
    (["999"], "no run 999"),
    (["1", "--db", "nonsense://x"], "database"),
])
def test_rig_report_errors_are_one_line(store, tmp_path, capsys, argv_tail, message):
    make_run(store)
    argv = ["report", *argv_tail, "--out", str(tmp_path)]
    if "--db" not in argv:
        argv += ["--db", store.url]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err and "Traceback" not in err


def test_missing_sqlite_file_is_an_error_not_a_new_database(tmp_path, capsys):
    missing = tmp_path / "nowhere.sqlite"
    assert main(["report", "1", "--db", f"sqlite:///{missing}", "--out", str(tmp_path)]) == 2
    assert not missing.exists()
    assert str(missing) in capsys.readouterr().err


@pytest.mark.usefixtures("no_plots")
def test_report_paths_are_under_out_dir(store, tmp_path):
    run_id = make_run(store)
    paths = build_report(store, run_id, tmp_path / "a" / "b")
    assert Path(paths.html).parent == tmp_path / "a" / "b"


def test_recorded_verdict_cannot_hide_a_failing_point(store):
    run_id = make_run(store, as_left_shift_ma=0.1)  # the 1 mA points fail; PASS was recorded
    row = next(r for r in gather(store, run_id).requirements if r.key == "dc_accuracy")
    assert row.verdict == "FAIL"
    assert "recorded verdict PASS disagrees" in row.notes


def test_run_without_points_still_reports_every_requirement(store, tmp_path):
    run_id = store.start_run(kind="calibrate", station="s", slot=1, operator="o", unit_serial="SN1",
                             unit_model="IX-30", firmware="1.0", decision_rule=RULE, instruments=[])
    store.finish_run(run_id, status="error", verdict=None, message="unit did not answer")
    paths = build_report(store, run_id, tmp_path, SPEC)
    text = html.unescape(paths.html.read_text(encoding="utf-8"))
    assert "RUN DID NOT FINISH" in text and "unit did not answer" in text
    assert all(r.verdict == "N/A" for r in gather(store, run_id, SPEC).requirements)
    assert "<img" not in text
