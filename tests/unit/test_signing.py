"""Keyed integrity (issue 12 item 4): each tampering that an unkeyed digest let through (exit 0 or
'intact') now fails verification; without a key every verification says 'unsigned: integrity not
proven' (exit 3), never 'intact'."""

from __future__ import annotations

import datetime as dt
import json
import os
import re

import pytest
from sqlalchemy import create_engine, inspect, text
from synthetic_run import make_run

from rig.cli import main
from rig.dut.calibration import PolarityCalibration, UnitCalibration
from rig.records import digest, plots
from rig.records.audit import AuditLog
from rig.records.cal_table import CalibrationTableError, coefficients_dict, read_table, write_table
from rig.records.digest import canonical_sha256
from rig.records.report import build_report
from rig.records.report_html import META_BODY_SHA256, body_sha256
from rig.records.signing import (
    UNSIGNED_NOTE,
    Signer,
    SigningKeyError,
    load_signer,
    load_verifier,
    new_key_pem,
)
from rig.records.store import ResultsStore
from rig.spec import load_spec

STATION = "line-1/st-3"  # the synthetic run's station
NOMINAL = PolarityCalibration(120.0, 0.0, 0.0083, 0.0)


@pytest.fixture(autouse=True)
def no_plots(monkeypatch):
    monkeypatch.setattr(plots, "error_figures", lambda points, spec: [])


def _other_key() -> Signer:
    return Signer(os.urandom(32), "attacker")


def _audit_log(tmp_path, signer, entries=3) -> AuditLog:
    log = AuditLog.for_station(tmp_path / "cal", STATION, signer)
    for n in range(entries):
        log.append("calibration write", serial="SN0042", new={"v_gain": 0.016 + n / 1000})
    return log


def _audit_verify(log, store, capsys) -> tuple[int, str]:
    code = main(["audit", "verify", str(log.path), "--db", store.url])
    return code, capsys.readouterr().out


@pytest.fixture
def recorded(tmp_path, store, station_key):
    """A signed audit log and a signed run that recorded its head: the log."""
    log = _audit_log(tmp_path, station_key)
    make_run(store, signer=station_key, audit_head=log.head_record())
    return log


# -- the audit chain ----------------------------------------------------------------------------

def test_signed_chain_holding_the_recorded_head_verifies(recorded, store, capsys):
    code, out = _audit_verify(recorded, store, capsys)
    assert code == 0 and out.startswith("verified") and "holds entry 3 recorded by run" in out


def test_deleted_last_entry_is_caught(recorded, store, capsys):
    lines = recorded.path.read_text().splitlines()
    recorded.path.write_text("\n".join(lines[:-1]) + "\n")
    assert recorded.verify_chain() == 2  # the rest still chains: only the recorded head shows the loss
    code, out = _audit_verify(recorded, store, capsys)
    assert code == 1 and "trailing entries were deleted" in out


def test_deleted_last_entry_is_caught_without_a_key_too(recorded, store, capsys, monkeypatch):
    monkeypatch.delenv("RIG_SIGNING_KEY")
    lines = recorded.path.read_text().splitlines()
    recorded.path.write_text("\n".join(lines[:-1]) + "\n")
    code, out = _audit_verify(recorded, store, capsys)
    assert code == 1 and "trailing entries were deleted" in out


def test_forged_entry_appended_with_its_hash_recomputed_is_caught(recorded, store, capsys):
    AuditLog(recorded.path).append("calibration write", serial="SN0042", new={"v_gain": 0.019})
    code, out = _audit_verify(recorded, store, capsys)
    assert code == 1 and "line 4 (entry 4): no signature" in out
    lines = recorded.path.read_text().splitlines()
    recorded.path.write_text("\n".join(lines[:-1]) + "\n")
    AuditLog(recorded.path, _other_key()).append("calibration write", serial="SN0042", new={"v_gain": 0.019})
    code, out = _audit_verify(recorded, store, capsys)
    assert code == 1 and "entry 4): signed by key" in out


def test_whole_chain_rewritten_is_caught(recorded, store, capsys):
    recorded.path.unlink()
    for forger in (None, _other_key()):
        if recorded.path.exists():
            recorded.path.unlink()
        forged = AuditLog(recorded.path, forger)
        for n in range(3):
            forged.append("calibration write", serial="SN0042", new={"v_gain": 0.012 + n / 1000})
        assert forged.verify_chain() == 3  # a consistent chain by SHA-256 alone
        code, out = _audit_verify(recorded, store, capsys)
        assert code == 1 and "line 1 (entry 1)" in out


def test_emptied_log_is_caught(recorded, store, capsys):
    recorded.path.write_text("")
    code, out = _audit_verify(recorded, store, capsys)
    assert code == 1 and "no entries" in out


def test_signed_chain_without_a_recorded_head_is_not_proven(tmp_path, store, station_key, capsys):
    log = _audit_log(tmp_path, station_key)
    code, out = _audit_verify(log, store, capsys)
    assert code == 3 and "truncation not proven" in out


