"""The calibration audit log: a hash chain that names the first removed, reordered or altered entry."""

from __future__ import annotations

import json
import threading

import pytest

from rig.cli import main
from rig.records.audit import GENESIS, AuditChainError, AuditLog, audit_path


def _log(tmp_path, entries=4) -> AuditLog:
    log = AuditLog.for_station(tmp_path, "LINE1 ST/03")
    for n in range(entries):
        log.append("calibration write", serial="SN000123", new={"v_gain": 0.016 + n})
    return log


def _rewrite(log: AuditLog, edit) -> None:
    lines = log.path.read_text().splitlines()
    log.path.write_text("\n".join(edit(lines)) + "\n")


def test_path_is_per_station_and_safe(tmp_path):
    assert audit_path(tmp_path, "LINE1 ST/03") == tmp_path / "audit" / "LINE1_ST_03.jsonl"


def test_intact_chain_verifies(tmp_path):
    log = _log(tmp_path)
    assert log.verify_chain() == 4
    assert log.head() == log.entries()[-1].record["hash"] != GENESIS
    assert [e.seq for e in log.entries()] == [1, 2, 3, 4]


def test_removed_entry_is_named(tmp_path):
    log = _log(tmp_path)
    _rewrite(log, lambda lines: lines[:1] + lines[2:])
    with pytest.raises(AuditChainError, match=r"line 2 \(entry 3\): expected entry 2; an entry was removed"):
        log.verify_chain()


def test_altered_entry_is_named(tmp_path):
    log = _log(tmp_path)

    def alter(lines):
        record = json.loads(lines[2])
        record["new"]["v_gain"] = 0.5
        return lines[:2] + [json.dumps(record)] + lines[3:]

    _rewrite(log, alter)
    with pytest.raises(AuditChainError, match=r"line 3 \(entry 3\): content does not match its hash"):
        log.verify_chain()


def test_reordered_entries_are_named(tmp_path):
    log = _log(tmp_path)
    _rewrite(log, lambda lines: [lines[0], lines[2], lines[1], lines[3]])
    with pytest.raises(AuditChainError, match="line 2"):
        log.verify_chain()


def test_garbage_line_is_named(tmp_path):
    log = _log(tmp_path)
    _rewrite(log, lambda lines: lines[:1] + ["{not json"] + lines[1:])
    with pytest.raises(AuditChainError, match="line 2: not valid JSON"):
        log.verify_chain()


def test_concurrent_appends_keep_one_chain(tmp_path):
    log = AuditLog(tmp_path / "a.jsonl")
    threads = [threading.Thread(target=lambda: [log.append("x") for _ in range(10)]) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert log.verify_chain() == 40


def test_cli_verify(tmp_path, capsys, no_station_key):
    log = _log(tmp_path, entries=2)
    # Chained but unsigned, nothing to check truncation against: intact as far as SHA-256 goes, not proven.
    assert main(["audit", "verify", str(log.path), "--db", f"sqlite:///{tmp_path / 'none.sqlite'}"]) == 3
    assert "unsigned: integrity not proven" in capsys.readouterr().out
    _rewrite(log, lambda lines: lines[1:])
    assert main(["audit", "verify", str(log.path)]) == 1
    assert "BROKEN" in capsys.readouterr().out
    assert main(["audit", "verify", str(tmp_path / "missing.jsonl")]) == 2
