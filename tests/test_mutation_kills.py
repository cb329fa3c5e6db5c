"""Tests written to kill the mutants that survived the mutation run (docs/testing.md).

Each pins what a student or the staff reads, or what a grade is made of, where no other fast
test looked: every wording branch of ``autograder.report``, the reports of a grading that
stopped, the check registry, the checks' tolerances and the parent's transport limits.
"""

from __future__ import annotations

import json
import os

import pytest

from autograder import outcome
from autograder import report as R
from autograder.checks import base
from autograder.checks.base import Blocked, CheckResult
from autograder.diagnose import Diagnosis
from autograder.diagnose.difference import Difference
from autograder.extract import Location
from autograder.extract.model import Dropped
from autograder.outcome import (
    BrokenCellNote,
    GradingReport,
    GradingStatus,
    StoppedNote,
    UndefinedNameNote,
)
from autograder.sandbox import ErrorKind, ProbeError

LOC = Location(17, 28, "ScaledDotAttention.forward")
TOP = Location(3, 2, None)


def _error(kind: ErrorKind, location=LOC, message: str = "bad *x*") -> ProbeError:
    return ProbeError("ValueError", message, location, kind)


# --- autograder.report: every wording branch --------------------------------------------------

AT = "in `ScaledDotAttention.forward`, cell 18, line 28"
PROBE_ERRORS = [
    (ErrorKind.CONTRACT, LOC, "`bad *x*`"),
    (ErrorKind.NOT_IMPLEMENTED, LOC, "not implemented yet: `bad *x*` (cell 18, line 28)"),
    (ErrorKind.NOT_IMPLEMENTED, None, "not implemented yet: `bad *x*`"),
    (ErrorKind.EXCEPTION, LOC, f"your code raised `ValueError: bad *x*` {AT}"),
    (ErrorKind.EXCEPTION, None, "your code raised `ValueError: bad *x*`"),
    (ErrorKind.IMPORT, LOC, f"the notebook failed to import: `ValueError: bad *x*` ({AT})"),
    (ErrorKind.IMPORT, None, "the notebook failed to import: `ValueError: bad *x*`"),
    (ErrorKind.TIMEOUT, LOC, "it ran past its time budget (`bad *x*`)"),
    (ErrorKind.CRASH, None, "the grading process crashed while running it (`bad *x*`)"),
    (ErrorKind.OUT_OF_MEMORY, None, "it ran out of memory (`bad *x*`)"),
    (ErrorKind.NOT_RUN, None, "it was not run (`bad *x*`)"),
    (ErrorKind.PROTOCOL, None, "the grading process was disturbed (`bad *x*`)"),
    (ErrorKind.INVALID_RESULT, None, "its answer could not be read (`bad *x*`)"),
]
if hasattr(ErrorKind, "DEFINITION"):
    PROBE_ERRORS += [
        (ErrorKind.DEFINITION, LOC, "`bad *x*` (cell 18, line 28)"),
        (ErrorKind.DEFINITION, None, "`bad *x*`"),
    ]


@pytest.mark.parametrize(("kind", "location", "words"), PROBE_ERRORS)
def test_each_kind_of_probe_error_is_worded(kind, location, words):
    assert R.describe_probe_error(_error(kind, location)) == words


def test_a_stub_without_a_message_says_not_implemented_error():
    error = _error(ErrorKind.NOT_IMPLEMENTED, TOP, message="")
    assert (
        R.describe_probe_error(error)
        == "not implemented yet: `NotImplementedError` (cell 4, line 2)"
    )


def test_locations_are_worded():
    assert R.describe_location(LOC) == AT
    assert R.describe_location(TOP) == "cell 4, line 2"
    assert R.describe_location("somewhere *odd*") == "`somewhere *odd*`"
    assert R.describe_location(None) == ""


