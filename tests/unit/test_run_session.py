"""The run session (rig/session/): one RunConfig behind the CLI's and pytest's options, the plans'
phases, and the progress events (typed, picklable, forwarded from the line runner's workers)."""

from __future__ import annotations

import argparse
import dataclasses
import multiprocessing
import pickle
from pathlib import Path
from types import SimpleNamespace

import pytest

from rig.cli import build_parser
from rig.procedures.grid import GridPoint
from rig.procedures.unit_events import UnitFault
from rig.serial_numbers import SerialNumberError
from rig.session import events
from rig.session.config import CLI, OPTIONS, PYTEST, RunConfig, add_cli_options, add_pytest_options
from rig.session.findings import verify_trip
from rig.session.line import run_slots
from rig.session.outcome import CalibrationOutcome
from rig.session.plans import Plan, plan_phases
from rig.session.run import CalibrationJob
from rig.spec import load_spec
from rig.station import StationError


class _PytestGroup:
    """Stands in for a pytest option group: records what the plugin adds, as pytest would parse it."""

    def __init__(self) -> None:
        self.parser = argparse.ArgumentParser()
        self.flags: dict[str, dict] = {}

    def addoption(self, flag: str, **kw) -> None:
        self.flags[flag] = kw
        self.parser.add_argument(flag, **kw)


def _cli_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    add_cli_options(parser)
    return parser


ARGS = ["--station", "st.toml", "--slot", "3", "--serial", "SN000456", "--operator", "ann", "--db", "sqlite://",
        "--rule", "simple", "--bench-seed", "7", "--bench-fault", "slow_cutoff", "--bench-fault", "drift",
        "--bench-variant", "2", "--bench-no-format", "--calibrations", "cal"]


def test_every_run_config_field_is_one_declared_option():
    assert [f.name for f in dataclasses.fields(RunConfig)] == [o.name for o in OPTIONS]


def test_cli_and_pytest_options_come_from_the_one_declaration_and_read_back_alike():
    group = _PytestGroup()
    add_pytest_options(group)
    cli_flags = {a.option_strings[0] for a in _cli_parser()._actions if a.option_strings[0] != "-h"}
    shared = {o.flag for o in OPTIONS if o.fronts == {CLI, PYTEST}}
    assert shared <= cli_flags and shared <= set(group.flags)
    assert set(group.flags) == {o.flag for o in OPTIONS if PYTEST in o.fronts}
    from_cli = RunConfig.from_namespace(_cli_parser().parse_args(ARGS))
    from_pytest = RunConfig.from_options(vars(group.parser.parse_args(ARGS)).get, PYTEST)
    assert from_cli == from_pytest
    assert from_cli.slot == 3 and from_cli.bench_fault == ("slow_cutoff", "drift")
    assert from_cli.calibrations == Path("cal") and from_cli.bench_dialect_args == ["--analyzer-no-format"]
    assert from_cli.decision_rule.name == "SIMPLE"


def test_defaults_are_the_same_on_both_fronts():
    group = _PytestGroup()
    add_pytest_options(group)
    assert RunConfig.from_namespace(_cli_parser().parse_args([])) == RunConfig()
    assert RunConfig.from_options(vars(group.parser.parse_args([])).get, PYTEST) == RunConfig()


@pytest.mark.parametrize(("args", "error"), [(["--slot", "0"], StationError), (["--serial", ""], SerialNumberError)])
def test_bad_slot_or_serial_is_refused_by_the_config_itself(args, error):
    with pytest.raises(error):
        RunConfig.from_namespace(_cli_parser().parse_args(args))


@pytest.mark.parametrize(("argv", "plan"), [
    (["run", "--plan", "end-of-line"], Plan.END_OF_LINE), (["run", "--plan", "cutoffs"], Plan.CUTOFFS),
    (["run", "--plan", "verify"], Plan.VERIFY), (["run", "--plan", "calibrate"], Plan.CALIBRATE),
    (["calibrate"], Plan.CALIBRATE),
])
def test_plan_selection(argv, plan):
    assert Plan(build_parser().parse_args(argv).plan) is plan


