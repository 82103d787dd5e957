"""The idle residual current is measured only on a unit that reports IDLE (output off): a unit left in a
session is stopped and given its ramp-down; one that stays on is an error naming its state, not a FAIL."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from rig.dut.commands import DutState
from rig.procedures.accuracy import current_meter
from rig.procedures.cutoffs import residual
from rig.spec import load_spec
from rig.station import default_models

SPEC = load_spec()
LEFTOVER_A = 148e-6  # what a session left on reads as "residual"


class ScriptedUnit:
    """STATE? answers `states` in turn (the last one for ever); STOP is recorded."""

    def __init__(self, *states: str) -> None:
        self.states = list(states)
        self.commands: list[str] = []

    def state(self) -> DutState:
        state = self.states.pop(0) if len(self.states) > 1 else self.states[0]
        return DutState(state, 0)

    def stop(self) -> None:
        self.commands.append("STOP")

    def ramp_ma_per_s(self) -> float:
        return SPEC.ramp.rate_max_ma_per_s


class Ammeter:
    def __init__(self) -> None:
        self.sampled = False

    def set_current_range_a(self, upper_a: float) -> None:
        pass

    def measure_current_a(self) -> float:
        return LEFTOVER_A

    def measure_current_samples_a(self) -> np.ndarray:
        self.sampled = True
        return np.full(64, 2e-6)


def _context(unit: ScriptedUnit) -> SimpleNamespace:
    made: list[dict] = []
    safe: list[bool] = []
    slot = SimpleNamespace(dut=unit, ammeter=Ammeter(), load=SimpleNamespace(set_resistance_ohm=lambda ohm: None),
                           settle_after_load_s=0.0, make_safe=lambda: safe.append(True))
    figures = default_models()["N6705C"]
    meter = current_meter(figures, SPEC.residual_current.max_ua / 1e6)
    return SimpleNamespace(slot=slot, spec=SPEC, low_current_meter=meter, made=made, safe=safe,
                           point=lambda *args, **kwargs: made.append({"args": args, **kwargs}) or args)


def test_a_unit_left_on_is_an_error_naming_its_state_not_a_residual_fail() -> None:
    unit = ScriptedUnit("ON")  # STOP does not end it
    ctx = _context(unit)
    with pytest.raises(residual.UnitNotIdle, match="reports ON, not IDLE"):
        residual.measure(ctx, 1000.0, "idle")
    assert unit.commands == ["STOP"]
    assert ctx.made == [] and not ctx.slot.ammeter.sampled  # no residual point from a session's current
    assert ctx.safe == [True]  # and the run's way out leaves the output off


def test_a_unit_in_a_session_is_stopped_and_measured_once_idle() -> None:
    unit = ScriptedUnit("ON", "RAMP_DOWN", "RAMP_DOWN", "IDLE")
    ctx = _context(unit)
    residual.measure(ctx, 1000.0, "idle")
    assert unit.commands == ["STOP"] and ctx.slot.ammeter.sampled
    [point] = ctx.made
    assert point["args"][2]["state"] == "IDLE"


def test_an_idle_unit_is_measured_without_a_stop() -> None:
    unit = ScriptedUnit("IDLE")
    ctx = _context(unit)
    residual.measure(ctx, 1000.0, "idle")
    assert unit.commands == [] and len(ctx.made) == 1
