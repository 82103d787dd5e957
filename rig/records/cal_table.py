"""Calibration tables under calibrations/<serial>/: JSON for machines, CSV for people.

The JSON carries a SHA-256 of its own content, so a corrupted or edited table is refused; a table is
only ever applied to the unit whose serial it names. With the station signing key the JSON also
carries a signature over that SHA-256: given the public key, the reader refuses a table whose
signature is missing or does not verify (an edit with its SHA-256 recomputed); without one, the
table is read with integrity UNSIGNED_NOTE.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import logging
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rig.dut.calibration import PolarityCalibration, UnitCalibration, bound_violations
from rig.dut.protocol import POLARITIES
from rig.records.digest import canonical_sha256
from rig.records.signing import UNSIGNED_NOTE, Signer, SigningKeyError, Verifier, load_verifier
from rig.serial_numbers import SerialNumberError, serial_folder
from rig.spec import ProductSpec

log = logging.getLogger(__name__)

FORMAT = "ix30-calibration-table/1"
SIGNED_NOTE = "signature verified"
POLARITY_FIELDS = ("dac_gain", "dac_offset", "adc_gain", "adc_offset")
ROW_COLUMNS = (
    "phase", "requirement", "name", "polarity", "waveform", "load_ohm", "setpoint_ma", "freq_hz",
    "duty_pct", "measured", "unit", "nominal", "lower", "upper", "U", "tur", "verdict",
)


# A table nests five levels deep (rows in lists in the document); deeper is not a table, and deep
# enough would exhaust the JSON parser's recursion (RecursionError instead of a message).
MAX_TABLE_DEPTH = 32
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_JSON_BRACKET = re.compile(r"[\[\]{}]")


class CalibrationTableError(ValueError):
    """A table that cannot be used: names the file and what is wrong with it."""


def coefficients_dict(cal: UnitCalibration) -> dict[str, Any]:
    return {
        "POS": {f: getattr(cal.pos, f) for f in POLARITY_FIELDS},
        "NEG": {f: getattr(cal.neg, f) for f in POLARITY_FIELDS},
        "v_gain": cal.v_gain,
        "v_offset": cal.v_offset,
        "date": cal.date.isoformat() if cal.date else None,
    }


def _number(data: dict, key: str, where: str) -> float:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise CalibrationTableError(f"{where}.{key}: expected a finite number, got {value!r}")
    return float(value)


def coefficients_from_dict(data: Any, where: str) -> UnitCalibration:
    if not isinstance(data, dict):
        raise CalibrationTableError(f"{where}: expected an object of coefficients")
    pols = {}
    for pol in POLARITIES:
        part = data.get(pol)
        if not isinstance(part, dict):
            raise CalibrationTableError(f"{where}.{pol}: missing or not an object")
        pols[pol] = PolarityCalibration(*(_number(part, f, f"{where}.{pol}") for f in POLARITY_FIELDS))
    date = data.get("date")
    try:
        day = dt.date.fromisoformat(date) if date is not None else None
    except (TypeError, ValueError):
        raise CalibrationTableError(f"{where}.date: expected yyyy-mm-dd, got {date!r}") from None
    return UnitCalibration(pols["POS"], pols["NEG"], _number(data, "v_gain", where),
                           _number(data, "v_offset", where), day)


def _clean(value: Any) -> Any:
    """JSON has no inf/nan: open circuit and missing values become strings/None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


@dataclass(frozen=True)
class TablePaths:
    json_path: Path
    csv_path: Path


def table_message(sha256: str) -> dict[str, str]:
    """What the station key signs for a table: its SHA-256 (which covers every other field)."""
    return {"kind": "calibration-table", "sha256": sha256}


def table_folder(directory: Path, serial: str) -> Path:
    """Where a unit's tables go: <directory>/<serial>, resolved; SerialNumberError if not safe."""
    return serial_folder(Path(directory), serial, "calibration table folder")


def write_table(directory: Path, table: dict[str, Any], signer: Signer | None = None) -> TablePaths:
    """Write <serial>/<serial>_<timestamp>.json and .csv; the JSON carries its own SHA-256 and, with
    the station key, a signature over it. The serial must be a safe path component and the folder
    must resolve under `directory`."""
    body = _clean({"format": FORMAT, **table})
    serial = body["serial"]
    stamp = body["created_at"].replace(":", "").replace("-", "")
    try:
        folder = table_folder(directory, serial)
    except SerialNumberError as exc:
        raise CalibrationTableError(str(exc)) from None
    folder.mkdir(parents=True, exist_ok=True)
    json_path = folder / f"{serial}_{stamp}.json"
    csv_path = folder / f"{serial}_{stamp}.csv"
    document = {**body, "sha256": canonical_sha256(body)}
    if signer is not None:
        document["signature"] = signer.sign(table_message(document["sha256"]))
    json_path.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    _write_csv(csv_path, body)
    return TablePaths(json_path, csv_path)


