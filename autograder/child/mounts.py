"""Child side: the mount system calls the view is built with (Linux, as root, in a private mount
namespace), through ctypes: mount(2), umount2(2), pivot_root(2), mount_setattr(2).

Nothing here decides what the child sees: that is ``view``. Every call raises OSError with the
path in its message; nothing here changes the host's mounts, since the namespace is private
(``make_private``) and dies with the child.
"""

from __future__ import annotations

import ctypes
import os
from pathlib import Path

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_MOVE, MS_REC, MS_PRIVATE = 32, 4096, 8192, 16384, 1 << 18
MNT_DETACH = 2
AT_FDCWD, AT_RECURSIVE, MOUNT_ATTR_RDONLY = -100, 0x8000, 1
SYS_MOUNT_SETATTR = {"x86_64": 442, "aarch64": 442}
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}
LOCKED_FLAGS = (("nosuid", MS_NOSUID), ("nodev", MS_NODEV), ("noexec", MS_NOEXEC))
"""Per-mount flags a read-only remount must repeat (the kernel refuses to drop them)."""

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_ulong,
    ctypes.c_char_p,
]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.syscall.restype = ctypes.c_long


class _MountAttr(ctypes.Structure):
    _fields_ = [
        ("attr_set", ctypes.c_uint64),
        ("attr_clr", ctypes.c_uint64),
        ("propagation", ctypes.c_uint64),
        ("userns_fd", ctypes.c_uint64),
    ]


def _encode(text: str | Path | None) -> bytes | None:
    return None if text is None else os.fsencode(text)


def _fail(what: str) -> OSError:
    errno = ctypes.get_errno()
    return OSError(errno, f"{what}: {os.strerror(errno)}")


def mount(
    source: str | Path | None,
    target: str | Path,
    fstype: str | None,
    flags: int,
    data: str = "",
) -> None:
    """mount(2); raises OSError."""
    if _libc.mount(_encode(source), _encode(target), _encode(fstype), flags, _encode(data or None)):
        raise _fail(f"mount {source} on {target}")


def make_private() -> None:
    """Stop mount events propagating between this namespace and the host's, both ways."""
    mount(None, "/", None, MS_REC | MS_PRIVATE)


def bind(source: Path, target: Path, *, recursive: bool = True) -> None:
    """Bind ``source`` on ``target`` (which must exist and be of the same kind)."""
    mount(source, target, None, MS_BIND | (MS_REC if recursive else 0))


def tmpfs(target: Path, options: str, flags: int = MS_NOSUID | MS_NODEV) -> None:
    """A fresh tmpfs on ``target``; ``options`` like "mode=0755,size=1m"."""
    mount("tmpfs", target, "tmpfs", flags, options)


def _mount_points_under(root: Path) -> list[tuple[str, set[str]]]:
    """(mount point, options) of every mount at or under ``root``, outermost first."""
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        point = fields[4].encode().decode("unicode_escape")
        if point == str(root) or point.startswith(str(root).rstrip("/") + "/"):
            found.append((point, set(fields[5].split(","))))
    return sorted(found, key=lambda item: item[0].count("/"))


def set_read_only(root: Path, *, recursive: bool = True, read_only: bool = True) -> None:
    """Make the mount at ``root`` (and, with ``recursive``, every mount under it) read-only, or
    writable again: mount_setattr(2) where the kernel has it (5.12), else one remount each."""
    attr = _MountAttr(attr_set=MOUNT_ATTR_RDONLY if read_only else 0)
    if not read_only:
        attr.attr_clr = MOUNT_ATTR_RDONLY
    number = SYS_MOUNT_SETATTR.get(os.uname().machine)
    flags = AT_RECURSIVE if recursive else 0
    if number is not None and not _libc.syscall(
        number, AT_FDCWD, _encode(root), flags, ctypes.byref(attr), ctypes.sizeof(attr)
    ):
        return
    points = _mount_points_under(root) if recursive else [(str(root), _options_of(root))]
    for point, options in points:
        extra = sum(flag for name, flag in LOCKED_FLAGS if name in options)
        mount(None, point, None, MS_REMOUNT | MS_BIND | extra | (MS_RDONLY if read_only else 0))


def _options_of(point: Path) -> set[str]:
    for found, options in _mount_points_under(point):
        if found == str(point):
            return options
    return set()


def pivot_root(new_root: Path) -> None:
    """Make ``new_root`` (a mount point) the root and detach the old one entirely: nothing of the
    host's tree stays reachable. Falls back to MS_MOVE and chroot where pivot_root is refused (a
    root filesystem that is an initramfs)."""
    os.chdir(new_root)
    number = SYS_PIVOT_ROOT.get(os.uname().machine)
    if number is not None and not _libc.syscall(number, b".", b"."):
        if _libc.umount2(b".", MNT_DETACH):
            raise _fail("detaching the old root")
    else:
        mount(new_root, "/", None, MS_MOVE)
        os.chroot(".")
    os.chdir("/")
