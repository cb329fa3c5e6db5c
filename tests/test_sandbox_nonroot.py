"""The non-root path of the sandbox, simulated so that it runs as root (CI) too (the refusal
of ``drop_privileges=True`` without root is in ``tests/test_sandbox.py``).

A grader that is not root (a student's own `check`, a TA's laptop) runs the child as itself,
without a user switch or namespaces (``docs/sandbox.md``, "Without root"). The parent decides
this from ``os.geteuid()``, so these tests make it return a non-root uid in the parent; the
child is a separate process and follows the parent's decision, as it would for a real non-root
grader.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from autograder.engine import grade_submission
from autograder.sandbox import ProbeCall, run_probes

REPO = Path(__file__).resolve().parents[1]
SOLUTION = REPO / "fixtures" / "submissions" / "solution.ipynb"
TESTING = "tests.sandbox_probes.misbehave"


@pytest.fixture
def not_root(monkeypatch):
    """The grading parent believes it is not root."""
    monkeypatch.setattr(os, "geteuid", lambda: 1000)


def test_a_non_root_grader_runs_the_child_as_itself_with_the_basics(not_root):
    calls = [
        ProbeCall("echo", "echo", "1", {}),
        ProbeCall("environ", "environ", "2", {}),
        ProbeCall("reference", "import_module", "2", {"name": "reference"}),
    ]
    os.environ["NMT_SANDBOX_TEST_SECRET"] = "hunter2"
    try:
        results = {r.id: r for r in run_probes("import torch\n", calls, probe_modules=[TESTING])}
    finally:
        del os.environ["NMT_SANDBOX_TEST_SECRET"]
    echo = results["echo"].data
    assert echo["uid"] == os.getuid()  # no user switch
    assert os.getpid() in echo["visible_pids"]  # no PID namespace
    environ = results["environ"].data
    assert "NMT_SANDBOX_TEST_SECRET" not in environ["environ"]
    assert str(REPO) not in environ["sys_path"]
    assert results["reference"].error.type == "ModuleNotFoundError"


def test_a_non_root_grader_grades_the_solution_in_full(not_root):
    report = grade_submission(SOLUTION)
    assert report.status == "graded"
    assert report.score == report.max_score > 0
