"""Calibrate the execution's loss ranges on the reference: ``python -m
autograder.execution.calibrate [--profile smoke] [--seeds 5] [--data-dir DIR] [--device cpu]``.

Runs the reference's own experiments (``reference.experiments.run``: encdec, decoder, heads,
scaling; the notebook's experiment cells are these, inlined) in the given profile for seeds
0..N-1, on both data sources (the official files, found as the reference finds them, and the
offline ones), and writes, per profile, data source and run, the lowest and highest loss the
notebook would print (the lowest validation loss; a scaling run's last) into
``autograder/execution/calibration.json``, rounded outward to the notebook's four decimals. A
profile already in the file is replaced, the others are kept (the full profile is measured on
a GPU machine). The notebook always runs seed 0, the calibration's first.

Imports torch and the reference: never on the grading path.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from autograder.execution.losses import CALIBRATION_FILE
from autograder.files import write_json

EXPERIMENTS = ("encdec", "decoder", "heads", "scaling")
"""The reference experiments whose runs the notebook prints."""
SOURCES = ("official", "offline")
MARGIN = 0.05
"""How far beyond the calibration runs' own range a printed loss still counts as within it: a
correct implementation that differs from the reference in its float operations (einsum for
matmul, say) trains along a slightly different path."""


def printed_losses(results: dict[str, Any]) -> dict[str, float]:
    """What the notebook prints for each run of ``reference.experiments.run``'s results."""
    losses = {}
    for name in ("encdec", "decoder", "heads"):
        for key, record in results[name]["runs"].items():
            losses[f"{name}/{key}"] = float(record["best_val_loss"])
    for run in results["scaling"]["runs"]:
        losses[f"scaling/hidden{run['hidden_size']}"] = float(run["val_loss"][-1])
    return losses


def run_reference(profile: str, seed: int, offline: bool, device: str, data_dir: Path | None):
    """One run of every experiment; the printed loss per run key."""
    import reference.data
    from reference.experiments import PROFILES, run

    original: Callable = reference.data.find_official_file
    if offline:
        reference.data.find_official_file = lambda name, data_dir=None: None
    try:
        with tempfile.TemporaryDirectory(prefix="nmt-calibrate-") as out:
            results = run(
                EXPERIMENTS,
                PROFILES[profile],
                Path(out),
                data_dir=None if offline else data_dir,
                device=device,
                seed=seed,
            )
    finally:
        reference.data.find_official_file = original
    return printed_losses(results)


def ranges(runs: list[dict[str, float]]) -> dict[str, dict[str, float | int]]:
    """Per run key: the runs' lowest and highest value (``min``, ``max``), the range the report
    compares with (``low``, ``high``: widened by ``MARGIN``, rounded outward to 4 decimals) and
    how many runs."""
    keys = sorted({key for run in runs for key in run})
    found = {}
    for key in keys:
        values = [r[key] for r in runs]
        found[key] = {
            "low": math.floor((min(values) - MARGIN) * 1e4) / 1e4,
            "high": math.ceil((max(values) + MARGIN) * 1e4) / 1e4,
            "min": round(min(values), 4),
            "max": round(max(values), 4),
            "seeds": len(runs),
        }
    return found


def table(profile: str, found: dict[str, dict[str, Any]]) -> str:
    """Markdown for docs/execution.md."""
    lines = [f"| run ({profile}) | official | offline |", "|---|---|---|"]
    for key in found.get("official", found.get("offline", {})):
        cells = []
        for source in SOURCES:
            r = found.get(source, {}).get(key)
            cells.append(f"{r['min']:.4f}-{r['max']:.4f}" if r else "-")
        lines.append(f"| {key} | {' | '.join(cells)} |")
    return "\n".join(lines)


def _existing(path: Path) -> dict[str, Any]:
    """The calibration file's document (every profile), or an empty one."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        document = {}
    return {key: dict(document.get(key, {})) for key in ("ranges", "seed0", "runs")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder.execution.calibrate")
    parser.add_argument("--profile", choices=("smoke", "full"), default="smoke")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", type=Path, default=CALIBRATION_FILE)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    found: dict[str, dict[str, Any]] = {}
    for source in SOURCES:
        runs = [
            run_reference(args.profile, seed, source == "offline", args.device, args.data_dir)
            for seed in range(args.seeds)
        ]
        found[source] = ranges(runs)
        found[source + "_seed0"] = runs[0]
    import torch

    document = _existing(args.out)
    document["ranges"][args.profile] = {s: found[s] for s in SOURCES}
    document["seed0"][args.profile] = {s: found[s + "_seed0"] for s in SOURCES}
    document["runs"][args.profile] = {
        "command": "python -m autograder.execution.calibrate "
        f"--profile {args.profile} --seeds {args.seeds} --device {args.device}",
        "torch": torch.__version__,
        "machine": platform.machine(),
        "date": time.strftime("%Y-%m-%d"),
        "seconds": round(time.perf_counter() - start),
    }
    write_json(args.out, document)
    print(table(args.profile, found))
    print(f"wrote {args.out} in {document['runs'][args.profile]['seconds']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
