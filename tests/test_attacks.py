"""The attack corpus (``tests/attacks/``), graded end to end, and the parent's own bounds.

Every attack must end with a valid results.json (the schema, strict UTF-8 JSON) that agrees
with feedback.md, no points over its honest score, no golden value, reference line, planted
file or other student's byte in anything the student sees, nothing left behind (processes,
System V objects, files, the workspace), and its expected outcome. The grade of the solution
graded after the whole corpus is the grade it had before it. The corpus needs one grading per
attack (a few seconds each, the torch import), hence ``slow``; each attack is graded twice, with
fresh interpreters and with children forked from a fork server (``launcher``): the defences must
hold the same either way. Attacks whose defence needs a root grader are marked ``needs_root``
(CI is root and runs them all).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import math
import os
import re
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

import jsonschema
import numpy as np
import pytest

from autograder.batch import BatchOptions, run_batch
from autograder.child.wire import encode_json
from autograder.config import GraderConfig
from autograder.engine import grade_submission
from autograder.extract import (
    ExtractError,
    ExtractLimits,
    SourceCell,
    extract_source,
    extract_submission,
)
from autograder.goldens import GOLDENS_DIR
from autograder.probe_plan import PROBE_MODULES
from autograder.sandbox import ForkServer, SandboxLimits
from autograder.sandbox.transport import TransportError, read_result
from tests.attacks import Attack, attacks, default_context
from tests.attacks.cells import process_name
from tests.attacks.corpus import SOLUTION, TEMPLATE, write_notebook

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = json.loads((ROOT / "autograder" / "results.schema.json").read_text())
CHANNEL_KEY = 0x4E4D5431
BY_NAME = {a.name: a for a in attacks()}


def _param(attack: Attack):
    marks = [pytest.mark.needs_root] if attack.expected.needs_root else []
    return pytest.param(attack, id=attack.name, marks=marks)


# --- what every grading of the corpus shares ------------------------------------------------------


@pytest.fixture(scope="module")
def private_tmp(tmp_path_factory):
    """The graders' temporary folder for this module: a workspace left behind would show."""
    tmp_path_factory.getbasetemp()  # pytest's own folder stays outside (this one is removed)
    folder = Path(tempfile.mkdtemp(prefix="nmt-attacks-"))
    folder.chmod(0o755)
    saved, tempfile.tempdir = tempfile.tempdir, str(folder)
    yield folder
    tempfile.tempdir = saved
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def context():
    return default_context()


