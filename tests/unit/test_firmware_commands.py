"""Every request of dut-protocol.md section 4: OK paths, ERR codes, framing, and a fuzz property."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_firmware_harness import KEY, SPEC, Unit

from rig.dut.framing import encode_frame


@pytest.fixture
def unit() -> Unit:
    return Unit()


# ----- framing
def test_id_example_from_the_protocol(unit: Unit) -> None:
    assert unit.send_raw(b"ID?*4914") == ["OK IONTO,IX-30,SN000123,2.4.1,C"]
    assert unit.frames == []


def test_cr_lf_is_accepted_and_empty_lines_are_ignored(unit: Unit) -> None:
    assert unit.send_raw(b"ID?*4914\r") == ["OK IONTO,IX-30,SN000123,2.4.1,C"]
    assert unit.send_raw(b"") == []
    assert unit.send_raw(b"\r") == []


@pytest.mark.parametrize(
    "line", [b"SET 5.0*0000", b"SET 5.0", b"SET 5.0*", b"SET 5.0*zzzz", b"\xff\xfe\x00", b"@@@"]
)
def test_bad_or_missing_crc_is_err_2_and_not_executed(unit: Unit, line: bytes) -> None:
    assert unit.send_raw(line) == ["ERR 2 CRC"]
    assert unit.ok("SET?") == "0.0"


def test_lower_case_crc_is_not_a_valid_frame(unit: Unit) -> None:
    assert unit.send_raw(b"SET 10.0*64a7") == ["ERR 2 CRC"]
    assert unit.ok("SET?") == "0.0"


def test_over_long_line_is_err_1(unit: Unit) -> None:
    assert unit.send_raw(b"A" * 300) == ["ERR 1 SYNTAX"]


@pytest.mark.parametrize("body", ["", "FOO", "ID? extra", "SET", "STATE? 1", "START now"])
def test_unknown_or_malformed_is_err_1(unit: Unit, body: str) -> None:
    assert unit.ask(body) == "ERR 1 SYNTAX"


# ----- settings
@pytest.mark.parametrize(
    ("body", "reply", "readback"),
    [
        ("SET 10.0", "OK", "10.0"),
        ("SET 10.04", "OK", "10.0"),
        ("SET 0.26", "OK", "0.3"),
        ("SET 30", "OK", "30.0"),
        ("SET 30.1", "ERR 3 RANGE", "0.0"),
        ("SET -1.0", "ERR 3 RANGE", "0.0"),
        ("SET abc", "ERR 1 SYNTAX", "0.0"),
        ("SET 1e1", "ERR 1 SYNTAX", "0.0"),
        ("SET nan", "ERR 1 SYNTAX", "0.0"),
    ],
)
def test_set(unit: Unit, body: str, reply: str, readback: str) -> None:
    assert unit.ask(body) == reply
    assert unit.ok("SET?") == readback


def test_mode(unit: Unit) -> None:
    assert unit.ok("MODE?") == "DC"
    unit.ok("MODE PULSED 1000 50")
    assert unit.ok("MODE?") == "PULSED 1000.0 50.0"
    assert unit.ask("MODE PULSED 50 50") == "ERR 3 RANGE"
    assert unit.ask("MODE PULSED 1000 95") == "ERR 3 RANGE"
    assert unit.ask("MODE PULSED 1000") == "ERR 1 SYNTAX"
    assert unit.ask("MODE SINE") == "ERR 1 SYNTAX"
    assert unit.ok("MODE?") == "PULSED 1000.0 50.0"
    unit.ok("MODE DC")
    assert unit.ok("MODE?") == "DC"


def test_polarity_only_in_idle(unit: Unit) -> None:
    unit.ok("POL NEG")
    assert unit.ok("POL?") == "NEG"
    assert unit.ask("POL UP") == "ERR 1 SYNTAX"
    unit.ok("SET 1.0")
    unit.ok("START")
    assert unit.ask("POL POS") == "ERR 4 STATE"
    assert unit.ok("POL?") == "NEG"


@pytest.mark.parametrize(
    ("body", "reply"),
    [
        ("RAMP 5.0", "OK"), ("RAMP 0.1", "OK"), ("RAMP 0.05", "ERR 3 RANGE"),
        ("RAMP 5.1", "ERR 3 RANGE"), ("RAMP x", "ERR 1 SYNTAX"),
        ("TIMER 10", "OK"), ("TIMER 3600", "OK"), ("TIMER 9.9", "ERR 3 RANGE"),
        ("TIMER 3601", "ERR 3 RANGE"),
        ("WDOG 0", "OK"), ("WDOG 0.5", "OK"), ("WDOG 60", "OK"), ("WDOG 0.4", "ERR 3 RANGE"),
        ("WDOG 61", "ERR 3 RANGE"), ("WDOG -1", "ERR 3 RANGE"),
    ],
)
def test_rate_timer_watchdog_ranges(unit: Unit, body: str, reply: str) -> None:
    assert unit.ask(body) == reply


def test_queries_read_back(unit: Unit) -> None:
    assert unit.ok("RAMP?") == f"{SPEC.ramp.rate_default_ma_per_s:.1f}"
    assert unit.ok("WDOG?") == "0.0"
    unit.ok("RAMP 2.5")
    unit.ok("TIMER 120")
    unit.ok("WDOG 1.5")
    assert (unit.ok("RAMP?"), unit.ok("TIMER?"), unit.ok("WDOG?")) == ("2.5", "120.0", "1.5")


# ----- session and test mode
def test_start_stop_states(unit: Unit) -> None:
    unit.ok("SET 1.0")
    unit.ok("START")
    assert unit.ok("STATE?") == "RAMP_UP 0"
    assert unit.ask("START") == "ERR 4 STATE"
    unit.ok("STOP")
    assert unit.ok("STATE?") == "RAMP_DOWN 0"
    assert unit.events == ["!STATE RAMP_UP", "!STATE RAMP_DOWN"]


def test_stop_in_idle_is_harmless(unit: Unit) -> None:
    unit.ok("STOP")
    assert unit.ok("STATE?") == "IDLE 0"
    assert unit.ok("FAULT?") == "0 NONE"
    unit.ok("CLEAR")


@pytest.mark.parametrize(
    "body", ["TEST:DAC 100", "TEST:ADC?", "TEST:RAMP 100", "TEST:INJECT RUNAWAY"]
)
def test_test_commands_need_test_mode(unit: Unit, body: str) -> None:
    assert unit.ask(body) == "ERR 4 STATE"
    assert unit.fw.dac_code == 0


def test_test_mode(unit: Unit) -> None:
    unit.ok("TEST ON")
    assert unit.ok("STATE?") == "TEST 0"
    assert unit.ask("TEST:DAC 4096") == "ERR 3 RANGE"
    assert unit.ask("TEST:DAC -1") == "ERR 3 RANGE"
    assert unit.ask("TEST:DAC 1.5") == "ERR 1 SYNTAX"
    assert unit.ask("TEST:RAMP 1001") == "ERR 3 RANGE"
    assert unit.ask("TEST:INJECT FIRE") == "ERR 1 SYNTAX"
    unit.ok("TEST:DAC 1200")
    assert unit.fw.dac_code == 1200
    unit.run(0.03)
    i_code, v_code = (int(x) for x in unit.ok("TEST:ADC?").split())
    assert 1100 < i_code < 1350  # 10 mA nominal within the uncalibrated errors
    assert v_code > 0
    unit.ok("TEST:RAMP 1000")
    assert unit.ok("RAMP?") == "1000.0"
    unit.ok("TEST OFF")
    assert unit.fw.dac_code == 0
    assert unit.ok("STATE?") == "IDLE 0"
    assert unit.ok("RAMP?") == f"{SPEC.ramp.rate_default_ma_per_s:.1f}"


def test_test_on_only_from_idle(unit: Unit) -> None:
    unit.ok("SET 1.0")
    unit.ok("START")
    assert unit.ask("TEST ON") == "ERR 4 STATE"


def test_meas_format(unit: Unit) -> None:
    assert re.fullmatch(r"-?\d+\.\d+ -?\d+\.\d+ [01]", unit.ok("MEAS?"))


# ----- calibration
NOMINAL_CAL = "POS 120.0 0.0 0.0083 0.0; NEG 120.0 0.0 0.0083 0.0; 0.0161 0.0 none"


def test_cal_query_nominal(unit: Unit) -> None:
    assert unit.ok("CAL?") == NOMINAL_CAL


def test_cal_writes_need_unlock(unit: Unit) -> None:
    for body in ["CAL:DAC POS 121 1", "CAL:ADC NEG 0.008 0", "CAL:VADC 0.016 0",
                 "CAL:SAVE 2024-05-01"]:
        assert unit.ask(body) == "ERR 5 LOCKED"
    assert unit.ok("CAL?") == NOMINAL_CAL


def test_three_wrong_keys_lock_until_reset(unit: Unit) -> None:
    for _ in range(3):
        assert unit.ask("CAL:UNLOCK wrong") == "ERR 5 LOCKED"
    assert unit.ask(f"CAL:UNLOCK {KEY}") == "ERR 5 LOCKED"
    assert unit.send_raw(encode_frame("RESET")[:-1]) == []
    unit.run(0.6)
    assert unit.events[-1] == "!BOOT 2.4.1"
    unit.ok(f"CAL:UNLOCK {KEY}")


def test_cal_bounds_refused_and_change_nothing(unit: Unit) -> None:
    unit.ok(f"CAL:UNLOCK {KEY}")
    for body in ["CAL:DAC POS 99 0", "CAL:DAC NEG 120 201", "CAL:ADC POS 0.011 0",
                 "CAL:ADC POS 0.008 1.5", "CAL:VADC 0.021 0", "CAL:VADC 0.016 -2.5"]:
        assert unit.ask(body) == "ERR 3 RANGE", body
    assert unit.ask("CAL:DAC BOTH 120 0") == "ERR 1 SYNTAX"
    assert unit.ask("CAL:DAC POS 120") == "ERR 1 SYNTAX"
    assert unit.ok("CAL?") == NOMINAL_CAL


def test_cal_write_save_reset(unit: Unit) -> None:
    unit.ok(f"CAL:UNLOCK {KEY}")
    unit.ok("CAL:DAC POS 123.25 -4.5")
    unit.ok("CAL:ADC NEG 0.00812345 0.0125")
    unit.ok("CAL:VADC 0.0163 -0.1")
    assert unit.ask("CAL:SAVE 2024-02-30") == "ERR 3 RANGE"
    assert unit.ask("CAL:SAVE 2024-2-3") == "ERR 1 SYNTAX"
    unit.ok("CAL:SAVE 2024-05-01")
    saved = "POS 123.25 -4.5 0.0083 0.0; NEG 120.0 0.0 0.00812345 0.0125; 0.0163 -0.1 2024-05-01"
    assert unit.ok("CAL?") == saved
    unit.ok("CAL:DAC NEG 140 10")  # not saved: lost on RESET
    unit.ok("CAL:LOCK")
    assert unit.ask("CAL:DAC NEG 141 10") == "ERR 5 LOCKED"
    unit.send_raw(encode_frame("RESET")[:-1])
    unit.run(0.6)
    assert unit.ok("CAL?") == saved
    assert unit.ask("CAL:DAC NEG 141 10") == "ERR 5 LOCKED"  # unlock does not survive a reboot


def test_save_not_persisted_fault_answers_ok_and_loses_the_calibration_on_reset() -> None:
    unit = Unit(faults=frozenset({"save_not_persisted"}))
    before = unit.ok("CAL?")
    unit.ok(f"CAL:UNLOCK {KEY}")
    unit.ok("CAL:DAC POS 123.25 -4.5")
    unit.ok("CAL:SAVE 2024-05-01")
    assert unit.ok("CAL?").endswith("2024-05-01")  # in use until the reboot, as if saved
    unit.send_raw(encode_frame("RESET")[:-1])
    unit.run(0.6)
    assert unit.events[-1] == "!BOOT 2.4.1"
    assert unit.ok("CAL?") == before


def test_dac_code_uses_the_calibration(unit: Unit) -> None:
    unit.ok(f"CAL:UNLOCK {KEY}")
    unit.ok("CAL:DAC POS 125.0 7.0")
    unit.start_fast(10.0)
    assert unit.fw.dac_code == round(125.0 * 10.0 + 7.0)


# ----- property: garbage never crashes the firmware and gets exactly one framed answer
@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_any_line_gets_exactly_one_framed_reply(line: bytes) -> None:
    unit = FUZZ_UNIT
    unit.fw.receive_line(line)
    frames = list(unit.frames)
    unit.frames.clear()
    stripped = line.rstrip(b"\r\n")
    if not stripped:
        assert frames == []
        return
    replies = [f for f in frames if not f.startswith(b"!")]
    assert len(replies) == 1
    assert re.fullmatch(rb"(OK|ERR \d)[ -~]*\*[0-9A-F]{4}\n", replies[0])


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["SET", "MODE", "POL", "RAMP", "TIMER", "WDOG", "TEST", "CAL:DAC", "TEST:DAC",
                        "CAL:UNLOCK", "CAL:SAVE", "MODE PULSED"]),
       st.lists(st.text(alphabet="0123456789.-+ eE abcPOSNEG", max_size=8), max_size=3))
def test_valid_frames_with_odd_arguments_get_one_reply(command: str, args: list[str]) -> None:
    unit = FUZZ_UNIT
    unit.fw.receive_line(encode_frame(" ".join([command, *args]).strip())[:-1])
    replies = [f for f in unit.frames if not f.startswith(b"!")]
    unit.frames.clear()
    assert len(replies) == 1


FUZZ_UNIT = Unit()
