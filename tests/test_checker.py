"""The students' checker: a wheel with the public half only, and ``nmt-check`` installed from it
gives what ``grade.py check`` gives."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from autograder.checks import REGISTRY
from autograder.deploy.contents import public_cases, strip_hidden_checks
from autograder.deploy.nmt_check import describe_stale, main, stale_definitions
from autograder.goldens import GOLDENS_DIR
from autograder.rubric import load_rubric
from tests.deploy_env import (
    REPO,
    checker_venv,
    checker_wheel,
    find_secrets,
    hidden_cases,
    secret_lines,
)

SUBMISSIONS = REPO / "fixtures" / "submissions"
SOLUTION = SUBMISSIONS / "solution.ipynb"
TEMPLATE = REPO / "student_template" / "nmt.ipynb"
WRONG = sorted(SUBMISSIONS.glob("wrong-*.ipynb"))


def _rubric():
    return load_rubric(REPO / "autograder" / "rubric.toml")


def _visible_ids() -> set[str]:
    rubric = _rubric()
    return {c.id for c in REGISTRY if rubric.line(c).visibility == "visible"}


def _wheel_files() -> dict[str, bytes]:
    with zipfile.ZipFile(checker_wheel()) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


# --- what the wheel holds ---------------------------------------------------------------------


def test_the_wheel_holds_no_reference_no_hidden_golden_and_no_hidden_check():
    files = _wheel_files()
    names = sorted(files)
    assert not [n for n in names if n.startswith("reference/")]
    for denied in ("autograder/examples.py", "autograder/notebook/", "autograder/goldens/build.py"):
        assert not [n for n in names if n.startswith(denied)], denied
    assert "autograder/deploy/nmt_check.py" in names
    assert any(n.startswith("autograder/child/probes/") for n in names)  # the sandbox's code
    shipped = {
        Path(n).name.split(".")[0] for n in names if n.startswith("autograder/goldens/data/")
    }
    shipped.discard("index")
    hidden = set(hidden_cases())
    assert hidden and not shipped & hidden
    visible = [c for c in REGISTRY if c.id in _visible_ids()]
    assert {Path(c).name for c in public_cases(visible)} <= {
        n.removeprefix("autograder/goldens/data/").rsplit(".", 1)[0] for n in names
    }
    hidden_ids = {c.id for c in REGISTRY} - _visible_ids()
    checks_text = "".join(files[n].decode() for n in names if n.startswith("autograder/checks/"))
    for check in (c for c in REGISTRY if c.id in hidden_ids):
        question, name = check.id.split("/")
        assert not re.search(rf'"{re.escape(question)}",\s*"{re.escape(name)}"', checks_text)
        assert (
            check.title not in checks_text and f"def {check.function.__name__}(" not in checks_text
        )
    rubric = files["autograder/rubric.toml"].decode()
    assert all(f'"{c}"' in rubric for c in _visible_ids())
    assert not any(f'"{c}"' in rubric for c in hidden_ids)


def test_the_wheel_bytes_hold_no_secret_and_the_search_would_find_one():
    assert secret_lines(), "no reference solution line to search for"
    assert find_secrets(checker_wheel().read_bytes(), "checker") == []
    # the same search finds the secrets where they are
    hidden = hidden_cases()[0]
    assert find_secrets((GOLDENS_DIR / f"{hidden}.npz").read_bytes(), hidden)
    reference = "\n".join(p.read_text() for p in (REPO / "reference").glob("*.py")).encode()
    assert find_secrets(reference, "reference")


def test_the_built_wheel_is_reproducible(tmp_path):
    from autograder.deploy.checker import build_student_checker

    again = build_student_checker(tmp_path).path
    assert again.read_bytes() == checker_wheel().read_bytes()


def test_stripping_keeps_visible_checks_and_removes_hidden_ones_whole():
    source = (REPO / "autograder" / "checks" / "attention.py").read_text()
    text, removed = strip_hidden_checks(source, _visible_ids())
    hidden = {
        c.id
        for c in REGISTRY
        if c.id not in _visible_ids() and c.function.__module__.endswith("attention")
    }
    assert set(removed) == hidden
    compile(text, "attention.py", "exec")
    for check in REGISTRY:
        if check.function.__module__.endswith(".attention"):
            assert (f"def {check.function.__name__}(" in text) == (check.id in _visible_ids())


def test_a_check_decorator_without_literal_ids_is_refused():
    source = 'Q = "2.2.1"\n\n@check(Q, "x", "t", cases=[])\ndef f(ctx):\n    pass\n'
    with pytest.raises(ValueError, match="literal"):
        strip_hidden_checks(source, set())


# --- the saved notebook, older than the kernel's code -----------------------------------------


def _cells(path: Path) -> list[str]:
    notebook = json.loads(path.read_text())
    return ["".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "code"]


def test_a_definition_run_but_not_saved_is_named():
    executed = [*_cells(SOLUTION)]
    edited = next(i for i, s in enumerate(executed) if "class ScaledDotAttention" in s)
    executed.append(executed[edited].replace("self.softmax(", "self.softmax(1 * "))
    assert stale_definitions(SOLUTION, executed) == ["ScaledDotAttention"]
    assert stale_definitions(SOLUTION, executed, ["2.3.5"]) == []
    message = describe_stale(SOLUTION, ["ScaledDotAttention"], now=SOLUTION.stat().st_mtime + 600)
    assert "`ScaledDotAttention`" in message and "saved 10 min ago" in message
    assert "Colab: File > Download" in message


def test_the_saved_code_run_as_saved_is_not_stale():
    executed = ["%matplotlib inline", *_cells(SOLUTION), "# a comment only\n"]
    assert stale_definitions(SOLUTION, executed) == []


def test_nmt_check_on_a_missing_file_says_how_to_save(tmp_path, capsys):
    assert main([str(tmp_path / "nmt.ipynb")]) == 2
    assert "File > Save" in capsys.readouterr().err


# --- installed in a fresh environment ---------------------------------------------------------


def _nmt_check(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess:
    command = [checker_venv() / "bin" / "nmt-check", *map(str, args)]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=600)


def _grade_check(*args: str | Path) -> subprocess.CompletedProcess:
    command = [sys.executable, REPO / "grade.py", "check", *map(str, args)]
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_installed_checker_passes_every_public_check_of_the_solution(tmp_path):
    done = _nmt_check(SOLUTION, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    points = sum(_rubric().lines[c].points for c in _visible_ids())
    assert done.stdout.strip().endswith(f"score: {points:g}/{points:g} (public checks only)")
    assert "FAIL" not in done.stdout
    importer = "import autograder, reference"
    python = checker_venv() / "bin" / "python"
    probe = subprocess.run([python, "-c", importer], cwd=tmp_path, capture_output=True, text=True)
    assert "No module named 'reference'" in probe.stderr


@pytest.mark.slow
def test_installed_checker_says_not_implemented_per_question_on_the_template(tmp_path):
    done = _nmt_check(TEMPLATE, cwd=tmp_path)
    questions = sorted({c.question for c in REGISTRY if c.id in _visible_ids()})
    blocks = re.split(r"\n(?=FAIL |ok  )", done.stdout.split("\nscore:")[0])[1:]
    assert [block.split()[1] for block in blocks] == questions
    for block in blocks:  # a question's line, or each of its checks, says so
        assert block.startswith("FAIL ") and "not implemented yet" in block, block


@pytest.mark.slow
@pytest.mark.parametrize("submission", WRONG, ids=lambda p: p.stem)
def test_installed_checker_says_what_grade_check_says(submission, tmp_path):
    mine, course = _nmt_check(submission, cwd=tmp_path), _grade_check(submission)
    assert (mine.returncode, mine.stdout, mine.stderr) == (
        course.returncode,
        course.stdout,
        course.stderr,
    )
    assert "FAIL" in mine.stdout


@pytest.mark.slow
def test_installed_checker_runs_one_question(tmp_path):
    done = _nmt_check(SOLUTION, "--question", "2.3.4", cwd=tmp_path)
    assert done.returncode == 0
    assert [line.split()[1] for line in done.stdout.splitlines()[1:-1]] == ["2.3.4"]
    assert _nmt_check(SOLUTION, "--question", "9.9", cwd=tmp_path).returncode == 2


# --- the notebook's check("2.2.1") cell -------------------------------------------------------


def _notebook_check(namespace: dict):
    """The student notebook's own ``check`` function, defined in ``namespace``."""
    import ast
    import importlib

    source = "\n".join(_cells(TEMPLATE))
    for cell in _cells(TEMPLATE):
        if "def check(" in cell:
            source = cell
    tree = ast.parse(source)
    [node] = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "check"]
    namespace.setdefault("importlib", importlib)
    namespace.update(os=os, subprocess=subprocess, sys=sys, RUN_CHECKS=True)
    exec(ast.get_source_segment(source, node), namespace)
    return namespace["check"]


