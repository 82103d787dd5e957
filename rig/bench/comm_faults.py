"""Communication and instrument faults of the virtual bench, as data: a name, where it acts, what it
does and how often (a probability per line or frame, so a fault lands at a random point of a run).

The pty port applies the serial ones (replies dropped, delayed or corrupted, requests corrupted, a
unit that reboots, a port that disappears and comes back); the SCPI server applies the instrument
ones (a connection the instrument closes, a query left unanswered, an error in the queue, an
over-range reading). `FaultDice` decides, per slot and seeded, whether a fault strikes now.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterable
from dataclasses import dataclass

SERIAL = "serial"
SCPI = "scpi"

# Magnitudes, chosen against the rig's own timeouts so that each fault is unmistakable.
DELAY_REPLY_S = 0.7  # longer than the IX-30 client's 0.5 s reply timeout: the reply arrives late
PORT_GONE_S = 0.5  # a re-plugged USB CDC port re-enumerates in about this long
OVER_RANGE_READING = "+9.91E+37"  # what Keysight meters return for an over-range reading
INJECTED_SCPI_ERROR = (-300, "injected device-specific error")
CORRUPT_BYTE_XOR = 0x20  # flips a letter's case or a digit into another character: the CRC fails


class CommFaultError(ValueError):
    """A `--comm-fault` spec that names no known fault or has a bad rate."""


@dataclass(frozen=True)
class CommFault:
    name: str
    where: str
    meaning: str
    default_rate: float  # probability per line (request or reply) the fault applies to


COMM_FAULTS: dict[str, CommFault] = {f.name: f for f in (
    CommFault("drop_reply", SERIAL, "the unit's reply frame is lost", 0.002),
    CommFault("delay_reply", SERIAL, f"the unit's reply arrives {DELAY_REPLY_S:g} s late", 0.002),
    CommFault("corrupt_reply", SERIAL, "one byte of a reply or event is damaged (CRC fails at the rig)", 0.002),
    CommFault("corrupt_request", SERIAL, "one byte of a request is damaged (the unit answers ERR 2 CRC)", 0.002),
    CommFault("reboot", SERIAL, "the unit reboots (brown-out): output off, unsaved calibration lost", 0.0005),
    CommFault("port_vanish", SERIAL, f"the serial port disappears for {PORT_GONE_S:g} s and comes back", 0.0005),
    CommFault("scpi_close", SCPI, "the instrument closes the TCP connection instead of answering", 0.002),
    CommFault("scpi_drop", SCPI, "the instrument does not answer a query", 0.002),
    CommFault("scpi_error", SCPI, "the instrument queues an error after a command", 0.002),
    CommFault("over_range", SCPI, f"the analyzer returns an over-range reading ({OVER_RANGE_READING})", 0.002),
)}


@dataclass(frozen=True)
class CommFaultSetting:
    name: str
    rate: float


def parse_comm_fault(spec: str) -> CommFaultSetting:
    """`NAME` (its default rate) or `NAME:RATE` with 0 <= RATE <= 1; CommFaultError names the problem."""
    name, _, rate_text = spec.strip().partition(":")
    fault = COMM_FAULTS.get(name)
    if fault is None:
        raise CommFaultError(f"unknown comm fault {name!r}; known: {', '.join(sorted(COMM_FAULTS))}")
    if not rate_text:
        return CommFaultSetting(name, fault.default_rate)
    try:
        rate = float(rate_text)
    except ValueError:
        raise CommFaultError(f"comm fault {spec!r}: rate {rate_text!r} is not a number") from None
    if not 0.0 <= rate <= 1.0:
        raise CommFaultError(f"comm fault {spec!r}: rate must be between 0 and 1, got {rate_text}")
    return CommFaultSetting(name, rate)


def parse_comm_faults(specs: Iterable[str]) -> dict[str, float]:
    return {s.name: s.rate for s in map(parse_comm_fault, specs)}


class FaultDice:
    """The comm faults switched on for one slot, and a seeded die per decision. Thread-safe: the
    pty threads and every SCPI connection thread roll it; `configure` may change it mid-run."""

    def __init__(self, rates: dict[str, float] | None = None, seed: int = 0) -> None:
        self._rates = dict(rates or {})
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self.counts: dict[str, int] = {}

    def configure(self, rates: dict[str, float]) -> None:
        with self._lock:
            self._rates = dict(rates)

    @property
    def rates(self) -> dict[str, float]:
        with self._lock:
            return dict(self._rates)

    def strikes(self, name: str) -> bool:
        """Whether fault `name` applies to the line at hand; counts the times it did."""
        with self._lock:
            rate = self._rates.get(name, 0.0)
            if rate <= 0.0 or self._random.random() >= rate:
                return False
            self.counts[name] = self.counts.get(name, 0) + 1
            return True

    def corrupt(self, frame: bytes) -> bytes:
        """The frame with one byte before its line end changed (so its CRC no longer matches)."""
        body = frame.rstrip(b"\r\n")
        if not body:
            return frame
        with self._lock:
            index = self._random.randrange(len(body))
        damaged = bytearray(body)
        damaged[index] ^= CORRUPT_BYTE_XOR
        if damaged[index] in b"\r\n":  # a damaged byte must not split the line in two
            damaged[index] = ord("?")
        return bytes(damaged) + frame[len(body):]
