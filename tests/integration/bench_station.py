"""Write a station file (and its key file) for a running virtual bench, as a real line would have."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path


def write_station(description: dict, folder: Path, *, name: str, cal_due: dt.date,
                  analyzer_serial: str | None = None) -> Path:
    """TOML station file for every slot of the bench; `analyzer_serial` overrides the register entry."""
    keys = folder / "keys.json"
    keys.write_text(json.dumps({s["serial"]: s["key"] for s in description["slots"]}))
    lines = [f'name = "{name}"', f'unlock_keys = "file:{keys}"', ""]
    for slot in description["slots"]:
        n = slot["slot"]
        for ident, model, serial, resource in (
            (f"pa{n}", "N6705C", analyzer_serial or slot["analyzer_serial"], slot["analyzer"]),
            (f"load{n}", "RDEC-1M", slot["load_serial"], slot["load"]),
        ):
            lines += ["[[instruments]]", f'id = "{ident}"', f'model = "{model}"', f'serial = "{serial}"',
                      f'resource = "{resource}"', 'certificate = "CERT-TEST"', f"cal_due = {cal_due.isoformat()}",
                      ""]
    for slot in description["slots"]:
        n = slot["slot"]
        lines += ["[[slots]]", f"slot = {n}", f'dut = "{slot["dut"]}"', f'dut_serial = "{slot["serial"]}"',
                  f'ammeter = {{ instrument = "pa{n}", channel = 1 }}',
                  f'voltmeter = {{ instrument = "pa{n}", channel = 2 }}',
                  f'load = {{ instrument = "load{n}" }}', ""]
    path = folder / "station.toml"
    path.write_text("\n".join(lines))
    return path
