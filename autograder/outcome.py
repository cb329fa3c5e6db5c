"""What grading one submission found, as data: the report and its typed notes.

The engine fills a ``GradingReport``; ``autograder.report`` is the only module that turns it
into words (results.json, feedback.md, terminal text).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from autograder.checks.base import CheckResult
from autograder.diagnose import Diagnosis
from autograder.execution.model import Execution
from autograder.extract import Dropped
from autograder.sandbox import ProbeError


class GradingStatus(StrEnum):
    """How far grading got."""

    IN_PROGRESS = "in_progress"
    """Grading started; the checks are placeholders (what a crash leaves behind)."""
    GRADED = "graded"
    """Every selected check ran."""
    UNREADABLE = "unreadable"
    """The submission could not be read at all (``ExtractError``)."""
    ERROR = "error"
    """The grader itself failed (its own fault, not the student's)."""


@dataclass(frozen=True)
class BrokenCellNote:
    """A cell that does not compile: its definitions are missing from the module."""

    cell: int
    """Position of the cell, from 0."""
    line: int
    """Line of the syntax error within the cell, from 1."""
    message: str
    """The compiler's message."""
    names: tuple[str, ...]
    """Functions and classes the cell appears to define."""


@dataclass(frozen=True)
class UndefinedNameNote:
    """A name the graded definitions use that the extracted module does not bind."""

    name: str
    """The missing name (``device``)."""
    users: tuple[str, ...]
    """The definitions that use it."""
    dropped: Dropped | None
    """The statement that would have bound it and that the grader did not run, if any."""


@dataclass(frozen=True)
class StoppedNote:
    """A question whose child stopped (timeout, crash, out of memory)."""

    question: str
    """The question."""
    error: ProbeError
    """Why."""


@dataclass(frozen=True)
class DroppedStatementNote:
    """A top-level statement that stopped the notebook's import (it hung, crashed or ended the
    process): the grader left it out, imported the rest again and graded it."""

    code: str
    """The statement's first line."""
    binds: tuple[str, ...]
    """The names it would have bound: undefined for the grading."""
    error: ProbeError
    """What it did (its kind and message), and where it is (its location)."""
    earlier: tuple[str, ...] = ()
    """Names of ``binds`` that an earlier statement of the module binds too: Python keeps that
    binding (as a notebook's kernel does when a cell fails), and it is graded."""


Note = BrokenCellNote | UndefinedNameNote | StoppedNote | DroppedStatementNote
"""Anything the engine tells the student besides the checks."""


@dataclass
class GradingReport:
    """Everything known about one graded submission, as plain data."""

    submission: str
    """File name of the submission."""
    title: str = "Autograder"
    """Assignment title."""
    status: GradingStatus = GradingStatus.GRADED
    """How far grading got."""
    problem: str = ""
    """Why nothing could be graded: the ExtractError's message (unreadable) or the grader's
    own exception (error)."""
    checks: list[CheckResult] = field(default_factory=list)
    """One result per check, in rubric order."""
    notes: list[Note] = field(default_factory=list)
    """Extraction and sandbox notes, in the order found."""
    diagnoses: list[Diagnosis] = field(default_factory=list)
    """Per question with a failed check: the known bug it matches, or how it differs."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Grader version, seeds, timings: Gradescope's extra_data."""
    execution: Execution | None = None
    """What running the notebook found (``--execute``; no points), or None."""
    seconds: float = 0.0
    """Wall time of the grading."""

    @property
    def score(self) -> float:
        return sum(c.score for c in self.checks)

    @property
    def max_score(self) -> float:
        return sum(c.max_score for c in self.checks)
