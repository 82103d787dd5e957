"""The CAL? payload parser and the coefficient format the rig writes back."""

from __future__ import annotations

import datetime
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rig.dut.calibration import (
    PolarityCalibration,
    UnitCalibration,
    format_coefficient,
    parse_cal_payload,
)

NOMINAL = "POS 120.0 0 0.0083 0 ; NEG 120.0 0 0.0083 0 ; 0.0161 0 none"
ROUND_TRIP_REL = 1e-7
coefficient = st.floats(min_value=-1e4, max_value=1e4, allow_nan=False, allow_infinity=False)
space = st.text(" ", max_size=3)
no_date = st.sampled_from(["none", "-", "NONE", "never", "0000-00-00x", ""])


def test_nominal_payload() -> None:
    cal = parse_cal_payload(NOMINAL)
    assert cal.pos == cal.neg == PolarityCalibration(120.0, 0.0, 0.0083, 0.0)
    assert (cal.v_gain, cal.v_offset, cal.date) == (0.0161, 0.0, None)
    assert cal.polarity("neg") is cal.neg


def test_saved_date_and_polarity_order() -> None:
    cal = parse_cal_payload("NEG 119 1 0.008 0.1;POS 121 -1 0.0085 -0.1;0.016 0.5 2024-02-29")
    assert cal.pos.dac_gain == 121 and cal.neg.dac_gain == 119
    assert cal.date == datetime.date(2024, 2, 29)


@pytest.mark.parametrize(
    ("payload", "named"),
    [
        ("POS 120 0 0.0083 0 ; NEG 120 0 0.0083 0", "three"),
        ("POS 120 0 0.0083 ; NEG 120 0 0.0083 0 ; 0.0161 0 none", "POS 120 0 0.0083"),
        ("POS 120 0 x 0 ; NEG 120 0 0.0083 0 ; 0.0161 0 none", "'x'"),
        ("POS 120 0 0.0083 0 ; POS 120 0 0.0083 0 ; 0.0161 0 none", "one POS and one NEG"),
        ("ZAP 120 0 0.0083 0 ; NEG 120 0 0.0083 0 ; 0.0161 0 none", "ZAP"),
        ("POS 120 0 0.0083 0 ; NEG 120 0 0.0083 0 ; 0.0161 nan none", "finite"),
        ("POS 120 0 0.0083 0 ; NEG 120 0 0.0083 0 ; 0.0161 0 2024-13-01", "2024-13-01"),
        ("POS 120 0 0.0083 0 ; NEG 120 0 0.0083 0 ; 0.0161 0 none extra", "v_gain v_offset"),
    ],
)
def test_malformed_payload_named(payload: str, named: str) -> None:
    with pytest.raises(ValueError, match=named):
        parse_cal_payload(payload)


def test_polarity_lookup_refuses_unknown() -> None:
    with pytest.raises(ValueError):
        parse_cal_payload(NOMINAL).polarity("AC")


@pytest.mark.parametrize(
    ("value", "text"),
    [(120.0, "120"), (0.0, "0"), (-0.0, "0"), (3e-6, "0.000003"), (0.0083, "0.0083"),
     (123.456789123, "123.45679"), (-1.23456789e-5, "-0.000012345679")],
)
def test_format_coefficient(value: float, text: str) -> None:
    assert format_coefficient(value) == text


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_format_refuses_non_finite(value: float) -> None:
    with pytest.raises(ValueError):
        format_coefficient(value)


@settings(deadline=None)  # a shared, noisy machine: no timing in verdicts
@given(coefficient)
def test_format_round_trips_to_8_digits(value: float) -> None:
    text = format_coefficient(value)
    assert "e" not in text.lower()
    assert math.isclose(float(text), value, rel_tol=ROUND_TRIP_REL, abs_tol=1e-300)


@settings(deadline=None)  # a shared, noisy machine: no timing in verdicts
@given(
    st.lists(coefficient, min_size=10, max_size=10),
    st.one_of(st.dates(), no_date),
    st.lists(space, min_size=6, max_size=6),
    st.booleans(),
)
def test_any_formatted_payload_parses_back(values, date, gaps, neg_first) -> None:
    c = [format_coefficient(v) for v in values]
    pos = f"POS {c[0]} {c[1]} {c[2]} {c[3]}"
    neg = f"NEG {c[4]} {c[5]} {c[6]} {c[7]}"
    first, second = (neg, pos) if neg_first else (pos, neg)
    date_token = date.isoformat() if isinstance(date, datetime.date) else date
    payload = (f"{gaps[0]}{first}{gaps[1]};{gaps[2]}{second}{gaps[3]};"
               f"{gaps[4]}{c[8]} {c[9]} {date_token}{gaps[5]}")
    cal = parse_cal_payload(payload)
    numbers = [float(x) for x in c]
    assert cal == UnitCalibration(
        pos=PolarityCalibration(*numbers[0:4]),
        neg=PolarityCalibration(*numbers[4:8]),
        v_gain=numbers[8],
        v_offset=numbers[9],
        date=date if isinstance(date, datetime.date) else None,
    )
