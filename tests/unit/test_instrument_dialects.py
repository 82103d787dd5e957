"""The drivers against instruments that take no more than instruments.md lists: no compound messages,
no FORMat. Negotiated once, said once, the error queue left empty, no command sent twice."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from test_instruments import ANALYZER_IDN, LOAD_IDN, FakeResource, _AcceptAll, _last_interval_set

from rig.instruments.analyzer import PowerAnalyzer
from rig.instruments.errors import ScpiError
from rig.instruments.load import ResistanceLoad

ARRAYS = {
    "MEASure:CURRent? (@1)": "0.0100002",
    "FETCh:ARRay:CURRent? (@1)": "0.001,0.002,0.003,0.004",
    "FETCh:ARRay:VOLTage? (@2)": "1.0,2.0,3.0,4.0",
}


def _analyzer_resource(**dialect) -> FakeResource:
    resource = FakeResource(ANALYZER_IDN, **dialect)
    resource.replies = _AcceptAll(resource.replies, {
        **ARRAYS, "SENSe:SWEep:TINTerval? (@1)": lambda: _last_interval_set(resource)})
    return resource


def _fallbacks(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name.startswith("rig.instruments") and "falls back" in r.getMessage()]


def test_instrument_taking_compound_messages_keeps_them(caplog) -> None:
    caplog.set_level(logging.INFO)
    resource = FakeResource(LOAD_IDN, {"RESistance 2000": None, "INPut ON": None})
    load = ResistanceLoad(resource, "load")
    assert load.compound_messages and _fallbacks(caplog) == []
    load.set_resistance_ohm(2000)
    assert resource.messages[-1] == "RESistance 2000;:INPut ON;*OPC?;:SYSTem:ERRor?"  # one round trip


def test_load_without_compound_messages_sends_one_command_per_message(caplog) -> None:
    caplog.set_level(logging.INFO)
    resource = FakeResource(LOAD_IDN, {"RESistance 2000": None, "INPut ON": None, "RESistance?": "+2.0E+03"},
                            compound=False)
    load = ResistanceLoad(resource, "load")
    assert not load.compound_messages
    [fallback] = _fallbacks(caplog)
    assert fallback.levelno == logging.INFO and "one command per message" in fallback.getMessage()
    assert resource.queue == []  # the refused probe's -113 is not left behind
    first = len(resource.messages)
    load.set_resistance_ohm(2000)
    assert load.query("RESistance?") == "+2.0E+03"
    assert load.query_float("RESistance?") == 2000.0
    after = resource.messages[first:]
    assert all(";" not in message for message in after), after
    assert after.count("RESistance 2000") == 1 and after[:3] == ["RESistance 2000", "INPut ON", "SYSTem:ERRor?"]
    assert resource.queue == [] and resource.outbox == b""  # every reply read by the one who asked
    assert len(_fallbacks(caplog)) == 1


def test_errors_are_still_named_one_command_per_message() -> None:
    resource = FakeResource(LOAD_IDN, compound=False)
    load = ResistanceLoad(resource, "load")
    with pytest.raises(ScpiError) as caught:
        load.write("BOGus:COMMand 1")
    assert (caught.value.command, caught.value.code) == ("BOGus:COMMand 1", -113)
    with pytest.raises(ScpiError, match="BOGus"):
        load.query("BOGus?")  # no reply: the queued error is named, not the silence
    assert resource.queue == [] and resource.outbox == b""


def test_analyzer_without_format_falls_back_to_ascii_arrays(caplog) -> None:
    caplog.set_level(logging.INFO)
    resource = _analyzer_resource(refused=("FORMat",))
    analyzer = PowerAnalyzer(resource, "analyzer")
    analyzer.configure_roles()
    analyzer.configure_roles()  # a second time: FORMat is not tried again
    assert sum(c.lstrip(":").startswith("FORMat:DATA REAL") for c in resource.sent) == 1
    [fallback] = _fallbacks(caplog)
    assert fallback.levelno == logging.INFO and "FORMat" in fallback.getMessage()
    assert resource.queue == []
    analyzer.arm_trace(1e-3, 4, immediate=True)
    trace = analyzer.fetch_trace()
    np.testing.assert_array_equal(trace.current_a, [0.001, 0.002, 0.003, 0.004])  # ASCII: exact
    np.testing.assert_array_equal(trace.voltage_v, [1.0, 2.0, 3.0, 4.0])
    assert resource.queue == [] and resource.outbox == b""


def test_analyzer_with_format_reads_binary_blocks() -> None:
    resource = _analyzer_resource()
    analyzer = PowerAnalyzer(resource, "analyzer")
    analyzer.configure_roles()
    assert resource.binary
    analyzer.arm_trace(1e-3, 4, immediate=True)
    np.testing.assert_allclose(analyzer.fetch_trace().current_a, [0.001, 0.002, 0.003, 0.004], rtol=1e-6)


def test_analyzer_with_neither_works_and_says_each_once(caplog) -> None:
    caplog.set_level(logging.INFO)
    resource = _analyzer_resource(compound=False, refused=("FORMat",))
    analyzer = PowerAnalyzer(resource, "analyzer")
    first = len(resource.messages)
    analyzer.configure_roles()
    analyzer.set_integration(20.48e-6, 1024)
    assert analyzer.measure_current_a() == pytest.approx(0.0100002)
    analyzer.arm_trace(1e-3, 4, pretrigger_points=1, trigger="CURRENT", level_a=0.0015)
    trace = analyzer.fetch_trace()
    np.testing.assert_array_equal(trace.current_a, [0.001, 0.002, 0.003, 0.004])
    assert all(";" not in message for message in resource.messages[first:])
    assert sorted("FORMat" in r.getMessage() for r in _fallbacks(caplog)) == [False, True]
    assert resource.queue == [] and resource.outbox == b""


def test_other_errors_than_command_errors_are_not_a_fallback() -> None:
    resource = _analyzer_resource()
    resource.replies = _AcceptAll(resource.replies, {**ARRAYS, "FORMat:DATA REAL,32": None})
    analyzer = PowerAnalyzer(resource, "analyzer")
    analyzer.write("OUTPut ON,(@1,2)")
    resource.queue.append('-221,"Settings conflict"')  # not "I don't know FORMat": the run must hear it
    with pytest.raises(ScpiError) as caught:
        analyzer._negotiate_binary_arrays()
    assert caught.value.code == -221
