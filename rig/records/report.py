"""The compliance report of one run: what it shows is gathered here, drawn in report_html/_pdf.

Every requirement row of the product spec appears, tested or not (N/A), so a reader sees what the
run did not cover. The report records the SHA-256 of the raw data it was built from
(digest.run_sha256), so `rig verify-report` can later tell whether the store still holds it, and
the audit head the run ended at; with the station key, both are signed (report_html).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import pandas as pd

from rig.metrology.decision import MIN_TUR, Verdict, margin_to_limits, worst_verdict
from rig.records import digest, plots, report_html, report_pdf
from rig.records.signing import Signer
from rig.records.store import ResultsStore
from rig.records.store_engine import masked_url
from rig.spec import ProductSpec, load_spec
from rig.units import PERCENT

MS_PER_S = 1000.0
FINISHED = "finished"
# Phases that document the unit as it came (or the fit's raw data): they do not decide conformity.
INFORMATIVE_PHASES = ("as_found", "characterise")


def _spec_limits(spec: ProductSpec) -> dict[str, str]:
    """The limit of every requirement row, worded from the spec's own numbers."""
    acc, pul, ric, rv = spec.dc_accuracy, spec.pulsed_accuracy, spec.reading_current, spec.reading_voltage
    oc, loc, rec, tim = spec.overcurrent, spec.loss_of_contact, spec.compliance_recovery, spec.timer
    return {
        "dc_accuracy": f"±({acc.pct_of_setpoint:g} % of setpoint + {acc.abs_ma:g} mA), "
                       f"{acc.setpoint_min_ma:g} to {acc.setpoint_max_ma:g} mA, "
                       f"setpoint × R ≤ {acc.max_fraction_of_v_max:g} × V_max",
        "pulsed_accuracy": f"±({pul.pct_of_mean:g} % of mean + {pul.abs_ma:g} mA), "
                           f"{pul.freq_min_hz:g} to {pul.freq_max_hz:g} Hz, "
                           f"duty {pul.duty_min_pct:g} to {pul.duty_max_pct:g} %",
        "reading_current": f"±({ric.pct_of_reading:g} % of reading + {ric.abs_ma:g} mA)",
        "reading_voltage": f"±({rv.pct_of_reading:g} % of reading + {rv.abs_v:g} V)",
        "ramp": f"{spec.ramp.rate_min_ma_per_s:g} to {spec.ramp.rate_max_ma_per_s:g} mA/s, "
                f"within ±{spec.ramp.tolerance_pct:g} %",
        "overcurrent": f"trip above max({oc.ratio_of_setpoint:g} × setpoint, setpoint + "
                       f"{oc.margin_ma:g} mA) or {oc.absolute_ma:g} mA for "
                       f"{oc.persist_s * MS_PER_S:g} ms; below {oc.off_level_ma:g} mA within "
                       f"{oc.off_within_s * MS_PER_S:g} ms; latched",
        "loss_of_contact": f"V ≥ {loc.voltage_fraction_of_v_max:g} × V_max and I < "
                           f"{loc.current_fraction_of_setpoint * PERCENT:g} % of setpoint for "
                           f"{loc.persist_s * MS_PER_S:g} ms: off within "
                           f"{loc.off_within_s * MS_PER_S:g} ms; latched",
        "compliance_recovery": f"overshoot ≤ {rec.overshoot_max_ma:g} mA for ≤ "
                               f"{rec.overshoot_max_s * MS_PER_S:g} ms",
        "compliance": f"output ≤ {spec.compliance.v_abs_max_v:g} V "
                      f"(V_max {spec.compliance.v_max_nominal_v:g} V nominal)",
        "timer": f"{tim.min_s:g} to {tim.max_s:g} s; expiry within ±({tim.tolerance_pct:g} % + "
                 f"{tim.tolerance_abs_s:g} s)",
        "residual_current": f"≤ {spec.residual_current.max_ua:g} µA DC",
    }


# Every requirement section of the spec, in the order of the spec table.
REQUIREMENT_KEYS = ("dc_accuracy", "pulsed_accuracy", "reading_current", "reading_voltage", "ramp",
                    "overcurrent", "loss_of_contact", "compliance_recovery", "compliance", "timer",
                    "residual_current")


@dataclass(frozen=True)
class RequirementRow:
    """One requirement as tested by the run: the worst conformity point and the verdict."""

    key: str
    clause: str
    limit: str
    n_points: int
    verdict: str
    worst_name: str = ""
    worst_measured: float | None = None
    unit: str = ""
    nominal: float | None = None
    lower: float | None = None
    upper: float | None = None
    expanded_uncertainty: float | None = None
    min_tur: float | None = None
    notes: str = ""

    @property
    def low_tur(self) -> bool:
        return self.min_tur is not None and self.min_tur < MIN_TUR


@dataclass(frozen=True)
class Instrument:
    role: str
    model: str
    serial: str
    certificate: str
    cal_due: date | None
    resource: str
    overdue: bool


