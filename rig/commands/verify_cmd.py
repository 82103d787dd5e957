"""`rig verify-report REPORT_HTML_OR_PDF_OR_RUN_ID`: does the store still hold what the report shows?

Recomputes the run's digest from the store and compares it with the one the report recorded, and
every row with the digests stored when it was written (digest.diff_runs_for_tamper), naming the
table, point and field that changed. With the public key (`--public-key SOURCE`, else
RIG_SIGNING_PUBLIC_KEY, else derived from RIG_SIGNING_KEY) it also checks the run's signature (its
digest and the audit head it ended at) and the report's; a missing signature is then a failure.
Exit 0 verified and signed, 1 altered (or a signature/digest missing), 2 could not check, 3 nothing
found altered but "unsigned: integrity not proven" (no public key, or nothing signed).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from sqlalchemy.engine import make_url

from rig.commands.report_cmd import (
    CommandError,
    add_db_argument,
    open_store,
    run_guarded,
)
from rig.exit_codes import ExitCode
from rig.records import digest
from rig.records.pdf_stamp import read_stamp as read_pdf_stamp
from rig.records.report import public_url
from rig.records.report_html import ReportStamp, read_stamp, report_message
from rig.records.signing import UNSIGNED_NOTE, SigningKeyError, Verifier, load_verifier
from rig.records.store import DB_URL_ENV, ResultsStore

PDF_MAGIC = b"%PDF-"


def load_stamp(path: Path) -> ReportStamp:
    """The stamp of an HTML report or of a PDF one."""
    try:
        content = path.read_bytes()
        if content.startswith(PDF_MAGIC):
            return read_pdf_stamp(content)
        text = content.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandError(f"cannot read report {path}: {getattr(exc, 'strerror', None) or exc}") from None
    except ValueError as exc:
        raise CommandError(f"{path}: {exc}") from None
    try:
        return read_stamp(text)
    except ValueError as exc:
        raise CommandError(f"{path}: {exc}") from None


def store_url_for(stamp: ReportStamp | None, db: str | None) -> str | None:
    """--db first; else the report's store, with the password from $RIG_DB_URL when it is the same."""
    if db or stamp is None or not stamp.store_url:
        return db
    env_url = os.environ.get(DB_URL_ENV)
    if env_url:
        try:
            if public_url(env_url) == stamp.store_url:
                return env_url
        except Exception:  # noqa: BLE001 - an unparsable env URL just does not match
            pass
    make_url(stamp.store_url)  # raises ArgumentError for a mangled URL in the report
    return stamp.store_url


def signature_problems(store: ResultsStore, run_id: int, stamp: ReportStamp | None,
                       verifier: Verifier) -> list[str]:
    """The run's signature (a finished run's digest and audit head) and the report's, checked."""
    found = []
    header = store.run(run_id)
    recomputed = digest.run_sha256(store, run_id)
    if header.get("status") != "running":
        problem = verifier.check(digest.run_message(run_id, recomputed, header.get("audit_head")),
                                 header.get("signature"))
        if problem:
            found.append(f"run {run_id}: {problem}")
    if stamp is not None:
        message = report_message(run_id, stamp.sha256, stamp.body_sha256, stamp.audit_head)
        problem = verifier.check(message, stamp.signature)
        if problem:
            found.append(f"report: {problem}")
        elif stamp.audit_head != header.get("audit_head") and header.get("status") != "running":
            found.append(f"report: audit head {stamp.audit_head} differs from the run's {header.get('audit_head')}")
    return found


def problems(store: ResultsStore, run_id: int, stamp: ReportStamp | None) -> list[str]:
    """Everything that differs from what was written (and from what the report recorded)."""
    found = [str(f) for f in digest.diff_runs_for_tamper(store, run_id)]
    if stamp is None:
        return found
    if stamp.body_sha256 is None:
        found.append("report: its body digest is missing (removed after it was written)")
    elif not stamp.body_intact:
        found.append("report: its body was edited after it was written (body digest differs)")
    recomputed = digest.run_sha256(store, run_id)
    if recomputed != stamp.sha256:
        sealed = store.run(run_id).get("sha256")
        why = ("the report's digest was altered, or the report was built before the run finished"
               if sealed == recomputed else "the run's data changed since the report was built")
        found.append(f"run digest {recomputed} differs from the report's {stamp.sha256}: {why}")
    return found


def _verify(args: argparse.Namespace) -> int:
    target = str(args.target)
    stamp = None
    if target.isdigit() and not Path(target).exists():
        run_id = int(target)
    else:
        stamp = load_stamp(Path(target))
        run_id = stamp.run_id
    try:
        url = store_url_for(stamp, args.db)
    except Exception:  # noqa: BLE001 - sqlalchemy's ArgumentError and friends
        raise CommandError(f"bad store URL {stamp.store_url!r} in the report; give --db") from None
    try:
        verifier = load_verifier(args.public_key)
    except SigningKeyError as exc:
        raise CommandError(str(exc)) from None
    store = open_store(url)
    try:
        found = problems(store, run_id, stamp)
        if verifier is not None:
            found += signature_problems(store, run_id, stamp, verifier)
        sha = digest.run_sha256(store, run_id)
    finally:
        store.close()
    if not found and verifier is None:
        print(f"{UNSIGNED_NOTE}: run {run_id}, SHA-256 {sha} matches its digests, but no public key"
              " is configured to check the station's signatures (--public-key)")
        return ExitCode.UNSIGNED
    if not found:
        print(f"verified: run {run_id}, SHA-256 {sha}, signed by station key {verifier.key_id}")
        return ExitCode.INTACT
    print(f"NOT VERIFIED: run {run_id}, {len(found)} alteration(s):")
    for line in found:
        print(f"  {line}")
    return ExitCode.TAMPERED


def run(args: argparse.Namespace) -> int:
    return run_guarded(lambda: _verify(args), args.db)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "verify-report", help="check a report (or a run) against the results store")
    parser.add_argument("target", metavar="REPORT_HTML_OR_PDF_OR_RUN_ID")
    add_db_argument(parser)
    parser.add_argument("--public-key", metavar="SOURCE", default=None,
                        help="station public key: file:PATH, env:VAR or a path (default: $RIG_SIGNING_PUBLIC_KEY, "
                             "else derived from $RIG_SIGNING_KEY); without one the result is 'unsigned' (exit 3)")
    parser.set_defaults(func=run)
