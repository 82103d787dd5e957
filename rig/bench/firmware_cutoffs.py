"""Cut-off detection: over-current, loss of contact, over-voltage (dut-protocol.md section 1).

As on a real unit, over-current and loss of contact are decided on the unit's own readings (with
their errors: dut-protocol.md section 1, the paragraph after the table), so a unit whose reading errs
trips off the nominal threshold; the over-voltage backstop holds the true output voltage (the 62 V
limit is absolute).

Pure logic over explicit times, so it can be tested without a clock: the firmware feeds one
`OutputSample` per control tick and acts on the fault code returned.
"""

from __future__ import annotations

from dataclasses import dataclass

from rig.bench.faults import FirmwareBehaviour
from rig.bench.firmware_protocol import OVERVOLTAGE_RATIO_OF_V_MAX
from rig.dut.protocol import FaultCode
from rig.spec import ProductSpec


class Persistence:
    """True once a condition has held continuously for `persist_s`."""

    def __init__(self, persist_s: float) -> None:
        self.persist_s = persist_s
        self.since_s: float | None = None

    def update(self, condition: bool, now_s: float) -> bool:
        if not condition:
            self.since_s = None
            return False
        if self.since_s is None:
            self.since_s = now_s
        return now_s - self.since_s >= self.persist_s

    def reset(self) -> None:
        self.since_s = None


@dataclass(frozen=True)
class OutputSample:
    """What the cut-off logic sees at one instant (magnitudes)."""

    current_ma: float  # the unit's own current reading
    voltage_v: float  # the unit's own voltage reading
    output_on: bool
    # The regulator's setpoint for the over-current threshold; None while a raw DAC code drives
    # (then only the absolute limit applies).
    trip_setpoint_ma: float | None
    # The setpoint the loss-of-contact rule compares the current with.
    contact_setpoint_ma: float
    # The true output voltage, for the absolute over-voltage backstop (not a reading).
    true_voltage_v: float


class CutoffMonitor:
    def __init__(self, spec: ProductSpec, behaviour: FirmwareBehaviour) -> None:
        self._overcurrent = spec.overcurrent
        self._contact = spec.loss_of_contact
        self._v_max_v = behaviour.v_max_v
        self._overvoltage_v = OVERVOLTAGE_RATIO_OF_V_MAX * spec.compliance.v_max_nominal_v
        self._contact_enabled = behaviour.loss_of_contact_enabled
        self._over_i = Persistence(behaviour.overcurrent_persist_s)
        self._no_contact = Persistence(spec.loss_of_contact.persist_s)
        # The over-voltage backstop uses the over-current persistence: a comparator with the
        # same filter.
        self._over_v = Persistence(spec.overcurrent.persist_s)

    def reset(self) -> None:
        for detector in (self._over_i, self._no_contact, self._over_v):
            detector.reset()

    def check(self, sample: OutputSample, now_s: float) -> int:
        """The fault code to latch now (FAULT_NONE when nothing has tripped)."""
        threshold_ma = self._overcurrent.threshold_ma(sample.trip_setpoint_ma)
        if self._over_i.update(sample.current_ma > threshold_ma, now_s):
            return FaultCode.OVERCURRENT
        if self._over_v.update(sample.true_voltage_v > self._overvoltage_v, now_s):
            return FaultCode.OVERVOLTAGE
        if self._contact_enabled and self._no_contact.update(self._no_contact_now(sample), now_s):
            return FaultCode.LOSS_OF_CONTACT
        return FaultCode.NONE

    def _no_contact_now(self, sample: OutputSample) -> bool:
        if not sample.output_on:
            return False
        high_v = sample.voltage_v >= self._contact.voltage_fraction_of_v_max * self._v_max_v
        low_i = sample.current_ma < (
            self._contact.current_fraction_of_setpoint * sample.contact_setpoint_ma
        )
        return high_v and low_i
