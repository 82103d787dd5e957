"""Records of real `rig calibrate` runs: SIGKILL half-way loses no point (SQLite and PostgreSQL), the
asset register is enforced (serial mismatch, due date), and an override is recorded."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
import uuid

import pytest
from bench_station import write_station

from rig.records.store import ResultsStore
from rig.virtual_bench import VirtualBenchProcess

PG_URL = os.environ.get("RIG_TEST_PG_URL")
POINTS_BEFORE_KILL = 30
WAIT_S = 120.0
POLL_S = 0.2
FUTURE = dt.date.today() + dt.timedelta(days=365)


@pytest.fixture(scope="module")
def bench():
    with VirtualBenchProcess() as running:
        yield running.description


def _calibrate(station, url, *extra) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "rig.cli", "calibrate", "--station", str(station), "--db", url, *extra],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def _run_of(store: ResultsStore, station_name: str) -> dict | None:
    found = store.runs(station=station_name)
    return found[0] if found else None


def _wait_for(predicate, what: str):
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(POLL_S)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'results.sqlite'}"
    if not PG_URL:
        pytest.skip("PostgreSQL not tested here: .ci/run sets RIG_TEST_PG_URL")
    return PG_URL


def test_sigkill_half_way_keeps_every_point_and_marks_the_run_unfinished(bench, tmp_path, url):
    name = f"kill-test-{uuid.uuid4().hex[:8]}"
    station = write_station(bench, tmp_path, name=name, cal_due=FUTURE)
    process = _calibrate(station, url)
    with ResultsStore(url) as store:
        try:
            run = _wait_for(lambda: _run_of(store, name), "the run to start")
            _wait_for(lambda: len(store.points(run["id"])) >= POINTS_BEFORE_KILL, "points")
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)
        taken = store.points(run["id"])
        header = store.unfinished_runs()
    mine = [r for r in header if r["id"] == run["id"]]
    assert mine and mine[0]["status"] == "running" and mine[0]["process_alive"] is False
    seqs = sorted(taken["seq"])
    assert len(seqs) >= POINTS_BEFORE_KILL and seqs == list(range(1, len(seqs) + 1))


def test_analyzer_serial_not_in_register_is_refused(bench, tmp_path):
    station = write_station(bench, tmp_path, name="mismatch", cal_due=FUTURE, analyzer_serial="MY00000000")
    result = _calibrate(station, f"sqlite:///{tmp_path / 'r.sqlite'}")
    out, _ = result.communicate(timeout=60)
    assert result.returncode == 2, out
    assert "MY00000000" in out and "Traceback" not in out


def test_overdue_instrument_refused_unless_overridden_and_the_override_recorded(bench, tmp_path):
    url = f"sqlite:///{tmp_path / 'r.sqlite'}"
    station = write_station(bench, tmp_path, name="overdue", cal_due=dt.date.today() - dt.timedelta(days=1))
    refused = _calibrate(station, url)
    out, _ = refused.communicate(timeout=60)
    assert refused.returncode == 2 and "past its calibration due date" in out, out
    reason = "certificate renewal in progress, QA-7"
    process = _calibrate(station, url, "--override-due", reason)
    with ResultsStore(url) as store:
        try:
            run = _wait_for(lambda: _run_of(store, "overdue"), "the overridden run to start")
        finally:
            process.send_signal(signal.SIGTERM)
            out, _ = process.communicate(timeout=30)
        run = store.run(run["id"])
    assert run["due_override"] and run["due_override_reason"] == reason
    assert process.returncode == 2 and "Traceback" not in out
    assert run["status"] == "aborted"