@pytest.fixture(scope="module")
def planted(context):
    """World-readable files where a hostile child would look: another checkout's goldens,
    another student's results, feedback and notebook, course files in /opt, /srv and /home."""
    tag = context.planted
    roots = [Path("/var/tmp", tag)]
    if os.geteuid() == 0:
        roots += [Path("/opt", tag), Path("/srv", tag), Path("/home", tag)]
    for root in roots:
        root.mkdir(mode=0o755, parents=True, exist_ok=True)
        (root / "course-notes.txt").write_text(f"{tag}: the answers are in the goldens")
    goldens = roots[0] / "checkout" / "autograder" / "goldens"
    shutil.copytree(GOLDENS_DIR, goldens)
    alice = roots[0] / "batch" / "alice"
    alice.mkdir(parents=True)
    (alice / "results.json").write_text(json.dumps({"score": 25, "output": tag}))
    (alice / "feedback.md").write_text(f"# alice\n{tag}\n")
    (alice / "alice.ipynb").write_text(json.dumps({"cells": [], "note": tag}))
    for root in roots:
        for path in [root, *root.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
    yield roots
    for root in roots:
        shutil.rmtree(root, ignore_errors=True)


def _golden_numbers() -> set[str]:
    """Full-precision answers of the goldens (facts, expected outputs and the mutants')."""
    numbers: set[str] = set()

    def walk(value: object, secret: bool) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                walk(item, secret or key in ("facts", "expected", "mutants"))
        elif isinstance(value, list):
            for item in value:
                walk(item, secret)
        elif secret and isinstance(value, float) and math.isfinite(value):
            numbers.add(repr(value))

    for path in GOLDENS_DIR.glob("*.json"):
        walk(json.loads(path.read_text()), False)
    for path in GOLDENS_DIR.glob("*.npz"):
        with np.load(path, allow_pickle=False) as data:
            for key in data.files:
                if key.startswith(("expected.", "mutant.")) and data[key].dtype.kind == "f":
                    numbers |= {repr(float(x)) for x in data[key].ravel()[:3]}
    return {n for n in numbers if len(n) >= 12}


def _reference_lines() -> set[str]:
    """Lines of the reference solution that the student's own notebook does not hold."""
    notebooks = SOLUTION.read_text() + TEMPLATE.read_text()
    lines = set()
    for path in (ROOT / "reference").rglob("*.py"):
        for line in path.read_text().splitlines():
            line = line.strip()
            if len(line) >= 40 and json.dumps(line)[1:-1] not in notebooks:
                lines.add(line)
    return lines


@pytest.fixture(scope="module")
def secrets(context):
    """What must never reach anything the student sees."""
    return {context.planted, context.channel} | _golden_numbers() | _reference_lines()


@pytest.fixture(scope="module")
def solution(private_tmp):
    """The solution's grade (the honest base of most attacks), graded before the corpus."""
    return grade_submission(SOLUTION)


def honest_score(attack: Attack, solution) -> float:
    """The base's score less the points of the checks the attack forfeits."""
    if attack.base == "template":
        return 0.0
    forfeits = attack.expected.forfeits
    return sum(
        c.score
        for c in solution.checks
        if not any(c.check_id == f or c.check_id.startswith(f) for f in forfeits)
    )


# --- checks on one grading -----------------------------------------------------------------------


def strict_json(payload: bytes) -> dict:
    """Parse as strict JSON: valid UTF-8, and no surrogate escape (``\\ud800``) anywhere."""
    text = payload.decode("utf-8")
    value = json.loads(text)
    assert "\\ud8" not in text.lower() and "\\udc" not in text.lower()
    return value


def grade(attack: Attack, folder: Path, context, launcher=None) -> tuple[object, dict, str]:
    """Build and grade ``attack``; return the report, results.json and everything visible."""
    path = attack.build(folder / "in", context)
    out = folder / "out"
    config = GraderConfig(limits=SandboxLimits(**attack.expected.limits), launcher=launcher)
    report = grade_submission(path, out_dir=out, config=config)
    results = strict_json((out / "results.json").read_bytes())
    jsonschema.validate(results, SCHEMA)
    feedback = (out / "feedback.md").read_bytes().decode("utf-8")
    visible = json.dumps(results, ensure_ascii=False) + "\n" + feedback
    return report, results, visible


def sysv_objects() -> list[tuple[int, int]]:
    """(key, owner uid) of every System V object on the machine."""
    found = []
    for table in ("shm", "msg", "sem"):
        with contextlib.suppress(OSError):
            lines = Path(f"/proc/sysvipc/{table}").read_text().splitlines()
            header = lines[0].split()
            for line in lines[1:]:
                row = dict(zip(header, line.split(), strict=False))
                found.append((int(row["key"]), int(row["uid"])))
    return found


def attack_processes(context) -> list[int]:
    """Processes the attacks of this run named (other runs' leftovers have other names)."""
    found = []
    for name in os.listdir("/proc"):
        with contextlib.suppress(OSError):
            if Path(f"/proc/{name}/comm").read_text().strip() == process_name(context):
                found.append(int(name))
    return found


FIRST_UID, UID_COUNT = SandboxLimits().sandbox_uids
SANDBOX_UIDS = range(FIRST_UID, FIRST_UID + UID_COUNT)
"""The uids the children lease (one each, the first free one first)."""


def keyring_holds_the_channel(uid: int) -> bool:
    """Whether a sandbox user's keyrings hold a key named "nmt-channel" (asked as that user, in
    a forked process)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe
        found = b"?"
        try:
            os.setgid(uid)
            os.setuid(uid)
            libc = ctypes.CDLL(None, use_errno=True)
            libc.syscall.restype = ctypes.c_long
            found = b"1" if libc.syscall(249, b"user", b"nmt-channel", None, 0) > 0 else b"0"
        finally:
            os.write(write_end, found)
            os._exit(0)
    os.close(write_end)
    answer = os.read(read_end, 1)
    os.close(read_end)
    os.waitpid(pid, 0)
    return answer != b"0"


def assert_nothing_left(private_tmp: Path, context) -> None:
    assert list(private_tmp.glob("nmt-sandbox-*")) == []  # the workspace is gone
    assert attack_processes(context) == []
    assert not Path(context.pickle_marker).exists()
    for folder in ("/tmp", "/var/tmp", "/dev/shm"):
        for name in ("nmt-channel", "fill"):
            assert not Path(folder, name).exists(), f"{folder}/{name} was left behind"
    if os.geteuid() == 0:
        objects = sysv_objects()
        assert CHANNEL_KEY not in {key for key, _ in objects}
        assert not {uid for _, uid in objects} & set(SANDBOX_UIDS)
        for uid in SANDBOX_UIDS[:4]:  # the uids a grading here leases first
            assert not keyring_holds_the_channel(uid)


# --- the corpus -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fork_server(private_tmp):
    """A fork server for the corpus's second pass (its children must hold as fresh ones do)."""
    with ForkServer(PROBE_MODULES) as server:
        yield server


@pytest.fixture(params=["fresh", "forked"])
def launcher(request):
    """None (a fresh interpreter per child) or the module's fork server."""
    return request.getfixturevalue("fork_server") if request.param == "forked" else None


@pytest.mark.slow
@pytest.mark.parametrize("attack", [_param(a) for a in attacks()])
def test_an_attack_gains_nothing_sees_nothing_and_leaves_nothing(
    attack, launcher, tmp_path, private_tmp, planted, secrets, solution, context
):
    report, results, visible = grade(attack, tmp_path, context, launcher)
    expected = attack.expected
    assert report.status == expected.status, report.problem
    assert results["score"] == pytest.approx(report.score)
    if report.status == "graded":
        assert f"**{report.score:g} / {report.max_score:g}**" in visible  # feedback agrees
    honest = honest_score(attack, solution)
    if expected.score == "equal":
        assert report.score == pytest.approx(honest)
    else:
        assert report.score <= honest + 1e-9
    leaked = sorted(s for s in secrets if s in visible)
    assert leaked == [], f"secrets reached the student: {leaked[:5]}"
    for words in expected.mentions:
        assert words in visible, f"the student is not told {words!r}"
    assert_nothing_left(private_tmp, context)
    if expected.then is not None:
        follower = BY_NAME[expected.then]
        _, _, seen = grade(follower, tmp_path / "then", context, launcher)
        assert context.channel not in seen, "the next grading picked up what this one left"
        assert_nothing_left(private_tmp, context)


@pytest.mark.slow
def test_the_corpus_through_a_batch_gains_nothing_sees_nothing_and_leaves_nothing(
    tmp_path, monkeypatch, private_tmp, planted, secrets, solution, context
):
    """The batch's own path: pool workers (spawned), their fork servers, the batch's input and
    output folders hidden, the probes' blobs decoded and judged by the driver. Every notebook
    attack of the corpus that runs with the default limits is one student of one class graded
    with two jobs; each ends as it does alone, gains nothing, shows nothing secret (another
    student's channel included: they run side by side) and leaves nothing behind."""
    chosen = [a for a in attacks() if not a.expected.limits]
    if os.geteuid() != 0:
        chosen = [a for a in chosen if not a.expected.needs_root]
    source = tmp_path / "class"
    source.mkdir()
    built = {}
    for attack in chosen:
        path = attack.build(tmp_path / "build" / attack.name, context)
        if path.suffix == ".ipynb":
            shutil.copy(path, source / f"{attack.name}.ipynb")
            built[attack.name] = attack
    assert len(built) >= 20
    monkeypatch.setenv("TMPDIR", str(private_tmp))  # the spawned workers' temporary folder
    out = tmp_path / "out"
    summary = run_batch(BatchOptions(source=source, out=out, jobs=2, progress=False))
    assert summary.statuses.get("error", 0) == 0 and summary.probed == len(built)
    for name, attack in built.items():
        results = strict_json((out / name / "results.json").read_bytes())
        jsonschema.validate(results, SCHEMA)
        visible = json.dumps(results, ensure_ascii=False) + "\n"
        visible += (out / name / "feedback.md").read_bytes().decode("utf-8")
        assert results["extra_data"]["status"] == attack.expected.status, name
        honest = honest_score(attack, solution)
        if attack.expected.score == "equal":
            assert results["score"] == pytest.approx(honest), name
        else:
            assert results["score"] <= honest + 1e-9, name
        leaked = sorted(s for s in secrets if s in visible)
        assert leaked == [], f"{name}: secrets reached the student: {leaked[:5]}"
    assert_nothing_left(private_tmp, context)


@pytest.mark.slow
def test_the_next_submission_after_the_corpus_is_graded_as_before(private_tmp, solution):
    again = grade_submission(SOLUTION)
    assert [(c.check_id, c.score) for c in again.checks] == [
        (c.check_id, c.score) for c in solution.checks
    ]
    assert list(private_tmp.glob("nmt-sandbox-*")) == []


def test_the_corpus_is_reusable(tmp_path):
    """The corpus as a folder of notebooks, for the benchmark against otter-grader."""
    context = replace(default_context(), planted="nmt-planted-x")
    small = [a for a in attacks() if a.name in ("exit", "deep-json", "odd-file-name")]
    for attack in small:
        path = attack.build(tmp_path / attack.name, context)
        assert path.is_file() and path.parent == tmp_path / attack.name
    exit_notebook = json.loads((tmp_path / "exit" / "exit.ipynb").read_text())
    assert exit_notebook["metadata"]["attack"]["base"] == "solution"
    assert len({a.name for a in attacks()}) == len(attacks())


# --- the parent's work on a notebook is bounded ---------------------------------------------------


LIMITS = ExtractLimits(isolated=False)


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("x = a" + ".b" * 600 + "()\ndef f():\n    return x\n", "too deep to grade"),
        ("def f():\n    return " + "-" * 500 + "1\n", "too deep to grade"),
        ("if a:\n    pass\n" + "elif a:\n    pass\n" * 300, "too deep to grade"),
        ("x = a" + ".b" * 50_000 + "\n", "recursion"),
        ("x = " + "not " * 50_000 + "a\n", ""),
        ("_big = '" + "x" * 250_000 + "'\n", "too long to grade"),
    ],
    ids=["attribute-call", "unary", "elif", "attribute-50000", "not-50000", "long-cell"],
)
def test_pathological_cells_are_left_out_and_the_rest_is_kept(code, message):
    module = extract_source([SourceCell(0, code), SourceCell(1, "def g():\n    return 1\n")])
    assert list(module.definitions) == ["g"]
    assert [b.cell_index for b in module.broken_cells] == [0]
    assert message in module.broken_cells[0].message


