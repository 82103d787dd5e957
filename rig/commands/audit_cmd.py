"""`rig audit verify [--station NAME | FILE]`: check the calibration audit trail's hash chain.

With the station's public key (`--public-key SOURCE`, else RIG_SIGNING_PUBLIC_KEY, else derived
from RIG_SIGNING_KEY) every entry's signature of the chain head must verify, and the chain must
still hold the head recorded by the newest run of the results store that recorded one (`--db`,
default the rig's store; its signature checked too), so that deleted trailing entries, an emptied
log or a re-hashed chain are caught.

Exit 0 when the chain is intact, signed and holds the newest recorded head; 1 naming the first
broken entry (or a missing signature, an empty log, a truncated chain); 2 when the log cannot be
read at all; 3 "unsigned: integrity not proven" when no public key is configured, or no run in the
store recorded a head of this log to check truncation against.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rig.commands.report_cmd import CommandError, open_store
from rig.exit_codes import ExitCode
from rig.records import digest
from rig.records.audit import AuditChainError, AuditLog, audit_path
from rig.records.signing import UNSIGNED_NOTE, SigningKeyError, Verifier, load_verifier


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("audit", help="calibration audit trail: verify its hash chain")
    actions = parser.add_subparsers(dest="audit_action", required=True)
    verify = actions.add_parser("verify", help="check every entry of a station's audit log")
    verify.add_argument("log", nargs="?", type=Path, help="audit log file (default: from --station)")
    verify.add_argument("--station", help="station name: <calibrations>/audit/<station>.jsonl")
    verify.add_argument("--calibrations", type=Path, default=Path("calibrations"))
    verify.add_argument("--db", default=None, metavar="URL",
                        help="results store holding the runs' recorded audit heads (default: $RIG_DB_URL or "
                             "reports/results.sqlite)")
    verify.add_argument("--public-key", metavar="SOURCE", default=None,
                        help="station public key: file:PATH, env:VAR or a path (default: $RIG_SIGNING_PUBLIC_KEY, "
                             "else derived from $RIG_SIGNING_KEY)")
    verify.set_defaults(func=run_verify)


def recorded_head(db: str | None, log: AuditLog, station: str | None,
                  verifier: Verifier | None) -> tuple[dict | None, str]:
    """The newest head of this log recorded by a run of the store, and where it came from.
    A recorded head whose run signature does not verify raises AuditChainError."""
    try:
        store = open_store(db)
    except CommandError as exc:
        return None, f"no results store to check truncation against ({exc})"
    try:
        for run in store.runs(station=station):
            head = run.get("audit_head")
            if not isinstance(head, dict) or head.get("log") != log.path.name:
                continue
            if verifier is not None:
                problem = verifier.check(digest.run_message(run["id"], run.get("sha256"), head), run.get("signature"))
                if problem:
                    raise AuditChainError(f"run {run['id']} recorded head entry {head.get('seq')}: {problem}")
            return head, f"run {run['id']}"
    finally:
        store.close()
    return None, f"no run in the results store recorded a head of {log.path.name}"


def run_verify(args: argparse.Namespace) -> int:
    if args.log is None and not args.station:
        print("rig audit verify: give an audit log file or --station NAME")
        return ExitCode.ERROR
    path = args.log or audit_path(args.calibrations, args.station)
    if not path.is_file():
        print(f"audit log {path}: no such file")
        return ExitCode.ERROR
    try:
        verifier = load_verifier(args.public_key)
    except SigningKeyError as exc:
        print(f"rig audit verify: {exc}")
        return ExitCode.ERROR
    log = AuditLog(path)
    try:
        count = log.verify_chain(verifier)
        if count == 0 and verifier is not None:
            raise AuditChainError(f"{path}: no entries, so no signed head (emptied?)")
        head, source = recorded_head(args.db, log, args.station, verifier)
        problem = log.check_recorded_head(head) if head is not None else None
        if problem:
            raise AuditChainError(f"{path}: {problem} ({source})")
    except AuditChainError as exc:
        print(f"BROKEN {exc}")
        return ExitCode.TAMPERED
    except (OSError, UnicodeDecodeError) as exc:
        print(f"audit log {path}: cannot read: {getattr(exc, 'strerror', None) or exc}")
        return ExitCode.ERROR
    if verifier is None:
        print(f"{UNSIGNED_NOTE}: {path}: {count} entries chain by SHA-256 only ({log.signed_count()} carry a"
              " signature, not checked: no public key configured)")
        return ExitCode.UNSIGNED
    if head is None:
        print(f"{path}: {count} entries, signed; truncation not proven: {source}")
        return ExitCode.UNSIGNED
    print(f"verified {path}: {count} entries, signed by station key {verifier.key_id}, head {log.head()[:16]};"
          f" holds entry {head['seq']} recorded by {source}")
    return ExitCode.INTACT
