"""The reference as one namespace, and known bugs as textual mutants of it.

``reference_namespace()`` executes the graded reference modules as one module, the way a notebook
holds them (one namespace, so a class defined in ``attention`` is the one ``models`` builds).
``reference_namespace(mutant)`` does the same with one known bug applied: the grader's goldens
command runs every probe case on each mutant, so that a student's wrong output can be matched to
the bug that produces it (see ``autograder/diagnose``). Mutants are patches of this package's
source, kept here, beside the code they change, so that they stay in sync with it: a patch whose
text is no longer found is an error, never a silent no-op.
"""

from __future__ import annotations

import re
import sys
import types
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
MODULES = ("data", "attention", "models", "train", "scaling")
"""The modules a notebook holds, in the order they depend on each other."""


@dataclass(frozen=True)
class Patch:
    """One textual change to a reference module."""

    module: str
    """The module changed, e.g. ``"attention"``."""
    anchor: str
    """Text that comes before the change (a ``def`` or ``class`` line)."""
    old: str
    """The text replaced: its first occurrence after the anchor."""
    new: str
    """What replaces it."""


def apply_patch(source: str, patch: Patch) -> str:
    """``source`` with ``patch`` applied; ValueError when its anchor or text is missing."""
    start = source.find(patch.anchor)
    at = source.find(patch.old, start) if start >= 0 else -1
    if at < 0:
        raise ValueError(f"cannot find {patch.old!r} after {patch.anchor!r} in {patch.module}")
    return source[:at] + patch.new + source[at + len(patch.old) :]


def module_source(name: str, patches: tuple[Patch, ...] = ()) -> str:
    """The source of ``reference/<name>.py`` with the patches that concern it applied."""
    source = (HERE / f"{name}.py").read_text(encoding="utf-8")
    for patch in patches:
        if patch.module == name:
            source = apply_patch(source, patch)
    return source


def reference_source(patches: tuple[Patch, ...] = ()) -> str:
    """The graded reference modules as one source text, imports between them removed."""
    unknown = {p.module for p in patches} - set(MODULES)
    if unknown:
        raise ValueError(f"patches of unknown modules: {sorted(unknown)}")
    parts = ["from __future__ import annotations"]
    for name in MODULES:
        text = module_source(name, patches)
        text = re.sub(r"^from reference\.\S+ import \([^)]*\)\n", "", text, flags=re.M)
        text = re.sub(r"^from reference\.\S+ import .*\n", "", text, flags=re.M)
        parts.append(text.replace("from __future__ import annotations\n", ""))
    return "\n".join(parts)


def reference_namespace(patches: tuple[Patch, ...] = (), *, name: str = "reference_ns"):
    """Execute ``reference_source(patches)`` as a fresh module and return it."""
    module = types.ModuleType(name)
    module.__file__ = f"<{name}>"
    sys.modules[name] = module  # dataclasses look their module up while the class is built
    try:
        exec(compile(reference_source(patches), module.__file__, "exec"), module.__dict__)
    finally:
        del sys.modules[name]
    return module
