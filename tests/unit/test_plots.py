"""Plots: the error each point shows, the tolerance band taken from the spec, PNG output."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rig.records import plots
from rig.spec import load_spec

SPEC = load_spec()
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
DC = next(p for p in plots.ERROR_PLOTS if p.requirement == "dc_accuracy")
VOLTS = next(p for p in plots.ERROR_PLOTS if p.requirement == "reading_voltage")


def frame(rows: list[dict]) -> pd.DataFrame:
    defaults = {"requirement": "dc_accuracy", "phase": "as_left", "polarity": "POS",
                "load_ohm": 1000.0, "unit": "mA", "raw": {}}
    return pd.DataFrame([{**defaults, **r} for r in rows])


def dc_points() -> pd.DataFrame:
    rows = []
    for phase, gain in (("as_found", 0.03), ("as_left", 0.0)):
        for pol in ("POS", "NEG"):
            for load in (1000.0, 5000.0):
                for sp in (1.0, 10.0):
                    rows.append({"phase": phase, "polarity": pol, "load_ohm": load,
                                 "setpoint_ma": sp, "nominal": sp, "measured": sp * (1 + gain)})
    return frame(rows)


def test_error_is_measured_minus_nominal():
    points = frame([{"setpoint_ma": 10.0, "nominal": 10.0, "measured": 10.2},
                    {"setpoint_ma": 5.0, "nominal": 5.0, "measured": 4.9}])
    got = plots.plot_frame(points, DC)
    assert list(got["x"]) == [10.0, 5.0]
    assert list(got["error"]) == pytest.approx([0.2, -0.1])


def test_other_requirements_and_unmeasured_points_are_left_out():
    points = frame([{"setpoint_ma": 10.0, "nominal": 10.0, "measured": 10.1},
                    {"setpoint_ma": 1.0, "nominal": 1.0, "measured": None},
                    {"requirement": "reading_current", "setpoint_ma": 1.0, "nominal": 0.0,
                     "measured": 0.01}])
    assert len(plots.plot_frame(points, DC)) == 1
    assert plots.error_figure(frame([]).iloc[0:0], DC, SPEC) is None


def test_voltage_axis_uses_the_analyzer_reading_when_recorded():
    points = frame([{"requirement": "reading_voltage", "setpoint_ma": 10.0, "load_ohm": 1000.0,
                     "nominal": 0.0, "measured": 0.05, "raw": {"analyzer_voltage_v": 9.9}},
                    {"requirement": "reading_voltage", "setpoint_ma": 2.0, "load_ohm": 1000.0,
                     "nominal": 0.0, "measured": 0.05, "raw": {}}])
    assert list(plots.plot_frame(points, VOLTS)["x"]) == pytest.approx([9.9, 2.0])


def test_one_panel_per_polarity_one_line_per_phase_and_load():
    figure = plots.error_figure(dc_points(), DC, SPEC)
    axes = figure.axes
    assert [a.get_title() for a in axes] == ["DC output error, NEG", "DC output error, POS"]
    for panel in axes:
        data_lines = [line for line in panel.get_lines() if line.get_marker() in ("o", "x")]
        assert sorted(line.get_label() for line in data_lines) == [
            "as_found 1000 Ω", "as_found 5000 Ω", "as_left 1000 Ω", "as_left 5000 Ω"]


def test_band_is_the_spec_tolerance():
    figure = plots.error_figure(dc_points(), DC, SPEC)
    band = figure.axes[0].collections[0]  # the fill_between polygon
    vertices = band.get_paths()[0].vertices
    x_end = 10.0 * plots.X_HEADROOM
    upper_at_end = vertices[np.isclose(vertices[:, 0], x_end)][:, 1].max()
    assert upper_at_end == pytest.approx(SPEC.dc_accuracy.tolerance_ma(x_end))
    assert vertices[:, 1].min() == pytest.approx(-SPEC.dc_accuracy.tolerance_ma(x_end))
    assert "±(1 % + 0.05 mA)" in band.get_label()


def test_pngs_only_for_requirements_with_points():
    pngs = plots.error_plot_pngs(dc_points(), SPEC)
    assert list(pngs) == ["dc_accuracy"]
    assert pngs["dc_accuracy"].startswith(PNG_SIGNATURE)


def test_delta_figure_draws_a_bar_per_point_and_tolerance_lines():
    figure = plots.delta_figure(["a", "b", "c"], [0.5, -1.5, None], ["worse", "newly fails", "moved"],
                                "title")
    axes = figure.axes[0]
    heights = [bar.get_height() for bar in axes.patches]
    assert heights == pytest.approx([0.5, -1.5, 0.0])
    assert {line.get_ydata()[0] for line in axes.get_lines()} == {-1.0, 0.0, 1.0}
    assert [t.get_text() for t in axes.get_legend().get_texts()] == ["newly fails", "worse", "moved"]
    assert plots.figure_png(figure).startswith(PNG_SIGNATURE)
