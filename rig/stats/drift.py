"""Unit drift between calibrations, and a recommended calibration interval.

Pairs: consecutive calibration runs of one unit where the earlier wrote its calibration and released the
unit (a plain PASS: a unit that failed never went out with that calibration) and the later measured it as
found. Elapsed time: from the calibration date the unit itself reported at the
later run (`CAL?`, kept in the later run's `before` record) when there is one, else from the earlier
run's start.

Coefficients: what the later run fitted minus what the unit held when it came back (`after - before`
of the later run), per polarity and coefficient, and per day.

Points: at every grid point measured as left by the earlier run and as found by the later, the move of
the value on the tolerance's scale (z, rig.stats.capability: limits at -1 and +1), and per day.

Interval (method: variables data, linear drift, normal across units; in the spirit of NCSL RP-1's
variables-data methods): at each such point, the as-left position z0 of a unit and its drift rate r are
taken as independent normal variables fitted over the pairs (mean and standard deviation, n - 1). At t
days the position is then normal with mean m0 + mr t and variance s0^2 + sr^2 t^2, and the fraction of
units still in tolerance there is R(t) = Phi((1 - m)/s) - Phi((-1 - m)/s). The recommended interval is
the last whole day before the worst point's R(t) falls below the reliability target (searched up to
MAX_INTERVAL_DAYS). At least MIN_PAIRS pairs per point are needed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
from scipy.stats import norm

from rig.stats.capability import with_z
from rig.stats.frames import PASSED

DEFAULT_RELIABILITY = 0.95
MAX_INTERVAL_DAYS = 3650
MIN_PAIRS = 3
SECONDS_PER_DAY = 86400.0
COEFFICIENTS = ("dac_gain", "dac_offset", "adc_gain", "adc_offset", "v_gain", "v_offset")


@dataclass
class IntervalRecommendation:
    reliability_target: float
    interval_days: int | None  # None: too few pairs
    governing_point: str
    pairs: int
    method: str = "variables data: linear drift, as-left position and rate normal across units"


def _written(calibrations: pd.DataFrame) -> pd.DataFrame:
    ok = calibrations["written"].astype(bool) & calibrations["readback_ok"].fillna(False).astype(bool)
    return calibrations[ok]


def _unit_date(before: object) -> date | None:
    text = before.get("date") if isinstance(before, dict) else None
    try:
        return date.fromisoformat(str(text)) if text else None
    except ValueError:
        return None


def calibration_pairs(runs: pd.DataFrame, calibrations: pd.DataFrame) -> pd.DataFrame:
    """serial, earlier_run, later_run, days: consecutive runs of a unit, the earlier one calibrated and
    released it."""
    written = set(_written(calibrations)["run_id"])
    rows = []
    for serial, part in runs.sort_values(["started_at", "run_id"]).groupby("serial", sort=True):
        ordered = part.to_dict("records")
        for earlier, later in zip(ordered, ordered[1:], strict=False):
            if earlier["run_id"] not in written or earlier["verdict"] != PASSED:
                continue
            later_cal = calibrations[calibrations["run_id"] == later["run_id"]]
            unit_dates = [d for d in map(_unit_date, later_cal["before"]) if d is not None]
            if unit_dates:
                days = float((later["started_at"].date() - max(unit_dates)).days)
            else:
                days = (later["started_at"] - earlier["started_at"]).total_seconds() / SECONDS_PER_DAY
            rows.append({"serial": serial, "earlier_run": earlier["run_id"], "later_run": later["run_id"],
                         "days": days})
    return pd.DataFrame(rows, columns=["serial", "earlier_run", "later_run", "days"])


def coefficient_drift(pairs: pd.DataFrame, calibrations: pd.DataFrame) -> pd.DataFrame:
    """One row per pair, polarity and coefficient: held (before), fitted (after), delta, delta per day."""
    rows = []
    for pair in pairs.to_dict("records"):
        for record in calibrations[calibrations["run_id"] == pair["later_run"]].to_dict("records"):
            for name in COEFFICIENTS:
                held, fitted = record["before"].get(name), record["after"].get(name)
                if not isinstance(held, int | float) or not isinstance(fitted, int | float):
                    continue
                delta = float(fitted) - float(held)
                rows.append({**pair, "polarity": record["polarity"], "coefficient": name, "held": float(held),
                             "fitted": float(fitted), "delta": delta,
                             "delta_per_day": delta / pair["days"] if pair["days"] > 0 else float("nan")})
    return pd.DataFrame(rows, columns=[*pairs.columns, "polarity", "coefficient", "held", "fitted", "delta",
                                       "delta_per_day"])


def point_drift(pairs: pd.DataFrame, points: pd.DataFrame) -> pd.DataFrame:
    """One row per pair and grid point: z as left (earlier run), z as found (later run), the move per day."""
    scaled = with_z(points)
    keys = ["run_id", "requirement", "name"]
    left = scaled[scaled["phase"] == "as_left"][keys + ["z"]].rename(columns={"run_id": "earlier_run", "z": "z_left"})
    found = scaled[scaled["phase"] == "as_found"][keys + ["z"]].rename(columns={"run_id": "later_run",
                                                                                "z": "z_found"})
    merged = pairs.merge(left, on="earlier_run").merge(found, on=["later_run", "requirement", "name"])
    merged["z_move"] = merged["z_found"] - merged["z_left"]
    merged["z_move_per_day"] = np.where(merged["days"] > 0, merged["z_move"] / merged["days"].where(merged["days"] > 0),
                                        np.nan)
    return merged


def in_tolerance_fraction(z_left: np.ndarray, rate_per_day: np.ndarray, days: np.ndarray) -> np.ndarray:
    """R(t) of the module's method for one point, at each of `days`."""
    m0, s0 = float(np.mean(z_left)), float(np.std(z_left, ddof=1))
    mr, sr = float(np.mean(rate_per_day)), float(np.std(rate_per_day, ddof=1))
    mean = m0 + mr * days
    spread = np.sqrt(s0 ** 2 + (sr * days) ** 2)
    spread = np.maximum(spread, np.finfo(float).tiny)
    return norm.cdf((1.0 - mean) / spread) - norm.cdf((-1.0 - mean) / spread)


