"""Parent side: one child's life, from its start to its last answer or its death.

The child's events (see ``child``) are checked against what must come next; from ``importing``
on, each carries the size of the output file at that moment, which the parent uses to cut the
output into the part each call printed (a lying child only mislabels its own output). The
parent keeps the time itself: a question's deadline is set when the parent starts waiting for
its first call, and a call's seconds run from its ``start`` event to its ``done`` event.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from autograder.child import definitions

from . import cleanup
from .model import (
    CHILD_KINDS,
    DroppedStatement,
    ErrorKind,
    ProbeCall,
    ProbeError,
    ProbeResult,
    SandboxError,
    SandboxLimits,
    Status,
)
from .process import Child, Closed, Launcher, ProtocolViolation, Timeout
from .transport import TransportError, read_import_error, read_result
from .users import lease_user
from .workspace import create_workspace

log = logging.getLogger(__name__)

KINDS = {"timeout": "Timeout", "crash": "Crash", "oom": "MemoryError", "error": "SandboxProtocol"}
"""ProbeError.type of a call the parent had to stop, by status."""
ERROR_KINDS = {
    "timeout": ErrorKind.TIMEOUT,
    "crash": ErrorKind.CRASH,
    "oom": ErrorKind.OUT_OF_MEMORY,
    "error": ErrorKind.PROTOCOL,
    "not_run": ErrorKind.NOT_RUN,
}
"""ProbeError.kind of a call the parent had to stop, by status."""

Pending = list[tuple[int, ProbeCall]]


@dataclass(frozen=True)
class Run:
    """What every child of one ``run_probes`` shares."""

    source: str
    probe_modules: tuple[str, ...]
    locate: Callable[[int], object] | None
    limits: SandboxLimits
    budgets: Mapping[str, float]
    drop: bool
    """Whether each child runs as a sandbox user of its own (leased by its session)."""
    sandbox: dict
    """The request's "sandbox" part, but for its user ("drop")."""
    deadline: float
    """When the whole run's budget (``SandboxLimits.total_budget_s``) ends, time.monotonic()."""
    array_bytes_left: list[int]
    """What is left of ``SandboxLimits.max_total_array_bytes`` (one mutable counter)."""
    launcher: Launcher | None = None
    """What starts the children (None: a fresh interpreter each)."""
    dropped: dict[int, DroppedStatement] = field(default_factory=dict)
    """Top-level statements that stopped a child's import, by index: later children leave them
    out (one mutable record)."""

    def budget(self, question: str) -> float:
        return float(self.budgets.get(question, self.limits.default_budget_s))


@dataclass(frozen=True)
class Failure:
    """Why a child stopped answering: status and message for the call it was running."""

    status: Status
    message: str
    verb: str
    """For the question's other calls: "timed out", "crashed"..."""


def memory_text(limits: SandboxLimits) -> str:
    mb = limits.memory_mb
    return f"{mb / 1024:g} GB" if mb >= 1024 else f"{mb} MB"


def describe_exit(code: int, limits: SandboxLimits, cpu_seconds: float = 0.0) -> Failure:
    """Why a child that the parent did not kill ended, from its exit status (and CPU time: the
    kernel sends SIGKILL at the hard CPU limit, when SIGXCPU was ignored)."""
    if code >= 0:
        return Failure("crash", f"the process exited (status {code})", "ended the process")
    sig = -code
    if sig == signal.SIGXCPU or (sig == signal.SIGKILL and cpu_seconds >= limits.cpu_seconds):
        message = f"ran out of CPU time (limit {limits.cpu_seconds} s)"
        return Failure("timeout", message, "ran out of CPU time")
    if sig == signal.SIGKILL:
        message = "was killed by the system (SIGKILL), most likely for using too much memory"
        return Failure("oom", message, "was killed")
    try:
        name = signal.Signals(sig).name
    except ValueError:
        name = f"signal {sig}"
    return Failure("crash", f"crashed ({name})", "crashed")


def statement_of(event: object) -> int | None:
    """The index carried by a ``statement I`` event, else None."""
    if not isinstance(event, str) or not event.startswith("statement "):
        return None
    index = event[len("statement ") :]
    return int(index) if index.isdigit() and len(index) <= 9 else None


def offset_of(event: object, expected: str) -> int | None:
    """The output size carried by ``event`` if it is ``expected`` ("done 3"), else None."""
    if not isinstance(event, str) or not event.startswith(expected + " "):
        return None
    size = event[len(expected) + 1 :]
    return int(size) if size.isdigit() and len(size) <= 15 else None


