"""Slot worker processes (rig/session/line.py, rig/worker_stop.py) with a stand-in for the calibration:
each worker opens its own store engine after the fork, and a worker whose parent is killed (kill -9)
ends its run as on a stop, with the parent's death as the reason, and exits."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from rig.session.line import run_slots
from rig.session.run import CalibrationJob, CalibrationOutcome
from rig.worker_stop import PARENT_DIED, WorkerStop

pytestmark = pytest.mark.skipif("fork" not in __import__("multiprocessing").get_all_start_methods(),
                                reason="slot workers are threads where fork is missing")

WAIT_S = 60.0
POLL_S = 0.05


def _job(store, slot: int, folder: Path) -> CalibrationJob:
    # The stand-in runners below use only the slot, the store, the folder and the stop.
    return CalibrationJob(station=None, slot=slot, keys=None, spec=None, store=store, reports_dir=folder)


def engine_of_worker(job: CalibrationJob) -> CalibrationOutcome:
    with job.store.engine.connect() as connection:  # the worker's engine works
        connection.exec_driver_sql("select 1")
    return CalibrationOutcome("PASS", f"{id(job.store)} {id(job.store.engine)} {job.store.url}")


def test_each_worker_opens_its_own_store_engine_after_the_fork(store, tmp_path):
    outcomes = run_slots({n: _job(store, n, tmp_path) for n in (1, 2)}, runner=engine_of_worker)
    for outcome in outcomes.values():
        store_id, engine_id, url = outcome.reason.split()
        assert int(store_id) != id(store) and int(engine_id) != id(store.engine)
        assert url == store.url
    assert store.runs() == []  # the caller's own engine still works


def wait_for_stop(job: CalibrationJob) -> CalibrationOutcome:
    """Like a run: 'measures' until asked to stop, then says why."""
    mark = Path(job.reports_dir) / f"slot{job.slot}"
    mark.write_text(f"running {os.getpid()}")
    while not job.abort.is_set():
        time.sleep(POLL_S)
    mark.write_text(f"stopped {os.getpid()}: {job.abort.reason}")
    return CalibrationOutcome("ERROR", "stopped")


PARENT = textwrap.dedent("""
    import sys
    sys.path.insert(0, {test_dir!r})
    from pathlib import Path
    from test_slot_workers import _job, wait_for_stop
    from rig.session.line import run_slots
    from rig.records.store import ResultsStore
    store = ResultsStore({url!r})
    run_slots({{n: _job(store, n, Path({folder!r})) for n in (1, 2)}}, runner=wait_for_stop)
""")


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_workers_of_a_killed_parent_stop_as_on_a_stop_and_exit(tmp_path):
    code = PARENT.format(test_dir=os.path.dirname(__file__), url=f"sqlite:///{tmp_path / 'r.sqlite'}",
                         folder=str(tmp_path))
    parent = subprocess.Popen([sys.executable, "-c", code])
    marks = [tmp_path / "slot1", tmp_path / "slot2"]
    deadline = time.monotonic() + WAIT_S
    while not all(m.exists() and m.read_text().startswith("running") for m in marks):
        assert time.monotonic() < deadline and parent.poll() is None, "the workers did not start"
        time.sleep(POLL_S)
    workers = [int(m.read_text().split()[1]) for m in marks]
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + WAIT_S
    while any(_alive(pid) for pid in workers):
        if time.monotonic() > deadline:
            for pid in workers:
                os.kill(pid, signal.SIGKILL)
            pytest.fail("the workers did not exit after their parent's kill")
        time.sleep(POLL_S)
    # Whichever sees it first says why: the parent-pid watch ("its parent process died") or the kernel's
    # PDEATHSIG, sent an instant before the pid is reparented ("... died or hung up (SIGHUP)").
    reasons = [m.read_text().split(": ", 1)[1] for m in marks]
    assert all(reason in (PARENT_DIED, f"{PARENT_DIED} or hung up (SIGHUP)") for reason in reasons), reasons


def test_worker_stop_reasons():
    shared = __import__("threading").Event()
    stop = WorkerStop(shared)
    assert not stop.is_set()
    shared.set()
    assert stop.is_set() and stop.reason == "stopped by the operator"
    stop.set(PARENT_DIED)
    stop.set("stopped by SIGTERM")  # the first reason stays
    assert stop.reason == PARENT_DIED
