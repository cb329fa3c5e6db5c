"""``nmt-check NOTEBOOK [--question Q]``: the public checks, for students.

The students' checker wheel installs this command (``python grade.py build-student-checker``);
the notebook's ``check("2.2.1")`` cell runs it on the saved notebook. It prints what
``python grade.py check`` prints: the same engine, the same public checks, the same words.

The check cell also passes the cells the kernel ran (``--executed FILE``, a JSON list of
sources): when a graded definition the student ran last is not the one in the saved file, the
command says so first, since the checks read the file.
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from autograder.config import GraderConfig
from autograder.engine import check_questions, grade_submission
from autograder.extract import BrokenCell, ExtractError, SourceCell, read_cells
from autograder.extract.clean import parse_cell
from autograder.manifest import BY_NUMBER, QUESTIONS
from autograder.report import render_terminal

SAVE_HINT = (
    "save it first (Jupyter: File > Save Notebook; Colab: File > Download > Download .ipynb, "
    "then upload the downloaded file next to where you run the checks, e.g. Colab's Files "
    "panel), then run the checks again"
)


def _definitions(cells: Iterable[SourceCell], names: set[str]) -> dict[str, str]:
    """The last top-level definition of each of ``names`` in the cells, as a syntax tree dump
    (comments and spacing do not count)."""
    found: dict[str, str] = {}
    for cell in cells:
        parsed, _ = parse_cell(cell)
        if isinstance(parsed, BrokenCell):
            continue
        for node in parsed.tree.body:
            name = getattr(node, "name", None)
            if name in names:
                found[name] = ast.dump(node)
    return found


def stale_definitions(
    notebook: Path, executed: Sequence[str], questions: Sequence[str] | None = None
) -> list[str]:
    """The graded definitions (of ``questions``, default all) whose last version the kernel ran
    differs from the saved notebook's, or is missing from it."""
    numbers = questions or [q.number for q in QUESTIONS]
    names = {name for q in numbers if q in BY_NUMBER for name in BY_NUMBER[q].definitions}
    ran = _definitions((SourceCell(i, s) for i, s in enumerate(executed)), names)
    try:
        saved = _definitions(read_cells(notebook), names)
    except ExtractError:
        return []
    return sorted(name for name, tree in ran.items() if saved.get(name) != tree)


def describe_stale(notebook: Path, names: Sequence[str], *, now: float | None = None) -> str:
    """The warning printed before the checks when the saved file is older than the code run."""
    age = max(0, int(((now or time.time()) - notebook.stat().st_mtime) // 60))
    listed = ", ".join(f"`{n}`" for n in names)
    return (
        f"warning: {notebook.name} (saved {age} min ago) does not hold the {listed} you ran "
        f"last: the checks read the saved file, so {SAVE_HINT}."
    )


def _read_executed(path: Path | None) -> list[str]:
    if path is None:
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return [s for s in data if isinstance(s, str)] if isinstance(data, list) else []


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nmt-check",
        description="Run the public checks of the homework on a saved notebook.",
    )
    parser.add_argument("notebook", type=Path, help="your saved notebook (.ipynb) or .py export")
    parser.add_argument(
        "--question", action="append", metavar="Q", help="only this question, e.g. 2.3.4"
    )
    # the check cell's list of the cells the kernel ran (JSON), for the staleness warning
    parser.add_argument("--executed", type=Path, metavar="FILE", help=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """The command; exit status as ``grade.py check``: 0 graded, 1 not graded, 2 bad input."""
    args = build_parser().parse_args(argv)
    try:
        check_questions(args.question)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if not args.notebook.is_file():
        print(f"error: there is no file {args.notebook}: {SAVE_HINT}", file=sys.stderr)
        return 2
    stale = stale_definitions(args.notebook, _read_executed(args.executed), args.question)
    if stale:
        print(describe_stale(args.notebook, stale))
    report = grade_submission(
        args.notebook, public_only=True, questions=args.question, config=GraderConfig()
    )
    if report.status == "unreadable":
        print(f"error: {report.problem}", file=sys.stderr)
        return 2
    print(render_terminal(report, public_only=True))
    return 0 if report.status == "graded" else 1


if __name__ == "__main__":
    sys.exit(main())
