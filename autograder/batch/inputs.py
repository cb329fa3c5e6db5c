"""Finding the submissions of a batch: a folder of notebooks, a zip, or a Gradescope export.

- A folder: each ``*.ipynb`` at its top is one student (the file's stem), each sub-folder is one
  student (the folder's name) whose notebook is the one inside it.
- A Gradescope export (a folder with ``submission_metadata.yml``): each folder the metadata
  names is one submission, and its ``:submitters:`` are the students (a group shares one).
- A zip of either: read by ``safezip`` into the batch's state folder, then as a folder (a zip
  whose entries all sit in one folder is read from that folder).

A submission folder with no notebook, or with several of which none is named like the
handout's (``nmt.ipynb``), is kept as a submission with a problem: it is listed as unreadable,
not silently dropped. Files that are not notebooks are listed as skipped.
"""

from __future__ import annotations

import re
import shutil
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

from autograder.batch.cache import file_hash
from autograder.batch.gradescope import read_metadata
from autograder.batch.inputs_model import (
    METADATA,
    InputError,
    Student,
    Submission,
    is_notebook_name,
)
from autograder.batch.safezip import MAX_BYTES, MAX_ENTRIES, extract_zip

HANDOUT_NAME = "nmt.ipynb"
"""The notebook's name as students receive it: preferred when a folder holds several."""
IGNORED_PARTS = (".ipynb_checkpoints", "__MACOSX")
RESERVED = frozenset({"gradebook.csv", "item_analysis.csv", "report.html"})
"""Names of the class-level files under OUT, which no student folder may take."""


@dataclass(frozen=True)
class Discovery:
    """The submissions of an input and what was left out."""

    submissions: tuple[Submission, ...]
    """In the order of their ids."""
    skipped: tuple[str, ...]
    """Files (or zip entries) that are not notebooks, relative to the input."""


def _visible(path: Path, root: Path) -> bool:
    parts = path.relative_to(root).parts
    return not any(p.startswith(".") or p in IGNORED_PARTS for p in parts)


def _pick_notebook(folder: Path) -> tuple[Path | None, str]:
    """The folder's notebook, or why there is none to grade."""
    notebooks = sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and is_notebook_name(p.name) and _visible(p, folder)
    )
    if len(notebooks) == 1:
        return notebooks[0], ""
    if not notebooks:
        return None, "the submission holds no notebook (.ipynb)"
    named = [p for p in notebooks if p.name == HANDOUT_NAME]
    if len(named) == 1:
        return named[0], ""
    names = ", ".join(p.relative_to(folder).as_posix() for p in notebooks)
    return None, f"the submission holds several notebooks ({names}); grade one by hand"


def _skipped(root: Path, used: set[Path], exclude: tuple[Path, ...]) -> list[str]:
    def excluded(path: Path) -> bool:
        resolved = path.resolve()
        return any(folder == resolved or folder in resolved.parents for folder in exclude)

    return sorted(
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file()
        and p not in used
        and p.name != METADATA
        and _visible(p, root)
        and not excluded(p)
    )


def _from_folder(root: Path, exclude: tuple[Path, ...] = ()) -> Discovery:
    metadata = read_metadata(root / METADATA) if (root / METADATA).is_file() else {}
    submissions = []
    for entry in sorted(root.iterdir()):
        if not _visible(entry, root) or entry.resolve() in exclude:
            continue
        if entry.is_file() and is_notebook_name(entry.name) and not metadata:
            submissions.append(Submission(entry.stem, (Student(entry.stem),), entry))
        elif entry.is_dir():
            path, problem = _pick_notebook(entry)
            students = metadata.get(entry.name, (Student(entry.name),))
            submissions.append(Submission(entry.name, students, path, problem))
    used = {s.path for s in submissions if s.path is not None}
    return Discovery(_unique_students(submissions), tuple(_skipped(root, used, exclude)))


def _unique_students(submissions: list[Submission]) -> tuple[Submission, ...]:
    """Student ids made unique across the batch (a repeated id gets ``-2``, ``-3``...)."""
    counts: Counter[str] = Counter()
    unique = []
    for submission in submissions:
        students = []
        for student in submission.students:
            counts[student.id] += 1
            n = counts[student.id]
            students.append(student if n == 1 else replace(student, id=f"{student.id}-{n}"))
        unique.append(replace(submission, students=tuple(students)))
    return tuple(unique)


def _zip_root(folder: Path) -> Path:
    entries = [e for e in folder.iterdir() if _visible(e, folder)]
    if len(entries) == 1 and entries[0].is_dir():
        return entries[0]
    return folder


def discover(
    source: Path,
    *,
    staging: Path,
    exclude: tuple[Path, ...] = (),
    max_entries: int = MAX_ENTRIES,
    max_bytes: int = MAX_BYTES,
) -> Discovery:
    """The submissions of a folder or zip (see the module docstring); ``exclude`` holds folders
    that are not submissions (the batch's output, when it lies inside the input). A zip is
    extracted once into ``staging/<its hash>``; InputError for an input that does not exist or
    cannot be read."""
    source = Path(source)
    exclude = tuple(p.resolve() for p in exclude)
    if source.is_dir():
        return _from_folder(source, exclude)
    if not source.is_file():
        raise InputError(f"{source} is neither a folder nor a zip of submissions")
    if is_notebook_name(source.name):
        raise InputError(f"{source} is one notebook: grade it with `grade.py grade`")
    target = staging / file_hash(source)
    if not target.is_dir():
        partial = staging / f".partial-{target.name}"
        if partial.exists():
            shutil.rmtree(partial)
        contents = extract_zip(source, partial, max_entries=max_entries, max_bytes=max_bytes)
        (partial / ".skipped").write_text("".join(f"{n}\n" for n in contents.skipped))
        partial.rename(target)
    found = _from_folder(_zip_root(target), exclude)
    zip_skipped = (target / ".skipped").read_text().splitlines()
    return replace(found, skipped=tuple(sorted({*found.skipped, *zip_skipped})))


def student_folder_names(submissions: tuple[Submission, ...]) -> dict[str, str]:
    """The folder under OUT of each student id: the id with only ``[A-Za-z0-9_.@+-]`` kept,
    never starting with a dot, unique."""
    names: dict[str, str] = {}
    taken: set[str] = set()
    for submission in submissions:
        for student in submission.students:
            base = re.sub(r"[^A-Za-z0-9_.@+-]", "_", student.id).lstrip(".")[:100] or "student"
            name, n = base, 1
            while name.lower() in taken or name in RESERVED:
                n += 1
                name = f"{base}-{n}"
            taken.add(name.lower())
            names[student.id] = name
    return names
