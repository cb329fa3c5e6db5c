"""The probe plan: the calls a submission gets, read from the goldens.

Each case of the goldens is one call, with the case's id (the name checks use,
``ctx.probe("sdpa_3d")``), question, probe, JSON arguments and input arrays; the expected
outputs and facts never leave the parent (``tests/test_goldens.py`` searches every call for
them).
"""

from __future__ import annotations

from collections.abc import Iterable

from autograder.goldens import Goldens
from autograder.sandbox import ProbeCall

PROBE_MODULES = (
    "autograder.child.probes.attention",
    "autograder.child.probes.decoder",
    "autograder.child.probes.functions",
    "autograder.child.probes.training",
)
"""The child-side modules that register this homework's probes."""
EXECUTE_PROBE_MODULES = ("autograder.child.probes.execute",)
"""The child-side module of ``--execute`` (loaded only by the execution's own run)."""


def probe_calls(goldens: Goldens, case_ids: Iterable[str] | None = None) -> list[ProbeCall]:
    """The calls of ``case_ids`` (every case when None), in the goldens' (question) order."""
    wanted = set(goldens.cases if case_ids is None else case_ids)
    return [
        ProbeCall(id=g.id, probe=g.probe, question=g.question, kwargs=g.kwargs, arrays=g.inputs)
        for g in goldens.cases.values()
        if g.id in wanted
    ]
