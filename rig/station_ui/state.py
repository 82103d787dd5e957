"""What the page shows, as its own model: one SlotView per slot, changed only by page events.

Independent of the run code: slot_runner.py translates the run's progress into these events, so the
page does not change when the run code does. Every applied event gets a sequence number and is kept
(bounded) so that an event stream can resume, and a reloaded page gets the true state of every slot
from `snapshot()`. Thread-safe: runs report from their reader threads, the web server reads.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any

# Phases of the plan the station runs; a plan that has no cut-offs shows that phase as not run.
CALIBRATE_PHASES = ("as-found", "characterise", "write", "as-left")
ALL_PHASES = (*CALIBRATE_PHASES, "cutoffs")
KEPT_EVENTS = 2000
TRACE_SAMPLES_MAX = 400  # the page draws a trace thinned to a few Hz: a bounded tail of it


@dataclass
class PromptView:
    prompt_id: int
    when: str  # before_run, after_pass, after_fail
    text: str
    image_url: str | None = None


@dataclass
class DueView:
    instrument: str
    cal_due: str
    overdue: bool


@dataclass
class SlotView:
    slot: int
    status: str = "idle"  # idle, prompt, starting, running, stopping, finished
    scanned: str = ""  # the serial scanned for the next run (consumed by Start)
    serial: str = ""  # the unit of the current or last run
    operator: str = ""
    plan: tuple[str, ...] = ()
    phase: str = ""
    done: int = 0
    total: int = 0
    started_at_s: float | None = None  # wall clock (epoch seconds): the page computes elapsed time
    finished_at_s: float | None = None
    verdict: str = ""  # PASS, FAIL, ERROR, ABORTED
    failing: str = ""  # the failing requirement(s), one line
    reason: str = ""
    safe: str = ""
    run_id: int | None = None
    report_url: str | None = None
    message: str = ""  # the last refusal or notice for the operator
    prompt: PromptView | None = None
    due: list[DueView] = field(default_factory=list)
    locked: bool = False  # an instrument past its due date: Start needs an override reason
    hint_serial: str = ""  # virtual bench only: the serial of the emulated unit in the slot
    trace_t_s: list[float] = field(default_factory=list)
    trace_ma: list[float] = field(default_factory=list)
    trace_label: str = ""

    @property
    def busy(self) -> bool:
        return self.status in ("starting", "running", "stopping")


class StationState:
    """The slots' views and the log of events applied to them."""

    def __init__(self, name: str, slots: list[SlotView], *, virtual: bool, auto_confirm: bool) -> None:
        self.name, self.virtual, self.auto_confirm = name, virtual, auto_confirm
        self.operator = ""
        self.slots = {view.slot: view for view in slots}
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._events: deque[dict[str, Any]] = deque(maxlen=KEPT_EVENTS)
        self._seq = 0

    # -- changes ----------------------------------------------------------------------------

    def update(self, slot: int, kind: str, **changes: Any) -> dict[str, Any]:
        """Apply changes to one slot's view and log the event `kind` (its fields: the changes)."""
        with self._lock:
            view = self.slots[slot]
            for name, value in changes.items():
                if not hasattr(view, name):
                    raise AttributeError(f"slot view has no field {name!r}")
                setattr(view, name, value)
            return self._log(kind, {"slot": slot, **_plain(changes)}, view)

    def point_done(self, slot: int) -> dict[str, Any]:
        with self._lock:
            view = self.slots[slot]
            view.done += 1
            return self._log("point", {"slot": slot, "done": view.done, "total": view.total}, view)

    def trace(self, slot: int, label: str, t_s: list[float], current_ma: list[float]) -> dict[str, Any]:
        """Samples of the cut-off being measured (already thinned by the sender); a new label starts
        a new trace."""
        with self._lock:
            view = self.slots[slot]
            if label != view.trace_label:
                view.trace_label, view.trace_t_s, view.trace_ma = label, [], []
            view.trace_t_s = (view.trace_t_s + list(t_s))[-TRACE_SAMPLES_MAX:]
            view.trace_ma = (view.trace_ma + list(current_ma))[-TRACE_SAMPLES_MAX:]
            return self._log("trace", {"slot": slot, "label": label, "t_s": list(t_s),
                                       "current_ma": list(current_ma)}, None)

    def set_operator(self, name: str) -> dict[str, Any]:
        with self._lock:
            self.operator = name
            return self._log("operator", {"operator": name}, None)

    def _log(self, kind: str, fields: dict[str, Any], view: SlotView | None) -> dict[str, Any]:
        self._seq += 1
        event = {"seq": self._seq, "type": kind, "time_s": time.time(), **fields}
        if view is not None:
            event["state"] = view_dict(view)
        self._events.append(event)
        self._changed.notify_all()
        return event

    # -- reading ----------------------------------------------------------------------------

    def view(self, slot: int) -> SlotView:
        with self._lock:
            return self.slots[slot]

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {"seq": self._seq, "station": self.name, "virtual": self.virtual,
                    "auto_confirm": self.auto_confirm, "operator": self.operator,
                    "slots": [view_dict(v) for _, v in sorted(self.slots.items())]}

    def events_after(self, seq: int, wait_s: float = 0.0) -> list[dict[str, Any]] | None:
        """Events newer than seq (waiting up to wait_s for one); None if the stream fell behind the
        kept log (the caller then sends a fresh snapshot)."""
        with self._changed:
            if self._seq <= seq and wait_s > 0:
                self._changed.wait(wait_s)
            if self._events and self._events[0]["seq"] > seq + 1:
                return None
            return [e for e in self._events if e["seq"] > seq]

    @property
    def seq(self) -> int:
        with self._lock:
            return self._seq


def view_dict(view: SlotView) -> dict[str, Any]:
    data = asdict(view)
    data["busy"] = view.busy
    return data


def _plain(changes: dict[str, Any]) -> dict[str, Any]:
    return {k: (asdict(v) if hasattr(v, "__dataclass_fields__") else v) for k, v in changes.items()}
