"""One entry point for every front end: extract -> sandbox -> checks -> report.

``grade_submission`` grades a notebook (or .py) and, given ``out_dir``, writes results.json
(valid from the first moment: a placeholder is written before anything else, even before the
rubric and goldens are read, and each stage replaces it atomically) and feedback.md. The engine
collects data (check results, typed notes); ``autograder.report`` words it.
"""

from __future__ import annotations

import ast
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from autograder import __version__
from autograder.cases import SEED, standin_id
from autograder.checks import REGISTRY
from autograder.checks.base import Check, CheckContext, CheckResult, run_check
from autograder.child.definitions import statements
from autograder.config import GraderConfig
from autograder.diagnose import diagnose
from autograder.execution import ExecuteSettings
from autograder.execution.read import read_execution
from autograder.execution.run import EXECUTE_ID, with_execution
from autograder.extract import ExtractedModule, ExtractError, extract_submission
from autograder.goldens import Goldens, load_goldens
from autograder.manifest import BY_NUMBER, QUESTIONS
from autograder.outcome import (
    BrokenCellNote,
    DroppedStatementNote,
    GradingReport,
    GradingStatus,
    Note,
    StoppedNote,
    UndefinedNameNote,
)
from autograder.probe_plan import PROBE_MODULES, probe_calls
from autograder.report import write_failsafe, write_reports
from autograder.rubric import Rubric, load_rubric
from autograder.sandbox import DroppedStatement, ErrorKind, ProbeResult, run_probes
from autograder.training_data import with_official_data

STOPPING_KINDS = {ErrorKind.TIMEOUT, ErrorKind.CRASH, ErrorKind.OUT_OF_MEMORY}


def _placeholder(check: Check, rubric: Rubric | None) -> CheckResult:
    line = rubric.lines.get(check.id) if rubric else None
    return CheckResult(
        check.id,
        check.question,
        check.title,
        0.0,
        line.points if line else 0.0,
        False,
        line.visibility if line else "visible",
        message="not graded: the grader stopped before this check",
    )


def extraction_notes(module: ExtractedModule) -> list[Note]:
    """What extraction learned that the student should know: cells that do not compile, and
    names the graded definitions use that only a statement the grader does not run binds
    (`device = get_device()`). A name nothing binds at all makes its own NameError when the code
    runs (and in a stub left as given it is no problem); names only the notebook's own helpers
    use (a `generate` that reads a trained model) are not the student's problem."""
    notes: list[Note] = [
        BrokenCellNote(b.cell_index, b.line, b.message, b.names) for b in module.broken_cells
    ]
    graded = {name for q in QUESTIONS for name in q.definitions} - _stubs(module.source)
    for name, users in module.missing_globals.items():
        graded_users = tuple(u for u in users if u in graded)
        binder = next((d for d in reversed(module.dropped) if name in d.binds), None)
        if graded_users and binder is not None:
            notes.append(UndefinedNameNote(name, graded_users, binder))
    return notes


def _stubs(source: str) -> set[str]:
    """Top-level definitions that still raise NotImplementedError (a stub left as given: the
    names its missing solution would have set are not missing globals)."""
    stubs = set()
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            for inner in ast.walk(node):
                if isinstance(inner, ast.Raise) and "NotImplementedError" in ast.unparse(inner):
                    stubs.add(node.name)
                    break
    return stubs


def _stopped_notes(results: list[ProbeResult]) -> list[Note]:
    notes: list[Note] = []
    for result in results:
        error = result.error
        if error is not None and error.kind in STOPPING_KINDS:
            note = StoppedNote(result.question, error)
            if note not in notes:
                notes.append(note)
    return notes


def check_questions(questions: Sequence[str] | None) -> None:
    """ValueError for a question number the manifest does not have."""
    unknown = sorted(set(questions or ()) - set(BY_NUMBER))
    if unknown:
        raise ValueError(
            f"no autograded question {', '.join(unknown)}; the autograded questions are "
            + ", ".join(BY_NUMBER)
        )


