"""Child side: the student's module, run one top-level statement at a time, and what became of
each definition that failed.

A notebook's cell that raises stops there; the rest of the notebook still runs. The grader does
the same with the extracted module: ``run_module`` executes its top-level statements in order;
one that raises (a class body that uses a name defined nowhere, a decorator that fails, an
import of a missing package) is recorded with the names it would have bound, and the rest goes
on. A statement the parent asks to skip (it hung, crashed or ended the process when an earlier
child imported the module: see ``autograder.sandbox.session``) is recorded the same way, with
the parent's reason. Before each statement runs, ``run_module`` reports its index (the parent
drops that statement if the child never comes back).

When a probe then needs a name that is missing, ``failed_definition`` raises a
``DefinitionError`` that says what happened ("defining `ScaledDotAttention` raised NameError:
name 'make_mask' is not defined"), located in the notebook through the submission's line
(``autograder.child.main.describe_error``). This module also serves the parent, which reads the
same statements from the same source (``statements``) to name what it dropped.
"""

from __future__ import annotations
import __future__

import ast
import sys
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path


class DefinitionError(Exception):
    """A definition a probe needs was not made when the notebook was imported: its statement
    raised, or was left out after it stopped the import. The message says which and why."""

    grader_kind = "definition"
    """What the child's record says this error is (``autograder.child.main.error_kind``)."""


@dataclass(frozen=True)
class Statement:
    """A top-level statement of the module."""

    index: int
    """Its position in the module's body, from 0."""
    lineno: int
    """Its first line in the module (its first decorator's, for a decorated definition)."""
    binds: tuple[str, ...]
    """The global names it binds."""
    code: str
    """Its first line, stripped and cut to at most 80 characters."""


@dataclass(frozen=True)
class Failure:
    """What became of a top-level statement that did not complete."""

    statement: Statement
    """The statement."""
    error: BaseException | None
    """What it raised; None when it was left out."""
    left_out: str = ""
    """Why the parent left it out ("took more than 60 s to import")."""


FAILURES: dict[str, Failure] = {}
"""By global name: the failed statement that would have bound it (the child's bookkeeping)."""


def _targets(node: ast.AST) -> list[str]:
    """Names bound by an assignment target (``a``, ``a, (b, *c)``; not ``a.b`` or ``a[0]``)."""
    if isinstance(node, ast.Name):
        return [node.id]
    if isinstance(node, ast.Tuple | ast.List):
        return [name for element in node.elts for name in _targets(element)]
    if isinstance(node, ast.Starred):
        return _targets(node.value)
    return []


def bound_names(node: ast.stmt) -> tuple[str, ...]:
    """The global names a top-level statement binds (definitions, imports, assignments, and
    the targets of ``for``/``with`` at top level; not names bound only inside functions)."""
    names: list[str] = []
    stack: list[ast.AST] = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.append(current.name)
            continue  # what its body binds is its own
        if isinstance(current, ast.Import | ast.ImportFrom):
            for alias in current.names:
                if alias.name != "*":
                    names.append(alias.asname or alias.name.split(".")[0])
            continue
        if isinstance(current, ast.Assign):
            names += [n for target in current.targets for n in _targets(target)]
        elif isinstance(current, ast.AugAssign | ast.AnnAssign | ast.For | ast.AsyncFor):
            names += _targets(current.target)
        elif isinstance(current, ast.withitem) and current.optional_vars is not None:
            names += _targets(current.optional_vars)
        elif isinstance(current, ast.NamedExpr):
            names += _targets(current.target)
        if isinstance(current, ast.Lambda | ast.comprehension):
            continue
        stack.extend(ast.iter_child_nodes(current))
    return tuple(dict.fromkeys(names))


def statements(source: str) -> list[Statement]:
    """The module's top-level statements; SyntaxError when it does not parse."""
    lines = source.splitlines()
    found = []
    for index, node in enumerate(ast.parse(source).body):
        decorators = getattr(node, "decorator_list", [])
        lineno = min([node.lineno, *(d.lineno for d in decorators)])
        text = lines[lineno - 1].strip() if lineno <= len(lines) else ""
        code = text if len(text) <= 80 else text[:77] + "..."
        found.append(Statement(index, lineno, bound_names(node), code))
    return found


def _future_flags(node: ast.stmt) -> int:
    """The compiler flags a ``from __future__ import ...`` turns on for the statements after."""
    if not isinstance(node, ast.ImportFrom) or node.module != "__future__":
        return 0
    flags = 0
    for alias in node.names:
        feature = getattr(__future__, alias.name, None)
        flags |= getattr(feature, "compiler_flag", 0)
    return flags


def run_module(
    path: Path, *, skip: Mapping[int, str], before: Callable[[int], None]
) -> types.ModuleType:
    """Run ``path`` as the module ``submission`` (registered in ``sys.modules``), one top-level
    statement at a time (``before(index)`` first); record what fails in ``FAILURES`` and leave
    out the statements of ``skip`` (index -> why). Raises SyntaxError when it does not parse."""
    source = path.read_text(encoding="utf-8")
    filename = str(path)
    tree = ast.parse(source, filename=filename)
    module = types.ModuleType("submission")
    module.__file__ = filename
    sys.modules["submission"] = module
    flags = 0
    for info, node in zip(statements(source), tree.body, strict=True):
        if info.index in skip:
            _record(Failure(info, None, skip[info.index]))
            continue
        before(info.index)
        try:
            code = compile(ast.Module([node], []), filename, "exec", flags=flags, dont_inherit=True)
            flags |= _future_flags(node)
            exec(code, module.__dict__)  # running it is the point of the sandbox
        except BaseException as error:  # noqa: BLE001 - a cell that raises: the rest goes on
            _record(Failure(info, error))
    return module


def _record(failure: Failure) -> None:
    for name in failure.statement.binds:
        FAILURES[name] = failure


def failed_definition(name: str) -> None:
    """Raise a DefinitionError if ``name`` is missing because its statement failed or was left
    out at import; return otherwise."""
    failure = FAILURES.get(name)
    if failure is None:
        return
    if failure.error is None:
        error = DefinitionError(
            f"`{name}` was left out: its definition stopped the notebook's import "
            f"({failure.left_out})"
        )
        error.submission_lineno = failure.statement.lineno
        raise error
    raised = failure.error
    try:
        text = str(raised)
    except Exception:  # noqa: BLE001 - a student's exception may fail to print
        text = "(the exception's message could not be printed)"
    detail = f"{type(raised).__name__}: {text}" if text else type(raised).__name__
    error = DefinitionError(f"defining `{name}` raised {detail}")
    error.submission_lineno = _deepest_line(raised) or failure.statement.lineno
    raise error from raised


def _deepest_line(error: BaseException) -> int | None:
    """The deepest line of the submission in the traceback of ``error``."""
    filename = getattr(sys.modules.get("submission"), "__file__", None)
    line = None
    traceback = error.__traceback__
    while traceback is not None:
        if traceback.tb_frame.f_code.co_filename == filename:
            line = traceback.tb_lineno
        traceback = traceback.tb_next
    return line
