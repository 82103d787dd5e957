"""Emulated digital multimeter: a Keysight 34465A with the DIG option, across the unit's output.

It reads the slot's SlotCircuit (the one physical model) through its own gain and offset errors, drawn
from a seed within the stated figures of the model table (rig/specs/instrument_models.toml, 34465A:
one-year accuracy on the 100 V and 1000 V ranges), and per-sample noise at the stated figure for the
shortest aperture, falling as the square root of the aperture for longer ones.
Commands (Keysight Truevolt 34465A programming guide): `CONFigure:VOLTage[:DC] [<range>]`,
`[SENSe:]VOLTage[:DC]:RANGe`, `:NPLC`, `:APERture`, `TRIGger:SOURce IMMediate|BUS|EXTernal`,
`TRIGger:COUNt`, `SAMPle:SOURce IMMediate|TIMer`, `SAMPle:TIMer`, `SAMPle:COUNt`,
`SAMPle:COUNt:PRETrigger`, `INITiate`, `*TRG`, `READ?`, `FETCh?`, `ABORt`.
Deviations, stated on purpose: one trigger per INITiate (TRIGger:COUNt is recorded); the aperture is an
instant (a sample is the circuit's value at its time, its noise that of the aperture asked); READ? of
NPLC n takes n x 20 ms (50 Hz) and averages the circuit over it; samples before INITiate are not kept
(as on the real meter: a pre-trigger record holds only what was sampled since INITiate).
"""

from __future__ import annotations

import threading
import time

import numpy as np

from rig.bench.physics import SlotCircuit
from rig.bench.scpi import Call, ScpiError, ScpiInstrument, parse_choice, parse_int, parse_number
from rig.bench.variant import within

MODEL = "34465A"
FIRMWARE = "A.03.01-03.15-03.01-00.52-03-02"
RANGES_V = (0.1, 1.0, 10.0, 100.0, 1000.0)
# Stated figures (model table, 34465A): gain as a fraction of reading, offset in V, noise in V rms at
# the shortest aperture (0.001 NPLC); per range.
FIGURES = {100.0: (0.000040, 0.0006, 0.003), 1000.0: (0.000040, 0.006, 0.03)}
LOW_RANGE_FIGURES = (0.000050, 0.00005, 0.0003)  # the ranges up to 10 V (not used by the rig)
PLC_S = 0.020
NPLC_MIN = 0.001
APERTURE_MIN_S = NPLC_MIN * PLC_S
TIMER_STEP_S = 1e-6
TIMER_MIN_S = 20e-6
SAMPLES_MAX = 2_000_000
TRIGGER_LATENCY_MAX_S = 3e-6  # the stated trigger_latency_s
OVERLOAD = 9.91e37
FETCH_TIMEOUT_S = 30.0
_WAIT_SLICE_S = 0.02
READING_POINTS = 64


