"""Diagnose: name the student's bug when their outputs are a known mutant's.

For every question that failed a check, the student's outputs on the question's probe cases are
compared with what each known-bug mutant of the reference answers on the same inputs (stored
with the goldens by ``python grade.py goldens``; the catalogue is ``reference/mutants.py``). A
unique match names the bug (its id and hint). Without one, the first output that differs from
the reference's is described: where the largest difference is and what kind of difference it
is (``difference``). Pure functions over plain data, in the parent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from autograder.cases import standin_id
from autograder.checks.base import CheckResult
from autograder.diagnose.difference import Difference, describe_difference
from autograder.goldens import CaseGolden, Goldens
from autograder.manifest import BY_NUMBER
from autograder.sandbox import ProbeResult

__all__ = ["Diagnosis", "Difference", "diagnose", "observed", "signatures_match"]

NOT_OUTPUTS = frozenset({"perturb_from", "word"})
"""Facts that describe a case's inputs, not its answers."""
RTOL, ATOL = 1e-4, 1e-5
"""Matching tolerance: loose enough for code that ran in float32."""


@dataclass(frozen=True)
class Diagnosis:
    """What went wrong in one question, beyond the checks' verdicts."""

    question: str
    """The question."""
    bug: str | None
    """The id of the known bug the outputs match (``MASK-ZERO-NOT-NEGINF``), if exactly one."""
    hint: str | None
    """That bug's hint: the symptom and how to find it, never the answer."""
    difference: Difference | None
    """Without a named bug: the first output that differs from the reference's, described."""


def observed(golden: CaseGolden, result: ProbeResult) -> dict[str, Any]:
    """The student's outputs on a case, named like the goldens' (arrays by name, and the data
    keys the case's facts have: a case names its answer facts as its probe names its data)."""
    data, values = dict(result.data), dict(result.arrays)
    if golden.probe == "generate":
        calls = data.get("calls") or []
        data |= {"prompt": calls[0] if calls else [], "calls": len(calls)}
    elif golden.probe == "multihead_structure":
        shapes = [
            s for n, s in (data.get("parameters") or {}).items() if not n.startswith("heads.")
        ]
        data["outside_shapes"] = sorted(list(s) for s in shapes)
    values |= {k: v for k, v in data.items() if k in golden.facts and k not in NOT_OUTPUTS}
    return values


def _reference_values(golden: CaseGolden, expected: Mapping, facts: Mapping) -> dict[str, Any]:
    values: dict[str, Any] = dict(expected)
    for key, value in facts.items():
        if key not in NOT_OUTPUTS:
            values[key] = [e["count"] for e in value] if key == "counts" else value
    return values


def _same(actual: Any, expected: Any, strict: bool = False) -> bool:
    """Whether a student's output equals a reference or mutant output (arrays in either layout
    of the last two axes unless ``strict``, numbers within the matching tolerance)."""
    if isinstance(expected, np.ndarray) or isinstance(actual, np.ndarray):
        try:
            a, e = np.asarray(actual, dtype=float), np.asarray(expected, dtype=float)
        except (TypeError, ValueError):
            return False
        candidates = [a] + ([np.swapaxes(a, -1, -2)] if a.ndim >= 2 and not strict else [])
        return any(
            c.shape == e.shape and np.allclose(c, e, rtol=RTOL, atol=ATOL, equal_nan=True)
            for c in candidates
        )
    if isinstance(expected, float) or isinstance(actual, float):
        try:
            return bool(np.isclose(float(actual), float(expected), rtol=RTOL, atol=ATOL))
        except (TypeError, ValueError):
            return False
    if isinstance(expected, list) and isinstance(actual, list):
        return len(actual) == len(expected) and all(map(_same, actual, expected))
    return actual == expected


def signatures_match(
    actual: Mapping[str, Any], expected: Mapping[str, Any], *, strict: bool = False
) -> int | None:
    """How many outputs two signatures share when they agree on every output they share;
    None when they disagree on one."""
    shared = actual.keys() & expected.keys()
    if not all(_same(actual[k], expected[k], strict) for k in shared):
        return None
    return len(shared)


def _cases(goldens: Goldens, question: str, failed: Iterable[str]) -> list[CaseGolden]:
    """The question's cases as its checks read them: the stand-in variants when a question it
    depends on failed."""
    variant = bool(set(BY_NUMBER[question].depends) & set(failed))
    out = []
    for golden in goldens.cases.values():
        if golden.question != question or golden.id.endswith(standin_id("")):
            continue
        case_id = standin_id(golden.id) if variant else golden.id
        out.append(goldens.cases.get(case_id, golden))
    return out


def _match(cases: Sequence[CaseGolden], results: Mapping[str, ProbeResult]) -> list[str]:
    """The bugs whose mutant's outputs agree with the student's on every output both have,
    one of them at least where the mutant differs from the reference. Arrays may be in either
    layout, as the checks accept; when that leaves several bugs, the layout decides."""
    bugs = sorted({bug for golden in cases for bug in golden.mutants})
    matches = _matching(bugs, cases, results, strict=False)
    if len(matches) > 1:
        return _matching(matches, cases, results, strict=True)
    return matches


def _matching(
    bugs: Sequence[str],
    cases: Sequence[CaseGolden],
    results: Mapping[str, ProbeResult],
    *,
    strict: bool,
) -> list[str]:
    matches = []
    for bug in bugs:
        distinguishing = 0
        for golden in cases:
            mutant, result = golden.mutants.get(bug), results.get(golden.id)
            if mutant is None or mutant.error or result is None or result.status != "ok":
                continue
            student = observed(golden, result)
            wrong = _reference_values(golden, mutant.expected, mutant.facts)
            if signatures_match(student, wrong, strict=strict) is None:
                break
            right = _reference_values(golden, golden.expected, golden.facts)
            distinguishing += sum(
                1
                for k in student.keys() & wrong.keys()
                if k in right and not _same(wrong[k], right[k])
            )
        else:
            if distinguishing:
                matches.append(bug)
    return matches


def _first_difference(
    cases: Sequence[CaseGolden], results: Mapping[str, ProbeResult]
) -> Difference | None:
    for golden in cases:
        result = results.get(golden.id)
        if result is None or result.status != "ok":
            continue
        for name, expected in golden.expected.items():
            actual = result.arrays.get(name)
            if actual is not None and not _same(actual, expected):
                return describe_difference(golden.id, name, actual, expected)
    return None


def diagnose(
    results: Mapping[str, ProbeResult], checks: Sequence[CheckResult], goldens: Goldens
) -> list[Diagnosis]:
    """A diagnosis per question with a failed check, in question order."""
    failed = [c.question for c in checks if not c.passed]
    diagnoses = []
    bugs = goldens.meta.get("bugs", {})
    for question in dict.fromkeys(failed):
        cases = _cases(goldens, question, failed)
        matches = _match(cases, results)
        if len(matches) == 1:
            hint = bugs.get(matches[0], {}).get("hint")
            diagnoses.append(Diagnosis(question, matches[0], hint, None))
            continue
        difference = _first_difference(cases, results)
        if difference is not None:
            diagnoses.append(Diagnosis(question, None, None, difference))
    return diagnoses
