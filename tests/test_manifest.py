"""The manifest is the one home of each question: everything else has what it needs for each."""

from __future__ import annotations

import pytest

from autograder.checks import REGISTRY
from autograder.examples import EXAMPLES
from autograder.goldens import load_goldens
from autograder.manifest import QUESTIONS, Question
from autograder.notebook import reference_regions
from autograder.rubric import DEFAULT_RUBRIC, load_rubric
from tests.conftest import REPO


@pytest.fixture(scope="module")
def regions() -> dict:
    return reference_regions(REPO / "reference")


@pytest.mark.parametrize("question", QUESTIONS, ids=[q.number for q in QUESTIONS])
def test_every_question_has_everything_it_needs(question: Question, regions: dict) -> None:
    number = question.number
    for stub in question.stubs:
        assert stub.region in regions, f"{number}: no solution region {stub.region} in reference/"
        assert f"question {number}" in stub.message, f"{number}: stub message {stub.message!r}"
    assert question.stubs, f"{number}: no stub"
    cases = [c for c in load_goldens().cases.values() if c.question == number]
    assert cases, f"{number}: no golden case"
    checks = [c for c in REGISTRY if c.question == number]
    assert checks, f"{number}: no check"
    rubric = load_rubric(DEFAULT_RUBRIC)
    assert all(c.id in rubric.lines for c in checks), f"{number}: a check has no rubric line"
    assert any(e.question == number for e in EXAMPLES), f"{number}: no example wrong submission"


def test_every_region_check_case_and_example_belongs_to_a_question(regions: dict) -> None:
    numbers = {q.number for q in QUESTIONS}
    stubbed = {s.region for q in QUESTIONS for s in q.stubs}
    assert set(regions) == stubbed
    assert {c.question for c in REGISTRY} <= numbers
    assert {c.question for c in load_goldens().cases.values()} <= numbers
    assert {e.question for e in EXAMPLES} <= numbers
