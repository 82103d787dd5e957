"""Firmware regression: compare two stored runs point by point.

Points are matched by (phase, requirement, name). A change is judged against the tolerance (the
delta as a fraction of the point's tolerance half-width) and against the measurement's own
uncertainty: a shift smaller than the expanded uncertainty of the difference is not a change.
As-found points are listed like any other, but only points that decide conformity can make the
comparison fail.
"""

from __future__ import annotations

import base64
import math
from dataclasses import asdict, dataclass
from html import escape
from pathlib import Path

import pandas as pd

from rig.metrology.decision import Verdict
from rig.records import plots
from rig.records.report import INFORMATIVE_PHASES
from rig.records.report_html import STYLE, number, table, verdict_class
from rig.records.store import ResultsStore

KEY = ("phase", "requirement", "name")
NEWLY_FAILS = "newly fails"
FIXED = "fixed"
WORSE = "worse"
BETTER = "better"
MOVED = "moved"  # shifted, but with no nominal to say whether towards or away from it
UNCHANGED = "unchanged"
MISSING_IN_NEW = "missing in new"
ONLY_IN_NEW = "only in new"
FAILING = (Verdict.FAIL.value, Verdict.CONDITIONAL_FAIL.value)
VERDICT_RANK = {Verdict.PASS.value: 0, Verdict.CONDITIONAL_PASS.value: 1,
                Verdict.CONDITIONAL_FAIL.value: 2, Verdict.FAIL.value: 3}
HALF = 0.5


@dataclass(frozen=True)
class PointChange:
    phase: str
    requirement: str
    name: str
    unit: str
    baseline: float | None
    new: float | None
    baseline_verdict: str | None
    new_verdict: str | None
    delta: float | None
    tolerance_half_width: float | None
    delta_fraction: float | None  # delta / tolerance half-width
    significance: float | None  # |delta| / expanded uncertainty of the difference
    change: str

    @property
    def newly_failing(self) -> bool:
        return self.new_verdict in FAILING and self.baseline_verdict not in FAILING


@dataclass
class Comparison:
    baseline_run: int
    new_run: int
    baseline_header: dict
    new_header: dict
    changes: list[PointChange]

    @property
    def newly_failing(self) -> list[PointChange]:
        """Newly failing points that decide conformity (what makes `rig compare` exit 1)."""
        return [c for c in self.changes if c.newly_failing and c.phase not in INFORMATIVE_PHASES]

    @property
    def newly_failing_informative(self) -> list[PointChange]:
        """As-found (or characterisation) points that newly fail: shown, not decisive."""
        return [c for c in self.changes if c.newly_failing and c.phase in INFORMATIVE_PHASES]

    def counts(self) -> dict[str, int]:
        return dict(pd.Series([c.change for c in self.changes], dtype=object).value_counts())

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame([asdict(c) for c in self.changes],
                            columns=list(PointChange.__dataclass_fields__))


def _value(row: pd.Series | None, column: str) -> float | None:
    if row is None or column not in row or row[column] is None:
        return None
    value = float(row[column])
    return None if math.isnan(value) else value


def _half_width(row: pd.Series) -> float | None:
    lower, upper, nominal = _value(row, "lower"), _value(row, "upper"), _value(row, "nominal")
    if lower is not None and upper is not None:
        return (upper - lower) * HALF
    limit = lower if lower is not None else upper
    return abs(limit - nominal) if limit is not None and nominal is not None else None


def _centre(row: pd.Series) -> float | None:
    nominal = _value(row, "nominal")
    if nominal is not None:
        return nominal
    lower, upper = _value(row, "lower"), _value(row, "upper")
    return (lower + upper) * HALF if lower is not None and upper is not None else None


def _significance(delta: float, base: pd.Series, new: pd.Series) -> float | None:
    u_base, u_new = _value(base, "expanded_uncertainty"), _value(new, "expanded_uncertainty")
    if u_base is None or u_new is None:
        return None
    u_diff = math.hypot(u_base, u_new)
    return math.inf if u_diff == 0.0 and delta != 0.0 else (0.0 if u_diff == 0.0 else abs(delta) / u_diff)


def _classify(base: pd.Series, new: pd.Series, significance: float | None) -> str:
    base_verdict, new_verdict = str(base["verdict"]), str(new["verdict"])
    if new_verdict in FAILING and base_verdict not in FAILING:
        return NEWLY_FAILS
    if base_verdict in FAILING and new_verdict not in FAILING:
        return FIXED
    base_rank, new_rank = VERDICT_RANK.get(base_verdict), VERDICT_RANK.get(new_verdict)
    if base_rank is not None and new_rank is not None and base_rank != new_rank:
        return WORSE if new_rank > base_rank else BETTER
    if significance is None or significance <= 1.0:
        return UNCHANGED
    centre = _centre(new)
    if centre is None:
        return MOVED
    closer = abs(_value(new, "measured") - centre) < abs(_value(base, "measured") - centre)
    return BETTER if closer else WORSE


