"""SCPI replies are read with a bound (issue 12): a peer on a local TCP socket that streams bytes without
a line end, or announces a binary block of about a gigabyte, gets a typed error naming the instrument,
and the driver stops reading (it drops the connection) long before the peer's stream ends."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from rig.instruments.analyzer import PowerAnalyzer
from rig.instruments.errors import InstrumentReplyTooLong
from rig.instruments.scpi import ScpiInstrument

IDN = "Keysight Technologies,N6705C,MY00000042,D.01"
STREAM_BYTES = 64 * 1024 * 1024  # what the peer would send; the rig must read far less
READ_AT_MOST_BYTES = STREAM_BYTES // 2  # the rig's bound plus what the kernel's socket buffers hold
CHUNK = b"7" * 65536
HUGE_BLOCK_HEADER = b"#9999999999"  # 999,999,999 bytes announced


class StreamingPeer:
    """Answers *IDN?, error queries and commands like an instrument; `STREAM?` and array queries with an
    endless reply (STREAM_BYTES, then a line end). Counts what it managed to send."""

    def __init__(self) -> None:
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self.streamed_bytes = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._talk, args=(conn,), daemon=True).start()

    def _talk(self, conn: socket.socket) -> None:
        with conn, conn.makefile("rb") as lines:
            for line in lines:
                replies = [self._answer(part.strip().lstrip(b":")) for part in line.split(b";")]
                try:
                    self._send(conn, [r for r in replies if r is not None])
                except OSError:
                    return  # the rig dropped the connection

    @staticmethod
    def _answer(command: bytes) -> bytes | None:
        if command == b"*IDN?":
            return IDN.encode()
        if command == b"SYSTem:ERRor?":
            return b'+0,"No error"'
        if command == b"STREAM?":
            return b""
        if command.startswith(b"FETCh:ARRay"):
            return HUGE_BLOCK_HEADER
        return b"1" if b"?" in command else None  # a query, with or without parameters

    def _send(self, conn: socket.socket, replies: list[bytes]) -> None:
        if not replies:
            return
        conn.sendall(b";".join(replies))
        if replies[0] in (b"", HUGE_BLOCK_HEADER):
            while self.streamed_bytes < STREAM_BYTES:
                conn.sendall(CHUNK)
                self.streamed_bytes += len(CHUNK)
        conn.sendall(b"\n")

    def close(self) -> None:
        self._server.close()


@pytest.fixture
def peer() -> Iterator[StreamingPeer]:
    streaming = StreamingPeer()
    yield streaming
    streaming.close()


def _resource(peer: StreamingPeer) -> str:
    return f"TCPIP::127.0.0.1::{peer.port}::SOCKET"


def test_a_reply_without_line_end_is_cut_at_its_bound(peer: StreamingPeer) -> None:
    instrument = ScpiInstrument.open(_resource(peer), name="streamer", timeout_s=2.0)
    try:
        with pytest.raises(InstrumentReplyTooLong) as caught:
            instrument.query("STREAM?")
    finally:
        instrument.close()
    assert caught.value.instrument == "streamer" and caught.value.command == "STREAM?"
    assert "longer than" in caught.value.detail
    assert peer.streamed_bytes < READ_AT_MOST_BYTES


def test_a_huge_binary_block_header_is_refused_before_reading_it(peer: StreamingPeer) -> None:
    analyzer = PowerAnalyzer.open(_resource(peer), name="analyzer pa1", timeout_s=2.0)
    try:
        analyzer.configure_roles()
        analyzer.arm_trace(20.48e-6, 1024, immediate=True)
        with pytest.raises(InstrumentReplyTooLong) as caught:
            analyzer.fetch_trace(with_voltage=False)
    finally:
        analyzer.close()
    assert caught.value.instrument == "analyzer pa1"
    assert "999999999" in caught.value.detail and str(1024 * 4) in caught.value.detail
    assert peer.streamed_bytes < READ_AT_MOST_BYTES
