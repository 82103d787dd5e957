"""A summary PDF of the report (matplotlib PdfPages): tables as monospaced text, then the plots.

The HTML is the full report; the PDF is for filing where HTML is not accepted. It carries the
same run SHA-256 (on its first page and in its metadata).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure

from rig.records import plots
from rig.records.report_html import number

if TYPE_CHECKING:
    from rig.records.report import ReportData

A4_PORTRAIT_IN = (8.27, 11.69)
A4_LANDSCAPE_IN = (11.69, 8.27)
FONT_SIZE_PT = 7
LINES_PER_PAGE = 88
TOP_FRACTION = 0.97
LEFT_FRACTION = 0.04
LINE_STEP_FRACTION = (TOP_FRACTION - 0.03) / LINES_PER_PAGE
NAME_WIDTH = 20
VERDICT_WIDTH = 17
VALUE_WIDTH = 12


def _signature_line(signature: dict | None) -> str:
    if not signature:
        return "Run signature: none (unsigned: integrity not proven)"
    return f"Run signature (station key {signature.get('key_id')}): {signature.get('sig')}"


def _header_lines(data: ReportData) -> list[str]:
    h = data.header
    lines = [f"{data.spec.product} report: unit {h['unit_serial']} ({h['unit_model']}), run {data.run_id}",
             ""]
    if not data.finished:
        lines += [f"*** RUN DID NOT FINISH: status {h['status']!r}. Results are incomplete. ***", ""]
    if h.get("due_override"):
        lines += [f"*** CALIBRATION DUE-DATE OVERRIDE: {h.get('due_override_reason')} ***", ""]
    for inst in data.overdue:
        lines += [f"*** OVERDUE: {inst.role} {inst.model} s/n {inst.serial}, due {inst.cal_due} ***"]
    lines += [f"Overall verdict: {h.get('verdict') or 'none (run did not finish)'}",
              f"Decision rule:   {h['decision_rule']}",
              f"Firmware {h['firmware']}; station {h['station']} slot {h['slot']}; "
              f"operator {h['operator']}",
              f"Started {h['started_at']} UTC; finished {h.get('finished_at')}; status {h['status']}",
              f"Ambient {number(h.get('ambient_temp_c'))} °C, {number(h.get('ambient_rh_pct'))} %RH",
              f"Run SHA-256 {data.sha256}", f"Store {data.store_url}",
              f"Audit head {h.get('audit_head')}", _signature_line(h.get("signature")), ""]
    return lines


def _requirement_lines(data: ReportData) -> list[str]:
    lines = ["Requirements", f"{'requirement':<{NAME_WIDTH}}{'verdict':<{VERDICT_WIDTH}}"
             f"{'worst':>{VALUE_WIDTH}}{'lower':>{VALUE_WIDTH}}{'upper':>{VALUE_WIDTH}}"
             f"{'U':>{VALUE_WIDTH}}{'TUR min':>{VALUE_WIDTH}}"]
    for r in data.requirements:
        cells = (r.worst_measured, r.lower, r.upper, r.expanded_uncertainty, r.min_tur)
        values = "".join(f"{number(v):>{VALUE_WIDTH}}" for v in cells)
        lines.append(f"{r.key:<{NAME_WIDTH}}{r.verdict:<{VERDICT_WIDTH}}{values}"
                     f"{' LOW TUR' if r.low_tur else ''} {r.unit}")
        lines.append(f"    {r.clause}: {r.limit}")
    return [*lines, ""]


def _calibration_lines(data: ReportData) -> list[str]:
    lines = ["Calibration coefficients (before -> after)"]
    for cal in data.calibrations:
        before, after = cal.get("before") or {}, cal.get("after") or {}
        lines.append(f"  polarity {cal['polarity']}: written {cal.get('written')}, "
                     f"read back OK {cal.get('readback_ok')}")
        for name in dict.fromkeys([*before, *after]):
            lines.append(f"    {name:<{NAME_WIDTH}}{number(before.get(name)):>{VALUE_WIDTH}} -> "
                         f"{number(after.get(name)):>{VALUE_WIDTH}}")
        lines.append(f"    residuals: {cal.get('residuals')}")
    return [*lines, ""]


def _equipment_lines(data: ReportData) -> list[str]:
    lines = ["Equipment"]
    for i in data.instruments:
        lines.append(f"  {i.role:<12}{i.model:<14}s/n {i.serial:<14}cert {i.certificate:<14}"
                     f"due {i.cal_due}{'  OVERDUE' if i.overdue else ''}")
    return lines


def _text_page(lines: list[str]) -> Figure:
    figure = Figure(figsize=A4_PORTRAIT_IN)
    for i, line in enumerate(lines):
        figure.text(LEFT_FRACTION, TOP_FRACTION - i * LINE_STEP_FRACTION, line,
                    family="monospace", fontsize=FONT_SIZE_PT, va="top")
    return figure


def summary_lines(data: ReportData) -> list[str]:
    return [*_header_lines(data), *_requirement_lines(data), *_calibration_lines(data),
            *_equipment_lines(data)]


def write(data: ReportData, path: Path) -> Path:
    """Write the summary PDF; returns its path."""
    lines = summary_lines(data)
    metadata = {"Title": f"{data.spec.product} report run {data.run_id}",
                "Subject": f"rig-run-sha256 {data.sha256}",
                "Keywords": f"run {data.run_id}; unit {data.header['unit_serial']}"}
    with PdfPages(path, metadata=metadata) as pdf:
        for start in range(0, len(lines), LINES_PER_PAGE):
            pdf.savefig(_text_page(lines[start:start + LINES_PER_PAGE]))
        for _, figure in plots.error_figures(data.points, data.spec):
            figure.set_size_inches(*A4_LANDSCAPE_IN)
            pdf.savefig(figure)
    return path
