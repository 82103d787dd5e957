"""`rig stats`: yield, capability, station health and unit drift from the results store.

Prints the summary as rich tables; `--html` writes a page with the plots (`--plots DIR`: the same as
PNG files), `--csv` / `--parquet` the tidy tables (the points table at OUT, the others beside it).
Exit 0, or 2 with one line on an error.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

from rich.console import Console

from rig.commands.report_cmd import CommandError, add_db_argument, open_store, run_guarded
from rig.exit_codes import ExitCode
from rig.stats.drift import DEFAULT_RELIABILITY
from rig.stats.exports import write_tables
from rig.stats.frames import Filters, read_frames
from rig.stats.html_page import write_page, write_plots
from rig.stats.summary import summarise
from rig.stats.terminal import print_summary

PIPED_WIDTH_CHARS = 160


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, got {text!r}") from None


def _reliability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a fraction between 0 and 1 (e.g. 0.95), got {text!r}")
    return value


def _stats(args: argparse.Namespace) -> int:
    filters = Filters(since=args.since, station=args.station, firmware=args.firmware, requirement=args.requirement)
    store = open_store(args.db)
    try:
        frames = read_frames(store.engine, filters)
    finally:
        store.close()
    if frames.runs.empty:
        raise CommandError("no ended run in the store matches the filters")
    if args.requirement is not None and frames.points.empty and frames.requirement_verdicts.empty:
        raise CommandError(f"--requirement: no point or verdict of {args.requirement!r} in the runs selected")
    summary = summarise(frames, filters, args.reliability)
    console = Console(width=None if sys.stdout.isatty() else PIPED_WIDTH_CHARS)
    print_summary(summary, console)
    if args.html is not None:
        console.print(f"page: {write_page(summary, Path(args.html))}")
    if args.plots is not None:
        console.print("plots: " + ", ".join(str(p) for p in write_plots(summary, Path(args.plots))))
    for fmt in ("csv", "parquet"):
        out = getattr(args, fmt)
        if out is not None:
            paths = write_tables(summary, Path(out), fmt)
            console.print(f"{fmt}: {paths[0]} (points) and {len(paths) - 1} tables beside it")
    return ExitCode.OK


def run(args: argparse.Namespace) -> int:
    return run_guarded(lambda: _stats(args), args.db)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("stats", help="yield, capability, station health and unit drift")
    add_db_argument(parser)
    parser.add_argument("--since", type=_date, default=None, metavar="DATE", help="runs started on or after DATE")
    parser.add_argument("--station", default=None, metavar="NAME")
    parser.add_argument("--firmware", default=None, metavar="VER")
    parser.add_argument("--requirement", default=None, metavar="KEY", help="points and verdicts of one requirement")
    parser.add_argument("--reliability", type=_reliability, default=DEFAULT_RELIABILITY, metavar="R",
                        help=f"target fraction of units in tolerance at the end of the interval "
                             f"(default {DEFAULT_RELIABILITY})")
    parser.add_argument("--html", default=None, metavar="OUT", help="write the page with the plots")
    parser.add_argument("--plots", default=None, metavar="DIR", help="write the page's plots as PNG files")
    parser.add_argument("--csv", default=None, metavar="OUT", help="write the tidy tables as CSV")
    parser.add_argument("--parquet", default=None, metavar="OUT", help="write the tidy tables as Parquet")
    parser.set_defaults(func=run)
