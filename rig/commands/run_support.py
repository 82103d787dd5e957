"""What every measuring subcommand shares: station options, the embedded bench, signals, one-line errors."""

from __future__ import annotations

import argparse
import contextlib
import getpass
import os
import signal
from collections.abc import Iterator
from dataclasses import dataclass

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from rig.keys import KeySource
from rig.records.signing import Signer, load_signer, load_station_signer
from rig.serial_numbers import check_path_serial
from rig.station import MAX_SLOT_NUMBER, Station, StationError, load_station
from rig.virtual_bench import VirtualBenchProcess


def add_station_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--station", help="station file (TOML); without it the rig starts its own virtual bench")
    parser.add_argument("--slot", type=int, default=None, help="slot number (default: every slot of the station)")
    parser.add_argument("--serial", help="expected serial number of the unit (as scanned); refused on mismatch")
    parser.add_argument("--operator", default=os.environ.get("RIG_OPERATOR") or getpass.getuser())
    parser.add_argument("--db", default=None, help="results store URL (default: RIG_DB_URL or reports/results.sqlite)")
    parser.add_argument("--bench-slots", type=int, default=1, help="virtual bench only: number of slots")
    parser.add_argument("--bench-seed", type=int, default=None, help="virtual bench only: seed of the units' errors")
    parser.add_argument("--bench-fault", action="append", default=[], help="virtual bench only: a fault to switch on")
    parser.add_argument("--bench-unit-errors", default=None, metavar="corner:<i>|JSON",
                        help="virtual bench only: the unit's errors, explicitly (rig bench --unit-errors)")
    parser.add_argument("--bench-variant", type=int, default=None, metavar="SEED",
                        help="virtual bench only: its implementation variant (reply latency, control period, ...)")


@dataclass
class StationContext:
    station: Station
    keys: KeySource
    signer: Signer | None = None


@contextlib.contextmanager
def station_context(args: argparse.Namespace) -> Iterator[StationContext]:
    """The named station, or a virtual bench started for this run and stopped after it."""
    check_run_arguments(args)
    if args.station:
        station = load_station(args.station)
        yield StationContext(station, KeySource(station.unlock_keys),
                             load_station_signer(station.signing_key, station.signing_public_key))
        return
    signer = load_signer(None)  # the embedded bench: signed when RIG_SIGNING_KEY is set
    serials = [args.serial] if args.serial else []
    with VirtualBenchProcess(
        slots=args.bench_slots, serials=serials, seed=args.bench_seed, faults=args.bench_fault,
        unit_errors=args.bench_unit_errors,
        variant=args.bench_variant,
    ) as bench:
        yield StationContext(bench.station, bench.keys, signer)


def check_run_arguments(args: argparse.Namespace) -> None:
    """Refuse bad --serial / --slot before anything starts: an empty serial would silently turn the
    serial check off, and the scanned serial must equal the unit's, which names its table folder."""
    if args.serial is not None:
        check_path_serial(args.serial, "--serial")
    if args.slot is not None and not 1 <= args.slot <= MAX_SLOT_NUMBER:
        raise StationError(f"--slot: {args.slot} is not a slot number (1 to {MAX_SLOT_NUMBER})")


class Terminated(KeyboardInterrupt):
    """SIGTERM, turned into an exception so that every `finally` runs (output off, load safe)."""


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    def handler(signum, frame):  # noqa: ARG001 - signal handler signature
        raise Terminated("terminated by SIGTERM")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class RichProgress:
    """A progress bar per phase."""

    def __init__(self, console: Console, label: str) -> None:
        self.label = label
        self.bar = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=console, transient=False,
        )
        self.task = None

    def __enter__(self) -> RichProgress:
        self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.stop()

    def phase(self, name: str, total: int) -> None:
        if self.task is not None:
            self.bar.update(self.task, completed=self.bar.tasks[self.task].total)
        self.task = self.bar.add_task(f"{self.label} {name}", total=total)

    def advance(self) -> None:
        if self.task is not None:
            self.bar.advance(self.task)
