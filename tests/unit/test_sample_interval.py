"""The sample interval: an analyzer rounds the asked one to its resolution; the trace's time axis is the
one it reports (TINTerval?), and the procedures ask for whole multiples of the stated shortest interval."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from test_instruments import ANALYZER_IDN, FakeResource, _AcceptAll, _last_interval_set

from rig.instruments.analyzer import PowerAnalyzer
from rig.station import ModelFigures

TINT_QUERY = "SENSe:SWEep:TINTerval? (@1)"
N678X_RESOLUTION_S = 20.48e-6


def _rounding_analyzer(resolution_s: float, **dialect) -> FakeResource:
    """Rounds TINTerval to `resolution_s` multiples, as a N678xA does, and answers TINTerval?."""
    resource = FakeResource(ANALYZER_IDN, **dialect)
    resource.replies = _AcceptAll(resource.replies, {
        "FETCh:ARRay:CURRent? (@1)": "0.001,0.002,0.003,0.004",
        "FETCh:ARRay:VOLTage? (@2)": "1.0,2.0,3.0,4.0",
        TINT_QUERY: lambda: _last_interval_set(resource, resolution_s),
    })
    return resource


@pytest.mark.parametrize("compound", [True, False])
def test_trace_time_axis_is_the_interval_the_analyzer_reports(compound: bool) -> None:
    resource = _rounding_analyzer(N678X_RESOLUTION_S, compound=compound)
    analyzer = PowerAnalyzer(resource, "analyzer")
    analyzer.configure_roles()
    analyzer.arm_trace(100e-6, 4, pretrigger_points=1)  # 100 us: the analyzer uses 102.4 us
    trace = analyzer.fetch_trace()
    assert trace.interval_s == pytest.approx(102.4e-6, rel=1e-9)
    np.testing.assert_allclose(trace.time_s, np.array([-1, 0, 1, 2]) * 102.4e-6, rtol=1e-9)
    analyzer.arm_trace(0.5e-3, 4)  # 0.5 ms: 491.52 us
    assert analyzer.fetch_trace().interval_s == pytest.approx(491.52e-6, rel=1e-9)
    assert resource.queue == []


def test_interval_read_back_only_when_it_changed() -> None:
    resource = _rounding_analyzer(N678X_RESOLUTION_S)
    analyzer = PowerAnalyzer(resource, "analyzer")
    analyzer.arm_trace(100e-6, 4, immediate=True)
    analyzer.fetch_trace()
    before = len(resource.sent)
    analyzer.arm_trace(100e-6, 4, immediate=True)
    assert analyzer.fetch_trace().interval_s == pytest.approx(102.4e-6, rel=1e-9)
    assert TINT_QUERY not in [c.lstrip(":") for c in resource.sent[before:]]


def test_analyzer_refusing_the_query_uses_the_asked_interval_and_is_not_asked_again(caplog) -> None:
    caplog.set_level(logging.INFO)
    resource = _rounding_analyzer(N678X_RESOLUTION_S, refused=(TINT_QUERY,))
    analyzer = PowerAnalyzer(resource, "analyzer")
    analyzer.arm_trace(102.4e-6, 4)
    assert analyzer.fetch_trace().interval_s == pytest.approx(102.4e-6)
    analyzer.arm_trace(491.52e-6, 4)
    assert analyzer.fetch_trace().interval_s == pytest.approx(491.52e-6)
    assert sum(c.lstrip(":") == TINT_QUERY for c in resource.sent) == 1
    assert resource.queue == []
    assert sum("TINTerval?" in r.getMessage() for r in caplog.records) == 1


@pytest.mark.parametrize("wanted_s, expected_s", [
    (100e-6, 102.4e-6), (0.5e-3, 491.52e-6), (1e-3, 1003.52e-6), (5e-3, 4997.12e-6), (1e-6, 20.48e-6)])
def test_procedure_intervals_are_whole_multiples_of_the_shortest(wanted_s: float, expected_s: float) -> None:
    figures = ModelFigures(kind="analyzer", settle_s=0.0, sample_interval_min_s=N678X_RESOLUTION_S)
    chosen_s = figures.sample_interval_s(wanted_s)
    assert chosen_s == pytest.approx(expected_s, rel=1e-12)
    for resolution_s in (N678X_RESOLUTION_S, N678X_RESOLUTION_S / 2):  # both roundings keep it exact
        assert round(chosen_s / resolution_s) * resolution_s == pytest.approx(chosen_s, rel=1e-12)
    assert ModelFigures(kind="analyzer", settle_s=0.0).sample_interval_s(wanted_s) == wanted_s


@pytest.mark.parametrize("freq_hz", [100.0, 1000.0, 10000.0, 333.0])
def test_pulsed_acquisition_keeps_whole_periods_on_a_rounding_analyzer(freq_hz: float) -> None:
    from rig.procedures.acquire import MIN_PULSED_WINDOW_S, WINDOW_MATCH_REL, pulsed_acquisition
    from rig.station import default_models

    acquisition = pulsed_acquisition(default_models()["N6705C"], freq_hz)
    multiple = acquisition.interval_s / N678X_RESOLUTION_S
    assert multiple == pytest.approx(round(multiple), rel=1e-9)  # what the analyzer uses is what was asked
    periods = acquisition.window_s * freq_hz
    assert acquisition.window_s >= MIN_PULSED_WINDOW_S * (1 - 1e-9)
    if freq_hz != 333.0:  # 333 Hz has no whole-enough window within the bound: the nearest whole samples
        assert periods == pytest.approx(round(periods), rel=WINDOW_MATCH_REL)
        assert np.gcd(acquisition.points, round(periods)) == 1
    else:
        assert abs(periods - round(periods)) * (1 / freq_hz) <= acquisition.interval_s * 8
