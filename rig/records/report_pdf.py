"""The compliance report as a typeset PDF (reportlab): for filing where HTML is not accepted.

Title block, requirement table, coefficients before and after, the error plots (the same PNG images
as the HTML report), as-found / as-left points, equipment, and the integrity and signature
block, on A4 landscape with "page n of m". The PDF carries its own stamp (pdf_stamp), so
`rig verify-report run-<id>.pdf` checks it as it checks the HTML.
"""

from __future__ import annotations

import io
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from reportlab.lib.utils import ImageReader
from reportlab.platypus import Flowable, Image, KeepTogether, SimpleDocTemplate

from rig.records import pdf_stamp
from rig.records.pdf_blocks import equipment_table, integrity_block, settings_table, title_block
from rig.records.pdf_styles import (
    FRAME_WIDTH,
    HEADING,
    MARGIN,
    PAGE_SIZE,
    SUBHEADING,
    NumberedCanvas,
    para,
    register_fonts,
    shown,
)
from rig.records.pdf_tables import calibration_blocks, found_left_table, other_points_table, requirements_block

if TYPE_CHECKING:
    from rig.records.report import ReportData
    from rig.records.signing import Signer


def _plots(data: ReportData) -> list[Flowable]:
    """The section, its heading kept with the first plot."""
    heading = para("Plots: error against setpoint per load, with the spec's tolerance band", HEADING)
    images = data.plot_pngs()
    if not images:
        return [heading, para("No accuracy points to plot.")]
    made: list[Flowable] = []
    for requirement, png in images.items():
        width_px, height_px = ImageReader(io.BytesIO(png)).getSize()
        image = Image(io.BytesIO(png), width=FRAME_WIDTH, height=FRAME_WIDTH * height_px / width_px)
        made.append(KeepTogether([*([] if made else [heading]), para(requirement, SUBHEADING), image]))
    return made


def story(data: ReportData, pdf_name: str, report_key_id: str | None) -> list[Flowable]:
    """The document's content, in reading order."""
    other = other_points_table(data.points)
    return [
        *title_block(data),
        para(f"Requirements ({data.spec.product}, {data.spec.document})", HEADING), *requirements_block(data),
        para("Calibration: coefficients before (as found) and after (as left)", HEADING),
        *calibration_blocks(data),
        *_plots(data),
        para("As-found and as-left points", HEADING), found_left_table(data.points),
        *([para("Other points", HEADING), other] if other is not None else []),
        para("Equipment", HEADING), equipment_table(data),
        para("Settings used", HEADING), settings_table(data),
        para("Data integrity and signatures", HEADING), *integrity_block(data, pdf_name, report_key_id),
    ]


def write(data: ReportData, path: Path, signer: Signer | None = None) -> Path:
    """Write the PDF report, stamped (and signed with the station key when given); returns its path."""
    register_fonts()
    h = data.header
    keywords = pdf_stamp.placeholder(data.run_id, data.sha256, data.store_url, h.get("audit_head"), signer)
    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer, pagesize=PAGE_SIZE, leftMargin=MARGIN, rightMargin=MARGIN, topMargin=MARGIN, bottomMargin=MARGIN,
        title=f"{data.spec.product} compliance report, unit {shown(h.get('unit_serial'))}, run {data.run_id}",
        subject=f"rig-run-sha256 {data.sha256}", author=shown(h.get("station")), creator="ix30-rig",
        keywords=keywords)
    footer = (f"{data.spec.product} compliance report · unit {shown(h.get('unit_serial'))} · run {data.run_id}"
              f" · run SHA-256 {data.sha256[:16]}…")
    key_id = signer.verifier.key_id if signer else None
    document.build(story(data, Path(path).name, key_id), canvasmaker=partial(NumberedCanvas, footer=footer))
    stamped = pdf_stamp.stamp(buffer.getvalue(), data.run_id, data.sha256, data.store_url, h.get("audit_head"),
                              signer)
    Path(path).write_bytes(stamped)
    return Path(path)
