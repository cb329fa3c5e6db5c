"""The installed package carries every data file the grader reads (a wheel built by setuptools
from pyproject.toml's package-data: a file left out works in a checkout and silently not once
installed, e.g. the execution's loss ranges, which then read "no range")."""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_data_file_of_the_package_is_in_its_package_data():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    package_data = config["tool"]["setuptools"]["package-data"]
    data = [
        p
        for p in (ROOT / "autograder").rglob("*")
        if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts
    ]
    assert data
    missing = []
    for path in data:
        relative = path.relative_to(ROOT)
        covered = False
        for package, patterns in package_data.items():
            folder = Path(*package.split("."))
            if folder in relative.parents:
                inside = relative.relative_to(folder).as_posix()
                covered |= any(fnmatch.fnmatch(inside, pattern) for pattern in patterns)
        if not covered:
            missing.append(str(relative))
    assert missing == []
