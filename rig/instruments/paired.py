"""The ammeter's traces with the voltmeter's on their time base, when the two roles are on two
instruments (a power analyzer's ammeter channel and a DMM, say).

It stands where the slot's analyzer stands (`OpenSlot.ammeter`): the current side is the ammeter's
own (every method not defined here is the ammeter's); a trace armed here arms both, triggers both
(through the declared trigger line, or each by a command with host timestamps) and returns the current
with the voltage aligned onto it (rig/instruments/alignment.py), and the alignment's uncertainty.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from rig.instruments.alignment import Alignment, align_onto, from_hardware_trigger, from_timestamps
from rig.instruments.analyzer import PowerAnalyzer, Trace
from rig.instruments.errors import InstrumentError

# The voltage record reaches past the current one on both sides, so that the current trace keeps every
# sample asked for (a reading's window of whole pulse periods): by a few intervals and the trigger
# latency with the trigger line; with trigger timestamps by the host's delay between the two trigger
# commands too (a command's round trip is about 2 ms; a loaded host adds some).
MARGIN_INTERVALS = 2
TIMESTAMP_MARGIN_S = 0.050


class PairedDigitizer:
    def __init__(self, ammeter: PowerAnalyzer, voltmeter: Any, *, trigger_pin: int | None = None,
                 trigger_latency_s: float = 0.0) -> None:
        """trigger_pin: the ammeter's trigger-out pin wired to the voltmeter's external trigger input
        (station file `trigger_line`); None: aligned by trigger timestamps."""
        self.ammeter = ammeter
        self.voltmeter = voltmeter
        self.trigger_pin = trigger_pin
        self.trigger_latency_s = trigger_latency_s
        self._voltage_armed = False
        self._alignment: Alignment | None = None
        if trigger_pin is not None:
            ammeter.enable_trigger_out(trigger_pin)

    def __getattr__(self, name: str) -> Any:
        # Only for what is not defined here: the ammeter's ranges, readings, identity, name.
        if name in ("ammeter", "voltmeter"):
            raise AttributeError(name)
        return getattr(self.ammeter, name)

    @property
    def hardware_trigger(self) -> bool:
        return self.trigger_pin is not None

    def measure_voltage_v(self) -> float:
        return self.voltmeter.measure_voltage_v()

    def arm_trace(self, interval_s: float, points: int, *, pretrigger_points: int = 0, trigger: str = "BUS",
                  level_a: float | None = None, slope: str = "POS", immediate: bool = False) -> None:
        """Both records armed at the same interval and length. A level trigger is the ammeter's alone
        (no trigger output for it): that trace has no voltage."""
        self._voltage_armed = trigger.upper() == "BUS"
        self._alignment = None
        if self._voltage_armed:
            margin_s = MARGIN_INTERVALS * interval_s + (self.trigger_latency_s if self.hardware_trigger
                                                        else TIMESTAMP_MARGIN_S)
            self.voltmeter.arm_voltage_trace(
                interval_s, before_s=pretrigger_points * interval_s + margin_s,
                after_s=(points - pretrigger_points) * interval_s + margin_s,
                trigger="EXTERNAL" if self.hardware_trigger else "BUS")
        self.ammeter.arm_trace(interval_s, points, pretrigger_points=pretrigger_points, trigger=trigger,
                               level_a=level_a, slope=slope)
        if immediate:
            self.trigger_now()

    def trigger_now(self) -> None:
        if not self._voltage_armed:
            self.ammeter.trigger_now()
        elif self.hardware_trigger:
            self.ammeter.bus_trigger()  # the same edge goes out to the voltmeter
            self._alignment = from_hardware_trigger(self.trigger_latency_s)
        else:
            c0 = time.monotonic()
            self.ammeter.trigger_now()
            c1 = time.monotonic()
            self.voltmeter.trigger_now()
            self._alignment = from_timestamps((c0, c1), (c1, time.monotonic()))

    def fetch_trace(self, *, with_voltage: bool = True, timeout_s: float | None = None) -> Trace:
        current = self.ammeter.fetch_trace(with_voltage=False, timeout_s=timeout_s)
        if not self._voltage_armed:
            return current
        # Always fetched once armed: the meter is then idle for the next record.
        self._voltage_armed = False
        interval_s, trigger_index, voltage_v = self.voltmeter.fetch_voltage_trace(timeout_s)
        if not with_voltage:
            return current
        if self._alignment is None:
            raise RuntimeError(f"{self.ammeter.name}: trace fetched before it was triggered")
        voltage_time_s = (np.arange(voltage_v.size) - trigger_index) * interval_s
        try:
            span = align_onto(current.time_s, voltage_time_s, voltage_v, self._alignment)
        except ValueError as exc:  # e.g. trigger commands so slow that the records no longer overlap
            raise InstrumentError(self.voltmeter.name, "FETCh?", None,
                                  f"{exc} (trigger offset {self._alignment.offset_s:.6f} s"
                                  f" +/- {self._alignment.half_width_s:.6f} s, {self._alignment.method})") from None
        # The voltage covers the current to its end, and from its start unless the start is pre-trigger
        # history older than the voltmeter's initiation (which a capture drops anyway: since_initiated).
        if span.stop < current.current_a.size or (span.first > 0 and current.pretrigger_points == 0):
            raise InstrumentError(self.voltmeter.name, "FETCh?", None,
                                  f"the voltage record covers current samples {span.first} to {span.stop} of"
                                  f" {current.current_a.size} (trigger offset {self._alignment.offset_s:.6f} s)")
        return Trace(current.interval_s, current.pretrigger_points - span.first,
                     current.current_a[span.first:span.stop], span.voltage_v,
                     self._alignment.method, self._alignment.half_width_s)

    def safe_state(self) -> None:
        self.ammeter.safe_state()
        self.voltmeter.safe_state()

    def close(self) -> None:
        """The ammeter's connection; the voltmeter is the slot's own role and closed as such."""
        self.ammeter.close()
