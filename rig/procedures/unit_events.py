"""Watching the unit's own events during a procedure.

A cut-off (`!FAULT`), the host watchdog (`!WDOG`) or a reboot (`!BOOT`) turns the output off; a
procedure that went on measuring would record zeros as if they were the unit's accuracy. The watch
looks at the events received since it last looked and stops the procedure with the cause.
"""

from __future__ import annotations

import time

from rig.dut.client import Ix30Client
from rig.dut.protocol import FaultCode

OUTPUT_CUT_EVENTS = ("!FAULT", "!WDOG", "!BOOT")


class UnitFault(RuntimeError):
    """The unit latched a fault or turned its output off where the procedure expected neither.
    `event` is the event body that says so (e.g. "!FAULT 1 OVERCURRENT", "!WDOG")."""

    def __init__(self, message: str, event: str) -> None:
        super().__init__(message)
        self.event = event

    @property
    def is_overcurrent(self) -> bool:
        return self.event.startswith(f"!FAULT {FaultCode.OVERCURRENT} ")


class UnitEventWatch:
    def __init__(self, dut: Ix30Client) -> None:
        self.dut = dut
        self._since_s = time.monotonic()

    def check(self, during: str) -> None:
        """Raise UnitFault naming the event if the output was cut since the last check."""
        events = self.dut.events()
        fresh = [e for e in events if e.received_s > self._since_s]
        if fresh:
            self._since_s = max(e.received_s for e in fresh)
        for event in fresh:
            if event.body.startswith(OUTPUT_CUT_EVENTS):
                raise UnitFault(
                    f"unit {self.dut.identity.serial} turned its output off during {during} ({event.body}):"
                    " what follows would not be a measurement of the unit",
                    event.body,
                )

    def restart(self) -> None:
        """Events from now on only (after a deliberate cut-off, e.g. a CLEAR)."""
        self._since_s = time.monotonic()
