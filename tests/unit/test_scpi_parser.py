"""The SCPI engine: header patterns, parameters, compound messages, error queue."""

from __future__ import annotations

import pytest

from rig.bench.scpi import (
    ERROR_QUEUE_MAX,
    Call,
    ErrorQueue,
    Pattern,
    ScpiError,
    ScpiInstrument,
    parse_bool,
    parse_channels,
    parse_choice,
    parse_number,
    split_top_level,
)


@pytest.mark.parametrize(
    "header",
    ["RES", "res", "RESISTANCE", "SOUR:RES", "source:resistance:level:immediate:amplitude",
     "RES:LEV", "RES:AMPL", "SOURce:RESistance:IMM"],
)
def test_pattern_accepts_short_long_either_case_and_optional_nodes(header: str) -> None:
    pattern = Pattern("[SOURce:]RESistance[:LEVel][:IMMediate][:AMPLitude]")
    assert pattern.matches(header.split(":"))


@pytest.mark.parametrize("header", ["RESI", "RE", "SOUR", "RES:FOO", "LEV:RES", "RES:LEV:LEV"])
def test_pattern_rejects_other_forms(header: str) -> None:
    pattern = Pattern("[SOURce:]RESistance[:LEVel][:IMMediate][:AMPLitude]")
    assert not pattern.matches(header.split(":"))


def test_query_pattern_is_distinct() -> None:
    assert Pattern("MEASure[:SCALar]:CURRent[:DC]?").query
    assert not Pattern("OUTPut[:STATe]").query


def test_parameters() -> None:
    assert parse_number("1e-3") == 0.001
    assert parse_channels("(@1,2)") == (1, 2)
    assert parse_channels("(@1:3)") == (1, 2, 3)
    assert parse_bool("on") and not parse_bool("0")
    assert parse_choice("pos", ("POSitive", "NEGative")) == "POSITIVE"
    assert split_top_level('ON,(@1,2)', ",") == ["ON", "(@1,2)"]
    for bad, code in [(lambda: parse_number("abc"), -104), (lambda: parse_number("nan"), -104),
                      (lambda: parse_channels("(1,2)"), -102), (lambda: parse_bool("maybe"), -224),
                      (lambda: split_top_level("A (@1", ","), -102)]:
        with pytest.raises(ScpiError) as info:
            bad()
        assert info.value.code == code


def test_error_queue_is_fifo_and_overflows_to_350() -> None:
    queue = ErrorQueue()
    assert queue.pop() == '+0,"No error"'
    for _ in range(ERROR_QUEUE_MAX + 5):
        queue.push(-222)
    assert len(queue) == ERROR_QUEUE_MAX
    popped = [queue.pop() for _ in range(ERROR_QUEUE_MAX)]
    assert popped[0] == '-222,"Data out of range"'
    assert popped[-1] == '-350,"Queue overflow"'
    assert queue.pop() == '+0,"No error"'


class Toy(ScpiInstrument):
    def __init__(self) -> None:
        super().__init__("ACME,TOY,1,1.0")
        self.level = 0.0
        self.seen: list[Call] = []
        self.add("[SOURce:]VOLTage[:LEVel]", self._set)
        self.add("[SOURce:]VOLTage[:LEVel]?", lambda call: f"{self.level:g}")
        self.add("[SOURce:]CURRent[:LEVel]?", lambda call: "0.5")
        self.add("OUTPut[:STATe]", lambda call: self.seen.append(call))

    def _set(self, call: Call) -> None:
        value = parse_number(call.arg(0))
        if value > 10:
            raise ScpiError(-222)
        self.level = value

    def reset(self) -> None:
        self.level = 0.0


def test_common_commands_and_error_reporting() -> None:
    toy = Toy()
    assert toy.execute("*idn?") == "ACME,TOY,1,1.0"
    assert toy.execute("VOLT 3") is None and toy.level == 3.0
    assert toy.execute("VOLT 30") is None and toy.level == 3.0
    assert toy.execute("FOO:BAR 1") is None
    assert toy.execute("VOLT abc") is None
    assert toy.execute("*ESR?") == str(32 | 16)
    assert toy.execute("SYST:ERR?") == '-222,"Data out of range"'
    assert toy.execute("SYSTEM:ERROR:NEXT?") == '-113,"Undefined header; FOO:BAR"'
    assert toy.execute("SYST:ERR?") == '-104,"Data type error; not a number: abc"'
    assert toy.execute("SYST:ERR?") == '+0,"No error"'
    assert toy.execute("*RST;*OPC?") == "1" and toy.level == 0.0
    assert toy.execute("VOLT") is None
    assert toy.execute("SYST:ERR?") == '-109,"Missing parameter; VOLT"'


def test_compound_messages_share_the_header_path() -> None:
    toy = Toy()
    assert toy.execute("SOUR:VOLT 2;:VOLT?") == "2"
    assert toy.execute("SOUR:VOLT 4;CURR?") == "0.5"  # continues under SOURce:
    assert toy.execute("VOLT 5;VOLT?;*IDN?") == "5;ACME,TOY,1,1.0"
    assert toy.execute("SYST:ERR?") == '+0,"No error"'


def test_channel_lists_are_split_from_arguments() -> None:
    toy = Toy()
    toy.execute("OUTP ON,(@1,2)")
    assert toy.seen[-1].args == ("ON",) and toy.seen[-1].channels == (1, 2)


@pytest.mark.parametrize("garbage", ["", ";;;", "(((", '"open', "VOLT 1,,2", "::", "*", "?"])
def test_garbage_never_raises(garbage: str) -> None:
    toy = Toy()
    toy.execute(garbage)
    assert toy.execute("*IDN?") == "ACME,TOY,1,1.0"
