"""Results store: round trip, closed records, crash survival (SIGKILL), tamper evidence.

SQLite always; PostgreSQL too when RIG_TEST_PG_URL is set (e.g. postgresql+psycopg://u@h/db).
"""

import math
import os
import subprocess
import sys
import textwrap
import uuid

import pytest
from sqlalchemy import text

from rig.metrology.decision import DecisionRule, Verdict, decide
from rig.metrology.uncertainty import MeterAccuracy, reading_budget
from rig.records.digest import canonical_run_json, diff_runs_for_tamper, run_sha256
from rig.records.store import CalibrationRecord, PointRecord, ResultsStore

PG_URL = os.environ.get("RIG_TEST_PG_URL")
POINTS_BEFORE_KILL = 5
PLANNED_POINTS = 10
INSTRUMENTS = [
    {"role": "ammeter", "model": "N6705C", "serial": "MY0001", "certificate": "CERT-17",
     "cal_due": "2031-01-31", "resource": "TCPIP::127.0.0.1::5025::SOCKET", "channel": 1},
    {"role": "load", "model": "RDEC-1M", "serial": "L42", "certificate": "CERT-18",
     "cal_due": "2031-02-28", "resource": "TCPIP::127.0.0.1::5026::SOCKET"},
]


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'results.sqlite'}"
    if not PG_URL:
        pytest.skip("PostgreSQL not tested: set RIG_TEST_PG_URL=postgresql+psycopg://... to run")
    return PG_URL


@pytest.fixture
def store(url):
    results = ResultsStore(url)
    yield results
    results.close()


def start(store: ResultsStore, serial: str | None = None) -> int:
    return store.start_run(
        kind="calibrate", station="line-1/st-3", slot=2, operator="alice",
        unit_serial=serial or f"SN{uuid.uuid4().hex[:10]}", unit_model="IX-30",
        firmware="2.4.1", decision_rule=DecisionRule.GUARD_BAND, instruments=INSTRUMENTS,
        ambient={"temperature_c": 23.4, "humidity_pct": 41.0},
        settings={"settle_s": 0.01, "samples": 10},
        override={"reason": "load certificate renewal pending, QA ticket 123"})


def point(seq_name: str, measured: float = 10.02, **extra) -> PointRecord:
    values = dict(phase="as_left", requirement="dc_accuracy", clause="1: DC output accuracy",
                  name=seq_name, measured=measured, unit="mA", verdict=Verdict.PASS,
                  parameters={"load_ohm": 1000.0, "setpoint_ma": 10.0, "polarity": "+"},
                  nominal=10.0, lower=9.85, upper=10.15, expanded_uncertainty=0.0122, tur=12.3,
                  budget={"expanded": 0.0122}, raw={"samples": [10.01, 10.03]})
    values.update(extra)
    return PointRecord(**values)


