"""Correct solutions written differently from the reference get full marks and no diagnosis:
the accepted variants (``reference/variants.py``) in-process and through the sandbox, and two
notebooks solved independently from the handout by someone who never saw the reference or the
checks (``fixtures/submissions/independent/``)."""

from __future__ import annotations

import pytest

from autograder.engine import grade_submission
from autograder.examples import apply_variant
from reference.variants import ACCEPTED
from tests.conftest import REPO
from tests.inprocess import diagnose_in_process, solution_source

SUBMISSIONS = REPO / "fixtures" / "submissions"
INDEPENDENT = sorted((SUBMISSIONS / "independent").glob("*.ipynb"))


@pytest.fixture(scope="module")
def source() -> str:
    return solution_source()


@pytest.mark.parametrize("variant", ACCEPTED, ids=[v.id for v in ACCEPTED])
def test_accepted_variant_gets_full_marks_in_process(source, variant):
    changed = apply_variant(source, variant)
    assert changed != source
    checks, diagnoses = diagnose_in_process(changed)
    assert [(c.check_id, c.message) for c in checks if not c.passed] == []
    assert diagnoses == []


def test_float32_only_code_is_compared_in_float32_and_says_so(source):
    variant = next(v for v in ACCEPTED if v.id == "FLOAT32-ONLY")
    checks, _ = diagnose_in_process(apply_variant(source, variant))
    lowered = {c.check_id for c in checks if c.lowered}
    assert {"2.2.1/context-3d", "2.2.1/weights"} <= lowered
    assert all(c.question == "2.2.1" for c in checks if c.lowered)


@pytest.mark.slow
@pytest.mark.parametrize(
    "path",
    [*INDEPENDENT, *sorted((SUBMISSIONS / "accepted").glob("*.ipynb"))],
    ids=lambda p: f"{p.parent.name}/{p.stem}",
)
def test_accepted_notebook_gets_full_marks_in_the_sandbox(path):
    report = grade_submission(path)
    assert report.status == "graded"
    assert [c.check_id for c in report.checks if not c.passed] == []
    assert report.score == report.max_score and report.diagnoses == []


def test_there_are_two_independent_solutions():
    assert [p.name for p in INDEPENDENT] == ["style-a.ipynb", "style-b.ipynb"]
