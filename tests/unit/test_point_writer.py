"""The background writer keeps the rule: after barrier() every submitted point is in the store."""

from __future__ import annotations

import pytest

from rig.records.point_writer import BackgroundPointWriter
from rig.records.store import PointRecord


def _start(store) -> int:
    return store.start_run(kind="calibrate", station="st", slot=1, operator="op", unit_serial="SN1",
                           unit_model="IX-30", firmware="1", decision_rule="simple acceptance", instruments=[])


def _record(i: int) -> PointRecord:
    return PointRecord(phase="as_left", requirement="dc_accuracy", clause="1", name=f"p{i}", measured=1.0 + i,
                       unit="mA", verdict="PASS")


def test_barrier_returns_with_every_point_committed(store):
    run_id = _start(store)
    writer = BackgroundPointWriter(store, run_id)
    for i in range(25):
        writer.submit(_record(i))
    writer.barrier()
    assert list(store.points(run_id)["name"]) == [f"p{i}" for i in range(25)]
    writer.close()


def test_a_failed_commit_surfaces_at_the_barrier(store):
    run_id = _start(store)
    store.finish_run(run_id, status="finished", verdict="PASS")  # a closed run refuses new points
    writer = BackgroundPointWriter(store, run_id)
    writer.submit(_record(0))
    with pytest.raises(RuntimeError, match="storing a measured point failed"):
        writer.barrier()
    writer.close()
