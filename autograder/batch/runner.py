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
from pathlib import Path

from autograder.batch.driver import Driver, Unit
from autograder.batch.grading import GradingSetup, fingerprint_submission, not_graded_report
from autograder.batch.inputs import discover, student_folder_names
from autograder.batch.inputs_model import InputError, Submission
from autograder.batch.options import BatchOptions, BatchSummary
from autograder.batch.outputs import class_records, locked_output, write_class
from autograder.outcome import GradingStatus


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


def _plan(
    driver: Driver, submissions: tuple[Submission, ...], chosen: set[str]
) -> tuple[dict[str, list[Unit]], int, int]:
    """Take what the cache has; the probe jobs still to run (by probe key, identical
    notebooks together), how many came from the cache, how many were left out."""
    pending: dict[str, list[Unit]] = {}
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
        elif selected or _graded_before(driver, submission):
            pending.setdefault(unit.probe, []).append(unit)
        else:
            left_out += 1
    return pending, cached, left_out


def _graded_before(driver: Driver, submission: Submission) -> bool:
    """Whether an earlier run wrote this submission's files: a submission ``--only`` leaves out
    but whose cached result no longer fits (another grader, goldens or limits) is graded again,
    so that the class's files keep every student who was in them."""
    out = driver.options.out
    return any(
        (out / driver.folders[student.id] / "results.json").is_file()
        for student in submission.students
        if student.id in driver.folders
    )


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
        driver = Driver(options, state, GradingSetup.load(options.config))
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
