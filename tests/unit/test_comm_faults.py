"""The comm fault set as data: parsing, the seeded dice, corruption that always breaks the CRC."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rig.bench.comm_faults import COMM_FAULTS, CommFaultError, FaultDice, parse_comm_fault, parse_comm_faults
from rig.bench.control import BenchControl
from rig.dut.framing import FrameError, decode_frame, encode_frame


def test_every_fault_has_a_place_and_a_meaning():
    assert {f.where for f in COMM_FAULTS.values()} == {"serial", "scpi"}
    assert all(f.meaning and 0 < f.default_rate < 1 for f in COMM_FAULTS.values())


def test_parse_name_and_rate():
    assert parse_comm_fault("drop_reply:0.25").rate == 0.25
    assert parse_comm_fault("reboot").rate == COMM_FAULTS["reboot"].default_rate
    assert parse_comm_faults(["scpi_drop:1", "over_range:0"]) == {"scpi_drop": 1.0, "over_range": 0.0}


@pytest.mark.parametrize("spec, words", [("nope", "unknown comm fault 'nope'"), ("drop_reply:x", "not a number"),
                                         ("drop_reply:1.5", "between 0 and 1")])
def test_bad_specs_are_named(spec, words):
    with pytest.raises(CommFaultError, match=words):
        parse_comm_fault(spec)


def test_dice_are_seeded_and_count():
    one, two = FaultDice({"drop_reply": 0.3}, seed=5), FaultDice({"drop_reply": 0.3}, seed=5)
    rolls = [one.strikes("drop_reply") for _ in range(200)]
    assert rolls == [two.strikes("drop_reply") for _ in range(200)]
    assert one.counts["drop_reply"] == sum(rolls) and 30 < sum(rolls) < 90
    assert not any(one.strikes("reboot") for _ in range(100))  # not switched on


def test_configure_switches_off():
    dice = FaultDice({"scpi_close": 1.0})
    assert dice.strikes("scpi_close")
    dice.configure({})
    assert not dice.strikes("scpi_close")


@given(st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126, blacklist_characters="*"),
               min_size=1, max_size=60), st.integers(0, 2**32))
def test_corruption_always_breaks_the_frame(body, seed):
    frame = encode_frame(body)
    damaged = FaultDice(seed=seed).corrupt(frame)
    assert damaged != frame and damaged.endswith(b"\n") and damaged.count(b"\n") == 1
    with pytest.raises(FrameError):
        decode_frame(damaged.rstrip(b"\n"))


def test_control_names_bad_requests():
    control = BenchControl([])
    assert control.answer("FLY 1").startswith("ERR unknown request")
    assert control.answer("STATUS 9").startswith("ERR expected a slot number")
    assert control.answer("").startswith("ERR")
