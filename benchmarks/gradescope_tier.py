#!/usr/bin/env python3
"""Rehearse Gradescope's smallest tier: the autograder zip, installed by its own setup.sh, grades
the solution under 0.5 CPU and 0.75 GB (run as root).

    python benchmarks/gradescope_tier.py [--runs 3] [--cpus 0.5] [--memory-mb 768]
        [--namespaces 0|1] [--work DIR]

The limits are cgroups (v2 when the machine has a unified hierarchy with the cpu and memory
controllers, else v1's cpu and memory controllers): a CFS quota of ``cpus`` and a memory limit
that counts every process of the run (the grader, the sandbox child, its relays) and their page
cache, as Docker's limit does on Gradescope (``--cold`` evicts the environment's files from the
page cache first, so that the cgroup is charged for reading them, as in a fresh container;
without it, pages another process read first are charged elsewhere). Each run is
``run_autograder`` on a fresh results folder; it prints the wall time, the cgroup's peak memory,
the peak of the processes' resident sets (sampled from /proc every 10 ms), whether the limit was
hit, and the score.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchmarks.grade_benchmark import _tree_rss_kb  # noqa: E402

SOLUTION = ROOT / "fixtures" / "submissions" / "solution.ipynb"


class Cgroup:
    """One cgroup (v2) or a pair of v1 cgroups (cpu, memory) with the tier's limits."""

    def __init__(self, name: str, cpus: float, memory: int) -> None:
        self.v2 = Path("/sys/fs/cgroup/cgroup.controllers").is_file()
        lines = Path("/proc/self/cgroup").read_text().splitlines()
        own = dict(line.split(":", 2)[1:] for line in lines)
        period = 100_000
        if self.v2:
            self.dirs = [Path("/sys/fs/cgroup") / own[""].lstrip("/") / name]
            self.dirs[0].mkdir()
            (self.dirs[0] / "cpu.max").write_text(f"{int(cpus * period)} {period}")
            (self.dirs[0] / "memory.max").write_text(str(memory))
            (self.dirs[0] / "memory.swap.max").write_text("0")
        else:
            cpu = Path("/sys/fs/cgroup/cpu") / own["cpu"].lstrip("/") / name
            mem = Path("/sys/fs/cgroup/memory") / own["memory"].lstrip("/") / name
            self.dirs = [cpu, mem]
            for folder in self.dirs:
                folder.mkdir()
            (cpu / "cpu.cfs_period_us").write_text(str(period))
            (cpu / "cpu.cfs_quota_us").write_text(str(int(cpus * period)))
            (mem / "memory.limit_in_bytes").write_text(str(memory))
        self.describe = (
            f"cgroup {'v2' if self.v2 else 'v1'}: cpu quota {cpus} CPU, memory limit "
            f"{memory / 2**20:.0f} MiB ({', '.join(map(str, self.dirs))})"
        )

    def enter(self) -> None:
        for folder in self.dirs:
            (folder / "cgroup.procs").write_text(str(os.getpid()))

    def peak_and_hits(self) -> tuple[int, int]:
        if self.v2:
            events = dict(
                line.split() for line in (self.dirs[0] / "memory.events").read_text().splitlines()
            )
            return int((self.dirs[0] / "memory.peak").read_text()), int(events.get("max", 0))
        mem = self.dirs[1]
        peak = int((mem / "memory.max_usage_in_bytes").read_text())
        return peak, int((mem / "memory.failcnt").read_text())

    def remove(self) -> None:
        for folder in self.dirs:
            folder.rmdir()


