"""A unit under test for the firmware tests: real SlotCircuit + Ix30Firmware on a hand-stepped clock.

Time only moves when a test calls `run`, so ramp, cut-off and watchdog timings are exact and the
tests never sleep. Imported by the other test_firmware_* modules.
"""

from __future__ import annotations

from collections.abc import Callable

from rig.bench.firmware import Ix30Firmware
from rig.bench.physics import SlotCircuit, UnitErrors
from rig.bench.variant import BenchVariant
from rig.dut.framing import decode_frame, encode_frame, is_event
from rig.spec import load_spec

SPEC = load_spec()
KEY = "0f1e2d3c4b5a6978"
TICK_S = 0.001
START_TIME_S = 1000.0


class FakeClock:
    def __init__(self) -> None:
        self.t_s = START_TIME_S

    def __call__(self) -> float:
        return self.t_s


class Unit:
    def __init__(
        self, faults: frozenset[str] = frozenset(), load_ohm: float = 1000.0, seed: int = 7,
        errors: UnitErrors | None = None, variant: BenchVariant | None = None,
    ) -> None:
        self.clock = FakeClock()
        self.circuit = SlotCircuit(
            errors or UnitErrors.from_seed(seed), seed, SPEC.compliance.v_max_nominal_v, clock=self.clock
        )
        self.circuit.set_load(load_ohm)
        self.frames: list[bytes] = []
        self.events: list[str] = []
        self.fw = Ix30Firmware(
            self.circuit, serial="SN000123", unlock_key=KEY, faults=faults,
            send=self.frames.append, spec=SPEC, clock=self.clock, variant=variant,
        )

    def _take(self) -> list[str]:
        bodies = [decode_frame(frame) for frame in self.frames]
        assert all(frame.endswith(b"\n") for frame in self.frames)
        self.frames.clear()
        self.events += [body for body in bodies if is_event(body)]
        return [body for body in bodies if not is_event(body)]

    def send_raw(self, line: bytes) -> list[str]:
        """Feed one line; return the (non-event) replies."""
        self.fw.receive_line(line)
        return self._take()

    def ask(self, body: str) -> str:
        replies = self.send_raw(encode_frame(body)[:-1])
        assert len(replies) == 1, (body, replies)
        return replies[0]

    def ok(self, body: str) -> str:
        reply = self.ask(body)
        assert reply == "OK" or reply.startswith("OK "), (body, reply)
        return reply[3:]

    def run(self, seconds: float, step_s: float = TICK_S) -> None:
        for _ in range(round(seconds / step_s)):
            self.clock.t_s += step_s
            self.fw.tick()
        self._take()

    def run_until(
        self, done: Callable[[], bool], limit_s: float, step_s: float = TICK_S
    ) -> float:
        """Tick until `done()`; return the time it took (fail after limit_s)."""
        start_s = self.clock.t_s
        while not done():
            assert self.clock.t_s - start_s < limit_s, f"not done after {limit_s} s"
            self.clock.t_s += step_s
            self.fw.tick()
            self._take()
        return self.clock.t_s - start_s

    def current_ma(self) -> float:
        return abs(self.circuit.current_a()) * 1000.0

    def start_fast(self, setpoint_ma: float) -> None:
        """Test mode, 1000 mA/s ramp, START, wait for ON."""
        self.ok("TEST ON")
        self.ok("TEST:RAMP 1000")
        self.ok(f"SET {setpoint_ma:.1f}")
        self.ok("START")
        self.run_until(lambda: self.fw.state == "ON", limit_s=1.0)


def test_harness_unit_boots_idle_with_output_off() -> None:
    unit = Unit()
    assert unit.ask("STATE?") == "OK IDLE 0"
    assert unit.fw.dac_code == 0
    assert unit.current_ma() < SPEC.residual_current.max_ua / 1000.0
