"""The rig against analyzers that take no more than instruments.md lists (issue 11 item 5): one that
answers `FORMat` with -113 Undefined header, one that refuses messages of several commands joined with
';'. A calibration passes on a healthy unit against each, the
cut-off suite against one refusing both; the drivers fall back
once per connection, say so once at info level, and leave the analyzer's error queue empty."""

from __future__ import annotations

import datetime as dt
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from rig.records.store import ResultsStore
from rig.session.run import CalibrationJob, calibrate_slot
from rig.slot import open_slot
from rig.spec import load_spec
from rig.virtual_bench import VirtualBenchProcess

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
CUTOFFS = "tests/hil/test_cutoffs.py"
SUITE_TIMEOUT_S = 240
# bench option -> (the fixtures' option, what the driver's one fallback line says)
REFUSALS = {
    "--analyzer-no-format": ("--bench-no-format", "FORMat"),
    "--analyzer-no-compound": ("--bench-no-compound", "one command per message"),
}


@pytest.mark.parametrize("bench_option", list(REFUSALS))
def test_calibration_passes_against_an_analyzer_without(bench_option, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="rig.instruments")
    with VirtualBenchProcess(extra_args=[bench_option]) as bench, \
            ResultsStore(f"sqlite:///{tmp_path}/r.sqlite") as store:
        job = CalibrationJob(station=bench.station, slot=1, keys=bench.keys, spec=load_spec(), store=store,
                             calibrations_dir=tmp_path / "calibrations", today=dt.date.today())
        with open_slot(bench.station, 1) as slot:
            outcome = calibrate_slot(job, slot)
            left_in_queue = slot.ammeter.drain_errors()
    assert outcome.verdict == "PASS", outcome.reason
    assert left_in_queue == []
    fallbacks = [r for r in caplog.records if r.name.startswith("rig.instruments") and "falls back" in r.getMessage()]
    assert [r.levelno for r in fallbacks] == [logging.INFO], [r.getMessage() for r in fallbacks]
    assert REFUSALS[bench_option][1] in fallbacks[0].getMessage()


def test_cutoff_suite_passes_against_an_analyzer_without_either(tmp_path):
    """One suite against an analyzer that refuses both (each fallback alone is the calibration's test
    above): the traces come as ASCII arrays, one command per message."""
    refusing_both = [fixture_option for fixture_option, _ in REFUSALS.values()]
    command = [sys.executable, "-m", "pytest", CUTOFFS, "-q", "-p", "no:cacheprovider", *refusing_both,
               "--db", f"sqlite:///{tmp_path / 'cutoffs.sqlite'}"]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=SUITE_TIMEOUT_S)
    output = (done.stdout + done.stderr)[-3000:]
    assert done.returncode == 0, output
    assert " passed" in output and "failed" not in output and "error" not in output.lower(), output
