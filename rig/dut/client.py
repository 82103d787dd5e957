"""IX-30 client: framed requests with verified replies over a SerialLink (rig.dut.link), events.

Retries are bounded and only where repeating cannot do harm: queries, and commands that set an
absolute value (SET, MODE, POL, ...). A command whose effect is not idempotent (START, STOP, CLEAR,
TEST ON/OFF) is repeated only after STATE? shows it did not take effect; the others (CAL:UNLOCK,
CAL:SAVE, RESET) never. A port that fails is reopened once it is back, if the same unit answers and
it did not reboot meanwhile (its armed watchdog setting survives only without a reboot). A `!BOOT`
the rig did not ask for makes every further request raise UnitRebooted, except the safe-state ones.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Self

import serial

from rig.dut.calibration import CalibrationCommands, shown_request
from rig.dut.commands import DutReading, DutState, UnitCommands
from rig.dut.errors import (
    DutCommandError,
    DutError,
    DutFrameError,
    DutIdentityError,
    DutLinkLost,
    DutTimeout,
    UnitRebooted,
)
from rig.dut.framing import Reply
from rig.dut.link import READ_POLL_S, CorruptLine, DutEvent, SerialLink, open_port
from rig.dut.protocol import BOOT_WITHIN_S, IDLE_STATES, SESSION_STATES, STARTED_STATES, ErrorCode, State
from rig.serial_numbers import protocol_serial_problem
from rig.spec import ProductSpec, load_spec

log = logging.getLogger(__name__)

__all__ = ["DutEvent", "DutIdentity", "DutReading", "DutState", "Ix30Client"]

MAX_ATTEMPTS = 3
# The states in which the protocol says the output is off (a cut-off's FAULT included).
OUTPUT_OFF_STATES = (State.IDLE, State.FAULT)
RAMP_DOWN_WAIT_S = 2.0
# Commands that set an absolute value: applying one twice is applying it once.
IDEMPOTENT_COMMANDS = ("SET", "MODE", "POL", "RAMP", "TIMER", "WDOG", "TEST:DAC", "TEST:RAMP", "TEST:INJECT",
                       "CAL:DAC", "CAL:ADC", "CAL:VADC", "CAL:LOCK")
# Not idempotent, but STATE? shows whether they took effect: the states that prove they did.
CONFIRMED_BY_STATE = {
    "START": STARTED_STATES,
    "STOP": (State.RAMP_DOWN, *IDLE_STATES),
    "TEST ON": (State.TEST,),
    "TEST OFF": (State.IDLE,),
    "CLEAR": IDLE_STATES,
}


# The protocol's reply time is 100 ms; five times that before a request counts as unanswered.
REPLY_TIMEOUT_S = 0.5
# After RESET the unit sends `!BOOT <fw>` within BOOT_WITHIN_S (2 s); the wait adds the same
# allowance for the line and the host as a reply gets beyond its 100 ms.
BOOT_TIMEOUT_S = BOOT_WITHIN_S + REPLY_TIMEOUT_S


@dataclass(frozen=True)
class DutIdentity:
    maker: str
    model: str
    serial: str
    firmware: str
    hw_rev: str


class _TookEffect(Exception):
    """Internal: a request whose reply was lost took effect (STATE? shows it)."""


def _is_query(body: str) -> bool:
    return body.split(" ", 1)[0].endswith("?")


class Ix30Client(UnitCommands, CalibrationCommands):
    def __init__(
        self,
        port: serial.SerialBase,
        *,
        timeout_s: float = REPLY_TIMEOUT_S,
        expected_serial: str | None = None,
        spec: ProductSpec | None = None,
        url: str | None = None,
    ) -> None:
        """url: where to reopen the port if it fails (Ix30Client.open passes it)."""
        self.link = SerialLink(port, url)
        self.port_name = self.link.port_name
        self.timeout_s = timeout_s
        self.spec = spec or load_spec()
        self._request_lock = threading.RLock()
        self._test_mode = False
        self._boots_accounted = 0
        self._watchdog_armed_s = 0.0
        try:
            self.identity = self._identify(expected_serial)
        except BaseException:
            self.close()
            raise

    @classmethod
    def open(cls, url: str, *, timeout_s: float = REPLY_TIMEOUT_S, expected_serial: str | None = None,
             spec: ProductSpec | None = None) -> Self:
        """Open a device path or pyserial URL (115200 8N1, no flow control) and check ID?."""
        return cls(open_port(url), timeout_s=timeout_s, expected_serial=expected_serial, spec=spec, url=url)

    @property
    def corrupt_lines(self) -> list[CorruptLine]:
        """The last corrupt lines received (at most link.MAX_KEPT_CORRUPT_LINES; link.corrupt_count counts all)."""
        return list(self.link.corrupt_lines)

    def _identify(self, expected_serial: str | None) -> DutIdentity:
        payload = self.request("ID?")
        fields = payload.split(",")
        if len(fields) != len(DutIdentity.__dataclass_fields__):
            raise DutFrameError(self.port_name, "ID?", "not 'maker,model,serial,fw,hw'", payload)
        identity = DutIdentity(*fields)
        problem = protocol_serial_problem(identity.serial)
        if problem:
            raise DutFrameError(self.port_name, "ID?", f"serial {identity.serial!r} {problem}", payload)
        if identity.model != self.spec.product:
            raise DutIdentityError(self.port_name, "ID?",
                                   f"model {identity.model!r}, expected {self.spec.product!r}")
        if expected_serial is not None and identity.serial != expected_serial:
            raise DutIdentityError(self.port_name, "ID?",
                                   f"serial {identity.serial!r}, expected {expected_serial!r}")
        log.info("%s: %s", self.port_name, identity)
        return identity

    # -- requests -------------------------------------------------------------------------

    def request(self, body: str) -> str:
        """Send one framed request, return the OK payload; raise a typed DutError otherwise."""
        return self._request(body, check_reboot=True)

    def _request(self, body: str, *, check_reboot: bool) -> str:
        shown = shown_request(body)
        with self._request_lock:
            if check_reboot:
                self._raise_if_rebooted(shown)
            try:
                return self._attempts(body, shown)
            except DutError as exc:
                # A request lost while the unit rebooted fails as a timeout, or its repeat as ERR STATE
                # (test mode is gone): the cause to report is the reboot, whose !BOOT preceded the reply.
                if check_reboot and not isinstance(exc, UnitRebooted):
                    try:
                        self._raise_if_rebooted(shown)
                    except UnitRebooted as rebooted:
                        raise rebooted from exc
                raise

    def _attempts(self, body: str, shown: str) -> str:
        """Send `body` until a reply settles it: bounded retries for lost/corrupt replies."""
        with self._request_lock:
            for attempt in range(1, MAX_ATTEMPTS + 1):
                last = attempt == MAX_ATTEMPTS
                try:
                    reply = self._exchange(body, shown)
                except (DutFrameError, DutTimeout, DutLinkLost) as exc:
                    if isinstance(exc, DutTimeout):
                        self.link.drain(self.timeout_s)
                    if last:
                        raise
                    try:
                        repeat = self._may_repeat(body, shown, exc)
                    except _TookEffect:
                        log.warning("%s: %r took effect although its reply was lost", self.port_name, shown)
                        return ""
                    if not repeat:
                        raise exc from None
                    log.warning("%s: repeating %r after: %s", self.port_name, shown, exc.detail)
                    continue
                if reply.ok:
                    return reply.payload
                if reply.error_code == ErrorCode.CRC and not last:  # not executed: resending is safe
                    log.warning("%s: %r arrived corrupted at the unit, resending", self.port_name, shown)
                    continue
                raise DutCommandError(self.port_name, shown, reply.error_code, reply.error_text)
        raise AssertionError("unreachable")

    def _exchange(self, body: str, shown: str) -> Reply:
        if self.link.reader_error:
            self._reconnect(shown)
        return self.link.exchange(body, shown, self.timeout_s, expects_payload=body.split(" ", 1)[0].endswith("?"))

    def _may_repeat(self, body: str, shown: str, lost: DutError) -> bool:
        """Whether a request whose reply was lost may be sent again (reading state back first where
        its effect is not idempotent). Raises `lost` when it took effect after all: nothing to do."""
        if self.link.reader_error:
            self._reconnect(shown)
        if _is_query(body) or body.split(" ", 1)[0] in IDEMPOTENT_COMMANDS:
            return True
        proof = CONFIRMED_BY_STATE.get(body)
        if proof is None:
            return False
        try:
            state = self._fields_of(self._request("STATE?", check_reboot=False), "STATE?", 2)[0]
        except DutError:
            return False  # state unknown: the original loss is the error to report
        if state in proof:
            raise _TookEffect() from lost
        return True

    def _reconnect(self, shown: str) -> None:
        """Reopen the port; carry on only with the same unit, which did not reboot meanwhile."""
        self.link.reconnect()
        payload = self._request("ID?", check_reboot=False)
        serial_now = payload.split(",")[2] if payload.count(",") >= 2 else payload
        if serial_now != self.identity.serial:
            raise DutIdentityError(self.port_name, shown, f"after reconnecting, unit {serial_now!r} answers,"
                                   f" not {self.identity.serial!r}")
        if self._watchdog_armed_s > 0 and self._float("WDOG?", check_reboot=False) != self._watchdog_armed_s:
            # The watchdog setting is lost on a reboot; its !BOOT went out while the port was gone.
            self.link.boots += 1
            self._raise_if_rebooted(shown)

    def _raise_if_rebooted(self, shown: str) -> None:
        if self.link.boots > self._boots_accounted:
            raise UnitRebooted(self.port_name, shown,
                               "the unit rebooted during the run (output off, watchdog and any calibration"
                               " not saved lost); run stopped")

    @property
    def rebooted(self) -> bool:
        """A reboot the rig did not ask for happened and is not acknowledged."""
        return self.link.boots > self._boots_accounted

    # -- events ---------------------------------------------------------------------------

    def events(self) -> list[DutEvent]:
        """Every event received since the last clear_events(), oldest first."""
        return self.link.events()

    def clear_events(self) -> None:
        self.link.clear_events()

    def wait_for_event(self, prefix: str, timeout_s: float, *,
                       after_s: float | None = None) -> DutEvent:
        """The oldest event starting with `prefix` ('!' optional) not yet returned by this
        method (and received after `after_s`, a monotonic time, when given); waits for it."""
        return self.link.wait_for_event(prefix, timeout_s, after_s=after_s)

    @property
    def watchdog_armed_s(self) -> float:
        """The host watchdog period the rig set (0: not armed); a RESET clears it."""
        return self._watchdog_armed_s

    def reset(self, boot_timeout_s: float = BOOT_TIMEOUT_S) -> str:
        """Reboot the unit (no reply, output off; sent once, never repeated); wait for `!BOOT <fw>`
        and return the fw. DutTimeout when it does not come: the unit's state is then unknown."""
        with self._request_lock:
            self._raise_if_rebooted("RESET")
            self.link.discard_stale_replies()
            sent_s = time.monotonic()
            self._boots_accounted += 1  # asked for: this !BOOT is not a reboot under the rig
            self.link.send("RESET", "RESET")
        try:
            boot = self.wait_for_event("!BOOT", boot_timeout_s, after_s=sent_s)
        except DutTimeout:
            self._boots_accounted -= 1
            raise
        self._watchdog_armed_s = 0.0
        self.forget_wrong_key()
        self._test_mode = False
        return boot.body.partition(" ")[2].strip()

    def output_off(self) -> str | None:
        """Safe state, best effort, never raises: stop a session, zero a raw DAC drive, leave
        test mode once the ramp-down is over; then read back the state and return it (None when it
        could not be read: the output is then not known to be off)."""
        state = self._state_or_none()
        if state is None or state in STARTED_STATES:
            self._best_effort("STOP")
            state = self._wait_ramp_over()
        if state == State.IDLE:
            self._test_mode = False  # the unit says it is out of test mode: nothing raw can drive
        if state is None or state == State.TEST or self._test_mode:
            self._best_effort("TEST:DAC 0")
            self._best_effort("TEST OFF")
        final = self._state_or_none()
        log.info("%s: safe state: now %s", self.port_name, final or "unknown")
        return final

    def _state_or_none(self) -> str | None:
        # Safe state goes through even after an unacknowledged reboot: that is when it matters.
        try:
            return self._fields_of(self._request("STATE?", check_reboot=False), "STATE?", 2)[0]
        except DutError as exc:
            log.error("%s: safe state: STATE? failed: %s", self.port_name, exc)
            return None

    def _best_effort(self, body: str) -> None:
        try:
            self._request(body, check_reboot=False)
        except DutError as exc:
            log.warning("%s: safe state: %s", self.port_name, exc)

    def _wait_ramp_over(self) -> str | None:
        # TEST OFF is refused while the output ramps down; a slow ramp is left to finish alone.
        deadline = time.monotonic() + RAMP_DOWN_WAIT_S
        state = self._state_or_none()
        while state in SESSION_STATES and time.monotonic() < deadline:
            time.sleep(READ_POLL_S)
            state = self._state_or_none()
        return state

    def close(self) -> None:
        self.link.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Ix30Client({self.port_name!r})"
