"""IX-30 service-port framing: CRC-16/CCITT-FALSE over the body, `*XXXX` suffix, one frame a line.

Pure functions, shared by the rig's client and the virtual bench's firmware, so that both sides
agree on exactly one definition of a valid frame (dut-protocol.md section 2).
"""

from __future__ import annotations

import binascii
import re
from dataclasses import dataclass

CRC_INITIAL = 0xFFFF
LINE_END = b"\n"
EVENT_PREFIX = "!"
_CRC_SUFFIX = re.compile(r"\*([0-9A-F]{4})$")


class FrameError(ValueError):
    """A line that is not a valid frame: names what is wrong and shows the line."""

    def __init__(self, reason: str, line: bytes | str) -> None:
        self.reason = reason
        self.line = line
        super().__init__(f"{reason}: {line!r}")


def crc16(body: bytes) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no final xor)."""
    return binascii.crc_hqx(body, CRC_INITIAL)


def encode_frame(body: str) -> bytes:
    """`SET 10.0` -> b`SET 10.0*64A7\\n`."""
    if "\n" in body or "\r" in body or "*" in body:
        raise FrameError("frame body must not contain CR, LF or '*'", body)
    raw = body.encode("ascii")
    return raw + b"*%04X" % crc16(raw) + LINE_END


def decode_frame(line: bytes | str) -> str:
    """Check a received line's CRC and return its body; raise FrameError naming the defect.

    Accepts a trailing LF or CR LF. Rejects non-ASCII bytes, a missing or malformed suffix and
    a CRC that does not match.
    """
    if isinstance(line, str):
        try:
            line = line.encode("ascii")
        except UnicodeEncodeError as exc:
            raise FrameError("non-ASCII character in frame", line) from exc
    stripped = line.rstrip(b"\r\n")
    try:
        text = stripped.decode("ascii")
    except UnicodeDecodeError as exc:
        raise FrameError("non-ASCII byte in frame", line) from exc
    if not text.isprintable():
        raise FrameError("control character in frame", line)
    match = _CRC_SUFFIX.search(text)
    if match is None:
        raise FrameError("missing or malformed CRC suffix '*XXXX'", line)
    body = text[: match.start()]
    expected = crc16(body.encode("ascii"))
    if int(match.group(1), 16) != expected:
        raise FrameError(f"CRC mismatch (expected {expected:04X})", line)
    return body


@dataclass(frozen=True)
class Reply:
    """A parsed response: `OK [payload]` or `ERR <code> <text>`."""

    ok: bool
    payload: str = ""
    error_code: int = 0
    error_text: str = ""


def parse_reply(body: str) -> Reply:
    """Parse a response body (CRC already checked). Raise FrameError for anything else."""
    if body == "OK":
        return Reply(ok=True)
    if body.startswith("OK "):
        return Reply(ok=True, payload=body[3:])
    if body.startswith("ERR "):
        parts = body[4:].split(" ", 1)
        if not parts[0].isdigit():
            raise FrameError("ERR reply without a numeric code", body)
        return Reply(ok=False, error_code=int(parts[0]), error_text=parts[1] if len(parts) > 1 else "")
    raise FrameError("reply is neither 'OK' nor 'ERR <code> <text>'", body)


def is_event(body: str) -> bool:
    """Unsolicited event lines start with '!' (dut-protocol.md section 2)."""
    return body.startswith(EVENT_PREFIX)
