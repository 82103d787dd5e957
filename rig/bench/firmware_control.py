"""The emulated IX-30's control core: session state machine, output, cut-offs, watchdog.

`ControlCore` holds the unit's state and the transitions the commands and the control tick make.
Every method is called with the firmware's lock held (see firmware.py); events go to `_emit` and
leave after the reply of the request that caused them, or at the end of the tick.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from rig.bench.faults import FirmwareBehaviour
from rig.bench.firmware_calibration import CalibrationMemory, dac_code
from rig.bench.firmware_cutoffs import CutoffMonitor, OutputSample
from rig.bench.firmware_output import OutputRamp
from rig.bench.firmware_protocol import CommandError
from rig.bench.variant import BenchVariant
from rig.dut.protocol import (
    RUNAWAY_RATE_MA_PER_S,
    SESSION_STATES,
    STARTED_STATES,
    ErrorCode,
    FaultCode,
    Injection,
    Polarity,
    State,
)
from rig.spec import ProductSpec
from rig.units import MA_PER_A

COMPLIANCE_QUERY_FRACTION = 0.9
MIN_ON_CODE = 1  # the lowest DAC code that closes the output switch


@dataclass(frozen=True)
class OutputReading:
    """Magnitudes the firmware's sense circuits see at one instant."""

    current_ma: float
    voltage_v: float
    in_compliance: bool


@dataclass
class Settings:
    """What the host sets; lost on RESET."""

    target_ma: float
    ramp_ma_per_s: float
    timer_s: float
    polarity: str = Polarity.POS
    pulse: tuple[float, float] | None = None  # (freq_hz, duty_pct); None = DC
    test_ramp_ma_per_s: float | None = None  # TEST:RAMP override, test mode only
    wdog_s: float = 0.0

    @classmethod
    def defaults(cls, spec: ProductSpec) -> Settings:
        # Default session length is the longest allowed: the timer is a safety net, not a dose.
        return cls(
            target_ma=spec.setpoint.min_ma,
            ramp_ma_per_s=spec.ramp.rate_default_ma_per_s,
            timer_s=spec.timer.max_s,
        )


