"""The IX-30's serial link: the pyserial port, a reader thread that sorts what arrives, reconnection.

The reader thread owns the port's input: CRC-checked `!` events go to the event list (a `!BOOT` is
also counted, so that a unit that rebooted under the rig cannot go unnoticed), replies to the reply
queue, corrupt lines are counted and never used. When the port fails (a pulled USB cable), the link
can reopen the same device path or URL once it is back; whether carrying on is safe is the client's
decision (same unit, no reboot), not the link's.
"""

from __future__ import annotations

import logging
import queue
import termios
import threading
import time
from collections import deque
from dataclasses import dataclass

import serial

from rig.dut.errors import DutError, DutFrameError, DutLinkLost, DutTimeout
from rig.dut.framing import FrameError, Reply, decode_frame, encode_frame, is_event, parse_reply
from rig.dut.warning_limit import LimitedWarnings

log = logging.getLogger(__name__)

BAUD_RATE = 115200
READ_POLL_S = 0.02
MAX_LINE_BYTES = 4096
BOOT_EVENT = "!BOOT"
# A re-plugged USB CDC port re-enumerates within a second or two; longer than this is an abort.
RECONNECT_WINDOW_S = 3.0
RECONNECT_POLL_S = 0.1
# What a port that went away raises: pyserial's own, the OS's, and termios's (tcdrain on flush).
PORT_ERRORS = (serial.SerialException, OSError, termios.error)
# A unit answers one line per request and the rig waits for each: more queued replies than this are
# a babbling line, not answers; the oldest are dropped. Corrupt lines are counted, the last few kept.
MAX_QUEUED_REPLIES = 16
MAX_KEPT_CORRUPT_LINES = 100


@dataclass(frozen=True)
class DutEvent:
    body: str
    received_s: float


@dataclass(frozen=True)
class CorruptLine:
    line: bytes
    reason: str


def open_port(url: str) -> serial.SerialBase:
    """A device path or pyserial URL at 115200 8N1, no flow control; DutError if it cannot open."""
    try:
        port = serial.serial_for_url(
            url, baudrate=BAUD_RATE, bytesize=serial.EIGHTBITS, parity=serial.PARITY_NONE,
            stopbits=serial.STOPBITS_ONE, xonxoff=False, rtscts=False, dsrdtr=False, timeout=READ_POLL_S,
        )
    except (serial.SerialException, ValueError, OSError) as exc:
        raise DutError(url, "open", str(exc)) from exc
    port.reset_input_buffer()
    return port


