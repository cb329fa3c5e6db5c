"""Child side of ``--execute``: the submitted notebook, run top to bottom in a Jupyter kernel.

The parent sends the notebook's bytes (``notebook``, uint8) and the settings; the probe writes
the notebook into the child's home, injects the parameters with papermill's own
``parameterize_notebook`` (after the cell tagged ``parameters``), and runs the cells one by one
with nbclient (papermill's engine), so that it knows which cell a timeout or a dying kernel hit.

The kernel is a separate process started by the child: it inherits the child's user,
namespaces, rlimits and environment. It talks to the child over IPC sockets in the child's home
(the child's network namespace has only a loopback that is down), runs with ``-s -P -S`` and the
child's own ``sys.path`` (no ``.pth`` file runs), dies with the child (``PR_SET_PDEATHSIG`` and
ipykernel's parent poller), and runs an IPython startup file that installs the child's CPU
patches (device cpu) or caps the GPU memory it may take (device cuda).

The probe answers with the executed notebook (uint8, capped in size: image outputs go first,
then text) and plain data: how the run ended (``stopped``: None, "error", "cell_timeout",
"budget", "dead_kernel", "kernel_failed"), in which cell of the executed notebook (the injected
parameters cell included: the parent maps it back), the figures found under ``figures/`` (name
and size) and timings. Everything it says is a claim: the parent reads the notebook with
nbformat, runs nothing from it, and gives no points for it.
"""

from __future__ import annotations

import ast
import contextlib
import json
import os
import signal
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from autograder.child.probes.common import ContractError
from autograder.child.registry import probe

KERNEL_NAME = "nmt-sandbox"
"""The kernel spec the probe writes into the child's home."""
NOTEBOOK_NAME = "nmt.ipynb"
"""The notebook's file name in the run folder (``NOTEBOOK_PATH``)."""
PARAMETER_NAMES = frozenset({"PROFILE", "DEVICE", "DATA_DIR", "DOWNLOAD", "RUN_CHECKS"})
"""Names a parameters cell assigns: where parameters go when no cell has the tag."""
FIGURES_DIR = "figures"
"""Where the template's cells save their figures (``FIGURES_DIR``), in the run folder."""
MAX_FIGURES = 100
"""At most this many files of the figures folder are listed."""
MAX_CELL_OUTPUT_BYTES = 2 << 20
"""Outputs of one cell beyond this size are dropped (a note says so)."""
MAX_TEXT = 2000
"""Longest error text kept."""
KERNEL_BOOT = """\
import ctypes, os, signal, sys
sys.path[:] = {paths!r}
ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: die with the child
if os.getppid() != {parent}:
    os._exit(1)
from ipykernel import kernelapp
kernelapp.launch_new_instance()
"""
"""The kernel's ``-c`` program (``-S``: no site, so no ``.pth`` file of the grader's runs)."""


def _text(value: object) -> str:
    return str(value)[:MAX_TEXT]


def read_notebook(path: Path) -> Any:
    """The notebook as papermill loads it (nbformat 4, every cell with its ``tags`` and
    ``papermill`` metadata); a ContractError when it does not read."""
    from papermill.iorw import load_notebook_node

    try:
        nb = load_notebook_node(str(path))
        for cell in nb.cells:
            if not isinstance(cell.metadata.tags, list):
                cell.metadata.tags = []
        return nb
    except Exception as error:  # noqa: BLE001 - any malformed document
        raise ContractError(
            f"the notebook cannot be read: {type(error).__name__}: {error}"
        ) from None


def _assigned_names(source: str) -> set[str]:
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return set()
    return {
        target.id
        for node in tree.body
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name)
    }


def tag_parameters_cell(nb: Any) -> str:
    """Where the parameters go: "tag" (a cell tagged ``parameters``), "assignment" (no tag: the
    first code cell assigning PROFILE and another parameter, now tagged) or "none" (papermill
    then injects them at the top, where the notebook's own assignments override them)."""
    for cell in nb.cells:
        if "parameters" in cell.metadata.tags:
            return "tag"
    for cell in nb.cells:
        if cell.cell_type == "code":
            names = _assigned_names(cell.source) & PARAMETER_NAMES
            if "PROFILE" in names and len(names) >= 2:
                cell.metadata.tags = [*cell.metadata.tags, "parameters"]
                return "assignment"
    return "none"


def inject_parameters(nb: Any, parameters: dict[str, Any]) -> tuple[Any, str]:
    """The notebook with papermill's injected-parameters cell, and where it went."""
    from papermill.parameterize import parameterize_notebook

    found = tag_parameters_cell(nb)
    nb = parameterize_notebook(nb, parameters, kernel_name=KERNEL_NAME, language="python")
    return nb, found


def _ipc_folder(home: Path) -> Path:
    """A folder for the kernel's sockets whose paths fit a Unix socket's 107 bytes."""
    for folder in (home / ".r", Path("/tmp") / f"nmt-k{os.getpid()}"):
        if len(str(folder)) < 80:
            folder.mkdir(mode=0o700, exist_ok=True)
            return folder
    raise ContractError("the sandbox's home path is too long for the kernel's sockets")


