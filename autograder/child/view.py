"""Child side: the filesystem the child sees, an allowlist (Linux, as root, own mount namespace).

``plan_view`` decides, ``enter_view`` builds it on a fresh tmpfs and ``pivot_root``s into it, so
nothing of the host's tree stays reachable. The child sees, at their usual paths:

- the interpreter: every folder on ``sys.path`` (stdlib, the grader's site-packages) and the
  system's shared libraries (``SYSTEM_PATHS``), read-only;
- in every site-packages folder it sees, the grader's own packages masked (``hide_packages``:
  ``autograder``, ``reference``, the project's dist-info), and every secret path (the config's
  ``hide``) masked wherever it falls inside what is shown: empty folders and empty files;
- its workspace: ``lib/``, ``inputs/``, ``request.json`` read-only, ``home/`` and ``results/``
  writable;
- the data the request names (``read_only``), read-only;
- ``/dev`` with null, zero, random, urandom and the fd links only; a private ``/proc`` (its own
  processes when it has a PID namespace); a private size-capped tmpfs ``/tmp`` (``/dev/shm`` is a
  link to it); an ``/etc`` with the loader's cache and a passwd file of two lines;
- nothing else: no home folder, no other workspace or submission, no checkout, no course files.

The view is entered in-process (no exec of a wrapper), so a process that already imported torch
can fork a child into it. See docs/sandbox.md and docs/threat-model.md.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from . import mounts

SYSTEM_PATHS = (
    "/lib",
    "/lib64",
    "/lib32",
    "/libx32",
    "/usr/lib",
    "/usr/lib64",
    "/usr/lib32",
    "/usr/libx32",
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
)
"""What the dynamic loader needs (numpy and torch load shared libraries after the view is up)."""
DEVICES = ("null", "zero", "random", "urandom")
DEVICE_LINKS = {
    "fd": "/proc/self/fd",
    "stdin": "/proc/self/fd/0",
    "stdout": "/proc/self/fd/1",
    "stderr": "/proc/self/fd/2",
    "shm": "/tmp",
}
SITE_PATTERNS = (
    "python3*/site-packages",
    "python3*/dist-packages",
    "python3/dist-packages",
    "lib/python3*/site-packages",
    "lib/python3*/dist-packages",
    "lib/python3/dist-packages",
    "local/lib/python3*/site-packages",
    "local/lib/python3*/dist-packages",
)
"""Where site-packages folders hide inside a folder the child sees (a prefix, /usr/lib...)."""
ROOT_OPTIONS = "mode=0755,size=4m,nr_inodes=8192"
RESERVED = (Path("/etc/passwd"), Path("/etc/group"), Path("/etc/hostname"), Path("/dev/null"))
"""Paths the view makes itself: a shown folder may not hold them (nor be inside /dev, /proc)."""


@dataclass(frozen=True)
class ViewPlan:
    """What the child will see, decided before anything is mounted."""

    read_only: tuple[Path, ...]
    """Host folders and files shown read-only at the same path (none inside another)."""
    links: tuple[tuple[Path, str], ...]
    """Symbolic links to recreate on the way to them (``/lib`` -> ``usr/lib``)."""
    masks: tuple[Path, ...]
    """Paths inside ``read_only`` shown empty: the grader's packages and the secret paths."""
    workspace: Path
    """The child's workspace, shown read-only at the same path."""
    writable: tuple[Path, ...]
    """Folders of the workspace shown writable (``home``, ``results``)."""
    tmp_bytes: int
    """Size of the private ``/tmp``."""
    passwd: tuple[tuple[str, int, int], ...]
    """(name, uid, gid) of the users ``/etc/passwd`` lists."""
    devices: tuple[Path, ...] = ()
    """More device files (or folders of them) under ``/dev`` to show: a GPU's."""


