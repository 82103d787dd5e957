"""`FORMat[:DATA] ASCii|REAL` and `FORMat:BORDer NORMal|SWAPped` for the emulated analyzer's arrays.

REAL sends an IEEE 488.2 definite-length block of 32-bit floats (`#<n><length><bytes>`), NORMal byte
order big-endian, SWAPped little-endian, as the N6700 family does for array queries. Binary arrays
cost neither side the formatting and parsing of thousands of numbers. The reply text carries the
bytes one character each (latin-1), which the TCP server sends unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rig.bench.scpi import Call, ScpiError, ScpiInstrument, parse_choice, parse_int

REAL_BITS = 32
BYTE_ORDERS = {"NORMAL": ">", "SWAPPED": "<"}


def ascii_values(values: np.ndarray) -> str:
    return ",".join(map("{:+.6E}".format, values.tolist()))


@dataclass
class DataFormat:
    data: str = "ASCII"
    border: str = "NORMAL"

    def encode(self, values: np.ndarray) -> str:
        """An array reply in the format in force."""
        if self.data == "ASCII":
            return ascii_values(values)
        payload = np.asarray(values, dtype=BYTE_ORDERS[self.border] + "f4").tobytes()
        length = str(len(payload))
        return f"#{len(length)}{length}" + payload.decode("latin-1")

    def register(self, instrument: ScpiInstrument) -> None:
        instrument.add("FORMat[:DATA]", self._set_data)
        instrument.add("FORMat[:DATA]?", lambda c: "REAL,32" if self.data == "REAL" else "ASC")
        instrument.add("FORMat:BORDer", self._set_border)
        instrument.add("FORMat:BORDer?", lambda c: self.border[:4])

    def reset(self) -> None:
        self.data, self.border = "ASCII", "NORMAL"

    def _set_data(self, call: Call) -> None:
        data = parse_choice(call.arg(0), ("ASCii", "REAL"))
        if data == "REAL" and len(call.args) > 1 and parse_int(call.arg(1)) != REAL_BITS:
            raise ScpiError(-224, f"REAL length must be {REAL_BITS}")
        self.data = data

    def _set_border(self, call: Call) -> None:
        self.border = parse_choice(call.arg(0), ("NORMal", "SWAPped"))
