"""A bench variant over the real pty: replies later but inside the protocol's 100 ms, and events that
come between a request and its response; `rig bench --variant` reaches every slot process."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from dataclasses import replace

import serial

from rig.bench.fanout import child_arguments
from rig.bench.launcher import VirtualBench
from rig.bench.pty_port import BAUD, BITS_PER_BYTE
from rig.bench.variant import BenchVariant
from rig.dut.framing import decode_frame, encode_frame, is_event
from rig.dut.protocol import REPLY_WITHIN_S

BYTE_S = BITS_PER_BYTE / BAUD
VARIANT_SEED = 7


def _exchange(link: serial.Serial, body: str) -> tuple[list[str], str, float]:
    """Send one request; the events that came before its response, the response, and how long it took
    from before the request was written (so never less than the unit's own latency)."""
    sent_s = time.monotonic()
    link.write(encode_frame(body))
    events = []
    while True:
        line = link.readline()
        assert line, f"no response to {body!r}"
        text = decode_frame(line)
        if not is_event(text):
            return events, text, time.monotonic() - sent_s
        events.append(text)


def _recorded_latencies(port) -> list[tuple[int, float]]:
    """Spy on the port's latency draws: (frame bytes, latency) of every response it schedules."""
    drawn: list[tuple[int, float]] = []
    draw = port.latency_for

    def recording(frame: bytes) -> float:
        latency_s = draw(frame)
        if not frame.startswith(b"!"):
            drawn.append((len(frame), latency_s))
        return latency_s

    port.latency_for = recording
    return drawn


def test_a_variant_answers_later_but_inside_100_ms_and_sends_events_before_responses():
    variant = replace(BenchVariant.from_seed(VARIANT_SEED), reply_latency_base_s=0.030,
                      reply_latency_jitter_s=0.065, event_first_probability=1.0)
    with VirtualBench(slots=1, seed=1, variant=variant) as bench:
        drawn = _recorded_latencies(bench.slots[0].port)
        with serial.Serial(bench.description["dut"][0], BAUD, timeout=2) as link:
            observed = []
            for _ in range(20):
                events, reply, took_s = _exchange(link, "ID?")
                assert reply.startswith("OK IONTO") and events == []
                observed.append(took_s)
            events, reply, _ = _exchange(link, "TEST ON")
            assert (events, reply) == (["!STATE TEST"], "OK")  # the event first, then the response
            _exchange(link, "TEST OFF")
    assert len(drawn) == 22
    for frame_bytes, latency_s in drawn:
        # What the bench schedules ends inside the protocol's limit, line time included...
        assert latency_s + frame_bytes * BYTE_S < REPLY_WITHIN_S
    # ... and varies: the jitter, drawn up to the cap (base + jitter reach past it here).
    latencies = [latency_s for _, latency_s in drawn]
    assert max(latencies) - min(latencies) > 0.010
    # A response never arrives before its drawn latency has passed (a lower bound holds under any load).
    for took_s, (_, latency_s) in zip(observed, drawn, strict=False):
        assert took_s >= latency_s


def test_the_reference_sends_a_request_s_events_after_its_response():
    with VirtualBench(slots=1, seed=1) as bench:
        with serial.Serial(bench.description["dut"][0], BAUD, timeout=2) as link:
            events, reply, _ = _exchange(link, "TEST ON")
            assert (events, reply) == ([], "OK")
            assert decode_frame(link.readline()) == "!STATE TEST"
            _exchange(link, "TEST OFF")


def test_rig_bench_variant_reaches_every_slot_process():
    assert child_arguments(2, "SN000124", 0, [], [], None, variant=VARIANT_SEED)[-2:] == ["--variant", "7"]
    assert "--variant" not in child_arguments(2, "SN000124", 0, [], [], None)
    process = subprocess.Popen([sys.executable, "-m", "rig.bench", "--slots", "2", "--variant", str(VARIANT_SEED)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        description = json.loads(process.stdout.readline())
        assert description["variant"] == BenchVariant.from_seed(VARIANT_SEED).describe()
        assert [s["slot"] for s in description["slots"]] == [1, 2]
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0


def test_a_negative_variant_is_refused_in_one_line():
    done = subprocess.run([sys.executable, "-m", "rig.bench", "--variant", "-3"], capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == 2
    assert done.stderr.strip() == "rig bench: error: variant seed must be >= 0, got -3"
