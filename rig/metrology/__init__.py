"""Metrology: uncertainty budgets per point (GUM), decision rules and TUR (ILAC-G8)."""

from rig.metrology.decision import (
    MIN_TUR,
    Decision,
    DecisionRule,
    Verdict,
    decide,
    test_uncertainty_ratio,
    worst_verdict,
)
from rig.metrology.uncertainty import (
    Budget,
    Component,
    MeterAccuracy,
    load_tolerance_component,
    reading_budget,
)

__all__ = [
    "MIN_TUR",
    "Budget",
    "Component",
    "Decision",
    "DecisionRule",
    "MeterAccuracy",
    "Verdict",
    "decide",
    "load_tolerance_component",
    "reading_budget",
    "test_uncertainty_ratio",
    "worst_verdict",
]
