"""Parametrisation of the product suites from the spec and the station (never a typed limit)."""

from __future__ import annotations

import pytest

from fixtures.plugin import run_config, slot_number
from rig.procedures.grid import accuracy_grid
from rig.session.stations import load_max_power_w
from rig.spec import load_spec


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "grid_point" in metafunc.fixturenames:
        config = metafunc.config
        grid = accuracy_grid(load_spec(run_config(config).spec), load_max_power_w(run_config(config),
                                                                                   slot_number(config)))
        if "dc_only" in metafunc.fixturenames:
            grid = [p for p in grid if p.waveform == "DC"]
        metafunc.parametrize("grid_point", grid, ids=[p.name for p in grid])


@pytest.fixture
def dc_only() -> None:
    """Marker fixture: parametrise over the DC grid points only (readings are checked on DC)."""
