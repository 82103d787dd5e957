"""CPU seconds used by a process tree (Linux /proc), to show where a benchmark's time goes."""

from __future__ import annotations

import os
from pathlib import Path

_PROC = Path("/proc")
_UTIME_FIELD, _STIME_FIELD = 13, 14  # /proc/<pid>/stat fields (0-based, after the command name)


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # "pid (comm) state ppid ...": comm may hold spaces; split after its closing parenthesis.
    return [str(pid), "comm"] + text[text.rindex(")") + 2:].split()


def tree_cpu_s(root_pid: int) -> float | None:
    """User + system CPU seconds of root_pid and its living descendants; None where /proc is missing."""
    if not _PROC.is_dir():
        return None
    tick_hz = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    ticks: dict[int, int] = {}
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields is None:
            continue
        parents[int(entry.name)] = int(fields[3])
        ticks[int(entry.name)] = int(fields[_UTIME_FIELD]) + int(fields[_STIME_FIELD])
    tree, frontier = {root_pid}, [root_pid]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent and pid not in tree]
        tree.update(children)
        frontier.extend(children)
    return sum(ticks.get(pid, 0) for pid in tree) / tick_hz
