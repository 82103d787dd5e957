"""The closing line's safe-state clause: 'output off' only for an output read back off."""

from __future__ import annotations

from rig.commands.calibrate_cmd import _safe_states_of, safe_state_summary
from rig.session.run import CalibrationOutcome
from rig.slot import SafeState


def test_output_off_only_when_read_back_off():
    assert safe_state_summary({1: SafeState(1, "IDLE", True)}) == ("output off", True)
    assert safe_state_summary({1: SafeState(1, "FAULT", True)}) == ("output off", True)
    text, all_off = safe_state_summary({1: SafeState(1, None, True)})
    assert not all_off and "output off" not in text and "UNKNOWN" in text
    text, all_off = safe_state_summary({1: SafeState(1, "RAMP_DOWN", True)})
    assert not all_off and "NOT confirmed off" in text and "RAMP_DOWN" in text
    text, all_off = safe_state_summary({1: SafeState(1, "IDLE", False)})
    assert not all_off and "load safe state NOT confirmed" in text


def test_every_slot_is_named_and_a_missing_one_is_unknown():
    stop = KeyboardInterrupt("terminated by SIGTERM")
    stop.outcomes = {1: CalibrationOutcome("ERROR", "stopped", safe=SafeState(1, "IDLE", True)),
                     2: CalibrationOutcome("ERROR", "its worker process ended without an outcome")}
    text, all_off = safe_state_summary(_safe_states_of(stop))
    assert text == "slot 1: output off; slot 2: output state UNKNOWN (not read back)" and not all_off
