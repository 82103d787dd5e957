"""One slot's circuit, in real time: the unit's output stage, a zero-burden ammeter, the load.

The single physical model of the virtual bench: the emulated firmware drives it, the emulated
load changes it, the emulated analyzer reads it. Every input change starts a new segment that
stores the lagged source current at its start, so any instant of the kept history evaluates
exactly (first-order lag, ideal pulse gate, compliance clamp), vectorised for sample arrays.
"""

from __future__ import annotations

import bisect
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import NamedTuple

import numpy as np

from rig.bench.unit_errors import UnitErrors, check_polarity
from rig.spec import load_spec
from rig.units import MA_PER_A, UA_PER_MA

_SPEC = load_spec()
_NOMINAL = _SPEC.calibration_nominal
_UNCAL = _SPEC.uncalibrated

DAC_NOMINAL_COUNTS_PER_MA = _NOMINAL.dac_gain
ADC_NOMINAL_MA_PER_COUNT = _NOMINAL.adc_gain
VADC_NOMINAL_V_PER_COUNT = _NOMINAL.v_gain
DAC_CODE_MAX = _NOMINAL.dac_code_max
ADC_CODE_MAX = _NOMINAL.adc_code_max
FULL_SCALE_MA = DAC_CODE_MAX / DAC_NOMINAL_COUNTS_PER_MA


HISTORY_S = 120.0
ADC_WINDOW_S = 0.020
ADC_WINDOW_POINTS = 64
ON_LEVEL_MA = 0.1
# Trimming in batches keeps the per-change cost O(1) amortised.
_TRIM_BATCH = 256
# A sample array may end this far past "now": the caller's clock read and ours differ slightly.
_FUTURE_TOLERANCE_S = 0.0005


@dataclass(frozen=True, slots=True)
class _Segment:
    """The circuit's inputs from `t_s` on, and the lagged source current at `t_s`."""

    t_s: float
    changed: str  # which input this segment's start changed; later changes of it stop propagation
    code: int
    sign: float  # +1 POS, -1 NEG
    target_ma: float  # signed
    i0_ma: float  # signed lagged source current at t_s
    freq_hz: float  # 0 = DC
    duty: float
    pulse_t0_s: float
    load_ohm: float
    v_max_v: float


class OutputPoint(NamedTuple):
    """The circuit at one instant: signed current (A), signed voltage (V), source in compliance."""

    current_a: float
    voltage_v: float
    compliant: bool


def _bow_ma(nominal_ma: float, amplitude_ma: float) -> float:
    x = nominal_ma / FULL_SCALE_MA
    return amplitude_ma * 4.0 * x * (1.0 - x)


