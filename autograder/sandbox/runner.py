"""Parent side: ``run_probes``, the sandbox's entry point.

Calls are run question by question (questions in the order they first appear, calls in their
order), normally all in one child, since starting one costs the import of torch. Each question
has a wall-clock budget, counted from the moment the parent waits for its first call to start.
When a call times out, crashes, is killed for memory or garbles the event pipe, the child's
process group is killed, the call gets that status, the question's later calls get "not_run",
and the questions after it go to a fresh child. A submission that fails to import fails every
call, in the same child (it would fail again in another).
"""

from __future__ import annotations

import json
import logging
import os
import pwd
import signal
import site
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .model import ProbeCall, ProbeError, ProbeResult, SandboxError, SandboxLimits, Status
from .process import Child, Closed, ProtocolViolation, Timeout
from .transport import TransportError, check_array, read_import_error, read_result
from .workspace import create_workspace

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[2]
_KINDS = {"timeout": "Timeout", "crash": "Crash", "oom": "MemoryError", "error": "SandboxProtocolError"}
"""ProbeError.type for a call the parent had to stop, by status."""


@dataclass(frozen=True)
class _Failure:
    """Why a child stopped answering: the status and message for the call it was running."""

    status: Status
    message: str
    verb: str  # for the question's other calls: "timed out", "crashed", ...


@dataclass(frozen=True)
class _Run:
    """What every child of one ``run_probes`` shares."""

    source: str
    probe_modules: tuple[str, ...]
    locate: Callable[[int], str] | None
    limits: SandboxLimits
    budgets: Mapping[str, float]
    user: tuple[int, int] | None
    sandbox: dict

    def budget(self, question: str) -> float:
        return float(self.budgets.get(question, self.limits.default_budget_s))


def run_probes(
    module_source: str,
    calls: Sequence[ProbeCall],
    *,
    probe_modules: Sequence[str],
    locate: Callable[[int], str] | None = None,
    limits: SandboxLimits = SandboxLimits(),
    budgets: Mapping[str, float] | None = None,
) -> list[ProbeResult]:
    """Run ``calls`` on the student's module in sandboxed children; one result per call, in
    order. ``probe_modules`` are the dotted names of the modules that register the probes
    (``autograder.sandbox.probes_builtin`` is always loaded); ``locate`` maps a line of
    ``module_source`` to a place in the notebook; ``budgets`` gives seconds per question.

    Raises ValueError for malformed calls and SandboxError when the sandbox cannot run at all.
    """
    _check_calls(calls)
    user = _sandbox_user(limits)
    run = _Run(
        source=module_source,
        probe_modules=tuple(probe_modules),
        locate=locate,
        limits=limits,
        budgets=dict(budgets or {}),
        user=user,
        sandbox=_sandbox_config(limits, user),
    )
    results: dict[int, ProbeResult] = {}
    pending = _by_question(calls)
    while pending:
        pending = _run_child(run, pending, results)
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


def _sandbox_user(limits: SandboxLimits) -> tuple[int, int] | None:
    root = os.geteuid() == 0
    drop = root if limits.drop_privileges is None else limits.drop_privileges
    if not drop:
        return None
    if not root:
        raise SandboxError("drop_privileges=True needs the grader to run as root")
    try:
        entry = pwd.getpwnam("nobody")
        return entry.pw_uid, entry.pw_gid
    except KeyError:
        return 65534, 65534


def _sandbox_config(limits: SandboxLimits, user: tuple[int, int] | None) -> dict:
    hide = limits.hide_paths
    if hide is None:
        project = [PROJECT_ROOT] if (PROJECT_ROOT / "pyproject.toml").is_file() else []
        hide = tuple(str(p) for p in [*project, Path(tempfile.gettempdir()).resolve()])
    return {
        "rlimits": {
            "as_bytes": limits.memory_mb << 20,
            "cpu_seconds": limits.cpu_seconds,
            "fsize_bytes": limits.file_size_mb << 20,
            "nproc": limits.nproc,
        },
        "drop": None if user is None else {"uid": user[0], "gid": user[1]},
        "hide": [str(Path(p).resolve()) for p in hide],
    }


