"""Sort top-level statements: what each one is, or why it is dropped whatever else the notebook
holds (see ``select`` for the rules this serves)."""

from __future__ import annotations

import ast
from typing import Literal

from .clean import ParsedCell
from .model import DropKind
from .names import DEFINITIONS, bound_names

Role = Literal["future", "import", "definition", "global", "block"]

MUTATING_METHODS = frozenset({"update", "append", "extend", "insert", "setdefault", "add"})
"""Method calls that finish building a global (`args.update(args_dict)`), kept along with it."""


def classify(node: ast.stmt) -> Role | tuple[DropKind, str] | None:
    """A statement's role, why it is dropped whatever the rest of the notebook holds, or None
    for a `pass`, which needs no mention."""
    if isinstance(node, ast.Pass):
        return None
    if isinstance(node, ast.ImportFrom) and node.module == "__future__":
        return "future"
    if isinstance(node, ast.Import | ast.ImportFrom | ast.If | ast.Try) and _imports_colab(node):
        return "colab", "google.colab exists only on Colab; the grader does not need it"
    if isinstance(node, ast.Import | ast.ImportFrom):
        return "import"
    if isinstance(node, DEFINITIONS):
        return "definition"
    if isinstance(node, ast.AnnAssign) and node.value is None:
        return "statement", "an annotation without a value binds nothing"
    if isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
        if mutated_name(node) or bound_names(node):
            return "global"
        return "statement", "assigns to something other than a plain global name"
    if isinstance(node, ast.Expr):
        if mutated_name(node):
            return "global"
        if any(isinstance(n, ast.Name) and n.id == "get_ipython" for n in ast.walk(node)):
            return "magic", "IPython magics do not run when grading"
        if any(isinstance(n, ast.Call | ast.Await) for n in ast.walk(node)):
            return "call", "top-level calls do not run when grading: only definitions are kept"
        return "expression", "a value shown by the cell is not part of the definitions"
    if isinstance(node, ast.If) and _is_main_guard(node.test):
        return "main_guard", "`if __name__ == '__main__':` blocks do not run when grading"
    if isinstance(node, ast.If | ast.Try) and _definitional([node]):
        return "block"
    if isinstance(node, ast.For | ast.AsyncFor | ast.While):
        return "loop", "top-level loops (training, evaluation) do not run when grading"
    return "statement", "this statement runs code when the cell runs; only definitions are kept"


def _imports_colab(node: ast.stmt) -> bool:
    """Whether a statement imports google.colab, at any depth."""
    for n in ast.walk(node):
        if isinstance(n, ast.Import) and any(_is_colab(a.name) for a in n.names):
            return True
        if isinstance(n, ast.ImportFrom) and n.module:
            names = [n.module] + [f"{n.module}.{a.name}" for a in n.names]
            if any(_is_colab(name) for name in names):
                return True
    return False


def _is_colab(module: str) -> bool:
    """Whether a dotted module name is google.colab or inside it."""
    return module == "google.colab" or module.startswith("google.colab.")


def _is_main_guard(test: ast.expr) -> bool:
    """Whether an `if` test compares `__name__`, as `if __name__ == "__main__":` does."""
    return any(isinstance(n, ast.Name) and n.id == "__name__" for n in ast.walk(test))


def _definitional(body: list[ast.stmt]) -> bool:
    """Whether statements only import, define, bind plain names or branch on such statements."""
    for node in body:
        if isinstance(node, ast.If):
            ok = not _is_main_guard(node.test) and _definitional(node.body + node.orelse)
        elif isinstance(node, ast.Try):
            handlers = [s for h in node.handlers for s in h.body]
            ok = _definitional(node.body + handlers + node.orelse + node.finalbody)
        elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            ok = node.value is not None and mutated_name(node) is None and bool(bound_names(node))
        elif isinstance(node, ast.Expr):
            ok = isinstance(node.value, ast.Constant)
        else:
            ok = isinstance(node, ast.Import | ast.ImportFrom | ast.Pass | DEFINITIONS)
        if not ok:
            return False
    return True


def mutated_name(node: ast.stmt) -> str | None:
    """The global a statement changes in place (`args.update(...)`, `args.lr = 1`), or None."""
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
        func = node.value.func
        if isinstance(func, ast.Attribute) and func.attr in MUTATING_METHODS:
            target = func.value
        else:
            return None
    elif isinstance(node, ast.Assign) and len(node.targets) == 1:
        target = node.targets[0]
    elif isinstance(node, ast.AnnAssign | ast.AugAssign):
        target = node.target
    else:
        return None
    if not isinstance(target, ast.Attribute | ast.Subscript) and not isinstance(node, ast.Expr):
        return None
    while isinstance(target, ast.Attribute | ast.Subscript):
        target = target.value
    return target.id if isinstance(target, ast.Name) else None


def statement_text(cell: ParsedCell, k: int) -> tuple[tuple[str, int], ...]:
    """The source lines of the cell's ``k``-th top-level statement, with their line numbers.

    Whole lines, decorators included; only a statement that shares a line with another
    (`x = 1; train()`) is cut out of its line.
    """
    body = cell.tree.body
    node = body[k]
    start = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
    end = node.end_lineno or node.lineno
    alone = (k == 0 or (body[k - 1].end_lineno or 0) < start) and (
        k + 1 == len(body) or body[k + 1].lineno > end
    )
    if alone:
        return tuple((cell.lines[n - 1], n) for n in range(start, end + 1))
    segment = _segment(cell.lines, node)
    return tuple((line, start + i) for i, line in enumerate(segment.split("\n")))


def _segment(lines: tuple[str, ...], node: ast.stmt) -> str:
    """A statement's exact text, cut from its own lines by its (UTF-8) column offsets; like
    ``ast.get_source_segment`` without joining the whole cell for each statement (a cell of
    thousands of statements on one line would make that quadratic)."""
    first, last = node.lineno, node.end_lineno or node.lineno
    raw = [line.encode("utf-8", "surrogatepass") for line in lines[first - 1 : last]]
    end = node.end_col_offset if node.end_col_offset is not None else len(raw[-1])
    raw[-1] = raw[-1][:end]
    raw[0] = raw[0][node.col_offset :]
    return "\n".join(line.decode("utf-8", "surrogatepass") for line in raw)
