"""Faults an emulated unit can be given, as data: a name, what it means, what it changes.

A fault is a set of overrides of the firmware's healthy behaviour (`FirmwareBehaviour`), read once
at construction and checked where it acts (the ramp reads `ramp_factor`, the cut-off monitor reads
`overcurrent_persist_s`, ...), so a new fault is a new table row, not new branches in the firmware.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from rig.spec import ProductSpec

# Fault magnitudes: chosen so that each violates its spec row clearly, not marginally.
SLOW_OVERCURRENT_PERSIST_S = 0.080
FAST_RAMP_FACTOR = 1.3
HIGH_COMPLIANCE_V = 65.0
TIMER_SLOW_FACTOR = 1.10
READING_DRIFT_GAIN = 1.03
UNCORRECTABLE_ERROR_SCALE = 6.0


@dataclass(frozen=True)
class FaultInfo:
    meaning: str
    overrides: dict[str, Any]


FIRMWARE_FAULT_TABLE: dict[str, FaultInfo] = {
    "slow_overcurrent": FaultInfo(
        "over-current cut-off acts only after 80 ms above threshold",
        {"overcurrent_persist_s": SLOW_OVERCURRENT_PERSIST_S},
    ),
    "no_loss_of_contact": FaultInfo(
        "loss-of-contact detection missing", {"loss_of_contact_enabled": False}
    ),
    "fast_ramp": FaultInfo(
        "soft start/stop ramps at 1.3 x the configured rate", {"ramp_factor": FAST_RAMP_FACTOR}
    ),
    "no_reramp": FaultInfo(
        "compliance recovery without re-ramp: the current steps straight back to the setpoint",
        {"reramp_enabled": False},
    ),
    "high_compliance": FaultInfo(
        "compliance voltage 65 V (spec: never above 62.0 V)", {"v_max_v": HIGH_COMPLIANCE_V}
    ),
    "timer_slow": FaultInfo("session timer runs 10 % long", {"timer_factor": TIMER_SLOW_FACTOR}),
    "reading_gain_drift": FaultInfo(
        "own current reading (MEAS?) 3 % high, as if drifted since calibration",
        {"reading_gain_factor": READING_DRIFT_GAIN},
    ),
    "save_not_persisted": FaultInfo(
        "CAL:SAVE answers OK but leaves flash unchanged: the calibration in use is lost on RESET",
        {"save_persists": False},
    ),
}

# Unit faults change the hardware (the physics errors), so the launcher applies them, not the
# firmware; the firmware accepts and ignores them so that one fault list can be passed around.
UNIT_FAULT_TABLE: dict[str, str] = {
    "uncorrectable": "output gain/offset errors 6x the spec maxima: calibration cannot correct them",
}

# The requirement (key of rig/procedures and the suites' `requirement` marker) each fault violates,
# and only it: what the fault proof and the verdict matrix (benchmarks/verdicts.py) expect to fail.
FAULT_REQUIREMENTS: dict[str, frozenset[str]] = {
    "slow_overcurrent": frozenset({"overcurrent"}),
    "no_loss_of_contact": frozenset({"loss_of_contact"}),
    "fast_ramp": frozenset({"ramp"}),
    "no_reramp": frozenset({"compliance_recovery"}),
    "high_compliance": frozenset({"compliance"}),
    "timer_slow": frozenset({"timer"}),
    "reading_gain_drift": frozenset({"reading_current"}),
    "save_not_persisted": frozenset({"calibration"}),
    "uncorrectable": frozenset({"calibration"}),
}

FIRMWARE_FAULTS: frozenset[str] = frozenset(FIRMWARE_FAULT_TABLE)
UNIT_FAULTS: frozenset[str] = frozenset(UNIT_FAULT_TABLE)
ALL_FAULTS: frozenset[str] = FIRMWARE_FAULTS | UNIT_FAULTS


class UnknownFaultError(ValueError):
    """A fault name that neither the firmware nor the launcher knows."""


def validate_fault_names(names: Iterable[str]) -> frozenset[str]:
    """Return the names as a frozenset; raise UnknownFaultError (one line) for unknown ones."""
    chosen = frozenset(names)
    unknown = sorted(chosen - ALL_FAULTS)
    if unknown:
        raise UnknownFaultError(
            f"unknown fault name(s) {', '.join(unknown)}; known: {', '.join(sorted(ALL_FAULTS))}"
        )
    return chosen


def violated_requirements(name: str) -> frozenset[str]:
    """The requirements a unit with this fault must fail (and no other)."""
    validate_fault_names([name])
    return FAULT_REQUIREMENTS[name]


def fault_meaning(name: str) -> str:
    if name in FIRMWARE_FAULT_TABLE:
        return FIRMWARE_FAULT_TABLE[name].meaning
    return UNIT_FAULT_TABLE[name]


@dataclass(frozen=True)
class FirmwareBehaviour:
    """What the firmware does where a fault could change it; healthy values come from the spec."""

    overcurrent_persist_s: float
    loss_of_contact_enabled: bool
    ramp_factor: float
    reramp_enabled: bool
    v_max_v: float
    timer_factor: float
    reading_gain_factor: float
    save_persists: bool

    @classmethod
    def healthy(cls, spec: ProductSpec) -> FirmwareBehaviour:
        return cls(
            overcurrent_persist_s=spec.overcurrent.persist_s,
            loss_of_contact_enabled=True,
            ramp_factor=1.0,
            reramp_enabled=True,
            v_max_v=spec.compliance.v_max_nominal_v,
            timer_factor=1.0,
            reading_gain_factor=1.0,
            save_persists=True,
        )


def behaviour_for(faults: Iterable[str], spec: ProductSpec) -> FirmwareBehaviour:
    """The firmware behaviour with the given faults applied (unit faults are ignored here)."""
    behaviour = FirmwareBehaviour.healthy(spec)
    for name in sorted(validate_fault_names(faults) & FIRMWARE_FAULTS):
        behaviour = replace(behaviour, **FIRMWARE_FAULT_TABLE[name].overrides)
    if not math.isfinite(behaviour.v_max_v):
        raise ValueError("v_max_v must be finite")
    return behaviour
