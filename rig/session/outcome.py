"""What a run ends with: its outcome, and the verdict of each requirement it judged."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from rig.metrology.decision import RunVerdict, Verdict, worst_verdict
from rig.procedures.points import MeasuredPoint
from rig.records.cal_table import TablePaths
from rig.slot import SafeState

if TYPE_CHECKING:
    from rig.session.run import Run


@dataclass
class CalibrationOutcome:
    """The outcome of a run, whatever its plan (the name is the main job's, kept for its callers)."""

    verdict: RunVerdict
    reason: str
    failing: tuple[str, ...] = ()  # the requirements that did not pass
    unit_serial: str | None = None
    run_id: int | None = None
    table: TablePaths | None = None
    report: Path | None = None
    points: list[MeasuredPoint] = field(default_factory=list)
    # The slot's state as read back when it was closed (None: the slot was never opened).
    safe: SafeState | None = None


def requirement_verdicts(points: list[MeasuredPoint], phase: str) -> dict[str, tuple[MeasuredPoint, Verdict]]:
    """Worst verdict per requirement over one phase's points, with the point of least margin."""
    by_req: dict[str, list[MeasuredPoint]] = {}
    for p in points:
        if p.phase == phase:
            by_req.setdefault(p.requirement.key, []).append(p)
    result = {}
    for key, pts in by_req.items():
        worst = min(pts, key=lambda p: p.decision.margin)
        result[key] = (worst, worst_verdict([p.decision.verdict for p in pts]))
    return result


def record_requirement_verdicts(run: Run, phase: str) -> dict[str, Verdict]:
    """The verdict of every requirement judged in `phase`, kept with the run in the store."""
    verdicts = requirement_verdicts(run.points, phase)
    for key, (worst, verdict) in verdicts.items():
        run.job.store.set_requirement_verdict(run.run_id, key, worst.requirement.clause, verdict.value,
                                              worst.decision.margin)
    return {key: verdict for key, (_, verdict) in verdicts.items()}
