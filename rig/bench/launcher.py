"""Start a virtual bench: per slot one circuit, one emulated IX-30 on a pty, one analyzer and one
load on their own TCP ports; describe it as one JSON line (the rig's only view of it).

Everything per unit (errors, noise, unlock key) derives from (serial, seed), so runs repeat.
Faults are names: firmware faults go to the firmware, unit faults change the physics here.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from rig.bench.analyzer import AnalyzerDialect, PowerAnalyzer
from rig.bench.comm_faults import CommFaultError, FaultDice, parse_comm_faults
from rig.bench.control import BenchControl, ControlServer
from rig.bench.dmm import Multimeter
from rig.bench.fanout import FanoutError, SlotProcesses, child_arguments
from rig.bench.faults import UNCORRECTABLE_ERROR_SCALE, UnknownFaultError, validate_fault_names
from rig.bench.load import ResistanceDecade
from rig.bench.physics import SlotCircuit, UnitErrors
from rig.bench.scpi_server import ScpiServer
from rig.bench.station_file import write_station_files
from rig.bench.unit_errors import UnitErrorsError
from rig.bench.variant import BenchVariant
from rig.dut.framing import encode_frame
from rig.exit_codes import ExitCode
from rig.spec import load_spec

FIRST_SERIAL_NUMBER = 123
SERIAL_FORMAT = "SN{:06d}"
KEY_HEX_CHARS = 16
DEFAULT_FIRMWARE_VERSION = "2.4.1"
_PORTS_PER_SLOT = 2
# --port-base: a slot's DMM (dmm layouts) on port_base + DMM_PORT_OFFSET + slot - 1, clear of the others.
DMM_PORT_OFFSET = 1000
# Where the voltmeter role is: on the analyzer's channel 2, or on a DMM of its own with the analyzer's
# trigger output (digital port pin 1) wired to its external trigger input, or without that wire.
LAYOUTS = ("analyzer", "dmm", "dmm-no-trigger")
TRIGGER_PIN = 1

def derived_seed(serial: str, seed: int, purpose: str) -> int:
    """A stable 63-bit seed for one purpose of one unit (hash, not Python's salted hash())."""
    digest = hashlib.sha256(f"{purpose}:{serial}:{seed}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def unlock_key(serial: str, seed: int) -> str:
    return hashlib.sha256(f"unlock:{serial}:{seed}".encode()).hexdigest()[:KEY_HEX_CHARS].upper()


def parse_faults(specs: Iterable[str], slots: int) -> list[frozenset[str]]:
    """`NAME` applies to every slot, `SLOT:NAME` to one; unknown names raise UnknownFaultError."""
    per_slot: list[set[str]] = [set() for _ in range(slots)]
    for spec in specs:
        where, _, name = spec.rpartition(":")
        validate_fault_names([name])
        if not where:
            for chosen in per_slot:
                chosen.add(name)
            continue
        if not where.isdigit() or not 1 <= int(where) <= slots:
            raise UnknownFaultError(f"fault {spec!r}: slot must be 1..{slots}")
        per_slot[int(where) - 1].add(name)
    return [frozenset(chosen) for chosen in per_slot]


@dataclass
class BenchSlot:
    """One slot's parts, wired to one circuit."""

    slot: int
    serial: str
    key: str
    faults: frozenset[str]
    circuit: SlotCircuit
    analyzer: PowerAnalyzer
    load: ResistanceDecade
    analyzer_server: ScpiServer
    load_server: ScpiServer
    dice: FaultDice = field(default_factory=FaultDice)
    firmware: object = None
    port: object = None
    reboot: Callable[[], None] | None = None
    dmm: Multimeter | None = None
    dmm_server: ScpiServer | None = None
    trigger_pin: int | None = None  # the analyzer's pin wired to the DMM's external trigger input
    age: Callable[[int], None] | None = None  # let days pass for the unit: its errors drift (control AGE)

    def describe(self) -> dict:
        return {**self._describe_dmm(), **{
            "slot": self.slot,
            "analyzer": self.analyzer_server.resource,
            "load": self.load_server.resource,
            "dut": self.port.path if self.port is not None else None,
            "serial": self.serial,
            "key": self.key,
            "faults": sorted(self.faults),
            "comm_faults": self.dice.rates,
            "analyzer_serial": self.analyzer.idn.split(",")[2],
            "load_serial": self.load.idn.split(",")[2],
        }}

    def _describe_dmm(self) -> dict:
        if self.dmm is None or self.dmm_server is None:
            return {}
        return {"dmm": self.dmm_server.resource, "dmm_serial": self.dmm.idn.split(",")[2],
                "trigger_pin": self.trigger_pin}


class VirtualBench:
    """`with VirtualBench(slots=2) as bench: bench.description` (in-process, for tests too)."""

    def __init__(self, slots: int = 1, serials: Sequence[str] = (), seed: int = 0,
                 faults: Iterable[str] = (), port_base: int | None = None,
                 with_units: bool = True, comm_faults: Iterable[str] = (), first_slot: int = 1,
                 analyzer_dialect: AnalyzerDialect | None = None, unit_errors: UnitErrors | None = None,
                 variant: BenchVariant | None = None, layout: str = "analyzer",
                 firmware_version: str = DEFAULT_FIRMWARE_VERSION) -> None:
        """with_units=False: instruments and physics only, for tests that drive the circuit.
        comm_faults: `NAME[:RATE]` (rig.bench.comm_faults), on every slot.
        analyzer_dialect: what every slot's analyzer refuses beyond instruments.md's list.
        unit_errors: every slot's unit gets these errors instead of ones drawn from its seed.
        variant: the implementation details (rig.bench.variant) of every slot; None: the reference.
        layout: one of LAYOUTS: where the voltmeter role is.
        firmware_version: what every unit reports in ID? and !BOOT."""
        if layout not in LAYOUTS:
            raise ValueError(f"layout {layout!r} is not one of {', '.join(LAYOUTS)}")
        self.layout = layout
        if slots < 1 or len(serials) > slots:
            raise ValueError(f"need slots >= 1 and at most {slots} serials, got {len(serials)}")
        self._unit_errors = unit_errors
        self.firmware_version = firmware_version
        self.seed = seed
        self.variant = variant if variant is not None else BenchVariant.reference()
        self.first_slot = first_slot  # a slot process of a fan-out bench serves slot k alone
        self.port_base = port_base
        self.with_units = with_units
        self.analyzer_dialect = analyzer_dialect or AnalyzerDialect()
        self._serials = list(serials) + [SERIAL_FORMAT.format(FIRST_SERIAL_NUMBER + k)
                                         for k in range(len(serials), slots)]
        self._faults = parse_faults(faults, slots)
        if unit_errors is not None and any("uncorrectable" in chosen for chosen in self._faults):
            raise ValueError("--unit-errors and the uncorrectable fault both set the unit's errors: choose one")
        self._comm_faults = parse_comm_faults(comm_faults)
        self.slots: list[BenchSlot] = []
        self.control: ControlServer | None = None
        self._link_dir: str | None = None

    def start(self) -> VirtualBench:
        try:
            # The units' ports are published as symlinks here, so a vanished port comes back
            # under the same name (the pty behind it is a new one).
            self._link_dir = tempfile.mkdtemp(prefix="rig-bench-")
            for index, serial in enumerate(self._serials):
                self._build_slot(index + self.first_slot, serial, self._faults[index])
            self.control = ControlServer(BenchControl(self.slots)).start()
        except BaseException:
            self.stop()
            raise
        return self

    def _port(self, slot: int, offset: int) -> int:
        return 0 if self.port_base is None else self.port_base + _PORTS_PER_SLOT * (slot - 1) + offset

    def _build_slot(self, slot: int, serial: str, faults: frozenset[str]) -> None:
        scale = UNCORRECTABLE_ERROR_SCALE if "uncorrectable" in faults else 1.0
        drawn = self._unit_errors or UnitErrors.from_seed(derived_seed(serial, self.seed, "errors"), scale=scale)
        errors = replace(drawn, noise_ma_rms=self.variant.unit_noise_ma_rms,
                         reading_noise_ma_rms=self.variant.reading_noise_ma_rms)
        circuit = SlotCircuit(errors, derived_seed(serial, self.seed, "noise"),
                              v_max_v=load_spec().compliance.v_max_nominal_v)
        instrument_seed = derived_seed(serial, self.seed, "instruments")
        analyzer = PowerAnalyzer(circuit, f"MY{instrument_seed % 10**8:08d}", instrument_seed, self.variant,
                                 self.analyzer_dialect)
        load = ResistanceDecade(circuit, f"RD{instrument_seed % 10**6:06d}", instrument_seed + 2,
                                self.variant.instrument_error_extremity)
        parts = BenchSlot(
            slot=slot, serial=serial, key=unlock_key(serial, self.seed), faults=faults,
            circuit=circuit, analyzer=analyzer, load=load,
            analyzer_server=ScpiServer(analyzer, port=self._port(slot, 0)),
            load_server=ScpiServer(load, port=self._port(slot, 1)),
        )
        parts.dice = FaultDice(self._comm_faults, derived_seed(serial, self.seed, "comm faults"))
        parts.analyzer_server.dice = parts.load_server.dice = parts.dice
        if self.layout != "analyzer":
            parts.dmm = Multimeter(circuit, f"MY{(instrument_seed + 3) % 10**8:08d}", instrument_seed + 3,
                                   self.variant.instrument_error_extremity)
            dmm_port = 0 if self.port_base is None else self.port_base + DMM_PORT_OFFSET + slot - 1
            parts.dmm_server = ScpiServer(parts.dmm, port=dmm_port, dice=parts.dice)
            if self.layout == "dmm":
                parts.trigger_pin = TRIGGER_PIN
                analyzer.trigger_out.wire(TRIGGER_PIN, parts.dmm.external_trigger)
        # Listed before anything starts, so that stop() after a failure cleans up what did.
        self.slots.append(parts)
        load.start()
        parts.analyzer_server.start()
        parts.load_server.start()
        if parts.dmm_server is not None:
            parts.dmm_server.start()
        if self.with_units:
            self._start_unit(parts)

    def _start_unit(self, parts: BenchSlot) -> None:
        # Imported here: the firmware's modules are only needed once a unit is actually built.
        from rig.bench.firmware import Ix30Firmware
        from rig.bench.pty_port import PtySerialPort

        holder: dict[str, Ix30Firmware] = {}

        def reboot() -> None:
            # A brown-out reboots the unit as its own RESET does (output off, unsaved cal lost).
            holder["fw"].receive_line(encode_frame("RESET").rstrip(b"\n"))

        link = str(Path(self._link_dir or tempfile.gettempdir()) / f"ix30-slot{parts.slot}")
        variant = self.variant
        port = PtySerialPort(on_line=lambda line: holder["fw"].receive_line(line), dice=parts.dice,
                             reboot=reboot, link_path=link, reply_latency_s=variant.reply_latency_base_s,
                             latency_jitter_s=variant.reply_latency_jitter_s,
                             latency_cap_s=None if variant.seed == 0 else variant.latency_cap_s,
                             seed=derived_seed(parts.serial, self.seed, "reply latency"))
        firmware = Ix30Firmware(parts.circuit, serial=parts.serial, unlock_key=parts.key,
                                faults=parts.faults, send=port.write, variant=variant,
                                firmware_version=self.firmware_version)
        holder["fw"] = firmware
        drift_seed = derived_seed(parts.serial, self.seed, "drift")

        def age(days: int) -> None:
            parts.circuit.errors = parts.circuit.errors.aged(days, drift_seed)
            firmware.age(days)

        parts.firmware, parts.port, parts.reboot, parts.age = firmware, port, reboot, age
        firmware.start()
        port.start()

    def stop(self) -> None:
        if self.control is not None:
            self.control.stop()
            self.control = None
        for parts in self.slots:
            # The unit first: its output goes off before the meters and the load disappear.
            if parts.firmware is not None:
                parts.firmware.stop()
            if parts.port is not None:
                parts.port.close()
            for server in (parts.analyzer_server, parts.load_server, parts.dmm_server):
                if server is not None:
                    server.stop()
            parts.analyzer.close()
            parts.load.close()
        self.slots = []
        if self._link_dir is not None:
            shutil.rmtree(self._link_dir, ignore_errors=True)
            self._link_dir = None

    @property
    def description(self) -> dict:
        slots = [parts.describe() for parts in self.slots]
        return {
            "analyzer": slots[0]["analyzer"],
            "load": slots[0]["load"],
            "dut": [s["dut"] for s in slots],
            "slots": slots,
            "control": self.control.address if self.control is not None else None,
            "variant": self.variant.describe(),
            "layout": self.layout,
        }

    def __enter__(self) -> VirtualBench:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="rig bench", description="Serve a virtual bench.")
    parser.add_argument("--slots", type=int, default=1)
    parser.add_argument("--serial", action="append", default=[], help="repeat, in slot order")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fault", action="append", default=[], help="NAME or SLOT:NAME")
    parser.add_argument("--port-base", type=int, default=None)
    parser.add_argument("--comm-fault", action="append", default=[], metavar="NAME[:RATE]",
                        help="a communication/instrument fault on every slot (rig.bench.comm_faults)")
    parser.add_argument("--unit-errors", default=None, metavar="corner:<i>|JSON",
                        help="every unit's errors, explicitly: a corner of the stated uncalibrated maxima "
                             "(0..15, rig.bench.unit_errors.UnitErrors.corner) or a JSON object")
    parser.add_argument("--slot-number", type=int, default=1, help=argparse.SUPPRESS)  # a fan-out child
    parser.add_argument("--one-process", action="store_true",
                        help="serve every slot in this process (default: one process per slot)")
    parser.add_argument("--variant", type=int, default=0, metavar="SEED",
                        help="implementation variant of the bench (rig.bench.variant); 0: the reference")
    parser.add_argument("--firmware-version", default=DEFAULT_FIRMWARE_VERSION, metavar="VER",
                        help="the version every unit reports (ID?, !BOOT)")
    parser.add_argument("--station-out", type=Path, default=None, metavar="FILE",
                        help="write a station file (and FILE.keys.toml) describing this bench")
    parser.add_argument("--layout", choices=LAYOUTS, default="analyzer",
                        help="where the voltmeter role is: the analyzer's channel 2; a 34465A DMM of its own "
                             "with the analyzer's trigger output wired to it (dmm) or without that wire")
    parser.add_argument("--analyzer-no-format", action="store_true",
                        help="the analyzers refuse FORMat (-113 Undefined header), as one without binary blocks")
    parser.add_argument("--analyzer-no-compound", action="store_true",
                        help="the analyzers refuse a message of several commands joined with ';' (-113, none run)")
    return parser.parse_args(argv)


def _analyzer_dialect(args: argparse.Namespace) -> AnalyzerDialect:
    return AnalyzerDialect(format_commands=not args.analyzer_no_format,
                           compound_messages=not args.analyzer_no_compound)


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    try:
        if args.slots > 1 and not args.one_process:
            bench = _fanout(args)
        else:
            unit_errors = None if args.unit_errors is None else UnitErrors.parse(args.unit_errors)
            bench = VirtualBench(args.slots, args.serial, args.seed, args.fault, args.port_base,
                                 comm_faults=args.comm_fault, first_slot=args.slot_number,
                                 analyzer_dialect=_analyzer_dialect(args), unit_errors=unit_errors,
                                 variant=BenchVariant.from_seed(args.variant), layout=args.layout,
                                 firmware_version=args.firmware_version)
    except (UnknownFaultError, CommFaultError, UnitErrorsError, ValueError) as exc:
        print(f"rig bench: error: {exc}", file=sys.stderr)
        return ExitCode.ERROR
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set())
                for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        if isinstance(bench, SlotProcesses):
            return _serve_fanout(bench, args, stop)
        with bench:
            _announce(bench.description, args)
            while not stop.wait(1.0):
                pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


