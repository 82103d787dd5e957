"""The bench's SCPI instruments over real TCP with pyvisa-py, driving the physics directly."""

from __future__ import annotations

import socket
import time

import numpy as np
import pytest
import pyvisa

from rig.bench.launcher import VirtualBench
from rig.bench.physics import DAC_NOMINAL_COUNTS_PER_MA, FULL_SCALE_MA
from rig.spec import load_spec

SPEC = load_spec()
V_MAX_V = SPEC.compliance.v_max_nominal_v
SETPOINT_MA = 10.0
TAU_S = 0.002
SETTLE_S = 0.02
# Analyzer accuracy on the 100 mA range (instruments.md) plus a margin for noise.
ANALYZER_TOLERANCE_MA = 0.025e-2 * 34 + 0.008 + 0.005


@pytest.fixture(scope="module")
def bench():
    with VirtualBench(slots=1, seed=3, with_units=False) as bench:
        yield bench


@pytest.fixture(scope="module")
def rm():
    # pyvisa keeps one ResourceManager per backend in a process: closing it would close every other
    # test's resources too (the HIL suites' session slot under pytest-xdist). Each test closes its own.
    return pyvisa.ResourceManager("@py")


def open_resource(rm, address: str):
    res = rm.open_resource(address, read_termination="\n", write_termination="\n")
    res.timeout = 5000
    return res


@pytest.fixture
def slot(bench):
    parts = bench.slots[0]
    parts.circuit.set_dac(0, "POS")
    parts.circuit.set_pulse(None)
    yield parts
    parts.circuit.set_dac(0, "POS")


@pytest.fixture
def analyzer(rm, bench):
    res = open_resource(rm, bench.description["analyzer"])
    res.write("*RST;*CLS")
    yield res
    assert res.query("SYST:ERR?") == '+0,"No error"'
    res.close()


@pytest.fixture
def load(rm, bench):
    res = open_resource(rm, bench.description["load"])
    res.write("*CLS")
    yield res
    res.write("INP OFF")
    res.close()


def set_load(load, ohms: float) -> None:
    load.write(f"RES {ohms:g};:INP ON")
    assert load.query("*OPC?") == "1"
    assert load.query("SYST:ERR?") == '+0,"No error"'


def expected_ma(slot, code: int) -> float:
    err = slot.circuit.errors.pos
    nominal = code / DAC_NOMINAL_COUNTS_PER_MA
    x = nominal / FULL_SCALE_MA
    return (nominal * (1 + err.output_gain) + err.output_offset_ma
            + err.output_bow_ma * 4 * x * (1 - x))


def test_identities(analyzer, load, bench) -> None:
    idn = analyzer.query("*IDN?").split(",")
    assert idn[:2] == ["Keysight Technologies", "N6705C"]
    assert idn[2] == bench.description["slots"][0]["analyzer_serial"]
    assert load.query("*idn?").split(",")[:2] == ["RIG BENCH", "RDEC-1M"]


def test_ten_milliamps_into_one_kiloohm_reads_within_the_unit_error_band(
        slot, analyzer, load) -> None:
    set_load(load, 1000)
    code = round(SETPOINT_MA * DAC_NOMINAL_COUNTS_PER_MA)
    slot.circuit.set_dac(code, "POS")
    time.sleep(SETTLE_S)
    reading_ma = float(analyzer.query("MEAS:CURR? (@1)")) * 1000
    unc = SPEC.uncalibrated
    band_ma = (unc.output_gain_pct / 100 * SETPOINT_MA + unc.output_offset_ma
               + unc.bow_pct_of_full_scale / 100 * FULL_SCALE_MA)
    assert abs(reading_ma - SETPOINT_MA) <= band_ma
    assert reading_ma == pytest.approx(expected_ma(slot, code), abs=ANALYZER_TOLERANCE_MA)
    volts = float(analyzer.query("MEAS:VOLT? (@2)"))
    assert volts == pytest.approx(reading_ma * slot.load.true_ohm() / 1000, rel=2e-3)


