"""Item analysis of a class batch: pass rates, discrimination, the most frequent failures.

Population. The statistics are over the *graded* submissions (status ``"graded"``): a notebook
that could not be read or that crashed the grader says nothing about how hard a check is. Those
submissions are listed separately in the report, and they still get a gradebook row.

Difficulty is the pass rate: the share of graded submissions that passed the check.

Discrimination is the corrected point-biserial correlation: Pearson's r between passing the
check (1/0) and the *rest score*, the student's total minus what this check earned. Leaving the
check's own points out keeps a check from correlating with itself (which would inflate r, most
for checks worth many points). r lies in [-1, 1]: a check passed exactly by the strongest
students is near +1; values under about 0.2 mean the check separates strong and weak
submissions poorly, and a negative value (weaker students pass more often) usually means the
check or its reference is wrong. It is undefined (``None``) when everyone or nobody passed, or
when fewer than three submissions were graded. The classic upper/lower-27% index was not used:
it discards the middle 46% of a class of a few dozen, and r uses every submission.

Failure messages group after ``normalise_message``: numbers become ``#`` (so "difference 0.31"
and "difference 0.27" are one failure), dotted question numbers like 2.2.1 are kept, and runs of
whitespace become one space.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from autograder.classreport.records import SubmissionRecord, question_sort_key

MIN_FOR_DISCRIMINATION = 3
"""Fewer graded submissions than this give no discrimination index."""
_NUMBER = re.compile(
    r"(?<!\w)(?<!\d\.)"  # not inside a name, nor the tail of a number
    r"(?:\d+(?:\.\d+){2,}|[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)"
    r"(?![.\d]*[A-Za-z_])"  # not the head of a name such as 3d
)


@dataclass(frozen=True)
class FailureGroup:
    """One kind of failure of one check: the students whose messages normalise alike."""

    message: str
    """The normalised message (numbers as ``#``), one line."""
    count: int
    """How many graded submissions failed with it."""
    example_student: str
    """The first such student (by student id)."""
    example_feedback: str | None
    """That student's feedback.md, relative to the batch output folder."""
    example_output: str
    """That student's message as the grader wrote it."""


@dataclass(frozen=True)
class CheckStats:
    """Difficulty and discrimination of one check over the graded submissions."""

    check_id: str
    """Stable check identifier."""
    question: str
    """Handout question."""
    title: str
    """One line for people."""
    max_score: float
    """Points possible."""
    n: int
    """Graded submissions with a result for this check."""
    n_passed: int
    """How many of them passed."""
    pass_rate: float | None
    """``n_passed / n``; ``None`` when ``n`` is 0."""
    discrimination: float | None
    """Corrected point-biserial r (see the module docstring); ``None`` when undefined."""
    failures: tuple[FailureGroup, ...]
    """Every failure kind, the most frequent first."""


@dataclass(frozen=True)
class QuestionStats:
    """One handout question over the graded submissions."""

    question: str
    """Handout question."""
    max_score: float
    """Points possible."""
    n: int
    """Graded submissions."""
    full_marks_rate: float | None
    """Share of graded submissions that passed every check of the question."""
    mean_score: float | None
    """Mean points earned."""


@dataclass(frozen=True)
class ClassAnalysis:
    """The whole batch, analysed."""

    records: tuple[SubmissionRecord, ...]
    """Every record, sorted by student id."""
    checks: tuple[CheckStats, ...]
    """One entry per check of the rubric, in handout order."""
    questions: tuple[QuestionStats, ...]
    """One entry per question, in handout order."""
    max_total: float
    """Points possible over all checks."""

    @property
    def graded(self) -> tuple[SubmissionRecord, ...]:
        """The records that enter the statistics."""
        return tuple(r for r in self.records if r.graded)

    @property
    def not_graded(self) -> tuple[SubmissionRecord, ...]:
        """Unreadable, timed-out, crashed... submissions."""
        return tuple(r for r in self.records if not r.graded)

    def totals(self) -> list[float]:
        """Totals of the graded submissions."""
        return [r.total for r in self.graded]

    def mean_total(self) -> float | None:
        totals = self.totals()
        return statistics.fmean(totals) if totals else None

    def median_total(self) -> float | None:
        totals = self.totals()
        return statistics.median(totals) if totals else None

    def question_max(self) -> dict[str, float]:
        return {q.question: q.max_score for q in self.questions}


def normalise_message(message: str) -> str:
    """The grouping key of a failure message: numbers as ``#``, whitespace collapsed."""
    collapsed = " ".join(message.split())
    return _NUMBER.sub(lambda m: m.group(0) if m.group(0).count(".") >= 2 else "#", collapsed)


def analyse_class(records: Iterable[SubmissionRecord]) -> ClassAnalysis:
    """Sort the records, check that student ids are unique, and compute every statistic."""
    ordered = tuple(sorted(records, key=lambda r: r.student_id))
    seen: set[str] = set()
    for record in ordered:
        if record.student_id in seen:
            raise ValueError(f"student_id {record.student_id!r} appears in more than one record")
        seen.add(record.student_id)
    rubric = _rubric(ordered)
    graded = [r for r in ordered if r.graded]
    checks = tuple(_check_stats(check_id, info, graded) for check_id, info in rubric.items())
    questions = tuple(_question_stats(question, checks, graded) for question in _questions(checks))
    return ClassAnalysis(
        records=ordered,
        checks=checks,
        questions=questions,
        max_total=sum(c.max_score for c in checks),
    )


def point_biserial(passed: Sequence[bool], scores: Sequence[float]) -> float | None:
    """Pearson's r between a 0/1 variable and scores; ``None`` when undefined."""
    if len(passed) < MIN_FOR_DISCRIMINATION or len(set(passed)) < 2 or len(set(scores)) < 2:
        return None
    return statistics.correlation([float(p) for p in passed], [float(s) for s in scores])


def _rubric(records: Sequence[SubmissionRecord]) -> dict[str, tuple[str, str, float]]:
    """check id -> (question, title, max points), in handout order then first appearance."""
    found: dict[str, tuple[str, str, float]] = {}
    for record in records:
        for check in record.checks:
            previous = found.get(check.check_id)
            max_score = max(check.max_score, previous[2]) if previous else check.max_score
            found[check.check_id] = (check.question, check.title, max_score)
    order = {check_id: i for i, check_id in enumerate(found)}
    return dict(sorted(found.items(), key=lambda kv: (question_sort_key(kv[1][0]), order[kv[0]])))


def _questions(checks: Iterable[CheckStats]) -> list[str]:
    return sorted({c.question for c in checks}, key=question_sort_key)


def _check_stats(
    check_id: str, info: tuple[str, str, float], graded: Sequence[SubmissionRecord]
) -> CheckStats:
    question, title, max_score = info
    passed, rest, failures = [], [], []
    for record in graded:
        result = next((c for c in record.checks if c.check_id == check_id), None)
        if result is None:
            continue
        passed.append(result.passed)
        rest.append(record.total - result.score)
        if not result.passed:
            failures.append((record, result.output))
    n = len(passed)
    return CheckStats(
        check_id=check_id,
        question=question,
        title=title,
        max_score=max_score,
        n=n,
        n_passed=sum(passed),
        pass_rate=sum(passed) / n if n else None,
        discrimination=point_biserial(passed, rest),
        failures=_group_failures(failures),
    )


def _group_failures(failures: Sequence[tuple[SubmissionRecord, str]]) -> tuple[FailureGroup, ...]:
    counts: Counter[str] = Counter()
    examples: dict[str, tuple[SubmissionRecord, str]] = {}
    for record, output in failures:
        key = normalise_message(output) or "(no message)"
        counts[key] += 1
        examples.setdefault(key, (record, output))
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return tuple(
        FailureGroup(
            message=key,
            count=count,
            example_student=examples[key][0].student_id,
            example_feedback=examples[key][0].feedback_path,
            example_output=examples[key][1],
        )
        for key, count in ranked
    )


def _question_stats(
    question: str, checks: Sequence[CheckStats], graded: Sequence[SubmissionRecord]
) -> QuestionStats:
    ids = {c.check_id for c in checks if c.question == question}
    mine = [[c for c in r.checks if c.check_id in ids] for r in graded]
    mine = [results for results in mine if results]
    n = len(mine)
    return QuestionStats(
        question=question,
        max_score=sum(c.max_score for c in checks if c.question == question),
        n=n,
        full_marks_rate=sum(all(c.passed for c in rs) for rs in mine) / n if n else None,
        mean_score=statistics.fmean(sum(c.score for c in rs) for rs in mine) if n else None,
    )
