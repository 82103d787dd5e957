"""The IX-30 request table (dut-protocol.md section 4): parse, validate, act, answer.

Each handler takes the firmware and the request's arguments and returns the reply body (`OK ...`),
None for RESET (no reply), or raises CommandError for `ERR <code> <name>`. Handlers validate
everything before they change anything, so a refused request changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from rig.bench.firmware_calibration import parse_date
from rig.bench.firmware_protocol import (
    CommandError,
    check_range,
    expect_args,
    format_number,
    parse_decimal,
    parse_int,
)
from rig.dut.protocol import (
    INJECTIONS,
    POLARITIES,
    TEST_RAMP_MAX_MA_PER_S,
    WDOG_MAX_S,
    WDOG_MIN_S,
    WDOG_OFF_S,
    ErrorCode,
    FaultCode,
    Waveform,
)

if TYPE_CHECKING:
    from rig.bench.firmware import Ix30Firmware

Handler = Callable[["Ix30Firmware", list[str]], "str | None"]
OK = "OK"


def dispatch(fw: Ix30Firmware, body: str) -> str | None:
    words = body.split()
    if not words:
        raise CommandError(ErrorCode.SYNTAX)
    handler = COMMANDS.get(words[0].upper())
    if handler is None:
        raise CommandError(ErrorCode.SYNTAX)
    return handler(fw, words[1:])


def _word(args: list[str], choices: tuple[str, ...] | frozenset[str]) -> str:
    word = expect_args(args, 1)[0].upper()
    if word not in choices:
        raise CommandError(ErrorCode.SYNTAX)
    return word


def _polarity(text: str) -> str:
    if text.upper() not in POLARITIES:
        raise CommandError(ErrorCode.SYNTAX)
    return text.upper()


# ----- identity and state
def _id(fw: Ix30Firmware, args: list[str]) -> str:
    expect_args(args, 0)
    return f"OK {fw.identity}"


def _state(fw: Ix30Firmware, args: list[str]) -> str:
    expect_args(args, 0)
    return f"OK {fw.state} {fw.fault_code}"


def _fault(fw: Ix30Firmware, args: list[str]) -> str:
    expect_args(args, 0)
    return f"OK {fw.fault_code} {FaultCode(fw.fault_code).name}"


def _clear(fw: Ix30Firmware, args: list[str]) -> str:
    expect_args(args, 0)
    fw.clear_fault()
    return OK


# ----- settings
def _set(fw: Ix30Firmware, args: list[str]) -> str:
    requested_ma = parse_decimal(expect_args(args, 1)[0])
    setpoint = fw.spec.setpoint
    steps = round(requested_ma / setpoint.resolution_ma)
    # round() again so that 0.1-steps read back as the decimal the host sent (10.0, not 10.000001)
    target_ma = round(steps * setpoint.resolution_ma, 6) + 0.0
    fw.settings.target_ma = check_range(target_ma, setpoint.min_ma, setpoint.max_ma)
    return OK


def _set_query(fw: Ix30Firmware, args: list[str]) -> str:
    expect_args(args, 0)
    return f"OK {fw.settings.target_ma:.1f}"


def _mode(fw: Ix30Firmware, args: list[str]) -> str:
    if not args:
        raise CommandError(ErrorCode.SYNTAX)
    kind = args[0].upper()
    if kind == Waveform.DC:
        expect_args(args, 1)
        fw.set_pulse(None)
        return OK
    if kind != Waveform.PULSED:
        raise CommandError(ErrorCode.SYNTAX)
    _, freq_text, duty_text = expect_args(args, 3)
    freq_hz, duty_pct = parse_decimal(freq_text), parse_decimal(duty_text)
    pulsed = fw.spec.pulsed_accuracy
    check_range(freq_hz, pulsed.freq_min_hz, pulsed.freq_max_hz)
    check_range(duty_pct, pulsed.duty_min_pct, pulsed.duty_max_pct)
    fw.set_pulse((freq_hz, duty_pct))
    return OK


def _mode_query(fw: Ix30Firmware, args: list[str]) -> str:
    expect_args(args, 0)
    if fw.settings.pulse is None:
        return "OK DC"
    freq_hz, duty_pct = fw.settings.pulse
    return f"OK PULSED {format_number(freq_hz)} {format_number(duty_pct)}"


def _pol(fw: Ix30Firmware, args: list[str]) -> str:
    fw.set_polarity(_word(args, POLARITIES))
    return OK


def _pol_query(fw: Ix30Firmware, args: list[str]) -> str:
    expect_args(args, 0)
    return f"OK {fw.settings.polarity}"


def _ramp(fw: Ix30Firmware, args: list[str]) -> str:
    rate = parse_decimal(expect_args(args, 1)[0])
    ramp = fw.spec.ramp
    fw.settings.ramp_ma_per_s = check_range(rate, ramp.rate_min_ma_per_s, ramp.rate_max_ma_per_s)
    fw.settings.test_ramp_ma_per_s = None  # the last rate written is the one in force
    return OK


def _ramp_query(fw: Ix30Firmware, args: list[str]) -> str:
    expect_args(args, 0)
    return f"OK {format_number(fw.ramp_rate_ma_per_s())}"


def _timer(fw: Ix30Firmware, args: list[str]) -> str:
    timer_s = parse_decimal(expect_args(args, 1)[0])
    fw.settings.timer_s = check_range(timer_s, fw.spec.timer.min_s, fw.spec.timer.max_s)
    return OK


def _timer_query(fw: Ix30Firmware, args: list[str]) -> str:
    expect_args(args, 0)
    return f"OK {format_number(fw.settings.timer_s)}"


def _wdog(fw: Ix30Firmware, args: list[str]) -> str:
    wdog_s = parse_decimal(expect_args(args, 1)[0])
    if wdog_s != WDOG_OFF_S:
        check_range(wdog_s, WDOG_MIN_S, WDOG_MAX_S)
    fw.settings.wdog_s = wdog_s
    return OK


def _wdog_query(fw: Ix30Firmware, args: list[str]) -> str:
    expect_args(args, 0)
    return f"OK {format_number(fw.settings.wdog_s)}"


# ----- session
def _start(fw: Ix30Firmware, args: list[str]) -> str:
    expect_args(args, 0)
    fw.start_session()
    return OK


def _stop(fw: Ix30Firmware, args: list[str]) -> str:
    expect_args(args, 0)
    fw.stop_session()
    return OK


def _meas(fw: Ix30Firmware, args: list[str]) -> str:
    """Magnitudes (the polarity is POL?'s), through the calibration in use."""
    expect_args(args, 0)
    polarity = fw.settings.polarity
    i_code, v_code = fw.circuit.adc_codes(polarity)
    current_ma, voltage_v = fw.calibration.in_use.readings(polarity, i_code, v_code)
    # The drift fault is in what MEAS? reports, not in the converter the cut-offs read through.
    current_ma *= fw.behaviour.reading_gain_factor
    compliance = 1 if fw.circuit.in_compliance() else 0
    return f"OK {current_ma:.4f} {voltage_v:.3f} {compliance}"


# ----- test mode
def _test(fw: Ix30Firmware, args: list[str]) -> str:
    fw.set_test_mode(_word(args, ("ON", "OFF")) == "ON")
    return OK


def _require_test_mode(fw: Ix30Firmware) -> None:
    if not fw.test_mode:
        raise CommandError(ErrorCode.STATE)


def _test_dac(fw: Ix30Firmware, args: list[str]) -> str:
    code = parse_int(expect_args(args, 1)[0])
    check_range(code, 0, fw.spec.calibration_nominal.dac_code_max)
    fw.drive_raw(code)
    return OK


def _test_adc_query(fw: Ix30Firmware, args: list[str]) -> str:
    expect_args(args, 0)
    _require_test_mode(fw)
    i_code, v_code = fw.circuit.adc_codes(fw.settings.polarity)
    return f"OK {i_code} {v_code}"


def _test_ramp(fw: Ix30Firmware, args: list[str]) -> str:
    rate = parse_decimal(expect_args(args, 1)[0])
    check_range(rate, fw.spec.ramp.rate_min_ma_per_s, TEST_RAMP_MAX_MA_PER_S)
    _require_test_mode(fw)
    fw.settings.test_ramp_ma_per_s = rate
    return OK


def _test_inject(fw: Ix30Firmware, args: list[str]) -> str:
    fw.inject(_word(args, INJECTIONS))
    return OK


# ----- calibration
def _cal_query(fw: Ix30Firmware, args: list[str]) -> str:
    expect_args(args, 0)
    return f"OK {fw.calibration.in_use.describe()}"


def _cal_unlock(fw: Ix30Firmware, args: list[str]) -> str:
    fw.calibration.unlock(expect_args(args, 1)[0])
    return OK


def _cal_lock(fw: Ix30Firmware, args: list[str]) -> str:
    expect_args(args, 0)
    fw.calibration.lock()
    return OK


def _cal_dac(fw: Ix30Firmware, args: list[str]) -> str:
    pol_text, gain_text, offset_text = expect_args(args, 3)
    polarity = _polarity(pol_text)
    fw.calibration.write_dac(polarity, parse_decimal(gain_text), parse_decimal(offset_text))
    return OK


def _cal_adc(fw: Ix30Firmware, args: list[str]) -> str:
    pol_text, gain_text, offset_text = expect_args(args, 3)
    polarity = _polarity(pol_text)
    fw.calibration.write_adc(polarity, parse_decimal(gain_text), parse_decimal(offset_text))
    return OK


def _cal_vadc(fw: Ix30Firmware, args: list[str]) -> str:
    gain_text, offset_text = expect_args(args, 2)
    fw.calibration.write_vadc(parse_decimal(gain_text), parse_decimal(offset_text))
    return OK


def _cal_save(fw: Ix30Firmware, args: list[str]) -> str:
    fw.calibration.save(parse_date(expect_args(args, 1)[0]))
    return OK


def _reset(fw: Ix30Firmware, args: list[str]) -> None:
    expect_args(args, 0)
    fw.reset()
    return None


COMMANDS: dict[str, Handler] = {
    "ID?": _id,
    "STATE?": _state,
    "SET": _set,
    "SET?": _set_query,
    "MODE": _mode,
    "MODE?": _mode_query,
    "POL": _pol,
    "POL?": _pol_query,
    "RAMP": _ramp,
    "RAMP?": _ramp_query,
    "TIMER": _timer,
    "TIMER?": _timer_query,
    "START": _start,
    "STOP": _stop,
    "MEAS?": _meas,
    "FAULT?": _fault,
    "CLEAR": _clear,
    "WDOG": _wdog,
    "WDOG?": _wdog_query,
    "TEST": _test,
    "TEST:DAC": _test_dac,
    "TEST:ADC?": _test_adc_query,
    "TEST:RAMP": _test_ramp,
    "TEST:INJECT": _test_inject,
    "CAL?": _cal_query,
    "CAL:UNLOCK": _cal_unlock,
    "CAL:DAC": _cal_dac,
    "CAL:ADC": _cal_adc,
    "CAL:VADC": _cal_vadc,
    "CAL:SAVE": _cal_save,
    "CAL:LOCK": _cal_lock,
    "RESET": _reset,
}
