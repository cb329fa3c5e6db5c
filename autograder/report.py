"""Reports: Gradescope's results.json, feedback.md for people, and terminal text.

The only module that turns grading data into words: check results (``CheckResult``: the check's
own message, or why its probe gave no data), the engine's typed notes and locations
(``autograder.outcome``) become Markdown here.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from autograder import __version__
from autograder.checks.base import Blocked, CheckResult
from autograder.diagnose import Diagnosis, Difference
from autograder.execution import Execution, ExecutionEnd, Verdict
from autograder.extract import Location, cell_label
from autograder.files import write_json, write_text
from autograder.manifest import BY_NUMBER, question_sort_key
from autograder.markdown import inert
from autograder.outcome import (
    BrokenCellNote,
    DroppedStatementNote,
    GradingReport,
    GradingStatus,
    Note,
    StoppedNote,
    UndefinedNameNote,
)
from autograder.sandbox import ErrorKind, ProbeError


def question_title(number: str) -> str:
    """The manifest's title of a question."""
    return BY_NUMBER[number].title


def group_by_question(results: list[CheckResult]) -> dict[str, list[CheckResult]]:
    """Results by question, questions in handout order."""
    groups: dict[str, list[CheckResult]] = defaultdict(list)
    for result in results:
        groups[result.question].append(result)
    return {q: groups[q] for q in sorted(groups, key=question_sort_key)}


# --- words for data ---------------------------------------------------------------------------


def describe_location(location: object) -> str:
    """``in `ScaledDotAttention.forward`, cell 18, line 28`` for a ``Location``."""
    if isinstance(location, Location):
        place = f"{cell_label(location.cell)}, line {location.line}"
        return f"in {inert(location.definition)}, {place}" if location.definition else place
    return inert(location) if location is not None else ""


def _cell_and_line(location: object) -> str:
    """`` (cell 14, line 3)`` for a ``Location``, else nothing."""
    if not isinstance(location, Location):
        return ""
    return f" ({cell_label(location.cell)}, line {location.line})"


def describe_probe_error(error: ProbeError) -> str:
    """Why a probe produced nothing, for a student."""
    where = describe_location(error.location)
    kind = error.kind
    if kind is ErrorKind.CONTRACT:
        return inert(error.message)
    if kind is ErrorKind.NOT_IMPLEMENTED:
        place = (
            f" ({cell_label(error.location.cell)}, line {error.location.line})"
            if isinstance(error.location, Location)
            else ""
        )
        return f"not implemented yet: {inert(error.message or 'NotImplementedError')}{place}"
    if kind is ErrorKind.DEFINITION:
        return inert(error.message) + _cell_and_line(error.location)
    if kind is ErrorKind.IMPORT:
        suffix = f" ({where})" if where else ""
        return f"the notebook failed to import: {inert(f'{error.type}: {error.message}')}{suffix}"
    if kind is ErrorKind.EXCEPTION:
        raised = inert(f"{error.type}: {error.message}")
        return f"your code raised {raised}" + (f" {where}" if where else "")
    reasons = {
        ErrorKind.TIMEOUT: "it ran past its time budget",
        ErrorKind.CRASH: "the grading process crashed while running it",
        ErrorKind.OUT_OF_MEMORY: "it ran out of memory",
        ErrorKind.NOT_RUN: "it was not run",
        ErrorKind.PROTOCOL: "the grading process was disturbed",
        ErrorKind.INVALID_RESULT: "its answer could not be read",
    }
    return f"{reasons[kind]} ({inert(error.message)})"


def describe_blocked(blocked: Blocked) -> str:
    """Why a check could not judge."""
    if blocked.error is not None:
        return describe_probe_error(blocked.error)
    return "it was not run (an earlier failure stopped the grading of this question)"


