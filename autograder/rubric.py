"""The rubric: points and visibility per check, and the sandbox's time budget per question, from
a TOML file a course can edit."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from autograder.checks.base import VISIBILITIES, Check
from autograder.manifest import BY_NUMBER

DEFAULT_RUBRIC = Path(__file__).resolve().parent / "rubric.toml"


@dataclass(frozen=True)
class RubricLine:
    """Points and visibility of one check."""

    points: float
    """Points the check is worth."""
    visibility: str
    """Gradescope visibility."""
    enabled: bool = True
    """False (``enabled = false``): the check is not run, shown nor counted, and its probes
    are not sent (a course that grades without the training checks, say)."""


@dataclass(frozen=True)
class Rubric:
    """The rubric file, parsed and validated."""

    title: str
    """Assignment title for reports."""
    lines: dict[str, RubricLine]
    """By check id."""
    budgets: dict[str, float] = field(default_factory=dict)
    """Wall-clock seconds the sandbox gives each question's probes (its training run included),
    by question; a question not named gets ``SandboxLimits.default_budget_s``."""

    def line(self, check: Check) -> RubricLine:
        return self.lines[check.id]

    def enabled(self, checks: list[Check]) -> list[Check]:
        """The checks of ``checks`` the rubric does not turn off, in their order."""
        return [c for c in checks if self.lines[c.id].enabled]

    def validate(self, checks: list[Check]) -> None:
        """Every check has a line and every line names a check (a typo is an error)."""
        ids = {c.id for c in checks}
        missing, unknown = sorted(ids - self.lines.keys()), sorted(self.lines.keys() - ids)
        if missing:
            raise ValueError(f"the rubric has no line for {', '.join(missing)}")
        if unknown:
            raise ValueError(f"the rubric names unknown checks: {', '.join(unknown)}")


def load_rubric(path: Path = DEFAULT_RUBRIC) -> Rubric:
    """Read and validate a rubric file; errors name the offending line."""
    try:
        data = tomllib.loads(Path(path).read_text())
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise ValueError(f"cannot read rubric {path}: {error}") from None
    lines = {}
    for check_id, entry in data.get("checks", {}).items():
        points, visibility = entry.get("points", 1.0), entry.get("visibility", "visible")
        if not isinstance(points, int | float) or points < 0:
            raise ValueError(f"rubric {path}: {check_id} has invalid points {points!r}")
        if visibility not in VISIBILITIES:
            raise ValueError(f"rubric {path}: {check_id} has invalid visibility {visibility!r}")
        enabled = entry.get("enabled", True)
        if not isinstance(enabled, bool):
            raise ValueError(f"rubric {path}: {check_id} has invalid enabled {enabled!r}")
        lines[check_id] = RubricLine(float(points), visibility, enabled)
    budgets = _budgets(data.get("budgets", {}), path)
    return Rubric(title=data.get("title", "Autograder"), lines=lines, budgets=budgets)


def _budgets(table: dict, path: Path) -> dict[str, float]:
    budgets = {}
    for question, seconds in table.items():
        if question not in BY_NUMBER:
            raise ValueError(f"rubric {path}: [budgets] names no question {question!r}")
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds <= 0:
            raise ValueError(f"rubric {path}: [budgets] {question} has invalid seconds {seconds!r}")
        budgets[question] = float(seconds)
    return budgets
