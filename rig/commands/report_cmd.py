"""`rig report RUN_ID`: write the compliance report of a stored run (HTML, and the same as a typeset PDF).

Also the store opening shared by the read-only record commands (report, verify-report, compare):
they must never create a database, and every failure is one line and exit 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from rig.exit_codes import ExitCode
from rig.records.report import build_report, public_url
from rig.records.signing import SigningKeyError, load_signer
from rig.records.stale_runs import reconcile_stale_runs
from rig.records.store import ResultsStore, default_url
from rig.records.store_engine import mask_url_secrets
from rig.spec import SpecError

DEFAULT_OUT_DIR = Path("reports")


class CommandError(Exception):
    """An error the operator can act on: printed as one line, exit 2."""


def add_db_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", default=None, metavar="URL",
                        help="results store URL (default: $RIG_DB_URL or reports/results.sqlite)")


def open_store(url: str | None) -> ResultsStore:
    """Open an existing store; a missing SQLite file is an error, never a new empty database."""
    url = url or default_url()
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise CommandError(f"bad database URL {public_url(url)!r}") from None
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        if not Path(parsed.database).is_file():
            raise CommandError(f"no results database at {parsed.database}")
    try:
        return ResultsStore(url)
    except (SQLAlchemyError, ImportError, ValueError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CommandError(f"cannot open database {public_url(url)}: {mask_url_secrets(reason, url)}") from None


def run_guarded(action: Callable[[], int], db_url: str | None = None) -> int:
    """Run a command body, turning the errors it can expect into one line on stderr, exit 2; the
    store URL's password (--db, else the default URL) is never shown."""
    try:
        return action()
    except CommandError as exc:
        message = str(exc)
    except KeyError as exc:  # the store's "no run N in URL"
        message = str(exc.args[0]) if exc.args else "not found"
    except (SQLAlchemyError, OSError, SpecError) as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    print(f"rig: error: {mask_url_secrets(message, db_url or default_url())}", file=sys.stderr)
    return ExitCode.ERROR


def _report(args: argparse.Namespace) -> int:
    try:
        signer = load_signer(args.signing_key)
    except SigningKeyError as exc:
        raise CommandError(str(exc)) from None
    store = open_store(args.db)
    try:
        reconcile_stale_runs(store)  # a run whose process is gone is reported as interrupted
        paths = build_report(store, args.run_id, Path(args.out), signer=signer)
    finally:
        store.close()
    print(f"report: {paths.html}")
    print(f"pdf:    {paths.pdf}" if paths.pdf else "pdf:    not written")
    print(f"run SHA-256: {paths.sha256}")
    print(f"signed by station key {signer.verifier.key_id}" if signer else "unsigned: no signing key configured")
    return ExitCode.OK


def run(args: argparse.Namespace) -> int:
    return run_guarded(lambda: _report(args), args.db)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("report", help="write the compliance report of a stored run")
    parser.add_argument("run_id", type=int, metavar="RUN_ID")
    add_db_argument(parser)
    parser.add_argument("--out", default=str(DEFAULT_OUT_DIR), metavar="DIR",
                        help="output folder (default: reports/)")
    parser.add_argument("--signing-key", metavar="SOURCE", default=None,
                        help="station signing key: file:PATH or env:VAR (default: $RIG_SIGNING_KEY; none: unsigned)")
    parser.set_defaults(func=run)
