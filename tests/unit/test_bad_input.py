"""Bad input is refused with a typed error naming the file and the field, never a KeyError,
IndexError or TypeError traceback: property-based over the station, spec, calibration-table, CAL?
and SCPI-reply parsers (hypothesis mutates valid documents: removed fields, wrong types, junk)."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rig.dut.calibration import parse_cal_payload
from rig.instruments.scpi import parse_error_reply, parse_identity
from rig.records.cal_table import CalibrationTableError, read_table
from rig.spec import SpecError, load_spec, parse_spec
from rig.station import StationError, parse_station

SPEC_TEXT = (Path(__file__).parents[2] / "rig" / "specs" / "ix30.toml").read_text(encoding="utf-8")
STATION = {
    "name": "LINE1-ST03", "unlock_keys": "env:KEYS",
    "instruments": [
        {"id": "pa1", "model": "N6705C", "serial": "MY1", "resource": "TCPIP::h::5025::SOCKET", "certificate": "C1"},
        {"id": "load1", "model": "RDEC-1M", "serial": "RD1", "resource": "TCPIP::h::5026::SOCKET", "certificate": "C2"},
    ],
    "slots": [{"slot": 1, "dut": "/dev/ttyACM0", "ammeter": {"instrument": "pa1", "channel": 1},
               "voltmeter": {"instrument": "pa1", "channel": 2}, "load": {"instrument": "load1"}}],
}
JUNK = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=8),
                 st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))
CAL_OK = "POS 120.0 0 0.0083 0 ; NEG 120.0 0 0.0083 0 ; 0.0161 0 2026-01-02"


def _paths(value, prefix=()):
    """Every (path) into nested dicts and lists."""
    if isinstance(value, dict):
        for key, inner in value.items():
            yield (*prefix, key)
            yield from _paths(inner, (*prefix, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield (*prefix, index)
            yield from _paths(inner, (*prefix, index))


def _mutate(document, path, junk, remove):
    copy = json.loads(json.dumps(document, default=str))
    parent = copy
    for part in path[:-1]:
        parent = parent[part]
    if remove:
        del parent[path[-1]]
    else:
        parent[path[-1]] = junk
    return copy


@given(st.sampled_from(list(_paths(STATION))), JUNK, st.booleans())
def test_station_mutations_are_refused_or_accepted_never_crash(path, junk, remove):
    document = _mutate(STATION, path, junk, remove)
    try:
        parse_station(document, "st.toml")
    except StationError as exc:
        assert "st.toml" in str(exc)


SPEC = tomllib.loads(SPEC_TEXT)


def _toml(value) -> str:
    if isinstance(value, dict):
        raise TypeError
    return json.dumps(value)


def _dump(document: dict) -> str:
    """A small TOML writer for the spec's shape: tables of scalars and arrays."""
    lines = [f"{k} = {_toml(v)}" for k, v in document.items() if not isinstance(v, dict)]
    for name, table in document.items():
        if isinstance(table, dict):
            lines.append(f"[{name}]")
            lines += [f"{k} = {_toml(v)}" for k, v in table.items() if v is not None]
    return "\n".join(lines)


@settings(suppress_health_check=[HealthCheck.too_slow], max_examples=60)
@given(st.sampled_from([p for p in _paths(SPEC) if len(p) == 2]),
       st.one_of(st.text(max_size=6), st.integers(-5, 5), st.floats(allow_nan=False, allow_infinity=False)),
       st.booleans())
def test_spec_mutations_name_the_field(path, junk, remove):
    text = _dump(_mutate(SPEC, path, junk, remove))
    try:
        parse_spec(text, "bad.toml")
    except SpecError as exc:
        assert "bad.toml" in str(exc)
        assert path[0] in str(exc) or "TOML" in str(exc)


@given(st.text(max_size=200))
def test_spec_junk_text_is_a_spec_error(text):
    try:
        parse_spec(text, "junk.toml")
    except SpecError as exc:
        assert "junk.toml" in str(exc)


@given(st.one_of(st.text(max_size=80), st.sampled_from([CAL_OK[:n] for n in range(len(CAL_OK))]),
                 st.builds(lambda a, b: CAL_OK.replace(a, b),
                           st.sampled_from(["120.0", "POS", ";", "2026-01-02", " 0 "]), st.text(max_size=5))))
def test_cal_payload_defects_are_value_errors_naming_the_part(payload):
    try:
        parse_cal_payload(payload)
    except ValueError as exc:
        assert "CAL?" in str(exc)


@given(st.text(max_size=60))
def test_scpi_reply_parsers_never_raise(reply):
    entry = parse_error_reply(reply)
    assert entry is None or isinstance(entry[0], int)
    identity = parse_identity(reply)
    assert identity is None or reply.count(",") == 3


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=40)
@given(st.sampled_from(["format", "serial", "coefficients", "sha256"]), JUNK, st.booleans())
def test_calibration_table_defects_name_the_file(tmp_path, key, junk, remove):
    document = {"format": "ix30-cal-table/1", "serial": "SN1", "coefficients": {}, "sha256": "x"}
    if remove:
        document.pop(key)
    else:
        document[key] = junk
    path = tmp_path / "t.json"
    path.write_text(json.dumps(document))
    try:
        read_table(path, load_spec())
    except CalibrationTableError as exc:
        assert str(path) in str(exc)
    else:
        raise AssertionError("a table with a wrong digest was accepted")


def test_truncated_table_is_named(tmp_path):
    path = tmp_path / "t.json"
    path.write_text('{"format": "ix30')
    try:
        read_table(path, load_spec())
    except CalibrationTableError as exc:
        assert str(path) in str(exc) and "not valid JSON" in str(exc)
