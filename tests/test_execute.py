"""``--execute``: the submitted notebook run top to bottom with papermill in the sandbox.

Fast tests cover the settings, the parent's reading of an answer (nbformat, nothing run), the
losses and figures, the report's words, the cache keys and the class report. Slow tests run
real kernels in the sandbox: the solution in the smoke profile (shared by a module fixture:
30-75 s on this machine), small notebooks that fail, loop, kill their kernel, and look for the
network and for secrets (as root, in the sandbox's namespaces), a batch and a Ray batch.
"""

from __future__ import annotations

import json
import os
import shutil
import site
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import jsonschema
import nbformat
import numpy as np
import pytest

from autograder.batch import BatchOptions, run_batch
from autograder.batch.cache import DATA_FILES, PACKAGE, probe_key
from autograder.child.probes import execute as child
from autograder.child.view import SYSTEM_PATHS
from autograder.classreport import record_from_results
from autograder.classreport.execution import execution_rows, loss_stats
from autograder.config import GraderConfig
from autograder.engine import grade_submission
from autograder.execution import ExecuteSettings, Execution, ExecutionEnd, LossReading, Verdict
from autograder.execution import run as execution_run
from autograder.execution.losses import PATTERNS, calibration, read_loss, read_losses
from autograder.execution.read import EXPECTED_FIGURES, read_execution, submitted_index
from autograder.goldens import GOLDENS_DIR
from autograder.outcome import GradingReport
from autograder.report import describe_execution, render_feedback, render_gradescope
from autograder.sandbox import ErrorKind, ProbeError, ProbeResult, SandboxLimits

ROOT = Path(__file__).resolve().parents[1]
SOLUTION = ROOT / "fixtures" / "submissions" / "solution.ipynb"
TEMPLATE = ROOT / "autograder" / "notebook" / "template"
SCHEMA = ROOT / "autograder" / "results.schema.json"
PARAMETERS = (
    'PROFILE = "full"\nDEVICE = "auto"\nDATA_DIR = None\nDOWNLOAD = True\n'
    'RUN_CHECKS = True\nNOTEBOOK_PATH = "nmt.ipynb"\n'
)
RUN_KEYS = {
    *(f"encdec/hidden{h}_{d}" for d in ("small", "large") for h in (16, 32)),
    "decoder/hidden128_small",
    *(f"heads/hidden{h}_heads{n}" for h, n in ((32, 1), (32, 2), (32, 4), (64, 1), (128, 1))),
    *(f"scaling/hidden{h}" for h in (16, 24, 32, 48, 64, 96, 128)),
}
"""Every run the solution's smoke profile prints."""
needs_root = pytest.mark.needs_root


def notebook(*sources: str, tagged: bool = True) -> bytes:
    """A small notebook: the template's parameters cell (tagged), then ``sources``."""
    parameters = nbformat.v4.new_code_cell(PARAMETERS)
    if tagged:
        parameters.metadata["tags"] = ["parameters"]
    cells = [parameters, *(nbformat.v4.new_code_cell(s) for s in sources)]
    kernel = {"name": "python3", "language": "python", "display_name": "Python 3"}
    nb = nbformat.v4.new_notebook(cells=cells, metadata={"kernelspec": kernel})
    return nbformat.writes(nb).encode()


def execute_small(data: bytes, **settings) -> tuple[ProbeResult, Execution]:
    """Run a small notebook in the sandbox as ``--execute`` does; the answer and its reading."""
    chosen = ExecuteSettings(**{"budget_s": 90.0, "cell_timeout_s": 60.0, **settings})
    result = execution_run.run_execution(data, chosen, GraderConfig())
    return result, read_execution(result, chosen)


def printed(result: ProbeResult) -> str:
    """Everything the executed notebook's cells printed on stdout."""
    array = result.arrays["notebook"]
    nb = nbformat.reads(array.tobytes().decode(), as_version=4)
    return "".join(
        o.get("text", "")
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.outputs
        if o.get("output_type") == "stream"
    )


# --- settings and the command line -------------------------------------------------------------


def test_settings_take_their_profile_defaults_and_refuse_nonsense():
    smoke, full = ExecuteSettings(), ExecuteSettings(profile="full")
    assert smoke.budget < full.budget and smoke.cell_timeout < full.cell_timeout
    assert ExecuteSettings(budget_s=5).budget == 5
    assert smoke.key()["budget_s"] == smoke.budget
    for bad in ({"profile": "huge"}, {"device": "tpu"}, {"budget_s": 0}, {"gpu_share": 2}):
        with pytest.raises(ValueError):
            ExecuteSettings(**bad)


