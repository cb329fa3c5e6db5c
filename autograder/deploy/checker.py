"""``python grade.py build-student-checker --out DIR``: the students' wheel.

It carries what ``nmt-check`` imports (the engine, the extractor, the sandbox, the report), the
child-side package, the public checks (the check modules with every hidden check's function
removed), a rubric of the visible lines and the public golden cases, and nothing else: no
reference code, no hidden golden, no hidden check. The engine then runs as ``grade.py check``
does, with a registry and a rubric that hold the visible checks alone.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from autograder import __version__
from autograder.checks import REGISTRY
from autograder.deploy.contents import (
    CHECKS_PREFIX,
    module_files,
    public_cases,
    split_goldens,
    strip_hidden_checks,
    visible_rubric,
)
from autograder.deploy.wheel import WheelSpec, write_wheel
from autograder.goldens import GOLDENS_DIR
from autograder.rubric import DEFAULT_RUBRIC, load_rubric

CHECKER_NAME = "nmt-checker"
"""The wheel's distribution name (its package is ``autograder``, cut down)."""
CHECKER_REQUIRES = ("numpy>=1.24", "nbformat>=5.7", "torch>=2.2", "wordsegment>=1.3")
"""What the checker imports: the parent needs numpy and nbformat, the sandboxed child torch (and
wordsegment, for the training checks' offline pairs where no pig_latin_small.txt is found)."""
ENTRY = "autograder.deploy.nmt_check"


@dataclass(frozen=True)
class BuiltChecker:
    """The wheel and what went into it."""

    path: Path
    """The wheel file."""
    checks: tuple[str, ...]
    """The check ids it carries (the visible ones)."""
    removed: tuple[str, ...]
    """The hidden check ids stripped from its check modules."""
    cases: tuple[str, ...]
    """The golden cases it carries."""


def build_student_checker(
    out_dir: Path, *, rubric_path: Path = DEFAULT_RUBRIC, goldens_dir: Path = GOLDENS_DIR
) -> BuiltChecker:
    """Write the checker wheel into ``out_dir``; ValueError when the rubric does not fit."""
    rubric = load_rubric(rubric_path)
    rubric.validate(REGISTRY)
    visible = [c for c in rubric.enabled(REGISTRY) if rubric.line(c).visibility == "visible"]
    keep = {c.id for c in visible}
    files: dict[str, bytes] = {}
    removed: list[str] = []
    for archive, path in module_files([ENTRY]).items():
        data = path.read_bytes()
        if archive.startswith(CHECKS_PREFIX):
            text, gone = strip_hidden_checks(data.decode("utf-8"), keep)
            data, removed = text.encode("utf-8"), removed + gone
        files[archive] = data
    files["autograder/rubric.toml"] = visible_rubric(rubric).encode("utf-8")
    cases = public_cases(visible)
    with tempfile.TemporaryDirectory() as staging:
        split_goldens(goldens_dir, cases, Path(staging), None)
        for path in sorted(Path(staging).iterdir()):
            files[f"autograder/goldens/data/{path.name}"] = path.read_bytes()
    spec = WheelSpec(
        name=CHECKER_NAME,
        version=__version__,
        summary="The public checks of the NMT homework, for students (nmt-check NOTEBOOK)",
        files=files,
        requires=CHECKER_REQUIRES,
        scripts={"nmt-check": f"{ENTRY}:main"},
    )
    hidden = {c.id for c in REGISTRY} - keep
    if set(removed) != hidden:
        raise ValueError(f"hidden checks not found in the check modules: {hidden - set(removed)}")
    return BuiltChecker(
        write_wheel(spec, out_dir),
        tuple(sorted(keep)),
        tuple(sorted(removed)),
        tuple(sorted(cases)),
    )
