"""The station page's one coupling to the run code: build a slot's job, run it in a worker process of
its own, stop it, and turn its progress into the page's events (state.py).

A worker is forked and tied to this process exactly as `rig calibrate --station` does it
(rig/session/line.py, rig/worker_stop.py): Stop sets the slot's abort, its run ends at the next point with
the output off and is marked aborted; if this process dies, the kernel stops the worker the same way.
Closing the browser does nothing here: runs belong to the server process, not to a connection.
"""

from __future__ import annotations

import datetime as dt
import logging
import multiprocessing
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from rig.keys import KeySource
from rig.metrology.decision import DecisionRule, RunVerdict
from rig.records.signing import Signer
from rig.records.store import ResultsStore
from rig.session.config import RunConfig
from rig.session.events import PhaseStarted, PointMeasured, RunStarted, TraceSamples
from rig.session.launch import make_job, report_builder
from rig.session.line import STOP_GRACE_S, _QueuedEvents, _worker
from rig.session.outcome import CalibrationOutcome
from rig.session.plans import Plan
from rig.session.run import CalibrationJob, run_calibration
from rig.session.stations import StationContext
from rig.spec import ProductSpec
from rig.station import Station
from rig.station_ui.state import StationState

log = logging.getLogger(__name__)

POLL_S = 0.1


@dataclass
class RunContext:
    """What every run of the station shares."""

    station: Station
    keys: KeySource
    spec: ProductSpec
    store: ResultsStore
    calibrations_dir: Path
    reports_dir: Path
    rule: DecisionRule = DecisionRule.GUARD_BAND
    signer: Signer | None = None
    plan: Plan = Plan.END_OF_LINE


@dataclass(frozen=True)
class StartRequest:
    slot: int
    serial: str
    operator: str
    override_reason: str | None = None
    answers: tuple[dict, ...] = ()


@dataclass(frozen=True)
class RunEnd:
    """A run's end, in the page's terms."""

    slot: int
    verdict: str  # PASS, FAIL, ERROR, ABORTED
    reason: str
    failing: str = ""
    run_id: int | None = None
    report: Path | None = None
    safe: str = ""


@dataclass
class _Worker:
    process: Any
    messages: Any
    abort: Any
    serial: str
    started_utc: dt.datetime
    stop_requested_at: float | None = None


