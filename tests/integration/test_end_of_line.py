"""`rig run --plan end-of-line` on the virtual bench: one run, one verdict, one report judging every
row of dut-protocol.md section 1 (calibration, as left, every cut-off, residual current). One run only:
it is the most expensive test of the session layer (about a calibration plus the cut-off suite)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from rig.records.report import REQUIREMENT_KEYS, requirement_rows
from rig.records.store import ResultsStore
from rig.spec import load_spec

pytestmark = pytest.mark.slow


def test_end_of_line_plan_judges_every_section_1_row_in_one_run(tmp_path):
    url = f"sqlite:///{tmp_path}/r.sqlite"
    result = subprocess.run(
        [sys.executable, "-m", "rig.cli", "run", "--plan", "end-of-line", "--db", url, "--operator", "eol",
         "--calibrations", str(tmp_path / "calibrations"), "--reports", str(tmp_path / "reports")],
        capture_output=True, text=True, timeout=600,
    )
    output = result.stdout + result.stderr
    assert "Traceback" not in output
    assert result.returncode == 0, output
    assert "PASS" in result.stdout and "end of line" in result.stdout
    with ResultsStore(url) as store:
        (run,) = store.runs()
        assert (run["kind"], run["status"], run["verdict"]) == ("end-of-line", "finished", "PASS")
        stored = {v["requirement"]: v["verdict"] for v in store.requirement_verdicts(run["id"])}
        rows = requirement_rows(store.points(run["id"]), store.requirement_verdicts(run["id"]), load_spec())
    assert {key: stored.get(key) for key in (*REQUIREMENT_KEYS, "calibration")} == dict.fromkeys(
        (*REQUIREMENT_KEYS, "calibration"), "PASS")
    assert {r.key: r.verdict for r in rows if r.key in REQUIREMENT_KEYS} == dict.fromkeys(REQUIREMENT_KEYS, "PASS")
    assert all(r.n_points > 0 for r in rows if r.key in REQUIREMENT_KEYS)
    (report,) = (tmp_path / "reports").glob("*.html")
    assert str(report) in result.stdout
