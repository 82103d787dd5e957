"""Every table `rig stats` shows and exports, computed once from the store's frames."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from rig.stats import capability, drift, station_health, yields
from rig.stats.frames import Filters, StoreFrames


@dataclass
class StatsSummary:
    filters: Filters
    frames: StoreFrames
    yields: pd.DataFrame
    pareto: pd.DataFrame
    capability: pd.DataFrame
    capability_by_station: pd.DataFrame
    health: list[station_health.StationHealth]
    health_table: pd.DataFrame
    pairs: pd.DataFrame
    coefficient_drift: pd.DataFrame
    coefficient_summary: pd.DataFrame
    point_drift: pd.DataFrame
    interval: drift.IntervalRecommendation

    def tables(self) -> dict[str, pd.DataFrame]:
        """The tidy tables for export, by name; "points" is one row per point with its run's metadata."""
        return {"points": self.frames.points, "runs": self.frames.runs, "yield": self.yields,
                "pareto": self.pareto, "capability": self.capability,
                "capability_by_station": self.capability_by_station, "station_health": self.health_table,
                "coefficient_drift": self.coefficient_drift, "point_drift": self.point_drift}


def summarise(frames: StoreFrames, filters: Filters, reliability: float = drift.DEFAULT_RELIABILITY) -> StatsSummary:
    pairs = drift.calibration_pairs(frames.runs, frames.calibrations)
    coefficient_moves = drift.coefficient_drift(pairs, frames.calibrations)
    point_moves = drift.point_drift(pairs, frames.points)
    health = station_health.station_health(frames.points)
    return StatsSummary(
        filters=filters, frames=frames, yields=yields.yield_table(frames.runs),
        pareto=yields.pareto(frames.requirement_verdicts),
        capability=capability.capability_table(frames.points),
        capability_by_station=capability.capability_table(frames.points, by=["station"]),
        health=health, health_table=station_health.health_table(health), pairs=pairs,
        coefficient_drift=coefficient_moves, coefficient_summary=drift.coefficient_summary(coefficient_moves),
        point_drift=point_moves, interval=drift.recommend_interval(point_moves, reliability))
