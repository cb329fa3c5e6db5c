"""``grade.py batch``: inputs (folder, zip, Gradescope export), the pickle-free cache, resume
after a kill, regrading from the cache, isolation between students, the class report.

The graded batches are small (the solution, the template, a few wrong submissions) and shared
by module-scoped fixtures; tests that change a batch work on a copy of its output folder.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import tomllib
import zipfile
from dataclasses import replace
from pathlib import Path

import nbformat
import numpy as np
import pytest

from autograder import engine
from autograder.batch import BatchOptions, InputError, run_batch
from autograder.batch.cache import Cache, probe_key
from autograder.batch.codec import CodecError, ProbeBlob, decode_probed, encode_probed
from autograder.batch.gradescope import read_metadata
from autograder.batch.inputs import discover, student_folder_names
from autograder.batch.options import BatchSummary, default_jobs
from autograder.batch.safezip import ZipRefused, extract_zip
from autograder.cli import main as cli_main
from autograder.config import GraderConfig
from autograder.engine import Probed, grade_submission
from autograder.extract import Dropped, Location
from autograder.goldens import GOLDENS_DIR
from autograder.outcome import (
    BrokenCellNote,
    DroppedStatementNote,
    GradingStatus,
    StoppedNote,
    UndefinedNameNote,
)
from autograder.sandbox import ErrorKind, ProbeError, ProbeResult, SandboxLimits
from autograder.sandbox.process import Child

ROOT = Path(__file__).resolve().parents[1]
SOLUTION = ROOT / "fixtures" / "submissions" / "solution.ipynb"
TEMPLATE = ROOT / "student_template" / "nmt.ipynb"
WRONG = sorted((ROOT / "fixtures" / "submissions").glob("wrong-*.ipynb"))
RUBRIC = ROOT / "autograder" / "rubric.toml"


def _without_timings(results: dict) -> dict:
    results = json.loads(json.dumps(results))
    results.pop("execution_time")
    results["extra_data"].pop("timings", None)
    return results


def _events(out: Path, event: str) -> list[dict]:
    return [e for e in Cache(out / ".batch" / "cache").events() if e["event"] == event]


def _gradebook(out: Path) -> dict[str, dict[str, str]]:
    import csv

    with open(out / "gradebook.csv", newline="", encoding="utf-8") as handle:
        return {row["student_id"]: row for row in csv.DictReader(handle)}


def _world_readable_dir(prefix: str) -> Path:
    """A folder outside /tmp (which the sandbox hides anyway) that anyone may read."""
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir="/var/tmp"))
    folder.chmod(0o755)
    return folder


def _make_readable(folder: Path) -> None:
    for path in [folder, *folder.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)


# --- the codec: Probed without pickles ------------------------------------------------------


def _probed() -> Probed:
    located = ProbeError("ValueError", "bad", Location(14, 5, "ScaledDotAttention.forward"))
    stopped = ProbeError("Timeout", "timed out after 20 s", None, ErrorKind.TIMEOUT)
    dropped = Dropped(
        3, 1, "costly", "device = torch.device('cuda')", "it calls something", ("device",)
    )
    results = {
        "ok": ProbeResult(
            "ok",
            "2.2.1",
            "ok",
            {"shape": [2, 3], "value": float("nan"), "nested": {"$array": "result.0"}},
            {
                "context": np.arange(6, dtype=np.float64).reshape(2, 3),
                "mask": np.array([True, False]),
                "count": np.int32(7) * np.ones((), dtype=np.int32),
                "z": np.array([1 + 2j], dtype=np.complex64),
            },
            None,
            0.25,
            "printed\n",
        ),
        "error": ProbeResult("error", "2.2.2", "error", {}, {}, located, 0.1),
        "text": ProbeResult(
            "text", "2.3.1", "error", {}, {}, ProbeError("X", "y", "cell 3", ErrorKind.IMPORT), 0
        ),
        "timeout": ProbeResult("timeout", "2.3.4", "timeout", {}, {}, stopped, 20.0),
    }
    notes = (
        BrokenCellNote(4, 2, "expected ':'", ("f", "g")),
        UndefinedNameNote("device", ("ScaledDotAttention",), dropped),
        UndefinedNameNote("math", ("f",), None),
        StoppedNote("2.3.4", stopped),
        DroppedStatementNote("class A:", ("A", "B"), stopped, ("A",)),
    )
    return Probed("nmt.ipynb", GradingStatus.GRADED, "", notes, results, 3.5)


def _same_probed(a: Probed, b: Probed) -> None:
    assert (a.submission, a.status, a.problem, a.notes, a.seconds) == (
        b.submission,
        b.status,
        b.problem,
        b.notes,
        b.seconds,
    )
    assert list(a.results) == list(b.results)
    for key, left in a.results.items():
        right = b.results[key]
        assert replace(left, arrays={}, data={}) == replace(right, arrays={}, data={})
        assert json.dumps(left.data) == json.dumps(right.data)  # NaN compares by its text
        assert left.arrays.keys() == right.arrays.keys()
        for name, array in left.arrays.items():
            assert array.dtype == right.arrays[name].dtype
            np.testing.assert_array_equal(array, right.arrays[name])


def test_probed_round_trips_through_the_codec_and_the_cache(tmp_path):
    probed = _probed()
    blob = encode_probed(probed, fingerprint="abc")
    decoded = decode_probed(blob)
    _same_probed(probed, decoded)
    assert isinstance(decoded.results["error"].error.location, Location)
    assert decoded.results["timeout"].error.kind is ErrorKind.TIMEOUT
    assert decoded.notes[1].dropped.binds == ("device",)
    cache = Cache(tmp_path)
    cache.store_probed("k", blob)
    stored = cache.load_probed("k")
    assert stored.fingerprint == "abc"
    _same_probed(probed, decode_probed(stored))
    with np.load(tmp_path / "probes" / "k.npz", allow_pickle=False) as arrays:
        assert len(arrays.files) == 4


def test_the_codec_refuses_object_arrays_both_ways():
    probed = _probed()
    bad = replace(probed.results["ok"], arrays={"x": np.array([object()])})
    with pytest.raises(CodecError):
        encode_probed(replace(probed, results={"ok": bad}))
    buffer = io.BytesIO()
    np.savez(buffer, a0=np.array([{"a": 1}], dtype=object))  # a pickle inside
    blob = encode_probed(replace(probed, results={}))
    with pytest.raises(CodecError):
        decode_probed(replace(blob, arrays=buffer.getvalue()))


def test_a_torn_or_foreign_cache_entry_reads_as_missing(tmp_path):
    cache = Cache(tmp_path)
    cache.store_probed("k", encode_probed(_probed()))
    (tmp_path / "probes" / "k.json").write_text('{"format": 1, "resu')
    assert cache.load_probed("k") is None
    assert cache.load_result("nothing") is None
    with pytest.raises(CodecError):
        decode_probed(ProbeBlob(text='{"format": 99}', arrays=b""))


def test_probe_keys_change_with_what_decides_the_probes():
    base = {
        "content": "c",
        "name": "nmt.ipynb",
        "goldens": "g",
        "cases": {"a", "b"},
        "limits": SandboxLimits(),
    }
    key = probe_key(**base)
    assert probe_key(**{**base, "limits": SandboxLimits(hide_paths=("/x",))}) == key
    for change in (
        {"content": "d"},
        {"goldens": "h"},
        {"cases": {"a"}},
        {"limits": SandboxLimits(memory_mb=2048)},
    ):
        assert probe_key(**{**base, **change}) != key


# --- zips ------------------------------------------------------------------------------------


def _zip(path: Path, entries: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return path


def _claim_sizes(path: Path, size: int) -> None:
    """Rewrite every central-directory entry's uncompressed size (a lying zip)."""
    data = bytearray(path.read_bytes())
    start = 0
    while (start := data.find(b"PK\x01\x02", start)) >= 0:
        struct.pack_into("<I", data, start + 24, size)
        start += 4
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    "name", ["../evil.ipynb", "/etc/evil.ipynb", "a/../../evil.ipynb", "C:/x.ipynb"]
)
def test_a_zip_entry_that_escapes_its_folder_refuses_the_zip(tmp_path, name):
    archive = _zip(tmp_path / "class.zip", {"ok.ipynb": b"{}", name: b"{}"})
    with pytest.raises(ZipRefused, match="outside its folder"):
        extract_zip(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists() and not (tmp_path / "evil.ipynb").exists()


def test_a_zip_bomb_is_refused_by_its_claimed_and_by_its_real_size(tmp_path):
    bomb = _zip(tmp_path / "bomb.zip", {f"{i}.ipynb": b"x" for i in range(5)})
    _claim_sizes(bomb, 0xF0000000)  # 5 x 3.75 GiB claimed, over the 4 GiB default
    with pytest.raises(ZipRefused, match="zip bomb"):
        extract_zip(bomb, tmp_path / "a")
    real = _zip(tmp_path / "real.zip", {"big.ipynb": b"0" * (4 << 20)})
    with pytest.raises(ZipRefused, match="zip bomb"):
        extract_zip(real, tmp_path / "b", max_bytes=1 << 20)
    _claim_sizes(real, 10)  # the header lies: the copy stops at the claimed size
    with pytest.raises(ZipRefused):
        extract_zip(real, tmp_path / "c")
    assert not any((tmp_path / d).exists() for d in "abc")


def test_a_zip_with_too_many_entries_is_refused(tmp_path):
    archive = _zip(tmp_path / "many.zip", {f"{i}.txt": b"" for i in range(30)})
    with pytest.raises(ZipRefused, match="30 entries"):
        extract_zip(archive, tmp_path / "out", max_entries=20)


def test_a_zip_keeps_notebooks_and_metadata_and_lists_the_rest(tmp_path):
    archive = tmp_path / "class.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("export/submission_metadata.yml", "{}")
        z.writestr("export/submission_1/nmt.ipynb", "{}")
        z.writestr("export/submission_1/data.csv", "1,2")
        z.writestr("__MACOSX/._nmt.ipynb", "junk")
        link = zipfile.ZipInfo("export/link.ipynb")
        link.external_attr = 0o120777 << 16
        z.writestr(link, "/etc/passwd")
    contents = extract_zip(archive, tmp_path / "out")
    assert set(contents.extracted) == {
        "export/submission_metadata.yml",
        "export/submission_1/nmt.ipynb",
    }
    assert set(contents.skipped) == {
        "export/submission_1/data.csv",
        "__MACOSX/._nmt.ipynb",
        "export/link.ipynb",
    }
    assert not (tmp_path / "out" / "export" / "link.ipynb").exists()


def test_the_cli_refuses_a_zip_bomb_with_one_line(tmp_path, capsys):
    bomb = _zip(tmp_path / "bomb.zip", {f"{i}.ipynb": b"x" for i in range(5)})
    _claim_sizes(bomb, 0xF0000000)
    assert cli_main(["batch", str(bomb), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: refusing the zip") and "\n" not in err


# --- inputs ----------------------------------------------------------------------------------

METADATA = """\
submission_101:
  :submitters:
  - :name: Ada Lovelace
    :sid: '1815'
    :email: ada@example.edu
  :created_at: 2024-02-01 10:00:00.000000000 -08:00
  :score: 25.0
  :results: !ruby/hash:ActiveSupport::HashWithIndifferentAccess
    score: 25.0
submission_102:
  :submitters:
  - :name: Alan Turing
    :email: alan@example.edu
  - :name: Grace Hopper
    :sid: '1906'
    :email: grace@example.edu
submission_103:
  :submitters: []
"""


def test_gradescope_metadata_names_students_and_groups(tmp_path):
    (tmp_path / "submission_metadata.yml").write_text(METADATA)
    folders = read_metadata(tmp_path / "submission_metadata.yml")
    assert [s.id for s in folders["submission_101"]] == ["1815"]
    assert folders["submission_101"][0].name == "Ada Lovelace"
    assert [s.id for s in folders["submission_102"]] == ["alan@example.edu", "1906"]
    assert [s.id for s in folders["submission_103"]] == ["submission_103"]


def test_a_folder_gives_one_submission_per_notebook_or_subfolder(tmp_path):
    (tmp_path / "amy.ipynb").write_text("{}")
    (tmp_path / "notes.txt").write_text("")
    (tmp_path / "bob").mkdir()
    (tmp_path / "bob" / "hw.ipynb").write_text("{}")
    (tmp_path / "bob" / ".ipynb_checkpoints").mkdir()
    (tmp_path / "bob" / ".ipynb_checkpoints" / "hw-checkpoint.ipynb").write_text("{}")
    (tmp_path / "cy").mkdir()
    for name in ("nmt.ipynb", "scratch.ipynb"):
        (tmp_path / "cy" / name).write_text("{}")
    (tmp_path / "dee").mkdir()
    for name in ("a.ipynb", "b.ipynb"):
        (tmp_path / "dee" / name).write_text("{}")
    (tmp_path / "eve").mkdir()
    found = discover(tmp_path, staging=tmp_path / "staging")
    by_id = {s.id: s for s in found.submissions}
    assert by_id["amy"].path == tmp_path / "amy.ipynb"
    assert by_id["bob"].path == tmp_path / "bob" / "hw.ipynb"
    assert by_id["cy"].path == tmp_path / "cy" / "nmt.ipynb"
    assert by_id["dee"].path is None and "several notebooks" in by_id["dee"].problem
    assert by_id["eve"].path is None and "no notebook" in by_id["eve"].problem
    assert found.skipped == ("cy/scratch.ipynb", "dee/a.ipynb", "dee/b.ipynb", "notes.txt")


def test_an_output_folder_inside_the_input_is_not_a_submission(tmp_path):
    (tmp_path / "amy.ipynb").write_text("{}")
    (tmp_path / "out" / "amy").mkdir(parents=True)
    (tmp_path / "out" / "amy" / "results.json").write_text("{}")
    found = discover(tmp_path, staging=tmp_path / "s", exclude=(tmp_path / "out",))
    assert [s.id for s in found.submissions] == ["amy"] and found.skipped == ()


def test_student_folders_are_safe_unique_names(tmp_path):
    from autograder.batch import Student, Submission

    students = ("../../etc", "a/b", "x", "X", "report.html", ".hidden")
    submissions = tuple(Submission(s, (Student(s),), None) for s in students)
    names = student_folder_names(submissions)
    assert all("/" not in n and not n.startswith(".") for n in names.values())
    assert len({n.lower() for n in names.values()}) == len(students)
    assert names["report.html"] != "report.html"


def test_default_jobs_fit_the_machine():
    assert 1 <= default_jobs() <= (os.cpu_count() or 1)


def test_the_summary_is_one_line():
    summary = BatchSummary({"graded": 3, "crashed": 1, "error": 1}, 2, 3, 0, (), 1.25, None)
    line = summary.line()
    assert "\n" not in line
    assert line.startswith("3 graded, 0 unreadable, 0 timed out, 1 crashed, 1 grader errors")


# --- a graded class -------------------------------------------------------------------------


def _gradescope_export(root: Path) -> Path:
    """A Gradescope export: solution, template, two wrong submissions (one by a group), a
    submission without a notebook, a file that is not a notebook."""
    export = root / "export"
    export.mkdir()
    folders = {
        "submission_1": SOLUTION,
        "submission_2": TEMPLATE,
        "submission_3": WRONG[0],
        "submission_4": WRONG[1],
        "submission_5": None,
    }
    for folder, source in folders.items():
        (export / folder).mkdir()
        if source is not None:
            shutil.copy(source, export / folder / source.name)
    (export / "submission_5" / "answers.pdf").write_bytes(b"%PDF")
    (export / "submission_metadata.yml").write_text(
        "submission_1:\n  :submitters:\n  - {':name': Ada, ':sid': 's1', ':email': a@x.edu}\n"
        "submission_2:\n  :submitters:\n  - {':name': Bo, ':sid': 's2'}\n"
        "submission_3:\n  :submitters:\n  - {':name': Cy, ':sid': 's3'}\n"
        "submission_4:\n  :submitters:\n  - {':name': Di, ':sid': 's4'}\n"
        "  - {':name': Ed, ':sid': 's5'}\n"
        "submission_5:\n  :submitters:\n  - {':name': Flo, ':sid': 's6'}\n"
    )
    return export


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """The export graded once with two jobs (a pool of worker processes)."""
    root = tmp_path_factory.mktemp("batch")
    export = _gradescope_export(root)
    out = root / "out"
    summary = run_batch(BatchOptions(source=export, out=out, jobs=2, progress=False))
    return export, out, summary


def _copy_out(out: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    (copy / ".batch" / "lock").unlink()
    return copy


def test_every_student_gets_results_and_feedback_by_id(graded):
    _, out, summary = graded
    assert summary.statuses == {"graded": 4, "unreadable": 1}
    assert summary.probed == 4 and summary.from_cache == 0
    assert summary.skipped == ("submission_5/answers.pdf",)
    for sid in ("s1", "s2", "s3", "s4", "s5", "s6"):
        assert json.loads((out / sid / "results.json").read_text())["tests"]
        assert (out / sid / "feedback.md").is_file()
    assert (out / "s4" / "results.json").read_bytes() == (out / "s5" / "results.json").read_bytes()
    assert "no notebook" in (out / "s6" / "feedback.md").read_text()


def test_the_gradebook_has_names_scores_and_statuses(graded):
    _, out, _ = graded
    book = _gradebook(out)
    assert set(book) == {"s1", "s2", "s3", "s4", "s5", "s6"}
    assert (book["s1"]["name"], book["s1"]["email"]) == ("Ada", "a@x.edu")
    assert float(book["s1"]["total"]) == 28 and float(book["s2"]["total"]) == 0
    assert book["s6"]["status"] == "unreadable"
    assert book["s4"]["total"] == book["s5"]["total"]
    html = (out / "report.html").read_text()
    assert 'href="s1/feedback.md"' in html and (out / "item_analysis.csv").is_file()


def test_batch_results_are_what_grade_writes_timings_aside(graded, tmp_path):
    _, out, _ = graded
    grade_submission(SOLUTION, out_dir=tmp_path)
    batch = json.loads((out / "s1" / "results.json").read_text())
    single = json.loads((tmp_path / "results.json").read_text())
    assert _without_timings(batch) == _without_timings(single)
    assert (out / "s1" / "feedback.md").read_text() == (tmp_path / "feedback.md").read_text()


def _no_sandbox(monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("a sandbox child was started")

    monkeypatch.setattr(engine, "run_probes", refuse)
    monkeypatch.setattr(engine, "probe_submission", refuse)
    monkeypatch.setattr(Child, "start", refuse)  # the sandbox's only way to start a child


def test_a_rerun_takes_everything_from_the_cache(graded, tmp_path, monkeypatch):
    export, out, _ = graded
    copy = _copy_out(out, tmp_path)
    before = (copy / "s3" / "results.json").read_bytes()
    _no_sandbox(monkeypatch)
    summary = run_batch(BatchOptions(source=export, out=copy, jobs=2, progress=False))
    assert (summary.probed, summary.from_cache) == (0, 4)
    assert (copy / "s3" / "results.json").read_bytes() == before


def test_a_rubric_change_regrades_from_the_cache_without_student_code(
    graded, tmp_path, monkeypatch
):
    export, out, _ = graded
    copy = _copy_out(out, tmp_path)
    rubric = tmp_path / "rubric.toml"
    data = tomllib.loads(RUBRIC.read_text())
    data["checks"]["2.2.1/context-3d"] = {"points": 10.0, "visibility": "after_due_date"}
    lines = [f"title = {json.dumps(data['title'])}", "[checks]"]
    lines += [
        f'"{check}" = {{ points = {line["points"]}, visibility = "{line["visibility"]}" }}'
        for check, line in data["checks"].items()
    ]
    rubric.write_text("\n".join(lines) + "\n")
    _no_sandbox(monkeypatch)
    config = GraderConfig().with_options(rubric=rubric)
    judged = len(_events(copy, "judged"))
    summary = run_batch(BatchOptions(source=export, out=copy, config=config, progress=False))
    assert summary.probed == 0 and summary.from_cache == 4
    assert len(_events(copy, "judged")) == judged + 4
    results = json.loads((copy / "s1" / "results.json").read_text())
    test = next(t for t in results["tests"] if t.get("tags") == ["2.2.1/context-3d"])
    assert (test["max_score"], test["visibility"]) == (10, "after_due_date")


def test_a_check_change_rejudges_and_a_goldens_change_reprobes(graded, tmp_path, monkeypatch):
    export, out, _ = graded
    copy = _copy_out(out, tmp_path)
    from autograder.batch import cache

    monkeypatch.setattr(cache, "judge_code_hash", lambda: "another version of the checks")
    with monkeypatch.context() as patched:
        _no_sandbox(patched)
        summary = run_batch(BatchOptions(source=export, out=copy, progress=False))
    assert (summary.probed, summary.from_cache) == (0, 4)
    goldens = tmp_path / "goldens"
    shutil.copytree(GOLDENS_DIR, goldens)
    index = goldens / "index.json"
    index.write_text(json.dumps(json.loads(index.read_text()), indent=3))  # same cases
    config = replace(GraderConfig(), goldens=(goldens,))
    before = _gradebook(copy)
    old_digest = json.loads((copy / "s1" / "results.json").read_text())["extra_data"]["goldens"]
    summary = run_batch(
        BatchOptions(source=export, out=copy, config=config, only=("s2",), progress=False)
    )
    # the one asked for, and every student graded before (their cached results no longer fit):
    # the class's files keep everyone, under the new goldens
    assert (summary.probed, summary.not_selected) == (4, 0)
    assert _gradebook(copy).keys() == before.keys()
    digests = {
        json.loads((copy / s / "results.json").read_text())["extra_data"]["goldens"]
        for s in before
        if (copy / s / "results.json").is_file()
    }
    assert len(digests) == 1 and old_digest not in digests


def test_only_regrades_the_students_named(graded, tmp_path):
    export, out, _ = graded
    copy = _copy_out(out, tmp_path)
    probed = len(_events(copy, "probed"))
    summary = run_batch(BatchOptions(source=export, out=copy, only=("s5",), progress=False))
    assert summary.probed == 1 and summary.from_cache == 3
    assert [e["submission"] for e in _events(copy, "probed")[probed:]] == ["submission_4"]
    with pytest.raises(InputError, match="nobody"):
        run_batch(BatchOptions(source=export, out=copy, only=("nobody",), progress=False))


def test_a_class_where_nothing_could_be_graded_still_gets_its_report(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "amy.ipynb").write_text("not a notebook")
    summary = run_batch(BatchOptions(source=tmp_path / "in", out=tmp_path / "out", progress=False))
    assert summary.statuses == {"unreadable": 1}
    assert _gradebook(tmp_path / "out")["amy"]["status"] == "unreadable"


# --- a zip of notebooks through the command line --------------------------------------------


def test_the_cli_grades_a_zip_and_lists_what_it_skipped(tmp_path, capsys):
    archive = tmp_path / "class.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.write(TEMPLATE, "class/amy.ipynb")
        z.writestr("class/broken.ipynb", "this is not a notebook")
        z.writestr("class/readme.txt", "hello")
    out = tmp_path / "out"
    assert cli_main(["batch", str(archive), "--out", str(out), "--jobs", "1", "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "skipped 1 files that are not notebooks: class/readme.txt" in printed
    assert "1 graded, 1 unreadable, 0 timed out, 0 crashed" in printed
    assert _gradebook(out)["broken"]["status"] == "unreadable"


# --- killed mid-run, resumed -----------------------------------------------------------------


@pytest.mark.slow
def test_a_batch_killed_mid_run_resumes_losing_nothing_and_grading_nothing_twice(tmp_path):
    submissions = tmp_path / "in"
    submissions.mkdir()
    for path in [SOLUTION, TEMPLATE, *WRONG[:3]]:
        shutil.copy(path, submissions / path.name)
    out = tmp_path / "out"
    command = [sys.executable, str(ROOT / "grade.py"), "batch", str(submissions)]
    command += ["--out", str(out), "--jobs", "2", "--quiet"]
    process = subprocess.Popen(command, cwd=ROOT, start_new_session=True)
    deadline = time.monotonic() + 120
    while len(_events(out, "probed")) < 2 and time.monotonic() < deadline:
        assert process.poll() is None, "the batch ended before it could be killed"
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    done_before = {e["key"] for e in _events(out, "probed")}
    total = 5
    assert 2 <= len(done_before) < total
    rerun = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    probed = [e["key"] for e in _events(out, "probed")]
    assert len(probed) == len(set(probed)) == total  # each graded exactly once, over both runs
    assert f"{total} graded" in rerun.stdout
    book = _gradebook(out)
    assert len(book) == total and {row["status"] for row in book.values()} == {"graded"}
    assert float(book["solution"]["total"]) == 28


# --- isolation between students --------------------------------------------------------------

ATTACK = """
import os as _os

def decoder_generate(*args, **kwargs):
    seen, found = 0, set()
    for top in {folders!r}:
        for folder, _, files in _os.walk(top):
            for name in files:
                try:
                    with open(_os.path.join(folder, name), "rb") as handle:
                        text = handle.read().decode("latin-1")
                except OSError:
                    continue
                seen += 1
                found.update(w for w in text.split() if "SECRET" in w)
    raise RuntimeError(f"ATTACK-RAN saw {{seen}} files: {{sorted(found)}}")
"""


def _notebook_with(path: Path, source: str, code: str) -> None:
    notebook = nbformat.read(source, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell(code))
    nbformat.write(notebook, path)


@pytest.fixture
def shared_folders():
    inputs, outputs = _world_readable_dir("nmt-batch-in-"), _world_readable_dir("nmt-batch-out-")
    yield inputs, outputs
    shutil.rmtree(inputs)
    shutil.rmtree(outputs)


@pytest.mark.needs_root
def test_a_submission_cannot_read_the_other_submissions_nor_the_batch_outputs(shared_folders):
    inputs, out = shared_folders
    (inputs / "bob.ipynb").write_text("not even JSON: SECRET-bob-source")
    _notebook_with(
        inputs / "carol.ipynb",
        SOLUTION,
        "def decoder_generate(*args, **kwargs):\n    raise ValueError('SECRET-carol-feedback')",
    )
    _make_readable(inputs)
    run_batch(BatchOptions(source=inputs, out=out, jobs=1, progress=False))
    assert "SECRET-carol-feedback" in (out / "carol" / "feedback.md").read_text()
    _notebook_with(inputs / "zed.ipynb", SOLUTION, ATTACK.format(folders=[str(inputs), str(out)]))
    _make_readable(inputs)
    _make_readable(out)  # as if the TA's umask or a copy had opened them to everyone
    run_batch(BatchOptions(source=inputs, out=out, jobs=1, progress=False))
    feedback = (out / "zed" / "feedback.md").read_text()
    results = (out / "zed" / "results.json").read_text()
    assert "ATTACK-RAN" in feedback  # the attack ran, and reported what it found
    assert "SECRET" not in feedback.replace('if "SECRET" in w', "")
    assert "SECRET-" not in results and "SECRET-" not in feedback


KILL_EVERYONE = """
import os as _os, signal as _signal, time as _time

_end = _time.monotonic() + 8
while _time.monotonic() < _end:  # at import: every process this user may signal, repeatedly
    try:
        _os.kill(-1, _signal.SIGKILL)
    except OSError:
        pass
    _time.sleep(0.01)
"""


@pytest.mark.needs_root
def test_a_submission_cannot_kill_another_students_grading_running_beside_it(tmp_path):
    source = tmp_path / "in"
    source.mkdir()
    shutil.copy(SOLUTION, source / "amy.ipynb")
    _notebook_with(source / "mallory.ipynb", TEMPLATE, KILL_EVERYONE)
    out = tmp_path / "out"
    summary = run_batch(BatchOptions(source=source, out=out, jobs=2, progress=False))
    book = _gradebook(out)
    assert book["amy"]["status"] == "graded" and float(book["amy"]["total"]) == 28
    assert "error" not in summary.statuses
