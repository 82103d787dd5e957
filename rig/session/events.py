"""Progress events of a run, typed and picklable (they cross the line runner's worker queue): whoever
starts a run passes one callback (`EventSink`) and gets every event of it, tagged with its slot.

The `rig` commands draw them as progress bars; the station page will stream them to the browser."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunStarted:
    slot: int
    run_id: int
    plan: str
    phases: tuple[str, ...]
    total_points: int  # progress units over every phase (a cut-off step counts as one)


@dataclass(frozen=True)
class PhaseStarted:
    slot: int
    phase: str
    total: int


@dataclass(frozen=True)
class PointMeasured:
    """One progress unit done: a point stored (or, in the cut-off phase, a step judged)."""

    slot: int
    phase: str
    name: str
    done: int
    total: int
    verdict: str


@dataclass(frozen=True)
class TraceSamples:
    """A thinned trace (at most a few hundred samples) of what the analyzer captured."""

    slot: int
    name: str
    time_s: tuple[float, ...]
    current_ma: tuple[float, ...]


@dataclass(frozen=True)
class OperatorPrompt:
    slot: int
    text: str


@dataclass(frozen=True)
class RunFinished:
    slot: int
    run_id: int | None
    verdict: str
    failing_requirements: tuple[str, ...] = ()
    reason: str = ""
    report_path: str | None = None


Event = RunStarted | PhaseStarted | PointMeasured | TraceSamples | OperatorPrompt | RunFinished
EventSink = Callable[[Event], None]


def log_events(event: Event) -> None:
    """The default sink: phases and the end of the run at info level."""
    if isinstance(event, PhaseStarted):
        log.info("slot %d: phase %s (%d steps)", event.slot, event.phase, event.total)
    elif isinstance(event, RunFinished):
        log.info("slot %d: run %s %s %s", event.slot, event.run_id, event.verdict, event.reason)


@dataclass
class PhaseCounter:
    """Counts a phase's progress units and sends the events that say so."""

    sink: EventSink
    slot: int
    phase: str = ""
    total: int = 0
    done: int = field(default=0)

    def start(self, phase: str, total: int) -> None:
        self.phase, self.total, self.done = phase, total, 0
        self.sink(PhaseStarted(self.slot, phase, total))

    def advance(self, name: str, verdict: str) -> None:
        self.done += 1
        self.sink(PointMeasured(self.slot, self.phase, name, self.done, self.total, verdict))
