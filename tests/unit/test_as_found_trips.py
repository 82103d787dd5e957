"""As found, a unit trips on its own reading: the plan knows it may (grid), the sweep records the trip
as a finding, clears it and leaves out the rest of that band; the characterisation's raw codes stay
below the absolute limit on a worst-case unit's own reading."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from rig.procedures.accuracy import AccuracySweep
from rig.procedures.characterise import MARGIN_MA, characterisation_plan, safe_max_nominal_ma
from rig.procedures.grid import (
    DC_SETPOINTS_MA,
    GridPoint,
    accuracy_grid,
    compliance_free_uncalibrated,
    max_nominal_read_below,
    safe_uncalibrated,
    worst_uncalibrated_ma,
    worst_uncalibrated_reading_ma,
)
from rig.procedures.unit_events import UnitFault
from rig.session.findings import as_found_trip
from rig.spec import load_spec

SPEC = load_spec()
UNC = SPEC.uncalibrated
LOAD_POWER_W = 1.0


def test_the_worst_reading_is_output_high_read_high() -> None:
    # 10 mA: output 10.5 + 0.3 + bow, read +3 % + 0.1 mA: above the 11.0 mA threshold
    bow_ma = UNC.bow_pct_of_full_scale / 100 * SPEC.calibration_nominal.dac_code_max / SPEC.calibration_nominal.dac_gain
    assert worst_uncalibrated_reading_ma(10.0, SPEC) == pytest.approx((10.8 + bow_ma) * 1.03 + 0.1)
    assert worst_uncalibrated_reading_ma(10.0, SPEC) > SPEC.overcurrent.threshold_ma(10.0)
    assert worst_uncalibrated_ma(10.0, SPEC) < SPEC.overcurrent.threshold_ma(10.0)  # the truth alone would not trip


def test_at_the_maxima_no_grid_setpoint_is_safe_so_trips_are_findings() -> None:
    assert not any(safe_uncalibrated(sp, SPEC) for sp in DC_SETPOINTS_MA)


def test_inverse_of_the_worst_reading() -> None:
    for limit_ma in (5.0, 20.0, 30.5):
        assert worst_uncalibrated_reading_ma(max_nominal_read_below(limit_ma, SPEC), SPEC) == pytest.approx(limit_ma)


def test_characterisation_cannot_trip_a_unit_at_the_maxima() -> None:
    """A raw code is guarded by the absolute limit on the unit's own reading (protocol section 3)."""
    top_ma = safe_max_nominal_ma(SPEC)
    assert worst_uncalibrated_reading_ma(top_ma, SPEC) <= SPEC.overcurrent.absolute_ma - MARGIN_MA + 1e-9
    nominal = SPEC.calibration_nominal
    for _, code in characterisation_plan(SPEC):
        nominal_ma = (code - nominal.dac_offset) / nominal.dac_gain
        assert worst_uncalibrated_reading_ma(nominal_ma, SPEC) < SPEC.overcurrent.absolute_ma


def test_as_found_grid_leaves_out_points_where_the_unit_could_reach_compliance() -> None:
    as_found = accuracy_grid(SPEC, LOAD_POWER_W, uncalibrated=True)
    full = accuracy_grid(SPEC, LOAD_POWER_W)
    left_out = [p for p in full if p not in as_found]
    assert left_out and all(not compliance_free_uncalibrated(p.setpoint_ma, p.load_ohm, SPEC) for p in left_out)
    assert all(compliance_free_uncalibrated(p.setpoint_ma, p.load_ohm, SPEC) for p in as_found)
    # the trip risk does not empty the as-found grid: every setpoint is still visited
    assert {p.setpoint_ma for p in as_found if p.waveform == "DC"} == set(DC_SETPOINTS_MA)


class _Dut:
    def __init__(self) -> None:
        self.cleared = 0

    def clear(self) -> None:
        self.cleared += 1


class _ScriptedSweep(AccuracySweep):
    """The sweep's control flow only: goto/measure scripted, no slot or instruments."""

    def __init__(self, trips: dict[str, str], on_trip) -> None:
        self.slot = SimpleNamespace(dut=_Dut())
        self.events = SimpleNamespace(restart=lambda: None)
        self.on_trip = on_trip
        self._tripped_at_ma = {}
        self._group = self._load_ohm = None
        self._setpoint_ma = 0.0
        self.trips, self.visited = trips, []

    def goto(self, point: GridPoint) -> None:
        self.visited.append(point.name)

    def measure(self, point: GridPoint) -> list:
        if point.name in self.trips:
            raise UnitFault(f"tripped at {point.name}", self.trips[point.name])
        return [point.name]

    def finish(self) -> None:
        pass


def _grid() -> list[GridPoint]:
    return accuracy_grid(SPEC, LOAD_POWER_W, uncalibrated=True)


def test_a_trip_is_recorded_cleared_and_the_rest_of_its_band_left_out() -> None:
    grid = _grid()
    tripped = next(p for p in grid if p.polarity == "POS" and p.waveform == "DC" and p.setpoint_ma == 5.0)
    found: list = []
    sweep = _ScriptedSweep({tripped.name: "!FAULT 1 OVERCURRENT"}, lambda p, f: found.append((p, f)))
    measured = sweep.run(grid)
    assert [(p.name, f.event) for p, f in found] == [(tripped.name, "!FAULT 1 OVERCURRENT")]
    assert sweep.slot.dut.cleared == 1
    in_band = [p for p in grid if (p.polarity, p.waveform) == ("POS", "DC")]
    before = [p.name for p in in_band[:in_band.index(tripped)]]
    assert [n for n in measured if n in {p.name for p in in_band}] == before  # lower loads at 5 mA stay
    assert all(p.name not in sweep.visited for p in in_band[in_band.index(tripped) + 1:])
    others = [p.name for p in grid if (p.polarity, p.waveform) != ("POS", "DC")]
    assert [n for n in measured if n not in before] == others  # other bands go on


def test_without_a_handler_or_for_another_event_the_sweep_stops() -> None:
    grid = _grid()
    with pytest.raises(UnitFault):
        _ScriptedSweep({grid[3].name: "!FAULT 1 OVERCURRENT"}, None).run(grid)
    with pytest.raises(UnitFault):
        _ScriptedSweep({grid[3].name: "!WDOG"}, lambda p, f: None).run(grid)


def test_the_finding_names_point_setpoint_and_event_with_no_verdict() -> None:
    point = GridPoint("NEG", "DC", 1000.0, 10.0)
    finding = as_found_trip(point, UnitFault("unit tripped", "!FAULT 1 OVERCURRENT"), SPEC)
    record = finding.record
    assert (record.phase, record.verdict, record.name) == ("as_found", "N/A", "NEG-DC-1000ohm-10mA-trip")
    assert record.parameters["setpoint_ma"] == 10.0 and record.raw["event"] == "!FAULT 1 OVERCURRENT"
    assert record.raw["possible_within_uncalibrated_maxima"] is True
    assert "NEG-DC-1000ohm-10mA" in finding.summary and "NEG DC from 10 mA up" in finding.summary
