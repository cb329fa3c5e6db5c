"""The wire format between parent and child: JSON records and ``.npy`` arrays, never pickles.

Shared by both sides (the parent imports it from here; the child gets it as part of this
package). Layout of a workspace (all names fixed; the child chooses none but array names, which
must match ``NAME``):

    request.json             the parent's request (calls, probe modules, sandbox settings)
    inputs/<i>.<name>.npy    array ``name`` of call ``i``, written by the parent
    results/<i>.json         the record of call ``i``, written by the child when the call ends
    results/<i>.<name>.npy   array ``name`` of the record
    results/import.json      why the student's module failed to import

The child writes every file under a temporary name and renames it into place, arrays before the
record, so a record on disk is complete. How the parent reads them back, trusting nothing, is
``autograder.sandbox.transport``.
"""

from __future__ import annotations

import io
import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from .text import clean_strings, clean_text  # noqa: F401 - the parent's reader imports both

NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")
"""Array names: letters, digits, ``_.-``, at most 64 characters, not starting with a dot."""
ARRAY_KINDS = "biufc"
"""numpy dtype kinds allowed across the boundary: bool, signed, unsigned, float, complex."""
STATUSES = ("ok", "error", "oom")
"""Statuses a child may write into a record."""
ERROR_KINDS = ("contract", "not_implemented", "definition", "exception")
"""What a record's error may say it is (``autograder.sandbox.ErrorKind`` in the parent)."""
MAX_TEXT = 4000
"""Longest error message kept from a child's record (longer ones are cut)."""


class TransportError(Exception):
    """A file from the child that the parent refuses; the message says why."""


# --- both sides -------------------------------------------------------------------------------


def check_array(name: str, array: np.ndarray) -> None:
    """Refuse names and dtypes that may not cross the boundary (object, structured, strings)."""
    if not NAME.fullmatch(name):
        raise TransportError(f"array name {name!r} is not allowed")
    dtype = array.dtype
    if dtype.hasobject or dtype.fields is not None or dtype.kind not in ARRAY_KINDS:
        raise TransportError(f"array {name!r} has dtype {dtype}, not a numeric or boolean one")


def write_atomic(path: Path, payload: bytes) -> None:
    """Write ``payload`` to ``path`` through a temporary name, so readers see all or nothing."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(payload)
    os.replace(tmp, path)


def encode_array(array: np.ndarray) -> bytes:
    """The ``.npy`` bytes of an array (never a pickle)."""
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def write_arrays(folder: Path, index: int, arrays: dict[str, np.ndarray]) -> list[str]:
    """Write ``<index>.<name>.npy`` for every array; return the names in order."""
    for name, array in arrays.items():
        check_array(name, array)
        write_atomic(folder / f"{index}.{name}.npy", encode_array(array))
    return list(arrays)


def read_input_array(path: Path) -> np.ndarray:
    """Child side: load an input array the parent wrote."""
    return np.load(path, allow_pickle=False)


def to_json_default(value: Any) -> Any:
    """``json.dumps`` hook for the scalars numpy and torch hand out."""
    if isinstance(value, np.generic):
        return value.item()
    item = getattr(value, "item", None)
    if callable(item) and getattr(value, "ndim", None) == 0:
        return item()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def encode_json(record: dict[str, Any]) -> bytes:
    """A record as UTF-8 JSON (NaN and infinities allowed, as Python's json reads them); a
    string that UTF-8 cannot encode (a lone surrogate) has it replaced by U+FFFD."""
    text = json.dumps(record, default=to_json_default, ensure_ascii=False)
    return clean_text(text).encode()