def test_the_command_line_builds_the_settings():
    from autograder.cli import _execute, build_parser

    args = build_parser().parse_args(
        ["grade", "x.ipynb", "--execute", "--profile", "full", "--device", "cpu"]
        + ["--cell-timeout", "7", "--execute-budget", "70", "--execute-memory", "3000"]
    )
    assert _execute(args) == ExecuteSettings("full", "cpu", 7.0, 70.0, 3000)
    assert _execute(build_parser().parse_args(["grade", "x.ipynb"])) is None
    batch = build_parser().parse_args(["batch", "in", "--execute", "--device", "cuda"])
    assert _execute(batch).gpu


def test_the_parameters_are_the_templates_with_downloads_and_checks_off():
    setup = (TEMPLATE / "00_setup.py").read_text()
    cell = setup.split("# %% [parameters]")[1].split("# %%")[0]
    names = {line.split(" = ")[0] for line in cell.splitlines() if " = " in line}
    sent = execution_run.parameters(ExecuteSettings(), "/data")
    assert set(sent) == names
    assert sent["DOWNLOAD"] is False and sent["RUN_CHECKS"] is False
    assert sent["DATA_DIR"] == "/data" and sent["NOTEBOOK_PATH"] == child.NOTEBOOK_NAME


def test_every_expected_figure_is_saved_by_the_template():
    template = "".join(p.read_text() for p in sorted(TEMPLATE.glob("*.py")))
    for name in EXPECTED_FIGURES:
        assert f'"{name}"' in template, name


def test_the_execution_limits_show_the_data_and_fit_the_budget():
    settings = ExecuteSettings(budget_s=100, memory_mb=3000)
    limits = execution_run.execution_limits(SandboxLimits(), settings, "/data")
    assert limits.read_only_paths == ("/data",) and limits.memory_mb == 3000
    assert limits.total_budget_s >= 100 + execution_run.GRACE_S
    assert limits.cpu_seconds > 100
    no_data = execution_run.execution_limits(SandboxLimits(), settings, None)
    assert no_data.read_only_paths == ()


@pytest.mark.parametrize(("device", "shown"), [("cpu", False), ("auto", True), ("cuda", True)])
def test_the_machines_gpu_is_shown_unless_the_device_is_cpu(monkeypatch, device, shown):
    gpu = ("/dev/nvidia0", "/dev/nvidiactl")
    monkeypatch.setattr(execution_run, "gpu_devices", lambda: gpu)
    settings = ExecuteSettings(device=device)
    limits = execution_run.execution_limits(SandboxLimits(), settings, None)
    assert limits.devices == (gpu if shown else ())


@pytest.mark.parametrize(("device", "fraction"), [("cpu", None), ("auto", 0.25), ("cuda", 0.25)])
def test_the_gpu_memory_cap_goes_with_every_device_that_may_use_a_gpu(device, fraction):
    call = execution_run.execution_call(b"{}", ExecuteSettings(device=device), None)
    assert call.kwargs["gpu_memory_fraction"] == fraction


def test_an_explicit_data_dir_must_hold_the_course_files(tmp_path):
    with pytest.raises(ValueError, match="does not hold"):
        execution_run.find_data_dir(str(tmp_path))
    for name in execution_run.DATA_FILES:
        (tmp_path / name).write_text("a away\n")
    assert execution_run.find_data_dir(str(tmp_path)) == str(tmp_path.resolve())


# --- the printed losses -------------------------------------------------------------------------

LINES = [
    "hidden 16, small dataset: lowest validation loss 2.9132 (epoch 2 of 2), word accuracy 0.0%",
    "decoder-only, hidden 128: lowest validation loss 2.0627 (epoch 2 of 2)  [smoke profile]",
    "hidden 32, 2 head(s): 30,366 parameters, lowest validation loss 2.5947",
    "hidden 16: 5,342 parameters, 42 epochs, 1.37e+10 FLOPs, final validation loss nan",
]


def test_each_experiments_line_is_read_with_its_run():
    keys = [read_loss(line)[0] for line in LINES]
    assert keys == ["encdec/hidden16_small", "decoder/hidden128_small"] + [
        "heads/hidden32_heads2",
        "scaling/hidden16",
    ]
    assert read_loss(LINES[0])[2] == 2.9132
    assert read_loss("hidden 16: lowest validation loss 1.0") is None
    assert read_loss(LINES[0] + " " * 500) is None  # not the template's line


