"""The student and solution notebooks: built from the reference, fresh, and runnable.

The fast tests check the builder (freshness, determinism, regions, stubs, format); the slow ones
execute the solution notebook with papermill in the smoke profile, and the student notebook with
errors allowed.
"""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from autograder.notebook import (
    SOLUTION_PATH,
    STUBS,
    STUDENT_PATH,
    PlanError,
    RegionError,
    Stub,
    build_notebooks,
    main,
    notebook_regions,
    reference_regions,
    stale_notebooks,
)
from autograder.notebook.given import GIVEN_PATH
from autograder.notebook.plan import read_plan
from autograder.notebook.regions import find_regions, stub_regions

REPO = Path(__file__).resolve().parent.parent
OFFICIAL_DATA = REPO.parent / "shared" / "data"
QUESTIONS = ("2.2.1", "2.2.2", "2.3.1", "2.3.2", "2.3.4", "2.3.5", "2.4.2")
"""Questions with code to write, each followed by a check cell."""
ALL_QUESTIONS = (
    *("2.2.1", "2.2.2", "2.2.3", "2.2.4"),
    *("2.3.1", "2.3.2", "2.3.3", "2.3.4", "2.3.5"),
    *("2.4.1", "2.4.2", "2.4.3"),
)
FIGURES = (
    "loss_comparison_by_hidden.png",
    "loss_comparison_by_dataset.png",
    "heads_vs_hidden.png",
    "val_loss_vs_flops.png",
    "isoflop_profiles.png",
    "compute_optimal_params.png",
    "compute_optimal_tokens.png",
)


def _read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def _copy_repo_parts(root: Path) -> None:
    shutil.copytree(REPO / "reference", root / "reference")
    shutil.copytree(REPO / SOLUTION_PATH.parent, root / SOLUTION_PATH.parent)
    (root / STUDENT_PATH).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / STUDENT_PATH, root / STUDENT_PATH)
    (root / GIVEN_PATH).parent.mkdir(parents=True)
    shutil.copy(REPO / GIVEN_PATH, root / GIVEN_PATH)


# --------------------------------------------------------------------------- freshness


