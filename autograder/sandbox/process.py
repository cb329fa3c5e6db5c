"""Parent side: one child process, its event pipe and its exit.

``Child.start`` has a ``Launcher`` start the child in its own session (so ``kill`` reaches its
whole process group) with a scrubbed environment: a fresh interpreter by default (``FRESH``), or
a fork of a warm server (``forkserver``). ``next_event`` reads one line of the event pipe with a
deadline, refusing anything that is not a short line of printable ASCII.
"""

from __future__ import annotations

import contextlib
import math
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from .workspace import Workspace

BOOTSTRAP = (
    "import json, sys; sys.path.insert(0, sys.argv[1] + '/lib'); "
    "sys.path += json.load(open(sys.argv[1] + '/request.json'))['site_packages']; "
    "from autograder.child.main import main; main()"
)
PYTHON_FLAGS = ("-s", "-P", "-S", "-B")
"""``-I`` without ``-E``: no user site, no script folder, no ``site`` (so no ``.pth`` files,
which is how an editable install would put the repository on the path), no bytecode written.
``-E`` is left out so that PYTHONHASHSEED applies; the environment is ours anyway."""
MAX_LINE = 512


class Timeout:
    """``next_event`` found no line before the deadline."""


class Closed:
    """``next_event`` found the pipe closed (the child exited, or closed its end)."""


TIMEOUT, CLOSED = Timeout(), Closed()


class ProtocolViolation(Exception):
    """The event pipe carried something the child's code never sends."""


def child_environment(home: Path) -> dict[str, str]:
    """The child's whole environment: nothing of the grader's leaks into it. Beyond the brief's
    list: a non-interactive matplotlib backend, at most two malloc arenas (every arena reserves
    64 MiB of the address space that RLIMIT_AS counts), and the child's mark, which every process
    it forks inherits (``cleanup`` finds them by it when there is no PID namespace)."""
    return {
        "NMT_SANDBOX_ID": home.parent.name,
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "TMPDIR": str(home),
        "LANG": "C.UTF-8",
        "PYTHONHASHSEED": "0",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "CUDA_VISIBLE_DEVICES": "",
        "MPLBACKEND": "Agg",
        "MALLOC_ARENA_MAX": "2",
    }


class ChildProcess(Protocol):
    """A started child, as the parent handles it, whoever forked it."""

    pid: int
    """Its process id (its process group's too: it starts a session of its own)."""

    def reap(self, deadline: float) -> tuple[int, float] | None:
        """(exit status, CPU seconds) once it has ended and been reaped (negative status: killed
        by that signal), or None if it still runs at ``deadline`` (time.monotonic)."""

    def kill(self) -> None:
        """SIGKILL its process group (nothing once it has been reaped)."""

    def running(self) -> bool:
        """Whether it has not ended yet (its pid still names it)."""

    def close(self) -> None:
        """Let go of what the parent holds on it (after it was reaped)."""


class Launcher(Protocol):
    """Starts children: a fresh interpreter each (``FRESH``), or forks of a warm process that
    imported torch once (``autograder.sandbox.forkserver.ForkServer``)."""

    warm: bool
    """Whether the child is a fork of a process that already loaded our child-side code (the
    workspace then needs no copy of it)."""

    def check_modules(self, names: Sequence[str]) -> None:
        """Raise SandboxError if a child could not load the probe modules ``names``."""

    def launch(self, workspace: Workspace, event_fd: int) -> ChildProcess:
        """Start a child on ``workspace`` with the write end of its event pipe."""