def test_the_last_print_of_a_run_wins_and_nan_is_above_any_range():
    lines = [*LINES, LINES[0].replace("2.9132", "1.5000")]
    readings = {r.experiment: r for r in read_losses(lines, profile="nope", source="official")}
    assert readings["encdec/hidden16_small"].value == 1.5
    assert all(r.verdict is Verdict.UNCALIBRATED for r in readings.values())
    assert LossReading("x", "x", float("nan"), 1.0, 2.0).verdict is Verdict.ABOVE
    assert LossReading("x", "x", 0.5, 1.0, 2.0).verdict is Verdict.BELOW
    assert LossReading("x", "x", 1.5, 1.0, 2.0).verdict is Verdict.WITHIN


def test_the_calibration_has_every_run_of_the_smoke_profile_on_both_data_sources():
    ranges = calibration()["smoke"]
    for source in ("official", "offline"):
        assert set(ranges[source]) == RUN_KEYS
        for found in ranges[source].values():
            assert found["low"] <= found["high"] and found["seeds"] >= 3
    assert {p.experiment for p in PATTERNS} == {key.split("/")[0] for key in RUN_KEYS}


# --- the parent's reading of an answer ------------------------------------------------------------


def executed(error_at: int | None = None) -> bytes:
    """An executed notebook as the probe returns it: markdown, parameters, the injected cell,
    three code cells, the last one (or ``error_at``) with an error output."""
    cells = [nbformat.v4.new_markdown_cell("# title"), nbformat.v4.new_code_cell(PARAMETERS)]
    injected = nbformat.v4.new_code_cell('PROFILE = "smoke"')
    injected.metadata["tags"] = ["injected-parameters"]
    cells.append(injected)
    text = "small: 384 training and 96 validation pairs, from /data/pig_latin_small.txt\n"
    for index in range(3):
        cell = nbformat.v4.new_code_cell(f"step({index})", execution_count=index + 1)
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=text + LINES[index])]
        cells.append(cell)
    if error_at is not None:
        error = nbformat.v4.new_output("error", ename="ValueError", evalue="boom", traceback=[])
        cells[error_at].outputs.append(error)
    return nbformat.writes(nbformat.v4.new_notebook(cells=cells)).encode()


def answer(data: dict, nb: bytes | None, status: str = "ok", error=None) -> ProbeResult:
    arrays = {"notebook": np.frombuffer(nb, dtype=np.uint8)} if nb is not None else {}
    return ProbeResult("execute", "execute", status, data, arrays, error, 12.0)


def test_cells_are_numbered_as_in_the_submitted_notebook():
    assert submitted_index(1, 2) == 1  # before the injected cell
    assert submitted_index(2, 2) is None  # the injected cell itself
    assert submitted_index(4, 2) == 3
    assert submitted_index(4, None) == 4


def test_a_cell_error_is_read_from_the_notebook_with_its_cell():
    data = {"stopped": "error", "cell": 4, "ename": "X", "evalue": "y", "figures": []}
    e = read_execution(answer(data, executed(error_at=4)), ExecuteSettings())
    assert (e.end, e.cell, e.ename, e.evalue) == (ExecutionEnd.CELL_ERROR, 3, "ValueError", "boom")
    assert (e.cells_run, e.code_cells) == (3, 4)
    assert e.data_source == "official"
    assert [r.experiment for r in e.losses] == [read_loss(line)[0] for line in LINES[:3]]
    assert e.missing_figures == EXPECTED_FIGURES


def test_a_dead_kernel_a_timeout_and_the_figures_come_from_the_probes_data():
    figures = [[name, 100] for name in EXPECTED_FIGURES[:5]] + [["empty.png", 0], "junk"]
    data = {"stopped": "dead_kernel", "cell": 5, "exit": -9, "signal": "SIGKILL"}
    e = read_execution(answer({**data, "figures": figures}, executed()), ExecuteSettings())
    assert (e.end, e.cell, e.exit_status, e.exit_signal) == (
        ExecutionEnd.DEAD_KERNEL,
        4,
        -9,
        "SIGKILL",
    )
    assert e.missing_figures == EXPECTED_FIGURES[5:]
    assert "SIGKILL, most likely for using too much memory" in describe_execution(e)[2]
    data = {"stopped": "budget", "cell": 3, "seconds": "a lie", "cells_run": "many"}
    e = read_execution(answer(data, executed()), ExecuteSettings(budget_s=50))
    assert (e.end, e.cell, e.seconds) == (ExecutionEnd.BUDGET, 2, 12.0)
    assert "the run's 50 s ran out" in describe_execution(e)[2]


