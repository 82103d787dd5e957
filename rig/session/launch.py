"""Starting runs from a RunConfig: one job per slot of the plan, run on every slot at once (the line
runner), each with its report. Every front end comes through here (`rig run`, `rig calibrate`, the
pytest plugin's calibration before a suite, the station page)."""

from __future__ import annotations

import datetime as dt
import importlib
from collections.abc import Callable
from pathlib import Path

from rig.records.signing import Signer
from rig.records.store import ResultsStore
from rig.session.config import RunConfig
from rig.session.events import EventSink, log_events
from rig.session.line import run_slots
from rig.session.outcome import CalibrationOutcome
from rig.session.plans import Plan
from rig.session.run import CalibrationJob
from rig.session.stations import StationContext
from rig.slot import DueDateOverride
from rig.spec import ProductSpec

ReportBuilder = Callable[[ResultsStore, int, Path], Path | None]


def report_builder(signer: Signer | None = None) -> ReportBuilder | None:
    """The compliance report's builder (HTML), signed with the station key where there is one."""
    try:
        module = importlib.import_module("rig.records.report")
    except ModuleNotFoundError:
        return None

    def build(store: ResultsStore, run_id: int, out_dir: Path) -> Path | None:
        return module.build_report(store, run_id, out_dir, signer=signer).html

    return build


def make_job(config: RunConfig, plan: Plan, ctx: StationContext, number: int, spec: ProductSpec,
             store: ResultsStore, *, expected_serial: str | None = None, on_event: EventSink = log_events,
             build_report: ReportBuilder | None = None, operator_fallback: str | None = None) -> CalibrationJob:
    """The job of one slot, as the configuration says."""
    operator = config.operator_or(operator_fallback)
    override = DueDateOverride(config.override_due, operator) if config.override_due else None
    return CalibrationJob(
        station=ctx.station, slot=number, keys=ctx.keys, spec=spec, store=store, rule=config.decision_rule,
        operator=operator, calibrations_dir=config.calibrations, reports_dir=config.reports,
        expected_serial=expected_serial, override=override, ambient=config.ambient, today=dt.date.today(),
        plan=plan, on_event=on_event, build_report=build_report, signer=ctx.signer,
    )


def slot_numbers(config: RunConfig, ctx: StationContext) -> list[int]:
    """--slot, else every slot of the station."""
    return [config.slot] if config.slot else [s.slot for s in ctx.station.slots]


def run_plan_on_station(config: RunConfig, plan: Plan, ctx: StationContext, spec: ProductSpec,
                        store: ResultsStore, on_event: EventSink = log_events) -> dict[int, CalibrationOutcome]:
    """The plan on every slot the configuration names, at once; each run with its report. The
    scanned --serial is checked only where a single slot runs (it names one unit)."""
    numbers = slot_numbers(config, ctx)
    serial = config.serial if len(numbers) == 1 else None
    jobs = {n: make_job(config, plan, ctx, n, spec, store, expected_serial=serial, on_event=on_event,
                        build_report=report_builder(ctx.signer)) for n in numbers}
    return run_slots(jobs)