class SlotCircuit:
    """One slot's circuit: unit output stage -> ammeter (zero burden) -> load; voltmeter across.

    Wall-clock time (time.monotonic by default); keeps at least the last 120 s of history so that
    any past instant can be evaluated. Thread-safe (firmware thread, SCPI threads).
    """

    def __init__(
        self,
        errors: UnitErrors,
        seed: int,
        v_max_v: float,
        settle_tau_s: float = 0.002,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.errors = errors
        self.settle_tau_s = settle_tau_s
        self._clock = clock
        self._rng = np.random.default_rng(seed)
        self._lock = threading.RLock()
        now = clock()
        first = _Segment(
            t_s=now, changed="init", code=0, sign=1.0, target_ma=self._target_ma(0, "POS"),
            i0_ma=0.0, freq_hz=0.0, duty=1.0, pulse_t0_s=now, load_ohm=math.inf, v_max_v=v_max_v,
        )
        first = replace(first, i0_ma=first.target_ma)
        self._times: list[float] = [now]
        self._segments: list[_Segment] = [first]

    def now(self) -> float:
        return self._clock()

    # ------------------------------------------------------------------ inputs
    def _target_ma(self, code: int, polarity: str) -> float:
        sign = 1.0 if polarity == "POS" else -1.0
        if code == 0:
            return sign * self.errors.residual_ua / UA_PER_MA
        err = self.errors.for_polarity(polarity)
        nominal = code / DAC_NOMINAL_COUNTS_PER_MA
        true_ma = nominal * (1.0 + err.output_gain) + err.output_offset_ma
        return sign * max(0.0, true_ma + _bow_ma(nominal, err.output_bow_ma))

    def set_dac(self, code: int, polarity: str, at_s: float | None = None) -> None:
        """at_s: the (monotonic) instant the code took effect, when the firmware acts late (a control
        period run after its time by a starved tick thread); None = now."""
        if not (isinstance(code, int | np.integer) and 0 <= code <= DAC_CODE_MAX):
            raise ValueError(f"DAC code must be an integer 0..{DAC_CODE_MAX}, got {code!r}")
        check_polarity(polarity)
        self._change(
            "dac", at_s, code=int(code), sign=1.0 if polarity == "POS" else -1.0,
            target_ma=self._target_ma(int(code), polarity),
        )

    def set_pulse(self, freq_hz: float | None, duty: float = 1.0) -> None:
        if freq_hz is None:
            self._change("pulse", None, freq_hz=0.0, duty=1.0)
            return
        if not (freq_hz > 0 and 0.0 < duty <= 1.0):
            raise ValueError(f"pulse needs freq_hz > 0 and 0 < duty <= 1, got {freq_hz}, {duty}")
        self._change("pulse", None, freq_hz=float(freq_hz), duty=float(duty),
                     pulse_t0_s=self._clock())

    def set_v_max(self, v_max_v: float) -> None:
        if not v_max_v >= 0:
            raise ValueError(f"v_max_v must be >= 0, got {v_max_v}")
        self._change("v_max", None, v_max_v=float(v_max_v))

    def set_load(self, ohms: float, at_s: float | None = None) -> None:
        """math.inf = open circuit; at_s: monotonic time the new value takes effect."""
        if not ohms > 0:
            raise ValueError(f"load must be > 0 ohm (math.inf for open), got {ohms}")
        self._change("load", at_s, load_ohm=float(ohms))

    def _change(self, field: str, at_s: float | None, **values: float) -> None:
        with self._lock:
            now = self._clock()
            t_s = now if at_s is None else max(float(at_s), self._times[0])
            idx = bisect.bisect_right(self._times, t_s)
            prev = self._segments[idx - 1]
            seg = replace(prev, t_s=t_s, changed=field, **values)
            self._times.insert(idx, t_s)
            self._segments.insert(idx, seg)
            self._propagate(idx, field, values)
            self._trim(now)

    def _propagate(self, idx: int, field: str, values: dict[str, float]) -> None:
        """Carry the change into later (scheduled) segments and refresh their start currents."""
        carrying = True
        for k in range(idx, len(self._segments)):
            seg = self._segments[k]
            if k > idx and carrying:
                if seg.changed == field:
                    carrying = False
                else:
                    seg = replace(seg, **values)
            prev = self._segments[k - 1] if k > 0 else None
            if prev is not None:
                seg = replace(seg, i0_ma=self._lagged_ma(prev, seg.t_s))
            self._segments[k] = seg

    def _lagged_ma(self, seg: _Segment, t_s: float) -> float:
        decay = math.exp(-(t_s - seg.t_s) / self.settle_tau_s)
        return seg.target_ma + (seg.i0_ma - seg.target_ma) * decay

    def _trim(self, now: float) -> None:
        keep_from = bisect.bisect_right(self._times, now - HISTORY_S) - 1
        if keep_from >= _TRIM_BATCH:
            del self._times[:keep_from]
            del self._segments[:keep_from]

    # ------------------------------------------------------------------ evaluation
    def _evaluate(self, t_s: np.ndarray, noise: bool) -> tuple[np.ndarray, ...]:
        """Signed current (A), signed voltage (V), compliance flags at the times t_s."""
        with self._lock:
            lo = max(bisect.bisect_right(self._times, float(t_s.min())) - 1, 0)
            hi = max(bisect.bisect_right(self._times, float(t_s.max())), lo + 1)  # before the history: its start
            segs = self._segments[lo:hi]
            noise_draw = self._rng.standard_normal(t_s.shape) if noise else None
        cols = {name: np.array([getattr(s, name) for s in segs], dtype=float)
                for name in ("t_s", "code", "sign", "target_ma", "i0_ma", "freq_hz", "duty",
                             "pulse_t0_s", "load_ohm", "v_max_v")}
        k = np.clip(np.searchsorted(cols["t_s"], t_s, side="right") - 1, 0, len(segs) - 1)
        c = {name: col[k] for name, col in cols.items()}
        dt = np.maximum(t_s - c["t_s"], 0.0)
        i_src = c["target_ma"] + (c["i0_ma"] - c["target_ma"]) * np.exp(-dt / self.settle_tau_s)
        pulsed = c["freq_hz"] > 0
        phase = np.mod((t_s - c["pulse_t0_s"]) * c["freq_hz"], 1.0)
        gate = np.where(pulsed & (phase >= c["duty"]), 0.0, 1.0)
        switch_closed = c["code"] > 0
        if noise_draw is not None:
            i_src = i_src + noise_draw * self.errors.noise_ma_rms * switch_closed
        i_src = i_src * gate
        load = c["load_ohm"]
        finite = np.isfinite(load)
        safe_load = np.where(finite, load, 1.0)
        limit_ma = np.where(finite, c["v_max_v"] / safe_load * MA_PER_A, 0.0)
        i_mag_ma = np.minimum(np.abs(i_src), limit_ma)
        current_a = np.copysign(i_mag_ma, c["sign"]) / MA_PER_A
        open_v = c["v_max_v"] * switch_closed * gate
        v_mag = np.where(finite, i_mag_ma / MA_PER_A * safe_load, open_v)
        voltage_v = np.copysign(v_mag, c["sign"])
        compliant = np.where(finite, np.abs(i_src) > limit_ma, switch_closed * gate > 0)
        return current_a, voltage_v, compliant

    def _evaluate_one(self, t_s: float, noise: bool) -> OutputPoint:
        """_evaluate's model at one instant, in plain floats: the firmware reads its output every
        millisecond, where numpy's per-call cost was most of the bench's CPU. Same equations, line by
        line (tests/unit/test_physics.py checks the two agree)."""
        with self._lock:
            seg = self._segments[max(bisect.bisect_right(self._times, t_s) - 1, 0)]
            noise_ma = float(self._rng.standard_normal()) * self.errors.noise_ma_rms if noise else 0.0
        dt = max(t_s - seg.t_s, 0.0)
        i_src = seg.target_ma + (seg.i0_ma - seg.target_ma) * math.exp(-dt / self.settle_tau_s)
        pulsed = seg.freq_hz > 0
        phase = ((t_s - seg.pulse_t0_s) * seg.freq_hz) % 1.0
        gate = 0.0 if pulsed and phase >= seg.duty else 1.0
        switch_closed = 1.0 if seg.code > 0 else 0.0
        i_src = (i_src + noise_ma * switch_closed) * gate
        load = seg.load_ohm
        if math.isfinite(load):
            limit_ma = seg.v_max_v / load * MA_PER_A
            i_mag_ma = min(abs(i_src), limit_ma)
            v_mag = i_mag_ma / MA_PER_A * load
            compliant = abs(i_src) > limit_ma
        else:
            i_mag_ma = 0.0
            v_mag = seg.v_max_v * switch_closed * gate
            compliant = switch_closed * gate > 0
        return OutputPoint(math.copysign(i_mag_ma, seg.sign) / MA_PER_A, math.copysign(v_mag, seg.sign),
                           compliant)

    def point(self, t_s: float | None = None, *, noise: bool = False) -> OutputPoint:
        """Current, voltage and compliance at t_s (default now); with the unit's output noise if asked."""
        return self._evaluate_one(self._clock() if t_s is None else float(t_s), noise)

    def current_a(self, t_s: float | None = None) -> float:
        """Signed true current in A at t_s (default now), without noise."""
        return self.point(t_s).current_a

    def voltage_v(self, t_s: float | None = None) -> float:
        """Signed voltage across the load in V; |V| = min(|I_src|·R, v_max)."""
        return self.point(t_s).voltage_v

    def in_compliance(self, t_s: float | None = None) -> bool:
        return self.point(t_s).compliant

    def values_at(self, t_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Noiseless current (A) and voltage (V) at past instants (for level triggers)."""
        current_a, voltage_v, _ = self._evaluate(np.asarray(t_s, dtype=float), noise=False)
        return current_a, voltage_v

    def sample(self, t0_s: float, interval_s: float, points: int) -> tuple[np.ndarray, np.ndarray]:
        """Current (A) and voltage (V) at t0 + k·interval, with the unit's output noise."""
        if points < 1 or interval_s < 0:
            raise ValueError(f"need points >= 1 and interval_s >= 0, got {points}, {interval_s}")
        t_s = t0_s + interval_s * np.arange(points, dtype=float)
        if t_s[-1] > self._clock() + _FUTURE_TOLERANCE_S:
            raise ValueError("sample times lie in the future: wait until they have passed")
        current_a, voltage_v, _ = self._evaluate(t_s, noise=True)
        return current_a, voltage_v

    def adc_codes(self, polarity: str) -> tuple[int, int]:
        """The unit's raw ADC codes of |I| and |V|, averaged over the last 20 ms."""
        now = self._clock()
        interval_s = ADC_WINDOW_S / ADC_WINDOW_POINTS
        current_a, voltage_v = self.sample(now - ADC_WINDOW_S + interval_s, interval_s,
                                           ADC_WINDOW_POINTS)
        i_ma = float(np.mean(np.abs(current_a))) * MA_PER_A
        if self.errors.reading_noise_ma_rms > 0:
            with self._lock:
                i_ma += float(self._rng.standard_normal()) * self.errors.reading_noise_ma_rms
        v_v = float(np.mean(np.abs(voltage_v)))
        return self.reading_codes(i_ma, v_v, polarity)

    def reading_codes(self, current_ma: float, voltage_v: float, polarity: str) -> tuple[int, int]:
        """The unit's raw ADC codes for true magnitudes |I| (mA) and |V| (V): its reading errors, then
        the converter. The one place the reading path's physics lives: MEAS?/TEST:ADC? (20 ms mean)
        and the firmware's cut-offs (each control period) both read through it."""
        err = self.errors.for_polarity(polarity)
        i_code = (current_ma * (1.0 + err.reading_gain) + err.reading_offset_ma) / ADC_NOMINAL_MA_PER_COUNT
        v_code = (voltage_v * (1.0 + self.errors.voltage_gain) + self.errors.voltage_offset_v)
        v_code /= VADC_NOMINAL_V_PER_COUNT
        return _clamp_code(i_code), _clamp_code(v_code)

    def output_on_seconds(self, since_s: float) -> float:
        """How long |current| was above 0.1 mA from since_s until now.

        Exact for DC segments; a pulsed segment counts its duty fraction of the on-time.
        """
        with self._lock:
            now = self._clock()
            lo = max(bisect.bisect_right(self._times, since_s) - 1, 0)
            segs = self._segments[lo:]
        total_s = 0.0
        for k, seg in enumerate(segs):
            start = max(seg.t_s, since_s)
            end = min(segs[k + 1].t_s, now) if k + 1 < len(segs) else now
            if end <= start or not math.isfinite(seg.load_ohm):
                continue
            if seg.v_max_v / seg.load_ohm * MA_PER_A <= ON_LEVEL_MA:
                continue
            i0 = self._lagged_ma(seg, start)
            dur = end - start
            above = _time_above(i0, seg.target_ma, dur, self.settle_tau_s)
            above += _time_above(-i0, -seg.target_ma, dur, self.settle_tau_s)
            total_s += above * (seg.duty if seg.freq_hz > 0 else 1.0)
        return total_s


def _clamp_code(value: float) -> int:
    return int(min(max(round(value), 0), ADC_CODE_MAX))


def _time_above(i0_ma: float, target_ma: float, dur_s: float, tau_s: float) -> float:
    """Time within [0, dur] that T + (i0 - T)·exp(-t/tau) spends above ON_LEVEL_MA (monotonic)."""
    start_above = i0_ma > ON_LEVEL_MA
    end_above = target_ma > ON_LEVEL_MA
    if start_above == end_above:
        if not start_above:
            # Monotonic and the asymptote is below: never above unless it starts above.
            return 0.0
        return dur_s
    crossing_s = -tau_s * math.log((ON_LEVEL_MA - target_ma) / (i0_ma - target_ma))
    crossing_s = min(max(crossing_s, 0.0), dur_s)
    return dur_s - crossing_s if end_above else crossing_s