class SerialLink:
    def __init__(self, port: serial.SerialBase, url: str | None = None) -> None:
        """url: what to reopen after the port fails (None: this link cannot reconnect)."""
        self.port = port
        self.url = url
        self.port_name = str(getattr(port, "portstr", None) or port.port)
        self.corrupt_lines: deque[CorruptLine] = deque(maxlen=MAX_KEPT_CORRUPT_LINES)
        self.corrupt_count = 0
        self.boots = 0
        self.reconnects = 0
        self._replies: queue.Queue[Reply | CorruptLine] = queue.Queue(maxsize=MAX_QUEUED_REPLIES)
        self._line_warnings = LimitedWarnings(log)
        self._events: list[DutEvent] = []
        self._taken: set[int] = set()
        self._events_changed = threading.Condition()
        self._stop = threading.Event()
        self.reader_error: str | None = None
        self._awaiting_until: float | None = None  # an interrupted exchange's reply deadline
        self._reader = self._start_reader()

    def _start_reader(self) -> threading.Thread:
        reader = threading.Thread(target=self._read_loop, args=(self.port,), name=f"ix30 {self.port_name}",
                                  daemon=True)
        reader.start()
        return reader

    # -- reader thread --------------------------------------------------------------------

    def _read_loop(self, port: serial.SerialBase) -> None:
        buffer = bytearray()
        while not self._stop.is_set() and port is self.port:
            try:
                chunk = port.read(max(1, port.in_waiting))
            except (*PORT_ERRORS, TypeError, AttributeError) as exc:
                if not self._stop.is_set() and port is self.port:
                    self.reader_error = f"port read failed: {exc}"
                    log.error("%s: %s", self.port_name, self.reader_error)
                return
            buffer += chunk
            while b"\n" in buffer:
                line, _, rest = bytes(buffer).partition(b"\n")
                buffer = bytearray(rest)
                self._route(line)
            if len(buffer) > MAX_LINE_BYTES:
                self._route_corrupt(bytes(buffer), "line too long without LF")
                buffer.clear()

    def _route(self, line: bytes) -> None:
        if not line.strip(b"\r"):
            return
        try:
            body = decode_frame(line)
        except FrameError as exc:
            self._route_corrupt(line, exc.reason)
            return
        if is_event(body):
            log.info("%s: event %s", self.port_name, body)
            with self._events_changed:
                self._events.append(DutEvent(body, time.monotonic()))
                if body.startswith(BOOT_EVENT):
                    self.boots += 1
                self._events_changed.notify_all()
            return
        try:
            reply = parse_reply(body)
        except FrameError as exc:
            self._route_corrupt(line, exc.reason)
            return
        self._queue_reply(reply)

    def _route_corrupt(self, line: bytes, reason: str) -> None:
        self._line_warnings.warning("%s: discarded corrupt line (%s): %r", self.port_name, reason, line[:80])
        corrupt = CorruptLine(line, reason)
        self.corrupt_lines.append(corrupt)
        self.corrupt_count += 1
        # A damaged event must not stand in for a reply; anything else may be the reply.
        if not line.startswith(b"!"):
            self._queue_reply(corrupt)

    def _queue_reply(self, item: Reply | CorruptLine) -> None:
        """Queue without ever blocking the reader: when full, the oldest reply goes (it is stale)."""
        while True:
            try:
                self._replies.put_nowait(item)
                return
            except queue.Full:
                try:
                    dropped = self._replies.get_nowait()
                except queue.Empty:
                    continue
                self._line_warnings.warning("%s: reply queue full, dropped %r", self.port_name, dropped)

    # -- one exchange ---------------------------------------------------------------------

    def exchange(self, body: str, shown: str, timeout_s: float, *, expects_payload: bool = False) -> Reply:
        """Send one request, wait for the next reply. DutLinkLost when the port has failed (the
        request may or may not have reached the unit), DutTimeout, DutFrameError.
        expects_payload (a query: every query's OK carries a payload, dut-protocol.md section 4): a
        bare `OK` cannot be its reply; it is the late reply of an earlier command (replies carry no
        request id), discarded, and the wait goes on until the deadline."""
        self._wait_out_interrupted()
        self.discard_stale_replies()
        self.send(body, shown)
        deadline = time.monotonic() + timeout_s
        # Kept if the wait below is interrupted (Ctrl-C, SIGTERM): that request's reply is still to
        # come and must not be taken for the next request's (a safe-state STATE? would read "OK").
        self._awaiting_until = deadline
        while True:
            try:
                item = self._replies.get(timeout=min(READ_POLL_S * 5, max(0.0, deadline - time.monotonic())))
                if expects_payload and isinstance(item, Reply) and item.ok and not item.payload:
                    self._line_warnings.warning("%s: %r answered a bare OK: the late reply of an earlier"
                                                " command, discarded", self.port_name, shown)
                    continue
                break
            except queue.Empty:
                if self.reader_error:
                    self._awaiting_until = None
                    raise DutLinkLost(self.port_name, shown, self.reader_error) from None
                if time.monotonic() >= deadline:
                    self._awaiting_until = None  # the caller drains the late reply
                    raise DutTimeout(self.port_name, shown, f"no reply within {timeout_s:g} s") from None
        self._awaiting_until = None
        if isinstance(item, CorruptLine):
            raise DutFrameError(self.port_name, shown, item.reason, item.line)
        return item

    def _wait_out_interrupted(self) -> None:
        """After an exchange whose wait was interrupted: take its reply if it comes in time, so the
        next request is not answered with it."""
        until, self._awaiting_until = self._awaiting_until, None
        if until is None:
            return
        try:
            late = self._replies.get(timeout=max(0.0, until - time.monotonic()))
            log.info("%s: discarded the reply to an interrupted request: %r", self.port_name, late)
        except queue.Empty:
            pass

    def send(self, body: str, shown: str) -> None:
        if self.reader_error:
            raise DutLinkLost(self.port_name, shown, self.reader_error)
        log.debug("%s: -> %s", self.port_name, shown)
        try:
            self.port.write(encode_frame(body))
            self.port.flush()
        except PORT_ERRORS as exc:
            self.reader_error = f"port write failed: {exc}"
            raise DutLinkLost(self.port_name, shown, self.reader_error) from None

    def drain(self, quiet_s: float) -> None:
        """After a timeout: wait quiet_s for the late reply, then discard it, so that it cannot be
        taken for the reply to the next request (the protocol has no sequence numbers)."""
        time.sleep(quiet_s)
        self.discard_stale_replies()

    def discard_stale_replies(self) -> None:
        # A reply that arrives after its request timed out must not answer the next request.
        while True:
            try:
                stale = self._replies.get_nowait()
            except queue.Empty:
                return
            self._line_warnings.warning("%s: discarded late reply %r", self.port_name, stale)

    # -- reconnection ---------------------------------------------------------------------

    def reconnect(self, window_s: float = RECONNECT_WINDOW_S) -> None:
        """Reopen the port (same path or URL) within window_s; DutLinkLost naming the port if not."""
        if self.url is None:
            raise DutLinkLost(self.port_name, "reconnect", f"{self.reader_error}; this link cannot reopen")
        lost = self.reader_error
        old = self.port
        try:
            old.close()
        except PORT_ERRORS:
            pass
        deadline = time.monotonic() + window_s
        while True:
            try:
                port = open_port(self.url)
                break
            except DutError as exc:
                if time.monotonic() >= deadline:
                    raise DutLinkLost(self.port_name, "reconnect",
                                      f"{lost}; not back within {window_s:g} s ({exc.detail})") from None
                time.sleep(RECONNECT_POLL_S)
        self.port = port
        self.reader_error = None
        self.discard_stale_replies()
        self.reconnects += 1
        self._reader.join(timeout=1.0)
        self._reader = self._start_reader()
        log.warning("%s: port reopened after: %s", self.port_name, lost)

    # -- events ---------------------------------------------------------------------------

    def events(self) -> list[DutEvent]:
        with self._events_changed:
            return list(self._events)

    def clear_events(self) -> None:
        with self._events_changed:
            self._events.clear()
            self._taken.clear()

    def wait_for_event(self, prefix: str, timeout_s: float, *, after_s: float | None = None) -> DutEvent:
        wanted = prefix if prefix.startswith("!") else "!" + prefix
        deadline = time.monotonic() + timeout_s
        with self._events_changed:
            while True:
                for index, event in enumerate(self._events):
                    fresh = after_s is None or event.received_s >= after_s
                    if index not in self._taken and fresh and event.body.startswith(wanted):
                        self._taken.add(index)
                        return event
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise DutTimeout(self.port_name, f"wait for {wanted}", f"no such event within {timeout_s:g} s")
                self._events_changed.wait(remaining)

    def close(self) -> None:
        self._line_warnings.flush()
        self._stop.set()
        if self._reader.is_alive() and self._reader is not threading.current_thread():
            self._reader.join(timeout=1.0)
        try:
            self.port.close()
        except PORT_ERRORS:
            pass
