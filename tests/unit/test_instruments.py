"""The SCPI drivers against a fake pyvisa-like resource (no bench, no sockets)."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable

import numpy as np
import pytest
from pyvisa import constants
from pyvisa.errors import VisaIOError

from rig.instruments.analyzer import PowerAnalyzer
from rig.instruments.errors import (
    InstrumentIdentityError,
    InstrumentResponseError,
    InstrumentTimeout,
    ScpiError,
)
from rig.instruments.load import ResistanceLoad
from rig.instruments.scpi import ScpiInstrument, parse_error_reply

ANALYZER_IDN = "Keysight Technologies,N6705C,MY12345678,D.01.09"
LOAD_IDN = "Other Maker,DECADE-9,LD0042,3.1"
NO_ERROR = '+0,"No error"'
UNDEFINED = '-113,"Undefined header"'
Handler = Callable[[str], str | None]


class FakeResource:
    """Answers like a SCPI instrument: `replies` maps a command to its reply (None: no reply),
    anything unknown queues -113; queries with no reply time out like pyvisa does. Replies are read
    through `visalib.read` as the drivers read them; arrays of FETCh:ARRay come as float32 blocks once
    `FORMat:DATA REAL` was taken. `compound=False`: a message with ';' queues -113 and runs nothing;
    `refused`: header prefixes that queue -113 (an instrument without them)."""

    def __init__(self, idn: str, replies: dict[str, str | None] | None = None, silent: set[str] = frozenset(),
                 compound: bool = True, refused: tuple[str, ...] = ()) -> None:
        self.replies = {"*IDN?": idn, "*CLS": None, "*OPC?": "1", **(replies or {})}
        self.silent = silent  # queries the instrument never answers: the whole message times out
        self.compound = compound
        self.refused = refused
        self.queue: list[str] = []
        self.sent: list[str] = []
        self.messages: list[str] = []
        self.outbox = bytearray()
        self.binary = False
        self.timeout = 5000.0
        self.closed = False
        self.visalib = self
        self.session = None

    def _one(self, command: str) -> str | bytes | None:
        self.sent.append(command)
        command = command.lstrip(":")  # a leading colon only returns to the root of the tree
        if command == "SYSTem:ERRor?":
            return self.queue.pop(0) if self.queue else NO_ERROR
        if command == "*CLS":
            self.queue.clear()
        if command not in self.replies or command.startswith(self.refused or ("\0",)):
            self.queue.append(UNDEFINED)
            return None
        if command.startswith("FORMat:DATA"):
            self.binary = "REAL" in command
        reply = self.replies[command]
        reply = reply() if callable(reply) else reply
        if reply is not None and self.binary and command.startswith("FETCh:ARRay"):
            return _float32_block(reply)
        return reply

    def write(self, message: str) -> None:
        self.messages.append(message)
        commands = message.split(";")
        if any(c in self.silent for c in commands):
            return  # a hung query holds up the message
        if len(commands) > 1 and not self.compound:
            self.queue.append(UNDEFINED)
            return
        replies = [r for r in (self._one(c) for c in commands) if r is not None]
        if replies:
            self.outbox += b";".join(r if isinstance(r, bytes) else r.encode() for r in replies) + b"\n"

    def read(self, session: object, count: int) -> tuple[bytes, constants.StatusCode]:
        """pyvisa's visalib.read: up to count bytes, stopping after a line feed; nothing to read times out."""
        if not self.outbox:
            raise VisaIOError(constants.StatusCode.error_timeout)
        end = self.outbox.find(b"\n")
        size = count if end < 0 else min(count, end + 1)
        data = bytes(self.outbox[:size])
        del self.outbox[:size]
        ended = data.endswith(b"\n")
        return data, (constants.StatusCode.success_termination_character_read if ended
                      else constants.StatusCode.success_max_count_read)

    def ignore_warning(self, *codes: object) -> contextlib.nullcontext:
        return contextlib.nullcontext()

    def close(self) -> None:
        self.closed = True


def _float32_block(reply: str) -> str | bytes:
    """A comma-separated reply as a little-endian float32 block; text that is no numbers stays text."""
    try:
        payload = np.array([float(v) for v in reply.split(",")], dtype="<f4").tobytes()
    except ValueError:
        return reply
    length = str(len(payload)).encode()
    return b"#" + str(len(length)).encode() + length + payload


def test_identity_read_and_queue_cleared() -> None:
    resource = FakeResource(ANALYZER_IDN)
    resource.queue.append(UNDEFINED)  # left over from an earlier session
    analyzer = PowerAnalyzer(resource, "analyzer")
    assert analyzer.identity.model == "N6705C"
    assert analyzer.identity.serial == "MY12345678"
    assert resource.queue == []


