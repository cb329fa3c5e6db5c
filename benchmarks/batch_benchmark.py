#!/usr/bin/env python3
"""Throughput and peak memory of `python grade.py batch` with --jobs 1 and 2.

    python benchmarks/batch_benchmark.py [--copies 3] [--jobs 1 2] [--repeat 3] [--fresh]
        [--no-training]

The class is every example submission (the solution, the template, the wrong-* fixtures),
``--copies`` times, each copy made distinct by a markdown cell (so the cache cannot share them).
Each measured run is a fresh `grade.py batch` into an empty output folder, ``--repeat`` times
per job count (the median is printed too); ``--fresh`` passes ``--no-fork-server`` (a fresh
interpreter per child, as before the fork server); ``--no-training`` grades with the course's
rubric with the three training checks turned off (``enabled = false``). While a run goes, every
20 ms, the sum of the resident set sizes of the batch and all its descendants (workers, fork
servers, sandbox children: pages they share, torch's above all, count once per process) and,
every second, the sum of their proportional set sizes (PSS: a shared page's size divided among
the processes that map it, so the machine's real footprint) and the load average (1 minute) are
sampled. Then, on the last output folder: a rerun with nothing changed, and a rerun after a
change of points in the rubric (judged from the cached probes, no student code). Numbers go in
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
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


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/stat") as stat:
                    text = stat.read()
                parent = int(text[text.rindex(")") + 2 :].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, stack = [], [root]
    while stack:
        pid = stack.pop()
        found.append(pid)
        stack.extend(children.get(pid, []))
    return found


def _tree_pss_kb(root: int) -> int:
    """Sum of Pss over ``root`` and its descendants (/proc/PID/smaps_rollup)."""
    total = 0
    for pid in _descendants(root):
        try:
            with open(f"/proc/{pid}/smaps_rollup") as rollup:
                for line in rollup:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            continue
    return total


def _load() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def run(command: list[str]) -> dict[str, float]:
    """Wall seconds, peak MB of the process tree (RSS and PSS sums) and the load average
    (min, max) during one command."""
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    rss = pss = 0
    loads = [_load()]
    last = start
    while process.poll() is None:
        rss = max(rss, _tree_rss_kb(process.pid))
        if time.perf_counter() - last >= 1.0:
            pss = max(pss, _tree_pss_kb(process.pid))
            loads.append(_load())
            last = time.perf_counter()
        time.sleep(0.02)
    wall = time.perf_counter() - start
    output = process.stdout.read().strip().splitlines()
    if process.returncode not in (0, 1):  # 1: grader errors, listed in the summary line
        raise SystemExit(f"batch exited with {process.returncode}: {output}")
    print("   ", next(line for line in output if " graded, " in line))
    return {
        "wall": wall,
        "rss": rss / 1024,
        "pss": pss / 1024,
        "load_min": min(loads),
        "load_max": max(loads),
    }


RUBRIC = ROOT / "autograder" / "rubric.toml"


def no_training_rubric(folder: Path) -> Path:
    """The course's rubric with the three training checks turned off (``enabled = false``)."""
    text = RUBRIC.read_text()
    for check in tomllib.loads(text)["checks"]:
        if check.endswith("/trains"):
            text = text.replace(f'"{check}" = {{', f'"{check}" = {{ enabled = false,')
    path = folder / "no-training.toml"
    path.write_text(text)
    return path


def changed_rubric(folder: Path, base: Path) -> Path:
    """``base`` with every check's points doubled (the same checks on, made visible)."""
    data = tomllib.loads(base.read_text())
    lines = [f'title = "{data["title"]}"', "[checks]"]
    for check, line in data["checks"].items():
        on = "true" if line.get("enabled", True) else "false"
        points = line["points"] * 2
        lines.append(f'"{check}" = {{ points = {points}, visibility = "visible", enabled = {on} }}')
    path = folder / "rubric.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--copies", type=int, default=3)
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeat", type=int, default=1, help="runs per job count")
    parser.add_argument("--fresh", action="store_true", help="no fork server (--no-fork-server)")
    parser.add_argument(
        "--no-training", action="store_true", help="the rubric with the training checks off"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "class"
        source.mkdir()
        count = make_class(source, args.copies)
        batch = [sys.executable, str(ROOT / "grade.py"), "batch", str(source), "--quiet"]
        batch += ["--no-fork-server"] if args.fresh else []
        base = no_training_rubric(Path(tmp)) if args.no_training else RUBRIC
        batch += ["--rubric", str(base)] if args.no_training else []
        out = None
        for jobs in args.jobs:
            rates = []
            for attempt in range(args.repeat):
                out = Path(tmp) / f"out-{jobs}-{attempt}"
                m = run([*batch, "--out", str(out), "--jobs", str(jobs)])
                rates.append(60 * count / m["wall"])
                print(
                    f"--jobs {jobs}: {count} submissions in {m['wall']:.1f} s = "
                    f"{rates[-1]:.1f} per minute, peak {m['rss']:.0f} MB RSS sum, "
                    f"{m['pss']:.0f} MB PSS sum (all processes), "
                    f"load {m['load_min']:.1f}-{m['load_max']:.1f}"
                )
            if args.repeat > 1:
                print(f"--jobs {jobs}: median {statistics.median(rates):.1f} per minute")
        m = run([*batch, "--out", str(out)])
        print(f"rerun, nothing changed: {m['wall']:.1f} s, peak {m['rss']:.0f} MB")
        rubric = changed_rubric(Path(tmp), base)
        m = run([*batch, "--out", str(out), "--rubric", str(rubric)])
        print(f"rerun after a rubric change (from cached probes): {m['wall']:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
