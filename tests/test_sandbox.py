"""The sandbox: results come back, failures are contained and explained, the child is isolated.

Starting a child costs the import of torch (about 2 s), so the tests share a few runs: each
module-scoped fixture runs many calls at once and each test checks one thing in the results.
Every run that starts children runs twice, once with fresh interpreters and once with children
forked from a warm fork server (``launcher``): the isolation must hold the same either way. The
isolation tests that need root (a user to drop to, namespaces) skip without it; CI and
Gradescope run as root.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import site
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from autograder.child.view import (
    SYSTEM_PATHS,
    is_hidden_package,
    outermost,
    plan_view,
    resolve_links,
)
from autograder.goldens import GOLDENS_DIR
from autograder.sandbox import (
    ErrorKind,
    ForkServer,
    ProbeCall,
    SandboxError,
    SandboxLimits,
    cleanup,
    gpu_devices,
    run_probes,
    users,
)
from autograder.sandbox.cleanup import remove_tree
from autograder.sandbox.transport import TransportError, read_result

TESTING = "tests.sandbox_probes.misbehave"
REPO = Path(__file__).resolve().parent.parent
IS_ROOT = os.geteuid() == 0
needs_root = pytest.mark.needs_root  # skipped without root (tests/conftest.py); fails in CI

STUDENT = """\
import torch
import torch.nn as nn


def add(a, b):
    return a + b


def broken(x):
    y = x + 1
    return y + undefined_name


def chatty(x):
    print("done 0")
    print("start 1\\n{not json")
    import sys
    print("to stderr", file=sys.stderr)
    return x * 3


def on_gpu(x):
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model = nn.Linear(3, 2).cuda()
    model = model.to("cuda")
    model.to(torch.device("cuda:0"))
    t = torch.as_tensor(x).cuda().to("cuda").to(device)
    t = t.to(device="cuda", dtype=torch.float32)
    bias = torch.zeros(2, device="cuda")
    return (model(t) + bias).detach(), str(device), torch.cuda.is_available()
