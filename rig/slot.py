"""An open slot: the unit, its ammeter and voltmeter channels and its load, ready to measure.

Builds the drivers from the station's resources, checks every identity against the asset register,
refuses instruments past their calibration due date unless overridden, and, whatever way the slot is
left, puts the unit's output off and the load in its safe state.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import threading
from dataclasses import dataclass, field
from typing import Any

from rig.dut.client import OUTPUT_OFF_STATES, REPLY_TIMEOUT_S, Ix30Client
from rig.instruments.analyzer import PowerAnalyzer
from rig.instruments.load import ResistanceLoad
from rig.instruments.paired import PairedDigitizer
from rig.instruments.registry import DriverLookupError, driver_for
from rig.station import InstrumentAsset, Station, StationError

log = logging.getLogger(__name__)

# The host watchdog is fed by a request at least this many times per period, so a busy moment
# (a long acquisition) never lets it expire while the rig is alive.
WATCHDOG_FEEDS_PER_PERIOD = 4
# The rig's longest silence on the serial line while it is alive and the link merely slow: a request
# that goes unanswered (REPLY_TIMEOUT_S) and the wait for its late reply (as long again) before the
# next frame, plus what a busy host adds before the rig's thread runs or its frame is read (seen: at a
# load of 2 to 3 on two cores, healthy runs cut by !WDOG at a period of 1.4 s, which left no room for
# it). The watchdog period is the shortest that rhythm allows, plus one feed interval, in the unit's
# 0.1 s steps: (2 x 0.5 s + 0.5 s) / (1 - 1/4) = 2.0 s.
WATCHDOG_STEP_S = 0.1
HOST_SCHEDULING_ALLOWANCE_S = 0.5
WATCHDOG_PERIOD_S = round(
    math.ceil((2 * REPLY_TIMEOUT_S + HOST_SCHEDULING_ALLOWANCE_S) / (1 - 1 / WATCHDOG_FEEDS_PER_PERIOD)
              / WATCHDOG_STEP_S - 1e-9) * WATCHDOG_STEP_S, 1
)


class TraceabilityError(RuntimeError):
    """An instrument that does not match the register or is past its calibration due date."""


@dataclass(frozen=True)
class DueDateOverride:
    reason: str
    operator: str


def check_due_dates(
    assets: list[InstrumentAsset], today: dt.date, override: DueDateOverride | None
) -> list[str]:
    """Return the overdue instruments (as text) if overridden; raise if not overridden."""
    overdue = [
        f"{a.id} ({a.model} {a.serial}) calibration due {a.cal_due.isoformat()}"
        for a in assets
        if a.cal_due is not None and a.cal_due < today
    ]
    if overdue and override is None:
        raise TraceabilityError(
            "instrument past its calibration due date: " + "; ".join(overdue)
            + " (use --override-due 'reason' to run anyway; it is recorded on the report)"
        )
    return overdue


@dataclass(frozen=True)
class SafeState:
    """What making a slot safe achieved, as read back: the unit's state after the output was
    switched off (None: it could not be read) and whether the load took its safe state."""

    slot: int
    unit_state: str | None
    load_safe: bool

    @property
    def output_off(self) -> bool:
        return self.unit_state in OUTPUT_OFF_STATES

    @property
    def confirmed(self) -> bool:
        return self.output_off and self.load_safe

    def describe(self) -> str:
        """'output off' only when read back off; otherwise what is not known."""
        if self.output_off:
            output = "output off"
        elif self.unit_state is None:
            output = "output state UNKNOWN (the unit's state could not be read back)"
        else:
            output = f"output NOT confirmed off (the unit reads {self.unit_state})"
        return output if self.load_safe else f"{output}, load safe state NOT confirmed"


@dataclass
class OpenSlot:
    """The drivers of one slot. Use as a context manager: leaving it always makes the slot safe."""

    station: Station
    number: int
    dut: Ix30Client
    ammeter: PowerAnalyzer | PairedDigitizer  # the traces of both roles are taken through it
    voltmeter: Any  # the voltmeter role's driver (the analyzer itself when it holds both roles)
    load: ResistanceLoad
    assets: dict[str, InstrumentAsset]
    overdue: list[str] = field(default_factory=list)
    _feeder: threading.Thread | None = None
    _stop_feeding: threading.Event = field(default_factory=threading.Event)
    # Held by a feed and by a RESET: no feed is sent into a rebooting unit (it would go unanswered).
    _feed_lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def settle_after_load_s(self) -> float:
        """The wait after a load change: the unit's output re-settling into the new load. The load's
        own switching time is already waited by its driver (*OPC? answers once the value has settled,
        instruments.md), so it is not waited twice."""
        return self.station.dut_figures().settle_s

    @property
    def settle_after_setpoint_s(self) -> float:
        """The unit's output settling plus the analyzer's own (stated) settling."""
        ammeter_id = self.station.slot(self.number).ammeter.instrument
        return self.station.dut_figures().settle_s + self.station.settle_s(ammeter_id)

    def arm_watchdog(self, period_s: float = WATCHDOG_PERIOD_S) -> None:
        """Arm the unit's host watchdog and keep it fed from a background thread, so that if the
        rig dies (SIGKILL, power cut) the unit turns its output off by itself."""
        self.dut.set_watchdog_s(period_s)
        if self._feeder is not None and self._feeder.is_alive():
            return  # already fed (at the rhythm of the first arming)
        self._stop_feeding.clear()
        interval_s = period_s / WATCHDOG_FEEDS_PER_PERIOD

        def feed() -> None:
            while not self._stop_feeding.wait(interval_s):
                try:
                    with self._feed_lock:
                        self.dut.state()
                except Exception as exc:  # the main thread will meet the same fault
                    log.warning("watchdog feed failed: %s", exc)

        self._feeder = threading.Thread(target=feed, name=f"wdog-feed-{self.number}", daemon=True)
        self._feeder.start()

    def reset_unit(self) -> str:
        """RESET the unit, wait for its `!BOOT`, and re-arm what the reset cleared that the slot had
        set: the host watchdog, at the same period. Returns the firmware the unit booted."""
        period_s = self.dut.watchdog_armed_s
        with self._feed_lock:
            firmware = self.dut.reset()
        if period_s > 0:
            self.arm_watchdog(period_s)
        return firmware

    def make_safe(self) -> SafeState:
        """Output off, load safe. Best effort on each part: one failing never skips the other.
        The watchdog stays armed and fed: the slot may be used again (the next test, the next phase).
        Returns what was read back, so that nobody says 'output off' unless the unit said so."""
        unit_state: str | None = None
        try:
            unit_state = self.dut.output_off()
        except Exception as exc:
            log.error("slot %d: could not confirm the unit's output off: %s", self.number, exc)
        load_safe = False
        try:
            self.load.safe_state()
            load_safe = True
        except Exception as exc:
            log.error("slot %d: could not put the load in its safe state: %s", self.number, exc)
        return SafeState(self.number, unit_state, load_safe)

    def close(self) -> SafeState:
        safe = self.make_safe()
        self._stop_feeding.set()
        if self._feeder is not None:
            self._feeder.join(timeout=1.0)
        try:
            self.dut.set_watchdog_s(0.0)
        except Exception:
            pass  # the output is already off; an armed watchdog on an idle unit is harmless
        for instrument in {id(x): x for x in (self.dut, self.ammeter, self.voltmeter, self.load)}.values():
            try:
                instrument.close()
            except Exception as exc:
                log.warning("closing %s: %s", instrument, exc)
        return safe

    def __enter__(self) -> OpenSlot:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _voltage_range_v(station: Station, voltmeter_id: str, upper_v: float | None) -> float:
    """The voltmeter's stated range covering the highest voltage the unit may show."""
    if upper_v is None:
        from rig.spec import load_spec  # the shipped spec, only for a slot with a separate voltmeter

        upper_v = load_spec().compliance.v_abs_max_v
    return station.figures(voltmeter_id).voltage_range_for(upper_v)[1].upper_v