def check_output(result: CheckResult) -> str:
    """A check's explanation in Markdown: its message, or why it could not judge; and which
    definitions of the student's were replaced by the course's for it."""
    if result.grader_error is not None:
        text = f"the grader could not evaluate this check ({inert(result.grader_error)})"
    elif result.blocked is not None:
        text = describe_blocked(result.blocked)
    else:
        text = result.message or ("passed" if result.passed else "failed")
    if result.lowered:
        text += (
            "\n\n(Compared in float32, because your code runs only in float32; the tolerance "
            "is the one float32 rounding needs.)"
        )
    if result.substituted:
        names = ", ".join(
            f"`{name}` ({q})" for q in result.substituted for name in BY_NUMBER[q].definitions
        )
        text += (
            f"\n\n(Graded with the course's {names} in place of yours, so that this question is "
            "judged on its own code.)"
        )
    return text


def describe_note(note: Note) -> str:
    """One engine note in words."""
    if isinstance(note, BrokenCellNote):
        names = (
            f" (so {', '.join(inert(n) for n in note.names)} could not be graded)"
            if note.names
            else ""
        )
        where = f"{cell_label(note.cell)} has a syntax error at line {note.line}"
        return f"{where}: {inert(note.message)}{names}"
    if isinstance(note, UndefinedNameNote):
        users = ", ".join(inert(u) for u in note.users)
        if note.dropped is not None:
            d = note.dropped
            return (
                f"{cell_label(d.cell_index)}: {inert(d.code)} is not run by the grader, so "
                f"{inert(note.name)} is undefined in {users}"
            )
        return f"{inert(note.name)} is used in {users} but is not defined anywhere in the notebook"
    if isinstance(note, StoppedNote):
        return f"question {note.question}: {inert(note.error.message)}"
    if isinstance(note, DroppedStatementNote):
        where = _cell_and_line(note.error.location).strip(" ()")
        lost = [n for n in note.binds if n not in note.earlier]
        unbound = f"; {', '.join(inert(n) for n in lost)} could not be graded" if lost else ""
        if note.earlier:
            names = ", ".join(inert(n) for n in note.earlier)
            unbound += f"; the earlier definition of {names} was graded instead"
        return (
            f"{where + ': ' if where else ''}{inert(note.code)} stopped the notebook's import "
            f"({inert(note.error.message)}), so the grader left it out and graded the rest"
            f"{unbound}"
        )
    raise TypeError(f"unknown note {note!r}")


CASE_LABELS = {
    "sdpa_3d": "3D queries",
    "sdpa_2d": "2D queries",
    "sdpa_scaled": "hidden size 16, larger inputs",
    "causal": "causal self-attention",
    "mha": "multi-head self-attention",
    "decoder": "the decoder on random tokens",
    "find_optimal_params": "the IsoFLOP fit",
}
"""How a probe case is named for students."""


def _where(difference: Difference) -> str:
    return ", ".join(f"{axis} {index}" for axis, index in difference.where)


def describe_difference(d: Difference) -> str:
    """How an output differs from the reference's, in words (never the reference's values)."""
    case = CASE_LABELS.get(d.case.removesuffix(".standin"), d.case)
    what = f"your {d.output} ({case})"
    if d.kind == "shape":
        return f"{what} has shape {d.shape}; the reference's has shape {d.expected_shape}."
    if d.kind == "nan":
        return f"{what} has NaN or infinite values (the first at {_where(d)})."
    if d.kind == "transposed":
        return f"{what} is the reference's with its last two axes swapped."
    if d.kind == "scaled":
        return f"{what} is the reference's times {d.factor:.3g}: a scale factor is off."
    if d.kind == "permuted":
        return (
            f"{what} holds the reference's values in other places: something is permuted or "
            "reshaped instead of transposed."
        )
    return f"{what} differs from the reference's most at {_where(d)} (by {d.largest:.3g})."


def describe_diagnosis(diagnosis: Diagnosis) -> str:
    """A question's diagnosis in words: the named bug and its hint, or where it differs."""
    if diagnosis.bug is not None:
        return f"**Likely bug** (`{diagnosis.bug}`): {diagnosis.hint or ''}".rstrip()
    if diagnosis.difference is not None:
        return f"**Where it differs**: {describe_difference(diagnosis.difference)}"
    return ""