def test_committed_notebooks_are_what_the_builder_makes() -> None:
    result = subprocess.run(
        [sys.executable, "grade.py", "build-notebooks", "--check"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_check_fails_on_a_modified_notebook(tmp_path: Path) -> None:
    _copy_repo_parts(tmp_path)
    assert main(check=True, root=tmp_path) == 0
    student = _read(tmp_path / STUDENT_PATH)
    student.cells[-1].source += "\nA hand edit."
    nbformat.write(student, tmp_path / STUDENT_PATH)
    assert main(check=True, root=tmp_path) == 1
    assert stale_notebooks(tmp_path) == [tmp_path / STUDENT_PATH]


def test_check_fails_when_the_reference_changes(tmp_path: Path) -> None:
    _copy_repo_parts(tmp_path)
    attention = tmp_path / "reference" / "attention.py"
    text = attention.read_text()
    attention.write_text(text.replace("v = self.V(values)  # (B, L, H)", "v = self.V(values)", 1))
    assert main(check=True, root=tmp_path) == 1
    stale = stale_notebooks(tmp_path)
    assert stale[0] == tmp_path / SOLUTION_PATH
    assert tmp_path / STUDENT_PATH not in stale  # the change is inside a solution region


def test_a_bug_patch_that_no_longer_applies_is_an_error(tmp_path: Path, capsys) -> None:
    _copy_repo_parts(tmp_path)
    attention = tmp_path / "reference" / "attention.py"
    text = attention.read_text()
    attention.write_text(text.replace('float("-inf"))', "-float('inf'))"))
    assert main(check=True, root=tmp_path) == 2
    assert "no code cell holds" in capsys.readouterr().err


def test_check_fails_on_a_missing_notebook(tmp_path: Path) -> None:
    _copy_repo_parts(tmp_path)
    (tmp_path / SOLUTION_PATH).unlink()
    assert main(check=True, root=tmp_path) == 1


def test_build_is_deterministic() -> None:
    assert build_notebooks() == build_notebooks()


# --------------------------------------------------------------------------- regions and stubs


def test_solution_regions_round_trip_to_the_reference() -> None:
    solution = (REPO / SOLUTION_PATH).read_text(encoding="utf-8")
    regions = notebook_regions(solution)
    assert regions == reference_regions(REPO / "reference")
    assert set(regions) == set(STUBS)


def test_student_notebook_contains_no_solution_line() -> None:
    """A region line may appear in the student notebook only where the given code has it too
    (the encoder's forward shares lines with DecoderOnlyTransformer.forward)."""
    given: set[str] = set()
    for path in (REPO / "reference").glob("*.py"):
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines()
        inside = {i for r in find_regions(text) for i in range(r.begin, r.end + 1)}
        given |= {line.strip() for i, line in enumerate(lines) if i not in inside}
    student = _read(REPO / STUDENT_PATH)
    student_lines = {line.strip() for cell in student.cells for line in cell.source.splitlines()}
    leaked = [
        line.strip()
        for body in reference_regions(REPO / "reference").values()
        for line in body
        if line.strip() and line.strip() not in given and line.strip() in student_lines
    ]
    assert leaked == []
    assert "BEGIN SOLUTION" not in (REPO / STUDENT_PATH).read_text(encoding="utf-8")


def test_notebooks_differ_only_in_the_regions() -> None:
    solution, student = _read(REPO / SOLUTION_PATH), _read(REPO / STUDENT_PATH)
    assert [(c.id, c.cell_type) for c in solution.cells] == [
        (c.id, c.cell_type) for c in student.cells
    ]
    for sol, stu in zip(solution.cells, student.cells, strict=True):
        if sol.cell_type == "code" and find_regions(sol.source):
            assert stub_regions(sol.source, STUBS) == stu.source
        else:
            assert sol.source == stu.source


@pytest.mark.parametrize("owner", sorted(STUBS))
def test_each_stub_names_its_question(owner: str) -> None:
    stub = STUBS[owner]
    sources = "\n".join(c.source for c in _read(REPO / STUDENT_PATH).cells)
    assert f"# TODO (question {stub.question}): {stub.todo}" in sources
    assert f'raise NotImplementedError("{stub.message}")' in sources
    assert f"question {stub.question}" in stub.message
    assert stub.message.startswith(owner.split(".")[0])


def test_stub_keeps_the_indentation_and_the_code_around() -> None:
    source = (
        "def f(x):\n"
        '    """Doc."""\n'
        "    y = x\n"
        "    # BEGIN SOLUTION\n"
        "    z = y + 1\n"
        "    # END SOLUTION\n"
        "    return z\n"
    )
    stubbed = stub_regions(source, {"f": Stub("9.9.9", "add one", "f: handout 9.9.9")})
    assert stubbed.splitlines() == [
        "def f(x):",
        '    """Doc."""',
        "    y = x",
        "    # TODO (question 9.9.9): add one",
        '    raise NotImplementedError("f: handout 9.9.9")',
        "    return z",
    ]
    (region,) = find_regions(source)
    assert (region.owner, region.body) == ("f", ("    z = y + 1",))


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("def f():\n    # BEGIN SOLUTION\n    pass\n", "without # END"),
        ("def f():\n    pass\n    # END SOLUTION\n", "without # BEGIN"),
        ("# BEGIN SOLUTION\nx = 1\n# END SOLUTION\n", "outside any function"),
        (
            "def f():\n    # BEGIN SOLUTION\n    # BEGIN SOLUTION\n    pass\n",
            "inside another region",
        ),
    ],
)
def test_bad_markers_are_reported(source: str, message: str) -> None:
    with pytest.raises(RegionError, match=message):
        find_regions(source)


def test_a_region_without_a_stub_is_an_error() -> None:
    source = "\n".join(
        [
            "class A:",
            "    def g(self):",
            "        # BEGIN SOLUTION",
            "        pass",
            "        # END SOLUTION",
        ]
    )
    with pytest.raises(RegionError, match="no stub for the region of A.g"):
        stub_regions(source, STUBS)


