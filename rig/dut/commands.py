"""The IX-30's plain commands (dut-protocol.md section 4) as typed methods, mixed into Ix30Client.

Each method is one request; retries, reconnection and reboot detection are the client's business.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from rig.dut.errors import DutFrameError
from rig.dut.protocol import POLARITIES
from rig.spec import ProductSpec


@dataclass(frozen=True)
class DutState:
    state: str
    fault_code: int


@dataclass(frozen=True)
class DutReading:
    current_ma: float
    voltage_v: float
    compliance: bool


class UnitCommands:
    port_name: str
    spec: ProductSpec
    _test_mode: bool = False
    _watchdog_armed_s: float = 0.0

    def request(self, body: str) -> str:
        raise NotImplementedError

    def _request(self, body: str, *, check_reboot: bool) -> str:
        raise NotImplementedError

    def _command(self, body: str) -> None:
        self.request(body)

    def _float(self, body: str, *, check_reboot: bool = True) -> float:
        payload = self._request(body, check_reboot=check_reboot)
        try:
            return float(payload)
        except ValueError:
            raise DutFrameError(self.port_name, body, "not a number", payload) from None

    def _fields(self, body: str, count: int) -> list[str]:
        return self._fields_of(self.request(body), body, count)

    def _fields_of(self, payload: str, body: str, count: int) -> list[str]:
        fields = payload.split()
        if len(fields) != count:
            raise DutFrameError(self.port_name, body, f"expected {count} fields", payload)
        return fields

    def state(self) -> DutState:
        state, code = self._fields("STATE?", 2)
        return DutState(state, self._int(code, "STATE?"))

    def _int(self, token: str, body: str) -> int:
        try:
            return int(token)
        except ValueError:
            raise DutFrameError(self.port_name, body, "not an integer", token) from None

    def set_current_ma(self, ma: float) -> None:
        """Setpoint, rounded to the spec's resolution (0.1 mA)."""
        if not math.isfinite(ma):
            raise ValueError(f"setpoint {ma!r} mA is not a finite number")
        decimals = max(0, -math.floor(math.log10(self.spec.setpoint.resolution_ma)))
        self._command(f"SET {ma:.{decimals}f}")

    def setpoint_ma(self) -> float:
        return self._float("SET?")

    def set_mode_dc(self) -> None:
        self._command("MODE DC")

    def set_mode_pulsed(self, freq_hz: float, duty_pct: float) -> None:
        self._command(f"MODE PULSED {freq_hz:g} {duty_pct:g}")

    def mode(self) -> str:
        return self.request("MODE?")

    def set_polarity(self, pol: str) -> None:
        if pol.upper() not in POLARITIES:
            raise ValueError(f"polarity {pol!r} is not POS or NEG")
        self._command(f"POL {pol.upper()}")

    def polarity(self) -> str:
        return self.request("POL?")

    def set_ramp_ma_per_s(self, rate: float) -> None:
        self._command(f"RAMP {rate:g}")

    def ramp_ma_per_s(self) -> float:
        return self._float("RAMP?")

    def set_timer_s(self, s: float) -> None:
        self._command(f"TIMER {s:g}")

    def timer_s(self) -> float:
        return self._float("TIMER?")

    def start(self) -> None:
        self._command("START")

    def stop(self) -> None:
        self._command("STOP")

    def measure(self) -> DutReading:
        current, voltage, compliance = self._fields("MEAS?", 3)
        try:
            return DutReading(float(current), float(voltage), compliance == "1")
        except ValueError:
            raise DutFrameError(self.port_name, "MEAS?", "not numbers",
                                f"{current} {voltage} {compliance}") from None

    def fault(self) -> tuple[int, str]:
        code, name = self._fields("FAULT?", 2)
        return self._int(code, "FAULT?"), name

    def clear(self) -> None:
        self._command("CLEAR")

    def set_watchdog_s(self, s: float) -> None:
        self._command(f"WDOG {s:g}")
        self._watchdog_armed_s = float(f"{s:g}")

    def watchdog_s(self) -> float:
        return self._float("WDOG?")

    def test_on(self) -> None:
        self._command("TEST ON")
        self._test_mode = True

    def test_off(self) -> None:
        self._command("TEST OFF")
        self._test_mode = False

    def test_dac(self, code: int) -> None:
        self._command(f"TEST:DAC {int(code):d}")

    def test_adc(self) -> tuple[int, int]:
        i_code, v_code = self._fields("TEST:ADC?", 2)
        return self._int(i_code, "TEST:ADC?"), self._int(v_code, "TEST:ADC?")

    def test_ramp(self, rate: float) -> None:
        self._command(f"TEST:RAMP {rate:g}")

    def test_inject(self, name: str) -> None:
        self._command(f"TEST:INJECT {name.upper()}")

