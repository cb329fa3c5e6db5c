"""What a deployment grades with, and what is secret: one object for every front end.

A ``GraderConfig`` names the rubric, the goldens directories and the paths the sandboxed child
must never see. Nothing assumes a checkout: ``GraderConfig.default()`` works the same from the
repository and from an installed wheel, and each deployment (the Gradescope zip, the students'
checker, a TA's batch) builds its own.
"""

from __future__ import annotations

import importlib.util
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path

from autograder.goldens import GOLDENS_DIR
from autograder.rubric import DEFAULT_RUBRIC
from autograder.sandbox import Launcher, SandboxLimits

PACKAGE_DIR = Path(__file__).resolve().parent
"""The installed (or checked-out) ``autograder`` package: checks, rubric and goldens."""


def _reference_dir() -> Path | None:
    """Where the ``reference`` package is, when it is installed beside the grader."""
    try:
        spec = importlib.util.find_spec("reference")
    except (ImportError, ValueError):
        return None
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).resolve().parent


def _checkout_root() -> Path | None:
    """The repository when the grader runs from a checkout (it holds reference and goldens)."""
    root = PACKAGE_DIR.parent
    return root if (root / "pyproject.toml").is_file() and (root / "reference").is_dir() else None


def default_secret_paths() -> tuple[Path, ...]:
    """Everything of ours the child must not see: this package (checks, rubric, goldens), the
    reference solution, the checkout, the system temporary directory (other workspaces)."""
    paths = [PACKAGE_DIR, _reference_dir(), _checkout_root(), Path(tempfile.gettempdir())]
    return tuple(dict.fromkeys(p.resolve() for p in paths if p is not None))


@dataclass(frozen=True)
class GraderConfig:
    """The rubric, the goldens and the secrets of one deployment."""

    rubric: Path = DEFAULT_RUBRIC
    """The rubric file (points and visibility per check)."""
    goldens: tuple[Path, ...] = (GOLDENS_DIR,)
    """Directories of golden cases (a deployment may split public and hidden cases)."""
    secret_paths: tuple[Path, ...] = field(default_factory=default_secret_paths)
    """Paths the sandboxed child must not see, wherever they are on the machine."""
    limits: SandboxLimits = field(default_factory=SandboxLimits)
    """The child's limits; their ``hide_paths`` is filled from ``secret_paths``."""
    launcher: Launcher | None = field(default=None, compare=False)
    """What starts the sandbox's children: None, a fresh interpreter each; a
    ``autograder.sandbox.ForkServer`` forks them from a warm process (the batch's workers)."""

    def sandbox_limits(self) -> SandboxLimits:
        """The child's limits, hiding every secret path."""
        hidden = tuple(str(p) for p in self.secret_paths)
        extra = tuple(self.limits.hide_paths or ())
        return replace(self.limits, hide_paths=tuple(dict.fromkeys(hidden + extra)))

    def with_options(
        self, *, rubric: Path | None = None, limits: SandboxLimits | None = None
    ) -> GraderConfig:
        """A copy with another rubric or other limits (the command line's options)."""
        changes = {}
        if rubric is not None:
            changes["rubric"] = Path(rubric)
        if limits is not None:
            changes["limits"] = limits
        return replace(self, **changes)