@dataclass
class ReportData:
    """Everything a report shows, read once from the store."""

    run_id: int
    header: dict
    sha256: str
    store_url: str
    spec: ProductSpec
    requirements: list[RequirementRow]
    points: pd.DataFrame
    calibrations: list[dict]
    instruments: list[Instrument]
    generated_at: datetime
    verdicts: list[dict] = field(default_factory=list)
    _plot_pngs: dict[str, bytes] | None = field(default=None, repr=False)

    def plot_pngs(self) -> dict[str, bytes]:
        """The error plots as PNG, drawn once for both the HTML and the PDF."""
        if self._plot_pngs is None:
            self._plot_pngs = plots.error_plot_pngs(self.points, self.spec)
        return self._plot_pngs

    @property
    def finished(self) -> bool:
        return self.header.get("status") == FINISHED

    @property
    def overdue(self) -> list[Instrument]:
        return [i for i in self.instruments if i.overdue]


@dataclass(frozen=True)
class ReportPaths:
    html: Path
    pdf: Path | None
    sha256: str


def public_url(url: str) -> str:
    """The store URL without its password (and secret query values), safe to print in a report."""
    return masked_url(url)


def _finite(value: object) -> float | None:
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) else number


def _margin(row: pd.Series) -> float:
    measured = _finite(row.get("measured"))
    if measured is None:
        return -math.inf  # a point that could not be measured is the worst point
    return margin_to_limits(measured, _finite(row.get("lower")), _finite(row.get("upper")))


def _requirement_row(key: str, clause: str, limit: str, rows: pd.DataFrame,
                     stored: dict | None) -> RequirementRow:
    deciding = rows[~rows["phase"].isin(INFORMATIVE_PHASES)] if len(rows) else rows
    notes = stored.get("notes", "") if stored else ""
    if deciding.empty:
        verdict = stored["verdict"] if stored else Verdict.NOT_APPLICABLE.value
        return RequirementRow(key, clause, limit, 0, verdict, notes=notes or "not tested in this run")
    worst = deciding.loc[deciding.apply(_margin, axis=1).idxmin()]
    turs = [t for t in (_finite(v) for v in deciding["tur"]) if t is not None]
    verdict = worst_verdict(list(deciding["verdict"])).value
    if stored and stored["verdict"] != verdict:
        # A recorded verdict kinder than its own points must not hide a failing point.
        notes = (f"recorded verdict {stored['verdict']} disagrees with the points ({verdict}); "
                 f"the worse is shown. {notes}").strip()
        verdict = worst_verdict([stored["verdict"], verdict]).value
    return RequirementRow(
        key, clause, limit, len(deciding), verdict, worst_name=str(worst["name"]),
        worst_measured=_finite(worst["measured"]), unit=str(worst["unit"]),
        nominal=_finite(worst["nominal"]), lower=_finite(worst["lower"]),
        upper=_finite(worst["upper"]), expanded_uncertainty=_finite(worst["expanded_uncertainty"]),
        min_tur=min(turs) if turs else None, notes=notes)


def requirement_rows(points: pd.DataFrame, verdicts: list[dict],
                     spec: ProductSpec) -> list[RequirementRow]:
    """One row per spec requirement, then any other requirement the run recorded."""
    stored = {v["requirement"]: v for v in verdicts}
    limits = _spec_limits(spec)
    recorded = list(dict.fromkeys([*points.get("requirement", pd.Series(dtype=str)), *stored]))
    keys = [*REQUIREMENT_KEYS, *(k for k in recorded if k not in REQUIREMENT_KEYS)]
    made = []
    for key in keys:
        section = getattr(spec, key, None)
        clause = getattr(section, "clause", None) or (stored.get(key) or {}).get("clause", "")
        rows = points[points["requirement"] == key] if len(points) else points
        made.append(_requirement_row(key, clause, limits.get(key, "(not in the product spec)"),
                                     rows, stored.get(key)))
    return made


def _instruments(header: dict) -> list[Instrument]:
    started = header.get("started_at")
    run_day = started.date() if isinstance(started, datetime) else date.today()
    return [Instrument(str(i.get("role", "")), str(i.get("model", "")), str(i.get("serial", "")),
                       str(i.get("certificate", "")), i.get("cal_due"), str(i.get("resource", "")),
                       i.get("cal_due") is not None and i["cal_due"] < run_day)
            for i in header.get("instruments", [])]


def gather(store: ResultsStore, run_id: int, spec: ProductSpec | None = None) -> ReportData:
    """Read the run once; raises KeyError for an unknown run id."""
    spec = spec or load_spec()
    header = store.run(run_id)
    points = store.points(run_id)
    verdicts = store.requirement_verdicts(run_id)
    return ReportData(
        run_id=run_id, header=header, sha256=digest.run_sha256(store, run_id),
        store_url=public_url(store.url), spec=spec,
        requirements=requirement_rows(points, verdicts, spec), points=points,
        calibrations=store.calibrations(run_id), instruments=_instruments(header),
        generated_at=datetime.now().astimezone(), verdicts=verdicts)


def build_report(store: ResultsStore, run_id: int, out_dir: Path,
                 spec: ProductSpec | None = None, signer: Signer | None = None) -> ReportPaths:
    """Write reports/run-<id>.html (self-contained) and, when it can be made, run-<id>.pdf; with
    the station key, both carry its signature."""
    data = gather(store, run_id, spec)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    html_path = out_dir / f"run-{run_id}.html"
    html_path.write_text(report_html.render(data, signer), encoding="utf-8")
    pdf_path = report_pdf.write(data, out_dir / f"run-{run_id}.pdf", signer)
    return ReportPaths(html=html_path, pdf=pdf_path, sha256=data.sha256)
