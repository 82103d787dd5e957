"""The exit codes' numbers are an interface (scripts, the line's MES, CI): they must not move."""

from __future__ import annotations

from rig.exit_codes import ExitCode, WorkerExit


def test_exit_code_values_are_the_documented_ones() -> None:
    assert (ExitCode.PASS, ExitCode.FAIL, ExitCode.ERROR) == (0, 1, 2)
    assert (ExitCode.INTACT, ExitCode.TAMPERED, ExitCode.ERROR, ExitCode.UNSIGNED) == (0, 1, 2, 3)
    assert ExitCode.OK == 0 and WorkerExit.ORPHANED == 3
