"""Programmable load resistance: an LXI resistance decade with e-load-style SCPI.

Any maker and model is accepted (instruments.md section 2): the commands are generic, the station
file's expected serial is what pins the instrument.
"""

from __future__ import annotations

import math

from rig.instruments.errors import InstrumentResponseError
from rig.instruments.scpi import ScpiInstrument

_ON_REPLIES = ("1", "ON", "+1")
_OFF_REPLIES = ("0", "OFF", "+0")


class ResistanceLoad(ScpiInstrument):
    SUPPORTED_MODELS = ()
    ROLES = ("load",)  # rig.instruments.registry: every model of kind "load" in the model table
    KINDS = ("load",)

    def set_resistance_ohm(self, ohm: float) -> None:
        """Connect `ohm` and return once it has settled; math.inf opens the circuit."""
        if math.isinf(ohm) and ohm > 0:
            self.open_circuit()
            return
        if not math.isfinite(ohm) or ohm <= 0:
            raise ValueError(f"{self.name}: resistance must be positive or math.inf, got {ohm!r}")
        # One message, one round trip: set, connect, and *OPC?, which the instrument answers once the
        # new value has settled (make-before-break), with the error check appended by query() (an
        # instrument taking one command per message: the settings checked, then *OPC?).
        reply = self.query_after([f"RESistance {ohm:.10g}", "INPut ON"], "*OPC?")
        if reply.strip() not in ("1", "+1"):
            raise InstrumentResponseError(self.name, "*OPC?", reply, "expected 1")

    def is_connected(self) -> bool:
        reply = self.query("INPut?").upper()
        if reply in _ON_REPLIES:
            return True
        if reply in _OFF_REPLIES:
            return False
        raise InstrumentResponseError(self.name, "INPut?", reply, "expected 0/1 or OFF/ON")

    def resistance_ohm(self) -> float:
        """The programmed resistance; math.inf while the input is open."""
        if not self.is_connected():
            return math.inf
        return self.query_float("RESistance?")

    def open_circuit(self) -> None:
        self.write("INPut OFF")
        self.wait_complete()

    def safe_state(self) -> None:
        self.open_circuit()
