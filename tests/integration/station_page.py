"""A station page served on a 4-slot virtual bench (slot 2's unit with a bench fault), for the API and
browser tests: the bench through the launcher `rig station` uses, the server in a thread of the test."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from rig.records.store import ResultsStore
from rig.session.plans import Plan
from rig.spec import load_spec
from rig.station_ui.auth import StationAuth
from rig.station_ui.server import StationServer, build_controller
from rig.virtual_bench import VirtualBenchProcess

FAULTY_SLOT, FAULT = 2, "save_not_persisted"  # fails the `calibration` requirement, and only it
RUN_TIMEOUT_S = 240.0
POLL_S = 0.2


@contextlib.contextmanager
def station_page(tmp: Path, *, auto_confirm: bool = False, plan: Plan = Plan.END_OF_LINE) -> Iterator[StationServer]:
    with VirtualBenchProcess(slots=4, faults=[f"{FAULTY_SLOT}:{FAULT}"]) as bench, \
            ResultsStore(f"sqlite:///{tmp / 'results.sqlite'}") as store:
        controller = build_controller(bench.station, bench.keys, load_spec(), store,
                                      station_file=None, calibrations_dir=tmp / "cal", reports_dir=tmp / "rep",
                                      auto_confirm=auto_confirm, plan=plan)
        with StationServer(controller, StationAuth(None)) as server:
            yield server


def wait_for(check, what: str, timeout_s: float = RUN_TIMEOUT_S):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(POLL_S)
    raise AssertionError(f"timed out waiting for {what}")


class EventRecorder:
    """The page's event stream (SSE), read in a thread like a browser would."""

    def __init__(self, url: str) -> None:
        self.url, self.events = url, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)

    def __enter__(self) -> EventRecorder:
        self._thread.start()
        wait_for(lambda: self.events, "the first event", 20.0)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def of_slot(self, slot: int) -> list[dict]:
        return [e for e in list(self.events) if e.get("slot") == slot]

    def _read(self) -> None:
        with httpx.stream("GET", f"{self.url}/events", timeout=None) as response:
            kind = None
            for line in response.iter_lines():
                if self._stop.is_set():
                    return
                if line.startswith("event:"):
                    kind = line.partition(":")[2].strip()
                elif line.startswith("data:"):
                    self.events.append({"event": kind, **json.loads(line.partition(":")[2])})
