#!/usr/bin/env python3
"""Our grader side by side with otter-grader 7, on the same notebooks, in one run.

    .venv/bin/python benchmarks/compare_otter.py [--runs 3] [--runs-others 1]
        [--sections scores,attacks,batch,tier] [--attacks DIR ...] [--out out/otter-compare]

Needs the otter version of the homework (`benchmarks/otter/build_master.py --setup` builds
`benchmarks/.venv-otter` and `benchmarks/otter/build/autograder.zip`; this script builds the zip
when it is missing).

Sections:

- scores: the solution, the student template and each `fixtures/submissions/wrong-*.ipynb`,
  every one with its parameters cell set to the smoke profile (the otter version's setting), graded
  by `otter run -a autograder.zip` and by `python grade.py grade`, one after the other per
  notebook, the order of the two tools swapped every round. Solution and template are graded in
  every one of `--runs` rounds, the wrong submissions in the first `--runs-others`. Per tool and
  notebook: median wall time, CPU time (user + system of every process, from the rusage of
  reaped children; this process is a child subreaper, so orphans are counted too) and peak
  memory (the largest sum of resident set sizes of all processes of the grading, sampled from
  /proc every 20 ms), the ratios otter/ours, and both tools' points per question.
- attacks: every attack in `benchmarks/otter/attacks/*.py` (a cell appended to the solution or
  the template, see each file) and every notebook in `tests/attacks/` (or `--attacks DIR`),
  graded once by each tool: score against the honest base, hidden tests or goldens in the
  visible output, whether a results file was written, code run in the grader's own process.
- batch: the whole set one after another (`otter grade` needs a Docker engine, absent here,
  so otter's batch is `otter run` in a loop: the first scores round), against ours: `grade.py
  batch --jobs 1/2` when that command exists, else `grade.py grade` in a loop with 1 and 2 at a
  time, over `--batch-n` notebooks (the set repeated).
- tier: the solution under Gradescope's smallest tier, 0.5 CPU and 0.75 GB, for both tools
  (cgroup v1 cpu quota and memory limit when writable, else cgroup v2, else none: the report
  says which).

Writes `OUT/results.json` (everything measured) and `OUT/results.md` (the tables).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import datetime as dt
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
OTTER_DIR = ROOT / "benchmarks" / "otter"
OTTER_VENV = ROOT / "benchmarks" / ".venv-otter"
DEFAULT_ZIP = OTTER_DIR / "build" / "autograder.zip"
OUR_ATTACKS = OTTER_DIR / "attacks"
SOLUTION = ROOT / "fixtures" / "submissions" / "solution.ipynb"
TEMPLATE = ROOT / "student_template" / "nmt.ipynb"
TOOLS = ("otter", "ours")
QUESTIONS = ("2.2.1", "2.2.2", "2.3.1", "2.3.2", "2.3.4", "2.3.5", "2.4.2")
VISIBLE = {"visible"}
# otter runs student code as root with no sandbox: on Gradescope a throwaway container contains
# it, here these namespaces do (an attack may `kill -1`, fill /tmp, leave daemons or IPC objects)
CONFINE = [
    "unshare",
    "--pid",
    "--fork",
    "--mount-proc",
    "--mount",
    "--ipc",
    "--uts",
    "sh",
    "-c",
    "mount -t tmpfs -o size=1g,mode=1777 tmpfs /tmp && "
    "mount -t tmpfs -o size=256m,mode=1777 tmpfs /dev/shm && "
    'mount -t tmpfs -o size=256m,mode=1777 tmpfs /var/tmp && exec "$@"',
    "confine",
]  # what a student sees before the due date / before grades are published

sys.path.insert(0, str(OTTER_DIR))
from build_master import SMOKE_PARAMETERS  # noqa: E402

# --------------------------------------------------------------------------------------------
# measuring one command


def _become_subreaper() -> bool:
    """Orphaned descendants (a kernel whose parent died) are re-parented to this process, so
    the /proc walk sees them and their rusage is collected when we reap them."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        return False


def _children(pid: int) -> list[int]:
    """Child pids of ``pid`` (all its threads), from /proc/PID/task/TID/children."""
    found = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as handle:
                found += [int(c) for c in handle.read().split()]
        except OSError:
            continue
    return found


def _descendants(root: int) -> list[int]:
    found, stack = [], _children(root)
    while stack:
        pid = stack.pop()
        found.append(pid)
        stack.extend(_children(pid))
    return found


def _command_name(pid: int) -> str:
    """A short name of a process: its command line's first words."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            words = handle.read().split(b"\0")
    except OSError:
        return "?"
    words = [Path(w.decode(errors="replace")).name for w in words[:3] if w]
    return " ".join(words)[:60]


def _rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


@dataclass
class Measure:
    wall_s: float
    cpu_s: float
    peak_mb: float
    largest_mb: float
    rc: int | None
    pid: int = 0
    timed_out: bool = False
    processes: int = 0
    at_peak: list = field(default_factory=list)
    cgroup: dict = field(default_factory=dict)


def cgroup_peak_mb(measured: dict) -> float | None:
    """Peak memory charged to the run's cgroup (v1 max_usage_in_bytes, v2 memory.peak)."""
    cgroup = measured.get("cgroup") or {}
    peak = cgroup.get("memory.max_usage_in_bytes", cgroup.get("memory.peak"))
    return None if peak is None else round(peak / 2**20, 1)


def _cpu_children() -> float:
    usage = os.times()
    return usage.children_user + usage.children_system


