"""Near-identical submissions: a fingerprint of the graded definitions, and groups that share one.

``fingerprint_definitions`` parses each definition with ``ast`` (which drops comments), removes
docstrings, renames every name bound inside a function (arguments, assigned variables, loop and
comprehension variables, nested helpers) to ``_0``, ``_1``... in order of first appearance,
unparses it (which fixes the formatting) and hashes the result with the definitions sorted by
name. Two solutions that differ only in local names, comments, docstrings and layout get the same
fingerprint; any other change to the code gives another one. Names that are not bound inside a
function (the definitions themselves, globals, modules, attributes such as ``self.Q``, keyword
arguments of calls) are part of the interface and stay as written.

Short definitions have few ways to be written, so an identical fingerprint is a reason to look,
not a verdict. A group of students who all left the template untouched is not plagiarism: the
caller passes the fingerprints of the template (and of any other expected code) to ignore.
"""

from __future__ import annotations

import ast
import hashlib
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from autograder.classreport.records import SubmissionRecord

_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)


@dataclass(frozen=True)
class IdenticalGroup:
    """Students whose graded definitions are the same up to names, comments and layout."""

    fingerprint: str
    """The shared fingerprint."""
    records: tuple[SubmissionRecord, ...]
    """The students, by student id; they span at least two submissions."""


def fingerprint_definitions(source_by_name: Mapping[str, str]) -> str:
    """A hex SHA-256 of the normalised definitions (see the module docstring).

    A definition whose source does not parse is hashed as its text with whitespace collapsed,
    so it still matches only the same text.
    """
    parts = []
    for name in sorted(source_by_name):
        parts.append(f"# {name}\n{normalise_source(source_by_name[name])}\n")
    return hashlib.sha256("".join(parts).encode()).hexdigest()


def normalise_source(source: str) -> str:
    """The canonical text of some definitions: no docstrings, comments or local names."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return " ".join(source.split())
    _drop_docstrings(tree)
    for function in _outermost_functions(tree):
        _rename_locals(function)
    return ast.unparse(tree)


def group_identical(
    records: Iterable[SubmissionRecord], *, ignore: Collection[str] = ()
) -> tuple[IdenticalGroup, ...]:
    """Groups of students sharing a fingerprint across two or more submissions, largest first.

    Records without a fingerprint, and fingerprints in ``ignore`` (the template's, say), are
    left out; members of one group submission (same ``submission_id``) count once.
    """
    by_fingerprint: dict[str, list[SubmissionRecord]] = defaultdict(list)
    for record in records:
        if record.fingerprint and record.fingerprint not in ignore:
            by_fingerprint[record.fingerprint].append(record)
    groups = [
        IdenticalGroup(fingerprint, tuple(sorted(members, key=lambda r: r.student_id)))
        for fingerprint, members in by_fingerprint.items()
        if len({r.group_key for r in members}) >= 2
    ]
    return tuple(sorted(groups, key=lambda g: (-len(g.records), g.records[0].student_id)))


def _drop_docstrings(tree: ast.AST) -> None:
    for node in ast.walk(tree):
        if not isinstance(node, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            continue
        body = node.body
        if (
            body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            node.body = body[1:] or [ast.Pass()]


def _outermost_functions(node: ast.AST) -> Iterable[ast.AST]:
    """Functions, methods and lambdas not nested in another function (nested ones are renamed
    with their outer function, as one scope)."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, _FUNCTIONS):
            yield child
        else:
            yield from _outermost_functions(child)


def _rename_locals(function: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> None:
    """Rename the names bound anywhere inside ``function`` (one scope, nested ones included)."""
    declared_global = {
        name
        for node in ast.walk(function)
        if isinstance(node, ast.Global | ast.Nonlocal)
        for name in node.names
    }
    order: list[str] = []
    for node in _in_source_order(function):
        name = _bound_name(node, function)
        if name and name not in declared_global and name not in order:
            order.append(name)
    mapping = {name: f"_{i}" for i, name in enumerate(order)}
    for node in ast.walk(function):
        if isinstance(node, ast.Name) and node.id in mapping:
            node.id = mapping[node.id]
        elif isinstance(node, ast.arg) and node.arg in mapping:
            node.arg = mapping[node.arg]
        elif isinstance(node, _DEFS) and node is not function:
            node.name = mapping.get(node.name, node.name)
        elif isinstance(node, ast.ExceptHandler) and node.name in mapping:
            node.name = mapping[node.name]
        elif isinstance(node, ast.alias) and _bound_name(node, function) in mapping:
            node.asname = mapping[node.asname or node.name]


def _bound_name(node: ast.AST, function: ast.AST) -> str | None:
    """The name ``node`` binds in the function's scope, if any."""
    if isinstance(node, ast.arg):
        return node.arg
    if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store | ast.Del):
        return node.id
    if isinstance(node, _DEFS) and node is not function:
        return node.name
    if isinstance(node, ast.ExceptHandler):
        return node.name
    if isinstance(node, ast.alias) and node.name != "*":
        return node.asname or (node.name if "." not in node.name else None)
    return None


def _in_source_order(node: ast.AST) -> Iterable[ast.AST]:
    """Depth-first, fields in their declared order (arguments before the body)."""
    yield node
    for child in ast.iter_child_nodes(node):
        yield from _in_source_order(child)
