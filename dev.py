#!/usr/bin/env python3
"""Developer entry point: needs only Python 3.11+ and pip.

    python3 dev.py demo    # set up .venv, then run the main job on the bundled examples
    python3 dev.py test    # set up .venv, then run the test suite (what CI runs)
    python3 dev.py lint    # ruff check and format --check
    python3 dev.py setup   # only create/refresh .venv

The virtual environment gets a pinned torch (2.13.0). On a machine whose default index serves
CUDA builds, set TORCH_INDEX_URL (for example to PyTorch's CPU wheel index) to keep it small.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
TORCH = "torch==2.13.0"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / "python"


def _run(*args: str | Path) -> None:
    print("+", " ".join(str(a) for a in args), flush=True)
    subprocess.run([str(a) for a in args], cwd=ROOT, check=True)


def setup() -> None:
    """Create .venv and install the project with its dev extra, once per pyproject change."""
    if sys.version_info < (3, 11):  # noqa: UP036 - dev.py runs on whatever python3 is
        sys.exit(f"Python 3.11 or newer is needed, this is {sys.version.split()[0]}")
    stamp = VENV / ".installed"
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + TORCH.encode()).hexdigest()
    if stamp.is_file() and stamp.read_text() == digest and PYTHON.exists():
        return
    if not PYTHON.exists():
        print(f"creating {VENV}", flush=True)
        try:
            venv.EnvBuilder(with_pip=True).create(VENV)
        except subprocess.CalledProcessError:  # no ensurepip (Debian without python3-venv)
            venv.EnvBuilder(with_pip=False, clear=True).create(VENV)
            _run(sys.executable, "-m", "pip", "--python", PYTHON, "install", "-q", "pip")
    pip = [PYTHON, "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    index = os.environ.get("TORCH_INDEX_URL")
    _run(*pip, TORCH, *(["--index-url", index] if index else []))
    _run(*pip, "-e", ".[dev]")
    stamp.write_text(digest)


def demo() -> int:
    setup()
    return subprocess.call([str(PYTHON), "grade.py", "demo"], cwd=ROOT)


def test(extra: list[str]) -> int:
    setup()
    return subprocess.call([str(PYTHON), "-m", "pytest", *extra], cwd=ROOT)


def lint() -> int:
    setup()
    ruff = [str(PYTHON), "-m", "ruff"]
    return subprocess.call([*ruff, "check", "."], cwd=ROOT) or subprocess.call(
        [*ruff, "format", "--check", "."], cwd=ROOT
    )


def main(argv: list[str]) -> int:
    commands = {"setup": lambda: setup() or 0, "demo": demo, "lint": lint}
    if not argv or argv[0] not in {*commands, "test"}:
        print(__doc__)
        return 2
    if argv[0] == "test":
        return test(argv[1:])
    return commands[argv[0]]()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
