"""Write the selected statements out as one module, mapping every line back to its cell.

Statements keep their text, so a traceback line in the module is a line the student wrote. Each
run of statements from one cell opens with a `# cell N` comment. A top-level import of anything
outside the standard library is wrapped in `try: ... except ImportError: pass`: a package the
grader lacks (`wandb`, a helper module on the student's Drive) then costs only the names it would
bind, not the whole submission. (Imports inside kept `if`/`try` blocks are left as written.)
"""

from __future__ import annotations

import ast
import sys

from .model import cell_label
from .select import Statement

_INDENT = "    "


def emit_module(kept: tuple[Statement, ...]) -> tuple[str, tuple[tuple[int, int], ...]]:
    """The module's source and, for each of its lines, (cell index, line in the cell)."""
    lines: list[str] = []
    line_map: list[tuple[int, int]] = []
    previous_cell = None
    for s in kept:
        first, last = s.text[0][1], s.text[-1][1]
        if s.cell_index != previous_cell:
            lines.append(f"# {cell_label(s.cell_index)}")
            line_map.append((s.cell_index, first))
            previous_cell = s.cell_index
        guard = _imports_outside_stdlib(s)
        if guard:
            lines.append("try:")
            line_map.append((s.cell_index, first))
        for text, line in s.text:
            lines.append(_INDENT + text if guard and text.strip() else text)
            line_map.append((s.cell_index, line))
        if s.text[-1][0].rstrip().endswith("\\"):  # a dangling `\` would join the next statement
            lines.append("")
            line_map.append((s.cell_index, last))
        if guard:
            lines += ["except ImportError:", _INDENT + "pass"]
            line_map += [(s.cell_index, last)] * 2
    return "".join(f"{line}\n" for line in lines), tuple(line_map)


def _imports_outside_stdlib(s: Statement) -> bool:
    """Whether a statement is an import of some module outside the standard library."""
    if isinstance(s.node, ast.Import):
        modules = [a.name for a in s.node.names]
    elif isinstance(s.node, ast.ImportFrom) and s.role == "import":
        modules = [s.node.module if s.node.module and s.node.level == 0 else "."]
    else:
        return False
    return any(m.split(".")[0] not in sys.stdlib_module_names for m in modules)
