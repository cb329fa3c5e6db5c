"""Gradebook: one row per submission, one column per question, for TAs."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from autograder.manifest import question_sort_key
from autograder.outcome import GradingReport


def gradebook_rows(reports: Sequence[GradingReport]) -> tuple[list[str], list[dict]]:
    """The column names and one row per report: submission, each question's score, total,
    status."""
    questions = sorted({c.question for r in reports for c in r.checks}, key=question_sort_key)
    rows = []
    for report in reports:
        row: dict = {"submission": report.submission}
        for question in questions:
            row[question] = sum(c.score for c in report.checks if c.question == question)
        row["total"] = report.score
        row["max"] = report.max_score
        row["status"] = report.status
        rows.append(row)
    return ["submission", *questions, "total", "max", "status"], rows


def write_gradebook_csv(reports: Sequence[GradingReport], path: Path) -> Path:
    columns, rows = gradebook_rows(reports)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


def render_gradebook(reports: Sequence[GradingReport]) -> str:
    """A fixed-width table for a terminal."""
    columns, rows = gradebook_rows(reports)
    cells = [columns] + [[_cell(row[c]) for c in columns] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    lines = [
        "  ".join(
            v.ljust(w) if i == 0 else v.rjust(w)
            for i, (v, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _cell(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)
