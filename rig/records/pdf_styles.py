"""How the PDF report looks: page, fonts, paragraph styles, verdict colours, "page n of m".

The fonts are the DejaVu faces matplotlib ships (already a dependency): unlike the PDF base fonts
they have every sign the spec's limits use (±, ≤, ≥, ×, µ, Ω), and reportlab embeds them.
"""

from __future__ import annotations

import math
from datetime import date, datetime
from pathlib import Path
from xml.sax.saxutils import escape

import matplotlib
import pandas as pd
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Paragraph

PAGE_SIZE = landscape(A4)
MARGIN = 12 * mm
FRAME_WIDTH = PAGE_SIZE[0] - 2 * MARGIN
FOOTER_Y = 6 * mm
MISSING = "—"
NOT_RECORDED = "not recorded"
NUMBER_DIGITS = 6

SANS, SANS_BOLD, MONO = "RigSans", "RigSans-Bold", "RigMono"
_FONT_FILES = {SANS: "DejaVuSans.ttf", SANS_BOLD: "DejaVuSans-Bold.ttf", MONO: "DejaVuSansMono.ttf"}

VERDICT_COLOURS = {"PASS": colors.HexColor("#d8f5d8"), "FAIL": colors.HexColor("#f7c6c6"),
                   "CONDITIONAL": colors.HexColor("#fbe7b5")}
ALARM_COLOUR = colors.HexColor("#c00000")
HEADER_COLOUR = colors.HexColor("#e6e6e6")
GRID_COLOUR = colors.HexColor("#999999")


def register_fonts() -> None:
    """Register the embedded faces once per process."""
    if SANS in pdfmetrics.getRegisteredFontNames():
        return
    folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    for name, file in _FONT_FILES.items():
        pdfmetrics.registerFont(TTFont(name, str(folder / file)))
    pdfmetrics.registerFontFamily(SANS, normal=SANS, bold=SANS_BOLD, italic=SANS, boldItalic=SANS_BOLD)


def _style(name: str, size: float, font: str = SANS, **extra: object) -> ParagraphStyle:
    return ParagraphStyle(name, fontName=font, fontSize=size, leading=size * 1.25, **extra)


BODY = _style("body", 8.5, spaceAfter=3)
CELL = _style("cell", 7)
CELL_CODE = _style("cell-code", 7, MONO, wordWrap="CJK")  # hashes and addresses break anywhere
HEADER_CELL = _style("header-cell", 7, SANS_BOLD)
TITLE = _style("title", 17, SANS_BOLD, spaceAfter=2)
SUBTITLE = _style("subtitle", 10.5, spaceAfter=8)
HEADING = _style("heading", 12, SANS_BOLD, spaceBefore=10, spaceAfter=4, keepWithNext=1)
SUBHEADING = _style("subheading", 9.5, SANS_BOLD, spaceBefore=6, spaceAfter=3, keepWithNext=1)
ALARM = _style("alarm", 10, SANS_BOLD, textColor=colors.white, backColor=ALARM_COLOUR, borderPadding=4,
               spaceBefore=4, spaceAfter=8)
VERDICT = _style("verdict", 15, SANS_BOLD, alignment=TA_CENTER, borderPadding=6, spaceBefore=6,
                 spaceAfter=10)


def verdict_colour(verdict: object) -> colors.Color | None:
    text = str(verdict or "")
    return VERDICT_COLOURS["CONDITIONAL"] if text.startswith("CONDITIONAL") else VERDICT_COLOURS.get(text)


def shown(value: object, missing: str = MISSING) -> str:
    """A value as a reader should see it: numbers to 6 significant digits, yes/no, dates in ISO
    form, a mapping as `key value` pairs, a list comma-separated; nothing, NaN or an empty text is `missing`."""
    if hasattr(value, "item") and not hasattr(value, "__len__"):
        value = value.item()  # a numpy scalar
    if value is None or value is pd.NA or value is pd.NaT or value == "":
        return missing
    if isinstance(value, float) and math.isnan(value):
        return missing
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float | int):
        return f"{value:.{NUMBER_DIGITS}g}"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return "; ".join(f"{k} {shown(v, missing)}" for k, v in value.items()) or missing
    if isinstance(value, list | tuple):
        return ", ".join(shown(v, missing) for v in value) or missing
    return str(value)


def cell(value: object, style: ParagraphStyle = CELL, missing: str = MISSING) -> Paragraph:
    """A table cell that wraps inside its column."""
    return Paragraph(escape(shown(value, missing)), style)


def para(text: str, style: ParagraphStyle = BODY) -> Paragraph:
    """A paragraph of plain text (escaped; no markup)."""
    return Paragraph(escape(text), style)


class NumberedCanvas(Canvas):
    """Draws each page's footer once the page count is known: "page n of m"."""

    def __init__(self, *args: object, footer: str = "", **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self._footer = footer
        self._pages: list[dict] = []

    def showPage(self) -> None:  # noqa: N802 - reportlab's name
        self._pages.append(dict(self.__dict__))
        self._startPage()

    def save(self) -> None:
        total = len(self._pages)
        for number, state in enumerate(self._pages, start=1):
            self.__dict__.update(state)
            self.setFont(SANS, 7)
            self.setFillColor(colors.black)
            self.drawString(MARGIN, FOOTER_Y, self._footer)
            self.drawRightString(PAGE_SIZE[0] - MARGIN, FOOTER_Y, f"page {number} of {total}")
            super().showPage()
        super().save()
