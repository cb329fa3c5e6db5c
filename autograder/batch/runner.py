"""``run_batch``: grade a class, in parallel, resumably, from the cache where it can.

For each submission the driver computes its keys (``cache``) and takes, in order: the stored
result; else the stored probes, judged again (a rubric or check change: no student code runs);
else a probe job for an executor (``executors``). Identical notebooks are probed once. As each
job comes back the driver stores the probes, judges them, stores the result and writes the
students' files, so a batch killed at any moment keeps everything finished and the same command
picks up the rest. The class report is written at the end, from every student's result.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from autograder.batch.cache import (
    Cache,
    CachedResult,
    file_hash,
    probe_code_hash,
    probe_key,
    result_key,
)
from autograder.batch.codec import CodecError, ProbeBlob, decode_probed
from autograder.batch.executors import run_inline, run_pool, run_ray
from autograder.batch.grading import (
    GradingSetup,
    batch_status,
    fingerprint_submission,
    not_graded_report,
    report_from_probed,
)
from autograder.batch.inputs import discover, student_folder_names
from autograder.batch.inputs_model import InputError, Submission
from autograder.batch.outputs import class_records, locked_output, write_class, write_student
from autograder.batch.worker import ProbeJob
from autograder.config import GraderConfig
from autograder.engine import Probed
from autograder.outcome import GradingReport, GradingStatus
from autograder.report import render_feedback, render_gradescope

CHILD_MEMORY_GB = 0.7
"""What one grading may use (the child's resident peak, with the worker): sizes ``--jobs``."""
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
    template: Path | None = DEFAULT_TEMPLATE
    """The handout's notebook, whose code is not reported as near-identical."""
    progress: bool = True
    """Show a progress bar on stderr."""


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
    """Submissions left out by ``only`` and never graded before."""
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


def default_jobs() -> int:
    """One job per core, as many as the available memory allows at ``CHILD_MEMORY_GB`` each."""
    import os

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    available = _available_memory()
    by_memory = int(available / (CHILD_MEMORY_GB * 2**30)) if available else cores or 1
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


@dataclass(frozen=True)
class _Unit:
    """A submission to grade, with its cache keys."""

    submission: Submission
    """What to grade."""
    probe: str
    """Its probe key."""
    result: str
    """Its result key."""


class _Driver:
    """One batch run: grades units and writes what they give."""

    def __init__(self, options: BatchOptions, state: Path, setup: GradingSetup) -> None:
        self.options = options
        self.setup = setup
        self.cache = Cache(state / "cache")
        self.results: dict[str, CachedResult] = {}
        self.folders: dict[str, str] = {}
        self.hidden = hidden_paths(options)

    def unit(self, submission: Submission) -> _Unit:
        path = submission.path
        assert path is not None  # units are made for submissions with a notebook only
        probe = probe_key(
            content=file_hash(path),
            name=path.name,
            goldens=self.setup.goldens.digest,
            cases=set(self.setup.cases),
            limits=self.setup.config.limits,
        )
        return _Unit(submission, probe, result_key(probe=probe, rubric=self.setup.rubric_hash))

    def record(self, submission: Submission, result: CachedResult) -> None:
        """Keep a submission's result and write its students' files."""
        self.results[submission.id] = result
        for student in submission.students:
            write_student(self.options.out, self.folders[student.id], result)

    def finish(self, report: GradingReport, fingerprint: str | None) -> CachedResult:
        return CachedResult(
            results=render_gradescope(report),
            feedback=render_feedback(report),
            status=batch_status(report),
            fingerprint=fingerprint,
        )

    def judge(self, units: list[_Unit], probed: Probed, fingerprint: str | None) -> None:
        """Judge probes (fresh or cached) and record the result for every unit sharing them."""
        start = time.perf_counter()
        report = report_from_probed(self.setup, probed, seconds=probed.seconds)
        report.seconds = probed.seconds + time.perf_counter() - start
        result = self.finish(report, fingerprint)
        for unit in units:
            self.cache.store_result(unit.result, result)
            self.cache.log("judged", key=unit.result, submission=unit.submission.id)
            self.record(unit.submission, result)

    def failed(self, units: list[_Unit], problem: str) -> None:
        """The grader itself failed on these: an error report, not cached (a rerun retries)."""
        for unit in units:
            name = unit.submission.path.name if unit.submission.path else unit.submission.id
            report = not_graded_report(self.setup, name, GradingStatus.ERROR, problem)
            self.record(unit.submission, self.finish(report, None))

    def from_cache(self, unit: _Unit, force: bool) -> bool:
        """Take the unit from the cache when allowed and present; whether it was."""
        if force:
            return False
        cached = self.cache.load_result(unit.result)
        if cached is not None:
            self.record(unit.submission, cached)
            return True
        blob = self.cache.load_probed(unit.probe)
        try:
            probed = decode_probed(blob) if blob is not None else None
        except CodecError:
            probed = None
        if probed is None:
            return False
        self.judge([unit], probed, blob.fingerprint)
        return True

    def job(self, unit: _Unit) -> ProbeJob:
        path = unit.submission.path
        assert path is not None
        return ProbeJob(
            name=path.name,
            data=path.read_bytes(),
            cases=tuple(sorted(self.setup.cases)),
            limits=self.setup.config.limits,
            hidden=self.hidden,
        )

    def executor(self, jobs: Iterator[tuple[str, ProbeJob]], count: int):
        options, goldens = self.options, self.setup.goldens
        if options.ray_address:
            return run_ray(jobs, goldens, address=options.ray_address)
        workers = min(options.jobs or default_jobs(), max(count, 1))
        if workers <= 1:
            return run_inline(jobs, goldens)
        return run_pool(jobs, goldens, workers=workers)

    def probe_all(self, pending: dict[str, list[_Unit]]) -> None:
        """Run the probe jobs, storing and judging each as it finishes."""
        jobs = ((key, self.job(units[0])) for key, units in pending.items())
        bar = tqdm(
            total=len(pending), desc="grading", unit="submission", disable=not self.options.progress
        )
        with bar:
            for key, blob in self.executor(jobs, len(pending)):
                self.done(pending[key], blob)
                bar.update(1)

    def done(self, units: list[_Unit], blob: ProbeBlob) -> None:
        error = blob.error or (
            ""
            if blob.code == probe_code_hash()
            else "the worker runs another version of the "
            "grader than the driver: install the same version on every node"
        )
        if error:
            self.cache.log("failed", key=units[0].probe, error=error)
            self.failed(units, error)
            return
        try:
            probed = decode_probed(blob)
        except CodecError as error:
            self.failed(units, f"CodecError: {error}")
            return
        self.cache.store_probed(units[0].probe, blob)
        self.cache.log("probed", key=units[0].probe, submission=units[0].submission.id)
        self.judge(units, probed, blob.fingerprint)


def _select(submissions: tuple[Submission, ...], only: tuple[str, ...]) -> set[str]:
    """The submission ids ``only`` names (by student or submission id); all when empty."""
    if not only:
        return {s.id for s in submissions}
    wanted, chosen = set(only), set()
    for submission in submissions:
        names = {submission.id, *(student.id for student in submission.students)}
        if names & wanted:
            chosen.add(submission.id)
            wanted -= names
    if wanted:
        raise InputError(f"no submission or student {', '.join(sorted(wanted))} in the input")
    return chosen


def _plan(driver: _Driver, submissions, chosen: set[str]) -> tuple[dict, int, int]:
    """Take what the cache has; the probe jobs still to run (by probe key, identical
    notebooks together), how many came from the cache, how many were left out."""
    pending: dict[str, list[_Unit]] = {}
    cached = left_out = 0
    for submission in submissions:
        selected = submission.id in chosen
        if submission.path is None:
            report = not_graded_report(
                driver.setup, submission.id, GradingStatus.UNREADABLE, submission.problem
            )
            driver.record(submission, driver.finish(report, None))
            continue
        unit = driver.unit(submission)
        if driver.from_cache(unit, force=selected and bool(driver.options.only)):
            cached += 1
        elif selected:
            pending.setdefault(unit.probe, []).append(unit)
        else:
            left_out += 1
    return pending, cached, left_out


def _template_fingerprints(template: Path | None) -> set[str]:
    fingerprint = fingerprint_submission(template) if template and template.is_file() else None
    return {fingerprint} if fingerprint else set()


def run_batch(options: BatchOptions) -> BatchSummary:
    """Grade the class (see the module docstring). Raises InputError (a ValueError) for an
    input that cannot be read, ValueError for a bad rubric."""
    start = time.perf_counter()
    if options.jobs is not None and options.jobs < 1:
        raise ValueError(f"--jobs must be at least 1, not {options.jobs}")
    with locked_output(options.out) as state:
        discovery = discover(options.source, staging=state / "zips", exclude=(options.out,))
        chosen = _select(discovery.submissions, options.only)
        driver = _Driver(options, state, GradingSetup.load(options.config))
        driver.folders = student_folder_names(discovery.submissions)
        pending, cached, left_out = _plan(driver, discovery.submissions, chosen)
        driver.probe_all(pending)
        graded = [
            (s, driver.results[s.id]) for s in discovery.submissions if s.id in driver.results
        ]
        report = None
        if graded:
            records = class_records(graded, driver.folders)
            ignore = _template_fingerprints(options.template)
            report = write_class(
                options.out, records, title=driver.setup.rubric.title, ignore=ignore
            )
    statuses = Counter(result.status for _, result in graded)
    return BatchSummary(
        statuses=dict(statuses),
        probed=sum(len(units) for units in pending.values()),
        from_cache=cached,
        not_selected=left_out,
        skipped=discovery.skipped,
        seconds=time.perf_counter() - start,
        report=report,
    )
