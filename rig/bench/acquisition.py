"""The emulated analyzer's digitizer: arming, bus and level triggers (with pre-trigger samples from
the circuit's history) and the sample window of one acquisition."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, replace

import numpy as np

from rig.bench.physics import SlotCircuit
from rig.bench.scpi import ScpiError

DEFAULT_INTERVAL_S = 20.48e-6
DEFAULT_POINTS = 1024
FETCH_TIMEOUT_S = 30.0
WATCH_POLL_S = 0.001
# Level triggers scan the history at this step, then bisect to well below a sample interval.
WATCH_STEP_S = 10e-6
_REFINE_STEPS = 20
_WAIT_SLICE_S = 0.05


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
