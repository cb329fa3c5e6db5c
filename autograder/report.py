"""Reports: Gradescope's results.json, feedback.md for people, and terminal text.

The only module that formats text. ``write_json_atomic`` replaces a file in one step, so a
reader (or a crash) never sees half a results.json.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from autograder import __version__
from autograder.checks.base import CheckResult

QUESTION_TITLES = {
    "2.2.1": "ScaledDotAttention",
    "2.2.2": "CausalScaledDotAttention",
    "2.3.1": "DecoderOnlyTransformer.forward",
    "2.3.2": "decoder_generate",
    "2.3.4": "MultiHeadCausalScaledDotAttention",
    "2.3.5": "calc_parameters_decoder",
    "2.4.2": "find_optimal_params and fit_linear_log",
}


@dataclass
class GradingReport:
    """Everything known about one graded submission, as plain data."""

    submission: str
    """File name of the submission."""
    title: str = "Autograder"
    """Assignment title."""
    status: str = "graded"
    """"graded", "in_progress", "unreadable" (extraction failed) or "error" (grader failure)."""
    message: str = ""
    """A top-level note for the student (why nothing could be graded, say)."""
    checks: list[CheckResult] = field(default_factory=list)
    """One result per check, in rubric order."""
    notes: list[str] = field(default_factory=list)
    """Extraction and sandbox notes (cells that did not compile, questions that timed out)."""
    extra: dict = field(default_factory=dict)
    """Grader version, seeds, timings: Gradescope's extra_data."""
    seconds: float = 0.0
    """Wall time of the grading."""

    @property
    def score(self) -> float:
        return sum(c.score for c in self.checks)

    @property
    def max_score(self) -> float:
        return sum(c.max_score for c in self.checks)

    def by_question(self) -> dict[str, list[CheckResult]]:
        return group_by_question(self.checks)


def question_sort_key(number: str) -> tuple[int, ...]:
    """Sort "2.3.10" after "2.3.9"."""
    return tuple(int(part) for part in number.split(".") if part.isdigit())


def group_by_question(results: list[CheckResult]) -> dict[str, list[CheckResult]]:
    """Results by question, questions in handout order."""
    groups: dict[str, list[CheckResult]] = defaultdict(list)
    for result in results:
        groups[result.question].append(result)
    return {q: groups[q] for q in sorted(groups, key=question_sort_key)}


def summary_text(report: GradingReport) -> str:
    """The visible summary: the public score now, and honestly what hidden checks are worth."""
    public = [c for c in report.checks if c.visibility == "visible"]
    hidden = [c for c in report.checks if c.visibility != "visible"]
    lines = []
    if report.message:
        lines.append(report.message)
    lines.append(
        f"Public checks: {sum(c.score for c in public):g}/{sum(c.max_score for c in public):g} "
        "points now."
    )
    if hidden:
        lines.append(
            f"Hidden checks worth {sum(c.max_score for c in hidden):g} more points are shown "
            "after the due date; until then Gradescope keeps your total score hidden."
        )
    lines += [f"- {note}" for note in report.notes]
    return "\n".join(lines)


def render_gradescope(report: GradingReport) -> dict:
    """results.json per Gradescope's specification (one test per check)."""
    tests = [
        {
            "name": "Summary",
            "number": "0",
            "score": 0.0,
            "max_score": 0.0,
            "status": "passed" if report.status == "graded" else "failed",
            "output": summary_text(report),
            "output_format": "md",
            "visibility": "visible",
        }
    ]
    for result in sorted(report.checks, key=lambda c: question_sort_key(c.question)):
        tests.append(
            {
                "name": f"{result.question} {result.title}",
                "number": result.question,
                "score": result.score,
                "max_score": result.max_score,
                "status": "passed" if result.passed else "failed",
                "output": result.output,
                "output_format": "md",
                "visibility": result.visibility,
                "tags": [result.check_id],
            }
        )
    return {
        "score": round(report.score, 4),
        "execution_time": round(report.seconds, 3),
        "output": summary_text(report),
        "output_format": "md",
        "test_output_format": "md",
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "extra_data": {"grader_version": __version__, "status": report.status, **report.extra},
        "tests": tests,
    }


def render_feedback(report: GradingReport, *, public_only: bool = False) -> str:
    """feedback.md: per question, each check with its verdict and explanation."""
    lines = [f"# {report.title}", "", f"Submission: `{report.submission}`", ""]
    shown = [c for c in report.checks if not public_only or c.visibility == "visible"]
    lines.append(
        f"Score: **{sum(c.score for c in shown):g} / {sum(c.max_score for c in shown):g}**"
        + (" (public checks)" if public_only else "")
    )
    if report.message:
        lines += ["", report.message]
    if report.notes:
        lines += ["", "Notes:", *[f"- {n}" for n in report.notes]]
    for question, results in group_by_question(shown).items():
        earned, possible = sum(c.score for c in results), sum(c.max_score for c in results)
        title = QUESTION_TITLES.get(question, "")
        lines += ["", f"## {question} {title} ({earned:g}/{possible:g})", ""]
        for result in results:
            mark = "PASS" if result.passed else "FAIL"
            hidden = "" if result.visibility == "visible" else " *(hidden until the due date)*"
            lines.append(
                f"- **{mark}** {result.title} ({result.score:g}/{result.max_score:g}){hidden}"
            )
            if not result.passed or result.output != "passed":
                lines += [f"  {line}" for line in result.output.splitlines()]
    return "\n".join(lines) + "\n"


def render_terminal(report: GradingReport, *, public_only: bool = True) -> str:
    """Compact text for `grade.py check`: a line per question, then its failed checks; a
    question whose checks all failed for one reason (not implemented yet, say) gets one line."""
    lines = [f"{report.submission}"]
    if report.message:
        lines.append(report.message)
    lines += [f"note: {n}" for n in report.notes]
    shown = [c for c in report.checks if not public_only or c.visibility == "visible"]
    for question, results in group_by_question(shown).items():
        earned, possible = sum(c.score for c in results), sum(c.max_score for c in results)
        mark = "ok  " if all(c.passed for c in results) else "FAIL"
        head = f"{mark} {question} {QUESTION_TITLES.get(question, '')} [{earned:g}/{possible:g}]"
        failed = [c for c in results if not c.passed]
        reasons = {c.output for c in failed}
        if len(failed) == len(results) and len(reasons) == 1:
            lines.append(f"{head}: {reasons.pop()}")
            continue
        lines.append(head)
        for result in failed:
            lines.append(f"     - {result.title} [{result.score:g}/{result.max_score:g}]")
            lines += [f"         {line}" for line in result.output.splitlines()]
    total = sum(c.score for c in shown)
    lines.append(
        f"score: {total:g}/{sum(c.max_score for c in shown):g}"
        + (" (public checks only)" if public_only else "")
    )
    return "\n".join(lines)


def write_json_atomic(path: Path, data: dict) -> Path:
    """Write JSON to ``path`` through a temporary file and an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps(data, indent=2, allow_nan=False) + "\n")
    os.replace(temporary, path)
    return path
