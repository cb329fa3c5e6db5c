"""What a batch writes under OUT: each student's files and the class report.

    OUT/<student>/results.json, feedback.md    per student (a group's members get the same)
    OUT/gradebook.csv, item_analysis.csv, report.html    the class (``autograder.classreport``)
    OUT/.batch/                                 the batch's state: cache, log, extracted zips

Student folders are named by the student's id (``inputs.student_folder_names``). Every file is
written through a temporary name and renamed into place.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from autograder.batch.cache import CachedResult
from autograder.batch.inputs_model import InputError, Submission
from autograder.classreport import SubmissionRecord, record_from_results, write_class_report
from autograder.files import write_json, write_text
from autograder.manifest import QUESTIONS

STATE = ".batch"
"""The folder under OUT that holds the batch's own state."""


@contextmanager
def locked_output(out: Path) -> Iterator[Path]:
    """Create OUT (0700: students' code and feedback are personal data) and its state folder,
    and hold a lock on it, so two batches never write into one OUT; yields the state folder."""
    out.mkdir(mode=0o700, parents=True, exist_ok=True)
    state = out / STATE
    state.mkdir(mode=0o700, exist_ok=True)
    descriptor = os.open(state / "lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InputError(f"another batch is writing into {out}") from None
        yield state
    finally:
        os.close(descriptor)


def write_student(out: Path, folder: str, result: CachedResult) -> None:
    """results.json and feedback.md of one student."""
    write_json(out / folder / "results.json", result.results)
    write_text(out / folder / "feedback.md", result.feedback)


def class_records(
    graded: Iterable[tuple[Submission, CachedResult]], folders: dict[str, str]
) -> list[SubmissionRecord]:
    """One record per student of every graded submission."""
    records = []
    for submission, result in graded:
        for student in submission.students:
            record = record_from_results(
                result.results,
                student_id=student.id,
                name=student.name,
                email=student.email,
                feedback_path=f"{folders[student.id]}/feedback.md",
                fingerprint=result.fingerprint,
                submission_id=submission.id,
            )
            records.append(replace(record, status=result.status))
    return records


def write_class(
    out: Path, records: list[SubmissionRecord], *, title: str, ignore: set[str]
) -> Path:
    """gradebook.csv, item_analysis.csv and report.html; the report's path."""
    paths = write_class_report(
        records,
        out,
        title=title,
        question_titles={q.number: q.title for q in QUESTIONS},
        ignore_fingerprints=ignore,
    )
    return paths.html
