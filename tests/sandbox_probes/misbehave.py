"""Child side: probes that misbehave on purpose, for the sandbox's own tests.

Loaded only when a request names this module. Each one does what a hostile or broken
submission could do from inside the child: sleep, spin, allocate, crash, fork, read and write
files, open sockets, write to the event pipe, send a pickle through the transport.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import socket
import sys
import time
import types
from typing import Any

import numpy as np

from autograder.child import wire as transport
from autograder.child.registry import ProbeOutput, probe


@probe("echo")
def echo(module: types.ModuleType, *, seed: int, **arrays: np.ndarray) -> ProbeOutput:
    """Arrays doubled, plus facts about the child: seed, first random draws, uid, cwd, pids."""
    import torch

    data = {
        "seed": seed,
        "torch_draw": torch.rand(1).item(),
        "numpy_draw": float(np.random.rand()),
        "uid": os.getuid(),
        "cwd": os.getcwd(),
        "threads": torch.get_num_threads(),
        "hash": hash("abc"),
        "pid": os.getpid(),
        "visible_pids": sorted(int(n) for n in os.listdir("/proc") if n.isdigit()),
    }
    return data, {name: array * 2 for name, array in arrays.items()}


@probe("environ")
def environ(module: types.ModuleType) -> ProbeOutput:
    return {"environ": dict(os.environ), "sys_path": sys.path, "flags": str(sys.flags)}, {}


@probe("address_space")
def address_space(module: types.ModuleType) -> ProbeOutput:
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    return {"limited": soft != resource.RLIM_INFINITY}, {}


@probe("import_module")
def import_module(module: types.ModuleType, *, name: str) -> ProbeOutput:
    __import__(name)
    return {"file": getattr(sys.modules[name], "__file__", None)}, {}


@probe("sleep")
def sleep(module: types.ModuleType, *, seconds: float) -> ProbeOutput:
    time.sleep(seconds)
    return {"slept": seconds}, {}


@probe("allocate")
def allocate(module: types.ModuleType, *, mb: int, library: str = "numpy") -> ProbeOutput:
    if library == "torch":
        import torch

        block = torch.ones(mb << 18, dtype=torch.float32)
    else:
        block = np.ones(mb << 20, dtype=np.uint8)
    return {"bytes": int(block.nbytes)}, {}


@probe("crash")
def crash(module: types.ModuleType, *, how: str) -> ProbeOutput:
    if how == "abort":
        os.abort()
    if how == "segfault":
        ctypes.string_at(0)
    if how == "exit":
        os._exit(7)
    raise ValueError(how)


@probe("fork")
def fork(module: types.ModuleType, *, count: int) -> ProbeOutput:
    """Try to start ``count`` sleeping processes; report how many started."""
    children = []
    try:
        for _ in range(count):
            pid = os.fork()
            if pid == 0:
                time.sleep(60)
                os._exit(0)
            children.append(pid)
        error = None
    except OSError as failure:
        error = type(failure).__name__
    for pid in children:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
    return {"started": len(children), "error": error}, {}


@probe("read_file")
def read_file(module: types.ModuleType, *, path: str) -> ProbeOutput:
    with open(path, "rb") as f:
        return {"content": f.read(1000).decode("utf-8", "replace")}, {}


@probe("write_file")
def write_file(module: types.ModuleType, *, path: str) -> ProbeOutput:
    with open(path, "w") as f:
        f.write("written by the sandbox")
    return {"written": path}, {}


@probe("connect")
def connect(module: types.ModuleType, *, host: str, port: int) -> ProbeOutput:
    with socket.create_connection((host, port), timeout=2) as s:
        s.sendall(b"hello from the sandbox")
    return {"connected": True}, {}


@probe("tamper")
def tamper(module: types.ModuleType) -> ProbeOutput:
    """Write a fake event to every pipe this process holds."""
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        try:
            if os.readlink(f"/proc/self/fd/{fd}").startswith("pipe:"):
                os.write(fd, b"done 99\n\x00\xff junk")
        except OSError:
            pass
    return {}, {}


class _Payload:
    """Unpickling this would create the file ``path``: the parent must never do it."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (exec, (f"open({self.path!r}, 'w').close()",))


@probe("forge_pickle")
def forge_pickle(module: types.ModuleType, *, marker: str) -> ProbeOutput:
    """Make the transport write a pickled object array, as student code could by patching it."""
    payload = np.array([_Payload(marker)], dtype=object)

    def pickled(array: np.ndarray) -> bytes:
        import io

        buffer = io.BytesIO()
        np.save(buffer, payload, allow_pickle=True)
        return buffer.getvalue()

    transport.check_array = lambda name, array: None
    transport.encode_array = pickled
    return {}, {"x": np.zeros(3)}


@probe("spin")
def spin(module: types.ModuleType, *, seconds: float, ignore_sigxcpu: bool = False) -> ProbeOutput:
    """Burn CPU time; optionally ignore SIGXCPU, so that only the hard limit's SIGKILL stops it."""
    if ignore_sigxcpu:
        import signal

        signal.signal(signal.SIGXCPU, signal.SIG_IGN)
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass
    return {"spun": seconds}, {}


def _walk_files(top: str):
    """Every path under ``top`` (links not followed), /proc's and /sys's contents left out."""
    for folder, dirs, files in os.walk(top, onerror=lambda error: None):
        if folder in ("/proc", "/sys"):
            dirs[:] = []
        for name in dirs + files:
            yield os.path.join(folder, name)


def _under(path: str, prefixes: list[str]) -> bool:
    return any(path == p or path.startswith(p + "/") for p in prefixes)


