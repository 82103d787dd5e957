"""A station file (TOML) describing a running virtual bench, plus its keys file, so that `rig
calibrate --station FILE` can run against a bench started elsewhere (tests, soak, operators).

The fields are those of the README's station example; the keys file is a serial -> key table
referenced as `unlock_keys = "file:..."`, as a real station keeps its secret outside the station file.
A throwaway Ed25519 station signing key is written beside it the same way (`FILE.signing.pem`, mode
0600, as `signing_key`; its public half `FILE.signing.pub` as `signing_public_key`), so that runs
against the bench are signed and `--public-key file:FILE.signing.pub` verifies them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

KEYS_SUFFIX = ".keys.toml"
SIGNING_KEY_SUFFIX = ".signing.pem"
PUBLIC_KEY_SUFFIX = ".signing.pub"
KEYS_FILE_MODE = 0o600


def _value(value: object) -> str:
    # TOML basic strings, integers and booleans are JSON-compatible for what is written here.
    return json.dumps(value)


def station_toml(description: dict, keys_path: Path, signing_key_path: Path | None = None,
                 public_key_path: Path | None = None) -> str:
    lines = ['name = "virtual-bench"', "virtual = true", f"unlock_keys = {_value('file:' + str(keys_path))}"]
    if signing_key_path is not None:
        lines.append(f"signing_key = {_value('file:' + str(signing_key_path))}")
    if public_key_path is not None:
        lines.append(f"signing_public_key = {_value('file:' + str(public_key_path))}")
    lines.append("")
    for entry in description["slots"]:
        number = entry["slot"]
        instruments = [("analyzer", "N6705C", "analyzer_serial"), ("load", "RDEC-1M", "load_serial")]
        if "dmm" in entry:
            instruments.append(("dmm", "34465A", "dmm_serial"))
        for role, model, serial_key in instruments:
            lines += [
                "[[instruments]]",
                f"id = {_value(f'{role}{number}')}",
                f"model = {_value(model)}",
                f"serial = {_value(entry.get(serial_key, ''))}",
                f"resource = {_value(entry[role])}",
                'certificate = "virtual bench: no certificate"',
                "",
            ]
    for entry in description["slots"]:
        number = entry["slot"]
        lines += [
            "[[slots]]",
            f"slot = {number}",
            f"dut = {_value(entry['dut'])}",
            f"dut_serial = {_value(entry['serial'])}",
            f'ammeter = {{ instrument = "analyzer{number}", channel = 1 }}',
        ]
        if "dmm" in entry:
            # The dmm layouts: the voltmeter on the DMM; the trigger line when the bench wired one.
            lines.append(f'voltmeter = {{ instrument = "dmm{number}" }}')
            if entry.get("trigger_pin") is not None:
                lines.append(f'trigger_line = {{ from = "analyzer{number}", pin = {entry["trigger_pin"]:d},'
                             f' to = "dmm{number}" }}')
        else:
            lines.append(f'voltmeter = {{ instrument = "analyzer{number}", channel = 2 }}')
        lines += [f'load = {{ instrument = "load{number}" }}', ""]
    return "\n".join(lines)


def _new_key_pem() -> tuple[bytes, bytes]:
    """A fresh Ed25519 pair (private PKCS#8 PEM, public PEM). Imported here, not from rig.records, so
    the bench's start-up does not load the results store's libraries."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, public


def write_secret_file(path: Path, text: str) -> None:
    """Write `text` to `path` at mode 0600, whatever was there: a new file created exclusively
    (O_EXCL, O_NOFOLLOW) beside it, then renamed over it. An existing file's looser mode is not
    kept and a symlink at `path` is replaced, never followed to write the keys into its target."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, KEYS_FILE_MODE)
    try:
        os.fchmod(fd, KEYS_FILE_MODE)  # the umask may only have narrowed it; make it exactly 0600
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_station_files(description: dict, station_path: Path) -> Path:
    """Write the station file, `<station_path>.keys.toml` and `<station_path>.signing.pem` (mode 0600)
    and `<station_path>.signing.pub`; return the keys path."""
    station_path = Path(station_path).resolve()
    keys_path = station_path.with_name(station_path.name + KEYS_SUFFIX)
    keys = "".join(f"{_value(s['serial'])} = {_value(s['key'])}\n" for s in description["slots"])
    write_secret_file(keys_path, keys)
    signing_path = station_path.with_name(station_path.name + SIGNING_KEY_SUFFIX)
    public_path = station_path.with_name(station_path.name + PUBLIC_KEY_SUFFIX)
    private_pem, public_pem = _new_key_pem()
    write_secret_file(signing_path, private_pem.decode("ascii"))
    public_path.write_bytes(public_pem)
    station_path.write_text(station_toml(description, keys_path, signing_path, public_path), encoding="utf-8")
    return keys_path