def measure(
    command: list[str],
    *,
    cwd: Path,
    env: dict | None = None,
    timeout: float = 900,
    log: Path | None = None,
    limits: Limits | None = None,
) -> Measure:
    """Run ``command`` to the end (or ``timeout``), sampling the memory of its process tree."""
    me = os.getpid()
    cpu_before = _cpu_children()
    out = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115
    start = time.perf_counter()
    process = subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=limits.enter if limits else None,
    )
    peak = largest = 0
    at_peak: list = []
    seen: set[int] = set()
    timed_out = False
    while process.poll() is None:
        tree = _descendants(me)
        sizes = [_rss_kb(pid) for pid in tree]
        seen.update(tree)
        if sum(sizes) > peak:
            peak = sum(sizes)
            at_peak = [
                (_command_name(pid), round(kb / 1024)) for pid, kb in zip(tree, sizes, strict=True)
            ]
        largest = max([largest, *sizes])
        if time.perf_counter() - start > timeout:
            timed_out = True
            _kill_tree(me)
            break
        time.sleep(0.02)
    rc = process.wait()
    wall = time.perf_counter() - start
    _reap_leftovers(me, grace=5.0)
    if log:
        out.close()
    cpu = _cpu_children() - cpu_before
    return Measure(
        wall_s=round(wall, 3),
        cpu_s=round(cpu, 3),
        peak_mb=round(peak / 1024, 1),
        largest_mb=round(largest / 1024, 1),
        rc=rc,
        pid=process.pid,
        timed_out=timed_out,
        processes=len(seen),
        at_peak=at_peak,
        cgroup=limits.usage() if limits else {},
    )


def _kill_tree(me: int) -> None:
    for pid in _descendants(me):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _reap_leftovers(me: int, grace: float) -> None:
    """Wait a little for what the command left running, kill the rest, reap everything."""
    deadline = time.perf_counter() + grace
    while _descendants(me) and time.perf_counter() < deadline:
        _reap_zombies()
        time.sleep(0.05)
    _kill_tree(me)
    time.sleep(0.05)
    _reap_zombies()


def _reap_zombies() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


# --------------------------------------------------------------------------------------------
# the smallest Gradescope tier