# --------------------------------------------------------------------------- plan and format


def test_template_errors_are_reported(tmp_path: Path) -> None:
    shutil.copytree(REPO / "autograder" / "notebook" / "template", tmp_path / "t")
    setup = tmp_path / "t" / "00_setup.py"
    setup.write_text(setup.read_text() + "\n# %%\n# include attention: NoSuchThing\n")
    with pytest.raises(PlanError, match="has no top-level NoSuchThing"):
        build_notebooks(template_dir=tmp_path / "t")
    setup.write_text(setup.read_text().replace("NoSuchThing", "ScaledDotAttention"))
    with pytest.raises(PlanError, match="ScaledDotAttention is already included"):
        build_notebooks(template_dir=tmp_path / "t")


def test_a_reference_helper_the_notebook_lacks_is_an_error(tmp_path: Path) -> None:
    shutil.copytree(REPO / "autograder" / "notebook" / "template", tmp_path / "t")
    data = tmp_path / "t" / "01_data.py"
    data.write_text(data.read_text().replace(", _convert_run,", ","))
    with pytest.raises(PlanError, match=r"_convert_run \(reference/data.py\)"):
        build_notebooks(template_dir=tmp_path / "t")


@pytest.mark.parametrize("path", [SOLUTION_PATH, STUDENT_PATH])
def test_notebook_format(path: Path) -> None:
    text = (REPO / path).read_text(encoding="utf-8")
    notebook = nbformat.reads(text, as_version=4)
    nbformat.validate(notebook)
    assert (notebook.nbformat, notebook.nbformat_minor) == (4, 5)
    assert notebook.metadata.kernelspec.name == "python3"
    assert [c.id for c in notebook.cells] == [f"cell-{i:02d}" for i in range(len(notebook.cells))]
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert all(c.outputs == [] and c.execution_count is None for c in code)
    tagged = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1 and tagged[0].source.count("PROFILE = ") == 1
    first = ast.parse(code[0].source).body
    assert first and all(isinstance(s, ast.Import | ast.ImportFrom) for s in first)
    assert text == json.dumps(json.loads(text), sort_keys=True, indent=1, ensure_ascii=False) + "\n"


def test_parameters_cell_sets_the_papermill_parameters() -> None:
    (cell,) = [
        c for c in _read(REPO / SOLUTION_PATH).cells if "parameters" in c.metadata.get("tags", [])
    ]
    names = {t.id for s in ast.parse(cell.source).body for t in s.targets}
    assert names == {"PROFILE", "DEVICE", "DATA_DIR", "DOWNLOAD", "RUN_CHECKS", "NOTEBOOK_PATH"}


def test_every_question_is_asked_and_checked_in_order() -> None:
    cells = _read(REPO / STUDENT_PATH).cells
    markdown = [c.source for c in cells if c.cell_type == "markdown"][1:]  # after the intro
    positions = []
    for question in ALL_QUESTIONS:
        asked = re.compile(rf"Question {re.escape(question)}\b|\({re.escape(question)}\)")
        found = [i for i, text in enumerate(markdown) if asked.search(text)]
        assert found, f"no markdown cell asks question {question}"
        positions.append(found[0])
    assert positions == sorted(positions)
    sources = [c.source for c in cells]
    for question in QUESTIONS:
        check = sources.index(f'check("{question}")')
        assert f"question {question}" in sources[check - 1], f"check({question}) follows its code"
    assert "30" in " ".join(markdown) and "29 tokens" in " ".join(markdown)


def test_template_reads_in_the_handout_order() -> None:
    kinds = [cell.kind for cell in read_plan()]
    assert kinds[0] == "markdown" and kinds[1] == "imports"
    assert kinds.index("parameters") < kinds.index("code")