def _select(rubric: Rubric, *, public_only: bool, questions: Sequence[str] | None) -> list[Check]:
    return [
        c
        for c in rubric.enabled(REGISTRY)
        if (not questions or c.question in questions)
        and (not public_only or rubric.line(c).visibility == "visible")
    ]


@dataclass(frozen=True)
class Probed:
    """What extraction and the sandbox found for one submission: plain data, before any check
    (a batch caches it, so that a change of points reruns no student code)."""

    submission: str
    """File name of the submission."""
    status: GradingStatus
    """GRADED when the probes ran, UNREADABLE when extraction failed."""
    problem: str
    """The ExtractError's message when unreadable."""
    notes: tuple[Note, ...]
    """Extraction and sandbox notes."""
    results: dict[str, ProbeResult]
    """Every probe case's result, by case id."""
    seconds: float
    """Wall time of extraction and probes."""


def cases_for(checks: Sequence[Check], universe: Sequence[Check] = REGISTRY) -> set[str]:
    """The probe cases the checks read, with what deciding their stand-ins needs: the stand-in
    variants of cases of questions that depend on others, and the cases of every check of those
    other questions (of ``universe``: the checks the rubric does not turn off)."""
    cases = {case for c in checks for case in c.cases}
    depends = {d for c in checks for d in BY_NUMBER[c.question].depends}
    for c in checks:
        if BY_NUMBER[c.question].depends:
            cases |= {standin_id(case) for case in c.cases}
    return cases | {case for c in universe if c.question in depends for case in c.cases}


def probe_submission(
    path: Path | str,
    *,
    goldens: Goldens,
    cases: set[str],
    config: GraderConfig,
    execute: ExecuteSettings | None = None,
) -> Probed:
    """Extract the submission and run the probes of ``cases`` on it in the sandbox, then, with
    ``execute``, the notebook itself (its result under ``EXECUTE_ID``). An unreadable
    submission gives status UNREADABLE; a failure of the grader itself raises."""
    start = time.perf_counter()
    path = Path(path)
    try:
        module = extract_submission(path)
    except ExtractError as error:
        return Probed(path.name, GradingStatus.UNREADABLE, str(error), (), {}, 0.0)
    probed = probe_module(
        module, path.name, goldens=goldens, cases=cases, config=config, started=start
    )
    return with_execution(probed, path.read_bytes(), execute, config) if execute else probed


def probe_module(
    module: ExtractedModule,
    name: str,
    *,
    goldens: Goldens,
    cases: set[str],
    config: GraderConfig,
    started: float | None = None,
) -> Probed:
    """``probe_submission`` after extraction (the batch extracts once, for the probes and the
    code fingerprint); ``started`` is when grading began (``time.perf_counter``)."""
    start = time.perf_counter() if started is None else started
    dropped: list[DroppedStatement] = []
    results = run_probes(
        module.source,
        with_official_data(probe_calls(goldens, cases)),
        probe_modules=PROBE_MODULES,
        locate=module.locate,
        limits=config.sandbox_limits(),
        budgets=load_rubric(config.rubric).budgets,
        launcher=config.launcher,
        dropped=dropped,
    )
    left_out = [
        DroppedStatementNote(d.code, d.binds, d.error, _bound_before(module.source, d))
        for d in dropped
    ]
    notes = (*extraction_notes(module), *left_out, *_stopped_notes(results))
    seconds = time.perf_counter() - start
    return Probed(name, GradingStatus.GRADED, "", notes, {r.id: r for r in results}, seconds)


def _bound_before(source: str, dropped: DroppedStatement) -> tuple[str, ...]:
    """The names of ``dropped`` that a statement before it binds too (they stay bound)."""
    earlier = {n for s in statements(source)[: dropped.index] for n in s.binds}
    return tuple(n for n in dropped.binds if n in earlier)


def judge(
    probed: Probed, checks: Sequence[Check], *, rubric: Rubric, goldens: Goldens
) -> list[CheckResult]:
    """Run the checks on the probes' results. Questions that others depend on are judged first
    (every check of theirs the rubric does not turn off, selected or not), to decide where
    stand-ins replace them."""
    ctx = CheckContext(results=probed.results, goldens=goldens)
    depends = {d for c in checks for d in BY_NUMBER[c.question].depends}
    failed = {
        c.question
        for c in rubric.enabled(REGISTRY)
        if c.question in depends and not run_check(c, ctx, points=0.0, visibility="").passed
    }
    ctx = replace(ctx, failed_questions=frozenset(failed))
    return [
        run_check(c, ctx, points=rubric.line(c).points, visibility=rubric.line(c).visibility)
        for c in checks
    ]