def test_long_chains_of_globals_are_kept_in_linear_time():
    n = 20_000
    lines = ["g0 = 1"] + [f"g{i} = g{i - 1} + 1" for i in range(1, n)]
    cells = [SourceCell(k, "\n".join(lines[j : j + 2000])) for k, j in enumerate(range(0, n, 2000))]
    cells.append(SourceCell(len(cells), f"def f():\n    return g{n - 1}\n"))
    module = extract_source(cells)  # was quadratic in passes: 2000 took 66 s
    assert len(re.findall(r"^g\d+ = ", module.source, re.MULTILINE)) == n
    assert module.broken_cells == () and "f" in module.definitions


def test_the_whole_code_has_a_cap():
    limits = replace(LIMITS, max_code_chars=1000)
    cells = [SourceCell(n, f"def f{n}():\n    return '{'x' * 300}'\n") for n in range(5)]
    module = extract_source(cells, limits=limits)
    assert sorted(module.definitions) == ["f0", "f1", "f2"]
    assert {b.cell_index for b in module.broken_cells} == {3, 4}


def test_a_notebook_over_the_size_limit_is_refused_before_reading(tmp_path):
    path = tmp_path / "big.ipynb"
    with open(path, "wb") as f:
        f.truncate(100 << 20)  # sparse: costs nothing to make, would cost 100 MB to read
    with pytest.raises(ExtractError, match="too large to grade") as caught:
        extract_submission(path)
    assert caught.value.kind == "too_large"


