"""`rig verify-report REPORT_HTML_OR_RUN_ID`: does the store still hold what the report shows?

Recomputes the run's digest from the store and compares it with the one the report recorded, and
every row with the digests stored when it was written (digest.diff_runs_for_tamper), naming the
table, point and field that changed. Exit 0 "verified", 1 altered, 2 could not check.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from sqlalchemy.engine import make_url

from rig.commands.report_cmd import (
    EXIT_FAIL,
    EXIT_OK,
    CommandError,
    add_db_argument,
    open_store,
    run_guarded,
)
from rig.records import digest
from rig.records.report import public_url
from rig.records.report_html import ReportStamp, read_stamp
from rig.records.store import DB_URL_ENV, ResultsStore


def load_stamp(path: Path) -> ReportStamp:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandError(f"cannot read report {path}: {getattr(exc, 'strerror', None) or exc}") from None
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


def problems(store: ResultsStore, run_id: int, stamp: ReportStamp | None) -> list[str]:
    """Everything that differs from what was written (and from what the report recorded)."""
    found = [str(f) for f in digest.diff_runs_for_tamper(store, run_id)]
    if stamp is None:
        return found
    if not stamp.body_intact:
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
    store = open_store(url)
    try:
        found = problems(store, run_id, stamp)
        sha = digest.run_sha256(store, run_id)
    finally:
        store.close()
    if not found:
        print(f"verified: run {run_id}, SHA-256 {sha}")
        return EXIT_OK
    print(f"NOT VERIFIED: run {run_id}, {len(found)} alteration(s):")
    for line in found:
        print(f"  {line}")
    return EXIT_FAIL


def run(args: argparse.Namespace) -> int:
    return run_guarded(lambda: _verify(args), args.db)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "verify-report", help="check a report (or a run) against the results store")
    parser.add_argument("target", metavar="REPORT_HTML_OR_RUN_ID")
    add_db_argument(parser)
    parser.set_defaults(func=run)