def _site_packages() -> list[str]:
    return [p for p in site.getsitepackages() if os.path.isdir(p)]


def _memory_text(limits: SandboxLimits) -> str:
    mb = limits.memory_mb
    return f"{mb / 1024:g} GB" if mb >= 1024 else f"{mb} MB"


def _describe_exit(code: int, limits: SandboxLimits) -> _Failure:
    """Why a child that we did not kill ended."""
    if code < 0:
        sig = -code
        if sig == signal.SIGXCPU:
            return _Failure("timeout", f"ran out of CPU time (limit {limits.cpu_seconds} s)",
                            "ran out of CPU time")  # fmt: skip
        if sig == signal.SIGKILL:
            return _Failure("oom", "was killed by the system (SIGKILL), most likely for using "
                            "too much memory", "was killed")  # fmt: skip
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = f"signal {sig}"
        return _Failure("crash", f"crashed ({name})", "crashed")
    return _Failure("crash", f"the process exited (status {code})", "ended the process")


def _location(run: _Run, lineno: int | None) -> str | None:
    if lineno is None:
        return None
    if run.locate is None:
        return f"line {lineno}"
    try:
        return run.locate(lineno)
    except Exception:  # noqa: BLE001 - a locator that fails must not lose the result
        return None


def _result(call: ProbeCall, status: Status, error: ProbeError | None, seconds: float = 0.0,
            output: str = "", data: dict | None = None, arrays: dict | None = None) -> ProbeResult:  # fmt: skip
    return ProbeResult(call.id, call.question, status, data or {}, arrays or {}, error,
                       round(seconds, 4), output)  # fmt: skip


def _fail_all(calls, results, status: Status, kind: str, message: str, location=None, output=""):
    for index, call in calls:
        results[index] = _result(call, status, ProbeError(kind, message, location), output=output)


def _start_child(run: _Run, pending: list[tuple[int, ProbeCall]]) -> Child:
    workspace = create_workspace(
        run.source, pending, probe_modules=run.probe_modules, sandbox=run.sandbox,
        site_packages=_site_packages(), user=run.user,
    )  # fmt: skip
    try:
        return Child.start(workspace)
    except BaseException:
        workspace.close()
        raise


def _startup(run: _Run, child: Child, deadline: float) -> None:
    """Wait for the trusted part of the child; raise SandboxError if it fails."""
    while True:
        try:
            event = child.next_event(deadline)
        except ProtocolViolation as error:
            raise SandboxError(f"the sandbox child sent {error} while starting") from None
        if isinstance(event, str) and event.startswith("warn "):
            log.warning("sandbox: %s", event[5:])
            continue
        if event == "importing":
            return
        if isinstance(event, Timeout):
            raise SandboxError(f"the sandbox child did not start in {run.limits.import_budget_s} s")
        code = child.kill()
        tail = child.output_between(0, child.output_size(), 2000).strip()
        raise SandboxError(f"the sandbox child failed to start (status {code}):\n{tail}")


def _import(run: _Run, child: Child, pending, results, deadline: float) -> bool:
    """Wait for the student's module to import; on failure, fail every call and return False."""
    start = child.output_size()
    try:
        event = child.next_event(deadline)
    except ProtocolViolation as error:
        event = error
    if event == "imported":
        return True
    if event == "import_failed":
        child.wait(time.monotonic() + 5)
        output = child.output_between(start, child.output_size(), run.limits.output_tail_bytes)
        owner = run.user[0] if run.user else None
        try:
            error = read_import_error(child.workspace.results_fd,
                                      max_json_bytes=run.limits.max_json_bytes, owner=owner)  # fmt: skip
        except TransportError:
            error = {"type": "ImportError", "message": "no details", "lineno": None}
        location = _location(run, error["lineno"])
        where = f" ({location})" if location else ""
        message = f"the notebook failed to import: {error['type']}: {error['message']}{where}"
        _fail_all(pending, results, "error", error["type"], message, location, output)
        return False
    failure = _failure(run, child, event, run.limits.import_budget_s)
    output = child.output_between(start, child.output_size(), run.limits.output_tail_bytes)
    message = f"while importing the notebook: {failure.message}"
    if failure.status == "timeout" and isinstance(event, Timeout):
        message = f"the notebook took more than {run.limits.import_budget_s:g} s to import"
    _fail_all(pending, results, failure.status, _KINDS[failure.status], message, None, output)
    return False