def _change(key: tuple, base: pd.Series | None, new: pd.Series | None) -> PointChange:
    either = new if new is not None else base
    b, n = _value(base, "measured"), _value(new, "measured")
    half = _half_width(either)
    delta = n - b if b is not None and n is not None else None
    significance = None
    if base is None:
        change = ONLY_IN_NEW
    elif new is None:
        change = MISSING_IN_NEW
    else:
        significance = None if delta is None else _significance(delta, base, new)
        change = _classify(base, new, significance)
    return PointChange(
        *key, unit=str(either["unit"]), baseline=b, new=n,
        baseline_verdict=None if base is None else str(base["verdict"]),
        new_verdict=None if new is None else str(new["verdict"]), delta=delta,
        tolerance_half_width=half,
        delta_fraction=delta / half if delta is not None and half else None,
        significance=significance, change=change)


def _by_key(points: pd.DataFrame) -> dict[tuple, pd.Series]:
    return {tuple(row[k] for k in KEY): row for _, row in points.iterrows()}


def compare_runs(store: ResultsStore, baseline_run: int, new_run: int) -> Comparison:
    """Every point of either run, matched; raises KeyError for an unknown run id."""
    headers = store.run(baseline_run), store.run(new_run)
    base, new = _by_key(store.points(baseline_run)), _by_key(store.points(new_run))
    keys = list(dict.fromkeys([*base, *new]))
    changes = [_change(k, base.get(k), new.get(k)) for k in keys]
    return Comparison(baseline_run, new_run, *headers, changes)


@dataclass(frozen=True)
class ComparePaths:
    csv: Path
    html: Path
    png: Path


def delta_png(comparison: Comparison) -> bytes:
    matched = [c for c in comparison.changes if c.delta is not None]
    figure = plots.delta_figure(
        [f"{c.requirement}:{c.name}" for c in matched], [c.delta_fraction for c in matched],
        [c.change for c in matched],
        f"run {comparison.new_run} against baseline run {comparison.baseline_run}")
    return plots.figure_png(figure)


def _run_line(label: str, header: dict) -> list[str]:
    return [escape(label), str(header["id"]), escape(str(header["unit_serial"])),
            escape(str(header["firmware"])), escape(str(header["started_at"])),
            escape(str(header["status"])), escape(str(header.get("verdict")))]


def _html(comparison: Comparison, png: bytes) -> str:
    runs = table(["", "Run", "Unit", "Firmware", "Started (UTC)", "Status", "Verdict"],
                 [_run_line("baseline", comparison.baseline_header),
                  _run_line("new", comparison.new_header)])
    counts = table(["Change", "Points"], [[escape(k), str(v)] for k, v in comparison.counts().items()])
    ordered = sorted(comparison.changes, key=lambda c: c.change == UNCHANGED)
    rows = [[escape(c.phase), escape(c.requirement), escape(c.name), number(c.baseline), number(c.new),
             number(c.delta), number(c.delta_fraction), escape(str(c.baseline_verdict)),
             escape(str(c.new_verdict)), f"<b>{escape(c.change)}</b>"] for c in ordered]
    classes = ["FAIL" if c.newly_failing else verdict_class(c.new_verdict) for c in ordered]
    points = table(["Phase", "Requirement", "Point", "Baseline", "New", "Δ", "Δ / tolerance",
                    "Baseline verdict", "New verdict", "Change"], rows, classes)
    title = f"Run {comparison.new_run} compared with baseline run {comparison.baseline_run}"
    image = base64.b64encode(png).decode("ascii")
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}'
            f"</title><style>{STYLE}</style></head><body><h1>{escape(title)}</h1>{runs}{counts}"
            f'<img alt="delta per point" src="data:image/png;base64,{image}">{points}</body></html>\n')


def write_outputs(comparison: Comparison, out_dir: Path) -> ComparePaths:
    """compare-<baseline>-<new>.csv / .png / .html (self-contained) in out_dir."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = out_dir / f"compare-{comparison.baseline_run}-{comparison.new_run}"
    paths = ComparePaths(stem.with_suffix(".csv"), stem.with_suffix(".html"), stem.with_suffix(".png"))
    comparison.frame().to_csv(paths.csv, index=False)
    png = delta_png(comparison)
    paths.png.write_bytes(png)
    paths.html.write_text(_html(comparison, png), encoding="utf-8")
    return paths
