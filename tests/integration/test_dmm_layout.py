"""The voltmeter on a DMM of its own, end to end against the virtual bench (`rig bench --layout dmm` and
`dmm-no-trigger`): the 34465A driver's readings against the emulation, a reading window kept whole, and
the two instruments' traces on one time base (the load opened: the current falls and the voltage rises
at one instant of the circuit, so both edges must coincide within the alignment's stated half-width).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np
import pytest

from rig.instruments.alignment import HARDWARE_TRIGGER, TIMESTAMPS
from rig.procedures.acquire import pulsed_acquisition, take_reading
from rig.procedures.cutoffs.trace_analysis import crossing_time
from rig.slot import OpenSlot, open_slot
from rig.virtual_bench import VirtualBenchProcess

SETPOINT_MA = 5.0
LOAD_OHM = 2000.0
FAST_RAMP_MA_PER_S = 1000.0
SETTLE_S = 0.05
# Stated accuracies (instruments.md section 1; the model table's 34465A, 100 V range) at about 10 V.
ANALYZER_VOLTAGE_V = 0.0003 * 10.0 + 0.010
DMM_VOLTAGE_V = 0.000040 * 10.0 + 0.0006
INTERVAL_S = 200e-6
METHODS = {"dmm": HARDWARE_TRIGGER, "dmm-no-trigger": TIMESTAMPS}


@pytest.fixture(scope="module", params=sorted(METHODS))
def layout_slot(request) -> Iterator[tuple[str, OpenSlot]]:
    with VirtualBenchProcess(slots=1, layout=request.param) as bench:
        with open_slot(bench.station, 1) as slot:
            yield request.param, slot


@pytest.fixture
def session(layout_slot) -> Iterator[tuple[str, OpenSlot]]:
    """A unit driving 5 mA into 2 kohm (about 10 V), settled; afterwards output off, no fault latched."""
    layout, slot = layout_slot
    dut = slot.dut
    slot.load.set_resistance_ohm(LOAD_OHM)
    dut.set_polarity("POS")
    dut.set_mode_dc()
    dut.test_on()
    dut.test_ramp(FAST_RAMP_MA_PER_S)
    dut.set_current_ma(SETPOINT_MA)
    dut.start()
    time.sleep(SETPOINT_MA / FAST_RAMP_MA_PER_S + SETTLE_S)
    yield layout, slot
    slot.make_safe()
    if dut.state().state == "FAULT":
        dut.clear()


def test_the_dmm_reads_what_the_analyzer_channel_reads_within_their_stated_accuracies(session):
    _, slot = session
    dmm_v = slot.ammeter.measure_voltage_v()
    # The bench's analyzer still emulates its channel 2 as a voltmeter: the second opinion.
    analyzer_v = slot.ammeter.ammeter.query_float("MEASure:VOLTage? (@2)")
    # And Ohm's law through the load (its tolerance 0.1 % + 0.5 ohm, the ammeter's 0.025 % + 8 uA).
    assert dmm_v == pytest.approx(slot.ammeter.measure_current_a() * LOAD_OHM, rel=0.005)
    assert abs(dmm_v - analyzer_v) <= ANALYZER_VOLTAGE_V + DMM_VOLTAGE_V


def test_a_reading_keeps_every_sample_of_its_window(session):
    """A pulsed reading's window is whole pulse periods of 20.48 us samples; the DMM's timer runs in
    1 us steps, and its record must still cover the whole window (it once cut it to 97.7 %)."""
    _, slot = session
    figures = slot.station.figures(slot.station.slot(1).ammeter.instrument)
    acquisition = pulsed_acquisition(figures, 100.0)
    reading = take_reading(slot.ammeter, acquisition)
    assert reading.current_samples_ma.size == acquisition.points
    assert reading.voltage_v == pytest.approx(reading.current_ma * LOAD_OHM / 1000, rel=0.002)


def test_a_pulse_train_is_sampled_at_every_phase_by_both_meters(layout_slot):
    """10 kHz at 90 %: a 100 us period. A DMM timer of 20 us (the analyzer's 20.48 us in 1 us steps) is a
    fifth of it: five fixed phases, which see the 10 us gap once or not at all (a mean of 80 % or 100 %
    of the pulse, it read 20.0 V for 18 V). The voltage mean must be the current mean through the load."""
    _, slot = layout_slot
    dut = slot.dut
    slot.load.set_resistance_ohm(LOAD_OHM)
    try:
        dut.set_polarity("POS")
        dut.set_mode_pulsed(10000.0, 90.0)
        dut.test_on()
        dut.test_ramp(FAST_RAMP_MA_PER_S)
        dut.set_current_ma(SETPOINT_MA)
        dut.start()
        time.sleep(SETPOINT_MA / FAST_RAMP_MA_PER_S + SETTLE_S)
        figures = slot.station.figures(slot.station.slot(1).ammeter.instrument)
        reading = take_reading(slot.ammeter, pulsed_acquisition(figures, 10000.0))
    finally:
        slot.make_safe()
        dut.set_mode_dc()
    assert reading.current_ma == pytest.approx(0.9 * SETPOINT_MA, rel=0.1)  # pulsing (uncalibrated unit)
    assert reading.voltage_v == pytest.approx(reading.current_ma * LOAD_OHM / 1000, rel=0.005)


def test_the_load_opening_shows_at_one_instant_on_both_traces(session):
    layout, slot = session
    before, after = 100, 100
    slot.ammeter.arm_trace(INTERVAL_S, before + after, pretrigger_points=before)
    time.sleep(0.005)
    slot.load.open_circuit()  # the current falls to zero and the voltage rises to compliance at once
    time.sleep(0.005)
    slot.ammeter.trigger_now()
    trace = slot.ammeter.fetch_trace()
    assert trace.alignment_method == METHODS[layout]
    t = trace.time_s
    current_edge_s = crossing_time(t, trace.current_a * 1000, SETPOINT_MA / 2, rising=False)
    voltage_edge_s = crossing_time(t, trace.voltage_v, 30.0, rising=True)
    assert np.isfinite(current_edge_s) and np.isfinite(voltage_edge_s)
    # Both crossings are interpolated within a sample of the edge; the alignment adds its half-width.
    assert abs(voltage_edge_s - current_edge_s) <= 2 * INTERVAL_S + trace.alignment_half_width_s