"""


FIRST_UID, UID_COUNT = SandboxLimits().sandbox_uids
SANDBOX_UIDS = range(FIRST_UID, FIRST_UID + UID_COUNT)
"""The uids the children lease."""


@pytest.fixture(scope="module")
def fork_server():
    server = ForkServer([TESTING])
    yield server
    server.close()


@pytest.fixture(scope="module", params=["fresh", "forked"])
def launcher(request):
    """None (a fresh interpreter per child) or the fork server."""
    return request.getfixturevalue("fork_server") if request.param == "forked" else None


def locate(lineno: int) -> str:
    return f"cell 7, line {lineno}"


def by_id(results):
    return {r.id: r for r in results}


# --- one child answers many calls ------------------------------------------------------------


@pytest.fixture(scope="module")
def batch(launcher):
    x = np.arange(6.0).reshape(2, 3)
    calls = [
        ProbeCall("add", "call", "1.1", {"function": "add", "args": [2, 3]}),
        ProbeCall("echo", "echo", "1.1", {"seed": 5}, {"x": x, "mask": x > 2}),
        ProbeCall("echo_again", "echo", "1.1", {"seed": 5}),
        ProbeCall("broken", "call", "1.2", {"function": "broken", "args": [1]}),
        ProbeCall("missing", "call", "1.2", {"function": "no_such_function"}),
        ProbeCall("chatty", "call", "1.3", {"function": "chatty", "args": [2]}),
        ProbeCall("gpu", "call", "1.4", {"function": "on_gpu", "as_tensors": True}, {"x": x}),
        ProbeCall("environ", "environ", "1.5", {}),
        ProbeCall("reference", "import_module", "1.5", {"name": "reference"}),
        ProbeCall("oom_numpy", "allocate", "1.6", {"mb": 4096}),
        ProbeCall("oom_torch", "allocate", "1.6", {"mb": 4096, "library": "torch"}),
        ProbeCall("after_oom", "call", "1.6", {"function": "add", "args": [1, 1]}),
        ProbeCall("pickle", "forge_pickle", "1.9", {"marker": str(MARKER)}),
    ]
    os.environ["NMT_SANDBOX_TEST_SECRET"] = "hunter2"
    try:
        return by_id(
            run_probes(STUDENT, calls, probe_modules=[TESTING], locate=locate, launcher=launcher)
        )
    finally:
        del os.environ["NMT_SANDBOX_TEST_SECRET"]


MARKER = Path(tempfile.gettempdir()) / f"nmt-sandbox-unpickled-{os.getpid()}"


def test_a_good_call_returns_data_and_arrays(batch):
    assert batch["add"].status == "ok" and batch["add"].data == {"result": 5}
    echo = batch["echo"]
    assert echo.status == "ok" and echo.error is None and echo.seconds >= 0
    np.testing.assert_array_equal(echo.arrays["x"], np.arange(6.0).reshape(2, 3) * 2)
    assert echo.arrays["mask"].dtype == np.int64  # bool * 2


def test_calls_are_seeded_and_single_threaded(batch):
    first, again = batch["echo"].data, batch["echo_again"].data
    assert first["seed"] == 5
    assert first["torch_draw"] == again["torch_draw"]
    assert first["numpy_draw"] == again["numpy_draw"]
    assert first["threads"] == 1
    assert first["hash"] == -4594863902769663758  # hash("abc") under PYTHONHASHSEED=0


def test_an_exception_in_student_code_is_mapped_to_its_cell(batch):
    broken = batch["broken"]
    assert broken.status == "error" and broken.data == {} and broken.arrays == {}
    assert broken.error.type == "NameError"
    assert "undefined_name" in broken.error.message
    assert broken.error.location == "cell 7, line 11"
    missing = batch["missing"]
    assert missing.status == "error" and missing.error.type == "AttributeError"
    assert missing.error.location is None  # raised by the probe, not in the notebook


def test_student_prints_do_not_corrupt_results(batch):
    chatty = batch["chatty"]
    assert chatty.status == "ok" and chatty.data == {"result": 6}
    assert "done 0" in chatty.output and "to stderr" in chatty.output
    assert batch["gpu"].output == ""  # output is split per call


def test_cuda_hard_coded_code_runs_on_cpu(batch):
    gpu = batch["gpu"]
    assert gpu.status == "ok", gpu.error
    assert gpu.data["result"][1:] == ["cpu", False]
    assert gpu.arrays["result.0"].shape == (2, 2)


def test_environment_is_scrubbed(batch):
    environ = batch["environ"].data["environ"]
    assert "NMT_SANDBOX_TEST_SECRET" not in environ
    home = environ["HOME"]
    assert environ["TMPDIR"] == home and environ["PATH"] == "/usr/bin:/bin"
    assert environ["PYTHONHASHSEED"] == "0" and environ["OMP_NUM_THREADS"] == "1"
    assert environ["CUDA_VISIBLE_DEVICES"] == "" and environ["LANG"] == "C.UTF-8"
    assert batch["echo"].data["cwd"] == home


def test_child_cannot_import_the_repository(batch):
    sys_path = batch["environ"].data["sys_path"]
    assert str(REPO) not in sys_path and "" not in sys_path
    reference = batch["reference"]
    assert reference.status == "error" and reference.error.type == "ModuleNotFoundError"


def test_running_out_of_memory_is_recorded_and_the_child_goes_on(batch):
    for name in ("oom_numpy", "oom_torch"):
        result = batch[name]
        assert result.status == "oom", result.error
        assert result.error.message.startswith("ran out of memory (limit 1 GB)")
    assert batch["after_oom"].status == "ok"


def test_a_pickled_array_from_the_child_is_refused_unread(batch):
    forged = batch["pickle"]
    assert forged.status == "error" and forged.error.type == "InvalidResult"
    assert "dtype object" in forged.error.message
    assert not MARKER.exists()


# --- failures that end a child -----------------------------------------------------------------


@pytest.fixture(scope="module")
def failures(launcher):
    calls = [
        ProbeCall("slow", "sleep", "A", {"seconds": 60}),
        ProbeCall("after_slow", "call", "A", {"function": "add", "args": [1, 2]}),
        ProbeCall("abort", "crash", "B", {"how": "abort"}),
        ProbeCall("segfault", "crash", "C", {"how": "segfault"}),
        ProbeCall("exit", "crash", "D", {"how": "exit"}),
        ProbeCall("tamper", "tamper", "E", {}),
        ProbeCall("fine", "call", "F", {"function": "add", "args": [2, 2]}),
    ]
    budgets = {"A": 1.5}
    return by_id(
        run_probes(STUDENT, calls, probe_modules=[TESTING], budgets=budgets, launcher=launcher)
    )


def test_a_timeout_is_recorded_and_the_next_question_still_runs(failures):
    slow = failures["slow"]
    assert slow.status == "timeout" and slow.error.message == "timed out after 1.5 s"
    assert 1.0 <= slow.seconds < 60  # cut short, however loaded the machine
    after = failures["after_slow"]
    assert after.status == "not_run" and "timed out" in after.error.message
    assert failures["abort"].status == "crash"


def test_crashes_are_recorded_with_their_signal(failures):
    assert failures["abort"].error.message == "crashed (SIGABRT)"
    assert failures["segfault"].status == "crash"
    assert failures["segfault"].error.message == "crashed (SIGSEGV)"
    assert failures["exit"].status == "crash" and "status 7" in failures["exit"].error.message


def test_writing_to_the_event_pipe_fails_only_that_call(failures):
    tamper = failures["tamper"]
    assert tamper.status == "error" and "event pipe" in tamper.error.message
    assert failures["fine"].status == "ok" and failures["fine"].data == {"result": 4}


# --- a module that does not import, or only in part ---------------------------------------------


def test_a_module_that_does_not_parse_fails_every_call(launcher):
    calls = [ProbeCall(f"c{n}", "call", q, {"function": "f"}) for n, q in enumerate("ABA")]
    source = "def f(:\n    pass\n"
    results = run_probes(source, calls, probe_modules=[], locate=locate, launcher=launcher)
    for result in results:
        assert result.status == "error" and result.error.kind is ErrorKind.IMPORT
        message = f"{result.error.type}: {result.error.message} ({result.error.location})"
        assert message == "SyntaxError: invalid syntax (cell 7, line 1)"


DEFINITIONS = """\
try:
    from nmt_helpers import make_mask
except ImportError:
    pass
import os


class Masked:
    mask = make_mask(3)


def failing(function):
    raise ValueError("no decorating today")


@failing
def decorated():
    return 1


class Exits:
    os._exit(0)


x = undefined_name + 1


def fine():
    return 2
