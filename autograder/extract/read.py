"""Read a submission's code cells from a notebook (nbformat 4) or a Python script.

Outputs are never kept: a notebook with megabytes of saved plots costs one JSON parse. The file
is size-checked before it is read (``ExtractLimits.max_notebook_bytes``), and every cell's text
is made valid Unicode (a ``"\\ud800"`` escape in the JSON would otherwise carry a lone surrogate
into the module, the reports and the child's workspace).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from autograder.child.text import clean_text

from .bounds import DEFAULT_LIMITS, ExtractLimits
from .model import ExtractError, SourceCell

_RESAVE = "open it in Jupyter or Colab, save it (File > Save) and submit the saved .ipynb"

# jupytext / VS Code / Spyder write `# %%`; `jupyter nbconvert --to script` writes `# In[12]:`.
_SCRIPT_CELL_MARKER = re.compile(r"^(?:#\s?%%|# In\[[ \d]*\]:)")


def read_cells(path: Path | str, *, limits: ExtractLimits = DEFAULT_LIMITS) -> list[SourceCell]:
    """Read the code cells of a .ipynb (nbformat 4) or .py submission, in order.

    Raises ExtractError when the file cannot be read, is larger than the limit, is not a
    notebook, uses nbformat 3 or another unsupported version, or holds no code.
    """
    path = Path(path)
    return cells_from_bytes(read_capped(path, limits.max_notebook_bytes), path.name)


def cells_from_bytes(data: bytes, name: str) -> list[SourceCell]:
    """``read_cells`` on a file's bytes (``name`` gives its suffix and the messages' wording)."""
    path = Path(name)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ExtractError(
            "not_a_notebook", f"{path.name} is not a notebook: it is not even a text file"
        ) from None
    if path.suffix == ".py":
        cells = _script_cells(clean_text(text))
    elif path.suffix == ".ipynb" or text.lstrip().startswith("{"):
        cells = _notebook_cells(text, path.name)
    else:
        raise ExtractError(
            "not_a_notebook", f"{path.name} is neither a Jupyter notebook (.ipynb) nor a .py file"
        )
    if not any(cell.source.strip() for cell in cells):
        raise ExtractError(
            "empty", f"{path.name} contains no code: is it the notebook you meant to submit?"
        )
    return cells


def _notebook_cells(text: str, name: str) -> list[SourceCell]:
    """Code cells of a notebook's JSON text; raises ExtractError for anything but nbformat 4."""
    if not text.lstrip().startswith("{"):
        raise ExtractError(
            "not_a_notebook", f"{name} is not a notebook: a .ipynb file holds JSON, and it does not"
        )
    try:
        data = json.loads(text)
    except RecursionError:
        raise ExtractError(
            "not_a_notebook", f"{name} is not a notebook: its JSON is nested too deeply"
        ) from None
    except json.JSONDecodeError as error:
        raise ExtractError(
            "not_a_notebook",
            f"{name} is not a notebook: its JSON is broken at line {error.lineno} "
            f"(was the file cut short or edited by hand?); {_RESAVE}",
        ) from None
    if not isinstance(data, dict) or "nbformat" not in data:
        raise ExtractError("not_a_notebook", f"{name} is JSON but not a Jupyter notebook")
    version = data["nbformat"]
    if version == 3 or "worksheets" in data:
        raise ExtractError(
            "nbformat_3", f"{name} is in the old notebook format 3; {_RESAVE} in format 4"
        )
    if version != 4:
        raise ExtractError(
            "unsupported", f"{name} is in notebook format {version!r}, not 4; {_RESAVE}"
        )
    cells = data.get("cells")
    if not isinstance(cells, list) or not all(isinstance(cell, dict) for cell in cells):
        raise ExtractError("not_a_notebook", f"{name} is not a valid notebook: it has no cell list")
    return [
        SourceCell(index, clean_text(_source(cell)))
        for index, cell in enumerate(cells)
        if cell.get("cell_type") == "code"
    ]


def _source(cell: dict) -> str:
    """A cell's text: nbformat saves it as one string or as a list of lines."""
    source = cell.get("source", "")
    if isinstance(source, list) and all(isinstance(line, str) for line in source):
        return "".join(source)
    return source if isinstance(source, str) else ""


def read_capped(path: Path, max_bytes: int) -> bytes:
    """The file's bytes; ExtractError when it cannot be read or holds more than ``max_bytes``
    (checked before reading, and again while reading, for a file that grows)."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size > max_bytes:
                raise ExtractError("too_large", _too_large(path.name, size, max_bytes))
            data = f.read(max_bytes + 1)
    except OSError as error:
        raise ExtractError("unreadable", f"could not read {path.name}: {error.strerror}") from None
    if len(data) > max_bytes:
        raise ExtractError("too_large", _too_large(path.name, len(data), max_bytes))
    return data


def _too_large(name: str, size: int, max_bytes: int) -> str:
    return (
        f"{name} is too large to grade ({size / 2**20:.1f} MB; the limit is "
        f"{max_bytes / 2**20:g} MB): clear the cells' outputs (Edit > Clear all outputs), save it "
        "and submit it again"
    )


def _script_cells(text: str) -> list[SourceCell]:
    """Split a script on its cell markers (the marker line opens its cell); one cell if none."""
    starts = [0]
    lines = text.splitlines(keepends=True)
    starts += [n for n, line in enumerate(lines) if n and _SCRIPT_CELL_MARKER.match(line)]
    ends = starts[1:] + [len(lines)]
    return [
        SourceCell(index, "".join(lines[start:end]))
        for index, (start, end) in enumerate(zip(starts, ends, strict=True))
    ]
