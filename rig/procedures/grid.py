"""The test grid: which loads, setpoints, polarities and waveforms a sweep visits.

Derived from the product spec (test loads, accuracy domain) and the station's load (its power rating:
the rig must never ask a load for more than it can take).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from rig.spec import ProductSpec

POLARITIES = ("POS", "NEG")
# Setpoints spread over the accuracy range: both ends, and the decades between.
DC_SETPOINTS_MA = (0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0)
# Pulsed points: each end of the frequency range and the middle, each end of the duty range.
PULSE_SHAPES = ((100.0, 50.0), (1000.0, 10.0), (10000.0, 90.0))
PULSED_SETPOINTS_MA = (2.0, 10.0, 20.0)
PULSED_LOADS_OHM = (1000.0, 5000.0)


@dataclass(frozen=True)
class GridPoint:
    polarity: str
    waveform: str  # "DC" or "PULSED"
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
        shape = "DC" if self.waveform == "DC" else f"P{self.freq_hz:g}Hz{self.duty_pct:g}%"
        return f"{self.polarity}-{shape}-{self.load_ohm:g}ohm-{self.setpoint_ma:g}mA"


def load_power_ok(setpoint_ma: float, load_ohm: float, spec: ProductSpec, max_power_w: float) -> bool:
    """The load's dissipation at this point, including the case where the unit sits in compliance."""
    current_a = setpoint_ma / 1000.0
    if current_a * load_ohm > spec.compliance.v_abs_max_v:
        current_a = spec.compliance.v_abs_max_v / load_ohm
    return current_a * current_a * load_ohm <= max_power_w


def worst_uncalibrated_ma(setpoint_ma: float, spec: ProductSpec) -> float:
    """The most an uncalibrated unit may drive for a setpoint (spec's stated maximum errors)."""
    unc, nominal = spec.uncalibrated, spec.calibration_nominal
    full_scale_ma = nominal.dac_code_max / nominal.dac_gain
    bow_ma = unc.bow_pct_of_full_scale / 100.0 * full_scale_ma
    return setpoint_ma * (1.0 + unc.output_gain_pct / 100.0) + unc.output_offset_ma + bow_ma


def safe_uncalibrated(setpoint_ma: float, spec: ProductSpec) -> bool:
    """Whether an uncalibrated unit stays below its own over-current trip at this setpoint: as-found
    points above it would (rightly) trip the unit instead of measuring its error."""
    return worst_uncalibrated_ma(setpoint_ma, spec) < spec.overcurrent.threshold_ma(setpoint_ma)


def accuracy_grid(
    spec: ProductSpec,
    max_power_w: float,
    *,
    polarities: tuple[str, ...] = POLARITIES,
    include_pulsed: bool = True,
    uncalibrated: bool = False,
) -> list[GridPoint]:
    """Loads x setpoints x polarities x waveforms inside the spec's accuracy domain.

    `uncalibrated`: leave out the setpoints an uncalibrated unit could drive into its own
    over-current trip (see safe_uncalibrated).

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
                if uncalibrated and not safe_uncalibrated(sp, spec):
                    continue
                points.append(GridPoint(polarity, "DC", load, sp))
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
                    if uncalibrated and not safe_uncalibrated(sp, spec):
                        continue
                    points.append(GridPoint(polarity, "PULSED", load, sp, freq, duty))
    return points
