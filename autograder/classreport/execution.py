"""The class's notebook executions (``batch --execute``), digested for the report's section.

Each record's ``execution`` is results.json's ``extra_data.execution`` (``autograder.execution.
model.Execution.to_json``). ``execution_rows`` gives one row per student (how the run ended,
figures, losses outside the reference's range); ``loss_stats`` gives, per experiment run, the
class's printed losses beside the reference's range. No points: this tells TAs what the
students' own notebooks do.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from autograder.classreport.records import SubmissionRecord

ENDS = {
    "completed": "every cell ran",
    "cell_error": "error",
    "cell_timeout": "cell timed out",
    "budget": "out of time",
    "dead_kernel": "kernel died",
    "kernel_failed": "kernel did not start",
    "unreadable": "unreadable notebook",
    "sandbox": "stopped by the sandbox",
}
"""How each end of a run is named for TAs (``ExecutionEnd``'s values)."""


@dataclass(frozen=True)
class ExecutionRow:
    """One student's execution."""

    record: SubmissionRecord
    """The student."""
    end: str
    """How the run ended, in words (``ENDS``)."""
    detail: str
    """The cell and the error, or why (student-influenced text)."""
    completed: bool
    """Whether every cell ran."""
    figures: str
    """Expected figures saved, "5/7"."""
    outside: int
    """Printed losses outside the reference's range."""
    seconds: float
    """Wall time of the run."""


@dataclass(frozen=True)
class LossStats:
    """The class's printed losses for one experiment run."""

    experiment: str
    """The run's key (``encdec/hidden16_small``)."""
    n: int
    """Students who printed it."""
    median: float
    """Their median."""
    lowest: float
    """Their lowest."""
    highest: float
    """Their highest."""
    reference: str
    """The reference's range, "1.2300-1.4500", or "" when uncalibrated."""
    outside: int
    """Students outside that range."""


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _detail(execution: Mapping[str, Any]) -> str:
    cell = execution.get("cell")
    where = f"cell {cell + 1}" if isinstance(cell, int) and not isinstance(cell, bool) else ""
    if execution.get("end") == "cell_error":
        error = f"{execution.get('ename', '')}: {execution.get('evalue', '')}"
        return f"{where}: {error}" if where else error
    if execution.get("end") in ("kernel_failed", "unreadable", "sandbox"):
        return str(execution.get("message", ""))
    return where


def execution_rows(records: Iterable[SubmissionRecord]) -> list[ExecutionRow]:
    """A row per student whose notebook was executed, in the records' order."""
    rows = []
    for record in records:
        e = record.execution
        if not e:
            continue
        missing = e.get("missing_figures") if isinstance(e.get("missing_figures"), list) else []
        expected = len(e["expected_figures"]) if isinstance(e.get("expected_figures"), list) else 0
        losses = e.get("losses") if isinstance(e.get("losses"), list) else []
        outside = sum(
            isinstance(r, Mapping) and r.get("verdict") in ("above", "below") for r in losses
        )
        rows.append(
            ExecutionRow(
                record=record,
                end=ENDS.get(str(e.get("end")), str(e.get("end"))),
                detail=_detail(e),
                completed=e.get("end") == "completed",
                figures=f"{expected - len(missing)}/{expected}",
                outside=outside,
                seconds=_number(e.get("seconds")) or 0.0,
            )
        )
    return rows


def loss_stats(records: Iterable[SubmissionRecord]) -> list[LossStats]:
    """Per experiment run (in the order first printed), the class's values and the range."""
    values: dict[str, list[float]] = {}
    ranges: dict[str, str] = {}
    outside: dict[str, int] = {}
    for record in records:
        losses = (record.execution or {}).get("losses")
        for reading in losses if isinstance(losses, list) else ():
            if not isinstance(reading, Mapping):
                continue
            key, value = str(reading.get("experiment", ""))[:80], _number(reading.get("value"))
            if not key or value is None:
                continue
            values.setdefault(key, []).append(value)
            low, high = _number(reading.get("low")), _number(reading.get("high"))
            if low is not None and high is not None:
                ranges.setdefault(key, f"{low:.4f}-{high:.4f}")
            outside[key] = outside.get(key, 0) + (reading.get("verdict") in ("above", "below"))
    return [
        LossStats(
            key,
            len(found),
            statistics.median(found),
            min(found),
            max(found),
            ranges.get(key, ""),
            outside.get(key, 0),
        )
        for key, found in values.items()
    ]