def _result(**changes) -> CheckResult:
    fields = dict(
        check_id="2.2.1/context",
        question="2.2.1",
        title="ScaledDotAttention: context",
        score=0.0,
        max_score=2.0,
        passed=False,
        visibility="visible",
    )
    return CheckResult(**{**fields, **changes})


def test_each_kind_of_check_output_is_worded():
    blocked = Blocked("sdpa_3d", "error", _error(ErrorKind.TIMEOUT))
    assert R.check_output(_result(grader_error="KeyError: 'x'", blocked=blocked)) == (
        "the grader could not evaluate this check (`KeyError: 'x'`)"
    )
    assert R.check_output(_result(blocked=blocked)) == "it ran past its time budget (`bad *x*`)"
    assert R.check_output(_result(blocked=Blocked("sdpa_3d", "not_run", None))) == (
        "it was not run (an earlier failure stopped the grading of this question)"
    )
    assert R.check_output(_result(message="off by *2*")) == "off by *2*"
    assert R.check_output(_result()) == "failed"
    assert R.check_output(_result(passed=True, score=2.0)) == "passed"
    assert R.check_output(_result(lowered=True)) == (
        "failed\n\n(Compared in float32, because your code runs only in float32; the tolerance "
        "is the one float32 rounding needs.)"
    )
    assert R.check_output(_result(question="2.2.2", substituted=("2.2.1",))) == (
        "failed\n\n(Graded with the course's `ScaledDotAttention` (2.2.1) in place of yours, so "
        "that this question is judged on its own code.)"
    )


def _notes() -> list:
    dropped = Dropped(4, 1, "call", "device = get_device()", "a call", ("device",))
    return [
        BrokenCellNote(6, 3, "invalid *syntax*", ("f", "g")),
        BrokenCellNote(6, 3, "invalid syntax", ()),
        UndefinedNameNote("device", ("ScaledDotAttention", "f"), dropped),
        UndefinedNameNote("helper", ("f",), None),
        StoppedNote("2.3.4", _error(ErrorKind.TIMEOUT, message="timed out after 20 s")),
    ]


NOTE_WORDS = [
    "cell 7 has a syntax error at line 3: `invalid *syntax*` (so `f`, `g` could not be graded)",
    "cell 7 has a syntax error at line 3: `invalid syntax`",
    "cell 5: `device = get_device()` is not run by the grader, so `device` is undefined in "
    "`ScaledDotAttention`, `f`",
    "`helper` is used in `f` but is not defined anywhere in the notebook",
    "question 2.3.4: `timed out after 20 s`",
]


def test_each_kind_of_note_is_worded():
    assert [R.describe_note(n) for n in _notes()] == NOTE_WORDS
    with pytest.raises(TypeError, match="unknown note"):
        R.describe_note("a note of no kind")


@pytest.mark.skipif(
    not hasattr(outcome, "DroppedStatementNote"), reason="DroppedStatementNote not in this tree"
)
def test_a_dropped_statement_note_is_worded():
    note = outcome.DroppedStatementNote
    error = _error(ErrorKind.TIMEOUT, TOP, "took more than 60 s to import")
    assert R.describe_note(note("while True: pass", ("x", "y"), error)) == (
        "cell 4, line 2: `while True: pass` stopped the notebook's import (`took more than 60 s "
        "to import`), so the grader left it out and graded the rest; `x`, `y` could not be graded"
    )
    error = _error(ErrorKind.CRASH, None, "the process exited")
    assert R.describe_note(note("exit()", (), error)) == (
        "`exit()` stopped the notebook's import (`the process exited`), so the grader left it out "
        "and graded the rest"
    )


def _difference(kind: str, **changes) -> Difference:
    fields = dict(
        case="causal.standin",
        output="context",
        kind=kind,
        largest=0.123456,
        where=(("batch", 1), ("query", 2)),
        shape=(2, 3),
        expected_shape=(3, 2),
        factor=2.5,
    )
    return Difference(**{**fields, **changes})


