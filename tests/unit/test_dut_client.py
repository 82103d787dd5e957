"""Ix30Client against a scripted fake unit on a TCP socket, reached through pyserial's socket://."""

from __future__ import annotations

import datetime
import logging
import signal
import socket
import threading
from collections.abc import Callable, Iterator

import pytest

from rig.dut.client import DutState, Ix30Client
from rig.dut.errors import DutCommandError, DutError, DutFrameError, DutIdentityError, DutTimeout, UnitRebooted
from rig.dut.framing import decode_frame, encode_frame

ID_REPLY = "OK IONTO,IX-30,SN000123,2.4.1,C"
SECRET_KEY = "s3cr3t-K3Y-do-not-show"
SHORT_TIMEOUT_S = 0.3
Script = Callable[[str, int], list[bytes]]


def frame(body: str) -> bytes:
    return encode_frame(body)


def corrupt(body: str) -> bytes:
    good = encode_frame(body)
    return good[:-3] + (b"0" if good[-3:-2] != b"0" else b"1") + good[-2:]


class FakeUnit:
    """Answers each request with the lines `script(body, n)` returns (n: times seen so far)."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.requests: list[str] = []
        self._server = socket.create_server(("127.0.0.1", 0))
        self.url = f"socket://127.0.0.1:{self._server.getsockname()[1]}"
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        conn, _ = self._server.accept()
        with conn, conn.makefile("rb") as lines:
            for raw in lines:
                body = decode_frame(raw)
                seen = self.requests.count(body)
                self.requests.append(body)
                for out in self.script(body, seen):
                    conn.sendall(out)

    def close(self) -> None:
        self._server.close()


def with_identity(script: Script) -> Script:
    def answer(body: str, seen: int) -> list[bytes]:
        return [frame(ID_REPLY)] if body == "ID?" else script(body, seen)

    return answer


@pytest.fixture
def unit_with() -> Iterator[Callable[[Script], tuple[FakeUnit, Ix30Client]]]:
    opened: list[tuple[FakeUnit, Ix30Client]] = []

    def make(script: Script) -> tuple[FakeUnit, Ix30Client]:
        fake = FakeUnit(with_identity(script))
        client = Ix30Client.open(fake.url, timeout_s=SHORT_TIMEOUT_S)
        opened.append((fake, client))
        return fake, client

    yield make
    for fake, client in opened:
        client.close()
        fake.close()


def test_identity_is_read_and_checked(unit_with) -> None:
    _, client = unit_with(lambda body, seen: [frame("OK")])
    assert client.identity.model == "IX-30"
    assert client.identity.serial == "SN000123"
    assert client.identity.hw_rev == "C"


def test_wrong_serial_is_refused() -> None:
    fake = FakeUnit(with_identity(lambda body, seen: [frame("OK")]))
    with pytest.raises(DutIdentityError, match="SN999"):
        Ix30Client.open(fake.url, timeout_s=SHORT_TIMEOUT_S, expected_serial="SN999")
    fake.close()


def test_wrong_model_is_refused() -> None:
    fake = FakeUnit(lambda body, seen: [frame("OK IONTO,IX-20,SN1,1.0,A")])
    with pytest.raises(DutIdentityError, match="IX-20"):
        Ix30Client.open(fake.url, timeout_s=SHORT_TIMEOUT_S)
    fake.close()


def test_events_before_a_reply_are_not_taken_as_the_reply(unit_with) -> None:
    def script(body: str, seen: int) -> list[bytes]:
        return [frame("!STATE RAMP_UP"), frame("!FAULT 1 OVERCURRENT"), frame("OK FAULT 1")]

    _, client = unit_with(script)
    assert client.state() == DutState("FAULT", 1)
    bodies = [event.body for event in client.events()]
    assert bodies == ["!STATE RAMP_UP", "!FAULT 1 OVERCURRENT"]
    assert client.wait_for_event("FAULT", 1.0).body == "!FAULT 1 OVERCURRENT"


def test_corrupt_event_is_counted_and_not_used(unit_with) -> None:
    _, client = unit_with(lambda body, seen: [corrupt("!FAULT 1 OVERCURRENT"), frame("OK 10.0")])
    assert client.setpoint_ma() == 10.0
    assert client.events() == []
    assert len(client.corrupt_lines) == 1


def test_query_with_bad_crc_reply_is_retried(unit_with) -> None:
    def script(body: str, seen: int) -> list[bytes]:
        return [corrupt("OK 12.5")] if seen == 0 else [frame("OK 12.5")]

    fake, client = unit_with(script)
    assert client.setpoint_ma() == 12.5
    assert fake.requests.count("SET?") == 2
    assert len(client.corrupt_lines) == 1


def test_query_gives_up_after_bounded_retries(unit_with) -> None:
    fake, client = unit_with(lambda body, seen: [corrupt("OK 12.5")])
    with pytest.raises(DutFrameError, match="CRC"):
        client.setpoint_ma()
    assert fake.requests.count("SET?") == 3


def test_command_with_bad_crc_reply_is_not_repeated(unit_with) -> None:
    fake, client = unit_with(lambda body, seen: [corrupt("OK")])
    with pytest.raises(DutFrameError) as caught:
        client.start()
    assert fake.requests.count("START") == 1
    assert caught.value.command == "START"
    assert b"OK*" in caught.value.line


def test_command_the_unit_received_corrupted_is_resent(unit_with) -> None:
    def script(body: str, seen: int) -> list[bytes]:
        return [frame("ERR 2 CRC")] if seen == 0 else [frame("OK")]

    fake, client = unit_with(script)
    client.start()
    assert fake.requests.count("START") == 2


def test_err_reply_becomes_command_error(unit_with) -> None:
    _, client = unit_with(lambda body, seen: [frame("ERR 4 STATE")])
    with pytest.raises(DutCommandError) as caught:
        client.set_polarity("NEG")
    assert (caught.value.code, caught.value.text, caught.value.command) == (4, "STATE", "POL NEG")
    assert "POL NEG" in str(caught.value) and "ERR 4 STATE" in str(caught.value)


def test_timeout_names_port_and_command(unit_with) -> None:
    fake, client = unit_with(lambda body, seen: [])
    with pytest.raises(DutTimeout) as caught:
        client.stop()
    assert caught.value.command == "STOP"
    assert "127.0.0.1" in caught.value.port and "STOP" in str(caught.value)
    assert fake.requests.count("STOP") == 1


def test_query_timeout_is_retried(unit_with) -> None:
    fake, client = unit_with(lambda body, seen: [frame("OK 3.0")] if seen == 2 else [])
    assert client.ramp_ma_per_s() == 3.0
    assert fake.requests.count("RAMP?") == 3


def test_setpoint_formatted_to_resolution(unit_with) -> None:
    fake, client = unit_with(lambda body, seen: [frame("OK")])
    client.set_current_ma(10)
    client.set_current_ma(0.3000000004)
    assert fake.requests[-2:] == ["SET 10.0", "SET 0.3"]


def test_key_never_shown(unit_with, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    _, client = unit_with(lambda body, seen: [frame("ERR 5 LOCKED")])
    with pytest.raises(DutCommandError) as caught:
        client.unlock(SECRET_KEY)
    with pytest.raises(DutError) as again:
        client.unlock(SECRET_KEY)
    texts = [str(caught.value), repr(caught.value), caught.value.command, str(again.value)]
    texts += [record.getMessage() for record in caplog.records]
    assert texts and all(SECRET_KEY not in text for text in texts)


def test_second_key_not_sent_after_a_wrong_one(unit_with) -> None:
    fake, client = unit_with(lambda body, seen: [frame("ERR 5 LOCKED")])
    with pytest.raises(DutCommandError):
        client.unlock(SECRET_KEY)
    with pytest.raises(DutError, match="already rejected"):
        client.unlock("another-key")
    assert sum(r.startswith("CAL:UNLOCK") for r in fake.requests) == 1


def test_key_timeout_does_not_show_key(unit_with) -> None:
    _, client = unit_with(lambda body, seen: [])
    with pytest.raises(DutTimeout) as caught:
        client.unlock(SECRET_KEY)
    assert SECRET_KEY not in str(caught.value)


def test_coefficients_outside_bounds_are_refused_before_sending(unit_with) -> None:
    fake, client = unit_with(lambda body, seen: [frame("OK")])
    with pytest.raises(ValueError, match="dac_gain"):
        client.write_dac_cal("POS", 99.0, 0.0)
    client.write_dac_cal("neg", 121.5, -3.25)
    client.save_calibration(datetime.date(2024, 5, 17))
    assert "CAL:DAC" not in " ".join(fake.requests[:-2])
    assert fake.requests[-2:] == ["CAL:DAC NEG 121.5 -3.25", "CAL:SAVE 2024-05-17"]


def test_read_calibration(unit_with) -> None:
    payload = "OK POS 121 -2 0.0082 0.01 ; NEG 119 3 0.0084 -0.02 ; 0.0161 0.1 none"
    _, client = unit_with(lambda body, seen: [frame(payload)])
    cal = client.read_calibration()
    assert cal.polarity("NEG").dac_offset == 3.0
    assert cal.date is None


def test_reset_waits_for_boot(unit_with) -> None:
    _, client = unit_with(lambda body, seen: [frame("!BOOT 2.4.2")] if body == "RESET" else [])
    assert client.reset(boot_timeout_s=2.0) == "2.4.2"


def test_reset_clears_the_armed_watchdog_and_its_asked_for_boot_is_not_a_reboot(unit_with) -> None:
    fake, client = unit_with(lambda body, seen: [frame("!BOOT 2.4.1")] if body == "RESET" else [frame("OK 0")])
    client.set_watchdog_s(1.4)
    assert client.watchdog_armed_s == 1.4
    client.reset()
    assert client.watchdog_armed_s == 0.0 and not client.rebooted
    assert client.watchdog_s() == 0.0  # requests go through after the reset
    assert fake.requests.count("RESET") == 1


def test_reset_without_boot_times_out_and_is_not_repeated(unit_with) -> None:
    fake, client = unit_with(lambda body, seen: [] if body == "RESET" else [frame("OK")])
    with pytest.raises(DutTimeout, match="!BOOT"):
        client.reset()
    assert fake.requests.count("RESET") == 1


def test_output_off_in_test_mode(unit_with) -> None:
    def script(body: str, seen: int) -> list[bytes]:
        if body == "STATE?":
            return [frame("OK TEST 0" if seen == 0 else "OK IDLE 0")]
        return [frame("OK")]

    fake, client = unit_with(script)
    client.output_off()
    assert fake.requests[1:] == ["STATE?", "TEST:DAC 0", "TEST OFF", "STATE?"]


def test_output_off_never_raises(unit_with) -> None:
    fake, client = unit_with(lambda body, seen: [frame("ERR 1 SYNTAX")])
    client.output_off()
    assert "STOP" in fake.requests


def test_the_reply_to_an_interrupted_request_is_not_taken_for_the_next(unit_with) -> None:
    """Ctrl-C while waiting for START's reply: the safe-state STATE? that follows must not read START's
    late "OK" as its own answer (seen once as "'STATE?': expected 2 fields: ''")."""
    import _thread
    import time

    def script(body: str, seen: int) -> list[bytes]:
        if body == "START":
            time.sleep(0.15)  # the unit answers, late
            return [frame("OK")]
        return [frame("OK IDLE 0")] if body == "STATE?" else [frame("OK")]

    _, client = unit_with(script)
    # interrupt_main does nothing while SIGINT is ignored, as it was in the pytest process of a full CI
    # run by the time this ran: the test needs SIGINT's default Python handler.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    timer = threading.Timer(0.03, _thread.interrupt_main)
    try:
        timer.start()
        with pytest.raises(KeyboardInterrupt):
            client.start()
        timer.join()
    finally:
        signal.signal(signal.SIGINT, previous)
    assert client.state() == DutState("IDLE", 0)


def test_a_request_lost_in_a_reboot_is_reported_as_the_reboot(unit_with) -> None:
    """CI once saw "'TEST:RAMP 125': ERR 4 STATE" for a mid-run reboot: the request was lost while the unit
    rebooted, its repeat found the unit out of test mode. The cause to name is the reboot."""

    def script(body: str, seen: int) -> list[bytes]:
        if body.startswith("TEST:RAMP"):
            return [] if seen == 0 else [frame("!BOOT 2.4.1"), frame("ERR 4 STATE")]
        return [frame("OK")]

    _, client = unit_with(script)
    with pytest.raises(UnitRebooted, match="rebooted"):
        client.request("TEST:RAMP 125")


def test_a_late_bare_ok_is_not_taken_for_a_querys_reply(unit_with) -> None:
    """Replies carry no request id: a command's late `OK` that arrives after the next request was
    sent (seen on a loaded host against a slow bench variant: `CAL?` answered '', the run ended in a
    frame error) is discarded for a query, whose OK always carries a payload."""
    cal = "OK POS 120.0 0.0 0.0083 0.0; NEG 120.0 0.0 0.0083 0.0; 0.0161 0.0 NONE"

    def script(body: str, seen: int) -> list[bytes]:
        if body == "CAL?":
            return [frame("OK"), frame(cal)]  # the late OK of an earlier command, then the reply
        return [frame("OK")]

    _, client = unit_with(script)
    assert client.request("CAL?") == cal.removeprefix("OK ")
    assert client.request("SET 1.0") == ""  # a command's bare OK is its reply
