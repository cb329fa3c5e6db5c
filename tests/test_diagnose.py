"""The bug catalogue: every known bug fails its own question's checks (and only those), the
diagnosis names it, it never fires on a correct solution, and float32 tolerances still separate
every bug from the reference."""

from __future__ import annotations

import json
from itertools import combinations

import numpy as np
import pytest

from autograder.checks.base import TOLERANCES
from autograder.diagnose import Diagnosis, diagnose
from autograder.diagnose.difference import describe_difference
from autograder.engine import grade_submission
from autograder.examples import CATALOGUE, apply_example
from autograder.goldens import load_goldens
from reference.mutants import BUGS
from tests.conftest import REPO
from tests.inprocess import diagnose_in_process, solution_source

PINNED = {
    "SOFTMAX-WRONG-AXIS": (
        5,
        {"context-2d", "context-3d", "rows-sum-to-one", "scaling", "weights"},
    ),
    "SCALE-MISSING": (4.5, {"context-2d", "context-3d", "scaling", "weights"}),
    "SCALE-BY-H": (4.5, {"context-2d", "context-3d", "scaling", "weights"}),
    "SCALE-WRONG-SIZE": (4.5, {"context-2d", "context-3d", "scaling", "weights"}),
    "SCORES-TRANSPOSED": (5, {"context-2d", "context-3d", "rows-sum-to-one", "scaling", "weights"}),
    "VIEW-NOT-TRANSPOSE": (4.5, {"context-2d", "context-3d", "scaling", "weights"}),
    "CONTEXT-SUMMED": (2.5, {"context-3d", "scaling"}),
    "QUERY-2D-BROADCAST": (1, {"context-2d"}),
    "MASK-NOT-APPLIED": (5, {"context", "first-position", "no-future", "trains", "weights"}),
    "MASK-ZERO-NOT-NEGINF": (5, {"context", "first-position", "no-future", "trains", "weights"}),
    "MASK-HIDES-DIAGONAL": (5, {"context", "first-position", "no-future", "trains", "weights"}),
    "MASK-KEEPS-FUTURE": (5, {"context", "first-position", "no-future", "trains", "weights"}),
    "MASK-AFTER-SOFTMAX": (5, {"context", "first-position", "no-future", "trains", "weights"}),
    "NO-POSITIONS": (3, {"logits"}),
    "RESIDUAL-MISSING": (3, {"logits"}),
    "MLP-RESIDUAL-MISSING": (3, {"logits"}),
    "PE-SIN-COS-SWAPPED": (3, {"logits"}),
    "PE-WRONG-EXPONENT": (3, {"logits"}),
    "PROMPT-NO-SOS": (1.5, {"prompt"}),
    "PROMPT-NO-EOP": (1.5, {"prompt"}),
    "PROMPT-EOS-NOT-EOP": (1.5, {"prompt"}),
    "GENERATE-NO-STOP": (0.5, {"greedy"}),
    "HEADS-AVERAGED": (3, {"match", "wo-shape"}),
    "WO-MISSING": (4.5, {"match", "output-shape", "trains", "wo-shape"}),
    "HEADS-NO-TRANSPOSE": (3.5, {"causal", "match", "trains"}),
    "HEADS-REVERSED": (2, {"match"}),
    "COUNT-NO-BIASES": (3, {"count"}),
    "COUNT-NO-EMBEDDING": (3, {"count"}),
    "COUNT-NO-OUTPUT-LAYER": (3, {"count"}),
    "COUNT-WO-SINGLE-HEAD": (3, {"count"}),
    "COUNT-WO-ONE-HEAD-SIZE": (3, {"count"}),
    "OPT-ARGMIN-GRID": (0.75, {"n-opt"}),
    "FIT-NATURAL-LOG": (0.75, {"fit"}),
    "FIT-LINEAR-SPACE": (1.5, {"fit", "n-opt"}),
    "LINE-NATURAL-LOG": (0.75, {"intercept"}),
    "LINE-LINEAR-SPACE": (1.5, {"intercept", "slope"}),
    "LINE-SWAPPED": (1.5, {"intercept", "slope"}),
    "MASK-EVAL-ONLY": (1, {"trains"}),
    "MASK-TIMES-INF": (5, {"context", "first-position", "no-future", "trains", "weights"}),
    "LOGITS-SOFTMAX": (4, {"logits", "trains"}),
    "FORWARD-NO-GRAD": (1, {"trains"}),
}
"""Per bug: points lost (out of 28) and the check ids (within its question) that fail."""


@pytest.fixture(scope="module")
def source() -> str:
    return solution_source()


def test_the_table_covers_the_catalogue():
    assert list(PINNED) == [bug.id for bug in BUGS]


