"""The driver of a batch: each submission from the cache or from a probe job, then its files.

``Driver.from_cache`` takes a stored result, else stored probes judged again (no student code
runs); ``Driver.probe_all`` runs the rest as probe jobs on an executor and, as each comes back,
stores its probes, judges them, stores the result and writes the students' files (``done``), so
a batch killed at any moment keeps everything finished.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
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
    not_graded_report,
    report_from_probed,
)
from autograder.batch.inputs_model import Submission
from autograder.batch.options import (
    CHILD_MEMORY_GB,
    EXECUTE_MEMORY_GB,
    BatchOptions,
    default_jobs,
    hidden_paths,
)
from autograder.batch.outputs import write_student
from autograder.batch.worker import ProbeJob
from autograder.engine import Probed
from autograder.outcome import GradingReport, GradingStatus
from autograder.report import render_feedback, render_gradescope


@dataclass(frozen=True)
class Unit:
    """A submission to grade, with its cache keys."""

    submission: Submission
    """What to grade."""
    probe: str
    """Its probe key."""
    result: str
    """Its result key."""


class Driver:
    """One batch run: grades units and writes what they give."""

    def __init__(self, options: BatchOptions, state: Path, setup: GradingSetup) -> None:
        self.options = options
        """What the batch was asked to do."""
        self.setup = setup
        """Rubric, goldens, checks."""
        self.cache = Cache(state / "cache")
        """The cache under OUT."""
        self.results: dict[str, CachedResult] = {}
        """Each submission's result so far, by submission id."""
        self.folders: dict[str, str] = {}
        """Each student's folder under OUT, by student id."""
        self.hidden = hidden_paths(options)
        """Folders every child must not see (input and output)."""

    def unit(self, submission: Submission) -> Unit:
        path = submission.path
        assert path is not None  # units are made for submissions with a notebook only
        probe = probe_key(
            content=file_hash(path),
            name=path.name,
            goldens=self.setup.goldens.digest,
            cases=set(self.setup.cases),
            limits=self.setup.config.limits,
            execute=self.options.execute.key() if self.options.execute else None,
        )
        return Unit(submission, probe, result_key(probe=probe, rubric=self.setup.rubric_hash))

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

    def judge(self, units: list[Unit], probed: Probed, fingerprint: str | None) -> None:
        """Judge probes (fresh or cached) and record the result for every unit sharing them."""
        start = time.perf_counter()
        report = report_from_probed(
            self.setup, probed, seconds=probed.seconds, execute=self.options.execute
        )
        report.seconds = probed.seconds + time.perf_counter() - start
        result = self.finish(report, fingerprint)
        for unit in units:
            self.cache.store_result(unit.result, result)
            self.cache.log("judged", key=unit.result, submission=unit.submission.id)
            self.record(unit.submission, result)

    def failed(self, units: list[Unit], problem: str) -> None:
        """The grader itself failed on these: an error report, not cached (a rerun retries)."""
        for unit in units:
            name = unit.submission.path.name if unit.submission.path else unit.submission.id
            report = not_graded_report(self.setup, name, GradingStatus.ERROR, problem)
            self.record(unit.submission, self.finish(report, None))

    def from_cache(self, unit: Unit, force: bool) -> bool:
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

    def job(self, unit: Unit) -> ProbeJob:
        path = unit.submission.path
        assert path is not None
        return ProbeJob(
            name=path.name,
            data=path.read_bytes(),
            cases=tuple(sorted(self.setup.cases)),
            limits=self.setup.config.limits,
            hidden=self.hidden,
            execute=self.options.execute,
            fork_server=self.options.fork_server,
        )

    def executor(self, jobs: Iterator[tuple[str, ProbeJob]], count: int):
        options, goldens = self.options, self.setup.goldens
        execute = options.execute
        if options.ray_address:
            gpus = execute.gpu_share if execute is not None and execute.gpu else 0.0
            return run_ray(jobs, goldens, address=options.ray_address, num_gpus=gpus)
        memory = EXECUTE_MEMORY_GB if execute is not None else CHILD_MEMORY_GB
        workers = min(options.jobs or default_jobs(memory), max(count, 1))
        if workers <= 1:
            return run_inline(jobs, goldens)
        return run_pool(jobs, goldens, workers=workers)

    def probe_all(self, pending: dict[str, list[Unit]]) -> None:
        """Run the probe jobs, storing and judging each as it finishes."""
        jobs = ((key, self.job(units[0])) for key, units in pending.items())
        bar = tqdm(
            total=len(pending), desc="grading", unit="submission", disable=not self.options.progress
        )
        with bar:
            for key, blob in self.executor(jobs, len(pending)):
                self.done(pending[key], blob)
                bar.update(1)

    def done(self, units: list[Unit], blob: ProbeBlob) -> None:
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
