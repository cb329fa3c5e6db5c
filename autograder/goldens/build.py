"""Generate the goldens from the reference (``python grade.py goldens``), or compare.

Imports the reference and torch: never on the grading path. Every case of ``autograder.cases``
is run against the reference as one namespace (``reference.mutants.reference_namespace``), in
float64.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from autograder.cases import SEED, STANDIN, load_all
from autograder.goldens import (
    GOLDENS_DIR,
    CaseGolden,
    MutantGolden,
    load_goldens,
    write_case,
    write_index,
)


def vocabulary(impl) -> list[str]:
    """Token names by index, from the reference's data module."""
    return [impl.INDEX_TO_CHAR[i] for i in range(impl.VOCAB_SIZE)]


def _mutant(case, impl, reference) -> MutantGolden:
    """What a mutant answers to a case (its error when it raises); only outputs that differ
    from the reference's are kept, so an unchanged output never identifies a bug."""
    try:
        data = case.run(impl)
    except Exception as error:  # noqa: BLE001 - a mutant may break where the reference works
        return MutantGolden({}, {}, f"{type(error).__name__}: {error}"[:300])
    expected = {k: np.asarray(v) for k, v in data.expected.items()}
    facts = json.loads(json.dumps(data.facts))
    return MutantGolden(expected, facts)


def generate_goldens() -> tuple[list[CaseGolden], dict]:
    """Every case's golden, computed from the reference, with what each known bug of its
    question answers (``reference.mutants.BUGS``), and the shared metadata."""
    from reference.mutants import BUGS, reference_namespace

    impl = reference_namespace()
    mutants = {bug.id: reference_namespace(bug.patches) for bug in BUGS}
    goldens = []
    for case in load_all().values():
        data = case.run(impl)
        base = case.id.removesuffix(STANDIN)
        goldens.append(
            CaseGolden(
                id=case.id,
                question=case.question,
                probe=case.probe,
                kwargs=data.kwargs,
                inputs={k: np.asarray(v) for k, v in data.inputs.items()},
                expected={k: np.asarray(v) for k, v in data.expected.items()},
                facts=json.loads(json.dumps(data.facts)),
                mutants={
                    bug.id: _mutant(case, mutants[bug.id], impl)
                    for bug in BUGS
                    if bug.question == case.question and (not bug.cases or base in bug.cases)
                },
            )
        )
    bugs = {
        bug.id: {"question": bug.question, "description": bug.description, "hint": bug.hint}
        for bug in BUGS
    }
    return goldens, {"seed": SEED, "vocabulary": vocabulary(impl), "bugs": bugs}


def write_goldens(directory: Path = GOLDENS_DIR) -> Path:
    """Regenerate every golden file of ``directory`` (the explicit command's work)."""
    goldens, meta = generate_goldens()
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    for golden in goldens:
        write_case(directory, golden)
    write_index(directory, meta, [g.id for g in goldens])
    return directory


def _close(new, old, rtol: float, atol: float) -> bool:
    """Equal JSON values, floats within the tolerance."""
    if isinstance(new, float) or isinstance(old, float):
        return isinstance(old, int | float) and bool(np.isclose(new, old, rtol=rtol, atol=atol))
    if isinstance(new, dict) and isinstance(old, dict):
        return new.keys() == old.keys() and all(_close(new[k], old[k], rtol, atol) for k in new)
    if isinstance(new, list) and isinstance(old, list):
        return len(new) == len(old) and all(
            _close(a, b, rtol, atol) for a, b in zip(new, old, strict=True)
        )
    return new == old


def compare_goldens(
    directory: Path = GOLDENS_DIR, *, rtol: float = 1e-9, atol: float = 1e-12
) -> list[str]:
    """Differences between the stored goldens and what the reference computes now."""
    stored = load_goldens(directory)
    goldens, meta = generate_goldens()
    problems = []
    if list(stored.cases) != [g.id for g in goldens]:
        problems.append(f"cases differ: {list(stored.cases)} != {[g.id for g in goldens]}")
    if stored.meta != meta:
        problems.append("index.json differs")
    for new in goldens:
        old = stored.cases.get(new.id)
        if old is None:
            continue
        for part in ("question", "probe", "kwargs", "facts"):
            if not _close(getattr(new, part), getattr(old, part), rtol, atol):
                problems.append(f"{new.id}: {part} differs")
        if new.mutants.keys() != old.mutants.keys():
            problems.append(f"{new.id}: the mutants differ")
        for bug in new.mutants.keys() & old.mutants.keys():
            a, b = new.mutants[bug], old.mutants[bug]
            if a.error != b.error or not _close(a.facts, b.facts, rtol, atol):
                problems.append(f"{new.id}: mutant {bug} differs")
            elif a.expected.keys() != b.expected.keys() or any(
                a.expected[k].shape != b.expected[k].shape
                or not np.allclose(
                    a.expected[k], b.expected[k], rtol=rtol, atol=atol, equal_nan=True
                )
                for k in a.expected
            ):
                problems.append(f"{new.id}: mutant {bug} arrays differ")
        for part in ("inputs", "expected"):
            a, b = getattr(new, part), getattr(old, part)
            if a.keys() != b.keys():
                problems.append(f"{new.id}: {part} names differ")
                continue
            for name in a:
                if a[name].shape != b[name].shape or not np.allclose(
                    a[name], b[name], rtol=rtol, atol=atol
                ):
                    problems.append(f"{new.id}: {part}.{name} differs")
    return problems