def test_an_answer_without_a_notebook_is_still_read():
    timeout = ProbeError("Timeout", "timed out after 630 s", None, ErrorKind.TIMEOUT)
    e = read_execution(answer({}, None, "timeout", timeout), ExecuteSettings())
    assert e.end is ExecutionEnd.SANDBOX and "630 s" in e.message
    broken = ProbeError("ContractError", "the notebook cannot be read", None, ErrorKind.CONTRACT)
    e = read_execution(answer({}, None, "error", broken), ExecuteSettings())
    assert e.end is ExecutionEnd.UNREADABLE
    e = read_execution(answer({"stopped": None}, b"\xff not json"), ExecuteSettings())
    assert e.end is ExecutionEnd.COMPLETED and e.losses == () and e.code_cells == 0


def test_student_text_stays_inert_in_the_feedback_and_valid_in_results_json():
    data = {"stopped": "error", "cell": 4, "figures": [["[x](javascript:y).png", 5]]}
    nb = executed(error_at=4).replace(b'"boom"', b'"`**bold**` <b>hi</b>\\n# heading"')
    report = GradingReport(submission="s.ipynb")
    report.execution = read_execution(answer(data, nb), ExecuteSettings())
    feedback = render_feedback(report)
    assert "## Notebook execution (no points)" in feedback
    assert "\n# heading" not in feedback and "``" in feedback
    results = render_gradescope(report)
    jsonschema.validate(results, json.loads(SCHEMA.read_text()))
    assert results["extra_data"]["execution"]["cell"] == 3
    json.dumps(results, allow_nan=False)


# --- the child's helpers ----------------------------------------------------------------------


def test_parameters_go_after_the_tagged_cell_or_an_untagged_one_that_assigns_them(tmp_path):
    for tagged, found in ((True, "tag"), (False, "assignment")):
        path = tmp_path / f"{tagged}.ipynb"
        path.write_bytes(notebook("print(PROFILE)", tagged=tagged))
        nb, where = child.inject_parameters(child.read_notebook(path), {"PROFILE": "smoke"})
        assert where == found
        assert "injected-parameters" in nb.cells[1].metadata.tags
    path.write_bytes(notebook("x = 1", tagged=False).replace(b"PROFILE = ", b"PROFILES = "))
    nb, where = child.inject_parameters(child.read_notebook(path), {"PROFILE": "smoke"})
    assert where == "none" and "injected-parameters" in nb.cells[0].metadata.tags


def test_the_executed_notebook_is_cut_to_its_cap():
    nb = nbformat.reads(executed(), as_version=4)
    image = nbformat.v4.new_output("display_data", data={"image/png": "A" * 50_000})
    nb.cells[3].outputs.append(image)
    text, dropped = child.encode_notebook(nb, 30_000)
    assert dropped == "images" and len(text) <= 30_000
    text, dropped = child.encode_notebook(nb, 2_000)
    assert dropped == "outputs" and len(text) <= 2_000


def test_the_kernels_startup_file_compiles():
    compile(child.startup_code(False, None, "/lib"), "startup", "exec")
    compile(child.startup_code(True, 0.25, "/lib"), "startup", "exec")
    assert "set_per_process_memory_fraction(0.25" in child.startup_code(True, 0.25, "/lib")


# --- the batch's cache and the class report -------------------------------------------------------


def test_the_probe_key_holds_the_execute_settings():
    base = {"content": "c", "name": "n", "goldens": "g", "cases": {"a"}, "limits": SandboxLimits()}
    plain = probe_key(**base)
    smoke = probe_key(**base, execute=ExecuteSettings().key())
    full = probe_key(**base, execute=ExecuteSettings(profile="full").key())
    assert len({plain, smoke, full}) == 3
    assert plain == probe_key(**base, execute=None)
    assert all((PACKAGE / name).is_file() for name in DATA_FILES)  # hashed into the keys


