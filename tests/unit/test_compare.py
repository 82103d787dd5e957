"""Run comparison: matching, classification against tolerance and uncertainty, `rig compare`."""

from __future__ import annotations

import csv

import pytest
from sqlalchemy import text
from synthetic_run import SPEC, U_MA, make_run

from rig.cli import main
from rig.records.compare import (
    BETTER,
    MISSING_IN_NEW,
    NEWLY_FAILS,
    ONLY_IN_NEW,
    UNCHANGED,
    WORSE,
    compare_runs,
    write_outputs,
)
from rig.records.store import PointRecord

FAILING_SHIFT_MA = 0.1  # beyond the 1 mA point's tolerance by more than U
SMALL_SHIFT_MA = 0.005  # well inside the uncertainty of a difference
WORSE_SHIFT_MA = 0.04  # inside tolerance, but clearly more than the uncertainty


def by_name(comparison, phase="as_left", requirement="dc_accuracy"):
    return {c.name: c for c in comparison.changes
            if c.phase == phase and c.requirement == requirement}


def test_identical_runs_change_nothing(store):
    base, new = make_run(store), make_run(store, firmware="2.5.0")
    comparison = compare_runs(store, base, new)
    assert {c.change for c in comparison.changes} == {UNCHANGED}
    assert comparison.newly_failing == []
    assert all(c.delta == 0.0 for c in comparison.changes)


def test_shift_inside_uncertainty_is_unchanged(store):
    base, new = make_run(store), make_run(store, as_left_shift_ma=SMALL_SHIFT_MA)
    point = by_name(compare_runs(store, base, new))["POS-DC-1000ohm-1mA"]
    assert point.change == UNCHANGED
    assert point.delta == pytest.approx(SMALL_SHIFT_MA)


def test_shift_away_from_nominal_is_worse_and_relative_to_tolerance(store):
    base, new = make_run(store), make_run(store, as_left_shift_ma=WORSE_SHIFT_MA)
    points = by_name(compare_runs(store, base, new))
    point = points["POS-DC-1000ohm-10mA"]
    assert point.change == WORSE
    assert point.delta_fraction == pytest.approx(WORSE_SHIFT_MA / SPEC.dc_accuracy.tolerance_ma(10.0))
    assert point.significance == pytest.approx(WORSE_SHIFT_MA / (2 ** 0.5 * U_MA))


def test_shift_back_towards_nominal_is_better(store):
    base, new = make_run(store, as_left_shift_ma=WORSE_SHIFT_MA), make_run(store)
    assert by_name(compare_runs(store, base, new))["NEG-DC-5000ohm-10mA"].change == BETTER


def test_newly_failing_point_is_reported(store):
    base, new = make_run(store), make_run(store, as_left_shift_ma=FAILING_SHIFT_MA)
    comparison = compare_runs(store, base, new)
    failing = {c.name for c in comparison.newly_failing}
    assert "POS-DC-1000ohm-1mA" in failing and "NEG-DC-5000ohm-1mA" in failing
    assert by_name(comparison)["POS-DC-1000ohm-1mA"].change == NEWLY_FAILS
    assert by_name(comparison)["POS-DC-1000ohm-1mA"].new_verdict == "FAIL"
    # 20 mA has a wider band: the same shift stays inside it
    assert "POS-DC-1000ohm-20mA" not in failing


def test_missing_points_on_either_side(store):
    complete, partial = make_run(store), make_run(store, finish=False)
    forward = compare_runs(store, complete, partial)
    assert by_name(forward)["POS-DC-1000ohm-1mA"].change == MISSING_IN_NEW
    assert by_name(forward, phase="as_found")["POS-DC-1000ohm-1mA"].change == UNCHANGED
    backward = compare_runs(store, partial, complete)
    assert by_name(backward)["POS-DC-1000ohm-1mA"].change == ONLY_IN_NEW
    assert backward.newly_failing == []


def test_only_in_new_failing_point_counts_as_newly_failing(store):
    base = make_run(store)
    new = make_run(store, finish=False)
    store.add_point(new, PointRecord(phase="cutoff", requirement="overcurrent",
                                     clause=SPEC.overcurrent.clause, name="trip-10mA",
                                     measured=0.08, unit="s", verdict="FAIL", lower=None,
                                     upper=SPEC.overcurrent.off_within_s))
    comparison = compare_runs(store, base, new)
    assert [c.name for c in comparison.newly_failing] == ["trip-10mA"]


def test_outputs_written(store, tmp_path):
    base, new = make_run(store), make_run(store, as_left_shift_ma=FAILING_SHIFT_MA)
    paths = write_outputs(compare_runs(store, base, new), tmp_path / "out")
    assert paths.png.read_bytes().startswith(b"\x89PNG")
    assert "data:image/png;base64," in paths.html.read_text(encoding="utf-8")
    with paths.csv.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(compare_runs(store, base, new).changes)
    assert any(r["change"] == NEWLY_FAILS and r["name"] == "POS-DC-1000ohm-1mA" for r in rows)


def test_rig_compare_exit_codes(store, tmp_path, capsys):
    base, same = make_run(store), make_run(store)
    failing = make_run(store, as_left_shift_ma=FAILING_SHIFT_MA)
    common = ["--db", store.url, "--out", str(tmp_path)]
    assert main(["compare", str(base), str(same), *common]) == 0
    assert "no point newly fails" in capsys.readouterr().out
    assert main(["compare", str(base), str(failing), *common]) == 1
    out = capsys.readouterr().out
    assert "newly fail" in out and "POS-DC-1000ohm-1mA" in out
    assert (tmp_path / f"compare-{base}-{failing}.csv").is_file()
    assert main(["compare", str(base), "999", *common]) == 2
    err = capsys.readouterr().err
    assert "no run 999" in err and err.count("\n") == 1


def test_as_found_failures_are_listed_but_do_not_fail_the_comparison(store, tmp_path, capsys):
    base = make_run(store)
    new = make_run(store)
    with store.engine.begin() as conn:  # a worse unit as found: its 1 mA point fails
        conn.execute(text("UPDATE points SET verdict = 'FAIL' WHERE run_id = :run AND "
                          "phase = 'as_found' AND name = 'POS-DC-1000ohm-1mA'"), {"run": new})
    comparison = compare_runs(store, base, new)
    assert comparison.newly_failing == []
    assert [c.name for c in comparison.newly_failing_informative] == ["POS-DC-1000ohm-1mA"]
    assert main(["compare", str(base), str(new), "--db", store.url, "--out", str(tmp_path)]) == 0
    assert "1 as-found point(s) newly fail" in capsys.readouterr().out
