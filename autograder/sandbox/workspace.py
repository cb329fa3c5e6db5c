"""Parent side: the child's temporary folder, and the code copied into it.

    <tmp>/nmt-sandbox-XXXX/      the workspace, owned by the grader (0755 when the child drops root)
        lib/                      what the child may import of ours (see ``copy_probe_code``)
        request.json, inputs/     the calls (``transport``)
        output.txt                the child's stdout and stderr (opened by the parent)
        stage/                    an empty mount point used while building the child's view
        home/                     the child's cwd, HOME and TMPDIR, with submission.py
        results/                  the child's records

``home`` and ``results`` belong to the sandbox user; everything else is read-only to it.

The child imports our code from copies, never from the repository: the repository holds the
reference solution and the goldens, so its root must not be on the child's path. ``lib`` gets
the child-side package (``autograder/child``, probes included) and, for each probe module from
elsewhere (the tests' misbehaving probes), the whole package folder that holds it, with empty
``__init__.py`` files for the packages above (``autograder/__init__.py`` is not copied, so
importing ``autograder`` in the child runs nothing of ours).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import site
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autograder.child.wire import encode_array, write_atomic

from .cleanup import remove_tree
from .model import ProbeCall, SandboxError

CHILD_PACKAGE = "autograder.child"
"""The child-side package, copied whole into every workspace."""
BUILTIN_PROBES = f"{CHILD_PACKAGE}.builtin"
FORBIDDEN_PACKAGES = ("reference", "autograder")
"""Top-level packages whose code may reach the child only through ``CHILD_PACKAGE``."""


def _copy_tree(source: Path, target: Path) -> None:
    """Copy the .py files under ``source``, world-readable whatever their modes were."""
    for path in source.rglob("*.py"):
        if "__pycache__" in path.parts:
            continue
        destination = target / path.relative_to(source)
        destination.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        shutil.copyfile(path, destination)
        destination.chmod(0o644)


def _package_folder(name: str) -> tuple[str, Path]:
    """The package that holds module ``name`` and its folder; SandboxError when not found."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError) as error:
        raise SandboxError(f"probe module {name!r} cannot be found ({error})") from None
    if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
        raise SandboxError(f"probe module {name!r} is not a Python source module")
    package = name if spec.submodule_search_locations else name.rpartition(".")[0]
    if not package:
        raise SandboxError(f"probe module {name!r} must live in a package")
    return package, Path(spec.origin).parent


def copy_probe_code(lib: Path, module_names: Sequence[str]) -> None:
    """Copy ``autograder/child`` and the packages of ``module_names`` into ``lib`` (see the
    module's docstring); raises SandboxError for a module that is not found or not allowed."""
    packages = {CHILD_PACKAGE: _package_folder(CHILD_PACKAGE)[1]}
    for name in module_names:
        if name == CHILD_PACKAGE or name.startswith(CHILD_PACKAGE + "."):
            continue
        if name.split(".")[0] in FORBIDDEN_PACKAGES:
            raise SandboxError(
                f"probe module {name!r} is outside {CHILD_PACKAGE!r}: only that package of ours "
                "may travel into the sandbox"
            )
        package, folder = _package_folder(name)
        packages[package] = folder
    for package, folder in packages.items():
        parts = package.split(".")
        _copy_tree(folder, lib.joinpath(*parts))
        for depth in range(1, len(parts)):
            stub = lib.joinpath(*parts[:depth], "__init__.py")
            if not stub.exists():
                stub.write_text("")
                stub.chmod(0o644)


@dataclass
class Workspace:
    """A prepared workspace and the parent's descriptors on it."""

    base: Path
    """The workspace folder."""
    results_fd: int
    """The results folder, opened before the child starts (so the child cannot swap it)."""
    output_fd: int
    """Write end of output.txt, handed to the child as stdout and stderr."""
    output_read_fd: int
    """Read end of output.txt, for the tails."""

    @property
    def home(self) -> Path:
        return self.base / "home"

    def close(self) -> None:
        for fd in (self.results_fd, self.output_fd, self.output_read_fd):
            with contextlib.suppress(OSError):
                os.close(fd)
        remove_tree(self.base)


def site_packages() -> list[str]:
    """The grader's site-packages folders, which the child appends to its path."""
    return [p for p in site.getsitepackages() if os.path.isdir(p)]


def create_workspace(
    source: str,
    calls: Sequence[tuple[int, ProbeCall]],
    *,
    probe_modules: Sequence[str],
    sandbox: dict[str, Any],
    user: tuple[int, int] | None,
    copy_code: bool = True,
    skip: dict[int, str] | None = None,
) -> Workspace:
    """Make the workspace for one child: code (unless ``copy_code`` is False: a fork server's
    child has its own), request, inputs, submission.py. ``skip``: the top-level statements
    the child must leave out of the student's module (index -> why)."""
    base = Path(tempfile.mkdtemp(prefix="nmt-sandbox-"))
    try:
        for folder in ("lib", "inputs", "stage", "home", "results"):
            (base / folder).mkdir(mode=0o755)
        if copy_code:
            copy_probe_code(base / "lib", probe_modules)
        request = {
            "site_packages": site_packages(),
            "probe_modules": [BUILTIN_PROBES, *probe_modules],
            "sandbox": sandbox,
            "calls": [_call_entry(index, call) for index, call in calls],
            "skip": [{"index": i, "why": why} for i, why in sorted((skip or {}).items())],
        }
        write_atomic(base / "request.json", json.dumps(request).encode())
        for index, call in calls:
            for name, array in call.arrays.items():
                write_atomic(base / "inputs" / f"{index}.{name}.npy", encode_array(array))
        (base / "home" / "submission.py").write_text(source, encoding="utf-8")
        if user is not None:
            base.chmod(0o755)
            for folder in ("home", "results"):
                os.chown(base / folder, *user)
                (base / folder).chmod(0o700)
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC
        output_fd = os.open(base / "output.txt", flags, 0o600)
        output_read_fd = os.open(base / "output.txt", os.O_RDONLY | os.O_CLOEXEC)
        results_fd = os.open(base / "results", os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except BaseException:
        remove_tree(base)
        raise
    return Workspace(base, results_fd, output_fd, output_read_fd)


def _call_entry(index: int, call: ProbeCall) -> dict[str, Any]:
    kwargs = {k: v for k, v in call.kwargs.items() if k != "seed"}
    seed = call.kwargs.get("seed", 0)
    return {
        "index": index,
        "probe": call.probe,
        "kwargs": kwargs,
        "seed": seed,
        "arrays": list(call.arrays),
    }
