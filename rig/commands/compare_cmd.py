"""`rig compare BASELINE_RUN NEW_RUN`: what moved between two runs (e.g. two firmware versions).

Exit 0 when no point newly fails, 1 when one does, 2 when the runs could not be compared.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from rig.commands.report_cmd import (
    DEFAULT_OUT_DIR,
    add_db_argument,
    open_store,
    run_guarded,
)
from rig.exit_codes import ExitCode
from rig.records.compare import (
    BETTER,
    FIXED,
    MISSING_IN_NEW,
    NEWLY_FAILS,
    ONLY_IN_NEW,
    UNCHANGED,
    WORSE,
    Comparison,
    compare_runs,
    write_outputs,
)
from rig.records.report_html import number
from rig.units import PERCENT

STYLES = {NEWLY_FAILS: "bold red", WORSE: "yellow", BETTER: "green", FIXED: "bold green",
          MISSING_IN_NEW: "magenta", ONLY_IN_NEW: "cyan"}
# Piped or logged output gets no terminal width; point names must not be cut to "POS-D…".
PIPED_WIDTH_CHARS = 200


def _fraction(value: float | None) -> str:
    return "–" if value is None else f"{value * PERCENT:+.1f} %"


def changes_table(comparison: Comparison, show_all: bool) -> Table:
    grid = Table(title=f"run {comparison.new_run} (firmware {comparison.new_header['firmware']}) "
                       f"against baseline run {comparison.baseline_run} "
                       f"(firmware {comparison.baseline_header['firmware']})")
    for column in ("phase", "requirement", "point", "baseline", "new", "Δ", "Δ/tol",
                   "verdicts", "change"):
        grid.add_column(column)
    for c in comparison.changes:
        if c.change == UNCHANGED and not show_all:
            continue
        grid.add_row(c.phase, c.requirement, c.name, number(c.baseline), number(c.new),
                     number(c.delta), _fraction(c.delta_fraction),
                     f"{c.baseline_verdict or '–'} → {c.new_verdict or '–'}", c.change,
                     style=STYLES.get(c.change))
    return grid


def _compare(args: argparse.Namespace) -> int:
    store = open_store(args.db)
    try:
        comparison = compare_runs(store, args.baseline_run, args.new_run)
    finally:
        store.close()
    paths = write_outputs(comparison, Path(args.out))
    console = Console(width=None if sys.stdout.isatty() else PIPED_WIDTH_CHARS)
    console.print(changes_table(comparison, args.all))
    summary = ", ".join(f"{n} {change}" for change, n in comparison.counts().items())
    console.print(f"{len(comparison.changes)} points: {summary}")
    console.print(f"written: {paths.csv}, {paths.html}, {paths.png}")
    informative = comparison.newly_failing_informative
    if informative:
        console.print(f"{len(informative)} as-found point(s) newly fail (the unit as it came: "
                      "shown, not decisive)")
    failing = comparison.newly_failing
    if failing:
        console.print(f"[bold red]{len(failing)} point(s) newly fail[/]: "
                      + ", ".join(f"{c.requirement}:{c.name}" for c in failing), highlight=False)
        return ExitCode.FAIL
    console.print("no point newly fails")
    return ExitCode.OK


def run(args: argparse.Namespace) -> int:
    return run_guarded(lambda: _compare(args), args.db)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("compare", help="compare two runs point by point (regression)")
    parser.add_argument("baseline_run", type=int, metavar="BASELINE_RUN")
    parser.add_argument("new_run", type=int, metavar="NEW_RUN")
    add_db_argument(parser)
    parser.add_argument("--out", default=str(DEFAULT_OUT_DIR), metavar="DIR",
                        help="folder for the CSV, HTML and PNG (default: reports/)")
    parser.add_argument("--all", action="store_true", help="also list unchanged points")
    parser.set_defaults(func=run)
