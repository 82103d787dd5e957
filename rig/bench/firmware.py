"""The emulated IX-30 firmware: the service port over the control core (dut-protocol.md).

One instance per slot. `receive_line` is called with each received line (from the pty reader);
replies and events leave through `send` as complete frames. A control tick thread (`start`) runs
the ramps, the session timer, the watchdog, runaway injection and cut-off detection against the
slot's circuit. One lock serialises requests and ticks, so `send` must not block for long (the pty
port queues).

Reported state (STATE?, !STATE): IDLE, RAMP_UP, ON, RAMP_DOWN, FAULT, and TEST while in test mode
with no session running (a START in test mode reports the session states, then TEST again).
RAMP_UP also stands for "ramping to a new setpoint" after a SET while ON, in either direction:
ON always means "at the setpoint".
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from rig.bench.faults import behaviour_for, validate_fault_names
from rig.bench.firmware_calibration import CalibrationMemory
from rig.bench.firmware_commands import dispatch
from rig.bench.firmware_control import ControlCore
from rig.bench.firmware_protocol import (
    MAX_LINE_BYTES,
    REBOOT_S,
    TICK_S,
    CommandError,
)
from rig.bench.variant import BenchVariant
from rig.dut.framing import FrameError, decode_frame, encode_frame
from rig.dut.protocol import ErrorCode
from rig.spec import ProductSpec, load_spec

log = logging.getLogger(__name__)

# A tick this many nominal (1 ms) periods after the last is late: the time in between is replayed at its
# instants, in steps of REPLAY_TICKS nominal periods (a full-rate replay costs a starved host the CPU it
# lacks: about 0.25 ms a period here, and a bench that replays every period starves its own serial
# reader). A variant's longer control period replays one period a step (its own granularity, never
# coarser: 5 steps of 5 ms merged into one let its compliance servo dip 0.5 mA under load).
LATE_TICKS = 5
REPLAY_TICKS = 5
# A longer gap (a suspended process) is not replayed beyond this.
CATCH_UP_MAX_S = 1.0


class Ix30Firmware(ControlCore):
    def __init__(
        self,
        circuit,
        *,
        serial: str,
        unlock_key: str,
        faults: frozenset[str] = frozenset(),
        firmware_version: str = "2.4.1",
        hw_rev: str = "C",
        send: Callable[[bytes], None],
        spec: ProductSpec | None = None,
        clock: Callable[[], float] = time.monotonic,
        variant: BenchVariant | None = None,
    ) -> None:
        """`clock` must be the circuit's clock (a fake one lets tests step time by hand); `variant`: the
        implementation details drawn for this bench (control period, ramp steps, event order, servo)."""
        spec = spec if spec is not None else load_spec()
        self.faults = validate_fault_names(faults)
        self.firmware_version = firmware_version
        self.identity = f"IONTO,{spec.product},{serial},{firmware_version},{hw_rev}"
        self._send = send
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._boot_at_s: float | None = None
        behaviour = behaviour_for(self.faults, spec)
        super().__init__(
            circuit,
            spec,
            behaviour,
            CalibrationMemory(spec, unlock_key, save_persists=behaviour.save_persists),
            clock,
            variant,
        )

    def age(self, days: int) -> None:
        """Let `days` pass for the saved calibration: its date lies that much further back."""
        with self._lock:
            self.calibration.age(days)

    @property
    def rebooting(self) -> bool:
        return self._boot_at_s is not None

    # ----- life cycle
    def start(self) -> None:
        """Start the control tick thread (one tick per control period, 1 ms in the reference variant)."""
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="ix30-tick", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop the tick thread and leave the output off."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        with self._lock:
            self._output_off()

    def _run(self) -> None:
        # A plain sleep: Event.wait(timeout) cost 35 µs of CPU per millisecond here, time.sleep 20 µs.
        while not self._stop.is_set():
            time.sleep(self.period_s)
            try:
                self.tick()
            except Exception:  # the control loop must outlive any one bad tick
                log.exception("firmware tick failed")

    def tick(self) -> None:
        """The control periods due, then the events they caused (the thread calls this every ms)."""
        with self._lock:
            now_s = self._clock()
            self._finish_boot_if_due(now_s)
            if self._boot_at_s is None:
                self._catch_up(now_s, through_now=True)
            self._last_tick_s = now_s
            self._flush_events()

    def _catch_up(self, now_s: float, *, through_now: bool) -> None:
        """Replay the time missed since the last tick in control steps at their own instants (their DAC
        codes enter the circuit's history there), so that a starved tick thread (a loaded host, the GIL)
        changes when the bench computes the unit's behaviour, not the behaviour the analyzer records:
        a 100 ms stall otherwise left the ramp flat and then stepped, and delayed cut-offs and
        compliance tracking by as much. `through_now`: then one period ending now (the tick); a
        request only brings the unit up to date before it acts."""
        t_s = max(self._last_tick_s, now_s - CATCH_UP_MAX_S)
        late_s = max(LATE_TICKS * TICK_S, 2 * self.period_s)
        step_s = max(REPLAY_TICKS * TICK_S, self.period_s)
        while now_s - t_s > late_s:
            t_s += step_s
            self._acting_at_s = t_s
            try:
                self._control_step(t_s, step_s)
            finally:
                self._acting_at_s = None
        if through_now and now_s > t_s:
            self._control_step(now_s, now_s - t_s)
            t_s = now_s
        self._last_tick_s = t_s

    # ----- the service port
    def receive_line(self, line: bytes) -> None:
        """Handle one received line (without its LF): reply, then any events it caused."""
        with self._lock:
            now_s = self._clock()
            self._finish_boot_if_due(now_s)
            if self._boot_at_s is not None:
                return  # rebooting: requests are lost, as on the real unit
            self._catch_up(now_s, through_now=False)
            reply = self._handle(line, now_s)
            if self._events_first():
                self._flush_events()  # dut-protocol.md 2: events may come between request and reply
            if reply is not None:
                self._send(encode_frame(reply))
            self._flush_events()

    def _handle(self, line: bytes, now_s: float) -> str | None:
        stripped = line.rstrip(b"\r\n")
        if not stripped:
            return None
        if len(stripped) > MAX_LINE_BYTES:
            return CommandError(ErrorCode.SYNTAX).reply
        try:
            body = decode_frame(stripped)
        except FrameError:
            return CommandError(ErrorCode.CRC).reply
        self._last_rx_s = now_s
        try:
            return dispatch(self, body)
        except CommandError as exc:
            return exc.reply
        except Exception:  # never crash on input; a bug shows in the log and as ERR 1
            log.exception("firmware failed on request %r", body)
            return CommandError(ErrorCode.SYNTAX).reply

    def _flush_events(self) -> None:
        events, self._events = self._events, []
        for body in events:
            self._send(encode_frame(body))

    # ----- reboot
    def reset(self) -> None:
        """RESET: output off now, reboot; `!BOOT` follows REBOOT_S later (from the tick)."""
        self._output_off()
        self.calibration.reboot()
        self._power_on()
        self._events.clear()
        self._boot_at_s = self._clock() + REBOOT_S

    def _finish_boot_if_due(self, now_s: float) -> None:
        if self._boot_at_s is not None and now_s >= self._boot_at_s:
            self._boot_at_s = None
            self._last_rx_s = now_s
            self._last_tick_s = now_s
            self._emit(f"!BOOT {self.firmware_version}")
