"""Parent side: one child process, its event pipe and its exit.

``Child.start`` launches the child in its own session (so ``kill`` reaches its whole process
group) with a scrubbed environment; ``next_event`` reads one line of the event pipe with a
deadline, refusing anything that is not a short line of printable ASCII.
"""

from __future__ import annotations

import contextlib
import math
import os
import resource
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

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


class Child:
    """A running child and the parent's end of its event pipe."""

    def __init__(self, process: subprocess.Popen, event_fd: int, workspace: Workspace) -> None:
        self.process = process
        self.event_fd = event_fd
        self.workspace = workspace
        self.buffer = b""
        self.killed = False
        self.rusage: resource.struct_rusage | None = None

    @classmethod
    def start(cls, workspace: Workspace) -> Child:
        read_fd, write_fd = os.pipe2(os.O_CLOEXEC)
        try:
            process = subprocess.Popen(
                [
                    sys.executable,
                    *PYTHON_FLAGS,
                    "-c",
                    BOOTSTRAP,
                    str(workspace.base),
                    str(write_fd),
                ],
                env=child_environment(workspace.home),
                cwd=workspace.home,
                stdin=subprocess.DEVNULL,
                stdout=workspace.output_fd,
                stderr=workspace.output_fd,
                pass_fds=(write_fd,),
                start_new_session=True,
            )
        except BaseException:
            os.close(read_fd)
            raise
        finally:
            os.close(write_fd)
        return cls(process, read_fd, workspace)

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
        running at ``deadline``. Reaps with wait4 to keep the child's resource usage."""
        while self.process.returncode is None:
            pid, status, usage = os.wait4(self.process.pid, os.WNOHANG)
            if pid:
                self.process.returncode = os.waitstatus_to_exitcode(status)
                self.rusage = usage
            elif time.monotonic() >= deadline:
                return None
            else:
                time.sleep(0.005)
        return self.process.returncode

    def cpu_seconds(self) -> float:
        """CPU time the reaped child (and what it waited for) used; 0 before it is reaped."""
        return self.rusage.ru_utime + self.rusage.ru_stime if self.rusage else 0.0

    def kill(self) -> int:
        """SIGKILL the child's process group; return its exit status."""
        if self.process.returncode is None:
            self.killed = True
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)
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
