"""Read the reference modules as text: top-level definitions and imports, without importing them.

The builder must not import torch, so ``reference/*.py`` are parsed with ``ast``. A definition is
a top-level function, class or assignment, taken verbatim from its first decorator to its last
line, comments included (also the indented ones right after its last statement, such as an
``# END SOLUTION`` after a ``return``), plus the string literal right under an assignment (the
attribute docstring the house style puts there).
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Definition:
    """One top-level definition of a reference module."""

    module: str
    """Module stem: ``attention`` for ``reference/attention.py``."""
    name: str
    """The name it binds."""
    source: str
    """Its text, verbatim."""
    line: int
    """1-based first line in the module (for messages)."""


@dataclass(frozen=True)
class ImportName:
    """One name bound by an import statement."""

    module: str
    """``torch`` in ``import torch``, ``torch`` in ``from torch import nn``."""
    name: str | None
    """``nn`` in ``from torch import nn``; None for ``import module``."""
    asname: str | None
    """The alias, if any."""

    def sort_key(self) -> tuple[str, str, str]:
        return (self.module, self.name or "", self.asname or "")

    @property
    def bound(self) -> str:
        """The name the import binds in the namespace."""
        if self.asname:
            return self.asname
        return self.name if self.name is not None else self.module.split(".")[0]


@dataclass(frozen=True)
class ReferenceModule:
    """The definitions and imports of one module."""

    name: str
    path: Path
    definitions: dict[str, Definition]
    """By bound name, in source order."""
    imports: tuple[ImportName, ...]
    """Top-level imports, except ``__future__`` and the ``reference`` package's own."""


def _bound_names(node: ast.stmt) -> list[str]:
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return [node.name]
    if isinstance(node, ast.Assign):
        return [t.id for t in node.targets if isinstance(t, ast.Name)]
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return [node.target.id]
    return []


def _import_names(node: ast.Import | ast.ImportFrom) -> list[ImportName]:
    if isinstance(node, ast.Import):
        return [ImportName(a.name, None, a.asname) for a in node.names]
    module = node.module or ""
    if node.level or module == "__future__" or module.split(".")[0] == "reference":
        return []
    return [ImportName(module, a.name, a.asname) for a in node.names]


def read_module(path: Path) -> ReferenceModule:
    """Parse one reference module."""
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    body = ast.parse(text, filename=str(path)).body
    definitions: dict[str, Definition] = {}
    imports: list[ImportName] = []
    for index, node in enumerate(body):
        if isinstance(node, ast.Import | ast.ImportFrom):
            imports += _import_names(node)
            continue
        names = _bound_names(node)
        if not names:
            continue
        first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
        last = node.end_lineno or node.lineno
        following = body[index + 1] if index + 1 < len(body) else None
        if (
            isinstance(node, ast.Assign | ast.AnnAssign)
            and isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            last = following.end_lineno or last
        while (
            last < len(lines)
            and lines[last].startswith((" ", "\t"))
            and lines[last].strip()[:1] == "#"
        ):
            last += 1  # comments that end an indented block (an END SOLUTION after a return)
        source = "\n".join(lines[first - 1 : last])
        for name in names:
            definitions[name] = Definition(path.stem, name, source, first)
    return ReferenceModule(path.stem, path, definitions, tuple(imports))


def read_reference(directory: Path) -> dict[str, ReferenceModule]:
    """Every module of the reference package, by stem."""
    return {p.stem: read_module(p) for p in sorted(directory.glob("*.py")) if p.stem != "__init__"}


def render_imports(names: set[ImportName]) -> str:
    """Import statements for ``names``: standard library first, then third-party packages;
    ``import x`` before ``from x import y`` within each group, sorted, one statement per module."""
    groups: list[list[str]] = []
    for stdlib in (True, False):
        chosen = [n for n in names if (n.module.split(".")[0] in sys.stdlib_module_names) == stdlib]
        plain = sorted(
            f"import {n.module}" + (f" as {n.asname}" if n.asname else "")
            for n in chosen
            if n.name is None
        )
        by_module: dict[str, list[str]] = {}
        for n in chosen:
            if n.name is not None:
                alias = n.name + (f" as {n.asname}" if n.asname else "")
                by_module.setdefault(n.module, []).append(alias)
        froms = [
            f"from {module} import {', '.join(sorted(set(aliases)))}"
            for module, aliases in sorted(by_module.items())
        ]
        if plain or froms:
            groups.append(plain + froms)
    return "\n\n".join("\n".join(group) for group in groups)
