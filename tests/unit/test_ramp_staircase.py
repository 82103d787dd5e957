"""A unit may ramp in steps of its setpoint resolution (the documents allow it); the soft-start rate
read off such a staircase must still be the configured rate. Seen on a bench variant with 0.1 mA
steps: 0.42 mA/s read for a 0.5 mA/s ramp (a FAIL of a healthy unit), the fit spanning 1.5 steps."""

from __future__ import annotations

import numpy as np
import pytest

from rig.procedures.cutoffs import ramp
from rig.procedures.cutoffs.trace_analysis import fit_between_levels
from rig.spec import load_spec

SPEC = load_spec()
INTERVAL_S = 0.001
STEP_MA = SPEC.setpoint.resolution_ma


@pytest.mark.parametrize("rate_ma_per_s", ramp.rates(SPEC))
@pytest.mark.parametrize("phase", [0.0, 0.25, 0.5, 0.75])
def test_rate_read_off_a_staircase_ramp_is_the_configured_rate(rate_ma_per_s, phase):
    setpoint_ma = ramp.setpoint_for(SPEC, rate_ma_per_s)
    t = np.arange(0.0, setpoint_ma / rate_ma_per_s + 0.2, INTERVAL_S)
    i_ma = np.minimum(np.floor(rate_ma_per_s * t / STEP_MA + phase) * STEP_MA, setpoint_ma)
    fit = fit_between_levels(t, i_ma, ramp.fit_low_ma(SPEC), ramp.FIT_HIGH_FRACTION * setpoint_ma, rising=True,
                             smooth_window=ramp.SMOOTH_SAMPLES)
    assert fit.slope == pytest.approx(rate_ma_per_s, rel=0.02)
