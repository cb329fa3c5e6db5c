"""Parent side: ``run_probes``, the sandbox's entry point.

Calls are run question by question (questions in the order they first appear, calls in their
order), normally all in one child, since starting one costs the import of torch. Each question
has a wall-clock budget, counted from the moment the parent waits for its first call to start.
When a call times out, crashes, is killed for memory or garbles the event pipe, the child's
process group is killed, the call gets that status, the question's later calls get "not_run",
and the questions after it go to a fresh child. A submission that fails to import fails every
call, in the same child (it would fail again in another). The whole run has a total budget
(``SandboxLimits.total_budget_s``): when it runs out, the call running is stopped ("timeout") and
every call not yet run is "not_run", both with ``ProbeError.type == "BudgetExhausted"``.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from .model import (
    NAMESPACES,
    DroppedStatement,
    ProbeCall,
    ProbeResult,
    SandboxError,
    SandboxLimits,
)
from .process import Launcher
from .session import Run, Session, fail_out_of_budget
from .transport import TransportError, check_array

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def run_probes(
    module_source: str,
    calls: Sequence[ProbeCall],
    *,
    probe_modules: Sequence[str],
    locate: Callable[[int], object] | None = None,
    limits: SandboxLimits = SandboxLimits(),  # noqa: B008 - frozen, so safe to share
    budgets: Mapping[str, float] | None = None,
    launcher: Launcher | None = None,
    dropped: list[DroppedStatement] | None = None,
) -> list[ProbeResult]:
    """Run ``calls`` on the student's module in sandboxed children; one result per call, in
    order. ``probe_modules`` are the dotted names of the modules that register the probes
    (``autograder.child.builtin`` is always loaded); ``locate`` maps a line of
    ``module_source`` to a place in the notebook; ``budgets`` gives seconds per question;
    ``launcher`` starts the children (default: a fresh interpreter each; a
    ``forkserver.ForkServer`` forks them from a warm process). The top-level statements of the
    module that stopped a child's import (it hung, crashed or ended the process) and were left
    out for the children after are appended to ``dropped``, in the order they were met.

    Raises ValueError for malformed calls and SandboxError when the sandbox cannot run at all.
    """
    _check_calls(calls)
    started = time.monotonic()
    if launcher is not None:
        launcher.check_modules(probe_modules)
    run = Run(
        source=module_source,
        probe_modules=tuple(probe_modules),
        locate=locate,
        limits=limits,
        budgets=dict(budgets or {}),
        drop=_drops_privileges(limits),
        sandbox=_sandbox_config(limits),
        deadline=started + limits.total_budget_s,
        array_bytes_left=[limits.max_total_array_bytes],
        launcher=launcher,
    )
    results: dict[int, ProbeResult] = {}
    pending = _by_question(calls)
    while pending:
        if time.monotonic() >= run.deadline:
            fail_out_of_budget(pending, results, limits)
            break
        pending = Session(run, pending, results).run_all()
    if dropped is not None:
        dropped.extend(run.dropped.values())
    return [results[index] for index in range(len(calls))]


def _check_calls(calls: Sequence[ProbeCall]) -> None:
    if len({call.id for call in calls}) != len(calls):
        raise ValueError("call ids must be unique")
    for call in calls:
        seed = call.kwargs.get("seed", 0)
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"call {call.id!r}: seed must be a non-negative int, not {seed!r}")
        try:
            json.dumps(dict(call.kwargs))
        except (TypeError, ValueError) as error:
            raise ValueError(f"call {call.id!r}: kwargs are not JSON-able ({error})") from None
        for name, array in call.arrays.items():
            if name in call.kwargs:
                raise ValueError(f"call {call.id!r}: {name!r} is both a kwarg and an array")
            try:
                check_array(name, array)
            except TransportError as error:
                raise ValueError(f"call {call.id!r}: {error}") from None


def _by_question(calls: Sequence[ProbeCall]) -> list[tuple[int, ProbeCall]]:
    """Calls with their indices, grouped by question in order of first appearance."""
    order = {q: n for n, q in reversed(list(enumerate(c.question for c in calls)))}
    return sorted(enumerate(calls), key=lambda item: (order[item[1].question], item[0]))


def _drops_privileges(limits: SandboxLimits) -> bool:
    """Whether the children run as sandbox users (``users``: as root, by default)."""
    root = os.geteuid() == 0
    drop = root if limits.drop_privileges is None else limits.drop_privileges
    if drop and not root:
        raise SandboxError("drop_privileges=True needs the grader to run as root")
    return drop


def _namespaces(limits: SandboxLimits) -> list[str]:
    wanted = limits.namespaces
    names = list(NAMESPACES) if wanted is True else [] if wanted is False else list(wanted)
    unknown = sorted(set(names) - set(NAMESPACES))
    if unknown:
        raise ValueError(f"unknown namespaces {unknown}; the sandbox knows {list(NAMESPACES)}")
    return names


def _sandbox_config(limits: SandboxLimits) -> dict:
    """The request's "sandbox" part, but for the user ("drop"), which each child leases."""
    hide = limits.hide_paths
    if hide is None:
        project = [PROJECT_ROOT] if (PROJECT_ROOT / "pyproject.toml").is_file() else []
        hide = tuple(str(p) for p in [*project, Path(tempfile.gettempdir()).resolve()])
    return {
        "rlimits": {
            "as_bytes": None if limits.devices else limits.memory_mb << 20,
            "cpu_seconds": limits.cpu_seconds,
            "fsize_bytes": limits.file_size_mb << 20,
            "nproc": limits.nproc,
        },
        "drop": None,
        "namespaces": _namespaces(limits),
        "hide": [str(Path(p).resolve()) for p in hide],
        "hide_packages": list(limits.hide_packages),
        "read_only": [str(Path(p).resolve()) for p in limits.read_only_paths],
        "devices": list(limits.devices),
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "tmp_bytes": limits.tmp_mb << 20,
    }
