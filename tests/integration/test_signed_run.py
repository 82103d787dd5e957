"""A real `rig calibrate --station FILE` against a virtual bench whose station file carries a
throwaway signing key: the audit log, the run, the table and the report come out signed, and each
verification passes with the public key, says 'unsigned' without one, and fails once the audit
log's last entry is deleted."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import pytest

from rig.records.cal_table import read_table
from rig.records.signing import load_verifier
from rig.spec import load_spec
from tests.integration.bench_control import BenchUnderTest

pytestmark = pytest.mark.slow

RUN_TIMEOUT_S = 240.0


def _rig(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RIG_SIGNING")}
    return subprocess.run([sys.executable, "-m", "rig.cli", *args], capture_output=True, text=True,
                          timeout=RUN_TIMEOUT_S, env=env)


def test_a_bench_station_run_is_signed_and_verifies(tmp_path):
    db = f"sqlite:///{tmp_path}/r.sqlite"
    with BenchUnderTest(tmp_path) as bench:
        signing_key = bench.station.with_name(bench.station.name + ".signing.pem")
        assert stat.S_IMODE(signing_key.stat().st_mode) == 0o600
        done = _rig("calibrate", "--station", str(bench.station), "--db", db,
                    "--calibrations", str(tmp_path / "cal"), "--reports", str(tmp_path / "rep"))
    assert done.returncode in (0, 1), done.stdout + done.stderr  # PASS or FAIL: a finished run
    public = f"file:{bench.station.with_name(bench.station.name + '.signing.pub')}"
    log = tmp_path / "cal" / "audit" / "virtual-bench.jsonl"
    report = tmp_path / "rep" / "run-1.html"

    audit = _rig("audit", "verify", str(log), "--db", db, "--public-key", public)
    assert audit.returncode == 0 and "holds entry" in audit.stdout, audit.stdout + audit.stderr
    checked = _rig("verify-report", str(report), "--db", db, "--public-key", public)
    assert checked.returncode == 0 and "signed by station key" in checked.stdout, checked.stdout + checked.stderr
    pdf = _rig("verify-report", str(report.with_suffix(".pdf")), "--db", db, "--public-key", public)
    assert pdf.returncode == 0 and "signed by station key" in pdf.stdout, pdf.stdout + pdf.stderr
    table_path = next((tmp_path / "cal").glob("SN*/SN*.json"))
    table = read_table(table_path, load_spec(), verifier=load_verifier(public))
    assert table.integrity == "signature verified" and json.loads(table_path.read_text())["signature"]

    unsigned = _rig("verify-report", str(report), "--db", db)
    assert unsigned.returncode == 3 and unsigned.stdout.startswith("unsigned: integrity not proven")

    lines = log.read_text().splitlines()
    log.write_text("\n".join(lines[:-1]) + "\n")
    truncated = _rig("audit", "verify", str(log), "--db", db, "--public-key", public)
    assert truncated.returncode == 1 and "trailing entries were deleted" in truncated.stdout