class Multimeter(ScpiInstrument):
    def __init__(self, circuit: SlotCircuit, serial: str, seed: int, error_extremity: float = 0.0) -> None:
        super().__init__(f"Keysight Technologies,{MODEL},{serial},{FIRMWARE}")
        self.circuit = circuit
        rng = np.random.default_rng(seed)
        self.errors_by_range = {r: (within(rng, error_extremity) * FIGURES.get(r, LOW_RANGE_FIGURES)[0],
                                    within(rng, error_extremity) * FIGURES.get(r, LOW_RANGE_FIGURES)[1])
                                for r in RANGES_V}
        self._rng = np.random.default_rng(seed + 1)
        self._cond = threading.Condition()
        self._reset_state()
        self._register()

    def _reset_state(self) -> None:
        self.range_v = 10.0
        self.aperture_s = PLC_S
        self.trigger_source = "IMMEDIATE"
        self.trigger_count = 1
        self.sample_source = "IMMEDIATE"
        self.timer_s = TIMER_MIN_S
        self.count = 1
        self.pretrigger = 0
        self._initiated_s: float | None = None
        self._trigger_s: float | None = None
        self._record: tuple[float, float, int] | None = None  # first sample time, interval, count

    def _register(self) -> None:
        add = self.add
        add("CONFigure:VOLTage[:DC]", self._configure)
        node = "[SENSe:]VOLTage[:DC]"
        add(f"{node}:RANGe[:UPPer]", lambda c: setattr(self, "range_v", self._range(c.arg(0))))
        add(f"{node}:RANGe[:UPPer]?", lambda c: f"{self.range_v:+.8E}")
        add(f"{node}:NPLC", lambda c: self._set_aperture(parse_number(c.arg(0)) * PLC_S))
        add(f"{node}:NPLC?", lambda c: f"{self.aperture_s / PLC_S:+.8E}")
        add(f"{node}:APERture", lambda c: self._set_aperture(parse_number(c.arg(0))))
        add("TRIGger:SOURce", lambda c: setattr(self, "trigger_source", parse_choice(
            c.arg(0), ("IMMediate", "BUS", "EXTernal", "INTernal"))))
        add("TRIGger:SOURce?", lambda c: self.trigger_source[:3])
        add("TRIGger:COUNt", lambda c: setattr(self, "trigger_count", parse_int(c.arg(0))))
        add("SAMPle:SOURce", lambda c: setattr(self, "sample_source", parse_choice(c.arg(0), ("IMMediate", "TIMer"))))
        add("SAMPle:TIMer", self._set_timer)
        add("SAMPle:TIMer?", lambda c: f"{self.timer_s:+.8E}")
        add("SAMPle:COUNt", lambda c: setattr(self, "count", self._bounded(c.arg(0), 1, SAMPLES_MAX)))
        add("SAMPle:COUNt?", lambda c: f"{self.count:+d}")
        add("SAMPle:COUNt:PRETrigger",
            lambda c: setattr(self, "pretrigger", self._bounded(c.arg(0), 0, SAMPLES_MAX - 1)))
        add("INITiate[:IMMediate]", lambda c: self._initiate())
        add("ABORt", lambda c: self._abort())
        add("FETCh?", lambda c: self._fetch())
        add("READ?", lambda c: self._read())

    # ------------------------------------------------------------------ settings
    def reset(self) -> None:
        with self._cond:
            self._reset_state()
            self._cond.notify_all()

    @staticmethod
    def _range(text: str) -> float:
        upper_v = abs(parse_number(text))
        fitting = [r for r in RANGES_V if r >= upper_v * (1 - 1e-9)]
        if not fitting:
            raise ScpiError(-222, f"range {upper_v:g} V")
        return fitting[0]

    @staticmethod
    def _bounded(text: str, low: int, high: int) -> int:
        value = parse_int(text)
        if not low <= value <= high:
            raise ScpiError(-222, f"{value} outside {low}..{high}")
        return value

    def _configure(self, call: Call) -> None:
        self.range_v = self._range(call.args[0]) if call.args else self.range_v
        # CONFigure's presets (guide): one sample, one immediate trigger, immediate sampling.
        self.trigger_source, self.sample_source, self.count, self.pretrigger = "IMMEDIATE", "IMMEDIATE", 1, 0
        self.trigger_count = 1

    def _set_aperture(self, aperture_s: float) -> None:
        if not APERTURE_MIN_S * (1 - 1e-9) <= aperture_s <= 100 * PLC_S:
            raise ScpiError(-222, f"aperture {aperture_s:g} s")
        self.aperture_s = aperture_s

    def _set_timer(self, call: Call) -> None:
        timer_s = parse_number(call.arg(0))
        if not TIMER_MIN_S * (1 - 1e-9) <= timer_s <= 3600.0:
            raise ScpiError(-222, f"sample timer {timer_s:g} s")
        self.timer_s = round(timer_s / TIMER_STEP_S) * TIMER_STEP_S  # the guide: 1 us steps for DC

    # ------------------------------------------------------------------ triggering
    def _initiate(self) -> None:
        if self.sample_source == "TIMER" and self.timer_s < self.aperture_s * (1 - 1e-9):
            raise ScpiError(-221, "sample timer shorter than the aperture")
        if self.pretrigger >= self.count:
            raise ScpiError(-221, "pretrigger count not below the sample count")
        with self._cond:
            self._initiated_s, self._trigger_s, self._record = self.circuit.now(), None, None
            if self.trigger_source == "IMMEDIATE":
                self._fire(self._initiated_s)

    def _abort(self) -> None:
        with self._cond:
            self._initiated_s = None
            self._cond.notify_all()

    def trigger(self) -> None:
        """*TRG: a bus trigger (TRIGger:SOURce BUS)."""
        if self.trigger_source != "BUS":
            raise ScpiError(-211, "trigger source is not BUS")
        self._take_trigger(self.circuit.now())

    def external_trigger(self, at_s: float) -> None:
        """An edge on the external trigger input (the bench's trigger line)."""
        if self.trigger_source == "EXTERNAL":
            self._take_trigger(at_s)

    def _take_trigger(self, at_s: float) -> None:
        with self._cond:
            if self._initiated_s is None or self._trigger_s is not None:
                return  # not waiting for a trigger: ignored, as the meter does
            self._fire(at_s + self._rng.uniform(0.0, TRIGGER_LATENCY_MAX_S))

    def _fire(self, first_post_s: float) -> None:
        interval_s = self.timer_s if self.sample_source == "TIMER" else max(self.aperture_s, TIMER_MIN_S)
        pre = min(self.pretrigger, int((first_post_s - self._initiated_s) / interval_s))
        self._trigger_s = first_post_s
        self._record = (first_post_s - pre * interval_s, interval_s, self.count - self.pretrigger + pre)
        self._cond.notify_all()

    # ------------------------------------------------------------------ readings
    def _wait_record(self) -> tuple[float, float, int]:
        deadline = time.monotonic() + FETCH_TIMEOUT_S
        with self._cond:
            while self._record is None:
                if self._initiated_s is None or time.monotonic() > deadline:
                    raise ScpiError(-230, "no measurement initiated")
                self._cond.wait(_WAIT_SLICE_S)
            record = self._record
        first_s, interval_s, points = record
        while (late := first_s + (points - 1) * interval_s - self.circuit.now()) > 0:
            time.sleep(min(late, _WAIT_SLICE_S))
        return record

    def _through_meter(self, true_v: np.ndarray, aperture_s: float) -> np.ndarray:
        gain, offset = self.errors_by_range[self.range_v]
        noise_v = FIGURES.get(self.range_v, LOW_RANGE_FIGURES)[2] * np.sqrt(APERTURE_MIN_S / aperture_s)
        values = true_v * (1 + gain) + offset + self._rng.standard_normal(true_v.shape) * noise_v
        return np.where(np.abs(true_v) > 1.2 * self.range_v, OVERLOAD, values)

    def _fetch(self) -> str:
        first_s, interval_s, points = self._wait_record()
        _, voltage_v = self.circuit.sample(first_s, interval_s, points)
        return ",".join(f"{v:+.9E}" for v in self._through_meter(voltage_v, self.aperture_s))

    def _read(self) -> str:
        """READ?: the configured single reading, averaged over its aperture."""
        if self.trigger_source != "IMMEDIATE" or self.count != 1:
            raise ScpiError(-221, "READ? here takes one immediate reading (CONFigure first)")
        start_s = self.circuit.now()
        time.sleep(self.aperture_s)
        _, voltage_v = self.circuit.sample(start_s, self.aperture_s / READING_POINTS, READING_POINTS)
        value = self._through_meter(np.array([float(np.mean(voltage_v))]), self.aperture_s)[0]
        return f"{value:+.9E}"
