"""The PDF report's stamp, for `rig verify-report run-<id>.pdf`: the run id, the run's SHA-256, the
store URL, the audit head, the digest of the file itself and the station key's signature.

It sits in the document's Keywords as `rig-report-stamp:` and base64 JSON, padded with dots. Like a
PDF signature's byte range, the file's digest is taken with that field's value all dots (the
placeholder it was rendered with), so the stamp can carry the digest of everything else in the file,
and the signature covers both (the same message as the HTML report's: report_html.report_message).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json

from rig.records.report_html import ReportStamp, report_message
from rig.records.signing import Signer

MARKER = b"rig-report-stamp:"
PAD = b"."
STRING_END = b")"  # reportlab writes an ASCII info string as a PDF literal (...)
PLACEHOLDER_DIGEST = "0" * 64


def _encode(fields: dict) -> bytes:
    return base64.urlsafe_b64encode(json.dumps(fields, sort_keys=True, separators=(",", ":")).encode("utf-8"))


def _fields(run_id: int, sha256: str, store_url: str, audit_head: dict | None, body_sha256: str,
            signature: dict | None) -> dict:
    return {"run_id": run_id, "sha256": sha256, "store_url": store_url, "audit_head": audit_head,
            "body_sha256": body_sha256, "signature": signature}


def placeholder(run_id: int, sha256: str, store_url: str, audit_head: dict | None,
                signer: Signer | None) -> str:
    """The Keywords value to render with: the marker and as many dots as the stamp will need."""
    dummy_signature = signer.sign({}) if signer else None  # an Ed25519 signature's length is fixed
    size = len(_encode(_fields(run_id, sha256, store_url, audit_head, PLACEHOLDER_DIGEST, dummy_signature)))
    return (MARKER + PAD * size).decode("ascii")


def _region(pdf: bytes) -> tuple[int, int]:
    if pdf.count(MARKER) != 1:
        raise ValueError("not a rig report (no rig-report-stamp in the PDF's metadata)")
    start = pdf.index(MARKER) + len(MARKER)
    end = pdf.find(STRING_END, start)
    if end < 0:
        raise ValueError("bad rig-report-stamp in the PDF's metadata (file cut short?)")
    return start, end


def _unstamped_sha256(pdf: bytes, start: int, end: int) -> str:
    return hashlib.sha256(pdf[:start] + PAD * (end - start) + pdf[end:]).hexdigest()


def stamp(pdf: bytes, run_id: int, sha256: str, store_url: str, audit_head: dict | None,
          signer: Signer | None) -> bytes:
    """Fill the placeholder the PDF was rendered with; the same length, so no offset moves."""
    start, end = _region(pdf)
    body = _unstamped_sha256(pdf, start, end)
    signature = signer.sign(report_message(run_id, sha256, body, audit_head)) if signer else None
    encoded = _encode(_fields(run_id, sha256, store_url, audit_head, body, signature))
    if len(encoded) > end - start:
        raise ValueError(f"PDF stamp needs {len(encoded)} characters, its placeholder has {end - start}")
    return pdf[:start] + encoded.ljust(end - start, PAD) + pdf[end:]


def read_stamp(pdf: bytes) -> ReportStamp:
    """What a stamped PDF says about its run, and whether the rest of the file is as stamped."""
    start, end = _region(pdf)
    try:
        fields = json.loads(base64.b64decode(pdf[start:end].rstrip(PAD), altchars=b"-_", validate=True))
        run_id = int(fields["run_id"])
        run_sha256, body = str(fields["sha256"]), fields.get("body_sha256")
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise ValueError("bad rig-report-stamp in the PDF's metadata") from None
    audit_head, signature = fields.get("audit_head"), fields.get("signature")
    return ReportStamp(run_id, run_sha256, str(fields.get("store_url") or ""),
                       body is not None and body == _unstamped_sha256(pdf, start, end), body,
                       audit_head if isinstance(audit_head, dict) else None,
                       signature if isinstance(signature, dict) else None)