def test_recorded_head_with_a_forged_run_signature_is_caught(recorded, store, capsys):
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE runs SET audit_head = :head"),
                     {"head": json.dumps({"log": recorded.path.name, "seq": 2, "hash": "0" * 64})})
    code, out = _audit_verify(recorded, store, capsys)
    assert code == 1 and "signature does not verify" in out


def test_unsigned_chain_says_so(tmp_path, store, no_station_key, capsys):
    log = _audit_log(tmp_path, None)
    code, out = _audit_verify(log, store, capsys)
    assert code == 3 and out.startswith(UNSIGNED_NOTE)


# -- the store's run digests ----------------------------------------------------------------------

def _verify_run(run_id, store, capsys, *extra) -> tuple[int, str]:
    code = main(["verify-report", str(run_id), "--db", store.url, *extra])
    return code, capsys.readouterr().out


@pytest.mark.parametrize("keyed", [True, False])
def test_run_verdict_changed_and_digests_nulled_is_caught(store, capsys, monkeypatch, station_key, keyed):
    run_id = make_run(store, signer=station_key)
    if not keyed:
        monkeypatch.delenv("RIG_SIGNING_KEY")
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE runs SET verdict='FAIL', sha256=NULL, field_digests=NULL WHERE id = :id"),
                     {"id": run_id})
    code, out = _verify_run(run_id, store, capsys)
    assert code == 1 and "field 'sha256' missing on a closed run" in out


def test_run_changed_with_its_digests_recomputed_is_caught(store, capsys, station_key):
    run_id = make_run(store, signer=station_key)
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE runs SET verdict='FAIL' WHERE id = :id"), {"id": run_id})
    _, per_field = digest.row_digests(store.run(run_id), digest.RUN_FIELDS)
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE runs SET sha256 = :sha, field_digests = :fields WHERE id = :id"),
                     {"sha": digest.run_sha256(store, run_id), "fields": json.dumps(per_field), "id": run_id})
    code, out = _verify_run(run_id, store, capsys)
    assert code == 1 and f"run {run_id}: signature does not verify" in out


def test_signed_run_verifies_and_unsigned_run_is_not_proven(store, capsys, station_key, monkeypatch):
    signed, unsigned = make_run(store, signer=station_key), make_run(store)
    code, out = _verify_run(signed, store, capsys)
    assert code == 0 and f"signed by station key {station_key.verifier.key_id}" in out
    code, out = _verify_run(unsigned, store, capsys)
    assert code == 1 and "no signature" in out  # a key is configured: a missing signature is a failure
    monkeypatch.delenv("RIG_SIGNING_KEY")
    code, out = _verify_run(signed, store, capsys)
    assert code == 3 and out.startswith(UNSIGNED_NOTE)


def test_verify_with_another_stations_public_key_fails(store, capsys, station_key, tmp_path):
    run_id = make_run(store, signer=station_key)
    _, public_pem = new_key_pem()
    (tmp_path / "other.pub").write_bytes(public_pem)
    code, out = _verify_run(run_id, store, capsys, "--public-key", f"file:{tmp_path / 'other.pub'}")
    assert code == 1 and "not by the given public key" in out


# -- reports -------------------------------------------------------------------------------------

@pytest.fixture
def report(store, tmp_path, station_key):
    run_id = make_run(store, signer=station_key)
    return build_report(store, run_id, tmp_path / "reports", signer=station_key).html


def _verify_report(path, store, capsys) -> tuple[int, str]:
    code = main(["verify-report", str(path), "--db", store.url])
    return code, capsys.readouterr().out


def test_report_edited_with_its_body_digest_recomputed_is_caught(report, store, capsys):
    page = report.read_text(encoding="utf-8").replace("alice", "mallory")
    old = re.search(f'<meta name="{META_BODY_SHA256}" content="([0-9a-f]+)">', page).group(1)
    page = page.replace(old, body_sha256(page))
    report.write_text(page, encoding="utf-8")
    code, out = _verify_report(report, store, capsys)
    assert code == 1 and "report: signature does not verify" in out and "body was edited" not in out


@pytest.mark.parametrize("keyed", [True, False])
def test_report_with_its_digest_tag_removed_is_caught(report, store, capsys, monkeypatch, keyed):
    if not keyed:
        monkeypatch.delenv("RIG_SIGNING_KEY")
    page = report.read_text(encoding="utf-8")
    report.write_text(re.sub(f'<meta name="{META_BODY_SHA256}" content="[0-9a-f]+">', "", page), encoding="utf-8")
    code, out = _verify_report(report, store, capsys)
    assert code == 1 and "body digest is missing" in out


def test_report_with_its_signature_removed_is_caught(report, store, capsys):
    page = report.read_text(encoding="utf-8")
    report.write_text(re.sub(r'<meta name="rig-signature" content="[^"]*">', "", page), encoding="utf-8")
    code, out = _verify_report(report, store, capsys)
    assert code == 1 and "report: no signature" in out


