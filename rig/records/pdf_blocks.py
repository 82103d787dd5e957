"""The PDF report's framing blocks: title block and alarms, equipment and conditions, and the
integrity and signature block at the end."""

from __future__ import annotations

from typing import TYPE_CHECKING

from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import Flowable, Spacer, Table, TableStyle

from rig.records.pdf_styles import (
    ALARM,
    FRAME_WIDTH,
    GRID_COLOUR,
    HEADER_CELL,
    NOT_RECORDED,
    SUBTITLE,
    TITLE,
    VERDICT,
    cell,
    para,
    shown,
    verdict_colour,
)
from rig.records.pdf_tables import code_cell, grid

if TYPE_CHECKING:
    from rig.records.report import Instrument, ReportData

DUT_ROLE = "unit under test"
SIGNATURE_LINE = "_" * 34
INLINE_MESSAGE_CHARS = 400  # a longer one goes below the title block (a table row cannot break)


def _ambient(header: dict) -> str:
    temp, rh = header.get("ambient_temp_c"), header.get("ambient_rh_pct")
    parts = [f"{shown(temp)} °C" if temp is not None else "", f"{shown(rh)} %RH" if rh is not None else ""]
    return ", ".join(p for p in parts if p) or NOT_RECORDED


def _pairs_table(pairs: list[tuple[str, object]], columns: int = 2) -> Table:
    """Field/value pairs laid out `columns` pairs a row, labels in bold."""
    rows = []
    for start in range(0, len(pairs), columns):
        row: list[object] = []
        for label, value in pairs[start:start + columns]:
            row += [cell(label, HEADER_CELL), value if isinstance(value, Flowable) else cell(value)]
        rows.append(row + [""] * (2 * columns - len(row)))
    label_w, value_w = 0.12, 1.0 / columns - 0.12
    table = Table(rows, colWidths=[w * FRAME_WIDTH for _ in range(columns) for w in (label_w, value_w)],
                  hAlign="LEFT")
    table.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.25, GRID_COLOUR), ("VALIGN", (0, 0), (-1, -1), "TOP")]))
    return table


def alarms(data: ReportData) -> list[str]:
    """What a reader must see before any result: the run is incomplete, a due date was overridden, an
    instrument was past due, or the recorded verdict disagrees with its requirements."""
    h = data.header
    found = []
    if not data.finished:
        message = f"; {h['message']}" if h.get("message") else ""
        found.append(f"RUN DID NOT FINISH: status {shown(h.get('status'))}{message}. "
                     "Results are incomplete and do not show conformity.")
    if h.get("due_override"):
        found.append("CALIBRATION DUE-DATE OVERRIDE in force: "
                     f"{shown(h.get('due_override_reason'), '(no reason given)')}")
    for inst in data.overdue:
        found.append(f"INSTRUMENT PAST CALIBRATION DUE DATE: {inst.role} {inst.model} s/n {inst.serial} "
                     f"(due {shown(inst.cal_due)})")
    failing = [r.key for r in data.requirements if r.verdict not in ("PASS", "N/A")]
    if h.get("verdict") == "PASS" and failing:
        found.append("Recorded overall verdict PASS disagrees with the requirement verdicts: "
                     f"{', '.join(failing)} did not pass.")
    return found


def title_block(data: ReportData) -> list[Flowable]:
    h, spec = data.header, data.spec
    verdict = h.get("verdict") or "none (run did not finish)"
    message = shown(h.get("message"))
    style = ParagraphStyle("verdict-box", parent=VERDICT, backColor=verdict_colour(h.get("verdict")))
    pairs: list[tuple[str, object]] = [
        ("Product", f"{spec.product} ({spec.document})"), ("Unit serial", h.get("unit_serial")),
        ("Model", h.get("unit_model")), ("Firmware", h.get("firmware")),
        ("Station", h.get("station")), ("Slot", h.get("slot")),
        ("Operator", h.get("operator")), ("Plan (run kind)", h.get("kind")),
        ("Started (UTC)", h.get("started_at")), ("Finished (UTC)", shown(h.get("finished_at"), "not finished")),
        ("Status", h.get("status")), ("Message", message if len(message) <= INLINE_MESSAGE_CHARS else "see below"),
        ("Decision rule", f"{shown(h.get('decision_rule'))} (ILAC-G8; only a plain PASS passes)"),
        ("Ambient", _ambient(h)),
        ("Rig version", h.get("rig_version")), ("Report generated", data.generated_at)]
    return [para(f"{spec.product} compliance report", TITLE),
            para(f"Unit {shown(h.get('unit_serial'))} · run {data.run_id} · {shown(h.get('kind'))}", SUBTITLE),
            *(para(text, ALARM) for text in alarms(data)),
            para(f"Overall verdict: {verdict}", style), _pairs_table(pairs),
            *([para(f"Message: {message}")] if len(message) > INLINE_MESSAGE_CHARS else [])]


