"""A bench of several slots served by one process per slot.

Each slot is an independent circuit (its own unit, analyzer, load and control channel), so nothing is
shared but the machine: one process each keeps one slot's firmware control loop and instrument
threads from waiting on another's behind Python's global interpreter lock. The parent starts the
children (`python -m rig.bench --slots 1 --slot-number k ...`), merges their JSON lines into the
usual one, and stops them all on SIGINT/SIGTERM or when one of them ends.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Sequence

CHILD_START_TIMEOUT_S = 30.0
CHILD_STOP_TIMEOUT_S = 10.0
POLL_S = 0.5


class FanoutError(RuntimeError):
    """A slot process did not start; carries what it said."""


def child_arguments(slot: int, serial: str, seed: int, faults: Sequence[str], comm_faults: Sequence[str],
                    port_base: int | None, unit_errors: str | None = None, *, variant: int = 0,
                    firmware_version: str | None = None) -> list[str]:
    args = [sys.executable, "-m", "rig.bench", "--slots", "1", "--slot-number", str(slot), "--serial", serial,
            "--seed", str(seed)]
    for fault in faults:
        args += ["--fault", fault]
    for fault in comm_faults:
        args += ["--comm-fault", fault]
    if port_base is not None:
        args += ["--port-base", str(port_base)]
    if unit_errors is not None:
        args += ["--unit-errors", unit_errors]
    if variant:
        args += ["--variant", str(variant)]
    if firmware_version is not None:
        args += ["--firmware-version", firmware_version]
    return args


def merge(descriptions: Sequence[dict]) -> dict:
    """The children's JSON lines as one bench's (top-level addresses are slot 1's)."""
    slots = []
    for description in descriptions:
        for entry in description["slots"]:
            slots.append({**entry, "control": description.get("control")})
    slots.sort(key=lambda s: s["slot"])
    return {
        "analyzer": slots[0]["analyzer"], "load": slots[0]["load"], "dut": [s["dut"] for s in slots],
        "slots": slots, "control": slots[0]["control"], "variant": descriptions[0].get("variant"),
    }


class SlotProcesses:
    def __init__(self, arguments: Sequence[list[str]]) -> None:
        self.arguments = list(arguments)
        self.processes: list[subprocess.Popen[str]] = []

    def start(self) -> dict:
        try:
            self.processes = [subprocess.Popen(a, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                              for a in self.arguments]
            return merge([self._first_line(p) for p in self.processes])
        except BaseException:
            self.stop()
            raise

    @staticmethod
    def _first_line(process: subprocess.Popen[str]) -> dict:
        line: list[str] = []
        reader = threading.Thread(target=lambda: line.append(process.stdout.readline()), daemon=True)
        reader.start()
        reader.join(CHILD_START_TIMEOUT_S)
        if not line or not line[0]:
            process.kill()
            raise FanoutError(f"slot process did not start: {process.stderr.read()[-300:].strip()}")
        return json.loads(line[0])

    def wait(self, stop: threading.Event) -> int:
        """Serve until asked to stop (0) or until a slot process ends by itself (1)."""
        while not stop.wait(POLL_S):
            if any(p.poll() is not None for p in self.processes):
                return 1
        return 0

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=CHILD_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