@pytest.mark.parametrize("example", CATALOGUE, ids=[e.bug.id for e in CATALOGUE])
def test_each_bug_fails_its_own_checks_and_is_named(source, example):
    checks, diagnoses = diagnose_in_process(apply_example(source, example))
    lost, failing = PINNED[example.bug.id]
    failed = [c for c in checks if not c.passed]
    assert {c.question for c in failed} == {example.question}
    assert {c.check_id.split("/", 1)[1] for c in failed} == failing
    assert sum(c.max_score - c.score for c in checks) == pytest.approx(lost)
    assert [(d.question, d.bug) for d in diagnoses] == [(example.question, example.bug.id)]
    assert diagnoses[0].hint == example.bug.hint


def test_the_solution_gets_no_diagnosis(source):
    checks, diagnoses = diagnose_in_process(source)
    assert all(c.passed for c in checks) and diagnoses == []


def test_bugs_of_one_question_are_told_apart():
    """Two bugs of a question never answer every case alike (else neither could be named)."""
    goldens = load_goldens()
    for a, b in combinations(BUGS, 2):
        if a.question != b.question:
            continue
        cases = [g for g in goldens.cases.values() if a.id in g.mutants and b.id in g.mutants]
        differs = any(
            not _same_outputs(g.mutants[a.id], g.mutants[b.id], strict=True) for g in cases
        )
        assert differs or not cases, f"{a.id} and {b.id} answer every case alike"


def _same_outputs(x, y, *, strict: bool) -> bool:
    if x.expected.keys() != y.expected.keys() or x.error != y.error:
        return False
    for name in x.expected:
        a, b = x.expected[name], y.expected[name]
        if a.shape != b.shape or not np.allclose(a, b, rtol=1e-4, atol=1e-5, equal_nan=True):
            return False
    return json.dumps(x.facts, sort_keys=True) == json.dumps(y.facts, sort_keys=True)


def test_float32_tolerance_separates_every_bug_from_the_reference():
    """Where a bug changes an output array, it changes it by more than the float32 tolerance
    somewhere: a float32 fallback can never turn a known bug into a pass."""
    rtol, atol = TOLERANCES["float32"]
    goldens = load_goldens()
    separated = set()
    for golden in goldens.cases.values():
        for bug, mutant in golden.mutants.items():
            for name, wrong in mutant.expected.items():
                right = golden.expected[name]
                if wrong.shape != right.shape or not np.allclose(
                    wrong.astype(np.float32), right, rtol=rtol, atol=atol
                ):
                    separated.add(bug)
    array_bugs = {
        bug
        for golden in goldens.cases.values()
        for bug, mutant in golden.mutants.items()
        if any(
            mutant.expected[n].shape != golden.expected[n].shape
            or not np.array_equal(mutant.expected[n], golden.expected[n], equal_nan=True)
            for n in mutant.expected
        )
    }
    assert array_bugs and array_bugs <= separated


@pytest.mark.parametrize(
    ("actual", "kind"),
    [
        (lambda e: e.T, "transposed"),
        (lambda e: 1.5 * e, "scaled"),
        (lambda e: e[::-1], "permuted"),
        (lambda e: np.where(e > 0.5, np.nan, e), "nan"),
        (lambda e: e[:2], "shape"),
        (lambda e: e + np.eye(4) * 0.3, "values"),
    ],
)
def test_a_difference_is_described_by_its_kind(actual, kind):
    expected = np.random.default_rng(0).random((4, 4)) + 0.1
    difference = describe_difference("sdpa_3d", "weights", actual(expected), expected)
    assert difference.kind == kind
    if kind == "values":
        assert difference.largest == pytest.approx(0.3)
        assert [axis for axis, _ in difference.where] == ["batch", "query"]


def test_an_unknown_bug_gets_where_it_differs(source):
    doubled = source.replace(
        "        context = attention_weights @ v  # (B, k, H)\n",
        "        context = 2 * (attention_weights @ v)  # (B, k, H)\n",
        1,
    )
    checks, diagnoses = diagnose_in_process(doubled)
    assert [d.question for d in diagnoses] == ["2.2.1"]
    (diagnosis,) = diagnoses
    assert diagnosis.bug is None and diagnosis.difference.kind == "scaled"
    assert diagnosis.difference.factor == pytest.approx(2.0)


def test_diagnose_is_silent_without_failed_checks():
    assert diagnose({}, [], load_goldens()) == []
    assert Diagnosis("2.2.1", None, None, None).bug is None


@pytest.mark.slow
def test_the_diagnosis_reaches_results_json_and_feedback(tmp_path):
    path = REPO / "fixtures" / "submissions" / "bugs" / "MASK-ZERO-NOT-NEGINF.ipynb"
    report = grade_submission(path, out_dir=tmp_path)
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["extra_data"]["diagnoses"] == {"2.2.2": "MASK-ZERO-NOT-NEGINF"}
    outputs = [t["output"] for t in results["tests"] if t["number"] == "2.2.2"]
    assert sum("MASK-ZERO-NOT-NEGINF" in o for o in outputs) == 1
    assert "Likely bug" in (tmp_path / "feedback.md").read_text()
    assert report.score == 23
