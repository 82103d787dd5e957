"""Instrument drivers found by registration: the Python entry-point group `rig.instruments`.

A driver is a class that declares the roles it can fill (ROLES, of ammeter, voltmeter, digitizer, load)
and the instrument models it speaks to (MODELS; or KINDS: every model of that kind in the model table,
as the generic load driver does). The rig registers its own drivers in its pyproject.toml; a line ships
its own in its own package under the same group, and a station file then names the model: the core
never names one. The stated figures of a model come from the model table (rig/specs/
instrument_models.toml, or the station file's [models.NAME]), as for the rig's own.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points

ENTRY_POINT_GROUP = "rig.instruments"
ROLES = ("ammeter", "voltmeter", "digitizer", "load")


class DriverLookupError(LookupError):
    """No registered driver fills a role for a model, or a registered one cannot be loaded."""


@dataclass(frozen=True)
class RegisteredDriver:
    name: str  # the entry point's name
    source: str  # "module:Class", where it comes from
    cls: type

    @property
    def roles(self) -> tuple[str, ...]:
        return tuple(getattr(self.cls, "ROLES", ()))

    @property
    def models(self) -> tuple[str, ...]:
        return tuple(getattr(self.cls, "MODELS", ()))

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(getattr(self.cls, "KINDS", ()))


def _load(point: EntryPoint) -> RegisteredDriver:
    try:
        cls = point.load()
    except Exception as exc:  # a broken third-party package: named, not a traceback
        raise DriverLookupError(f"instrument driver entry point {point.name!r} ({point.value}) cannot be"
                                f" loaded: {type(exc).__name__}: {exc}") from None
    roles = getattr(cls, "ROLES", None)
    if not isinstance(cls, type) or not roles or set(roles) - set(ROLES):
        raise DriverLookupError(f"instrument driver entry point {point.name!r} ({point.value}) is not a driver"
                                f" class declaring ROLES among {', '.join(ROLES)}")
    return RegisteredDriver(point.name, point.value, cls)


def registered_drivers() -> list[RegisteredDriver]:
    """Every driver registered in the group, in entry-point order."""
    return [_load(point) for point in entry_points(group=ENTRY_POINT_GROUP)]


def driver_for(role: str, model: str, kind: str, *, where: str) -> type:
    """The driver class for `role` on an instrument of `model` (of `kind` in the model table): one that
    names the model, else one that takes every model of the kind. `where` names the station field."""
    if role not in ROLES:
        raise DriverLookupError(f"{where}: no role {role!r} (roles: {', '.join(ROLES)})")
    drivers = [d for d in registered_drivers() if role in d.roles]
    for matches in (lambda d: model in d.models, lambda d: kind in d.kinds):
        found = [d for d in drivers if matches(d)]
        if found:
            return found[0].cls
    known = "; ".join(f"{d.name}: {', '.join(d.models or d.kinds)}" for d in drivers) or "none"
    raise DriverLookupError(
        f"{where}: no driver registered under the entry-point group {ENTRY_POINT_GROUP!r} fills the {role} role"
        f" for model {model!r} (kind {kind!r}); registered for {role}: {known}"
        " (a source checkout registers the rig's own drivers once installed: pip install -e .)"
    )
