"""Choose the top-level statements that make a module of definitions.

Rules, per top-level statement of every cell that compiles, in notebook order:

- imports are kept, except google.colab's; `from __future__` imports move to the top;
- functions and classes are kept; when a name is defined again later, the last definition wins
  and earlier ones go, unless a statement in between needs the name when it runs (`class B(A)`);
- a global assignment (`use_cuda = ...`, `device = ...`), or a mutation of such a global
  (`args.update(...)`, `args.lr = 0.1`), is kept when a kept statement uses the name, directly
  or through another kept global, and its value only makes cheap calls (names.CHEAP_CALLS, the
  notebook's record classes such as `AttrDict(dict)`); `model = train(...)` never runs;
- a top-level `if` or `try` made only of the above is kept like them (the
  `if torch.cuda.is_available(): ... else: ...` and `try: import ... except ImportError:` idioms);
- everything else goes: calls (training, plots, `drive.mount`), loops, `with` blocks,
  `if __name__ == "__main__":` blocks;
- finally, in module order, a statement that needs a name, when it runs, that no earlier kept
  statement binds goes too, so the module always imports.
"""

from __future__ import annotations

import ast
import bisect
from dataclasses import dataclass
from itertools import pairwise

from .classify import Role, classify, mutated_name, statement_text
from .clean import ParsedCell
from .model import DropKind, Dropped, cell_label, shorten
from .names import (
    DEFINITIONS,
    MODULE_NAMES,
    RECORD_BASES,
    bound_names,
    costly_part,
    dotted_name,
    import_aliases,
    uses,
)


@dataclass(frozen=True)
class Statement:
    """A top-level statement that may go into the module."""

    cell_index: int
    """Position of its cell in the notebook, from 0."""
    node: ast.stmt
    """Its syntax tree."""
    role: Role
    """How the selection treats it (see the module docstring)."""
    text: tuple[tuple[str, int], ...]
    """Its source lines, each with its line number in the cell."""
    binds: frozenset[str]
    """Names it binds in the module."""
    eager: frozenset[str]
    """Names it reads when it runs."""
    lazy: frozenset[str]
    """Names the functions it defines read when called."""
    mutates: str | None = None
    """For `args.update(...)` or `args.lr = 0.1`: the global it changes."""


@dataclass(frozen=True)
class Selection:
    """The outcome of selecting statements."""

    kept: tuple[Statement, ...]
    """Statements of the module, in module order."""
    dropped: tuple[Dropped, ...]
    """Statements left out, with reasons."""
    definitions: dict[str, int]
    """Kept functions and classes, with the index of their cell."""
    missing_globals: dict[str, tuple[str, ...]]
    """Names kept statements use that nothing kept binds, with the names of their users."""


def select_statements(cells: list[ParsedCell]) -> Selection:
    """Apply the module docstring's rules to every top-level statement of ``cells``."""
    future_annotations = any(
        isinstance(node, ast.ImportFrom)
        and node.module == "__future__"
        and any(a.name == "annotations" for a in node.names)
        for cell in cells
        for node in cell.tree.body
    )
    statements: list[Statement] = []
    dropped: list[Dropped] = []
    for cell in cells:
        for k, node in enumerate(cell.tree.body):
            text = statement_text(cell, k)
            line = text[0][1]
            verdict = classify(node)
            if verdict is None:
                continue
            if isinstance(verdict, tuple):
                kind, reason = verdict
                binds = tuple(sorted(bound_names(node)))
                dropped.append(Dropped(cell.index, line, kind, shorten(text[0][0]), reason, binds))
                continue
            try:
                eager, lazy = uses(node, lazy_annotations=future_annotations)
            except RecursionError:
                reason = "nested too deeply to analyse"
                dropped.append(Dropped(cell.index, line, "statement", shorten(text[0][0]), reason))
                continue
            mutates = mutated_name(node) if verdict == "global" else None
            binds = frozenset() if mutates else bound_names(node)
            statements.append(
                Statement(cell.index, node, verdict, text, binds, eager, lazy, mutates)
            )
    kept = _drop_superseded(statements, dropped)
    kept = _keep_needed_globals(kept, dropped)
    kept = _drop_superseded(kept, dropped)  # again: what kept an old definition may be gone
    kept = _drop_unresolved(kept, dropped)
    definitions = {s.node.name: s.cell_index for s in kept if isinstance(s.node, DEFINITIONS)}
    dropped.sort(key=lambda d: (d.cell_index, d.line))
    return Selection(tuple(kept), tuple(dropped), definitions, _missing_globals(kept))


