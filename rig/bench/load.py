"""Emulated programmable load: an LXI resistance decade with e-load-style SCPI (instruments.md 2).

The physics gets the decade's true resistance (the setting through its own ±(0.1 % + 0.5 Ω)
error); a new value takes effect 5 ms after the command, make-before-break (the old value stays
until then, never an open), and *OPC? answers once it has. Above 1 W the load opens and queues
-221: a watcher samples the dissipation every few milliseconds (the limit is thermal, not fast).
"""

from __future__ import annotations

import math
import threading
import time

import numpy as np

from rig.bench.physics import SlotCircuit
from rig.bench.scpi import Call, ScpiError, ScpiInstrument, parse_bool, parse_number
from rig.bench.variant import within

MAKER = "RIG BENCH"
MODEL = "RDEC-1M"
FIRMWARE = "1.0"
R_MIN_OHM = 10.0
R_MAX_OHM = 1e6
SWITCH_S = 0.005
POWER_MAX_W = 1.0
GAIN_ERROR_MAX = 0.001
OFFSET_ERROR_MAX_OHM = 0.5
POWER_POLL_S = 0.005


class ResistanceDecade(ScpiInstrument):
    def __init__(self, circuit: SlotCircuit, serial: str, seed: int, error_extremity: float = 0.0) -> None:
        """error_extremity: the errors lie in ±[extremity, 1] x the stated accuracy (0: anywhere inside)."""
        super().__init__(f"{MAKER},{MODEL},{serial},{FIRMWARE}")
        self.circuit = circuit
        rng = np.random.default_rng(seed)
        self.gain_error = within(rng, error_extremity) * GAIN_ERROR_MAX
        self.offset_error_ohm = within(rng, error_extremity) * OFFSET_ERROR_MAX_OHM
        self._lock = threading.Lock()
        self.setting_ohm = R_MAX_OHM
        self.input_on = False
        self._settled_at_s = circuit.now()
        self._stop = threading.Event()
        self._watcher = threading.Thread(target=self._watch_power, daemon=True, name="load-power")
        self.add("[SOURce:]RESistance[:LEVel][:IMMediate][:AMPLitude]", self._set_resistance)
        self.add("[SOURce:]RESistance[:LEVel][:IMMediate][:AMPLitude]?",
                 lambda call: f"{self.setting_ohm:.6E}")
        self.add("INPut[:STATe]", self._set_input)
        self.add("INPut[:STATe]?", lambda call: "1" if self.input_on else "0")
        self.circuit.set_load(math.inf)

    def start(self) -> None:
        self._watcher.start()

    def close(self) -> None:
        self._stop.set()

    def true_ohm(self) -> float:
        """What the physics sees: the setting through the decade's own error."""
        return self.setting_ohm * (1 + self.gain_error) + self.offset_error_ohm

    def _apply(self) -> None:
        """Schedule the present state into the physics after the switching time."""
        at_s = self.circuit.now() + SWITCH_S
        self.circuit.set_load(self.true_ohm() if self.input_on else math.inf, at_s=at_s)
        self._settled_at_s = at_s

    def _set_resistance(self, call: Call) -> None:
        ohms = parse_number(call.arg(0))
        if not R_MIN_OHM <= ohms <= R_MAX_OHM:
            raise ScpiError(-222, f"resistance {ohms:g} ohm")
        with self._lock:
            self.setting_ohm = float(round(ohms))
            if self.input_on:
                self._apply()

    def _set_input(self, call: Call) -> None:
        on = parse_bool(call.arg(0))
        with self._lock:
            self.input_on = on
            self._apply()

    def reset(self) -> None:
        with self._lock:
            self.input_on = False
            self._apply()

    def wait_complete(self) -> None:
        while (late := self._settled_at_s - self.circuit.now()) > 0:
            time.sleep(late)

    def _watch_power(self) -> None:
        while not self._stop.wait(POWER_POLL_S):
            with self._lock:
                if not self.input_on or self._settled_at_s > self.circuit.now():
                    continue
                power_w = self.circuit.current_a() ** 2 * self.true_ohm()
                if power_w > POWER_MAX_W:
                    self.input_on = False
                    self.circuit.set_load(math.inf)
                    self._settled_at_s = self.circuit.now()
                    self.errors.push(-221, f"load opened at {power_w:.2f} W")
