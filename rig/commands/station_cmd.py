"""`rig station`: serve the operator station's page (one panel per slot); with no station file, on a
virtual bench of 4 slots. Exit 0 when stopped, 2 when it could not start (one line, no traceback)."""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from rig.commands.run_support import station_context
from rig.exit_codes import ExitCode
from rig.line_run import describe_error
from rig.metrology.decision import DecisionRule
from rig.records.stale_runs import reconcile_stale_runs
from rig.records.store import ResultsStore
from rig.spec import load_spec
from rig.station_ui.auth import StationAuth, is_loopback
from rig.station_ui.server import build_controller, listening_socket, serve

log = logging.getLogger(__name__)
PASSWORD_ENV = "RIG_STATION_PASSWORD"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("station", help="serve the operator station's web page")
    parser.add_argument("--station", help="station file (TOML); without it a virtual bench with --bench-slots slots")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (default 127.0.0.1; any other needs the station password)")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--password-env", default=PASSWORD_ENV, metavar="VAR",
                        help=f"environment variable holding the station password (default {PASSWORD_ENV})")
    parser.add_argument("--auto-confirm", action="store_true",
                        help="answer every operator prompt with confirm (unattended runs, benchmarks)")
    parser.add_argument("--db", default=None, help="results store URL (default: RIG_DB_URL or reports/results.sqlite)")
    parser.add_argument("--spec", default=None, help="product spec file (default: the shipped IX-30 spec)")
    parser.add_argument("--rule", choices=[r.name.lower() for r in DecisionRule], default="guard_band")
    parser.add_argument("--calibrations", type=Path, default=Path("calibrations"))
    parser.add_argument("--reports", type=Path, default=Path("reports"))
    parser.add_argument("--bench-slots", type=int, default=4, help="virtual bench only: number of slots")
    parser.add_argument("--bench-seed", type=int, default=None, help="virtual bench only: seed of the units' errors")
    parser.add_argument("--bench-fault", action="append", default=[],
                        help="virtual bench only: a fault to switch on (NAME or SLOT:NAME)")
    parser.add_argument("--bench-unit-errors", default=None, metavar="corner:<i>|JSON",
                        help="virtual bench only: the units' errors, explicitly")
    parser.add_argument("--bench-variant", type=int, default=None, metavar="SEED",
                        help="virtual bench only: its implementation variant")
    parser.set_defaults(func=run, serial=None, slot=None)


def station_password(args: argparse.Namespace) -> str | None:
    """The password from its variable; refused (ValueError) off the loopback interface without one."""
    password = os.environ.get(args.password_env) or None
    if not is_loopback(args.host) and password is None:
        raise ValueError(f"--host {args.host}: the page would be reachable from the network; set a station "
                         f"password in {args.password_env} (or bind 127.0.0.1)")
    if not 1 <= args.port <= 65535:
        raise ValueError(f"--port: {args.port} is not a TCP port (1 to 65535)")
    return password


def run(args: argparse.Namespace) -> int:
    console = Console(soft_wrap=True)
    try:
        auth = StationAuth(station_password(args))
        spec = load_spec(args.spec)
        sock = listening_socket(args.host, args.port)
        with sock, station_context(args) as ctx, ResultsStore(args.db) as store:
            for run_id in reconcile_stale_runs(store):
                console.print(f"[yellow]run {run_id} was left running by a process that is gone: marked"
                              " interrupted[/]")
            controller = build_controller(
                ctx.station, ctx.keys, spec, store, station_file=Path(args.station) if args.station else None,
                calibrations_dir=args.calibrations, reports_dir=args.reports,
                rule=DecisionRule[args.rule.upper()], signer=ctx.signer, auto_confirm=args.auto_confirm)
            console.print(f"station {escape(ctx.station.name)}: {len(ctx.station.slots)} slot(s) on "
                          f"http://{args.host}:{args.port}/ (Ctrl-C to stop)")
            serve(controller, auth, sock)
    except KeyboardInterrupt:
        return ExitCode.OK
    except Exception as exc:  # one line for the operator, never a traceback
        log.debug("station stopped", exc_info=True)
        console.print(f"[bold yellow]ERROR[/] {escape(describe_error(exc))}")
        return ExitCode.ERROR
    return ExitCode.OK