def is_under(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def resolve_links(path: Path, limit: int = 40) -> tuple[Path, list[tuple[Path, str]]]:
    """``path`` with every symbolic link on the way resolved, and the links met (their place
    and their text), so that the view can recreate them and show the real target."""
    links: list[tuple[Path, str]] = []
    current = Path("/")
    parts = list(path.parts[1:])
    while parts:
        candidate = current / parts.pop(0)
        if candidate.is_symlink():
            limit -= 1
            if limit < 0:
                raise OSError(f"too many symbolic links on the way to {path}")
            text = os.readlink(candidate)
            links.append((candidate, text))
            target = Path(os.path.normpath(current / text))
            current, parts = Path("/"), [*target.parts[1:], *parts]
            continue
        current = candidate
    return current, links


def outermost(paths: Iterable[Path]) -> list[Path]:
    """The paths that are not inside another one of them, shortest first."""
    kept: list[Path] = []
    for path in sorted(set(paths), key=lambda p: (len(p.parts), str(p))):
        if not any(is_under(path, k) for k in kept):
            kept.append(path)
    return kept


def site_folders(shown: Sequence[Path]) -> list[Path]:
    """Every site-packages (or dist-packages) folder inside the shown folders."""
    found = set()
    for folder in shown:
        if folder.name in ("site-packages", "dist-packages"):
            found.add(folder)
        if folder.is_dir():
            for pattern in SITE_PATTERNS:
                found.update(p for p in folder.glob(pattern) if p.is_dir())
    return sorted(found)


def is_hidden_package(entry: str, names: Sequence[str]) -> bool:
    """Whether a site-packages entry belongs to one of the hidden distributions or packages:
    ``autograder``, ``autograder-1.0.dist-info``, ``__editable__.nmt_autograder-0.1.0.pth``..."""
    stem = entry.removeprefix("__editable__").lstrip("._").lower().replace("-", "_")
    for name in names:
        name = name.lower().replace("-", "_")
        if stem == name or (stem.startswith(name) and stem[len(name)] in "._"):
            return True
    return False


def _may_show(path: Path, workspace: Path) -> bool:
    """Whether a host path may be shown: not the workspace's (shown on its own terms), not a
    folder holding it or a path the view makes itself, nothing in /dev or /proc."""
    if is_under(path, workspace) or is_under(workspace, path):
        return False
    if any(is_under(reserved, path) for reserved in RESERVED):
        return False
    return not (is_under(path, Path("/dev")) or is_under(path, Path("/proc")))


def plan_view(
    config: dict, *, workspace: Path, python_paths: Sequence[str], uid: int, gid: int
) -> ViewPlan:
    """Decide the view from the request's sandbox ``config`` and the interpreter's paths."""
    wanted = [Path(p) for p in (*SYSTEM_PATHS, *python_paths, *config.get("read_only", ()))]
    real, links = [], {}
    for path in wanted:
        if not path.is_absolute() or not os.path.lexists(path):
            continue
        target, met = resolve_links(path)
        if os.path.exists(target) and _may_show(target, workspace):
            real.append(target)
            links.update(dict(met))
    shown = outermost(real)
    masks = set()
    for secret in (Path(p) for p in config.get("hide", ())):
        if os.path.lexists(secret) and any(is_under(secret, s) for s in shown):
            masks.add(secret)
    hidden = config.get("hide_packages", ())
    for folder in site_folders(shown):
        with contextlib.suppress(OSError):
            masks.update(folder / e for e in os.listdir(folder) if is_hidden_package(e, hidden))
    link_places = tuple(
        (place, text)
        for place, text in sorted(links.items())
        if not any(is_under(place, s) for s in shown)
    )
    return ViewPlan(
        read_only=tuple(shown),
        links=link_places,
        masks=tuple(sorted(masks)),
        workspace=workspace,
        writable=(workspace / "home", workspace / "results"),
        tmp_bytes=int(config.get("tmp_bytes", 16 << 20)),
        passwd=(("root", 0, 0), ("sandbox", uid, gid)),
        devices=tuple(_devices(config.get("devices", ()))),
    )


def _devices(paths: Sequence[str]) -> list[Path]:
    """The device files asked for that exist, directly under ``/dev`` or in a folder there."""
    found = []
    for text in paths:
        path = Path(os.path.normpath(text))
        if path.parent != Path("/dev") or path.name in DEVICES or path.name in DEVICE_LINKS:
            continue
        if os.path.lexists(path) and not path.is_symlink():
            found.append(path)
    return found


def _make_place(root: Path, path: Path, *, is_dir: bool) -> Path:
    """Create ``path`` (an absolute path) inside ``root``, folders on the way mode 0755."""
    target = root / path.relative_to("/")
    target.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    if is_dir:
        target.mkdir(mode=0o755, exist_ok=True)
    elif not target.exists():
        target.touch(mode=0o444)
    return target


def _populate_dev(root: Path, devices: Sequence[Path] = ()) -> None:
    dev = root / "dev"
    dev.mkdir(mode=0o755)
    for name in DEVICES:
        (dev / name).touch(mode=0o666)
        mounts.bind(Path("/dev", name), dev / name, recursive=False)
    for path in devices:  # a GPU's, when asked for: read-write, as the devices above
        if path.is_dir():
            (dev / path.name).mkdir(mode=0o755)
        else:
            (dev / path.name).touch(mode=0o666)
        mounts.bind(path, dev / path.name, recursive=path.is_dir())
    for name, text in DEVICE_LINKS.items():
        (dev / name).symlink_to(text)


def _populate_etc(root: Path, plan: ViewPlan) -> None:
    etc = root / "etc"
    etc.mkdir(mode=0o755, exist_ok=True)
    home = plan.workspace / "home"
    users = "".join(f"{n}:x:{u}:{g}:{n}:{home}:/nonexistent\n" for n, u, g in plan.passwd)
    groups = "".join(f"{n}:x:{g}:\n" for n, _, g in plan.passwd)
    for name, text in (("passwd", users), ("group", groups), ("hostname", "sandbox\n")):
        (etc / name).write_text(text)
        (etc / name).chmod(0o644)


def _mask(root: Path, masks: Sequence[Path]) -> None:
    """Show every masked path as an empty folder or file (an unlinked tmpfs entry bound on it)."""
    empty_dir, empty_file = root / ".empty-dir", root / ".empty-file"
    empty_dir.mkdir(mode=0o555)
    empty_file.touch(mode=0o444)
    for path in masks:
        target = root / path.relative_to("/")
        if not os.path.lexists(target) or target.is_symlink():
            continue
        mounts.bind(empty_dir if target.is_dir() else empty_file, target, recursive=False)
    empty_dir.rmdir()
    empty_file.unlink()


def enter_view(plan: ViewPlan, *, stage: Path, new_proc: bool) -> None:
    """Build ``plan`` on a tmpfs mounted at ``stage`` and make it the root; call in a fresh mount
    namespace, as root. Raises OSError when the kernel refuses a step."""
    mounts.make_private()
    mounts.tmpfs(stage, ROOT_OPTIONS)
    root = stage
    tmp = root / "tmp"
    tmp.mkdir(mode=0o755)
    mounts.tmpfs(tmp, f"mode=1777,size={plan.tmp_bytes},nr_inodes=16384")
    for path in plan.read_only:
        mounts.bind(path, _make_place(root, path, is_dir=path.is_dir()))
    for place, text in plan.links:
        target = root / place.relative_to("/")
        target.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        if not os.path.lexists(target):
            target.symlink_to(text)
    for path in (plan.workspace, *plan.writable):
        _make_place(root, path, is_dir=True)
    mounts.bind(plan.workspace, root / plan.workspace.relative_to("/"), recursive=False)
    _populate_dev(root, plan.devices)
    _populate_etc(root, plan)
    (root / "proc").mkdir(mode=0o555)
    flags = mounts.MS_NOSUID | mounts.MS_NODEV | mounts.MS_NOEXEC
    mounts.mount("proc", root / "proc", "proc", flags, "" if new_proc else "hidepid=2")
    _mask(root, plan.masks)
    mounts.set_read_only(root)
    mounts.set_read_only(tmp, recursive=False, read_only=False)
    for path in plan.writable:
        target = root / path.relative_to("/")
        mounts.bind(path, target, recursive=False)
        mounts.set_read_only(target, recursive=False, read_only=False)
    mounts.pivot_root(root)


def python_paths() -> list[str]:
    """The interpreter's paths the child needs: ``sys.path`` (real paths) and the executable."""
    paths = [os.path.realpath(p) for p in sys.path if p]
    return [*paths, os.path.realpath(sys.executable)]
