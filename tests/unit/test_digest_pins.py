"""Digests of records already written must not change: values pinned from the code before the
canonical-JSON helpers were merged into one (commit 279803d)."""

from __future__ import annotations

import json
from pathlib import Path

from rig.records import digest
from rig.records.audit import AuditLog
from rig.records.cal_table import write_table
from rig.records.signing import Signer

TABLE = {
    "serial": "SN000123", "created_at": "2026-11-30T05:00:00+00:00", "operator": "Zoë",
    "coefficients": {"POS": {"dac_gain": 121.5, "dac_offset": -3.25, "adc_gain": 0.0083, "adc_offset": 0.01},
                     "NEG": {"dac_gain": 119.0, "dac_offset": 2.0, "adc_gain": 0.0082, "adc_offset": -0.02},
                     "v_gain": 0.0161, "v_offset": 0.0, "date": "2026-11-30"},
    "residuals": [0.01, float("inf"), float("nan")],
}
TABLE_SHA256 = "c0766554e2ccd32dd8894a022473bfce9b70fcada4162b8552c80ba15a6b2f86"
AUDIT_ENTRY = {"seq": 1, "time": "2026-11-30T05:00:00.000+00:00", "event": "calibration write",
               "operator": "ann", "serial": "SN000123", "new": {"dac_gain": 121.5, "dac_offset": -3.25},
               "prev": "0" * 64}
AUDIT_HASH = "ba78a089592459724296be0445481ba7eb5735cadb40862d945960ec2b0d004d"
ROW = {"run_id": 7, "seq": 3, "measured": 10.0125, "lower": -0.0,
       "raw": {"nan": float("nan"), "inf": float("inf")}, "verdict": "PASS"}
ROW_SHA256 = "232291a2848da37a3ceb5e51d57cb0fc2049357757ec12b3f2497410b5a3e7c0"
ROW_FIELD_DIGESTS = {"run_id": "7902699be42c8a8e", "seq": "4e07408562bedb8b", "measured": "a1a8d52eb1e12184",
                     "lower": "8aed642bf5118b9d", "raw": "1c7cb4960a2df822", "verdict": "727e9bd17b077ba1"}
RUN_MESSAGE = {"kind": "run", "run_id": 7, "sha256": "ab", "audit_head": {"seq": 2, "hash": "cd"}}
RUN_SIGNATURE = "ces2a6GqHiTLOwq5ltmIxsFpOPhMXwq1xB1Y7KobLwjIS5V9yLwq1w0f3GNCi3kGcEj7cvcsHQuncPVdUbVODw=="


def test_calibration_table_digest_is_unchanged(tmp_path: Path) -> None:
    paths = write_table(tmp_path, TABLE)
    assert json.loads(paths.json_path.read_text(encoding="utf-8"))["sha256"] == TABLE_SHA256


def test_audit_entry_hash_is_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "station.jsonl"
    path.write_text(json.dumps({**AUDIT_ENTRY, "hash": AUDIT_HASH}, sort_keys=True) + "\n", encoding="utf-8")
    assert AuditLog(path).verify_chain() == 1


def test_point_digests_are_unchanged() -> None:
    assert digest.row_digests(ROW, tuple(ROW)) == (ROW_SHA256, ROW_FIELD_DIGESTS)


def test_signed_message_bytes_are_unchanged() -> None:
    signer = Signer(bytes(range(32)))
    assert signer.sign(RUN_MESSAGE)["sig"] == RUN_SIGNATURE
    assert signer.verifier.check(RUN_MESSAGE, {"key_id": signer.verifier.key_id, "sig": RUN_SIGNATURE}) is None
