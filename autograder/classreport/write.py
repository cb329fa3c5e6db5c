"""``write_class_report``: the class-level files of a batch, from its per-student records."""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from autograder.classreport.analysis import analyse_class
from autograder.classreport.gradebook import gradebook_table, item_table, write_csv
from autograder.classreport.html import render_report
from autograder.classreport.records import SubmissionRecord
from autograder.classreport.similarity import group_identical


@dataclass(frozen=True)
class ClassReportPaths:
    """The files ``write_class_report`` wrote."""

    gradebook: Path
    """gradebook.csv: one row per student."""
    item_analysis: Path
    """item_analysis.csv: one row per check."""
    html: Path
    """report.html: the self-contained page for TAs."""


def write_class_report(
    records: Iterable[SubmissionRecord],
    out_dir: Path,
    *,
    title: str = "Class report",
    question_titles: Mapping[str, str] | None = None,
    ignore_fingerprints: Collection[str] = (),
) -> ClassReportPaths:
    """Write gradebook.csv, item_analysis.csv and report.html into ``out_dir``.

    ``out_dir`` is the batch output folder: the records' ``feedback_path`` are relative to it,
    and report.html links to them from there. ``ignore_fingerprints`` holds the fingerprints of
    code that is expected to be shared (the untouched template). Raises ``ValueError`` when two
    records have the same student id.
    """
    out_dir = Path(out_dir)
    analysis = analyse_class(records)
    groups = group_identical(analysis.records, ignore=frozenset(ignore_fingerprints))
    gradebook = write_csv(out_dir / "gradebook.csv", *gradebook_table(analysis))
    items = write_csv(out_dir / "item_analysis.csv", *item_table(analysis))
    page = render_report(analysis, groups, title=title, question_titles=question_titles)
    report = out_dir / "report.html"
    temporary = report.with_name(f".{report.name}.tmp")
    temporary.write_text(page, encoding="utf-8")
    os.replace(temporary, report)
    return ClassReportPaths(gradebook=gradebook, item_analysis=items, html=report)