def recommend_interval(moves: pd.DataFrame, target: float = DEFAULT_RELIABILITY) -> IntervalRecommendation:
    if not 0.0 < target < 1.0:
        raise ValueError(f"reliability target must be between 0 and 1, got {target}")
    usable = moves[np.isfinite(moves["z_move_per_day"])] if not moves.empty else moves
    days = np.arange(0, MAX_INTERVAL_DAYS + 1, dtype=float)
    worst_day, worst_point, pairs = None, "", 0
    for (requirement, name), part in usable.groupby(["requirement", "name"], sort=True) if len(usable) else []:
        if len(part) < MIN_PAIRS:
            continue
        pairs = max(pairs, len(part))
        reliability = in_tolerance_fraction(part["z_left"].to_numpy(), part["z_move_per_day"].to_numpy(), days)
        below = np.flatnonzero(reliability < target)
        last_day = MAX_INTERVAL_DAYS if len(below) == 0 else max(int(below[0]) - 1, 0)
        if worst_day is None or last_day < worst_day:
            worst_day, worst_point = last_day, f"{requirement} {name}"
    return IntervalRecommendation(reliability_target=target, interval_days=worst_day, governing_point=worst_point,
                                  pairs=pairs)


def coefficient_summary(drift: pd.DataFrame) -> pd.DataFrame:
    """Per polarity and coefficient: pairs, mean and standard deviation of the change and of its rate."""
    columns = ["polarity", "coefficient", "pairs", "mean_delta", "std_delta", "mean_per_day", "std_per_day"]
    if drift.empty:
        return pd.DataFrame(columns=columns)
    grouped = drift.groupby(["polarity", "coefficient"], sort=True)
    table = grouped.agg(pairs=("delta", "size"), mean_delta=("delta", "mean"), std_delta=("delta", "std"),
                        mean_per_day=("delta_per_day", "mean"), std_per_day=("delta_per_day", "std"))
    return table.reset_index()[columns]