def test_solution_notebook_has_no_undefined_names(tmp_path: Path) -> None:
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed")
    result = subprocess.run(
        [ruff, "check", "--isolated", "--select", "F821,F811,F823", str(REPO / SOLUTION_PATH)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --------------------------------------------------------------------------- execution


def _parameters(tmp_path: Path) -> dict:
    data_dir = OFFICIAL_DATA if (OFFICIAL_DATA / "pig_latin_small.txt").is_file() else None
    return {
        "PROFILE": "smoke",
        "DOWNLOAD": False,
        "RUN_CHECKS": False,
        "DATA_DIR": str(data_dir) if data_dir else None,
        "NOTEBOOK_PATH": str(tmp_path / "nmt.ipynb"),
    }


def _stdout(cell: nbformat.NotebookNode) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.output_type == "stream")


@pytest.mark.slow
def test_solution_notebook_runs_with_papermill(tmp_path: Path) -> None:
    import papermill

    start = time.perf_counter()
    executed = papermill.execute_notebook(
        str(REPO / SOLUTION_PATH),
        str(tmp_path / "executed.ipynb"),
        parameters=_parameters(tmp_path),
        kernel_name="python3",
        cwd=str(tmp_path),
        progress_bar=False,
    )
    seconds = time.perf_counter() - start
    print(f"solution notebook, smoke profile: {seconds:.0f} s")
    for name in FIGURES:
        assert (tmp_path / "figures" / name).stat().st_size > 10_000, name
    output = "\n".join(_stdout(c) for c in executed.cells if c.cell_type == "code")
    number = r"\d+\.\d+"
    for dataset in ("small", "large"):
        for hidden in (16, 32):
            pattern = rf"hidden {hidden}, {dataset} dataset: lowest validation loss {number}"
            assert re.search(pattern, output), pattern
    assert re.search(rf"decoder-only, hidden 128: lowest validation loss {number}", output)
    assert re.search(r"'i went shopping' -> '[a-z -]*'", output)
    for hidden, heads in ((32, 1), (32, 2), (32, 4), (64, 1), (128, 1)):
        pattern = rf"hidden {hidden}, {heads} head\(s\): [\d,]+ parameters, lowest validation"
        assert re.search(pattern, output), pattern
    for hidden in (16, 24, 32, 48, 64, 96, 128):
        assert re.search(rf"hidden {hidden}: [\d,]+ parameters, \d+ epochs", output)
    assert re.search(r"compute-optimal parameters at 1e\+13 FLOPs: \d", output)
    assert re.search(r"compute-optimal training tokens at 1e\+13 FLOPs: \d", output)
    images = sum(
        "image/png" in o.get("data", {}) for c in executed.cells for o in c.get("outputs", [])
    )
    assert images == len(FIGURES)


@pytest.mark.slow
def test_student_notebook_fails_only_clearly(tmp_path: Path) -> None:
    from nbclient import NotebookClient
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    notebook = load_notebook_node(str(REPO / STUDENT_PATH))
    notebook = parameterize_notebook(notebook, _parameters(tmp_path))
    client = NotebookClient(
        notebook,
        kernel_name="python3",
        allow_errors=True,
        timeout=600,
        resources={"metadata": {"path": str(tmp_path)}},
    )
    start = time.perf_counter()
    client.execute()
    print(f"student notebook, smoke profile: {time.perf_counter() - start:.0f} s")
    errors = {}
    for index, cell in enumerate(notebook.cells):
        for output in cell.get("outputs", []):
            if output.output_type == "error":
                errors[index] = (output.ename, output.evalue, cell.source)
    clear = re.compile(r"question 2\.\d\.\d|this cell needs (2\.\d\.\d|the data)")
    for index, (ename, evalue, source) in errors.items():
        assert ename in ("NotImplementedError", "RuntimeError"), (index, ename, evalue, source)
        assert clear.search(evalue), (index, evalue)
    experiments = {
        index
        for index, cell in enumerate(notebook.cells)
        if cell.cell_type == "code" and re.search(r"^require\(", cell.source, re.MULTILINE)
    }
    assert set(errors) == experiments, "only the experiment cells fail, and each of them does"
