"""Two instruments' traces on one time base (rig/instruments/alignment.py), the alignment's line in the
cut-off budgets, and the station file's trigger line."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rig.instruments.alignment import (
    HARDWARE_TRIGGER,
    TIMESTAMPS,
    Alignment,
    align_onto,
    from_hardware_trigger,
    from_timestamps,
    same_instrument,
)
from rig.instruments.analyzer import Trace
from rig.procedures.cutoffs.budgets import alignment_components, interval_budget
from rig.station import StationError, parse_station


def test_timestamps_offset_is_the_difference_of_the_window_middles_within_half_their_widths():
    # The current trigger went out somewhere in [10.000, 10.002] s, the voltage one in [10.002, 10.005] s.
    found = from_timestamps((10.000, 10.002), (10.002, 10.005))
    assert found.method == TIMESTAMPS
    assert found.offset_s == pytest.approx(0.0025)
    assert found.half_width_s == pytest.approx(0.0025)
    # Every pair of instants inside the windows lies inside the stated limits.
    for c in (10.000, 10.001, 10.002):
        for v in (10.002, 10.0035, 10.005):
            assert abs((v - c) - found.offset_s) <= found.half_width_s + 1e-12


def test_timestamps_refuse_a_window_that_ends_before_it_starts():
    with pytest.raises(ValueError, match="ends before it starts"):
        from_timestamps((2.0, 1.0), (2.0, 3.0))


def test_hardware_trigger_puts_the_first_sample_anywhere_within_the_stated_latency():
    found = from_hardware_trigger(3e-6)
    assert found.method == HARDWARE_TRIGGER
    assert (found.offset_s - found.half_width_s, found.offset_s + found.half_width_s) == pytest.approx((0.0, 3e-6))
    assert same_instrument().half_width_s == 0.0


def test_a_voltage_record_at_another_interval_and_offset_lands_on_the_current_time_base():
    # The true voltage is a ramp v(t) = 40 V/s * t on the current trace's axis. The voltmeter samples it
    # every 20 us (the current every 20.48 us) and its trigger sample is 1 ms after the current's.
    current_t = (np.arange(500) - 100) * 20.48e-6
    voltage_t = (np.arange(700) - 20) * 20e-6  # relative to its own trigger sample: starts 0.6 ms after 0
    offset_s = 1e-3
    voltage = 40.0 * (voltage_t + offset_s)
    span = align_onto(current_t, voltage_t, voltage, Alignment(TIMESTAMPS, offset_s, 0.0))
    covered = current_t[span.first:span.stop]
    assert covered[0] >= voltage_t[0] + offset_s and covered[-1] <= voltage_t[-1] + offset_s
    np.testing.assert_allclose(span.voltage_v, 40.0 * covered, atol=1e-12)
    # The current samples before the voltage record began are outside the span, none after.
    assert span.first == int(np.ceil((voltage_t[0] + offset_s - current_t[0]) / 20.48e-6)) == 130
    assert span.stop == current_t.size


def test_a_wrong_offset_shows_as_a_shifted_edge():
    current_t = np.arange(1000) * 1e-4
    voltage_t = np.arange(1000) * 1e-4
    step = (voltage_t >= 0.05).astype(float) * 60.0  # a 60 V step at 50 ms on the voltmeter's own axis
    span = align_onto(current_t, voltage_t, step, Alignment(TIMESTAMPS, 0.002, 0.0))
    edge_s = current_t[span.first:span.stop][np.argmax(span.voltage_v > 30.0)]
    assert edge_s == pytest.approx(0.052, abs=1e-4)


def test_records_that_do_not_overlap_are_refused():
    with pytest.raises(ValueError, match="does not overlap"):
        align_onto(np.arange(10) * 1.0, np.arange(10) * 1.0, np.zeros(10), Alignment(TIMESTAMPS, 100.0, 0.0))


def _trace(method: str, half_width_s: float) -> Trace:
    return Trace(1e-3, 0, np.zeros(4), np.zeros(4), method, half_width_s)


def test_the_alignment_enters_a_budget_only_when_the_voltage_came_from_another_instrument():
    assert alignment_components(_trace("one instrument", 0.0), "output off") == []
    lines = alignment_components(_trace(TIMESTAMPS, 1.5e-3), "output off")
    assert len(lines) == 1 and TIMESTAMPS in lines[0].name
    assert lines[0].standard_uncertainty == pytest.approx(1.5e-3 / math.sqrt(3))
    # Through a slope (mA/s) into a level budget.
    (level,) = alignment_components(_trace(HARDWARE_TRIGGER, 1.5e-6), "load step", per_s=-2000.0)
    assert level.standard_uncertainty == pytest.approx(1.5e-6 * 2000.0 / math.sqrt(3))
    # And it widens an interval budget.
    plain = interval_budget("t", [])
    aligned = interval_budget("t", lines)
    assert aligned.combined_standard > plain.combined_standard


def _station(trigger_line: dict | None) -> dict:
    slot = {"slot": 1, "dut": "/dev/null", "ammeter": {"instrument": "pa", "channel": 1},
            "voltmeter": {"instrument": "dmm"}, "load": {"instrument": "rl"}}
    if trigger_line is not None:
        slot["trigger_line"] = trigger_line
    return {"name": "line-3", "instruments": [
        {"id": "pa", "model": "N6705C", "serial": "S1", "resource": "TCPIP::a::5025::SOCKET"},
        {"id": "dmm", "model": "34465A", "serial": "S2", "resource": "TCPIP::b::5025::SOCKET"},
        {"id": "rl", "model": "RDEC-1M", "serial": "S3", "resource": "TCPIP::c::5025::SOCKET"},
    ], "slots": [slot]}


def test_a_station_declares_the_trigger_line_from_the_ammeter_to_the_voltmeter():
    station = parse_station(_station({"from": "pa", "pin": 1, "to": "dmm"}), "line-3.toml")
    line = station.slot(1).trigger_line
    assert (line.from_instrument, line.pin, line.to_instrument) == ("pa", 1, "dmm")
    assert station.figures("dmm").trigger_latency_s == pytest.approx(3e-6)
    assert parse_station(_station(None), "line-3.toml").slot(1).trigger_line is None


def test_a_trigger_line_between_other_instruments_is_refused_naming_the_field():
    with pytest.raises(StationError) as caught:
        parse_station(_station({"from": "dmm", "pin": 1, "to": "pa"}), "line-3.toml")
    message = str(caught.value)
    assert "line-3.toml" in message and "trigger_line" in message and "ammeter ('pa')" in message
