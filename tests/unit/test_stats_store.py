"""`rig stats` reading a store of synthetic records, on SQLite and (with RIG_TEST_PG_URL) PostgreSQL,
and end to end: the command's tables, page and exports."""

import os
import uuid
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from stats_store import RECALIBRATED_AFTER_DAYS, make_population

from rig.cli import main
from rig.records.store import ResultsStore
from rig.stats.frames import Filters, read_frames
from rig.stats.summary import summarise

PG_URL = os.environ.get("RIG_TEST_PG_URL")


@pytest.fixture(scope="module")
def sqlite_url(tmp_path_factory):
    """One SQLite store of the synthetic population for the module (building it is most of the cost)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('stats') / 'results.sqlite'}"
    with ResultsStore(url) as store:
        make_population(store)
    return url


@pytest.fixture(scope="module")
def pg_prefix():
    """The population once in the shared PostgreSQL database, under a prefix of its own; None: no PostgreSQL."""
    if not PG_URL:
        return None
    prefix = f"{uuid.uuid4().hex[:8]}-"
    with ResultsStore(PG_URL) as store:
        make_population(store, prefix=prefix)
    return prefix


@pytest.fixture(params=["sqlite", "postgresql"])
def population(request, sqlite_url, pg_prefix):
    """(store, prefix): the synthetic population; on PostgreSQL under unique serial and station names, as
    the database is shared with other tests (the frames are then filtered to them)."""
    if request.param == "sqlite":
        store = ResultsStore(sqlite_url)
        prefix = ""
    else:
        if pg_prefix is None:
            pytest.skip("PostgreSQL not tested: set RIG_TEST_PG_URL=postgresql+psycopg://... to run")
        store, prefix = ResultsStore(PG_URL), pg_prefix
    yield store, prefix
    store.close()


def _frames(store, prefix, **filters):
    frames = read_frames(store.engine, Filters(**filters))
    mine = frames.runs["serial"].str.startswith(f"{prefix}SN")
    keep = set(frames.runs[mine]["run_id"])
    frames.runs = frames.runs[mine]
    frames.points = frames.points[frames.points["run_id"].isin(keep)]
    frames.calibrations = frames.calibrations[frames.calibrations["run_id"].isin(keep)]
    frames.requirement_verdicts = frames.requirement_verdicts[frames.requirement_verdicts["run_id"].isin(keep)]
    return frames


def test_store_frames_and_summary(population):
    store, prefix = population
    frames = _frames(store, prefix)
    assert len(frames.runs) == 7 and len(frames.points) == 7 * 4 and len(frames.calibrations) == 7 * 2
    assert frames.points["load_ohm"].dtype == float and set(frames.points["polarity"]) == {"POS", "NEG"}
    summary = summarise(frames, Filters())
    overall = summary.yields.set_index(["grouping", "group"]).loc[("all", "all")]
    assert (overall["units"], overall["tests"], overall["first_pass"], overall["final_pass"]) == (4, 7, 2, 3)
    assert list(summary.pareto["requirement"]) == ["calibration", "dc_accuracy"]
    # SN3's first run wrote nothing (error), SN2's first failed (never released): their second runs are no
    # recalibrations. SN4 came back holding a calibration the unit dates 30 days back.
    pairs = summary.pairs.set_index("serial")
    assert list(pairs.index) == [f"{prefix}SN4"] and pairs.loc[f"{prefix}SN4", "days"] == RECALIBRATED_AFTER_DAYS
    gain = summary.coefficient_drift[(summary.coefficient_drift["serial"] == f"{prefix}SN4")
                                     & (summary.coefficient_drift["coefficient"] == "dac_gain")]
    assert gain["delta"].tolist() == pytest.approx([0.6, 0.6]) and gain["delta_per_day"].iloc[0] == pytest.approx(0.02)
    # as left 0.02 mA, as found 0.08 mA on a 0.2 mA tolerance: z 0.1 -> 0.4, 0.01 a day
    move = summary.point_drift[(summary.point_drift["serial"] == f"{prefix}SN4")
                               & (summary.point_drift["name"] == "POS-DC-1000ohm-10mA")]
    assert move["z_move"].tolist() == pytest.approx([0.3]) and move["z_move_per_day"].tolist() == pytest.approx([0.01])
    health = summary.health_table.set_index("station")
    assert health.loc[f"{prefix}ST-A", "n"] == 4 and health.loc[f"{prefix}ST-B", "n"] == 3


def test_store_filters(population):
    store, prefix = population
    st_b = _frames(store, prefix, station=f"{prefix}ST-B")
    assert sorted(st_b.runs["serial"]) == [f"{prefix}SN2", f"{prefix}SN3", f"{prefix}SN3"]
    assert set(_frames(store, prefix, firmware="2.5.0").runs["serial"]) == {f"{prefix}SN3", f"{prefix}SN4"}
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date()
    assert _frames(store, prefix, since=tomorrow).runs.empty
    only = _frames(store, prefix, requirement="calibration")
    assert only.points.empty and set(only.requirement_verdicts["requirement"]) == {"calibration"}


def test_rig_stats_end_to_end(sqlite_url, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["stats", "--db", sqlite_url, "--html", str(out / "stats.html"), "--csv", str(out / "stats.csv"),
                 "--parquet", str(out / "stats.parquet"), "--plots", str(out / "plots")])
    printed = capsys.readouterr().out
    assert code == 0
    assert "first-pass yield" in printed and "50.0 %" in printed and "75.0 %" in printed
    assert "Capability" in printed and "Unit drift: 1 recalibrations of 1 units" in printed
    assert "Recommended calibration interval: not enough pairs" in printed
    page = (out / "stats.html").read_text()
    assert page.count("data:image/png;base64,") == 3 and "Western Electric" in page
    assert sorted(p.name for p in (out / "plots").iterdir()) == ["capability.png", "drift.png", "station-health.png"]
    points = pd.read_csv(out / "stats.csv")
    assert len(points) == 28 and {"serial", "station", "firmware", "load_ohm", "measured", "lower"} <= set(points)
    parquet = pd.read_parquet(out / "stats.parquet")
    assert len(parquet) == 28 and parquet["taken_at"].dtype.kind == "M"
    assert len(pd.read_parquet(out / "stats-yield.parquet")) == len(pd.read_csv(out / "stats-yield.csv"))
    drift = pd.read_csv(out / "stats-coefficient_drift.csv")
    assert set(drift["coefficient"]) >= {"dac_gain", "v_offset"}


def test_rig_stats_refuses_bad_input_in_one_line(sqlite_url, tmp_path, capsys):
    assert main(["stats", "--db", f"sqlite:///{tmp_path / 'none.sqlite'}"]) == 2
    assert capsys.readouterr().err.strip().count("\n") == 0
    url = f"sqlite:///{tmp_path / 'empty.sqlite'}"
    ResultsStore(url).close()
    assert main(["stats", "--db", url]) == 2
    assert "no ended run" in capsys.readouterr().err
    assert main(["stats", "--db", sqlite_url, "--requirement", "dc_acuracy"]) == 2
    assert capsys.readouterr().err.startswith("rig: error: --requirement: no point or verdict of 'dc_acuracy'")
    with pytest.raises(SystemExit):
        main(["stats", "--db", url, "--since", "yesterday"])
    assert "--since: expected a date YYYY-MM-DD" in capsys.readouterr().err
