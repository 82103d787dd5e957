"""Decision rules for conformity statements (ILAC-G8:09/2019), and the test uncertainty ratio.

Two rules:
- simple acceptance (ILAC-G8 4.2.1, w = 0): PASS inside the limits, FAIL outside.
- guard band w = U (ILAC-G8 4.2.3/4.2.4, binary guarded acceptance): the acceptance zone is the
  tolerance zone shrunk by U at each limit. Only a value inside it is a plain PASS. A value
  inside the limits but within U of one is CONDITIONAL PASS; outside by less than U is
  CONDITIONAL FAIL; outside by U or more is FAIL. Only a plain PASS passes the line.

Values exactly on a boundary: the limits are inclusive ("within ±x" in the spec), so a value
exactly on a limit is inside: PASS under simple acceptance, CONDITIONAL PASS under the guard band
(unless U = 0). A value exactly U inside a limit is a plain PASS (the acceptance zone is closed);
a value exactly U outside is FAIL (the rejection zone is closed too). A measured NaN is a FAIL:
a point that could not be measured cannot show conformity.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

# ILAC-G8 and ANSI/NCSL Z540.3 use 4:1 as the ratio below which the measurement's own
# uncertainty is no longer negligible against the tolerance.
MIN_TUR = 4.0

HALF = 0.5


class Verdict(StrEnum):
    PASS = "PASS"
    FAIL = "FAIL"
    CONDITIONAL_PASS = "CONDITIONAL PASS"
    CONDITIONAL_FAIL = "CONDITIONAL FAIL"
    NOT_APPLICABLE = "N/A"


class RunVerdict(StrEnum):
    """How a run ended: PASS or FAIL from its requirements' verdicts, or ERROR when something stopped it."""

    PASS = "PASS"
    FAIL = "FAIL"
    ERROR = "ERROR"


class DecisionRule(StrEnum):
    SIMPLE = "simple acceptance"
    GUARD_BAND = "guard band w = U"


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    measured: float
    lower: float | None
    upper: float | None
    expanded_uncertainty: float
    guard_band: float
    rule: DecisionRule
    tur: float | None
    low_tur: bool
    margin: float

    @property
    def passed(self) -> bool:
        """Only a plain PASS passes on the production line; conditional verdicts do not."""
        return self.verdict is Verdict.PASS

    def describe(self) -> str:
        """One line for a report: verdict, value, limits, U and the rule that decided."""
        low = "-inf" if self.lower is None else f"{self.lower:g}"
        high = "+inf" if self.upper is None else f"{self.upper:g}"
        tur = "n/a" if self.tur is None else f"{self.tur:.2f}"
        return (f"{self.verdict.value}: {self.measured:g} in [{low}, {high}], "
                f"U = {self.expanded_uncertainty:g}, margin {self.margin:g}, TUR {tur}"
                f"{' (low)' if self.low_tur else ''}; rule: {self.rule.value}")


def test_uncertainty_ratio(lower: float | None, upper: float | None,
                           expanded_uncertainty: float, *,
                           nominal: float | None = None) -> float | None:
    """TUR = (tolerance span / 2) / U.

    Two-sided limits: (upper - lower) / 2 / U. One-sided limit: the distance from the limit to
    `nominal` (the target) over U; without a nominal a one-sided limit has no span and the TUR
    is None. No limit at all: None. U = 0 gives an infinite ratio.
    """
    if lower is not None and upper is not None:
        half_span = (upper - lower) * HALF
    elif nominal is not None and (lower is not None or upper is not None):
        limit = lower if lower is not None else upper
        half_span = abs(limit - nominal)
    else:
        return None
    if expanded_uncertainty == 0.0:
        return math.inf
    return half_span / expanded_uncertainty


# The name starts with "test_" because that is what the quantity is called; keep pytest from
# collecting it when a test module imports it.
test_uncertainty_ratio.__test__ = False  # type: ignore[attr-defined]


def margin_to_limits(measured: float, lower: float | None, upper: float | None) -> float:
    """Signed distance to the nearest limit, positive inside; infinite with no limits."""
    distances = []
    if lower is not None:
        distances.append(measured - lower)
    if upper is not None:
        distances.append(upper - measured)
    return min(distances) if distances else math.inf


def _guarded_verdict(margin: float, guard_band: float) -> Verdict:
    if margin >= guard_band:
        return Verdict.PASS
    if margin >= 0.0:
        return Verdict.CONDITIONAL_PASS
    if margin > -guard_band:
        return Verdict.CONDITIONAL_FAIL
    return Verdict.FAIL


def decide(measured: float, *, lower: float | None, upper: float | None,
           expanded_uncertainty: float, rule: DecisionRule,
           nominal: float | None = None) -> Decision:
    """Verdict of one measured value against its declared limits, under the given rule."""
    if not expanded_uncertainty >= 0.0:
        raise ValueError(f"expanded uncertainty must be >= 0, got {expanded_uncertainty}")
    if lower is not None and upper is not None and lower > upper:
        raise ValueError(f"lower limit {lower} is above upper limit {upper}")
    rule = DecisionRule(rule)
    guard_band = expanded_uncertainty if rule is DecisionRule.GUARD_BAND else 0.0
    tur = test_uncertainty_ratio(lower, upper, expanded_uncertainty, nominal=nominal)
    margin = margin_to_limits(measured, lower, upper)
    if lower is None and upper is None:
        verdict = Verdict.NOT_APPLICABLE
    elif math.isnan(measured):
        verdict, margin = Verdict.FAIL, math.nan
    else:
        verdict = _guarded_verdict(margin, guard_band)
    return Decision(verdict=verdict, measured=measured, lower=lower, upper=upper,
                    expanded_uncertainty=expanded_uncertainty, guard_band=guard_band,
                    rule=rule, tur=tur, low_tur=tur is not None and tur < MIN_TUR,
                    margin=margin)


def worst_verdict(verdicts: list[Verdict]) -> Verdict:
    """The verdict of a requirement over its points: the worst one wins; none at all is N/A."""
    order = [Verdict.FAIL, Verdict.CONDITIONAL_FAIL, Verdict.CONDITIONAL_PASS, Verdict.PASS]
    present = {Verdict(v) for v in verdicts} - {Verdict.NOT_APPLICABLE}
    for verdict in order:
        if verdict in present:
            return verdict
    return Verdict.NOT_APPLICABLE
