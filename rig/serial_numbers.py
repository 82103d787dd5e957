"""What a unit's serial number may be, and where one may become a file name.

dut-protocol.md promises only that the serial is the third comma-separated field of the ASCII `ID?`
payload (`IONTO,IX-30,<serial>,<fw>,<hw>`, example `SN000123`): so a serial is printable ASCII without
a comma, and not empty. Nothing more is assumed of the unit's own answer. A serial also names the
folder of the unit's calibration tables (calibrations/<serial>/), so before it reaches a path it must
be one safe path component: no separator, not `.` or `..`, no leading dot or dash, no characters that
shells or other file systems treat specially; the resolved folder is checked to lie under the root.
"""

from __future__ import annotations

import re
from pathlib import Path

# Longer than any serial label; bounds what reaches a file name (most file systems allow 255 bytes).
MAX_SERIAL_CHARS = 64
_PATH_SAFE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]*")


class SerialNumberError(ValueError):
    """A serial that the protocol does not allow, or that cannot safely name a folder."""


def protocol_serial_problem(serial: str) -> str | None:
    """Why `serial` cannot be an ID? serial field (None when it can)."""
    if not serial:
        return "is empty"
    if len(serial) > MAX_SERIAL_CHARS:
        return f"is longer than {MAX_SERIAL_CHARS} characters"
    if not serial.isascii() or not serial.isprintable():
        return "is not printable ASCII"
    if "," in serial:
        return "contains a comma (the ID? payload's field separator)"
    if serial != serial.strip():
        return "has leading or trailing spaces"
    return None


def check_serial(serial: str, source: str) -> str:
    """A serial as the protocol allows it; SerialNumberError naming `source` otherwise."""
    problem = protocol_serial_problem(serial)
    if problem:
        raise SerialNumberError(f"{source}: serial {serial!r} {problem}")
    return serial


def check_path_serial(serial: str, source: str) -> str:
    """A serial that is also one safe path component (what names calibrations/<serial>/)."""
    check_serial(serial, source)
    if not _PATH_SAFE.fullmatch(serial):
        raise SerialNumberError(
            f"{source}: serial {serial!r} cannot name a folder (letters, digits and _ . + - only,"
            " not starting with . + or -)"
        )
    return serial


def serial_folder(root: Path, serial: str, source: str) -> Path:
    """root/<serial>, resolved, refused unless it lies directly under the resolved root."""
    check_path_serial(serial, source)
    base = Path(root).resolve()
    folder = (base / serial).resolve()
    if folder.parent != base:
        raise SerialNumberError(f"{source}: folder for serial {serial!r} resolves to {folder}, outside {base}")
    return folder