"""


@pytest.fixture(scope="module")
def definitions(launcher):
    calls = [
        ProbeCall(name, "definition", name, {"name": name})
        for name in ("Masked", "decorated", "Exits", "fine", "nowhere")
    ]
    calls.append(ProbeCall("call", "call", "call", {"function": "fine"}))
    dropped = []
    run = {"probe_modules": [TESTING], "locate": locate, "launcher": launcher, "dropped": dropped}
    return by_id(run_probes(DEFINITIONS, calls, **run)), dropped


def test_a_statement_that_raises_at_import_costs_only_the_names_it_binds(definitions):
    results, _ = definitions
    masked, decorated = results["Masked"], results["decorated"]
    assert masked.status == "error" and masked.error.kind is ErrorKind.DEFINITION
    assert masked.error.message == (
        "defining `Masked` raised NameError: name 'make_mask' is not defined"
    )
    assert masked.error.location == "cell 7, line 9"  # the class body's line
    assert decorated.error.kind is ErrorKind.DEFINITION
    assert decorated.error.message == "defining `decorated` raised ValueError: no decorating today"
    assert decorated.error.location == "cell 7, line 13"  # where it was raised
    assert results["fine"].status == "ok" and results["fine"].data == {"type": "function"}
    assert results["call"].data == {"result": 2}  # the import went on past every failure
    nowhere = results["nowhere"]
    assert nowhere.error.kind is ErrorKind.CONTRACT
    assert nowhere.error.message == "`nowhere` is not defined in the notebook"


def test_a_statement_that_ends_the_child_at_import_is_dropped_and_the_rest_imported(definitions):
    results, dropped = definitions
    exits = results["Exits"]
    assert exits.status == "error" and exits.error.kind is ErrorKind.DEFINITION
    assert exits.error.message == (
        "`Exits` was left out: its definition stopped the notebook's import "
        "(the process exited (status 0))"
    )
    assert exits.error.location == "cell 7, line 21"
    assert [(d.line, d.code, d.binds) for d in dropped] == [(21, "class Exits:", ("Exits",))]
    assert dropped[0].error.kind is ErrorKind.CRASH
    assert dropped[0].error.location == "cell 7, line 21"


@pytest.mark.slow
def test_a_statement_that_hangs_at_import_is_dropped_and_the_rest_imported(launcher):
    source = "class Hangs:\n    while True:\n        pass\n\n\ndef fine():\n    return 2\n"
    calls = [
        ProbeCall("hangs", "definition", "A", {"name": "Hangs"}),
        ProbeCall("fine", "call", "B", {"function": "fine"}),
    ]
    limits, dropped = SandboxLimits(import_budget_s=12), []
    hangs, fine = run_probes(
        source, calls, probe_modules=[TESTING], limits=limits, launcher=launcher, dropped=dropped
    )
    assert fine.status == "ok" and fine.data == {"result": 2}
    assert hangs.error.kind is ErrorKind.DEFINITION
    assert "took more than 12 s to import" in hangs.error.message
    assert [(d.code, d.error.kind) for d in dropped] == [("class Hangs:", ErrorKind.TIMEOUT)]


def test_statements_that_stop_every_import_are_dropped_a_bounded_number_of_times(launcher):
    source = "import os\n" + "".join(f"class Exit{n}:\n    os._exit({n})\n" for n in range(4))
    calls = [ProbeCall("n", "call", "A", {"function": "nothing"})]
    limits, dropped = SandboxLimits(import_retries=2), []
    (result,) = run_probes(
        source, calls, probe_modules=[], limits=limits, launcher=launcher, dropped=dropped
    )
    assert [d.code for d in dropped] == ["class Exit0:", "class Exit1:"]
    assert result.status == "crash"
    message = result.error.message
    assert message == "while importing the notebook: the process exited (status 2)"


# --- isolation ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def listener():
    server = socket.create_server(("127.0.0.1", 0))
    yield server.getsockname()[1]
    server.close()


@pytest.fixture(scope="module")
def secret_dir():
    """A world-readable folder holding a root-only secret and a public file."""
    folder = Path(tempfile.mkdtemp(prefix="nmt-sandbox-secret-", dir="/var/tmp"))
    folder.chmod(0o755)
    (folder / "golden.npy").write_text("the answers")
    (folder / "golden.npy").chmod(0o600)
    (folder / "public.txt").write_text("anyone may read this")
    (folder / "public.txt").chmod(0o644)
    yield folder
    for path in folder.iterdir():
        path.unlink()
    folder.rmdir()


def isolation_calls(secret_dir: Path, port: int, outside: Path) -> list[ProbeCall]:
    return [
        ProbeCall("secret", "read_file", "1", {"path": str(secret_dir / "golden.npy")}),
        ProbeCall("public", "read_file", "2", {"path": str(secret_dir / "public.txt")}),
        ProbeCall("connect", "connect", "3", {"host": "127.0.0.1", "port": port}),
        ProbeCall("write_outside", "write_file", "4", {"path": str(outside)}),
        ProbeCall("write_home", "write_file", "5", {"path": "mine.txt"}),
        ProbeCall("echo", "echo", "6", {}),
        ProbeCall("reference", "read_file", "7", {"path": str(REPO / "reference/__init__.py")}),
        ProbeCall("fork", "fork", "8", {"count": 200}),
    ]


@needs_root
def test_a_gpus_device_files_are_shown_only_when_asked_for(launcher, monkeypatch):
    """``SandboxLimits.devices`` (a GPU's, on a GPU machine: ``gpu_devices()``) are shown in
    the child's /dev, with the machine's CUDA_VISIBLE_DEVICES and no address-space limit;
    without them the child sees no such file, an empty CUDA_VISIBLE_DEVICES and RLIMIT_AS. A
    regular file planted in /dev stands in for a GPU's device file on this CPU machine."""
    planted = Path("/dev") / f"nmt-test-gpu-{os.getpid()}"
    planted.write_text("a device of this machine")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    calls = [
        ProbeCall("read", "read_file", "1", {"path": str(planted)}),
        ProbeCall("dev", "listdir", "1", {"path": "/dev"}),
        ProbeCall("env", "environ", "1", {}),
        ProbeCall("as", "address_space", "1", {}),
    ]
    run = {"probe_modules": [TESTING], "launcher": launcher}
    try:
        plain = by_id(run_probes(STUDENT, calls, **run))
        shown = by_id(
            run_probes(STUDENT, calls, limits=SandboxLimits(devices=(str(planted),)), **run)
        )
    finally:
        planted.unlink()
    assert plain["read"].error.type == "FileNotFoundError"
    assert planted.name not in plain["dev"].data["entries"]
    assert plain["env"].data["environ"]["CUDA_VISIBLE_DEVICES"] == ""
    assert plain["as"].data == {"limited": True}
    assert shown["read"].data == {"content": "a device of this machine"}
    assert planted.name in shown["dev"].data["entries"]
    assert shown["env"].data["environ"]["CUDA_VISIBLE_DEVICES"] == "1"
    assert shown["as"].data == {"limited": False}
    assert gpu_devices(Path(tempfile.mkdtemp())) == ()  # no nvidiactl, no GPU


@needs_root
def test_as_root_the_child_cannot_read_nor_connect_nor_write_outside(
    secret_dir, listener, launcher
):
    outside = Path("/var/tmp") / f"nmt-sandbox-outside-{os.getpid()}"
    data = secret_dir / "public.txt"
    calls = [
        *isolation_calls(secret_dir, listener, outside),
        ProbeCall("write_lib", "write_file", "9", {"path": "../lib/mine.txt"}),
        ProbeCall("write_tmp", "write_file", "9", {"path": "/tmp/mine.txt"}),
        ProbeCall("data", "read_file", "10", {"path": str(data)}),
        ProbeCall("write_data", "write_file", "10", {"path": str(data)}),
    ]
    run = {"probe_modules": [TESTING], "launcher": launcher}
    limits = SandboxLimits(nproc=64)
    results = by_id(run_probes(STUDENT, calls, limits=limits, **run))
    limits = SandboxLimits(nproc=64, read_only_paths=(str(data),))  # data a probe may read
    shown = by_id(run_probes(STUDENT, calls[-2:], limits=limits, **run))
    assert results["data"].error.type == "FileNotFoundError"
    assert shown["data"].data == {"content": "anyone may read this"}
    assert "Read-only file system" in shown["write_data"].error.message
    for name in ("secret", "public", "reference"):  # outside the allowlist: not there at all
        assert results[name].status == "error"
        assert results[name].error.type == "FileNotFoundError", results[name].error
    assert results["connect"].status == "error"
    assert results["connect"].error.type in {"OSError", "ConnectionRefusedError"}
    assert results["write_outside"].status == "error" and not outside.exists()
    assert "Read-only file system" in results["write_lib"].error.message
    assert results["write_home"].status == "ok" and results["write_tmp"].status == "ok"
    assert not Path("/tmp/mine.txt").exists()  # the child's /tmp is its own
    echo = results["echo"].data
    assert echo["uid"] in SANDBOX_UIDS
    assert os.getpid() not in echo["visible_pids"]  # own PID namespace and /proc
    fork = results["fork"].data
    assert fork["started"] < 64 and fork["error"] == "BlockingIOError"


@needs_root
def test_as_root_without_namespaces_file_modes_still_protect(secret_dir, launcher):
    """What Gradescope gets when its container lacks CAP_SYS_ADMIN: only the user switch."""
    calls = [
        ProbeCall("secret", "read_file", "1", {"path": str(secret_dir / "golden.npy")}),
        ProbeCall("echo", "echo", "2", {}),
    ]
    run = {"probe_modules": [TESTING], "limits": SandboxLimits(namespaces=False)}
    if not others_can_enter(Path(sys.base_prefix, "lib")):  # e.g. Python in /root/.pyenv
        with pytest.raises(SandboxError, match="the sandbox user cannot read"):
            run_probes(STUDENT, calls, launcher=launcher, **run)
        return
    results = by_id(run_probes(STUDENT, calls, launcher=launcher, **run))
    assert results["secret"].error.type == "PermissionError"
    assert results["echo"].data["uid"] in SANDBOX_UIDS


def others_can_enter(path: Path) -> bool:
    """Whether a sandbox user (no account, no group) may search every folder on the way to
    ``path``."""
    return all(folder.stat().st_mode & stat.S_IXOTH for folder in [*reversed(path.parents), path])


# --- the allowlist: a walk of the whole filesystem finds nothing beyond it ---------------------


PLANTED = "nmt-planted-" + "d3adb33f"
"""Written into every planted file; the walk searches for it (sent in hex, so that the request
itself does not hold it)."""


@pytest.fixture
def planted(tmp_path):
    """World-readable files where a hostile child would look: another checkout's goldens, another
    student's results, course files in /opt, notes in /home and in the grader's temp folder."""
    tag = f"nmt-planted-{os.getpid()}"
    roots = [Path("/var/tmp", tag), Path("/opt", tag), Path("/home", tag), Path("/srv", tag)]
    roots.append(Path(tempfile.gettempdir(), tag))
    for root in roots:
        root.mkdir(mode=0o755, parents=True)
        (root / "notes.txt").write_text(PLANTED)
        (root / "notes.txt").chmod(0o644)
    goldens = shutil.copytree(GOLDENS_DIR, roots[0] / "checkout" / "autograder" / "goldens")
    (goldens / "MARKER").write_text(PLANTED)
    alice = roots[0] / "batch" / "alice"
    alice.mkdir(parents=True)
    (alice / "results.json").write_text(json.dumps({"score": 25, "output": PLANTED}))
    for path in [roots[0], *roots[0].rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    yield roots
    for root in roots:
        shutil.rmtree(root, ignore_errors=True)


def allowlist() -> tuple[list[str], list[str]]:
    """What the child may see (its interpreter, the system's libraries, its own /etc, /dev,
    /proc and /tmp), and the part of it not worth reading (thousands of library files)."""
    library = {os.path.realpath(p) for p in sys.path if p and os.path.isdir(p)}
    library |= {os.path.realpath(p) for p in site.getsitepackages() if os.path.isdir(p)}
    library -= {str(REPO), os.path.realpath(tempfile.gettempdir())}
    system = {os.path.realpath(p) for p in SYSTEM_PATHS if os.path.exists(p)}
    system |= {p for p in SYSTEM_PATHS if os.path.islink(p)}  # /lib -> usr/lib, as on the host
    own = {"/dev", "/proc", "/tmp", "/etc/passwd", "/etc/group", "/etc/hostname"}
    own.add(os.path.realpath(sys.executable))
    return sorted(library | system | own), sorted(library | system)


@needs_root
@pytest.mark.slow
def test_as_root_a_walk_of_the_filesystem_finds_nothing_beyond_the_allowlist(planted, launcher):
    allowed, unread = allowlist()
    site_packages = Path(os.path.realpath(site.getsitepackages()[0]))
    ours = sorted(p.name for p in site_packages.iterdir() if p.name.startswith("nmt_autograder"))
    calls = [
        ProbeCall(
            "walk",
            "walk",
            "1",
            {"allowed": allowed, "unread": unread, "markers_hex": [PLANTED.encode().hex()]},
        ),
        *(
            ProbeCall(f"read{n}", "read_file", "2", {"path": str(p / "notes.txt")})
            for n, p in enumerate(planted)
        ),
        *(
            ProbeCall(f"ours{n}", "listdir", "3", {"path": str(site_packages / name)})
            for n, name in enumerate(ours)
        ),
    ]
    results = by_id(
        run_probes("", calls, probe_modules=[TESTING], budgets={"1": 300}, launcher=launcher)
    )
    walk = results["walk"]
    assert walk.status == "ok", walk.error
    beyond = [p for p in walk.data["outside"] if not any(a.startswith(p + "/") for a in allowed)]
    assert beyond == [], beyond  # only the allowlist, and the folders on the way to it
    assert walk.data["found"] == []  # no planted file anywhere the child could read
    assert walk.data["readable"] > 0 and walk.data["seen"] > 1000  # it did walk
    for n in range(len(planted)):
        assert results[f"read{n}"].error.type == "FileNotFoundError"
    assert ours, "the project should be installed (editable) in the grader's site-packages"
    for n in range(len(ours)):  # the project's own dist-info: shown empty
        assert results[f"ours{n}"].data == {"entries": []}


# --- nothing outlives a grading --------------------------------------------------------------


def sysv_keys() -> set[int]:
    keys = set()
    for table in ("shm", "msg", "sem"):
        for line in Path(f"/proc/sysvipc/{table}").read_text().splitlines()[1:]:
            keys.add(int(line.split()[0]))
    return keys


def processes_named(comm: str) -> list[int]:
    found = []
    for name in os.listdir("/proc"):
        with contextlib.suppress(OSError):
            if Path(f"/proc/{name}/comm").read_text().strip() == comm:
                found.append(int(name))
    return found


@needs_root
def test_as_root_nothing_passes_from_one_grading_to_the_next(launcher):
    token = f"nmt-channel-{os.getpid()}"
    run = {"probe_modules": [TESTING], "launcher": launcher}
    first = run_probes("", [ProbeCall("leave", "leave_behind", "1", {"token": token})], **run)[0]
    assert first.status == "ok", first.error
    done = first.data["done"]
    assert {"shm", "msg", "sem", "mqueue", "/tmp", "daemon"} <= set(done)  # all in its own
    assert not {"user_keyring", "session_keyring", "user_session"} & set(done)  # refused
    assert processes_named(f"nmt-{os.getpid()}") == []  # the daemon died with the grading
    assert 0x4E4D5431 not in sysv_keys()
    assert not Path("/tmp/nmt-channel").exists() and not Path("/dev/shm/nmt-channel").exists()
    second = run_probes("", [ProbeCall("pick", "pick_up", "1", {})], **run)[0]
    assert second.status == "ok", second.error
    assert second.data["found"] == {}


def _grade_beside(launcher, namespaces, port: int, results: dict, role: str) -> None:
    call = ProbeCall(role, "rendezvous", "1", {"port": port, "role": role})
    limits = SandboxLimits(namespaces=namespaces)
    try:
        results[role] = run_probes(
            "", [call], probe_modules=[TESTING], limits=limits, launcher=launcher
        )[0]
    except Exception as error:  # noqa: BLE001 - reported by the test
        results[role] = error


def _serve_rendezvous(server: socket.socket, results: dict) -> None:
    """Wait for both children, have the killer kill everything it can, then end the victim."""
    links = {}
    server.settimeout(1.0)
    deadline = time.monotonic() + 180
    while len(links) < 2:
        if time.monotonic() > deadline or any(isinstance(r, Exception) for r in results.values()):
            raise AssertionError(f"the children did not both arrive: {results}")
        with contextlib.suppress(TimeoutError):
            link, _ = server.accept()
            link.settimeout(120)
            links[link.recv(16).decode().strip()] = link
    links["killer"].sendall(b"kill")
    assert links["killer"].recv(16) == b"done"
    links["victim"].sendall(b"end")
    for link in links.values():
        link.close()


@needs_root
@pytest.mark.parametrize("namespaces", [("ipc", "mount"), False], ids=["no-pid-ns", "no-ns"])
def test_a_kill_of_everything_in_one_grading_spares_a_grading_beside_it(launcher, namespaces):
    """Each running child has a uid of its own, so ``kill(-1)`` (every process the caller may
    signal) reaches nothing of another grading, even without a PID namespace."""
    if namespaces is False and not others_can_enter(Path(sys.base_prefix, "lib")):
        with pytest.raises(SandboxError, match="the sandbox user cannot read"):
            run_probes(
                "",
                [ProbeCall("x", "echo", "1")],
                probe_modules=[TESTING],
                limits=SandboxLimits(namespaces=False),
                launcher=launcher,
            )
        return  # e.g. Python in /root/.pyenv: such a grader cannot run children at all
    server = socket.create_server(("127.0.0.1", 0))
    port, results = server.getsockname()[1], {}
    threads = [
        threading.Thread(target=_grade_beside, args=(launcher, namespaces, port, results, role))
        for role in ("victim", "killer")
    ]
    for thread in threads:
        thread.start()
    try:
        _serve_rendezvous(server, results)
    finally:
        server.close()
        for thread in threads:
            thread.join(120)
    victim, killer = results["victim"], results["killer"]
    assert victim.status == "ok", victim.error
    assert victim.data == {"survived": True, "order": "end"}
    assert killer.status == "ok", killer.error
    assert killer.data == {"kills": 20}


@needs_root
def test_each_child_leases_a_uid_of_its_own_and_a_leased_uid_starts_clean():
    uids = (60900, 3)  # outside the default range, which other gradings may be using
    leftover = subprocess.Popen(["/bin/sleep", "60"], user=60902, group=60902)
    leases = []
    try:
        leases = [users.lease_user(uids) for _ in range(3)]
        assert [lease.uid for lease in leases] == [60900, 60901, 60902]
        assert leftover.wait(10) == -9  # a process of a dead grading's uid: killed at the lease
        with pytest.raises(SandboxError, match="stayed busy"):
            users.lease_user(uids, wait_s=0.1)
        leases.pop(1).release()
        again = users.lease_user(uids, wait_s=0.1)
        leases.append(again)
        assert again.uid == 60901
    finally:
        leftover.kill()
        leftover.wait()
        for lease in leases:
            lease.release()


def test_a_fork_server_that_died_is_started_again(fork_server):
    calls = [ProbeCall("add", "call", "1", {"function": "add", "args": [2, 3]})]
    assert run_probes(STUDENT, calls, probe_modules=[TESTING], launcher=fork_server)[0].data == {
        "result": 5
    }
    fork_server.process.kill()
    fork_server.process.wait()
    result = run_probes(STUDENT, calls, probe_modules=[TESTING], launcher=fork_server)[0]
    assert result.status == "ok" and result.data == {"result": 5}
    with pytest.raises(SandboxError, match="started without the probe modules"):
        run_probes(
            STUDENT, calls, probe_modules=["tests.sandbox_probes.channels"], launcher=fork_server
        )


def test_without_a_pid_namespace_leftovers_are_found_by_their_mark_and_no_other():
    """The fallback when the kernel refuses PID namespaces: processes of the sandbox user that
    carry the child's mark (forks inherit it, setsid keeps it) are killed; another child's are
    not."""
    sleeper = [sys.executable, "-S", "-c", "import os, time; os.setsid(); time.sleep(60)"]
    mine = subprocess.Popen(sleeper, env={"NMT_SANDBOX_ID": "mark-a"})
    other = subprocess.Popen(sleeper, env={"NMT_SANDBOX_ID": "mark-b"})
    try:
        child = cleanup.ChildIdentity(
            None, os.getuid(), cleanup.start_ticks(os.getpid()), 0.0, mark="mark-a"
        )
        deadline = time.monotonic() + 10
        while not cleanup.leftover_processes(child) and time.monotonic() < deadline:
            time.sleep(0.01)  # until the sleeper's environment is readable
        assert cleanup.leftover_processes(child) == [mine.pid]
        assert cleanup.kill_leftovers(child) == []
        assert mine.wait(10) == -9
        assert other.poll() is None
    finally:
        other.kill()
        mine.kill()
        other.wait()
        mine.wait()


def test_a_workspace_that_resists_removal_is_removed_and_the_grade_stands(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    calls = [
        ProbeCall("litter", "litter", "1", {"depth": 3000}),
        ProbeCall("add", "call", "2", {"function": "add", "args": [2, 3]}),
    ]
    results = by_id(run_probes(STUDENT, calls, probe_modules=[TESTING]))
    assert results["litter"].status == "ok", results["litter"].error
    assert results["add"].data == {"result": 5}
    assert list(tmp_path.iterdir()) == []  # the workspace is gone


def test_remove_tree_removes_what_rmtree_cannot(tmp_path):
    base = tmp_path / "ws"
    folder = base
    for _ in range(3000):  # deeper than Python's recursion limit and PATH_MAX
        folder.mkdir()
        os.chdir(folder)
        folder = Path("d")
    os.chdir(tmp_path)
    (base / "locked" / "inner").mkdir(parents=True)
    (base / os.fsdecode(b"bad-\xff")).write_text("x")
    (base / "locked" / "inner").chmod(0)
    (base / "locked").chmod(0)
    held = open(base / "open-file", "w")  # noqa: SIM115 - removed while open
    try:
        assert remove_tree(base) is True
    finally:
        held.close()
    assert not base.exists()


def test_a_failed_cleanup_is_logged_not_raised(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(shutil, "rmtree", lambda path: (_ for _ in ()).throw(RecursionError()))
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: None)
    (tmp_path / "ws").mkdir()
    assert remove_tree(tmp_path / "ws") is False
    assert "could not remove the workspace" in caplog.text


# --- a total budget -------------------------------------------------------------------------------


def test_when_the_total_budget_runs_out_the_rest_says_so_and_the_grade_stands(launcher):
    calls = [ProbeCall("quick", "call", "A", {"function": "add", "args": [1, 2]})]
    calls += [ProbeCall(f"hang{q}", "sleep", q, {"seconds": 60}) for q in "BCDEFGHIJ"]
    limits = SandboxLimits(default_budget_s=2, total_budget_s=15)  # start-up fits, 9 x 2 s not
    results = run_probes(STUDENT, calls, probe_modules=[TESTING], limits=limits, launcher=launcher)
    assert results[0].status == "ok" and results[0].data == {"result": 3}
    kinds = [(r.status, r.error.type) for r in results[1:]]
    assert kinds[0] == ("timeout", "Timeout")  # its own budget
    assert kinds[-1] == ("not_run", "BudgetExhausted")  # never started: no time was left
    budget = [r for r in results if r.error and r.error.type == "BudgetExhausted"]
    assert all("total time budget (15 s)" in r.error.message for r in budget)
    first = results.index(budget[0])
    assert all(r.error.type == "BudgetExhausted" for r in results[first:])


@pytest.mark.slow
def test_cpu_time_is_limited_even_when_the_code_ignores_sigxcpu(launcher):
    calls = [
        ProbeCall("spin", "spin", "A", {"seconds": 60, "ignore_sigxcpu": True}),
        ProbeCall("next", "sleep", "B", {"seconds": 0}),
    ]
    results = run_probes(
        "",
        calls,
        probe_modules=[TESTING],
        limits=SandboxLimits(cpu_seconds=5),
        budgets={"A": 60},
        launcher=launcher,
    )
    assert results[0].status == "timeout"
    assert results[0].error.message == "ran out of CPU time (limit 5 s)"
    assert results[1].status == "ok"


def test_without_dropping_privileges_the_basics_still_hold(secret_dir, listener, launcher):
    outside = Path(tempfile.gettempdir()) / f"nmt-sandbox-outside-{os.getpid()}"
    calls = [c for c in isolation_calls(secret_dir, listener, outside) if c.id != "fork"]
    calls += [
        ProbeCall("environ", "environ", "9", {}),
        ProbeCall("ref", "import_module", "9", {"name": "reference"}),
    ]
    results = by_id(
        run_probes(
            STUDENT,
            calls,
            probe_modules=[TESTING],
            limits=SandboxLimits(drop_privileges=False),
            launcher=launcher,
        )
    )
    try:
        assert results["echo"].data["uid"] == os.getuid()
        # Controls for the root tests: without a sandbox user and namespaces these succeed.
        assert results["connect"].status == "ok"
        assert results["write_outside"].status == "ok" and outside.exists()
        assert results["ref"].status == "error"
        assert "NMT_SANDBOX_TEST_SECRET" not in results["environ"].data["environ"]
    finally:
        outside.unlink(missing_ok=True)


def test_dropping_privileges_without_root_is_refused(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)  # a grader that is not root
    with pytest.raises(SandboxError, match="needs the grader to run as root"):
        run_probes("", [], probe_modules=[], limits=SandboxLimits(drop_privileges=True))


# --- the parent's side of the transport, no child needed --------------------------------------


def write_record(folder: Path, arrays: dict[str, bytes]) -> int:
    record = f'{{"status": "ok", "data": {{}}, "arrays": {list(arrays)!r}, "error": null}}'
    (folder / "0.json").write_text(record.replace("'", '"'))
    for name, payload in arrays.items():
        (folder / f"0.{name}.npy").write_bytes(payload)
    return os.open(folder, os.O_RDONLY | os.O_DIRECTORY)


def npy(array: np.ndarray, allow_pickle: bool = False) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=allow_pickle)
    return buffer.getvalue()


def read(fd: int, **caps):
    caps = {"max_json_bytes": 1 << 20, "max_array_bytes": 1 << 20, "owner": None, **caps}
    try:
        return read_result(fd, 0, **caps)
    finally:
        os.close(fd)


def test_the_parent_reads_a_valid_record(tmp_path):
    record, arrays = read(write_record(tmp_path, {"y": npy(np.eye(3, dtype=np.float32))}))
    assert record["status"] == "ok"
    np.testing.assert_array_equal(arrays["y"], np.eye(3))


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (npy(np.array([{"a": 1}], dtype=object), allow_pickle=True), "dtype object"),
        (npy(np.array(["text"])), "not a numeric"),
        (npy(np.zeros(3, dtype=[("a", "f4")])), "not a numeric"),
        (npy(np.zeros(1000))[:-8], "does not hold"),
        (b"\x80\x04not an npy file", "broken .npy header"),
        (npy(np.zeros(300_000)), "bytes, more than"),
    ],
)
def test_the_parent_refuses_bad_arrays(tmp_path, payload, reason):
    with pytest.raises(TransportError, match=reason):
        read(write_record(tmp_path, {"y": payload}))