def test_an_unknown_plan_is_refused():
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "--plan", "everything"])


def _fake_run(plan: Plan) -> SimpleNamespace:
    grid = [SimpleNamespace(waveform="DC"), SimpleNamespace(waveform="PULSED")]
    return SimpleNamespace(job=SimpleNamespace(plan=plan, spec=load_spec()), grid=lambda phase: grid)


@pytest.mark.parametrize(("plan", "calibrate_first", "phases"), [
    (Plan.CALIBRATE, True, ["as-found", "characterise", "write", "as-left"]),
    (Plan.END_OF_LINE, True, ["as-found", "characterise", "write", "as-left", "cutoffs"]),
    (Plan.CUTOFFS, False, ["cutoffs"]),
    (Plan.CUTOFFS, True, ["as-found", "characterise", "write", "as-left", "cutoffs"]),
    (Plan.VERIFY, False, ["verify", "cutoffs"]),
])
def test_plan_phases(plan, calibrate_first, phases):
    got = plan_phases(_fake_run(plan), calibrate_first)
    assert [name for name, _ in got] == phases
    totals = dict(got)
    assert all(total > 0 for total in totals.values())
    if "as-left" in totals:
        assert totals["as-left"] == 4  # 2 grid points; the DC one with its 2 reading points


def test_only_verify_never_writes():
    assert [p for p in Plan if not p.writes] == [Plan.VERIFY]


def test_phase_counter_sends_phase_then_points_counted_against_the_phase():
    got: list[events.Event] = []
    counter = events.PhaseCounter(got.append, slot=2)
    counter.start("as-left", 2)
    counter.advance("p1", "PASS")
    counter.advance("p2", "FAIL")
    assert got == [events.PhaseStarted(2, "as-left", 2), events.PointMeasured(2, "as-left", "p1", 1, 2, "PASS"),
                   events.PointMeasured(2, "as-left", "p2", 2, 2, "FAIL")]


EVERY_EVENT = [
    events.RunStarted(1, 5, "end-of-line", ("as-found", "cutoffs"), 12),
    events.PhaseStarted(1, "cutoffs", 3),
    events.PointMeasured(1, "cutoffs", "ramp[1mA_s]", 1, 3, "PASS"),
    events.TraceSamples(1, "ramp", (0.0, 0.001), (0.0, 0.1)),
    events.OperatorPrompt(1, "scan the unit"),
    events.RunFinished(1, 5, "FAIL", ("ramp",), "ramp too slow", "reports/run-5.html"),
]


def test_events_survive_pickling():
    assert [pickle.loads(pickle.dumps(e)) for e in EVERY_EVENT] == EVERY_EVENT


def _emitting(job: CalibrationJob) -> CalibrationOutcome:
    for event in EVERY_EVENT:
        job.on_event(dataclasses.replace(event, slot=job.slot))
    return CalibrationOutcome("PASS", "stand-in")


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="workers are threads")
def test_worker_events_reach_the_callers_sink_in_order(store, tmp_path):
    got: list[events.Event] = []
    jobs = {n: CalibrationJob(station=None, slot=n, keys=None, spec=None, store=store, reports_dir=tmp_path,
                              on_event=got.append) for n in (1, 2)}
    run_slots(jobs, runner=_emitting)
    for n in (1, 2):
        assert [e for e in got if e.slot == n] == [dataclasses.replace(e, slot=n) for e in EVERY_EVENT]


def test_a_trip_while_verifying_fails_the_overcurrent_row_and_names_where():
    point = GridPoint("NEG", "DC", 1000.0, 10.0)
    finding = verify_trip(point, UnitFault("unit tripped", "!FAULT 1 OVERCURRENT"), load_spec())
    record = finding.record
    assert (record.phase, record.requirement, record.verdict) == ("verify", "overcurrent", "FAIL")
    assert record.measured is None and record.name == f"{point.name}-trip"
    assert finding.summary.startswith("verify, FAULT 1 OVERCURRENT at NEG-DC-1000ohm-10mA")
