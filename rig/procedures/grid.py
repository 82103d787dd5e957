"""The test grid: which loads, setpoints, polarities and waveforms a sweep visits.

Derived from the product spec (test loads, accuracy domain) and the station's load (its power rating:
the rig must never ask a load for more than it can take).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from rig.dut.protocol import POLARITIES, Waveform
from rig.spec import ProductSpec
from rig.units import MA_PER_A

# Setpoints spread over the accuracy range: both ends, and the decades between.
DC_SETPOINTS_MA = (0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0)
# Pulsed points: each end of the frequency range and the middle, each end of the duty range.
PULSE_SHAPES = ((100.0, 50.0), (1000.0, 10.0), (10000.0, 90.0))
PULSED_SETPOINTS_MA = (2.0, 10.0, 20.0)
PULSED_LOADS_OHM = (1000.0, 5000.0)


@dataclass(frozen=True)
class GridPoint:
    polarity: str
    waveform: str  # Waveform.DC or Waveform.PULSED
    load_ohm: float
    setpoint_ma: float
    freq_hz: float | None = None
    duty_pct: float | None = None

    @property
    def expected_mean_ma(self) -> float:
        """What the analyzer should read: the setpoint, times the duty cycle when pulsed."""
        duty = 1.0 if self.duty_pct is None else self.duty_pct / 100.0
        return self.setpoint_ma * duty

    @property
    def name(self) -> str:
        shape = Waveform.DC.value if self.waveform == Waveform.DC else f"P{self.freq_hz:g}Hz{self.duty_pct:g}%"
        return f"{self.polarity}-{shape}-{self.load_ohm:g}ohm-{self.setpoint_ma:g}mA"


def load_power_ok(setpoint_ma: float, load_ohm: float, spec: ProductSpec, max_power_w: float) -> bool:
    """The load's dissipation at this point, including the case where the unit sits in compliance."""
    current_a = setpoint_ma / 1000.0
    if current_a * load_ohm > spec.compliance.v_abs_max_v:
        current_a = spec.compliance.v_abs_max_v / load_ohm
    return current_a * current_a * load_ohm <= max_power_w


def _bow_ma(spec: ProductSpec) -> float:
    nominal = spec.calibration_nominal
    full_scale_ma = nominal.dac_code_max / nominal.dac_gain
    return spec.uncalibrated.bow_pct_of_full_scale / 100.0 * full_scale_ma


def worst_uncalibrated_ma(setpoint_ma: float, spec: ProductSpec) -> float:
    """The most an uncalibrated unit may drive for a setpoint (spec's stated maximum errors)."""
    unc = spec.uncalibrated
    return setpoint_ma * (1.0 + unc.output_gain_pct / 100.0) + unc.output_offset_ma + _bow_ma(spec)


def worst_uncalibrated_reading_ma(setpoint_ma: float, spec: ProductSpec) -> float:
    """The highest current reading an uncalibrated unit may report for a setpoint: its output at its
    highest, read by a reading path at its highest (dut-protocol.md section 1: the unit compares this
    reading, not the true current, with its over-current threshold). Either sign, either polarity:
    the maxima are magnitudes. No overshoot term: the as-found sweep only ramps up to a setpoint
    (first-order settling from below, instruments.md section 3) and never takes the unit out of
    compliance (its grid leaves out the points where such a unit could reach it)."""
    unc = spec.uncalibrated
    return worst_uncalibrated_ma(setpoint_ma, spec) * (1.0 + unc.reading_gain_pct / 100.0) + unc.reading_offset_ma


def max_nominal_read_below(limit_ma: float, spec: ProductSpec) -> float:
    """The highest nominal current whose worst uncalibrated reading stays at or below `limit_ma`
    (worst_uncalibrated_reading_ma inverted): what a raw DAC code may ask for under an absolute limit."""
    unc = spec.uncalibrated
    output_ma = (limit_ma - unc.reading_offset_ma) / (1.0 + unc.reading_gain_pct / 100.0)
    return (output_ma - unc.output_offset_ma - _bow_ma(spec)) / (1.0 + unc.output_gain_pct / 100.0)


def safe_uncalibrated(setpoint_ma: float, spec: ProductSpec) -> bool:
    """Whether every unit inside the stated uncalibrated maxima reads below its own over-current
    threshold at this setpoint. At the maxima no setpoint of the grid is (the output's +5 % +0.3 mA
    read +3 % +0.1 mA exceeds both the 10 % and the 0.5 mA margin), so the as-found sweep cannot
    avoid trips by leaving points out: it records a trip as a finding of the unit (AccuracySweep).
    A trip where this is True shows errors beyond the stated maxima."""
    return worst_uncalibrated_reading_ma(setpoint_ma, spec) < spec.overcurrent.threshold_ma(setpoint_ma)


def compliance_free_uncalibrated(setpoint_ma: float, load_ohm: float, spec: ProductSpec) -> bool:
    """Whether a unit at the stated maxima stays below the compliance voltage at this point. In
    compliance its output is voltage-limited (no accuracy to find), and leaving compliance re-ramps
    with an overshoot the spec allows (up to 0.5 mA for 10 ms, longer than the cut-off's 5 ms)."""
    return worst_uncalibrated_ma(setpoint_ma, spec) / MA_PER_A * load_ohm < (
        spec.dc_accuracy.max_fraction_of_v_max * spec.compliance.v_max_nominal_v)


def accuracy_grid(
    spec: ProductSpec,
    max_power_w: float,
    *,
    polarities: tuple[str, ...] = POLARITIES,
    include_pulsed: bool = True,
    uncalibrated: bool = False,
) -> list[GridPoint]:
    """Loads x setpoints x polarities x waveforms inside the spec's accuracy domain.

    `uncalibrated`: leave out the points where an uncalibrated unit could reach compliance (see
    compliance_free_uncalibrated). Over-current trips on the unit's own reading cannot be planned
    away (see safe_uncalibrated): the as-found sweep records them as findings.

    Ordered for the bench: per polarity and waveform, setpoints ascending and, at each setpoint, the
    loads ascending. The output then only ramps up within a session: a ramp down passes through the
    band where an uncalibrated unit's errors exceed the over-current margin (it would trip), and a
    load is switched at a setpoint valid for both loads (no compliance, no loss-of-contact risk).
    """
    points: list[GridPoint] = []
    finite_loads = [r for r in spec.test_loads.all_ohms() if math.isfinite(r)]
    for polarity in polarities:
        for sp in DC_SETPOINTS_MA:
            for load in finite_loads:
                if not (spec.in_dc_accuracy_domain(sp, load) and load_power_ok(sp, load, spec, max_power_w)):
                    continue
                if uncalibrated and not compliance_free_uncalibrated(sp, load, spec):
                    continue
                points.append(GridPoint(polarity, Waveform.DC, load, sp))
        if not include_pulsed:
            continue
        pulsed = spec.pulsed_accuracy
        for freq, duty in PULSE_SHAPES:
            if not (pulsed.freq_min_hz <= freq <= pulsed.freq_max_hz):
                continue
            if not (pulsed.duty_min_pct <= duty <= pulsed.duty_max_pct):
                continue
            for sp in PULSED_SETPOINTS_MA:
                for load in PULSED_LOADS_OHM:
                    if not (spec.in_dc_accuracy_domain(sp, load) and load_power_ok(sp, load, spec, max_power_w)):
                        continue
                    if uncalibrated and not compliance_free_uncalibrated(sp, load, spec):
                        continue
                    points.append(GridPoint(polarity, Waveform.PULSED, load, sp, freq, duty))
    return points
