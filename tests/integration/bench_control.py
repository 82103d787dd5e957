"""A virtual bench in its own process with a station file, and a client of its control channel:
what a test engineer's scope would say about a slot's output."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

START_TIMEOUT_S = 20.0


class BenchUnderTest:
    def __init__(self, tmp: Path, *extra: str) -> None:
        self.station = tmp / "station.toml"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "rig.bench", "--station-out", str(self.station), *extra],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        line = self.process.stdout.readline()
        self.description = json.loads(line)
        host, port = self.description["control"].split(":")
        self._sock = socket.create_connection((host, int(port)), timeout=5.0)
        self._file = self._sock.makefile("rw", encoding="ascii")

    def ask(self, line: str) -> str:
        self._file.write(line + "\n")
        self._file.flush()
        return self._file.readline().strip()

    def now_s(self) -> float:
        return float(self.ask("NOW"))

    def status(self, slot: int = 1) -> dict:
        return json.loads(self.ask(f"STATUS {slot}"))

    def on_seconds(self, since_s: float, slot: int = 1) -> float:
        return float(self.ask(f"ON_SECONDS {slot} {since_s}"))

    def close(self) -> None:
        self._sock.close()
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> BenchUnderTest:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
