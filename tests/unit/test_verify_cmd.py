"""`rig verify-report`: an untouched run verifies; one edited number is caught and named."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from synthetic_run import make_run

from rig.cli import main
from rig.commands.verify_cmd import store_url_for
from rig.records import plots
from rig.records.report import build_report
from rig.records.report_html import META_SHA256, ReportStamp
from rig.records.store import DB_URL_ENV

TAMPERED_SEQ = 3


@pytest.fixture(autouse=True)
def no_plots(monkeypatch):
    """Plots are tested elsewhere; drawing them here would only slow these tests down."""
    monkeypatch.setattr(plots, "error_figures", lambda points, spec: [])


@pytest.fixture
def reported(store, tmp_path, station_key):
    """A finished run and its report, both signed with the station key: (run id, report path)."""
    run_id = make_run(store, signer=station_key)
    return run_id, build_report(store, run_id, tmp_path / "reports", signer=station_key).html


def verify(target, store, capsys) -> tuple[int, str, str]:
    code = main(["verify-report", str(target), "--db", store.url])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_untouched_report_verifies(reported, store, capsys):
    run_id, html_path = reported
    code, out, _ = verify(html_path, store, capsys)
    assert code == 0 and out.startswith(f"verified: run {run_id}")
    code, out, _ = verify(run_id, store, capsys)
    assert code == 0 and "verified" in out


def test_report_finds_its_own_store(reported, capsys):
    _, html_path = reported
    assert main(["verify-report", str(html_path)]) == 0  # store URL from the report's meta
    assert "verified" in capsys.readouterr().out


def test_edited_point_is_named(reported, store, capsys):
    run_id, html_path = reported
    with store.engine.begin() as conn:
        changed = conn.execute(text("UPDATE points SET measured = measured + 0.5 "
                                    "WHERE run_id = :run AND seq = :seq"),
                               {"run": run_id, "seq": TAMPERED_SEQ}).rowcount
    assert changed == 1
    code, out, _ = verify(html_path, store, capsys)
    assert code == 1
    assert "NOT VERIFIED" in out
    assert "points row" in out and f"(seq {TAMPERED_SEQ})" in out and "'measured'" in out
    code, out, _ = verify(run_id, store, capsys)  # by run id alone, against the stored digests
    assert code == 1 and f"(seq {TAMPERED_SEQ})" in out


def test_edited_calibration_is_named(reported, store, capsys):
    run_id, html_path = reported
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE calibrations SET notes = 'fixed' WHERE run_id = :run"),
                     {"run": run_id})
    code, out, _ = verify(html_path, store, capsys)
    assert code == 1 and "calibrations row" in out and "'notes'" in out


def test_deleted_point_is_named(reported, store, capsys):
    run_id, html_path = reported
    with store.engine.begin() as conn:
        conn.execute(text("DELETE FROM points WHERE run_id = :run AND seq = :seq"),
                     {"run": run_id, "seq": TAMPERED_SEQ})
    code, out, _ = verify(html_path, store, capsys)
    assert code == 1 and f"seq {TAMPERED_SEQ}" in out and "missing" in out


def test_edited_report_digest_fails(reported, store, capsys):
    _, html_path = reported
    page = html_path.read_text(encoding="utf-8")
    prefix = f'<meta name="{META_SHA256}" content="'
    start = page.index(prefix) + len(prefix)
    forged = page[:start] + "0" * 64 + page[start + 64:]
    html_path.write_text(forged, encoding="utf-8")
    code, out, _ = verify(html_path, store, capsys)
    assert code == 1 and "differs from the report's " + "0" * 64 in out


def test_edited_report_body_fails(reported, store, capsys):
    _, html_path = reported
    page = html_path.read_text(encoding="utf-8")
    html_path.write_text(page.replace("alice", "bob", 1), encoding="utf-8")
    code, out, _ = verify(html_path, store, capsys)
    assert code == 1 and "body was edited" in out


def test_report_of_unfinished_run_no_longer_matches_once_finished(store, tmp_path, capsys):
    run_id = make_run(store, finish=False)
    html_path = build_report(store, run_id, tmp_path).html
    store.finish_run(run_id, status="aborted", verdict=None, message="operator stop")
    code, out, _ = verify(html_path, store, capsys)
    assert code == 1 and "built before the run finished" in out


@pytest.mark.parametrize("target, message", [
    ("4242", "no run 4242"),
    ("missing.html", "cannot read report"),
])
def test_errors_are_one_line_exit_2(reported, store, capsys, target, message):
    code, out, err = verify(target, store, capsys)
    assert code == 2 and message in err and err.count("\n") == 1 and "Traceback" not in err


def test_not_a_report_is_exit_2(tmp_path, store, capsys):
    page = tmp_path / "page.html"
    page.write_text("<html><body>hello</body></html>", encoding="utf-8")
    code, _, err = verify(page, store, capsys)
    assert code == 2 and "not a rig report" in err


def test_bad_db_url_is_exit_2(reported, capsys):
    run_id, _ = reported
    assert main(["verify-report", str(run_id), "--db", "no such url"]) == 2
    assert "bad database URL" in capsys.readouterr().err


def test_report_store_url_gets_its_password_from_the_environment(monkeypatch):
    stamp = ReportStamp(1, "0" * 64, "postgresql+psycopg://rig@db.example/results", True)
    monkeypatch.setenv(DB_URL_ENV, "postgresql+psycopg://rig:pw@db.example/results")
    assert store_url_for(stamp, None) == "postgresql+psycopg://rig:pw@db.example/results"
    monkeypatch.setenv(DB_URL_ENV, "postgresql+psycopg://rig:pw@other.example/results")
    assert store_url_for(stamp, None) == stamp.store_url
    assert store_url_for(stamp, "sqlite:///given.sqlite") == "sqlite:///given.sqlite"