def install(work: Path) -> tuple[Path, Path]:
    """The zip, built and installed with its setup.sh; returns (venv, source)."""
    from autograder.deploy.gradescope import build_autograder

    venv, source = work / "venv", work / "source"
    if (venv / "bin" / "python").exists() and source.is_dir():
        return venv, source
    built = build_autograder(work / "autograder.zip")
    built.path.chmod(0o600)  # it holds the hidden goldens; the venv beside it must stay readable
    with zipfile.ZipFile(built.path) as archive:
        archive.extractall(source)
    env = {**os.environ, "NMT_AUTOGRADER_VENV": str(venv)}
    if Path("/usr/bin/python3").exists():
        env["NMT_PYTHON"] = "/usr/bin/python3"
    subprocess.run(["bash", source / "setup.sh"], env=env, check=True, stdout=subprocess.DEVNULL)
    return venv, source


def evict(folders: list[Path]) -> None:
    """Drop these folders' files from the page cache (posix_fadvise DONTNEED), so that the run
    reads them again and its cgroup is charged for them, as in a fresh container."""
    for folder in folders:
        for path in folder.rglob("*"):
            if path.is_file() and not path.is_symlink():
                try:
                    fd = os.open(path, os.O_RDONLY)
                except OSError:
                    continue
                try:
                    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                finally:
                    os.close(fd)


def run_once(venv: Path, source: Path, group: Cgroup, namespaces: bool) -> dict:
    with tempfile.TemporaryDirectory(prefix="nmt-tier-") as tmp:
        root = Path(tmp)
        (root / "submission").mkdir()
        shutil.copy(SOLUTION, root / "submission" / "nmt.ipynb")
        os.symlink(source, root / "source")
        env = {
            **os.environ,
            "NMT_AUTOGRADER_ROOT": str(root),
            "NMT_AUTOGRADER_VENV": str(venv),
            "NMT_SANDBOX_NAMESPACES": "1" if namespaces else "0",
        }
        start = time.perf_counter()
        process = subprocess.Popen(
            ["bash", source / "run_autograder"],
            env=env,
            stdout=subprocess.DEVNULL,
            preexec_fn=group.enter,
        )
        rss = 0
        while process.poll() is None:
            rss = max(rss, _tree_rss_kb(process.pid))
            time.sleep(0.01)
        wall = time.perf_counter() - start
        results = json.loads((root / "results" / "results.json").read_text())
    peak, hits = group.peak_and_hits()
    return {
        "wall": wall,
        "peak": peak,
        "rss": rss * 1024,
        "hits": hits,
        "score": results["score"],
        "output": results["output"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cpus", type=float, default=0.5)
    parser.add_argument("--memory-mb", type=int, default=768)
    parser.add_argument("--namespaces", type=int, choices=(0, 1), default=1)
    parser.add_argument("--work", type=Path, default=Path("/var/tmp/nmt-gradescope-tier"))
    parser.add_argument(
        "--cold",
        action="store_true",
        help="evict the environment and the standard library from the page cache before each run",
    )
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root (cgroups, and the sandbox drops to nobody as on Gradescope)")
    args.work.mkdir(mode=0o755, parents=True, exist_ok=True)
    venv, source = install(args.work)
    scores: list[float] = []
    for run in range(args.runs):
        group = Cgroup(f"nmt-tier-{os.getpid()}-{run}", args.cpus, args.memory_mb << 20)
        if run == 0:
            print(group.describe)
        if args.cold:
            stdlib = subprocess.run(
                [
                    venv / "bin" / "python",
                    "-c",
                    "import sysconfig; print(sysconfig.get_path('stdlib'))",
                ],
                capture_output=True,
                text=True,
            ).stdout.strip()
            evict([venv, Path(stdlib)])
        try:
            r = run_once(venv, source, group, bool(args.namespaces))
        finally:
            group.remove()
        print(
            f"run {run + 1}: {r['wall']:.1f} s, cgroup peak {r['peak'] / 2**20:.0f} MiB, "
            f"processes' peak RSS {r['rss'] / 2**20:.0f} MiB, limit hit {r['hits']} times, "
            f"score {r['score']}",
            flush=True,
        )
        scores.append(r["score"])
        if r["score"] != scores[0]:
            print(f"  output: {r['output']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
