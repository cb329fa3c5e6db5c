"""Tests written to kill the mutants that survived the mutation run (docs/testing.md).

Each pins what a student or the staff reads, or what a grade is made of, where no other fast
test looked: every wording branch of ``autograder.report``, the reports of a grading that
stopped, the check registry, the checks' tolerances and the parent's transport limits.
"""

from __future__ import annotations

import io
import json
import os
import re
import stat
from pathlib import Path

import numpy as np
import pytest

from autograder import report as R
from autograder.checks import base
from autograder.checks.base import Blocked, CheckResult
from autograder.child.wire import MAX_TEXT
from autograder.diagnose import Diagnosis
from autograder.diagnose.difference import Difference
from autograder.extract import Location
from autograder.extract.model import Dropped
from autograder.outcome import (
    BrokenCellNote,
    DroppedStatementNote,
    GradingReport,
    GradingStatus,
    StoppedNote,
    UndefinedNameNote,
)
from autograder.sandbox import ErrorKind, ProbeError, transport
from autograder.sandbox.transport import TransportError

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


def test_a_dropped_statement_note_is_worded():
    note = DroppedStatementNote
    error = _error(ErrorKind.TIMEOUT, TOP, "took more than 60 s to import")
    assert R.describe_note(note("while True: pass", ("x", "y"), error)) == (
        "cell 4, line 2: `while True: pass` stopped the notebook's import (`took more than 60 s "
        "to import`), so the grader left it out and graded the rest; `x`, `y` could not be graded"
    )
    assert R.describe_note(note("x, y = f()", ("x", "y"), error, ("y",))) == (
        "cell 4, line 2: `x, y = f()` stopped the notebook's import (`took more than 60 s to "
        "import`), so the grader left it out and graded the rest; `x` could not be graded; the "
        "earlier definition of `y` was graded instead"
    )
    assert R.describe_note(note("y = f()", ("y",), error, ("y",))).endswith(
        "graded the rest; the earlier definition of `y` was graded instead"
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

  (Compared in float32, because your code runs only in float32; the tolerance is the one \
float32 rounding needs.)
"""


def test_feedback_is_exact():
    failed = _report(status=GradingStatus.ERROR, problem="boom")
    assert R.render_feedback(failed) == FEEDBACK.format(**_titles())
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


# --- the parent's transport: every refusal and every limit, at its edge -----------------------


def _npy(array: np.ndarray, version: tuple[int, int] | None = None) -> bytes:
    buffer = io.BytesIO()
    if version is None:
        np.save(buffer, array, allow_pickle=False)
    else:
        np.lib.format.write_array(buffer, array, version=version, allow_pickle=False)
    return buffer.getvalue()


def _folder(tmp_path: Path, record, arrays: dict[str, bytes] | None = None) -> int:
    text = record if isinstance(record, bytes) else json.dumps(record).encode()
    (tmp_path / "0.json").write_bytes(text)
    for name, payload in (arrays or {}).items():
        (tmp_path / f"0.{name}.npy").write_bytes(payload)
    return os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)


def _read(fd: int, **caps):
    caps = {"max_json_bytes": 1 << 20, "max_array_bytes": 1 << 20, "owner": None, **caps}
    try:
        return transport.read_result(fd, 0, **caps)
    finally:
        os.close(fd)


def _ok(arrays=(), **changes) -> dict:
    return {"status": "ok", "data": {}, "arrays": list(arrays or ()), "error": None, **changes}


def test_a_record_is_read_whole_and_its_error_validated(tmp_path):
    error = {"type": "E" * 300, "message": "m" * 5000, "lineno": 7, "kind": "contract"}
    record, arrays = _read(_folder(tmp_path, _ok(status="error", data={"a": [1]}, error=error)))
    assert record == {
        "status": "error",
        "data": {"a": [1]},
        "arrays": [],
        "error": {"type": "E" * 200, "message": "m" * MAX_TEXT, "lineno": 7, "kind": "contract"},
    }
    assert arrays == {}
    for kind, kept in [("oom", None), (5, None), ("not_implemented", "not_implemented")]:
        error = {"type": "E", "message": "m", "lineno": None, "kind": kind}
        record, _ = _read(_folder(tmp_path, _ok(status="error", error=error)))
        assert record["error"] == {"type": "E", "message": "m", "lineno": None, "kind": kept}


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        ([1], "error is not an object"),
        ({"type": "E", "lineno": 1}, "no type or message"),
        ({"type": 1, "message": "m"}, "no type or message"),
        ({"type": "E", "message": "m", "lineno": True}, "not an integer"),
        ({"type": "E", "message": "m", "lineno": "3"}, "not an integer"),
    ],
)
def test_a_malformed_error_is_refused(tmp_path, error, reason):
    with pytest.raises(TransportError, match=reason):
        _read(_folder(tmp_path, _ok(status="error", error=error)))


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        (_ok(status="timeout"), "status 'timeout' is not one of"),
        (_ok(status=None), "status 'None' is not one of"),
        (_ok(data=[1]), "data is not an object"),
        ({**_ok(), "arrays": "xy"}, "array list is not a list of at most 256"),
        (_ok(arrays=[f"a{i}" for i in range(257)]), "array list is not a list of at most 256"),
        (_ok(arrays=["../x"]), "invalid array '../x'"),
        (_ok(arrays=[".x"]), "invalid array"),
        (_ok(arrays=[3]), "invalid array"),
        (b"[1, 2]", "does not hold a JSON object"),
        (b"{not json", "0.json is not valid JSON"),
        (b"\xff\xfe", "0.json is not valid JSON"),
    ],
)
def test_a_malformed_record_is_refused(tmp_path, record, reason):
    with pytest.raises(TransportError, match=re.escape(reason)):
        _read(_folder(tmp_path, record))


def test_a_name_listed_twice_is_refused(tmp_path):
    fd = _folder(tmp_path, _ok(arrays=["x", "x"]), {"x": _npy(np.zeros(2))})
    with pytest.raises(TransportError, match="invalid array 'x'"):
        _read(fd)


def test_256_arrays_are_read(tmp_path):
    names = [f"a{i}" for i in range(256)]
    payload = _npy(np.arange(2, dtype=np.int8))
    record, arrays = _read(_folder(tmp_path, _ok(names), dict.fromkeys(names, payload)))
    assert len(arrays) == 256 and arrays["a255"].tolist() == [0, 1]


def test_both_npy_versions_are_read_and_others_refused(tmp_path):
    for version in [(1, 0), (2, 0)]:
        payload = _npy(np.arange(3.0), version)
        _, arrays = _read(_folder(tmp_path, _ok(["x"]), {"x": payload}))
        assert arrays["x"].tolist() == [0.0, 1.0, 2.0]
    payload = bytearray(_npy(np.arange(3.0), (1, 0)))
    payload[6] = 3
    with pytest.raises(TransportError, match=re.escape("'x' has .npy version (3, 0)")):
        _read(_folder(tmp_path, _ok(["x"]), {"x": bytes(payload)}))


def test_array_dimensions_have_a_cap(tmp_path):
    for dims, refused in [(32, False), (33, True)]:
        fd = _folder(tmp_path, _ok(["x"]), {"x": _npy(np.zeros((1,) * dims))})
        if refused:
            with pytest.raises(TransportError, match="has 33 dimensions"):
                _read(fd)
        else:
            assert _read(fd)[1]["x"].ndim == 32


def test_array_bytes_are_checked_exactly(tmp_path):
    payload = _npy(np.zeros(10))
    for cut in [payload[:-1], payload + b"\0"]:
        with pytest.raises(TransportError, match="does not hold the 80 bytes it announces"):
            _read(_folder(tmp_path, _ok(["x"]), {"x": cut}))


def test_an_array_at_its_cap_is_read_and_one_byte_over_is_refused(tmp_path):
    array = np.zeros(1000, dtype=np.uint8)
    _, arrays = _read(_folder(tmp_path, _ok(["x"]), {"x": _npy(array)}), max_array_bytes=1000)
    assert arrays["x"].nbytes == 1000
    fd = _folder(tmp_path, _ok(["x"]), {"x": _npy(np.zeros(1001, dtype=np.uint8))})
    with pytest.raises(TransportError, match="'x' is larger than 1000 bytes"):
        _read(fd, max_array_bytes=1000)


def test_arrays_together_have_a_cap_at_its_edge(tmp_path):
    payload = _npy(np.zeros(100, dtype=np.uint8))
    names = ["a", "b"]
    fd = _folder(tmp_path, _ok(names), dict.fromkeys(names, payload))
    assert len(_read(fd, max_record_bytes=2 * len(payload))[1]) == 2
    fd = _folder(tmp_path, _ok(names), dict.fromkeys(names, payload))
    with pytest.raises(TransportError, match=f"0.b.npy has {len(payload)} bytes, more than"):
        _read(fd, max_record_bytes=2 * len(payload) - 1)


def test_the_default_cap_of_a_record_allows_many_arrays_at_their_own_cap(tmp_path):
    payload = _npy(np.zeros(1000, dtype=np.uint8))
    names = [f"a{i}" for i in range(20)]
    fd = _folder(tmp_path, _ok(names), dict.fromkeys(names, payload))
    assert len(_read(fd, max_array_bytes=1000)[1]) == 20


def test_a_json_at_its_cap_is_read_and_one_byte_over_is_refused(tmp_path):
    text = json.dumps(_ok()).encode()
    assert _read(_folder(tmp_path, text), max_json_bytes=len(text))[0]["status"] == "ok"
    with pytest.raises(TransportError, match=f"0.json has {len(text)} bytes, more than"):
        _read(_folder(tmp_path, text), max_json_bytes=len(text) - 1)


def test_a_file_that_grows_while_read_is_refused(tmp_path, monkeypatch):
    text = json.dumps(_ok()).encode()
    fd = _folder(tmp_path, text)
    real = os.fstat

    def smaller(descriptor):
        info = real(descriptor)
        if not stat.S_ISREG(info.st_mode):
            return info
        values = list(info)
        values[stat.ST_SIZE] = 1
        return os.stat_result(values)

    monkeypatch.setattr(os, "fstat", smaller)
    with pytest.raises(TransportError, match=f"0.json grew past {len(text) - 1} bytes"):
        _read(fd, max_json_bytes=len(text) - 1)
    fd = _folder(tmp_path, text)
    assert _read(fd, max_json_bytes=len(text))[0]["status"] == "ok"


def test_files_are_refused_by_kind_and_owner(tmp_path):
    fd = _folder(tmp_path, _ok(["x"]))
    os.mkdir(tmp_path / "0.x.npy")
    with pytest.raises(TransportError, match="0.x.npy is not a regular file"):
        _read(fd)
    os.rmdir(tmp_path / "0.x.npy")
    with pytest.raises(TransportError, match="0.x.npy is missing"):
        _read(os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY))
    (tmp_path / "0.x.npy").write_bytes(_npy(np.zeros(2)))
    me = os.getuid()
    with pytest.raises(TransportError, match="0.json is not owned by the sandbox user"):
        _read(os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY), owner=me + 1)
    assert _read(os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY), owner=me)[0]["status"] == "ok"


def test_an_import_error_is_read_and_validated(tmp_path):
    def read(payload: bytes, **caps):
        (tmp_path / "import.json").write_bytes(payload)
        fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            caps = {"max_json_bytes": 1 << 20, "owner": None, **caps}
            return transport.read_import_error(fd, **caps)
        finally:
            os.close(fd)

    error = {"type": "SyntaxError", "message": "bad", "lineno": 3, "kind": "exception"}
    text = json.dumps({"error": error}).encode()
    assert read(text) == error
    assert read(text, max_json_bytes=len(text)) == error
    with pytest.raises(TransportError, match=f"import.json has {len(text)} bytes, more than"):
        read(text, max_json_bytes=len(text) - 1)
    with pytest.raises(TransportError, match="import.json is not owned"):
        read(text, owner=os.getuid() + 1)
    with pytest.raises(TransportError, match="import.json holds no error"):
        read(b'{"error": null}')
    with pytest.raises(TransportError, match="import.json does not hold a JSON object"):
        read(b"[]")
    with pytest.raises(TransportError, match="no type or message"):
        read(b'{"error": {"type": "E"}}')


# --- the notebook's execution, in words ---------------------------------------------------------

RUN = dict(
    profile="smoke",
    device="cpu",
    cell=4,
    ename="ValueError",
    evalue="bad *x*",
    message="no *kernel*",
    cells_run=3,
    code_cells=9,
    seconds=12.4,
    cell_timeout_s=60.0,
    budget_s=600.0,
)
RAN = "3 of 9 code cells ran"
ENDS = [
    ("completed", {}, "**Every cell ran** (9 code cells, 12 s)."),
    ("cell_error", {}, f"**Stopped at cell 5** with `ValueError: bad *x*` ({RAN})."),
    (
        "cell_error",
        {"cell": None},
        f"**Stopped at the parameters cell** with `ValueError: bad *x*` ({RAN}).",
    ),
    ("cell_timeout", {}, f"**Stopped at cell 5**: it ran longer than 60 s ({RAN})."),
    ("budget", {}, f"**Stopped at cell 5**: the run's 600 s ran out ({RAN})."),
    (
        "dead_kernel",
        {"exit_status": 137},
        f"**The kernel died in cell 5** (exit status 137; {RAN}).",
    ),
    ("dead_kernel", {}, f"**The kernel died in cell 5** (no exit status; {RAN})."),
    (
        "dead_kernel",
        {"exit_signal": "SIGKILL", "exit_status": 1},
        "**The kernel died in cell 5** (killed by SIGKILL, most likely for using too much "
        f"memory; {RAN}).",
    ),
    (
        "dead_kernel",
        {"exit_signal": "SIGSEGV"},
        f"**The kernel died in cell 5** (killed by `SIGSEGV`; {RAN}).",
    ),
    ("kernel_failed", {}, "**The kernel did not start**: `no *kernel*`."),
    ("unreadable", {}, "**The notebook could not be read**: `no *kernel*`."),
    ("sandbox", {}, "**The grader stopped the run**: `no *kernel*`."),
]


def _execution(end: str = "completed", **changes):
    from autograder.execution.model import Execution, ExecutionEnd

    return Execution(**{**RUN, "end": ExecutionEnd(end), **changes})


@pytest.mark.parametrize(("end", "changes", "words"), ENDS)
def test_each_end_of_an_execution_is_worded(end, changes, words):
    assert R.describe_execution_end(_execution(end, **changes)) == words


def _losses():
    from autograder.execution.model import LossReading

    return (
        LossReading("scaling", "run a", 1.23456, 1.0, 1.5, 3),
        LossReading("scaling", "b", 2.0, 0.5, 1.5, 5),
        LossReading("scaling", "c", 0.25, 0.5, 1.5, 2),
        LossReading("scaling", "d", 0.5),
    )


EXECUTION_FULL = """\
Your notebook was run from top to bottom in the grader's sandbox (profile `smoke`, device `cpu`, \
the course's data; at most 60 s per cell, 600 s in all). This informs the course staff and earns \
no points.

