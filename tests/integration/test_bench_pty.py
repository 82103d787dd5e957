"""The emulated unit over a real pseudo-terminal, spoken to with plain pyserial."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import serial

from rig.bench.firmware import Ix30Firmware
from rig.bench.physics import SlotCircuit, UnitErrors
from rig.bench.pty_port import PtySerialPort
from rig.dut.framing import decode_frame, encode_frame
from rig.spec import load_spec

SPEC = load_spec()
BAUD = 115200


@pytest.fixture
def port() -> Iterator[PtySerialPort]:
    circuit = SlotCircuit(UnitErrors.from_seed(3), 3, SPEC.compliance.v_max_nominal_v)
    circuit.set_load(1000.0)
    units: list[Ix30Firmware] = []
    pty = PtySerialPort(lambda line: units[0].receive_line(line))
    firmware = Ix30Firmware(circuit, serial="SN000123", unlock_key="k3y", send=pty.write, spec=SPEC)
    units.append(firmware)
    firmware.start()
    pty.start()
    yield pty
    firmware.stop()
    pty.close()


def _ask(link: serial.Serial, body: str) -> str:
    link.write(encode_frame(body))
    return decode_frame(link.readline())


def test_id_over_the_pty(port: PtySerialPort) -> None:
    with serial.Serial(port.path, BAUD, timeout=1) as link:
        link.write(b"ID?*4914\n")
        line = link.readline()
    assert line == b"OK IONTO,IX-30,SN000123,2.4.1,C*698E\n"
    assert decode_frame(line) == "OK IONTO,IX-30,SN000123,2.4.1,C"


def test_clients_may_open_and_close_repeatedly(port: PtySerialPort) -> None:
    for _ in range(5):
        with serial.Serial(port.path, BAUD, timeout=1) as link:
            assert _ask(link, "STATE?") == "OK IDLE 0"


def test_garbage_and_over_long_lines_are_answered(port: PtySerialPort) -> None:
    with serial.Serial(port.path, BAUD, timeout=1) as link:
        link.write(b"\x00\xff\x80garbage\r\n")
        assert decode_frame(link.readline()) == "ERR 2 CRC"
        link.write(b"X" * 5000 + b"\n")
        assert decode_frame(link.readline()) == "ERR 1 SYNTAX"
        assert _ask(link, "ID?").startswith("OK IONTO,IX-30,SN000123")


def test_session_events_arrive_framed(port: PtySerialPort) -> None:
    with serial.Serial(port.path, BAUD, timeout=1) as link:
        assert _ask(link, "TEST ON") == "OK"
        assert decode_frame(link.readline()) == "!STATE TEST"
        assert _ask(link, "TEST:RAMP 1000") == "OK"
        assert _ask(link, "SET 5.0") == "OK"
        assert _ask(link, "START") == "OK"
        assert decode_frame(link.readline()) == "!STATE RAMP_UP"
        assert decode_frame(link.readline()) == "!STATE ON"
        link.write(encode_frame("STOP"))
        bodies = [decode_frame(link.readline()) for _ in range(3)]
        # a request's own events follow its reply; the tick's end-of-ramp event comes after
        assert bodies == ["OK", "!STATE RAMP_DOWN", "!STATE TEST"]


def test_reset_over_the_pty_boots(port: PtySerialPort) -> None:
    with serial.Serial(port.path, BAUD, timeout=3) as link:
        link.write(encode_frame("RESET"))
        assert decode_frame(link.readline()) == "!BOOT 2.4.1"
        assert _ask(link, "STATE?") == "OK IDLE 0"
