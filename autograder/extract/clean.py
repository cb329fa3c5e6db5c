"""From a cell's text to a syntax tree: IPython syntax removed, line numbers unchanged.

A cell that compiles as it is is left alone (so `%` continuing an expression on a new line, or a
docstring line starting with `!`, is never mistaken for a magic). Otherwise each line of IPython
syntax becomes an empty line, or `pass` when it is indented inside a block:

- line magics (`%matplotlib inline`), shell escapes (`!pip install ...`, `files = !ls`) and help
  (`torch.nn.Linear?`);
- a cell magic (`%%...`) on the cell's first line: for the magics that run their body as Python in
  the kernel (`%%time`, `%%timeit`, `%%capture`, `%%prun`) only that line goes and the body is
  extracted like any cell; any other cell magic (`%%bash`, `%%writefile`, `%%html`...) is not
  Python, and the whole cell goes.

Calls such as `get_ipython().run_line_magic(...)` (what nbconvert writes for magics) are plain
Python and are dropped later with the other top-level calls.
"""

from __future__ import annotations

import ast
import re
import warnings
from dataclasses import dataclass

from .model import BrokenCell, Dropped, SourceCell, shorten

PYTHON_BODY_CELL_MAGICS = frozenset({"time", "timeit", "capture", "prun"})
"""Cell magics whose body is Python run in the kernel: their body is extracted."""

_UNCOMPILABLE = (SyntaxError, ValueError, RecursionError, MemoryError)
"""What compiling a cell may raise: ValueError for a null byte, RecursionError for deep nesting."""
_HELP = re.compile(r"^\s*(?:\?{1,2}[\w.]+|[\w.]+\?{1,2})\s*$")
_CAPTURED_ESCAPE = re.compile(r"^\s*[A-Za-z_][\w\s,]*=\s*([!%])")
_DEFINITION = re.compile(r"^(?:async\s+def|def|class)\s+([A-Za-z_]\w*)", re.MULTILINE)


@dataclass(frozen=True)
class ParsedCell:
    """A cell that compiles once its IPython syntax is removed."""

    index: int
    """Position of the cell in the notebook, from 0."""
    lines: tuple[str, ...]
    """The cleaned text, one entry per line of the original cell."""
    tree: ast.Module
    """The cleaned text's syntax tree; its line numbers are the original cell's."""


def defined_names(text: str) -> tuple[str, ...]:
    """Functions and classes a cell's text appears to define (for a cell left out)."""
    return tuple(_DEFINITION.findall(text))


def parse_cell(cell: SourceCell) -> tuple[ParsedCell | BrokenCell, list[Dropped]]:
    """Clean and compile one cell; return it parsed (or broken) and the magic lines removed.

    A broken cell reports no removed lines: the whole cell is left out anyway.
    """
    text = cell.source.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    dropped: list[Dropped] = []
    try:
        tree = _compile(text, cell.index)
    except _UNCOMPILABLE:
        lines, dropped = _clean(lines, cell.index)
        try:
            tree = _compile("\n".join(lines), cell.index)
        except _UNCOMPILABLE as error:
            line = getattr(error, "lineno", None) or 1
            message = getattr(error, "msg", None) or str(error) or type(error).__name__
            return BrokenCell(cell.index, line, message, defined_names(text)), []
    return ParsedCell(cell.index, tuple(lines), tree), dropped


def _compile(text: str, index: int) -> ast.Module:
    """Parse, then compile in full to catch what only the compiler sees (`return` at top level).

    Top-level `await` is allowed, as IPython allows it; such a statement is a call, never kept.
    """
    with warnings.catch_warnings():  # SyntaxWarnings (`"\d"`, `x is 1`) are not ours to print
        warnings.simplefilter("ignore")
        tree = ast.parse(text, filename=f"<cell {index + 1}>")
        compile(tree, f"<cell {index + 1}>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    return tree


def _clean(lines: list[str], index: int) -> tuple[list[str], list[Dropped]]:
    """Blank out IPython syntax line by line; see the module docstring for the rules."""
    lines = list(lines)
    dropped: list[Dropped] = []
    first = next((n for n, line in enumerate(lines) if line.strip()), None)
    if first is not None and lines[first].lstrip().startswith("%%"):
        words = lines[first].lstrip()[2:].split()
        magic = words[0] if words else ""
        if magic not in PYTHON_BODY_CELL_MAGICS:
            reason = f"the cell magic %%{magic} makes the whole cell something other than Python"
            dropped.append(Dropped(index, first + 1, "magic", shorten(lines[first]), reason))
            return [""] * len(lines), dropped
        reason = f"%%{magic} only measures the cell; the cell's code is extracted as usual"
        dropped.append(Dropped(index, first + 1, "magic", shorten(lines[first]), reason))
        lines[first] = ""
    for n, line in enumerate(lines):
        stripped = line.lstrip()
        captured = _CAPTURED_ESCAPE.match(line)
        escape = captured.group(1) if captured else stripped[:1]
        if escape == "!":
            kind, reason = "shell", "shell commands do not run when grading"
        elif escape == "%":
            kind, reason = "magic", "IPython magics do not run when grading"
        elif _HELP.match(line):
            kind, reason = "magic", "IPython help (`?`) does not run when grading"
        else:
            continue
        dropped.append(Dropped(index, n + 1, kind, shorten(line), reason))
        indent = line[: len(line) - len(stripped)]
        lines[n] = f"{indent}pass" if indent else ""
    return lines, dropped
