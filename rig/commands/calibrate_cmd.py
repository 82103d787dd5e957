"""`rig run --plan end-of-line|calibrate|cutoffs|verify` and `rig calibrate` (the calibrate plan): run
the plan on the unit(s) of a station; exit 0 PASS, 1 FAIL, 2 an error stopped it."""

from __future__ import annotations

import argparse
import logging

from rich.console import Console
from rich.markup import escape

from rig.commands.run_support import (
    RichProgress,
    sigterm_as_interrupt,
)
from rig.exit_codes import ExitCode
from rig.metrology.decision import RunVerdict
from rig.records.stale_runs import reconcile_stale_runs
from rig.records.store import ResultsStore
from rig.records.store_engine import default_url, mask_url_secrets
from rig.session.config import RunConfig, add_cli_options
from rig.session.launch import run_plan_on_station
from rig.session.line import describe_error
from rig.session.outcome import CalibrationOutcome
from rig.session.plans import Plan
from rig.session.stations import station_context
from rig.slot import SafeState
from rig.spec import load_spec

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("run", help="run a plan on a unit: end-of-line, calibrate, cutoffs or verify")
    parser.add_argument("--plan", choices=[p.value for p in Plan], default=Plan.END_OF_LINE.value,
                        help="end-of-line (calibrate, as left, every cut-off row, residual current: one verdict; "
                             "default), calibrate, cutoffs (calibrated first if never saved) or verify (no write)")
    add_cli_options(parser)
    parser.set_defaults(func=run)
    parser = subparsers.add_parser("calibrate", help="calibrate a unit: as-found, fit, write back, as-left "
                                                     "(rig run --plan calibrate)")
    add_cli_options(parser)
    parser.set_defaults(func=run, plan=Plan.CALIBRATE.value)


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
        config = RunConfig.from_namespace(args)
        spec = load_spec(config.spec)
        with sigterm_as_interrupt(), station_context(config) as ctx, ResultsStore(config.db) as store:
            for run_id in reconcile_stale_runs(store):
                console.print(f"[yellow]run {run_id} was left running by a process that is gone: marked"
                              " interrupted[/]")
            several = config.slot is None and len(ctx.station.slots) > 1
            with RichProgress(console, several_slots=several) as progress:
                outcomes = run_plan_on_station(config, Plan(args.plan), ctx, spec, store, on_event=progress)
    except KeyboardInterrupt as exc:
        states = _safe_states_of(exc)
        safe_text, _ = safe_state_summary(states)
        marked = "; run marked aborted" if states and None not in states.values() else ""
        console.print(f"[bold yellow]stopped: {escape(str(exc) or 'interrupted (Ctrl-C)')}; {escape(safe_text)}"
                      f"{marked}[/]")
        return ExitCode.ERROR
    except Exception as exc:  # one line for the operator, never a traceback
        log.debug("run stopped", exc_info=True)
        states = _safe_states_of(exc)
        safe_text = f"; {safe_state_summary(states)[0]}" if states else ""
        message = mask_url_secrets(describe_error(exc) + safe_text, args.db or default_url())
        console.print(f"[bold yellow]ERROR[/] {escape(message)}")
        return ExitCode.ERROR
    for number, outcome in outcomes.items():
        _print_outcome(console, number, outcome)
    safe_text, all_off = safe_state_summary({n: o.safe for n, o in outcomes.items() if o.safe is not None})
    if not all_off:
        console.print(f"[bold red]safe state NOT confirmed: {escape(safe_text)}[/]")
    verdicts = {o.verdict for o in outcomes.values()}
    if RunVerdict.ERROR in verdicts or not all_off:
        return ExitCode.ERROR
    return ExitCode.FAIL if RunVerdict.FAIL in verdicts else ExitCode.PASS


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
