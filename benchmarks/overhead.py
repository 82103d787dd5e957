"""Per-command cost of the rig's drivers against the bare library round trip, on the virtual bench.

Bare: a plain pyvisa query (`*IDN?`) and a plain pyserial write + readline (`STATE?` framed by hand).
Rig: PowerAnalyzer.query (with its error-queue check) and Ix30Client.state (framing, CRC check, reader
thread, event routing). Run: python benchmarks/overhead.py [--n 300]. Ends with `rig_ms=… bare_ms=… ratio=…`
(the mean over both instruments, weighted equally).
"""

from __future__ import annotations

import argparse
import statistics
import time

import pyvisa
import serial

from rig.dut.client import Ix30Client
from rig.dut.framing import decode_frame, encode_frame
from rig.instruments.analyzer import PowerAnalyzer
from rig.virtual_bench import VirtualBenchProcess

BAUD = 115200
SCPI_QUERY = "*IDN?"
DUT_QUERY = "STATE?"


def per_call_ms(call, n: int) -> float:
    call()  # warm up: first connection effects are not the per-command cost
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(samples)


def bare_scpi(address: str, n: int) -> float:
    resource = pyvisa.ResourceManager("@py").open_resource(address, read_termination="\n", write_termination="\n")
    try:
        return per_call_ms(lambda: resource.query(SCPI_QUERY), n)
    finally:
        resource.close()


def rig_scpi(address: str, n: int) -> float:
    analyzer = PowerAnalyzer.open(address, name="analyzer")
    try:
        return per_call_ms(lambda: analyzer.query(SCPI_QUERY), n)
    finally:
        analyzer.close()


def bare_serial(path: str, n: int) -> float:
    port = serial.Serial(path, BAUD, timeout=1.0)
    frame = encode_frame(DUT_QUERY)

    def round_trip() -> None:
        port.write(frame)
        while decode_frame(port.readline()).startswith("!"):
            pass  # an event: the reply is still to come

    try:
        return per_call_ms(round_trip, n)
    finally:
        port.close()


def rig_serial(path: str, n: int) -> float:
    client = Ix30Client.open(path)
    try:
        return per_call_ms(client.state, n)
    finally:
        client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300)
    args = parser.parse_args()
    with VirtualBenchProcess() as bench:
        slot = bench.description["slots"][0]
        figures = {
            "scpi": (rig_scpi(slot["analyzer"], args.n), bare_scpi(slot["analyzer"], args.n)),
            "serial": (rig_serial(slot["dut"], args.n), bare_serial(slot["dut"], args.n)),
        }
    for name, (rig_ms, bare_ms) in figures.items():
        print(f"{name:7s} rig {rig_ms:6.3f} ms  bare {bare_ms:6.3f} ms  ratio {rig_ms / bare_ms:.2f}")
    rig_ms = statistics.mean(r for r, _ in figures.values())
    bare_ms = statistics.mean(b for _, b in figures.values())
    ratio = statistics.mean(r / b for r, b in figures.values())
    print(f"rig_ms={rig_ms:.3f} bare_ms={bare_ms:.3f} ratio={ratio:.2f}")


if __name__ == "__main__":
    main()