def _due_status(instrument: Instrument) -> str:
    if instrument.overdue:
        return "OVERDUE"
    if instrument.role == DUT_ROLE:
        return "—"
    return "no due date recorded" if instrument.cal_due is None else "in date"


def equipment_table(data: ReportData) -> Flowable:
    if not data.instruments:
        return para("No equipment was recorded with this run.")
    rows = []
    for i in data.instruments:
        missing = "—" if i.role == DUT_ROLE else NOT_RECORDED  # a unit under test has no certificate
        rows.append([i.role, i.model, i.serial, cell(i.certificate, missing=missing),
                     cell(i.cal_due, missing=missing), _due_status(i), code_cell(i.resource)])
    return grid(["Role", "Model", "Serial", "Certificate", "Cal due", "Status", "Resource"], rows,
                (0.11, 0.1, 0.12, 0.13, 0.1, 0.12, 0.32), ["FAIL" if i.overdue else "" for i in data.instruments])


def _flatten(value: object, prefix: str = "") -> list[tuple[str, object]]:
    if isinstance(value, dict):
        return [item for k, v in value.items() for item in _flatten(v, f"{prefix}.{k}" if prefix else str(k))]
    return [(prefix, value)]


def settings_table(data: ReportData) -> Flowable:
    settings = _flatten(data.header.get("settings") or {})
    if not settings:
        return para("No settings were recorded with this run.")
    return grid(["Setting", "Value"], [[k, v] for k, v in settings], (0.35, 0.35))


def _audit_head(head: object) -> str:
    if not isinstance(head, dict):
        return NOT_RECORDED
    return f"log {shown(head.get('log'))}, entry {shown(head.get('seq'))}, hash {shown(head.get('hash'))}"


def _signature(signature: object) -> str:
    if not isinstance(signature, dict) or not signature.get("sig"):
        return "none (unsigned: integrity not proven)"
    return (f"{shown(signature.get('algorithm'))} by station key {shown(signature.get('key_id'))}: "
            f"{shown(signature.get('sig'))}")


def integrity_block(data: ReportData, pdf_name: str, report_key_id: str | None) -> list[Flowable]:
    """The digests, the run's signature, who signed this document, and the approval lines."""
    h = data.header
    signed = (f"signed by station key {report_key_id}; the signature, with this file's digest, is in the "
              "PDF's metadata" if report_key_id else "unsigned (no station key when it was built)")
    rows = [["Run id", str(data.run_id)], ["Results store", code_cell(data.store_url)],
            ["SHA-256 of the run's raw data", code_cell(data.sha256)],
            ["Stored run digest (at finish)", code_cell(h.get("sha256"), NOT_RECORDED)],
            ["Audit chain head at finish", code_cell(_audit_head(h.get("audit_head")))],
            ["Run signature", code_cell(_signature(h.get("signature")))],
            ["This document", signed]]
    approvals = grid(["Role", "Name", "Signature", "Date"],
                     [["Tested by (operator)", h.get("operator"), SIGNATURE_LINE, shown(h.get("finished_at"))],
                      ["Reviewed by", "", SIGNATURE_LINE, ""], ["Approved by", "", SIGNATURE_LINE, ""]],
                     (0.18, 0.22, 0.3, 0.2))
    return [grid(["Item", "Value"], rows, (0.22, 0.78)), Spacer(1, 2 * mm),
            para(f"Check with: rig verify-report {pdf_name} (or the HTML report, or the run id {data.run_id})."),
            Spacer(1, 4 * mm), approvals]
