"""The validation losses the template's cells print, read back from the executed notebook.

The notebook's experiment cells print one line per training run (``autograder/notebook/
template/``): ``hidden 16, small dataset: lowest validation loss 2.9132 ...`` (2.2.4),
``decoder-only, hidden 128: lowest validation loss ...`` (2.3.3), ``hidden 32, 2 head(s): 30,366
parameters, lowest validation loss ...`` (2.3.5) and ``hidden 16: 5,342 parameters, 42 epochs,
1.37e+10 FLOPs, final validation loss ...`` (2.4.1). Each is keyed as the reference's
experiments name the run (``encdec/hidden16_small``), which is how the calibration
(``calibration.json``, ``python -m autograder.execution.calibrate``) names it too. The text is
the student's output: it is matched line by line, with bounded patterns, and never run.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from autograder.execution.model import LossReading

CALIBRATION_FILE = Path(__file__).resolve().parent / "calibration.json"
"""The reference's ranges, by profile, data source and run."""
NUMBER = r"(nan|-?inf|-?\d{1,6}(?:\.\d{1,12})?(?:e[-+]?\d{1,3})?)"
"""A printed loss (Python's ``:.4f`` of a float, NaN and infinities included)."""
MAX_LINE = 400
"""Longer lines are not the template's."""


@dataclass(frozen=True)
class Pattern:
    """How one experiment's cell prints a run."""

    experiment: str
    """The experiment, as the reference names it (``encdec``)."""
    regex: re.Pattern[str]
    """Matches one printed line; groups: the run's sizes, then the loss."""
    key: str
    """The run's key from the groups (``hidden{0}_{1}``)."""
    label: str
    """The run for people (``2.2.4, hidden {0}, {1} dataset``)."""


PATTERNS = (
    Pattern(
        "encdec",
        re.compile(rf"^hidden (\d{{1,5}}), (small|large) dataset: lowest validation loss {NUMBER}"),
        "hidden{0}_{1}",
        "2.2.4, hidden {0}, {1} dataset",
    ),
    Pattern(
        "decoder",
        re.compile(rf"^decoder-only, hidden (\d{{1,5}}): lowest validation loss {NUMBER}"),
        "hidden{0}_small",
        "2.3.3, decoder-only, hidden {0}",
    ),
    Pattern(
        "heads",
        re.compile(
            rf"^hidden (\d{{1,5}}), (\d{{1,3}}) head\(s\): [\d,]{{1,15}} parameters, "
            rf"lowest validation loss {NUMBER}"
        ),
        "hidden{0}_heads{1}",
        "2.3.5, hidden {0}, {1} head(s)",
    ),
    Pattern(
        "scaling",
        re.compile(
            rf"^hidden (\d{{1,5}}): [\d,]{{1,15}} parameters, \d{{1,6}} epochs, \S{{1,20}} FLOPs, "
            rf"final validation loss {NUMBER}"
        ),
        "hidden{0}",
        "2.4.1, hidden {0} (final loss)",
    ),
)
"""Every printed run the report reads, by experiment."""


def read_loss(line: str) -> tuple[str, str, float] | None:
    """(run key, label, loss) of a printed line, or None when it is no experiment's line."""
    if len(line) > MAX_LINE:
        return None
    for pattern in PATTERNS:
        match = pattern.regex.match(line.strip())
        if match:
            sizes, value = match.groups()[:-1], match.groups()[-1]
            key = f"{pattern.experiment}/{pattern.key.format(*sizes)}"
            return key, pattern.label.format(*sizes), float(value)
    return None


def read_losses(lines: list[str], *, profile: str, source: str) -> tuple[LossReading, ...]:
    """Every run's printed loss (the last print of a run wins), with its calibrated range."""
    found: dict[str, LossReading] = {}
    ranges = calibration().get(profile, {}).get(source, {})
    for line in lines:
        read = read_loss(line)
        if read is None:
            continue
        key, label, value = read
        calibrated = ranges.get(key, {})
        found.pop(key, None)
        found[key] = LossReading(
            key,
            label,
            value,
            calibrated.get("low"),
            calibrated.get("high"),
            int(calibrated.get("seeds", 0)),
        )
    return tuple(found.values())


@cache
def calibration() -> dict[str, Any]:
    """``calibration.json``'s ranges: profile -> data source -> run -> {low, high, seeds}
    (empty when the file is missing)."""
    try:
        data = json.loads(CALIBRATION_FILE.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data.get("ranges", {})
