"""The CI skip policy of ``tests/conftest.py``: in CI a skipped root-only or official-data test
fails; elsewhere it is skipped. Each case runs pytest in a subprocess on a small test file,
with the project's conftest loaded as a plugin."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

TESTS = """
import os

import pytest

os.geteuid = lambda: 1000  # a grader that is not root, whoever runs this


@pytest.fixture
def official_data():
    pytest.skip("no official data on this machine")


@pytest.mark.needs_root
def test_needs_root():
    pass


@pytest.mark.official_data
def test_marked_official_data():
    pytest.skip("no official data on this machine")


def test_uses_the_official_data_fixture(official_data):
    pass


def test_skips_for_another_reason():
    pytest.skip("not about root or data")


@pytest.mark.official_data
def test_marked_and_passing():
    pass
"""


def _outcomes(tmp_path: Path, ci: str | None) -> tuple[dict[str, str], int]:
    """Each test's outcome (a skip failed in set-up reads ERROR: a failure too) and the exit
    status of the run."""
    (tmp_path / "test_policy.py").write_text(TESTS)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["PYTHONPATH"] = str(ROOT)
    if ci is not None:
        env["CI"] = ci
    command = [sys.executable, "-m", "pytest", "-p", "tests.conftest", "-p", "no:cacheprovider"]
    command += ["-v", "-W", "ignore::pytest.PytestUnknownMarkWarning", "test_policy.py"]
    run = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True)
    found = re.findall(r"^test_policy\.py::(\w+) ([A-Z]+)", run.stdout, re.M)
    return {name: "FAILED" if o == "ERROR" else o for name, o in found}, run.returncode


@pytest.mark.parametrize("ci", [None, "false"])
def test_outside_ci_such_tests_are_skipped(tmp_path, ci):
    assert _outcomes(tmp_path, ci) == (
        {
            "test_needs_root": "SKIPPED",
            "test_marked_official_data": "SKIPPED",
            "test_uses_the_official_data_fixture": "SKIPPED",
            "test_skips_for_another_reason": "SKIPPED",
            "test_marked_and_passing": "PASSED",
        },
        0,
    )


def test_in_ci_a_skip_of_such_a_test_is_a_failure(tmp_path):
    assert _outcomes(tmp_path, "true") == (
        {
            "test_needs_root": "FAILED",
            "test_marked_official_data": "FAILED",
            "test_uses_the_official_data_fixture": "FAILED",
            "test_skips_for_another_reason": "SKIPPED",
            "test_marked_and_passing": "PASSED",
        },
        1,
    )