@probe("walk")
def walk(
    module: types.ModuleType,
    *,
    allowed: list[str],
    markers_hex: list[str],
    unread: list[str] = (),
    top: str = "/",
) -> ProbeOutput:
    """Walk the whole filesystem and try to read everything: the paths outside ``allowed`` (at
    most 500), and every readable file whose first 4 KB hold one of the markers (given in hex,
    so that the request itself does not hold them). Files under ``unread`` (the interpreter's
    thousands of files) are listed but not read, to keep the walk short."""
    outside, found, seen, readable = [], [], 0, 0
    allowed = [p.rstrip("/") for p in allowed]
    unread = [p.rstrip("/") for p in unread]
    tokens = [bytes.fromhex(m) for m in markers_hex]
    for path in _walk_files(top):
        seen += 1
        if not _under(path, allowed) and len(outside) < 500:
            outside.append(path)
        if path.startswith(("/proc/", "/sys/", "/dev/")) or _under(path, unread):
            continue
        if os.path.islink(path):
            continue
        try:
            with open(path, "rb", buffering=0) as f:
                head = f.read(4096)
        except OSError:
            continue
        readable += 1
        if any(token in head for token in tokens):
            found.append(path)
    return {"outside": outside, "found": found, "seen": seen, "readable": readable}, {}


@probe("leave_behind")
def leave_behind(module: types.ModuleType, *, token: str) -> ProbeOutput:
    """Leave ``token`` in every channel that could outlive the grading (``channels``)."""
    from .channels import leave_behind as leave

    return {"done": leave(token)}, {}


@probe("pick_up")
def pick_up(module: types.ModuleType) -> ProbeOutput:
    """Read what an earlier grading left in those channels."""
    from .channels import pick_up as pick

    return {"found": pick()}, {}


@probe("listdir")
def listdir(module: types.ModuleType, *, path: str) -> ProbeOutput:
    return {"entries": sorted(os.listdir(path))}, {}


@probe("litter")
def litter(module: types.ModuleType, *, depth: int) -> ProbeOutput:
    """Leave a workspace that is hard to remove: a tree ``depth`` folders deep (deeper than any
    path may be long), folders with mode 000, names with newlines and invalid UTF-8, an open
    file, a FIFO, a link to the root."""
    os.mkdir("deep")
    fd = os.open("deep", os.O_RDONLY)
    for _ in range(depth):
        os.mkdir("d", dir_fd=fd)
        inner = os.open("d", os.O_RDONLY, dir_fd=fd)
        os.close(fd)
        fd = inner
    os.close(fd)
    for name in (b"new\nline", b"bad-\xff-utf8", b"-rf", b" "):
        with open(os.fsdecode(name), "w") as f:
            f.write("x")
    os.makedirs("locked/inner/more")
    open("locked/inner/file", "w").close()
    os.chmod("locked/inner", 0)
    os.chmod("locked", 0)
    os.mkfifo("fifo")
    os.symlink("/", "root-link")
    keep = open("still-open", "w")  # noqa: SIM115 - left open on purpose
    keep.write("open")
    _kept.append(keep)
    return {"depth": depth}, {}


_kept: list[Any] = []


@probe("forge_array")
def forge_array(module: types.ModuleType, *, how: str) -> ProbeOutput:
    """Make the transport write an array file the parent must refuse before allocating it:
    ``sparse`` (a header for 8 GB and a file as large as the file-size limit allows, sparse),
    ``header`` (a header for 8 GB over a few bytes), ``many`` (three arrays of 15 MB, more than
    a record may hold together)."""
    header = np.lib.format.header_data_from_array_1_0(np.zeros(1))
    header["shape"] = (1 << 30,)

    def forged(array: np.ndarray) -> bytes:
        import io

        buffer = io.BytesIO()
        np.lib.format.write_array_header_1_0(buffer, header)
        return buffer.getvalue() + b"\0" * 64

    if how == "many":
        block = np.zeros(15 << 17)
        return {}, {f"a{n}": block for n in range(3)}
    transport.encode_array = forged
    if how == "sparse":
        real_write = transport.write_atomic

        def sparse(path, payload):  # noqa: ANN001
            if str(path).endswith(".npy"):
                with open(path, "wb") as f:
                    f.write(payload)
                    f.truncate(60 << 20)
            else:
                real_write(path, payload)

        transport.write_atomic = sparse
    return {}, {"x": np.zeros(3)}


@probe("rendezvous")
def rendezvous(module: types.ModuleType, *, port: int, role: str) -> ProbeOutput:
    """Meet the test at 127.0.0.1:``port``. A "victim" waits there until told to end; a "killer",
    when told, sends SIGKILL to every process it may signal (``kill(-1)``) twenty times, then
    says so. (Whether a kill reached anyone cannot be told from its result: without a PID
    namespace ``kill(-1)`` succeeds whenever any other process exists.)"""
    with socket.create_connection(("127.0.0.1", port), timeout=120) as link:
        link.sendall(role.encode() + b"\n")
        order = link.recv(16)
        if role == "victim":
            return {"survived": True, "order": order.decode()}, {}
        for _ in range(20):
            with contextlib.suppress(OSError):  # ESRCH: no other process (its own PID namespace)
                os.kill(-1, 9)
            time.sleep(0.01)
        link.sendall(b"done")
    return {"kills": 20}, {}


@probe("definition")
def definition(module: types.ModuleType, *, name: str) -> ProbeOutput:
    """The submission's ``name``, as the homework's probes get it (``get_definition``)."""
    from autograder.child.probes.common import get_definition

    return {"type": type(get_definition(module, name)).__name__}, {}
