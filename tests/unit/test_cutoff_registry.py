"""The cut-off suite's registry of declared steps (rig/procedures/cutoffs/suite.py), without a bench:
a new step is one module plus one registry entry (the example: rig/procedures/cutoffs/idle_armed.py),
run by the suite runner against a synthetic slot; every step has a floor; procedures and records do
not import each other."""

from __future__ import annotations

import ast
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from rig.metrology.decision import DecisionRule
from rig.procedures.cutoffs import idle_armed
from rig.procedures.cutoffs.context import CutoffContext, requirements
from rig.procedures.cutoffs.step import BenchTimes
from rig.procedures.cutoffs.suite import STEPS, run_steps, suite_steps
from rig.spec import load_spec
from rig.station import default_models

SPEC = load_spec()
RIG = Path(__file__).resolve().parents[2] / "rig"
NOISE_A = 3e-9
BENCH = BenchTimes(exchange_s=0.001, load_switch_s=0.006, settle_s=0.011, dut_settle_s=0.010,
                   integration_s=0.021, load_max_power_w=1.0)


class SyntheticUnit:
    """A unit in IDLE whose output, with a setpoint armed, is `leak_ma` (0 for a healthy one)."""

    def __init__(self, leak_ma: float) -> None:
        self.leak_ma, self.setpoint_ma, self.state_now = leak_ma, 0.0, "IDLE"
        self.requests: list[str] = []

    def set_current_ma(self, ma: float) -> None:
        self.requests.append(f"SET {ma:g}")
        self.setpoint_ma = ma

    def state(self) -> SimpleNamespace:
        self.requests.append("STATE?")
        return SimpleNamespace(state=self.state_now)

    def output_a(self) -> float:
        return self.leak_ma / 1000.0 if self.setpoint_ma > 0 else 0.0


class SyntheticAnalyzer:
    def __init__(self, unit: SyntheticUnit) -> None:
        self.unit, self.ranges_a = unit, []
        self.noise = np.random.default_rng(1)

    def set_current_range_a(self, amps: float) -> None:
        self.ranges_a.append(amps)

    def measure_current_samples_a(self) -> np.ndarray:
        return self.unit.output_a() + NOISE_A * self.noise.standard_normal(1024)


def synthetic_context(unit: SyntheticUnit, points: list) -> tuple[CutoffContext, SimpleNamespace]:
    analyzer = default_models()["N6705C"]
    station = SimpleNamespace(figures=lambda instrument: analyzer,
                              slot=lambda number: SimpleNamespace(ammeter=SimpleNamespace(instrument="pa1"),
                                                                  voltmeter=SimpleNamespace(instrument="pa1")))
    safe = SimpleNamespace(count=0)
    loads: list[float] = []
    slot = SimpleNamespace(station=station, number=1, dut=unit, ammeter=SyntheticAnalyzer(unit),
                           load=SimpleNamespace(set_resistance_ohm=loads.append),
                           make_safe=lambda: setattr(safe, "count", safe.count + 1), loads=loads)
    return CutoffContext(slot, SPEC, DecisionRule.GUARD_BAND, points.append), safe


def _with_example() -> list:
    """The registry with the example step's one entry added."""
    steps = suite_steps(SPEC, STEPS + (idle_armed.STEP,))
    return [s for s in steps if s.name.startswith("residual_armed")]


def test_a_new_step_is_one_module_and_one_registry_entry_run_by_the_suite_runner():
    steps = _with_example()
    assert [s.name for s in steps] == ["residual_armed[1000ohm]"]
    assert steps[0].requirement == "residual_current"
    unit, stored = SyntheticUnit(leak_ma=0.0), []
    ctx, safe = synthetic_context(unit, stored)
    seen = []
    results = run_steps(ctx, steps, lambda step, result: seen.append(step.name))
    assert seen == ["residual_armed[1000ohm]"]
    points = results[0].points
    assert [p.name for p in stored] == [p.name for p in points]  # each point reached the sink as judged
    assert [p.name for p in points] == ["residual-armed-1000ohm", "residual-armed-1000ohm-not-started"]
    assert all(p.decision.passed for p in points)
    assert abs(points[0].measured) < 0.01  # uA: the synthetic unit's noise only
    assert unit.requests[:2] == ["SET 10", "STATE?"] and ctx.slot.loads == [1000.0]  # then end_session's STATE?
    assert ctx.slot.ammeter.ranges_a[-1] == SPEC.setpoint.max_ma / 1000.0  # back to the range the others use
    assert safe.count >= 2  # ended by the step and again by the runner, like every step


def test_the_example_step_fails_a_unit_whose_output_flows_before_start():
    unit, stored = SyntheticUnit(leak_ma=0.05), []  # 50 uA against the 10 uA limit
    ctx, _ = synthetic_context(unit, stored)
    reading = run_steps(ctx, _with_example())[0].points[0]
    assert reading.measured == pytest.approx(50.0, rel=1e-3)
    assert not reading.decision.passed
    unit.state_now = "ON"
    started = run_steps(ctx, _with_example())[0].points[1]
    assert started.measured == 0.0 and not started.decision.passed


def test_the_registry_declares_every_cutoff_requirement_and_a_floor_for_every_step():
    steps = suite_steps(SPEC)
    assert {s.requirement for s in steps} == set(requirements(SPEC))
    assert len({s.name for s in steps}) == len(steps)
    floors = {s.name: s.floor_s(SPEC, BENCH) for s in steps}
    assert all(math.isfinite(f) and f > 0 for f in floors.values())
    # The longest waits the spec makes: the shortest session and the slowest tested ramp.
    assert floors["session_timer"] > SPEC.timer.min_s
    assert idle_armed.STEP.instances(SPEC)[0].floor_s(SPEC, BENCH) == pytest.approx(0.006 + 0.002 + 0.031 + 0.008)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    return names | {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}


@pytest.mark.parametrize(("package", "forbidden"), [("procedures", "rig.records"), ("records", "rig.procedures")])
def test_procedures_and_records_do_not_import_each_other(package, forbidden):
    offending = {str(p.relative_to(RIG)): sorted(m for m in _imports(p) if m.startswith(forbidden))
                 for p in (RIG / package).rglob("*.py")}
    assert {p: m for p, m in offending.items() if m} == {}
