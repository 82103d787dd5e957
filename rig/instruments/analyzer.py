"""DC power analyzer: a Keysight N6705 mainframe with N678xA modules in meter emulation.

Channel roles follow instruments.md: one channel as a zero-burden ammeter in series with the unit,
one as a voltmeter across it. Deviation (instruments.md section 1): a real N678xA measures voltage
only to about 20 V, so a real station may put the voltmeter role on another instrument; this driver
then runs with `voltage_channel=None` and traces carry no voltage.

Arrays come as binary float32 blocks (`FORMat`, an N6705C's, not in instruments.md's list) when the
analyzer takes `FORMat` (tried once, by configure_roles); else as the listed comma-separated ASCII.

The sample interval: an analyzer rounds the one asked for to its resolution (a N678xA: to 20.48 us
multiples), so a trace's time axis uses the interval the analyzer reports with `SENSe:SWEep:TINTerval?`
(the vendor's query; instruments.md lists only the set form), tried once per connection; an analyzer
that refuses it has the asked interval on the axis (callers ask for multiples of 20.48 us).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from rig.instruments.errors import InstrumentResponseError, ScpiError
from rig.instruments.scpi import COMMAND_ERRORS, MAX_REPLY_BYTES, MS_PER_S, ScpiInstrument, shown_reply

log = logging.getLogger(__name__)

# Instrument facts (N6705 / N678xA programming guide), not product limits.
HIGH_CURRENT_RANGE_A = 0.1
DEFAULT_INTERVAL_S = 20.48e-6
DEFAULT_POINTS = 1024
# Keysight meters report an over-range reading as +9.91E+37; anything this large is not a value.
OVERLOAD_THRESHOLD = 9.9e37
# Margin on top of the acquisition time when waiting for a trace: command latency and transfer.
FETCH_MARGIN_S = 2.0
# An ASCII array value ("+1.234567E-03," is 14 bytes) is at most this long, with a wide margin.
ASCII_VALUE_MAX_BYTES = 32
BINARY_FORMAT = ("FORMat:DATA REAL,32", "FORMat:BORDer SWAPped")  # little-endian float32 blocks

_TRIGGER_SOURCES = {"BUS": "BUS", "CURRENT": "CURRent", "VOLTAGE": "VOLTage"}
_SLOPES = {"POS": "POSitive", "POSITIVE": "POSitive", "NEG": "NEGative", "NEGATIVE": "NEGative"}


@dataclass(frozen=True)
class Trace:
    """A digitized record; sample `pretrigger_points` is the trigger instant."""

    interval_s: float
    pretrigger_points: int
    current_a: np.ndarray
    voltage_v: np.ndarray | None
    # The voltage from another instrument (rig/instruments/paired.py): how it was put on this time
    # base, and the half-width of that alignment's uncertainty (0: both from one acquisition).
    alignment_method: str = "one instrument"
    alignment_half_width_s: float = 0.0

    @property
    def time_s(self) -> np.ndarray:
        return (np.arange(len(self.current_a)) - self.pretrigger_points) * self.interval_s


def _channels(*numbers: int | None) -> str:
    return "(@" + ",".join(str(n) for n in numbers if n is not None) + ")"


class PowerAnalyzer(ScpiInstrument):
    SUPPORTED_MODELS = ("N6705C", "N6705B", "N6705A")
    # rig.instruments.registry: its traces are the time base (digitizer) of both measuring roles.
    ROLES = ("ammeter", "voltmeter", "digitizer")
    MODELS = SUPPORTED_MODELS

    current_channel: int = 1
    voltage_channel: int | None = 2
    _integration: tuple[float, int] = (DEFAULT_INTERVAL_S, DEFAULT_POINTS)
    _applied: tuple[float, int, int] | None = None
    _trigger_setup: tuple | None = None
    _binary_arrays: bool | None = None  # None: not tried yet on this connection
    _interval_query: bool | None = None  # TINTerval? answered; None: not tried yet on this connection
    _interval_used_s: float | None = None  # what the analyzer reported for the applied interval

    def configure_roles(self, current_channel: int = 1, voltage_channel: int | None = 2) -> None:
        """Ammeter emulation on one channel, voltmeter on the other (None: voltmeter elsewhere)."""
        self.current_channel = current_channel
        self.voltage_channel = voltage_channel
        self.write(f"EMULation AMETer,{_channels(current_channel)}")
        if voltage_channel is not None:
            self.write(f"EMULation VMETer,{_channels(voltage_channel)}")
        self.write(f"OUTPut ON,{self._both()}")
        self._negotiate_binary_arrays()
        self._applied = self._interval_used_s = None
        self._trigger_setup = None

    def _negotiate_binary_arrays(self) -> None:
        """Binary arrays if the analyzer takes FORMat; on a command error, back to ASCII for good (and
        its error queue emptied), said once."""
        if self._binary_arrays is False:
            return
        try:
            self.write_all(BINARY_FORMAT)
        except ScpiError as exc:
            if exc.code not in COMMAND_ERRORS:
                raise
            # The listed form again, in case part of it was taken (on an analyzer without FORMat this
            # queues another -113); *CLS then leaves the queue empty. Nothing here has a reply.
            self._raw_write("FORMat:DATA ASCii")
            self._raw_write("*CLS")
            self._binary_arrays = False
            log.info("%s: FORMat refused (%s); falls back to comma-separated ASCII arrays", self.name, exc.reply)
            return
        self._binary_arrays = True

    def _both(self) -> str:
        return _channels(self.current_channel, self.voltage_channel)

    def set_current_range_a(self, upper_a: float) -> None:
        self.write(f"SENSe:CURRent:RANGe:AUTO OFF,{_channels(self.current_channel)}")
        self.write(f"SENSe:CURRent:RANGe {upper_a:.6g},{_channels(self.current_channel)}")

    def set_integration(self, interval_s: float, points: int) -> None:
        """Sample interval and count of single readings (their mean is the reading)."""
        self._integration = (interval_s, points)
        self._apply_sweep(interval_s, points, 0)

    def _apply_sweep(self, interval_s: float, points: int, pretrigger_points: int) -> None:
        commands = self._sweep_commands(interval_s, points, pretrigger_points)
        if commands:
            self._write_settings(commands)
            self._interval_used_s = self._reported_interval_s(interval_s)

    def _reported_interval_s(self, asked_s: float) -> float:
        """The interval the analyzer uses (TINTerval?); the asked one if it refuses the query (then
        never asked again on this connection, said once)."""
        if self._interval_query is False:
            return asked_s
        command = f"SENSe:SWEep:TINTerval? {_channels(self.current_channel)}"
        try:
            used_s = self.query_float(command)
        except ScpiError as exc:
            if exc.code not in COMMAND_ERRORS:
                raise
            self._interval_query = False
            log.info("%s: %r refused (%s); traces use the asked interval", self.name, command, exc.reply)
            return asked_s
        if not 0 < used_s < OVERLOAD_THRESHOLD:
            raise InstrumentResponseError(self.name, command, f"{used_s:g}", "not a sample interval")
        self._interval_query = True
        return used_s

    def _sweep_commands(self, interval_s: float, points: int, pretrigger_points: int) -> list[str]:
        """The sweep settings that differ from what the instrument has (none: nothing to send)."""
        if self._applied == (interval_s, points, pretrigger_points):
            return []
        both = self._both()
        self._applied = (interval_s, points, pretrigger_points)
        return [
            f"SENSe:SWEep:TINTerval {interval_s:.9g},{both}",
            f"SENSe:SWEep:POINts {points:d},{both}",
            f"SENSe:SWEep:OFFSet:POINts {-pretrigger_points:d},{both}",
        ]

    def _single_reading_settings(self) -> None:
        # A trace may have left other sweep settings behind; readings use the integration ones.
        self._apply_sweep(*self._integration, 0)

    def measure_current_a(self) -> float:
        self._single_reading_settings()
        return self._reading(f"MEASure:CURRent? {_channels(self.current_channel)}")

    def measure_voltage_v(self) -> float:
        if self.voltage_channel is None:
            raise ValueError(f"{self.name}: no voltmeter channel configured on this analyzer")
        self._single_reading_settings()
        return self._reading(f"MEASure:VOLTage? {_channels(self.voltage_channel)}")

    def _reading(self, command: str) -> float:
        value = self.query_float(command)
        if abs(value) >= OVERLOAD_THRESHOLD:
            raise InstrumentResponseError(self.name, command, f"{value:g}", "over range")
        return value

    def measure_current_samples_a(self) -> np.ndarray:
        """The samples of one new acquisition at the integration settings (for type-A stats)."""
        interval_s, points = self._integration
        self.arm_trace(interval_s, points, immediate=True)
        return self.fetch_trace(with_voltage=False).current_a

    def arm_trace(
        self,
        interval_s: float,
        points: int,
        *,
        pretrigger_points: int = 0,
        trigger: str = "BUS",
        level_a: float | None = None,
        slope: str = "POS",
        immediate: bool = False,
    ) -> None:
        """Set up and initiate an acquisition; it completes on `trigger_now`, the level, or at once
        with `immediate` (initiate and trigger in the same message)."""
        source = _TRIGGER_SOURCES.get(trigger.upper())
        if source is None:
            raise ValueError(f"trigger {trigger!r} is not one of {', '.join(_TRIGGER_SOURCES)}")
        if source == "CURRent":
            source = f"CURRent{self.current_channel}"
        elif source == "VOLTage":
            source = f"VOLTage{self.voltage_channel}"
        if slope.upper() not in _SLOPES:
            raise ValueError(f"slope {slope!r} is not POS or NEG")
        ammeter = _channels(self.current_channel)
        if level_a is None and source.startswith("CURR"):
            raise ValueError("a current-level trigger needs level_a")
        # Sweep settings only when they changed (then the interval used is read back before initiating);
        # the rest in one message, one round trip (with its error check).
        self._apply_sweep(interval_s, points, pretrigger_points)
        commands: list[str] = []
        setup = (source, level_a, slope.upper())
        if setup != self._trigger_setup:
            commands.append(f"SENSe:FUNCtion:CURRent ON,{ammeter}")
            if self.voltage_channel is not None:
                commands.append(f"SENSe:FUNCtion:VOLTage ON,{_channels(self.voltage_channel)}")
            commands.append(f"TRIGger:ACQuire:SOURce {source},{self._both()}")
            if level_a is not None:
                commands.append(f"TRIGger:ACQuire:CURRent {level_a:.6g},{ammeter}")
            commands.append(f"TRIGger:ACQuire:CURRent:SLOPe {_SLOPES[slope.upper()]},{ammeter}")
            self._trigger_setup = setup
        commands.append(f"INITiate:ACQuire {self._both()}")
        if immediate:
            commands.append(f"TRIGger:ACQuire {self._both()}")
        self._write_settings(commands)

    def _write_settings(self, commands: list[str]) -> None:
        try:
            self.write_all(commands)
        except Exception:
            self._applied = self._trigger_setup = self._interval_used_s = None  # unknown now: send all next time
            raise

    def trigger_now(self) -> None:
        self.write(f"TRIGger:ACQuire {self._both()}")

    def fetch_trace(self, *, with_voltage: bool = True, timeout_s: float | None = None) -> Trace:
        """Wait for the armed acquisition and return it (blocks until complete or timeout)."""
        interval_s, points, pretrigger = self._applied or (*self._integration, 0)
        if timeout_s is None:
            timeout_s = self.resource.timeout / MS_PER_S + points * interval_s + FETCH_MARGIN_S
        saved_ms = self.resource.timeout
        self.resource.timeout = timeout_s * MS_PER_S
        try:
            current = self._fetch_array(f"FETCh:ARRay:CURRent? {_channels(self.current_channel)}", points)
            voltage = None
            if with_voltage and self.voltage_channel is not None:
                voltage = self._fetch_array(
                    f"FETCh:ARRay:VOLTage? {_channels(self.voltage_channel)}", points
                )
        finally:
            self.resource.timeout = saved_ms
        return Trace(self._interval_used_s or interval_s, pretrigger, current, voltage)

    def _fetch_array(self, command: str, points: int) -> np.ndarray:
        """The array of an acquisition of `points` (no reply longer than that many values is read)."""
        if self._binary_arrays:
            # Binary (set up in configure_roles): thousands of samples neither formatted nor parsed.
            return self.query_binary_floats(command, points)
        reply = self.query(command, max_bytes=points * ASCII_VALUE_MAX_BYTES + MAX_REPLY_BYTES)
        try:
            return np.array([float(value) for value in reply.split(",")])
        except ValueError:
            raise InstrumentResponseError(self.name, command, shown_reply(reply.encode()),
                                          "not comma-separated numbers") from None

    def enable_trigger_out(self, pin: int) -> None:
        """A pin of the digital port as trigger output, driven by bus triggers (`*TRG`): the edge a
        voltmeter's external trigger input starts on (N6705 guide: DIGital:PIN<n>:FUNCtion TOUTput,
        DIGital:TOUTput:BUS ON). Not in instruments.md's list: needed only for a declared trigger line."""
        self.write_all([f"DIGital:PIN{pin:d}:FUNCtion TOUTput", f"DIGital:PIN{pin:d}:POLarity POSitive",
                        "DIGital:TOUTput:BUS ON"])

    def bus_trigger(self) -> None:
        """`*TRG`: triggers an acquisition armed on BUS, and the trigger output when enabled."""
        self.write("*TRG")

    def safe_state(self) -> None:
        """A meter cannot hurt anyone; leave the ammeter on its high range so the next
        connection does not start on the 1 mA range with a session's current through it."""
        self.set_current_range_a(HIGH_CURRENT_RANGE_A)
