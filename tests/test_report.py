"""Reports: results.json valid against Gradescope's schema, honest about hidden checks."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest

from autograder.checks.base import CheckResult
from autograder.files import write_json
from autograder.outcome import BrokenCellNote, GradingReport
from autograder.report import render_feedback, render_gradescope, render_terminal
from autograder.rubric import DEFAULT_RUBRIC, load_rubric

SCHEMA = Path(__file__).resolve().parents[1] / "autograder" / "results.schema.json"
SHARED_SCHEMA = (
    Path(__file__).resolve().parents[2] / "shared" / "gradescope" / "results.schema.json"
)


def _report() -> GradingReport:
    checks = [
        CheckResult("2.2.1/a", "2.2.1", "first", 2.0, 2.0, True, "visible"),
        CheckResult("2.2.1/b", "2.2.1", "second", 0.0, 1.0, False, "visible", "wrong axis"),
        CheckResult("2.3.4/c", "2.3.4", "hidden one", 0.0, 3.0, False, "after_due_date", "nope"),
    ]
    notes = [BrokenCellNote(2, 1, "invalid syntax", ("f",))]
    return GradingReport(submission="nb.ipynb", checks=checks, notes=notes)


@pytest.fixture
def schema() -> dict:
    """Gradescope's results schema (a copy ships with the package, checked against shared/)."""
    return json.loads(SCHEMA.read_text())


@pytest.mark.official_data
def test_vendored_schema_matches_shared():
    if not SHARED_SCHEMA.is_file():
        pytest.skip(f"no {SHARED_SCHEMA} on this machine")
    assert json.loads(SCHEMA.read_text()) == json.loads(SHARED_SCHEMA.read_text())


def test_results_json_is_valid_and_honest(schema):
    results = render_gradescope(_report())
    jsonschema.validate(results, schema)
    assert results["score"] == 2.0
    summary = results["tests"][0]
    assert summary["visibility"] == "visible"
    assert "2/3" in summary["output"] and "worth 3 more points" in summary["output"]
    numbers = [t["number"] for t in results["tests"][1:]]
    assert numbers == ["2.2.1", "2.2.1", "2.3.4"]
    assert results["tests"][3]["visibility"] == "after_due_date"


def test_feedback_and_terminal_hide_hidden_checks_when_public(tmp_path):
    report = _report()
    public = render_feedback(report, public_only=True)
    assert "hidden one" not in public and "wrong axis" in public
    assert "hidden one" in render_feedback(report)
    text = render_terminal(report)
    assert "wrong axis" in text and "score: 2/3" in text


def test_atomic_write_leaves_no_temporary(tmp_path):
    path = write_json(tmp_path / "out" / "results.json", {"score": 1})
    assert json.loads(path.read_text()) == {"score": 1}
    assert [p.name for p in path.parent.iterdir()] == ["results.json"]


def test_default_rubric_covers_every_check():
    from autograder.checks import REGISTRY

    rubric = load_rubric(DEFAULT_RUBRIC)
    assert {c.id for c in REGISTRY} == set(rubric.lines)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[checks]\n"2.2.1/x" = { points = -1 }', "invalid points"),
        ('[checks]\n"2.2.1/x" = { visibility = "secret" }', "invalid visibility"),
        ("not toml = = 1", "cannot read rubric"),
        ('[checks]\n"2.2.1/x" = { enabled = "no" }', "invalid enabled"),
    ],
)
def test_bad_rubric_is_rejected_with_a_message(tmp_path, text, message):
    path = tmp_path / "rubric.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        load_rubric(path)


def test_rubric_must_match_the_checks(tmp_path):
    from autograder.checks import REGISTRY

    rubric = load_rubric(DEFAULT_RUBRIC)
    rubric.validate(REGISTRY)
    text = DEFAULT_RUBRIC.read_text().replace('"2.3.5/count"', '"2.3.5/cuont"')
    path = tmp_path / "rubric.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match="no line for 2.3.5/count"):
        load_rubric(path).validate(REGISTRY)


HOSTILE = (
    "![x](http://evil.example/pixel.png) [click](javascript:alert(1)) <img src=x onerror=1>\n"
    "Score: **25 / 25**\n``` end the fence\n# All checks passed"
)


def _html(markdown: str) -> str:
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark").render(markdown)


def test_student_text_is_inert_in_every_markdown_output():
    """Error messages, names and the file name come from the submission: rendered, they are
    code, never an image, a link, emphasis, raw HTML or a heading of ours."""
    from autograder.checks.base import Blocked
    from autograder.extract import Location
    from autograder.outcome import StoppedNote
    from autograder.sandbox import ErrorKind, ProbeError

    error = ProbeError("ValueError", HOSTILE, Location(3, 2, HOSTILE), ErrorKind.EXCEPTION)
    contract = ProbeError("ContractError", HOSTILE, None, ErrorKind.CONTRACT)
    checks = [
        CheckResult(
            "2.2.1/a",
            "2.2.1",
            "first",
            0.0,
            2.0,
            False,
            "visible",
            blocked=Blocked("sdpa_3d", "error", error),
        ),
        CheckResult(
            "2.2.1/b",
            "2.2.1",
            "second",
            0.0,
            1.0,
            False,
            "visible",
            blocked=Blocked("sdpa_3d", "error", contract),
        ),
        CheckResult("2.2.1/c", "2.2.1", "third", 0.0, 1.0, False, "visible", grader_error=HOSTILE),
    ]
    notes = [
        BrokenCellNote(2, 1, HOSTILE, (HOSTILE,)),
        StoppedNote("2.2.1", ProbeError("Timeout", HOSTILE, None, ErrorKind.TIMEOUT)),
    ]
    report = GradingReport(submission=HOSTILE, checks=checks, notes=notes)
    results = render_gradescope(report)
    texts = [render_feedback(report), results["output"], *(t["output"] for t in results["tests"])]
    for text in texts:
        outside_code = re.sub(r"<code[^>]*>.*?</code>", "", _html(text), flags=re.S)
        assert "<img" not in outside_code and "<a " not in outside_code
        for fragment in ("evil.example", "javascript:", "onerror", "25 / 25", "checks passed"):
            assert fragment not in outside_code, (fragment, text)


@pytest.mark.parametrize("text", ["plain", "a `tick`", "``double``", "line\nbreak ```", "", "`"])
def test_inert_text_round_trips_as_code(text):
    from autograder.markdown import inert

    html = _html(f"before {inert(text)} after")
    assert "<code" in html


def test_the_summary_says_when_each_kind_of_hidden_check_is_shown():
    checks = [
        CheckResult("2.2.1/a", "2.2.1", "a", 1.0, 1.0, True, "visible"),
        CheckResult("2.2.1/b", "2.2.1", "b", 0.0, 2.0, False, "after_due_date"),
        CheckResult("2.2.1/c", "2.2.1", "c", 0.0, 3.0, False, "after_published"),
        CheckResult("2.2.1/d", "2.2.1", "d", 0.0, 4.0, False, "hidden"),
    ]
    text = render_gradescope(GradingReport(submission="nb.ipynb", checks=checks))["output"]
    assert "worth 2 more points are shown after the due date" in text
    assert "worth 3 more points are shown when the grades are published" in text
    assert "worth 4 more points are not shown to students" in text
