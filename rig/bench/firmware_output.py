"""Soft start/stop and compliance recovery: the regulator setpoint the firmware drives, in mA.

Two parts, combined by `output_ma = min(level_ma, ceiling_ma)`:
- `level_ma`, the soft-start ramp, moves toward its target at the configured rate;
- `ceiling_ma`, active only while or after the output was in compliance, follows the actual current
  so that when the load drops the current re-ramps from where it was instead of stepping to the
  setpoint (dut-protocol.md section 1, compliance recovery).
Pure logic over explicit time steps; the firmware calls it once per control tick.

The emulator's tick thread can be late (a loaded host, the GIL): a tick then reports tens of ms at
once. Where that would change what the unit does, not just when, the step is limited: the first
tick after compliance ended credits at most one nominal tick to the re-ramp (the load dropped
somewhere inside the late interval; crediting all of it made the current jump above the soft-start
ramp by rate x delay and stay there for the whole re-ramp, 0.06-0.4 mA on a loaded 2-core machine),
and the compliance servo moves at most SERVO_CATCH_UP_TICKS ticks' worth (a 100 ms stall dropped the
ceiling 1 mA below the boundary), so it still converges in about real time when ticks are a few ms late.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from rig.bench.firmware_protocol import TICK_S

# While in compliance the ceiling creeps down at this rate, so that it settles just at the
# compliance boundary whatever the unit's output gain error; the dither this leaves is about
# rate x tick (0.01 mA), far inside the 0.5 mA recovery overshoot the spec allows.
COMPLIANCE_SERVO_MA_PER_S = 10.0
# At most this many nominal ticks of servo per (late) tick: a dip of at most 0.05 mA, a tenth of the
# recovery overshoot the spec allows.
SERVO_CATCH_UP_TICKS = 5


@dataclass
class OutputRamp:
    reramp_enabled: bool
    # On entering compliance the ceiling snaps to the actual current plus this headroom; the servo
    # then takes it the rest of the way.
    snap_headroom_ma: float
    # The ceiling never goes below this: into an open circuit the source must stay on (at V_max)
    # for loss of contact to be seen, rather than be servoed to zero.
    floor_ma: float
    # The firmware's nominal control period: the most one tick may credit where the time is unknown.
    tick_s: float = TICK_S
    servo_ma_per_s: float = COMPLIANCE_SERVO_MA_PER_S
    # The soft-start level is driven in steps of this size (a staircase at the configured mean rate);
    # 0 drives it continuously. The target itself is always reached exactly.
    step_ma: float = 0.0
    level_ma: float = 0.0
    target_ma: float = 0.0
    ceiling_ma: float = math.inf
    in_compliance: bool = False

    @property
    def stepped_level_ma(self) -> float:
        """The level as driven: on the staircase, which lags the exact ramp by less than a step."""
        if self.step_ma <= 0 or self.level_ma == self.target_ma:
            return self.level_ma
        steps = self.level_ma / self.step_ma
        return self.step_ma * (math.floor(steps) if self.level_ma < self.target_ma else math.ceil(steps))

    @property
    def output_ma(self) -> float:
        return min(self.stepped_level_ma, self.ceiling_ma)

    @property
    def limited(self) -> bool:
        """True while the compliance ceiling, not the soft-start level, sets the output."""
        return self.ceiling_ma < self.stepped_level_ma

    def reset(self) -> None:
        self.level_ma = self.target_ma = 0.0
        self.ceiling_ma = math.inf
        self.in_compliance = False

    def hold(self) -> None:
        """Continue from what is driven now (STOP while limited ramps down from the limit)."""
        self.level_ma = self.target_ma = self.output_ma
        self.ceiling_ma = math.inf
        self.in_compliance = False

    def advance(self, target_ma: float, rate_ma_per_s: float, dt_s: float) -> bool:
        """Move the soft-start level toward the target; True once it is there."""
        step_ma = rate_ma_per_s * dt_s
        self.target_ma = target_ma
        if self.level_ma < target_ma:
            self.level_ma = min(target_ma, self.level_ma + step_ma)
        else:
            self.level_ma = max(target_ma, self.level_ma - step_ma)
        return self.level_ma == target_ma

    def track_compliance(
        self, in_compliance: bool, actual_ma: float, rate_ma_per_s: float, dt_s: float
    ) -> None:
        if not self.reramp_enabled:
            return
        was_in_compliance, self.in_compliance = self.in_compliance, in_compliance
        if in_compliance:
            # A fixed slow servo, not the ramp rate: at a fast (test) ramp rate the ceiling would fall
            # out of compliance every tick and the output would dither well below V_max.
            snapped = min(self.ceiling_ma, self.output_ma, actual_ma + self.snap_headroom_ma)
            servo_ma = self.servo_ma_per_s * min(dt_s, max(self.tick_s, SERVO_CATCH_UP_TICKS * TICK_S))
            self.ceiling_ma = max(self.floor_ma, snapped - servo_ma)
        elif math.isfinite(self.ceiling_ma):
            # Leaving compliance, the re-ramp starts now: the drop happened at an unknown instant of
            # the interval, at most one tick ago on time.
            self.ceiling_ma += rate_ma_per_s * (min(dt_s, self.tick_s) if was_in_compliance else dt_s)
            if self.ceiling_ma >= self.level_ma:
                self.ceiling_ma = math.inf
