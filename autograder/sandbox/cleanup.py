"""Parent side: nothing a child made outlives its grading, and cleaning up never fails a grade.

- ``remove_tree``: the workspace goes whatever the child left in it (a tree deeper than Python's
  recursion limit, folders with mode 000, odd names, files still open); a failure is logged,
  never raised.
- ``kill_leftovers``: processes of the grading that are still alive after the child was reaped.
  With a PID namespace the kernel has killed them all when its init died; the parent checks by
  the namespace, holding a reference to it meanwhile (``hold_pid_namespace``: a namespace's
  inode number is reused as soon as it is freed, and another grading's child could get it).
  As root the child ran as a sandbox user of its own (``users``: a uid leased for this child
  alone), so every process of that uid is the grading's and is killed, with or without a
  namespace, whatever environment it has. (A uid shared with others, as the tests use: only its
  processes started since the child that carry the child's mark, the ``NMT_SANDBOX_ID`` of their
  environment. Not root and no namespace: only the process group is killed; see
  docs/threat-model.md.)
- ``remove_ipc`` and ``remove_shared_files``: without an IPC or mount namespace, System V
  objects and files the sandbox user made in the world-writable folders (all of them for a
  leased uid; since the child started for a shared one).
- ``scrub_user``: all of the above for a uid about to be leased (a grading whose grader died
  before its clean-up).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

SHARED_FOLDERS = ("/tmp", "/var/tmp", "/dev/shm", "/dev/mqueue", "/run/lock", "/var/lock")
"""World-writable folders a child without a mount namespace may leave files in."""
IPC_RMID = 0
IPC_TABLES = {"shm": "shmctl", "msg": "msgctl", "sem": "semctl"}


# --- the workspace ---------------------------------------------------------------------------


def _open_up(path: Path) -> None:
    """Give the owner rwx on every folder under ``path`` (fd-based, no recursion, no links)."""
    stack = [path]
    while stack:
        folder = stack.pop()
        with contextlib.suppress(OSError):
            os.chmod(folder, 0o700, follow_symlinks=False)
            with os.scandir(folder) as entries:
                stack.extend(Path(e.path) for e in entries if e.is_dir(follow_symlinks=False))


def remove_tree(path: Path) -> bool:
    """Remove ``path`` and everything in it; True when it is gone. Never raises: a tree that
    resists is logged and left (a failed cleanup must not cost the student's grade)."""
    path = Path(path)
    if not os.path.lexists(path):
        return True
    with contextlib.suppress(Exception):  # RecursionError on very deep trees, OSError...
        shutil.rmtree(path)
    if not os.path.lexists(path):
        return True
    with contextlib.suppress(Exception):  # rm walks any depth with file descriptors
        if os.geteuid() != 0:
            _open_up(path)
        subprocess.run(
            ["rm", "-rf", "--one-file-system", "--", str(path)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=120,
            check=False,
        )
    if os.path.lexists(path):
        log.error("sandbox: could not remove the workspace %s", path)
        return False
    return True


# --- processes ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChildIdentity:
    """How to recognise a child's processes after it is gone."""

    pid_namespace: str | None
    """The child's PID namespace (``pid:[4026532...]``), when it had one of its own and the
    parent holds it; None otherwise."""
    uid: int | None
    """The sandbox user, when the child ran as one."""
    start_ticks: int
    """When the child started (clock ticks since boot, as /proc/PID/stat counts them)."""
    start_time: float
    """When the child started, as time.time()."""
    mark: str = ""
    """The child's ``NMT_SANDBOX_ID``, which every process it forks inherits."""
    namespaced: bool = False
    """Whether the child had a PID namespace: the kernel killed its processes with its init, and
    that namespace is searched (when the parent could hold it)."""
    exclusive: bool = False
    """Whether ``uid`` was leased to this child alone: then every process and object it owns
    belongs to the grading."""


def start_ticks(pid: int) -> int:
    """A process's start time in clock ticks since boot (field 22 of /proc/PID/stat)."""
    text = Path(f"/proc/{pid}/stat").read_text()
    return int(text[text.rindex(")") + 2 :].split()[19])


def hold_pid_namespace(pid: int) -> tuple[int, str] | None:
    """A descriptor on the PID namespace ``pid``'s children are born in, and its name
    (``pid:[4026532...]``), when it is not the grader's own; None when it cannot be had. While
    the descriptor is open the namespace's inode number cannot be given to another one."""
    try:
        fd = os.open(f"/proc/{pid}/ns/pid_for_children", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        theirs = os.readlink(f"/proc/self/fd/{fd}")
        if theirs != os.readlink("/proc/self/ns/pid"):
            return fd, theirs
    except OSError:
        pass
    os.close(fd)
    return None


def _processes() -> Iterable[int]:
    with contextlib.suppress(OSError):
        for name in os.listdir("/proc"):
            if name.isdigit():
                yield int(name)


def _belongs(pid: int, child: ChildIdentity) -> bool:
    try:
        namespace = child.pid_namespace
        if namespace is not None and os.readlink(f"/proc/{pid}/ns/pid") == namespace:
            return True
        if child.uid is None or os.stat(f"/proc/{pid}").st_uid != child.uid:
            return False
        if child.exclusive:
            return True
        if child.namespaced:
            return False
        return start_ticks(pid) >= child.start_ticks and _marked(pid, child.mark)
    except (OSError, ValueError, IndexError):
        return False  # gone meanwhile


def _marked(pid: int, mark: str) -> bool:
    """Whether the process's initial environment holds the child's mark."""
    if not mark:
        return False
    environ = Path(f"/proc/{pid}/environ").read_bytes()
    return f"NMT_SANDBOX_ID={mark}".encode() in environ.split(b"\0")


def leftover_processes(child: ChildIdentity) -> list[int]:
    """Processes of the child's grading still alive (zombies included)."""
    if not child.namespaced and child.uid is None:
        return []
    return [pid for pid in _processes() if pid != os.getpid() and _belongs(pid, child)]


def kill_leftovers(child: ChildIdentity, *, rounds: int = 40) -> list[int]:
    """SIGKILL the child's surviving processes until none is left; return those that survive
    every round (logged: it should never happen)."""
    survivors: list[int] = []
    for _ in range(rounds):
        survivors = [p for p in leftover_processes(child) if not _is_zombie(p)]
        if not survivors:
            return []
        for pid in survivors:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.025)
    log.error("sandbox: processes of a grading survived it: %s", survivors)
    return survivors


def _is_zombie(pid: int) -> bool:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return text[text.rindex(")") + 2 :].startswith(("Z", "X"))


# --- IPC objects and shared folders --------------------------------------------------------------

_libc = ctypes.CDLL(None, use_errno=True)


def _ipc_rows(table: str) -> list[dict[str, str]]:
    try:
        lines = Path(f"/proc/sysvipc/{table}").read_text().splitlines()
    except OSError:
        return []
    header = lines[0].split() if lines else []
    return [dict(zip(header, line.split(), strict=False)) for line in lines[1:]]


def _remove(function: str, ident: int) -> bool:
    if function == "semctl":  # semctl(id, semnum, cmd)
        return _libc.semctl(ident, 0, IPC_RMID) == 0
    return getattr(_libc, function)(ident, IPC_RMID, None) == 0


def remove_ipc(uid: int, since: float) -> int:
    """Remove the System V objects ``uid`` made (or changed) since ``since``; how many."""
    removed = 0
    for table, function in IPC_TABLES.items():
        key = {"shm": "shmid", "msg": "msqid", "sem": "semid"}[table]
        for row in _ipc_rows(table):
            try:
                owned = int(row["uid"]) == uid or int(row["cuid"]) == uid
                recent = int(row.get("ctime", "0")) >= int(since) - 1
                ident = int(row[key])
            except (KeyError, ValueError):
                continue
            if owned and recent and _remove(function, ident):
                removed += 1
    return removed


def remove_shared_files(uid: int, since: float, folders: Iterable[str] = SHARED_FOLDERS) -> int:
    """Remove what ``uid`` made since ``since`` at the top of the world-writable folders."""
    removed = 0
    for folder in {*folders, tempfile.gettempdir()}:
        with contextlib.suppress(OSError), os.scandir(folder) as entries:
            for entry in entries:
                with contextlib.suppress(OSError):
                    info = entry.stat(follow_symlinks=False)
                    if info.st_uid == uid and info.st_ctime >= since - 1:
                        if stat.S_ISDIR(info.st_mode):
                            remove_tree(Path(entry.path))
                        else:
                            os.unlink(entry.path)
                        removed += 1
    return removed


def after_child(child: ChildIdentity, *, isolated_ipc: bool, isolated_files: bool) -> None:
    """Everything the parent does once a child is reaped; never raises."""
    since = 0.0 if child.exclusive else child.start_time
    try:
        kill_leftovers(child)
        if child.uid is not None and not isolated_ipc:
            remove_ipc(child.uid, since)
        if child.uid is not None and not isolated_files:
            remove_shared_files(child.uid, since)
    except Exception:  # noqa: BLE001 - cleanup must never cost the grade
        log.exception("sandbox: cleaning up after a child failed")


def scrub_user(uid: int) -> None:
    """Remove every process, System V object and shared-folder file of ``uid`` (a sandbox uid
    just leased: anything of it was left by a grading whose grader died); never raises."""
    after_child(
        ChildIdentity(None, uid, 0, 0.0, exclusive=True), isolated_ipc=False, isolated_files=False
    )
