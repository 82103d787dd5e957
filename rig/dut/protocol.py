"""The IX-30 service port's vocabulary (dut-protocol.md sections 2 to 5), declared once.

Shared by the client (rig/dut/), the procedures and the virtual bench, as rig/dut/framing.py is. The
enums are str- or int-valued, so a member is its wire text (`State.IDLE == "IDLE"`,
`f"POL {Polarity.NEG}"` is `POL NEG`) or its code (`FaultCode.OVERCURRENT == 1`, its name the wire
name). Only what the protocol itself fixes is here; product limits (setpoint range, ramp rates,
thresholds, calibration bounds) live in the product spec (rig/spec.py, rig/specs/ix30.toml).
"""

from __future__ import annotations

from enum import IntEnum, StrEnum


class State(StrEnum):
    """What `STATE?` and `!STATE` report (section 3; TEST while in test mode with no session)."""

    IDLE = "IDLE"
    RAMP_UP = "RAMP_UP"
    ON = "ON"
    RAMP_DOWN = "RAMP_DOWN"
    FAULT = "FAULT"
    TEST = "TEST"


# No session and no fault: the output is off and a new command sequence may start.
IDLE_STATES = (State.IDLE, State.TEST)
# What a START moves to: the output rising or at the setpoint.
STARTED_STATES = (State.RAMP_UP, State.ON)
# A session in progress, its ramp-down included (the output is driven).
SESSION_STATES = (State.RAMP_UP, State.ON, State.RAMP_DOWN)


class ErrorCode(IntEnum):
    """`ERR <code> <name>` (section 5)."""

    SYNTAX = 1
    CRC = 2
    RANGE = 3
    STATE = 4
    LOCKED = 5
    FAULT = 6


class FaultCode(IntEnum):
    """A latched fault: `STATE?`'s second field, `FAULT?`, `!FAULT <code> <name>` (section 5)."""

    NONE = 0
    OVERCURRENT = 1
    LOSS_OF_CONTACT = 2
    OVERVOLTAGE = 3
    INTERNAL = 4


class Polarity(StrEnum):
    POS = "POS"
    NEG = "NEG"


POLARITIES = tuple(Polarity)


class Waveform(StrEnum):
    """`MODE DC` / `MODE PULSED <freq_hz> <duty_pct>`."""

    DC = "DC"
    PULSED = "PULSED"


class Injection(StrEnum):
    """`TEST:INJECT <fault>`."""

    NONE = "NONE"
    RUNAWAY = "RUNAWAY"


INJECTIONS = tuple(Injection)

# Section 2: every request is answered within 100 ms (except RESET).
REPLY_WITHIN_S = 0.100
# Section 4: after RESET the unit sends `!BOOT <fw>` within 2 s.
BOOT_WITHIN_S = 2.0
# Section 4: WDOG 0 (off) or 0.5 to 60 s.
WDOG_OFF_S = 0.0
WDOG_MIN_S = 0.5
WDOG_MAX_S = 60.0
# Section 4: TEST:RAMP up to 1000 mA/s; TEST:INJECT RUNAWAY climbs at 200 mA/s.
TEST_RAMP_MAX_MA_PER_S = 1000.0
RUNAWAY_RATE_MA_PER_S = 200.0
