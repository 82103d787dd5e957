"""Compliance report: requirement rows, HTML content and meta tags, PDF, `rig report`."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from synthetic_run import (
    RULE,
    SPEC,
    U_MA,
    make_run,
)

from rig.cli import main
from rig.records import plots
from rig.records.report import REQUIREMENT_KEYS, build_report, gather, public_url
from rig.records.report_html import META_BODY_SHA256, META_SHA256, body_sha256


@pytest.fixture
def no_plots(monkeypatch):
    """For tests about something else: drawing the plots is most of a report's build time."""
    monkeypatch.setattr(plots, "error_figures", lambda points, spec: [])


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