def next_event(child: Child, deadline: float) -> str | Timeout | Closed | ProtocolViolation:
    try:
        return child.next_event(deadline)
    except ProtocolViolation as violation:
        return violation


def result(
    call: ProbeCall,
    status: Status,
    error: ProbeError | None,
    seconds: float = 0.0,
    output: str = "",
    data: dict | None = None,
    arrays: dict | None = None,
) -> ProbeResult:
    seconds = round(seconds, 4)
    return ProbeResult(
        call.id, call.question, status, data or {}, arrays or {}, error, seconds, output
    )


def fail_all(
    calls: Pending,
    results: dict,
    status: Status,
    problem: ProbeError,
    output: str = "",
) -> None:
    for index, call in calls:
        results[index] = result(call, status, problem, output=output)


BUDGET_TYPE = "BudgetExhausted"
"""ProbeError.type of a call stopped, or never run, because the run's total budget ran out."""


def out_of_budget(limits: SandboxLimits, *, running: bool) -> ProbeError:
    """Why a call got no answer when the run's total budget ran out: it was running (timeout),
    or it never started (not_run)."""
    total = f"{limits.total_budget_s:g} s"
    if running:
        message = f"the grading's total time budget ({total}) ran out during this call"
        return ProbeError(BUDGET_TYPE, message, None, ErrorKind.TIMEOUT)
    message = f"not graded: the grading's total time budget ({total}) ran out before this call"
    return ProbeError(BUDGET_TYPE, message, None, ErrorKind.NOT_RUN)


def fail_out_of_budget(calls: Pending, results: dict, limits: SandboxLimits) -> None:
    """Record every call of ``calls`` as never run for lack of time."""
    fail_all(calls, results, "not_run", out_of_budget(limits, running=False))


def _start_ticks(child: Child) -> int:
    try:
        return cleanup.start_ticks(child.pid)
    except (OSError, ValueError, IndexError):
        return 0


