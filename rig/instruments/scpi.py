"""Base class of the SCPI drivers: checked commands over an open pyvisa message-based resource (its
connection: rig.instruments.scpi_transport).

Every command is checked against the instrument's error queue in the same round trip, so that an
error is reported with the command that caused it rather than surfacing on a later one.

A query that times out or whose connection fails is repeated, a bounded number of times, on a
fresh connection (a query changes nothing, so repeating it is safe; the fresh connection also keeps
a late reply from answering the next query). A command is never repeated: its effect is unknown, so
the driver reconnects (the safe state can still be set) and raises InstrumentConnectionLost.

Several commands in one message (';') are an optimisation instruments.md does not list: the driver
tries it once when it connects (two `*CLS` in one message) and, if the instrument refuses it with a
command error, sends one command per message from then on, each checked by the `SYSTem:ERRor?`
that follows it (instruments.md: one command per message, as listed). Replies are read with a bound
(rig.instruments.replies): MAX_REPLY_BYTES, or what the caller expects (an array of n points).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
from pyvisa.errors import VisaIOError

from rig.instruments.errors import (
    InstrumentConnectionLost,
    InstrumentError,
    InstrumentIdentity,
    InstrumentIdentityError,
    InstrumentResponseError,
    InstrumentTimeout,
    ScpiError,
)
from rig.instruments.replies import BadBlock, ReplyTooLong, read_block
from rig.instruments.scpi_transport import (  # noqa: F401 (MS_PER_S, parse_identity: the drivers' API)
    MAX_REPLY_BYTES,
    MS_PER_S,
    ScpiTransport,
    parse_identity,
    shown_reply,
)

log = logging.getLogger(__name__)

ERROR_QUERY = ":SYSTem:ERRor?"  # after another command in one message: from the root
ERROR_QUERY_ALONE = "SYSTem:ERRor?"  # a message of its own, exactly as instruments.md lists it
NO_ERROR_CODE = 0
# A real error queue holds a few dozen entries; the bound only stops a misbehaving instrument
# from keeping the driver in an endless drain loop.
MAX_QUEUED_ERRORS = 64
QUERY_ATTEMPTS = 2
# An error entry appended to a reply: a few dozen bytes.
ERROR_ENTRY_MAX_BYTES = 1024
FLOAT32_BYTES = 4
# The SCPI command errors (-100 to -199): the instrument did not take the message as written.
COMMAND_ERRORS = range(-199, -99)
COMPOUND_PROBE = "*CLS;*CLS"

# The error-queue entry a compound "<query>;:SYSTem:ERRor?" ends with (after the query's own reply).
_TRAILING_ERROR_ENTRY = re.compile(r'(?:^|;)\s*([+-]?\d+\s*,\s*"[^"]*")\s*$')
_ERROR_REPLY = re.compile(r'^\s*([+-]?\d+)\s*,\s*"?(.*?)"?\s*$')


def parse_error_reply(reply: str) -> tuple[int, str] | None:
    """`+0,"No error"` -> (0, "No error"); None when the reply is not an error-queue entry."""
    match = _ERROR_REPLY.match(reply)
    if match is None:
        return None
    return int(match.group(1)), match.group(2)


class ScpiInstrument(ScpiTransport):
    """A SCPI instrument over pyvisa. Subclasses set SUPPORTED_MODELS (empty: any model)."""

    SUPPORTED_MODELS: tuple[str, ...] = ()
    compound_messages = True  # several commands in one message; negotiated on connecting

    def __init__(self, resource: Any, name: str, *, expected_serial: str | None = None) -> None:
        self.resource = resource
        self.name = name
        self.reconnects = 0
        self._reopen = None
        self.identity = self._identify(expected_serial)
        self._negotiate_compound()
        log.info("%s: %s", name, self.identity)

    def _negotiate_compound(self) -> None:
        """Try two commands in one message (it also clears the error queue). A command error means the
        instrument takes one command per message: fall back, clear its queue, say so once."""
        self._raw_write(COMPOUND_PROBE)
        reply = self._raw_query(ERROR_QUERY_ALONE)
        entry = parse_error_reply(reply)
        if entry is None:
            raise InstrumentResponseError(self.name, ERROR_QUERY_ALONE, reply, "not 'code,\"text\"'")
        if entry[0] == NO_ERROR_CODE:
            return
        self._raw_write("*CLS")
        if entry[0] in COMMAND_ERRORS:
            self.compound_messages = False
            log.info("%s: %r refused (%s); falls back to one command per message", self.name, COMPOUND_PROBE, reply)

    # -- identity -------------------------------------------------------------------------

    def _identify(self, expected_serial: str | None) -> InstrumentIdentity:
        reply = self._raw_query("*IDN?")
        identity = parse_identity(reply)
        if identity is None:
            raise InstrumentResponseError(self.name, "*IDN?", reply, "not 'maker,model,serial,fw'")
        if self.SUPPORTED_MODELS and identity.model not in self.SUPPORTED_MODELS:
            raise InstrumentIdentityError(
                self.name, "*IDN?", reply,
                f"model {identity.model!r} is not one of {', '.join(self.SUPPORTED_MODELS)}",
            )
        if expected_serial is not None and identity.serial != expected_serial:
            raise InstrumentIdentityError(
                self.name, "*IDN?", reply,
                f"serial {identity.serial!r}, the station expects {expected_serial!r}",
            )
        return identity

    # -- checked commands -----------------------------------------------------------------

    def write(self, command: str) -> None:
        """Send a command and read the error queue in the same message. Never repeated."""
        self.write_all([command])

    def write_all(self, commands: Sequence[str]) -> None:
        """Send commands and check the error queue after them, in one round trip: one message, or
        (one command per message) the commands and the check sent back to back. Never repeated."""
        command = ";:".join(commands)
        try:
            if self.compound_messages:
                reply = self._raw_query(f"{command};{ERROR_QUERY}", shown=command)
            else:
                for each in commands:
                    self._raw_write(each)
                reply = self._raw_query(ERROR_QUERY_ALONE, shown=command)
        except (InstrumentTimeout, InstrumentConnectionLost) as exc:
            # Some instruments drop the rest of a message after a header error: look again.
            self._queued_or_reconnect(command)
            raise InstrumentConnectionLost(self.name, command, None,
                                           f"{exc.detail}; not repeated (its effect is unknown)") from None
        entry = parse_error_reply(reply)
        if entry is None:
            raise InstrumentResponseError(self.name, command, reply, "expected an error-queue entry")
        if entry[0] != NO_ERROR_CODE:
            self.drain_errors()
            raise ScpiError(self.name, command, *entry)

    def query_after(self, commands: Sequence[str], query: str) -> str:
        """Commands, then a query (e.g. `*OPC?`): one message, or (one command per message) the
        commands checked by write_all, then the query."""
        if self.compound_messages:
            return self.query(";:".join(commands) + (";" if query.startswith("*") else ";:") + query)
        self.write_all(commands)
        return self.query(query)

    def query(self, command: str, *, max_bytes: int = MAX_REPLY_BYTES) -> str:
        """Send a query with the error-queue check in the same message (one round trip; one command
        per message: right after it), return its reply, at most `max_bytes` long. A query that times
        out or loses its connection is repeated on a fresh connection, at most QUERY_ATTEMPTS times."""
        for attempt in range(1, QUERY_ATTEMPTS + 1):
            try:
                if not self.compound_messages:
                    return self._query_then_check(command, max_bytes)
                combined = self._raw_query(f"{command};{ERROR_QUERY}", shown=command,
                                           max_bytes=max_bytes + ERROR_ENTRY_MAX_BYTES)
                return self._checked_reply(command, combined)
            except (InstrumentTimeout, InstrumentConnectionLost) as exc:
                # An unknown query produces no reply but an error: name that, not the timeout.
                self._queued_or_reconnect(command)
                if attempt == QUERY_ATTEMPTS:
                    raise
                log.warning("%s: repeating %r after: %s", self.name, command, exc.detail)
        raise AssertionError("unreachable")

    def _query_then_check(self, command: str, max_bytes: int) -> str:
        reply = self._raw_query(command, max_bytes=max_bytes)
        self._raise_queued(command)
        if not reply:
            raise InstrumentResponseError(self.name, command, reply, "an empty reply, and no error")
        return reply

    def _checked_reply(self, command: str, combined: str) -> str:
        """Split "<reply>;<error entry>"; an unknown query leaves only the entry (its error)."""
        match = _TRAILING_ERROR_ENTRY.search(combined)
        entry = parse_error_reply(match.group(1)) if match else None
        if entry is None:
            raise InstrumentResponseError(self.name, command, combined, "no error-queue entry after the reply")
        if entry[0] != NO_ERROR_CODE:
            self.drain_errors()
            raise ScpiError(self.name, command, *entry)
        if match.start() == 0:
            raise InstrumentResponseError(self.name, command, combined, "no reply to the query, and no error")
        return combined[: match.start()].strip()

    def _queued_or_reconnect(self, command: str) -> None:
        """After a silence: raise the queued error if the instrument still answers, else reconnect."""
        try:
            self._raise_queued(command)
        except (InstrumentTimeout, InstrumentConnectionLost):
            self.reconnect(command)
            return
        if self._reopen is not None:
            self.reconnect(command)  # it answers, but a late reply may still be on its way

    def query_binary_floats(self, command: str, max_points: int) -> np.ndarray:
        """A query answered with an IEEE 488.2 definite-length block of 32-bit floats, little-endian
        (`FORMat:DATA REAL` with `FORMat:BORDer SWAPped`), at most `max_points` of them; the error queue
        is checked after it."""
        try:
            self.resource.write(command)
            data = read_block(self.resource, max_points * FLOAT32_BYTES)
        except (VisaIOError, OSError) as exc:
            self._raise_queued(command)  # a query the instrument refused: name its error, not the silence
            raise self._io_error(command, exc) from exc
        except ReplyTooLong as exc:
            raise self._overflow(command, exc.detail) from None
        except BadBlock as exc:
            if not exc.consumed:
                raise self._overflow(command, exc.detail) from None
            self.drain_errors()
            raise InstrumentResponseError(self.name, command, shown_reply(exc.head),
                                          f"not a binary block of floats: {exc.detail}") from None
        if len(data) % FLOAT32_BYTES:
            self.drain_errors()
            raise InstrumentResponseError(self.name, command, None, f"a block of {len(data)} bytes is not float32s")
        self._raise_queued(command)
        return np.frombuffer(data, dtype="<f4").astype(float)

    def query_float(self, command: str) -> float:
        reply = self.query(command)
        try:
            return float(reply)
        except ValueError:
            raise InstrumentResponseError(self.name, command, reply, "not a number") from None

    def _raise_queued(self, command: str) -> None:
        errors = self.drain_errors()
        if errors:
            if len(errors) > 1:
                log.warning("%s: %r left further errors: %s", self.name, command, errors[1:])
            raise ScpiError(self.name, command, *errors[0])

    def drain_errors(self) -> list[tuple[int, str]]:
        """Read the error queue until it reports no error; return what it held, oldest first."""
        errors: list[tuple[int, str]] = []
        for _ in range(MAX_QUEUED_ERRORS):
            reply = self._raw_query(ERROR_QUERY_ALONE)
            entry = parse_error_reply(reply)
            if entry is None:
                raise InstrumentResponseError(self.name, ERROR_QUERY_ALONE, reply, "not 'code,\"text\"'")
            if entry[0] == NO_ERROR_CODE:
                return errors
            errors.append(entry)
        raise InstrumentError(self.name, ERROR_QUERY_ALONE, None, "error queue does not empty")

    def wait_complete(self) -> None:
        """Block until pending operations are done (`*OPC?` answers 1)."""
        reply = self.query("*OPC?")
        if reply.strip() not in ("1", "+1"):
            raise InstrumentResponseError(self.name, "*OPC?", reply, "expected 1")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, {self.identity})"

