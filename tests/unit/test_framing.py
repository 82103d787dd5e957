"""IX-30 framing (dut-protocol.md section 2): CRC, the documented examples, every defect."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rig.dut.framing import (
    FrameError,
    crc16,
    decode_frame,
    encode_frame,
    is_event,
    parse_reply,
)

CRC_CHECK_VALUE = 0x29B1
EXAMPLES = [
    (b"ID?*4914", "ID?"),
    (b"SET 10.0*64A7", "SET 10.0"),
    (b"OK IONTO,IX-30,SN000123,2.4.1,C*698E", "OK IONTO,IX-30,SN000123,2.4.1,C"),
]
# Printable ASCII without '*': what a body may contain.
BODY_CHARS = st.characters(min_codepoint=0x20, max_codepoint=0x7E, blacklist_characters="*")
bodies = st.text(BODY_CHARS, max_size=80)


def test_crc_check_value() -> None:
    assert crc16(b"123456789") == CRC_CHECK_VALUE


@pytest.mark.parametrize(("line", "body"), EXAMPLES)
def test_documented_examples(line: bytes, body: str) -> None:
    assert encode_frame(body) == line + b"\n"
    assert decode_frame(line + b"\n") == body
    assert decode_frame(line + b"\r\n") == body


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"ID?\n", "missing or malformed CRC"),
        (b"ID?*491\n", "missing or malformed CRC"),
        (b"ID?*4914 \n", "missing or malformed CRC"),
        (b"ID?*4915\n", "CRC mismatch"),
        (b"ID?*4f14\n", "missing or malformed CRC"),
        (b"I\xc4?*4914\n", "non-ASCII"),
        (b"I\tD?*4914\n", "control character"),
        (b"ID?4914\n", "missing or malformed CRC"),
    ],
)
def test_defects_rejected_with_reason(line: bytes, reason: str) -> None:
    with pytest.raises(FrameError, match=reason) as caught:
        decode_frame(line)
    assert caught.value.line == line


@pytest.mark.parametrize("body", ["A\nB", "A\rB", "A*B"])
def test_unencodable_bodies_refused(body: str) -> None:
    with pytest.raises(FrameError):
        encode_frame(body)


def test_replies_and_events() -> None:
    assert parse_reply("OK").ok and parse_reply("OK 1.5").payload == "1.5"
    err = parse_reply("ERR 3 RANGE")
    assert (err.ok, err.error_code, err.error_text) == (False, 3, "RANGE")
    with pytest.raises(FrameError):
        parse_reply("ERR X RANGE")
    with pytest.raises(FrameError):
        parse_reply("OKAY")
    assert is_event("!STATE ON") and not is_event("OK")


@settings(deadline=None)  # a shared, noisy machine: no timing in verdicts
@given(bodies)
def test_any_body_round_trips(body: str) -> None:
    assert decode_frame(encode_frame(body)) == body


@settings(deadline=None)  # a shared, noisy machine: no timing in verdicts
@given(bodies, st.data())
def test_single_bit_flips_are_rejected(body: str, data: st.DataObject) -> None:
    framed = encode_frame(body).rstrip(b"\n")
    index = data.draw(st.integers(0, len(framed) - 1))
    bit = data.draw(st.integers(0, 7))
    damaged = bytearray(framed)
    damaged[index] ^= 1 << bit
    # A CRC-16 detects every single-bit error in the body; a flipped suffix digit is either
    # not hex any more or names another CRC, so nothing decodes.
    with pytest.raises(FrameError):
        decode_frame(bytes(damaged))


@settings(deadline=None)  # a shared, noisy machine: no timing in verdicts
@given(bodies, st.data())
def test_any_byte_substitution_rejected_or_crc_collides(body: str, data: st.DataObject) -> None:
    framed = encode_frame(body).rstrip(b"\n")
    index = data.draw(st.integers(0, len(framed) - 1))
    byte = data.draw(st.integers(0, 255).filter(lambda b: b != framed[index]))
    damaged = framed[:index] + bytes([byte]) + framed[index + 1 :]
    try:
        decoded = decode_frame(damaged)
    except FrameError:
        return
    # Accepted only as a genuinely different valid frame (its own CRC matches).
    assert decoded != body
    assert encode_frame(decoded).rstrip(b"\n") == damaged
