"""The operator's actions on the station page: sign in, scan, start, stop, answer a prompt.

Every refusal is one line for the operator (StationRefusal) and changes nothing. Prompts come from
the station file (or the virtual bench's defaults, prompts.py); before a run they must all be
confirmed for it to start; every answer is written to the station's audit log, and the answers before
a run are also recorded with the run (its settings).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from rig.records.audit import AuditLog
from rig.serial_numbers import SerialNumberError, check_path_serial
from rig.station import OperatorPrompt
from rig.station_ui.prompts import PromptImages, prompts_for
from rig.station_ui.slot_runner import RunContext, RunEnd, SlotRunner, StartRequest
from rig.station_ui.state import DueView, PromptView, SlotView, StationState

log = logging.getLogger(__name__)

# A calibration due within this many days is shown as a warning before Start (past due: lock-out).
DUE_WARNING_DAYS = 30
MAX_OPERATOR_CHARS = 64
MAX_REASON_CHARS = 500


class StationRefusal(ValueError):
    """An operator action refused, with the one line that says why."""


@dataclass
class _Pending:
    """Prompts still to be answered on a slot, and what happens once they are."""

    prompts: list[OperatorPrompt]
    run_id: int | None = None
    serial: str = ""
    answers: list[dict] = field(default_factory=list)
    request: StartRequest | None = None  # before a run: started once every prompt is confirmed


class StationController:
    def __init__(self, ctx: RunContext, images: PromptImages, *, auto_confirm: bool = False,
                 clock: Callable[[], dt.date] = dt.date.today) -> None:
        self.ctx, self.images = ctx, images
        station = ctx.station
        self.prompts = list(station.prompts)
        views = [SlotView(slot=s.slot, hint_serial=(s.dut_serial or "") if station.virtual else "")
                 for s in station.slots]
        self.state = StationState(station.name, views, virtual=station.virtual, auto_confirm=auto_confirm)
        self.runner = SlotRunner(ctx, self.state, self._run_ended)
        self.audit = AuditLog.for_station(ctx.calibrations_dir, station.name, ctx.signer)
        self._pending: dict[int, _Pending] = {}
        self._prompt_ids = 0
        self._lock = threading.RLock()
        self.clock = clock  # due dates are judged again at every Start: a server runs past midnight
        self.refresh_due_dates(clock())

    # -- due dates ----------------------------------------------------------------------------

    def refresh_due_dates(self, today: dt.date) -> None:
        station = self.ctx.station
        for config in station.slots:
            ids = dict.fromkeys((config.ammeter.instrument, config.voltmeter.instrument, config.load.instrument))
            due = []
            for asset in (station.instrument(i) for i in ids):
                if asset.cal_due is not None and asset.cal_due <= today + dt.timedelta(days=DUE_WARNING_DAYS):
                    due.append(DueView(f"{asset.id} ({asset.model} {asset.serial})", asset.cal_due.isoformat(),
                                       asset.cal_due < today))
            view, locked = self.state.view(config.slot), any(d.overdue for d in due)
            if (view.due, view.locked) != (due, locked):  # an event only when something changed
                self.state.update(config.slot, "due", due=due, locked=locked)

    # -- actions --------------------------------------------------------------------------

    def sign_in(self, name: str) -> None:
        name = " ".join(str(name).split())
        if not name or len(name) > MAX_OPERATOR_CHARS or not name.isprintable():
            raise StationRefusal(f"operator: a name of 1 to {MAX_OPERATOR_CHARS} printable characters")
        self.state.set_operator(name)

    def scan(self, slot: int, serial: str) -> None:
        view = self._slot(slot)
        serial = str(serial).strip()
        try:
            check_path_serial(serial, "scanned serial")
        except SerialNumberError as exc:
            self.state.update(slot, "refused", message=str(exc))
            raise StationRefusal(str(exc)) from None
        if view.busy:
            raise StationRefusal(f"slot {slot} is running: stop it or wait for its end before the next scan")
        self.state.update(slot, "scanned", scanned=serial,
                          message=f"scanned {serial}: checked against the unit's ID? when the run starts")

    def start(self, slot: int, override_reason: str | None = None) -> None:
        with self._lock:
            self._slot(slot)
            self.refresh_due_dates(self.clock())
            view = self.state.view(slot)
            operator = self.state.operator
            reason = " ".join((override_reason or "").split()) or None
            problem = None
            if not operator:
                problem = "sign in first: the operator's name is recorded with every run"
            elif view.busy or slot in self._pending:
                problem = f"slot {slot} is busy (running or waiting for a prompt)"
            elif not view.scanned:
                problem = f"slot {slot}: scan the unit's serial first"
            elif view.locked and not reason:
                problem = (f"slot {slot}: an instrument is past its calibration due date; "
                           "Start needs an override reason (it is recorded with the run)")
            elif reason and len(reason) > MAX_REASON_CHARS:
                problem = f"override reason: at most {MAX_REASON_CHARS} characters"
            if problem:
                self.state.update(slot, "refused", message=problem)
                raise StationRefusal(problem)
            request = StartRequest(slot, view.scanned, operator, reason if view.locked else None)
            self.state.update(slot, "scan_used", scanned="", serial=request.serial, verdict="", failing="",
                              reason="", report_url=None, run_id=None, message="")
            before = prompts_for(self.prompts, "before_run", slot)
            if before:
                self._pending[slot] = _Pending(before, serial=request.serial, request=request)
                self._next_prompt(slot)
            else:
                self._start_run(request)

    def _start_run(self, request: StartRequest) -> None:
        try:
            self.runner.start(request)
        except (OSError, RuntimeError) as exc:  # e.g. no process could be forked: nothing was started
            self.state.update(request.slot, "not_started", status="idle", message=f"run not started: {exc}")
            raise StationRefusal(f"slot {request.slot}: run not started: {exc}") from None

    def stop(self, slot: int) -> None:
        with self._lock:
            self._slot(slot)
            pending = self._pending.get(slot)
            if pending is not None and pending.request is not None:
                del self._pending[slot]  # nothing was started: the run is simply not begun
                self.state.update(slot, "not_started", status="idle", prompt=None,
                                  message="run not started: stopped at the prompt")
                return
            if not self.runner.stop(slot):
                raise StationRefusal(f"slot {slot} is not running")

    def answer(self, slot: int, prompt_id: int, confirmed: bool, *, auto: bool = False) -> None:
        with self._lock:
            view = self._slot(slot)
            pending = self._pending.get(slot)
            if pending is None or view.prompt is None or view.prompt.prompt_id != prompt_id:
                raise StationRefusal(f"slot {slot}: no such prompt open (it may have been answered already)")
            prompt = pending.prompts.pop(0)
            record = {"when": prompt.when, "prompt": view.prompt.text, "image": prompt.image,
                      "answer": "confirmed" if confirmed else "rejected", "auto": auto,
                      "operator": self.state.operator or "unknown"}
            self.audit.append("operator_prompt", station=self.ctx.station.name, slot=slot,
                              unit_serial=pending.serial, run_id=pending.run_id, **record)
            pending.answers.append(record)
            if pending.request is not None and not confirmed:
                del self._pending[slot]
                self.state.update(slot, "not_started", status="idle", prompt=None,
                                  message=f"run not started: prompt rejected ({view.prompt.text})")
                return
            if pending.prompts:
                self._next_prompt(slot)
                return
            del self._pending[slot]
            if pending.request is None:  # after a run
                self.state.update(slot, "prompt_done", status="finished", prompt=None)
                return
            self.state.update(slot, "prompt_done", prompt=None)
            request = StartRequest(pending.request.slot, pending.request.serial, pending.request.operator,
                                   pending.request.override_reason, tuple(pending.answers))
            self._start_run(request)

    # -- internals --------------------------------------------------------------------------

    def _slot(self, slot: int) -> SlotView:
        try:
            return self.state.view(slot)
        except KeyError:
            raise StationRefusal(f"station {self.ctx.station.name} has no slot {slot}") from None

    def _next_prompt(self, slot: int) -> None:
        prompt = self._pending[slot].prompts[0]
        self._prompt_ids += 1
        view = PromptView(self._prompt_ids, prompt.when, prompt.text.replace("{slot}", str(slot)),
                          self.images.url(prompt.image))
        self.state.update(slot, "prompt", status="prompt", prompt=view)
        if self.state.auto_confirm:
            self.answer(slot, view.prompt_id, True, auto=True)

    def _run_ended(self, end: RunEnd) -> None:
        report_url = f"/reports/{end.report.name}" if end.report is not None else None
        self.state.update(end.slot, "run_finished", status="finished", verdict=end.verdict, reason=end.reason,
                          failing=end.failing, run_id=end.run_id, report_url=report_url, safe=end.safe,
                          finished_at_s=time.time())
        when = {"PASS": "after_pass", "FAIL": "after_fail"}.get(end.verdict)
        after = prompts_for(self.prompts, when, end.slot) if when else []
        if after:
            with self._lock:
                self._pending[end.slot] = _Pending(after, run_id=end.run_id, serial=self.state.view(end.slot).serial)
                self._next_prompt(end.slot)
