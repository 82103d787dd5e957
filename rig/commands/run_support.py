"""What the measuring subcommands share on the terminal: exit codes, SIGTERM, the progress bars."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from rig.session.events import Event, PhaseStarted, PointMeasured


class Terminated(KeyboardInterrupt):
    """SIGTERM, turned into an exception so that every `finally` runs (output off, load safe)."""


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    def handler(signum, frame):  # noqa: ARG001 - signal handler signature
        raise Terminated("terminated by SIGTERM")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class RichProgress:
    """The run's progress events drawn as one bar per slot and phase."""

    def __init__(self, console: Console, several_slots: bool = False) -> None:
        self.several_slots = several_slots
        self.bar = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=console, transient=False,
        )
        self.tasks: dict[int, TaskID] = {}

    def __enter__(self) -> RichProgress:
        self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.stop()

    def __call__(self, event: Event) -> None:
        if isinstance(event, PhaseStarted):
            previous = self.tasks.get(event.slot)
            if previous is not None:
                self.bar.update(previous, completed=self.bar.tasks[previous].total)
            label = f"slot {event.slot} {event.phase}" if self.several_slots else f" {event.phase}"
            self.tasks[event.slot] = self.bar.add_task(label, total=event.total)
        elif isinstance(event, PointMeasured) and event.slot in self.tasks:
            self.bar.update(self.tasks[event.slot], completed=event.done)
