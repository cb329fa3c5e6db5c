#!/usr/bin/env python3
"""Throughput and peak memory of `python grade.py batch` with --jobs 1 and 2.

    python benchmarks/batch_benchmark.py [--copies 3] [--jobs 1 2]

The class is every example submission (the solution, the template, the wrong-* fixtures),
``--copies`` times, each copy made distinct by a markdown cell (so the cache cannot share them).
Each measured run is a fresh `grade.py batch` into an empty output folder; peak memory is the
largest sum of the resident set sizes of the batch and all its descendants (workers, sandbox
children), sampled from /proc every 20 ms. Then, on the last output folder: a rerun with
nothing changed, and a rerun after a change of points in the rubric (judged from the cached
probes, no student code). Numbers go in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
from grade_benchmark import _tree_rss_kb  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = [
    ROOT / "fixtures" / "submissions" / "solution.ipynb",
    ROOT / "student_template" / "nmt.ipynb",
    *sorted((ROOT / "fixtures" / "submissions").glob("wrong-*.ipynb")),
]


def make_class(folder: Path, copies: int) -> int:
    """Write the class into ``folder``; the number of submissions."""
    count = 0
    for copy in range(copies):
        for example in EXAMPLES:
            notebook = nbformat.read(example, as_version=4)
            notebook.cells.append(nbformat.v4.new_markdown_cell(f"copy {copy}"))
            nbformat.write(notebook, folder / f"{copy}-{example.stem}.ipynb")
            count += 1
    return count


def run(command: list[str]) -> tuple[float, float]:
    """(wall seconds, peak MB of the process tree) of one command."""
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    peak = 0
    while process.poll() is None:
        peak = max(peak, _tree_rss_kb(process.pid))
        time.sleep(0.02)
    wall = time.perf_counter() - start
    output = process.stdout.read().strip().splitlines()
    if process.returncode not in (0, 1):  # 1: grader errors, listed in the summary line
        raise SystemExit(f"batch exited with {process.returncode}: {output}")
    print("   ", next(line for line in output if " graded, " in line))
    return wall, peak / 1024


def changed_rubric(folder: Path) -> Path:
    data = tomllib.loads((ROOT / "autograder" / "rubric.toml").read_text())
    lines = [f'title = "{data["title"]}"', "[checks]"]
    for check, line in data["checks"].items():
        lines.append(f'"{check}" = {{ points = {line["points"] * 2}, visibility = "visible" }}')
    path = folder / "rubric.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--copies", type=int, default=3)
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "class"
        source.mkdir()
        count = make_class(source, args.copies)
        batch = [sys.executable, str(ROOT / "grade.py"), "batch", str(source), "--quiet"]
        out = None
        for jobs in args.jobs:
            out = Path(tmp) / f"out-{jobs}"
            wall, peak = run([*batch, "--out", str(out), "--jobs", str(jobs)])
            print(
                f"--jobs {jobs}: {count} submissions in {wall:.1f} s = "
                f"{60 * count / wall:.1f} per minute, peak {peak:.0f} MB (all processes)"
            )
        wall, peak = run([*batch, "--out", str(out)])
        print(f"rerun, nothing changed: {wall:.1f} s, peak {peak:.0f} MB")
        rubric = changed_rubric(Path(tmp))
        wall, peak = run([*batch, "--out", str(out), "--rubric", str(rubric)])
        print(f"rerun after a rubric change (from cached probes): {wall:.1f} s, peak {peak:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