def test_the_parent_refuses_links_and_oversized_json(tmp_path):
    secret = tmp_path.parent / f"{tmp_path.name}-secret.npy"
    secret.write_bytes(npy(np.arange(3)))
    fd = write_record(tmp_path, {})
    (tmp_path / "0.y.npy").symlink_to(secret)
    (tmp_path / "0.json").write_text('{"status": "ok", "data": {}, "arrays": ["y"], "error": null}')
    with pytest.raises(TransportError, match="cannot be opened"):
        read(fd)
    (tmp_path / "0.y.npy").unlink()
    os.link(secret, tmp_path / "0.y.npy")
    with pytest.raises(TransportError, match="2 links"):
        read(os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY))
    with pytest.raises(TransportError, match="more than 10"):
        read(os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY), max_json_bytes=10)


def test_malformed_calls_are_refused_before_any_child_starts():
    with pytest.raises(ValueError, match="unique"):
        run_probes("", [ProbeCall("a", "call", "1"), ProbeCall("a", "call", "1")], probe_modules=[])
    with pytest.raises(ValueError, match="seed"):
        run_probes("", [ProbeCall("a", "call", "1", {"seed": 1.5})], probe_modules=[])
    with pytest.raises(ValueError, match="dtype object"):
        bad = {"x": np.array([None])}
        run_probes("", [ProbeCall("a", "call", "1", {}, bad)], probe_modules=[])
    for module in ("reference.attention", "autograder.goldens", "autograder.checks.attention"):
        with pytest.raises(SandboxError, match="only that package of ours may travel"):
            run_probes("", [ProbeCall("a", "call", "1")], probe_modules=[module])


