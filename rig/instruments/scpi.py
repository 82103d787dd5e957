"""Base class of the SCPI drivers: a thin class over an open pyvisa message-based resource.

Every command is checked against the instrument's error queue in the same round trip, so that an
error is reported with the command that caused it rather than surfacing on a later one.

A query that times out or whose connection fails is repeated, a bounded number of times, on a
fresh connection (a query changes nothing, so repeating it is safe; the fresh connection also keeps
a late reply from answering the next query). A command is never repeated: its effect is unknown, so
the driver reconnects (the safe state can still be set) and raises InstrumentConnectionLost.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Self

import numpy as np
import pyvisa
from pyvisa import constants
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

log = logging.getLogger(__name__)

VISA_BACKEND = "@py"
SOCKET_SUFFIX = "::SOCKET"
SOCKET_TERMINATION = "\n"
ERROR_QUERY = ":SYSTem:ERRor?"
NO_ERROR_CODE = 0
# A real error queue holds a few dozen entries; the bound only stops a misbehaving instrument
# from keeping the driver in an endless drain loop.
MAX_QUEUED_ERRORS = 64
IDN_FIELDS = 4
MS_PER_S = 1000.0
QUERY_ATTEMPTS = 2

# The error-queue entry a compound "<query>;:SYSTem:ERRor?" ends with (after the query's own reply).
_TRAILING_ERROR_ENTRY = re.compile(r'(?:^|;)\s*([+-]?\d+\s*,\s*"[^"]*")\s*$')
_ERROR_REPLY = re.compile(r'^\s*([+-]?\d+)\s*,\s*"?(.*?)"?\s*$')


def parse_error_reply(reply: str) -> tuple[int, str] | None:
    """`+0,"No error"` -> (0, "No error"); None when the reply is not an error-queue entry."""
    match = _ERROR_REPLY.match(reply)
    if match is None:
        return None
    return int(match.group(1)), match.group(2)


def parse_identity(reply: str) -> InstrumentIdentity | None:
    fields = [field.strip() for field in reply.strip().split(",")]
    if len(fields) != IDN_FIELDS:
        return None
    return InstrumentIdentity(*fields)


def _is_timeout(exc: VisaIOError) -> bool:
    return exc.error_code == constants.StatusCode.error_timeout


class ScpiInstrument:
    """A SCPI instrument over pyvisa. Subclasses set SUPPORTED_MODELS (empty: any model)."""

    SUPPORTED_MODELS: tuple[str, ...] = ()

    def __init__(self, resource: Any, name: str, *, expected_serial: str | None = None) -> None:
        self.resource = resource
        self.name = name
        self.reconnects = 0
        self._reopen: tuple[pyvisa.ResourceManager, str, float] | None = None
        self.identity = self._identify(expected_serial)
        self._raw_write("*CLS")
        log.info("%s: %s", name, self.identity)

    @classmethod
    def open(
        cls,
        resource_name: str,
        *,
        name: str,
        resource_manager: pyvisa.ResourceManager | None = None,
        timeout_s: float = 5.0,
        expected_serial: str | None = None,
    ) -> Self:
        """Open a VISA resource, check its identity, clear its error queue."""
        manager = resource_manager or pyvisa.ResourceManager(VISA_BACKEND)
        try:
            resource = cls._open_resource(manager, resource_name, timeout_s)
        except (VisaIOError, OSError, ValueError) as exc:
            raise InstrumentError(name, f"open {resource_name}", None, str(exc)) from exc
        try:
            instrument = cls(resource, name, expected_serial=expected_serial)
        except BaseException:
            resource.close()
            raise
        instrument._reopen = (manager, resource_name, timeout_s)
        return instrument

    @staticmethod
    def _open_resource(manager: pyvisa.ResourceManager, resource_name: str, timeout_s: float) -> Any:
        resource = manager.open_resource(resource_name)
        resource.timeout = timeout_s * MS_PER_S
        if resource_name.upper().endswith(SOCKET_SUFFIX):
            # Raw sockets have no message framing; the instruments end every message with LF.
            resource.read_termination = SOCKET_TERMINATION
            resource.write_termination = SOCKET_TERMINATION
        return resource

    def reconnect(self, command: str) -> None:
        """A fresh connection to the same instrument (same serial); InstrumentConnectionLost if not."""
        if self._reopen is None:
            raise InstrumentConnectionLost(self.name, command, None, "connection lost; this driver cannot reopen")
        manager, resource_name, timeout_s = self._reopen
        try:
            self.resource.close()
        except (VisaIOError, OSError):
            pass
        try:
            self.resource = self._open_resource(manager, resource_name, timeout_s)
            reply = self._raw_query("*IDN?")
        except (InstrumentError, VisaIOError, OSError, ValueError) as exc:
            raise InstrumentConnectionLost(self.name, command, None,
                                           f"connection lost, reopening failed: {exc}") from None
        identity = parse_identity(reply)
        if identity is None or identity.serial != self.identity.serial:
            raise InstrumentIdentityError(self.name, "*IDN?", reply, "after reconnecting, another instrument answers")
        self.reconnects += 1
        log.warning("%s: reconnected after a lost connection during %r", self.name, command)

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

    # -- raw transport (no error-queue check) ---------------------------------------------

    def _raw_write(self, command: str) -> None:
        try:
            self.resource.write(command)
        except (VisaIOError, OSError) as exc:
            raise self._io_error(command, exc) from exc

    def _raw_query(self, command: str, shown: str | None = None) -> str:
        """`shown`: the command as errors name it (the caller's, without an appended error check)."""
        try:
            return self.resource.query(command).strip()
        except (VisaIOError, OSError) as exc:
            raise self._io_error(shown or command, exc) from exc

    def _io_error(self, command: str, exc: VisaIOError | OSError) -> InstrumentError:
        if isinstance(exc, OSError):
            return InstrumentConnectionLost(self.name, command, None, f"connection failed: {exc}")
        if _is_timeout(exc):
            timeout_ms = getattr(self.resource, "timeout", None)
            return InstrumentTimeout(self.name, command, None, f"no reply within {timeout_ms} ms")
        return InstrumentError(self.name, command, None, f"VISA I/O error: {exc}")

    # -- checked commands -----------------------------------------------------------------

    def write(self, command: str) -> None:
        """Send a command and read the error queue in the same message. Never repeated."""
        try:
            reply = self._raw_query(f"{command};{ERROR_QUERY}")
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

    def query(self, command: str) -> str:
        """Send a query with the error-queue check in the same message (one round trip), return its
        reply. A query that times out or loses its connection is repeated on a fresh connection, at
        most QUERY_ATTEMPTS times."""
        for attempt in range(1, QUERY_ATTEMPTS + 1):
            try:
                return self._checked_reply(command, self._raw_query(f"{command};{ERROR_QUERY}", shown=command))
            except (InstrumentTimeout, InstrumentConnectionLost) as exc:
                # An unknown query produces no reply but an error: name that, not the timeout.
                self._queued_or_reconnect(command)
                if attempt == QUERY_ATTEMPTS:
                    raise
                log.warning("%s: repeating %r after: %s", self.name, command, exc.detail)
        raise AssertionError("unreachable")

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

    def query_binary_floats(self, command: str) -> np.ndarray:
        """A query answered with an IEEE 488.2 definite-length block of 32-bit floats, little-endian
        (`FORMat:DATA REAL` with `FORMat:BORDer SWAPped`); the error queue is checked after it."""
        try:
            values = self.resource.query_binary_values(command, datatype="f", is_big_endian=False,
                                                       container=np.array)
        except (VisaIOError, OSError) as exc:
            self._raise_queued(command)  # a query the instrument refused: name its error, not the silence
            raise self._io_error(command, exc) from exc
        except (ValueError, pyvisa.errors.InvalidBinaryFormat) as exc:
            self.drain_errors()
            raise InstrumentResponseError(self.name, command, None, f"not a binary block of floats: {exc}") from None
        self._raise_queued(command)
        return values.astype(float)

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
            reply = self._raw_query(ERROR_QUERY)
            entry = parse_error_reply(reply)
            if entry is None:
                raise InstrumentResponseError(self.name, ERROR_QUERY, reply, "not 'code,\"text\"'")
            if entry[0] == NO_ERROR_CODE:
                return errors
            errors.append(entry)
        raise InstrumentError(self.name, ERROR_QUERY, None, "error queue does not empty")

    def wait_complete(self) -> None:
        """Block until pending operations are done (`*OPC?` answers 1)."""
        reply = self.query("*OPC?")
        if reply.strip() not in ("1", "+1"):
            raise InstrumentResponseError(self.name, "*OPC?", reply, "expected 1")

    def close(self) -> None:
        self.resource.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, {self.identity})"
