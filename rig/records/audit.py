"""Calibration audit trail: every calibration write to a unit, recorded before it is sent.

One JSON Lines file per station, `<calibrations>/audit/<station>.jsonl`, append-only. Chosen over a
results-store table because the trail must exist where the calibration tables are and whether or
not a database is reachable, must be readable with any text tool by an auditor, and must survive a
store that is rebuilt. Each entry carries the SHA-256 of the previous entry and its own hash over its
content, so a removed, inserted, reordered or edited entry breaks the chain at that point; the
tail's hash (`head()`) is what an external record (a report, a ticket) can pin to detect truncation.
With the station signing key (rig/records/signing.py) every entry also carries a signature of the
chain's head after it (`head_message`), so a chain re-hashed by someone without the key does not
verify; the run records the head it was finished against (`head_record`), signed, in the store.
Appends from several slots (threads) and several rigs on one station (processes) are serialised by
a lock and an advisory file lock.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rig.records.digest import canonical_sha256

if TYPE_CHECKING:
    from rig.records.signing import Signer, Verifier

GENESIS = "0" * 64
AUDIT_DIR = "audit"
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
_THREAD_LOCK = threading.Lock()


class AuditChainError(ValueError):
    """The audit log does not verify: names the file, the line and what is wrong."""


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    line: int
    record: dict[str, Any]


def _entry_hash(record: dict[str, Any]) -> str:
    body = {k: v for k, v in record.items() if k not in ("hash", "signature")}
    return canonical_sha256(body)


def head_message(seq: int, entry_hash: str) -> dict[str, Any]:
    """What the station key signs after each entry: the chain's head at that entry."""
    return {"kind": "audit-head", "seq": seq, "hash": entry_hash}


def audit_path(calibrations_dir: Path, station: str) -> Path:
    return Path(calibrations_dir) / AUDIT_DIR / f"{_SAFE_NAME.sub('_', station) or 'station'}.jsonl"


class AuditLog:
    def __init__(self, path: Path, signer: Signer | None = None) -> None:
        self.path = Path(path)
        self.signer = signer

    @classmethod
    def for_station(cls, calibrations_dir: Path, station: str, signer: Signer | None = None) -> AuditLog:
        return cls(audit_path(calibrations_dir, station), signer)

    def append(self, event: str, **fields: Any) -> dict[str, Any]:
        """Append one entry (event plus fields, JSON-serialisable) chained to the last; return it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with _THREAD_LOCK, self.path.open("a+", encoding="utf-8") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                handle.seek(0)
                last = _last_record(handle.read().splitlines())
                record = {
                    "seq": (last["seq"] + 1) if last else 1,
                    "time": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
                    "event": event,
                    **fields,
                    "prev": last["hash"] if last else GENESIS,
                }
                record["hash"] = _entry_hash(record)
                if self.signer is not None:
                    record["signature"] = self.signer.sign(head_message(record["seq"], record["hash"]))
                handle.seek(0, 2)
                handle.write(json.dumps(record, sort_keys=True) + "\n")
                handle.flush()
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
        return record

    def entries(self) -> list[AuditEntry]:
        """Every entry, parsed; AuditChainError names a line that is not a JSON object with a seq."""
        if not self.path.exists():
            return []
        result = []
        for number, text in enumerate(self.path.read_text(encoding="utf-8").splitlines(), start=1):
            if not text.strip():
                continue
            try:
                record = json.loads(text)
            except json.JSONDecodeError as exc:
                raise AuditChainError(f"{self.path} line {number}: not valid JSON ({exc.msg})") from None
            if not isinstance(record, dict) or not isinstance(record.get("seq"), int):
                raise AuditChainError(f"{self.path} line {number}: not an audit entry (no integer 'seq')")
            result.append(AuditEntry(record["seq"], number, record))
        return result

    def verify_chain(self, verifier: Verifier | None = None) -> int:
        """Check every link (and, given the public key, every entry's signature of the head after it);
        return the number of entries. AuditChainError names the first broken one."""
        previous_hash, expected_seq = GENESIS, 1
        entries = self.entries()
        for entry in entries:
            where = f"{self.path} line {entry.line} (entry {entry.seq})"
            if entry.seq != expected_seq:
                raise AuditChainError(f"{where}: expected entry {expected_seq}; an entry was removed or inserted")
            if entry.record.get("prev") != previous_hash:
                raise AuditChainError(f"{where}: does not chain to the entry before it (removed or reordered)")
            if entry.record.get("hash") != _entry_hash(entry.record):
                raise AuditChainError(f"{where}: content does not match its hash (altered)")
            if verifier is not None:
                problem = verifier.check(head_message(entry.seq, entry.record["hash"]),
                                         entry.record.get("signature"))
                if problem:
                    raise AuditChainError(f"{where}: {problem} (forged, or written without the station key)")
            previous_hash, expected_seq = entry.record["hash"], expected_seq + 1
        return len(entries)

    def head(self) -> str:
        """The hash of the last entry (GENESIS when empty): pin it elsewhere to detect truncation."""
        entries = self.entries()
        return entries[-1].record["hash"] if entries else GENESIS

    def signed_count(self) -> int:
        return sum(1 for entry in self.entries() if entry.record.get("signature"))

    def head_record(self) -> dict[str, Any] | None:
        """{log, seq, hash} of the last entry, for a run to record; None without a log or entries."""
        entries = self.entries()
        if not entries:
            return None
        return {"log": self.path.name, "seq": entries[-1].seq, "hash": entries[-1].record["hash"]}

    def check_recorded_head(self, head: dict[str, Any]) -> str | None:
        """None when the log still holds the recorded head's entry unchanged; else what is wrong."""
        entries = {entry.seq: entry for entry in self.entries()}
        entry = entries.get(head.get("seq"))  # type: ignore[arg-type]
        if entry is None:
            return (f"a run recorded head entry {head.get('seq')}, but the log ends at entry {max(entries, default=0)}:"
                    " trailing entries were deleted")
        if entry.record.get("hash") != head.get("hash"):
            return f"entry {entry.seq} differs from the head a run recorded (chain rewritten)"
        return None


def _last_record(lines: list[str]) -> dict[str, Any] | None:
    for text in reversed(lines):
        if text.strip():
            try:
                record = json.loads(text)
            except json.JSONDecodeError:
                raise AuditChainError("the audit log's last line is not valid JSON; run `rig audit verify`") from None
            if isinstance(record, dict) and "hash" in record and isinstance(record.get("seq"), int):
                return record
            raise AuditChainError("the audit log's last line is not an audit entry; run `rig audit verify`")
    return None
