"""The Gradescope deployment: the zip, the submission rule, run_autograder under a fake root,
setup.sh into a throwaway environment, and secrets that student code cannot reach."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import zipfile
from pathlib import Path

import jsonschema
import pytest

from autograder.deploy import container
from autograder.deploy.container import Layout, limits_from_environment, read_metadata
from autograder.deploy.select import select_submission
from autograder.engine import grade_submission
from tests.deploy_env import (
    REPO,
    autograder_zip,
    find_secrets,
    gradescope_install,
    hidden_cases,
    readable_python,
    torch_index,
    workdir,
)

SCHEMA = json.loads((REPO / "autograder" / "results.schema.json").read_text())
SUBMISSIONS = REPO / "fixtures" / "submissions"
SOLUTION = SUBMISSIONS / "solution.ipynb"
TEMPLATE = REPO / "student_template" / "nmt.ipynb"
WRONG = SUBMISSIONS / "wrong-2.3.4-heads-averaged.ipynb"


def _zip_files() -> dict[str, zipfile.ZipInfo]:
    with zipfile.ZipFile(autograder_zip()) as archive:
        return {info.filename: info for info in archive.infolist()}


# --- the zip ----------------------------------------------------------------------------------


def test_the_zip_has_what_gradescope_runs_and_a_grader_without_the_reference():
    files = _zip_files()
    for script in ("setup.sh", "run_autograder"):
        assert stat.S_IMODE(files[script].external_attr >> 16) == 0o755
    [wheel] = [n for n in files if n.endswith(".whl")]
    assert "rubric.toml" in files and "build.json" in files
    hidden = set(hidden_cases())
    public = {n.split("/")[-1].rsplit(".", 1)[0] for n in files if n.startswith("goldens/public/")}
    stored = {n.split("/")[-1].rsplit(".", 1)[0] for n in files if n.startswith("goldens/hidden/")}
    assert hidden and stored - {"index"} == hidden and not public & hidden
    with zipfile.ZipFile(autograder_zip()) as archive:
        setup = archive.read("setup.sh").decode()
        with zipfile.ZipFile(archive.open(wheel)) as grader:
            names = grader.namelist()
    assert "set -euo pipefail" in setup and "torch==$TORCH_VERSION" in setup
    assert 'TORCH_VERSION="2.13.0"' in setup
    assert 'TORCH_INDEX_URL="${TORCH_INDEX_URL:-https://download.pytorch.org/whl/cpu}"' in setup
    assert "autograder/deploy/container.py" in names
    assert not [n for n in names if n.startswith(("reference/", "autograder/goldens/data/"))]
    assert not [n for n in names if n.startswith(("autograder/notebook/", "autograder/examples"))]


def test_the_zip_is_reproducible(tmp_path):
    from autograder.deploy.gradescope import build_autograder

    again = build_autograder(tmp_path / "again.zip").path
    assert again.read_bytes() == autograder_zip().read_bytes()


def test_a_rubric_that_does_not_fit_the_checks_is_refused(tmp_path):
    from autograder.deploy.gradescope import build_autograder

    rubric = tmp_path / "rubric.toml"
    rubric.write_text('title = "x"\n[checks]\n"2.2.1/context-3d" = { points = 1.0 }\n')
    with pytest.raises(ValueError, match="no line for"):
        build_autograder(tmp_path / "a.zip", rubric_path=rubric)


# --- which file is graded ---------------------------------------------------------------------


def _pick(folder: Path, tmp_path: Path):
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    return select_submission(folder, work)


def test_a_renamed_notebook_is_graded(tmp_path):
    folder = tmp_path / "submission"
    folder.mkdir()
    shutil.copy(SOLUTION, folder / "nmt (3).ipynb")
    (folder / "report.pdf").write_bytes(b"%PDF")
    selection = _pick(folder, tmp_path)
    assert selection.chosen.shown == "nmt (3).ipynb" and selection.others == ()
    assert selection.describe() == "Graded `nmt (3).ipynb`."


def test_of_several_notebooks_the_one_with_the_most_code_written_wins(tmp_path):
    folder = tmp_path / "submission"
    (folder / ".ipynb_checkpoints").mkdir(parents=True)
    shutil.copy(TEMPLATE, folder / "nmt.ipynb")
    shutil.copy(SOLUTION, folder / "hw2_final.ipynb")
    shutil.copy(SOLUTION, folder / ".ipynb_checkpoints" / "nmt-checkpoint.ipynb")
    selection = _pick(folder, tmp_path)
    assert selection.chosen.shown == "hw2_final.ipynb"
    assert selection.others == ("nmt.ipynb",)
    assert "not graded: `nmt.ipynb`" in selection.describe()


def test_equal_notebooks_go_to_the_name_closest_to_nmt(tmp_path):
    folder = tmp_path / "submission"
    folder.mkdir()
    for name in ("copy.ipynb", "nmt.ipynb", "nmt (2).ipynb"):
        shutil.copy(SOLUTION, folder / name)
    assert _pick(folder, tmp_path).chosen.shown == "nmt.ipynb"


def test_a_py_export_is_graded_when_there_is_no_notebook(tmp_path):
    folder = tmp_path / "submission"
    folder.mkdir()
    (folder / "nmt.py").write_text("# %%\nclass ScaledDotAttention:\n    pass\n")
    assert _pick(folder, tmp_path).chosen.shown == "nmt.py"


def test_a_zip_of_a_folder_is_read_safely(tmp_path):
    folder = tmp_path / "submission"
    folder.mkdir()
    with zipfile.ZipFile(folder / "hw2.zip", "w") as archive:
        archive.write(SOLUTION, "hw2/nmt.ipynb")
        archive.writestr("__MACOSX/hw2/._nmt.ipynb", "junk")
        archive.writestr("../../escape.ipynb", "{}")
        link = zipfile.ZipInfo("hw2/link.ipynb")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "/etc/passwd")
    selection = _pick(folder, tmp_path)
    assert selection.chosen.shown == "hw2.zip/hw2/nmt.ipynb"
    assert selection.chosen.path.read_bytes() == SOLUTION.read_bytes()
    assert selection.others == ()
    assert (
        not (tmp_path / "escape.ipynb").exists() and not (tmp_path.parent / "escape.ipynb").exists()
    )


def test_nothing_gradeable_is_one_sentence(tmp_path):
    folder = tmp_path / "submission"
    folder.mkdir()
    assert (
        _pick(folder, tmp_path)
        .describe()
        .startswith("Nothing was graded: your submission is empty")
    )
    (folder / "report.pdf").write_bytes(b"%PDF")
    (folder / "broken.zip").write_bytes(b"PK\x03\x04 not really")
    text = _pick(folder, tmp_path).describe()
    assert "holds no notebook" in text and "report.pdf" in text and "broken.zip" in text
    assert text.count(". ") == 1 and text.endswith("submit again.")


# --- run_autograder's logic under a fake root -------------------------------------------------


def _layout(tmp_path: Path, files: dict[str, Path | bytes], metadata: dict | None = None) -> Layout:
    layout = Layout(tmp_path / "autograder")
    with zipfile.ZipFile(autograder_zip()) as archive:
        archive.extractall(layout.source)
    layout.submission.mkdir(parents=True)
    for name, content in files.items():
        data = content.read_bytes() if isinstance(content, Path) else content
        (layout.submission / name).write_bytes(data)
    if metadata is not None:
        layout.metadata.write_text(json.dumps(metadata))
    return layout


METADATA = {
    "id": 123456,
    "created_at": "2025-03-02T10:00:00.000000-05:00",
    "assignment": {"id": 77, "title": "HW2", "due_date": "2025-03-01T23:59:00.000000-05:00"},
    "users": [{"email": "student@example.edu", "id": 4242, "name": "A Student"}],
    "previous_submissions": [],
}


def test_run_grades_a_renamed_notebook_as_grade_does(tmp_path):
    layout = _layout(tmp_path, {"nmt (3).ipynb": WRONG}, METADATA)
    assert container.main(["--root", str(layout.root)]) == 0
    results = json.loads((layout.results / "results.json").read_text())
    jsonschema.validate(results, SCHEMA)
    expected = grade_submission(WRONG)
    assert results["score"] == pytest.approx(expected.score)
    assert [t["score"] for t in results["tests"][1:]] == [
        c.score
        for c in sorted(expected.checks, key=lambda c: [int(p) for p in c.question.split(".")])
    ]
    assert results["output"].startswith("Graded `nmt (3).ipynb`.")
    assert results["tests"][0]["output"].startswith("Graded `nmt (3).ipynb`.")
    extra = results["extra_data"]
    assert extra["student_ids"] == [4242] and extra["submission_id"] == 123456
    assert extra["late"] is True and extra["assignment"]["due_date"].startswith("2025-03-01")
    assert "student@example.edu" not in json.dumps(results)
    if os.geteuid() == 0:
        for path in (layout.source, layout.results, layout.submission):
            assert stat.S_IMODE(path.stat().st_mode) == 0o700, path
        assert stat.S_IMODE(layout.metadata.stat().st_mode) == 0o600


def test_run_with_nothing_uploaded_gives_zero_and_one_sentence(tmp_path):
    layout = _layout(tmp_path, {})
    container.main(["--root", str(layout.root)])
    results = json.loads((layout.results / "results.json").read_text())
    jsonschema.validate(results, SCHEMA)
    assert results["score"] == 0 and results["tests"] == []
    assert results["output"].startswith("Nothing was graded: your submission is empty.")


def test_run_reads_the_root_from_the_environment_and_survives_a_broken_setup(tmp_path, monkeypatch):
    layout = _layout(tmp_path, {"nmt.ipynb": SOLUTION})
    (layout.source / "rubric.toml").write_text("this is not toml [")
    monkeypatch.setenv(container.ROOT_ENV, str(layout.root))
    container.main([])
    results = json.loads((layout.results / "results.json").read_text())
    jsonschema.validate(results, SCHEMA)
    assert results["score"] == 0 and "not your fault" in results["output"]


def test_metadata_that_is_broken_is_noted_not_fatal(tmp_path):
    path = tmp_path / "submission_metadata.json"
    path.write_text("{broken")
    assert "metadata_error" in read_metadata(path)
    assert read_metadata(tmp_path / "missing.json") == {}
    path.write_text(json.dumps({**METADATA, "created_at": "2025-03-02T10:00:00"}))  # no zone
    info = read_metadata(path)
    assert info["student_ids"] == [4242] and "late" not in info


def test_namespaces_can_be_turned_off_from_the_environment(monkeypatch):
    assert limits_from_environment().namespaces is True
    monkeypatch.setenv(container.NAMESPACES_ENV, "0")
    assert limits_from_environment().namespaces is False


# --- the container, rehearsed: setup.sh, run_autograder, secrets ------------------------------


def _installed() -> tuple[Path, Path]:
    if readable_python() is None:
        pytest.skip("no Python >= 3.11 that the sandbox user can read (Gradescope's is /usr/bin)")
    venv, root, done = gradescope_install()
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return venv, root


def _fresh_root(name: str, files: dict[str, Path | bytes]) -> Layout:
    """A root of its own for one test, with the installed source (setup.sh's modes kept)."""
    _, installed = _installed()
    layout = Layout(workdir() / "roots" / name)
    shutil.copytree(installed / "source", layout.source, symlinks=True)
    layout.submission.mkdir(parents=True)
    for file_name, content in files.items():
        data = content.read_bytes() if isinstance(content, Path) else content
        (layout.submission / file_name).write_bytes(data)
    layout.metadata.write_text(json.dumps(METADATA))
    return layout


def _run_autograder(layout: Layout, *, prefix: tuple[str, ...] = (), **env: str):
    venv, _ = _installed()
    environment = {
        **os.environ,
        "NMT_AUTOGRADER_ROOT": str(layout.root),
        "NMT_AUTOGRADER_VENV": str(venv),
        **env,
    }
    command = [*prefix, "bash", str(layout.source / "run_autograder")]
    return subprocess.run(command, env=environment, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
@pytest.mark.needs_root
def test_setup_sh_installs_cpu_torch_from_the_given_index_and_locks_the_grader():
    venv, root = _installed()
    done = gradescope_install()[2]
    assert f"from {torch_index()}" in done.stdout
    assert "the sandbox runs" in done.stdout
    site = next((venv / "lib").glob("python3.*/site-packages"))
    for path in (site / "autograder", next(site.glob("nmt_grader-*.dist-info")), root / "source"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o700, path
    assert stat.S_IMODE((site / "torch").stat().st_mode) & 0o005 == 0o005
    version = subprocess.run(
        [venv / "bin" / "python", "-I", "-c", "import torch; print(torch.__version__)"],
        capture_output=True,
        text=True,
    ).stdout
    assert version.strip() == "2.13.0+cpu"
    probe = "import reference"
    missing = subprocess.run([venv / "bin" / "python", "-I", "-c", probe], capture_output=True)
    assert missing.returncode != 0


@pytest.mark.slow
@pytest.mark.needs_root
def test_run_autograder_installed_scores_as_grade_does():
    layout = _fresh_root("solution", {"hw2_code_abc.ipynb": SOLUTION})
    done = _run_autograder(layout)
    assert done.returncode == 0, done.stderr
    results = json.loads((layout.results / "results.json").read_text())
    jsonschema.validate(results, SCHEMA)
    assert results["score"] == pytest.approx(grade_submission(SOLUTION).score)
    assert all(t["status"] == "passed" for t in results["tests"]), results["output"]


@pytest.mark.slow
@pytest.mark.needs_root
def test_run_autograder_installed_takes_a_wrong_submissions_own_question_only():
    """The grader installed from its wheel, outside any checkout, grades a wrong submission:
    its own question, and nothing else, loses points."""
    layout = _fresh_root("wrong", {"nmt.ipynb": WRONG})
    done = _run_autograder(layout)
    assert done.returncode == 0, done.stderr
    results = json.loads((layout.results / "results.json").read_text())
    jsonschema.validate(results, SCHEMA)
    failed = {t["number"] for t in results["tests"] if t["status"] == "failed"}
    assert failed == {"2.3.4"}
    assert results["score"] == pytest.approx(grade_submission(WRONG).score)


WALKER = '''
import os
import stat
import torch
from torch import nn

DROP = {drop!r}
KEYS = ("golden", "rubric", "reference", "solution", "autograder", "nmt_", "submission",
        "results", "source", "build.json", ".npz", ".npy", ".whl", ".zip", ".toml")


def walk_everything():
    """Every file the child can read; copy the course-like ones out, and return their text."""
    readable = []
    for root, dirs, files in os.walk("/"):
        if root == "/":
            dirs[:] = [d for d in dirs if d not in ("proc", "sys", "dev")]
        for name in files:
            path = os.path.join(root, name)
            try:
                info = os.lstat(path)
            except OSError:
                continue
            if stat.S_ISREG(info.st_mode) and os.access(path, os.R_OK):
                readable.append(path)
    os.makedirs(DROP + "/files", exist_ok=True)
    dumped, text, total = [], [], 0
    for path in readable:
        if path.startswith(DROP) or not any(k in path.lower() for k in KEYS):
            continue
        try:
            size = os.path.getsize(path)
            if size > (8 << 20) or total > (96 << 20):
                continue
            data = open(path, "rb").read()
        except OSError:
            continue
        total += size
        with open(DROP + "/files/" + str(len(dumped)), "wb") as out:
            out.write(data)
        dumped.append(path)
        text.append(path + ": " + data[:400].decode("utf-8", "replace"))
    with open(DROP + "/walk.txt", "w") as out:
        out.write("\\n".join(["READABLE", *readable, "DUMPED", *dumped]))
    print("\\n".join(text))
    return "\\n".join(text)


class ScaledDotAttention(nn.Module):
    found = walk_everything()

    def __init__(self, hidden_size):
        super().__init__()
        self.hidden_size = hidden_size

    def forward(self, queries, keys, values):
        raise RuntimeError(ScaledDotAttention.found)


def calc_parameters_decoder(*args, **kwargs):
    raise RuntimeError(ScaledDotAttention.found[-3000:])
'''


def _hidden_paths() -> list[Path]:
    """What the harness covers besides /tmp: the checkout's folder (other checkouts beside it)
    and the home folder, never a folder that holds the session's (whose own parent the harness
    replaces anyway)."""
    work = workdir()
    hide = set()
    for path in (REPO.parent if REPO.parent != Path("/") else REPO, Path.home()):
        if work.is_relative_to(path):
            path = REPO
        if not path.is_relative_to(work.parent) and not work.is_relative_to(path):
            hide.add(path)
    return sorted(hide)


def _harness(hide: list[Path]) -> str:
    """A private mount namespace laid out like Gradescope's container: no checkout and nothing
    of other users in /tmp; the session's folder (virtual environment, fake root) kept."""
    work = workdir()
    lines = [
        "set -euo pipefail",
        "mount --make-rprivate /",
        "mount -t tmpfs -o mode=1777 tmpfs /tmp",
        f"mkdir /tmp/keep && mount --bind {work} /tmp/keep",
        f"mount -t tmpfs -o mode=1777 tmpfs {work.parent}",
        f"mkdir -p {work} && mount --bind /tmp/keep {work} && umount /tmp/keep && rmdir /tmp/keep",
        *[f"[ -d {p} ] && mount -t tmpfs -o mode=0755 tmpfs {p}" for p in hide],
        'exec "$@"',
    ]
    return "\n".join(lines)


@pytest.mark.slow
@pytest.mark.needs_root
def test_student_code_walking_the_filesystem_without_namespaces_finds_no_secret():
    """Gradescope's usual Docker has no CAP_SYS_ADMIN: the child gets no namespaces, and only
    ownership and modes keep the goldens, the hidden checks and the results from it."""
    if shutil.which("unshare") is None:
        pytest.skip("needs unshare (util-linux) to lay out a container-like filesystem")
    drop = workdir() / "drop"
    drop.mkdir(mode=0o777)
    drop.chmod(0o777)
    notebook = {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {},
        "cells": [
            {
                "cell_type": "code",
                "source": WALKER.format(drop=str(drop)),
                "metadata": {},
                "outputs": [],
                "execution_count": None,
                "id": "walker",
            }
        ],
    }
    layout = _fresh_root("walker", {"nmt.ipynb": json.dumps(notebook).encode()})
    hide = _hidden_paths()
    prefix = ("unshare", "--mount", "bash", "-c", _harness(hide), "harness")
    done = _run_autograder(layout, prefix=prefix, NMT_SANDBOX_NAMESPACES="0")
    assert done.returncode == 0, done.stderr
    results_text = (layout.results / "results.json").read_text()
    jsonschema.validate(json.loads(results_text), SCHEMA)

    walk = (drop / "walk.txt").read_text().split("\n")
    readable, dumped = walk[1 : walk.index("DUMPED")], walk[walk.index("DUMPED") + 1 :]
    assert len(readable) > 1000 and any(p.endswith("/home/submission.py") for p in readable)
    assert "RuntimeError" in results_text  # what it read went into the student's feedback
    venv, _ = _installed()
    site = next((venv / "lib").glob("python3.*/site-packages"))
    protected = [layout.source, layout.results, layout.metadata, site / "autograder"]
    protected += list(site.glob("nmt_grader-*.dist-info"))
    leaked = [p for p in readable if any(p == str(q) or p.startswith(f"{q}/") for q in protected)]
    assert leaked == []
    seen = results_text + done.stdout + done.stderr
    # the hidden cases' inputs go to the child by design; their answers and the reference never
    assert find_secrets(seen.encode(), "what the student sees", answers_only=True) == []
    ours = [i for i, p in enumerate(dumped) if p.startswith((str(workdir()), "/tmp/"))]
    assert ours  # its own workspace, at least
    for index in ours:
        data = (drop / "files" / str(index)).read_bytes()
        assert find_secrets(data, dumped[index], answers_only=True) == []