def open_slot(
    station: Station,
    number: int,
    *,
    expected_unit_serial: str | None = None,
    override: DueDateOverride | None = None,
    today: dt.date | None = None,
    voltage_upper_v: float | None = None,
) -> OpenSlot:
    """Open every driver of a slot and check it against the register; close what was opened if any
    check fails. Each role's driver is the one registered for its instrument's model
    (rig.instruments.registry). With the voltmeter on an instrument of its own, the slot's `ammeter`
    is the ammeter paired with it (rig.instruments.paired), on the range covering `voltage_upper_v`
    (default: the shipped spec's highest allowed output voltage)."""
    config = station.slot(number)
    role_ids = {
        "ammeter": config.ammeter.instrument,
        "voltmeter": config.voltmeter.instrument,
        "load": config.load.instrument,
    }
    assets = {role: station.instrument(i) for role, i in role_ids.items()}
    overdue = check_due_dates(list({a.id: a for a in assets.values()}.values()), today or dt.date.today(),
                              override)
    try:
        drivers = {role: driver_for(role, assets[role].model, station.figures(role_ids[role]).kind,
                                    where=f"station {station.name!r} slot {number} {role} ({role_ids[role]})")
                   for role in ("ammeter", "voltmeter", "load")}
    except DriverLookupError as exc:
        raise StationError(str(exc)) from None
    opened: list = []
    load = None
    try:
        ammeter = drivers["ammeter"].open(
            assets["ammeter"].resource, name=f"ammeter {assets['ammeter'].id}",
            expected_serial=assets["ammeter"].serial,
        )
        opened.append(ammeter)
        if role_ids["voltmeter"] == role_ids["ammeter"]:
            voltmeter = ammeter
        else:
            voltmeter = drivers["voltmeter"].open(
                assets["voltmeter"].resource, name=f"voltmeter {assets['voltmeter'].id}",
                expected_serial=assets["voltmeter"].serial,
            )
            opened.append(voltmeter)
        load = drivers["load"].open(
            assets["load"].resource, name=f"load {assets['load'].id}", expected_serial=assets["load"].serial
        )
        opened.append(load)
        load.safe_state()
        if voltmeter is not ammeter:
            ammeter.configure_roles(config.ammeter.channel or 1, None)
            voltmeter.configure_voltmeter(_voltage_range_v(station, role_ids["voltmeter"], voltage_upper_v))
            line = config.trigger_line
            ammeter = PairedDigitizer(
                ammeter, voltmeter, trigger_pin=line.pin if line is not None else None,
                trigger_latency_s=station.figures(role_ids["voltmeter"]).trigger_latency_s or 0.0)
            opened[0] = ammeter
        dut = Ix30Client.open(config.dut, expected_serial=expected_unit_serial or config.dut_serial)
        opened.append(dut)
        dut.output_off()
    except BaseException:
        for instrument in reversed(opened):
            try:
                if instrument is load:
                    instrument.safe_state()
                instrument.close()
            except Exception:
                pass
        raise
    if voltmeter is ammeter:
        ammeter.configure_roles(config.ammeter.channel or 1, config.voltmeter.channel or 2)
    return OpenSlot(station, number, dut, ammeter, voltmeter, load, assets, overdue)
