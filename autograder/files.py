"""Writing the grader's files: JSON, atomically (a reader or a crash never sees half a file)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from autograder.child.wire import write_atomic


def write_json(path: Path, data: Any, *, indent: int | None = 2, sort_keys: bool = False) -> Path:
    """Write ``data`` as strict JSON (no NaN) to ``path`` through a temporary file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(data, indent=indent, sort_keys=sort_keys, allow_nan=False) + "\n"
    write_atomic(path, text.encode("utf-8"))
    return path


def write_text(path: Path, text: str) -> Path:
    """Write UTF-8 text to ``path`` through a temporary file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, text.encode("utf-8"))
    return path