class SlotRunner:
    def __init__(self, ctx: RunContext, state: StationState, on_end: Callable[[RunEnd], None]) -> None:
        self.ctx, self.state, self.on_end = ctx, state, on_end
        self._workers: dict[int, _Worker] = {}
        self._lock = threading.Lock()
        self._context = multiprocessing.get_context("fork")

    def running(self, slot: int) -> bool:
        with self._lock:
            return slot in self._workers

    def start(self, request: StartRequest) -> None:
        """Fork the slot's worker; its progress and end come back through the state and on_end."""
        with self._lock:
            if request.slot in self._workers:
                raise RuntimeError(f"slot {request.slot} is already running")
            messages, abort = self._context.Queue(), self._context.Event()
            job = self._job(request, abort, _QueuedEvents(messages, request.slot, os.getpid()))
            process = self._context.Process(target=_worker, name=f"station-slot-{request.slot}",
                                            args=(run_calibration, job, messages, os.getpid()))
            self.state.update(request.slot, "run_started", status="running", plan=[], phase="", done=0,
                              total=0, started_at_s=time.time(), finished_at_s=None, verdict="", failing="",
                              reason="", safe="", run_id=None, report_url=None, message="",
                              trace_t_s=[], trace_ma=[], trace_label="", operator=request.operator,
                              serial=request.serial)
            started_utc = dt.datetime.now(dt.UTC).replace(tzinfo=None)
            process.start()
            worker = _Worker(process, messages, abort, request.serial, started_utc)
            self._workers[request.slot] = worker
        threading.Thread(target=self._follow, args=(request.slot, worker), name=f"follow-slot-{request.slot}",
                         daemon=True).start()

    def stop(self, slot: int) -> bool:
        """Request the slot's stop (as Ctrl-C does); False if it is not running."""
        with self._lock:
            worker = self._workers.get(slot)
            if worker is None:
                return False
            if worker.stop_requested_at is None:
                worker.stop_requested_at = time.monotonic()
                worker.abort.set()
        self.state.update(slot, "stopping", status="stopping")
        return True

    def stop_all(self, wait_s: float = STOP_GRACE_S) -> None:
        """Stop every running slot and wait for them to end (the server is shutting down)."""
        with self._lock:
            numbers = list(self._workers)
        for number in numbers:
            self.stop(number)
        deadline = time.monotonic() + wait_s + 1.0
        while time.monotonic() < deadline:
            with self._lock:
                if not self._workers:
                    return
            time.sleep(POLL_S)

    def _job(self, request: StartRequest, abort: Any, on_event: Any) -> CalibrationJob:
        """The slot's job, made by the run session from the page's inputs (operator, override, serial)."""
        ctx = self.ctx
        config = RunConfig(operator=request.operator, rule=ctx.rule.name.lower(), calibrations=ctx.calibrations_dir,
                           reports=ctx.reports_dir, override_due=request.override_reason)
        job = make_job(config, ctx.plan, StationContext(ctx.station, ctx.keys, ctx.signer), request.slot, ctx.spec,
                       ctx.store, expected_serial=request.serial, on_event=on_event,
                       build_report=report_builder(ctx.signer))
        return replace(job, abort=abort, operator_answers=request.answers)

    # -- the worker's messages ------------------------------------------------------------

    def _follow(self, slot: int, worker: _Worker) -> None:
        outcome: CalibrationOutcome | None = None
        while outcome is None:
            try:
                message = worker.messages.get(timeout=POLL_S)
            except queue.Empty:
                if not worker.process.is_alive():
                    outcome = self._drain(slot, worker)
                    break
                self._kill_if_late(slot, worker)
                continue
            outcome = self._handle(slot, message)
        worker.process.join()
        if outcome is None:
            outcome = CalibrationOutcome(
                RunVerdict.ERROR, f"slot {slot}: its worker process ended without an outcome "
                         f"(exit code {worker.process.exitcode})")
        end = self._run_end(slot, outcome, worker)
        with self._lock:
            self._workers.pop(slot, None)
        self.on_end(end)

    def _drain(self, slot: int, worker: _Worker) -> CalibrationOutcome | None:
        while True:
            try:
                outcome = self._handle(slot, worker.messages.get(timeout=POLL_S))
            except queue.Empty:
                return None
            if outcome is not None:
                return outcome

    def _kill_if_late(self, slot: int, worker: _Worker) -> None:
        started = worker.stop_requested_at
        if started is not None and time.monotonic() - started > STOP_GRACE_S and worker.process.is_alive():
            log.error("slot %d did not stop within %.0f s: killed", slot, STOP_GRACE_S)
            worker.process.kill()

    def _handle(self, slot: int, message: tuple) -> CalibrationOutcome | None:
        kind, _number, payload = message
        if kind == "outcome":
            return payload
        if isinstance(payload, RunStarted):  # the plan's phases, as the run announces them
            self.state.update(slot, "plan", plan=list(payload.phases))
        elif isinstance(payload, PhaseStarted):
            self.state.update(slot, "phase", phase=payload.phase, done=0, total=int(payload.total))
        elif isinstance(payload, PointMeasured):
            self.state.point_done(slot)
        elif isinstance(payload, TraceSamples):  # thinned samples of the cut-off just measured
            self.state.trace(slot, payload.name, list(payload.time_s), list(payload.current_ma))
        return None

    def _run_end(self, slot: int, outcome: CalibrationOutcome, worker: _Worker) -> RunEnd:
        verdict = outcome.verdict
        if worker.stop_requested_at is not None and verdict == "ERROR":
            verdict = "ABORTED"
        run_id = outcome.run_id if outcome.run_id is not None else self._run_opened(slot, worker)
        failing = ""
        if outcome.run_id is not None and verdict == "FAIL":
            failing = ", ".join(sorted(
                row["requirement"] for row in self.ctx.store.requirement_verdicts(outcome.run_id)
                if row["verdict"] not in ("PASS", "N/A")))
        safe = outcome.safe.describe() if outcome.safe is not None else "output state not read back"
        return RunEnd(slot, verdict, outcome.reason, failing, run_id, outcome.report, safe)

    def _run_opened(self, slot: int, worker: _Worker) -> int | None:
        """The run a stopped or failed worker opened in the store, if it got that far (an outcome
        carried by an exception has no run id)."""
        for run in self.ctx.store.runs(station=self.ctx.station.name, unit_serial=worker.serial, limit=5):
            if run["slot"] == slot and run["started_at"] >= worker.started_utc:
                return run["id"]
        return None
