"""The hand-made mutations of docs/testing.md, run in CI: each promise test catches its mutation.

Each case below is a one-line change of the committed grader. It is made in a private copy of
the tree (``git archive HEAD``), never in this checkout. Then the one promise test that must
catch it runs there (``python -m pytest <copy>/tests/test_promises.py::... -x``) and must FAIL.
The unmutated copy must pass the same tests first, so a failure means the mutation, not a
broken copy. Every change's text must appear exactly once in its file: after a refactor, this
test fails loudly instead of mutating nothing.

The full mutation run (mutmut) is not part of CI; docs/testing.md has its command and score.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROMISES = "tests/test_promises.py::"
PROPERTY = PROMISES + "test_a_broken_property_fails_exactly_its_checks"

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Mutation:
    """One change of the grader and the promise test that must catch it."""

    id: str
    """Names the case (the docs/testing.md row)."""
    path: str
    """The file changed, relative to the repository's root."""
    old: str
    """Text that appears exactly once in the file."""
    new: str
    """What replaces it."""
    test: str
    """The promise test (a node id under tests/) that must fail."""
    says: str = ""
    """Text the failing run's output must contain (the failure is the one expected)."""


MUTATIONS = [
    Mutation(
        "parent-exec",
        "autograder/engine.py",
        "        module = extract_submission(path)\n",
        "        module = extract_submission(path)\n"
        "        exec(compile(module.source, 'submission.py', 'exec'), __import__('sys').modules"
        ".setdefault('submission', __import__('types').ModuleType('submission')).__dict__)\n",
        PROMISES + "test_student_code_never_runs_in_the_grading_parent",
        "loaded-by-",
    ),
    Mutation(
        "answers-in-kwargs",
        "autograder/probe_plan.py",
        "kwargs=g.kwargs,",
        "kwargs={**g.kwargs, 'hint': g.facts} if g.question == '2.4.2' else g.kwargs,",
        PROMISES + "test_no_golden_value_is_in_any_probe_call",
        "facts.m",
    ),
    Mutation(
        "placeholder-write-removed",
        "autograder/engine.py",
        "    report.checks = [_placeholder(c, None) for c in REGISTRY]\n    write()\n",
        "    report.checks = [_placeholder(c, None) for c in REGISTRY]\n",
        PROMISES + "test_results_json_is_valid_at_every_stage_of_a_grading",
        "results.json",
    ),
    Mutation(
        "float32-retry-removed",
        "autograder/child/probes/common.py",
        '        return {"dtype": "float32"}, run(torch.float32)\n',
        "        raise\n",
        PROMISES + "test_float32_only_code_passes_every_2_2_1_check_in_float32[fails-in-float64]",
    ),
    Mutation(
        "dtype-always-float64",
        "autograder/child/probes/common.py",
        'return {"dtype": "float32" if lowered else "float64"}, arrays',
        'return {"dtype": "float64"}, arrays',
        PROMISES + "test_float32_only_code_passes_every_2_2_1_check_in_float32[returns-float32]",
        "float64",
    ),
    Mutation(
        "rows-sum-to-one-bare-probe",
        "autograder/checks/attention.py",
        "        np.allclose(sums, 1.0, atol=1e-5),\n",
        "        True,\n",
        PROPERTY + "[2.2.1-returns-the-scores-not-the-weights]",
        "2.2.1/rows-sum-to-one",
    ),
    Mutation(
        "first-position-bare-probe",
        "autograder/checks/attention.py",
        "        np.allclose(first[:, 0], 1.0, atol=1e-6) and np.allclose(first[:, 1:], 0, "
        "atol=1e-6),\n",
        "        True,\n",
        PROPERTY + "[2.2.2-returns-the-weights-before-the-mask]",
        "2.2.2/first-position",
    ),
    Mutation(
        "imports-unsorted",
        "autograder/notebook/reference_code.py",
        "', '.join(sorted(set(aliases)))",
        "', '.join(set(aliases))",
        PROMISES + "test_notebook_builder_gives_the_same_bytes_under_any_hash_seed",
    ),
]


@pytest.fixture(scope="module")
def copy(tmp_path_factory) -> Path:
    """The committed tree (``git archive HEAD``), unpacked in a private folder."""
    if not (ROOT / ".git").exists() or shutil.which("git") is None:
        pytest.skip("needs a git checkout of the project (git archive HEAD)")
    archive = subprocess.run(
        ["git", "archive", "--format=tar", "HEAD"], cwd=ROOT, capture_output=True, check=True
    ).stdout
    folder = tmp_path_factory.mktemp("mutations") / "tree"
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
    return folder


def _pytest(copy: Path, *tests: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(copy), "PYTHONDONTWRITEBYTECODE": "1"}
    command = [sys.executable, "-m", "pytest", *tests, "-q", "-p", "no:cacheprovider"]
    return subprocess.run(command, cwd=copy, env=env, capture_output=True, text=True, timeout=900)


def test_every_anchor_is_in_its_file_once():
    """A refactor that moves a mutation's text fails here, not by mutating nothing."""
    for m in MUTATIONS:
        text = (ROOT / m.path).read_text()
        assert text.count(m.old) == 1, (m.id, m.path, text.count(m.old))
        assert (ROOT / m.test.split("::")[0]).exists(), m.test


def test_the_unmutated_copy_passes_the_promise_tests(copy):
    """The copy is the grader under test (not this checkout's) and it passes every test used
    below: a failure under a mutation is the mutation's."""
    env = {**os.environ, "PYTHONPATH": str(copy)}
    found = subprocess.run(
        [sys.executable, "-c", "import autograder; print(autograder.__file__)"],
        cwd=copy,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert Path(found.strip()).resolve().is_relative_to(copy.resolve()), found
    tests = sorted({m.test for m in MUTATIONS})
    run = _pytest(copy, *tests)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]


@pytest.mark.parametrize("mutation", MUTATIONS, ids=[m.id for m in MUTATIONS])
def test_each_mutation_is_caught_by_its_promise_test(copy, mutation):
    path = copy / mutation.path
    original = path.read_text()
    assert original.count(mutation.old) == 1, (mutation.id, "anchor not found once in HEAD")
    path.write_text(original.replace(mutation.old, mutation.new))
    try:
        run = _pytest(copy, mutation.test)
    finally:
        path.write_text(original)
    output = run.stdout + run.stderr
    assert run.returncode == 1, f"{mutation.id} was not caught:\n{output[-4000:]}"
    assert " failed" in run.stdout, output[-4000:]
    assert mutation.says in output, (mutation.says, output[-4000:])
