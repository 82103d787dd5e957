"""A third-party voltmeter driver: an imaginary meter "FAKE-VM1" that reads the voltage written in its
resource string (`FAKE-VM1::<volts>`). It fills the voltmeter role as the rig's drivers do (the interface
of rig.instruments.dmm.DigitalMultimeter) without importing anything from the rig."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Identity:
    maker: str
    model: str
    serial: str
    firmware: str


class FakeMeter:
    ROLES = ("voltmeter",)
    MODELS = ("FAKE-VM1",)

    def __init__(self, volts: float, name: str, serial: str) -> None:
        self.volts = volts
        self.name = name
        self.identity = Identity("Fake Meters Ltd", "FAKE-VM1", serial, "0.1")
        self.range_v: float | None = None
        self.closed = False
        self._record: tuple[float, int, int] | None = None

    @classmethod
    def open(cls, resource: str, *, name: str, expected_serial: str | None = None) -> FakeMeter:
        model, _, volts = resource.partition("::")
        if model != "FAKE-VM1":
            raise ValueError(f"{name}: {resource!r} is not a FAKE-VM1 resource")
        return cls(float(volts), name, expected_serial or "FVM-0")

    def configure_voltmeter(self, range_v: float) -> None:
        self.range_v = range_v

    def measure_voltage_v(self) -> float:
        return self.volts

    def arm_voltage_trace(self, interval_s: float, *, before_s: float, after_s: float, trigger: str = "BUS") -> None:
        pre = math.ceil(before_s / interval_s)
        self._record = (interval_s, pre, pre + math.ceil(after_s / interval_s) + 1)

    def trigger_now(self) -> None:
        pass

    def fetch_voltage_trace(self, timeout_s: float | None = None) -> tuple[float, int, np.ndarray]:
        interval_s, pre, points = self._record
        return interval_s, pre, np.full(points, self.volts)

    def safe_state(self) -> None:
        self._record = None

    def close(self) -> None:
        self.closed = True
