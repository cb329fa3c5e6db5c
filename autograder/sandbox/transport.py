"""Pickle-free files between parent and child: JSON records and ``.npy`` arrays.

Layout of a workspace (all names fixed; the child chooses none but array names, which must match
``NAME``):

    request.json             the parent's request (calls, probe modules, sandbox settings)
    inputs/<i>.<name>.npy    array ``name`` of call ``i``, written by the parent
    results/<i>.json         the record of call ``i``, written by the child when the call ends
    results/<i>.<name>.npy   array ``name`` of the record
    results/import.json      why the student's module failed to import

The child writes every file under a temporary name and renames it into place, arrays before the
record, so a record on disk is complete. The parent trusts nothing in ``results/``: it opens files
without following links, only regular files with one link (and, when the child runs as another
user, owned by that user), caps sizes, parses JSON and reads ``.npy`` headers itself, accepts only
numeric and boolean dtypes and calls ``np.load``'s reader with ``allow_pickle=False``.
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import stat
from pathlib import Path
from typing import Any

import numpy as np

NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")
"""Array names: letters, digits, ``_.-``, at most 64 characters, not starting with a dot."""
ARRAY_KINDS = "biufc"
"""numpy dtype kinds allowed across the boundary: bool, signed, unsigned, float, complex."""
STATUSES = ("ok", "error", "oom")
"""Statuses a child may write into a record."""
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
    """A record as UTF-8 JSON (NaN and infinities allowed, as Python's json reads them)."""
    return json.dumps(record, default=to_json_default, ensure_ascii=False).encode()


# --- parent side: reading what the child wrote ------------------------------------------------


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
    """Parse a JSON object; anything else is refused."""
    try:
        value = json.loads(payload.decode("utf-8"))
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
    return {"type": kind[:200], "message": message[:MAX_TEXT], "lineno": lineno}


def read_result(
    dir_fd: int, index: int, *, max_json_bytes: int, max_array_bytes: int, owner: int | None
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read and validate the record of call ``index``: (record, arrays).

    The record has ``status`` (one of ``STATUSES``), ``data`` (an object), ``arrays`` (names)
    and ``error`` (None or {type, message, lineno}). Raises TransportError on anything else.
    """
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
        payload = open_untrusted(dir_fd, f"{index}.{name}.npy", max_array_bytes + 4096, owner)
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
