"""The TCP side of an emulated SCPI instrument: one thread per client, LF-terminated lines.

The instrument faults of rig.bench.comm_faults act here: a connection the instrument closes, a
query left unanswered, an error queued with a command, an over-range reading.
"""

from __future__ import annotations

import re
import socket
import socketserver
import threading
import time

from rig.bench.comm_faults import INJECTED_SCPI_ERROR, OVER_RANGE_READING, FaultDice
from rig.bench.scpi import MAX_LINE_BYTES, ScpiInstrument

COMMAND_LATENCY_S = 0.001
# Over-range only replaces a single-reading reply of a measuring query (MEASure/FETCh, not arrays).
_READING_QUERY = re.compile(r"^\s*:?(MEAS|FETC)(?!\S*ARR)", re.IGNORECASE)
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


class _Connection(socketserver.StreamRequestHandler):
    server: _TcpServer

    def handle(self) -> None:
        self.server.track(self.request, add=True)
        try:
            while not self.server.stopping.is_set():
                raw = self.rfile.readline(MAX_LINE_BYTES + 1)
                if not raw:
                    return
                if self.server.owner.dice.strikes("scpi_close"):
                    return  # the instrument drops the connection; the line is not executed
                reply = self.server.owner.handle_line(raw, self.rfile)
                if reply is not None:
                    # latin-1: ASCII replies unchanged, a binary block's bytes one character each
                    self.wfile.write(reply.encode("latin-1") + b"\n")
        except OSError:
            return
        finally:
            self.server.track(self.request, add=False)


class _TcpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], owner: ScpiServer) -> None:
        self.owner = owner
        self.stopping = threading.Event()
        self._clients: set[socket.socket] = set()
        self._clients_lock = threading.Lock()
        super().__init__(address, _Connection)

    def track(self, sock: socket.socket, add: bool) -> None:
        with self._clients_lock:
            (self._clients.add if add else self._clients.discard)(sock)

    def close_clients(self) -> None:
        with self._clients_lock:
            clients = list(self._clients)
        for sock in clients:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class ScpiServer:
    """Serves one instrument on 127.0.0.1: one thread per client, LF-terminated lines."""

    def __init__(self, instrument: ScpiInstrument, host: str = "127.0.0.1", port: int = 0,
                 latency_s: float = COMMAND_LATENCY_S, dice: FaultDice | None = None) -> None:
        self.instrument = instrument
        self.latency_s = latency_s
        self.dice = dice or FaultDice()
        self._server = _TcpServer((host, port), self)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        name=f"scpi-{type(instrument).__name__}")

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def resource(self) -> str:
        return f"TCPIP::127.0.0.1::{self.port}::SOCKET"

    def start(self) -> ScpiServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.stopping.set()
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.close_clients()
        self._server.server_close()

    def handle_line(self, raw: bytes, rfile) -> str | None:
        """One received line -> the reply text (None when there is nothing to send)."""
        if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
            # Drop the rest of the oversized line so that the next line parses cleanly.
            while True:
                chunk = rfile.readline(MAX_LINE_BYTES)
                if not chunk or chunk.endswith(b"\n"):
                    break
            self.instrument.errors.push(-363, f"line longer than {MAX_LINE_BYTES} bytes")
            return None
        try:
            text = raw.decode("ascii")
        except UnicodeDecodeError:
            self.instrument.errors.push(-101, "non-ASCII byte")
            return None
        text = text.strip("\r\n\x00 \t")
        if not text:
            return None
        time.sleep(self.latency_s)
        if self.dice.strikes("scpi_error"):
            self.instrument.errors.push(*INJECTED_SCPI_ERROR)
        reply = self.instrument.execute(text)
        return self._faulted_reply(text, reply)

    def _faulted_reply(self, text: str, reply: str | None) -> str | None:
        if reply is None:
            return None
        if self.dice.strikes("scpi_drop"):
            return None
        first, _, rest = reply.partition(";")
        if _READING_QUERY.match(text) and _NUMBER.match(first.strip()) and self.dice.strikes("over_range"):
            return ";".join([OVER_RANGE_READING, rest]) if rest else OVER_RANGE_READING
        return reply
