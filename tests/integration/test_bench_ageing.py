"""`rig bench --firmware-version` and the control port's AGE on a served unit."""

from __future__ import annotations

from rig.bench.control import BenchControl
from rig.bench.launcher import VirtualBench, derived_seed

SEED = 4


def test_firmware_version_and_age_reach_the_unit() -> None:
    with VirtualBench(slots=1, seed=SEED, firmware_version="2.5.0") as bench:
        parts = bench.slots[0]
        assert parts.firmware.identity.split(",")[3] == "2.5.0"
        before = parts.circuit.errors
        assert BenchControl(bench.slots).answer("AGE 1 180") == "OK"
        assert parts.circuit.errors == before.aged(180, seed=derived_seed(parts.serial, SEED, "drift"))
        assert parts.circuit.errors.pos.output_gain != before.pos.output_gain
