"""Several slots at once: one worker per slot, results kept apart, one stop for all.

Each slot's job owns its own unit, analyzer channel and load (labgrid's place); the workers share
nothing but the results store (which takes concurrent writers) and the stop request.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping

from rig.calibration_run import CalibrationJob, CalibrationOutcome, run_calibration

log = logging.getLogger(__name__)

SlotRunner = Callable[[CalibrationJob], CalibrationOutcome]


def _guarded(runner: SlotRunner, job: CalibrationJob) -> CalibrationOutcome:
    """A slot's error becomes its ERROR outcome, so the other slots finish their runs."""
    try:
        return runner(job)
    except KeyboardInterrupt as exc:
        return CalibrationOutcome("ERROR", f"stopped: {exc or 'interrupted'}")
    except Exception as exc:
        log.debug("slot %d stopped", job.slot, exc_info=True)
        return CalibrationOutcome("ERROR", describe_error(exc))


def describe_error(exc: BaseException) -> str:
    """One line for the operator."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) < 600 else text[:600] + "..."


def run_slots(
    jobs: Mapping[int, CalibrationJob], runner: SlotRunner = run_calibration
) -> dict[int, CalibrationOutcome]:
    """Run every job, one thread per slot. Ctrl-C/SIGTERM in the caller's thread stops all slots (each
    ends safe and marked aborted) and is re-raised once they have."""
    if len(jobs) == 1:
        ((number, job),) = jobs.items()
        return {number: runner(job)}
    outcomes: dict[int, CalibrationOutcome] = {}

    def work(number: int, job: CalibrationJob) -> None:
        outcomes[number] = _guarded(runner, job)

    threads = [threading.Thread(target=work, args=item, name=f"slot-{item[0]}") for item in jobs.items()]
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            while thread.is_alive():
                thread.join(timeout=0.2)  # a bare join() would not let KeyboardInterrupt in
    except KeyboardInterrupt:
        for job in jobs.values():
            job.abort.set()
        for thread in threads:
            thread.join()
        raise
    return outcomes
