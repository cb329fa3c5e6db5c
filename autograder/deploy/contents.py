"""What each deployment ships of the ``autograder`` package, chosen by rule, not by hand.

- ``module_files``: the modules an entry point imports (top-level imports, followed through the
  package; imports inside functions are the lazy ones of commands it does not run), plus the
  child-side package, which the sandbox copies into every child's workspace.
- ``strip_hidden_checks``: a check module without the functions of checks the rubric hides.
- ``visible_rubric``: the rubric's visible lines, as a rubric file.
- ``public_cases`` and ``split_goldens``: the golden cases the visible checks read (with what
  deciding their stand-ins needs), and the rest.

The modules that build goldens and notebooks from the reference (``DENIED``) never ship: a test
fails when a shipped module starts importing one of them.
"""

from __future__ import annotations

import ast
import json
import shutil
import tomllib
from collections.abc import Iterable, Sequence
from pathlib import Path

from autograder.cases import standin_id
from autograder.checks.base import Check
from autograder.goldens import INDEX, case_files, write_index
from autograder.manifest import BY_NUMBER
from autograder.rubric import Rubric

PACKAGE_DIR = Path(__file__).resolve().parent.parent
"""The ``autograder`` package."""
SOURCE_ROOT = PACKAGE_DIR.parent
"""The folder that holds the package (a checkout, or site-packages)."""
CHILD_DIR = PACKAGE_DIR / "child"
"""The child-side package: travels into the sandbox, so it holds nothing secret."""
CHECKS_PREFIX = "autograder/checks/"
"""Archive prefix of the check modules, which hold visible and hidden checks side by side."""
DENIED = (
    "autograder/examples.py",
    "autograder/notebook/",
    "autograder/goldens/build.py",
    "autograder/goldens/data/",
    "autograder/cases/attention.py",
    "autograder/cases/decoder.py",
    "autograder/cases/functions.py",
)
"""Package paths that hold or compute reference answers: never in a deployment's wheel."""


def _module_path(name: str) -> Path | None:
    base = SOURCE_ROOT.joinpath(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _top_level_imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """Imports that run when the module is imported (also inside top-level if/try)."""
    found: list[ast.Import | ast.ImportFrom] = []
    pending: list[ast.stmt] = list(tree.body)
    while pending:
        node = pending.pop(0)
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        elif isinstance(node, ast.If) and "TYPE_CHECKING" not in ast.unparse(node.test):
            pending += node.body + node.orelse
        elif isinstance(node, ast.Try):
            pending += node.body + node.orelse + node.finalbody
            pending += [s for h in node.handlers for s in h.body]
    return found


def _imported_names(name: str, path: Path) -> set[str]:
    """The ``autograder`` modules one module imports at import time."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    names: set[str] = set()
    for node in _top_level_imports(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
            continue
        base = node.module or ""
        if node.level:
            parts = package.split(".")
            parts = parts[: len(parts) - node.level + 1]
            base = ".".join(parts + ([base] if base else []))
        names.add(base)
        names |= {f"{base}.{a.name}" for a in node.names}
    return {n for n in names if n.split(".")[0] == "autograder" and _module_path(n)}


def module_closure(roots: Iterable[str]) -> set[Path]:
    """The files of ``roots`` and of every ``autograder`` module they import, with the
    ``__init__.py`` of every package on the way."""
    pending, seen = list(roots), set()
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        path = _module_path(name)
        if path is None:
            raise ValueError(f"module {name} not found under {SOURCE_ROOT}")
        parents = [".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)]
        pending += parents + sorted(_imported_names(name, path))
    return {_module_path(n) for n in seen}


def module_files(roots: Iterable[str]) -> dict[str, Path]:
    """Archive path to file: the closure of ``roots`` and the child package. Raises ValueError
    when a denied module is among them."""
    paths = module_closure(roots) | {
        p for p in CHILD_DIR.rglob("*.py") if "__pycache__" not in p.parts
    }
    files = {p.relative_to(SOURCE_ROOT).as_posix(): p for p in sorted(paths)}
    denied = sorted(a for a in files if a.startswith(DENIED))
    if denied:
        raise ValueError(f"a deployment would ship {', '.join(denied)} (reference answers)")
    return files


def _check_id(decorator: ast.expr) -> str | None:
    """The full id of a ``@check("2.2.1", "scaling", ...)`` decorator, None for others."""
    if not (
        isinstance(decorator, ast.Call)
        and isinstance(decorator.func, ast.Name)
        and decorator.func.id == "check"
    ):
        return None
    args = decorator.args[:2]
    if len(args) != 2 or not all(isinstance(a, ast.Constant) for a in args):
        raise ValueError(f"@check without literal question and id: {ast.unparse(decorator)}")
    return f"{args[0].value}/{args[1].value}"


def strip_hidden_checks(source: str, keep: set[str]) -> tuple[str, list[str]]:
    """``source`` without the functions of checks whose id is not in ``keep`` (decorators and
    body); returns the text and the ids removed."""
    lines = source.splitlines(keepends=True)
    removed: list[str] = []
    drop: list[tuple[int, int]] = []
    for node in ast.parse(source).body:
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        ids = [i for i in map(_check_id, node.decorator_list) if i is not None]
        if ids and not set(ids) & keep:
            first = min(d.lineno for d in node.decorator_list)
            drop.append((first - 1, node.end_lineno))
            removed += ids
    for start, end in reversed(drop):
        del lines[start:end]
    return "".join(lines), removed


def visible_rubric(rubric: Rubric) -> str:
    """The rubric file of a deployment that has only the visible checks."""
    lines = [
        "# The public checks' points (built from the course's rubric; hidden checks removed).",
        f"title = {_toml_string(rubric.title)}",
        "",
        "[checks]",
    ]
    for check_id, line in rubric.lines.items():
        if line.visibility == "visible" and line.enabled:
            lines.append(f'"{check_id}" = {{ points = {line.points!r}, visibility = "visible" }}')
    text = "\n".join(lines) + "\n"
    tomllib.loads(text)  # our own invariant: the file parses
    return text


def _toml_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def public_cases(visible: Sequence[Check]) -> set[str]:
    """The cases a deployment of the ``visible`` checks alone needs: what they read, and the
    stand-in variants of the cases of questions that depend on others (``engine.cases_for``
    over a registry that holds only these checks)."""
    cases = {case for c in visible for case in c.cases}
    for c in visible:
        if BY_NUMBER[c.question].depends:
            cases |= {standin_id(case) for case in c.cases}
    return cases


def split_goldens(
    source: Path, public: set[str], public_dir: Path, hidden_dir: Path | None
) -> None:
    """Copy the goldens of ``source`` into ``public_dir`` (the cases in ``public``) and
    ``hidden_dir`` (the rest; skipped when None), each with its own index."""
    index = json.loads((source / INDEX).read_text(encoding="utf-8"))
    meta, every = {k: v for k, v in index.items() if k != "cases"}, list(index["cases"])
    missing = sorted(public - set(every))
    if missing:
        raise ValueError(f"no golden for case(s) {', '.join(missing)} in {source}")
    parts = [(public_dir, [c for c in every if c in public])]
    if hidden_dir is not None:
        parts.append((hidden_dir, [c for c in every if c not in public]))
    for directory, ids in parts:
        directory.mkdir(parents=True, exist_ok=True)
        for path in case_files(source, ids):
            shutil.copyfile(path, directory / path.name)
        write_index(directory, meta, ids)
