"""Digital multimeter on the voltmeter role: a Keysight 34465A (or 34470A) with the DIG option.

Commands as in the Keysight Truevolt 34465A/34470A programming guide: `CONFigure:VOLTage:DC <range>`,
`VOLTage:DC:NPLC` for single readings (`READ?`), and the digitizing mode for traces: `SAMPle:SOURce
TIMer`, `SAMPle:TIMer`, `SAMPle:COUNt`, `SAMPle:COUNt:PRETrigger`, `TRIGger:SOURce BUS|EXTernal`,
`INITiate`, `*TRG`, `FETCh?`. Pre-trigger samples need the DIG option; the meter keeps only what it
sampled since INITiate, so a trace's trigger sample is found from the end: it has the asked number of
post-trigger samples. A record is asked as durations before and after the trigger: the meter rounds its
sample timer (1 us steps), and the counts follow the timer it reports.
Deviation from instruments.md: this model is not in its list (issue 15 adds it); its stated figures are
in the model table (34465A).
"""

from __future__ import annotations

import math

import numpy as np

from rig.instruments.errors import InstrumentResponseError
from rig.instruments.scpi import MAX_REPLY_BYTES, MS_PER_S, ScpiInstrument, shown_reply

OVERLOAD_THRESHOLD = 9.9e37  # Keysight's over-range reading, +9.91E+37
READING_NPLC = 1  # single readings: one power-line cycle (the model table's accuracy applies)
# Digitizing: the shortest aperture, so that each sample is an instant of the trace.
DIGITIZE_NPLC = 0.001
ASCII_VALUE_MAX_BYTES = 32
FETCH_MARGIN_S = 2.0
_SOURCES = {"BUS": "BUS", "EXTERNAL": "EXTernal"}
TIMER_STEP_S = 1e-6  # the 34465A's sample timer resolution for DC (programming guide, SAMPle:TIMer)


def sweeping_timer_s(interval_s: float) -> float:
    """The sample timer for `interval_s`: the nearest whole number of the meter's 1 us steps at or above
    it that is divisible by neither 2 nor 5. A round timer (20 us for the analyzer's 20.48 us) can be a
    whole fraction of a pulse period (100 us at 10 kHz: five fixed phases, aliased means); a period
    that is a whole number of decimal microseconds (2^a 5^b of them) shares no factor with this one, so
    the samples sweep every phase of it."""
    steps = max(1, math.ceil(round(interval_s / TIMER_STEP_S, 6)))
    while steps % 2 == 0 or steps % 5 == 0:
        steps += 1
    return steps * TIMER_STEP_S


class DigitalMultimeter(ScpiInstrument):
    SUPPORTED_MODELS = ("34465A", "34470A")
    ROLES = ("voltmeter",)  # rig.instruments.registry
    MODELS = SUPPORTED_MODELS

    range_v: float = 100.0
    _mode: str | None = None  # "reading" or "trace": the configuration the meter holds
    _trace: tuple[float, int, int, str] | None = None  # interval, points, pretrigger, source
    _setup: tuple | None = None  # what arm_voltage_trace was asked
    _interval_used_s: float | None = None

    def configure_voltmeter(self, range_v: float) -> None:
        """DC volts on a fixed range (a trace must not change range mid-record)."""
        self.range_v = range_v
        self._mode = self._trace = None

    def _reading_setup(self) -> None:
        if self._mode == "reading":
            return
        self._mode, self._trace = None, None
        self.write_all([f"CONFigure:VOLTage:DC {self.range_v:g}", f"VOLTage:DC:NPLC {READING_NPLC:g}"])
        self._mode = "reading"

    def measure_voltage_v(self) -> float:
        """One reading (`READ?`: initiate, trigger at once, fetch)."""
        self._reading_setup()
        value = self.query_float("READ?")
        if abs(value) >= OVERLOAD_THRESHOLD:
            raise InstrumentResponseError(self.name, "READ?", f"{value:g}", "over range")
        return value

    def arm_voltage_trace(self, interval_s: float, *, before_s: float, after_s: float, trigger: str = "BUS") -> None:
        """Set up the digitizing mode and initiate: a record of at least `before_s` before the trigger
        (of what is sampled since INITiate) and `after_s` after it, at the meter's nearest sample timer to
        `interval_s`; the trigger is `*TRG` (BUS) or the external input's edge (EXTERNAL)."""
        source = _SOURCES.get(trigger.upper())
        if source is None:
            raise ValueError(f"trigger {trigger!r} is not one of {', '.join(_SOURCES)}")
        if before_s < 0 or after_s <= 0:
            raise ValueError(f"need before_s >= 0 and after_s > 0, got {before_s}, {after_s}")
        setup = (interval_s, before_s, after_s, source)
        if self._mode != "trace" or self._setup != setup:
            self._mode = self._trace = None
            self.write_all([
                f"CONFigure:VOLTage:DC {self.range_v:g}",
                f"VOLTage:DC:NPLC {DIGITIZE_NPLC:g}",
                "TRIGger:COUNt 1",
                f"TRIGger:SOURce {source}",
                "SAMPle:SOURce TIMer",
                f"SAMPle:TIMer {sweeping_timer_s(interval_s):.9g}",
            ])
            # The meter rounds the timer to its step (1 us for DC): counts and axis use what it reports.
            used_s = self.query_float("SAMPle:TIMer?")
            if not 0 < used_s < OVERLOAD_THRESHOLD:
                raise InstrumentResponseError(self.name, "SAMPle:TIMer?", f"{used_s:g}", "not a sample interval")
            pretrigger = math.ceil(before_s / used_s)
            points = pretrigger + math.ceil(after_s / used_s) + 1
            self.write_all([f"SAMPle:COUNt {points:d}", f"SAMPle:COUNt:PRETrigger {pretrigger:d}"])
            self._interval_used_s = used_s
            self._mode, self._trace, self._setup = "trace", (used_s, points, pretrigger, source), setup
        self.write("INITiate")

    def trigger_now(self) -> None:
        self.write("*TRG")

    def fetch_voltage_trace(self, timeout_s: float | None = None) -> tuple[float, int, np.ndarray]:
        """(interval used, index of the trigger sample, samples in V) of the armed record; blocks until
        it completes."""
        if self._trace is None or self._interval_used_s is None:
            raise RuntimeError(f"{self.name}: no voltage trace armed")
        interval_s, points, pretrigger, _ = self._trace
        post = points - pretrigger
        if timeout_s is None:
            timeout_s = self.resource.timeout / MS_PER_S + points * interval_s + FETCH_MARGIN_S
        saved_ms = self.resource.timeout
        self.resource.timeout = timeout_s * MS_PER_S
        try:
            reply = self.query("FETCh?", max_bytes=points * ASCII_VALUE_MAX_BYTES + MAX_REPLY_BYTES)
        finally:
            self.resource.timeout = saved_ms
        try:
            values = np.array([float(value) for value in reply.split(",")])
        except ValueError:
            raise InstrumentResponseError(self.name, "FETCh?", shown_reply(reply.encode()),
                                          "not comma-separated numbers") from None
        if not post <= values.size <= points:
            raise InstrumentResponseError(self.name, "FETCh?", f"{values.size} values",
                                          f"expected {post} to {points}")
        if np.any(np.abs(values) >= OVERLOAD_THRESHOLD):
            raise InstrumentResponseError(self.name, "FETCh?", "+9.91E+37", "over range in the trace")
        return self._interval_used_s, values.size - post, values

    def safe_state(self) -> None:
        """A voltmeter cannot hurt anyone: leave it idle (no acquisition pending)."""
        self.write("ABORt")
        self._mode = self._trace = None
