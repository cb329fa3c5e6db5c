"""Child side: enter the sandbox before any student code runs.

Runs first thing in the child, as the user the grader runs as. Always: resource limits (address
space, CPU time, file size, no core files), death with the grader. When the grader is root and
the request asks for it, also: a PID namespace (one extra process as its init, so killing the
child kills everything it started, even processes that left its process group), a network
namespace (no interface but a loopback that is down), an IPC namespace (System V objects and
POSIX message queues of its own, gone with it), a mount namespace with an allowlist view of the
filesystem (``view``), a fresh session keyring and a seccomp filter on the keyring calls
(``confine``), ``no_new_privs``, then the switch to an unprivileged user of its own (a uid the
parent leased for this child alone). What could not be set
up is returned as warnings; the parent logs them.

It runs here rather than in ``subprocess``'s ``preexec_fn`` because preexec_fn is unsafe in a
parent with threads (a batch grader runs several children at once), and a fork server must be
able to enter it after a plain fork; the effect is the same, since nothing of the student's runs
before it.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import resource
import signal
import sys
from pathlib import Path
from typing import Any, NoReturn

from . import confine, view

CLONE_NEWNS, CLONE_NEWIPC = 0x00020000, 0x08000000
CLONE_NEWPID, CLONE_NEWNET = 0x20000000, 0x40000000
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS = 1, 38

_libc = ctypes.CDLL(None, use_errno=True)


def _call(name: str, *args: int) -> None:
    if getattr(_libc, name)(*args) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{name}: {os.strerror(errno)}")


def die_with_parent() -> None:
    """Ask the kernel to SIGKILL this process when its parent dies."""
    _call("prctl", PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def set_rlimits(limits: dict[str, Any]) -> None:
    """Address space, CPU seconds (SIGXCPU, then SIGKILL 2 s later), file size, no core."""
    if limits["as_bytes"] is not None:  # None: a GPU is shown (SandboxLimits.devices)
        resource.setrlimit(resource.RLIMIT_AS, (limits["as_bytes"], limits["as_bytes"]))
    cpu = limits["cpu_seconds"]
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 2))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits["fsize_bytes"], limits["fsize_bytes"]))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails, not the child


def _relay_exit(child: int, *, as_init: bool) -> NoReturn:
    """Wait for ``child`` (reaping any other process meanwhile), then end the way it ended.
    Never returns, whatever happens: a relay must not go on as the worker.

    An init process cannot kill itself with a signal, so the init relay encodes "killed by
    signal N" as exit status 128 + N, and the relay outside the namespace turns it back.
    """
    try:
        while True:
            pid, status = os.waitpid(-1, 0)
            if pid == child:
                break
        sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else 0
        code = 0 if sig else os.WEXITSTATUS(status)
        if as_init:
            os._exit(128 + sig if sig else min(code, 127))
        if not sig and code > 128:
            sig = code - 128
        if sig:
            if sig not in (signal.SIGKILL, signal.SIGSTOP):
                signal.signal(sig, signal.SIG_DFL)
            os.kill(os.getpid(), sig)
            os._exit(128 + sig)
        os._exit(code)
    finally:
        os._exit(70)


def enter_pid_namespace(event_fd: int) -> None:
    """Fork into a new PID namespace: this process and an init relay the worker's end; only the
    worker returns. Raises OSError (before forking) when PID namespaces are not available."""
    _call("unshare", CLONE_NEWPID)
    init = os.fork()
    if init:
        os.close(event_fd)
        _relay_exit(init, as_init=False)
    with contextlib.suppress(OSError):
        die_with_parent()
    worker = os.fork()
    if worker:
        os.close(event_fd)
        _relay_exit(worker, as_init=True)
    with contextlib.suppress(OSError):
        die_with_parent()


def drop_privileges(uid: int, gid: int, nproc: int) -> list[str]:
    """Become ``uid``/``gid`` for good, with no supplementary groups and no way back, in a
    session keyring of its own and without the keyring calls; return what could not be set."""
    _call("prctl", PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)
    if os.getuid() != uid or os.geteuid() != uid or os.getegid() != gid:
        raise OSError("the switch to the sandbox user did not take")
    warnings = []
    for step, what in (
        (confine.join_session_keyring, "no session keyring of its own"),
        (confine.deny_keyrings, "keyring calls not filtered, the user keyring is shared"),
    ):
        try:
            step()
        except OSError as error:
            warnings.append(f"{what} ({error})")
    die_with_parent()  # the setting is cleared by a change of credentials
    return warnings


def enter_namespaces(
    config: dict[str, Any], *, event_fd: int, base: Path
) -> tuple[list[str], set[str]]:
    """The PID, network, IPC and mount namespaces the config names (all, when it says True),
    each if the kernel allows; return what failed (warnings) and what took effect ("pid",
    "net", "ipc", "mount")."""
    wanted = config.get("namespaces", True)
    wanted = {"pid", "net", "ipc", "mount"} if wanted is True else set(wanted or ())
    warnings, isolated = [], set()
    try:
        if "pid" in wanted:
            enter_pid_namespace(event_fd)
            isolated.add("pid")
    except OSError as error:
        warnings.append(f"no PID namespace ({error})")
    for flag, name, what in (
        (CLONE_NEWNET, "net", "no network namespace, the child can reach the network"),
        (CLONE_NEWIPC, "ipc", "no IPC namespace, System V objects the child makes outlive it"),
    ):
        try:
            if name in wanted:
                _call("unshare", flag)
                isolated.add(name)
        except OSError as error:
            warnings.append(f"{what} ({error})")
    if "mount" not in wanted:
        return warnings, isolated
    try:
        _call("unshare", CLONE_NEWNS)
        sys.path[:] = [os.path.realpath(p) for p in sys.path]
        plan = view.plan_view(
            config,
            workspace=base,
            python_paths=view.python_paths(),
            uid=config["drop"]["uid"],
            gid=config["drop"]["gid"],
        )
        view.enter_view(plan, stage=base / "stage", new_proc="pid" in isolated)
        isolated.add("mount")
    except OSError as error:
        warnings.append(f"no private filesystem view, the child sees and may write more ({error})")
    return warnings, isolated


def check_readable(paths: list[str]) -> None:
    """Raise OSError, saying what to do, if this user cannot read the interpreter's paths."""
    for path in paths:
        if not os.access(path, os.R_OK | os.X_OK):
            raise OSError(
                f"the sandbox user cannot read {path}: install Python and the packages where "
                "other users can read them, or let the grader use mount namespaces"
            )


