"""The accuracy sweep: output current and the unit's own readings over the test grid.

Runs normal sessions (the calibrated path a patient gets), in test mode only for the fast ramp
(`TEST:RAMP`), so a sweep of ~100 points takes seconds instead of minutes.

An uncalibrated unit decides its over-current cut-off on its own, uncalibrated reading, so a unit
inside the stated maxima may trip at any setpoint of the grid (grid.safe_uncalibrated). Given
`on_trip`, such a trip is the unit's as-found history, not a reason to stop: it is handed to
`on_trip` with the point the sweep was at, cleared, and the rest of that band (the setpoint and above,
same polarity and waveform) is left out.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable

from rig.dut.protocol import IDLE_STATES, TEST_RAMP_MAX_MA_PER_S, State, Waveform
from rig.metrology.decision import DecisionRule
from rig.metrology.uncertainty import MeterAccuracy, load_tolerance_component, reading_budget
from rig.procedures.acquire import (
    Reading,
    dc_acquisition,
    pulsed_acquisition,
    repeatability_samples,
    take_reading,
)
from rig.procedures.grid import GridPoint
from rig.procedures.points import MeasuredPoint, PointSink, Requirement, make_point
from rig.procedures.unit_events import UnitEventWatch, UnitFault
from rig.slot import OpenSlot
from rig.spec import ProductSpec
from rig.station import ModelFigures
from rig.units import MA_PER_A

SETTLE_TIME_CONSTANTS = 5  # a stated settling time is five time constants (instruments.md)
# During a ramp down the output lags the ramp by rate x tau; keep that lag under this share of the
# over-current margin, or the unit (rightly) trips on its own lagging current.
DOWN_RAMP_MARGIN_SHARE = 0.5
STOP_POLL_S = 0.005


def requirements(spec: ProductSpec) -> dict[str, Requirement]:
    return {
        "dc_accuracy": Requirement("dc_accuracy", spec.dc_accuracy.clause, "DC output accuracy"),
        "pulsed_accuracy": Requirement(
            "pulsed_accuracy", spec.pulsed_accuracy.clause, "Pulsed output accuracy (mean)"
        ),
        "reading_current": Requirement(
            "reading_current", spec.reading_current.clause, "Own current reading (MEAS?)"
        ),
        "reading_voltage": Requirement(
            "reading_voltage", spec.reading_voltage.clause, "Own voltage reading (MEAS?)"
        ),
    }


def current_meter(figures: ModelFigures, upper_a: float) -> MeterAccuracy:
    name, rng = figures.current_range_for(upper_a)
    return MeterAccuracy(rng.gain_pct, rng.offset_a * MA_PER_A, rng.resolution_a * MA_PER_A, "mA", name)


def voltage_meter(figures: ModelFigures, upper_v: float) -> MeterAccuracy:
    name, rng = figures.voltage_range_for(upper_v)
    return MeterAccuracy(rng.gain_pct, rng.offset_v, rng.resolution_v, "V", name)


def _band(point: GridPoint) -> tuple:
    """What a session keeps: polarity and waveform (with its shape)."""
    return (point.polarity, point.waveform, point.freq_hz, point.duty_pct)


def wait_until_idle(slot: OpenSlot, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while (state := slot.dut.state()).state not in IDLE_STATES:
        if state.state == State.FAULT:
            code, name = slot.dut.fault()
            raise UnitFault(f"unit {slot.dut.identity.serial} latched fault {code} {name} during the sweep",
                            f"!FAULT {code} {name}")
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"unit did not return to IDLE within {timeout_s:.2f} s after STOP (state {state.state})"
            )
        time.sleep(STOP_POLL_S)


class AccuracySweep:
    """One pass over the grid; each point is handed to the sink before the next is taken."""

    def __init__(
        self,
        slot: OpenSlot,
        spec: ProductSpec,
        rule: DecisionRule,
        phase: str,
        sink: PointSink,
        before_reading: Callable[[], None] = lambda: None,
        on_trip: Callable[[GridPoint, UnitFault], None] | None = None,
    ) -> None:
        self.slot, self.spec, self.rule, self.phase = slot, spec, rule, phase
        self.sink = sink
        # Runs right before each reading: a sink that commits in the background waits here, so each
        # point is stored before the next is taken while the commit overlaps the settling.
        self.before_reading = before_reading
        self.on_trip = on_trip
        self._tripped_at_ma: dict[tuple, float] = {}  # band -> setpoint where the unit tripped
        self.events = UnitEventWatch(slot.dut)
        ammeter_id = slot.station.slot(slot.number).ammeter.instrument
        self.figures = slot.station.figures(ammeter_id)
        self.current_meter = current_meter(self.figures, spec.setpoint.max_ma / MA_PER_A)
        voltmeter_id = slot.station.slot(slot.number).voltmeter.instrument
        self.voltage_meter = voltage_meter(slot.station.figures(voltmeter_id), spec.compliance.v_abs_max_v)
        load_id = slot.station.slot(slot.number).load.instrument
        self.load_figures = slot.station.figures(load_id)
        self.requirements = requirements(spec)
        self._setpoint_ma = 0.0
        self._rate_ma_per_s: float | None = None
        tau_s = slot.station.dut_figures().settle_s / SETTLE_TIME_CONSTANTS
        self.down_rate_ma_per_s = min(
            TEST_RAMP_MAX_MA_PER_S, DOWN_RAMP_MARGIN_SHARE * spec.overcurrent.margin_ma / tau_s
        )
        self._group: tuple | None = None  # (polarity, waveform, freq, duty) of the running session
        self._load_ohm: float | None = None

    def run(self, grid: Iterable[GridPoint]) -> list[MeasuredPoint]:
        """Every point in order; the output is off at the end, however the sweep ends."""
        taken: list[MeasuredPoint] = []
        try:
            for point in grid:
                if _band(point) in self._tripped_at_ma and point.setpoint_ma >= self._tripped_at_ma[_band(point)]:
                    continue
                try:
                    self.goto(point)
                    taken += self.measure(point)
                except UnitFault as exc:
                    if self.on_trip is None or not exc.is_overcurrent:
                        raise
                    self._after_trip(point, exc)
        finally:
            self.finish()
        return taken

    def _after_trip(self, point: GridPoint, fault: UnitFault) -> None:
        """Hand the trip on (stored before the sweep goes on), clear it, leave out the rest of the band."""
        self.on_trip(point, fault)
        self.slot.dut.clear()
        self.events.restart()
        self._tripped_at_ma[_band(point)] = point.setpoint_ma
        # The fault ended the session: the next point starts a new one.
        self._group, self._load_ohm, self._setpoint_ma = None, None, 0.0

    def goto(self, point: GridPoint) -> None:
        """Bring the unit and the load to a grid point from wherever they are, the safe way round:
        a new polarity or waveform ends the session first; a new load is switched with the output at
        the lower of the two setpoints."""
        dut = self.slot.dut
        group = _band(point)
        if group != self._group:
            self._end_session()
            self.slot.ammeter.set_current_range_a(self.spec.setpoint.max_ma / MA_PER_A)
            dut.test_on()
            dut.set_polarity(point.polarity)
            if point.waveform == Waveform.DC:
                dut.set_mode_dc()
            else:
                dut.set_mode_pulsed(point.freq_hz, point.duty_pct)
            self._rate_ma_per_s = None
            self._use_rate(TEST_RAMP_MAX_MA_PER_S)
            dut.set_current_ma(point.setpoint_ma)
            self.slot.load.set_resistance_ohm(point.load_ohm)
            dut.start()
            self._group, self._load_ohm = group, point.load_ohm
            time.sleep(self._ramp_s(0.0, point.setpoint_ma) + self.slot.settle_after_load_s)
            self._setpoint_ma = point.setpoint_ma
            return
        if point.load_ohm != self._load_ohm:
            self._set_setpoint(min(point.setpoint_ma, self._setpoint_ma))
            self.slot.load.set_resistance_ohm(point.load_ohm)
            self._load_ohm = point.load_ohm
            time.sleep(self.slot.settle_after_load_s)
        self._set_setpoint(point.setpoint_ma)

    def finish(self) -> None:
        """End the session and leave test mode; output off."""
        try:
            self._end_session()
        finally:
            self.slot.dut.output_off()

    def _end_session(self) -> None:
        if self._group is None:
            return
        self._group = None
        self._use_rate(self.down_rate_ma_per_s)
        self.slot.dut.stop()
        wait_until_idle(self.slot, self._ramp_s(self._setpoint_ma, 0.0) + 1.0)
        self._setpoint_ma = 0.0

    def _use_rate(self, rate_ma_per_s: float) -> None:
        if rate_ma_per_s != self._rate_ma_per_s:
            self.slot.dut.test_ramp(rate_ma_per_s)
            self._rate_ma_per_s = rate_ma_per_s

    def _ramp_s(self, from_ma: float, to_ma: float) -> float:
        rate = TEST_RAMP_MAX_MA_PER_S if to_ma > from_ma else self.down_rate_ma_per_s
        return abs(to_ma - from_ma) / rate

    def _set_setpoint(self, setpoint_ma: float) -> None:
        if math.isclose(setpoint_ma, self._setpoint_ma):
            return
        self._use_rate(TEST_RAMP_MAX_MA_PER_S if setpoint_ma > self._setpoint_ma else self.down_rate_ma_per_s)
        self.slot.dut.set_current_ma(setpoint_ma)
        time.sleep(self._ramp_s(self._setpoint_ma, setpoint_ma) + self.slot.settle_after_setpoint_s)
        self._setpoint_ma = setpoint_ma

    def measure(self, point: GridPoint) -> list[MeasuredPoint]:
        pulsed = point.waveform != Waveform.DC
        acquisition = pulsed_acquisition(self.figures, point.freq_hz) if pulsed else dc_acquisition(
            self.figures
        )
        self.before_reading()
        reading = take_reading(self.slot.ammeter, acquisition)
        dut_reading = None if pulsed else self.slot.dut.measure()
        self.events.check(f"the {self.phase.replace('_', '-')} sweep at {point.name}")
        made = [self._output_point(point, reading)]
        if dut_reading is not None:
            made += self._reading_points(point, reading, dut_reading)
        for p in made:
            self.sink(p)
        return made

    def _parameters(self, point: GridPoint) -> dict:
        params = {
            "polarity": point.polarity, "waveform": point.waveform, "load_ohm": point.load_ohm,
            "setpoint_ma": point.setpoint_ma,
        }
        if point.waveform != Waveform.DC:
            params |= {"freq_hz": point.freq_hz, "duty_pct": point.duty_pct}
        return params

    def _output_point(self, point: GridPoint, reading: Reading) -> MeasuredPoint:
        magnitude_ma = abs(reading.current_ma)
        expected = point.expected_mean_ma
        if point.waveform == Waveform.DC:
            req, tol = self.requirements["dc_accuracy"], self.spec.dc_accuracy.tolerance_ma(expected)
        else:
            req, tol = self.requirements["pulsed_accuracy"], self.spec.pulsed_accuracy.tolerance_ma(expected)
        in_compliance = magnitude_ma / MA_PER_A * point.load_ohm >= self.spec.compliance.v_max_nominal_v * (
            self.spec.dc_accuracy.max_fraction_of_v_max
        )
        load_line = load_tolerance_component(
            magnitude_ma / MA_PER_A, point.load_ohm, self.load_figures.tolerance_pct or 0.0,
            self.load_figures.tolerance_ohm or 0.0, in_compliance, result_unit="mA",
        )
        budget = reading_budget(
            "output current", magnitude_ma, self.current_meter,
            samples=repeatability_samples(reading, point.freq_hz), extra=(load_line,),
        )
        return make_point(
            phase=self.phase, requirement=req, name=point.name, parameters=self._parameters(point),
            measured=magnitude_ma, unit="mA", nominal=expected, lower=expected - tol, upper=expected + tol,
            budget=budget, rule=self.rule,
            raw={"voltage_v": reading.voltage_v, "window_s": reading.window_s,
                 "points": reading.acquisition.points},
        )

    def _reading_points(self, point: GridPoint, reading: Reading, dut_reading) -> list[MeasuredPoint]:
        truth_ma, truth_v = abs(reading.current_ma), abs(reading.voltage_v)
        i_tol = self.spec.reading_current.tolerance_ma(dut_reading.current_ma)
        v_tol = self.spec.reading_voltage.tolerance_v(dut_reading.voltage_v)
        i_budget = reading_budget("reading error (current)", truth_ma, self.current_meter,
                                  samples=repeatability_samples(reading, None))
        v_budget = reading_budget("reading error (voltage)", truth_v, self.voltage_meter)
        params = self._parameters(point)
        raw = {"dut_current_ma": dut_reading.current_ma, "dut_voltage_v": dut_reading.voltage_v,
               "analyzer_current_ma": truth_ma, "analyzer_voltage_v": truth_v}
        return [
            make_point(
                phase=self.phase, requirement=self.requirements["reading_current"],
                name=f"{point.name}-I", parameters=params, measured=dut_reading.current_ma - truth_ma,
                unit="mA", nominal=0.0, lower=-i_tol, upper=i_tol, budget=i_budget, rule=self.rule, raw=raw,
            ),
            make_point(
                phase=self.phase, requirement=self.requirements["reading_voltage"],
                name=f"{point.name}-V", parameters=params, measured=dut_reading.voltage_v - truth_v,
                unit="V", nominal=0.0, lower=-v_tol, upper=v_tol, budget=v_budget, rule=self.rule, raw=raw,
            ),
        ]
