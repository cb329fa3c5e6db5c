#!/usr/bin/env python3
"""Wall time and peak memory of `python grade.py grade` on one submission.

    python benchmarks/grade_benchmark.py [SUBMISSION] [--runs 3]
    python benchmarks/grade_benchmark.py --execute [--profile smoke|full] [--device auto|cuda]

Each run is a fresh `grade.py grade` process (the way Gradescope runs it). Peak memory is the
largest sum of the resident set sizes of that process and all its descendants (the sandbox
child included), sampled from /proc every 10 ms; the largest single process's peak
(getrusage ru_maxrss) is printed too. ``--execute`` also runs the notebook with papermill in
the sandbox (``grade.py grade --execute``, docs/execution.md): its kernel is part of the tree.
Numbers go in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ROOT / "fixtures" / "submissions" / "solution.ipynb"


def _tree_rss_kb(root: int) -> int:
    """Sum of VmRSS over ``root`` and its descendants, from /proc."""
    parents, rss = {}, {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/status") as status:
                fields = dict(line.split(":", 1) for line in status if ":" in line)
        except OSError:
            continue
        pid = int(entry.name)
        parents[pid] = int(fields.get("PPid", "0").strip())
        rss[pid] = int(fields.get("VmRSS", "0 kB").split()[0]) if "VmRSS" in fields else 0
    total, stack = 0, [root]
    seen = set()
    while stack:
        pid = stack.pop()
        if pid in seen:
            continue
        seen.add(pid)
        total += rss.get(pid, 0)
        stack.extend(child for child, parent in parents.items() if parent == pid)
    return total


def measure(submission: Path, extra: list[str]) -> tuple[float, float, float]:
    """(wall seconds, peak tree RSS in MB, largest single-process peak in MB) of one run;
    ``extra``: more options of ``grade.py grade``."""
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, str(ROOT / "grade.py"), "grade", str(submission), "--out", out]
            + extra,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=ROOT,
        )
        peak = 0
        while process.poll() is None:
            peak = max(peak, _tree_rss_kb(process.pid))
            time.sleep(0.01)
        wall = time.perf_counter() - start
    if process.returncode != 0:
        raise SystemExit(f"grade.py exited with {process.returncode}")
    single = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return wall, peak / 1024, single


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("submission", nargs="?", type=Path, default=DEFAULT)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--execute", action="store_true", help="also run the notebook")
    parser.add_argument("--profile", default="smoke", help="with --execute: its profile")
    parser.add_argument("--device", default="auto", help="with --execute: its device")
    args = parser.parse_args()
    extra = []
    if args.execute:
        extra = ["--execute", "--profile", args.profile, "--device", args.device]
    walls, peaks, singles = [], [], []
    for run in range(args.runs):
        wall, peak, single = measure(args.submission, extra)
        walls.append(wall), peaks.append(peak), singles.append(single)
        print(
            f"run {run + 1}: {wall:.2f} s, peak of all processes {peak:.0f} MB, "
            f"largest process {single:.0f} MB",
            flush=True,
        )
    print(
        f"median wall {statistics.median(walls):.2f} s, max peak {max(peaks):.0f} MB "
        f"({os.cpu_count()} CPUs, {args.submission.name}{' ' + ' '.join(extra) if extra else ''})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