class FreshProcess:
    """A child started as a fresh interpreter, the parent's own child process."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.process = process
        self.pid = process.pid
        self.ended: tuple[int, float] | None = None

    def reap(self, deadline: float) -> tuple[int, float] | None:
        while self.ended is None:
            pid, status, usage = os.wait4(self.pid, os.WNOHANG)
            if pid:
                self.process.returncode = os.waitstatus_to_exitcode(status)
                self.ended = self.process.returncode, usage.ru_utime + usage.ru_stime
            elif time.monotonic() >= deadline:
                return None
            else:
                time.sleep(0.005)
        return self.ended

    def kill(self) -> None:
        if self.ended is None:  # not reaped: its pid cannot name another process
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, signal.SIGKILL)

    def running(self) -> bool:
        return self.ended is None  # a zombie not yet reaped still holds its pid

    def close(self) -> None:
        pass


class FreshLauncher:
    """Each child a fresh interpreter: ``python -s -P -S -B -c BOOTSTRAP WORKSPACE EVENT_FD``."""

    warm = False

    def check_modules(self, names: Sequence[str]) -> None:
        pass  # copied into each workspace (``workspace.copy_probe_code`` checks them)

    def launch(self, workspace: Workspace, event_fd: int) -> ChildProcess:
        process = subprocess.Popen(
            [sys.executable, *PYTHON_FLAGS, "-c", BOOTSTRAP, str(workspace.base), str(event_fd)],
            env=child_environment(workspace.home),
            cwd=workspace.home,
            stdin=subprocess.DEVNULL,
            stdout=workspace.output_fd,
            stderr=workspace.output_fd,
            pass_fds=(event_fd,),
            start_new_session=True,
        )
        return FreshProcess(process)


FRESH = FreshLauncher()
"""The default launcher."""


class Child:
    """A running child and the parent's end of its event pipe."""

    def __init__(self, process: ChildProcess, event_fd: int, workspace: Workspace) -> None:
        self.process = process
        self.event_fd = event_fd
        self.workspace = workspace
        self.buffer = b""
        self.killed = False
        self.returncode: int | None = None
        self.cpu = 0.0

    @classmethod
    def start(cls, workspace: Workspace, launcher: Launcher | None = None) -> Child:
        read_fd, write_fd = os.pipe2(os.O_CLOEXEC)
        try:
            process = (launcher or FRESH).launch(workspace, write_fd)
        except BaseException:
            os.close(read_fd)
            raise
        finally:
            os.close(write_fd)
        return cls(process, read_fd, workspace)

    @property
    def pid(self) -> int:
        return self.process.pid

    def next_event(self, deadline: float) -> str | Timeout | Closed:
        """The next line from the child, or TIMEOUT at ``deadline`` (time.monotonic), or CLOSED.
        Raises ProtocolViolation for a line that is too long or not printable ASCII."""
        poller = select.poll()
        poller.register(self.event_fd, select.POLLIN)
        while b"\n" not in self.buffer:
            if len(self.buffer) > MAX_LINE:
                raise ProtocolViolation("an over-long line")
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not poller.poll(remaining * 1000):
                return TIMEOUT
            chunk = os.read(self.event_fd, 4096)
            if not chunk:
                return CLOSED
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        if len(line) > MAX_LINE or not all(32 <= b < 127 for b in line):
            raise ProtocolViolation("a line that is not short printable ASCII")
        return line.decode("ascii")

    def wait(self, deadline: float) -> int | None:
        """The exit status (negative: killed by that signal), or None if the child is still
        running at ``deadline``. Keeps the CPU time the child (and what it waited for) used."""
        if self.returncode is None:
            ended = self.process.reap(deadline)
            if ended is not None:
                self.returncode, self.cpu = ended
        return self.returncode

    def cpu_seconds(self) -> float:
        """CPU time the reaped child (and what it waited for) used; 0 before it is reaped."""
        return self.cpu

    def kill(self) -> int:
        """SIGKILL the child's process group; return its exit status."""
        if self.returncode is None:
            self.killed = True
            self.process.kill()
        return self.wait(math.inf)

    def output_size(self) -> int:
        return os.fstat(self.workspace.output_read_fd).st_size

    def output_between(self, start: int, end: int, limit: int) -> str:
        """The last ``limit`` bytes the child printed between two output sizes, as text."""
        begin = max(start, end - limit)
        if end <= begin:
            return ""
        data = os.pread(self.workspace.output_read_fd, end - begin, begin)
        return data.decode("utf-8", errors="replace").replace("\x00", "")

    def close(self) -> None:
        self.kill()
        os.close(self.event_fd)
        self.process.close()
