"""Several slots at once: one worker process per slot, results kept apart, one stop for all.

Each slot's job owns its own unit, analyzer channel and load (labgrid's place); the workers share
nothing but the results store (which takes concurrent writers) and the stop request. A worker is a
forked process, not a thread: four slots' drivers, point commits and fits in one interpreter queued on
its global lock, and every serial or SCPI reply waited for it (benchmarks/slots.py: 4 slots 23.6 s in
threads, 22.2 s in processes, against 20.1 s for one slot). Where fork is not available, threads.

A worker reports its progress events (rig/session/events.py) and its outcome through a queue; the
caller's Ctrl-C or SIGTERM sets the shared stop event, every worker ends its run at its next point
(output off, run marked aborted), and the interrupt is re-raised once all have (carrying every
slot's outcome, so the caller can say what each slot's safe state is).

A worker is tied to the caller (rig/worker_stop.py): if the caller dies (kill -9), each worker ends its
run as on a stop and exits; it never blocks on progress nobody reads. It opens its own store engine
after the fork: a database connection inherited from the caller is never used nor closed.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import threading
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from rig.metrology.decision import RunVerdict
from rig.records.store import ResultsStore
from rig.session.events import Event
from rig.session.run import CalibrationJob, CalibrationOutcome, RunAborted, run_calibration
from rig.worker_stop import WorkerStop, parent_alive, tie_to_parent

log = logging.getLogger(__name__)

SlotRunner = Callable[[CalibrationJob], CalibrationOutcome]
POLL_S = 0.1
# After the stop request, a worker ends at its next point; one that has not ended by then is killed
# (its unit's armed watchdog turns the output off) so that the operator is never left waiting.
STOP_GRACE_S = 30.0


def _guarded(runner: SlotRunner, job: CalibrationJob) -> CalibrationOutcome:
    """A slot's error becomes its ERROR outcome, so the other slots finish their runs."""
    try:
        return runner(job)
    except KeyboardInterrupt as exc:
        return CalibrationOutcome(RunVerdict.ERROR, f"stopped: {exc or 'interrupted'}", safe=getattr(exc, "safe", None))
    except Exception as exc:
        log.debug("slot %d stopped", job.slot, exc_info=True)
        return CalibrationOutcome(RunVerdict.ERROR, describe_error(exc), safe=getattr(exc, "safe", None))


