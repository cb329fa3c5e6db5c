"""Writing the grader's files: JSON, atomically (a reader or a crash never sees half a file).

Both writers turn text that UTF-8 cannot encode (a lone surrogate from a student's output or
file name) into U+FFFD, so that a write never fails on it and results.json and feedback.md say
the same thing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from autograder.child.text import clean_strings, clean_text
from autograder.child.wire import write_atomic


def write_json(path: Path, data: Any, *, indent: int | None = 2, sort_keys: bool = False) -> Path:
    """Write ``data`` as strict JSON (no NaN) to ``path`` through a temporary file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = clean_strings(data)
    text = json.dumps(data, indent=indent, sort_keys=sort_keys, allow_nan=False) + "\n"
    write_atomic(path, text.encode("utf-8"))
    return path


def write_text(path: Path, text: str) -> Path:
    """Write UTF-8 text to ``path`` through a temporary file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, clean_text(text).encode("utf-8"))
    return path