def test_run_round_trip(store):
    run_id = start(store)
    ids = [store.add_point(run_id, point(f"p{i}", 10.0 + i / 100)) for i in range(3)]
    store.add_calibration(run_id, CalibrationRecord(
        polarity="+", before={"dac_gain": 120.0}, after={"dac_gain": 121.37},
        residuals={"rms_ma": 0.004}, written=True, readback_ok=True))
    store.set_requirement_verdict(run_id, "dc_accuracy", "1: DC output accuracy",
                                  Verdict.PASS, 0.12)
    store.set_requirement_verdict(run_id, "dc_accuracy", "1: DC output accuracy",
                                  Verdict.CONDITIONAL_PASS, 0.004, notes="re-evaluated")
    store.finish_run(run_id, status="finished", verdict=Verdict.CONDITIONAL_PASS, message="ok")

    run = store.run(run_id)
    assert run["status"] == "finished" and run["verdict"] == "CONDITIONAL PASS"
    assert run["station"] == "line-1/st-3" and run["slot"] == 2 and run["unit_model"] == "IX-30"
    assert run["decision_rule"] == "guard band w = U" and run["n_points"] == 3
    assert run["ambient_temp_c"] == 23.4 and run["settings"]["settle_s"] == 0.01
    assert run["due_override"] and "QA ticket" in run["due_override_reason"]
    assert run["settings"]["due_override"]["reason"] == run["due_override_reason"]
    assert run["host"] and run["pid"] == os.getpid() and run["finished_at"] >= run["started_at"]
    assert [(i["role"], str(i["cal_due"]), i["resource"]) for i in run["instruments"]] == [
        ("ammeter", "2031-01-31", INSTRUMENTS[0]["resource"]),
        ("load", "2031-02-28", INSTRUMENTS[1]["resource"])]
    assert run["instruments"][0]["channel"] == 1

    frame = store.points(run_id)
    assert list(frame["seq"]) == [1, 2, 3] and len(set(ids)) == 3
    assert list(frame["measured"]) == pytest.approx([10.0, 10.01, 10.02])
    assert list(frame["load_ohm"]) == [1000.0] * 3 and frame["verdict"].iloc[0] == "PASS"
    assert frame["raw"].iloc[0] == {"samples": [10.01, 10.03]}
    assert [c["after"] for c in store.calibrations(run_id)] == [{"dac_gain": 121.37}]
    verdicts = store.requirement_verdicts(run_id)
    assert [(v["verdict"], v["notes"]) for v in verdicts] == [("CONDITIONAL PASS", "re-evaluated")]
    assert [r["id"] for r in store.runs(unit_serial=run["unit_serial"])] == [run_id]
    assert diff_runs_for_tamper(store, run_id) == []
    assert run["sha256"] == run_sha256(store, run_id)


def test_point_from_decision_keeps_budget_and_rule(store):
    run_id = start(store)
    meter = MeterAccuracy(0.025, 0.008, 0.0001, "mA", "100 mA")
    budget = reading_budget("output current", 10.14, meter, [10.13, 10.15])
    decision = decide(10.14, lower=9.85, upper=10.15, expanded_uncertainty=budget.expanded,
                      rule=DecisionRule.GUARD_BAND)
    record = PointRecord.from_decision(decision, phase="as_left", requirement="dc_accuracy",
                                       clause="1", name="10 mA @ 1 kΩ", unit="mA",
                                       nominal=10.0, budget=budget)
    store.add_point(run_id, record)
    stored = store.points(run_id).iloc[0]
    assert stored["verdict"] == "CONDITIONAL PASS"
    assert stored["expanded_uncertainty"] == pytest.approx(budget.expanded)
    assert len(stored["budget"]["components"]) == 3
    assert stored["raw"]["decision"]["rule"] == "guard band w = U"


def test_non_finite_values_are_stored_and_still_verify(store):
    run_id = start(store)
    store.add_point(run_id, point("open circuit", math.nan, upper=None, tur=math.inf,
                                  parameters={"load_ohm": math.inf},
                                  raw={"trace": [1.0, math.nan, -0.0]}))
    stored = store.points(run_id).iloc[0]
    assert stored["measured"] is None or math.isnan(stored["measured"])
    assert stored["parameters"] == {"load_ohm": "inf"} and stored["tur"] == math.inf
    assert diff_runs_for_tamper(store, run_id) == []


def test_closed_run_refuses_more_data(store):
    run_id = start(store)
    with pytest.raises(ValueError, match="finish status"):
        store.finish_run(run_id, status="done", verdict=None)
    store.finish_run(run_id, status="aborted", verdict=None, message="operator stop")
    with pytest.raises(ValueError, match="closed"):
        store.add_point(run_id, point("late"))
    with pytest.raises(ValueError, match="closed"):
        store.finish_run(run_id, status="finished", verdict="PASS")
    with pytest.raises(KeyError):
        store.run(10**9)


def test_unfinished_run_of_a_live_process(store):
    run_id = start(store)
    store.add_point(run_id, point("p"))
    mine = [r for r in store.unfinished_runs() if r["id"] == run_id]
    assert len(mine) == 1 and mine[0]["status"] == "running" and mine[0]["process_alive"]


