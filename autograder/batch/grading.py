"""The driver's half of grading: judge a submission's ``Probed`` and build its report.

``GradingSetup`` holds what every submission is judged with (rubric, goldens, checks, the probe
cases they need); ``report_from_probed`` builds the same ``GradingReport`` as
``autograder.engine.grade_submission``, with the engine's ``assess`` and ``mark_not_graded``
(so results.json is the one ``grade.py grade`` writes, timings aside: a test compares them);
``batch_status`` says how far grading got, in the words the class report lists (graded,
unreadable, timed_out, crashed, out_of_memory, error).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

from autograder import __version__
from autograder.cases import SEED
from autograder.checks import REGISTRY
from autograder.checks.base import Check, CheckResult
from autograder.classreport import fingerprint_definitions
from autograder.config import GraderConfig
from autograder.engine import Probed, assess, cases_for, mark_not_graded
from autograder.execution import ExecuteSettings
from autograder.extract import ExtractedModule, ExtractError, extract_submission
from autograder.goldens import Goldens, load_goldens
from autograder.manifest import QUESTIONS
from autograder.outcome import GradingReport, GradingStatus, StoppedNote
from autograder.rubric import Rubric, load_rubric
from autograder.sandbox import ErrorKind

STOPPED_STATUS = {
    ErrorKind.TIMEOUT: "timed_out",
    ErrorKind.CRASH: "crashed",
    ErrorKind.OUT_OF_MEMORY: "out_of_memory",
}
GRADED_DEFINITIONS = tuple(name for q in QUESTIONS for name in q.definitions)
"""The top-level names the checks grade: what near-identical code is looked for in."""


@dataclass(frozen=True)
class GradingSetup:
    """What a batch judges every submission with."""

    config: GraderConfig
    """Rubric and goldens paths, the child's limits."""
    rubric: Rubric
    """The rubric, validated against the checks."""
    rubric_hash: str
    """SHA-256 of the rubric file (part of the result keys)."""
    goldens: Goldens
    """The goldens."""
    checks: tuple[Check, ...]
    """Every registered check the rubric does not turn off, in registry order."""
    cases: frozenset[str]
    """The probe cases the checks read."""

    @classmethod
    def load(cls, config: GraderConfig) -> GradingSetup:
        """Read and validate the rubric, read the goldens; ValueError for a bad rubric."""
        from autograder.batch.cache import file_hash

        rubric = load_rubric(config.rubric)
        rubric.validate(REGISTRY)
        checks = tuple(rubric.enabled(REGISTRY))
        return cls(
            config=config,
            rubric=rubric,
            rubric_hash=file_hash(Path(config.rubric)),
            goldens=load_goldens(config.goldens),
            checks=checks,
            cases=frozenset(cases_for(checks, checks)),
        )


def _base_report(setup: GradingSetup, submission: str) -> GradingReport:
    return GradingReport(
        submission=submission,
        title=setup.rubric.title,
        status=GradingStatus.IN_PROGRESS,
        extra={
            "seeds": {"goldens": SEED},
            "grader_version": __version__,
            "goldens": setup.goldens.digest,
        },
    )


def not_graded_report(
    setup: GradingSetup, submission: str, status: GradingStatus, problem: str
) -> GradingReport:
    """The report of a submission nothing could be graded of: every check at 0 with why."""
    report = _base_report(setup, submission)
    report.status, report.problem = status, problem
    report.checks = [
        CheckResult(
            c.id,
            c.question,
            c.title,
            0.0,
            setup.rubric.line(c).points,
            False,
            setup.rubric.line(c).visibility,
        )
        for c in setup.checks
    ]
    mark_not_graded(report)
    return report


def report_from_probed(
    setup: GradingSetup,
    probed: Probed,
    *,
    seconds: float,
    execute: ExecuteSettings | None = None,
) -> GradingReport:
    """Judge ``probed`` and build its report with the engine's own steps (``assess``), as
    ``grade_submission`` does; ``seconds`` is the grading's wall time, ``execute`` the
    ``--execute`` settings the probes ran with."""
    report = _base_report(setup, probed.submission)
    assess(
        report, probed, setup.checks, rubric=setup.rubric, goldens=setup.goldens, execute=execute
    )
    if report.status is GradingStatus.UNREADABLE:
        report = not_graded_report(setup, probed.submission, report.status, report.problem)
    else:
        report.status = GradingStatus.GRADED
        report.extra["timings"] = {
            "total_s": round(seconds, 3),
            "probes": {k: round(r.seconds, 3) for k, r in probed.results.items()},
        }
    report.seconds = seconds
    return report


def batch_status(report: GradingReport) -> str:
    """graded, unreadable or error; or, for a graded submission whose child stopped, why
    (timed_out, crashed, out_of_memory; the first stop decides)."""
    if report.status is not GradingStatus.GRADED:
        return str(report.status)
    for note in report.notes:
        if isinstance(note, StoppedNote) and note.error.kind in STOPPED_STATUS:
            return STOPPED_STATUS[note.error.kind]
    return "graded"


def definition_sources(module: ExtractedModule, names: tuple[str, ...]) -> dict[str, str]:
    """The source of each top-level definition of ``names`` in the extracted module."""
    sources = {}
    for node in ast.parse(module.source).body:
        definition = isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        if definition and node.name in names:
            sources[node.name] = ast.get_source_segment(module.source, node) or ""
    return sources


def fingerprint_module(module: ExtractedModule) -> str | None:
    """``fingerprint_definitions`` of the module's graded definitions; None when it defines
    none of them."""
    sources = definition_sources(module, GRADED_DEFINITIONS)
    return fingerprint_definitions(sources) if sources else None


def fingerprint_submission(path: Path) -> str | None:
    """The fingerprint of a notebook (extraction runs no student code); None when it cannot be
    read or defines none of the graded definitions."""
    try:
        return fingerprint_module(extract_submission(path))
    except ExtractError:
        return None