def test_extraction_that_runs_out_of_time_or_memory_is_an_unreadable_notebook(tmp_path):
    path = write_notebook(tmp_path / "nb.ipynb", "solution", [], "")
    with pytest.raises(ExtractError, match="took more than 0.01 s") as caught:
        extract_submission(path, limits=ExtractLimits(timeout_s=0.01))
    assert caught.value.kind == "too_complex"
    with pytest.raises(ExtractError, match="within the grader's limits"):
        extract_submission(path, limits=ExtractLimits(memory_mb=40))
    module = extract_submission(path)  # and within the limits, the same module as in-process
    assert module == extract_submission(path, limits=LIMITS)


def test_deeply_nested_notebook_json_is_unreadable(tmp_path):
    path = tmp_path / "deep.ipynb"
    path.write_text('{"nbformat": 4, "cells": ' + "[" * 100_000 + "]" * 100_000 + "}")
    for limits in (LIMITS, ExtractLimits()):
        with pytest.raises(ExtractError, match="nested too deeply"):
            extract_submission(path, limits=limits)


def test_lone_surrogates_in_a_notebook_become_replacement_characters(tmp_path):
    path = write_notebook(
        tmp_path / "nb.ipynb", "template", ['def f():\n    return "\ud800"\n'], ""
    )
    module = extract_submission(path)
    assert "\ufffd" in module.source and "\ud800" not in module.source
    module.source.encode("utf-8")  # writable as the child's submission.py


