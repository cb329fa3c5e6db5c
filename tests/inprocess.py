"""Test helpers: the solution as one source, and probes run in this process.

Running probes in-process is for unit-testing checks only (fast, trusted code); the real
grader always runs them in the sandbox. The checks themselves run exactly as the engine runs
them (``engine.judge``, stand-ins decided by the dependencies' checks).
"""

from __future__ import annotations

import importlib
import sys
import types
from pathlib import Path

from autograder.checks import REGISTRY
from autograder.child.patches import install_cpu_patches
from autograder.child.registry import PROBES
from autograder.engine import Probed, judge
from autograder.extract import extract_submission
from autograder.goldens import load_goldens
from autograder.notebook.given import needed_source
from autograder.outcome import GradingStatus
from autograder.probe_plan import PROBE_MODULES, probe_calls
from autograder.rubric import DEFAULT_RUBRIC, load_rubric
from autograder.sandbox.model import ErrorKind, ProbeError, ProbeResult

SOLUTION = Path(__file__).resolve().parents[1] / "fixtures" / "submissions" / "solution.ipynb"


def solution_source() -> str:
    """The solution notebook's module of definitions, as the grader extracts it."""
    return extract_submission(SOLUTION).source


def probe_results(source: str) -> dict[str, ProbeResult]:
    """Every probe call's result for a submission source, run in this process."""
    install_cpu_patches()  # as in the sandbox: GPU code runs on the CPU
    for module in PROBE_MODULES:
        importlib.import_module(module)
    submission = types.ModuleType("submission")
    submission.__file__ = "submission.py"
    sys.modules["submission"] = submission  # dataclasses look their module up
    try:
        exec(compile(source, "submission.py", "exec"), submission.__dict__)  # noqa: S102
    finally:
        del sys.modules["submission"]
    results = {}
    for call in probe_calls(load_goldens()):
        key = _training_key(source, call)
        if key in TRAINED:
            results[call.id] = TRAINED[key]
            continue
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
        if key is not None:
            TRAINED[key] = results[call.id]
    return results


TRAINED: dict[tuple[str, str], ProbeResult] = {}
"""Training runs' results by case and by the code they run: a run takes a second or more, and
most tests change code that no run uses (the key is every statement the trained class needs,
so a change that reaches the run is never answered from here)."""


def _training_key(source: str, call) -> tuple[str, str] | None:
    if call.probe != "train":
        return None
    try:
        return call.id, needed_source(source, (call.kwargs["student"],))
    except (SyntaxError, ValueError):
        return None


def judge_in_process(source: str) -> dict:
    """Every check's result (by id) for a submission source, probes run in this process."""
    probed = Probed("in-process", GradingStatus.GRADED, "", (), probe_results(source), 0.0)
    results = judge(probed, REGISTRY, rubric=load_rubric(DEFAULT_RUBRIC), goldens=load_goldens())
    return {r.check_id: r for r in results}


def grade_in_process(source: str) -> dict[str, bool]:
    """Every check's verdict (by id) for a submission source, probes run in this process."""
    return {check_id: r.passed for check_id, r in judge_in_process(source).items()}


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
    return judge_in_process(source)[check_id]


def diagnose_in_process(source: str):
    """The check results and the diagnoses for a submission source, probes run in-process."""
    from autograder.diagnose import diagnose

    results = probe_results(source)
    probed = Probed("in-process", GradingStatus.GRADED, "", (), results, 0.0)
    rubric, goldens = load_rubric(DEFAULT_RUBRIC), load_goldens()
    checks = judge(probed, REGISTRY, rubric=rubric, goldens=goldens)
    return checks, diagnose(results, checks, goldens)
