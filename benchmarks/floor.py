"""The physical floor of the calibration job: the time the bench's timing model makes unavoidable for
the sequence the rig runs (ramps, settling, load switching, integration windows, and the serial and
SCPI transfer times at the line rates), computed from the stated figures the bench emulates
(rig/specs/instrument_models.toml), the product spec, and the same grid and plans the job uses.

Used by benchmarks/cycle.py; `python benchmarks/floor.py` prints the breakdown.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rig.dut.protocol import POLARITIES, TEST_RAMP_MAX_MA_PER_S, Waveform
from rig.procedures.accuracy import DOWN_RAMP_MARGIN_SHARE, SETTLE_TIME_CONSTANTS
from rig.procedures.acquire import dc_acquisition, pulsed_acquisition
from rig.procedures.characterise import characterisation_plan
from rig.procedures.grid import accuracy_grid
from rig.spec import ProductSpec, load_spec
from rig.station import ModelFigures, default_models

BITS_PER_BYTE = 10  # 8N1
FRAME_OVERHEAD_BYTES = 6  # "*XXXX" and LF
# Typical frame bodies of the exchanges, in bytes (request, reply), from dut-protocol.md section 4.
SET_EXCHANGE = (len("SET 10.0"), len("OK"))
MEAS_EXCHANGE = (len("MEAS?"), len("OK 10.0000 10.000 0"))
ADC_EXCHANGE = (len("TEST:ADC?"), len("OK 1205 622"))
DAC_EXCHANGE = (len("TEST:DAC 1136"), len("OK"))
SESSION_SETUP_EXCHANGES = 5  # POL, MODE, TEST:RAMP, SET, START
SESSION_END_EXCHANGES = 2  # TEST:RAMP (down rate), STOP
CALIBRATION_WRITE_EXCHANGES = 9  # UNLOCK, 2 x CAL:DAC, 2 x CAL:ADC, CAL:VADC, SAVE, LOCK, CAL?
# The persistence check after the save: RESET and its `!BOOT <fw>`, then WDOG re-armed and CAL? again.
# The reboot itself counts 0 s: dut-protocol.md only bounds it (`!BOOT` within 2 s) and the unit's
# model states no boot time, so only the lines are a physical need.
RESET_LINES = (len("RESET"), len("!BOOT 2.4.1"))
PERSISTENCE_EXCHANGES = 2  # WDOG, CAL?
SCPI_MESSAGES_PER_READING = 2  # start the acquisition, fetch it
SCPI_MESSAGES_PER_LOAD_CHANGE = 1


@dataclass
class Floor:
    parts_s: dict[str, float] = field(default_factory=dict)

    def add(self, name: str, seconds: float) -> None:
        self.parts_s[name] = self.parts_s.get(name, 0.0) + seconds

    @property
    def total_s(self) -> float:
        return sum(self.parts_s.values())


def serial_exchange_s(dut: ModelFigures, request: int, reply: int) -> float:
    line_bytes = request + reply + 2 * FRAME_OVERHEAD_BYTES
    return line_bytes * BITS_PER_BYTE / dut.baud + dut.reply_latency_s


def sweep_floor(floor: Floor, phase: str, spec: ProductSpec, models: dict[str, ModelFigures]) -> None:
    dut, analyzer, load = models["IX-30"], models["N6705C"], models["RDEC-1M"]
    down_rate = min(TEST_RAMP_MAX_MA_PER_S,
                    DOWN_RAMP_MARGIN_SHARE * spec.overcurrent.margin_ma / (dut.settle_s / SETTLE_TIME_CONSTANTS))
    grid = accuracy_grid(spec, load.max_power_w, uncalibrated=phase == "as_found")
    group, setpoint, load_ohm = None, 0.0, None
    for point in grid:
        key = (point.polarity, point.waveform, point.freq_hz, point.duty_pct)
        if key != group:
            if group is not None:
                floor.add(f"{phase} ramps", setpoint / down_rate)
                floor.add(f"{phase} serial", SESSION_END_EXCHANGES * serial_exchange_s(dut, *SET_EXCHANGE))
            floor.add(f"{phase} serial", SESSION_SETUP_EXCHANGES * serial_exchange_s(dut, *SET_EXCHANGE))
            group, setpoint, load_ohm = key, 0.0, None
        if point.load_ohm != load_ohm:
            floor.add(f"{phase} load switching", load.settle_s + dut.settle_s)
            floor.add(f"{phase} scpi", SCPI_MESSAGES_PER_LOAD_CHANGE * load.command_latency_s)
            load_ohm = point.load_ohm
        if point.setpoint_ma != setpoint:
            floor.add(f"{phase} ramps", (point.setpoint_ma - setpoint) / TEST_RAMP_MAX_MA_PER_S)
            floor.add(f"{phase} settling", dut.settle_s)
            floor.add(f"{phase} serial", serial_exchange_s(dut, *SET_EXCHANGE))
            setpoint = point.setpoint_ma
        pulsed = point.waveform != Waveform.DC
        window = pulsed_acquisition(analyzer, point.freq_hz) if pulsed else dc_acquisition(analyzer)
        floor.add(f"{phase} integration", window.window_s)
        floor.add(f"{phase} scpi", SCPI_MESSAGES_PER_READING * analyzer.command_latency_s)
        if not pulsed:
            floor.add(f"{phase} serial", serial_exchange_s(dut, *MEAS_EXCHANGE))
    floor.add(f"{phase} ramps", setpoint / down_rate)


def characterise_floor(floor: Floor, spec: ProductSpec, models: dict[str, ModelFigures]) -> None:
    dut, analyzer, load = models["IX-30"], models["N6705C"], models["RDEC-1M"]
    for _ in POLARITIES:
        load_ohm = None
        for plan_load, _code in characterisation_plan(spec):
            if plan_load != load_ohm:
                floor.add("characterise load switching", load.settle_s)
                load_ohm = plan_load
            floor.add("characterise settling", dut.settle_s)
            floor.add("characterise integration", dc_acquisition(analyzer).window_s)
            floor.add("characterise scpi", SCPI_MESSAGES_PER_READING * analyzer.command_latency_s)
            exchanges_s = serial_exchange_s(dut, *DAC_EXCHANGE) + serial_exchange_s(dut, *ADC_EXCHANGE)
            floor.add("characterise serial", exchanges_s)


def calibration_floor(spec: ProductSpec | None = None, models: dict[str, ModelFigures] | None = None) -> Floor:
    spec, models = spec or load_spec(), models or default_models()
    floor = Floor()
    sweep_floor(floor, "as_found", spec, models)
    characterise_floor(floor, spec, models)
    floor.add("write serial", CALIBRATION_WRITE_EXCHANGES * serial_exchange_s(models["IX-30"], *SET_EXCHANGE))
    floor.add("persistence serial", serial_exchange_s(models["IX-30"], *RESET_LINES)
              + PERSISTENCE_EXCHANGES * serial_exchange_s(models["IX-30"], *SET_EXCHANGE))
    sweep_floor(floor, "as_left", spec, models)
    return floor


if __name__ == "__main__":
    result = calibration_floor()
    for name, seconds in sorted(result.parts_s.items()):
        print(f"{name:32s} {seconds:7.3f} s")
    print(f"floor_s={result.total_s:.2f}")
