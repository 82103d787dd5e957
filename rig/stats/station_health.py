"""Station health: the as-left error at one reference point, across units in time order, per station,
on an individuals chart (rig.stats.control_chart). Every unit is calibrated at that point, so a shift
common to the units a station tested comes from the station (its analyzer or load) rather than from
the units: a drifting analyzer shows here before it fails units."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from rig.stats.control_chart import IndividualsChart, individuals_chart


@dataclass(frozen=True)
class ReferencePoint:
    requirement: str = "dc_accuracy"
    waveform: str = "DC"
    polarity: str = "POS"
    load_ohm: float = 1000.0
    setpoint_ma: float = 10.0
    phase: str = "as_left"

    def describe(self) -> str:
        return (f"{self.phase} {self.requirement} error at {self.setpoint_ma:g} mA / {self.load_ohm:g} ohm, "
                f"{self.waveform} {self.polarity}")


REFERENCE = ReferencePoint()


@dataclass
class StationHealth:
    station: str
    taken_at: list[pd.Timestamp]
    serials: list[str]
    chart: IndividualsChart
    unit: str


def reference_values(points: pd.DataFrame, reference: ReferencePoint = REFERENCE) -> pd.DataFrame:
    """The reference point of every run that has it: station, taken_at, serial, error (measured - nominal)."""
    chosen = points[(points["phase"] == reference.phase) & (points["requirement"] == reference.requirement)
                    & (points["waveform"] == reference.waveform) & (points["polarity"] == reference.polarity)
                    & np.isclose(points["load_ohm"].astype(float), reference.load_ohm)
                    & np.isclose(points["setpoint_ma"].astype(float), reference.setpoint_ma)]
    chosen = chosen[np.isfinite(chosen["measured"]) & np.isfinite(chosen["nominal"])]
    return (chosen.assign(error=chosen["measured"] - chosen["nominal"])
            .sort_values(["taken_at", "run_id"])[["station", "run_id", "taken_at", "serial", "error", "unit"]])


def station_health(points: pd.DataFrame, reference: ReferencePoint = REFERENCE) -> list[StationHealth]:
    values = reference_values(points, reference)
    found = []
    for station, part in values.groupby("station", sort=True):
        units = part["unit"].dropna().unique()
        found.append(StationHealth(station=str(station), taken_at=list(part["taken_at"]),
                                   serials=list(part["serial"]), chart=individuals_chart(part["error"].to_numpy()),
                                   unit=str(units[0]) if len(units) else ""))
    return found


def health_table(health: list[StationHealth]) -> pd.DataFrame:
    rows = [{"station": h.station, "n": len(h.chart.values), "centre": h.chart.centre, "sigma": h.chart.sigma,
             "lcl": h.chart.lower_limit, "ucl": h.chart.upper_limit, "unit": h.unit,
             "points_flagged": len(h.chart.violations),
             "rules_broken": ",".join(str(r) for r in h.chart.rules_broken()) or "none"} for h in health]
    return pd.DataFrame(rows, columns=["station", "n", "centre", "sigma", "lcl", "ucl", "unit", "points_flagged",
                                       "rules_broken"])
