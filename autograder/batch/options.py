"""What a batch is asked to do (``BatchOptions``), what it did (``BatchSummary``), and the
machine-dependent defaults: the number of jobs and the folders hidden from every child."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from autograder.config import GraderConfig
from autograder.execution import ExecuteSettings

CHILD_MEMORY_GB = 0.7
"""What one grading may use (the child's resident peak, with the worker): sizes ``--jobs``."""
EXECUTE_MEMORY_GB = 1.2
"""The same with ``--execute`` (the execution's child and its kernel, after the probes' child;
the smoke profile's kernel peaks at about 0.45 GB)."""
DEFAULT_TEMPLATE = Path(__file__).resolve().parents[2] / "student_template" / "nmt.ipynb"
"""The notebook students received (in a checkout): its code is expected to be shared."""


@dataclass(frozen=True)
class BatchOptions:
    """What ``grade.py batch`` was asked to do."""

    source: Path
    """A folder of notebooks, a Gradescope export folder, or a zip of either."""
    out: Path
    """Where results, the class report and the batch's state go."""
    jobs: int | None = None
    """Submissions graded at once; None fits the machine (``default_jobs``)."""
    only: tuple[str, ...] = ()
    """Regrade only these students or submissions (their cache entries are ignored)."""
    ray_address: str | None = None
    """Run the probe jobs on this Ray cluster instead of local processes."""
    config: GraderConfig = field(default_factory=GraderConfig)
    """Rubric, goldens and the child's limits."""
    execute: ExecuteSettings | None = None
    """Also run each notebook (``--execute``), with these settings."""
    template: Path | None = DEFAULT_TEMPLATE
    """The handout's notebook, whose code is not reported as near-identical."""
    progress: bool = True
    """Show a progress bar on stderr."""
    fork_server: bool = True
    """Fork each sandboxed child from a warm fork server per worker (False: a fresh interpreter
    per child, which pays the import of torch every time)."""


@dataclass(frozen=True)
class BatchSummary:
    """What a batch did."""

    statuses: dict[str, int]
    """Submissions by status (graded, unreadable, timed_out, crashed, out_of_memory, error)."""
    probed: int
    """Submissions whose code ran in the sandbox in this run."""
    from_cache: int
    """Submissions whose probes came from the cache (results or probes)."""
    not_selected: int
    """Submissions left out by ``only`` and never graded before (one graded before whose cached
    result no longer fits the grader, goldens or limits is graded again)."""
    skipped: tuple[str, ...]
    """Input files that are not notebooks."""
    seconds: float
    """Wall time of the batch."""
    report: Path | None
    """report.html, when there was a submission to report."""

    def line(self) -> str:
        """The one-line summary a TA reads at the end."""
        s = self.statuses
        parts = [f"{s.get('graded', 0)} graded", f"{s.get('unreadable', 0)} unreadable"]
        parts += [f"{s.get('timed_out', 0)} timed out", f"{s.get('crashed', 0)} crashed"]
        if s.get("out_of_memory"):
            parts.append(f"{s['out_of_memory']} out of memory")
        if s.get("error"):
            parts.append(f"{s['error']} grader errors (rerun the batch to retry them)")
        text = ", ".join(parts) + f" ({self.probed} run now, {self.from_cache} from the cache"
        if self.not_selected:
            text += f", {self.not_selected} not selected"
        return text + f"; {self.seconds:.1f} s)"


def default_jobs(memory_gb: float = CHILD_MEMORY_GB) -> int:
    """One job per core, as many as the available memory allows at ``memory_gb`` each."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    available = _available_memory()
    by_memory = int(available / (memory_gb * 2**30)) if available else cores or 1
    return max(1, min(cores or 1, by_memory))


def hidden_paths(options: BatchOptions) -> tuple[str, ...]:
    """Folders no student's child may see: the input (a zip's folder) and OUT. Issue 9's
    allowlist hides everything else the child does not need; this holds without it too."""
    source = options.source.resolve()
    folder = source if source.is_dir() else source.parent
    paths = [options.out.resolve()] + ([folder] if folder != Path("/") else [])
    return tuple(str(p) for p in paths)


def _available_memory() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None