def _drop_superseded(statements: list[Statement], dropped: list[Dropped]) -> list[Statement]:
    """Drop each definition redefined later, unless a statement in between needs it eagerly."""
    where: dict[str, list[int]] = {}
    eager_uses: dict[str, list[int]] = {}
    for position, s in enumerate(statements):
        if s.role == "definition":
            where.setdefault(s.node.name, []).append(position)
        for name in s.eager:
            eager_uses.setdefault(name, []).append(position)  # in increasing order
    superseded: set[int] = set()
    for name, positions in where.items():
        uses = eager_uses.get(name, [])
        for earlier, later in pairwise(positions):
            first_use = bisect.bisect_right(uses, earlier)
            if first_use == len(uses) or uses[first_use] >= later:
                superseded.add(earlier)
                winner = cell_label(statements[later].cell_index)
                reason = f"`{name}` is defined again in {winner}; the last definition wins"
                dropped.append(_dropped(statements[earlier], "superseded", reason))
    return [s for position, s in enumerate(statements) if position not in superseded]


def _keep_needed_globals(statements: list[Statement], dropped: list[Dropped]) -> list[Statement]:
    """Keep the cheap globals (and blocks) that kept statements use, transitively."""
    aliases: dict[str, str] = {}
    for s in statements:
        if s.role in ("import", "block"):
            for node in ast.walk(s.node):
                if isinstance(node, ast.Import | ast.ImportFrom):
                    aliases.update(import_aliases(node))
    records = frozenset(s.node.name for s in statements if _is_record_class(s.node, aliases))
    assigned = {name for s in statements if s.role in ("global", "block") for name in s.binds}
    keep = {i for i, s in enumerate(statements) if s.role in ("future", "import", "definition")}
    keep |= {i for i, s in enumerate(statements) if s.role == "block" and _has_definitions(s)}
    decided = set(keep)
    providers: dict[str, list[int]] = {}  # name -> the statements that bind or finish it
    for i, s in enumerate(statements):
        for name in s.binds | ({s.mutates} if s.mutates in assigned else set()):
            providers.setdefault(name, []).append(i)
    needed: set[str] = set()
    costly: list[tuple[int, str]] = []
    queue = [name for i in sorted(keep) for name in statements[i].eager | statements[i].lazy]
    while queue:  # each name is needed once, each statement decided once: linear
        name = queue.pop()
        if name in needed:
            continue
        needed.add(name)
        for i in providers.get(name, ()):
            if i in decided:
                continue
            decided.add(i)
            s = statements[i]
            cost = _cost(s.node, aliases, records)
            if cost is None:
                keep.add(i)
                queue.extend(s.eager | s.lazy)
            else:
                costly.append((i, cost))
    for i, cost in sorted(costly):  # worded once everything needed is known
        s = statements[i]
        wanted = s.mutates or min(s.binds & needed)
        reason = f"`{wanted}` is used by definitions, but its value calls {cost}"
        dropped.append(_dropped(s, "costly", reason))
    for i, s in enumerate(statements):
        if i in decided:
            continue
        if s.mutates and s.mutates not in assigned:  # `sys.path.append(...)`, `plt.rcParams[...]`
            reason = f"changes `{s.mutates}`, which is not a global of the notebook"
            dropped.append(
                _dropped(s, "call" if isinstance(s.node, ast.Expr) else "statement", reason)
            )
            continue
        names = ", ".join(f"`{n}`" for n in sorted(s.binds) or [s.mutates or "it"])
        dropped.append(_dropped(s, "unused", f"no kept definition uses {names}"))
    return [s for i, s in enumerate(statements) if i in keep]


