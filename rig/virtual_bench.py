"""Start the embedded virtual bench as a subprocess and describe it as a station.

The rig never imports rig.bench: it runs `python -m rig.bench` like any other program and reads the
addresses from its first stdout line, so the same code paths talk to it as to real instruments.
"""

from __future__ import annotations

import ctypes
import json
import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Sequence

from rig.keys import KeySource
from rig.station import Station, parse_station

START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 5.0
_PR_SET_PDEATHSIG = 1


class BenchStartError(RuntimeError):
    """The virtual bench did not come up; carries what it printed."""


def _die_with_parent() -> None:
    # An embedded bench must not outlive the rig that started it (e.g. a SIGKILLed run).
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


class VirtualBenchProcess:
    """`with VirtualBenchProcess(slots=2) as bench: bench.station, bench.keys`."""

    def __init__(
        self,
        slots: int = 1,
        serials: Sequence[str] = (),
        seed: int | None = None,
        faults: Sequence[str] = (),
        extra_args: Sequence[str] = (),
        unit_errors: str | None = None,
        variant: int | None = None,
        layout: str | None = None,
    ) -> None:
        """`unit_errors`: `rig bench --unit-errors` (corner:<i> or JSON), passed through as text.
        variant: the bench's implementation variant (`rig bench --variant`); None: its reference.
        layout: `rig bench --layout` (analyzer, dmm, dmm-no-trigger); None: the bench's default."""
        args = [sys.executable, "-m", "rig.bench", "--slots", str(slots)]
        for serial in serials:
            args += ["--serial", serial]
        if seed is not None:
            args += ["--seed", str(seed)]
        for fault in faults:
            args += ["--fault", fault]
        if unit_errors is not None:
            args += ["--unit-errors", unit_errors]
        if variant is not None:
            args += ["--variant", str(variant)]
        if layout is not None:
            args += ["--layout", layout]
        self.args = args + list(extra_args)
        self.process: subprocess.Popen[str] | None = None
        self.description: dict = {}

    def start(self) -> VirtualBenchProcess:
        self.process = subprocess.Popen(
            self.args,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        )
        line = self._first_line()
        try:
            self.description = json.loads(line)
        except json.JSONDecodeError:
            self.stop()
            raise BenchStartError(f"virtual bench printed {line!r} instead of its JSON line") from None
        return self

    def _first_line(self) -> str:
        assert self.process is not None and self.process.stdout is not None
        selector = selectors.DefaultSelector()
        selector.register(self.process.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if selector.select(timeout=0.1):
                line = self.process.stdout.readline()
                if line:
                    return line
            if self.process.poll() is not None:
                err = self.process.stderr.read() if self.process.stderr else ""
                raise BenchStartError(
                    f"virtual bench exited with {self.process.returncode}: {err.strip()[-500:]}"
                )
        self.stop()
        raise BenchStartError(f"virtual bench printed nothing within {START_TIMEOUT_S:.0f} s")

    @property
    def station(self) -> Station:
        return station_from_bench(self.description)

    @property
    def keys(self) -> KeySource:
        return KeySource(table={s["serial"]: s["key"] for s in self.description["slots"]})

    def stop(self) -> None:
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def __enter__(self) -> VirtualBenchProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# The models the virtual bench emulates (rig/specs/instrument_models.toml has their stated figures).
VIRTUAL_ANALYZER_MODEL, VIRTUAL_LOAD_MODEL = "N6705C", "RDEC-1M"


def station_from_bench(description: dict) -> Station:
    """The station a virtual bench amounts to: one analyzer, one load and one unit per slot, and in a dmm
    layout a DMM on the voltmeter role."""
    instruments, slots = [], []
    for entry in description["slots"]:
        number = entry["slot"]
        analyzer_id, load_id = f"analyzer{number}", f"load{number}"
        instruments += [
            {
                "id": analyzer_id,
                "model": VIRTUAL_ANALYZER_MODEL,
                "serial": entry.get("analyzer_serial", ""),
                "resource": entry["analyzer"],
                "certificate": "virtual bench: no certificate",
            },
            {
                "id": load_id,
                "model": VIRTUAL_LOAD_MODEL,
                "serial": entry.get("load_serial", ""),
                "resource": entry["load"],
                "certificate": "virtual bench: no certificate",
            },
        ]
        slot = {
            "slot": number,
            "dut": entry["dut"],
            "dut_serial": entry.get("serial"),
            "ammeter": {"instrument": analyzer_id, "channel": 1},
            "voltmeter": {"instrument": analyzer_id, "channel": 2},
            "load": {"instrument": load_id},
        }
        if "dmm" in entry:  # a dmm layout: the voltmeter on a DMM of its own, wired or not
            dmm_id = f"dmm{number}"
            instruments.append({"id": dmm_id, "model": "34465A", "serial": entry.get("dmm_serial", ""),
                                "resource": entry["dmm"], "certificate": "virtual bench: no certificate"})
            slot["voltmeter"] = {"instrument": dmm_id}
            if entry.get("trigger_pin") is not None:
                slot["trigger_line"] = {"from": analyzer_id, "pin": entry["trigger_pin"], "to": dmm_id}
        slots.append(slot)
    name = f"virtual-bench-{os.uname().nodename}"
    return parse_station(
        {"name": name, "virtual": True, "instruments": instruments, "slots": slots},
        "<virtual bench>",
    )
