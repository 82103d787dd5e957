"""Safety cut-offs (dut-protocol.md section 1), each measured from the analyzer's digitized trace.

One test per instance of the suite's declared steps (rig/procedures/cutoffs/suite.py), in the suite's
order: each declares its requirement (the spec section) and gives the verdicts of its points against
the spec's limits; every trace is drawn in the report with its limits.
"""

from __future__ import annotations

import pytest

from rig.procedures.cutoffs.suite import suite_steps
from rig.spec import load_spec

pytestmark = pytest.mark.cutoffs
SPEC = load_spec()


@pytest.mark.parametrize("step", [pytest.param(step, id=step.name, marks=pytest.mark.requirement(step.requirement))
                                  for step in suite_steps(SPEC)])
def test_cutoff(cutoff_context, record_cutoff, step):
    record_cutoff(step.run(cutoff_context))
