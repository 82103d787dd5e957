"""Bounds on what arrives and what is shown (issue 12 item 5): the serial link's queues and warnings,
the unit's reported serial, the store URL's password, the bench's keys file."""

from __future__ import annotations

import logging
import os
import stat
import time

import pytest
import serial

from rig.cli import main
from rig.dut.client import Ix30Client
from rig.dut.errors import DutFrameError
from rig.dut.framing import encode_frame
from rig.dut.link import SerialLink
from rig.records.report import public_url
from rig.records.store import ResultsStore
from tests.unit.test_dut_client import FakeUnit, frame

FLOOD_LINES = 300


def _wait_read(port: serial.SerialBase, link: SerialLink, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while port.in_waiting and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.2)  # the reader routes what it took


def test_a_babbling_line_neither_grows_memory_nor_floods_the_log(caplog):
    port = serial.serial_for_url("loop://", timeout=0.02)
    link = SerialLink(port)
    try:
        with caplog.at_level(logging.WARNING, logger="rig.dut.link"):
            port.write(b"".join(encode_frame("OK") for _ in range(FLOOD_LINES)))
            port.write(b"OK garbage*0000\n" * FLOOD_LINES)
            _wait_read(port, link)
            link.discard_stale_replies()
    finally:
        link.close()
    assert len(link.corrupt_lines) <= 100
    assert link.corrupt_count == FLOOD_LINES
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) <= 12, f"{len(warnings)} warnings for {2 * FLOOD_LINES} lines"
    assert any("left out" in r.getMessage() for r in warnings)


def test_the_reply_queue_is_bounded():
    port = serial.serial_for_url("loop://", timeout=0.02)
    link = SerialLink(port)
    try:
        port.write(b"".join(encode_frame(f"OK {n}") for n in range(FLOOD_LINES)))
        _wait_read(port, link)
        queued = link._replies.qsize()
        newest = None
        while not link._replies.empty():
            newest = link._replies.get_nowait()
    finally:
        link.close()
    assert queued <= 16
    assert newest is not None and newest.payload == str(FLOOD_LINES - 1)  # the oldest were dropped


@pytest.mark.parametrize("identity", ["OK IONTO,IX-30,,2.4.1,C", "OK IONTO,IX-30, SN1,2.4.1,C"])
def test_a_serial_the_protocol_does_not_allow_is_refused(identity):
    fake = FakeUnit(lambda body, seen: [frame(identity)])
    try:
        with pytest.raises(DutFrameError, match="serial"):
            Ix30Client.open(fake.url, timeout_s=0.3)
    finally:
        fake.close()


# -- the store URL's password -----------------------------------------------------------------


def test_report_store_url_keeps_no_password_even_in_the_query():
    shown = public_url("postgresql+psycopg://rig:s3cret@db.example/results?password=s3cret&sslmode=require")
    assert "s3cret" not in shown and "sslmode=require" in shown and "rig@db.example" in shown


def test_store_errors_do_not_show_the_password(tmp_path):
    from rig.records.store_engine import masked_url

    url = f"sqlite:///{tmp_path}/r.sqlite?password=s3cret"
    with ResultsStore(url) as store, pytest.raises(KeyError) as raised:
        store.run(99)
    assert "s3cret" not in str(raised.value) and masked_url(url) in str(raised.value)


@pytest.mark.parametrize("command", [["report", "99"], ["verify-report", "99"], ["compare", "98", "99"]])
def test_record_commands_never_print_the_password(capsys, tmp_path, command):
    ResultsStore(f"sqlite:///{tmp_path}/r.sqlite").close()
    code = main([*command, "--db", f"sqlite:///{tmp_path}/r.sqlite?password=s3cret"])
    captured = capsys.readouterr()
    assert code == 2
    assert "s3cret" not in captured.out + captured.err
    assert "rig: error:" in captured.err


# -- the bench's keys file --------------------------------------------------------------------

DESCRIPTION = {"slots": [{"slot": 1, "analyzer": "TCPIP::127.0.0.1::5025::SOCKET", "analyzer_serial": "A1",
                          "load": "TCPIP::127.0.0.1::5026::SOCKET", "load_serial": "L1", "dut": "/dev/pts/9",
                          "serial": "SN000123", "key": "K3Y-SN000123"}]}


def test_keys_file_replacing_a_loose_one_is_0600(tmp_path):
    from rig.bench.station_file import write_station_files

    keys = tmp_path / "st.toml.keys.toml"
    keys.write_text("old\n")
    keys.chmod(0o644)
    assert write_station_files(DESCRIPTION, tmp_path / "st.toml") == keys
    assert stat.S_IMODE(keys.stat().st_mode) == 0o600
    assert "K3Y-SN000123" in keys.read_text()


def test_keys_file_symlink_is_replaced_not_followed(tmp_path):
    from rig.bench.station_file import write_station_files

    target = tmp_path / "target.txt"
    target.write_text("untouched\n")
    target.chmod(0o644)
    keys = tmp_path / "st.toml.keys.toml"
    keys.symlink_to(target)
    write_station_files(DESCRIPTION, tmp_path / "st.toml")
    assert target.read_text() == "untouched\n"
    assert not keys.is_symlink() and stat.S_IMODE(os.lstat(keys).st_mode) == 0o600
    assert "K3Y-SN000123" in keys.read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "st.toml", "st.toml.keys.toml", "st.toml.signing.pem", "st.toml.signing.pub", "target.txt"]
