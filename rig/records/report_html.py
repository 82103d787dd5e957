"""The report as one self-contained HTML file: inline CSS, plots as base64 PNG, no network.

The run id, the run's SHA-256 and the store URL (no password) are also in <meta> tags, for
`rig verify-report`; a digest of the <body> lets it notice a hand-edited report too, and the
station key's signature over both (with the audit head the run ended at) one whose digests were
recomputed.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
from dataclasses import dataclass
from html import escape, unescape
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from rig.records.report import Instrument, ReportData, RequirementRow
    from rig.records.signing import Signer

META_RUN_ID = "rig-run-id"
META_SHA256 = "rig-run-sha256"
META_STORE_URL = "rig-store-url"
META_BODY_SHA256 = "rig-report-body-sha256"
META_AUDIT_HEAD = "rig-audit-head"
META_SIGNATURE = "rig-signature"
NUMBER_DIGITS = 6
BODY_OPEN, BODY_CLOSE = "<body>", "</body>"

STYLE = """
body{font-family:sans-serif;margin:1.5em;color:#111}
table{border-collapse:collapse;margin:.5em 0 1.2em}
td,th{border:1px solid #999;padding:2px 6px;font-size:.9em;text-align:left}
th{background:#eee}
.PASS{background:#d8f5d8}.FAIL{background:#f7c6c6}
.CONDITIONAL{background:#fbe7b5}.NA{color:#666}
.alarm{background:#c00;color:#fff;padding:.6em;font-weight:bold;font-size:1.2em}
.warn{background:#fbe7b5;padding:.5em;font-weight:bold}
.verdict{font-size:1.6em;font-weight:bold;padding:.3em}
.rule{border:2px solid #333;padding:.4em;display:inline-block}
code{font-size:.95em}
"""


def number(value: object, digits: int = NUMBER_DIGITS) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float | int) and not isinstance(value, bool):
        return f"{value:.{digits}g}"
    return str(value)


def verdict_class(verdict: str | None) -> str:
    text = str(verdict or "")
    if text.startswith("CONDITIONAL"):
        return "CONDITIONAL"
    return {"PASS": "PASS", "FAIL": "FAIL"}.get(text, "NA")


def table(headers: list[str], rows: list[list[str]], row_classes: list[str] | None = None) -> str:
    """Cells are already escaped HTML."""
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        cls = f' class="{row_classes[i]}"' if row_classes and row_classes[i] else ""
        body.append(f"<tr{cls}>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _e(value: object) -> str:
    return escape(number(value))


def _status_banner(data: ReportData) -> str:
    header = data.header
    parts = []
    if not data.finished:
        parts.append(f'<p class="alarm">RUN DID NOT FINISH: status "{escape(str(header["status"]))}"'
                     f"{'; ' + escape(header['message']) if header.get('message') else ''}. "
                     "Results are incomplete and do not show conformity.</p>")
    if header.get("due_override"):
        parts.append('<p class="alarm">CALIBRATION DUE-DATE OVERRIDE in force: '
                     f"{escape(header.get('due_override_reason') or '(no reason given)')}</p>")
    if data.overdue:
        names = ", ".join(f"{i.role} {i.model} s/n {i.serial} (due {i.cal_due})" for i in data.overdue)
        parts.append(f'<p class="alarm">INSTRUMENT PAST CALIBRATION DUE DATE: {escape(names)}</p>')
    failing = [r.key for r in data.requirements if r.verdict not in ("PASS", "N/A")]
    if header.get("verdict") == "PASS" and failing:
        parts.append('<p class="alarm">Recorded overall verdict PASS disagrees with the requirement '
                     f"verdicts: {escape(', '.join(failing))} did not pass.</p>")
    return "".join(parts)


def _run_section(data: ReportData) -> str:
    h = data.header
    verdict = h.get("verdict") or "none (run did not finish)"
    rows = [["Unit serial", h["unit_serial"]], ["Model", h["unit_model"]],
            ["Firmware", h["firmware"]], ["Station", h["station"]], ["Slot", h["slot"]],
            ["Operator", h["operator"]], ["Run kind", h["kind"]], ["Started (UTC)", h["started_at"]],
            ["Finished (UTC)", h.get("finished_at")], ["Status", h["status"]],
            ["Message", h.get("message")], ["Rig version", h.get("rig_version")],
            ["Host / pid", f"{h.get('host')} / {h.get('pid')}"]]
    return (f'<h2>Run</h2><p class="verdict {verdict_class(h.get("verdict"))}">Overall verdict: '
            f"{escape(str(verdict))}</p>" + table(["Field", "Value"], [[escape(k), _e(v)] for k, v in rows])
            + f'<p class="rule">Decision rule: <b>{escape(str(h["decision_rule"]))}</b> '
            "(ILAC-G8; only a plain PASS passes)</p>")


def _requirement_cells(row: RequirementRow) -> list[str]:
    limits = "–" if row.lower is None and row.upper is None else f"[{_e(row.lower)}, {_e(row.upper)}]"
    tur = _e(row.min_tur) + (" <b>LOW (&lt; 4)</b>" if row.low_tur else "")
    measured = "–" if row.worst_measured is None else f"{_e(row.worst_measured)} {escape(row.unit)}"
    return [escape(row.key), escape(row.clause), escape(row.limit), str(row.n_points),
            escape(row.worst_name), measured, _e(row.nominal), limits,
            _e(row.expanded_uncertainty), tur, f"<b>{escape(row.verdict)}</b>", escape(row.notes)]


def _requirements_section(data: ReportData) -> str:
    headers = ["Requirement", "Spec clause", "Spec limit", "Points", "Worst point", "Worst measured",
               "Nominal", "Limits", "U (k=2)", "TUR (min)", "Verdict", "Notes"]
    rows = [_requirement_cells(r) for r in data.requirements]
    classes = [verdict_class(r.verdict) for r in data.requirements]
    return (f"<h2>Requirements ({escape(data.spec.product)}, {escape(data.spec.document)})</h2>"
            + table(headers, rows, classes))


def _flatten(value: object, prefix: str = "") -> list[tuple[str, object]]:
    if isinstance(value, dict):
        return [item for k, v in value.items()
                for item in _flatten(v, f"{prefix}.{k}" if prefix else str(k))]
    return [(prefix, value)]


def _calibration_block(cal: dict) -> str:
    before, after = cal.get("before") or {}, cal.get("after") or {}
    names = list(dict.fromkeys([*before, *after]))
    coeffs = [[escape(n), _e(before.get(n)), _e(after.get(n)), _e(_change(before.get(n), after.get(n)))]
              for n in names]
    residuals = [[escape(k), _e(v)] for k, v in _flatten(cal.get("residuals") or {})]
    return (f"<h3>Polarity {escape(str(cal['polarity']))}: written {_e(cal.get('written'))}, "
            f"read back OK {_e(cal.get('readback_ok'))}</h3>"
            + table(["Coefficient", "Before (as found)", "After (as left)", "Change"], coeffs)
            + table(["Fit residual", "Value"], residuals)
            + (f"<p>{escape(cal['notes'])}</p>" if cal.get("notes") else ""))


def _change(before: object, after: object) -> float | None:
    if isinstance(before, int | float) and isinstance(after, int | float):
        return float(after) - float(before)
    return None


def _text(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return escape(str(value))


def _point_cells(row: pd.Series, suffixes: list[str]) -> list[str]:
    cells = [_text(row["requirement"]), _text(row["name"]), _e(row.get("nominal")),
             f"[{_e(row.get('lower'))}, {_e(row.get('upper'))}]"]
    for suffix in suffixes:
        cells += [_e(row.get(f"measured{suffix}")), _text(row.get(f"verdict{suffix}"))]
    return cells + [_text(row.get("unit")), _e(row.get("expanded_uncertainty")), _e(row.get("tur"))]


CONTEXT_COLUMNS = ["nominal", "lower", "upper", "unit", "expanded_uncertainty", "tur"]


def found_left_frame(points: pd.DataFrame) -> pd.DataFrame | None:
    """As-found next to as-left, matched by requirement and point name (measured_found/_left,
    verdict_found/_left); None when the run has neither."""
    keys = ["requirement", "name"]
    columns = [*keys, "measured", "verdict", *CONTEXT_COLUMNS]
    found = points.loc[points["phase"] == "as_found", columns]
    left = points.loc[points["phase"] == "as_left", columns]
    if found.empty and left.empty:
        return None
    merged = left.merge(found, on=keys, how="outer", sort=False, suffixes=("_left", "_found"))
    for col in CONTEXT_COLUMNS:
        merged[col] = merged[f"{col}_left"].combine_first(merged[f"{col}_found"])
    return merged


def _found_left_table(points: pd.DataFrame) -> str:
    """As-found next to as-left, matched by requirement and point name."""
    merged = found_left_frame(points)
    if merged is None:
        return "<p>No as-found or as-left points in this run.</p>"
    headers = ["Requirement", "Point", "Nominal", "Limits (as left)", "As found", "Verdict",
               "As left", "Verdict", "Unit", "U", "TUR"]
    rows = [_point_cells(r, ["_found", "_left"]) for _, r in merged.iterrows()]
    return table(headers, rows, [verdict_class(v) for v in merged["verdict_left"]])


def _other_points_table(points: pd.DataFrame) -> str:
    other = points[~points["phase"].isin(["as_found", "as_left"])]
    if other.empty:
        return ""
    headers = ["Phase", "Requirement", "Point", "Nominal", "Limits", "Measured", "Verdict", "Unit",
               "U", "TUR"]
    rows = [[escape(str(r["phase"])), *_point_cells(r, [""])] for _, r in other.iterrows()]
    return "<h2>Other points</h2>" + table(headers, rows, [verdict_class(v) for v in other["verdict"]])


def _calibration_section(data: ReportData) -> str:
    blocks = "".join(_calibration_block(c) for c in data.calibrations) or \
        "<p>No calibration was recorded in this run.</p>"
    return ("<h2>Calibration: coefficients and fit residuals</h2>" + blocks
            + "<h2>As-found and as-left points</h2>" + _found_left_table(data.points))


def _due_status(instrument: Instrument) -> str:
    if instrument.overdue:
        return "<b>OVERDUE</b>"
    return "no due date recorded" if instrument.cal_due is None else "in date"


def _equipment_section(data: ReportData) -> str:
    rows = [[escape(i.role), escape(i.model), escape(i.serial), escape(i.certificate),
             _e(i.cal_due), _due_status(i), escape(i.resource)]
            for i in data.instruments]
    h = data.header
    ambient = [["Temperature (°C)", _e(h.get("ambient_temp_c"))],
               ["Relative humidity (%)", _e(h.get("ambient_rh_pct"))]]
    settings = [[escape(k), _e(v)] for k, v in _flatten(h.get("settings") or {})]
    return ("<h2>Equipment</h2>"
            + table(["Role", "Model", "Serial", "Certificate", "Cal due", "Status", "Resource"], rows,
                    ["FAIL" if i.overdue else "" for i in data.instruments])
            + "<h2>Ambient conditions</h2>" + table(["Quantity", "Value"], ambient)
            + "<h2>Settings used</h2>" + table(["Setting", "Value"], settings))


def _plots_section(data: ReportData) -> str:
    images = data.plot_pngs()
    if not images:
        return "<h2>Plots</h2><p>No accuracy points to plot.</p>"
    tags = "".join(f'<h3>{escape(name)}</h3><img alt="{escape(name)} error plot" '
                   f'src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}">'
                   for name, png in images.items())
    return "<h2>Plots: error against setpoint per load</h2>" + tags


def _integrity_section(data: ReportData) -> str:
    return ("<h2>Data integrity</h2>"
            + table(["Item", "Value"], [
                ["Run id", str(data.run_id)], ["Results store", escape(data.store_url)],
                ["SHA-256 of the run's raw data", f"<code>{data.sha256}</code>"],
                ["Stored run digest (at finish)", f"<code>{_e(data.header.get('sha256'))}</code>"],
                ["Audit chain head at finish", f"<code>{_e(data.header.get('audit_head'))}</code>"],
                ["Run signed by station key", _e((data.header.get("signature") or {}).get("key_id")
                                                 or "no (unsigned: integrity not proven)")],
                ["Report generated", escape(data.generated_at.isoformat(timespec="seconds"))]])
            + f"<p>Check with <code>rig verify-report run-{data.run_id}.html</code>.</p>")


def body_sha256(html_text: str) -> str:
    """Digest of what lies between <body> and </body>, as recorded in the report's head."""
    start, end = html_text.find(BODY_OPEN), html_text.rfind(BODY_CLOSE)
    return hashlib.sha256(html_text[start:end].encode("utf-8")).hexdigest()


def report_message(run_id: int, run_sha256: str, body_digest: str | None, audit_head: dict | None) -> dict:
    """What the station key signs for a report."""
    return {"kind": "report", "run_id": run_id, "sha256": run_sha256, "body_sha256": body_digest,
            "audit_head": audit_head}


def render(data: ReportData, signer: Signer | None = None) -> str:
    h = data.header
    title = f"{data.spec.product} report: unit {h['unit_serial']}, run {data.run_id}"
    body = (f"{BODY_OPEN}<h1>{escape(title)}</h1>" + _status_banner(data) + _run_section(data)
            + _requirements_section(data) + _calibration_section(data)
            + _other_points_table(data.points) + _equipment_section(data) + _plots_section(data)
            + _integrity_section(data) + BODY_CLOSE)
    metas = {META_RUN_ID: str(data.run_id), META_SHA256: data.sha256,
             META_STORE_URL: data.store_url, META_BODY_SHA256: body_sha256(body),
             META_AUDIT_HEAD: json.dumps(data.header.get("audit_head"), sort_keys=True)}
    if signer is not None:
        message = report_message(data.run_id, data.sha256, metas[META_BODY_SHA256], data.header.get("audit_head"))
        metas[META_SIGNATURE] = json.dumps(signer.sign(message), sort_keys=True)
    meta_tags = "".join(f'<meta name="{k}" content="{escape(v)}">' for k, v in metas.items())
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">{meta_tags}'
            f"<title>{escape(title)}</title><style>{STYLE}</style></head>{body}</html>\n")


@dataclass(frozen=True)
class ReportStamp:
    """What a report says about the data it was built from."""

    run_id: int
    sha256: str
    store_url: str
    body_intact: bool
    body_sha256: str | None = None
    audit_head: dict | None = None
    signature: dict | None = None


def _json_meta(found: dict[str, str], name: str) -> dict | None:
    try:
        value = json.loads(unescape(found[name])) if name in found else None
    except json.JSONDecodeError:
        raise ValueError(f"bad {name} meta tag in report") from None
    return value if isinstance(value, dict) else None


def read_stamp(html_text: str) -> ReportStamp:
    """The run id, digests and store URL recorded in a report; ValueError if it has none."""
    found = dict(re.findall(r'<meta name="(rig-[a-z0-9-]+)" content="([^"]*)">', html_text))
    missing = [m for m in (META_RUN_ID, META_SHA256) if m not in found]
    if missing:
        raise ValueError(f"not a rig report (no {', '.join(missing)} meta tag)")
    try:
        run_id = int(found[META_RUN_ID])
    except ValueError:
        raise ValueError(f"bad run id {found[META_RUN_ID]!r} in report") from None
    recorded_body = found.get(META_BODY_SHA256)  # a removed digest is not "intact"
    return ReportStamp(run_id, unescape(found[META_SHA256]), unescape(found.get(META_STORE_URL, "")),
                       recorded_body is not None and recorded_body == body_sha256(html_text),
                       recorded_body, _json_meta(found, META_AUDIT_HEAD), _json_meta(found, META_SIGNATURE))