def assess(
    report: GradingReport,
    probed: Probed,
    checks: Sequence[Check],
    *,
    rubric: Rubric,
    goldens: Goldens,
    execute: ExecuteSettings | None = None,
) -> None:
    """Fill ``report`` from ``probed``: unreadable with its problem, or the notes, the checks'
    results, the diagnoses and (``execute``) what running the notebook found
    (``grade_submission`` and the batch, which judges cached probes)."""
    if probed.status is GradingStatus.UNREADABLE:
        report.status, report.problem = probed.status, probed.problem
        return
    report.notes = list(probed.notes)
    report.checks = judge(probed, checks, rubric=rubric, goldens=goldens)
    report.diagnoses = diagnose(probed.results, report.checks, goldens)
    report.extra["diagnoses"] = {d.question: d.bug for d in report.diagnoses if d.bug}
    if execute is not None and EXECUTE_ID in probed.results:
        report.execution = read_execution(probed.results[EXECUTE_ID], execute)


def mark_not_graded(report: GradingReport) -> None:
    """Every check of a report that could not be graded: 0 points, and why."""
    reason = "not graded: the submission could not be graded (see the summary)"
    report.checks = [
        CheckResult(c.check_id, c.question, c.title, 0.0, c.max_score, False, c.visibility, reason)
        for c in report.checks
    ]


def grade_submission(
    path: Path | str,
    *,
    out_dir: Path | None = None,
    public_only: bool = False,
    questions: Sequence[str] | None = None,
    config: GraderConfig | None = None,
    execute: ExecuteSettings | None = None,
) -> GradingReport:
    """Grade one submission; ``public_only`` runs only the visible checks (the `check` command),
    ``questions`` restricts to some questions, ``execute`` also runs the notebook (no points).
    Raises ValueError for an unknown question."""
    start = time.perf_counter()
    check_questions(questions)
    config = config or GraderConfig()
    path = Path(path)
    report = GradingReport(
        submission=path.name,
        status=GradingStatus.IN_PROGRESS,
        extra={"seeds": {"goldens": SEED}, "grader_version": __version__},
    )

    def write() -> None:
        report.seconds = time.perf_counter() - start
        if out_dir is None:
            return
        try:
            write_reports(report, Path(out_dir), public_only=public_only)
        except Exception as error:  # noqa: BLE001 - a report that cannot be rendered
            report.status, report.problem = GradingStatus.ERROR, f"{type(error).__name__}: {error}"
            write_failsafe(Path(out_dir), report.problem)

    report.checks = [_placeholder(c, None) for c in REGISTRY]
    write()
    try:
        rubric = load_rubric(config.rubric)
        rubric.validate(REGISTRY)
        report.title = rubric.title
        selected = _select(rubric, public_only=public_only, questions=questions)
        report.checks = [_placeholder(c, rubric) for c in selected]
        write()
        goldens = load_goldens(config.goldens)
        report.extra["goldens"] = goldens.digest
        probed = probe_submission(
            path,
            goldens=goldens,
            cases=cases_for(selected, rubric.enabled(REGISTRY)),
            config=config,
            execute=execute,
        )
        assess(report, probed, selected, rubric=rubric, goldens=goldens, execute=execute)
    except Exception as error:  # noqa: BLE001 - whatever happens, results.json is written
        report.status = GradingStatus.ERROR
        report.problem = f"{type(error).__name__}: {error}"
    if report.status is not GradingStatus.IN_PROGRESS:
        mark_not_graded(report)
        write()
        return report
    report.status = GradingStatus.GRADED
    report.extra["timings"] = {
        "total_s": round(time.perf_counter() - start, 3),
        "probes": {k: round(r.seconds, 3) for k, r in probed.results.items()},
    }
    write()
    return report