class Limits:
    """A cgroup for a command and everything it starts: ``cpus`` CPUs and ``memory_bytes`` of
    memory (None: no limit, the cgroup only accounts the memory charged to it)."""

    def __init__(
        self,
        cpus: float | None,
        memory_bytes: int | None,
        tag: str = "tier",
        shares: int | None = None,
    ) -> None:
        self.cpus, self.memory_bytes, self.shares = cpus, memory_bytes, shares
        self.procs_files: list[str] = []
        self.memory_dir: Path | None = None
        self.cpu_dir: Path | None = None
        self.version = 0
        self.how = "none"
        self._setup(f"nmt-bench-{tag}-{os.getpid()}")

    def _setup(self, name: str) -> None:
        quota = None if self.cpus is None else int(100000 * self.cpus)
        v1_cpu, v1_mem = Path("/sys/fs/cgroup/cpu"), Path("/sys/fs/cgroup/memory")
        if v1_cpu.is_dir() and v1_mem.is_dir():
            mine = "/"
            for line in Path("/proc/self/cgroup").read_text().splitlines():
                _, controllers, path = line.split(":", 2)
                if "memory" in controllers.split(","):
                    mine = path
            try:
                memory = v1_mem / mine.lstrip("/") / name  # inside our own memory cgroup
                memory.mkdir(exist_ok=True)
                self.memory_dir, self.version = memory, 1
                self.procs_files.append(str(memory / "cgroup.procs"))
                how = [f"cgroup v1 memory {memory}"]
                if self.memory_bytes is not None:
                    (memory / "memory.limit_in_bytes").write_text(str(self.memory_bytes))
                    how.append(f"memory.limit_in_bytes = {self.memory_bytes} (no swap here)")
                if quota is not None or self.shares is not None:
                    cpu = v1_cpu / name
                    cpu.mkdir(exist_ok=True)
                    self.cpu_dir = cpu
                    self.procs_files.append(str(cpu / "cgroup.procs"))
                    if quota is not None:
                        (cpu / "cpu.cfs_period_us").write_text("100000")
                        (cpu / "cpu.cfs_quota_us").write_text(str(quota))
                        how.append(f"cgroup v1 cpu {cpu}: cpu.cfs_quota_us = {quota} per 100000 us")
                    if self.shares is not None:
                        (cpu / "cpu.shares").write_text(str(self.shares))
                        how.append(f"cpu.shares = {self.shares} (default 1024)")
                self.how = "; ".join(how)
                return
            except OSError as error:
                self.remove()
                self.procs_files, self.how = [], f"none (cgroup v1 not writable: {error})"
        if Path("/sys/fs/cgroup/cgroup.controllers").is_file():
            try:
                group = Path("/sys/fs/cgroup") / name
                group.mkdir(exist_ok=True)
                self.memory_dir, self.version = group, 2
                if quota is not None:
                    (group / "cpu.max").write_text(f"{quota} 100000")
                if self.shares is not None:
                    (group / "cpu.weight").write_text(
                        str(max(1, min(10000, self.shares * 100 // 1024)))
                    )
                if self.memory_bytes is not None:
                    (group / "memory.max").write_text(str(self.memory_bytes))
                    (group / "memory.swap.max").write_text("0")
                self.procs_files = [str(group / "cgroup.procs")]
                self.how = f"cgroup v2 {group}: cpu.max {quota} 100000, memory.max, no swap"
            except OSError as error:
                self.remove()
                self.procs_files, self.how = [], f"none (cgroup v2 not writable: {error})"

    @property
    def active(self) -> bool:
        return bool(self.procs_files)

    def enter(self) -> None:  # runs in the child between fork and exec
        for path in self.procs_files:
            with open(path, "w") as handle:
                handle.write(str(os.getpid()))

    def reset(self) -> None:
        """Empty the cgroup's charged memory (page cache of earlier runs) and its peak."""
        if self.version != 1 or self.memory_dir is None:
            return
        for name, value in (
            ("memory.force_empty", "0"),
            ("memory.max_usage_in_bytes", "0"),
            ("memory.failcnt", "0"),
        ):
            with contextlib.suppress(OSError):
                (self.memory_dir / name).write_text(value)

    def usage(self) -> dict:
        info = {}
        if self.memory_dir:
            for name in ("memory.max_usage_in_bytes", "memory.failcnt", "memory.peak"):
                path = self.memory_dir / name
                if path.exists():
                    info[name] = int(path.read_text().split()[0])
            for name in ("memory.oom_control", "memory.events"):
                path = self.memory_dir / name
                if path.exists():
                    for line in path.read_text().splitlines():
                        key, _, value = line.partition(" ")
                        if key in ("oom_kill", "oom"):
                            info[key] = int(value)
        if self.cpu_dir and (self.cpu_dir / "cpu.stat").exists():
            for line in (self.cpu_dir / "cpu.stat").read_text().splitlines():
                key, _, value = line.partition(" ")
                if key in ("nr_periods", "nr_throttled"):
                    info[key] = int(value)
        return info

    def remove(self) -> None:
        """Remove the cgroups (retrying while the kernel still releases exited tasks)."""
        for directory in (self.cpu_dir, self.memory_dir):
            for _ in range(50):
                if directory is None or not directory.exists():
                    break
                with contextlib.suppress(OSError):
                    directory.rmdir()
                time.sleep(0.1)


# --------------------------------------------------------------------------------------------
# the two graders


class Tools:
    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        self.otter = OTTER_VENV / "bin" / "otter"
        self.zip = args.otter_zip.resolve()
        self.python = args.python
        self.grader_root = args.grader_root.resolve()
        self.work = work
        self.counter = 0
        self.unmirrored: set[str] = set()  # our checks without an otter test: not compared
        # memory charged, no limit; cpu.shares when asked for
        self.accounting = Limits(None, None, "account", shares=args.cpu_shares)
        # otter running hostile notebooks: a memory limit on top of CONFINE's namespaces
        self.confinement = Limits(None, 3_000_000_000, "confine", shares=args.cpu_shares)

    def close(self) -> None:
        self.accounting.remove()
        self.confinement.remove()

    def _dir(self, tool: str, label: str) -> Path:
        self.counter += 1
        path = self.work / "runs" / f"{self.counter:04d}-{tool}-{label}"
        path.mkdir(parents=True)
        return path

    def run(self, tool: str, notebook: Path, label: str, **kwargs) -> dict:
        directory = self._dir(tool, label)
        env = dict(os.environ)
        env.update(kwargs.pop("extra_env", {}))
        confine = kwargs.pop("confine", False)
        if tool == "otter":
            out = directory / "out"
            out.mkdir()
            command = [str(self.otter), "run", "-a", str(self.zip), "-o", str(out), str(notebook)]
            if confine:
                command = CONFINE + command
                kwargs.setdefault("limits", self.confinement)
            cwd = directory
        else:
            out = directory / "out"
            command = [str(self.python), "grade.py", "grade", str(notebook), "--out", str(out)]
            cwd = self.grader_root
        load = os.getloadavg()[0]
        if "limits" not in kwargs and self.accounting.active:
            kwargs["limits"] = self.accounting
        if kwargs.get("limits"):
            kwargs["limits"].reset()
        result = measure(command, cwd=cwd, env=env, log=directory / "log.txt", **kwargs)
        results_file = out / "results.json"
        parsed = read_results(tool, results_file, self.unmirrored)
        return {
            "tool": tool,
            "notebook": notebook.name,
            "dir": str(directory.relative_to(self.work)),
            "command": command,
            "measure": asdict(result),
            "load_average_1min": round(load, 2),
            **parsed,
        }


def read_results(tool: str, path: Path, skip: set[str] = frozenset()) -> dict:
    """Scores per question, the total, and the text a student sees, from a results.json; our
    checks in ``skip`` (no otter test mirrors them) are left out of the points."""
    if not path.is_file():
        return {"results_file": False, "total": None, "questions": {}, "visible_text": ""}
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError:
        return {"results_file": True, "valid": False, "total": None, "questions": {}}
    questions: dict[str, list[float]] = {}
    visible = [data.get("output", "") or ""]
    failed = False
    for test in data.get("tests", []):
        if test.get("visibility", "visible") in VISIBLE:
            visible.append(f"{test.get('name', '')}\n{test.get('output', '')}")
        if test.get("name") == "Autograder Failed":
            failed = True
        if "max_score" not in test:
            continue
        number = test.get("number") if tool == "ours" else test.get("name")
        if number not in QUESTIONS or set(test.get("tags", [])) & skip:
            continue
        score, possible = questions.setdefault(number, [0.0, 0.0])
        questions[number] = [score + float(test.get("score", 0)), possible + test["max_score"]]
    total = data.get("score")
    if (total is None or skip) and questions:
        total = sum(s for s, _ in questions.values())
    return {
        "results_file": True,
        "valid": True,
        "autograder_failed": failed,
        "total": None if total is None else round(float(total), 4),
        "questions": {q: round(s, 4) for q, (s, _) in sorted(questions.items())},
        "visible_text": "\n".join(visible),
    }


# --------------------------------------------------------------------------------------------
# notebooks


def smoke_copy(source: Path, target: Path, extra_cell: str | None = None) -> Path:
    """``source`` with its parameters cell set to the smoke profile (+ an appended cell); a
    notebook nbformat cannot read (a hostile one) is copied as it is."""
    try:
        nb = nbformat.read(source, as_version=4)
    except Exception:  # noqa: BLE001 - any unreadable notebook is graded as it is
        if extra_cell is not None:
            raise
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, target)
        return target
    for cell in nb.cells:
        if cell.cell_type == "code" and "parameters" in cell.metadata.get("tags", []):
            cell.source = SMOKE_PARAMETERS.rstrip("\n")
    if extra_cell is not None:
        nb.cells.append(nbformat.v4.new_code_cell(extra_cell))
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        nbformat.write(nb, target)
    except UnicodeEncodeError:  # lone surrogates: graded as the student wrote it
        if extra_cell is not None:
            raise
        target.unlink(missing_ok=True)
        shutil.copy(source, target)
    return target


def the_set(work: Path, root: Path) -> list[tuple[str, Path]]:
    """The graded set, from the grader's checkout (so that it matches its rubric)."""
    sources = [
        ("solution", root / SOLUTION.relative_to(ROOT)),
        ("template", root / TEMPLATE.relative_to(ROOT)),
    ]
    for path in sorted((root / "fixtures" / "submissions").glob("wrong-*.ipynb")):
        sources.append((path.stem, path))
    return [(name, smoke_copy(path, work / "set" / name / "nmt.ipynb")) for name, path in sources]


def attack_specs(directories: list[Path]) -> list[dict]:
    """Our attack cells (*.py with `# attack-base:`) and others' notebooks (*.ipynb)."""
    specs = []
    for directory in directories:
        for path in sorted(directory.glob("*.py")):
            if path.name.startswith("_"):
                continue
            text = path.read_text()
            base = re.search(r"^# attack-base: (\w+)", text, re.M)
            if not base:
                continue
            doc = re.search(r'"""(.*?)\n', text)
            specs.append(
                {
                    "name": path.stem,
                    "source": str(path.relative_to(ROOT)),
                    "base": base.group(1),
                    "cell": text,
                    "summary": doc.group(1).strip() if doc else "",
                }
            )
        for path in sorted(directory.rglob("*.ipynb")):
            try:
                meta = nbformat.read(path, as_version=4).metadata.get("attack", {})
            except Exception:  # noqa: BLE001 - an unreadable notebook has no metadata
                meta = {}
            specs.append(
                {
                    "name": path.stem,
                    "source": f"{directory.name}/{path.relative_to(directory)}",
                    "base": meta.get("base"),
                    "notebook": path,
                    "summary": meta.get("summary", ""),
                }
            )
    return specs


# --------------------------------------------------------------------------------------------
# sections


def build_corpus(tools: Tools, log) -> Path | None:
    """`python -m tests.attacks DIR` (the project's attack corpus, built by code) when the
    grader's checkout has it; the notebooks' metadata gives each one's honest base."""
    package = tools.grader_root / "tests" / "attacks" / "__main__.py"
    if not package.exists():
        return None
    folder = tools.work / "corpus"
    done = subprocess.run(
        [str(tools.python), "-m", "tests.attacks", str(folder)],
        cwd=tools.grader_root,
        capture_output=True,  # bytes: one attack's file name is not UTF-8
    )
    if done.returncode != 0:
        log(f"  could not build tests/attacks: {done.stderr.decode(errors='replace')[-500:]}")
        return None
    return folder


def honest_scores(tools: Tools, report: dict, subs, log) -> dict:
    """Each base notebook's score per tool: from the scores section, else graded now."""
    if "scores" in report:
        return {
            row["submission"]: {t: row[t]["total"] for t in ("otter", "ours")}
            for row in report["scores"]["rows"]
        }
    honest = {}
    for name, notebook in subs:
        if name in ("solution", "template"):
            honest[name] = {t: tools.run(t, notebook, f"honest-{name}")["total"] for t in TOOLS}
            log(f"  honest {name}: {honest[name]}")
    return honest


def median(values: list[float]) -> float | None:
    values = [v for v in values if v is not None]
    return round(statistics.median(values), 3) if values else None


def section_scores(tools: Tools, subs, runs: int, runs_others: int, log) -> dict:
    gradings: list[dict] = []
    for round_index in range(max(runs, runs_others)):
        order = ("otter", "ours") if round_index % 2 == 0 else ("ours", "otter")
        for name, notebook in subs:
            every_round = name in ("solution", "template")
            if round_index >= (runs if every_round else runs_others):
                continue
            for tool in order:
                grading = tools.run(tool, notebook, name, timeout=900)
                grading.update(round=round_index, submission=name)
                gradings.append(grading)
                if name == "solution" and grading["total"] is None:
                    raise SystemExit(f"{tool} gave the solution no score: see {grading['dir']}")
                m = grading["measure"]
                log(
                    f"  round {round_index + 1} {tool:5} {name:32} {m['wall_s']:7.2f} s wall "
                    f"{m['cpu_s']:7.2f} s CPU {m['peak_mb']:6.0f} MB  score {grading['total']}"
                )
    rows = []
    for name, _ in subs:
        if not any(g["submission"] == name for g in gradings):
            continue
        row = {"submission": name}
        for tool in ("otter", "ours"):
            mine = [g for g in gradings if g["submission"] == name and g["tool"] == tool]
            row[tool] = {
                "runs": len(mine),
                "wall_s": median([g["measure"]["wall_s"] for g in mine]),
                "wall_s_all": [g["measure"]["wall_s"] for g in mine],
                "cpu_s": median([g["measure"]["cpu_s"] for g in mine]),
                "peak_mb": median([g["measure"]["peak_mb"] for g in mine]),
                "peak_mb_max": max(g["measure"]["peak_mb"] for g in mine),
                "cgroup_peak_mb": median([cgroup_peak_mb(g["measure"]) for g in mine]),
                "largest_process_mb": max(g["measure"]["largest_mb"] for g in mine),
                "total": mine[0]["total"],
                "questions": mine[0]["questions"],
                "results_file": mine[0]["results_file"],
                "same_scores_every_run": all(
                    g["questions"] == mine[0]["questions"] and g["total"] == mine[0]["total"]
                    for g in mine
                ),
            }
        for key in ("wall_s", "cpu_s", "peak_mb"):
            a, b = row["otter"][key], row["ours"][key]
            row[f"ratio_{key}"] = round(a / b, 2) if a and b else None
        row["load_average_1min"] = median(
            [g["load_average_1min"] for g in gradings if g["submission"] == name]
        )
        row["disagreements"] = {
            q: {"otter": row["otter"]["questions"].get(q), "ours": row["ours"]["questions"].get(q)}
            for q in QUESTIONS
            if row["otter"]["questions"].get(q) != row["ours"]["questions"].get(q)
        }
        rows.append(row)
    return {"rows": rows, "gradings": [_strip(g) for g in gradings]}


def _strip(grading: dict) -> dict:
    return {k: v for k, v in grading.items() if k != "visible_text"}


def _leaks(text: str) -> list[str]:
    """The files whose text a LEAK payload got into the visible output (unique paths)."""
    return sorted(set(re.findall(r"LEAK\[([^\]]+)\]: (?!\(unreadable)", text)))


def section_attacks(
    tools: Tools, specs, honest: dict, timeout: float, log, rows: list, save
) -> list[dict]:
    """Grades every attack with both tools; ``rows`` grows and ``save`` runs after each one, so
    that a run stopped half way keeps what it measured."""
    for spec in specs:
        name = spec["name"]
        if "cell" in spec:
            base = {
                "solution": tools.grader_root / SOLUTION.relative_to(ROOT),
                "template": tools.grader_root / TEMPLATE.relative_to(ROOT),
            }[spec["base"]]
            notebook = smoke_copy(base, tools.work / "attacks" / name / "nmt.ipynb", spec["cell"])
        else:
            notebook = smoke_copy(spec["notebook"], tools.work / "attacks" / name / "nmt.ipynb")
        row = {k: spec.get(k) for k in ("name", "source", "base", "summary")}
        for tool in ("otter", "ours"):
            marker = tools.work / "attacks" / name / f"marker-{tool}.txt"
            marker.unlink(missing_ok=True)
            grading = tools.run(
                tool,
                notebook,
                f"attack-{name}",
                timeout=timeout,
                extra_env={"BENCH_ATTACK_MARKER": str(marker)},
                confine=tool == "otter",
            )
            text = grading["visible_text"]
            leaked = _leaks(text)
            honest_total = honest.get(spec.get("base"), {}).get(tool)
            outcome = {
                "total": grading["total"],
                "honest_total": honest_total,
                "score_change": (
                    None
                    if grading["total"] is None or honest_total is None
                    else round(grading["total"] - honest_total, 4)
                ),
                "results_file": grading["results_file"],
                "autograder_failed": grading.get("autograder_failed", False),
                "timed_out": grading["measure"]["timed_out"],
                "rc": grading["measure"]["rc"],
                "wall_s": grading["measure"]["wall_s"],
                "leaked_files": leaked,
                "hidden_tests_in_visible_output": "hidden=True" in text,
                "visible_chars": len(text),
                "marker": marker.read_text() if marker.exists() else None,
                "grader_pid": grading["measure"]["pid"],
                "dir": grading["dir"],
            }
            row[tool] = outcome
            log(
                f"  attack {name:22} {tool:5} score {outcome['total']} (honest {honest_total}) "
                f"results file {outcome['results_file']} leaked {len(leaked)} "
                f"marker {outcome['marker']!r}"
            )
        rows.append(row)
        save()
    return rows


def _loop_driver(jobs: int, python: str, grader_root: str, out: str, notebooks: list[str]) -> int:
    """Internal: `grade.py grade` over notebooks, ``jobs`` at a time (the batch fallback)."""
    pending = list(enumerate(notebooks))
    running: list[subprocess.Popen] = []
    failures = 0
    while pending or running:
        while pending and len(running) < jobs:
            index, notebook = pending.pop(0)
            target = Path(out) / f"{index:04d}"
            running.append(
                subprocess.Popen(
                    [python, "grade.py", "grade", notebook, "--out", str(target)],
                    cwd=grader_root,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        time.sleep(0.02)
        for process in [p for p in running if p.poll() is not None]:
            failures += process.returncode != 0
            running.remove(process)
    return 1 if failures else 0


def has_batch(tools: Tools) -> bool:
    probe = subprocess.run(
        [str(tools.python), "grade.py", "batch", "--help"],
        cwd=tools.grader_root,
        capture_output=True,
        text=True,
    )
    return probe.returncode == 0


def section_batch(tools: Tools, subs, scores: dict, batch_n: int, log) -> dict:
    first_round = [g for g in scores["gradings"] if g["round"] == 0]
    loops = {}
    for tool in ("otter", "ours"):
        mine = [g for g in first_round if g["tool"] == tool]
        loops[tool] = {
            "how": f"{'otter run' if tool == 'otter' else 'grade.py grade'} in a loop "
            "(the first scores round: the same gradings, one after another)",
            "submissions": len(mine),
            "wall_s": round(sum(g["measure"]["wall_s"] for g in mine), 2),
            "cpu_s": round(sum(g["measure"]["cpu_s"] for g in mine), 2),
            "peak_mb": max(g["measure"]["peak_mb"] for g in mine),
        }
        loops[tool]["per_minute"] = round(60 * len(mine) / loops[tool]["wall_s"], 2)
    # ours over batch_n notebooks, 1 and 2 at a time
    folder = tools.work / "batch" / "submissions"
    folder.mkdir(parents=True, exist_ok=True)
    notebooks = []
    for i in range(batch_n):
        name, notebook = subs[i % len(subs)]
        target = folder / f"{i:03d}-{name}.ipynb"
        shutil.copy(notebook, target)
        notebooks.append(target)
    use_batch = has_batch(tools)
    ours = {}
    for jobs in (1, 2):
        out = tools.work / "batch" / f"ours-jobs{jobs}"
        if use_batch:
            command = [
                str(tools.python),
                "grade.py",
                "batch",
                str(folder),
                "--out",
                str(out),
                "--jobs",
                str(jobs),
            ]
            how = f"grade.py batch --jobs {jobs}"
        else:
            command = [
                sys.executable,
                str(Path(__file__).resolve()),
                "_loop",
                str(jobs),
                str(tools.python),
                str(tools.grader_root),
                str(out),
                *map(str, notebooks),
            ]
            how = f"grade.py grade in a loop, {jobs} at a time (no grade.py batch yet)"
        limits = tools.accounting if tools.accounting.active else None
        if limits:
            limits.reset()
        m = measure(
            command,
            cwd=tools.grader_root,
            log=tools.work / "batch" / f"jobs{jobs}.log",
            limits=limits,
        )
        written = len(list(out.rglob("results.json"))) if out.exists() else 0
        ours[f"jobs{jobs}"] = {
            "how": how,
            "command": command[:8] + (["..."] if len(command) > 8 else []),
            "submissions": batch_n,
            "results_written": written,
            "wall_s": m.wall_s,
            "cpu_s": m.cpu_s,
            "peak_mb": m.peak_mb,
            "cgroup_peak_mb": cgroup_peak_mb(asdict(m)),
            "at_peak": m.at_peak,
            "rc": m.rc,
            "per_minute": round(60 * batch_n / m.wall_s, 1),
        }
        log(f"  batch ours jobs {jobs}: {batch_n} in {m.wall_s:.1f} s, peak {m.peak_mb:.0f} MB")
    otter_median = median(
        [g["measure"]["wall_s"] for g in scores["gradings"] if g["tool"] == "otter"]
    )
    return {
        "docker": docker_status(),
        "loops": loops,
        "ours": ours,
        "used_grade_py_batch": use_batch,
        "otter_estimate_for_batch_n_s": round(
            loops["otter"]["wall_s"] / loops["otter"]["submissions"] * batch_n, 1
        ),
        "otter_median_single_s": otter_median,
    }


def docker_status() -> str:
    if not shutil.which("docker"):
        return "no docker client"
    probe = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=60)
    if probe.returncode == 0:
        return "docker engine available"
    lines = (probe.stderr or probe.stdout).strip().splitlines()
    return f"docker client present, no engine: {lines[-1] if lines else 'docker info failed'}"


def section_tier(tools: Tools, subs, cpus: float, memory: int, log, shares=None) -> dict:
    limits = Limits(cpus, memory, shares=shares)
    rows = {"imposed": limits.how, "cpus": cpus, "memory_bytes": memory}
    try:
        if not limits.active:
            log(f"  tier: not imposed ({limits.how})")
            return rows
        solution = dict(subs)["solution"]
        for tool in ("otter", "ours"):
            limits.reset()
            grading = tools.run(tool, solution, "tier", timeout=1200, limits=limits)
            rows[tool] = {
                "total": grading["total"],
                "results_file": grading["results_file"],
                "questions": grading["questions"],
                **grading["measure"],
            }
            log(
                f"  tier {tool:5}: {grading['measure']['wall_s']:.1f} s, score {grading['total']}, "
                f"cgroup {grading['measure']['cgroup']}"
            )
    finally:
        limits.remove()
    return rows


# --------------------------------------------------------------------------------------------
# report


def machine_info(tools: Tools) -> dict:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    memory = Path("/proc/meminfo").read_text().splitlines()[0].split()[1]

    def version(python: Path, code: str) -> str:
        done = subprocess.run([str(python), "-c", code], capture_output=True, text=True)
        return done.stdout.strip() or done.stderr.strip()[-200:]

    otter_python = OTTER_VENV / "bin" / "python"
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        cwd=tools.grader_root,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "memory_gib": round(int(memory) / 2**20, 1),
        "kernel": platform.release(),
        "load_average_start": os.getloadavg(),
        "ours_python": version(Path(tools.python), "import sys; print(sys.version.split()[0])"),
        "ours_torch": version(Path(tools.python), "import torch; print(torch.__version__)"),
        "otter_version": version(otter_python, "import otter; print(otter.__version__)"),
        "otter_torch": version(otter_python, "import torch; print(torch.__version__)"),
        "grader_root": str(tools.grader_root),
        "grader_commit": commit or "not a git checkout",
    }


def fmt(value, digits=2, unit=""):
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}{unit}"
    return f"{value}{unit}"


def markdown(report: dict) -> str:
    lines = ["# otter-grader 7 vs nmt-autograder", ""]
    machine = report["machine"]
    lines += [
        f"Machine: {machine['cpu']}, {machine['cpus']} CPUs, {machine['memory_gib']} GiB, "
        f"Linux {machine['kernel']}; load average at the start "
        f"{', '.join(f'{x:.2f}' for x in machine['load_average_start'])}. "
        f"Ours: Python {machine['ours_python']}, torch {machine['ours_torch']}, commit "
        f"{machine['grader_commit']}. otter-grader {machine['otter_version']}, torch "
        f"{machine['otter_torch']}. {report['date']}; `{report['command']}`.",
        "",
    ]
    if "scores" in report:
        lines += [
            "## One submission: time and memory (medians)",
            "",
            "| submission | runs | otter wall | ours wall | ratio | otter CPU | ours CPU | ratio "
            "| otter peak | ours peak | ratio | otter / ours charged | otter score | ours score "
            "| load |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for row in report["scores"]["rows"]:
            o, u = row["otter"], row["ours"]
            lines.append(
                f"| {row['submission']} | {o['runs']}/{u['runs']} | {fmt(o['wall_s'])} s | "
                f"{fmt(u['wall_s'])} s | {fmt(row['ratio_wall_s'], 1)}x | {fmt(o['cpu_s'])} s | "
                f"{fmt(u['cpu_s'])} s | {fmt(row['ratio_cpu_s'], 1)}x | "
                f"{fmt(o['peak_mb'], 0)} MB | {fmt(u['peak_mb'], 0)} MB | "
                f"{fmt(row['ratio_peak_mb'], 1)}x | "
                f"{fmt(o['cgroup_peak_mb'], 0)} / {fmt(u['cgroup_peak_mb'], 0)} MiB | "
                f"{fmt(o['total'])} | {fmt(u['total'])} | {fmt(row['load_average_1min'], 1)} |"
            )
        lines += [
            "",
            "## Points per question (otter / ours)",
            "",
            "| submission | " + " | ".join(QUESTIONS) + " | agree |",
            "|---|" + "---|" * (len(QUESTIONS) + 1),
        ]
        for row in report["scores"]["rows"]:
            cells = []
            for q in QUESTIONS:
                a = row["otter"]["questions"].get(q)
                b = row["ours"]["questions"].get(q)
                mark = "" if a == b else " **≠**"
                cells.append(f"{fmt(a, 1)} / {fmt(b, 1)}{mark}")
            agree = "yes" if not row["disagreements"] else "no"
            lines.append(f"| {row['submission']} | " + " | ".join(cells) + f" | {agree} |")
        lines.append("")
    if "attacks" in report:
        lines += [
            "## Attacks",
            "",
            "| attack | base (honest otter / ours) | otter: score, results file, leaked, "
            "parent code | ours: score, results file, leaked |",
            "|---|---|---|---|",
        ]
        for row in report["attacks"]:
            o, u = row["otter"], row["ours"]

            def cell(outcome, with_marker):
                parts = [
                    f"{fmt(outcome['total'])}"
                    + (
                        f" ({outcome['score_change']:+g})"
                        if outcome["score_change"] not in (None, 0)
                        else ""
                    ),
                    "results" if outcome["results_file"] else "**no results.json**",
                ]
                if outcome["timed_out"]:
                    parts.append(f"killed after {outcome['wall_s']:.0f} s")
                if outcome.get("autograder_failed"):
                    parts.append("Autograder Failed")
                hidden = " (hidden tests)" if outcome["hidden_tests_in_visible_output"] else ""
                parts.append(
                    f"**{len(outcome['leaked_files'])} files leaked**{hidden}"
                    if outcome["leaked_files"]
                    else "no leak"
                )
                if with_marker and outcome["marker"]:
                    pids = re.findall(r"\d+", outcome["marker"])
                    where = (
                        "the grading process itself"
                        if pids and int(pids[0]) == outcome["grader_pid"]
                        else f"pid {pids[0] if pids else '?'}"
                    )
                    parts.append(f"**student code ran in {where}** ({outcome['marker']})")
                elif with_marker:
                    parts.append("no code in the grader's process")
                return ", ".join(parts)

            base = f"{row['base']} ({fmt(o['honest_total'])} / {fmt(u['honest_total'])})"
            lines.append(f"| {row['name']} | {base} | {cell(o, True)} | {cell(u, False)} |")
        lines.append("")
    if "batch" in report:
        b = report["batch"]
        lines += [
            "## Class batch",
            "",
            f"Docker: {b['docker']}. `otter grade` cannot run here; otter's batch is `otter run` "
            "in a loop.",
            "",
            "| tool | how | submissions | wall | per minute | CPU | peak |",
            "|---|---|---|---|---|---|---|",
        ]
        for tool, loop in b["loops"].items():
            lines.append(
                f"| {tool} | {loop['how']} | {loop['submissions']} | {loop['wall_s']:.1f} s | "
                f"{loop['per_minute']} | {loop['cpu_s']:.1f} s | {loop['peak_mb']:.0f} MB |"
            )
        for _jobs, run in b["ours"].items():
            lines.append(
                f"| ours | {run['how']} | {run['submissions']} ({run['results_written']} "
                f"results) | {run['wall_s']:.1f} s | {run['per_minute']} | {run['cpu_s']:.1f} s | "
                f"{run['peak_mb']:.0f} MB |"
            )
        lines += [
            "",
            f"otter for the same {b['ours']['jobs1']['submissions']} notebooks, from its loop "
            f"above: about {b['otter_estimate_for_batch_n_s']:.0f} s (estimate, not run).",
            "",
        ]
    if "tier" in report:
        t = report["tier"]
        lines += ["## Smallest Gradescope tier (solution)", "", f"Imposed: {t['imposed']}.", ""]
        if "otter" in t:
            lines += [
                "| tool | wall | CPU | peak (RSS sum) | cgroup max usage | OOM kills | score |",
                "|---|---|---|---|---|---|---|",
            ]
            for tool in ("otter", "ours"):
                r = t[tool]
                cg = r["cgroup"]
                usage = cg.get("memory.max_usage_in_bytes", cg.get("memory.peak"))
                lines.append(
                    f"| {tool} | {r['wall_s']:.1f} s | {r['cpu_s']:.1f} s | {r['peak_mb']:.0f} MB "
                    f"| {fmt(usage and round(usage / 2**20), 0)} MiB | "
                    f"{cg.get('oom_kill', cg.get('oom', '-'))} | {fmt(r['total'])} |"
                )
            lines.append("")
    lines.append(f"Whole run: {report['elapsed_s'] / 60:.1f} min.")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------


_OPEN: list[Tools] = []  # removed at exit, however the run ends


def main() -> int:
    try:
        return _main()
    finally:
        for tools in _OPEN:
            tools.close()


def _main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "_loop":
        jobs, python, root, out, *notebooks = sys.argv[2:]
        return _loop_driver(int(jobs), python, root, out, notebooks)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="rounds for solution and template")
    parser.add_argument("--runs-others", type=int, default=1, help="rounds for wrong-*")
    parser.add_argument("--sections", default="scores,attacks,batch,tier")
    parser.add_argument("--attacks", type=Path, action="append", help="more attack folders")
    parser.add_argument("--attack-timeout", type=float, default=120)
    parser.add_argument("--attack-only", default="", help="only attacks whose name matches")
    parser.add_argument(
        "--attack-sets",
        default="ours,corpus",
        help="ours: benchmarks/otter/attacks; corpus: python -m tests.attacks (if present)",
    )
    parser.add_argument("--batch-n", type=int, default=36)
    parser.add_argument("--tier-cpus", type=float, default=0.5)
    parser.add_argument("--tier-memory", type=int, default=750_000_000, help="bytes")
    parser.add_argument(
        "--cpu-shares",
        type=int,
        help="cgroup cpu.shares of every grading (default 1024): more than 1024 makes other jobs "
        "on a shared machine disturb the measurements less",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "otter-compare")
    parser.add_argument("--otter-zip", type=Path, default=DEFAULT_ZIP)
    parser.add_argument("--python", default=str(ROOT / ".venv" / "bin" / "python"))
    parser.add_argument("--grader-root", type=Path, default=ROOT, help="where grade.py is")
    parser.add_argument(
        "--grader-ref",
        help="grade with a snapshot of this git commit (git archive) instead of the working tree",
    )
    args = parser.parse_args()
    sections = set(args.sections.split(","))
    args.out = args.out.resolve()
    started = time.perf_counter()

    if not (OTTER_VENV / "bin" / "otter").exists():
        raise SystemExit("no benchmarks/.venv-otter: run benchmarks/otter/build_master.py --setup")

    if args.out.exists():
        shutil.rmtree(args.out)
    args.out.mkdir(parents=True)
    work = Path(tempfile.mkdtemp(prefix="otter-compare-", dir=args.out))
    grader_commit = None
    if args.grader_ref:
        snapshot = work / "grader"
        snapshot.mkdir()
        archive = subprocess.run(
            ["git", "archive", "--format=tar", args.grader_ref],
            cwd=ROOT,
            capture_output=True,
            check=True,
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(snapshot)], input=archive, check=True)
        grader_commit = subprocess.run(
            ["git", "rev-parse", "--short", args.grader_ref],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip()
        args.grader_root = snapshot
    tools = Tools(args, work)
    _OPEN.append(tools)
    subreaper = _become_subreaper()
    log_file = open(args.out / "log.txt", "w")  # noqa: SIM115

    def log(message: str) -> None:
        print(message.encode("utf-8", "replace").decode(), flush=True)
        log_file.write(message.encode("utf-8", "replace").decode() + "\n")
        log_file.flush()

    report: dict = {
        "command": " ".join(["python", "benchmarks/compare_otter.py", *sys.argv[1:]]),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {
            **machine_info(tools),
            "subreaper": subreaper,
            "memory_accounting": tools.accounting.how,
        },
    }
    if grader_commit:
        report["machine"]["grader_commit"] = f"{grader_commit} (snapshot of {args.grader_ref})"
    log(json.dumps(report["machine"]))
    subs = the_set(work, tools.grader_root)
    # the otter version of the same commit: its solution and rubric
    build = [
        sys.executable,
        str(OTTER_DIR / "build_master.py"),
        "--solution",
        str(tools.grader_root / SOLUTION.relative_to(ROOT)),
        "--rubric",
        str(tools.grader_root / "autograder" / "rubric.toml"),
        "--no-run-tests",
    ]
    subprocess.run(build, check=True, stdout=subprocess.DEVNULL)
    unmirrored = json.loads((OTTER_DIR / "build" / "master" / "unmirrored.json").read_text())
    tools.unmirrored = set(unmirrored)
    report["unmirrored_checks"] = unmirrored
    if unmirrored:
        log(f"checks without an otter test, left out of our points: {unmirrored}")

    def save() -> None:
        report["elapsed_s"] = round(time.perf_counter() - started, 1)
        report["machine"]["load_average_end"] = os.getloadavg()
        text = json.dumps(report, indent=1, default=str) + "\n"  # ASCII: surrogates escaped
        (args.out / "results.json").write_text(text)
        (args.out / "results.md").write_text(markdown(report), errors="replace")

    if sections & {"scores", "batch"}:
        log(f"scores: {len(subs)} notebooks, {args.runs} rounds ({args.runs_others} for wrong-*)")
        report["scores"] = section_scores(tools, subs, args.runs, args.runs_others, log)
        save()
    if "attacks" in sections:
        folders = [OUR_ATTACKS] if "ours" in args.attack_sets else []
        if "corpus" in args.attack_sets:
            corpus = build_corpus(tools, log)
            if corpus is not None:
                folders.append(corpus)
        folders += args.attacks or []
        honest = honest_scores(tools, report, subs, log)
        log(f"attacks from {', '.join(str(f) for f in folders)}")
        report["attacks"] = []
        specs = [a for a in attack_specs(folders) if re.search(args.attack_only, a["name"])]
        section_attacks(tools, specs, honest, args.attack_timeout, log, report["attacks"], save)
        save()
    if "batch" in sections:
        log("batch")
        report["batch"] = section_batch(tools, subs, report["scores"], args.batch_n, log)
        save()
    if "tier" in sections:
        log("tier")
        report["tier"] = section_tier(
            tools, subs, args.tier_cpus, args.tier_memory, log, shares=args.cpu_shares
        )
        save()
    save()
    log(f"wrote {args.out / 'results.json'} and {args.out / 'results.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
