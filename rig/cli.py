"""The `rig` command: thin, one module per subcommand in rig/commands/.

Every subcommand turns the library's typed errors into one line for the operator (no traceback) and
an exit code: 0 PASS/success, 1 FAIL, 2 an error that stopped the run.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from rig import __version__

# Each module has `register(subparsers)` which adds its parser with `func=run(args) -> int`.
COMMAND_MODULES = (
    "rig.commands.bench_cmd",
    "rig.commands.calibrate_cmd",
    "rig.commands.report_cmd",
    "rig.commands.verify_cmd",
    "rig.commands.compare_cmd",
    "rig.commands.audit_cmd",
    "rig.commands.station_cmd",
    "rig.commands.stats_cmd",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rig", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"rig {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["bench"]:
        # The bench has its own argument parser; hand it the rest untouched.
        from rig.commands.bench_cmd import run_bench

        return run_bench(argv[1:])
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
