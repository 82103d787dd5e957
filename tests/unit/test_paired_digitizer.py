"""The ammeter's trace with a separate voltmeter's on its time base (rig/instruments/paired.py), with
stand-ins for the two instruments: which trigger each gets, and a voltage record that falls short."""

from __future__ import annotations

import numpy as np
import pytest

from rig.instruments.analyzer import Trace
from rig.instruments.errors import InstrumentError
from rig.instruments.paired import PairedDigitizer


class Ammeter:
    name = "ammeter pa1"

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.armed: tuple | None = None

    def enable_trigger_out(self, pin: int) -> None:
        self.calls.append(f"trigger out {pin}")

    def arm_trace(self, interval_s, points, *, pretrigger_points=0, trigger="BUS", level_a=None, slope="POS"):
        self.armed = (interval_s, points, pretrigger_points)
        self.calls.append(f"arm {trigger}")

    def trigger_now(self) -> None:
        self.calls.append("TRIG:ACQ")

    def bus_trigger(self) -> None:
        self.calls.append("*TRG")

    def fetch_trace(self, *, with_voltage=True, timeout_s=None) -> Trace:
        interval_s, points, pre = self.armed
        return Trace(interval_s, pre, np.full(points, 0.005), None)

    def measure_current_a(self) -> float:
        return 0.005


class Voltmeter:
    name = "voltmeter dmm1"

    def __init__(self, shortfall_s: float = 0.0) -> None:
        self.shortfall_s = shortfall_s
        self.trigger: str | None = None
        self.record: tuple | None = None

    def arm_voltage_trace(self, interval_s, *, before_s, after_s, trigger="BUS") -> None:
        self.trigger = trigger
        self.record = (interval_s, round(before_s / interval_s), round((after_s - self.shortfall_s) / interval_s))

    def trigger_now(self) -> None:
        pass

    def fetch_voltage_trace(self, timeout_s=None):
        interval_s, pre, post = self.record
        return interval_s, pre, np.full(pre + post, 10.0)


def test_with_a_trigger_line_one_bus_trigger_starts_both_and_the_meter_waits_for_the_edge():
    ammeter, voltmeter = Ammeter(), Voltmeter()
    paired = PairedDigitizer(ammeter, voltmeter, trigger_pin=1, trigger_latency_s=3e-6)
    paired.arm_trace(1e-3, 50, pretrigger_points=10)
    paired.trigger_now()
    trace = paired.fetch_trace()
    assert ammeter.calls == ["trigger out 1", "arm BUS", "*TRG"] and voltmeter.trigger == "EXTERNAL"
    assert (trace.alignment_method, trace.alignment_half_width_s) == ("hardware trigger", 1.5e-6)
    assert trace.current_a.size == 50 and trace.pretrigger_points == 10
    np.testing.assert_array_equal(trace.voltage_v, 10.0)
    assert paired.measure_current_a() == 0.005  # the rest is the ammeter's


def test_without_a_trigger_line_each_is_triggered_by_a_command_and_timestamped():
    ammeter, voltmeter = Ammeter(), Voltmeter()
    paired = PairedDigitizer(ammeter, voltmeter)
    paired.arm_trace(1e-3, 50, pretrigger_points=10, immediate=True)
    trace = paired.fetch_trace()
    assert ammeter.calls == ["arm BUS", "TRIG:ACQ"] and voltmeter.trigger == "BUS"
    assert trace.alignment_method == "trigger timestamps" and trace.alignment_half_width_s >= 0.0


def test_a_level_triggered_trace_is_the_ammeters_alone():
    ammeter, voltmeter = Ammeter(), Voltmeter()
    paired = PairedDigitizer(ammeter, voltmeter)
    paired.arm_trace(1e-3, 50, trigger="CURRENT", level_a=0.01)
    assert voltmeter.record is None and paired.fetch_trace().voltage_v is None


def test_a_voltage_record_short_of_the_current_trace_is_an_error_not_a_shorter_trace():
    paired = PairedDigitizer(Ammeter(), Voltmeter(shortfall_s=0.02), trigger_pin=1)
    paired.arm_trace(1e-3, 50, pretrigger_points=10)
    paired.trigger_now()
    with pytest.raises(InstrumentError, match="voltmeter dmm1.*covers current samples"):
        paired.fetch_trace()
