"""The input of a class report: one ``SubmissionRecord`` per student, as plain data.

A record is built from the ``results.json`` our grader writes (``record_from_results``), so the
class report needs nothing from the engine: the batch runner hands over each student's results,
the Gradescope metadata it knows (name, email) and where it wrote the student's feedback.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any

GRADED = "graded"
"""The status of a submission whose checks all ran; every other status is listed for TAs."""
SUMMARY_NUMBER = "0"
"""``number`` of the Summary test that ``render_gradescope`` puts first: not a check."""


@dataclass(frozen=True)
class CheckRecord:
    """One check's verdict for one student."""

    check_id: str
    """Stable check identifier, e.g. ``"2.2.1/context-3d"``."""
    question: str
    """Handout question, e.g. ``"2.2.1"``."""
    title: str
    """One line for people."""
    score: float
    """Points earned."""
    max_score: float
    """Points possible."""
    passed: bool
    """Whether the check passed."""
    output: str
    """The grader's Markdown message (student-influenced text: escape before display)."""


@dataclass(frozen=True)
class SubmissionRecord:
    """Everything the class report needs to know about one student."""

    student_id: str
    """Unique within the batch (Gradescope user id, or the submission folder name)."""
    status: str
    """Grading status: ``"graded"``, ``"unreadable"``, ``"timed_out"``, ``"crashed"``,
    ``"error"``...; anything but ``"graded"`` is listed as a submission to look at."""
    checks: tuple[CheckRecord, ...] = ()
    """Per-check results in rubric order (empty when nothing could be graded)."""
    feedback_path: str | None = None
    """POSIX path of the student's feedback.md relative to the batch output folder; ``None``
    when there is none."""
    name: str | None = None
    """Student name from the Gradescope metadata, when known."""
    email: str | None = None
    """Student email from the Gradescope metadata, when known."""
    fingerprint: str | None = None
    """``fingerprint_definitions`` of the graded definitions; ``None`` when not computed."""
    submission_id: str | None = None
    """Gradescope submission id; members of a group submission share one (and their identical
    code is then not reported). Defaults to ``student_id``."""
    message: str = ""
    """The grader's summary for this submission (why it could not be graded, say)."""
    execution: Mapping[str, Any] | None = None
    """What running the notebook found (``--execute``: results.json's
    ``extra_data.execution``, student-influenced text inside), or None."""

    def __post_init__(self) -> None:
        if not self.student_id:
            raise ValueError("a SubmissionRecord needs a non-empty student_id")
        if self.feedback_path is not None and (
            PurePosixPath(self.feedback_path).is_absolute()
            or PureWindowsPath(self.feedback_path).is_absolute()
        ):
            raise ValueError(
                f"feedback_path must be relative to the batch output folder, got "
                f"{self.feedback_path!r}"
            )
        object.__setattr__(self, "checks", tuple(self.checks))

    @property
    def total(self) -> float:
        """Points earned over all checks."""
        return sum(c.score for c in self.checks)

    @property
    def max_total(self) -> float:
        """Points possible over the checks this record holds."""
        return sum(c.max_score for c in self.checks)

    @property
    def graded(self) -> bool:
        """Whether every check ran (the submissions that enter the item statistics)."""
        return self.status == GRADED

    @property
    def group_key(self) -> str:
        """The submission this record belongs to (shared by group members)."""
        return self.submission_id or self.student_id


def record_from_results(
    results_json: Mapping,
    *,
    student_id: str,
    name: str | None = None,
    email: str | None = None,
    feedback_path: str | None,
    fingerprint: str | None = None,
    submission_id: str | None = None,
) -> SubmissionRecord:
    """A record from a Gradescope results.json as ``autograder.report.render_gradescope``
    writes it: each test but the Summary (``number`` "0") is one check, its id the first tag."""
    if not isinstance(results_json, Mapping):
        raise ValueError(f"results.json must be a JSON object, got {type(results_json).__name__}")
    extra = results_json.get("extra_data") or {}
    status = str(extra.get("status", GRADED)) if isinstance(extra, Mapping) else GRADED
    execution = extra.get("execution") if isinstance(extra, Mapping) else None
    checks = []
    message = str(results_json.get("output", ""))
    for index, test in enumerate(results_json.get("tests") or []):
        if not isinstance(test, Mapping):
            raise ValueError(f"test {index} of results.json is not a JSON object")
        number = str(test.get("number", ""))
        if number == SUMMARY_NUMBER:
            message = str(test.get("output", message))
            continue
        checks.append(_check_from_test(test, number, index))
    return SubmissionRecord(
        student_id=student_id,
        status=status,
        checks=tuple(checks),
        feedback_path=feedback_path,
        name=name,
        email=email,
        fingerprint=fingerprint,
        submission_id=submission_id,
        message=message,
        execution=execution if isinstance(execution, Mapping) else None,
    )


def _check_from_test(test: Mapping, number: str, index: int) -> CheckRecord:
    name = str(test.get("name", ""))
    tags = test.get("tags") or []
    check_id = str(tags[0]) if tags else f"{number}/{name}"
    title = name[len(number) :].strip() if number and name.startswith(number) else name
    try:
        score = float(test.get("score", 0.0))
        max_score = float(test.get("max_score", 0.0))
    except (TypeError, ValueError) as error:
        raise ValueError(f"test {index} ({check_id}) has a non-numeric score: {error}") from None
    passed = test["status"] == "passed" if "status" in test else score >= max_score
    return CheckRecord(
        check_id=check_id,
        question=number,
        title=title,
        score=score,
        max_score=max_score,
        passed=passed,
        output=str(test.get("output", "")),
    )


def question_sort_key(number: str) -> tuple[int, ...]:
    """Handout order: "2.3.10" after "2.3.9" (as ``autograder.report`` sorts)."""
    return tuple(int(part) for part in number.split(".") if part.isdigit())
