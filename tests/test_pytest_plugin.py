"""The pytest front end: ``pytest --submission NOTEBOOK``, one item per check, the scores of
``grade.py grade``, and nothing at all without ``--submission``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from autograder import engine
from autograder.checks import REGISTRY
from autograder.engine import grade_submission
from autograder.rubric import load_rubric

REPO = Path(__file__).resolve().parent.parent
SUBMISSIONS = REPO / "fixtures" / "submissions"
SOLUTION = SUBMISSIONS / "solution.ipynb"
WRONG = SUBMISSIONS / "wrong-2.3.4-heads-averaged.ipynb"


def _pytest(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess:
    """pytest in another folder, where the package is installed (this checkout's code first, in
    case the installed one is another copy)."""
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *map(str, args)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def _copy(path: Path, folder: Path) -> Path:
    target = folder / path.name
    shutil.copy(path, target)
    return target


def test_without_submission_the_plugin_adds_nothing(tmp_path):
    (tmp_path / "test_one.py").write_text("def test_one():\n    assert True\n")
    done = _pytest("-q", cwd=tmp_path)
    assert done.returncode == 0 and "1 passed" in done.stdout
    assert "nmt-autograder" not in done.stdout
    listed = _pytest("--collect-only", "-q", cwd=tmp_path).stdout
    assert "test_one.py::test_one" in listed and "/" not in listed.split("\n")[0].split("::")[1]
    assert "--submission=NOTEBOOK" in _pytest("--help", cwd=tmp_path).stdout


def test_one_item_per_check_named_by_question_and_check(tmp_path):
    notebook = _copy(SOLUTION, tmp_path)
    done = _pytest("--collect-only", "-q", "--submission", notebook, cwd=tmp_path)
    items = [line for line in done.stdout.splitlines() if "::" in line]
    assert items == [f"{notebook.name}::{c.id}" for c in REGISTRY]
    selected = _pytest(
        "--collect-only", "-q", "--submission", notebook, "-k", "2.3.4", cwd=tmp_path
    )
    chosen = [line.split("::")[1] for line in selected.stdout.splitlines() if "::" in line]
    assert chosen == [c.id for c in REGISTRY if c.question == "2.3.4"]


def test_public_only_keeps_the_visible_checks(tmp_path):
    notebook = _copy(SOLUTION, tmp_path)
    done = _pytest("--collect-only", "-q", "--submission", notebook, "--public-only", cwd=tmp_path)
    rubric = load_rubric(REPO / "autograder" / "rubric.toml")
    visible = [c.id for c in REGISTRY if rubric.line(c).visibility == "visible"]
    assert [line.split("::")[1] for line in done.stdout.splitlines() if "::" in line] == visible


def test_scores_in_junitxml_are_those_of_grade(tmp_path):
    notebook = _copy(WRONG, tmp_path)
    junit = tmp_path / "junit.xml"
    done = _pytest("-q", "--submission", notebook, "--junitxml", junit, cwd=tmp_path)
    report = grade_submission(WRONG)
    expected = {c.check_id: c for c in report.checks}
    failed = [c.check_id for c in report.checks if not c.passed]
    assert failed and done.returncode == 1
    suite = ET.parse(junit).getroot().find("testsuite")
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert set(cases) == set(expected)
    for check_id, case in cases.items():
        props = {p.get("name"): p.get("value") for p in case.iter("property")}
        assert float(props["score"]) == expected[check_id].score, check_id
        assert float(props["max_score"]) == expected[check_id].max_score
        assert (case.find("failure") is not None) == (check_id in failed)
    totals = {p.get("name"): p.get("value") for p in suite.find("properties").iter("property")}
    assert float(totals["score"]) == pytest.approx(report.score)
    assert f"score {report.score:g}/" in done.stdout
    for check_id in failed:
        assert f"{notebook.name}::{check_id}" in done.stdout


def test_the_probes_run_once_per_session(tmp_path, monkeypatch):
    notebook = _copy(SOLUTION, tmp_path)
    calls = []
    original = engine.probe_submission

    def counting(*args, **kwargs):
        calls.append(kwargs["cases"])
        return original(*args, **kwargs)

    monkeypatch.setattr(engine, "probe_submission", counting)
    monkeypatch.chdir(tmp_path)
    code = pytest.main(["-q", "-p", "no:cacheprovider", "--submission", str(notebook)])
    assert code == 0 and len(calls) == 1
    assert calls[0] == engine.cases_for(REGISTRY)
    calls.clear()
    pytest.main(["-q", "-p", "no:cacheprovider", "--submission", str(notebook), "-k", "2.4.2"])
    assert calls == [engine.cases_for([c for c in REGISTRY if c.question == "2.4.2"])]


def test_an_unreadable_submission_fails_every_item_with_the_reason(tmp_path):
    notebook = tmp_path / "nmt.ipynb"
    notebook.write_text("this is not json")
    done = _pytest("-q", "--submission", notebook, cwd=tmp_path)
    assert done.returncode == 1 and f"{len(REGISTRY)} failed" in done.stdout
    assert "the submission could not be graded: nmt.ipynb is not a notebook" in done.stdout


def test_a_missing_submission_is_a_usage_error(tmp_path):
    done = _pytest("--submission", tmp_path / "nothing.ipynb", cwd=tmp_path)
    assert done.returncode == 4 and "--submission: no file" in done.stderr
