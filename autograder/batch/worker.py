"""What a worker does for one submission: extract it and run the probes in the sandbox.

``probe_job`` is the whole unit of work, the same in the batch's own process (``--jobs 1``), in a
pool of worker processes and in a Ray task: it gets the notebook's bytes (a Ray node shares no
files with the driver), writes them into a private temporary folder, runs a ``Prober`` on them
and returns a ``ProbeBlob`` (plain JSON and ``.npz`` bytes, ``codec``) with the code's
fingerprint (extraction runs no student code; doing it here spreads its cost over the workers).
Nothing is judged or written here: the driver does that, so results are written in one place
however the work ran.

Workers never run student code themselves: the notebook is extracted once (the module feeds both
the probes and the code fingerprint), then the ``Prober`` (``autograder.engine.probe_module``)
runs one sandboxed child per submission, forked from the worker's own fork server
(``worker_launcher``: a warm process that imported torch once and never runs student code,
started by the worker's first job) unless the job asks for a fresh interpreter.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from autograder.batch.cache import probe_code_hash
from autograder.batch.codec import ProbeBlob, encode_probed
from autograder.batch.grading import fingerprint_module
from autograder.config import GraderConfig, default_secret_paths
from autograder.engine import Probed, probe_module
from autograder.execution import ExecuteSettings
from autograder.execution.run import with_execution
from autograder.extract import ExtractedModule, ExtractError, extract_submission
from autograder.goldens import Goldens
from autograder.outcome import GradingStatus
from autograder.probe_plan import PROBE_MODULES
from autograder.sandbox import ForkServer, SandboxLimits


class Prober(Protocol):
    """Run the probe cases on an extracted submission in the sandbox (the signature of
    ``autograder.engine.probe_module``)."""

    def __call__(
        self,
        module: ExtractedModule,
        name: str,
        *,
        goldens: Goldens,
        cases: set[str],
        config: GraderConfig,
        started: float | None = None,
    ) -> Probed: ...


@dataclass(frozen=True)
class ProbeJob:
    """One submission to probe, as it travels to a worker."""

    name: str
    """The notebook's file name (what reports call the submission)."""
    data: bytes
    """The notebook's bytes."""
    cases: tuple[str, ...]
    """The probe cases to run."""
    limits: SandboxLimits
    """The child's limits (hidden paths added on the worker's machine)."""
    hidden: tuple[str, ...] = ()
    """More folders the child must not see, on this machine: the batch's input and output."""
    execute: ExecuteSettings | None = None
    """Also run the notebook (``--execute``), after the probes."""
    fork_server: bool = True
    """Fork the sandbox's child from this worker's fork server (else a fresh interpreter)."""


_FORK_SERVER: ForkServer | None = None
"""This worker process's fork server, started by its first job (``worker_launcher``)."""


def worker_launcher(job: ProbeJob) -> ForkServer | None:
    """The fork server of this worker process (pool worker, Ray worker or the batch's own
    process), made on first use and kept for its later jobs; None when the job wants a fresh
    interpreter per child. It ends with the process."""
    global _FORK_SERVER
    if not job.fork_server:
        return None
    if _FORK_SERVER is None:
        _FORK_SERVER = ForkServer(PROBE_MODULES)
    return _FORK_SERVER


def worker_config(job: ProbeJob) -> GraderConfig:
    """The worker's configuration: this machine's secret paths and the job's, and the child's
    launcher."""
    secrets = (*default_secret_paths(), *(Path(p) for p in job.hidden))
    return GraderConfig(
        secret_paths=tuple(dict.fromkeys(secrets)),
        limits=replace(job.limits, hide_paths=None),
        launcher=worker_launcher(job),
    )


def probe_submission_file(
    path: Path, job: ProbeJob, goldens: Goldens, prober: Prober
) -> tuple[Probed, str | None]:
    """Extract once (for the probes and the fingerprint), then probe (and, with
    ``job.execute``, run the notebook); the Probed and the fingerprint."""
    start = time.perf_counter()
    try:
        module = extract_submission(path)
    except ExtractError as error:
        return Probed(path.name, GradingStatus.UNREADABLE, str(error), (), {}, 0.0), None
    cases = set(job.cases)
    config = worker_config(job)
    probed = prober(module, path.name, goldens=goldens, cases=cases, config=config, started=start)
    if job.execute is not None:
        probed = with_execution(probed, job.data, job.execute, config)
    return probed, fingerprint_module(module)


def probe_job(job: ProbeJob, goldens: Goldens, *, prober: Prober = probe_module) -> ProbeBlob:
    """Probe one submission (see the module docstring); a failure of the grader itself comes
    back as the blob's ``error``, never as an exception."""
    name = Path(job.name).name or "submission.ipynb"
    try:
        with tempfile.TemporaryDirectory(prefix="nmt-batch-") as folder:
            path = Path(folder) / name
            path.write_bytes(job.data)
            probed, fingerprint = probe_submission_file(path, job, goldens, prober)
        return encode_probed(probed, fingerprint=fingerprint, code=probe_code_hash())
    except Exception as error:  # noqa: BLE001 - the driver records it and grades the rest
        return ProbeBlob(error=f"{type(error).__name__}: {error}")


_GOLDENS: Goldens | None = None
"""The goldens of a pool worker process, set once by ``init_pool_worker``."""


def init_pool_worker(goldens: Goldens) -> None:
    """Pool initializer: keep the driver's goldens for every job of this worker process."""
    global _GOLDENS
    _GOLDENS = goldens


def pool_probe_job(job: ProbeJob) -> ProbeBlob:
    """``probe_job`` in a pool worker, with the goldens ``init_pool_worker`` kept."""
    if _GOLDENS is None:
        return ProbeBlob(error="RuntimeError: the worker process has no goldens")
    return probe_job(job, _GOLDENS)
