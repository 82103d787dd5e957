"""`rig station`: serve the operator station's page (one panel per slot); with no station file, on a
virtual bench of 4 slots. Exit 0 when stopped, 2 when it could not start (one line, no traceback)."""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from rig.exit_codes import ExitCode
from rig.records.stale_runs import reconcile_stale_runs
from rig.records.store import ResultsStore
from rig.session.config import RunConfig, add_cli_options
from rig.session.line import describe_error
from rig.session.plans import Plan
from rig.session.stations import station_context
from rig.spec import load_spec
from rig.station_ui.auth import StationAuth, is_loopback
from rig.station_ui.server import build_controller, listening_socket, serve

log = logging.getLogger(__name__)
PASSWORD_ENV = "RIG_STATION_PASSWORD"
DEFAULT_BENCH_SLOTS = 4  # with no station file: a virtual bench of four slots


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("station", help="serve the operator station's web page")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (default 127.0.0.1; any other needs a station password)")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--password-env", default=PASSWORD_ENV, metavar="VAR",
                        help=f"environment variable holding the station password (default {PASSWORD_ENV})")
    parser.add_argument("--auto-confirm", action="store_true",
                        help="answer every operator prompt with confirm (unattended runs, benchmarks)")
    parser.add_argument("--plan", choices=[p.value for p in Plan], default=Plan.END_OF_LINE.value,
                        help="the plan each Start runs (default end-of-line: calibrate, as left, every cut-off)")
    add_cli_options(parser)  # the run's options, from the one RunConfig declaration (rig/session/config.py)
    parser.set_defaults(func=run, bench_slots=DEFAULT_BENCH_SLOTS)


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
        config = RunConfig.from_namespace(args)
        config.check()
        spec = load_spec(config.spec)
        sock = listening_socket(args.host, args.port)
        with sock, station_context(config) as ctx, ResultsStore(config.db) as store:
            for run_id in reconcile_stale_runs(store):
                console.print(f"[yellow]run {run_id} was left running by a process that is gone: marked"
                              " interrupted[/]")
            controller = build_controller(
                ctx.station, ctx.keys, spec, store, station_file=Path(config.station) if config.station else None,
                calibrations_dir=config.calibrations, reports_dir=config.reports,
                rule=config.decision_rule, signer=ctx.signer, auto_confirm=args.auto_confirm,
                plan=Plan(args.plan))
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
