"""Implementation variants of the virtual bench: the details a rig must not depend on, drawn from a seed.

dut-protocol.md and instruments.md leave room: how long a reply takes (within 100 ms), when an event
arrives (also between a request and its response), how often the firmware's control loop runs, how a
ramp is quantised, how the compliance servo holds the output, how noisy the unit and the meters are
(up to their stated figures), where inside its stated accuracy each instrument's error lies, how the
analyzer rounds a sample interval. `BenchVariant.from_seed(seed)` draws one implementation inside that
room; seed None or 0 is the reference variant (the bench as it always was). Each field names the
sentence of the documents that bounds it; tests/unit/test_bench_variant.py checks the draws stay inside.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from rig.bench.firmware_protocol import TICK_S
from rig.bench.unit_errors import OUTPUT_NOISE_MA_RMS
from rig.dut.protocol import REPLY_WITHIN_S
from rig.spec import load_spec

_SPEC = load_spec()

# dut-protocol.md 2: "The device answers every request with exactly one response line, within 100 ms"
# (REPLY_WITHIN_S). What the latency leaves of it besides the reply's own line time: an event or two
# sent ahead of it (about 1.5 ms each at 115200 Bd) and the bench's own scheduling.
REPLY_MARGIN_S = 0.010
# The reference figures (instruments.md 3: "a reply latency of 1 ms"; the emulator's 1 ms tick).
REFERENCE_LATENCY_S = 0.001
REFERENCE_SERVO_MA_PER_S = 10.0
# The shortest sample interval instruments.md 1 states (and the N678xA's own resolution).
TINT_BASE_S = 20.48e-6


def within(rng: np.random.Generator, extremity: float) -> float:
    """A fraction of a stated accuracy: uniform in ±[extremity, 1] (extremity 0: uniform in ±1)."""
    if extremity <= 0:
        return float(rng.uniform(-1, 1))
    return float(rng.choice((-1.0, 1.0)) * rng.uniform(extremity, 1.0))


@dataclass(frozen=True)
class BenchVariant:
    """One implementation of the documents. Every field is bounded by the sentence quoted with it."""

    seed: int = 0
    # The firmware's control period, 1 to 5 ms. dut-protocol.md 1: over-current "for 5 ms; output below
    # 0.1 mA within 50 ms", loss of contact "for 250 ms: output to 0 within 50 ms": a period of at most
    # 5 ms detects and acts well inside those windows.
    control_period_s: float = TICK_S
    # The soft-start level moves in steps of this many mA (0: continuously). dut-protocol.md 1: "current
    # ramps at the configured rate ... within ±10 %"; steps no coarser than the 0.1 mA setpoint resolution.
    ramp_step_ma: float = 0.0
    # Reply latency from the request's end: base + uniform(0, jitter), capped so that the reply's last
    # byte leaves within REPLY_WITHIN_S (dut-protocol.md 2, "within 100 ms").
    reply_latency_base_s: float = REFERENCE_LATENCY_S
    reply_latency_jitter_s: float = 0.0
    # Probability that the events a request causes leave before its response. dut-protocol.md 2: events
    # "can arrive at any time, also between a request and its response".
    event_first_probability: float = 0.0
    # The compliance servo: how fast the ceiling creeps down while limited, and the headroom it snaps to
    # on entering compliance. dut-protocol.md 1, compliance recovery: "it may exceed that ramp by at most
    # 0.5 mA, for at most 10 ms": the headroom is at most half of that, the servo dither (rate x period)
    # at most 0.1 mA.
    servo_ma_per_s: float = REFERENCE_SERVO_MA_PER_S
    servo_snap_headroom_ma: float = _SPEC.compliance_recovery.overshoot_max_ma / 2
    # The unit's output noise, at most instruments.md 3's "3 µA rms noise".
    unit_noise_ma_rms: float = OUTPUT_NOISE_MA_RMS
    # Noise of the unit's own current reading (MEAS?, TEST:ADC?), a small part of dut-protocol.md 1's
    # "own current reading ±(1.0 % of reading + 0.05 mA)".
    reading_noise_ma_rms: float = 0.0
    # The analyzer's per-sample noise as a fraction of instruments.md 1's figures ("noise 1 µA rms per
    # sample", "10 nA", "2 mV"): at most 1.
    analyzer_noise_fraction: float = 1.0
    # Where inside their stated accuracy the analyzer's and the load's errors lie (instruments.md 1 and 2,
    # "errors ... drawn within them"): each error is drawn from ±[extremity, 1] x its figure, so 0 is
    # anywhere and 1 the corners of the accuracy.
    instrument_error_extremity: float = 0.0
    # The analyzer's sample interval is rounded to a multiple of this (0: kept as asked); never below the
    # 20.48 µs that instruments.md 1 states as the shortest. The interval actually used reads back with
    # SENSe:SWEep:TINTerval? (the vendor's query; instruments.md lists only the set form).
    tint_base_s: float = 0.0

    @classmethod
    def reference(cls) -> BenchVariant:
        return cls()

    @classmethod
    def from_seed(cls, seed: int | None) -> BenchVariant:
        """The variant a seed draws; None or 0: the reference variant."""
        if not seed:
            return cls.reference()
        if seed < 0:
            raise ValueError(f"variant seed must be >= 0, got {seed}")
        rng = np.random.default_rng([seed, 0x7A51A7])
        return cls(
            seed=seed,
            control_period_s=float(rng.integers(1, 6)) * TICK_S,
            ramp_step_ma=float(rng.choice([0.0, 0.01, 0.02, 0.05, 0.1])),
            reply_latency_base_s=float(rng.uniform(REFERENCE_LATENCY_S, 0.040)),
            reply_latency_jitter_s=float(rng.uniform(0.0, 0.045)),
            event_first_probability=float(rng.uniform(0.2, 0.8)),
            servo_ma_per_s=float(rng.uniform(5.0, 20.0)),
            servo_snap_headroom_ma=float(rng.uniform(0.1, 0.25)),
            unit_noise_ma_rms=float(rng.uniform(0.3, 1.0)) * OUTPUT_NOISE_MA_RMS,
            reading_noise_ma_rms=float(rng.uniform(0.0, 0.005)),
            analyzer_noise_fraction=float(rng.uniform(0.25, 1.0)),
            instrument_error_extremity=float(rng.choice([0.0, 0.5, 0.9])),
            tint_base_s=float(rng.choice([0.0, TINT_BASE_S / 2, TINT_BASE_S])),
        )

    def latency_cap_s(self, frame_bytes: int, byte_s: float) -> float:
        """The longest latency a reply of this length may have and still end within the deadline."""
        return max(0.0, REPLY_WITHIN_S - REPLY_MARGIN_S - frame_bytes * byte_s)

    def interval_s(self, asked_s: float) -> float:
        """The sample interval the analyzer uses when asked for asked_s."""
        if self.tint_base_s <= 0:
            return asked_s
        return max(TINT_BASE_S, round(asked_s / self.tint_base_s) * self.tint_base_s)

    def describe(self) -> dict:
        """The drawn details, for the bench's JSON line and a test's log."""
        return {name: (round(value, 9) if isinstance(value, float) else value)
                for name, value in asdict(self).items()}
