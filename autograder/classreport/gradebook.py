"""The class CSVs: gradebook.csv (one row per student) and item_analysis.csv (one per check).

Both are plain UTF-8 (no byte-order mark), comma-separated with a header row, columns in a fixed
order, numbers without float noise (at most four decimals, no exponent, no trailing zeros) and
empty cells for values that are undefined. A text cell that a spreadsheet would read as a
formula (starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return) gets a leading ``'``:
names and messages are student-controlled.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from autograder.classreport.analysis import ClassAnalysis

GRADEBOOK_COLUMNS = ("student_id", "name", "email")
"""The leading gradebook columns; one column per question, then ``total``, ``max``, ``status``."""
ITEM_COLUMNS = (
    "question",
    "check_id",
    "title",
    "max_points",
    "graded",
    "passed",
    "pass_rate",
    "discrimination",
)
"""The leading item-analysis columns; then ``failure_K`` and ``failure_K_count`` pairs."""
TOP_FAILURES = 3
"""Failure kinds per check in item_analysis.csv."""
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def format_number(value: float | None, *, digits: int = 4) -> str:
    """``3`` not ``3.0``, ``0.3`` not ``0.30000000000000004``; empty for ``None``."""
    if value is None:
        return ""
    text = f"{round(value, digits):.{digits}f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def safe_text(value: str | None) -> str:
    """A text cell no spreadsheet evaluates as a formula."""
    text = value or ""
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def gradebook_table(analysis: ClassAnalysis) -> tuple[list[str], list[list[str]]]:
    """Header and rows: id, name, email, points per question, total, max, status."""
    questions = [q.question for q in analysis.questions]
    header = [*GRADEBOOK_COLUMNS, *questions, "total", "max", "status"]
    rows = []
    for record in analysis.records:
        points = {q: 0.0 for q in questions}
        for check in record.checks:
            points[check.question] = points.get(check.question, 0.0) + check.score
        rows.append(
            [
                safe_text(record.student_id),
                safe_text(record.name),
                safe_text(record.email),
                *(format_number(points[q]) for q in questions),
                format_number(record.total),
                format_number(analysis.max_total),
                safe_text(record.status),
            ]
        )
    return header, rows


def item_table(
    analysis: ClassAnalysis, *, top: int = TOP_FAILURES
) -> tuple[list[str], list[list[str]]]:
    """Header and one row per check, with its ``top`` most frequent failure kinds."""
    header = list(ITEM_COLUMNS)
    for k in range(1, top + 1):
        header += [f"failure_{k}", f"failure_{k}_count"]
    rows = []
    for check in analysis.checks:
        row = [
            check.question,
            check.check_id,
            safe_text(check.title),
            format_number(check.max_score),
            str(check.n),
            str(check.n_passed),
            format_number(check.pass_rate),
            format_number(check.discrimination, digits=3),
        ]
        for k in range(top):
            failure = check.failures[k] if k < len(check.failures) else None
            row += [safe_text(failure.message), str(failure.count)] if failure else ["", ""]
        rows.append(row)
    return header, rows


def write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[str]]) -> Path:
    """Write one CSV (RFC 4180 quoting and CRLF line ends, as spreadsheets and LMSs expect)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path
