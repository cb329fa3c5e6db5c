"""Where the probe jobs run: in the batch's process, in a pool of processes, or on Ray.

Each executor takes ``(key, ProbeJob)`` pairs and yields ``(key, ProbeBlob)`` as jobs finish,
keeping at most a window of jobs in flight (a job carries its notebook's bytes). The driver
does the rest (cache, judging, outputs) the same way whichever executor ran the jobs.

- ``run_inline``: one job after another in this process (``--jobs 1``).
- ``run_pool``: ``jobs`` worker processes (started with ``spawn``: a fork of a driver with
  threads is unsafe). A worker that dies (killed for memory, say) breaks the pool: a fresh pool
  reruns the jobs that were in flight, and a job that breaks it three times is reported as the
  grader's error.
- ``run_ray``: one Ray task per job on an existing cluster (``ray.init(address=...)``), the
  goldens put once in the object store. Ray is optional: imported only here.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from autograder.batch.codec import ProbeBlob
from autograder.batch.worker import ProbeJob, init_pool_worker, pool_probe_job, probe_job
from autograder.goldens import Goldens

Jobs = Iterable[tuple[str, ProbeJob]]
Done = Iterator[tuple[str, ProbeBlob]]
MAX_ATTEMPTS = 3
"""Times a job may break the worker pool before it is reported as the grader's error."""


def run_inline(jobs: Jobs, goldens: Goldens) -> Done:
    """Every job in this process, in order."""
    for key, job in jobs:
        yield key, probe_job(job, goldens)


def _new_pool(workers: int, goldens: Goldens) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=init_pool_worker,
        initargs=(goldens,),
    )


def run_pool(jobs: Jobs, goldens: Goldens, *, workers: int) -> Done:
    """The jobs in ``workers`` processes, at most ``2 * workers`` in flight."""
    queue = iter(jobs)
    retry: list[tuple[str, ProbeJob]] = []
    attempts: dict[str, int] = {}
    pool = _new_pool(workers, goldens)
    running: dict[Future, tuple[str, ProbeJob]] = {}
    try:
        while True:
            while len(running) < 2 * workers:
                item = retry.pop() if retry else next(queue, None)
                if item is None:
                    break
                running[pool.submit(pool_probe_job, item[1])] = item
            if not running:
                return
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            broken = False
            for future in done:
                key, job = running.pop(future)
                try:
                    yield key, future.result()
                except BrokenProcessPool:
                    broken = True
                    attempts[key] = attempts.get(key, 0) + 1
                    if attempts[key] >= MAX_ATTEMPTS:
                        yield key, ProbeBlob(error="RuntimeError: the worker grading it died")
                    else:
                        retry.append((key, job))
            if broken:
                retry += running.values()
                running.clear()
                pool.shutdown(wait=False, cancel_futures=True)
                pool = _new_pool(workers, goldens)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def run_ray(
    jobs: Jobs, goldens: Goldens, *, address: str, window: int = 64, num_gpus: float = 0.0
) -> Done:
    """One Ray task per job on the cluster at ``address`` (a running ``ray.init`` in this
    process is used as it is); at most ``window`` tasks in flight; each task asks for
    ``num_gpus`` of a GPU (``--execute --device cuda``: a share, so several share one GPU)."""
    try:
        import ray
    except ImportError:
        raise ValueError('--ray needs Ray: pip install ".[cluster]"') from None
    if not ray.is_initialized():
        try:
            ray.init(address=address, log_to_driver=False)
        except (ConnectionError, RuntimeError, ValueError) as error:
            message = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise ValueError(f"cannot join the Ray cluster at {address}: {message}") from None
    task = ray.remote(num_cpus=1, num_gpus=num_gpus, max_retries=MAX_ATTEMPTS - 1)(probe_job)
    goldens_ref = ray.put(goldens)
    queue = iter(jobs)
    running: dict = {}
    while True:
        while len(running) < window and (item := next(queue, None)) is not None:
            running[task.remote(item[1], goldens_ref)] = item[0]
        if not running:
            return
        done, _ = ray.wait(list(running), num_returns=1)
        for ref in done:
            key = running.pop(ref)
            try:
                blob = ray.get(ref)
            except Exception as error:  # noqa: BLE001 - a task Ray could not finish
                blob = ProbeBlob(error=f"{type(error).__name__}: {str(error).splitlines()[0]}")
            yield key, blob
