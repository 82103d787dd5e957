"""Characterisation never asks the load for more than its rating, even of a unit far beyond the stated
maxima (seen: an uncorrectable unit's top code drove about 38 mA into 1 kOhm, the load opened at 1.3 W
and the run ended in an error instead of a FAIL naming the coefficient)."""

from __future__ import annotations

from rig.procedures.characterise import CURRENT_LOAD_OHM, extrapolated_ma, load_would_overheat
from rig.spec import load_spec

SPEC = load_spec()
LOAD_MAX_POWER_W = 1.0


def test_extrapolation_needs_two_codes():
    assert extrapolated_ma([], 100) is None
    assert extrapolated_ma([(50, 0.5)], 100) is None
    assert extrapolated_ma([(100, 1.0), (200, 2.0)], 400) == 4.0


def test_a_unit_30_percent_high_is_not_driven_past_the_loads_rating():
    # 1.3 mA per 120 counts (nominal 1 mA): the top code (about 27.8 mA nominal) would drive 36 mA,
    # 1.3 W into 1 kOhm.
    measured = [(55, 0.6), (110, 1.2)]
    top_code = 3331
    assert extrapolated_ma(measured, top_code) > 31.6
    assert load_would_overheat(measured, top_code, CURRENT_LOAD_OHM, SPEC, LOAD_MAX_POWER_W)


def test_a_unit_at_the_stated_maxima_is_driven_over_the_whole_plan():
    # +5 % gain and +0.3 mA offset plus the bow: about 29.6 mA at the top code, 0.88 W.
    measured = [(55, 0.78), (110, 1.26)]
    assert not load_would_overheat(measured, 3331, CURRENT_LOAD_OHM, SPEC, LOAD_MAX_POWER_W)
