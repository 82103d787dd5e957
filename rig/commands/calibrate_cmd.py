"""`rig calibrate`: calibrate the unit(s) of a station; exit 0 PASS, 1 FAIL, 2 an error stopped it."""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import logging
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from rig.commands.run_support import (
    EXIT_ERROR,
    EXIT_FAIL,
    EXIT_PASS,
    RichProgress,
    add_station_options,
    sigterm_as_interrupt,
    station_context,
)
from rig.metrology.decision import DecisionRule
from rig.records.signing import Signer
from rig.records.stale_runs import reconcile_stale_runs
from rig.records.store import ResultsStore
from rig.records.store_engine import default_url, mask_url_secrets
from rig.session.line import describe_error, run_slots
from rig.session.run import CalibrationJob, CalibrationOutcome
from rig.slot import DueDateOverride, SafeState
from rig.spec import load_spec

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("calibrate", help="calibrate a unit: as-found, fit, write back, as-left")
    add_station_options(parser)
    parser.add_argument("--spec", default=None, help="product spec file (default: the shipped IX-30 spec)")
    parser.add_argument("--rule", choices=[r.name.lower() for r in DecisionRule], default="guard_band",
                        help="decision rule (ILAC-G8): guard_band (w = U, default) or simple")
    parser.add_argument("--calibrations", type=Path, default=Path("calibrations"))
    parser.add_argument("--reports", type=Path, default=Path("reports"))
    parser.add_argument("--override-due", metavar="REASON", help="run although an instrument is past due")
    parser.add_argument("--ambient-temp-c", type=float, default=None)
    parser.add_argument("--ambient-rh-pct", type=float, default=None)
    parser.set_defaults(func=run)


def _report_builder(signer: Signer | None = None):
    try:
        module = importlib.import_module("rig.records.report")
    except ModuleNotFoundError:
        return None

    def build(store, run_id, out_dir):
        return module.build_report(store, run_id, out_dir, signer=signer).html

    return build


def _print_outcome(console: Console, slot: int, outcome: CalibrationOutcome) -> None:
    colour = {"PASS": "bold green", "FAIL": "bold red"}.get(outcome.verdict, "bold yellow")
    console.print(f"[{colour}]slot {slot} {escape(outcome.unit_serial or '')}: {outcome.verdict}[/] - "
                  f"{escape(outcome.reason)}")
    if outcome.table:
        console.print(f"  calibration table: {outcome.table.json_path} (and {outcome.table.csv_path.name})")
    if outcome.report:
        console.print(f"  report: {outcome.report}")
    if outcome.run_id is not None:
        console.print(f"  run id: {outcome.run_id}")


def run(args: argparse.Namespace) -> int:
    # soft_wrap: a message stays one line however narrow the terminal (or a pipe's 80 columns)
    console = Console(stderr=False, soft_wrap=True)
    try:
        spec = load_spec(args.spec)
        ambient = None
        if args.ambient_temp_c is not None or args.ambient_rh_pct is not None:
            ambient = {"temperature_c": args.ambient_temp_c, "humidity_pct": args.ambient_rh_pct}
        with sigterm_as_interrupt(), station_context(args) as ctx, ResultsStore(args.db) as store:
            for run_id in reconcile_stale_runs(store):
                console.print(f"[yellow]run {run_id} was left running by a process that is gone: marked"
                              " interrupted[/]")
            numbers = [args.slot] if args.slot else [s.slot for s in ctx.station.slots]
            override = DueDateOverride(args.override_due, args.operator) if args.override_due else None

            def job_for(number: int, progress) -> CalibrationJob:
                return CalibrationJob(
                    station=ctx.station, slot=number, keys=ctx.keys, spec=spec, store=store,
                    rule=DecisionRule[args.rule.upper()], operator=args.operator,
                    calibrations_dir=args.calibrations, reports_dir=args.reports,
                    expected_serial=args.serial if len(numbers) == 1 else None, override=override,
                    ambient=ambient, today=dt.date.today(), progress=progress,
                    build_report=_report_builder(ctx.signer), signer=ctx.signer,
                )

            with RichProgress(console, "") as progress:
                if len(numbers) == 1:
                    jobs = {numbers[0]: job_for(numbers[0], progress)}
                else:
                    jobs = {n: job_for(n, _SlotProgress(progress, n)) for n in numbers}
                outcomes = run_slots(jobs)
    except KeyboardInterrupt as exc:
        states = _safe_states_of(exc)
        safe_text, _ = safe_state_summary(states)
        marked = "; run marked aborted" if states and None not in states.values() else ""
        console.print(f"[bold yellow]stopped: {escape(str(exc) or 'interrupted (Ctrl-C)')}; {escape(safe_text)}"
                      f"{marked}[/]")
        return EXIT_ERROR
    except Exception as exc:  # one line for the operator, never a traceback
        log.debug("run stopped", exc_info=True)
        states = _safe_states_of(exc)
        safe_text = f"; {safe_state_summary(states)[0]}" if states else ""
        message = mask_url_secrets(describe_error(exc) + safe_text, args.db or default_url())
        console.print(f"[bold yellow]ERROR[/] {escape(message)}")
        return EXIT_ERROR
    for number, outcome in outcomes.items():
        _print_outcome(console, number, outcome)
    safe_text, all_off = safe_state_summary({n: o.safe for n, o in outcomes.items() if o.safe is not None})
    if not all_off:
        console.print(f"[bold red]safe state NOT confirmed: {escape(safe_text)}[/]")
    verdicts = {o.verdict for o in outcomes.values()}
    if "ERROR" in verdicts or not all_off:
        return EXIT_ERROR
    return EXIT_FAIL if "FAIL" in verdicts else EXIT_PASS


def _safe_states_of(exc: BaseException) -> dict[int, SafeState | None]:
    """The slots' read-back safe states carried by a stop: one slot's (`safe`), or every slot's
    outcome (`outcomes`, from run_slots). Empty when the stop came before any slot was opened."""
    outcomes = getattr(exc, "outcomes", None)
    if outcomes is not None:
        return {number: outcome.safe for number, outcome in outcomes.items()}
    safe = getattr(exc, "safe", None)
    return {} if safe is None else {safe.slot: safe}


def safe_state_summary(states: dict[int, SafeState | None]) -> tuple[str, bool]:
    """The closing line's safe-state clause, and whether every output was read back off. It says
    'output off' only for outputs the rig read back off."""
    if not states:
        return "no slot had been opened", True
    parts, all_off = [], True
    for number, safe in sorted(states.items()):
        if safe is None:
            parts.append(f"slot {number}: output state UNKNOWN (not read back)")
            all_off = False
        else:
            parts.append(safe.describe() if len(states) == 1 else f"slot {number}: {safe.describe()}")
            all_off = all_off and safe.confirmed
    return "; ".join(parts), all_off


class _SlotProgress:
    """Per-slot phases on the shared progress display."""

    def __init__(self, progress: RichProgress, number: int) -> None:
        self.progress, self.number, self.task = progress, number, None

    def phase(self, name: str, total: int) -> None:
        bar = self.progress.bar
        if self.task is not None:
            bar.update(self.task, completed=bar.tasks[self.task].total)
        self.task = bar.add_task(f"slot {self.number} {name}", total=total)

    def advance(self) -> None:
        if self.task is not None:
            self.progress.bar.advance(self.task)
