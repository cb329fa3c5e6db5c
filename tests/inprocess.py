"""Test helpers: the reference as one solution source, and probes run in this process.

Running probes in-process is for unit-testing checks only (fast, trusted code); the real
grader always runs them in the sandbox.
"""

from __future__ import annotations

import importlib
import re
import sys
import types
from pathlib import Path

from autograder.checks import REGISTRY
from autograder.checks.base import CheckContext, run_check
from autograder.child.registry import PROBES
from autograder.goldens import load_goldens
from autograder.probe_plan import PROBE_MODULES, probe_calls
from autograder.sandbox.model import ErrorKind, ProbeError, ProbeResult

REFERENCE = Path(__file__).resolve().parents[1] / "reference"
MODULES = ("data", "attention", "models", "train", "scaling")


def solution_source() -> str:
    """The reference's modules as one file, as a notebook would hold them."""
    parts = ["from __future__ import annotations"]
    for name in MODULES:
        text = (REFERENCE / f"{name}.py").read_text()
        text = re.sub(r"^from reference\.\S+ import \([^)]*\)\n", "", text, flags=re.M)
        text = re.sub(r"^from reference\.\S+ import .*\n", "", text, flags=re.M)
        parts.append(text.replace("from __future__ import annotations\n", ""))
    return "\n".join(parts)


def probe_results(source: str) -> dict[str, ProbeResult]:
    """Every probe call's result for a submission source, run in this process."""
    for module in PROBE_MODULES:
        importlib.import_module(module)
    submission = types.ModuleType("submission")
    submission.__file__ = "submission.py"
    sys.modules["submission"] = submission  # dataclasses look their module up
    try:
        exec(compile(source, "submission.py", "exec"), submission.__dict__)  # noqa: S102
    finally:
        del sys.modules["submission"]
    goldens = load_goldens()
    results = {}
    for call in probe_calls(goldens):
        try:
            data, arrays = PROBES[call.probe](submission, **call.kwargs, **call.arrays)
            results[call.id] = _result(call, "ok", data, arrays, None)
        except Exception as error:  # noqa: BLE001
            kind = getattr(type(error), "grader_kind", None)
            if isinstance(error, NotImplementedError):
                kind = "not_implemented"
            error_ = ProbeError(
                type(error).__name__, str(error), None, ErrorKind(kind or "exception")
            )
            results[call.id] = _result(call, "error", {}, {}, error_)
    return results


def grade_in_process(source: str) -> dict[str, bool]:
    """Every check's verdict (by id) for a submission source, probes run in this process."""
    ctx = CheckContext(results=probe_results(source), goldens=load_goldens())
    return {c.id: run_check(c, ctx, points=1.0, visibility="visible").passed for c in REGISTRY}


def _result(call, status, data, arrays, error) -> ProbeResult:
    return ProbeResult(
        id=call.id,
        question=call.question,
        status=status,
        data=data,
        arrays=arrays,
        error=error,
        seconds=0.0,
    )


def check_result(source: str, check_id: str):
    """One check's full result (verdict and message) for a submission source."""
    check = next(c for c in REGISTRY if c.id == check_id)
    ctx = CheckContext(results=probe_results(source), goldens=load_goldens())
    return run_check(check, ctx, points=1.0, visibility="visible")
