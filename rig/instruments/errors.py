"""Typed instrument errors: each names the instrument, the command and what came back."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class InstrumentIdentity:
    """The four fields of an `*IDN?` reply."""

    maker: str
    model: str
    serial: str
    firmware: str

    def __str__(self) -> str:
        return f"{self.maker} {self.model} s/n {self.serial} fw {self.firmware}"


class InstrumentError(Exception):
    """Base: something went wrong talking to an instrument."""

    def __init__(self, instrument: str, command: str, reply: str | None, detail: str) -> None:
        self.instrument = instrument
        self.command = command
        self.reply = reply
        self.detail = detail
        shown = "no reply" if reply is None else f"reply {reply!r}"
        super().__init__(f"{instrument}: {command!r}: {detail} ({shown})")


class InstrumentIdentityError(InstrumentError):
    """`*IDN?` named another model or serial than the one expected."""


class InstrumentTimeout(InstrumentError):
    """The instrument did not answer within the resource's timeout."""


class ScpiError(InstrumentError):
    """The instrument's error queue (`SYSTem:ERRor?`) reported an error for a command."""

    def __init__(self, instrument: str, command: str, code: int, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(instrument, command, f'{code:+d},"{message}"', f"SCPI error {code}")


class InstrumentResponseError(InstrumentError):
    """A reply that cannot be parsed as what the command returns."""


class InstrumentConnectionLost(InstrumentError):
    """The connection failed or stayed silent during a command whose effect is unknown; the driver
    reconnected (or could not) and does not repeat the command."""


class InstrumentReplyTooLong(InstrumentResponseError):
    """A reply past its bound (a line that does not end, a binary block longer than the points asked);
    the driver dropped the connection, since the rest of it was still on its way."""
