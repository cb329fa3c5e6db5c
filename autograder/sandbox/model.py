"""What the sandbox takes and gives back: probe calls, their results, and the child's limits.

Plain frozen dataclasses shared by the parent (``runner``) and nothing else: the child sees calls
only as JSON and arrays (``transport``), never as these objects.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

import numpy as np

Status = Literal["ok", "error", "timeout", "crash", "oom", "not_run"]
NAMESPACES = ("pid", "net", "ipc", "mount")
"""The namespaces a child may enter, by the names ``SandboxLimits.namespaces`` takes."""


class ErrorKind(StrEnum):
    """What kind of failure a ``ProbeError`` is: what checks and reports branch on."""

    CONTRACT = "contract"
    """The submission breaks the assignment's contract (a probe's ``ContractError``: a missing
    class, a changed given part, a wrong return type); the message says what to change."""
    NOT_IMPLEMENTED = "not_implemented"
    """The student's code raised ``NotImplementedError`` (a stub left as given)."""
    EXCEPTION = "exception"
    """The student's code raised any other exception."""
    IMPORT = "import"
    """The notebook's module failed to import, so no call could run."""
    DEFINITION = "definition"
    """A definition the call needs was not made at import: its top-level statement raised, or
    was left out after it stopped the import (it hung, crashed or ended the process)."""
    OUT_OF_MEMORY = "oom"
    """An allocation failed inside the child, or the system killed it for memory."""
    TIMEOUT = "timeout"
    """The question ran past its wall-clock budget or the child's CPU limit."""
    CRASH = "crash"
    """The child died of a signal or exited in the middle of a call."""
    NOT_RUN = "not_run"
    """An earlier call of the same question stopped the child."""
    INVALID_RESULT = "invalid_result"
    """The child's answer was refused by the parent's transport checks."""
    PROTOCOL = "protocol"
    """The event pipe carried something the child's code never sends."""


CHILD_KINDS = frozenset(
    {ErrorKind.CONTRACT, ErrorKind.NOT_IMPLEMENTED, ErrorKind.DEFINITION, ErrorKind.EXCEPTION}
)
"""The kinds a child may put in a record (anything else reads as ``EXCEPTION``)."""


class SandboxError(Exception):
    """The sandbox itself could not run (missing interpreter, broken probe code, a child that
    died before any student code ran): a fault of the grading setup, not of the submission."""


@dataclass(frozen=True)
class ProbeCall:
    """One question put to the student's module: run a registered probe on it."""

    id: str
    """Names the call; unique among the calls of one ``run_probes``."""
    probe: str
    """Name of a probe registered in the child with ``@probe("name")``."""
    question: str
    """The question the call belongs to ("2.3.4"); its calls share one wall-clock budget."""
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    """JSON-able keyword arguments; ``seed`` (an int, default 0) seeds the child before the call."""
    arrays: Mapping[str, np.ndarray] = field(default_factory=dict)
    """Numeric or boolean arrays, passed to the probe as further keyword arguments."""


@dataclass(frozen=True)
class ProbeError:
    """Why a call gave no answer."""

    type: str
    """The exception's class name ("NameError") or the sandbox's category ("Timeout", "Crash")."""
    message: str
    """One or a few lines: "name 'foo' is not defined", "timed out after 20 s"."""
    location: Any
    """Where in the submission: what ``run_probes``'s ``locate`` made of the line number (the
    engine's gives an ``autograder.extract.Location``); None when unknown."""
    kind: ErrorKind = ErrorKind.EXCEPTION
    """What kind of failure it is."""


@dataclass(frozen=True)
class ProbeResult:
    """What one call produced, or why it produced nothing."""

    id: str
    """The call's id."""
    question: str
    """The call's question."""
    status: Status
    """"ok", or what went wrong: error, timeout, crash, oom, not_run."""
    data: dict[str, Any]
    """The probe's JSON answer (empty unless status is "ok")."""
    arrays: dict[str, np.ndarray]
    """The probe's arrays, validated numeric or boolean (empty unless status is "ok")."""
    error: ProbeError | None
    """Why the call failed; None when status is "ok"."""
    seconds: float
    """Wall-clock time of the call as the parent measured it (0 for calls that never ran)."""
    output: str = ""
    """The tail of what the student's code printed during the call (stdout and stderr)."""


@dataclass(frozen=True)
class DroppedStatement:
    """A top-level statement of the student's module that stopped a child while the module was
    imported (it hung, crashed or ended the process): the module was imported again without
    it, in a fresh child, and only what needs the names it binds is lost."""

    index: int
    """Its position among the module's top-level statements, from 0."""
    line: int
    """Its first line in the module's source, from 1."""
    code: str
    """Its first line, stripped and cut to at most 80 characters."""
    binds: tuple[str, ...]
    """The global names it would have bound."""
    error: ProbeError
    """What it did ("took more than 60 s to import", "the process exited (status 0)"), with its
    kind (timeout, crash, oom) and its place in the notebook (``run_probes``'s ``locate``)."""


