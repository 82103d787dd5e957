"""What would stop a calibration only at its write step is checked once the unit has said who it is:
a unit whose key cannot be found stops the run before its first point, output off."""

from __future__ import annotations

import datetime as dt

import pytest

from rig.keys import KeyError_, KeySource
from rig.records.store import ResultsStore
from rig.session.run import CalibrationJob, calibrate_slot
from rig.slot import open_slot
from rig.spec import load_spec
from rig.virtual_bench import VirtualBenchProcess

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("source", ["env:RIG_TEST_NO_SUCH_KEYS", "file:/nonexistent/rig-keys.toml"])
def test_missing_key_stops_the_run_before_its_first_point(tmp_path, monkeypatch, source):
    monkeypatch.delenv("RIG_TEST_NO_SUCH_KEYS", raising=False)
    with VirtualBenchProcess() as bench, ResultsStore(f"sqlite:///{tmp_path}/r.sqlite") as store:
        job = CalibrationJob(station=bench.station, slot=1, keys=KeySource(source), spec=load_spec(),
                             store=store, calibrations_dir=tmp_path / "calibrations", today=dt.date.today())
        with open_slot(bench.station, 1) as slot:
            with pytest.raises(KeyError_, match=r"RIG_TEST_NO_SUCH_KEYS|rig-keys\.toml"):
                calibrate_slot(job, slot)
            state = slot.dut.state()
        (run,) = store.runs()
        points = store.points(run["id"])
    assert run["status"] == "error"
    assert len(points) == 0
    assert state.state == "IDLE"