def test_fifty_kiloohm_is_compliance_limited(slot, analyzer, load) -> None:
    set_load(load, 50_000)
    slot.circuit.set_dac(round(SETPOINT_MA * DAC_NOMINAL_COUNTS_PER_MA), "POS")
    time.sleep(SETTLE_S)
    reply = analyzer.query("MEAS:CURR? (@1);:MEAS:VOLT? (@2)")
    current_a, voltage_v = (float(v) for v in reply.split(";"))
    # The decade's ±(0.1 % + 0.5 Ω) and the analyzer's ±(0.025 % + 8 µA) on the 100 mA range.
    assert current_a == pytest.approx(V_MAX_V / 50_000, abs=V_MAX_V / 50_000 * 2e-3 + 9e-6)
    assert voltage_v == pytest.approx(V_MAX_V, abs=0.05)


def test_triggered_trace_shows_first_order_settling(slot, analyzer, load) -> None:
    set_load(load, 1000)
    interval_s, points, pre = 4 * 20.48e-6, 400, 40
    analyzer.write(f"SENS:SWE:TINT {interval_s},(@1,2);:SENS:SWE:POIN {points},(@1,2)")
    analyzer.write(f"SENS:SWE:OFFS:POIN {-pre},(@1,2)")
    level_a = 0.004
    analyzer.write(f"TRIG:ACQ:SOUR CURR1,(@1);:TRIG:ACQ:CURR {level_a},(@1);"
                   ":TRIG:ACQ:CURR:SLOP POS,(@1);:INIT:ACQ (@1,2)")
    assert analyzer.query("*OPC?") == "1"
    slot.circuit.set_dac(round(SETPOINT_MA * DAC_NOMINAL_COUNTS_PER_MA), "POS")
    trace_a = np.array([float(v) for v in analyzer.query("FETC:ARR:CURR? (@1)").split(",")])
    assert trace_a.size == points
    assert np.all(trace_a[: pre - 10] < level_a)
    assert trace_a[pre] == pytest.approx(level_a, abs=2e-5)
    final_a = trace_a[-50:].mean()
    # Log-linear fit of the approach to the final value: slope -1/tau.
    t_s = np.arange(points) * interval_s
    gap = final_a - trace_a
    use = slice(pre, pre + int(3 * TAU_S / interval_s))
    slope = np.polyfit(t_s[use], np.log(gap[use]), 1)[0]
    assert -1 / slope == pytest.approx(TAU_S, rel=0.1)


def test_bus_trigger_and_fetch_without_new_acquisition(slot, analyzer, load) -> None:
    set_load(load, 1000)
    slot.circuit.set_dac(600, "POS")
    time.sleep(SETTLE_S)
    analyzer.write("SENS:SWE:POIN 100,(@1,2);:TRIG:ACQ:SOUR BUS,(@1,2);:INIT:ACQ (@1,2)")
    analyzer.write("*TRG")
    mean_a = float(analyzer.query("FETC:CURR? (@1)"))
    trace = [float(v) for v in analyzer.query("FETC:ARR:CURR? (@1)").split(",")]
    assert len(trace) == 100
    assert np.mean(trace) == pytest.approx(mean_a, abs=1e-7)
    assert mean_a * 1000 == pytest.approx(expected_ma(slot, 600), abs=ANALYZER_TOLERANCE_MA)


def test_one_milliamp_range_overload_and_auto_range(slot, analyzer, load) -> None:
    set_load(load, 1000)
    slot.circuit.set_dac(600, "POS")
    time.sleep(SETTLE_S)
    analyzer.write("SENS:CURR:RANG 0.001,(@1)")
    assert float(analyzer.query("MEAS:CURR? (@1)")) == pytest.approx(9.91e37)
    analyzer.write("SENS:CURR:RANG:AUTO ON,(@1)")
    assert float(analyzer.query("MEAS:CURR? (@1)")) < 0.1


