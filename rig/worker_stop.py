"""A forked slot worker ends with its parent, the same way as on the operator's stop.

On Linux the kernel sends the worker SIGHUP when its parent dies (prctl PR_SET_PDEATHSIG, set right
after the fork; then the parent is checked once, since it may have died before that). Everywhere, a
thread also watches os.getppid(): a parent that is gone requests the stop. Either way the run ends at
its next point like an operator's stop (output off, run marked aborted) and the worker exits; the
unit's output is switched off at once from the watch thread, not only at that next point. A worker
that has not ended `grace_s` after its parent died exits at once: its unit's armed host watchdog, no
longer fed, turns the output off.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from rig.exit_codes import WorkerExit

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
# Sent by the kernel when the parent dies: SIGHUP (its meaning: the controlling side is gone), so that
# the reason recorded tells it from an operator's or a service manager's SIGTERM.
PARENT_DEATH_SIGNAL = signal.SIGHUP
PARENT_POLL_S = 0.2
PARENT_DIED = "its parent process died"


class StopFlag(Protocol):
    def is_set(self) -> bool: ...


class WorkerStop:
    """A worker's stop request: the caller's shared stop event (the operator's stop), or the worker's
    own (a signal to it, its parent's death), with the reason to record."""

    def __init__(self, shared: StopFlag) -> None:
        self.shared = shared
        self.own = threading.Event()
        self.own_reason: str | None = None
        # Set once the urgent actions ran (the unit's output switched off from the watch thread): a
        # point in flight then is not a measurement of the unit and is not stored.
        self.output_cut = threading.Event()
        self._urgent: list[Callable[[], object]] = []

    def on_stop(self, action: Callable[[], object]) -> None:
        """Run action (e.g. the unit's output off) as soon as the worker's own stop is requested,
        without waiting for the run's next point: the parent's death must not leave an output on
        for longer than the unit's watchdog period, however long the point in progress takes."""
        self._urgent.append(action)

    def clear_urgent(self) -> None:
        self._urgent.clear()

    def run_urgent(self) -> None:
        if self.output_cut.is_set():
            return
        self.output_cut.set()
        for action in list(self._urgent):
            try:
                action()
            except Exception as exc:  # the run's own ending makes the slot safe again
                log.error("urgent safe state on stop: %s", exc)

    def is_set(self) -> bool:
        return self.own.is_set() or self.shared.is_set()

    def set(self, reason: str = "stopped by the operator") -> None:
        if not self.own.is_set():
            self.own_reason = reason
            self.own.set()

    @property
    def reason(self) -> str:
        return self.own_reason if self.own.is_set() and self.own_reason else "stopped by the operator"


def signal_on_parent_death(signum: int = PARENT_DEATH_SIGNAL) -> bool:
    """Ask the kernel to send signum to this process when its parent dies; False where it cannot."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, ctypes.c_ulong(signum), 0, 0, 0) != 0:
            log.warning("prctl(PR_SET_PDEATHSIG) failed: errno %d", ctypes.get_errno())
            return False
    except (OSError, AttributeError) as exc:
        log.warning("prctl(PR_SET_PDEATHSIG) not available: %s", exc)
        return False
    return True


def tie_to_parent(stop: WorkerStop, parent_pid: int, grace_s: float,
                  raise_second: Callable[[str], BaseException]) -> None:
    """In a freshly forked worker: SIGTERM, SIGINT and the parent's death (SIGHUP from the kernel)
    request the stop, as the operator's stop does; a second SIGINT raises raise_second(reason) at
    once; the parent is also watched from a thread."""

    interrupts: list[int] = []

    def on_signal(signum: int, _frame: Any) -> None:
        name = signal.Signals(signum).name
        # A second Ctrl-C is the operator insisting: stop now. SIGTERM and SIGHUP only ever request
        # the stop: the parent's death may deliver SIGHUP more than once (per exiting parent thread).
        if signum == signal.SIGINT:
            interrupts.append(signum)
            if len(interrupts) > 1:
                raise raise_second(f"a second {name} while stopping")
        if not parent_alive(parent_pid):
            stop.set(PARENT_DIED)
        elif signum == PARENT_DEATH_SIGNAL:
            stop.set(f"{PARENT_DIED} or hung up ({name})")  # the pid is reparented an instant later
        else:
            stop.set(f"stopped by {name}")

    for signum in (signal.SIGTERM, signal.SIGINT, PARENT_DEATH_SIGNAL):
        signal.signal(signum, on_signal)
    signal_on_parent_death(PARENT_DEATH_SIGNAL)
    threading.Thread(target=_watch_parent, args=(stop, parent_pid, grace_s), name="parent-watch",
                     daemon=True).start()


def parent_alive(parent_pid: int) -> bool:
    return os.getppid() == parent_pid


def _watch_parent(stop: WorkerStop, parent_pid: int, grace_s: float) -> None:
    """Poll the parent (this also covers a parent that died before prctl) and the worker's own stop;
    on either, run the urgent actions at once; after the parent's death, give the run grace_s to end
    safely, then exit."""
    while parent_alive(parent_pid):
        if stop.own.wait(PARENT_POLL_S):
            stop.run_urgent()
            while parent_alive(parent_pid):
                time.sleep(PARENT_POLL_S)
    stop.set(PARENT_DIED)
    stop.run_urgent()
    time.sleep(grace_s)
    log.error("the parent died %.0f s ago and the run has not ended: exiting", grace_s)
    os._exit(WorkerExit.ORPHANED)
