"""One way to tell an operator what is wrong with a configuration file: file, field, what was found."""

from __future__ import annotations

from pydantic import ValidationError

MAX_SHOWN_CHARS = 80


def describe_invalid(kind: str, source: str, exc: ValidationError) -> str:
    """`station file x.toml is invalid:` then one line per field: `slots.0.dut: <msg> (got <value>)`."""
    lines = [f"{kind} {source} is invalid:"]
    for err in exc.errors():
        where = ".".join(str(part) for part in err["loc"]) or "(top level)"
        if err["type"] == "missing":
            lines.append(f"  {where}: missing")  # the input shown would be the whole parent table
            continue
        if not err["loc"]:  # a check across fields names them itself; the input is the whole file
            lines.append(f"  {err['msg']}")
            continue
        got = repr(err.get("input"))
        got = got if len(got) <= MAX_SHOWN_CHARS else got[:MAX_SHOWN_CHARS] + "..."
        lines.append(f"  {where}: {err['msg']} (got {got})")
    return "\n".join(lines)
