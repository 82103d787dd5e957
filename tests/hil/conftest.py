"""Parametrisation of the product suites from the spec and the station (never a typed limit)."""

from __future__ import annotations

import pytest

from fixtures.plugin import slot_number
from rig.procedures.grid import accuracy_grid
from rig.spec import load_spec
from rig.station import default_models, load_station


def _load_max_power_w(config: pytest.Config) -> float:
    path = config.getoption("station")
    if path:
        station = load_station(path)
        slot = station.slot(slot_number(config))
        return station.figures(slot.load.instrument).max_power_w
    return default_models()["RDEC-1M"].max_power_w


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "grid_point" in metafunc.fixturenames:
        grid = accuracy_grid(load_spec(), _load_max_power_w(metafunc.config))
        if "dc_only" in metafunc.fixturenames:
            grid = [p for p in grid if p.waveform == "DC"]
        metafunc.parametrize("grid_point", grid, ids=[p.name for p in grid])


@pytest.fixture
def dc_only() -> None:
    """Marker fixture: parametrise over the DC grid points only (readings are checked on DC)."""
