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
- one acquisition engine for the whole mainframe: sweep settings apply to all channels.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field, replace

import numpy as np

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

MODEL = "N6705C"
FIRMWARE = "D.04.07.2164"
CHANNELS = (1, 2)
LOW_RANGE_A = 0.001
HIGH_RANGE_A = 0.1
VOLTAGE_RANGE_V = 100.0
OVERLOAD = 9.91e37
INTERVAL_MIN_S = 20.48e-6
INTERVAL_MAX_S = 40.0
POINTS_MAX = 524288
OFFSET_MAX_POINTS = 2_000_000_000
DEFAULT_INTERVAL_S = 20.48e-6
DEFAULT_POINTS = 1024
FETCH_TIMEOUT_S = 30.0
WATCH_POLL_S = 0.001
# Level triggers scan the history at this step, then bisect to well below a sample interval.
WATCH_STEP_S = 10e-6
_REFINE_STEPS = 20
_WAIT_SLICE_S = 0.05

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
    def from_seed(cls, seed: int) -> MeterErrors:
        rng = np.random.default_rng(seed)

        def draw(figures: dict[str, float]) -> tuple[float, float]:
            return (float(rng.uniform(-1, 1) * figures["gain"]),
                    float(rng.uniform(-1, 1) * figures["offset"]))

        return cls(low=draw(_LOW), high=draw(_HIGH), volt=draw(_VOLT))


@dataclass
class ChannelState:
    emulation: str
    output_on: bool = False
    range_a: float = HIGH_RANGE_A
    auto_range: bool = False
    functions: set[str] = field(default_factory=set)


def _default_channels() -> dict[int, ChannelState]:
    return {1: ChannelState("AMETER"), 2: ChannelState("VMETER")}


class PowerAnalyzer(ScpiInstrument):
    def __init__(self, circuit: SlotCircuit, serial: str, seed: int) -> None:
        super().__init__(f"Keysight Technologies,{MODEL},{serial},{FIRMWARE}")
        self.circuit = circuit
        self.meter = MeterErrors.from_seed(seed)
        self._rng = np.random.default_rng(seed + 1)
        self.channels = _default_channels()
        self.acq = Acquisition(circuit)
        self.format = DataFormat()
        self._register()
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

    def trigger(self) -> None:
        if self.acq.settings.source == "BUS":
            self.acq.trigger_now()

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
        self.acq.configure(interval_s=interval_s)

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
        noise = self._rng.standard_normal(true.shape)
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


# ---------------------------------------------------------------------- acquisition engine
@dataclass(frozen=True)
class AcquisitionSettings:
    interval_s: float = DEFAULT_INTERVAL_S
    points: int = DEFAULT_POINTS
    offset_points: int = 0  # negative: pre-trigger samples, taken from the physics history
    source: str = "BUS"
    current_level: float = 0.0
    current_slope: str = "POSITIVE"
    voltage_level: float = 0.0
    voltage_slope: str = "POSITIVE"


class Acquisition:
    """Arming, triggering (bus or level) and the sample window of the analyzer's digitizer."""

    def __init__(self, circuit: SlotCircuit, fetch_timeout_s: float = FETCH_TIMEOUT_S) -> None:
        self.circuit = circuit
        self.fetch_timeout_s = fetch_timeout_s
        self.settings = AcquisitionSettings()
        self._cond = threading.Condition()
        self._armed = False
        self._generation = 0
        self._window: tuple[float, float, int] | None = None  # first sample time, interval, points
        self._data: tuple[np.ndarray, np.ndarray] | None = None
        self._closed = False

    def configure(self, **changes: float | int | str) -> None:
        with self._cond:
            self.settings = replace(self.settings, **changes)

    def reset(self) -> None:
        with self._cond:
            self.settings = AcquisitionSettings()
            self._armed, self._window, self._data = False, None, None
            self._generation += 1

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._generation += 1
            self._cond.notify_all()

    def arm(self) -> None:
        with self._cond:
            self._armed, self._window, self._data = True, None, None
            self._generation += 1
            armed = (self._generation, self.settings, self.circuit.now())
        if armed[1].source != "BUS":
            threading.Thread(target=self._watch, args=armed, daemon=True,
                             name="analyzer-trigger").start()

    def abort(self) -> None:
        with self._cond:
            self._armed = False
            self._generation += 1
            self._cond.notify_all()

    def trigger_now(self) -> None:
        with self._cond:
            if not self._armed:
                raise ScpiError(-211, "acquisition not initiated")
            self._fire(self.circuit.now())

    def _fire(self, trigger_s: float) -> None:
        s = self.settings
        self._window = (trigger_s + s.offset_points * s.interval_s, s.interval_s, s.points)
        self._armed, self._data = False, None
        self._generation += 1
        self._cond.notify_all()

    def acquire_now(self) -> None:
        """MEASure: a new acquisition starting now, then wait for it."""
        with self._cond:
            s = self.settings
            self._window = (self.circuit.now(), s.interval_s, s.points)
            self._armed, self._data = False, None
            self._generation += 1
        self.wait_complete()

    def wait_complete(self) -> bool:
        """Block until the last acquisition's window has passed; False if there is none in time."""
        deadline = time.monotonic() + self.fetch_timeout_s
        with self._cond:
            while self._window is None:
                remaining = deadline - time.monotonic()
                if not self._armed or self._closed or remaining <= 0:
                    return False
                self._cond.wait(min(remaining, _WAIT_SLICE_S))
            start_s, interval_s, points = self._window
        end_s = start_s + (points - 1) * interval_s
        while (late := end_s - self.circuit.now()) > 0:
            if self._closed:
                return False
            time.sleep(min(late, _WAIT_SLICE_S))
        return True

    def data(self) -> tuple[np.ndarray, np.ndarray]:
        with self._cond:
            if self._data is None:
                if self._window is None:
                    raise ScpiError(-230, "no acquisition")
                self._data = self.circuit.sample(*self._window)
            return self._data

    def _watch(self, generation: int, settings: AcquisitionSettings, since_s: float) -> None:
        """Poll the physics about every millisecond; fire at the exact crossing from history."""
        on_current = settings.source.startswith("CURR")
        level = settings.current_level if on_current else settings.voltage_level
        slope = settings.current_slope if on_current else settings.voltage_slope
        rising = slope == "POSITIVE"
        last_s = since_s
        while True:
            time.sleep(WATCH_POLL_S)
            with self._cond:
                if self._closed or generation != self._generation:
                    return
            now = self.circuit.now()
            t_s = np.append(np.arange(last_s, now, WATCH_STEP_S), now)
            above = self._quantity(t_s, on_current) >= level
            edges = np.flatnonzero((~above[:-1] & above[1:]) if rising else
                                   (above[:-1] & ~above[1:]))
            if edges.size:
                k = edges[0]
                crossing = self._refine(t_s[k], t_s[k + 1], on_current, level, rising)
                with self._cond:
                    if generation == self._generation:
                        self._fire(crossing)
                return
            last_s = now

    def _quantity(self, t_s: np.ndarray, on_current: bool) -> np.ndarray:
        current_a, voltage_v = self.circuit.values_at(t_s)
        return current_a if on_current else voltage_v

    def _refine(self, lo: float, hi: float, on_current: bool, level: float, rising: bool) -> float:
        for _ in range(_REFINE_STEPS):
            mid = 0.5 * (lo + hi)
            past = self._quantity(np.array([mid]), on_current)[0] >= level
            lo, hi = (lo, mid) if past == rising else (mid, hi)
        return hi
