"""Parent side: one sandbox user per running child, leased from a range of unused uids.

Children that share a uid can signal each other (``kill(-1)`` reaches every process of the
caller's uid), share ``RLIMIT_NPROC`` and, without namespaces, read each other's files; and the
parent's clean-up by user could not tell their processes and files apart. So every child gets a
uid of its own for its whole life: ``lease_user`` takes the first free uid of
``SandboxLimits.sandbox_uids`` under an exclusive ``flock`` on ``<uid>.lock`` in a root-only
folder (machine-wide: two batches, or a batch and a test run, never get the same uid at once),
and the parent keeps the lease until the child is reaped and cleaned up after. The group is the
same number. No ``/etc/passwd`` entry is needed to become a uid; a uid that has one, or that
the kernel does not map (a user namespace), is skipped.

A uid leased is the parent's alone, so whatever still runs as it, or is still owned by it in
the IPC tables and the world-writable folders, was left by a grading whose grader died before
its clean-up: ``lease_user`` removes it (``cleanup.scrub_user``) before handing the uid out.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pwd
import stat
import time
from dataclasses import dataclass
from pathlib import Path

from . import cleanup
from .model import SandboxError

LOCK_PARENTS = ("/run", "/var/run", "/dev/shm", "/tmp")
"""Where the folder of lock files goes: the first of these that exists."""
LOCK_FOLDER = "nmt-sandbox-users"


@dataclass
class UserLease:
    """A uid (and the gid of the same number) held by one child until ``release``."""

    uid: int
    """The child's user."""
    gid: int
    """The child's group."""
    lock_fd: int
    """The locked ``<uid>.lock``; closing it releases the uid."""

    def release(self) -> None:
        if self.lock_fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self.lock_fd)
            self.lock_fd = -1


def lock_folder() -> Path:
    """The folder of lock files: made by root, mode 0700, and refused if anyone else could have
    made or changed it (a sandbox user without a mount namespace sees the shared folders)."""
    parent = next((Path(p) for p in LOCK_PARENTS if os.path.isdir(p)), None)
    if parent is None:
        raise SandboxError(f"no folder for the sandbox users' locks among {LOCK_PARENTS}")
    folder = parent / LOCK_FOLDER
    with contextlib.suppress(FileExistsError):
        os.mkdir(folder, 0o700)
    info = os.lstat(folder)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != 0 or info.st_mode & 0o077:
        raise SandboxError(
            f"{folder} is not a folder that only root can use; remove it (someone else made it)"
        )
    return folder


def mapped_uids() -> list[tuple[int, int]]:
    """(first, count) of the uid ranges this process's user namespace maps."""
    ranges = []
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/uid_map").read_text().splitlines():
            inside, _, count = (int(x) for x in line.split())
            ranges.append((inside, count))
    return ranges or [(0, 1 << 32)]


def usable(uid: int, ranges: list[tuple[int, int]]) -> bool:
    """Whether ``uid`` is free of any account and mapped by the kernel."""
    if not any(first <= uid < first + count for first, count in ranges):
        return False
    try:
        pwd.getpwuid(uid)
    except KeyError:
        return True
    return False


def _try_lock(folder: Path, uid: int) -> int | None:
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(folder / f"{uid}.lock", flags, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def lease_user(uids: tuple[int, int], *, wait_s: float = 60.0) -> UserLease:
    """Lease the first free uid of ``uids`` (first, count), waiting up to ``wait_s`` for one;
    scrub what a dead grading left as it. Raises SandboxError when none can be had."""
    first, count = uids
    ranges = mapped_uids()
    candidates = [uid for uid in range(first, first + count) if usable(uid, ranges)]
    if not candidates:
        raise SandboxError(
            f"no usable sandbox uid in {first}..{first + count - 1} (each has an account, or "
            "the kernel does not map it): set SandboxLimits.sandbox_uids"
        )
    folder = lock_folder()
    deadline = time.monotonic() + wait_s
    while True:
        for uid in candidates:
            fd = _try_lock(folder, uid)
            if fd is not None:
                cleanup.scrub_user(uid)
                return UserLease(uid, uid, fd)
        if time.monotonic() >= deadline:
            raise SandboxError(f"all {len(candidates)} sandbox uids stayed busy for {wait_s:g} s")
        time.sleep(0.05)