def test_wrong_model_refused() -> None:
    with pytest.raises(InstrumentIdentityError, match="N6700B") as caught:
        PowerAnalyzer(FakeResource("Keysight Technologies,N6700B,X,1"), "analyzer")
    assert caught.value.instrument == "analyzer" and caught.value.command == "*IDN?"


def test_wrong_serial_refused() -> None:
    with pytest.raises(InstrumentIdentityError, match="LD0099"):
        ResistanceLoad(FakeResource(LOAD_IDN), "load", expected_serial="LD0099")


def test_malformed_identity_refused() -> None:
    with pytest.raises(InstrumentResponseError, match="maker,model"):
        ResistanceLoad(FakeResource("just a string"), "load")


def test_load_accepts_any_maker() -> None:
    assert ResistanceLoad(FakeResource(LOAD_IDN), "load").identity.maker == "Other Maker"


def test_write_checks_error_queue_in_the_same_message() -> None:
    resource = FakeResource(LOAD_IDN, {"RESistance 1000": None})
    load = ResistanceLoad(resource, "load")
    load.write("RESistance 1000")
    assert resource.sent[-2:] == ["RESistance 1000", ":SYSTem:ERRor?"]


def test_unknown_command_raises_scpi_error_naming_it() -> None:
    resource = FakeResource(LOAD_IDN)
    load = ResistanceLoad(resource, "load")
    with pytest.raises(ScpiError) as caught:
        load.write("BOGus:COMMand 1")
    error = caught.value
    assert (error.instrument, error.command, error.code) == ("load", "BOGus:COMMand 1", -113)
    assert error.message == "Undefined header"
    assert "BOGus:COMMand 1" in str(error) and "load" in str(error)


def test_unknown_query_is_scpi_error_not_timeout() -> None:
    load = ResistanceLoad(FakeResource(LOAD_IDN), "load")
    with pytest.raises(ScpiError, match="BOGus"):
        load.query("BOGus?")


def test_silent_instrument_times_out() -> None:
    load = ResistanceLoad(FakeResource(LOAD_IDN, silent={"SLOW?"}), "load")
    with pytest.raises(InstrumentTimeout) as caught:
        load.query("SLOW?")
    assert caught.value.command == "SLOW?" and caught.value.reply is None


def test_unparsable_number_names_reply() -> None:
    load = ResistanceLoad(FakeResource(LOAD_IDN, {"RESistance?": "lots"}), "load")
    with pytest.raises(InstrumentResponseError, match="lots"):
        load.query_float("RESistance?")


def test_drain_errors_returns_all_oldest_first() -> None:
    instrument = ScpiInstrument(FakeResource(LOAD_IDN), "x")
    instrument.resource.queue += [UNDEFINED, '-222,"Data out of range"']
    assert instrument.drain_errors() == [(-113, "Undefined header"), (-222, "Data out of range")]
    assert instrument.drain_errors() == []


@pytest.mark.parametrize(
    ("reply", "entry"),
    [('+0,"No error"', (0, "No error")), ('-222,"Data out of range; 2e6"', (-222,
      "Data out of range; 2e6")), ("-113,Undefined header", (-113, "Undefined header")),
     ("garbage", None)],
)
def test_parse_error_reply(reply: str, entry: tuple[int, str] | None) -> None:
    assert parse_error_reply(reply) == entry


def test_load_sets_resistance_and_waits_settled() -> None:
    state = {"inp": "0", "res": "1000"}
    resource = FakeResource(LOAD_IDN, {
        "RESistance 2000": None, "INPut ON": None, "INPut OFF": None,
        "INPut?": lambda: state["inp"], "RESistance?": lambda: state["res"],
    })
    load = ResistanceLoad(resource, "load")
    load.set_resistance_ohm(2000)
    # one message: set, connect, wait until settled, and the error check
    assert resource.sent[-4:] == ["RESistance 2000", ":INPut ON", "*OPC?", ":SYSTem:ERRor?"]
    assert load.resistance_ohm() == math.inf  # the fake's INPut? still says 0
    state["inp"] = "1"
    assert load.resistance_ohm() == 1000.0
    load.set_resistance_ohm(math.inf)
    assert "INPut OFF" in resource.sent[-4:]


def test_load_refuses_nonsense_resistance() -> None:
    with pytest.raises(ValueError):
        ResistanceLoad(FakeResource(LOAD_IDN), "load").set_resistance_ohm(-5)


