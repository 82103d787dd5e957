"""`rig bench`: serve the virtual bench (its own options; see `rig bench --help`)."""

from __future__ import annotations

import argparse
import importlib


def run_bench(argv: list[str]) -> int:
    # The only place outside rig/bench that loads it: the command that starts it.
    launcher = importlib.import_module("rig.bench.launcher")
    return int(launcher.main(argv))


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "bench", help="serve the virtual bench until SIGINT/SIGTERM", add_help=False
    )
    parser.add_argument("rest", nargs=argparse.REMAINDER)
    parser.set_defaults(func=lambda args: run_bench(args.rest))
