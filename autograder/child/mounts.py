"""Child side: the filesystem the child sees, built in its own mount namespace (Linux, as root).

``build_view`` turns a fresh mount namespace into a view where

- the directories in ``hide`` (the project, the system temporary directory) are covered by an
  empty tmpfs that holds only the paths the child needs (``keep``: its Python, its packages, its
  own workspace), bound at their usual places;
- a directory on the way to a kept path that the sandbox user could not enter (``/root`` is 0700
  when Python lives in ``/root/.pyenv``) is covered the same way, so the kept paths stay reachable
  and the rest of the directory stays out of sight;
- ``/proc`` shows only the child's processes (when it has its own PID namespace);
- everything is read-only except the ``writable`` folders (the child's home and results).

Nothing here changes the host's mounts: the namespace is private and dies with the child.
"""

from __future__ import annotations

import ctypes
import os
import stat
from collections.abc import Sequence
from pathlib import Path

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_MOVE, MS_REC, MS_PRIVATE = 32, 4096, 8192, 16384, 1 << 18
SYS_MOUNT_SETATTR, AT_FDCWD, AT_RECURSIVE, MOUNT_ATTR_RDONLY = 442, -100, 0x8000, 1

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_ulong,
    ctypes.c_char_p,
]


class _MountAttr(ctypes.Structure):
    _fields_ = [
        ("attr_set", ctypes.c_uint64),
        ("attr_clr", ctypes.c_uint64),
        ("propagation", ctypes.c_uint64),
        ("userns_fd", ctypes.c_uint64),
    ]


def _encode(text: str | None) -> bytes | None:
    return None if text is None else os.fsencode(text)


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str = "") -> None:
    """mount(2); raises OSError."""
    if _libc.mount(_encode(source), _encode(target), _encode(fstype), flags, _encode(data or None)):
        errno = ctypes.get_errno()
        raise OSError(errno, f"mount {source} on {target}: {os.strerror(errno)}")


def can_enter(path: Path, uid: int, gid: int) -> bool:
    """Whether ``uid``/``gid`` (no supplementary groups) may search the directory ``path``."""
    info = path.stat()
    if info.st_uid == uid:
        return bool(info.st_mode & stat.S_IXUSR)
    if info.st_gid == gid:
        return bool(info.st_mode & stat.S_IXGRP)
    return bool(info.st_mode & stat.S_IXOTH)


def blocked_ancestor(path: Path, uid: int, gid: int) -> Path | None:
    """The first directory on the way to ``path`` that ``uid`` cannot enter, if any."""
    for ancestor in reversed(path.parents):
        if not can_enter(ancestor, uid, gid):
            return ancestor
    return None


def is_under(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def plan_covers(keep: Sequence[Path], hide: Sequence[Path], uid: int, gid: int) -> list[Path]:
    """The directories to cover, outermost first: hidden ones and blocked ancestors of kept
    paths. A hidden directory that is itself kept, or inside a kept path, is not covered unless
    it is strictly inside one (then it is emptied)."""
    covers = {h for h in hide if h.is_dir() and h not in keep}
    covers |= {b for k in keep if (b := blocked_ancestor(k, uid, gid)) is not None}
    ordered, done = [], []
    for folder in sorted(covers, key=lambda p: len(p.parts)):
        inside_kept = any(is_under(folder, k) for k in keep)
        if any(is_under(folder, d) for d in done) and not inside_kept:
            continue  # already out of sight, and not reachable through a kept path
        ordered.append(folder)
        done.append(folder)
    return ordered


def cover(folder: Path, keep: Sequence[Path], stage: Path) -> None:
    """Mount an empty tmpfs on ``folder`` holding only the kept paths under it."""
    mount("tmpfs", str(stage), "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m,nr_inodes=4096")
    kept = sorted(k for k in keep if folder in k.parents)
    kept = [k for k in kept if not any(o in k.parents for o in kept)]
    for path in kept:
        target = stage / path.relative_to(folder)
        for parent in reversed(target.relative_to(stage).parents):
            (stage / parent).mkdir(mode=0o755, exist_ok=True)
        if path.is_dir():
            target.mkdir(mode=0o755)
        else:
            target.touch(mode=0o644)
        mount(str(path), str(target), None, MS_BIND | MS_REC)
    mount(str(stage), str(folder), None, MS_MOVE)


def make_read_only() -> None:
    """Make every mount read-only: mount_setattr(2) on / recursively, else remount each."""
    attr = _MountAttr(attr_set=MOUNT_ATTR_RDONLY)
    size = ctypes.sizeof(attr)
    if (
        _libc.syscall(SYS_MOUNT_SETATTR, AT_FDCWD, b"/", AT_RECURSIVE, ctypes.byref(attr), size)
        == 0
    ):
        return
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].encode().decode("unicode_escape")
        options = set(line.split()[5].split(","))
        flags = MS_REMOUNT | MS_BIND | MS_RDONLY
        flags |= sum(f for o, f in (("nosuid", 2), ("nodev", 4), ("noexec", 8)) if o in options)
        mount(None, point, None, flags)


def build_view(
    *,
    keep: Sequence[Path],
    hide: Sequence[Path],
    writable: Sequence[Path],
    stage: Path,
    uid: int,
    gid: int,
    new_proc: bool,
) -> None:
    """Build the child's view (see the module's docstring); call in a fresh mount namespace."""
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    if new_proc:
        mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    for folder in plan_covers(keep, hide, uid, gid):
        cover(folder, keep, stage)
    make_read_only()
    for folder in writable:
        mount(str(folder), str(folder), None, MS_BIND)
        mount(None, str(folder), None, MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV)
