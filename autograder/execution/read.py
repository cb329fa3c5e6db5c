"""The parent's reading of an execution: the ``execute`` probe's answer as an ``Execution``.

The executed notebook comes back as bytes (capped by the sandbox's transport); it is parsed with
nbformat and nothing in it is run. Cells are numbered as in the submitted notebook: the
parameters cell papermill injected (tagged ``injected-parameters``) is not counted. The failing
cell and its error are read from the notebook (the first ``error`` output); a timeout, the
budget and a dead kernel are not visible in a notebook, so they come from the probe's data (its
cell index is mapped the same way). Everything here is the child's claim, and earns no points.
"""

from __future__ import annotations

import re
from typing import Any

import nbformat

from autograder.execution.losses import read_losses
from autograder.execution.model import Execution, ExecutionEnd, FigureFile
from autograder.execution.settings import ExecuteSettings
from autograder.sandbox import ErrorKind, ProbeResult

EXPECTED_FIGURES = (
    "loss_comparison_by_hidden.png",
    "loss_comparison_by_dataset.png",
    "heads_vs_hidden.png",
    "val_loss_vs_flops.png",
    "isoflop_profiles.png",
    "compute_optimal_params.png",
    "compute_optimal_tokens.png",
)
"""The handout's figures, as the template's cells save them under ``FIGURES_DIR``."""
INJECTED_TAG = "injected-parameters"
"""papermill's tag on the parameters cell it adds."""
PROBE_ENDS = {
    None: ExecutionEnd.COMPLETED,
    "error": ExecutionEnd.CELL_ERROR,
    "cell_timeout": ExecutionEnd.CELL_TIMEOUT,
    "budget": ExecutionEnd.BUDGET,
    "dead_kernel": ExecutionEnd.DEAD_KERNEL,
    "kernel_failed": ExecutionEnd.KERNEL_FAILED,
}
"""The probe's ``stopped`` values."""
SOURCE_LINE = re.compile(
    r"^(small|large): \d{1,9} training and \d{1,9} validation pairs, from (.*)$"
)
"""The data cell's line saying where each dataset came from."""
OFFLINE_PREFIX = "the offline builder"
MAX_TEXT = 2000


def _text(value: Any) -> str:
    return str(value if value is not None else "")[:MAX_TEXT]


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _float(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def parse_notebook(result: ProbeResult) -> Any | None:
    """The executed notebook, or None when it did not come back or does not read."""
    array = result.arrays.get("notebook")
    if array is None or array.dtype.kind != "u" or array.itemsize != 1:
        return None
    try:
        return nbformat.reads(array.tobytes().decode("utf-8", "replace"), as_version=4)
    except Exception:  # noqa: BLE001 - the child's bytes, whatever they are
        return None


def _injected(nb: Any) -> int | None:
    for index, cell in enumerate(nb.cells):
        if INJECTED_TAG in (cell.get("metadata", {}).get("tags") or []):
            return index
    return None


def submitted_index(executed: int | None, injected: int | None) -> int | None:
    """The submitted notebook's index of an executed notebook's cell (None for the injected
    cell itself)."""
    if executed is None or injected is None or executed < injected:
        return executed
    return None if executed == injected else executed - 1


def _stream_lines(nb: Any) -> list[str]:
    lines = []
    for cell in nb.cells:
        for output in cell.get("outputs", []) if cell.cell_type == "code" else ():
            if output.get("output_type") == "stream" and output.get("name") == "stdout":
                lines += str(output.get("text", "")).splitlines()
    return lines


def data_source(lines: list[str]) -> str:
    """ "official", "offline", "mixed" (one of each) or "" from the data cell's lines."""
    kinds = {}
    for line in lines:
        match = SOURCE_LINE.match(line.strip())
        if match:
            offline = match.group(2).startswith(OFFLINE_PREFIX)
            kinds[match.group(1)] = "offline" if offline else "official"
    values = set(kinds.values())
    return values.pop() if len(values) == 1 else ("mixed" if values else "")


def first_error(nb: Any) -> tuple[int, str, str] | None:
    """(executed index, ename, evalue) of the first cell with an ``error`` output."""
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []) if cell.cell_type == "code" else ():
            if output.get("output_type") == "error":
                return index, _text(output.get("ename")), _text(output.get("evalue"))
    return None


def _counts(nb: Any, injected: int | None) -> tuple[int, int]:
    code = [c for i, c in enumerate(nb.cells) if c.cell_type == "code" and i != injected]
    return sum(c.get("execution_count") is not None for c in code), len(code)


def _figures(data: dict) -> tuple[FigureFile, ...]:
    figures = []
    for entry in data.get("figures", [])[:100] if isinstance(data.get("figures"), list) else ():
        if isinstance(entry, list) and len(entry) == 2 and _int(entry[1]) is not None:
            figures.append(FigureFile(_text(entry[0])[:200], entry[1]))
    return tuple(figures)


def _failed(result: ProbeResult, settings: ExecuteSettings) -> Execution:
    """An execution whose probe gave no answer."""
    error = result.error
    unreadable = error is not None and error.kind is ErrorKind.CONTRACT
    return Execution(
        profile=settings.profile,
        device=settings.device,
        end=ExecutionEnd.UNREADABLE if unreadable else ExecutionEnd.SANDBOX,
        message=_text(error.message if error else result.status),
        expected_figures=EXPECTED_FIGURES,
        seconds=result.seconds,
        cell_timeout_s=settings.cell_timeout,
        budget_s=settings.budget,
    )


def read_execution(result: ProbeResult, settings: ExecuteSettings) -> Execution:
    """The ``Execution`` of the probe's result (see the module docstring)."""
    if result.status != "ok":
        return _failed(result, settings)
    data = result.data
    end = PROBE_ENDS.get(data.get("stopped"), ExecutionEnd.SANDBOX)
    nb = parse_notebook(result)
    injected = _injected(nb) if nb is not None else None
    cell = submitted_index(_int(data.get("cell")), injected)
    ename, evalue = _text(data.get("ename")), _text(data.get("evalue"))
    lines = _stream_lines(nb) if nb is not None else []
    source = data_source(lines)
    if end is ExecutionEnd.CELL_ERROR and nb is not None and (error := first_error(nb)):
        cell, ename, evalue = submitted_index(error[0], injected), error[1], error[2]
    cells_run, code_cells = _counts(nb, injected) if nb is not None else (0, 0)
    return Execution(
        profile=settings.profile,
        device=settings.device,
        end=end,
        cell=cell,
        ename=ename,
        evalue=evalue,
        message=_text(data.get("message")) if nb is not None else "the notebook did not come back",
        exit_status=_int(data.get("exit")),
        exit_signal=_text(data.get("signal")) or None,
        cells_run=cells_run,
        code_cells=code_cells,
        figures=_figures(data),
        expected_figures=EXPECTED_FIGURES,
        losses=read_losses(lines, profile=settings.profile, source=source),
        data_source=source,
        parameters_cell=_text(data.get("parameters_cell")),
        dropped=_text(data.get("dropped")),
        gpu=data.get("gpu") if isinstance(data.get("gpu"), bool) else None,
        seconds=_float(data.get("seconds")) or result.seconds,
        cell_timeout_s=settings.cell_timeout,
        budget_s=settings.budget,
    )
