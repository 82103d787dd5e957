"""Emulated DC power analyzer: Keysight N6705C with N678xA modules in meter emulation.

One analyzer per slot, reading that slot's SlotCircuit: a channel in AMETer emulation reads the
series current (positive into channel 1 for POS polarity), a channel in VMETer emulation the
voltage across the unit. Readings carry the instrument's own gain/offset errors (drawn from a seed
within instruments.md's accuracy) and per-sample noise.
Deviations from the real instrument, stated on purpose:
- channel 2 measures to 100 V (a real N678xA to about 20 V, instruments.md section 1);
- OUTPut is recorded but does not open the ammeter: the circuit is always closed through it;
- over-range (a sample beyond the fixed 1 mA range) reads +9.91E+37 (the SCPI overload value of
  Keysight meters) and queues no error;
- one acquisition engine for the whole mainframe: sweep settings apply to all channels;
- the digital port only as a trigger output (rig.bench.trigger_line), for the dmm layout's trigger line.
An AnalyzerDialect can take away what instruments.md does not promise, as another analyzer or an
older firmware would lack it: `FORMat` (then -113 Undefined header, arrays always comma-separated
ASCII) and compound messages (rig.bench.scpi: -113 for a whole line with ';', nothing executed).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from rig.bench.acquisition import Acquisition
from rig.bench.data_format import DataFormat, ascii_values
from rig.bench.physics import SlotCircuit
from rig.bench.scpi import (
    Call,
    ScpiError,
    ScpiInstrument,
    parse_bool,
    parse_choice,
    parse_int,
    parse_number,
)
from rig.bench.trigger_line import TriggerOut
from rig.bench.variant import BenchVariant, within

MODEL = "N6705C"
FIRMWARE = "D.04.07.2164"
LOW_RANGE_A = 0.001
HIGH_RANGE_A = 0.1
VOLTAGE_RANGE_V = 100.0
OVERLOAD = 9.91e37
INTERVAL_MIN_S = 20.48e-6
INTERVAL_MAX_S = 40.0
POINTS_MAX = 524288
OFFSET_MAX_POINTS = 2_000_000_000

# instruments.md section 1: accuracy ±(gain of reading + offset), per-sample noise rms.
_LOW = {"gain": 0.00025, "offset": 0.1e-6, "noise": 10e-9}
_HIGH = {"gain": 0.00025, "offset": 8e-6, "noise": 1e-6}
_VOLT = {"gain": 0.0003, "offset": 0.010, "noise": 0.002}


@dataclass(frozen=True)
class MeterErrors:
    """The analyzer's own errors: gain (relative) and offset (A or V) per range."""

    low: tuple[float, float]
    high: tuple[float, float]
    volt: tuple[float, float]

    @classmethod
    def from_seed(cls, seed: int, extremity: float = 0.0) -> MeterErrors:
        """extremity: each error lies in ±[extremity, 1] x its stated figure (0: anywhere inside)."""
        rng = np.random.default_rng(seed)

        def draw(figures: dict[str, float]) -> tuple[float, float]:
            return (float(within(rng, extremity) * figures["gain"]),
                    float(within(rng, extremity) * figures["offset"]))

        return cls(low=draw(_LOW), high=draw(_HIGH), volt=draw(_VOLT))


@dataclass
class ChannelState:
    emulation: str
    output_on: bool = False
    range_a: float = HIGH_RANGE_A
    auto_range: bool = False
    functions: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class AnalyzerDialect:
    """What the emulated analyzer accepts beyond instruments.md's list (`rig bench --analyzer-no-...`)."""

    format_commands: bool = True
    compound_messages: bool = True

    def bench_options(self) -> list[str]:
        """The `rig bench` options that give this dialect (for a fan-out's slot processes)."""
        return ([] if self.format_commands else ["--analyzer-no-format"]) + (
            [] if self.compound_messages else ["--analyzer-no-compound"])


def _default_channels() -> dict[int, ChannelState]:
    return {1: ChannelState("AMETER"), 2: ChannelState("VMETER")}