def show_gpu(config: dict[str, Any]) -> None:
    """With device files shown (a GPU's), the machine's ``CUDA_VISIBLE_DEVICES`` (or none)
    instead of the empty one every child starts with."""
    if config.get("devices"):
        os.environ.pop("CUDA_VISIBLE_DEVICES", None)
        if config.get("cuda_visible_devices") is not None:
            os.environ["CUDA_VISIBLE_DEVICES"] = config["cuda_visible_devices"]


def enter_sandbox(
    config: dict[str, Any], *, event_fd: int, base: Path
) -> tuple[list[str], set[str]]:
    """Apply ``config`` (the request's "sandbox" part) to this process; return warnings and the
    namespaces that took effect."""
    die_with_parent()
    os.umask(0o022)
    set_rlimits(config["rlimits"])
    show_gpu(config)
    drop = config.get("drop")
    if not drop:
        return [], set()
    readable = [p for p in sys.path if os.path.exists(p)]  # as root: what exists at all
    warnings, isolated = [], set()
    if config.get("namespaces", True):  # True, or the names of those to enter
        warnings, isolated = enter_namespaces(config, event_fd=event_fd, base=base)
    warnings += drop_privileges(drop["uid"], drop["gid"], config["rlimits"]["nproc"])
    os.chdir(base / "home")  # the old cwd is on the mount that the writable bind now covers
    check_readable([os.path.realpath(p) for p in readable])
    if "mount" not in isolated:  # file modes are all that protect the secrets now: say so
        exposed = [p for p in config.get("hide", ()) if os.access(p, os.R_OK)]
        warnings += [f"the sandbox user can read the secret path {p}" for p in exposed]
    return warnings, isolated