def _write_csv(path: Path, body: dict[str, Any]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        for key in ("serial", "model", "firmware", "date", "created_at", "station", "slot", "operator",
                    "run_id", "verdict"):
            handle.write(f"# {key}: {body.get(key)}\n")
        for inst in body.get("instruments", []):
            handle.write(
                f"# instrument {inst.get('role')}: {inst.get('model')} s/n {inst.get('serial')}"
                f" cert {inst.get('certificate')} cal due {inst.get('cal_due')}\n"
            )
        coeffs = body["coefficients"]
        for pol in POLARITIES:
            line = " ".join(f"{f}={coeffs[pol][f]:.8g}" for f in POLARITY_FIELDS)
            handle.write(f"# coefficients {pol}: {line}\n")
        handle.write(f"# coefficients V: v_gain={coeffs['v_gain']:.8g} v_offset={coeffs['v_offset']:.8g}\n")
        for name, res in body.get("fit_residuals", {}).items():
            handle.write(
                f"# fit residual {name}: max {res['max_abs']:.4g} rms {res['rms']:.4g} {res['unit']}\n"
            )
        if body.get("bow_note"):
            handle.write(f"# {body['bow_note']}\n")
        writer.writerow(ROW_COLUMNS)
        for row in body.get("as_found", []) + body.get("as_left", []):
            writer.writerow([row.get(c, "") for c in ROW_COLUMNS])


@dataclass(frozen=True)
class LoadedTable:
    path: Path
    serial: str
    coefficients: UnitCalibration
    document: dict[str, Any]
    integrity: str = UNSIGNED_NOTE


def _check_signature(path: Path, digest: str, signature: Any, verifier: Verifier | None) -> str:
    if verifier is None:
        try:
            verifier = load_verifier(None)
        except SigningKeyError as exc:
            raise CalibrationTableError(f"calibration table {path}: {exc}") from None
    if verifier is None:
        log.warning("calibration table %s: %s (no public key configured)", path, UNSIGNED_NOTE)
        return UNSIGNED_NOTE
    problem = verifier.check(table_message(digest), signature)
    if problem:
        raise CalibrationTableError(f"calibration table {path}: {problem} (edited, or not made by this station)")
    return SIGNED_NOTE


def _nesting_depth(text: str) -> int:
    """How deep JSON text nests its arrays and objects (brackets inside strings do not count)."""
    depth = deepest = 0
    for bracket in _JSON_BRACKET.findall(_JSON_STRING.sub("", text)):
        depth += 1 if bracket in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


def read_table(path: str | Path, spec: ProductSpec, expected_serial: str | None = None,
               verifier: Verifier | None = None) -> LoadedTable:
    """Read and check a JSON table: format, integrity (SHA-256 and, with a public key given or
    configured, its signature), serial, coefficient bounds."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        if _nesting_depth(text) > MAX_TABLE_DEPTH:
            raise CalibrationTableError(f"calibration table {path}: nests deeper than {MAX_TABLE_DEPTH} levels")
        document = json.loads(text)
    except OSError as exc:
        raise CalibrationTableError(f"calibration table {path}: cannot read: {exc.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CalibrationTableError(f"calibration table {path}: not valid JSON ({exc})") from None
    if not isinstance(document, dict):
        raise CalibrationTableError(f"calibration table {path}: top level is not an object")
    if document.get("format") != FORMAT:
        raise CalibrationTableError(
            f"calibration table {path}: format {document.get('format')!r}, expected {FORMAT!r}"
        )
    stored = document.pop("sha256", None)
    signature = document.pop("signature", None)
    if stored != canonical_sha256(document):
        raise CalibrationTableError(
            f"calibration table {path}: content does not match its SHA-256 (corrupted or edited)"
        )
    integrity = _check_signature(path, stored, signature, verifier)
    serial = document.get("serial")
    if not isinstance(serial, str) or not serial:
        raise CalibrationTableError(f"calibration table {path}: serial missing")
    if expected_serial is not None and serial != expected_serial:
        raise CalibrationTableError(
            f"calibration table {path} is for unit {serial}, not for the connected unit {expected_serial}"
        )
    try:
        cal = coefficients_from_dict(document.get("coefficients"), "coefficients")
    except CalibrationTableError as exc:
        raise CalibrationTableError(f"calibration table {path}: {exc}") from None
    problems = bound_violations(cal, spec)
    if problems:
        raise CalibrationTableError(
            f"calibration table {path}: coefficients outside the unit's bounds: {'; '.join(problems)}"
        )
    return LoadedTable(path, serial, cal, document, integrity)
