"""What a cut-off step declares, once, in its own module: the requirement it gives the verdict of (a row
of dut-protocol.md section 1), its parameters, its act (drive the bench and capture, leaving the unit
safe), its judge (analyse the capture, build the uncertainty budgets, hand the points to the sink and
say which traces show them) and its floor (what a conforming unit and the stated instrument figures
make unavoidable, for the benchmarks).

The suite (rig/procedures/cutoffs/suite.py) lists the declared steps; the pytest suite, the suite
runner and benchmarks/cutoffs.py all take them from there."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from rig.procedures.cutoffs.context import CutoffContext, CutoffResult
from rig.spec import ProductSpec

# The requests of a session's set-up (context.start_session): POL, MODE, TIMER, TEST ON, TEST:RAMP (or
# RAMP), SET, START; and of its end (slot.make_safe): STATE?, STOP.
SESSION_REQUESTS = 7
END_REQUESTS = 2


@dataclass(frozen=True)
class BenchTimes:
    """The stated figures a step's floor is computed from (the instrument models' and the line rate's,
    filled in by the benchmark): nothing here is a host's processing time."""

    exchange_s: float  # one request and its reply at the line rate
    load_switch_s: float  # the load's settling after a command, and the command's latency
    settle_s: float  # the unit's and the analyzer's settling (the slot's settle_after_setpoint_s)
    dut_settle_s: float  # the unit's settling alone
    integration_s: float  # one default reading of the analyzer
    load_max_power_w: float

    @property
    def end_s(self) -> float:
        """Every step's end: STATE?, STOP and the load to its safe value."""
        return END_REQUESTS * self.exchange_s + self.load_switch_s

    @property
    def session_s(self) -> float:
        """A session's set-up (the load switched, its requests) and the step's end."""
        return self.load_switch_s + SESSION_REQUESTS * self.exchange_s + self.end_s


@dataclass(frozen=True)
class CutoffStep:
    """One kind of cut-off step. Its instances are its `cases` (keyword parameters; one empty case for
    a step without parameters); `label` names an instance from its parameters."""

    name: str
    requirement: str  # the key of its row (context.requirements)
    cases: Callable[[ProductSpec], Sequence[dict[str, Any]]]
    act: Callable[..., Any]  # act(ctx, **parameters) -> its capture; the unit left safe
    judge: Callable[[CutoffContext, Any], CutoffResult]  # judge(ctx, capture) -> points (sunk) and traces
    floor_s: Callable[..., float]  # floor_s(spec, bench: BenchTimes, **parameters)
    label: Callable[..., str] | None = None  # label(**parameters); None: one instance, named `name`

    def instances(self, spec: ProductSpec) -> list[SuiteStep]:
        return [SuiteStep(self._instance_name(case), self.requirement, dict(case), self) for case in self.cases(spec)]

    def _instance_name(self, case: dict[str, Any]) -> str:
        return f"{self.name}[{self.label(**case)}]" if self.label is not None else self.name


@dataclass(frozen=True)
class SuiteStep:
    """One instance of a declared step: what the suite runs, the pytest suite parametrises and the
    benchmark sums."""

    name: str
    requirement: str
    parameters: dict[str, Any] = field(compare=False)
    declared: CutoffStep = field(repr=False, compare=False)

    def run(self, ctx: CutoffContext) -> CutoffResult:
        """Act, then judge what was captured (the points reach the context's sink as they are judged)."""
        return self.declared.judge(ctx, self.declared.act(ctx, **self.parameters))

    def floor_s(self, spec: ProductSpec, bench: BenchTimes) -> float:
        return self.declared.floor_s(spec, bench, **self.parameters)


def one_case(spec: ProductSpec) -> list[dict[str, Any]]:
    """The cases of a step without parameters."""
    return [{}]


def load_label(load_ohm: float) -> str:
    """A test load as an instance's label: 500ohm, ..., open."""
    return "open" if not math.isfinite(load_ohm) else f"{load_ohm:g}ohm"