def test_the_class_report_lists_each_execution(tmp_path):
    from autograder.classreport import write_class_report

    data = {"stopped": "error", "cell": 4, "figures": []}
    report = GradingReport(submission="s.ipynb")
    report.execution = read_execution(answer(data, executed(error_at=4)), ExecuteSettings())
    results = json.loads(json.dumps(render_gradescope(report)))
    results["extra_data"]["execution"]["evalue"] = "<script>x</script>"
    record = record_from_results(results, student_id="s1", feedback_path="s1/feedback.md")
    [row] = execution_rows([record])
    assert (row.end, row.figures, row.completed) == ("error", "0/7", False)
    assert row.detail == "cell 4: ValueError: <script>x</script>"
    assert {s.experiment for s in loss_stats([record])} == {
        r.experiment for r in report.execution.losses
    }
    page = write_class_report([record], tmp_path).html.read_text()
    assert 'id="execution"' in page and "<script>x" not in page
    plain = record_from_results({"tests": []}, student_id="s2", feedback_path=None)
    empty = write_class_report([plain], tmp_path / "b").html.read_text()
    assert 'id="execution"' not in empty


# --- real kernels in the sandbox ----------------------------------------------------------------


@pytest.fixture(scope="module")
def solution(tmp_path_factory):
    """The solution graded with ``--execute`` in the smoke profile."""
    out = tmp_path_factory.mktemp("solution")
    report = grade_submission(SOLUTION, out_dir=out, execute=ExecuteSettings())
    return report, out


@pytest.mark.slow
def test_the_solution_runs_clean_with_every_figure_and_every_loss_in_range(solution):
    report, out = solution
    e = report.execution
    assert e.end is ExecutionEnd.COMPLETED, describe_execution(e)
    assert e.cell is None and e.cells_run == e.code_cells > 30
    assert e.missing_figures == () and e.parameters_cell == "tag"
    assert {r.experiment for r in e.losses} == RUN_KEYS
    assert all(r.verdict is Verdict.WITHIN for r in e.losses), [
        (r.experiment, r.value, r.low, r.high) for r in e.losses if r.verdict is not Verdict.WITHIN
    ]
    assert report.score == report.max_score  # the checks are graded as without --execute
    results = json.loads((out / "results.json").read_text())
    jsonschema.validate(results, json.loads(SCHEMA.read_text()))
    assert results["extra_data"]["execution"]["end"] == "completed"
    assert "**Every cell ran**" in (out / "feedback.md").read_text()


@pytest.mark.slow
def test_a_notebook_that_loops_forever_stops_at_the_budget_and_the_grade_stands(tmp_path):
    nb = nbformat.read(SOLUTION, as_version=4)
    where = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    nb.cells.insert(where + 1, nbformat.v4.new_code_cell("while True:\n    pass"))
    path = tmp_path / "loops.ipynb"
    nbformat.write(nb, path)
    settings = ExecuteSettings(budget_s=25.0)
    report = grade_submission(path, out_dir=tmp_path / "out", execute=settings)
    assert report.score == report.max_score
    e = report.execution
    assert (e.end, e.cell) == (ExecutionEnd.BUDGET, where + 1), describe_execution(e)
    assert e.seconds < settings.budget + execution_run.GRACE_S


@pytest.mark.slow
def test_a_failing_cell_is_named_and_the_cells_after_it_do_not_run():
    data = notebook("x = 1", "print('before')", "raise ValueError('boom')", "print('after')")
    result, e = execute_small(data)
    assert (e.end, e.cell, e.ename, e.evalue) == (ExecutionEnd.CELL_ERROR, 3, "ValueError", "boom")
    assert (e.cells_run, e.code_cells) == (4, 5)  # the parameters cell, x, print, raise
    assert "before" in printed(result) and "after" not in printed(result)
    assert "**Stopped at cell 4**" in describe_execution(e)[2]


@pytest.mark.slow
def test_a_cell_past_its_timeout_is_named():
    _, e = execute_small(notebook("import time", "time.sleep(600)"), cell_timeout_s=5.0)
    assert (e.end, e.cell) == (ExecutionEnd.CELL_TIMEOUT, 2), describe_execution(e)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("code", "status", "signal"),
    [("os._exit(3)", 3, None), ("os.kill(os.getpid(), signal.SIGKILL)", -9, "SIGKILL")],
)
def test_a_kernel_killed_mid_cell_is_recorded_with_its_cell(code, status, signal):
    source = f"import os, signal, time\nprint('started', flush=True)\ntime.sleep(0.5)\n{code}"
    result, e = execute_small(notebook("print(1)", source, "print('never')"))
    assert (e.end, e.cell) == (ExecutionEnd.DEAD_KERNEL, 2), describe_execution(e)
    assert (e.exit_status, e.exit_signal) == (status, signal)
    assert "never" not in printed(result)


