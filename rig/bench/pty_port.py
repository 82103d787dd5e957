"""A pseudo-terminal standing in for the unit's USB CDC serial port.

The bench keeps the slave end open (raw mode), so the master never sees EIO while no client is
attached and clients may open and close `path` as often as they like. A reader thread splits the
input on LF and hands each line to `on_line`; `write` queues a frame that a writer thread sends with
the unit's reply latency and the line timing of 115200 baud 8N1.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import queue
import select
import threading
import time
import tty
from collections.abc import Callable

from rig.bench.firmware_protocol import MAX_LINE_BYTES

log = logging.getLogger(__name__)

BAUD = 115200
BITS_PER_BYTE = 10  # 8N1: start + 8 data + stop
REPLY_LATENCY_S = 0.001
_READ_CHUNK = 4096
_POLL_S = 0.05  # how often the threads look at the stop flag


class PtySerialPort:
    def __init__(
        self,
        on_line: Callable[[bytes], None],
        *,
        baud: int = BAUD,
        reply_latency_s: float = REPLY_LATENCY_S,
        max_line_bytes: int = MAX_LINE_BYTES,
    ) -> None:
        self._on_line = on_line
        self._byte_s = BITS_PER_BYTE / baud
        self._latency_s = reply_latency_s
        self._max_line_bytes = max_line_bytes
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        os.set_blocking(self._master, False)
        self.path = os.ttyname(self._slave)
        self._outbox: queue.Queue[tuple[float, bytes] | None] = queue.Queue()
        self._closed = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        """Start the reader and writer threads (once the line handler is ready for lines)."""
        if self._threads or self._closed.is_set():
            return
        self._threads = [
            threading.Thread(target=self._read_loop, name=f"pty-read {self.path}", daemon=True),
            threading.Thread(target=self._write_loop, name=f"pty-write {self.path}", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def write(self, frame: bytes) -> None:
        """Queue a frame; it reaches the client after the reply latency and its own byte time."""
        if not self._closed.is_set():
            self._outbox.put((time.monotonic(), frame))

    def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        self._outbox.put(None)
        for thread in self._threads:
            thread.join()
        for fd in (self._master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)

    def __enter__(self) -> PtySerialPort:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----- reader
    def _read_loop(self) -> None:
        pending = bytearray()
        while not self._closed.is_set():
            ready, _, _ = select.select([self._master], [], [], _POLL_S)
            if not ready:
                continue
            try:
                chunk = os.read(self._master, _READ_CHUNK)
            except BlockingIOError:
                continue
            except OSError as exc:
                if exc.errno != errno.EIO:
                    raise
                time.sleep(_POLL_S)  # no client and no slave: cannot happen while we hold it
                continue
            self._split(pending, chunk)

    def _split(self, pending: bytearray, chunk: bytes) -> None:
        lines = chunk.split(b"\n")
        for piece in lines[:-1]:
            pending += piece
            self._deliver(bytes(pending))
            pending.clear()
        pending += lines[-1]
        if len(pending) > self._max_line_bytes:
            # Keep one byte over the cap so the firmware still sees an over-long line (ERR 1)
            # without the buffer growing with whatever a client streams.
            del pending[self._max_line_bytes + 1 :]

    def _deliver(self, line: bytes) -> None:
        try:
            self._on_line(line[: self._max_line_bytes + 1])
        except Exception:  # a bad line must not kill the port
            log.exception("serial line handler failed on %r", line[:80])

    # ----- writer
    def _write_loop(self) -> None:
        free_at_s = 0.0  # when the line is idle again after the previous frame
        while True:
            item = self._outbox.get()
            if item is None:
                return
            queued_at_s, frame = item
            # The last byte arrives latency + transmission time after the request was handled;
            # frames queue behind each other on the wire.
            start_s = max(queued_at_s + self._latency_s, free_at_s)
            free_at_s = start_s + len(frame) * self._byte_s
            delay_s = free_at_s - time.monotonic()
            if delay_s > 0:
                time.sleep(delay_s)
            self._put(frame)

    def _put(self, frame: bytes) -> None:
        view = memoryview(frame)
        while view and not self._closed.is_set():
            try:
                written = os.write(self._master, view)
            except BlockingIOError:
                # Nobody is reading and the pty buffer is full: a serial line with no listener
                # loses its bytes, so drop the rest of this frame.
                return
            except OSError:
                return
            view = view[written:]
