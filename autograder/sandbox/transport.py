"""Parent side: read what the child wrote, trusting nothing.

The wire format is ``autograder.child.wire``. The parent opens files in ``results/`` without
following links, only regular files with one link (and, when the child runs as another user,
owned by that user), caps sizes, parses JSON and reads ``.npy`` headers itself, accepts only
numeric and boolean dtypes and calls ``np.load``'s reader with ``allow_pickle=False``.
"""

from __future__ import annotations

import io
import json
import math
import os
import stat
from typing import Any

import numpy as np

from autograder.child.wire import (
    ERROR_KINDS,
    MAX_TEXT,
    NAME,
    STATUSES,
    TransportError,
    check_array,
    clean_strings,
)

__all__ = ["TransportError", "check_array", "read_import_error", "read_result"]


def open_untrusted(dir_fd: int, name: str, max_bytes: int, owner: int | None) -> bytes:
    """Read a file of the child's folder without following links, capped at ``max_bytes``."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(name, flags, dir_fd=dir_fd)
    except FileNotFoundError:
        raise TransportError(f"{name} is missing") from None
    except OSError as error:
        raise TransportError(f"{name} cannot be opened ({error.strerror})") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise TransportError(f"{name} is not a regular file")
        if info.st_nlink != 1:
            raise TransportError(f"{name} has {info.st_nlink} links")
        if owner is not None and info.st_uid != owner:
            raise TransportError(f"{name} is not owned by the sandbox user")
        if info.st_size > max_bytes:
            raise TransportError(f"{name} has {info.st_size} bytes, more than {max_bytes}")
        chunks, size = [], 0
        while size <= max_bytes:
            chunk = os.read(fd, min(1 << 20, max_bytes + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > max_bytes:
            raise TransportError(f"{name} grew past {max_bytes} bytes")
        return b"".join(chunks)
    finally:
        os.close(fd)


def decode_array(name: str, payload: bytes) -> np.ndarray:
    """Parse ``.npy`` bytes: check the header's dtype and size first, never unpickle."""
    buffer = io.BytesIO(payload)
    try:
        version = np.lib.format.read_magic(buffer)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(buffer)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(buffer)
        else:
            raise TransportError(f"array {name!r} has .npy version {version}")
    except (ValueError, TypeError, SyntaxError) as error:
        raise TransportError(f"array {name!r} has a broken .npy header ({error})") from None
    check_array(name, np.empty(0, dtype=dtype))
    if len(shape) > 32:
        raise TransportError(f"array {name!r} has {len(shape)} dimensions")
    expected = math.prod(shape) * dtype.itemsize
    if len(payload) - buffer.tell() != expected:
        raise TransportError(f"array {name!r} does not hold the {expected} bytes it announces")
    buffer.seek(0)
    try:
        return np.lib.format.read_array(buffer, allow_pickle=False)
    except (ValueError, OSError) as error:
        raise TransportError(f"array {name!r} cannot be read ({error})") from None


def decode_json(name: str, payload: bytes) -> dict[str, Any]:
    """Parse a JSON object, every string in it made valid Unicode (a ``"\\ud800"`` escape
    would otherwise carry a lone surrogate into the reports); anything else is refused."""
    try:
        value = clean_strings(json.loads(payload.decode("utf-8")))
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise TransportError(f"{name} is not valid JSON ({type(error).__name__})") from None
    if not isinstance(value, dict):
        raise TransportError(f"{name} does not hold a JSON object")
    return value


def parse_error(value: Any) -> dict[str, Any] | None:
    """Validate a record's ``error`` field: {type, message, lineno} with bounded text."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise TransportError("the record's error is not an object")
    kind, message, lineno = value.get("type"), value.get("message"), value.get("lineno")
    if not isinstance(kind, str) or not isinstance(message, str):
        raise TransportError("the record's error has no type or message")
    if lineno is not None and (isinstance(lineno, bool) or not isinstance(lineno, int)):
        raise TransportError("the record's error has a line number that is not an integer")
    category = value.get("kind")
    category = category if isinstance(category, str) and category in ERROR_KINDS else None
    return {"type": kind[:200], "message": message[:MAX_TEXT], "lineno": lineno, "kind": category}


def read_result(
    dir_fd: int,
    index: int,
    *,
    max_json_bytes: int,
    max_array_bytes: int,
    owner: int | None,
    max_record_bytes: int | None = None,
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read and validate the record of call ``index``: (record, arrays).

    The record has ``status`` (one of ``STATUSES``), ``data`` (an object), ``arrays`` (names)
    and ``error`` (None or {type, message, lineno}). Every array file is checked against its
    cap before it is read (its size on disk, then its header), and all of them together against
    ``max_record_bytes``. Raises TransportError on anything else.
    """
    left = max_record_bytes if max_record_bytes is not None else 256 * (max_array_bytes + 4096)
    record = decode_json(
        f"{index}.json", open_untrusted(dir_fd, f"{index}.json", max_json_bytes, owner)
    )
    status, data, names = record.get("status"), record.get("data"), record.get("arrays")
    if status not in STATUSES:
        raise TransportError(f"the record's status {str(status)[:40]!r} is not one of {STATUSES}")
    if not isinstance(data, dict):
        raise TransportError("the record's data is not an object")
    if not isinstance(names, list) or len(names) > 256:
        raise TransportError("the record's array list is not a list of at most 256 names")
    arrays = {}
    for name in names:
        if not isinstance(name, str) or not NAME.fullmatch(name) or name in arrays:
            raise TransportError(f"the record names an invalid array {str(name)[:70]!r}")
        cap = min(max_array_bytes + 4096, left)
        payload = open_untrusted(dir_fd, f"{index}.{name}.npy", cap, owner)
        left -= len(payload)
        arrays[name] = decode_array(name, payload)
        if arrays[name].nbytes > max_array_bytes:
            raise TransportError(f"array {name!r} is larger than {max_array_bytes} bytes")
    record["error"] = parse_error(record.get("error"))
    return record, arrays


def read_import_error(dir_fd: int, *, max_json_bytes: int, owner: int | None) -> dict[str, Any]:
    """Read ``import.json``: the validated {type, message, lineno} of a failed import."""
    record = decode_json(
        "import.json", open_untrusted(dir_fd, "import.json", max_json_bytes, owner)
    )
    error = parse_error(record.get("error"))
    if error is None:
        raise TransportError("import.json holds no error")
    return error