def gpu_visible() -> bool:
    """Whether the sandbox shows this child a GPU (its device files and a CUDA_VISIBLE_DEVICES
    that is not empty)."""
    return os.environ.get("CUDA_VISIBLE_DEVICES") != "" and os.path.exists("/dev/nvidiactl")


def startup_code(gpu: bool, gpu_memory_fraction: float | None, lib: str) -> str:
    """The IPython startup file: without a GPU the child's CPU patches (code written for a GPU
    runs on the CPU, as in the other probes); with one, the cap on its memory."""
    if not gpu:
        return (
            "import sys\n"
            f"sys.path.insert(0, {lib!r})\n"
            "from autograder.child.patches import install_cpu_patches\n"
            "install_cpu_patches()\n"
            f"sys.path.remove({lib!r})\n"
        )
    if gpu_memory_fraction:
        return (
            "import torch\n"
            "if torch.cuda.is_available():\n"
            "    for _d in range(torch.cuda.device_count()):\n"
            f"        torch.cuda.set_per_process_memory_fraction({gpu_memory_fraction!r}, _d)\n"
        )
    return ""


def prepare_kernel(home: Path, gpu: bool, gpu_memory_fraction: float | None) -> Path:
    """Write the kernel spec and the startup file into the home, point Jupyter and IPython at
    them (environment variables the kernel inherits); return the folder for the sockets."""
    lib = str(Path(__file__).resolve().parents[3])
    jupyter = home / ".jupyter-nmt"
    spec = jupyter / "kernels" / KERNEL_NAME
    spec.mkdir(parents=True, exist_ok=True)
    paths = [p for p in sys.path if p and os.path.realpath(p) != os.path.realpath(lib)]
    boot = KERNEL_BOOT.format(paths=paths, parent=os.getpid())
    argv = [sys.executable, "-s", "-P", "-S", "-B", "-c", boot, "-f", "{connection_file}"]
    kernel = {"argv": argv, "display_name": "sandbox", "language": "python"}
    (spec / "kernel.json").write_text(json.dumps(kernel))
    startup = home / ".ipython" / "profile_default" / "startup"
    startup.mkdir(parents=True, exist_ok=True)
    (startup / "00-nmt-sandbox.py").write_text(startup_code(gpu, gpu_memory_fraction, lib))
    os.environ.update(
        JUPYTER_PATH=str(jupyter),
        JUPYTER_DATA_DIR=str(jupyter),
        JUPYTER_CONFIG_DIR=str(jupyter / "config"),
        JUPYTER_RUNTIME_DIR=str(jupyter / "runtime"),
        JUPYTER_PLATFORM_DIRS="1",
        IPYTHONDIR=str(home / ".ipython"),
        PYDEVD_DISABLE_FILE_VALIDATION="1",
    )
    return _ipc_folder(home)


def make_client(nb: Any, run: Path, sockets: Path, timeout_func: Any, startup_s: float) -> Any:
    """An nbclient NotebookClient whose kernel talks over IPC and whose cell outputs are capped."""
    from nbclient import NotebookClient
    from traitlets.config import Config

    class CappedClient(NotebookClient):
        """Drops a cell's outputs beyond MAX_CELL_OUTPUT_BYTES, with one note."""

        sizes: dict[int, int] = {}

        def output(self, outs, msg, display_id, cell_index):  # noqa: ANN001 - nbclient's
            size = self.sizes.get(cell_index, 0) + len(str(msg.get("content", "")))
            self.sizes[cell_index] = size
            if size <= MAX_CELL_OUTPUT_BYTES:
                return super().output(outs, msg, display_id, cell_index)
            if size - len(str(msg.get("content", ""))) <= MAX_CELL_OUTPUT_BYTES:
                note = f"[output beyond {MAX_CELL_OUTPUT_BYTES >> 20} MiB dropped by the grader]"
                outs.append({"output_type": "stream", "name": "stderr", "text": note})
            return None

    config = Config()
    config.KernelManager.transport = "ipc"
    config.KernelManager.ip = str(sockets / "k")
    config.KernelManager.connection_file = str(sockets / "k.json")
    return CappedClient(
        nb,
        config=config,
        kernel_name=KERNEL_NAME,
        timeout_func=timeout_func,
        startup_timeout=max(1, int(startup_s)),
        shutdown_kernel="immediate",
        allow_errors=False,
        record_timing=True,
        resources={"metadata": {"path": str(run)}},
    )


def _exit_status(client: Any) -> int | None:
    """The kernel process's exit status (negative: a signal), when it has ended."""
    process = getattr(getattr(client.km, "provisioner", None), "process", None)
    with contextlib.suppress(Exception):
        return process.poll() if process is not None else None
    return None