def _diagnosis_lines(report: GradingReport, question: str) -> list[str]:
    return [
        text for d in report.diagnoses if d.question == question and (text := describe_diagnosis(d))
    ]


def _headline(report: GradingReport) -> str:
    if report.status is GradingStatus.ERROR:
        return (
            f"The autograder itself failed on this submission ({report.problem}). This is not "
            "your fault: please tell the course staff."
        )
    return report.problem


# --- the notebook's execution (no points) ---------------------------------------------------


def describe_execution_end(e: Execution) -> str:
    """How the notebook's run ended, in one sentence."""
    where = cell_label(e.cell) if e.cell is not None else "the parameters cell"
    ran = f"{e.cells_run} of {e.code_cells} code cells ran"
    if e.end is ExecutionEnd.COMPLETED:
        return f"**Every cell ran** ({e.code_cells} code cells, {e.seconds:.0f} s)."
    if e.end is ExecutionEnd.CELL_ERROR:
        return f"**Stopped at {where}** with {inert(f'{e.ename}: {e.evalue}')} ({ran})."
    if e.end is ExecutionEnd.CELL_TIMEOUT:
        return f"**Stopped at {where}**: it ran longer than {e.cell_timeout_s:g} s ({ran})."
    if e.end is ExecutionEnd.BUDGET:
        return f"**Stopped at {where}**: the run's {e.budget_s:g} s ran out ({ran})."
    if e.end is ExecutionEnd.DEAD_KERNEL:
        how = f"exit status {e.exit_status}" if e.exit_status is not None else "no exit status"
        if e.exit_signal == "SIGKILL":
            how = "killed by SIGKILL, most likely for using too much memory"
        elif e.exit_signal:
            how = f"killed by {inert(e.exit_signal)}"
        return f"**The kernel died in {where}** ({how}; {ran})."
    reasons = {
        ExecutionEnd.KERNEL_FAILED: "**The kernel did not start**",
        ExecutionEnd.UNREADABLE: "**The notebook could not be read**",
        ExecutionEnd.SANDBOX: "**The grader stopped the run**",
    }
    return f"{reasons[e.end]}: {inert(e.message)}."


def _figures_line(e: Execution) -> str:
    made = len(e.expected_figures) - len(e.missing_figures)
    line = f"Figures: {made} of the handout's {len(e.expected_figures)} saved"
    if e.missing_figures:
        line += "; missing: " + ", ".join(inert(name) for name in e.missing_figures)
    return line + "."


DATA_WORDS = {"official": "the course's data", "offline": "the offline data"}
VERDICT_WORDS = {
    Verdict.WITHIN: "within",
    Verdict.ABOVE: "above (worse)",
    Verdict.BELOW: "below (better)",
    Verdict.UNCALIBRATED: "no range",
}


def _losses_table(e: Execution) -> list[str]:
    source = DATA_WORDS.get(e.data_source)
    seeds = max((r.seeds for r in e.losses), default=0)
    reference = f"reference ({e.profile}, {source}, {seeds} runs)" if source else "reference"
    lines = [f"| run | printed loss | {reference} | |", "|---|---|---|---|"]
    for r in e.losses:
        span = f"{r.low:.4f}-{r.high:.4f}" if r.low is not None and r.high is not None else "-"
        lines.append(f"| {r.label} | {r.value:.4f} | {span} | {VERDICT_WORDS[r.verdict]} |")
    return lines