def _is_record_class(node: ast.stmt, aliases: dict[str, str]) -> bool:
    """Whether a class is a plain record: a dict subclass (`AttrDict`) or a dataclass."""
    if not isinstance(node, ast.ClassDef):
        return False
    bases = {dotted_name(b, aliases) for b in node.bases}
    decorators = {
        dotted_name(d.func if isinstance(d, ast.Call) else d, aliases) for d in node.decorator_list
    }
    return bool(bases & RECORD_BASES or decorators & {"dataclass", "dataclasses.dataclass"})


def _has_definitions(s: Statement) -> bool:
    """Whether a block imports or defines something (and so is kept like those)."""
    kinds = ast.Import | ast.ImportFrom | DEFINITIONS
    return any(isinstance(n, kinds) for n in ast.walk(s.node))


def _cost(node: ast.stmt, aliases: dict[str, str], records: frozenset[str]) -> str | None:
    """The first call a global or block makes that is not known to be cheap, or None."""
    if isinstance(node, DEFINITIONS | ast.Import):
        return None
    if isinstance(node, ast.If | ast.Try):
        handlers = [s for h in getattr(node, "handlers", []) for s in h.body]
        inner = [*node.body, *handlers, *node.orelse, *getattr(node, "finalbody", [])]
        parts = [getattr(node, "test", None), *(h.type for h in getattr(node, "handlers", []))]
        found = [costly_part(p, aliases, records) for p in parts if p is not None]
        found += [_cost(s, aliases, records) for s in inner]
        return next((f for f in found if f), None)
    if isinstance(node, ast.ImportFrom):
        return None
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):  # args.update(...)
        call = node.value
        parts = [call.func.value, *call.args, *(k.value for k in call.keywords)]  # type: ignore[attr-defined]
        return next((f for p in parts if (f := costly_part(p, aliases, records))), None)
    return costly_part(node, aliases, records)


def _drop_unresolved(statements: list[Statement], dropped: list[Dropped]) -> list[Statement]:
    """Put `from __future__` first, then drop what needs, when it runs, a name not yet bound."""
    ordered = sorted(statements, key=lambda s: s.role != "future")  # stable: notebook order
    bound = set(MODULE_NAMES)
    star = False
    kept: list[Statement] = []
    for s in ordered:
        missing = s.eager - bound - (s.binds if s.role == "block" else frozenset())
        if missing and not star:
            names = ", ".join(f"`{n}`" for n in sorted(missing))
            reason = f"needs {names} when it runs, and no earlier kept statement defines it"
            dropped.append(_dropped(s, "unresolved", reason))
            continue
        kept.append(s)
        bound |= s.binds
        star = star or _has_star_import(s)
    return kept


def _has_star_import(s: Statement) -> bool:
    """Whether a statement is or holds a `from ... import *`, which binds names unknown here."""
    return s.role in ("import", "block") and any(
        isinstance(n, ast.ImportFrom) and any(a.name == "*" for a in n.names)
        for n in ast.walk(s.node)
    )


def _missing_globals(kept: list[Statement]) -> dict[str, tuple[str, ...]]:
    """Names the kept statements use that nothing kept binds, with the names that use them."""
    if any(_has_star_import(s) for s in kept):
        return {}
    bound = set(MODULE_NAMES).union(*(s.binds for s in kept))
    users: dict[str, set[str]] = {}
    for s in kept:
        for name in (s.eager | s.lazy) - bound:
            users.setdefault(name, set()).update(s.binds or {s.mutates or "?"})
    return {name: tuple(sorted(users[name])) for name in sorted(users)}


def _dropped(s: Statement, kind: DropKind, reason: str) -> Dropped:
    """A Dropped record for a statement."""
    return Dropped(
        s.cell_index, s.text[0][1], kind, shorten(s.text[0][0]), reason, tuple(sorted(s.binds))
    )
