"""IX-30 client over pyserial: framed requests, verified replies, events kept apart.

A reader thread owns the port's input: CRC-checked `!` events go to the event list, replies to
the reply queue, corrupt lines are counted and never used. Only idempotent queries are retried.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from dataclasses import dataclass
from typing import Self

import serial

from rig.dut.calibration import CalibrationCommands, shown_request
from rig.dut.errors import DutCommandError, DutError, DutFrameError, DutIdentityError, DutTimeout
from rig.dut.framing import FrameError, Reply, decode_frame, encode_frame, is_event, parse_reply
from rig.spec import ProductSpec, load_spec

log = logging.getLogger(__name__)

BAUD_RATE = 115200
READ_POLL_S = 0.02
MAX_ATTEMPTS = 3
MAX_LINE_BYTES = 4096
ERR_CRC = 2  # dut-protocol.md section 5: the request was not executed, so resending is safe
MAKER = "IONTO"
ACTIVE_STATES = ("RAMP_UP", "ON")
TEST_STATE = "TEST"
RAMP_DOWN_STATE = "RAMP_DOWN"
RAMP_DOWN_WAIT_S = 2.0


@dataclass(frozen=True)
class DutIdentity:
    maker: str
    model: str
    serial: str
    firmware: str
    hw_rev: str


@dataclass(frozen=True)
class DutState:
    state: str
    fault_code: int


@dataclass(frozen=True)
class DutReading:
    current_ma: float
    voltage_v: float
    compliance: bool


@dataclass(frozen=True)
class DutEvent:
    body: str
    received_s: float


@dataclass(frozen=True)
class _CorruptLine:
    line: bytes
    reason: str


def _is_query(body: str) -> bool:
    return body.split(" ", 1)[0].endswith("?")


class Ix30Client(CalibrationCommands):
    def __init__(
        self,
        port: serial.SerialBase,
        *,
        timeout_s: float = 0.5,
        expected_serial: str | None = None,
        spec: ProductSpec | None = None,
    ) -> None:
        self.port = port
        self.port_name = str(getattr(port, "portstr", None) or port.port)
        self.timeout_s = timeout_s
        self.spec = spec or load_spec()
        self.corrupt_lines: list[_CorruptLine] = []
        self._replies: queue.Queue[Reply | _CorruptLine] = queue.Queue()
        self._events: list[DutEvent] = []
        self._taken: set[int] = set()
        self._events_changed = threading.Condition()
        self._request_lock = threading.Lock()
        self._stop = threading.Event()
        self._reader_error: str | None = None
        self._test_mode = False
        self._reader = threading.Thread(target=self._read_loop, name=f"ix30 {self.port_name}",
                                         daemon=True)
        self._reader.start()
        try:
            self.identity = self._identify(expected_serial)
        except BaseException:
            self.close()
            raise

    @classmethod
    def open(cls, url: str, *, timeout_s: float = 0.5, expected_serial: str | None = None,
             spec: ProductSpec | None = None) -> Self:
        """Open a device path or pyserial URL (115200 8N1, no flow control) and check ID?."""
        try:
            port = serial.serial_for_url(
                url, baudrate=BAUD_RATE, bytesize=serial.EIGHTBITS, parity=serial.PARITY_NONE,
                stopbits=serial.STOPBITS_ONE, xonxoff=False, rtscts=False, dsrdtr=False,
                timeout=READ_POLL_S,
            )
        except (serial.SerialException, ValueError) as exc:
            raise DutError(url, "open", str(exc)) from exc
        port.reset_input_buffer()
        return cls(port, timeout_s=timeout_s, expected_serial=expected_serial, spec=spec)

    def _identify(self, expected_serial: str | None) -> DutIdentity:
        payload = self.request("ID?")
        fields = payload.split(",")
        if len(fields) != len(DutIdentity.__dataclass_fields__):
            raise DutFrameError(self.port_name, "ID?", "not 'maker,model,serial,fw,hw'", payload)
        identity = DutIdentity(*fields)
        if identity.model != self.spec.product:
            raise DutIdentityError(self.port_name, "ID?",
                                   f"model {identity.model!r}, expected {self.spec.product!r}")
        if expected_serial is not None and identity.serial != expected_serial:
            raise DutIdentityError(self.port_name, "ID?",
                                   f"serial {identity.serial!r}, expected {expected_serial!r}")
        log.info("%s: %s", self.port_name, identity)
        return identity

    # -- reader thread --------------------------------------------------------------------

    def _read_loop(self) -> None:
        buffer = bytearray()
        while not self._stop.is_set():
            try:
                chunk = self.port.read(max(1, self.port.in_waiting))
            except (serial.SerialException, OSError, TypeError, AttributeError) as exc:
                if not self._stop.is_set():
                    self._reader_error = f"port read failed: {exc}"
                    log.error("%s: %s", self.port_name, self._reader_error)
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
                self._events_changed.notify_all()
            return
        try:
            self._replies.put(parse_reply(body))
        except FrameError as exc:
            self._route_corrupt(line, exc.reason)

    def _route_corrupt(self, line: bytes, reason: str) -> None:
        log.warning("%s: discarded corrupt line (%s): %r", self.port_name, reason, line)
        corrupt = _CorruptLine(line, reason)
        self.corrupt_lines.append(corrupt)
        # A damaged event must not stand in for a reply; anything else may be the reply.
        if not line.startswith(b"!"):
            self._replies.put(corrupt)

    # -- requests -------------------------------------------------------------------------

    def request(self, body: str) -> str:
        """Send one framed request, return the OK payload; raise a typed DutError otherwise."""
        shown = shown_request(body)
        retry_on_loss = _is_query(body)
        with self._request_lock:
            for attempt in range(1, MAX_ATTEMPTS + 1):
                last = attempt == MAX_ATTEMPTS
                try:
                    reply = self._exchange(body, shown)
                except (DutFrameError, DutTimeout) as exc:
                    if not retry_on_loss or last:
                        raise
                    log.warning("%s: retrying %r after: %s", self.port_name, shown, exc.detail)
                    continue
                if reply.ok:
                    return reply.payload
                if reply.error_code == ERR_CRC and not last:
                    log.warning("%s: %r arrived corrupted at the unit, resending", self.port_name,
                                shown)
                    continue
                raise DutCommandError(self.port_name, shown, reply.error_code, reply.error_text)
        raise AssertionError("unreachable")

    def _exchange(self, body: str, shown: str) -> Reply:
        self._discard_stale_replies()
        self._send(body, shown)
        try:
            item = self._replies.get(timeout=self.timeout_s)
        except queue.Empty:
            detail = self._reader_error or f"no reply within {self.timeout_s:g} s"
            raise DutTimeout(self.port_name, shown, detail) from None
        if isinstance(item, _CorruptLine):
            raise DutFrameError(self.port_name, shown, item.reason, item.line)
        return item

    def _send(self, body: str, shown: str) -> None:
        if self._reader_error:
            raise DutError(self.port_name, shown, self._reader_error)
        log.debug("%s: -> %s", self.port_name, shown)
        try:
            self.port.write(encode_frame(body))
            self.port.flush()
        except (serial.SerialException, OSError) as exc:
            raise DutError(self.port_name, shown, f"port write failed: {exc}") from None

    def _discard_stale_replies(self) -> None:
        # A reply that arrives after its request timed out must not answer the next request.
        while True:
            try:
                stale = self._replies.get_nowait()
            except queue.Empty:
                return
            log.warning("%s: discarded late reply %r", self.port_name, stale)

    # -- events ---------------------------------------------------------------------------

    def events(self) -> list[DutEvent]:
        """Every event received since the last clear_events(), oldest first."""
        with self._events_changed:
            return list(self._events)

    def clear_events(self) -> None:
        with self._events_changed:
            self._events.clear()
            self._taken.clear()

    def wait_for_event(self, prefix: str, timeout_s: float, *,
                       after_s: float | None = None) -> DutEvent:
        """The oldest event starting with `prefix` ('!' optional) not yet returned by this
        method (and received after `after_s`, a monotonic time, when given); waits for it."""
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
                    raise DutTimeout(self.port_name, f"wait for {wanted}",
                                     f"no such event within {timeout_s:g} s")
                self._events_changed.wait(remaining)

    # -- commands (dut-protocol.md section 4) -----------------------------------------------

    def _command(self, body: str) -> None:
        self.request(body)

    def _float(self, body: str) -> float:
        payload = self.request(body)
        try:
            return float(payload)
        except ValueError:
            raise DutFrameError(self.port_name, body, "not a number", payload) from None

    def _fields(self, body: str, count: int) -> list[str]:
        payload = self.request(body)
        fields = payload.split()
        if len(fields) != count:
            raise DutFrameError(self.port_name, body, f"expected {count} fields", payload)
        return fields

    def state(self) -> DutState:
        state, code = self._fields("STATE?", 2)
        return DutState(state, self._int(code, "STATE?"))

    def _int(self, token: str, body: str) -> int:
        try:
            return int(token)
        except ValueError:
            raise DutFrameError(self.port_name, body, "not an integer", token) from None

    def set_current_ma(self, ma: float) -> None:
        """Setpoint, rounded to the spec's resolution (0.1 mA)."""
        if not math.isfinite(ma):
            raise ValueError(f"setpoint {ma!r} mA is not a finite number")
        decimals = max(0, -math.floor(math.log10(self.spec.setpoint.resolution_ma)))
        self._command(f"SET {ma:.{decimals}f}")

    def setpoint_ma(self) -> float:
        return self._float("SET?")

    def set_mode_dc(self) -> None:
        self._command("MODE DC")

    def set_mode_pulsed(self, freq_hz: float, duty_pct: float) -> None:
        self._command(f"MODE PULSED {freq_hz:g} {duty_pct:g}")

    def mode(self) -> str:
        return self.request("MODE?")

    def set_polarity(self, pol: str) -> None:
        if pol.upper() not in ("POS", "NEG"):
            raise ValueError(f"polarity {pol!r} is not POS or NEG")
        self._command(f"POL {pol.upper()}")

    def polarity(self) -> str:
        return self.request("POL?")

    def set_ramp_ma_per_s(self, rate: float) -> None:
        self._command(f"RAMP {rate:g}")

    def ramp_ma_per_s(self) -> float:
        return self._float("RAMP?")

    def set_timer_s(self, s: float) -> None:
        self._command(f"TIMER {s:g}")

    def timer_s(self) -> float:
        return self._float("TIMER?")

    def start(self) -> None:
        self._command("START")

    def stop(self) -> None:
        self._command("STOP")

    def measure(self) -> DutReading:
        current, voltage, compliance = self._fields("MEAS?", 3)
        try:
            return DutReading(float(current), float(voltage), compliance == "1")
        except ValueError:
            raise DutFrameError(self.port_name, "MEAS?", "not numbers",
                                f"{current} {voltage} {compliance}") from None

    def fault(self) -> tuple[int, str]:
        code, name = self._fields("FAULT?", 2)
        return self._int(code, "FAULT?"), name

    def clear(self) -> None:
        self._command("CLEAR")

    def set_watchdog_s(self, s: float) -> None:
        self._command(f"WDOG {s:g}")

    def watchdog_s(self) -> float:
        return self._float("WDOG?")

    def test_on(self) -> None:
        self._command("TEST ON")
        self._test_mode = True

    def test_off(self) -> None:
        self._command("TEST OFF")
        self._test_mode = False

    def test_dac(self, code: int) -> None:
        self._command(f"TEST:DAC {int(code):d}")

    def test_adc(self) -> tuple[int, int]:
        i_code, v_code = self._fields("TEST:ADC?", 2)
        return self._int(i_code, "TEST:ADC?"), self._int(v_code, "TEST:ADC?")

    def test_ramp(self, rate: float) -> None:
        self._command(f"TEST:RAMP {rate:g}")

    def test_inject(self, name: str) -> None:
        self._command(f"TEST:INJECT {name.upper()}")

    def reset(self, boot_timeout_s: float = 3.0) -> str:
        """Reboot the unit (no reply, output off); wait for `!BOOT <fw>` and return the fw."""
        with self._request_lock:
            self._discard_stale_replies()
            sent_s = time.monotonic()
            self._send("RESET", "RESET")
        boot = self.wait_for_event("!BOOT", boot_timeout_s, after_s=sent_s)
        self.forget_wrong_key()
        self._test_mode = False
        return boot.body.partition(" ")[2].strip()

    def output_off(self) -> None:
        """Safe state, best effort, never raises: stop a session, zero a raw DAC drive, leave
        test mode once the ramp-down is over; then read back the state for the log."""
        state = self._state_or_none()
        if state is None or state in ACTIVE_STATES:
            self._best_effort("STOP")
            state = self._wait_ramp_over()
        if state == "IDLE":
            self._test_mode = False  # the unit says it is out of test mode: nothing raw can drive
        if state is None or state == TEST_STATE or self._test_mode:
            self._best_effort("TEST:DAC 0")
            self._best_effort("TEST OFF")
        final = self._state_or_none()
        log.info("%s: safe state: now %s", self.port_name, final or "unknown")

    def _state_or_none(self) -> str | None:
        try:
            return self.state().state
        except DutError as exc:
            log.error("%s: safe state: STATE? failed: %s", self.port_name, exc)
            return None

    def _best_effort(self, body: str) -> None:
        try:
            self.request(body)
        except DutError as exc:
            log.warning("%s: safe state: %s", self.port_name, exc)

    def _wait_ramp_over(self) -> str | None:
        # TEST OFF is refused while the output ramps down; a slow ramp is left to finish alone.
        deadline = time.monotonic() + RAMP_DOWN_WAIT_S
        state = self._state_or_none()
        while state in (*ACTIVE_STATES, RAMP_DOWN_STATE) and time.monotonic() < deadline:
            time.sleep(READ_POLL_S)
            state = self._state_or_none()
        return state

    def close(self) -> None:
        self._stop.set()
        if self._reader.is_alive() and self._reader is not threading.current_thread():
            self._reader.join(timeout=1.0)
        self.port.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Ix30Client({self.port_name!r})"