def test_residual_reads_on_the_low_range(slot, analyzer, load) -> None:
    set_load(load, 1000)
    time.sleep(SETTLE_S)
    analyzer.write("SENS:CURR:RANG 0.001,(@1);:SENS:SWE:POIN 4096,(@1)")
    residual_ua = float(analyzer.query("MEAS:CURR? (@1)")) * 1e6
    assert residual_ua == pytest.approx(slot.circuit.errors.residual_ua, abs=0.3)


def test_errors_are_queued(analyzer, load) -> None:
    load.write("RES 5")
    assert load.query("SYST:ERR?").startswith("-222,")
    analyzer.write("SENS:CURR:RANG 1,(@1)")
    analyzer.write("BOGUS:CMD 1")
    assert analyzer.query("*ESR?") == str(32 | 16)
    assert analyzer.query("SYST:ERR?").startswith("-222,")
    assert analyzer.query("SYST:ERR?").startswith("-113,")


def test_load_power_limit_opens_and_queues_221(slot, load) -> None:
    set_load(load, 2000)
    slot.circuit.set_dac(4095, "POS")  # compliance-limited 30 mA into 2 kΩ: 1.8 W
    deadline = time.monotonic() + 5
    while load.query("INP?") == "1" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert load.query("INP?") == "0"
    assert load.query("SYST:ERR?").startswith("-221,")
    assert slot.circuit.voltage_v() == pytest.approx(V_MAX_V)  # open: the unit at compliance


def test_garbage_does_not_kill_the_server(bench) -> None:
    host, port = "127.0.0.1", int(bench.description["analyzer"].split("::")[2])
    with socket.create_connection((host, port), timeout=5) as sock:
        sock.sendall(b"\xff\xfe\x80garbage\n" + b"A" * 100_000 + b"\n*IDN?\n")
        reply = b""
        while not reply.endswith(b"\n"):
            reply += sock.recv(4096)
        assert reply.startswith(b"Keysight Technologies,N6705C")
        sock.sendall(b"SYST:ERR?;SYST:ERR?\n")
        reply = b""
        while not reply.endswith(b"\n"):
            reply += sock.recv(4096)
        assert reply.decode().strip() == '-101,"Invalid character; non-ASCII byte";' \
            '-363,"Input buffer overrun; line longer than 4096 bytes"'


def test_two_clients_at_once(rm, bench) -> None:
    first = open_resource(rm, bench.description["analyzer"])
    second = open_resource(rm, bench.description["analyzer"])
    try:
        assert first.query("*IDN?") == second.query("*IDN?")
    finally:
        first.close()
        second.close()


def test_arrays_in_binary_blocks_match_ascii(bench, rm) -> None:
    """FORMat:DATA REAL with SWAPped byte order gives the same acquisition as ASCII does."""
    address = bench.description["analyzer"]
    resource = rm.open_resource(address, read_termination="\n", write_termination="\n")
    try:
        resource.write("SENSe:SWEep:POINts 64,(@1,2);:INITiate:ACQuire (@1,2);:TRIGger:ACQuire (@1,2)")
        text = np.array([float(v) for v in resource.query("FETCh:ARRay:VOLTage? (@2)").split(",")])
        resource.write("FORMat:DATA REAL,32;:FORMat:BORDer SWAPped")
        block = resource.query_binary_values("FETCh:ARRay:VOLTage? (@2)", datatype="f", is_big_endian=False,
                                             container=np.array)
        assert resource.query("FORMat:DATA?") == "REAL,32"
    finally:
        resource.close()
    # each fetch passes the samples through the meter's noise again: compare the two as samples
    assert block.shape == text.shape == (64,)
    noise_v_rms = 0.002  # instruments.md, voltage per sample
    assert abs(block.mean() - text.mean()) < 5 * noise_v_rms * np.sqrt(2 / 64)
