"""Extract: turn a submission into a module of definitions, running nothing.

A notebook (nbformat 4) or a .py file becomes a module of its imports, functions, classes and the
cheap globals those use; magics, shell escapes, top-level calls and loops are left out, the last
definition of a name wins, and every line of the module maps back to its cell. A cell that does
not compile costs only its own definitions. See ``clean`` (IPython syntax), ``select`` (which
statements stay) and ``emit`` (the module's text) for the rules. Student code is parsed and
compiled here, never run: that is the sandbox's job.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .clean import parse_cell
from .emit import emit_module
from .model import (
    BrokenCell,
    Dropped,
    ExtractedModule,
    ExtractError,
    Location,
    SourceCell,
    cell_label,
)
from .read import read_cells
from .select import select_statements

__all__ = [
    "BrokenCell",
    "Dropped",
    "ExtractError",
    "ExtractedModule",
    "Location",
    "SourceCell",
    "cell_label",
    "extract_source",
    "extract_submission",
    "read_cells",
]


def extract_submission(path: Path | str) -> ExtractedModule:
    """Extract the module of definitions from a .ipynb (nbformat 4) or .py submission.

    Raises ExtractError, with a one-line message for the student, when the file cannot be read,
    is not a notebook, is in nbformat 3 or holds no code.
    """
    return extract_source(read_cells(path))


def extract_source(cells: Sequence[SourceCell]) -> ExtractedModule:
    """Extract the module of definitions from code cells given in notebook order."""
    parsed, broken, dropped = [], [], []
    for cell in cells:
        result, magics = parse_cell(cell)
        dropped += magics
        if isinstance(result, BrokenCell):
            broken.append(result)
        else:
            parsed.append(result)
    selection = select_statements(parsed)
    source, line_map = emit_module(selection.kept)
    return ExtractedModule(
        source=source,
        line_map=line_map,
        definitions=selection.definitions,
        broken_cells=tuple(broken),
        dropped=tuple(sorted([*dropped, *selection.dropped], key=lambda d: (d.cell_index, d.line))),
        missing_globals=selection.missing_globals,
    )
