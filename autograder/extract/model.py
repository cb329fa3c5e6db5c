"""What extraction produces: the cells it read, the module it built, and what it left out.

Cells are numbered from 0 in data (``nb.cells[index]``, markdown cells included, as papermill's
``cell_index``) and from 1 in text meant for people ("cell 15"), which is how a student counts
them scrolling down the notebook. Lines within a cell are numbered from 1.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Literal

DropKind = Literal[
    "magic",  # an IPython magic, a `%%` cell magic, `?` help or a get_ipython() call
    "shell",  # a `!command` shell escape
    "colab",  # an import of google.colab (drive.mount and friends)
    "main_guard",  # an `if __name__ == "__main__":` block
    "call",  # a top-level expression that calls something: training, plotting, printing
    "expression",  # a top-level expression without a call (a value left for display)
    "loop",  # a top-level `for` or `while`
    "statement",  # any other top-level statement that runs code: with, del, assert, raise...
    "costly",  # a global that definitions use, whose value calls something not known to be cheap
    "unused",  # a global assignment that no kept definition uses
    "superseded",  # a definition replaced by a later one of the same name
    "unresolved",  # a statement that needs, when it runs, a name no earlier kept statement binds
]


def cell_label(index: int) -> str:
    """Name a cell for people: counted from 1, markdown cells included ("cell 15")."""
    return f"cell {index + 1}"


def shorten(code: str) -> str:
    """The first line of some code, stripped and cut to at most 80 characters."""
    lines = code.strip().splitlines()
    line = lines[0] if lines else ""
    return line if len(line) <= 80 else line[:77] + "..."


class ExtractError(Exception):
    """A submission that cannot be read at all; ``str(error)`` is one line for the student."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        """What went wrong: "unreadable", "not_a_notebook", "nbformat_3", "unsupported", "empty"."""
        self.message = message
        """One line that says what is wrong with the file and what to do about it."""


@dataclass(frozen=True)
class Location:
    """A place in the submission, as data; ``autograder.report`` says it in words."""

    cell: int
    """Position of the cell in the notebook, from 0 (``nb.cells[cell]``)."""
    line: int
    """Line within the cell, from 1."""
    definition: str | None
    """The innermost function or class around the line, as ``Class.method``; None at top
    level."""


@dataclass(frozen=True)
class SourceCell:
    """One code cell of a submission, as the student wrote it."""

    index: int
    """Position in the notebook, from 0, every cell counted (``nb.cells[index]``)."""
    source: str
    """The cell's text, magics and all."""


@dataclass(frozen=True)
class BrokenCell:
    """A code cell that does not compile, even with its magics removed; none of it is kept."""

    cell_index: int
    """Position of the cell in the notebook, from 0."""
    line: int
    """Line of the error within the cell, from 1."""
    message: str
    """The compiler's message, such as "expected ':'"."""
    names: tuple[str, ...]
    """Functions and classes the cell appears to define, all missing from the module."""


@dataclass(frozen=True)
class Dropped:
    """A top-level statement (or a line of magic) left out of the module, and why."""

    cell_index: int
    """Position of its cell in the notebook, from 0."""
    line: int
    """First line of the statement within the cell, from 1."""
    kind: DropKind
    """Why, as a category that reports can filter on."""
    code: str
    """The statement's first line, shortened to at most 80 characters."""
    reason: str
    """Why, in a sentence for people."""
    binds: tuple[str, ...] = ()
    """The global names the statement would have bound (``device`` for ``device = ...``)."""


@dataclass(frozen=True)
class ExtractedModule:
    """A submission turned into a module of definitions; compiling it is safe, running it is
    the sandbox's business."""

    source: str
    """The module's Python source."""
    line_map: tuple[tuple[int, int], ...]
    """For line ``n`` of ``source`` (from 1), ``line_map[n - 1]`` is (cell index, line in cell)."""
    definitions: dict[str, int]
    """Every function and class the module defines, with the index of the cell that defines it."""
    broken_cells: tuple[BrokenCell, ...]
    """Cells that do not compile, in notebook order."""
    dropped: tuple[Dropped, ...]
    """Everything else left out, in notebook order."""
    missing_globals: dict[str, tuple[str, ...]]
    """Names that kept definitions use but no kept statement binds (nor a builtin), each with the
    names of the definitions that use it; calling those fails with a NameError. Left empty when a
    kept `from ... import *` may provide them."""

    def locate(self, lineno: int) -> Location:
        """Where line ``lineno`` (from 1) of ``source`` came from, with the definition around
        it."""
        if not 1 <= lineno <= len(self.line_map):
            raise ValueError(f"line {lineno} is not in the extracted module")
        cell_index, line = self.line_map[lineno - 1]
        return Location(cell_index, line, self.owner(lineno))

    def owner(self, lineno: int) -> str | None:
        """The innermost function or class around line ``lineno``, as ``Class.method``."""
        best: tuple[int, str] | None = None
        stack = [(node, "") for node in ast.parse(self.source).body]
        while stack:
            node, prefix = stack.pop()
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                name = f"{prefix}{node.name}"
                if node.lineno <= lineno <= (node.end_lineno or node.lineno):
                    if best is None or node.lineno >= best[0]:
                        best = (node.lineno, name)
                    stack.extend((child, f"{name}.") for child in node.body)
        return best[1] if best else None