- **Every cell ran** (9 code cells, 12 s).
- Figures: 1 of the handout's 3 saved; missing: `b.png`, `c *x*.png`.
- No cell is tagged `parameters`: the grader's parameters went first, and the notebook's own \
assignments may have replaced them.
- The executed notebook was too large: its images were dropped.

Lowest validation losses your notebook printed (a scaling run's last):

| run | printed loss | reference (smoke, the course's data, 5 runs) | |
|---|---|---|---|
| run a | 1.2346 | 1.0000-1.5000 | within |
| b | 2.0000 | 0.5000-1.5000 | above (worse) |
| c | 0.2500 | 0.5000-1.5000 | below (better) |
| d | 0.5000 | - | no range |

(Smoke-profile numbers test the code on little data: they are no results.)"""


def _full_execution():
    from autograder.execution.model import FigureFile

    return _execution(
        figures=(FigureFile("a.png", 10), FigureFile("b.png", 0)),
        expected_figures=("a.png", "b.png", "c *x*.png"),
        losses=_losses(),
        data_source="official",
        parameters_cell="none",
        dropped="images",
    )


def test_an_execution_is_described_in_full():
    e = _full_execution()
    assert "\n".join(R.describe_execution(e)) == EXECUTION_FULL
    assert R.execution_line(e) == (
        "execution (smoke, no points): Every cell ran (9 code cells, 12 s). Figures 1/3; losses: "
        "1 within the reference's range, 1 above, 1 below"
    )


def test_a_plain_execution_says_only_what_it_has():
    from autograder.execution.model import FigureFile

    e = _execution("budget", profile="full", data_source="weird", parameters_cell="tag")
    assert R.describe_execution(e) == [
        "Your notebook was run from top to bottom in the grader's sandbox (profile `full`, device "
        "`cpu`; at most 60 s per cell, 600 s in all). This informs the course staff and earns no "
        "points.",
        "",
        f"- **Stopped at cell 5**: the run's 600 s ran out ({RAN}).",
        "- Figures: 0 of the handout's 0 saved.",
    ]
    assert R.execution_line(e) == (
        f"execution (full, no points): Stopped at cell 5: the run's 600 s ran out ({RAN}). "
        "Figures 0/0"
    )
    e = _execution(
        profile="full",
        losses=_losses()[:1],
        expected_figures=("a.png",),
        figures=(FigureFile("a.png", 3),),
    )
    assert R.describe_execution(e)[3:] == [
        "- Figures: 1 of the handout's 1 saved.",
        "",
        "Lowest validation losses your notebook printed (a scaling run's last):",
        "",
        "| run | printed loss | reference | |",
        "|---|---|---|---|",
        "| run a | 1.2346 | 1.0000-1.5000 | within |",
    ]
    offline = R.describe_execution(_execution(profile="full", data_source="offline"))
    assert offline[0].startswith(
        "Your notebook was run from top to bottom in the grader's sandbox (profile `full`, device "
        "`cpu`, the offline data; at most"
    )


def test_the_reports_carry_the_execution():
    e = _full_execution()
    report = _report(execution=e)
    feedback = R.render_feedback(report)
    assert feedback.endswith("\n\n## Notebook execution (no points)\n\n" + EXECUTION_FULL + "\n")
    terminal = R.render_terminal(report).splitlines()
    assert terminal[-2:] == [R.execution_line(e), "score: 2/4 (public checks only)"]
    assert R.render_gradescope(report)["extra_data"]["execution"] == e.to_json()
    assert "execution" not in R.render_gradescope(_report())["extra_data"]


# --- the engine's probe phase: what goes to the sandbox and what comes back as notes ------------


def test_probe_module_sends_the_plan_and_notes_what_stopped(monkeypatch):
    import time

    from autograder import engine
    from autograder.child.definitions import statements
    from autograder.config import GraderConfig
    from autograder.extract import extract_submission
    from autograder.goldens import load_goldens
    from autograder.probe_plan import PROBE_MODULES
    from autograder.rubric import load_rubric
    from autograder.sandbox import DroppedStatement, ProbeResult
    from tests.inprocess import SOLUTION

    module = extract_submission(SOLUTION)
    last = statements(module.source)[-1]
    earlier = next(n for s in statements(module.source)[:-1] for n in s.binds)
    config, goldens = GraderConfig(launcher="a launcher"), load_goldens()
    seen = {}

    def result(case, question, kind):
        error = None if kind is None else ProbeError("T", f"{kind} in {case}", None, kind)
        status = {None: "ok", ErrorKind.EXCEPTION: "error"}.get(kind, "timeout")
        return ProbeResult(case, question, status, {}, {}, error, 0.5)

    stops = ProbeError("Timeout", "took too long", TOP, ErrorKind.TIMEOUT)
    dropped = DroppedStatement(last.index, last.lineno, "x = f()", (earlier, "new_name"), stops)
    found = [
        result("sdpa_3d", "2.2.1", ErrorKind.TIMEOUT),
        result("sdpa_3d", "2.2.1", ErrorKind.TIMEOUT),
        result("sdpa_2d", "2.2.1", ErrorKind.CRASH),
        result("causal", "2.2.2", ErrorKind.EXCEPTION),
        result("mha", "2.3.4", ErrorKind.OUT_OF_MEMORY),
        result("decoder", "2.3.1", None),
    ]

    def fake(source, calls, **kwargs):
        seen.update(kwargs, source=source, calls=[c.id for c in calls])
        kwargs["dropped"].append(dropped)
        return found

    monkeypatch.setattr(engine, "run_probes", fake)
    started = time.perf_counter() - 1000
    cases = {"sdpa_3d", "causal"}
    probed = engine.probe_module(
        module, "nb.ipynb", goldens=goldens, cases=cases, config=config, started=started
    )
    assert seen["source"] == module.source and set(seen["calls"]) == cases
    assert seen["probe_modules"] == PROBE_MODULES and seen["locate"] == module.locate
    assert seen["limits"] == config.sandbox_limits() and seen["launcher"] is config.launcher
    assert seen["budgets"] == load_rubric(config.rubric).budgets
    assert (probed.submission, probed.status, probed.problem) == ("nb.ipynb", "graded", "")
    assert probed.results == {r.id: r for r in found}
    assert probed.seconds >= 1000
    assert probed.notes == (
        *engine.extraction_notes(module),
        DroppedStatementNote("x = f()", (earlier, "new_name"), stops, (earlier,)),
        StoppedNote("2.2.1", found[0].error),
        StoppedNote("2.2.1", found[2].error),
        StoppedNote("2.3.4", found[4].error),
    )
    again = engine.probe_module(module, "nb.ipynb", goldens=goldens, cases=cases, config=config)
    assert 0 <= again.seconds < 1000


# --- second round: what the first mutation run still found --------------------------------------


def test_a_check_output_names_every_definition_replaced():
    result = _result(question="2.4.2", substituted=("2.2.1", "2.4.2"))
    assert R.check_output(result).endswith(
        "(Graded with the course's `ScaledDotAttention` (2.2.1), `find_optimal_params` (2.4.2), "
        "`fit_linear_log` (2.4.2) in place of yours, so that this question is judged on its own "
        "code.)"
    )


def test_feedback_explains_a_pass_that_has_something_to_say():
    checks = [
        _result(check_id="a", passed=True, score=2.0, title="quiet"),
        _result(check_id="b", passed=True, score=2.0, title="with a note", message="a *note*"),
        _result(
            check_id="c",
            question="2.2.2",
            passed=True,
            score=2.0,
            title="stand-in",
            substituted=("2.2.1",),
        ),
    ]
    lines = R.render_feedback(_report(checks=checks, notes=[], diagnoses=[])).splitlines()
    assert lines[lines.index("- **PASS** quiet (2/2)") + 1] == "- **PASS** with a note (2/2)"
    assert lines[lines.index("- **PASS** with a note (2/2)") + 1] == "  a *note*"
    after = lines[lines.index("- **PASS** stand-in (2/2)") + 1 :]
    assert after[:2] == ["  passed", ""] and after[2].startswith("  (Graded with the course's")


def test_a_report_with_only_visible_checks_has_no_hidden_total():
    checks = [_result(passed=True, score=1.0, max_score=3.0)]
    summary = R.summary_text(_report(checks=checks, notes=[]))
    assert summary == "Public checks: 1/3 points now."


def test_results_json_keeps_four_decimals_and_the_version():
    from autograder import __version__

    checks = [_result(passed=True, score=1 / 3, max_score=1 / 3)]
    rendered = R.render_gradescope(_report(checks=checks))
    assert rendered["score"] == 0.3333
    assert rendered["extra_data"]["grader_version"] == __version__


def test_write_reports_shows_hidden_checks_unless_asked_not_to(tmp_path):
    R.write_reports(_report(), tmp_path)
    assert (tmp_path / "feedback.md").read_text() == R.render_feedback(_report())
    assert "first position" in (tmp_path / "feedback.md").read_text()


def _refused(message: str):
    return pytest.raises(TransportError, match=f"^{re.escape(message)}$")


def test_each_refusal_says_exactly_what_is_wrong(tmp_path):
    cases = [
        (_ok(status="error", error=[1]), "the record's error is not an object"),
        (_ok(status="error", error={"type": "E"}), "the record's error has no type or message"),
        (
            _ok(status="error", error={"type": "E", "message": "m", "lineno": 1.5}),
            "the record's error has a line number that is not an integer",
        ),
        (
            _ok(status="s" * 50),
            f"the record's status '{'s' * 40}' is not one of ('ok', 'error', 'oom')",
        ),
        (_ok(data=None), "the record's data is not an object"),
        (
            {**_ok(), "arrays": {}},
            "the record's array list is not a list of at most 256 names",
        ),
        (_ok(["a" * 100]), f"the record names an invalid array '{'a' * 70}'"),
        (b"{", "0.json is not valid JSON (JSONDecodeError)"),
        (b'"\xff"', "0.json is not valid JSON (UnicodeDecodeError)"),
    ]
    for record, message in cases:
        with _refused(message):
            _read(_folder(tmp_path, record))
    (tmp_path / "import.json").write_bytes(b'{"error": null}')
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        with _refused("import.json holds no error"):
            transport.read_import_error(fd, max_json_bytes=100, owner=None)
    finally:
        os.close(fd)


def _padded_npy(data: np.ndarray, total_header: int) -> bytes:
    """A version 1.0 .npy whose header (magic included) is ``total_header`` bytes long."""
    header = repr({"descr": data.dtype.str, "fortran_order": False, "shape": data.shape})
    text = header.ljust(total_header - 10 - 1) + "\n"
    prefix = b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little")
    return prefix + text.encode("latin1") + data.tobytes()


def test_an_array_file_may_exceed_its_cap_by_a_header_of_4096_bytes_not_more(tmp_path):
    data = np.zeros(1000, dtype=np.uint8)
    fd = _folder(tmp_path, _ok(["x"]), {"x": _padded_npy(data, 4096)})
    assert _read(fd, max_array_bytes=1000)[1]["x"].nbytes == 1000
    fd = _folder(tmp_path, _ok(["x"]), {"x": _padded_npy(data, 4097)})
    with _refused("0.x.npy has 5097 bytes, more than 5096"):
        _read(fd, max_array_bytes=1000)


@pytest.mark.needs_root
def test_every_file_of_a_record_must_be_the_sandbox_users(tmp_path):
    fd = _folder(tmp_path, _ok(["x"]), {"x": _npy(np.zeros(2))})
    os.chown(tmp_path / "0.json", 54321, 54321)
    with _refused("0.x.npy is not owned by the sandbox user"):
        _read(fd, owner=54321)
    os.chown(tmp_path / "0.x.npy", 54321, 54321)
    assert _read(os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY), owner=54321)[1]["x"].size == 2


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path):
    import threading

    os.mkfifo(tmp_path / "0.json")
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    outcome: list = []

    def read():
        try:
            _read(fd)
        except TransportError as error:
            outcome.append(str(error))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(30)  # generous: the read returns at once unless open() waits for a writer
    blocked = reader.is_alive()
    if blocked:  # opened without O_NONBLOCK: release it before failing
        os.close(os.open(tmp_path / "0.json", os.O_WRONLY | os.O_NONBLOCK))
        reader.join(30)
    assert not blocked, "open() waited for a writer on a FIFO"
    assert outcome == ["0.json is not a regular file"]


def _lying_fstat(monkeypatch, size: int) -> None:
    real = os.fstat

    def lying(descriptor):
        info = real(descriptor)
        if not stat.S_ISREG(info.st_mode):
            return info
        values = list(info)
        values[stat.ST_SIZE] = min(size, values[stat.ST_SIZE])
        return os.stat_result(values)

    monkeypatch.setattr(os, "fstat", lying)


def test_a_growing_file_is_read_no_further_than_its_cap_plus_one(tmp_path, monkeypatch):
    cap = 1 << 20  # one read's worth: the next byte is one more read
    (tmp_path / "big").write_bytes(b"x" * (3 * cap))
    _lying_fstat(monkeypatch, 1)
    asked: list[int] = []
    real_read = os.read

    def counting(descriptor, n):
        asked.append(n)
        return real_read(descriptor, n)

    monkeypatch.setattr(os, "read", counting)
    for limit in (cap, cap + cap // 2, 100):
        asked.clear()
        fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            with _refused(f"big grew past {limit} bytes"):
                transport.open_untrusted(fd, "big", limit, None)
        finally:
            os.close(fd)
        assert sum(asked) == limit + 1


def test_a_file_of_several_reads_is_read_whole(tmp_path):
    array = np.arange(400_000, dtype=np.float64)  # 3.2 MB: four reads
    fd = _folder(tmp_path, _ok(["x"]), {"x": _npy(array)})
    _, arrays = _read(fd, max_array_bytes=4 << 20, max_record_bytes=8 << 20)
    np.testing.assert_array_equal(arrays["x"], array)


# --- the training checks' words, on data the test chooses ----------------------------------------


def _training_verdict(**data) -> str | None:
    from autograder.checks.base import CheckContext, CheckFailed
    from autograder.checks.training import judge_training
    from autograder.goldens import load_goldens
    from autograder.sandbox import ProbeResult

    plain = {
        "train_loss": [2.0, 1.5],
        "val_loss": [1.8, 1.6],
        "greedy_accuracy": 0.3,
        "leaks_in_training": False,
        "data_source": "official",
        "pairs": [280, 200],
    }
    result = ProbeResult("train_causal", "2.2.2", "ok", {**plain, **data}, {}, None, 1.0)
    ctx = CheckContext(results={"train_causal": result}, goldens=load_goldens())
    try:
        return judge_training(ctx, "train_causal")
    except CheckFailed as failure:
        return str(failure)


WHERE = (
    "8 epochs on 280 pairs of the official `pig_latin_small.txt`, in the given encoder-decoder "
    "(the grader's attention in its encoder)"
)


def test_a_training_run_that_reports_too_little_is_named():
    assert _training_verdict(train_loss=[]) == "the training run reported no train loss"
    assert _training_verdict(val_loss=["x"]) == "the training run reported a malformed val loss"
    assert _training_verdict(greedy_accuracy=None) == (
        "the training run reported no greedy accuracy"
    )
    offline = _training_verdict(data_source="offline")
    assert "280 pairs of the offline word pairs (this grader has no `pig_latin_small.txt`)" in (
        offline
    )
    assert _training_verdict().startswith(f"Best validation loss 1.60 after {WHERE} (")


def test_a_leak_names_all_its_evidence_exactly():
    from autograder.goldens import load_goldens

    limits = load_goldens().case("train_causal").facts["limits"]
    verdict = _training_verdict(train_loss=[2.0, 0.5], leaks_in_training=True, greedy_accuracy=0.1)
    assert verdict == (
        "**leaks the future**: in training mode, changing later tokens changes the outputs at "
        "earlier positions; its loss is implausibly low (last training loss 0.50, best "
        f"validation loss 1.60; the reference's lowest: {limits['reference_train_min']:.2f} and "
        f"{limits['reference_val_min']:.2f}) while its greedy translations get 10% of the "
        f"characters right (the reference's: {limits['reference_greedy_min']:.0%}-"
        f"{limits['reference_greedy_max']:.0%}), after {WHERE}. The model reads the characters it "
        "must predict while it trains: does the mask apply in every mode (`self.training`), and "
        "does no position mix with later ones?"
    )


def test_a_stopped_training_run_names_its_step_and_epoch():
    nan = {"reason": "nan", "step": 36}
    assert _training_verdict(stopped=nan, steps_per_epoch=36) == (
        f"**NaN**: the training loss is NaN or infinite from step 36 (epoch 1) on, in {WHERE}. "
        "Look for a value that overflows or a `0 * inf` (an infinite mask multiplied instead of "
        "filled in, say)."
    )
    assert "from step 37 (epoch 2) on" in _training_verdict(
        stopped={"reason": "nan", "step": 37}, steps_per_epoch=36
    )
    for stopped, per_epoch in [({"reason": "nan", "step": 36}, None), ({"reason": "nan"}, 36)]:
        step = stopped.get("step")
        assert f"from step {step} (epoch ?) on" in _training_verdict(
            stopped=stopped, steps_per_epoch=per_epoch
        )
    assert _training_verdict(stopped={"reason": "no_grad", "step": 1}, steps_per_epoch=36) == (
        "**does not learn**: the loss of training step 1 has no gradient (it depends on no "
        f"trainable parameter), so no weight can change ({WHERE}). Is forward run under "
        "`torch.no_grad()`, or is its output detached?"
    )
    assert "after 8 epochs on ? pairs of the official" in _training_verdict(pairs=None)


def test_a_training_run_that_does_not_learn_or_goes_nan_is_named_exactly():
    import math

    assert _training_verdict(train_loss=[2.0, math.inf]) == (
        f"**NaN**: the training loss is NaN or infinite in epoch 2 of {WHERE}."
    )
    assert _training_verdict(val_loss=[math.nan, 1.0]) == (
        f"**NaN**: the validation loss is NaN or infinite in epoch 1 of {WHERE}."
    )
    verdict = _training_verdict(train_loss=[3.3, 3.2], val_loss=[3.3, 3.25])
    assert verdict.startswith(
        "**does not learn**: the loss never got below 2.90 (ln 30 = 3.40 is what a model that "
        f"has learnt nothing scores): best validation loss 3.25 after {WHERE} (the reference's: "
    )
    assert verdict.endswith(
        "Does forward return the logits themselves (no softmax), and do they depend on the weights?"
    )
    slow = _training_verdict(train_loss=[2.5, 2.2], val_loss=[2.6, 2.4])
    assert slow.startswith(f"**learns too slowly**: best validation loss 2.40 after {WHERE} (")
    assert _training_verdict(leaks_in_training=True).endswith(
        f"earlier positions, after {WHERE}. The model reads the characters it must predict while "
        "it trains: does the mask apply in every mode (`self.training`), and does no position mix "
        "with later ones?"
    )


# --- the checks' helpers, on arrays the test chooses ----------------------------------------------


def _context():
    from autograder.checks.base import CheckContext
    from autograder.goldens import load_goldens

    return CheckContext(results={}, goldens=load_goldens())


def test_a_shape_mismatch_says_both_shapes():
    from autograder.checks.base import CheckFailed

    with pytest.raises(CheckFailed, match=r"^the context has shape \(2, 3\); expected \(3, 2\)$"):
        _context().expect_shape(np.zeros((2, 3)), (3, 2), what="the context")
    _context().expect_shape(np.zeros((2, 3)), (2, 3), what="the context")


def test_an_output_must_vary_across_batch_rows_not_only_within_them():
    from autograder.checks.base import CheckFailed

    ctx = _context()
    same_rows = np.array([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]])
    with pytest.raises(CheckFailed, match="it is the same for every batch row"):
        ctx.expect_informative(same_rows, what="x")
    with pytest.raises(CheckFailed, match="it is the same for every batch row"):
        ctx.expect_informative(np.stack([same_rows, same_rows]), what="x")
    with pytest.raises(CheckFailed, match=r"^x does not depend on the inputs \(it is constant\)"):
        ctx.expect_informative(np.array(5.0), what="x")
    ctx.expect_informative(np.array([[1.0, 2.0, 3.0], [1.0, 2.0, 4.0]]), what="x")
    ctx.expect_informative(np.array([1.0, 2.0]), what="x")


def test_token_indices_are_named_and_strange_ones_marked():
    from autograder.checks.decoder import _tokens

    ctx = _context()
    names = ctx.goldens.meta["vocabulary"]
    last = len(names) - 1
    assert _tokens(ctx, [0, 1, last]) == f"{names[0]} {names[1]} {names[last]}"
    assert _tokens(ctx, [-1, last + 1, "a", 1.0]) == f"?-1 ?{last + 1} ?a ?1.0"


def test_every_earlier_binding_is_named():
    error = _error(ErrorKind.CRASH, None, "exited")
    note = DroppedStatementNote("x, y = f()", ("x", "y"), error, ("x", "y"))
    assert R.describe_note(note).endswith("; the earlier definition of `x`, `y` was graded instead")


def test_a_loss_with_half_a_range_has_no_range():
    from autograder.execution.model import LossReading

    e = _execution(profile="full", losses=(LossReading("scaling", "a", 1.0, 0.5, None, 2),))
    assert R.describe_execution(e)[-1] == "| a | 1.0000 | - | no range |"
    e = _execution(profile="full", losses=(LossReading("scaling", "a", 1.0, None, 1.5, 2),))
    assert R.describe_execution(e)[-1] == "| a | 1.0000 | - | no range |"


def test_broken_cells_become_notes_with_their_place_and_names(tmp_path):
    import nbformat

    from autograder.engine import extraction_notes
    from autograder.extract import extract_submission

    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_markdown_cell("# title"),
        nbformat.v4.new_code_cell("import math\n\n\ndef f(x):\n    return math.sqrt(x)"),
        nbformat.v4.new_code_cell("x = 1\ndef g(:\n    return 2"),
    ]
    path = tmp_path / "broken.ipynb"
    nbformat.write(notebook, path)
    module = extract_submission(path)
    (broken,) = module.broken_cells
    assert (broken.cell_index, broken.line) == (2, 2) and broken.message
    assert extraction_notes(module)[0] == BrokenCellNote(2, 2, broken.message, broken.names)


def test_gpu_devices_are_found_only_with_the_driver(tmp_path):
    from autograder.sandbox.model import gpu_devices

    for name in ("nvidia0", "nvidia1", "nvidia-uvm", "null"):
        (tmp_path / name).touch()
    assert gpu_devices(tmp_path) == ()
    (tmp_path / "nvidiactl").touch()
    assert gpu_devices(tmp_path) == tuple(
        str(tmp_path / n) for n in ("nvidia-uvm", "nvidia0", "nvidia1", "nvidiactl")
    )


# --- third round: the checks' machinery -----------------------------------------------------------


def _spec(function):
    return base.Check("2.2.1", "2.2.1/x", "A title", ("sdpa_3d",), function)


def _run(function, **context):
    from autograder.checks.base import CheckContext, run_check
    from autograder.goldens import load_goldens

    ctx = CheckContext(results={}, goldens=load_goldens(), **context)
    return run_check(_spec(function), ctx, points=2.0, visibility="hidden")


def test_run_check_records_each_outcome_exactly():
    from autograder.goldens import GoldensError

    def passes(ctx):
        return None

    def noted(ctx):
        return "a note"

    def unavailable(ctx):
        ctx.probe("sdpa_3d")

    def broken_goldens(ctx):
        raise GoldensError("no case x")

    def crashes(ctx):
        raise KeyError("k")

    fields = dict(check_id="2.2.1/x", question="2.2.1", title="A title", visibility="hidden")
    assert _run(passes) == CheckResult(**fields, score=2.0, max_score=2.0, passed=True)
    assert _run(noted).message == "a note"
    assert _run(unavailable) == CheckResult(
        **fields,
        score=0.0,
        max_score=2.0,
        passed=False,
        blocked=Blocked("sdpa_3d", "not_run", None),
    )
    assert _run(broken_goldens) == CheckResult(
        **fields, score=0.0, max_score=2.0, passed=False, grader_error="no case x"
    )
    assert _run(crashes).grader_error == "KeyError: 'k'" and not _run(crashes).passed


def test_a_check_sees_only_its_own_stand_ins_and_lowerings():
    def substitutes(ctx):
        ctx.substituted.add("2.2.1")
        ctx.lowered.add("the context")

    result = _run(substitutes, substituted={"9.9"}, lowered={"old"})
    assert result.substituted == ("2.2.1",) and result.lowered is True
    ctx = _context()
    ctx.substituted.add("x")
    ctx.lowered.add("y")
    fresh = ctx.for_check()
    assert (fresh.substituted, fresh.lowered) == (set(), set())


def test_a_stand_in_replaces_only_a_failed_dependency():
    from dataclasses import replace

    from autograder.sandbox import ProbeResult

    own = ProbeResult("decoder", "2.3.1", "ok", {"own": 1}, {}, None, 0.0)
    standin = ProbeResult("decoder.standin", "2.3.1", "ok", {"own": 0}, {}, None, 0.0)
    ctx = replace(_context(), results={"decoder": own, "decoder.standin": standin})
    unrelated = replace(ctx, failed_questions=frozenset({"2.4.2"}))
    assert unrelated.probe_for("decoder", "2.3.1") is own and unrelated.substituted == set()


def test_expect_informative_words_and_edges():
    from autograder.checks.base import CheckFailed

    ctx = _context()
    tail = "): this check needs a real implementation"
    with pytest.raises(
        CheckFailed, match=re.escape("x does not depend on the inputs (it is constant" + tail)
    ):
        ctx.expect_informative(np.ones((2, 2)), what="x")
    with pytest.raises(CheckFailed, match=re.escape("it is the same for every batch row" + tail)):
        ctx.expect_informative(np.array([[0.0, 1.0], [0.0, 1.0]]), what="x")
    with pytest.raises(CheckFailed, match="it is constant"):
        ctx.expect_informative(np.array([[0.0, 1e-9]]), what="x")  # spread of exactly 1e-9
    with pytest.raises(CheckFailed, match="the same for every batch row"):
        ctx.expect_informative(np.array([[0.0, 1.0], [1e-9, 1.0]]), what="x")
    with pytest.raises(CheckFailed, match="the same for every batch row"):
        ctx.expect_informative(np.array([[0.0, 1.0]] * 3), what="x")


def test_expect_close_words_tolerances_and_lowering():
    from autograder.checks.base import CheckFailed

    ctx = _context()
    with pytest.raises(CheckFailed, match=r"^the context has shape \(2,\); expected \(3,\)$"):
        ctx.expect_close(np.zeros(2), np.zeros(3), what="the context")
    with pytest.raises(CheckFailed, match=r"^NaN or infinite values in the context \(a softmax"):
        ctx.expect_close(np.array([np.nan, 1.0]), np.ones(2), what="the context")
    expected = np.array([1.0, -2.0])
    with pytest.raises(CheckFailed) as failure:
        ctx.expect_close(expected + [0.0, 0.5], expected, what="the context")
    assert str(failure.value) == (
        "mismatch in the context (largest difference from the reference 0.5; tolerance 1e-08 + "
        "1e-06 x |expected|)"
    )
    ctx.expect_close(np.array([1000.0 * (1 + 5e-7)]), np.array([1000.0]), what="rtol")
    with pytest.raises(CheckFailed):  # float64: 5e-7 absolute is past atol 1e-8
        ctx.expect_close(np.array([5e-7]), np.array([0.0]), what="atol")
    with pytest.raises(CheckFailed):  # float64: 5e-6 relative is past rtol 1e-6
        ctx.expect_close(np.array([1.0 + 5e-6]), np.array([1.0]), what="float64")
    assert ctx.lowered == set()
    ctx.expect_close(np.array([1.0 + 5e-6], dtype=np.float32), np.array([1.0]), what="w32")
    ctx.expect_close(np.array([5e-7], dtype=np.float32), np.array([0.0]), what="w32")
    assert ctx.lowered == {"w32"}  # float32: rtol 1e-5, atol 2e-6


def test_missing_attention_weights_are_named():
    from autograder.checks import REGISTRY
    from autograder.checks.base import CheckContext, run_check
    from autograder.goldens import load_goldens
    from autograder.sandbox import ProbeResult

    goldens = load_goldens()
    context = goldens.case("sdpa_3d").expected["context"]
    result = ProbeResult("sdpa_3d", "2.2.1", "ok", {}, {"context": context}, None, 0.0)
    ctx = CheckContext(results={"sdpa_3d": result}, goldens=goldens)
    (spec,) = [c for c in REGISTRY if c.id == "2.2.1/rows-sum-to-one"]
    checked = run_check(spec, ctx, points=1.0, visibility="visible")
    assert checked.message == "forward returned no attention weights (the second returned value)"


def _check_with(check_id: str, case: str, question: str, data=None, arrays=None) -> CheckResult:
    from dataclasses import replace

    from autograder.checks import REGISTRY
    from autograder.checks.base import run_check
    from autograder.sandbox import ProbeResult

    result = ProbeResult(case, question, "ok", data or {}, arrays or {}, None, 0.0)
    ctx = replace(_context(), results={case: result})
    (spec,) = [c for c in REGISTRY if c.id == check_id]
    return run_check(spec, ctx, points=1.0, visibility="visible")


def test_a_wrong_fit_and_a_wrong_prompt_are_worded():
    from autograder.checks.decoder import _tokens
    from autograder.markdown import inert

    m = _context().facts("fit_linear_log")["m"]
    found = _check_with("2.4.2/slope", "fit_linear_log", "2.4.2", {"m": m + 0.5, "c": 0.0})
    assert found.message == (
        f"m = {m + 0.5:.5g} is not the slope of the least-squares line of log10 y on log10 x for "
        "the data given"
    )
    facts = _context().facts("generate_short")
    none = _check_with("2.3.2/prompt", "generate_short", "2.3.2", {"calls": []})
    assert none.message == "decoder_generate never called the model"
    wrong = [facts["prompt"][1:], facts["prompt"]]
    found = _check_with("2.3.2/prompt", "generate_short", "2.3.2", {"calls": wrong})
    assert found.message == (
        f"for the word {facts['word']!r} the first input your decoder_generate gave the model was "
        f"{inert(_tokens(_context(), wrong[0]))}; compare it with the prompt question 2.3.2 "
        "describes"
    )


def _causal(before: np.ndarray, after: np.ndarray) -> str:
    from dataclasses import replace

    from autograder.checks.base import CheckFailed
    from autograder.sandbox import ProbeResult

    arrays = {"context": before, "context_perturbed": after}
    result = ProbeResult("causal", "2.2.2", "ok", {}, arrays, None, 0.0)
    ctx = replace(_context(), results={"causal": result})
    try:
        ctx.expect_causal("causal", "context", what="the context")
    except CheckFailed as failure:
        return str(failure)
    return "causal"


def test_expect_causal_words_and_edges():
    start = _context().facts("causal")["perturb_from"]
    before = np.arange(2 * (start + 2) * 3, dtype=float).reshape(2, start + 2, 3)
    after = before.copy()
    after[:, start:] += 1.0
    assert _causal(before, after) == "causal"
    assert _causal(before, after[:, :-1]).startswith("the context has shape")
    assert _causal(np.zeros_like(before), after).startswith("the context does not depend")
    assert _causal(before, np.zeros_like(after)).startswith("the context does not depend")
    assert _causal(before, before.copy()) == (
        f"changing positions >= {start} did not change the context there either: it does not "
        "depend on its inputs"
    )
    edge = before.copy()
    edge[:, start:] = 0.0
    moved = edge.copy()
    moved[:, start:] = 1e-6  # later positions moved by exactly 1e-6: not enough
    assert _causal(edge, moved).startswith(f"changing positions >= {start} did not change")
    leaky = after.copy()
    leaky[0, 0, 0] = before[0, 0, 0] + 1e-6  # an earlier position moved by exactly 1e-6
    assert _causal(before, leaky).startswith(
        f"changing only positions >= {start} moved the context at earlier positions"
    )


# --- the engine's other seams -------------------------------------------------------------------


def test_placeholders_carry_the_rubric_or_nothing():
    from autograder.checks import REGISTRY
    from autograder.config import GraderConfig
    from autograder.engine import _placeholder
    from autograder.rubric import load_rubric

    check = REGISTRY[0]
    rubric = load_rubric(GraderConfig().rubric)
    line = rubric.lines[check.id]
    why = "not graded: the grader stopped before this check"
    assert _placeholder(check, None) == CheckResult(
        check.id, check.question, check.title, 0.0, 0.0, False, "visible", message=why
    )
    assert _placeholder(check, rubric) == CheckResult(
        check.id, check.question, check.title, 0.0, line.points, False, line.visibility, why
    )


def test_probe_submission_passes_its_start_and_execution_on(tmp_path, monkeypatch):
    from autograder import engine
    from autograder.config import GraderConfig
    from autograder.goldens import load_goldens
    from tests.inprocess import SOLUTION

    bad = tmp_path / "bad.ipynb"
    bad.write_text("not a notebook")
    unreadable = engine.probe_submission(
        bad, goldens=load_goldens(), cases=set(), config=GraderConfig()
    )
    assert (unreadable.submission, unreadable.status, unreadable.notes) == (
        "bad.ipynb",
        "unreadable",
        (),
    )
    assert unreadable.problem and (unreadable.results, unreadable.seconds) == ({}, 0.0)
    seen = {}

    def probe_module(module, name, **kwargs):
        seen.update(kwargs, name=name)
        return "probed"

    def with_execution(*args):
        seen["execution"] = args
        return "executed"

    monkeypatch.setattr(engine, "probe_module", probe_module)
    monkeypatch.setattr(engine, "with_execution", with_execution)
    config = GraderConfig()
    got = engine.probe_submission(SOLUTION, goldens=load_goldens(), cases=set(), config=config)
    assert got == "probed" and seen["name"] == SOLUTION.name
    assert isinstance(seen["started"], float) and "execution" not in seen
    got = engine.probe_submission(
        SOLUTION, goldens=load_goldens(), cases=set(), config=config, execute="settings"
    )
    assert got == "executed"
    assert seen["execution"] == ("probed", SOLUTION.read_bytes(), "settings", config)


def test_assess_records_diagnoses_and_reads_the_execution_only_when_asked(monkeypatch):
    from autograder import engine
    from autograder.engine import EXECUTE_ID, Probed, assess
    from autograder.goldens import load_goldens
    from autograder.rubric import DEFAULT_RUBRIC, load_rubric

    monkeypatch.setattr(engine, "judge", lambda *a, **k: [])
    bug = Diagnosis("2.2.1", "SOFTMAX-WRONG-AXIS", "hint", None)
    monkeypatch.setattr(engine, "diagnose", lambda *a: [bug, Diagnosis("2.2.2", None, None, None)])
    monkeypatch.setattr(engine, "read_execution", lambda result, settings: (result, settings))
    rubric, goldens = load_rubric(DEFAULT_RUBRIC), load_goldens()
    for results, execute, expected in [
        ({EXECUTE_ID: "ran"}, "settings", ("ran", "settings")),
        ({EXECUTE_ID: "ran"}, None, None),
        ({}, "settings", None),
    ]:
        report = GradingReport(submission="s")
        probed = Probed("s", GradingStatus.GRADED, "", (), results, 0.0)
        assess(report, probed, [], rubric=rubric, goldens=goldens, execute=execute)
        assert report.extra["diagnoses"] == {"2.2.1": "SOFTMAX-WRONG-AXIS"}
        assert report.execution == expected


def test_cases_for_adds_only_what_deciding_stand_ins_needs():
    from autograder.checks import REGISTRY
    from autograder.engine import cases_for

    (prompt,) = [c for c in REGISTRY if c.id == "2.3.2/prompt"]
    (slope,) = [c for c in REGISTRY if c.id == "2.4.2/slope"]
    assert cases_for([slope]) == set(slope.cases)
    needed = cases_for([prompt])
    assert set(prompt.cases) <= needed
    assert not any(case in needed for case in slope.cases)


def test_only_a_raise_of_not_implemented_error_makes_a_stub():
    from autograder.engine import _stubs

    source = (
        "def stub():\n    raise NotImplementedError\n\n"
        "def other():\n    raise ValueError('x')\n\n"
        "def named():\n    return 'NotImplementedError'\n"
    )
    assert _stubs(source) == {"stub"}


def test_grade_submission_fills_every_field_of_the_report(tmp_path, monkeypatch):
    import time

    from autograder import __version__, engine
    from autograder.cases import SEED
    from autograder.engine import EXECUTE_ID, Probed, grade_submission
    from autograder.goldens import load_goldens
    from autograder.rubric import DEFAULT_RUBRIC, load_rubric
    from autograder.sandbox import ProbeResult
    from tests.inprocess import SOLUTION

    seen = {}
    execution = _full_execution()
    timed = ProbeResult("sdpa_3d", "2.2.1", "ok", {}, {}, None, 0.12345)
    ran = ProbeResult(EXECUTE_ID, "", "ok", {}, {}, None, 1.0)

    def probe_submission(path, **kwargs):
        seen.update(kwargs)
        results = {"sdpa_3d": timed, EXECUTE_ID: ran}
        return Probed(Path(path).name, GradingStatus.GRADED, "", (), results, 0.0)

    monkeypatch.setattr(engine, "probe_submission", probe_submission)
    monkeypatch.setattr(engine, "read_execution", lambda result, settings: execution)
    began = time.perf_counter()
    report = grade_submission(SOLUTION, out_dir=tmp_path, public_only=True, execute="settings")
    took = time.perf_counter() - began
    assert seen["execute"] == "settings" and report.execution == execution
    assert report.submission == SOLUTION.name
    assert report.title == load_rubric(DEFAULT_RUBRIC).title
    assert report.extra["seeds"] == {"goldens": SEED}
    assert report.extra["grader_version"] == __version__
    assert report.extra["goldens"] == load_goldens().digest
    assert report.extra["timings"]["probes"] == {"sdpa_3d": 0.123, EXECUTE_ID: 1.0}
    assert 0 <= report.extra["timings"]["total_s"] <= round(took, 3) + 0.001
    assert 0 <= report.seconds <= took
    assert "(public checks)" in (tmp_path / "feedback.md").read_text()

    def crash(*args, **kwargs):
        raise ValueError("no sandbox")

    monkeypatch.setattr(engine, "probe_submission", crash)
    failed = grade_submission(SOLUTION, out_dir=tmp_path)
    assert failed.problem == "ValueError: no sandbox"

    def unwritable(*args, **kwargs):
        raise TypeError("cannot render")

    monkeypatch.setattr(engine, "write_reports", unwritable)
    grade_submission(SOLUTION, out_dir=tmp_path)
    written = json.loads((tmp_path / "results.json").read_text())
    assert "(`TypeError: cannot render`)" in written["output"]


def test_an_unknown_question_is_named_with_the_known_ones():
    from autograder.engine import check_questions
    from autograder.manifest import BY_NUMBER

    with pytest.raises(ValueError) as error:
        check_questions(["9.9", "8.8", "2.2.1"])
    assert str(error.value) == (
        "no autograded question 8.8, 9.9; the autograded questions are " + ", ".join(BY_NUMBER)
    )


def test_a_hidden_checks_placeholder_keeps_its_visibility():
    from autograder.checks import REGISTRY
    from autograder.engine import _placeholder
    from autograder.rubric import DEFAULT_RUBRIC, load_rubric

    rubric = load_rubric(DEFAULT_RUBRIC)
    hidden = [c for c in REGISTRY if rubric.line(c).visibility != "visible"]
    assert hidden, "the default rubric hides no check: this test would prove nothing"
    assert _placeholder(hidden[0], rubric).visibility == rubric.line(hidden[0]).visibility
