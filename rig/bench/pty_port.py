"""A pseudo-terminal standing in for the unit's USB CDC serial port.

The bench keeps the slave end open (raw mode), so the master never sees EIO while no client is
attached and clients may open and close `path` as often as they like. A reader thread splits the
input on LF and hands each line to `on_line`; `write` queues a frame that a writer thread sends with
the unit's reply latency and the line timing of 115200 baud 8N1. A response's latency may vary
(`latency_jitter_s`, capped by `latency_cap_s` so that it still ends within the protocol's 100 ms);
responses leave in order, while an event (`!...`) queued during a response's latency may go first.

Communication faults (rig.bench.comm_faults) act here, as on a real cable: requests and replies
corrupted, replies dropped or late, the unit rebooting (`reboot` hook), and the port vanishing and
coming back. A port that can vanish is published under a stable symlink (`link_path`), as udev's
/dev/serial/by-id names are, because the re-created pty gets another /dev/pts number.
"""

from __future__ import annotations

import contextlib
import errno
import heapq
import itertools
import logging
import os
import random
import select
import threading
import time
import tty
from collections.abc import Callable

from rig.bench.comm_faults import DELAY_REPLY_S, PORT_GONE_S, FaultDice
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
        dice: FaultDice | None = None,
        reboot: Callable[[], None] | None = None,
        link_path: str | None = None,
        latency_jitter_s: float = 0.0,
        latency_cap_s: Callable[[int, float], float] | None = None,
        seed: int = 0,
    ) -> None:
        """dice: the slot's comm faults; reboot: reboots the unit; link_path: publish the port
        under this symlink (needed for the port_vanish fault); a response waits reply_latency_s plus
        uniform(0, latency_jitter_s), at most latency_cap_s(frame bytes, byte time) (a bench variant's)."""
        self._on_line = on_line
        self._byte_s = BITS_PER_BYTE / baud
        self._latency_s = reply_latency_s
        self._jitter_s = latency_jitter_s
        self._latency_cap_s = latency_cap_s
        self._latency_rng = random.Random(seed)
        self._last_reply_due_s = 0.0
        self._max_line_bytes = max_line_bytes
        self.dice = dice or FaultDice()
        self._reboot = reboot
        self._link_path = link_path
        self._fd_lock = threading.Lock()
        self._master: int | None = None
        self._slave: int | None = None
        self._open_pty()
        self.path = link_path or self.pts_path
        # (due instant, sequence, frame): the writer sends the earliest due first; None stops it.
        self._outbox: list[tuple[float, int, bytes]] = []
        self._outbox_cond = threading.Condition()
        self._sequence = itertools.count()
        self._closed = threading.Event()
        self._threads: list[threading.Thread] = []

    def _open_pty(self) -> None:
        master, slave = os.openpty()
        tty.setraw(slave)
        os.set_blocking(master, False)
        self.pts_path = os.ttyname(slave)
        if self._link_path is not None:
            tmp = f"{self._link_path}.new"
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            os.symlink(self.pts_path, tmp)
            os.replace(tmp, self._link_path)
        with self._fd_lock:
            self._master, self._slave = master, slave

    def vanish(self, gone_s: float = PORT_GONE_S) -> None:
        """The port disappears (as a pulled USB cable): clients see EIO; it comes back after gone_s
        under the same link path. Without a link path the new pty would be unreachable: refused."""
        if self._link_path is None:
            raise RuntimeError("a port without a link path cannot vanish and come back")
        with self._fd_lock:
            fds, self._master, self._slave = (self._master, self._slave), None, None
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._link_path)
        for fd in fds:
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        log.warning("port %s vanished for %.2f s", self._link_path, gone_s)
        threading.Timer(gone_s, self._come_back).start()

    def _come_back(self) -> None:
        if not self._closed.is_set():
            self._open_pty()
            log.warning("port %s is back (%s)", self._link_path, self.pts_path)

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
        if self._closed.is_set() or self.dice.strikes("drop_reply"):
            return
        delay_s = DELAY_REPLY_S if self.dice.strikes("delay_reply") else 0.0
        if self.dice.strikes("corrupt_reply"):
            frame = self.dice.corrupt(frame)
        with self._outbox_cond:
            due_s = time.monotonic() + delay_s + self.latency_for(frame)
            if not frame.startswith(b"!"):
                # One response per request, in order: a late one holds up those after it.
                due_s = self._last_reply_due_s = max(due_s, self._last_reply_due_s)
            heapq.heappush(self._outbox, (due_s, next(self._sequence), frame))
            self._outbox_cond.notify()

    def latency_for(self, frame: bytes) -> float:
        """How long this frame waits before it goes on the line (a response: drawn, capped)."""
        if frame.startswith(b"!") or self._jitter_s <= 0 and self._latency_cap_s is None:
            return self._latency_s
        latency_s = self._latency_s + self._latency_rng.uniform(0.0, self._jitter_s)
        if self._latency_cap_s is not None:
            latency_s = min(latency_s, self._latency_cap_s(len(frame), self._byte_s))
        return latency_s

    def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        with self._outbox_cond:
            self._outbox_cond.notify_all()
        for thread in self._threads:
            thread.join()
        with self._fd_lock:
            fds, self._master, self._slave = (self._master, self._slave), None, None
        for fd in fds:
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        if self._link_path is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._link_path)

    def __enter__(self) -> PtySerialPort:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----- reader
    def _read_loop(self) -> None:
        pending = bytearray()
        while not self._closed.is_set():
            master = self._master
            if master is None:  # vanished: nothing to read until it comes back
                pending.clear()
                time.sleep(_POLL_S)
                continue
            try:
                ready, _, _ = select.select([master], [], [], _POLL_S)
                if not ready:
                    continue
                chunk = os.read(master, _READ_CHUNK)
            except BlockingIOError:
                continue
            except (OSError, ValueError) as exc:
                if isinstance(exc, OSError) and exc.errno not in (errno.EIO, errno.EBADF):
                    raise
                time.sleep(_POLL_S)  # closed under us by vanish(): the loop picks up the new fd
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
        if self._reboot is not None and self.dice.strikes("reboot"):
            self._reboot()
            return
        if self._link_path is not None and self.dice.strikes("port_vanish"):
            self.vanish()
            return
        if self.dice.strikes("corrupt_request"):
            line = self.dice.corrupt(line)
        try:
            self._on_line(line[: self._max_line_bytes + 1])
        except Exception:  # a bad line must not kill the port
            log.exception("serial line handler failed on %r", line[:80])

    # ----- writer
    def _write_loop(self) -> None:
        free_at_s = 0.0  # when the line is idle again after the previous frame
        while True:
            frame = self._next_due()
            if frame is None:
                return
            due_s, frame = frame
            # The last byte arrives latency + transmission time after the request was handled;
            # frames queue behind each other on the wire.
            start_s = max(due_s, free_at_s)
            free_at_s = start_s + len(frame) * self._byte_s
            delay_s = free_at_s - time.monotonic()
            if delay_s > 0:
                time.sleep(delay_s)
            self._put(frame)

    def _next_due(self) -> tuple[float, bytes] | None:
        """The earliest due frame, once it is due (a frame queued meanwhile may be due earlier)."""
        with self._outbox_cond:
            while not self._closed.is_set():
                if self._outbox:
                    wait_s = self._outbox[0][0] - time.monotonic()
                    if wait_s <= 0:
                        due_s, _, frame = heapq.heappop(self._outbox)
                        return due_s, frame
                    self._outbox_cond.wait(wait_s)
                else:
                    self._outbox_cond.wait(_POLL_S)
            return None

    def _put(self, frame: bytes) -> None:
        view = memoryview(frame)
        while view and not self._closed.is_set():
            master = self._master
            if master is None:
                return  # the port is gone: the frame is lost with it
            try:
                written = os.write(master, view)
            except BlockingIOError:
                # Nobody is reading and the pty buffer is full: a serial line with no listener
                # loses its bytes, so drop the rest of this frame.
                return
            except OSError:
                return
            view = view[written:]