def describe_execution(e: Execution) -> list[str]:
    """The feedback's execution section (Markdown lines)."""
    data = f", {DATA_WORDS[e.data_source]}" if e.data_source in DATA_WORDS else ""
    lines = [
        f"Your notebook was run from top to bottom in the grader's sandbox (profile "
        f"`{e.profile}`, device `{e.device}`{data}; at most {e.cell_timeout_s:g} s per cell, "
        f"{e.budget_s:g} s in all). This informs the course staff and earns no points.",
        "",
        f"- {describe_execution_end(e)}",
        f"- {_figures_line(e)}",
    ]
    if e.parameters_cell == "none":
        lines.append(
            "- No cell is tagged `parameters`: the grader's parameters went first, and the "
            "notebook's own assignments may have replaced them."
        )
    if e.dropped:
        lines.append(f"- The executed notebook was too large: its {e.dropped} were dropped.")
    if e.losses:
        lines += ["", "Lowest validation losses your notebook printed (a scaling run's last):", ""]
        lines += _losses_table(e)
    if e.profile == "smoke" and e.losses:
        lines += ["", "(Smoke-profile numbers test the code on little data: they are no results.)"]
    return lines


def execution_line(e: Execution) -> str:
    """One line for the terminal."""
    counts = {v: sum(r.verdict is v for r in e.losses) for v in Verdict}
    losses = (
        f"; losses: {counts[Verdict.WITHIN]} within the reference's range, "
        f"{counts[Verdict.ABOVE]} above, {counts[Verdict.BELOW]} below"
        if e.losses
        else ""
    )
    made = len(e.expected_figures) - len(e.missing_figures)
    end = describe_execution_end(e).replace("**", "")
    return (
        f"execution ({e.profile}, no points): {end} Figures {made}/{len(e.expected_figures)}"
        + losses
    )


# --- results.json -----------------------------------------------------------------------------


def summary_text(report: GradingReport) -> str:
    """The visible summary: the public score now, and honestly what hidden checks are worth."""
    public = [c for c in report.checks if c.visibility == "visible"]
    hidden = [c for c in report.checks if c.visibility != "visible"]
    lines = []
    if _headline(report):
        lines.append(_headline(report))
    lines.append(
        f"Public checks: {sum(c.score for c in public):g}/{sum(c.max_score for c in public):g} "
        "points now."
    )
    when = {
        "after_due_date": "are shown after the due date",
        "after_published": "are shown when the grades are published",
        "hidden": "are not shown to students",
    }
    for visibility, words in when.items():
        points = sum(c.max_score for c in hidden if c.visibility == visibility)
        if points:
            lines.append(f"Hidden checks worth {points:g} more points {words}.")
    if hidden:
        lines.append("Until then Gradescope keeps your total score hidden.")
    lines += [f"- {describe_note(note)}" for note in report.notes]
    return "\n".join(lines)


