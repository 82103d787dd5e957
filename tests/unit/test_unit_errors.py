"""Explicit unit errors for the virtual bench: the corners of the stated uncalibrated maxima and a JSON
description, with one-line errors naming the field for bad input."""

from __future__ import annotations

import json
from dataclasses import asdict

import pytest

from rig.bench.unit_errors import CORNER_COUNT, FULL_SCALE_MA, UnitErrors, UnitErrorsError
from rig.spec import load_spec

UNC = load_spec().uncalibrated


def test_every_corner_sits_at_the_stated_maxima() -> None:
    for index in range(CORNER_COUNT):
        errors = UnitErrors.corner(index)
        for p in (errors.pos, errors.neg):
            assert abs(p.output_gain) == pytest.approx(UNC.output_gain_pct / 100)
            assert abs(p.output_offset_ma) == pytest.approx(UNC.output_offset_ma)
            assert abs(p.reading_gain) == pytest.approx(UNC.reading_gain_pct / 100)
            assert abs(p.reading_offset_ma) == pytest.approx(UNC.reading_offset_ma)
            assert abs(p.output_bow_ma) == pytest.approx(UNC.bow_pct_of_full_scale / 100 * FULL_SCALE_MA)
            # output and reading err the same way: the combination that moves the unit's reading most
            signs = {p.output_gain > 0, p.output_offset_ma > 0, p.reading_gain > 0, p.reading_offset_ma > 0}
            assert len(signs) == 1


def test_the_corners_are_the_sixteen_sign_combinations() -> None:
    def signature(e: UnitErrors) -> tuple[bool, ...]:
        return (e.pos.output_gain > 0, e.pos.output_bow_ma > 0, e.neg.output_gain > 0, e.neg.output_bow_ma > 0)

    assert len({signature(UnitErrors.corner(i)) for i in range(CORNER_COUNT)}) == CORNER_COUNT
    assert UnitErrors.corner(0).pos.output_gain > 0 and UnitErrors.corner(1).pos.output_gain < 0


def test_parse_corner_and_json_round_trip() -> None:
    assert UnitErrors.parse("corner:5") == UnitErrors.corner(5)
    errors = UnitErrors.from_seed(4)
    assert UnitErrors.parse(json.dumps(asdict(errors))) == errors


@pytest.mark.parametrize(("text", "names"), [
    ("corner:16", "0..15"),
    ("corner:x", "corner index"),
    ("{", "JSON"),
    ("[1]", "object"),
    (json.dumps({**asdict(UnitErrors.corner(0)), "extra": 1}), "extra"),
    (json.dumps({k: v for k, v in asdict(UnitErrors.corner(0)).items() if k != "noise_ma_rms"}),
     "noise_ma_rms"),
    (json.dumps({**asdict(UnitErrors.corner(0)), "voltage_gain": "high"}), "voltage_gain"),
    (json.dumps({**asdict(UnitErrors.corner(0)), "pos": {"output_gain": 0.1}}), "pos"),
    (json.dumps({**asdict(UnitErrors.corner(0)),
                 "neg": {**asdict(UnitErrors.corner(0).neg), "reading_gain": None}}), "neg.reading_gain"),
])
def test_bad_descriptions_name_the_field(text: str, names: str) -> None:
    with pytest.raises(UnitErrorsError, match=names) as caught:
        UnitErrors.parse(text)
    assert "\n" not in str(caught.value)