def run_cells(client: Any, deadline: float, cell_timeout_s: float) -> dict[str, Any]:
    """Run every code cell in order until one stops the run; how it ended."""
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    ran = 0
    for index, cell in enumerate(client.nb.cells):
        if cell.cell_type != "code":
            continue
        left = deadline - time.monotonic()
        if left <= 0:
            return {"stopped": "budget", "cell": index, "cells_run": ran}
        budget_bound = left < cell_timeout_s
        try:
            client.execute_cell(cell, index)
        except CellExecutionError as error:
            ename, evalue = getattr(error, "ename", ""), getattr(error, "evalue", "")
            stop = {"stopped": "error", "ename": _text(ename), "evalue": _text(evalue)}
            return {**stop, "cell": index, "cells_run": ran + 1}
        except CellTimeoutError:
            kind = "budget" if budget_bound else "cell_timeout"
            return {"stopped": kind, "cell": index, "cells_run": ran}
        except DeadKernelError:
            status = _exit_status(client)
            return {"stopped": "dead_kernel", "cell": index, "cells_run": ran, "exit": status}
        ran += 1
    return {"stopped": None, "cell": None, "cells_run": ran}


def execute_notebook(nb: Any, run: Path, sockets: Path, budget_s: float, cell_timeout_s: float):
    """Start the kernel, run the cells, stop the kernel; how it ended and the seconds it took."""
    started = time.monotonic()
    deadline = started + budget_s

    def timeout_func(cell: Any) -> int:
        return max(1, int(min(cell_timeout_s, deadline - time.monotonic()) + 0.999))

    client = make_client(nb, run, sockets, timeout_func, min(60.0, budget_s))
    try:
        client.km = client.create_kernel_manager()
        client.start_new_kernel(cwd=str(run))
        client.start_new_kernel_client()
    except Exception as error:  # noqa: BLE001 - a kernel that does not start, for any reason
        with contextlib.suppress(Exception):
            client.km.shutdown_kernel(now=True)
        message = _text(f"{type(error).__name__}: {error}")
        return {"stopped": "kernel_failed", "cell": None, "cells_run": 0, "message": message}
    kernel_s = time.monotonic() - started
    try:
        outcome = run_cells(client, deadline, cell_timeout_s)
    finally:
        with contextlib.suppress(Exception):
            client._cleanup_kernel()
    return {**outcome, "kernel_start_s": round(kernel_s, 3)}


def list_figures(folder: Path) -> list[list[Any]]:
    """[name, size] of the regular files in ``folder`` (links are not followed), sorted."""
    found = []
    with contextlib.suppress(OSError), os.scandir(folder) as entries:
        for entry in entries:
            if len(found) >= MAX_FIGURES:
                break
            with contextlib.suppress(OSError):
                if entry.is_file(follow_symlinks=False):
                    found.append([entry.name[:200], entry.stat(follow_symlinks=False).st_size])
    return sorted(found)


def encode_notebook(nb: Any, max_bytes: int) -> tuple[bytes, str]:
    """The notebook's bytes within ``max_bytes``, and what was dropped to fit: "" (nothing),
    "images" (rich outputs), "outputs" (every output)."""
    import nbformat

    text = nbformat.writes(nb).encode("utf-8", "replace")
    if len(text) <= max_bytes:
        return text, ""
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if "data" in output:
                output["data"] = {
                    "text/plain": "[dropped by the grader: the notebook was too large]"
                }
    text = nbformat.writes(nb).encode("utf-8", "replace")
    if len(text) <= max_bytes:
        return text, "images"
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
    return nbformat.writes(nb).encode("utf-8", "replace")[:max_bytes], "outputs"


@probe("execute")
def execute(
    module: ModuleType,
    *,
    notebook: np.ndarray,
    parameters: dict[str, Any],
    budget_s: float,
    cell_timeout_s: float,
    device: str = "cpu",
    gpu_memory_fraction: float | None = None,
    max_notebook_bytes: int = 8 << 20,
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Run the notebook (see the module docstring); ``module`` (the extracted definitions) is
    not used: the kernel runs the notebook itself."""
    started = time.monotonic()
    home = Path.cwd()
    run = home / "run"
    run.mkdir(exist_ok=True)
    path = run / NOTEBOOK_NAME
    path.write_bytes(bytes(notebook))
    nb, found = inject_parameters(read_notebook(path), dict(parameters))
    gpu = device != "cpu" and gpu_visible()
    sockets = prepare_kernel(home, gpu, gpu_memory_fraction)
    left = budget_s - (time.monotonic() - started)
    outcome = execute_notebook(nb, run, sockets, left, cell_timeout_s)
    text, dropped = encode_notebook(nb, max_notebook_bytes)
    data = {
        **outcome,
        "parameters_cell": found,
        "figures": list_figures(run / FIGURES_DIR),
        "dropped": dropped,
        "seconds": round(time.monotonic() - started, 3),
        "gpu": gpu,
        "signal": _signal_name(outcome.get("exit")),
    }
    return data, {"notebook": np.frombuffer(text, dtype=np.uint8)}


def _signal_name(status: int | None) -> str | None:
    if status is None or status >= 0:
        return None
    try:
        return signal.Signals(-status).name
    except ValueError:
        return f"signal {-status}"
