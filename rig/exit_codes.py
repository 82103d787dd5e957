"""The exit codes of every `rig` command and of the rig's worker processes, defined once.

A run ends 0 on PASS, 1 on FAIL, 2 when an error stopped it. The verifying commands (`rig audit
verify`, `rig verify-report`) end 0 intact and signed, 1 tampered, 2 could not check, 3 nothing found
altered but integrity not proven (no public key, or nothing signed). `rig compare` ends 1 when a point
newly fails. The names below the first of each value are aliases: the same number, said as the
command that returns it means it.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    FAIL = 1
    ERROR = 2
    UNSIGNED = 3
    # aliases (same values)
    PASS = 0
    INTACT = 0
    TAMPERED = 1


class WorkerExit(IntEnum):
    """How a slot worker process ends when it stopped itself because the rig's process died."""

    ORPHANED = 3