def test_signed_report_verifies_and_records_the_audit_head(tmp_path, store, station_key, capsys):
    log = _audit_log(tmp_path, station_key)
    run_id = make_run(store, signer=station_key, audit_head=log.head_record())
    page = build_report(store, run_id, tmp_path / "r", signer=station_key).html
    assert log.head()[:16] in page.read_text(encoding="utf-8")
    code, out = _verify_report(page, store, capsys)
    assert code == 0 and "signed by station key" in out


# -- calibration tables ------------------------------------------------------------------------

def _table(tmp_path, signer):
    cal = UnitCalibration(NOMINAL, NOMINAL, 0.0161, 0.0, dt.date(2026, 11, 30))
    body = {"serial": "SN0042", "created_at": "2026-11-30T02:00:00", "coefficients": coefficients_dict(cal)}
    return write_table(tmp_path / "cal", body, signer).json_path


def test_table_edited_with_its_sha_recomputed_is_refused(tmp_path, station_key):
    path = _table(tmp_path, station_key)
    assert read_table(path, load_spec()).integrity == "signature verified"
    document = json.loads(path.read_text())
    document["coefficients"]["POS"]["dac_gain"] = 121.0
    body = {k: v for k, v in document.items() if k not in ("sha256", "signature")}
    document["sha256"] = canonical_sha256(body)
    path.write_text(json.dumps(document))
    with pytest.raises(CalibrationTableError, match=f"{re.escape(str(path))}: signature does not verify"):
        read_table(path, load_spec())
    document.pop("signature")
    path.write_text(json.dumps(document))
    with pytest.raises(CalibrationTableError, match="no signature"):
        read_table(path, load_spec())


def test_table_without_a_key_reads_as_unsigned(tmp_path, no_station_key):
    table = read_table(_table(tmp_path, None), load_spec())
    assert table.integrity == UNSIGNED_NOTE and table.coefficients.pos == NOMINAL


# -- keys --------------------------------------------------------------------------------------

def test_key_sources_and_errors_never_show_the_key(tmp_path, monkeypatch, capsys):
    private_pem, public_pem = new_key_pem()
    (tmp_path / "k.pem").write_bytes(private_pem)
    (tmp_path / "k.pub").write_bytes(public_pem)
    signer = load_signer(f"file:{tmp_path / 'k.pem'}")
    assert load_verifier(f"file:{tmp_path / 'k.pub'}").key_id == signer.verifier.key_id
    assert load_verifier(str(tmp_path / "k.pem")).key_id == signer.verifier.key_id
    assert signer.seed.hex() not in repr(signer)
    monkeypatch.setenv("STATION_KEY", "not a key at all")
    with pytest.raises(SigningKeyError, match="environment variable STATION_KEY: not a PEM") as caught:
        load_signer("env:STATION_KEY")
    assert "not a key at all" not in str(caught.value)
    with pytest.raises(SigningKeyError, match="missing.pem: cannot read"):
        load_signer(f"file:{tmp_path / 'missing.pem'}")
    monkeypatch.setenv("RIG_SIGNING_KEY", signer.seed.hex())
    store = ResultsStore(f"sqlite:///{tmp_path / 'r.sqlite'}")
    run_id = make_run(store, signer=signer)
    store.close()
    assert main(["report", str(run_id), "--db", f"sqlite:///{tmp_path / 'r.sqlite'}",
                 "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert f"signed by station key {signer.verifier.key_id}" in out and signer.seed.hex() not in out


def test_store_of_an_older_rig_gets_the_signature_columns(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE runs (id INTEGER PRIMARY KEY, sha256 VARCHAR(64))"))
    engine.dispose()
    ResultsStore(url).close()
    engine = create_engine(url)
    columns = {c["name"] for c in inspect(engine).get_columns("runs")}
    engine.dispose()
    assert {"audit_head", "signature"} <= columns



STATION_TOML = """
name = "LINE1-ST03"
unlock_keys = "env:KEYS"
signing_key = "file:{key}"
[[instruments]]
id = "pa1"
model = "N6705C"
serial = "MY1"
resource = "TCPIP::127.0.0.1::1::SOCKET"
[[instruments]]
id = "load1"
model = "RDEC-1M"
serial = "RD1"
resource = "TCPIP::127.0.0.1::2::SOCKET"
[[slots]]
slot = 1
dut = "/dev/null-ix30"
ammeter = {{ instrument = "pa1", channel = 1 }}
voltmeter = {{ instrument = "pa1", channel = 2 }}
load = {{ instrument = "load1" }}
"""


def test_unreadable_station_signing_key_stops_calibrate_in_one_line(tmp_path, capsys):
    station = tmp_path / "station.toml"
    station.write_text(STATION_TOML.format(key=tmp_path / "missing.pem"))
    code = main(["calibrate", "--station", str(station), "--db", f"sqlite:///{tmp_path / 'r.sqlite'}",
                 "--calibrations", str(tmp_path / "cal"), "--reports", str(tmp_path / "rep")])
    out = capsys.readouterr().out
    assert code == 2 and "missing.pem: cannot read" in out and "Traceback" not in out
