"""Calibrate the training checks on the reference: ``python -m autograder.cases.calibrate``.

Runs every training case (``autograder.cases.training.RUNS``) exactly as the child runs it (the
``train`` probe: the given training code, the case's stand-ins), with the reference as the
submission (``reference.mutants.reference_namespace``), for each seed and both data sources:
the official ``pig_latin_small.txt`` (found as the reference finds it: ``--data-dir``,
``$NMT_DATA_DIR``, ``./data``, ``../shared/data``) and the offline pairs. Writes
``autograder/cases/training_calibration.json`` (numbers only: no pair of the official file) and
prints a Markdown table for docs/grading.md. Then run ``python grade.py goldens``, which turns
the numbers into each case's limits.

Imports torch and the reference: never on the grading path.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np

from autograder.cases.training import CALIBRATION, RUNS, kwargs_of, limits
from autograder.files import write_json

SOURCES = ("official", "offline")


def official_bytes(data_dir: Path | None) -> np.ndarray:
    """The official small file's bytes, as the parent sends them; an error without it (the
    calibration needs both data sources)."""
    from reference.data import find_official_file

    path = find_official_file("small", data_dir)
    if path is None:
        raise SystemExit("pig_latin_small.txt not found: give --data-dir or set NMT_DATA_DIR")
    return np.frombuffer(path.read_bytes(), dtype=np.uint8)


def calibrate_run(case_id: str, seed: int, official: np.ndarray | None) -> dict[str, Any]:
    """One reference run of a case: its best validation loss, last training loss and scores."""
    import torch

    from autograder.child.probes.training import train
    from reference.mutants import reference_namespace

    torch.set_num_threads(1)  # as in the child
    kwargs = {**kwargs_of(case_id), "seed": seed}
    data, _ = train(reference_namespace(), **kwargs, official=official)
    if data["stopped"] is not None:
        raise RuntimeError(f"the reference stopped in {case_id} seed {seed}: {data['stopped']}")
    return {
        "seed": seed,
        "best_val": round(min(data["val_loss"]), 4),
        "final_train": round(data["train_loss"][-1], 4),
        "teacher_forced_accuracy": data["teacher_forced_accuracy"],
        "greedy_accuracy": data["greedy_accuracy"],
        "seconds": data["seconds"],
    }


def calibrate(seeds: int, data_dir: Path | None) -> dict[str, Any]:
    """Every case over ``seeds`` seeds and both data sources."""
    import torch

    official = official_bytes(data_dir)
    runs: dict[str, Any] = {}
    for case_id in RUNS:
        entry: dict[str, Any] = {"kwargs": kwargs_of(case_id)}
        for source in SOURCES:
            data = official if source == "official" else None
            entry[source] = [calibrate_run(case_id, seed, data) for seed in range(seeds)]
            print(f"{case_id} {source}: done", flush=True)
        runs[case_id] = entry
    return {
        "command": "python -m autograder.cases.calibrate",
        "seeds": list(range(seeds)),
        "torch": torch.__version__,
        "machine": platform.machine(),
        "date": time.strftime("%Y-%m-%d"),
        "runs": runs,
    }


def table(calibration: dict[str, Any]) -> str:
    """The calibration and the limits it gives, as a Markdown table."""
    lines = [
        "| case | data | best validation loss | last training loss | greedy accuracy |",
        "|---|---|---|---|---|",
    ]
    for case_id, entry in calibration["runs"].items():
        for source in SOURCES:
            runs = entry[source]
            cells = []
            for key in ("best_val", "final_train", "greedy_accuracy"):
                values = np.array([run[key] for run in runs])
                cells.append(f"{values.min():.3f}-{values.max():.3f} (mean {values.mean():.3f})")
            lines.append(f"| {case_id} | {source} | " + " | ".join(cells) + " |")
    lines += ["", "| case | val_low | train_low | val_high | greedy_high |"]
    lines.append("|---|---|---|---|---|")
    for case_id in calibration["runs"]:
        limit = limits(case_id, calibration)
        keys = ("val_low", "train_low", "val_high", "greedy_high")
        lines.append(f"| {case_id} | " + " | ".join(f"{limit[k]:.3f}" for k in keys) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=10, help="seeds per data source (>= 5)")
    parser.add_argument("--data-dir", type=Path, help="folder holding pig_latin_small.txt")
    parser.add_argument("--out", type=Path, default=CALIBRATION, help="the file written")
    args = parser.parse_args(argv)
    if args.seeds < 5:
        parser.error("calibrate over at least five seeds")
    calibration = calibrate(args.seeds, args.data_dir)
    write_json(args.out, calibration, indent=1)
    print(table(calibration))
    print(f"wrote {args.out}; now run `python grade.py goldens`")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
