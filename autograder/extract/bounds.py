"""The limits of extraction: what the grader's own process does with a submission is bounded
before any student code runs.

A notebook is data from a student, and reading it is work for the parent: a huge file, one
enormous cell, an expression nested thousands deep, or thousands of globals chained one to the
next could make it grow, recurse or spin. So:

- the file has a size cap (``max_notebook_bytes``), checked before it is read;
- a cell longer than ``max_cell_chars``, or past ``max_code_chars`` of code in all, is left out
  like a cell that does not compile, and so is a cell whose syntax tree nests deeper than
  ``max_depth`` (every recursive step after parsing is then bounded);
- ``extract_submission`` reads and analyses the notebook in a short-lived process of its own
  (``isolated``), with ``memory_mb`` of address space and ``timeout_s`` of wall time, and gets
  plain JSON back; a notebook that exhausts them is unreadable, with a message that says which
  limit it hit, and never costs the grader itself.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass


@dataclass(frozen=True)
class ExtractLimits:
    """What reading one submission may cost the grader."""

    max_notebook_bytes: int = 64 << 20
    """Largest submission file read (saved outputs included: Colab notebooks with plots run to
    a few MB)."""
    max_cell_chars: int = 200_000
    """Longest code cell analysed (the longest cell of the solution is under 10 000)."""
    max_code_chars: int = 2_000_000
    """Most code analysed in all; cells past it are left out."""
    max_depth: int = 200
    """Deepest syntax tree analysed (nested expressions, attribute chains, elif chains)."""
    timeout_s: float = 30.0
    """Wall-clock time of the extraction process."""
    memory_mb: int = 1024
    """Address space of the extraction process."""
    isolated: bool = True
    """Extract in a process of its own (False: in the caller's, for tests and tools)."""


DEFAULT_LIMITS = ExtractLimits()


def tree_depth(tree: ast.AST, limit: int) -> int:
    """The depth of ``tree`` (a lone node is 1), counted without recursion; stops early and
    returns ``limit + 1`` once the depth passes ``limit``."""
    deepest = 0
    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > deepest:
            deepest = depth
            if deepest > limit:
                return limit + 1
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return deepest
