"""The IX-30 service-port vocabulary (dut-protocol.md sections 3 to 5) that is not a product limit.

Product limits (setpoint range, ramp rates, thresholds, calibration bounds) live in rig.spec; what
is here are the protocol's own constants: error and fault codes, the watchdog and test-ramp ranges,
and the emulator's timing (tick, reboot).
"""

from __future__ import annotations

import re

# dut-protocol.md section 5
ERR_SYNTAX = 1
ERR_CRC = 2
ERR_RANGE = 3
ERR_STATE = 4
ERR_LOCKED = 5
ERR_FAULT = 6
ERROR_NAMES = {
    ERR_SYNTAX: "SYNTAX",
    ERR_CRC: "CRC",
    ERR_RANGE: "RANGE",
    ERR_STATE: "STATE",
    ERR_LOCKED: "LOCKED",
    ERR_FAULT: "FAULT",
}

FAULT_NONE = 0
FAULT_OVERCURRENT = 1
FAULT_LOSS_OF_CONTACT = 2
FAULT_OVERVOLTAGE = 3
FAULT_INTERNAL = 4
FAULT_NAMES = {
    FAULT_NONE: "NONE",
    FAULT_OVERCURRENT: "OVERCURRENT",
    FAULT_LOSS_OF_CONTACT: "LOSS_OF_CONTACT",
    FAULT_OVERVOLTAGE: "OVERVOLTAGE",
    FAULT_INTERNAL: "INTERNAL",
}

# dut-protocol.md section 3 (TEST is the reported state while in test mode with no session)
IDLE = "IDLE"
RAMP_UP = "RAMP_UP"
ON = "ON"
RAMP_DOWN = "RAMP_DOWN"
FAULT = "FAULT"
TEST = "TEST"
SESSION_ACTIVE = frozenset({RAMP_UP, ON, RAMP_DOWN})

# dut-protocol.md section 4
WDOG_OFF_S = 0.0
WDOG_MIN_S = 0.5
WDOG_MAX_S = 60.0
TEST_RAMP_MAX_MA_PER_S = 1000.0
RUNAWAY_RATE_MA_PER_S = 200.0
INJECTIONS = frozenset({"NONE", "RUNAWAY"})
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

    def __init__(self, code: int) -> None:
        self.code = code
        super().__init__(f"ERR {code} {ERROR_NAMES[code]}")

    @property
    def reply(self) -> str:
        return f"ERR {self.code} {ERROR_NAMES[self.code]}"


def parse_decimal(text: str) -> float:
    """A protocol number: decimal with an optional '.', no exponent, no inf/nan (else ERR 1)."""
    if not _DECIMAL.fullmatch(text):
        raise CommandError(ERR_SYNTAX)
    return float(text)


def parse_int(text: str) -> int:
    if not _INTEGER.fullmatch(text):
        raise CommandError(ERR_SYNTAX)
    return int(text)


def check_range(value: float, low: float, high: float) -> float:
    if not low <= value <= high:
        raise CommandError(ERR_RANGE)
    return value


def expect_args(args: list[str], count: int) -> list[str]:
    if len(args) != count:
        raise CommandError(ERR_SYNTAX)
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
