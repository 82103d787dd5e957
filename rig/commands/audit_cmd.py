"""`rig audit verify [--station NAME | FILE]`: check the calibration audit trail's hash chain.

Exit 0 when every entry chains to the one before it, 1 naming the first broken entry, 2 when the
log cannot be read at all.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rig.records.audit import AuditChainError, AuditLog, audit_path

EXIT_OK, EXIT_BROKEN, EXIT_ERROR = 0, 1, 2


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("audit", help="calibration audit trail: verify its hash chain")
    actions = parser.add_subparsers(dest="audit_action", required=True)
    verify = actions.add_parser("verify", help="check every entry of a station's audit log")
    verify.add_argument("log", nargs="?", type=Path, help="audit log file (default: from --station)")
    verify.add_argument("--station", help="station name: <calibrations>/audit/<station>.jsonl")
    verify.add_argument("--calibrations", type=Path, default=Path("calibrations"))
    verify.set_defaults(func=run_verify)


def run_verify(args: argparse.Namespace) -> int:
    if args.log is None and not args.station:
        print("rig audit verify: give an audit log file or --station NAME")
        return EXIT_ERROR
    path = args.log or audit_path(args.calibrations, args.station)
    if not path.is_file():
        print(f"audit log {path}: no such file")
        return EXIT_ERROR
    log = AuditLog(path)
    try:
        count = log.verify_chain()
    except AuditChainError as exc:
        print(f"BROKEN {exc}")
        return EXIT_BROKEN
    except (OSError, UnicodeDecodeError) as exc:
        print(f"audit log {path}: cannot read: {getattr(exc, 'strerror', None) or exc}")
        return EXIT_ERROR
    print(f"verified {path}: {count} entries, head {log.head()[:16]}")
    return EXIT_OK
