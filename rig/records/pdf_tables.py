"""The PDF report's result tables: requirements, calibration coefficients and fit residuals,
as-found / as-left points. Every cell is a wrapping paragraph inside a column of fixed width, so no
text runs off the page; headers repeat on each page a table spans."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import pandas as pd
from reportlab.platypus import Flowable, Table, TableStyle

from rig.records.pdf_styles import (
    CELL_CODE,
    FRAME_WIDTH,
    GRID_COLOUR,
    HEADER_CELL,
    HEADER_COLOUR,
    MISSING,
    SUBHEADING,
    cell,
    para,
    shown,
    verdict_colour,
)
from rig.records.report_html import found_left_frame

if TYPE_CHECKING:
    from rig.records.report import ReportData, RequirementRow

PADDING_PT = 2.5


def grid(headers: Sequence[str], rows: Sequence[Sequence[object]], widths: Sequence[float],
         verdicts: Sequence[object] | None = None) -> Table:
    """A table over the frame's width; `widths` are fractions of it; a row is tinted by its verdict.
    Cells that are not flowables are shown through pdf_styles.shown."""
    body = [[value if isinstance(value, Flowable) else cell(value) for value in row] for row in rows]
    table = Table([[cell(h, HEADER_CELL) for h in headers], *body], repeatRows=1,
                  colWidths=[w * FRAME_WIDTH for w in widths], hAlign="LEFT")
    style = [("GRID", (0, 0), (-1, -1), 0.25, GRID_COLOUR), ("BACKGROUND", (0, 0), (-1, 0), HEADER_COLOUR),
             ("VALIGN", (0, 0), (-1, -1), "TOP"),
             *((side, (0, 0), (-1, -1), PADDING_PT)
               for side in ("TOPPADDING", "BOTTOMPADDING", "LEFTPADDING", "RIGHTPADDING"))]
    for i, verdict in enumerate(verdicts or []):
        colour = verdict_colour(verdict)
        if colour is not None:
            style.append(("BACKGROUND", (0, i + 1), (-1, i + 1), colour))
    table.setStyle(TableStyle(style))
    return table


def with_unit(value: object, unit: object) -> str:
    text = shown(value)
    return text if text == MISSING or not unit else f"{text} {unit}"


def limits(lower: object, upper: object, unit: object = "") -> str:
    if shown(lower) == MISSING and shown(upper) == MISSING:
        return MISSING
    return with_unit(f"{shown(lower)} to {shown(upper)}", unit)


REQUIREMENT_HEADERS = ("Requirement", "Spec clause", "Spec limit", "Points", "Worst point", "Worst measured",
                       "Nominal", "Limits", "U (k=2)", "TUR (min)", "Verdict", "Notes")
REQUIREMENT_WIDTHS = (0.09, 0.095, 0.155, 0.04, 0.11, 0.075, 0.055, 0.095, 0.08, 0.055, 0.06, 0.09)
# Longer notes go below the table: a table row cannot break across pages, and one taller than a
# page cannot be laid out at all.
INLINE_NOTE_CHARS = 80


def _requirement_cells(row: RequirementRow, note: str) -> list[object]:
    tur = shown(row.min_tur) + (" LOW (< 4)" if row.low_tur else "")
    return [row.key, row.clause, row.limit, row.n_points, row.worst_name,
            with_unit(row.worst_measured, row.unit), with_unit(row.nominal, row.unit),
            limits(row.lower, row.upper, row.unit), with_unit(row.expanded_uncertainty, row.unit), tur,
            row.verdict, note]


def requirements_block(data: ReportData) -> list[Flowable]:
    """The requirement table, then its long notes, numbered."""
    rows, notes = [], []
    for r in data.requirements:
        if len(r.notes) > INLINE_NOTE_CHARS:
            notes.append(para(f"Note {len(notes) + 1} ({r.key}): {r.notes}"))
            rows.append(_requirement_cells(r, f"see note {len(notes)} below"))
        else:
            rows.append(_requirement_cells(r, r.notes))
    return [grid(REQUIREMENT_HEADERS, rows, REQUIREMENT_WIDTHS, [r.verdict for r in data.requirements]), *notes]


def _change(before: object, after: object) -> float | None:
    if isinstance(before, int | float) and isinstance(after, int | float):
        return float(after) - float(before)
    return None


COEFFICIENT_WIDTHS = (0.16, 0.14, 0.14, 0.14)
RESIDUAL_NAMES = {"max_abs": "Max |residual|", "rms": "RMS residual", "unit": "Unit"}


def residuals_table(residuals: dict) -> Table | None:
    """One row per fit; its summary values (max, rms, unit) as columns."""
    if not residuals:
        return None
    columns = list(dict.fromkeys(k for v in residuals.values() if isinstance(v, dict) for k in v))
    rows = [[name, *((value.get(c) for c in columns) if isinstance(value, dict) else [value])]
            for name, value in residuals.items()]
    headers = ["Fit", *(RESIDUAL_NAMES.get(c, c) for c in columns)] if columns else ["Fit", "Value"]
    width = max(len(headers) - 1, 1)
    return grid(headers, [row + [None] * (len(headers) - len(row)) for row in rows],
                [0.16, *[0.42 / width] * width])


def calibration_blocks(data: ReportData) -> list[Flowable]:
    """Per polarity: coefficients before (as found) and after (as left), and the fit residuals."""
    if not data.calibrations:
        return [para("No calibration was recorded in this run.")]
    made: list[Flowable] = []
    for cal in data.calibrations:
        before, after = cal.get("before") or {}, cal.get("after") or {}
        made.append(para(f"Polarity {shown(cal.get('polarity'))}: written {shown(cal.get('written'))}, "
                         f"read back OK {shown(cal.get('readback_ok'))}", SUBHEADING))
        names = list(dict.fromkeys([*before, *after]))
        made.append(grid(["Coefficient", "Before (as found)", "After (as left)", "Change"],
                         [[n, before.get(n), after.get(n), _change(before.get(n), after.get(n))] for n in names],
                         COEFFICIENT_WIDTHS))
        residuals = residuals_table(cal.get("residuals") or {})
        if residuals is not None:
            made += [para("Fit residuals (how far the unit's bow leaves the line from the truth)", SUBHEADING),
                     residuals]
        if cal.get("notes"):
            made.append(para(str(cal["notes"])))
    return made


POINT_HEADERS = ("Requirement", "Point", "Nominal", "Limits (as left)", "As found", "Verdict", "As left",
                 "Verdict", "U (k=2)", "TUR")
POINT_WIDTHS = (0.11, 0.185, 0.07, 0.13, 0.08, 0.09, 0.08, 0.09, 0.085, 0.07)


def found_left_table(points: pd.DataFrame) -> Flowable:
    """As found next to as left, matched by requirement and point; values with their units."""
    merged = found_left_frame(points)
    if merged is None:
        return para("No as-found or as-left points in this run.")
    rows = [[r["requirement"], r["name"], with_unit(r["nominal"], r["unit"]),
             limits(r["lower"], r["upper"], r["unit"]), with_unit(r["measured_found"], r["unit"]),
             r["verdict_found"], with_unit(r["measured_left"], r["unit"]), r["verdict_left"],
             with_unit(r["expanded_uncertainty"], r["unit"]), r["tur"]] for _, r in merged.iterrows()]
    return grid(POINT_HEADERS, rows, POINT_WIDTHS, list(merged["verdict_left"]))


OTHER_HEADERS = ("Phase", "Requirement", "Point", "Nominal", "Limits", "Measured", "Verdict", "U (k=2)", "TUR")
OTHER_WIDTHS = (0.09, 0.12, 0.205, 0.08, 0.14, 0.09, 0.1, 0.095, 0.08)


def other_points_table(points: pd.DataFrame) -> Table | None:
    """Points of the other phases (e.g. characterisation), or None when there are none."""
    other = points[~points["phase"].isin(["as_found", "as_left"])] if len(points) else points
    if other.empty:
        return None
    rows = [[r["phase"], r["requirement"], r["name"], with_unit(r.get("nominal"), r.get("unit")),
             limits(r.get("lower"), r.get("upper"), r.get("unit")), with_unit(r.get("measured"), r.get("unit")),
             r.get("verdict"), with_unit(r.get("expanded_uncertainty"), r.get("unit")), r.get("tur")]
            for _, r in other.iterrows()]
    return grid(OTHER_HEADERS, rows, OTHER_WIDTHS, list(other["verdict"]))


def code_cell(value: object, missing: str = MISSING) -> Flowable:
    """A hash, signature or address: monospaced, broken anywhere to fit its column."""
    return cell(value, CELL_CODE, missing)
