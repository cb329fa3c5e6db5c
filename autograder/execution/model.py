"""What executing the notebook found, as data (``autograder.report`` words it).

An ``Execution`` is built by the parent from the sandbox's answer (``read.read_execution``):
how the run ended and in which cell, the figures the notebook saved, the validation losses its
own cells printed beside the reference's calibrated range. It earns no points.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class ExecutionEnd(StrEnum):
    """How the notebook's run ended."""

    COMPLETED = "completed"
    """Every code cell ran without an error."""
    CELL_ERROR = "cell_error"
    """A cell raised an exception (``cell``, ``ename``, ``evalue``); later cells did not run."""
    CELL_TIMEOUT = "cell_timeout"
    """A cell ran past the per-cell timeout (``cell``)."""
    BUDGET = "budget"
    """The execution's total budget ran out (``cell``: the cell running, or the next one)."""
    DEAD_KERNEL = "dead_kernel"
    """The kernel died while running ``cell`` (``exit_status``, ``exit_signal``)."""
    KERNEL_FAILED = "kernel_failed"
    """The kernel did not start (``message``)."""
    UNREADABLE = "unreadable"
    """The notebook could not be read as a notebook (``message``)."""
    SANDBOX = "sandbox"
    """The sandbox stopped the run itself (its own time limit, memory, a crash): no notebook
    came back (``message``)."""


class Verdict(StrEnum):
    """A printed loss against the reference's calibrated range."""

    WITHIN = "within"
    """Inside the range."""
    ABOVE = "above"
    """Higher (worse) than every calibration run."""
    BELOW = "below"
    """Lower (better) than every calibration run."""
    UNCALIBRATED = "uncalibrated"
    """No range for this profile and data source."""


@dataclass(frozen=True)
class FigureFile:
    """A file the notebook saved in its figures folder."""

    name: str
    """The file's name (student-controlled text)."""
    size: int
    """Its size in bytes."""


@dataclass(frozen=True)
class LossReading:
    """The validation loss the notebook printed for one experiment run."""

    experiment: str
    """The run's key, as the reference names it: ``encdec/hidden16_small``."""
    label: str
    """What the run is, for people: ``2.2.4, hidden 16, small dataset``."""
    value: float
    """The printed loss (lowest validation loss; the last one for a scaling run)."""
    low: float | None = None
    """The lowest value of the reference's calibration runs (None: uncalibrated)."""
    high: float | None = None
    """The highest value of the reference's calibration runs."""
    seeds: int = 0
    """How many calibration runs the range comes from."""

    @property
    def verdict(self) -> Verdict:
        """Where ``value`` falls against the range (NaN is above)."""
        if self.low is None or self.high is None:
            return Verdict.UNCALIBRATED
        if self.value < self.low:
            return Verdict.BELOW
        if self.value <= self.high:
            return Verdict.WITHIN
        return Verdict.ABOVE


@dataclass(frozen=True)
class Execution:
    """What running the submitted notebook top to bottom found (no points)."""

    profile: str
    """The notebook's ``PROFILE``."""
    device: str
    """The notebook's ``DEVICE``."""
    end: ExecutionEnd
    """How the run ended."""
    cell: int | None = None
    """The submitted notebook's cell (from 0, markdown cells counted) where it stopped."""
    ename: str = ""
    """The exception's class name, for a cell error (student-controlled text)."""
    evalue: str = ""
    """The exception's message, for a cell error (student-controlled text)."""
    message: str = ""
    """Why, for an end without a cell (the kernel's or the sandbox's words)."""
    exit_status: int | None = None
    """A dead kernel's exit status (negative: killed by that signal), when known."""
    exit_signal: str | None = None
    """A dead kernel's signal name (``SIGKILL``), when it was killed by one."""
    cells_run: int = 0
    """Code cells of the submission that ran (the failing one included)."""
    code_cells: int = 0
    """Code cells of the submission."""
    figures: tuple[FigureFile, ...] = ()
    """The files found in the figures folder."""
    expected_figures: tuple[str, ...] = ()
    """The handout's figures the template saves."""
    losses: tuple[LossReading, ...] = ()
    """The validation losses the notebook printed, in the order printed."""
    data_source: str = ""
    """Which data the notebook said it loaded: "official", "offline" or "" (not printed)."""
    parameters_cell: str = ""
    """Where the parameters went: "tag", "assignment" (an untagged cell assigning them) or
    "none" (at the top, where the notebook's own assignments override them)."""
    dropped: str = ""
    """What was dropped from the executed notebook to fit its size cap ("", "images",
    "outputs")."""
    gpu: bool | None = None
    """Whether the sandbox showed the kernel a GPU (None: unknown)."""
    seconds: float = 0.0
    """Wall time of the run, kernel start included."""
    cell_timeout_s: float = 0.0
    """The per-cell timeout it ran with."""
    budget_s: float = 0.0
    """The total budget it ran with."""

    @property
    def missing_figures(self) -> tuple[str, ...]:
        """The expected figures that were not saved (or are empty)."""
        saved = {f.name for f in self.figures if f.size > 0}
        return tuple(name for name in self.expected_figures if name not in saved)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON for results.json's ``extra_data`` (and the class report)."""
        return {
            "profile": self.profile,
            "device": self.device,
            "end": str(self.end),
            "cell": self.cell,
            "ename": self.ename,
            "evalue": self.evalue,
            "message": self.message,
            "exit_status": self.exit_status,
            "exit_signal": self.exit_signal,
            "cells_run": self.cells_run,
            "code_cells": self.code_cells,
            "figures": [{"name": f.name, "size": f.size} for f in self.figures],
            "expected_figures": list(self.expected_figures),
            "missing_figures": list(self.missing_figures),
            "losses": [
                {
                    "experiment": r.experiment,
                    "value": _finite(r.value),
                    "low": r.low,
                    "high": r.high,
                    "verdict": str(r.verdict),
                }
                for r in self.losses
            ],
            "data_source": self.data_source,
            "parameters_cell": self.parameters_cell,
            "dropped": self.dropped,
            "gpu": self.gpu,
            "seconds": round(self.seconds, 3),
            "cell_timeout_s": self.cell_timeout_s,
            "budget_s": self.budget_s,
        }


def _finite(value: float) -> float | str:
    """JSON has no NaN: a non-finite loss is written as its text ("nan", "inf")."""
    return value if value == value and abs(value) != float("inf") else str(value)
