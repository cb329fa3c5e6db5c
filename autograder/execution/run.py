"""Run the submitted notebook in the sandbox: one ``execute`` probe call, its own ``run_probes``.

The execution is a probe (``autograder/child/probes/execute.py``) run as its own question,
``execute``, with its own budget (the notebook's budget plus a grace for stopping the kernel):
a notebook that loops forever is stopped there, by the probe itself (it then still sends back
the notebook and the cell it stopped in) or, failing that, by the sandbox. It runs in a
``run_probes`` of its own, after the checks' probes, with an empty module (the kernel runs the
notebook itself): the checks' grade is the same with or without ``--execute``, an extracted
module that fails or hangs at import costs the execution nothing, and the execution gets its
own limits (memory for the kernel, a total budget and CPU time sized for the notebook).

The official data's folder, when this machine has it, is shown read-only in the child's view
(``SandboxLimits.read_only_paths``) and passed as ``DATA_DIR``; downloads and the public checks
are off (``DOWNLOAD=False``, ``RUN_CHECKS=False``).
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from autograder.config import GraderConfig
from autograder.execution.settings import ExecuteSettings
from autograder.outcome import GradingStatus
from autograder.probe_plan import EXECUTE_PROBE_MODULES
from autograder.sandbox import ProbeCall, ProbeResult, SandboxLimits, gpu_devices, run_probes
from autograder.training_data import data_dirs

EXECUTE_ID = "execute"
"""The call's id, and its key in ``Probed.results`` (no probe case has it)."""
EXECUTE_QUESTION = "execute"
"""The call's question: its budget is the execution's."""
NOTEBOOK_PATH = "nmt.ipynb"
"""The notebook's name in the child's run folder (the probe's ``NOTEBOOK_NAME``)."""
GRACE_S = 30.0
"""Seconds the sandbox waits beyond the execution's budget (the probe stops the kernel at the
budget and sends the notebook back) before it kills the child."""
MAX_NOTEBOOK_BYTES = 8 << 20
"""The executed notebook's size cap (images, then outputs, are dropped to fit)."""
DATA_FILES = ("pig_latin_small.txt", "pig_latin_large.txt")
"""The course files the notebook reads from ``DATA_DIR``."""


def find_data_dir(explicit: str | None = None) -> str | None:
    """The folder holding both course files: ``explicit`` (a ValueError when it does not hold
    them), else the first of ``training_data.data_dirs``; None when there is none."""
    candidates = [Path(explicit)] if explicit else data_dirs()
    for folder in candidates:
        if all((folder / name).is_file() for name in DATA_FILES):
            return str(folder.resolve())
    if explicit:
        raise ValueError(f"--data-dir {explicit} does not hold {' and '.join(DATA_FILES)}")
    return None


def parameters(settings: ExecuteSettings, data_dir: str | None) -> dict[str, object]:
    """The notebook's parameters (its ``parameters`` cell)."""
    return {
        "PROFILE": settings.profile,
        "DEVICE": settings.device,
        "DATA_DIR": data_dir,
        "DOWNLOAD": False,
        "RUN_CHECKS": False,
        "NOTEBOOK_PATH": NOTEBOOK_PATH,
    }


def execution_call(notebook: bytes, settings: ExecuteSettings, data_dir: str | None) -> ProbeCall:
    """The one call of an execution run."""
    return ProbeCall(
        EXECUTE_ID,
        "execute",
        EXECUTE_QUESTION,
        kwargs={
            "parameters": parameters(settings, data_dir),
            "budget_s": settings.budget,
            "cell_timeout_s": settings.cell_timeout,
            "device": settings.device,
            "gpu_memory_fraction": settings.gpu_share if settings.device != "cpu" else None,
            "max_notebook_bytes": MAX_NOTEBOOK_BYTES,
        },
        arrays={"notebook": np.frombuffer(notebook, dtype=np.uint8)},
    )


def execution_limits(
    limits: SandboxLimits, settings: ExecuteSettings, data_dir: str | None
) -> SandboxLimits:
    """The checks' limits, resized for the notebook: its memory, CPU time and total budget,
    the data folder shown read-only, and the machine's GPU (device auto or cuda), if any."""
    shown = (*limits.read_only_paths, data_dir) if data_dir else limits.read_only_paths
    return replace(
        limits,
        devices=gpu_devices() if settings.device != "cpu" else (),
        memory_mb=settings.memory_mb,
        cpu_seconds=int(2 * settings.budget) + 120,
        total_budget_s=limits.import_budget_s + settings.budget + GRACE_S,
        read_only_paths=tuple(shown),
        max_array_bytes=max(limits.max_array_bytes, MAX_NOTEBOOK_BYTES),
    )


def run_execution(notebook: bytes, settings: ExecuteSettings, config: GraderConfig) -> ProbeResult:
    """Run the notebook in the sandbox; the ``execute`` probe's result (never raises for the
    student's notebook; SandboxError when the sandbox cannot run at all)."""
    data_dir = find_data_dir(settings.data_dir) if settings.data_dir else find_data_dir()
    call = execution_call(notebook, settings, data_dir)
    [result] = run_probes(
        "",
        [call],
        probe_modules=EXECUTE_PROBE_MODULES,
        limits=execution_limits(config.sandbox_limits(), settings, data_dir),
        budgets={EXECUTE_QUESTION: settings.budget + GRACE_S},
    )
    return result


def with_execution(probed: Any, notebook: bytes, settings: ExecuteSettings, config: GraderConfig):
    """``probed`` (an ``autograder.engine.Probed``) with the execution's result under
    ``EXECUTE_ID`` and its time added; an unreadable submission is not executed."""
    if probed.status is not GradingStatus.GRADED:
        return probed
    start = time.perf_counter()
    result = run_execution(notebook, settings, config)
    seconds = probed.seconds + time.perf_counter() - start
    return replace(probed, results={**probed.results, EXECUTE_ID: result}, seconds=seconds)
