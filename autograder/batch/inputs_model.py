"""What a batch grades: submissions, the students behind them, and input errors."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

METADATA = "submission_metadata.yml"
"""The file of a Gradescope export that names each submission's students."""
NOTEBOOK_SUFFIX = ".ipynb"


class InputError(ValueError):
    """An input the batch cannot read at all (a missing folder, an unsafe zip); one line."""


def is_notebook_name(name: str) -> bool:
    """Whether a file name is a notebook's."""
    return name.lower().endswith(NOTEBOOK_SUFFIX)


@dataclass(frozen=True)
class Student:
    """One student of a submission."""

    id: str
    """Unique within the batch: the Gradescope student id (sid), else the email, else the
    submission's name."""
    name: str | None = None
    """Name, when the metadata has it."""
    email: str | None = None
    """Email, when the metadata has it."""


@dataclass(frozen=True)
class Submission:
    """One submitted notebook (a group's is shared by its members) or why there is none."""

    id: str
    """The submission's name in the input: the Gradescope folder, or the notebook's stem."""
    students: tuple[Student, ...]
    """Who submitted it (one, or a group's members)."""
    path: Path | None
    """The notebook to grade; None when the submission has no single notebook."""
    problem: str = ""
    """Why there is no notebook to grade (none, or several to choose from)."""