def _announce(description: dict, args: argparse.Namespace) -> None:
    if args.station_out is not None:
        write_station_files(description, args.station_out)
    print(json.dumps(description), flush=True)


def _fanout(args: argparse.Namespace) -> SlotProcesses:
    """One process per slot, each with the serial, faults and seed the slot would have had here."""
    if len(args.serial) > args.slots:
        raise ValueError(f"need at most {args.slots} serials, got {len(args.serial)}")
    serials = list(args.serial) + [SERIAL_FORMAT.format(FIRST_SERIAL_NUMBER + k)
                                   for k in range(len(args.serial), args.slots)]
    faults = parse_faults(args.fault, args.slots)
    parse_comm_faults(args.comm_fault)  # refused here, once, rather than by every child
    if args.unit_errors is not None:
        UnitErrors.parse(args.unit_errors)
    BenchVariant.from_seed(args.variant)
    return SlotProcesses([
        child_arguments(k + 1, serials[k], args.seed, sorted(faults[k]), args.comm_fault, args.port_base,
                        args.unit_errors, variant=args.variant, firmware_version=args.firmware_version)
        + _analyzer_dialect(args).bench_options() + ["--layout", args.layout]
        for k in range(args.slots)
    ])


def _serve_fanout(bench: SlotProcesses, args: argparse.Namespace, stop: threading.Event) -> int:
    try:
        _announce(bench.start(), args)
        return bench.wait(stop)
    except FanoutError as exc:
        print(f"rig bench: error: {exc}", file=sys.stderr)
        return 1
    finally:
        bench.stop()
