"""write_calibration's persistence check: after CAL:SAVE the unit is RESET, its watchdog re-armed, and
CAL? compared again; against a scripted unit whose flash keeps (or does not keep) what was saved."""

from __future__ import annotations

import datetime as dt
import threading
import time
import types
from collections.abc import Callable, Iterator

import pytest
from test_dut_client import SHORT_TIMEOUT_S, FakeUnit, frame, with_identity

from rig.dut.calibration import PolarityCalibration, UnitCalibration, format_coefficient
from rig.dut.client import Ix30Client
from rig.dut.errors import DutTimeout
from rig.dut.framing import decode_frame
from rig.keys import KeySource
from rig.procedures.calibrate import CalibrationNotPersisted, write_calibration
from rig.records.audit import AuditLog
from rig.slot import WATCHDOG_FEEDS_PER_PERIOD, OpenSlot
from rig.spec import load_spec

SPEC = load_spec()
KEY = "k3y-of-SN000123"
WATCHDOG_S = 1.4
NOMINAL = "POS 120 0 0.0083 0; NEG 120 0 0.0083 0; 0.0161 0 none"
NEW = UnitCalibration(PolarityCalibration(117.5, -17.25, 0.00828, 0.0635),
                      PolarityCalibration(114.5, -17.125, 0.00838, -0.008), 0.0162, 0.21, dt.date(2026, 11, 30))


class CalibrationMemory:
    """The unit's calibration as the protocol describes it: a set in use, a flash copy, RESET reloads."""

    def __init__(self, *, save_stores: bool = True, boots: bool = True, boot_s: float = 0.0) -> None:
        self.save_stores, self.boots, self.boot_s = save_stores, boots, boot_s
        self.send_later: Callable[[float, bytes], None] | None = None
        self.in_use = self.flash = {"POS": ["120", "0", "0.0083", "0"], "NEG": ["120", "0", "0.0083", "0"],
                                    "V": ["0.0161", "0", "none"]}

    def __call__(self, body: str, seen: int) -> list[bytes]:
        words = body.split()
        if body == "CAL?":
            c = self.in_use
            return [frame(f"OK POS {' '.join(c['POS'])}; NEG {' '.join(c['NEG'])}; {' '.join(c['V'])}")]
        if body == "RESET":
            self.in_use = self.flash
            if self.boots and self.boot_s > 0 and self.send_later is not None:
                self.send_later(self.boot_s, frame("!BOOT 2.4.1"))
                return []
            return [frame("!BOOT 2.4.1")] if self.boots else []
        if words[0] in ("CAL:DAC", "CAL:ADC"):
            pol = list(self.in_use[words[1]])
            pol[slice(0, 2) if words[0] == "CAL:DAC" else slice(2, 4)] = words[2:4]
            self.in_use = self.in_use | {words[1]: pol}
        elif words[0] == "CAL:VADC":
            self.in_use = self.in_use | {"V": [*words[1:3], self.in_use["V"][2]]}
        elif words[0] == "CAL:SAVE":
            self.in_use = self.in_use | {"V": [*self.in_use["V"][:2], words[1]]}
            if self.save_stores:
                self.flash = self.in_use
        elif body == "STATE?":
            return [frame("OK IDLE 0")]
        return [frame("OK")]


class TimedFakeUnit(FakeUnit):
    """Also notes when each request arrived and when each line went out; a reply can be sent later
    (from a timer), while requests go on arriving, as from a unit that takes its time to boot."""

    def __init__(self, memory: CalibrationMemory) -> None:
        self.arrivals: list[tuple[float, str]] = []
        self.sent: list[tuple[float, bytes]] = []
        self._conn = None
        memory.send_later = self.send_later
        super().__init__(with_identity(memory))

    def send_later(self, delay_s: float, line: bytes) -> None:
        def send() -> None:
            self.sent.append((time.monotonic(), line))
            self._conn.sendall(line)
        threading.Timer(delay_s, send).start()

    def _serve(self) -> None:
        conn, _ = self._server.accept()
        self._conn = conn
        with conn, conn.makefile("rb") as lines:
            for raw in lines:
                body = decode_frame(raw)
                self.arrivals.append((time.monotonic(), body))
                seen = self.requests.count(body)
                self.requests.append(body)
                for out in self.script(body, seen):
                    conn.sendall(out)