@pytest.mark.slow
def test_the_kernel_sees_the_grader_as_cpu_code_written_for_a_gpu_still_runs():
    code = "import torch\nx = torch.zeros(2).cuda() + torch.ones(2, device='cuda')\nprint(x.sum())"
    result, e = execute_small(notebook(code), device="auto")
    assert e.end is ExecutionEnd.COMPLETED and e.gpu is False, describe_execution(e)
    assert "tensor(2.)" in printed(result)


@needs_root
@pytest.mark.slow
def test_a_run_the_sandbox_stops_leaves_no_process_behind(monkeypatch):
    token = f"nmt-execute-leftover-{os.getpid()}"
    code = (
        "import subprocess, sys, time\n"
        f"subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)', {token!r}])\n"
        "time.sleep(300)"
    )
    monkeypatch.setattr(execution_run, "GRACE_S", -80.0)  # the sandbox stops it after 10 s
    result, e = execute_small(notebook(code), budget_s=90.0, cell_timeout_s=90.0)
    assert result.status == "timeout" and e.end is ExecutionEnd.SANDBOX, describe_execution(e)
    leftovers = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if token.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                leftovers.append(pid)
        except OSError:
            continue
    assert leftovers == []


PLANTED = "nmt-execute-planted-" + "5ec12e7"
"""Written into every planted file; the walk looks for it (sent in hex)."""
WALK = """
import json, os, socket
found = {"outside": [], "planted": [], "connect": {}, "imports": {}, "seen": 0}
allowed, unread, marker = ALLOWED, UNREAD, bytes.fromhex(MARKER)
under = lambda p, roots: any(p == r or p.startswith(r.rstrip("/") + "/") for r in roots)
for target in (("127.0.0.1", 22), ("1.1.1.1", 53), ("10.0.0.1", 80)):
    try:
        socket.create_connection(target, timeout=3).close()
        found["connect"][target[0]] = "connected"
    except OSError as error:
        found["connect"][target[0]] = type(error).__name__
for name in ("autograder.checks", "autograder.goldens", "reference"):
    try:
        __import__(name)
        found["imports"][name] = "imported"
    except ImportError:
        found["imports"][name] = "ImportError"
found["goldens"] = os.path.exists(GOLDENS)
found["env"] = sorted(os.environ)
for folder, dirs, files in os.walk("/"):
    if folder.startswith(("/proc", "/sys", "/dev")):
        dirs[:] = []
        continue
    for name in files + [d for d in dirs if os.path.islink(os.path.join(folder, d))]:
        path = os.path.join(folder, name)
        found["seen"] += 1
        if not under(path, allowed) and len(found["outside"]) < 200:
            found["outside"].append(path)
        if under(path, unread) or os.path.islink(path):
            continue
        try:
            with open(path, "rb") as handle:
                if marker in handle.read(4096):
                    found["planted"].append(path)
        except OSError:
            pass
print("RESULT " + json.dumps(found))
"""


@pytest.fixture
def planted():
    """World-readable files where a notebook would look for other students' work."""
    tag = f"nmt-execute-planted-{os.getpid()}"
    roots = [Path(p, tag) for p in ("/var/tmp", "/opt", "/home", "/srv", tempfile.gettempdir())]
    for root in roots:
        root.mkdir(mode=0o755, parents=True)
        (root / "notes.txt").write_text(PLANTED)
        (root / "notes.txt").chmod(0o644)
    yield roots
    for root in roots:
        shutil.rmtree(root, ignore_errors=True)


