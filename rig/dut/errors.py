"""Typed IX-30 errors: each names the port and the command (with any unlock key redacted)."""

from __future__ import annotations


class DutError(Exception):
    """Base: something went wrong talking to an IX-30."""

    def __init__(self, port: str, command: str, detail: str) -> None:
        self.port = port
        self.command = command
        self.detail = detail
        super().__init__(f"{port}: {command!r}: {detail}")


class DutCommandError(DutError):
    """The unit answered `ERR <code> <text>`."""

    def __init__(self, port: str, command: str, code: int, text: str) -> None:
        self.code = code
        self.text = text
        super().__init__(port, command, f"ERR {code} {text}")


class DutTimeout(DutError):
    """No reply (or no awaited event) in time."""


class DutFrameError(DutError):
    """A reply with a bad CRC or that is not a well-formed reply; shows the line."""

    def __init__(self, port: str, command: str, reason: str, line: bytes | str) -> None:
        self.reason = reason
        self.line = line
        super().__init__(port, command, f"{reason}: {line!r}")


class DutIdentityError(DutError):
    """`ID?` named another product or serial than the one expected."""


class DutLinkLost(DutError):
    """The serial port failed (a pulled cable, a vanished device) and could not be safely reopened."""


class UnitRebooted(DutError):
    """The unit sent `!BOOT` without being asked to reset: its output went off and it lost its watchdog
    setting and any calibration written but not saved. The run cannot carry on as if nothing happened."""