def describe_error(exc: BaseException) -> str:
    """One line for the operator."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) < 600 else text[:600] + "..."


def run_slots(
    jobs: Mapping[int, CalibrationJob], runner: SlotRunner = run_calibration
) -> dict[int, CalibrationOutcome]:
    """Run every job at once, one worker per slot. Ctrl-C/SIGTERM in the caller stops all slots (each
    ends safe and marked aborted) and is re-raised once they have."""
    if len(jobs) == 1:
        ((number, job),) = jobs.items()
        return {number: runner(job)}
    if "fork" in multiprocessing.get_all_start_methods():
        return _run_in_processes(jobs, runner)
    return _run_in_threads(jobs, runner)


# -- processes ----------------------------------------------------------------------------


class _QueuedEvents:
    """A worker's progress events, sent to the caller's event sink; dropped once the caller is gone.
    (A put never blocks: the queue's feeder thread writes to the pipe.)"""

    def __init__(self, messages: Any, number: int, parent_pid: int) -> None:
        self.messages, self.number, self.parent_pid = messages, number, parent_pid

    def __call__(self, event: Event) -> None:
        if parent_alive(self.parent_pid):
            self.messages.put(("event", self.number, event))


# What a worker inherited from the caller and must neither use nor let be collected: collecting an
# SQLite connection closes it, which in a child can checkpoint and delete the WAL others still write.
_INHERITED: list[Any] = []


def _worker(runner: SlotRunner, job: CalibrationJob, messages: Any, parent_pid: int) -> None:
    stop = WorkerStop(job.abort)
    tie_to_parent(stop, parent_pid, STOP_GRACE_S, RunAborted)
    _INHERITED.append(job.store)
    with ResultsStore(job.store.url) as store:  # its own engine, opened after the fork
        outcome = _guarded(runner, replace(job, abort=stop, store=store))
    if not parent_alive(parent_pid):
        messages.cancel_join_thread()  # nobody will read it: exit without waiting to flush the pipe
        return
    messages.put(("outcome", job.slot, outcome))


def _run_in_processes(jobs: Mapping[int, CalibrationJob], runner: SlotRunner) -> dict[int, CalibrationOutcome]:
    context = multiprocessing.get_context("fork")
    messages = context.Queue()
    stop = context.Event()
    workers = {
        number: context.Process(
            target=_worker, name=f"slot-{number}",
            args=(runner, replace(job, abort=stop, on_event=_QueuedEvents(messages, number, os.getpid())),
                  messages, os.getpid()),
        )
        for number, job in jobs.items()
    }
    outcomes: dict[int, CalibrationOutcome] = {}
    interrupted: KeyboardInterrupt | None = None
    for worker in workers.values():
        worker.start()
    try:
        _collect(jobs, workers, messages, outcomes)
    except KeyboardInterrupt as exc:
        interrupted = exc
        stop.set()
        _collect(jobs, workers, messages, outcomes, grace_s=STOP_GRACE_S)
    for number, worker in workers.items():
        worker.join()
        if number not in outcomes:
            outcomes[number] = CalibrationOutcome(RunVerdict.ERROR, f"slot {number}: its worker process ended"
                                                  f" without an outcome (exit code {worker.exitcode})")
    if interrupted is not None:
        interrupted.outcomes = {number: outcomes[number] for number in jobs}  # type: ignore[attr-defined]
        raise interrupted
    return {number: outcomes[number] for number in jobs}  # in slot order, not in the order they ended


def _collect(jobs: Mapping[int, CalibrationJob], workers: Mapping[int, Any], messages: Any,
             outcomes: dict[int, CalibrationOutcome], grace_s: float | None = None) -> None:
    """Pass progress on and gather outcomes until every worker has reported or ended (or, with
    grace_s, until that much time has passed: the stragglers are then killed)."""
    waited_s = 0.0
    while len(outcomes) < len(workers):
        try:
            message = messages.get(timeout=POLL_S)
        except queue.Empty:
            waited_s += POLL_S
            if all(not w.is_alive() for n, w in workers.items() if n not in outcomes):
                _drain(jobs, messages, outcomes)
                return
            if grace_s is not None and waited_s > grace_s:
                for number, worker in workers.items():
                    if number not in outcomes and worker.is_alive():
                        log.error("slot %d did not stop within %.0f s: killed", number, grace_s)
                        worker.kill()
                grace_s = None
            continue
        _handle(jobs, message, outcomes)


def _drain(jobs: Mapping[int, CalibrationJob], messages: Any, outcomes: dict[int, CalibrationOutcome]) -> None:
    while True:
        try:
            _handle(jobs, messages.get(timeout=POLL_S), outcomes)
        except queue.Empty:
            return


def _handle(jobs: Mapping[int, CalibrationJob], message: tuple, outcomes: dict[int, CalibrationOutcome]) -> None:
    kind, number, payload = message
    if kind == "event":
        jobs[number].on_event(payload)
    else:
        outcomes[number] = payload


# -- threads (no fork on this platform) -----------------------------------------------------


def _run_in_threads(jobs: Mapping[int, CalibrationJob], runner: SlotRunner) -> dict[int, CalibrationOutcome]:
    outcomes: dict[int, CalibrationOutcome] = {}

    def work(number: int, job: CalibrationJob) -> None:
        outcomes[number] = _guarded(runner, job)

    threads = [threading.Thread(target=work, args=item, name=f"slot-{item[0]}") for item in jobs.items()]
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            while thread.is_alive():
                thread.join(timeout=0.2)  # a bare join() would not let KeyboardInterrupt in
    except KeyboardInterrupt:
        for job in jobs.values():
            job.abort.set()
        for thread in threads:
            thread.join()
        raise
    return outcomes