class Session:
    """One child running some of the calls."""

    def __init__(self, run: Run, pending: Pending, results: dict[int, ProbeResult]) -> None:
        self.run, self.pending, self.results = run, pending, results
        self.isolated: set[str] = set()
        self.lease = lease_user(run.limits.sandbox_uids) if run.drop else None
        user = (self.lease.uid, self.lease.gid) if self.lease else None
        self.owner = user[0] if user else None
        """The uid that must own the child's files, when it runs as another user."""
        drop = {"uid": user[0], "gid": user[1]} if user else None
        try:
            workspace = create_workspace(
                run.source,
                pending,
                probe_modules=run.probe_modules,
                sandbox={**run.sandbox, "drop": drop},
                user=user,
                copy_code=not (run.launcher and run.launcher.warm),
                skip={i: d.error.message for i, d in run.dropped.items()},
            )
        except BaseException:
            self.release()
            raise
        try:
            started = time.time()
            self.child = Child.start(workspace, run.launcher)
        except BaseException:
            workspace.close()
            self.release()
            raise
        self.identity = cleanup.ChildIdentity(
            None,
            self.owner,
            _start_ticks(self.child),
            started,
            mark=workspace.base.name,
            exclusive=self.lease is not None,
        )
        self.namespace_fd: int | None = None
        """Holds the child's PID namespace, so that its inode stays its own until checked."""
        self.started = False
        """Whether the child got past its trusted phase (student code may have run)."""
        self.retry = False
        """Whether the import stopped on a statement now dropped: rerun every call."""

    def locate(self, lineno: int | None) -> object:
        if lineno is None:
            return None
        if self.run.locate is None:
            return f"line {lineno}"
        try:
            return self.run.locate(lineno)
        except Exception:  # a failing locator must not lose the result
            return None

    def output(self, start: int, end: int | None = None) -> str:
        size = self.child.output_size()
        end = size if end is None else min(end, size)
        return self.child.output_between(min(start, end), end, self.run.limits.output_tail_bytes)

    def stop(self, event: object, budget: float) -> Failure:
        """Classify an event that is not the expected one; the child is dead afterwards."""
        child = self.child
        if isinstance(event, Timeout):
            child.kill()
            return Failure("timeout", f"timed out after {budget:g} s", "timed out")
        if isinstance(event, Closed):
            code = child.wait(time.monotonic() + 2)
            if code is not None:
                return describe_exit(code, self.run.limits, child.cpu_seconds())
            child.kill()
            return Failure("error", "closed the sandbox's event pipe", "broke the sandbox")
        child.kill()
        message = (
            "the sandbox's event pipe received unexpected data (student code wrote to "
            "a file descriptor it did not open)"
        )
        return Failure("error", message, "broke the sandbox")

    def run_all(self) -> Pending:
        """Run the calls; record their results; return the calls left for a fresh child."""
        try:
            deadline = min(time.monotonic() + self.run.limits.import_budget_s, self.run.deadline)
            offset = self.start(deadline)
            if offset is None or not self.import_module(deadline, offset):
                return list(self.pending) if self.retry else []
            question, question_deadline = None, 0.0
            for position, (index, call) in enumerate(self.pending):
                if call.question != question:
                    question = call.question
                    own = time.monotonic() + self.run.budget(question)
                    question_deadline = min(own, self.run.deadline)
                failure = self.run_call(index, call, question_deadline)
                if failure is not None:
                    rest = self.pending[position + 1 :]
                    if failure.verb == "ran out of time":
                        fail_out_of_budget(rest, self.results, self.run.limits)
                        return []
                    same = [(i, c) for i, c in rest if c.question == question]
                    message = f"not run: question {question} stopped after a call {failure.verb}"
                    problem = ProbeError("NotRun", message, None, ErrorKind.NOT_RUN)
                    fail_all(same, self.results, "not_run", problem)
                    return [(i, c) for i, c in rest if c.question != question]
            self.finish()
            return []
        finally:
            self.child.close()
            cleanup.after_child(
                self.identity,
                isolated_ipc="ipc" in self.isolated or not self.started,
                isolated_files="mount" in self.isolated or not self.started,
            )
            if self.namespace_fd is not None:
                os.close(self.namespace_fd)
            self.child.workspace.close()
            self.release()

    def release(self) -> None:
        """Give the sandbox user back (once nothing of the child is left)."""
        if self.lease is not None:
            self.lease.release()

    def out_of_time(self) -> bool:
        """Whether the run's total budget is spent."""
        return time.monotonic() >= self.run.deadline

    def start(self, deadline: float) -> int | None:
        """Wait for the trusted part of the child; return the output size at ``importing``, or
        None when the run's budget ran out first (every call is then failed for it).
        Raises SandboxError when it fails: that is the grader's problem, not the student's."""
        while True:
            event = next_event(self.child, deadline)
            if isinstance(event, str) and event.startswith("warn "):
                log.warning("sandbox: %s", event[5:])
                continue
            if isinstance(event, str) and event.startswith("isolated "):
                self.isolated = set(event[9:].split(",")) - {"-"}
                if "pid" in self.isolated:  # the kernel kills its processes; checked by it
                    held = cleanup.hold_pid_namespace(self.child.pid)
                    if held and not self.child.process.running():  # the pid may name another
                        os.close(held[0])
                        held = None
                    self.namespace_fd, namespace = held if held else (None, None)
                    self.identity = replace(self.identity, pid_namespace=namespace, namespaced=True)
                continue
            offset = offset_of(event, "importing")
            if offset is not None:
                self.started = True
                return offset
            if isinstance(event, Timeout) and self.out_of_time():
                self.child.kill()
                fail_out_of_budget(self.pending, self.results, self.run.limits)
                return None
            if isinstance(event, Timeout):
                budget = self.run.limits.import_budget_s
                raise SandboxError(f"the sandbox child did not start in {budget:g} s")
            code = self.child.kill()
            tail = self.output(0).strip()[-2000:]
            raise SandboxError(f"the sandbox child failed to start (status {code}): {tail}")

    def import_module(self, deadline: float, start: int) -> bool:
        """Wait for the student's module; if it fails, fail every call and return False. When
        the child stopped while it ran a top-level statement (it hung, crashed or ended the
        process), note that statement for the next child to leave out (``self.retry``) instead,
        while ``SandboxLimits.import_retries`` allows."""
        event, running = next_event(self.child, deadline), None
        while (index := statement_of(event)) is not None:
            running = index if running is None or index > running else running
            event = next_event(self.child, deadline)
        if offset_of(event, "imported") is not None:
            return True
        offset = offset_of(event, "import_failed")
        if offset is not None:
            try:
                error = read_import_error(
                    self.child.workspace.results_fd,
                    max_json_bytes=self.run.limits.max_json_bytes,
                    owner=self.owner,
                )
            except TransportError:
                error = {"type": "ImportError", "message": "no details", "lineno": None}
            location = self.locate(error["lineno"])
            problem = ProbeError(error["type"], error["message"], location, ErrorKind.IMPORT)
            fail_all(self.pending, self.results, "error", problem, self.output(start, offset))
            return False
        failure = self.stop(event, self.run.limits.import_budget_s)
        if isinstance(event, Timeout) and self.out_of_time():
            fail_out_of_budget(self.pending, self.results, self.run.limits)
            return False
        if running is not None and failure.status != "error":  # not a garbled pipe
            budget = self.run.limits.import_budget_s
            why = f"took more than {budget:g} s to import" if isinstance(event, Timeout) else None
            self.retry = self.drop(running, failure, why or failure.message)
            if self.retry:
                return False
        message = f"while importing the notebook: {failure.message}"
        if isinstance(event, Timeout):
            message = f"the notebook took more than {self.run.limits.import_budget_s:g} s to import"
        problem = ProbeError(KINDS[failure.status], message, None, ERROR_KINDS[failure.status])
        fail_all(self.pending, self.results, failure.status, problem, self.output(start))
        return False

    def drop(self, index: int, failure: Failure, message: str) -> bool:
        """Note top-level statement ``index`` for the next children to leave out, if it is one
        and the run may still drop one; whether it was noted."""
        if len(self.run.dropped) >= self.run.limits.import_retries or index in self.run.dropped:
            return False
        try:
            found = definitions.statements(self.run.source)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return False
        if index >= len(found):  # a forged event: nothing to drop
            return False
        statement = found[index]
        error = ProbeError(
            KINDS[failure.status],
            message,
            self.locate(statement.lineno),
            ERROR_KINDS[failure.status],
        )
        self.run.dropped[index] = DroppedStatement(
            index, statement.lineno, statement.code, statement.binds, error
        )
        return True

    def run_call(self, index: int, call: ProbeCall, deadline: float) -> Failure | None:
        """Run one call and record its result; return the failure that ended the child."""
        began, start = time.monotonic(), self.child.output_size()
        event = next_event(self.child, deadline)
        offset = offset_of(event, f"start {index}")
        if offset is not None:
            began, start = time.monotonic(), offset
            event = next_event(self.child, deadline)
            end = offset_of(event, f"done {index}")
            if end is not None:
                output = self.output(start, end)
                self.results[index] = self.read_record(
                    index, call, time.monotonic() - began, output
                )
                return None
        failure = self.stop(event, self.run.budget(call.question))
        problem = ProbeError(
            KINDS[failure.status], failure.message, None, ERROR_KINDS[failure.status]
        )
        if isinstance(event, Timeout) and self.out_of_time():
            failure = Failure("timeout", problem.message, "ran out of time")
            problem = out_of_budget(self.run.limits, running=True)
        self.results[index] = result(
            call, failure.status, problem, time.monotonic() - began, self.output(start)
        )
        return failure

    def read_record(self, index: int, call: ProbeCall, seconds: float, output: str) -> ProbeResult:
        limits = self.run.limits
        try:
            record, arrays = read_result(
                self.child.workspace.results_fd,
                index,
                max_json_bytes=limits.max_json_bytes,
                max_array_bytes=limits.max_array_bytes,
                owner=self.owner,
                max_record_bytes=min(limits.max_record_bytes, self.run.array_bytes_left[0]),
            )
            self.run.array_bytes_left[0] -= sum(a.nbytes for a in arrays.values())
        except TransportError as error:
            message = f"the call's result was refused: {error}"
            problem = ProbeError("InvalidResult", message, None, ErrorKind.INVALID_RESULT)
            return result(call, "error", problem, seconds, output)
        if record["status"] == "ok":
            return result(call, "ok", None, seconds, output, record["data"], arrays)
        error = record["error"] or {"type": "Error", "message": "no details", "lineno": None}
        message, kind = error["message"], error.get("kind")
        kind = ErrorKind(kind) if kind in CHILD_KINDS else ErrorKind.EXCEPTION
        if record["status"] == "oom":
            message = f"ran out of memory (limit {memory_text(limits)}): {message}"
            kind = ErrorKind.OUT_OF_MEMORY
        problem = ProbeError(error["type"], message, self.locate(error["lineno"]), kind)
        return result(call, record["status"], problem, seconds, output)

    def finish(self, grace_s: float = 5.0) -> None:
        """Let a child that answered everything exit by itself, so that its resource usage is
        counted in RUSAGE_CHILDREN; ``run_all`` kills it if it does not."""
        deadline = time.monotonic() + grace_s
        if next_event(self.child, deadline) == "end":
            self.child.wait(deadline)