def test_the_check_cell_says_how_to_install_the_checker_when_it_is_missing(capsys, tmp_path):
    class NoChecker:
        util = type("util", (), {"find_spec": staticmethod(lambda name: None)})

    check = _notebook_check({"importlib": NoChecker, "NOTEBOOK_PATH": str(tmp_path / "nmt.ipynb")})
    check("2.2.1")
    out = capsys.readouterr().out
    assert "in Colab: upload it with the Files panel" in out and "!pip install -q" in out
    assert "pip install torch --index-url https://download.pytorch.org/whl/cpu" in out
    assert "pip install nmt_checker-*.whl" in out


def test_the_check_cell_checks_the_saved_file_and_says_when_it_is_older(capsys, tmp_path):
    saved = tmp_path / "nmt.ipynb"
    shutil.copy(SOLUTION, saved)
    executed = _cells(SOLUTION)
    edited = next(s for s in executed if "class ScaledDotAttention" in s)
    namespace = {"NOTEBOOK_PATH": str(saved), "In": [*executed, edited.replace("(1, 2)", "(2, 1)")]}
    _notebook_check(namespace)("2.2.1")
    out = capsys.readouterr().out
    assert "does not hold the `ScaledDotAttention` you ran last" in out
    assert "ok   2.2.1 ScaledDotAttention" in out  # the saved file is what is checked
    namespace["In"] = executed
    namespace["check"]("2.2.1")
    assert "warning" not in capsys.readouterr().out


def test_the_check_cell_without_a_saved_file_says_where_it_looked(capsys, tmp_path):
    _notebook_check({"NOTEBOOK_PATH": str(tmp_path / "gone.ipynb")})("2.2.1")
    out = capsys.readouterr().out
    assert "there is no file" in out and "File > Download > Download .ipynb" in out