class ControlCore:
    def __init__(
        self,
        circuit,
        spec: ProductSpec,
        behaviour: FirmwareBehaviour,
        calibration: CalibrationMemory,
        clock: Callable[[], float] = time.monotonic,
        variant: BenchVariant | None = None,
    ) -> None:
        self.variant = variant if variant is not None else BenchVariant.reference()
        self.period_s = self.variant.control_period_s
        self._order_rng = random.Random(self.variant.seed)
        self.circuit = circuit
        self.spec = spec
        self.behaviour = behaviour
        self.calibration = calibration
        self._clock = clock
        self._events: list[str] = []
        self._acting_at_s: float | None = None  # set while a late control period runs at its instant
        self._cutoffs = CutoffMonitor(spec, behaviour)
        self._ramp = OutputRamp(
            reramp_enabled=behaviour.reramp_enabled,
            snap_headroom_ma=self.variant.servo_snap_headroom_ma,
            floor_ma=spec.setpoint.resolution_ma,
            tick_s=self.period_s,
            servo_ma_per_s=self.variant.servo_ma_per_s,
            step_ma=self.variant.ramp_step_ma,
        )
        circuit.set_v_max(behaviour.v_max_v)
        self._power_on()

    # ----- read-only views
    @property
    def state(self) -> str:
        """The reported state: TEST stands for IDLE while in test mode."""
        return State.TEST if self._session == State.IDLE and self.test_mode else self._session

    @property
    def fault_code(self) -> int:
        return self._fault

    @property
    def dac_code(self) -> int:
        return self._code

    @property
    def injection(self) -> str:
        return self._injection

    def ramp_rate_ma_per_s(self) -> float:
        """The rate in force (the configured one, or TEST:RAMP's in test mode)."""
        override = self.settings.test_ramp_ma_per_s
        if self.test_mode and override is not None:
            return override
        return self.settings.ramp_ma_per_s

    def _emit(self, body: str) -> None:
        self._events.append(body)

    def _events_first(self) -> bool:
        """Whether the events a request caused leave before its response (a variant's choice)."""
        return bool(self._events) and self._order_rng.random() < self.variant.event_first_probability

    # ----- transitions requested by commands
    def set_test_mode(self, enabled: bool) -> None:
        if enabled == self.test_mode:
            return
        if enabled and self._session != State.IDLE:
            raise CommandError(ErrorCode.STATE)
        before = self.state
        if not enabled:
            # Leaving test mode removes what it set up, so no injection outlives it.
            self._output_off()
            self._injection = Injection.NONE
            self.settings.test_ramp_ma_per_s = None
            if self._session in SESSION_STATES:
                self._session = State.IDLE
        self.test_mode = enabled
        if self.state != before:
            self._emit(f"!STATE {self.state}")

    def start_session(self) -> None:
        if self._fault != FaultCode.NONE:
            raise CommandError(ErrorCode.FAULT)
        if self._session != State.IDLE or self._raw_code > 0:
            raise CommandError(ErrorCode.STATE)
        self._ramp.reset()
        self._cutoffs.reset()
        self._runaway_ma = 0.0
        self._session_start_s = self._clock()
        self._set_session(State.RAMP_UP)

    def stop_session(self) -> None:
        self._raw_code = 0
        if self._session in STARTED_STATES:
            self._ramp.hold()
            self._set_session(State.RAMP_DOWN)
        self._apply_output()

    def clear_fault(self) -> None:
        if self._session != State.FAULT:
            return
        if self._injection != Injection.NONE:  # the cause persists
            raise CommandError(ErrorCode.FAULT)
        self._fault = FaultCode.NONE
        self._cutoffs.reset()
        self._set_session(State.IDLE)

    def drive_raw(self, code: int) -> None:
        if not self.test_mode or (code > 0 and self._session != State.IDLE):
            raise CommandError(ErrorCode.STATE)
        self._raw_code = code
        self._runaway_ma = 0.0
        self._apply_output()

    def inject(self, name: str) -> None:
        if not self.test_mode:
            raise CommandError(ErrorCode.STATE)
        self._injection = name
        if name == Injection.NONE:
            self._runaway_ma = 0.0

    def set_polarity(self, polarity: str) -> None:
        if self._session != State.IDLE or self._raw_code > 0:
            raise CommandError(ErrorCode.STATE)
        self.settings.polarity = polarity
        self.circuit.set_dac(0, polarity)

    def set_pulse(self, pulse: tuple[float, float] | None) -> None:
        self.settings.pulse = pulse
        if pulse is None:
            self.circuit.set_pulse(None)
        else:
            freq_hz, duty_pct = pulse
            self.circuit.set_pulse(freq_hz, duty_pct / 100.0)

    # ----- internal transitions
    def _power_on(self) -> None:
        self.settings = Settings.defaults(self.spec)
        self.test_mode = False
        self._session = State.IDLE
        self._fault = FaultCode.NONE
        self._raw_code = 0
        self._injection = Injection.NONE
        self._runaway_ma = 0.0
        self._code = 0
        now_s = self._clock()
        self._session_start_s = now_s
        self._last_rx_s = now_s
        self._last_tick_s = now_s
        self._ramp.reset()
        self._cutoffs.reset()
        self.circuit.set_pulse(None)
        self.circuit.set_dac(0, self.settings.polarity)

    def _set_session(self, session: str) -> None:
        before = self.state
        self._session = session
        if self.state != before:
            self._emit(f"!STATE {self.state}")

    def _output_off(self) -> None:
        self._raw_code = 0
        self._runaway_ma = 0.0
        self._ramp.reset()
        self._drive(0)

    def _drive(self, code: int) -> None:
        if code != self._code:
            self._code = code
            # A control period run late (catching up, firmware.py) acts at its own instant.
            self.circuit.set_dac(code, self.settings.polarity, at_s=self._acting_at_s)

    # ----- the control tick
    def _control_step(self, now_s: float, dt_s: float) -> None:
        """One control period: session ramp and timer, runaway, output, cut-offs, watchdog."""
        reading = self._read_output(now_s)
        self._advance_session(now_s, dt_s, reading)
        if self._injection == Injection.RUNAWAY and self._code > 0:
            self._runaway_ma += RUNAWAY_RATE_MA_PER_S * dt_s
        self._apply_output()
        self._check_cutoffs(now_s, reading)
        self._check_watchdog(now_s)

    def _read_output(self, now_s: float) -> OutputReading:
        """The output's current, voltage and compliance now: one model evaluation per tick.

        A code set in this tick acts only after it (first-order lag), so one reading serves the
        whole tick.
        """
        if self._code == 0:
            return OutputReading(0.0, 0.0, False)
        point = self.circuit.point(now_s, noise=True)
        voltage_v = abs(point.voltage_v)
        # Below the compliance voltage the source cannot be limited; ask the (noiseless) model only near it.
        near_v_max = voltage_v >= COMPLIANCE_QUERY_FRACTION * self.behaviour.v_max_v
        in_compliance = near_v_max and self.circuit.in_compliance(now_s)
        return OutputReading(abs(point.current_a) * MA_PER_A, voltage_v, in_compliance)

    def _advance_session(self, now_s: float, dt_s: float, reading: OutputReading) -> None:
        rate = self.ramp_rate_ma_per_s() * self.behaviour.ramp_factor
        if self._session in STARTED_STATES:
            session_s = self.settings.timer_s * self.behaviour.timer_factor
            if now_s - self._session_start_s >= session_s:
                self._ramp.hold()
                self._set_session(State.RAMP_DOWN)
        if self._session in STARTED_STATES:
            if self._code > 0:
                self._ramp.track_compliance(reading.in_compliance, reading.current_ma, rate, dt_s)
            reached = self._ramp.advance(self.settings.target_ma, rate, dt_s)
            self._set_session(State.ON if reached else State.RAMP_UP)
        elif self._session == State.RAMP_DOWN and self._ramp.advance(0.0, rate, dt_s):
            self._ramp.reset()
            self._set_session(State.IDLE)

    def _apply_output(self) -> None:
        cal = self.calibration.in_use.for_polarity(self.settings.polarity)
        code_max = self.spec.calibration_nominal.dac_code_max
        if self._raw_code > 0:
            climb = round(self._runaway_ma * cal.dac_gain)
            self._drive(min(code_max, self._raw_code + climb))
        elif self._session in SESSION_STATES:
            code = dac_code(cal, self._ramp.output_ma + self._runaway_ma, code_max)
            if self._ramp.limited:
                # In compliance the source stays switched on (V_max at the terminals, so that loss of
                # contact is seen) even where a negative calibrated dac_offset rounds the ceiling's
                # small current to code 0, which would open the output switch instead.
                code = max(code, MIN_ON_CODE)
            self._drive(code)
        else:
            self._drive(0)

    def _check_cutoffs(self, now_s: float, reading: OutputReading) -> None:
        if self._session == State.FAULT:
            return
        if self._code == 0:
            # Source switch open: only µA of leakage flow, nothing can trip; skip the model.
            self._cutoffs.reset()
            return
        polarity = self.settings.polarity
        cal = self.calibration.in_use.for_polarity(polarity)
        raw = self._raw_code > 0
        target_ma = self.settings.target_ma
        # The unit decides on its own readings (its reading errors, then its calibration in use).
        i_code, v_code = self.circuit.reading_codes(reading.current_ma, reading.voltage_v, polarity)
        own_ma, own_v = self.calibration.in_use.readings(polarity, i_code, v_code)
        sample = OutputSample(
            current_ma=own_ma,
            voltage_v=own_v,
            output_on=True,
            trip_setpoint_ma=None if raw else max(target_ma, self._ramp.output_ma),
            contact_setpoint_ma=(self._raw_code - cal.dac_offset) / cal.dac_gain if raw else target_ma,
            true_voltage_v=reading.voltage_v,
        )
        fault = self._cutoffs.check(sample, now_s)
        if fault != FaultCode.NONE:
            self._output_off()
            self._fault = fault
            self._emit(f"!FAULT {fault} {FaultCode(fault).name}")
            self._set_session(State.FAULT)

    def _check_watchdog(self, now_s: float) -> None:
        wdog_s = self.settings.wdog_s
        output_on = self._session in SESSION_STATES or self._raw_code > 0
        if wdog_s > 0 and output_on and now_s - self._last_rx_s >= wdog_s:
            self._output_off()
            self._emit("!WDOG")
            self._set_session(State.IDLE)
