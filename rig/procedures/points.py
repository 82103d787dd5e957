"""Measured points: declared requirement, limits from the spec, uncertainty budget and decision.

OpenHTF's rule: a verdict comes from declared limits, never from an `assert` typed into a test.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rig.metrology.decision import Decision, DecisionRule, decide
from rig.metrology.uncertainty import Budget


@dataclass(frozen=True)
class Requirement:
    """One row of the product spec that the rig verifies."""

    key: str  # e.g. "dc_accuracy"
    clause: str  # e.g. "1: DC output accuracy (calibrated)"
    title: str


@dataclass(frozen=True)
class MeasuredPoint:
    phase: str  # "as_found", "as_left", "characterise", "cutoff", ...
    requirement: Requirement
    name: str
    parameters: dict[str, Any]
    measured: float
    unit: str
    nominal: float | None
    lower: float | None
    upper: float | None
    budget: Budget
    decision: Decision
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def verdict(self) -> str:
        return self.decision.verdict.value

    def as_row(self) -> dict[str, Any]:
        """A flat row for the measurement table (pandas)."""
        return {
            "phase": self.phase,
            "requirement": self.requirement.key,
            "clause": self.requirement.clause,
            "name": self.name,
            **self.parameters,
            "measured": self.measured,
            "unit": self.unit,
            "nominal": self.nominal,
            "lower": self.lower,
            "upper": self.upper,
            "U": self.budget.expanded,
            "tur": self.decision.tur,
            "verdict": self.verdict,
        }


def make_point(
    *,
    phase: str,
    requirement: Requirement,
    name: str,
    parameters: dict[str, Any],
    measured: float,
    unit: str,
    nominal: float | None,
    lower: float | None,
    upper: float | None,
    budget: Budget,
    rule: DecisionRule,
    raw: dict[str, Any] | None = None,
) -> MeasuredPoint:
    decision = decide(
        measured, lower=lower, upper=upper, expanded_uncertainty=budget.expanded, rule=rule,
        nominal=nominal,
    )
    return MeasuredPoint(
        phase, requirement, name, parameters, measured, unit, nominal, lower, upper, budget, decision,
        raw or {},
    )


# Every measured point goes through one of these before the next is taken (the store commits it).
PointSink = Callable[[MeasuredPoint], None]
