"""The `rig stats --html` page: one self-contained file (inline CSS, plots as base64 PNG)."""

from __future__ import annotations

import base64
import html
import math
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from rig.stats import drift, plots
from rig.stats.capability import CPK_TARGET
from rig.stats.control_chart import RULES
from rig.stats.station_health import REFERENCE
from rig.stats.summary import StatsSummary
from rig.units import PERCENT

STYLE = """body{font-family:sans-serif;margin:2em;max-width:80em}table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #ccc;padding:2px 6px;font-size:90%;text-align:right}th{background:#eee}
tr.flag td{background:#fdd}p.method{color:#444;font-size:90%}"""


def _cell(value: object) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:.4g}"
    return html.escape(str(value))


def _table(frame: pd.DataFrame, flag_column: str | None = None) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = []
    for record in frame.to_dict("records"):
        flagged = flag_column is not None and bool(record.get(flag_column))
        cells = "".join(f"<td>{_cell(v)}</td>" for v in record.values())
        rows.append(f'<tr class="flag">{cells}</tr>' if flagged else f"<tr>{cells}</tr>")
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def _image(png: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}">'


def _filters(summary: StatsSummary) -> str:
    f = summary.filters
    chosen = [f"{name} {value}" for name, value in (("since", f.since), ("station", f.station),
                                                    ("firmware", f.firmware), ("requirement", f.requirement))
              if value is not None]
    return ", ".join(chosen) or "none"


def _yield_table(summary: StatsSummary) -> pd.DataFrame:
    table = summary.yields.copy()
    for column in ("first_pass_yield", "final_yield"):
        table[column] = [f"{v * PERCENT:.1f} %" if math.isfinite(v) else "–" for v in table[column]]
    return table


def _drift_section(summary: StatsSummary) -> str:
    pairs = summary.pairs
    if pairs.empty:
        return "<h2>Unit drift</h2><p>No unit was calibrated more than once.</p>"
    interval = summary.interval
    verdict = ("not enough pairs (at least 3 per point)" if interval.interval_days is None else
               f"<b>{interval.interval_days} days</b> for {interval.reliability_target * PERCENT:g} % of units in "
               f"tolerance at every point (governed by {html.escape(interval.governing_point)}, "
               f"{interval.pairs} pairs)")
    return (f"<h2>Unit drift</h2><p>{len(pairs)} recalibrations of {pairs['serial'].nunique()} units.</p>"
            f"<p>Recommended calibration interval: {verdict}.</p>"
            f'<p class="method">Method: {html.escape(drift.__doc__ or "")}</p>'
            + _table(summary.coefficient_summary)
            + _image(plots.png(plots.drift_figure(summary.point_drift, summary.coefficient_drift)), "drift"))


def render(summary: StatsSummary) -> str:
    runs = summary.frames.runs
    parts = [f"<h1>IX-30 quality statistics</h1><p>{len(runs)} runs of "
             f"{runs['serial'].nunique() if len(runs) else 0} units; filters: {html.escape(_filters(summary))}; "
             f"made {datetime.now(UTC):%Y-%m-%d %H:%M} UTC.</p>",
             "<h2>Yield</h2><p>First-pass: the unit's first test passed; final: its last did. A retested unit "
             "counts once.</p>", _table(_yield_table(summary)),
             "<h2>Failing requirements (Pareto)</h2>",
             _table(summary.pareto) if len(summary.pareto) else "<p>No requirement failed.</p>",
             f"<h2>Capability</h2><p>As-left values against the spec's limits, on the tolerance's scale; flagged "
             f"below Cpk {CPK_TARGET}.</p>"]
    if len(summary.capability):
        parts.append(_image(plots.png(plots.capability_figure(summary.capability)), "capability"))
    parts += [_table(summary.capability, "below_target"), "<h3>Per station</h3>",
              _table(summary.capability_by_station, "below_target"),
              f"<h2>Station health</h2><p>Reference: {html.escape(REFERENCE.describe())}. Individuals chart "
              f"(sigma from the mean moving range / 1.128); Western Electric rules: "
              + "; ".join(f"{k}: {html.escape(v)}" for k, v in RULES.items()) + ".</p>",
              _table(summary.health_table)]
    if summary.health:
        parts.append(_image(plots.png(plots.health_figure(summary.health, REFERENCE.describe())), "station health"))
    parts.append(_drift_section(summary))
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>IX-30 quality statistics</title>"
            f"<style>{STYLE}</style></head><body>{''.join(parts)}</body></html>")


def write_plots(summary: StatsSummary, folder: Path) -> list[Path]:
    """The page's plots as PNG files: capability.png, station-health.png, drift.png (those with data)."""
    folder.mkdir(parents=True, exist_ok=True)
    figures = {}
    if len(summary.capability):
        figures["capability"] = plots.capability_figure(summary.capability)
    if summary.health:
        figures["station-health"] = plots.health_figure(summary.health, REFERENCE.describe())
    if len(summary.pairs):
        figures["drift"] = plots.drift_figure(summary.point_drift, summary.coefficient_drift)
    written = []
    for name, figure in figures.items():
        path = folder / f"{name}.png"
        path.write_bytes(plots.png(figure))
        written.append(path)
    return written


def write_page(summary: StatsSummary, out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(summary), encoding="utf-8")
    return out
