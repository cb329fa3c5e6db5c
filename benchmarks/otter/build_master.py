#!/usr/bin/env python3
"""Build the otter-grader 7 version of the homework, for the side-by-side benchmark only.

    python benchmarks/otter/build_master.py [--setup] [--no-run-tests]

Turns our solution notebook (`fixtures/submissions/solution.ipynb`) into an otter-assign master
notebook and runs `otter assign` on it:

- an `# ASSIGNMENT CONFIG` raw cell (exception-based tests, no PDFs, 25 points, the course data
  files shipped in the zip when `../shared/data` or `NMT_DATA_DIR` has them);
- the parameters cell set to the smoke profile on the CPU with downloads and our own check cells
  off, so that otter's run of the whole notebook stays in minutes;
- around each autograded question's solution cell: `# BEGIN QUESTION`, `# BEGIN SOLUTION` /
  `# END SOLUTION` (the `# BEGIN SOLUTION` markers already in the code become otter's `...`), and
  a `# BEGIN TESTS` block with one test cell per check of `autograder/rubric.toml`: the test
  functions of `otter_tests.py`, with the rubric's points and visibility (`after_due_date` =
  hidden).

Exception-based tests (`OK_FORMAT = False`, `@test_case`) are used instead of OK-format doctests:
an OK test's expected output is the *saved output* of its cell in the master notebook, so the
master would have to be executed and saved first (a minute of training) and every expected
value would be a printed repr compared as text; exception tests compute the reference inside the
test and compare with tolerances, like our checks.

Everything generated goes to `benchmarks/otter/build/` (git-ignored): `master/` (the master
notebook, requirements and data), `dist/` (otter assign's output: `autograder/` with the
autograder notebook and the Gradescope zip, `student/`), and `autograder.zip` (a copy of the
zip, what `compare_otter.py` grades with). `--setup` first creates the separate virtual
environment `benchmarks/.venv-otter` (otter-grader 7.0.0, torch 2.13.0 CPU, the notebook's
packages; never the project's own venv). `otter assign` then runs the tests against the solution
(a full smoke run of the notebook, about a minute): it fails unless the solution gets full marks.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
BUILD = HERE / "build"
OTTER_VENV = ROOT / "benchmarks" / ".venv-otter"
SOLUTION = ROOT / "fixtures" / "submissions" / "solution.ipynb"
RUBRIC = ROOT / "autograder" / "rubric.toml"
TORCH = "torch==2.13.0"
DATA_FILES = ("pig_latin_small.txt", "pig_latin_large.txt")

sys.path.insert(0, str(HERE))
import otter_tests  # noqa: E402

# The cell that defines each question's solution region (docs/notebooks.md).
SOLUTION_CELLS = {
    "2.2.1": "class ScaledDotAttention(",
    "2.2.2": "class CausalScaledDotAttention(",
    "2.3.1": "class DecoderOnlyTransformer(",
    "2.3.2": "def decoder_generate(",
    "2.3.4": "class MultiHeadCausalScaledDotAttention(",
    "2.3.5": "def calc_parameters_decoder(",
    "2.4.2": "def find_optimal_params(",
}

# The parameters cell of the otter version (and of every notebook the benchmark grades).
SMOKE_PARAMETERS = """\
# otter version of the homework: the smoke profile, so that running the whole notebook takes
# minutes on a CPU ("full" is the handout's setting)
PROFILE = "smoke"
DEVICE = "cpu"
DATA_DIR = None
DOWNLOAD = False
RUN_CHECKS = False
NOTEBOOK_PATH = "nmt.ipynb"
"""


def otter_bin(name: str = "otter") -> Path:
    return OTTER_VENV / "bin" / name


def bench_requirements() -> list[str]:
    """The project's dependencies and its `bench` extra (otter-grader), from pyproject.toml."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extra = project.get("optional-dependencies", {}).get("bench", ["otter-grader==7.0.0"])
    deps = [d for d in project["dependencies"] if not d.replace(" ", "").startswith("torch")]
    return [TORCH, *deps, *extra]


