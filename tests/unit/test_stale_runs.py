"""Runs left "running" by a dead process: marked "interrupted" (when and why) at the next start, and
`rig report` shows them so; live runs and other hosts' runs are left alone."""

from __future__ import annotations

import subprocess
import sys

from sqlalchemy import update
from synthetic_run import make_run

from rig.cli import main
from rig.records.digest import diff_runs_for_tamper
from rig.records.stale_runs import reconcile_stale_runs
from rig.records.store_schema import Run


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _set_writer(store, run_id: int, **columns) -> None:
    with store.engine.begin() as connection:
        connection.execute(update(Run).where(Run.id == run_id).values(**columns))


def test_a_run_whose_process_is_gone_is_marked_interrupted_with_when_and_why(store):
    run_id = make_run(store, finish=False)
    dead = _dead_pid()
    _set_writer(store, run_id, pid=dead)
    assert reconcile_stale_runs(store) == [run_id]
    run = store.run(run_id)
    assert run["status"] == "interrupted" and run["verdict"] is None
    assert run["finished_at"] is not None
    assert f"pid {dead}" in run["message"] and "gone" in run["message"]
    assert run["n_points"] == len(store.points(run_id)) > 0
    assert diff_runs_for_tamper(store, run_id) == []  # sealed like any ended run
    assert reconcile_stale_runs(store) == []  # once


def test_a_live_run_a_reused_pid_and_another_hosts_run(store):
    live = make_run(store, finish=False)
    other_host = make_run(store, finish=False)
    _set_writer(store, other_host, host="another-station-pc", pid=_dead_pid())
    reused = make_run(store, finish=False)
    _set_writer(store, reused, process_start="1")  # this pid, but not the process that started it
    assert reconcile_stale_runs(store) == [reused]
    assert store.run(live)["status"] == "running"
    assert store.run(other_host)["status"] == "running"
    assert store.run(reused)["status"] == "interrupted"


def test_rig_report_shows_a_dead_processs_run_as_interrupted(store, tmp_path, monkeypatch):
    run_id = make_run(store, finish=False)
    _set_writer(store, run_id, pid=_dead_pid())
    monkeypatch.setattr("rig.records.plots.error_figures", lambda points, spec: [])
    assert main(["report", str(run_id), "--db", store.url, "--out", str(tmp_path / "out")]) == 0
    (page,) = (tmp_path / "out").glob("*.html")
    text = page.read_text()
    assert 'RUN DID NOT FINISH: status "interrupted"' in text and "was found gone" in text
