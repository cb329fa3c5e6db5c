"""Solution regions: the student's part of a reference definition.

A region is the lines between ``# BEGIN SOLUTION`` and ``# END SOLUTION`` (markers included),
owned by the innermost function that encloses its ``BEGIN`` line, named ``Class.method`` or
``function``. The solution notebook keeps regions as they are; the student notebook gets a
``Stub`` in their place: a ``# TODO`` line and a ``NotImplementedError`` naming the question.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from dataclasses import dataclass

BEGIN = "# BEGIN SOLUTION"
END = "# END SOLUTION"


class RegionError(ValueError):
    """Markers that do not pair up, or a region the builder has no stub for."""


@dataclass(frozen=True)
class Region:
    """One solution region of a source text."""

    owner: str
    """Qualified name of the enclosing function: ``ScaledDotAttention.forward``."""
    begin: int
    """0-based index of the ``# BEGIN SOLUTION`` line."""
    end: int
    """0-based index of the ``# END SOLUTION`` line."""
    indent: str
    """Indentation of the markers (the stub keeps it)."""
    body: tuple[str, ...]
    """The lines between the markers, as written."""


@dataclass(frozen=True)
class Stub:
    """What the student notebook shows in place of a region."""

    question: str
    """Handout question, "section.question": ``2.3.4``."""
    todo: str
    """One line saying what to write."""
    message: str
    """Text of the ``NotImplementedError``; names the class or function and the question."""

    def __post_init__(self) -> None:
        if any(c in self.message for c in '"\\\n'):
            raise ValueError(f"a stub message is plain text, got {self.message!r}")

    def lines(self, indent: str) -> list[str]:
        return [
            f"{indent}# TODO (question {self.question}): {self.todo}",
            f'{indent}raise NotImplementedError("{self.message}")',
        ]


def _owners(tree: ast.AST) -> list[tuple[int, int, str]]:
    """(first line, last line, qualified name) of every function, 1-based, outermost first."""
    spans: list[tuple[int, int, str]] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                name = f"{prefix}{child.name}"
                if not isinstance(child, ast.ClassDef):
                    spans.append((child.lineno, child.end_lineno or child.lineno, name))
                visit(child, f"{name}.")

    visit(tree, "")
    return spans


def find_regions(source: str, *, filename: str = "<source>") -> list[Region]:
    """The solution regions of ``source`` (valid Python), in order.

    Raises RegionError for an unpaired or nested marker, markers of different indentation, or a
    region outside any function.
    """
    lines = source.splitlines()
    spans = _owners(ast.parse(source, filename=filename))
    regions: list[Region] = []
    begin: int | None = None
    for index, line in enumerate(lines):
        marker = line.strip()
        where = f"{filename}:{index + 1}"
        if marker == BEGIN:
            if begin is not None:
                raise RegionError(f"{where}: {BEGIN} inside another region")
            begin = index
        elif marker == END:
            if begin is None:
                raise RegionError(f"{where}: {END} without {BEGIN}")
            indent = lines[begin][: len(lines[begin]) - len(lines[begin].lstrip())]
            if not line.startswith(indent + END):
                raise RegionError(f"{where}: {END} indented unlike its {BEGIN}")
            owners = [name for first, last, name in spans if first <= begin + 1 <= last]
            if not owners:
                raise RegionError(f"{where}: region outside any function")
            body = tuple(lines[begin + 1 : index])
            regions.append(Region(owners[-1], begin, index, indent, body))
            begin = None
    if begin is not None:
        raise RegionError(f"{filename}:{begin + 1}: {BEGIN} without {END}")
    return regions


def stub_regions(source: str, stubs: Mapping[str, Stub], *, filename: str = "<source>") -> str:
    """``source`` with each region (markers included) replaced by its owner's stub.

    Raises RegionError for a region whose owner has no stub.
    """
    lines = source.splitlines()
    out: list[str] = []
    position = 0
    for region in find_regions(source, filename=filename):
        if region.owner not in stubs:
            raise RegionError(
                f"{filename}:{region.begin + 1}: no stub for the region of {region.owner}; "
                "add one to its question in autograder/manifest.py"
            )
        out += lines[position : region.begin]
        out += stubs[region.owner].lines(region.indent)
        position = region.end + 1
    out += lines[position:]
    return "\n".join(out)
