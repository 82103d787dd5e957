"""The bench's control and inspection channel: a small line-based TCP port (127.0.0.1) through which a
test asks what a slot's output is now and how long it was on, and switches comm faults mid-run.

It is the view a test engineer has with a scope on the output, never a path for the rig: the rig
only talks to the unit and the instruments. Requests and replies are one line each:

    NOW                          -> the bench clock (time.monotonic of the bench, seconds)
    STATUS <slot>                -> JSON: state, current_ma, output_on, watchdog_s, now_s, comm faults
    ON_SECONDS <slot> <since_s>  -> seconds the output was above 0.1 mA since the bench time since_s
    COMM_FAULT <slot> NONE|<NAME[:RATE]>...  -> OK (replaces the slot's comm faults)
    REBOOT <slot> / VANISH <slot>            -> OK (the unit reboots / its port vanishes, now)
    AGE <slot> <days>            -> OK (days pass for the unit: its errors drift at its own rates and its
                                    saved calibration's date lies that much further back)
Errors answer `ERR <text>`.
"""

from __future__ import annotations

import json
import socketserver
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from rig.bench.comm_faults import CommFaultError, parse_comm_faults
from rig.units import MA_PER_A

ON_LEVEL_MA = 0.1  # the physics' own "output on" level (output_on_seconds counts above it)
MAX_LINE_BYTES = 1024
MAX_AGE_DAYS = 3650


class ControlError(ValueError):
    pass


class BenchControl:
    """Answers control lines from the bench's slots (objects with .slot, .circuit, .firmware,
    .port and .dice, as launcher.BenchSlot has)."""

    def __init__(self, slots: Sequence[Any], clock: Callable[[], float] = time.monotonic) -> None:
        self._slots = {s.slot: s for s in slots}
        self._clock = clock
        self._commands: dict[str, Callable[[list[str]], str]] = {
            "NOW": lambda args: f"{self._clock():.6f}",
            "STATUS": self._status,
            "ON_SECONDS": self._on_seconds,
            "COMM_FAULT": self._comm_fault,
            "REBOOT": self._reboot,
            "VANISH": self._vanish,
            "AGE": self._age,
        }

    def answer(self, line: str) -> str:
        words = line.split()
        if not words:
            return "ERR empty request"
        command = self._commands.get(words[0].upper())
        if command is None:
            return f"ERR unknown request {words[0]!r}; known: {', '.join(self._commands)}"
        try:
            return command(words[1:])
        except (ControlError, CommFaultError, RuntimeError) as exc:
            return f"ERR {exc}"

    def _slot(self, args: list[str]) -> Any:
        if not args or not args[0].isdigit() or int(args[0]) not in self._slots:
            raise ControlError(f"expected a slot number ({', '.join(map(str, self._slots))})")
        return self._slots[int(args[0])]

    def _status(self, args: list[str]) -> str:
        parts = self._slot(args)
        current_ma = parts.circuit.current_a() * MA_PER_A
        firmware = parts.firmware
        return json.dumps({
            "slot": parts.slot,
            "now_s": self._clock(),
            "current_ma": current_ma,
            "output_on": abs(current_ma) > ON_LEVEL_MA,
            "state": firmware.state if firmware is not None else None,
            "watchdog_s": firmware.settings.wdog_s if firmware is not None else None,
            "comm_faults": parts.dice.rates,
            "comm_fault_counts": dict(parts.dice.counts),
        })

    def _on_seconds(self, args: list[str]) -> str:
        parts = self._slot(args)
        try:
            since_s = float(args[1])
        except (IndexError, ValueError):
            raise ControlError("ON_SECONDS <slot> <since_s>: since_s must be a number") from None
        return f"{parts.circuit.output_on_seconds(since_s):.6f}"

    def _comm_fault(self, args: list[str]) -> str:
        parts = self._slot(args)
        specs = args[1:]
        if not specs:
            raise ControlError("COMM_FAULT <slot> NONE|<NAME[:RATE]>...")
        parts.dice.configure({} if [s.upper() for s in specs] == ["NONE"] else parse_comm_faults(specs))
        return "OK"

    def _reboot(self, args: list[str]) -> str:
        parts = self._slot(args)
        if parts.reboot is None:
            raise ControlError(f"slot {parts.slot} has no unit")
        parts.reboot()
        return "OK"

    def _vanish(self, args: list[str]) -> str:
        parts = self._slot(args)
        if parts.port is None:
            raise ControlError(f"slot {parts.slot} has no unit")
        parts.port.vanish()
        return "OK"


    def _age(self, args: list[str]) -> str:
        parts = self._slot(args)
        if getattr(parts, "age", None) is None:
            raise ControlError(f"slot {parts.slot} has no unit")
        if len(args) != 2 or not args[1].isdigit() or not 0 < int(args[1]) <= MAX_AGE_DAYS:
            raise ControlError(f"AGE <slot> <days>: days must be a whole number 1..{MAX_AGE_DAYS}")
        parts.age(int(args[1]))
        return "OK"


class _Handler(socketserver.StreamRequestHandler):
    server: _ControlTcp

    def handle(self) -> None:
        try:
            while True:
                raw = self.rfile.readline(MAX_LINE_BYTES)
                if not raw:
                    return
                text = raw.decode("ascii", errors="replace").strip()
                if text:
                    self.wfile.write(self.server.control.answer(text).encode("ascii") + b"\n")
        except OSError:
            return


class _ControlTcp(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, control: BenchControl, port: int) -> None:
        self.control = control
        super().__init__(("127.0.0.1", port), _Handler)


class ControlServer:
    """Serves a BenchControl on 127.0.0.1; `address` is "host:port"."""

    def __init__(self, control: BenchControl, port: int = 0) -> None:
        self._server = _ControlTcp(control, port)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True, name="bench-control")

    @property
    def address(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{host}:{port}"

    def start(self) -> ControlServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()
