"""One run configuration, declared once: the `rig` commands' options and the pytest plugin's options
are both generated from OPTIONS, and both front ends read them back into the same RunConfig."""

from __future__ import annotations

import argparse
import getpass
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rig.metrology.decision import DecisionRule
from rig.serial_numbers import check_path_serial
from rig.station import MAX_SLOT_NUMBER, StationError

CLI, PYTEST = "cli", "pytest"
BOTH = frozenset({CLI, PYTEST})


@dataclass(frozen=True)
class Option:
    """One option of a run: `name` is the RunConfig field and the option's dest (`--bench-seed` is
    `bench_seed`); `fronts` says which front ends offer it."""

    name: str
    help: str
    type: Callable[[str], Any] | None = None
    default: Any = None
    choices: tuple[str, ...] | None = None
    metavar: str | None = None
    action: str | None = None
    fronts: frozenset[str] = BOTH

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def keywords(self) -> dict[str, Any]:
        """The keywords argparse's add_argument and pytest's addoption both take."""
        kw: dict[str, Any] = {"help": self.help, "dest": self.name}
        if self.action is not None:
            kw["action"] = self.action
        if self.type is not None:
            kw["type"] = self.type
        if self.choices is not None:
            kw["choices"] = list(self.choices)
        if self.metavar is not None:
            kw["metavar"] = self.metavar
        kw["default"] = list(self.default) if isinstance(self.default, tuple) else self.default
        return kw


RULES = tuple(r.name.lower() for r in DecisionRule)

OPTIONS: tuple[Option, ...] = (
    Option("station", "station file (TOML); without it the rig starts its own virtual bench"),
    Option("slot", "slot number (default: the rig, every slot of the station; pytest, 1, or under "
                   "pytest-xdist `-n N --dist each` worker k tests slot k+1)", type=int),
    Option("serial", "expected serial number of the unit (as scanned); refused on mismatch"),
    Option("operator", "operator name recorded with the run (default: RIG_OPERATOR or the login; pytest: "
                       "'pytest')"),
    Option("db", "results store URL (default: RIG_DB_URL or reports/results.sqlite)"),
    Option("rule", "decision rule (ILAC-G8): guard_band (w = U, default) or simple", default="guard_band",
           choices=RULES),
    Option("spec", "product spec file (default: the shipped IX-30 spec)"),
    Option("calibrations", "folder of the calibration tables and the audit log", type=Path,
           default=Path("calibrations")),
    Option("reports", "folder of the reports", type=Path, default=Path("reports"), fronts=frozenset({CLI})),
    Option("override_due", "run although an instrument is past due (recorded)", metavar="REASON",
           fronts=frozenset({CLI})),
    Option("ambient_temp_c", "ambient temperature recorded with the run", type=float, fronts=frozenset({CLI})),
    Option("ambient_rh_pct", "ambient relative humidity recorded with the run", type=float,
           fronts=frozenset({CLI})),
    Option("bench_slots", "virtual bench only: number of slots", type=int, default=1, fronts=frozenset({CLI})),
    Option("bench_seed", "virtual bench only: seed of the units' errors", type=int),
    Option("bench_fault", "virtual bench only: a firmware fault to switch on", action="append", default=()),
    Option("bench_unit_errors", "virtual bench only: the unit's errors, explicitly (rig bench --unit-errors)",
           metavar="corner:<i>|JSON"),
    Option("bench_variant", "virtual bench only: its implementation variant (reply latency, control period, ...)",
           type=int, metavar="SEED"),
    Option("bench_layout", "virtual bench only: the voltmeter on the analyzer's channel 2, or on a DMM of its own "
           "(rig bench --layout), with or without the trigger line", default="analyzer",
           choices=("analyzer", "dmm", "dmm-no-trigger")),
    Option("bench_no_format", "virtual bench only: its analyzer refuses FORMat (no binary blocks)",
           action="store_true", default=False),
    Option("bench_no_compound", "virtual bench only: its analyzer refuses several commands in one message",
           action="store_true", default=False),
)


@dataclass(frozen=True)
class RunConfig:
    """What a run is given, whatever front end started it."""

    station: str | None = None
    slot: int | None = None
    serial: str | None = None
    operator: str | None = None
    db: str | None = None
    rule: str = "guard_band"
    spec: str | None = None
    calibrations: Path = Path("calibrations")
    reports: Path = Path("reports")
    override_due: str | None = None
    ambient_temp_c: float | None = None
    ambient_rh_pct: float | None = None
    bench_slots: int = 1
    bench_seed: int | None = None
    bench_fault: tuple[str, ...] = field(default_factory=tuple)
    bench_unit_errors: str | None = None
    bench_variant: int | None = None
    bench_layout: str = "analyzer"
    bench_no_format: bool = False
    bench_no_compound: bool = False

    @classmethod
    def from_options(cls, get: Callable[[str], Any], front: str) -> RunConfig:
        """Read back the options `front` offers (`get(name)`: argparse's getattr, pytest's getoption);
        the others keep their defaults. Refuses a bad --serial or --slot (check)."""
        values = {o.name: get(o.name) for o in OPTIONS if front in o.fronts}
        if values.get("bench_fault") is not None:
            values["bench_fault"] = tuple(values["bench_fault"])
        config = cls(**{k: v for k, v in values.items() if v is not None})
        config.check()
        return config

    @classmethod
    def from_namespace(cls, args: argparse.Namespace) -> RunConfig:
        return cls.from_options(lambda name: getattr(args, name, None), CLI)

    def check(self) -> None:
        """Refuse bad --serial / --slot before anything starts: an empty serial would silently turn the
        serial check off, and the scanned serial must equal the unit's, which names its table folder."""
        if self.serial is not None:
            check_path_serial(self.serial, "--serial")
        if self.slot is not None and not 1 <= self.slot <= MAX_SLOT_NUMBER:
            raise StationError(f"--slot: {self.slot} is not a slot number (1 to {MAX_SLOT_NUMBER})")

    @property
    def decision_rule(self) -> DecisionRule:
        return DecisionRule[self.rule.upper()]

    def operator_or(self, fallback: str | None = None) -> str:
        """The operator named, else `fallback`, else RIG_OPERATOR or the login name."""
        return self.operator or fallback or os.environ.get("RIG_OPERATOR") or getpass.getuser()

    @property
    def ambient(self) -> dict | None:
        if self.ambient_temp_c is None and self.ambient_rh_pct is None:
            return None
        return {"temperature_c": self.ambient_temp_c, "humidity_pct": self.ambient_rh_pct}

    @property
    def bench_dialect_args(self) -> list[str]:
        """--bench-no-format / --bench-no-compound as the virtual bench's own options."""
        return [flag for wanted, flag in ((self.bench_no_format, "--analyzer-no-format"),
                                          (self.bench_no_compound, "--analyzer-no-compound")) if wanted]


def add_cli_options(parser: argparse.ArgumentParser) -> None:
    for option in OPTIONS:
        if CLI in option.fronts:
            parser.add_argument(option.flag, **option.keywords())


def add_pytest_options(group: Any) -> None:
    """On a pytest option group (parser.getgroup(...)): same flags, same dests, same defaults."""
    for option in OPTIONS:
        if PYTEST in option.fronts:
            group.addoption(option.flag, **option.keywords())

