"""The wire from the analyzer's digital port (a pin as trigger output) to a DMM's external trigger input.

The analyzer side follows the N6705 programming guide: `[SOURce:]DIGital:PIN<n>:FUNCtion TOUTput`,
`[SOURce:]DIGital:PIN<n>:POLarity POSitive|NEGative`, `[SOURce:]DIGital:TOUTput:BUS[:ENABle] ON|OFF`;
with a pin as trigger output and bus triggers enabled, every `*TRG` the analyzer takes puts an edge on
the pin, and the bench's wiring (the dmm layout) carries it to the DMM. Deviation, stated: the
emulated edge arrives at the DMM at the instant of the `*TRG` (the DMM adds its own trigger latency);
the polarity is recorded, not modelled (the wiring is assumed to match it).
"""

from __future__ import annotations

from collections.abc import Callable

from rig.bench.scpi import Call, ScpiError, ScpiInstrument, parse_bool, parse_choice

PINS = tuple(range(1, 8))
FUNCTIONS = ("DIO", "DINPut", "TOUTput", "TINPut", "FAULt", "INHibit", "ONCouple", "OFFCouple")


class TriggerOut:
    """The analyzer's digital port as far as the trigger output goes."""

    def __init__(self) -> None:
        self.functions = {pin: "DIO" for pin in PINS}
        self.polarity = {pin: "POSITIVE" for pin in PINS}
        self.bus_enabled = False
        self.wired: dict[int, Callable[[float], None]] = {}  # pin -> the input it is wired to

    def register(self, instrument: ScpiInstrument) -> None:
        add = instrument.add
        for pin in PINS:
            add(f"[SOURce:]DIGital:PIN{pin}:FUNCtion", lambda c, p=pin: self._set_function(c, p))
            add(f"[SOURce:]DIGital:PIN{pin}:FUNCtion?", lambda c, p=pin: self.functions[p])
            add(f"[SOURce:]DIGital:PIN{pin}:POLarity", lambda c, p=pin: self._set_polarity(c, p))
        add("[SOURce:]DIGital:TOUTput:BUS[:ENABle]", self._set_bus)
        add("[SOURce:]DIGital:TOUTput:BUS[:ENABle]?", lambda c: str(int(self.bus_enabled)))

    def reset(self) -> None:
        self.functions = {pin: "DIO" for pin in PINS}
        self.bus_enabled = False

    def _set_function(self, call: Call, pin: int) -> None:
        self.functions[pin] = parse_choice(call.arg(0), FUNCTIONS)

    def _set_polarity(self, call: Call, pin: int) -> None:
        self.polarity[pin] = parse_choice(call.arg(0), ("POSitive", "NEGative"))

    def _set_bus(self, call: Call) -> None:
        on = parse_bool(call.arg(0))
        if on and "TOUTPUT" not in self.functions.values():
            raise ScpiError(-221, "no pin is a trigger output")
        self.bus_enabled = on

    def wire(self, pin: int, trigger_input: Callable[[float], None]) -> None:
        self.wired[pin] = trigger_input

    def bus_trigger(self, at_s: float) -> None:
        """A `*TRG` taken at `at_s`: an edge on every trigger-output pin, to what it is wired to."""
        if not self.bus_enabled:
            return
        for pin, trigger_input in self.wired.items():
            if self.functions[pin] == "TOUTPUT":
                trigger_input(at_s)
