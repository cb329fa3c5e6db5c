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

from .bounds import DEFAULT_LIMITS, ExtractLimits, tree_depth
from .clean import ParsedCell, defined_names, parse_cell
from .emit import emit_module
from .isolated import extract_isolated
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
    "ExtractLimits",
    "ExtractedModule",
    "Location",
    "SourceCell",
    "cell_label",
    "extract_source",
    "extract_submission",
    "read_cells",
]


def extract_submission(
    path: Path | str, *, limits: ExtractLimits = DEFAULT_LIMITS
) -> ExtractedModule:
    """Extract the module of definitions from a .ipynb (nbformat 4) or .py submission, within
    ``limits`` (by default in a process of its own, see ``bounds``).

    Raises ExtractError, with a one-line message for the student, when the file cannot be read,
    is too large, is not a notebook, is in nbformat 3, holds no code, or could not be analysed
    within the limits.
    """
    if limits.isolated:
        return extract_isolated(Path(path), limits)
    return extract_source(read_cells(path, limits=limits), limits=limits)


def extract_source(
    cells: Sequence[SourceCell], *, limits: ExtractLimits = DEFAULT_LIMITS
) -> ExtractedModule:
    """Extract the module of definitions from code cells given in notebook order. Cells past
    the limits on size and depth are left out like cells that do not compile."""
    parsed, broken, dropped = [], [], []
    total = 0
    for cell in cells:
        total += len(cell.source)
        if len(cell.source) > limits.max_cell_chars or total > limits.max_code_chars:
            broken.append(_too_long(cell, limits))
            continue
        result, magics = parse_cell(cell)
        if isinstance(result, ParsedCell) and (
            tree_depth(result.tree, limits.max_depth) > limits.max_depth
        ):
            message = f"it nests more than {limits.max_depth} levels deep, too deep to grade"
            result, magics = BrokenCell(cell.index, 1, message, defined_names(cell.source)), []
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


def _too_long(cell: SourceCell, limits: ExtractLimits) -> BrokenCell:
    if len(cell.source) > limits.max_cell_chars:
        message = (
            f"the cell is too long to grade ({len(cell.source)} characters; the limit is "
            f"{limits.max_cell_chars})"
        )
    else:
        message = f"the notebook holds more than {limits.max_code_chars} characters of code"
    return BrokenCell(cell.index, 1, message, defined_names(cell.source[: limits.max_cell_chars]))
