"""pytest plugin for the mutation run only (tests/mutation/run.py; never in the test suite).

Probes and extraction do not depend on the mutated modules (checks, engine, report,
transport): their results are memoised by their whole input (the source or the file's bytes,
every call, the limits, budgets and modules),
so a mutant reruns the grader's parent side, not torch or the sandbox. mutmut forks every
mutant from the process that ran the tests once, so each mutant finds the memo full. A mutant
that changes what is probed misses the memo and runs the real thing.
"""

from __future__ import annotations

import hashlib
import os
import pickle
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")


def _digest(*parts) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(pickle.dumps(part, protocol=4))
    return h.hexdigest()


def pytest_configure(config):
    import torch

    import autograder
    import autograder.engine as engine
    import tests.inprocess as inprocess

    torch.set_num_threads(1)
    if "/mutants/" not in autograder.__file__:
        raise RuntimeError(f"not the mutated copy: {autograder.__file__}")
    if getattr(engine.run_probes, "memoised", False):
        return
    real_probe_results, in_process = inprocess.probe_results, {}

    def probe_results(source):
        if source not in in_process:
            in_process[source] = real_probe_results(source)
        return dict(in_process[source])

    inprocess.probe_results = probe_results
    real_run_probes, sandboxed = engine.run_probes, {}

    def run_probes(source, calls, *, dropped=None, launcher=None, locate=None, **kwargs):
        call_data = [(c.id, c.probe, c.question, dict(c.kwargs), dict(c.arrays)) for c in calls]
        key = _digest(source, call_data, sorted(kwargs.items()), repr(launcher))
        if key not in sandboxed:
            left_out: list = []
            found = real_run_probes(
                source, calls, dropped=left_out, launcher=launcher, locate=locate, **kwargs
            )
            sandboxed[key] = (found, left_out)
        found, left_out = sandboxed[key]
        if dropped is not None:
            dropped.extend(left_out)
        return list(found)

    run_probes.memoised = True
    engine.run_probes = run_probes
    _memoise_extraction(engine, inprocess)


def _memoise_extraction(*modules) -> None:
    """Extraction runs in a process of its own (about a second): memoised by the file's bytes."""
    import autograder.extract as extract

    real, extracted = extract.extract_submission, {}

    def extract_submission(path, **kwargs):
        try:
            key = _digest(Path(path).read_bytes(), sorted(kwargs.items()))
        except OSError:
            return real(path, **kwargs)
        if key not in extracted:
            try:
                extracted[key] = real(path, **kwargs)
            except extract.ExtractError as error:
                extracted[key] = error
        found = extracted[key]
        if isinstance(found, Exception):
            raise found
        return found

    for module in (extract, *modules):
        module.extract_submission = extract_submission
