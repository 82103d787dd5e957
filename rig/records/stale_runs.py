"""Runs left "running" by a process that died (kill -9, power cut): found and marked "interrupted".

A run keeps the host, pid and start time of the process that writes it (a reused pid is told apart by
its start time). A run of this host whose process is gone will never be finished by anyone: it is
closed as "interrupted", with when that was found and why, and sealed like any ended run, so that
reports and verification show what it is. Runs of other hosts are left alone (their process cannot
be checked from here).
"""

from __future__ import annotations

import logging
import os
import socket

from sqlalchemy import func, select

from rig.records.store import INTERRUPTED, ResultsStore
from rig.records.store_schema import Point, utc_now

log = logging.getLogger(__name__)


def reconcile_stale_runs(store: ResultsStore) -> list[int]:
    """Mark every run of this host still "running" whose process is gone as interrupted; returns
    their ids. Safe to run from several processes at once (a run already closed is skipped)."""
    marked = []
    for run in store.unfinished_runs():
        if run["process_alive"] is not False:
            continue
        with store.engine.connect() as connection:
            last = connection.scalar(select(func.max(Point.taken_at)).where(Point.run_id == run["id"]))
        message = (f"interrupted: its process (pid {run['pid']} on {run['host']}) was found gone at "
                   f"{utc_now().isoformat(timespec='seconds')} UTC by pid {os.getpid()} on "
                   f"{socket.gethostname()}; last point stored at "
                   f"{last.isoformat(timespec='seconds') + ' UTC' if last else '(none)'}")
        try:
            store.finish_run(run["id"], status=INTERRUPTED, verdict=None, message=message)
        except ValueError:  # closed meanwhile by someone else
            continue
        log.warning("run %d: %s", run["id"], message)
        marked.append(run["id"])
    return marked