CHILD = textwrap.dedent("""
    import os, signal, sys
    sys.path.insert(0, {test_dir!r})
    from test_store import point, start
    from rig.records.store import ResultsStore
    store = ResultsStore({url!r})
    run_id = start(store)
    print(run_id, flush=True)
    for i in range({planned}):
        if i == {kill_at}:
            os.kill(os.getpid(), signal.SIGKILL)
        store.add_point(run_id, point(f"p{{i}}"))
""")


def test_sigkill_half_way_keeps_every_committed_point(url):
    code = CHILD.format(test_dir=os.path.dirname(__file__), url=url, planned=PLANNED_POINTS,
                        kill_at=POINTS_BEFORE_KILL)
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           timeout=120)
    assert child.returncode == -9, child.stderr
    run_id = int(child.stdout.split()[0])
    with ResultsStore(url) as store:
        assert list(store.points(run_id)["seq"]) == list(range(1, POINTS_BEFORE_KILL + 1))
        assert store.run(run_id)["status"] == "running"
        dead = [r for r in store.unfinished_runs() if r["id"] == run_id]
        assert len(dead) == 1 and dead[0]["process_alive"] is False
        assert diff_runs_for_tamper(store, run_id) == []


def test_tampered_number_is_named_by_point_and_field(store):
    run_id = start(store)
    for i in range(4):
        store.add_point(run_id, point(f"p{i}"))
    store.finish_run(run_id, status="finished", verdict="PASS")
    digest_before = run_sha256(store, run_id)
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE points SET measured = 10.2 WHERE run_id = :r AND seq = 3"),
                     {"r": run_id})
    findings = diff_runs_for_tamper(store, run_id, stored_digest=digest_before)
    assert [(f.table, f.seq, f.field) for f in findings] == [("points", 3, "measured")]
    assert "10.2" in str(findings[0])
    assert run_sha256(store, run_id) != digest_before


def test_tampered_header_and_deleted_point_are_named(store):
    run_id = start(store)
    for i in range(3):
        store.add_point(run_id, point(f"p{i}"))
    store.finish_run(run_id, status="finished", verdict="FAIL")
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE runs SET verdict = 'PASS' WHERE id = :r"), {"r": run_id})
        conn.execute(text("DELETE FROM points WHERE run_id = :r AND seq = 2"), {"r": run_id})
    found = {(f.table, f.seq, f.field) for f in diff_runs_for_tamper(store, run_id)}
    assert found == {("runs", None, "verdict"), ("points", 2, "seq")}


def test_point_slipped_in_after_finish_is_named(store):
    run_id = start(store)
    store.add_point(run_id, point("p0"))
    store.finish_run(run_id, status="finished", verdict="PASS")
    forged = store.rows(run_id)["points"][0]
    with store.engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO points (run_id, seq, phase, requirement, clause, name, parameters,"
            " measured, unit, verdict, taken_at, sha256, field_digests)"
            " SELECT run_id, 2, phase, requirement, clause, name, parameters, measured, unit,"
            " verdict, taken_at, sha256, field_digests FROM points WHERE id = :i"),
            {"i": forged["id"]})
    found = {(f.table, f.seq, f.field) for f in diff_runs_for_tamper(store, run_id)}
    assert ("points", 2, "seq") in found


def test_canonical_json_is_stable(store):
    run_id = start(store)
    store.add_point(run_id, point("p", 0.1 + 0.2))
    first = canonical_run_json(store, run_id)
    assert first == canonical_run_json(store, run_id)
    assert b'"measured":0.30000000000000004,' in first  # shortest round-trip repr
    assert first.startswith(b'{"calibrations":[],"points":[{"budget":{"expanded":0.0122},')


def test_sqlite_is_wal_with_full_sync_and_env_url(tmp_path, monkeypatch):
    monkeypatch.setenv("RIG_DB_URL", f"sqlite:///{tmp_path / 'sub' / 'env.sqlite'}")
    with ResultsStore() as store:
        assert store.url.endswith("env.sqlite")
        with store.engine.connect() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
