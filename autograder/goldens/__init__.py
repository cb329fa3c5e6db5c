"""Goldens: every probe case's call and the reference's answers, stored as plain data.

One case per pair of files in a goldens directory: ``<case>.npz`` holds its arrays (``inputs.*``
sent to the child, ``expected.*`` kept by the parent; read with ``allow_pickle=False``) and
``<case>.json`` its question, probe, JSON arguments (``kwargs``, sent) and JSON answers
(``facts``, kept). ``index.json`` holds what every case shares (the seed, the vocabulary). The
files are written only by the explicit command ``python grade.py goldens`` (``--check``
compares), which imports the reference and torch (``autograder.goldens.build``); reading them
needs numpy only, so the grading parent stays torch-free.

The goldens ship as package data (``autograder/goldens/data``). A deployment may split them by
the rubric's visibility (``split_cases``): the student checker carries only the cases of visible
checks, and the Gradescope zip keeps the rest readable by root alone. ``load_goldens`` reads any
number of directories.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from autograder.files import write_json

GOLDENS_DIR = Path(__file__).resolve().parent / "data"
"""Where the package's goldens live (all cases)."""
INDEX = "index.json"


class GoldensError(Exception):
    """Goldens that are missing or cannot be read: a fault of the grader's set-up."""


@dataclass(frozen=True)
class MutantGolden:
    """What a known-bug mutant of the reference answers to a case (for diagnosis)."""

    expected: dict[str, np.ndarray]
    """The mutant's output arrays."""
    facts: dict[str, Any]
    """The mutant's JSON answers."""
    error: str | None = None
    """Set when the mutant raised on the case instead of answering."""


@dataclass(frozen=True)
class CaseGolden:
    """One case: the probe call and the reference's answers."""

    id: str
    """The case id (``autograder.cases``)."""
    question: str
    """The question it belongs to."""
    probe: str
    """The child-side probe it calls."""
    kwargs: dict[str, Any]
    """JSON arguments of the call (sent to the child)."""
    inputs: dict[str, np.ndarray]
    """Arrays of the call (sent to the child)."""
    expected: dict[str, np.ndarray]
    """The reference's output arrays (never sent)."""
    facts: dict[str, Any]
    """The reference's JSON answers and facts about the inputs (never sent)."""
    mutants: dict[str, MutantGolden] = field(default_factory=dict)
    """What each known bug of the case's question answers, by bug id (never sent)."""


@dataclass(frozen=True)
class Goldens:
    """The loaded goldens."""

    cases: dict[str, CaseGolden]
    """By case id, in the order of the index."""
    meta: dict[str, Any]
    """What every case shares: ``seed``, ``vocabulary`` (token names by index)."""
    digest: str
    """A hash of every file read: changes whenever a golden changes."""

    def case(self, case_id: str) -> CaseGolden:
        """One case; GoldensError when this deployment does not have it."""
        try:
            return self.cases[case_id]
        except KeyError:
            raise GoldensError(f"no golden for case {case_id!r} in this deployment") from None


def _read_case(directory: Path, case_id: str, hasher) -> CaseGolden:
    json_path, npz_path = directory / f"{case_id}.json", directory / f"{case_id}.npz"
    text = json_path.read_bytes()
    hasher.update(text)
    data = json.loads(text)
    inputs: dict[str, np.ndarray] = {}
    expected: dict[str, np.ndarray] = {}
    mutant_arrays: dict[str, dict[str, np.ndarray]] = {}
    if npz_path.is_file():
        hasher.update(npz_path.read_bytes())
        with np.load(npz_path, allow_pickle=False) as arrays:
            for key in arrays.files:
                part, _, name = key.partition(".")
                if part == "mutant":
                    bug, _, name = name.partition(".")
                    mutant_arrays.setdefault(bug, {})[name] = arrays[key]
                else:
                    {"inputs": inputs, "expected": expected}[part][name] = arrays[key]
    mutants = {
        bug: MutantGolden(mutant_arrays.get(bug, {}), entry.get("facts", {}), entry.get("error"))
        for bug, entry in data.get("mutants", {}).items()
    }
    return CaseGolden(
        id=case_id,
        question=data["question"],
        probe=data["probe"],
        kwargs=data["kwargs"],
        inputs=inputs,
        expected=expected,
        facts=data.get("facts", {}),
        mutants=mutants,
    )


def load_goldens(directories: Path | Sequence[Path] = GOLDENS_DIR) -> Goldens:
    """Read the goldens of one or more directories (numpy and JSON only, no pickles)."""
    if isinstance(directories, str | Path):
        directories = [Path(directories)]
    hasher = hashlib.sha256()
    meta: dict[str, Any] | None = None
    cases: dict[str, CaseGolden] = {}
    try:
        for directory in map(Path, directories):
            index = directory / INDEX
            if not index.is_file():
                raise GoldensError(f"no goldens in {directory}; run `python grade.py goldens`")
            text = index.read_bytes()
            hasher.update(text)
            data = json.loads(text)
            meta = meta or {k: v for k, v in data.items() if k != "cases"}
            for case_id in data["cases"]:
                if (directory / f"{case_id}.json").is_file():
                    cases[case_id] = _read_case(directory, case_id, hasher)
    except (OSError, ValueError, KeyError) as error:
        raise GoldensError(f"cannot read the goldens: {type(error).__name__}: {error}") from None
    if meta is None:
        raise GoldensError("no goldens directory given")
    return Goldens(cases=cases, meta=meta, digest=hasher.hexdigest()[:16])


def write_case(directory: Path, golden: CaseGolden) -> None:
    """Write one case's two files (the goldens command's work)."""
    arrays = {f"inputs.{k}": v for k, v in golden.inputs.items()}
    arrays |= {f"expected.{k}": v for k, v in golden.expected.items()}
    for bug, mutant in golden.mutants.items():
        arrays |= {f"mutant.{bug}.{k}": v for k, v in mutant.expected.items()}
    if arrays:
        np.savez_compressed(directory / f"{golden.id}.npz", **arrays)
    data = {
        "question": golden.question,
        "probe": golden.probe,
        "kwargs": golden.kwargs,
        "facts": golden.facts,
        "mutants": {
            bug: {"facts": m.facts, **({"error": m.error} if m.error else {})}
            for bug, m in golden.mutants.items()
        },
    }
    write_json(directory / f"{golden.id}.json", data, indent=1, sort_keys=True)


def write_index(directory: Path, meta: dict[str, Any], case_ids: Iterable[str]) -> None:
    index = {**meta, "cases": list(case_ids)}
    write_json(directory / INDEX, index, indent=1, sort_keys=True)


def case_files(directory: Path, case_ids: Iterable[str]) -> list[Path]:
    """The files of some cases in a goldens directory (for packaging a subset)."""
    files = []
    for case_id in case_ids:
        files += [p for p in (directory / f"{case_id}.json", directory / f"{case_id}.npz")]
    return [p for p in files if p.is_file()]