@pytest.fixture
def slot_with() -> Iterator:
    opened: list[tuple[FakeUnit, OpenSlot]] = []

    def make(memory: CalibrationMemory) -> tuple[FakeUnit, OpenSlot]:
        fake = TimedFakeUnit(memory)
        client = Ix30Client.open(fake.url, timeout_s=SHORT_TIMEOUT_S)
        slot = OpenSlot(types.SimpleNamespace(name="ST-TEST"), 1, client, None, None, None, {})
        slot.arm_watchdog(WATCHDOG_S)
        opened.append((fake, slot))
        return fake, slot

    yield make
    for fake, slot in opened:
        slot._stop_feeding.set()
        slot.dut.close()
        fake.close()


def _results(log: AuditLog) -> list[str]:
    return [e.record["result"] for e in log.entries() if e.record["event"] == "calibration result"]


def _write(slot: OpenSlot, log: AuditLog) -> UnitCalibration:
    return write_calibration(slot, NEW, KeySource(table={"SN000123": KEY}), SPEC, audit=log.append, run_id=7)


def test_a_kept_calibration_is_read_back_after_one_reset_and_the_watchdog_rearmed(slot_with, tmp_path) -> None:
    fake, slot = slot_with(CalibrationMemory())
    log = AuditLog(tmp_path / "audit.jsonl")
    kept = _write(slot, log)
    assert kept.pos.dac_gain == NEW.pos.dac_gain and kept.date == NEW.date
    requests = [r for r in fake.requests if r != "STATE?"]  # the watchdog feeder's
    after_save = requests[requests.index(f"CAL:SAVE {NEW.date.isoformat()}"):]
    assert after_save == ["CAL:SAVE 2026-11-30", "CAL:LOCK", "CAL?", "RESET", f"WDOG {WATCHDOG_S:g}", "CAL?"]
    assert slot.dut.watchdog_armed_s == WATCHDOG_S
    assert _results(log) == ["readback ok", "persisted after reset"]
    assert log.verify_chain() == 3


def test_a_save_that_does_not_store_fails_as_not_persisted(slot_with, tmp_path) -> None:
    fake, slot = slot_with(CalibrationMemory(save_stores=False))
    log = AuditLog(tmp_path / "audit.jsonl")
    with pytest.raises(CalibrationNotPersisted, match="after RESET CAL\\? differs") as caught:
        _write(slot, log)
    assert f"POS dac_gain: wrote {format_coefficient(NEW.pos.dac_gain)}, read 120" in str(caught.value)
    assert fake.requests.count("RESET") == 1
    assert _results(log) == ["readback ok", "not persisted after reset"]
    last = log.entries()[-1].record
    assert last["readback"]["POS"]["dac_gain"] == 120.0 and last["readback"]["date"] is None
    assert KEY not in (tmp_path / "audit.jsonl").read_text() and KEY not in str(caught.value)


def test_a_unit_that_does_not_boot_after_reset_is_an_error_and_reset_is_not_repeated(slot_with, tmp_path) -> None:
    fake, slot = slot_with(CalibrationMemory(boots=False))
    log = AuditLog(tmp_path / "audit.jsonl")
    with pytest.raises(DutTimeout, match="!BOOT"):
        _write(slot, log)
    assert fake.requests.count("RESET") == 1
    assert _results(log) == ["readback ok", "persistence not checked"]


def test_no_watchdog_feed_is_sent_while_the_unit_reboots(slot_with, tmp_path) -> None:
    """A feed sent into the reboot goes unanswered: seen as "repeating 'STATE?' after: no reply within
    0.5 s" in every calibration, and up to a second of the request lock held by the feeder."""
    boot_s = 3 * WATCHDOG_S / WATCHDOG_FEEDS_PER_PERIOD  # three feed intervals
    fake, slot = slot_with(CalibrationMemory(boot_s=boot_s))
    _write(slot, AuditLog(tmp_path / "audit.jsonl"))
    reset_s = next(t for t, body in fake.arrivals if body == "RESET")
    boot_sent_s = next(t for t, line in fake.sent if line.startswith(b"!BOOT"))
    during_reboot = [body for t, body in fake.arrivals if reset_s < t < boot_sent_s]
    assert during_reboot == []