def test_the_view_shows_the_outermost_paths_and_masks_our_packages(tmp_path):
    prefix = tmp_path / "python"
    site_packages = prefix / "lib" / "python3.11" / "site-packages"
    for name in (
        "numpy",
        "autograder",
        "reference",
        "referencing",
        "nmt_autograder-0.1.0.dist-info",
    ):
        (site_packages / name).mkdir(parents=True)
    (site_packages / "__editable__.nmt_autograder-0.1.0.pth").write_text("/checkout")
    (prefix / "secret").mkdir()
    (tmp_path / "lib").symlink_to(prefix / "lib")
    workspace = tmp_path / "workspace"
    (workspace / "lib").mkdir(parents=True)
    config = {
        "hide": [str(prefix / "secret"), str(tmp_path)],
        "hide_packages": ["autograder", "reference", "nmt_autograder"],
        "read_only": [str(prefix), str(site_packages), str(tmp_path / "lib" / "python3.11")],
    }
    paths = [str(workspace / "lib"), str(site_packages)]
    plan = plan_view(config, workspace=workspace, python_paths=paths, uid=65534, gid=65534)
    assert prefix in plan.read_only and site_packages not in plan.read_only  # outermost only
    assert workspace not in plan.read_only and tmp_path not in plan.read_only
    masked = {p.name for p in plan.masks}
    assert masked == {
        "secret",  # a secret inside what is shown
        "autograder",
        "reference",
        "nmt_autograder-0.1.0.dist-info",
        "__editable__.nmt_autograder-0.1.0.pth",
    }  # tmp_path holds what is shown: only what is shown of it is visible, nothing to mask


def test_paths_through_links_are_shown_at_their_real_place(tmp_path):
    (tmp_path / "usr" / "lib").mkdir(parents=True)
    (tmp_path / "lib").symlink_to("usr/lib")
    real, links = resolve_links(tmp_path / "lib")
    assert real == tmp_path / "usr" / "lib"
    assert links == [(tmp_path / "lib", "usr/lib")]
    assert outermost([Path("/a/b"), Path("/a"), Path("/c")]) == [Path("/a"), Path("/c")]


@pytest.mark.parametrize(
    ("entry", "hidden"),
    [
        ("autograder", True),
        ("autograder-0.1.0.dist-info", True),
        ("nmt_autograder-0.1.0.dist-info", True),
        ("__editable__.nmt_autograder-0.1.0.pth", True),
        ("__editable___nmt_autograder_0_1_0_finder.py", True),
        ("reference", True),
        ("referencing", False),
        ("numpy", False),
        ("autograderx", False),
    ],
)
def test_which_site_packages_entries_are_ours(entry, hidden):
    assert is_hidden_package(entry, ["autograder", "reference", "nmt_autograder"]) is hidden