def render_gradescope(report: GradingReport) -> dict:
    """results.json per Gradescope's specification (one test per check)."""
    tests = [
        {
            "name": "Summary",
            "number": "0",
            "score": 0.0,
            "max_score": 0.0,
            "status": "passed" if report.status is GradingStatus.GRADED else "failed",
            "output": summary_text(report),
            "output_format": "md",
            "visibility": "visible",
        }
    ]
    diagnosed: set[str] = set()
    for result in sorted(report.checks, key=lambda c: question_sort_key(c.question)):
        output = check_output(result)
        if not result.passed and result.question not in diagnosed:
            diagnosed.add(result.question)
            output = "\n\n".join([output, *_diagnosis_lines(report, result.question)])
        tests.append(
            {
                "name": f"{result.question} {result.title}",
                "number": result.question,
                "score": result.score,
                "max_score": result.max_score,
                "status": "passed" if result.passed else "failed",
                "output": output,
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
        "extra_data": {
            "grader_version": __version__,
            "status": str(report.status),
            **report.extra,
            **({"execution": report.execution.to_json()} if report.execution else {}),
        },
        "tests": tests,
    }


# --- feedback.md and the terminal -------------------------------------------------------------


def render_feedback(report: GradingReport, *, public_only: bool = False) -> str:
    """feedback.md: per question, each check with its verdict and explanation."""
    lines = [f"# {report.title}", "", f"Submission: {inert(report.submission)}", ""]
    shown = [c for c in report.checks if not public_only or c.visibility == "visible"]
    lines.append(
        f"Score: **{sum(c.score for c in shown):g} / {sum(c.max_score for c in shown):g}**"
        + (" (public checks)" if public_only else "")
    )
    if _headline(report):
        lines += ["", _headline(report)]
    if report.notes:
        lines += ["", "Notes:", *[f"- {describe_note(n)}" for n in report.notes]]
    for question, results in group_by_question(shown).items():
        earned, possible = sum(c.score for c in results), sum(c.max_score for c in results)
        lines += ["", f"## {question} {question_title(question)} ({earned:g}/{possible:g})", ""]
        lines += [line for text in _diagnosis_lines(report, question) for line in (text, "")]
        for result in results:
            mark = "PASS" if result.passed else "FAIL"
            hidden = "" if result.visibility == "visible" else " *(hidden until the due date)*"
            lines.append(
                f"- **{mark}** {result.title} ({result.score:g}/{result.max_score:g}){hidden}"
            )
            if not result.passed or result.message or result.substituted or result.lowered:
                lines += [f"  {line}" if line else "" for line in check_output(result).splitlines()]
    if report.execution is not None:
        lines += ["", "## Notebook execution (no points)", ""]
        lines += describe_execution(report.execution)
    return "\n".join(lines) + "\n"


def render_terminal(report: GradingReport, *, public_only: bool = True) -> str:
    """Compact text for `grade.py check`: a line per question, then its failed checks; a
    question whose checks all failed for one reason (not implemented yet, say) gets one line."""
    lines = [f"{report.submission}"]
    if _headline(report):
        lines.append(_headline(report))
    lines += [f"note: {describe_note(n)}" for n in report.notes]
    shown = [c for c in report.checks if not public_only or c.visibility == "visible"]
    for question, results in group_by_question(shown).items():
        earned, possible = sum(c.score for c in results), sum(c.max_score for c in results)
        mark = "ok  " if all(c.passed for c in results) else "FAIL"
        head = f"{mark} {question} {question_title(question)} [{earned:g}/{possible:g}]"
        failed = [c for c in results if not c.passed]
        reasons = {check_output(c) for c in failed}
        diagnosis = [f"     {text}" for text in _diagnosis_lines(report, question)]
        if len(failed) == len(results) and len(reasons) == 1:
            lines += [f"{head}: {reasons.pop()}", *diagnosis]
            continue
        lines += [head, *diagnosis]
        for result in failed:
            lines.append(f"     - {result.title} [{result.score:g}/{result.max_score:g}]")
            lines += [
                f"         {line}" if line else "" for line in check_output(result).splitlines()
            ]
    if report.execution is not None:
        lines.append(execution_line(report.execution))
    total = sum(c.score for c in shown)
    lines.append(
        f"score: {total:g}/{sum(c.max_score for c in shown):g}"
        + (" (public checks only)" if public_only else "")
    )
    return "\n".join(lines)


def write_reports(report: GradingReport, out_dir: Path, *, public_only: bool = False) -> None:
    """results.json and feedback.md in ``out_dir``, each replaced atomically."""

    write_json(out_dir / "results.json", render_gradescope(report))
    write_text(out_dir / "feedback.md", render_feedback(report, public_only=public_only))


def write_failsafe(out_dir: Path, problem: str) -> None:
    """The smallest valid results.json and feedback.md, for when the report itself cannot be
    rendered: score 0 and a sentence, built from nothing but constants and ``problem``."""
    message = (
        f"The autograder failed while writing its report ({inert(problem)}). This is not your "
        "fault: please tell the course staff."
    )
    results = {
        "score": 0.0,
        "output": message,
        "output_format": "md",
        "visibility": "visible",
        "extra_data": {"grader_version": __version__, "status": str(GradingStatus.ERROR)},
        "tests": [],
    }
    write_json(out_dir / "results.json", results)
    write_text(out_dir / "feedback.md", f"# Autograder\n\n{message}\n")