DIFFERENCES = [
    (
        "shape",
        "your context (causal self-attention) has shape (2, 3); the reference's has shape (3, 2).",
    ),
    (
        "nan",
        "your context (causal self-attention) has NaN or infinite values (the first at "
        "batch 1, query 2).",
    ),
    (
        "transposed",
        "your context (causal self-attention) is the reference's with its last two axes swapped.",
    ),
    (
        "scaled",
        "your context (causal self-attention) is the reference's times 2.5: a scale factor is off.",
    ),
    (
        "permuted",
        "your context (causal self-attention) holds the reference's values in other "
        "places: something is permuted or reshaped instead of transposed.",
    ),
    (
        "values",
        "your context (causal self-attention) differs from the reference's most at "
        "batch 1, query 2 (by 0.123).",
    ),
]


@pytest.mark.parametrize(("kind", "words"), DIFFERENCES)
def test_each_kind_of_difference_is_worded(kind, words):
    assert R.describe_difference(_difference(kind)) == words


def test_an_unlabelled_case_is_named_as_it_is():
    words = R.describe_difference(_difference("transposed", case="odd_case"))
    assert words.startswith("your context (odd_case) is")


def test_diagnoses_are_worded():
    difference = _difference("scaled")
    assert R.describe_diagnosis(Diagnosis("2.2.2", "SCALE-MISSING", "divide by *sqrt*", None)) == (
        "**Likely bug** (`SCALE-MISSING`): divide by *sqrt*"
    )
    assert (
        R.describe_diagnosis(Diagnosis("2.2.2", "X", None, difference)) == "**Likely bug** (`X`):"
    )
    assert R.describe_diagnosis(Diagnosis("2.2.2", None, None, difference)) == (
        "**Where it differs**: " + R.describe_difference(difference)
    )
    assert R.describe_diagnosis(Diagnosis("2.2.2", None, None, None)) == ""


def _report(**changes) -> GradingReport:
    checks = [
        _result(passed=True, score=2.0),
        _result(check_id="2.2.1/rows", title="rows sum to one", message="sums *1.5*"),
        _result(
            check_id="2.2.2/context",
            question="2.2.2",
            title="causal context",
            max_score=3.0,
            visibility="after_due_date",
            blocked=Blocked("causal", "timeout", _error(ErrorKind.TIMEOUT)),
        ),
        _result(
            check_id="2.2.2/first",
            question="2.2.2",
            title="first position",
            max_score=1.0,
            visibility="hidden",
            blocked=Blocked("causal", "timeout", _error(ErrorKind.TIMEOUT)),
        ),
        _result(
            check_id="2.4.2/fit",
            question="2.4.2",
            title="the fit",
            max_score=4.0,
            visibility="after_published",
            passed=True,
            score=4.0,
            message="close *enough*",
            lowered=True,
        ),
    ]
    fields = dict(
        submission="alice *1*.ipynb",
        title="Homework 4",
        checks=checks,
        notes=[_notes()[3]],
        diagnoses=[
            Diagnosis("2.2.1", "SOFTMAX-WRONG-AXIS", "softmax over the keys", None),
            Diagnosis("2.2.2", None, None, _difference("transposed")),
            Diagnosis("2.2.2", None, None, None),
        ],
        extra={"seeds": {"goldens": 7}},
        seconds=1.23456,
    )
    return GradingReport(**{**fields, **changes})


TERMINAL_PUBLIC = """\
alice *1*.ipynb
note: `helper` is used in `f` but is not defined anywhere in the notebook
FAIL 2.2.1 {t221} [2/4]
     **Likely bug** (`SOFTMAX-WRONG-AXIS`): softmax over the keys
     - rows sum to one [0/2]
         sums *1.5*
score: 2/4 (public checks only)"""

