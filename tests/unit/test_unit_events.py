"""The event watch stops a procedure when the unit cuts its output, and only for events it has not seen."""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest

from rig.dut.client import DutEvent
from rig.procedures.unit_events import UnitEventWatch, UnitFault


@dataclass
class FakeDut:
    received: list

    @dataclass
    class _Identity:
        serial: str = "SN1"

    identity = _Identity()

    def events(self) -> list:
        return list(self.received)


def test_a_watchdog_after_the_start_stops_with_its_event():
    dut = FakeDut([DutEvent("!WDOG", time.monotonic() - 10.0)])  # before the watch: not this procedure's
    watch = UnitEventWatch(dut)
    watch.check("a sweep")
    dut.received.append(DutEvent("!STATE ON", time.monotonic()))
    watch.check("a sweep")  # a state change alone does not cut the output
    dut.received.append(DutEvent("!WDOG", time.monotonic()))
    with pytest.raises(UnitFault, match="WDOG") as caught:
        watch.check("a sweep")
    assert caught.value.event == "!WDOG" and not caught.value.is_overcurrent
    watch.check("a sweep")  # reported once


def test_an_overcurrent_cut_off_is_named_as_such():
    dut = FakeDut([])
    watch = UnitEventWatch(dut)
    dut.received.append(DutEvent("!FAULT 1 OVERCURRENT", time.monotonic()))
    with pytest.raises(UnitFault) as caught:
        watch.check("a sweep")
    assert caught.value.is_overcurrent
