"""Run mutmut over a private copy of the tree (never this checkout), one worker, ``nice 19``.

    .venv/bin/python -m tests.mutation.run /tmp/mut            # copy, configure, run
    .venv/bin/python -m tests.mutation.run /tmp/mut --results  # survivors, by function

The copy is the working tree without .git, .venv and out/. Its pyproject.toml gets the
``[tool.mutmut]`` section below; ``tests/mutation/harness.py`` memoises probe results so that
a mutant costs seconds (docs/testing.md, "Mutation testing"). Needs ``mutmut==3.8.1``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MUTATED = [
    "autograder/checks/*",
    "autograder/engine.py",
    "autograder/report.py",
    "autograder/sandbox/transport.py",
    "autograder/sandbox/model.py",
]
TESTS = [
    "tests/test_checks.py",
    "tests/test_report.py",
    "tests/test_engine.py",
    "tests/test_promises.py",
    "tests/test_diagnose.py",
    "tests/test_accepted.py",
    "tests/test_training.py",
    "tests/test_mutation_kills.py",
    "tests/test_sandbox.py::test_the_parent_reads_a_valid_record",
    "tests/test_sandbox.py::test_the_parent_refuses_bad_arrays",
    "tests/test_sandbox.py::test_the_parent_refuses_links_and_oversized_json",
    "tests/test_attacks.py::test_records_with_lone_surrogates_are_made_valid",
    "tests/test_attacks.py::test_a_sparse_array_file_is_refused_before_it_is_read",
    "tests/test_attacks.py::test_the_arrays_of_a_record_have_a_cap_together",
]
DESELECTED = [
    # real sandbox runs that a memoised run_probes would bypass (they spy on the sandbox);
    # tests/test_mutations_ci.py runs their hand-made mutations instead
    "tests/test_promises.py::test_student_code_never_runs_in_the_grading_parent",
    "tests/test_promises.py::test_no_golden_value_is_in_the_workspace_the_child_receives",
    # 45 s, and reads nothing that is mutated
    "tests/test_promises.py::test_the_search_for_answers_finds_each_kind_of_answer_when_planted",
]
COPIED = ["reference", "fixtures", "student_template", "grade.py", "dev.py", "docs", "README.md"]


def _toml(values: list[str]) -> str:
    return "[\n" + "".join(f'  "{v}",\n' for v in values) + "]"


def config() -> str:
    """The ``[tool.mutmut]`` section of the copy's pyproject.toml."""
    args = ["-p", "tests.mutation.harness", "-p", "no:cacheprovider", "-m", "not slow"]
    for test in DESELECTED:
        args += ["--deselect", test]
    return (
        "\n[tool.mutmut]\n"
        'source_paths = ["autograder"]\n'
        f"only_mutate = {_toml(MUTATED)}\n"
        f"also_copy = {_toml(COPIED)}\n"
        f"pytest_add_cli_args = {_toml(args)}\n"
        f"pytest_add_cli_args_test_selection = {_toml(TESTS)}\n"
    )


def copy_tree(target: Path) -> None:
    """The working tree, without what mutmut needs not (git, venv, outputs)."""
    ignore = shutil.ignore_patterns(".git", ".venv*", "out", "mutants", "__pycache__", "*.egg-info")
    shutil.copytree(ROOT, target, ignore=ignore)
    with open(target / "pyproject.toml", "a") as f:
        f.write(config())
    subprocess.run(["git", "init", "-q"], cwd=target, check=True)


def main(argv: list[str]) -> int:
    target = Path(argv[0]).resolve()
    mutmut = str(Path(sys.executable).with_name("mutmut"))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": ""}
    if argv[1:] == ["--results"]:
        return subprocess.run([mutmut, "results"], cwd=target, env=env).returncode
    if target.is_relative_to(ROOT):
        raise SystemExit("the copy must be outside this checkout")
    if not target.exists():
        copy_tree(target)
    command = ["nice", "-n", "19", mutmut, "run", "--max-children", "1", *argv[1:]]
    return subprocess.run(command, cwd=target, env=env).returncode


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
