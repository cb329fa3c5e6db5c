"""Child side: the fork server (``autograder.sandbox.forkserver`` starts and drives it).

Started as ``python -s -P -S -B -c SERVER_BOOTSTRAP FOLDER CONTROL_FD`` with the children's
scrubbed environment, it imports what every child needs (``main.prepare_interpreter``: numpy,
torch with one thread, the CPU patches), what notebooks usually import (``PRELOAD``) and the
probe modules (from FOLDER/lib, its own copy of our child-side code), takes one tiny training
step (``warm_up``: torch's first backward and optimizer step cost seconds), then answers requests on
the control socket until it closes. It never reads a submission, a golden or a workspace, and
runs no student code: it forks.

A request is a JSON message {workspace, env} with three descriptors: the connection to answer
on, the event pipe's write end, the output file. The server forks; the child (``become_child``)
starts a session of its own, dies with the server, keeps only stdin (``/dev/null``), stdout and
stderr (the output file) and the event pipe (as descriptor 3), takes the environment it was
given, and runs ``main.serve_request``: the same trusted phase as a fresh child (limits,
namespaces, view, user, keyring filter, re-seeding) and the same protocol. The server answers
{pid} (with a pidfd), SIGKILLs the child's group when the connection says "kill" or closes,
and when the child ends sends {status, cpu} (its wait status and CPU seconds, from wait4) and
closes the connection.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import json
import os
import select
import shutil
import signal
import socket
import sys
from pathlib import Path
from typing import Any, NoReturn

PRELOAD = (
    "matplotlib",
    "matplotlib.pyplot",
    "matplotlib.figure",
    "matplotlib.backends.backend_agg",
    "torch.nn",
    "torch.nn.functional",
    "torch.optim",
    "tqdm",
    "tqdm.auto",
    "IPython.display",
    "urllib.request",
    "subprocess",
    "dataclasses",
)
"""Modules notebooks of this course import (the solution's first cell), imported once here
rather than in every child; any that is not installed is skipped."""
EVENT_FD = 3
"""Where the child keeps its event pipe."""


def preload(names: tuple[str, ...]) -> None:
    for name in names:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)


def warm_up() -> None:
    """One tiny training step (embedding, attention-like matmuls, softmax, masking, a loss,
    backward, Adam): torch loads and initialises what training needs on first use (seconds),
    once here instead of in every child's first training call. Our code, not a student's."""
    import torch
    from torch import nn

    model = nn.Sequential(nn.Embedding(30, 8), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 30))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    tokens = torch.randint(0, 30, (4, 6))
    hidden = model[0](tokens)  # (B, L, H)
    scores = hidden @ hidden.transpose(1, 2)  # (B, L, L)
    mask = torch.ones(6, 6, dtype=torch.bool).tril()
    weights = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)
    logits = model[1:](weights @ hidden)  # (B, L, V)
    loss = nn.functional.cross_entropy(logits.reshape(-1, 30), tokens.reshape(-1))
    optimizer.zero_grad()
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()


def flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()


class Server:
    """The server's loop: requests on the control socket, kill requests on connections, ends of
    children on their pidfds."""

    def __init__(self, control: socket.socket, folder: Path) -> None:
        self.control = control
        self.folder = folder
        self.poller = select.poll()
        self.poller.register(control, select.POLLIN)
        self.children: dict[int, tuple[int, socket.socket]] = {}
        """pidfd -> (pid, connection)."""
        self.connections: dict[int, int] = {}
        """connection's fd -> pidfd."""

    def loop(self) -> NoReturn:
        while True:
            for fd, _ in self.poller.poll():
                if fd == self.control.fileno():
                    self.accept()
                elif fd in self.children:
                    self.reap(fd)
                elif fd in self.connections:
                    self.command(fd)

    def shutdown(self) -> NoReturn:
        """The grader closed its end (or died): the children die with the server; its folder
        goes too (the grader removes it as well when it can)."""
        for pid, _ in self.children.values():
            kill_group(pid)
        shutil.rmtree(self.folder, ignore_errors=True)
        os._exit(0)

    def accept(self) -> None:
        try:
            message, fds, _, _ = socket.recv_fds(self.control, 1 << 16, 4)
        except OSError:
            self.shutdown()
        if not message:
            for fd in fds:
                os.close(fd)
            self.shutdown()  # the grader closed its end, or died
        if len(fds) != 3:
            for fd in fds:
                os.close(fd)
            return
        connection_fd, event_fd, output_fd = fds
        request = json.loads(message)
        flush()
        pid = os.fork()
        if pid == 0:
            self.become_child(request, event_fd, output_fd)
        os.close(event_fd)
        os.close(output_fd)
        connection = socket.socket(fileno=connection_fd)
        connection.setblocking(False)  # an event may be stale: its number reused meanwhile
        pidfd = os.pidfd_open(pid)
        try:
            socket.send_fds(connection, [json.dumps({"pid": pid}).encode()], [pidfd])
        except OSError:
            kill_group(pid)  # nobody waits for it
        self.children[pidfd] = (pid, connection)
        self.connections[connection.fileno()] = pidfd
        self.poller.register(pidfd, select.POLLIN)
        self.poller.register(connection, select.POLLIN)

    def command(self, fd: int) -> None:
        pidfd = self.connections[fd]
        pid, connection = self.children[pidfd]
        try:
            data = connection.recv(64)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data in (b"", b"kill"):
            kill_group(pid)
        if not data:
            self.poller.unregister(fd)
            del self.connections[fd]

    def reap(self, pidfd: int) -> None:
        pid, connection = self.children[pidfd]
        reaped, status, usage = os.wait4(pid, os.WNOHANG)
        if not reaped:
            return  # a stale event
        del self.children[pidfd]
        report = {"status": status, "cpu": usage.ru_utime + usage.ru_stime}
        with contextlib.suppress(OSError):
            connection.send(json.dumps(report).encode())
        self.poller.unregister(pidfd)
        os.close(pidfd)
        if self.connections.pop(connection.fileno(), None) is not None:
            self.poller.unregister(connection)
        connection.close()

    def become_child(self, request: dict[str, Any], event_fd: int, output_fd: int) -> NoReturn:
        """In the forked child: nothing of the server's but its memory; then a sandboxed child."""
        try:
            os.setsid()
            from . import limits, main

            limits.die_with_parent()
            for connection in (self.control, *(c for _, c in self.children.values())):
                connection.detach()  # closed below; the objects must not close reused numbers
            os.dup2(output_fd, 1)
            os.dup2(output_fd, 2)
            null = os.open("/dev/null", os.O_RDONLY)
            os.dup2(null, 0)
            if event_fd != EVENT_FD:
                os.dup2(event_fd, EVENT_FD)
            os.closerange(EVENT_FD + 1, os.sysconf("SC_OPEN_MAX"))
            os.environ.clear()
            os.environ.update(request["env"])
            workspace = Path(request["workspace"])
            os.chdir(workspace / "home")
            sys.argv[1:] = [str(workspace), str(EVENT_FD)]
        except BaseException:  # noqa: BLE001 - the parent sees a child that never started
            os._exit(3)
        main.serve_request(workspace, main.Events(EVENT_FD), warm=True)
        os._exit(0)  # serve_request never returns


def kill_group(pid: int) -> None:
    """SIGKILL a child's process group, or the child itself before it made its own."""
    for kill in (os.killpg, os.kill):
        with contextlib.suppress(OSError):
            kill(pid, signal.SIGKILL)


def serve() -> NoReturn:
    """The server's entry point (``SERVER_BOOTSTRAP``)."""
    folder, control = Path(sys.argv[1]), socket.socket(fileno=int(sys.argv[2]))
    config = json.loads((folder / "server.json").read_text())
    os.umask(0o022)
    from .main import prepare_interpreter
    from .registry import load_probe_modules

    prepare_interpreter()
    preload(PRELOAD)
    load_probe_modules(config["probe_modules"])
    warm_up()
    threads = len(os.listdir("/proc/self/task"))
    if threads != 1:  # a fork keeps only the calling thread: locks held by others stay held
        raise SystemExit(f"the fork server has {threads} threads after its imports; it needs 1")
    flush()
    gc.collect()
    gc.freeze()  # the children's collections then leave the server's objects (and pages) alone
    control.send(b"ready")
    Server(control, folder).loop()
