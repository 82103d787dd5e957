"""The emulated analyzer's dialect options: an analyzer without FORMat, one without compound messages."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from rig.bench import launcher
from rig.bench.analyzer import AnalyzerDialect, PowerAnalyzer
from rig.bench.physics import SlotCircuit, UnitErrors
from rig.spec import load_spec

UNDEFINED_HEADER = "-113"


def _analyzer(dialect: AnalyzerDialect) -> Iterator[PowerAnalyzer]:
    circuit = SlotCircuit(UnitErrors.from_seed(1), 1, v_max_v=load_spec().compliance.v_max_nominal_v)
    analyzer = PowerAnalyzer(circuit, "MY00000001", 5, dialect=dialect)
    try:
        yield analyzer
    finally:
        analyzer.close()


@pytest.fixture
def plain() -> Iterator[PowerAnalyzer]:
    yield from _analyzer(AnalyzerDialect())


@pytest.fixture
def no_format() -> Iterator[PowerAnalyzer]:
    yield from _analyzer(AnalyzerDialect(format_commands=False))


@pytest.fixture
def no_compound() -> Iterator[PowerAnalyzer]:
    yield from _analyzer(AnalyzerDialect(compound_messages=False))


def test_default_analyzer_takes_format_and_compound_messages(plain: PowerAnalyzer) -> None:
    assert plain.execute("FORMat:DATA REAL,32;:FORMat:BORDer SWAPped;:FORMat:DATA?") == "REAL,32"
    assert plain.execute("SYSTem:ERRor?").startswith("+0")


def test_analyzer_without_format_answers_undefined_header(no_format: PowerAnalyzer) -> None:
    for command in ("FORMat:DATA REAL,32", "FORM ASC", "FORMat:BORDer SWAPped"):
        assert no_format.execute(command) is None
        assert no_format.execute("SYSTem:ERRor?").startswith(UNDEFINED_HEADER), command
    assert no_format.execute("FORMat:DATA?;*OPC?") == "1"  # the rest of a message still runs
    assert no_format.execute("SYSTem:ERRor?").startswith(UNDEFINED_HEADER)


def test_analyzer_without_compound_refuses_the_whole_line(no_compound: PowerAnalyzer) -> None:
    assert no_compound.execute("SENSe:SWEep:POINts 7,(@1,2);*OPC?") is None  # no reply at all
    assert no_compound.execute("SYSTem:ERRor?").startswith(UNDEFINED_HEADER)
    assert no_compound.execute("SYSTem:ERRor?").startswith("+0")  # one error for the line
    assert no_compound.execute("SENSe:SWEep:POINts?") != "7"  # nothing of the line was executed
    assert no_compound.execute("SENSe:SWEep:POINts 7,(@1,2)") is None
    assert no_compound.execute("SENSe:SWEep:POINts?") == "7"  # one command per message works
    assert no_compound.execute("SYSTem:ERRor?").startswith("+0")


def test_dialect_gives_its_bench_options() -> None:
    assert AnalyzerDialect().bench_options() == []
    assert AnalyzerDialect(False, False).bench_options() == ["--analyzer-no-format", "--analyzer-no-compound"]


def test_fanout_slot_processes_get_the_dialect_options() -> None:
    args = launcher._arguments(["--slots", "2", "--analyzer-no-compound", "--analyzer-no-format"])
    children = launcher._fanout(args).arguments  # the command lines only: nothing is started
    assert len(children) == 2
    for child in children:
        assert "--analyzer-no-compound" in child and "--analyzer-no-format" in child