TERMINAL_ALL = """\
alice *1*.ipynb
The autograder itself failed on this submission (boom). This is not your fault: please tell \
the course staff.
note: `helper` is used in `f` but is not defined anywhere in the notebook
FAIL 2.2.1 {t221} [2/4]
     **Likely bug** (`SOFTMAX-WRONG-AXIS`): softmax over the keys
     - rows sum to one [0/2]
         sums *1.5*
FAIL 2.2.2 {t222} [0/4]: it ran past its time budget (`bad *x*`)
     **Where it differs**: your context (causal self-attention) is the reference's with its \
last two axes swapped.
ok   2.4.2 {t242} [4/4]
score: 6/12"""


def _titles() -> dict:
    return {f"t{q.replace('.', '')}": R.question_title(q) for q in ("2.2.1", "2.2.2", "2.4.2")}


def test_the_terminal_text_is_exact():
    assert R.render_terminal(_report()) == TERMINAL_PUBLIC.format(**_titles())
    failed = _report(status=GradingStatus.ERROR, problem="boom")
    assert R.render_terminal(failed, public_only=False) == TERMINAL_ALL.format(**_titles())


FEEDBACK = """\
# Homework 4

Submission: `alice *1*.ipynb`

Score: **6 / 12**

The autograder itself failed on this submission (boom). This is not your fault: please tell \
the course staff.

Notes:
- `helper` is used in `f` but is not defined anywhere in the notebook

## 2.2.1 {t221} (2/4)

**Likely bug** (`SOFTMAX-WRONG-AXIS`): softmax over the keys

- **PASS** ScaledDotAttention: context (2/2)
- **FAIL** rows sum to one (0/2)
  sums *1.5*

## 2.2.2 {t222} (0/4)

**Where it differs**: your context (causal self-attention) is the reference's with its last \
two axes swapped.

- **FAIL** causal context (0/3) *(hidden until the due date)*
  it ran past its time budget (`bad *x*`)
- **FAIL** first position (0/1) *(hidden until the due date)*
  it ran past its time budget (`bad *x*`)

## 2.4.2 {t242} (4/4)

- **PASS** the fit (4/4) *(hidden until the due date)*
  close *enough*
{indent}
  (Compared in float32, because your code runs only in float32; the tolerance is the one \
float32 rounding needs.)
"""


def test_feedback_is_exact():
    failed = _report(status=GradingStatus.ERROR, problem="boom")
    assert R.render_feedback(failed) == FEEDBACK.format(**_titles(), indent="  ")
    public = R.render_feedback(_report(), public_only=True)
    assert "Score: **2 / 4** (public checks)\n" in public
    assert "2.2.2" not in public and "The autograder itself failed" not in public


SUMMARY = """\
Public checks: 2/4 points now.
Hidden checks worth 3 more points are shown after the due date.
Hidden checks worth 4 more points are shown when the grades are published.
Hidden checks worth 1 more points are not shown to students.
Until then Gradescope keeps your total score hidden.
- `helper` is used in `f` but is not defined anywhere in the notebook"""