@dataclass(frozen=True)
class SandboxLimits:
    """Resource limits and isolation of the child process; the defaults suit one submission of
    this course on a 0.75 GB Gradescope tier (see docs/sandbox.md for the measurements)."""

    memory_mb: int = 1024
    """RLIMIT_AS of the child, in MiB. ``import torch`` maps about 600 MiB of it (260 MiB
    resident), which leaves the student about 400 MiB; the child then stays resident below
    about 700 MiB, inside Gradescope's smallest tier (0.75 GB)."""
    cpu_seconds: int = 300
    """RLIMIT_CPU of the child (all questions together), a backstop behind the wall budgets."""
    file_size_mb: int = 64
    """RLIMIT_FSIZE: the largest file the child may write, printed output included."""
    nproc: int = 256
    """RLIMIT_NPROC (processes and threads of the sandbox user); applied only after dropping
    root, because it counts every process the user owns."""
    default_budget_s: float = 20.0
    """Wall-clock budget of a question that ``budgets`` does not name."""
    import_budget_s: float = 60.0
    """Wall-clock budget for starting the child: Python, torch and the student's module."""
    import_retries: int = 3
    """How many top-level statements that stop the child while the module is imported (hang,
    crash, exit) are left out, each followed by a fresh child that imports the rest; after
    that, an import that stops fails every call."""
    total_budget_s: float = 180.0
    """Wall-clock budget of the whole ``run_probes``: start-ups, imports and every question
    together. When it runs out, the call running is stopped and every call not yet run is
    reported as not run for that reason; the rest of the grade stands. Three minutes keeps a
    submission that hangs everywhere well inside Gradescope's default 10 minutes."""
    drop_privileges: bool | None = None
    """Run the child as a sandbox user of its own (``sandbox_uids``) in its own namespaces; None
    means "when the grader is root"."""
    sandbox_uids: tuple[int, int] = (60500, 256)
    """(first uid, how many): the range each running child leases a uid of its own from (and the
    gid of the same number). No account is needed; uids that have one are skipped. Debian and
    Ubuntu leave 60000-64999 to the administrator; how many bounds the children running at once
    on a machine, across every grader."""
    namespaces: bool | tuple[str, ...] = True
    """When dropping privileges, also enter PID, network, IPC and mount namespaces (they need
    CAP_SYS_ADMIN; where they fail the child runs without them and a warning is logged); or
    only those named ("pid", "net", "ipc", "mount")."""
    hide_paths: tuple[str, ...] | None = None
    """Secret paths: wherever one falls inside what the child's view shows, it is shown empty.
    None means the project's root and the system temporary directory."""
    hide_packages: tuple[str, ...] = ("autograder", "reference", "nmt_autograder")
    """Packages and distributions shown empty in every site-packages folder the child sees
    (the grader's own code, the reference solution, the project's dist-info)."""
    read_only_paths: tuple[str, ...] = ()
    """Host folders or files the child may read (data a probe needs), at their usual paths."""
    devices: tuple[str, ...] = ()
    """Device files under ``/dev`` shown to the child besides null, zero, random and urandom:
    a GPU's (``gpu_devices()``). With any, the child keeps the machine's
    ``CUDA_VISIBLE_DEVICES`` (else it gets an empty one) and has no address-space limit (a CUDA
    context maps far more address space than it uses; docs/execution.md)."""
    tmp_mb: int = 16
    """Size of the child's private ``/tmp`` (memory: a tmpfs counts against the machine)."""
    max_json_bytes: int = 1 << 20
    """Largest JSON result the parent reads."""
    max_array_bytes: int = 16 << 20
    """Largest array file the parent reads."""
    max_record_bytes: int = 32 << 20
    """Largest sum of the array files of one call's record."""
    max_total_array_bytes: int = 64 << 20
    """Largest sum of the array files the parent reads in one ``run_probes`` (the parent keeps
    them all: this bounds its memory whatever the child writes)."""
    output_tail_bytes: int = 4096
    """How much of a call's printed output the parent keeps."""


GPU_DEVICE_PATTERNS = ("nvidia[0-9]*", "nvidiactl", "nvidia-uvm", "nvidia-uvm-tools", "nvidia-caps")
"""NVIDIA's device files (and folder) under ``/dev`` that CUDA opens."""


def gpu_devices(dev: Path = Path("/dev")) -> tuple[str, ...]:
    """The GPU device files of this machine (none without an NVIDIA GPU and its driver)."""
    found = {str(p) for pattern in GPU_DEVICE_PATTERNS for p in dev.glob(pattern)}
    return tuple(sorted(found)) if any("nvidiactl" in p for p in found) else ()
