"""The station a run uses: the named station file, or a virtual bench started for the run."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from rig.keys import KeySource
from rig.records.signing import Signer, load_signer, load_station_signer
from rig.session.config import RunConfig
from rig.station import Station, default_models, load_station
from rig.virtual_bench import VIRTUAL_LOAD_MODEL, VirtualBenchProcess


@dataclass
class StationContext:
    station: Station
    keys: KeySource
    signer: Signer | None = None


@contextlib.contextmanager
def station_context(config: RunConfig, virtual_serials: Sequence[str] = ()) -> Iterator[StationContext]:
    """The named station, or a virtual bench started for this run and stopped after it (its units'
    serials: `virtual_serials`, else --serial, else the bench's own)."""
    if config.station:
        station = load_station(config.station)
        yield StationContext(station, KeySource(station.unlock_keys),
                             load_station_signer(station.signing_key, station.signing_public_key))
        return
    signer = load_signer(None)  # the embedded bench: signed when RIG_SIGNING_KEY is set
    serials = list(virtual_serials) or ([config.serial] if config.serial else [])
    with VirtualBenchProcess(
        slots=config.bench_slots, serials=serials, seed=config.bench_seed, faults=list(config.bench_fault),
        extra_args=config.bench_dialect_args, unit_errors=config.bench_unit_errors, variant=config.bench_variant,
        layout=config.bench_layout,
    ) as bench:
        yield StationContext(bench.station, bench.keys, signer)


def load_max_power_w(config: RunConfig, number: int) -> float:
    """The power rating of the slot's load, known before any bench starts (to plan a grid): the
    station's load model, or the model the virtual bench emulates."""
    if config.station:
        station = load_station(config.station)
        power = station.figures(station.slot(number).load.instrument).max_power_w
    else:
        power = default_models()[VIRTUAL_LOAD_MODEL].max_power_w
    if power is None:
        raise ValueError(f"the load model of slot {number} states no power rating; the rig will not guess one")
    return power
