"""Process capability (Cp, Cpk) of the as-left values against the spec's limits.

The limits are the spec's own (stored with every point as lower/upper), never the guard-banded
acceptance limits: the decision rule changes verdicts, not the statistic. Within a family (a
requirement at one load, polarity and waveform) the tolerance varies with the setpoint, so each value
is first put on the tolerance's own scale, z = (measured - mid) / half-width, where the limits are
z = -1 and z = +1. Then, with the sample mean m and standard deviation s (n - 1) of z:

    Cp = (USL - LSL) / 6s = 2 / 6s = 1 / 3s        Cpk = min(USL - m, m - LSL) / 3s = (1 - |m|) / 3s

A family below CPK_TARGET (1.33) is flagged. At least MIN_N values are needed for a figure.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

CPK_TARGET = 1.33
MIN_N = 2
AS_LEFT = "as_left"
FAMILY_KEYS = ["requirement", "waveform", "load_ohm", "polarity"]
COLUMNS = ["n", "mean_error", "std_error", "unit", "mean_z", "std_z", "cp", "cpk", "below_target"]


def with_z(points: pd.DataFrame) -> pd.DataFrame:
    """Points with both limits finite, with error = measured - nominal and z on the tolerance's scale
    (see the module's docstring)."""
    usable = points[np.isfinite(points["measured"]) & np.isfinite(points["lower"]) & np.isfinite(points["upper"])
                    & (points["upper"] > points["lower"])].copy()
    mid = (usable["upper"] + usable["lower"]) / 2.0
    half = (usable["upper"] - usable["lower"]) / 2.0
    usable["z"] = (usable["measured"] - mid) / half
    nominal = usable["nominal"].where(np.isfinite(usable["nominal"]), mid)
    usable["error"] = usable["measured"] - nominal
    return usable


def normalised(points: pd.DataFrame) -> pd.DataFrame:
    """The as-left points of with_z: what capability is computed on."""
    return with_z(points[points["phase"] == AS_LEFT])


def indices(z: pd.Series) -> tuple[float, float]:
    """(Cp, Cpk) of values on the tolerance's scale (limits at -1 and +1); NaN below MIN_N values or
    with no spread."""
    values = z.to_numpy(dtype=float)
    if len(values) < MIN_N:
        return float("nan"), float("nan")
    s = float(np.std(values, ddof=1))
    if s == 0.0:
        return float("nan"), float("nan")
    m = float(np.mean(values))
    return 1.0 / (3.0 * s), (1.0 - abs(m)) / (3.0 * s)


def _row(part: pd.DataFrame) -> dict:
    cp, cpk = indices(part["z"])
    units = part["unit"].dropna().unique()
    return {"n": len(part), "mean_error": part["error"].mean(),
            "std_error": part["error"].std(ddof=1) if len(part) > 1 else float("nan"),
            "unit": units[0] if len(units) == 1 else "", "mean_z": part["z"].mean(),
            "std_z": part["z"].std(ddof=1) if len(part) > 1 else float("nan"), "cp": cp, "cpk": cpk,
            "below_target": bool(np.isfinite(cpk) and cpk < CPK_TARGET)}


def _family_name(waveform: object, load_ohm: float, polarity: object) -> str:
    parts = [str(waveform) if isinstance(waveform, str) else "",
             f"{load_ohm:g} ohm" if np.isfinite(load_ohm) else "", str(polarity) if isinstance(polarity, str) else ""]
    return " ".join(p for p in parts if p) or "(no grid parameters)"


def capability_table(points: pd.DataFrame, by: list[str] | None = None) -> pd.DataFrame:
    """One row per requirement (family "all") and per family, optionally split further by `by` (e.g.
    ["station"]); ordered with the lowest Cpk first."""
    usable = normalised(points)
    extra = list(by or [])
    keys = extra + ["family"] + FAMILY_KEYS
    if usable.empty:
        return pd.DataFrame(columns=keys + COLUMNS)
    rows = []
    for group, part in usable.groupby(extra + ["requirement"], sort=True, dropna=False):
        group = group if isinstance(group, tuple) else (group,)
        base = dict(zip(extra + ["requirement"], group, strict=True))
        rows.append({**base, "family": "all", "waveform": "", "load_ohm": np.nan, "polarity": "", **_row(part)})
        for family, fpart in part.groupby(["waveform", "load_ohm", "polarity"], sort=True, dropna=False):
            waveform, load_ohm, polarity = family
            name = _family_name(waveform, load_ohm, polarity)
            rows.append({**base, "family": name, "waveform": waveform, "load_ohm": load_ohm,
                         "polarity": polarity, **_row(fpart)})
    table = pd.DataFrame(rows)[keys + COLUMNS]
    return table.sort_values(["cpk"] + extra + ["requirement", "family"], na_position="last").reset_index(drop=True)
