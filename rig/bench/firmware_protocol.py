"""The emulated IX-30's own constants and request parsing, beside the protocol's vocabulary.

The protocol's words and limits (states, error and fault codes, polarities, the watchdog and
test-ramp ranges) are rig/dut/protocol.py, shared with the rig; product limits live in rig.spec. What
is here is the emulator's: the over-voltage backstop, the "never saved" date, its timing (tick,
reboot), and the parsing of request arguments into `ERR` replies.
"""

from __future__ import annotations

import re

from rig.dut.protocol import ErrorCode

# Over-voltage is a hardware backstop: a healthy unit never gets near 1.1 x V_max.
OVERVOLTAGE_RATIO_OF_V_MAX = 1.1
NEVER_SAVED_DATE = "none"

# Emulator timing
TICK_S = 0.001
REBOOT_S = 0.5
MAX_LINE_BYTES = 256

_DECIMAL = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")
_INTEGER = re.compile(r"[+-]?\d+")


class CommandError(Exception):
    """A request answered `ERR <code> <name>`."""

    def __init__(self, code: ErrorCode) -> None:
        self.code = ErrorCode(code)
        super().__init__(f"ERR {self.code} {self.code.name}")

    @property
    def reply(self) -> str:
        return f"ERR {self.code} {self.code.name}"


def parse_decimal(text: str) -> float:
    """A protocol number: decimal with an optional '.', no exponent, no inf/nan (else ERR 1)."""
    if not _DECIMAL.fullmatch(text):
        raise CommandError(ErrorCode.SYNTAX)
    return float(text)


def parse_int(text: str) -> int:
    if not _INTEGER.fullmatch(text):
        raise CommandError(ErrorCode.SYNTAX)
    return int(text)


def check_range(value: float, low: float, high: float) -> float:
    if not low <= value <= high:
        raise CommandError(ErrorCode.RANGE)
    return value


def expect_args(args: list[str], count: int) -> list[str]:
    if len(args) != count:
        raise CommandError(ErrorCode.SYNTAX)
    return args


def format_number(value: float) -> str:
    """Decimal text with a '.', no exponent, that reads back as the same float (`1.0`, `0.0083`)."""
    text = repr(float(value))
    if "e" in text or "n" in text:
        # repr switches to an exponent for tiny/huge values; the protocol has decimals only.
        text = f"{value:.15f}".rstrip("0")
    if text.endswith("."):
        text += "0"
    if "." not in text:
        text += ".0"
    return "0.0" if text == "-0.0" else text
