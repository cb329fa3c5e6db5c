"""One entry point for every front end: extract -> sandbox -> checks -> report.

``grade_submission`` grades a notebook (or .py) and, given ``out_dir``, writes results.json
(valid from the first moment: a placeholder is written before any student code runs, and each
stage replaces it atomically) and feedback.md.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from autograder import __version__
from autograder.checks import REGISTRY
from autograder.checks.base import CheckContext, CheckResult, run_check
from autograder.extract import ExtractError, cell_label, extract_submission
from autograder.goldens import GOLDENS_DIR, SEED, load_goldens
from autograder.probe_plan import PROBE_MODULES, probe_calls
from autograder.report import (
    GradingReport,
    question_sort_key,
    render_feedback,
    render_gradescope,
    write_json_atomic,
)
from autograder.rubric import DEFAULT_RUBRIC, load_rubric
from autograder.sandbox import SandboxLimits, run_probes


def _not_graded(check, line, reason: str) -> CheckResult:
    return CheckResult(
        check.id, check.question, check.title, 0.0, line.points, False, reason, line.visibility
    )


def _write(report: GradingReport, out_dir: Path | None, *, public_only: bool) -> None:
    if out_dir is None:
        return
    write_json_atomic(out_dir / "results.json", render_gradescope(report))
    (out_dir / "feedback.md").write_text(render_feedback(report, public_only=public_only))


def _extraction_notes(module) -> list[str]:
    notes = []
    for broken in module.broken_cells:
        names = (
            f" (so {', '.join(f'`{n}`' for n in broken.names)} could not be graded)"
            if broken.names
            else ""
        )
        notes.append(
            f"{cell_label(broken.cell_index)} has a syntax error at line "
            f"{broken.line}: {broken.message}{names}"
        )
    return notes


def _probe_and_check(report, module, selected, rubric, goldens, limits) -> list:
    """Run the probes the selected checks need in the sandbox, then the checks; fills
    ``report.checks`` and ``report.notes``; returns the probe results."""
    needed = {case for c in selected for case in c.cases}
    calls = [call for call in probe_calls(goldens) if call.id in needed]
    results = run_probes(
        module.source,
        calls,
        probe_modules=PROBE_MODULES,
        locate=module.describe,
        limits=limits or SandboxLimits(),
    )
    for result in results:
        if result.status in {"timeout", "crash", "oom"} and result.error is not None:
            note = f"question {result.question}: {result.error.message}"
            if note not in report.notes:
                report.notes.append(note)
    ctx = CheckContext(results={r.id: r for r in results}, goldens=goldens)
    report.checks = [
        run_check(c, ctx, points=rubric.line(c).points, visibility=rubric.line(c).visibility)
        for c in selected
    ]
    return results


def grade_submission(
    path: Path | str,
    *,
    out_dir: Path | None = None,
    public_only: bool = False,
    questions: Sequence[str] | None = None,
    rubric_path: Path = DEFAULT_RUBRIC,
    goldens_dir: Path = GOLDENS_DIR,
    limits: SandboxLimits | None = None,
) -> GradingReport:
    """Grade one submission; ``public_only`` runs only the visible checks (the `check` command),
    ``questions`` restricts to some questions."""
    start = time.perf_counter()
    path = Path(path)
    rubric, goldens = load_rubric(rubric_path), load_goldens(goldens_dir)
    rubric.validate(REGISTRY)
    known = {c.question for c in REGISTRY}
    unknown = sorted(set(questions or ()) - known)
    if unknown:
        raise ValueError(
            f"no autograded question {', '.join(unknown)}; the autograded questions are "
            + ", ".join(sorted(known, key=question_sort_key))
        )
    selected = [
        c
        for c in REGISTRY
        if (not questions or c.question in questions)
        and (not public_only or rubric.line(c).visibility == "visible")
    ]
    report = GradingReport(
        submission=path.name,
        title=rubric.title,
        status="in_progress",
        extra={"seeds": {"goldens": SEED}, "grader_version": __version__},
    )
    report.checks = [
        _not_graded(c, rubric.line(c), "not graded: the grader stopped before this check")
        for c in selected
    ]
    _write(report, out_dir, public_only=public_only)

    try:
        module = extract_submission(path)
        report.notes = _extraction_notes(module)
        results = _probe_and_check(report, module, selected, rubric, goldens, limits)
    except Exception as error:  # noqa: BLE001 - whatever happens, results.json is written
        if isinstance(error, ExtractError):
            report.status, report.message = "unreadable", str(error)
        else:
            report.status = "error"
            report.message = (
                f"The autograder itself failed on this submission ({type(error).__name__}: "
                f"{error}). This is not your fault: please tell the course staff."
            )
        reason = f"not graded: {report.message}"
        report.checks = [_not_graded(c, rubric.line(c), reason) for c in selected]
        report.seconds = time.perf_counter() - start
        _write(report, out_dir, public_only=public_only)
        return report
    report.status = "graded"
    report.seconds = time.perf_counter() - start
    report.extra["timings"] = {
        "total_s": round(report.seconds, 3),
        "probes": {r.id: round(r.seconds, 3) for r in results},
    }
    _write(report, out_dir, public_only=public_only)
    return report
