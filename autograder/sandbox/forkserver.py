"""Parent side: a warm fork server, so that a child costs a fork instead of an interpreter's start
and the import of torch (about 2 s each, most of a grading; a fork of the server takes tens of
milliseconds).

``ForkServer`` is a ``Launcher``: pass it to ``run_probes(..., launcher=server)`` (through
``GraderConfig.launcher``). It starts one server process (``autograder.child.forkserver``), with
the children's own interpreter flags and scrubbed environment, which imports numpy, torch,
matplotlib and what notebooks usually import, once, with one thread, installs the CPU patches
and loads the probe modules from its own read-only copy of our child-side code. The server never
reads a submission, a golden or a workspace and never runs student code: it only forks.

Per child, the parent sends the workspace's path, the child's environment and three
descriptors (a connection of its own, the event pipe's write end, the output file) over a
``SOCK_SEQPACKET`` socket. The server forks; the child starts a session, dies with the server,
keeps only its stdio and event pipe, and goes through the same trusted phase as a fresh child
(rlimits, namespaces and view, the switch to its own user, keyring filter), then the same
import-and-calls protocol. The server answers on the connection with the child's pid (and a
pidfd), kills the child's group when asked (or when the connection closes), reaps it and sends
its wait status and CPU time. A server that died is started again once on the next launch.

One server serves any number of children at once (threads may share it). Start it, or let it
start on the first launch, from a thread that outlives it; it ends when ``close`` is called or
when this process ends (its end of the control socket closes).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from .cleanup import remove_tree
from .model import SandboxError
from .process import PYTHON_FLAGS, ChildProcess, child_environment
from .workspace import BUILTIN_PROBES, Workspace, copy_probe_code, site_packages

SERVER_BOOTSTRAP = (
    "import json, sys; sys.path.insert(0, sys.argv[1] + '/lib'); "
    "sys.path += json.load(open(sys.argv[1] + '/server.json'))['site_packages']; "
    "from autograder.child.forkserver import serve; serve()"
)
START_TIMEOUT_S = 180.0
"""How long the server may take to import everything (torch, under load)."""
REPLY_TIMEOUT_S = 30.0
"""How long a fork may take to be answered."""


class ForkedProcess:
    """A child forked by the server: its pid, and the connection the server reports on."""

    def __init__(self, connection: socket.socket, pid: int, pidfd: int | None) -> None:
        self.connection = connection
        self.pid = pid
        self.pidfd = pidfd
        self.ended: tuple[int, float] | None = None

    def reap(self, deadline: float) -> tuple[int, float] | None:
        if self.ended is None:
            remaining = deadline - time.monotonic()
            timeout = None if remaining == float("inf") else max(remaining, 0.0)
            if not _readable(self.connection, timeout):
                return None
            try:
                report = json.loads(self.connection.recv(4096) or b"null")
            except (OSError, ValueError):
                report = None
            if isinstance(report, dict) and isinstance(report.get("status"), int):
                code = os.waitstatus_to_exitcode(report["status"])
                self.ended = code, float(report.get("cpu", 0.0))
            else:  # the server died: so did its children (they die with it)
                self.ended = -signal.SIGKILL, 0.0
        return self.ended

    def kill(self) -> None:
        if self.ended is None:
            with contextlib.suppress(OSError):
                self.connection.send(b"kill")

    def running(self) -> bool:
        if self.ended is not None:
            return False
        return self.pidfd is not None and not _readable(self.pidfd, 0.0)

    def close(self) -> None:
        self.connection.close()
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None


def _readable(target: socket.socket | int, timeout: float | None) -> bool:
    poller = select.poll()
    poller.register(target, select.POLLIN)
    return bool(poller.poll(None if timeout is None else timeout * 1000))


class ForkServer:
    """A warm server that forks sandboxed children (see the module docstring)."""

    warm = True

    def __init__(self, probe_modules: Sequence[str] = ()) -> None:
        self.probe_modules = (BUILTIN_PROBES, *dict.fromkeys(probe_modules))
        """The modules every child can use (the builtin probes and ``probe_modules``)."""
        self.folder: Path | None = None
        self.control: socket.socket | None = None
        self.process: subprocess.Popen | None = None
        self.lock = threading.Lock()
        atexit.register(self.close)

    # --- the server's life ------------------------------------------------------------------

    def start(self) -> None:
        """Start the server and wait until it has imported everything (idempotent)."""
        with self.lock:
            if self.process is None or self.process.poll() is not None:
                self._stop()
                self._start()

    def _start(self) -> None:
        folder = Path(tempfile.mkdtemp(prefix="nmt-forkserver-"))
        try:
            folder.chmod(0o755)  # the children read its lib/, as whatever user they become
            copy_probe_code(folder / "lib", self.probe_modules)
            (folder / "home").mkdir(mode=0o755)
            (folder / "lib" / ".matplotlib").mkdir(mode=0o755)
            config = {"site_packages": site_packages(), "probe_modules": self.probe_modules}
            (folder / "server.json").write_text(json.dumps(config))
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            environment = child_environment(folder / "home")
            environment["NMT_SANDBOX_ID"] = folder.name
            environment["MPLCONFIGDIR"] = str(folder / "lib" / ".matplotlib")
            log = os.open(folder / "server.log", os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                process = subprocess.Popen(
                    [sys.executable, *PYTHON_FLAGS, "-c", SERVER_BOOTSTRAP, str(folder)]
                    + [str(theirs.fileno())],
                    env=environment,
                    cwd=folder / "home",
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                    pass_fds=(theirs.fileno(),),
                    start_new_session=True,
                )
            finally:
                os.close(log)
                theirs.close()
        except BaseException:
            remove_tree(folder)
            raise
        self.folder, self.control, self.process = folder, ours, process
        if not _readable(ours, START_TIMEOUT_S) or ours.recv(64) != b"ready":
            log_tail = (folder / "server.log").read_text(errors="replace")[-2000:]
            self._stop()
            raise SandboxError(f"the fork server did not start: {log_tail.strip()}")

    def _stop(self) -> None:
        if self.control is not None:
            self.control.close()  # the server ends when its control socket closes
            self.control = None
        if self.process is not None:
            with contextlib.suppress(OSError):
                self.process.kill()
            self.process.wait()
            self.process = None
        if self.folder is not None:
            remove_tree(self.folder)
            self.folder = None

    def close(self) -> None:
        """End the server (its children with it) and remove its folder."""
        with self.lock:
            self._stop()

    def __enter__(self) -> ForkServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the Launcher protocol ---------------------------------------------------------------

    def check_modules(self, names: Sequence[str]) -> None:
        missing = [name for name in names if name not in self.probe_modules]
        if missing:
            raise SandboxError(
                f"the fork server was started without the probe modules {missing}: give them "
                "to ForkServer(probe_modules=...)"
            )

    def launch(self, workspace: Workspace, event_fd: int) -> ChildProcess:
        for attempt in (1, 2):
            self.start()
            try:
                return self._fork(workspace, event_fd)
            except (BrokenPipeError, ConnectionResetError, ConnectionRefusedError) as error:
                if attempt == 2:
                    raise SandboxError("the fork server is gone and cannot be restarted") from error
        raise AssertionError("unreachable")

    def _fork(self, workspace: Workspace, event_fd: int) -> ForkedProcess:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            request = {"workspace": str(workspace.base), "env": child_environment(workspace.home)}
            fds = [theirs.fileno(), event_fd, workspace.output_fd]
            control = self.control
            if control is None:
                raise BrokenPipeError("the fork server is not running")
            socket.send_fds(control, [json.dumps(request).encode()], fds)
            theirs.close()
            if not _readable(ours, REPLY_TIMEOUT_S):
                raise SandboxError(f"the fork server did not fork in {REPLY_TIMEOUT_S:g} s")
            message, received, _, _ = socket.recv_fds(ours, 4096, 1)
            reply = json.loads(message or b"null")
            if not isinstance(reply, dict) or not isinstance(reply.get("pid"), int):
                for fd in received:
                    os.close(fd)
                raise ConnectionResetError("the fork server ended before it forked")
        except BaseException:
            ours.close()
            theirs.close()
            raise
        return ForkedProcess(ours, reply["pid"], received[0] if received else None)