class PowerAnalyzer(ScpiInstrument):
    def __init__(self, circuit: SlotCircuit, serial: str, seed: int, variant: BenchVariant | None = None,
                 dialect: AnalyzerDialect = AnalyzerDialect()) -> None:
        super().__init__(f"Keysight Technologies,{MODEL},{serial},{FIRMWARE}")
        self.compound_messages = dialect.compound_messages
        self.circuit = circuit
        self.variant = variant if variant is not None else BenchVariant.reference()
        self.meter = MeterErrors.from_seed(seed, self.variant.instrument_error_extremity)
        self._noise_fraction = self.variant.analyzer_noise_fraction
        self._rng = np.random.default_rng(seed + 1)
        self.channels = _default_channels()
        self.acq = Acquisition(circuit)
        self.format = DataFormat()
        self.trigger_out = TriggerOut()
        self._register()
        self.trigger_out.register(self)
        if dialect.format_commands:
            self.format.register(self)

    def _register(self) -> None:
        add = self.add
        add("[SOURce:]EMULation", self._set_emulation)
        add("[SOURce:]EMULation?", lambda c: self._per_channel(c, lambda s: s.emulation[:4]))
        add("OUTPut[:STATe]", self._set_output)
        add("OUTPut[:STATe]?", lambda c: self._per_channel(c, lambda s: str(int(s.output_on))))
        add("SENSe:CURRent[:DC]:RANGe[:UPPer]", self._set_current_range)
        add("SENSe:CURRent[:DC]:RANGe[:UPPer]?",
            lambda c: self._per_channel(c, lambda s: f"{s.range_a:+.6E}"))
        add("SENSe:CURRent[:DC]:RANGe:AUTO", self._set_auto_range)
        add("SENSe:CURRent[:DC]:RANGe:AUTO?",
            lambda c: self._per_channel(c, lambda s: str(int(s.auto_range))))
        add("SENSe:VOLTage[:DC]:RANGe[:UPPer]", self._set_voltage_range)
        add("SENSe:VOLTage[:DC]:RANGe[:UPPer]?", lambda c: f"{VOLTAGE_RANGE_V:+.6E}")
        add("SENSe:FUNCtion:CURRent", lambda c: self._set_function(c, "CURR"))
        add("SENSe:FUNCtion:VOLTage", lambda c: self._set_function(c, "VOLT"))
        add("SENSe:SWEep:TINTerval", self._set_interval)
        add("SENSe:SWEep:TINTerval?", lambda c: f"{self.acq.settings.interval_s:+.6E}")
        add("SENSe:SWEep:POINts", self._set_points)
        add("SENSe:SWEep:POINts?", lambda c: str(self.acq.settings.points))
        add("SENSe:SWEep:OFFSet:POINts", self._set_offset)
        add("SENSe:SWEep:OFFSet:POINts?", lambda c: str(self.acq.settings.offset_points))
        add("TRIGger:ACQuire:SOURce", self._set_source)
        add("TRIGger:ACQuire:SOURce?", lambda c: self.acq.settings.source)
        add("TRIGger:ACQuire:CURRent[:LEVel]", lambda c: self._set_level(c, "current_level"))
        add("TRIGger:ACQuire:VOLTage[:LEVel]", lambda c: self._set_level(c, "voltage_level"))
        add("TRIGger:ACQuire:CURRent[:LEVel]?",
            lambda c: f"{self.acq.settings.current_level:+.6E}")
        add("TRIGger:ACQuire:VOLTage[:LEVel]?",
            lambda c: f"{self.acq.settings.voltage_level:+.6E}")
        add("TRIGger:ACQuire:CURRent:SLOPe", lambda c: self._set_slope(c, "current_slope"))
        add("TRIGger:ACQuire:VOLTage:SLOPe", lambda c: self._set_slope(c, "voltage_slope"))
        add("INITiate[:IMMediate]:ACQuire", lambda c: self.acq.arm())
        add("TRIGger:ACQuire[:IMMediate]", lambda c: self.acq.trigger_now())
        add("ABORt:ACQuire", lambda c: self.acq.abort())
        for kind in ("CURRent", "VOLTage"):
            quantity = kind[:4].upper()
            add(f"MEASure[:SCALar]:{kind}[:DC]?", lambda c, q=quantity: self._measure(c, q))
            add(f"FETCh[:SCALar]:{kind}[:DC]?", lambda c, q=quantity: self._fetch(c, q, False))
            add(f"MEASure:ARRay:{kind}[:DC]?", lambda c, q=quantity: self._measure(c, q, True))
            add(f"FETCh:ARRay:{kind}[:DC]?", lambda c, q=quantity: self._fetch(c, q, True))

    # ------------------------------------------------------------------ common
    def reset(self) -> None:
        self.channels = _default_channels()
        self.acq.reset()
        self.format.reset()
        self.trigger_out.reset()

    def trigger(self) -> None:
        at_s = self.circuit.now()
        if self.acq.settings.source == "BUS":
            self.acq.trigger_now()
        self.trigger_out.bus_trigger(at_s)

    def close(self) -> None:
        self.acq.close()

    # ------------------------------------------------------------------ settings
    def _states(self, call: Call) -> list[ChannelState]:
        channels = call.channels or (1,)
        if any(ch not in self.channels for ch in channels):
            raise ScpiError(-241, f"no module at channel {channels}")
        return [self.channels[ch] for ch in channels]

    def _per_channel(self, call: Call, show) -> str:
        return ",".join(show(state) for state in self._states(call))

    def _set_emulation(self, call: Call) -> None:
        mode = parse_choice(call.arg(0), ("AMETer", "VMETer", "PS2Q", "PS1Q", "PS4Q"))
        for state in self._states(call):
            state.emulation = mode

    def _set_output(self, call: Call) -> None:
        on = parse_bool(call.arg(0))
        for state in self._states(call):
            state.output_on = on

    def _set_current_range(self, call: Call) -> None:
        upper_a = parse_number(call.arg(0))
        if not 0 < upper_a <= HIGH_RANGE_A:
            raise ScpiError(-222, f"current range {upper_a:g} A")
        for state in self._states(call):
            state.range_a = LOW_RANGE_A if upper_a <= LOW_RANGE_A else HIGH_RANGE_A
            state.auto_range = False

    def _set_auto_range(self, call: Call) -> None:
        on = parse_bool(call.arg(0))
        for state in self._states(call):
            state.auto_range = on

    def _set_voltage_range(self, call: Call) -> None:
        upper_v = parse_number(call.arg(0))
        if not 0 < upper_v <= VOLTAGE_RANGE_V:
            raise ScpiError(-222, f"voltage range {upper_v:g} V")
        self._states(call)

    def _set_function(self, call: Call, quantity: str) -> None:
        on = parse_bool(call.arg(0))
        for state in self._states(call):
            (state.functions.add if on else state.functions.discard)(quantity)

    def _set_interval(self, call: Call) -> None:
        interval_s = parse_number(call.arg(0))
        if not INTERVAL_MIN_S * (1 - 1e-9) <= interval_s <= INTERVAL_MAX_S:
            raise ScpiError(-222, f"interval {interval_s:g} s")
        # A variant may round it (as the N678xA does, to its 20.48 µs resolution); TINTerval? tells.
        self.acq.configure(interval_s=self.variant.interval_s(interval_s))

    def _set_points(self, call: Call) -> None:
        points = parse_int(call.arg(0))
        if not 1 <= points <= POINTS_MAX:
            raise ScpiError(-222, f"points {points}")
        self.acq.configure(points=points)

    def _set_offset(self, call: Call) -> None:
        offset = parse_int(call.arg(0))
        if not -(POINTS_MAX - 1) <= offset <= OFFSET_MAX_POINTS:
            raise ScpiError(-222, f"offset {offset}")
        self.acq.configure(offset_points=offset)

    def _set_source(self, call: Call) -> None:
        source = parse_choice(call.arg(0), ("BUS", "CURRent1", "VOLTage2", "CURR", "VOLT"))
        source = {"CURR": "CURRENT1", "VOLT": "VOLTAGE2"}.get(source, source)
        self.acq.configure(source=source)

    def _set_level(self, call: Call, name: str) -> None:
        self.acq.configure(**{name: parse_number(call.arg(0))})

    def _set_slope(self, call: Call, name: str) -> None:
        slope = parse_choice(call.arg(0), ("POSitive", "NEGative"))
        self.acq.configure(**{name: slope})

    # ------------------------------------------------------------------ readings
    def _measure(self, call: Call, quantity: str, array: bool = False) -> str:
        states = self._states(call)
        self.acq.acquire_now()
        return self._readings(states, quantity, array)

    def _fetch(self, call: Call, quantity: str, array: bool) -> str | None:
        states = self._states(call)
        if not self.acq.wait_complete():
            raise ScpiError(-230, "no completed acquisition")
        return self._readings(states, quantity, array)

    def _readings(self, states: list[ChannelState], quantity: str, array: bool) -> str:
        current_a, voltage_v = self.acq.data()
        replies = []
        for state in states:
            reads_current = state.emulation != "VMETER"
            true = current_a if reads_current else voltage_v
            # A meter measures nothing of the other quantity: zero burden, infinite impedance.
            true = true if (quantity == "CURR") == reads_current else np.zeros_like(true)
            values = self._through_meter(true, quantity, state)
            if array:
                replies.append(self.format.encode(values))
            else:
                overloaded = np.any(values >= OVERLOAD)
                replies.append(ascii_values(np.array([OVERLOAD if overloaded else values.mean()])))
        return ",".join(replies)

    def _through_meter(self, true: np.ndarray, quantity: str, state: ChannelState) -> np.ndarray:
        noise = self._rng.standard_normal(true.shape) * self._noise_fraction
        if quantity == "VOLT":
            gain, offset = self.meter.volt
            values = true * (1 + gain) + offset + noise * _VOLT["noise"]
            return np.where(np.abs(true) > VOLTAGE_RANGE_V, OVERLOAD, values)
        low = np.abs(true) <= LOW_RANGE_A if state.auto_range else np.full(
            true.shape, state.range_a == LOW_RANGE_A)
        gain = np.where(low, self.meter.low[0], self.meter.high[0])
        offset = np.where(low, self.meter.low[1], self.meter.high[1])
        sigma = np.where(low, _LOW["noise"], _HIGH["noise"])
        values = true * (1 + gain) + offset + noise * sigma
        limit = np.where(low, LOW_RANGE_A, HIGH_RANGE_A)
        return np.where(np.abs(true) > limit, OVERLOAD, values)