# --- the parent's reading of the child's files is bounded -----------------------------------------


def _record(folder: Path, record: bytes, arrays: dict[str, bytes] | None = None) -> int:
    (folder / "0.json").write_bytes(record)
    for name, payload in (arrays or {}).items():
        (folder / f"0.{name}.npy").write_bytes(payload)
    return os.open(folder, os.O_RDONLY | os.O_DIRECTORY)


def _read(fd: int, **caps):
    caps = {"max_json_bytes": 1 << 20, "max_array_bytes": 1 << 20, "owner": None, **caps}
    try:
        return read_result(fd, 0, **caps)
    finally:
        os.close(fd)


def test_records_with_lone_surrogates_are_made_valid(tmp_path):
    record = {
        "status": "error",
        "data": {"\ud800key": ["\udcff"]},
        "arrays": [],
        "error": {"type": "Value\ud800Error", "message": "lone \udfff", "lineno": None},
    }
    payload = json.dumps(record, ensure_ascii=True).encode()
    assert b"\\ud800" in payload
    parsed, _ = _read(_record(tmp_path, payload))
    text = json.dumps(parsed, ensure_ascii=False)
    text.encode("utf-8")  # valid
    assert "\ufffd" in parsed["error"]["message"] and "\ufffd" in parsed["error"]["type"]
    assert encode_json({"text": "a \ud800 b"}) == '{"text": "a \ufffd b"}'.encode()


def test_a_sparse_array_file_is_refused_before_it_is_read(tmp_path):
    record = b'{"status": "ok", "data": {}, "arrays": ["x"], "error": null}'
    fd = _record(tmp_path, record)
    with open(tmp_path / "0.x.npy", "wb") as f:
        f.truncate(8 << 30)  # 8 GB on paper, nothing on disk
    with pytest.raises(TransportError, match="more than"):
        _read(fd)


def test_the_arrays_of_a_record_have_a_cap_together(tmp_path):
    payload = _npy(np.zeros(100_000))  # 800 KB each, under the per-array cap
    names = ["a", "b", "c"]
    record = json.dumps({"status": "ok", "data": {}, "arrays": names, "error": None}).encode()
    fd = _record(tmp_path, record, dict.fromkeys(names, payload))
    with pytest.raises(TransportError, match="more than"):
        _read(fd, max_record_bytes=2 * len(payload))


def _npy(array: np.ndarray) -> bytes:
    import io

    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def test_keyring_calls_fail_in_the_child_filter():
    """The seccomp program denies the three keyring calls with EPERM and allows the rest (run
    in a forked process, which installs it and exits)."""
    from autograder.child import confine

    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe
        status = 1
        try:
            ctypes.CDLL(None).prctl(38, 1, 0, 0, 0)  # no_new_privs
            confine.deny_keyrings()
            libc = ctypes.CDLL(None, use_errno=True)
            libc.syscall.restype = ctypes.c_long
            number = confine.KEYCTL[os.uname().machine]
            denied = libc.syscall(number, 0, -3) == -1 and ctypes.get_errno() == errno.EPERM
            allowed = os.getpid() > 0 and os.listdir("/") != []
            status = 0 if denied and allowed else 2
        finally:
            os.write(write_end, bytes([status]))
            os._exit(0)
    os.close(write_end)
    outcome = os.read(read_end, 1)
    os.waitpid(pid, 0)
    assert outcome == b"\x00"
