"""Bounded reads of an instrument's reply (issue 12): a peer that streams bytes without a line end, or
announces a binary block of gigabytes, must not drive the rig's memory up.

A reply is read chunk by chunk from the resource's session (as pyvisa's own reads do), at most
`max_bytes` of it, and within the resource's timeout overall: a peer that keeps trickling bytes does
not extend it chunk after chunk. A reply over its bound raises ReplyTooLong; the bytes still on their
way make the connection useless, so the driver that catches it drops the connection.
"""

from __future__ import annotations

import time
from typing import Any

from pyvisa import constants
from pyvisa.errors import VisaIOError

CHUNK_BYTES = 20 * 1024
MS_PER_S = 1000.0
# An IEEE 488.2 definite-length block: '#', one digit n (1-9), n digits of length, the bytes.
BLOCK_START = b"#"
# What may follow a block before the message ends: its terminator (a few bytes at most).
BLOCK_TAIL_MAX_BYTES = 16
# A reply that is not a block (an ASCII array, a message) is read to its end to be shown, up to the
# block's own bound and this much more.
NOT_A_BLOCK_EXTRA_BYTES = 4096
_MORE = constants.StatusCode.success_max_count_read
_IGNORED = (constants.StatusCode.success_device_not_present, constants.StatusCode.success_max_count_read)


class ReplyTooLong(Exception):
    """A reply longer than its bound; `detail` says which bound."""

    def __init__(self, detail: str) -> None:
        self.detail = detail
        super().__init__(detail)


class BadBlock(Exception):
    """Not a definite-length block; `head` is what came instead (bounded). `consumed`: the whole message
    was read (else some of it may still be on its way)."""

    def __init__(self, detail: str, head: bytes, consumed: bool) -> None:
        self.detail = detail
        self.head = head
        self.consumed = consumed
        super().__init__(detail)


class _Reader:
    def __init__(self, resource: Any) -> None:
        self.resource = resource
        timeout_ms = getattr(resource, "timeout", None)
        self.deadline = None if timeout_ms is None else time.monotonic() + timeout_ms / MS_PER_S

    def chunk(self, count: int) -> tuple[bytes, bool]:
        """Up to `count` bytes; True once the message has ended (termination character or END)."""
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise VisaIOError(constants.StatusCode.error_timeout)
        with self.resource.ignore_warning(*_IGNORED):
            data, status = self.resource.visalib.read(self.resource.session, count)
        return bytes(data), status != _MORE

    def exactly(self, count: int) -> bytes:
        """`count` bytes, whatever they hold (a block's bytes may contain the termination character)."""
        data = bytearray()
        while len(data) < count:
            chunk, _ = self.chunk(min(CHUNK_BYTES, count - len(data)))
            data += chunk
        return bytes(data)

    def rest(self, max_bytes: int, start: bytes = b"") -> bytes:
        """The message up to its end, at most `max_bytes` (its terminator not counted)."""
        data = bytearray(start)
        ended = bool(start) and start.endswith(b"\n")
        while not ended:
            if len(data) > max_bytes:
                raise ReplyTooLong(f"reply longer than {max_bytes} bytes")
            chunk, ended = self.chunk(min(CHUNK_BYTES, max_bytes + 1 - len(data)))
            data += chunk
        if len(data.rstrip(b"\r\n")) > max_bytes:
            raise ReplyTooLong(f"reply longer than {max_bytes} bytes")
        return bytes(data)


def read_message(resource: Any, max_bytes: int) -> bytes:
    """One reply message, terminator included, of at most `max_bytes`."""
    return _Reader(resource).rest(max_bytes)


def read_block(resource: Any, max_bytes: int) -> bytes:
    """The bytes of a definite-length block of at most `max_bytes`, and the end of its message."""
    reader = _Reader(resource)
    head = reader.exactly(2)
    if head[:1] != BLOCK_START or not head[1:].isdigit() or head[1:] == b"0":
        # e.g. an ASCII reply: read to its end (no longer than the block could have been) to show it
        raise BadBlock("not a definite-length block", reader.rest(max_bytes + NOT_A_BLOCK_EXTRA_BYTES, head),
                       consumed=True)
    digits = reader.exactly(int(head[1:]))
    if not digits.isdigit():
        raise BadBlock("block length is not a number", head + digits, consumed=False)
    length = int(digits)
    if length > max_bytes:
        raise ReplyTooLong(f"binary block of {length} bytes announced, at most {max_bytes} expected")
    data = reader.exactly(length)
    tail = reader.rest(BLOCK_TAIL_MAX_BYTES)
    if tail.strip():
        raise BadBlock("more after the block", tail, consumed=True)
    return data
