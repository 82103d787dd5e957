"""Characterisation: the raw output (TEST:DAC codes) and raw readings (TEST:ADC?) against the analyzer.

Calibration is bypassed in this mode, so the codes are chosen from the nominal coefficients and the
spec's worst uncalibrated errors such that even the most generous unit stays below the absolute
over-current limit (a raw code is only guarded by that limit, dut-protocol.md section 3), which the
unit compares with its own reading: output high and reading high. A unit beyond the maxima may still
trip; the codes from there on are left out for that polarity (the fit uses what was measured, and its
coefficients then name what is out of bounds).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from rig.dut.protocol import POLARITIES
from rig.procedures.acquire import dc_acquisition, take_reading
from rig.procedures.grid import load_power_ok, max_nominal_read_below
from rig.procedures.unit_events import UnitEventWatch, UnitFault
from rig.slot import OpenSlot
from rig.spec import ProductSpec
from rig.units import MA_PER_A

log = logging.getLogger(__name__)

# Characterise where the output is a pure current source: at this load the largest current stays far
# from compliance; a second, higher load spreads the voltage readings over the range in use.
CURRENT_LOAD_OHM = 1000.0
VOLTAGE_LOAD_OHM = 10000.0
CURRENT_FRACTIONS = (0.0167, 0.033, 0.067, 0.167, 0.33, 0.5, 0.67, 0.83, 1.0)  # of the safe maximum
VOLTAGE_TARGETS_FRACTION_OF_V_MAX = (0.5, 0.9)
MARGIN_MA = 0.5  # kept from the absolute over-current limit on top of the worst-case unit reading


@dataclass(frozen=True)
class RawPoint:
    polarity: str
    load_ohm: float
    dac_code: int
    true_ma: float  # analyzer, magnitude
    true_v: float  # analyzer, magnitude
    i_code: int
    v_code: int


def safe_max_nominal_ma(spec: ProductSpec) -> float:
    """The highest nominal current a raw code may ask for: a worst-case uncalibrated unit's reading
    of it stays MARGIN_MA below the absolute over-current limit."""
    return min(spec.setpoint.max_ma, max_nominal_read_below(spec.overcurrent.absolute_ma - MARGIN_MA, spec))


def code_for(spec: ProductSpec, nominal_ma: float) -> int:
    nominal = spec.calibration_nominal
    return int(round(nominal.dac_gain * nominal_ma + nominal.dac_offset))


def characterisation_plan(spec: ProductSpec) -> list[tuple[float, int]]:
    """(load, code) pairs per polarity: the current sweep, then the voltage points."""
    top_ma = safe_max_nominal_ma(spec)
    plan = [(CURRENT_LOAD_OHM, code_for(spec, f * top_ma)) for f in CURRENT_FRACTIONS]
    v_max = spec.compliance.v_max_nominal_v
    for fraction in VOLTAGE_TARGETS_FRACTION_OF_V_MAX:
        # aim below compliance even for a unit whose output is at its worst high gain
        worst_gain = 1.0 + spec.uncalibrated.output_gain_pct / 100.0
        target_ma = fraction * v_max / VOLTAGE_LOAD_OHM * MA_PER_A / worst_gain
        plan.append((VOLTAGE_LOAD_OHM, code_for(spec, target_ma)))
    return plan


def extrapolated_ma(measured: list[tuple[int, float]], code: int) -> float | None:
    """The current a code will drive, on the line through the last two codes measured at this load
    (None before two are): how a unit beyond the stated maxima is seen coming before it is driven."""
    if len(measured) < 2:
        return None
    (code0, ma0), (code1, ma1) = measured[-2], measured[-1]
    if code1 == code0:
        return None
    return ma1 + (ma1 - ma0) / (code1 - code0) * (code - code1)


def load_would_overheat(measured: list[tuple[int, float]], code: int, load_ohm: float, spec: ProductSpec,
                        max_power_w: float) -> bool:
    """Whether driving `code` into the load would ask it for more than its rating (a unit far beyond
    the stated maxima; the plan keeps a unit inside them within it). The load opens above its rating:
    the rig must never ask for that, so such a code is left out, like a code that trips the unit."""
    predicted_ma = extrapolated_ma(measured, code)
    return predicted_ma is not None and not load_power_ok(predicted_ma, load_ohm, spec, max_power_w)


def characterise(
    slot: OpenSlot,
    spec: ProductSpec,
    on_point: Callable[[RawPoint], None] = lambda p: None,
    before_reading: Callable[[], None] = lambda: None,
    on_trip: Callable[[str, float, int, UnitFault], None] | None = None,
) -> list[RawPoint]:
    """Drive each planned code in test mode, read the analyzer and the unit's ADC codes.
    `before_reading` runs before each reading (the run's barrier: the previous point is stored).
    `on_trip(polarity, load_ohm, code, fault)`: given, an over-current trip (a unit beyond the stated
    maxima) is handed to it and cleared, and that polarity's codes from there up are left out;
    without it, the trip stops the characterisation."""
    dut, figures = slot.dut, slot.station.figures(slot.station.slot(slot.number).ammeter.instrument)
    max_power_w = slot.station.figures(slot.station.slot(slot.number).load.instrument).max_power_w
    acquisition = dc_acquisition(figures)
    slot.ammeter.set_current_range_a(spec.setpoint.max_ma / MA_PER_A)
    plan = characterisation_plan(spec)
    points: list[RawPoint] = []
    dut.test_on()
    events = UnitEventWatch(dut)
    try:
        for polarity in POLARITIES:
            dut.test_dac(0)
            dut.set_polarity(polarity)
            dut.set_mode_dc()  # a raw code drives the waveform in force: a pulsed one would read low
            current_load = None
            tripped_code: int | None = None
            measured: dict[float, list[tuple[int, float]]] = {}
            for load, code in plan:
                if tripped_code is not None and code >= tripped_code:
                    continue
                if max_power_w is not None and load_would_overheat(measured.get(load, []), code, load, spec,
                                                                   max_power_w):
                    log.warning("characterisation %s: code %d at %g ohm left out: the unit's output line"
                                " would take the load past its %g W rating", polarity, code, load, max_power_w)
                    tripped_code = code
                    continue
                if load != current_load:
                    dut.test_dac(0)
                    slot.load.set_resistance_ohm(load)
                    current_load = load
                dut.test_dac(code)
                time.sleep(slot.settle_after_setpoint_s)
                before_reading()
                reading = take_reading(slot.ammeter, acquisition)
                i_code, v_code = dut.test_adc()
                try:
                    events.check(f"characterisation at code {code} ({polarity}, {load:g} ohm)")
                except UnitFault as exc:
                    if on_trip is None or not exc.is_overcurrent:
                        raise
                    on_trip(polarity, load, code, exc)
                    dut.clear()
                    events.restart()
                    tripped_code = code
                    continue
                point = RawPoint(polarity, load, code, abs(reading.current_ma), abs(reading.voltage_v),
                                 i_code, v_code)
                points.append(point)
                measured.setdefault(load, []).append((code, point.true_ma))
                on_point(point)
            dut.test_dac(0)
    finally:
        dut.output_off()
    return points


def as_arrays(points: list[RawPoint], polarity: str, load_ohm: float | None = None) -> dict[str, np.ndarray]:
    chosen = [p for p in points if p.polarity == polarity and (load_ohm is None or p.load_ohm == load_ohm)]
    return {
        "dac_code": np.array([p.dac_code for p in chosen], dtype=float),
        "true_ma": np.array([p.true_ma for p in chosen]),
        "true_v": np.array([p.true_v for p in chosen]),
        "i_code": np.array([p.i_code for p in chosen], dtype=float),
        "v_code": np.array([p.v_code for p in chosen], dtype=float),
    }