def test_results_json_is_exact_where_it_counts():
    rendered = R.render_gradescope(_report())
    assert rendered["score"] == 6.0 and rendered["execution_time"] == 1.235
    assert rendered["output"] == SUMMARY
    assert rendered["extra_data"]["status"] == "graded"
    assert rendered["extra_data"]["seeds"] == {"goldens": 7}
    assert {k: rendered[k] for k in ("output_format", "test_output_format")} == {
        "output_format": "md",
        "test_output_format": "md",
    }
    assert (rendered["visibility"], rendered["stdout_visibility"]) == ("visible", "hidden")
    summary, *tests = rendered["tests"]
    assert summary == {
        "name": "Summary",
        "number": "0",
        "score": 0.0,
        "max_score": 0.0,
        "status": "passed",
        "output": SUMMARY,
        "output_format": "md",
        "visibility": "visible",
    }
    assert [(t["number"], t["score"], t["max_score"], t["status"]) for t in tests] == [
        ("2.2.1", 2.0, 2.0, "passed"),
        ("2.2.1", 0.0, 2.0, "failed"),
        ("2.2.2", 0.0, 3.0, "failed"),
        ("2.2.2", 0.0, 1.0, "failed"),
        ("2.4.2", 4.0, 4.0, "passed"),
    ]
    first_fail = tests[1]
    assert first_fail["name"] == "2.2.1 rows sum to one"
    assert first_fail["output"] == (
        "sums *1.5*\n\n**Likely bug** (`SOFTMAX-WRONG-AXIS`): softmax over the keys"
    )
    assert first_fail["tags"] == ["2.2.1/rows"] and first_fail["visibility"] == "visible"
    assert first_fail["output_format"] == "md"
    assert tests[3]["output"] == "it ran past its time budget (`bad *x*`)"  # diagnosed once
    failed = R.render_gradescope(_report(status=GradingStatus.ERROR, problem="boom"))
    assert failed["tests"][0]["status"] == "failed"
    assert failed["output"].startswith("The autograder itself failed on this submission (boom).")
    unreadable = R.render_gradescope(_report(status=GradingStatus.UNREADABLE, problem="no json"))
    assert unreadable["output"].startswith("no json\nPublic checks")


def test_the_reports_written_are_the_ones_rendered(tmp_path):
    report = _report()
    R.write_reports(report, tmp_path, public_only=True)
    written = json.loads((tmp_path / "results.json").read_text())
    assert written == json.loads(json.dumps(R.render_gradescope(report)))
    assert (tmp_path / "feedback.md").read_text() == R.render_feedback(report, public_only=True)
    assert sorted(os.listdir(tmp_path)) == ["feedback.md", "results.json"]


def test_the_failsafe_reports_are_exact(tmp_path):
    from autograder import __version__

    R.write_failsafe(tmp_path, "TypeError: *bad*")
    message = (
        "The autograder failed while writing its report (`TypeError: *bad*`). This is not your "
        "fault: please tell the course staff."
    )
    assert json.loads((tmp_path / "results.json").read_text()) == {
        "score": 0.0,
        "output": message,
        "output_format": "md",
        "visibility": "visible",
        "extra_data": {"grader_version": __version__, "status": "error"},
        "tests": [],
    }
    assert (tmp_path / "feedback.md").read_text() == f"# Autograder\n\n{message}\n"


# --- the check registry ------------------------------------------------------------------------


def test_check_registers_a_check_with_its_fields_and_refuses_a_duplicate():
    before = list(base.REGISTRY)

    def judge(ctx):
        return None

    try:
        returned = base.check("9.9", "probe", "A title", cases=["a", "b"])(judge)
        assert returned is judge
        assert base.REGISTRY[len(before) :] == [
            base.Check("9.9", "9.9/probe", "A title", ("a", "b"), judge)
        ]
        with pytest.raises(ValueError, match="duplicate check id 9.9/probe"):
            base.check("9.9", "probe", "Another", cases=[])(judge)
        assert len(base.REGISTRY) == len(before) + 1
    finally:
        base.REGISTRY[:] = before


def test_a_probe_that_gave_no_data_says_so():
    blocked = Blocked("causal", "timeout", None)
    error = base.ProbeUnavailable(blocked)
    assert str(error) == "probe causal gave no data (timeout)" and error.blocked is blocked
    assert isinstance(error, base.CheckFailed)


# --- the engine: a grading that stops ----------------------------------------------------------


def test_a_report_not_graded_zeroes_every_check_and_says_why():
    from autograder.engine import mark_not_graded

    report = _report()
    mark_not_graded(report)
    assert report.checks == [
        CheckResult(
            c.check_id,
            c.question,
            c.title,
            0.0,
            c.max_score,
            False,
            c.visibility,
            "not graded: the submission could not be graded (see the summary)",
        )
        for c in _report().checks
    ]
