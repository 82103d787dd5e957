"""The connection under a SCPI driver: opening a VISA resource, reopening it (the same instrument, by
serial) after a lost connection, and the raw transport: a message out, one bounded reply back
(rig.instruments.replies), no error-queue check. rig.instruments.scpi builds the checked commands on it.
"""

from __future__ import annotations

import logging
from typing import Any, Self

import pyvisa
from pyvisa import constants
from pyvisa.errors import VisaIOError

from rig.instruments.errors import (
    InstrumentConnectionLost,
    InstrumentError,
    InstrumentIdentity,
    InstrumentIdentityError,
    InstrumentReplyTooLong,
    InstrumentResponseError,
    InstrumentTimeout,
)
from rig.instruments.replies import ReplyTooLong, read_message

log = logging.getLogger("rig.instruments.scpi")

VISA_BACKEND = "@py"
SOCKET_SUFFIX = "::SOCKET"
SOCKET_TERMINATION = "\n"
IDN_FIELDS = 4
MS_PER_S = 1000.0
# A reply to anything but an array (identity, a reading, an error entry) is far shorter; the bound only
# stops a peer that streams without a line end.
MAX_REPLY_BYTES = 64 * 1024
SHOWN_REPLY_CHARS = 200


def parse_identity(reply: str) -> InstrumentIdentity | None:
    fields = [field.strip() for field in reply.strip().split(",")]
    if len(fields) != IDN_FIELDS:
        return None
    return InstrumentIdentity(*fields)


def shown_reply(raw: bytes) -> str:
    """A reply as an error shows it: decoded leniently, cut short."""
    text = raw.decode("ascii", errors="backslashreplace").strip()
    return text if len(text) <= SHOWN_REPLY_CHARS else text[:SHOWN_REPLY_CHARS] + "..."


def _is_timeout(exc: VisaIOError) -> bool:
    return exc.error_code == constants.StatusCode.error_timeout


class ScpiTransport:
    """A pyvisa resource and the means to reopen it; subclasses set `identity` and `name`."""

    resource: Any
    name: str
    identity: InstrumentIdentity
    reconnects: int
    _reopen: tuple[pyvisa.ResourceManager, str, float] | None = None

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

    def _raw_write(self, command: str) -> None:
        try:
            self.resource.write(command)
        except (VisaIOError, OSError) as exc:
            raise self._io_error(command, exc) from exc

    def _raw_query(self, command: str, shown: str | None = None, max_bytes: int = MAX_REPLY_BYTES) -> str:
        """`shown`: the command as errors name it (the caller's, without an appended error check)."""
        try:
            self.resource.write(command)
            raw = read_message(self.resource, max_bytes)
        except (VisaIOError, OSError) as exc:
            raise self._io_error(shown or command, exc) from exc
        except ReplyTooLong as exc:
            raise self._overflow(shown or command, exc.detail) from None
        try:
            return raw.decode("ascii").strip()
        except UnicodeDecodeError:
            raise InstrumentResponseError(self.name, shown or command, shown_reply(raw), "not ASCII") from None

    def _overflow(self, command: str, detail: str) -> InstrumentReplyTooLong:
        """A reply past its bound: the rest of it is still coming, so this connection is dropped for a
        fresh one (not checked here: the error ends the run, the safe state still needs a connection)."""
        try:
            self.resource.close()
        except (VisaIOError, OSError):
            pass
        if self._reopen is not None:
            manager, resource_name, timeout_s = self._reopen
            try:
                self.resource = self._open_resource(manager, resource_name, timeout_s)
            except (VisaIOError, OSError, ValueError) as exc:
                detail += f"; reopening failed: {exc}"
        return InstrumentReplyTooLong(self.name, command, None, f"{detail}; connection dropped")

    def _io_error(self, command: str, exc: VisaIOError | OSError) -> InstrumentError:
        if isinstance(exc, OSError):
            return InstrumentConnectionLost(self.name, command, None, f"connection failed: {exc}")
        if _is_timeout(exc):
            timeout_ms = getattr(self.resource, "timeout", None)
            return InstrumentTimeout(self.name, command, None, f"no reply within {timeout_ms} ms")
        return InstrumentError(self.name, command, None, f"VISA I/O error: {exc}")

    def close(self) -> None:
        self.resource.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
