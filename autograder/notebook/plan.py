"""The cell plan: what the notebook holds, in the handout's order, read from ``template/``.

The template is a few Python files in the "percent" format editors know, read in name order:

- ``# %% [markdown]`` starts a markdown cell whose body is one string literal;
- ``# %%`` starts a code cell; ``# %% [parameters]`` one tagged ``parameters`` for papermill;
  ``# %% [imports]`` the imports cell, merged with the reference imports the notebook uses;
- in a code cell, a line ``# include MODULE: NAME, NAME`` stands for those top-level
  definitions of ``reference/MODULE.py``, verbatim.

``STUBS`` maps each solution region, by its enclosing function, to the question it belongs to
and what the student notebook shows instead; both come from ``autograder.manifest``.
"""

from __future__ import annotations

import ast
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from autograder.manifest import QUESTIONS

from .regions import Stub

TEMPLATE_DIR = Path(__file__).resolve().parent / "template"

STUBS: dict[str, Stub] = {
    stub.region: Stub(question.number, stub.todo, stub.message)
    for question in QUESTIONS
    for stub in question.stubs
}
"""Each solution region's stub, by the region's owner, from the manifest."""

CellKind = Literal["markdown", "code", "imports", "parameters"]
_MARKER = re.compile(r"^# %%(?: \[(?P<kind>markdown|imports|parameters)\])?\s*$")
_INCLUDE = re.compile(r"^# include (?P<module>\w+): (?P<names>\w+(?:, \w+)*)\s*$")


class PlanError(ValueError):
    """The template does not follow its format."""


@dataclass(frozen=True)
class Include:
    """Top-level definitions of one reference module, in the given order."""

    module: str
    names: tuple[str, ...]


@dataclass(frozen=True)
class PlannedCell:
    """One cell of the notebook before the reference code is filled in."""

    kind: CellKind
    parts: tuple[str | Include, ...]
    """Markdown text, or code lines and includes in order."""
    where: str
    """``template-file:line`` of the cell's marker, for messages."""


def _markdown(body: str, where: str) -> str:
    try:
        tree = ast.parse(body)
    except SyntaxError as error:
        raise PlanError(f"{where}: markdown cell is not a string literal ({error.msg})") from None
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.Expr):
        raise PlanError(f"{where}: a markdown cell holds exactly one string literal")
    text = ast.literal_eval(tree.body[0].value)
    if not isinstance(text, str):
        raise PlanError(f"{where}: a markdown cell holds exactly one string literal")
    return textwrap.dedent(text).strip("\n")


def _code(lines: list[str]) -> tuple[str | Include, ...]:
    parts: list[str | Include] = []
    text: list[str] = []

    def close_text() -> None:
        chunk = "\n".join(text).strip("\n")
        if chunk.strip():
            parts.append(chunk)
        text.clear()

    for line in lines:
        match = _INCLUDE.match(line)
        if match is None:
            text.append(line)
            continue
        close_text()
        parts.append(Include(match["module"], tuple(match["names"].split(", "))))
    close_text()
    return tuple(parts)


def _cells_of_file(path: Path) -> list[PlannedCell]:
    cells: list[PlannedCell] = []
    kind: CellKind | None = None
    body: list[str] = []
    start = 0

    def close() -> None:
        if kind is None:
            return
        where = f"{path.name}:{start}"
        while body and not body[-1].strip():
            body.pop()
        while body and not body[0].strip():
            body.pop(0)
        if not body:
            raise PlanError(f"{where}: empty cell")
        if kind == "markdown":
            cells.append(PlannedCell(kind, (_markdown("\n".join(body), where),), where))
        else:
            cells.append(PlannedCell(kind, _code(body), where))

    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        match = _MARKER.match(line)
        if match is None:
            if kind is not None:
                body.append(line)
            continue
        close()
        kind, body, start = match["kind"] or "code", [], number
    close()
    return cells


def read_plan(directory: Path = TEMPLATE_DIR) -> list[PlannedCell]:
    """The planned cells of every template file, files in name order."""
    files = sorted(directory.glob("*.py"))
    if not files:
        raise PlanError(f"no template files in {directory}")
    cells = [cell for path in files for cell in _cells_of_file(path)]
    for kind in ("imports", "parameters"):
        if sum(cell.kind == kind for cell in cells) != 1:
            raise PlanError(f"the template needs exactly one [{kind}] cell")
    return cells