def setup_venv() -> None:
    """Create benchmarks/.venv-otter with otter-grader and what the notebook imports."""
    if not otter_bin("python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(OTTER_VENV)], check=True)
    pip = [str(otter_bin("python")), "-m", "pip", "install", "-q"]
    subprocess.run([*pip, *bench_requirements()], check=True)


def data_dir() -> Path | None:
    """Where the course files are: NMT_DATA_DIR, then ../shared/data (never committed)."""
    for candidate in (os.environ.get("NMT_DATA_DIR"), ROOT.parent / "shared" / "data"):
        if candidate and all((Path(candidate) / f).is_file() for f in DATA_FILES):
            return Path(candidate)
    return None


def rubric_points(rubric: Path = RUBRIC) -> dict[str, tuple[float, bool]]:
    """check id -> (points, hidden) from our rubric; otter_tests.DEFAULT_POINTS without it."""
    if rubric.is_file():
        checks = tomllib.loads(rubric.read_text())["checks"]
        return {
            cid: (float(c["points"]), c.get("visibility", "visible") != "visible")
            for cid, c in checks.items()
        }
    print(f"note: {rubric} not found; using the points in otter_tests.py", file=sys.stderr)
    hidden = {cid: h for _, cid, h, _ in otter_tests.SPEC}
    return {cid: (p, hidden[cid]) for cid, p in otter_tests.DEFAULT_POINTS.items()}


def test_sources() -> dict[str, str]:
    """Test function name -> its source text, from otter_tests.py."""
    text = (HERE / "otter_tests.py").read_text()
    return {
        node.name: ast.get_source_segment(text, node)
        for node in ast.parse(text).body
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")
    }


def raw(text: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_raw_cell(text)


def assignment_config(files: list[str], points_possible: float) -> str:
    config = {
        "name": None,
        "requirements": "requirements.txt",
        "files": files,
        "init_cell": True,
        "check_all_cell": False,
        "export_cell": {"pdf": False, "run_tests": False},
        "generate": {
            "pdf": False,
            "show_stdout": False,
            "show_hidden": False,
            "points_possible": points_possible,
        },
        "tests": {"files": False, "ok_format": False},
        "python_version": "3.11",
        "run_tests": True,
    }
    if not files:
        del config["files"]
    del config["name"]  # no name: our submissions carry no otter metadata to check it against
    return "# ASSIGNMENT CONFIG\n" + json.dumps(config, indent=2)  # JSON is YAML


def test_cell(source: str, points: float, hidden: bool, check_id: str) -> nbformat.NotebookNode:
    header = (
        '""" # BEGIN TEST CONFIG\n'
        f"points: {points}\n"
        f"hidden: {'true' if hidden else 'false'}\n"
        f"failure_message: {check_id}\n"
        '""" # END TEST CONFIG\n'
    )
    return nbformat.v4.new_code_cell(header + source)


def build_master(solution: Path, master_dir: Path, rubric: Path = RUBRIC) -> Path:
    nb = nbformat.read(solution, as_version=4)
    points = rubric_points(rubric)
    spec_ids = {cid for _, cid, _, _ in otter_tests.SPEC}
    if spec_ids - set(points):
        raise SystemExit(
            f"otter tests of checks the rubric lacks: {sorted(spec_ids - set(points))}"
        )
    unmirrored = sorted(set(points) - spec_ids)
    if unmirrored:  # written down in build/master/unmirrored.json for the comparison's report
        print(f"note: no otter test for {unmirrored} (not counted for otter)", file=sys.stderr)
    sources = test_sources()

    files = []
    data = data_dir()
    master_dir.mkdir(parents=True, exist_ok=True)
    if data is not None:
        for name in DATA_FILES:
            shutil.copy(data / name, master_dir / name)
        files = list(DATA_FILES)
    (master_dir / "requirements.txt").write_text(
        "\n".join(r for r in bench_requirements() if not r.startswith("otter-grader")) + "\n"
    )

    (master_dir / "unmirrored.json").write_text(
        json.dumps({c: points[c][0] for c in unmirrored}, indent=1) + "\n"
    )
    mirrored_points = sum(points[c][0] for c in spec_ids)
    cells = [raw(assignment_config(files, mirrored_points))]
    for cell in nb.cells:
        cell = nbformat.from_dict(dict(cell))
        if cell.cell_type == "code" and "parameters" in cell.metadata.get("tags", []):
            cell.source = SMOKE_PARAMETERS.rstrip("\n")
        is_code = cell.cell_type == "code"
        question = next(
            (q for q, head in SOLUTION_CELLS.items() if is_code and head in cell.source), None
        )
        if question is None:
            cells.append(cell)
            continue
        cells += [
            raw(f'# BEGIN QUESTION\nname: "{question}"'),
            raw("# BEGIN SOLUTION"),
            cell,
            raw("# END SOLUTION"),
            raw("# BEGIN TESTS"),
        ]
        for q, cid, _, function in otter_tests.SPEC:
            if q == question:
                pts, hidden = points[cid]
                cells.append(test_cell(sources[function], pts, hidden, cid))
        cells += [raw("# END TESTS"), raw("# END QUESTION")]
    found = {q for q, head in SOLUTION_CELLS.items() if any(head in c.source for c in nb.cells)}
    if found != set(SOLUTION_CELLS):
        raise SystemExit(f"solution cells not found for {sorted(set(SOLUTION_CELLS) - found)}")

    master = nbformat.v4.new_notebook(cells=cells, metadata=nb.metadata)
    path = master_dir / "nmt.ipynb"
    nbformat.write(master, path)
    return path


def run_assign(master: Path, dist: Path, run_tests: bool) -> Path:
    if dist.exists():
        shutil.rmtree(dist)
    command = [str(otter_bin()), "assign", str(master), str(dist)]
    if not run_tests:
        command.append("--no-run-tests")
    print("$", " ".join(command), flush=True)
    subprocess.run(command, check=True, cwd=master.parent)
    zips = sorted((dist / "autograder").glob("*autograder*.zip"))
    if len(zips) != 1:
        raise SystemExit(f"expected one autograder zip in {dist / 'autograder'}, found {zips}")
    target = BUILD / "autograder.zip"
    shutil.copy(zips[0], target)
    return target


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--solution", type=Path, default=SOLUTION)
    parser.add_argument("--rubric", type=Path, default=RUBRIC, help="our rubric (points)")
    parser.add_argument("--setup", action="store_true", help="create benchmarks/.venv-otter first")
    parser.add_argument(
        "--no-run-tests", action="store_true", help="skip otter assign's run of the solution"
    )
    parser.add_argument("--master-only", action="store_true", help="write the master, no assign")
    args = parser.parse_args()
    if args.setup:
        setup_venv()
    master = build_master(args.solution, BUILD / "master", args.rubric)
    print(f"master notebook: {master.relative_to(ROOT)}")
    if args.master_only:
        return 0
    if not otter_bin().exists():
        raise SystemExit(f"{otter_bin()} not found: run with --setup first")
    zip_path = run_assign(master, BUILD / "dist", run_tests=not args.no_run_tests)
    print(f"autograder zip: {zip_path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