def _analyzer_resource() -> FakeResource:
    accepting = FakeResource(ANALYZER_IDN)
    accepting.replies = _AcceptAll(accepting.replies, {
        "MEASure:CURRent? (@1)": "0.0100002",
        "FETCh:ARRay:CURRent? (@1)": "0.001,0.002,0.003,0.004",
        "FETCh:ARRay:VOLTage? (@2)": "1.0,2.0,3.0,4.0",
        "SENSe:SWEep:TINTerval? (@1)": lambda: _last_interval_set(accepting),
    })
    return accepting


def _last_interval_set(resource: FakeResource, resolution_s: float = 0.0) -> str:
    """TINTerval?: the last interval set, rounded to `resolution_s` multiples (0: as set)."""
    sets = [c.lstrip(":") for c in resource.sent if c.lstrip(":").startswith("SENSe:SWEep:TINTerval ")]
    asked_s = float(sets[-1].split()[1].split(",")[0]) if sets else 20.48e-6
    used_s = max(1, round(asked_s / resolution_s)) * resolution_s if resolution_s else asked_s
    return f"{used_s:+.6E}"


class _AcceptAll(dict):
    """Every setting command is accepted silently; listed queries answer."""

    def __init__(self, base: dict, queries: dict) -> None:
        super().__init__({**base, **queries})

    def __contains__(self, key: object) -> bool:
        return True

    def __getitem__(self, key: str) -> str | None:
        return self.get(key)


def test_analyzer_roles_and_reading() -> None:
    resource = _analyzer_resource()
    analyzer = PowerAnalyzer(resource, "analyzer")
    analyzer.configure_roles()
    assert "EMULation AMETer,(@1)" in resource.sent and "EMULation VMETer,(@2)" in resource.sent
    assert "OUTPut ON,(@1,2)" in resource.sent
    assert analyzer.measure_current_a() == pytest.approx(0.0100002)


def test_analyzer_trace_with_pretrigger() -> None:
    resource = _analyzer_resource()
    analyzer = PowerAnalyzer(resource, "analyzer")
    analyzer.arm_trace(1e-3, 4, pretrigger_points=1, trigger="CURRENT", level_a=0.0015)
    sent = [command.lstrip(":") for command in resource.sent]  # settings go as one compound message
    assert "SENSe:SWEep:OFFSet:POINts -1,(@1,2)" in sent
    assert "TRIGger:ACQuire:SOURce CURRent1,(@1,2)" in sent
    trace = analyzer.fetch_trace()
    np.testing.assert_allclose(trace.time_s, [-1e-3, 0.0, 1e-3, 2e-3])
    np.testing.assert_allclose(trace.current_a, [0.001, 0.002, 0.003, 0.004])
    assert trace.voltage_v is not None and trace.voltage_v[-1] == 4.0
    assert resource.timeout == 5000.0  # restored after the long fetch


def test_analyzer_refuses_level_trigger_without_level() -> None:
    with pytest.raises(ValueError, match="level_a"):
        PowerAnalyzer(_analyzer_resource(), "analyzer").arm_trace(1e-3, 4, trigger="CURRENT")


def test_analyzer_bad_trace_reply_named() -> None:
    resource = _analyzer_resource()
    resource.replies["FETCh:ARRay:CURRent? (@1)"] = "0.1,oops"
    analyzer = PowerAnalyzer(resource, "analyzer")
    analyzer.arm_trace(1e-3, 2)
    with pytest.raises(InstrumentResponseError, match="oops"):
        analyzer.fetch_trace(with_voltage=False)


def test_analyzer_over_range_reading_is_an_error() -> None:
    resource = _analyzer_resource()
    resource.replies["MEASure:CURRent? (@1)"] = "+9.91E+37"
    with pytest.raises(InstrumentResponseError, match="over range"):
        PowerAnalyzer(resource, "analyzer").measure_current_a()


def test_analyzer_sends_unchanged_trace_settings_once() -> None:
    resource = _analyzer_resource()
    analyzer = PowerAnalyzer(resource, "analyzer")
    analyzer.arm_trace(1e-3, 4, immediate=True)
    analyzer.fetch_trace()
    before = len(resource.sent)
    analyzer.arm_trace(1e-3, 4, immediate=True)
    again = [command.lstrip(":") for command in resource.sent[before:]]
    assert not any(command.startswith(("SENSe:SWEep", "TRIGger:ACQuire:SOURce")) for command in again)
    assert "INITiate:ACQuire (@1,2)" in again and "TRIGger:ACQuire (@1,2)" in again


def test_query_checks_errors_in_the_same_round_trip() -> None:
    resource = FakeResource(LOAD_IDN, {"RESistance?": "+1.000000E+03"})
    load = ResistanceLoad(resource, "load")
    before = len(resource.sent)
    assert load.query("RESistance?") == "+1.000000E+03"
    assert resource.sent[before:] == ["RESistance?", ":SYSTem:ERRor?"]  # one message, both parts