@needs_root
@pytest.mark.slow
def test_the_notebook_sees_no_network_no_secret_and_nothing_beyond_the_allowlist(
    planted, monkeypatch
):
    monkeypatch.setenv("NMT_EXECUTE_TEST_SECRET", "1")
    library = {os.path.realpath(p) for p in [*sys.path, *site.getsitepackages()] if p}
    library = {p for p in library if os.path.isdir(p)} - {str(ROOT), tempfile.gettempdir()}
    system = {os.path.realpath(p) for p in SYSTEM_PATHS if os.path.exists(p)}
    data = execution_run.find_data_dir()
    own = {"/tmp", "/dev", "/proc", "/etc/passwd", "/etc/group", "/etc/hostname"}
    own |= {os.path.realpath(sys.executable), *SYSTEM_PATHS, *([data] if data else [])}
    code = (
        WALK.replace("ALLOWED", repr(sorted(library | system | own)))
        .replace("UNREAD", repr(sorted(library | system)))
        .replace("MARKER", repr(PLANTED.encode().hex()))
        .replace("GOLDENS", repr(str(GOLDENS_DIR)))
    )
    result, e = execute_small(notebook(code), budget_s=240.0, cell_timeout_s=200.0)
    assert e.end is ExecutionEnd.COMPLETED, describe_execution(e)
    found = json.loads(printed(result).split("RESULT ", 1)[1])
    assert "connected" not in found["connect"].values(), found["connect"]
    assert set(found["imports"].values()) == {"ImportError"}, found["imports"]
    assert found["goldens"] is False
    assert "NMT_EXECUTE_TEST_SECRET" not in found["env"]
    assert found["planted"] == [] and found["seen"] > 1000
    assert found["outside"] == [], found["outside"]


@pytest.mark.slow
def test_a_batch_executes_each_notebook_and_caches_by_its_settings(tmp_path):
    source = tmp_path / "in"
    source.mkdir()
    (source / "alice.ipynb").write_bytes(notebook("print('hello')", "raise KeyError('k')"))
    out = tmp_path / "out"
    smoke = ExecuteSettings(budget_s=90.0, cell_timeout_s=60.0)
    options = BatchOptions(source=source, out=out, jobs=1, progress=False, execute=smoke)
    first = run_batch(options)
    results = json.loads((out / "alice" / "results.json").read_text())
    assert results["extra_data"]["execution"]["end"] == "cell_error"
    assert results["extra_data"]["execution"]["cell"] == 2
    assert "## Notebook execution" in (out / "alice" / "feedback.md").read_text()
    assert 'id="execution"' in (out / "report.html").read_text()
    again = run_batch(options)
    other = run_batch(replace(options, execute=replace(smoke, profile="full")))
    assert (first.probed, again.probed, other.probed) == (1, 0, 1)


def test_a_ray_batch_asks_for_a_share_of_a_gpu_only_with_device_cuda(monkeypatch, tmp_path):
    from autograder.batch import driver

    asked = []
    monkeypatch.setattr(driver, "run_ray", lambda jobs, goldens, **kw: asked.append(kw) or iter(()))
    for device, gpus in (("cuda", 0.25), ("auto", 0.0)):
        options = BatchOptions(
            source=tmp_path,
            out=tmp_path / "out",
            ray_address="x",
            execute=ExecuteSettings(device=device),
        )
        d = driver.Driver.__new__(driver.Driver)
        d.options, d.setup = options, type("Setup", (), {"goldens": None})()
        d.executor(iter(()), 1)
        assert asked.pop()["num_gpus"] == gpus


@pytest.fixture(scope="module")
def ray_address():
    """A local Ray with 2 CPUs (the one tests/test_batch_ray.py started, when it is running)."""
    try:
        import ray
    except ImportError:
        if os.environ.get("CI", "").lower() in {"true", "1"}:
            pytest.fail('Ray is missing in CI: .ci/run must install ".[cluster]"')
        pytest.skip('needs Ray: pip install ".[cluster]"')
    if ray.is_initialized():
        yield ray.get_runtime_context().gcs_address
        return
    context = ray.init(
        num_cpus=2, include_dashboard=False, log_to_driver=False, _node_ip_address="127.0.0.1"
    )
    yield context.address_info["address"]
    ray.shutdown()


@pytest.mark.slow
def test_a_ray_batch_executes_the_notebooks_as_tasks(ray_address, tmp_path):
    source = tmp_path / "in"
    source.mkdir()
    (source / "bob.ipynb").write_bytes(notebook("print('hello')"))
    settings = ExecuteSettings(budget_s=90.0, cell_timeout_s=60.0)
    options = BatchOptions(
        source=source, out=tmp_path / "out", ray_address=ray_address, progress=False
    )
    summary = run_batch(replace(options, execute=settings))
    assert summary.probed == 1 and summary.statuses == {"graded": 1}
    results = json.loads((tmp_path / "out" / "bob" / "results.json").read_text())
    assert results["extra_data"]["execution"]["end"] == "completed"