def _failure(run: _Run, child: Child, event, budget: float) -> _Failure:
    """Classify an unexpected event (timeout, closed pipe, anything else); kill the child."""
    if isinstance(event, Timeout):
        child.kill()
        return _Failure("timeout", f"timed out after {budget:g} s", "timed out")
    if isinstance(event, Closed):
        code = child.wait(time.monotonic() + 2)
        if code is None:
            child.kill()
            return _Failure("error", "closed the sandbox's event pipe", "broke the sandbox")
        return _describe_exit(code, run.limits)
    child.kill()
    return _Failure("error", "the sandbox's event pipe received unexpected data (student code "
                    "wrote to a file descriptor it did not open)", "broke the sandbox")  # fmt: skip


def _run_child(run: _Run, pending: list[tuple[int, ProbeCall]], results) -> list:
    """Run ``pending`` in one child; record results; return the calls left for a fresh child."""
    child = _start_child(run, pending)
    try:
        deadline = time.monotonic() + run.limits.import_budget_s
        _startup(run, child, deadline)
        if not _import(run, child, pending, results, deadline):
            return []
        question, question_deadline = None, 0.0
        for position, (index, call) in enumerate(pending):
            if call.question != question:
                question = call.question
                question_deadline = time.monotonic() + run.budget(question)
            left = _run_call(run, child, index, call, question_deadline, results)
            if left is not None:
                rest = pending[position + 1 :]
                same = [(i, c) for i, c in rest if c.question == question]
                message = f"not run: question {question} stopped after a call {left.verb}"
                _fail_all(same, results, "not_run", "NotRun", message)
                return [(i, c) for i, c in rest if c.question != question]
        return []
    finally:
        child.close()
        child.workspace.close()


def _run_call(run: _Run, child: Child, index: int, call: ProbeCall, deadline: float,
              results) -> _Failure | None:  # fmt: skip
    """Run one call; record its result; return the failure that ended the child, if any."""
    started, start_size = time.monotonic(), child.output_size()
    expected = f"start {index}"
    while True:
        try:
            event = child.next_event(deadline)
        except ProtocolViolation as error:
            event = error
        if event != expected:
            failure = _failure(run, child, event, run.budget(call.question))
            output = child.output_between(start_size, child.output_size(),
                                          run.limits.output_tail_bytes)  # fmt: skip
            problem = ProbeError(_KINDS[failure.status], failure.message, None)
            results[index] = _result(call, failure.status, problem,
                                     time.monotonic() - started, output)  # fmt: skip
            return failure
        if expected.startswith("done"):
            break
        started, start_size, expected = time.monotonic(), child.output_size(), f"done {index}"
    seconds = time.monotonic() - started
    output = child.output_between(start_size, child.output_size(), run.limits.output_tail_bytes)
    results[index] = _read_record(run, child, index, call, seconds, output)
    return None


def _read_record(run: _Run, child: Child, index: int, call: ProbeCall, seconds: float,
                 output: str) -> ProbeResult:  # fmt: skip
    try:
        record, arrays = read_result(
            child.workspace.results_fd, index, max_json_bytes=run.limits.max_json_bytes,
            max_array_bytes=run.limits.max_array_bytes, owner=run.user[0] if run.user else None,
        )  # fmt: skip
    except TransportError as error:
        problem = ProbeError("InvalidResult", f"the call's result was refused: {error}", None)
        return _result(call, "error", problem, seconds, output)
    if record["status"] == "ok":
        return _result(call, "ok", None, seconds, output, record["data"], arrays)
    error = record["error"] or {"type": "Error", "message": "no details", "lineno": None}
    message = error["message"]
    if record["status"] == "oom":
        message = f"ran out of memory (limit {_memory_text(run.limits)}): {message}"
    problem = ProbeError(error["type"], message, _location(run, error["lineno"]))
    return _result(call, record["status"], problem, seconds, output)

