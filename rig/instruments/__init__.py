"""Bench instrument drivers over pyvisa: one module per instrument, a shared SCPI base."""

from rig.instruments.analyzer import PowerAnalyzer, Trace
from rig.instruments.errors import (
    InstrumentError,
    InstrumentIdentity,
    InstrumentIdentityError,
    InstrumentReplyTooLong,
    InstrumentResponseError,
    InstrumentTimeout,
    ScpiError,
)
from rig.instruments.load import ResistanceLoad
from rig.instruments.scpi import ScpiInstrument

__all__ = [
    "InstrumentError",
    "InstrumentIdentity",
    "InstrumentIdentityError",
    "InstrumentReplyTooLong",
    "InstrumentResponseError",
    "InstrumentTimeout",
    "PowerAnalyzer",
    "ResistanceLoad",
    "ScpiError",
    "ScpiInstrument",
    "Trace",
]
