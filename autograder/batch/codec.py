"""``Probed`` as plain files: JSON and one ``.npz`` of arrays, read back without any pickle.

A batch keeps what the sandbox found for every submission (``autograder.engine.Probed``), so
that a change of points reruns no student code, and the workers (processes, Ray tasks) hand it
to the driver in the same form. ``encode_probed`` gives a ``ProbeBlob`` (JSON text and the
bytes of an uncompressed ``.npz``); ``decode_probed`` reads one back with ``allow_pickle=False``
and rebuilds every typed part: notes, ``ProbeError`` with its ``ErrorKind`` and ``Location``,
``Dropped`` statements. A blob that does not read raises ``CodecError``.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from autograder.engine import Probed
from autograder.extract import Dropped, Location
from autograder.outcome import (
    BrokenCellNote,
    DroppedStatementNote,
    GradingStatus,
    Note,
    StoppedNote,
    UndefinedNameNote,
)
from autograder.sandbox import ErrorKind, ProbeError, ProbeResult

NUMERIC_KINDS = frozenset("biufc")
"""Array dtypes a blob may hold (the sandbox's transport accepts the same)."""
FORMAT = 1
"""Version of the JSON layout; a blob of another version does not read."""


class CodecError(Exception):
    """A stored or transmitted ``Probed`` that cannot be read back."""


@dataclass(frozen=True)
class ProbeBlob:
    """A ``Probed`` as bytes that cross processes and machines, or why there is none."""

    text: str = ""
    """The JSON part (empty when ``error`` is set)."""
    arrays: bytes = b""
    """An ``.npz`` of every probe result's arrays (``a0``, ``a1``... named in the JSON)."""
    error: str = ""
    """The grader's own failure on this submission (``SandboxError: ...``), when it failed."""
    fingerprint: str | None = None
    """The submission's code fingerprint (``grading.fingerprint_submission``), also in the
    JSON part, so a stored blob keeps it."""
    code: str = ""
    """``cache.probe_code_hash`` of the worker that made it (a cluster node running another
    version of the grader is caught by the driver), also in the JSON part."""


# --- encode -----------------------------------------------------------------------------------


def _location(location: object) -> dict[str, Any] | None:
    if location is None:
        return None
    if isinstance(location, Location):
        return {
            "cell": location.cell,
            "line": location.line,
            "definition": location.definition,
        }
    return {"text": str(location)}


def _error(error: ProbeError | None) -> dict[str, Any] | None:
    if error is None:
        return None
    return {
        "type": error.type,
        "message": error.message,
        "location": _location(error.location),
        "kind": str(error.kind),
    }


def _dropped(dropped: Dropped | None) -> dict[str, Any] | None:
    if dropped is None:
        return None
    return {
        "cell_index": dropped.cell_index,
        "line": dropped.line,
        "kind": dropped.kind,
        "code": dropped.code,
        "reason": dropped.reason,
        "binds": list(dropped.binds),
    }


def _note(note: Note) -> dict[str, Any]:
    if isinstance(note, BrokenCellNote):
        return {
            "note": "broken_cell",
            "cell": note.cell,
            "line": note.line,
            "message": note.message,
            "names": list(note.names),
        }
    if isinstance(note, UndefinedNameNote):
        return {
            "note": "undefined_name",
            "name": note.name,
            "users": list(note.users),
            "dropped": _dropped(note.dropped),
        }
    if isinstance(note, StoppedNote):
        return {"note": "stopped", "question": note.question, "error": _error(note.error)}
    if isinstance(note, DroppedStatementNote):
        return {
            "note": "dropped_statement",
            "code": note.code,
            "binds": list(note.binds),
            "error": _error(note.error),
            "earlier": list(note.earlier),
        }
    raise CodecError(f"unknown note {note!r}")


def encode_probed(probed: Probed, *, fingerprint: str | None = None, code: str = "") -> ProbeBlob:
    """The blob of ``probed``, the submission's fingerprint and the worker's code hash (JSON
    with NaN allowed, as the sandbox's own records)."""
    arrays: dict[str, np.ndarray] = {}
    results = []
    for result in probed.results.values():
        names = {}
        for name, array in result.arrays.items():
            key = f"a{len(arrays)}"
            arrays[key] = np.asarray(array)
            if arrays[key].dtype.kind not in NUMERIC_KINDS:
                raise CodecError(f"array {name!r} of {result.id} is not numeric")
            names[name] = key
        results.append(
            {
                "id": result.id,
                "question": result.question,
                "status": result.status,
                "data": result.data,
                "arrays": names,
                "error": _error(result.error),
                "seconds": result.seconds,
                "output": result.output,
            }
        )
    document = {
        "format": FORMAT,
        "submission": probed.submission,
        "status": str(probed.status),
        "problem": probed.problem,
        "notes": [_note(note) for note in probed.notes],
        "results": results,
        "seconds": probed.seconds,
        "fingerprint": fingerprint,
        "code": code,
    }
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    text = json.dumps(document)
    return ProbeBlob(text, buffer.getvalue(), fingerprint=fingerprint, code=code)


def read_blob(text: str, arrays: bytes) -> ProbeBlob:
    """A blob from its two stored parts (``decode_probed`` checks the rest); CodecError when
    the JSON does not read."""
    try:
        document = json.loads(text)
        fingerprint, code = document.get("fingerprint"), str(document.get("code", ""))
    except (ValueError, AttributeError) as error:
        raise CodecError(f"cannot read a stored result: {error}") from None
    return ProbeBlob(text=text, arrays=arrays, fingerprint=fingerprint, code=code)


# --- decode -----------------------------------------------------------------------------------


def _read_location(data: dict[str, Any] | None) -> object:
    if data is None:
        return None
    if "text" in data:
        return str(data["text"])
    return Location(int(data["cell"]), int(data["line"]), data["definition"])


def _read_error(data: dict[str, Any] | None) -> ProbeError | None:
    if data is None:
        return None
    return ProbeError(
        str(data["type"]),
        str(data["message"]),
        _read_location(data["location"]),
        ErrorKind(data["kind"]),
    )


def _read_dropped(data: dict[str, Any] | None) -> Dropped | None:
    if data is None:
        return None
    return Dropped(
        int(data["cell_index"]),
        int(data["line"]),
        data["kind"],
        str(data["code"]),
        str(data["reason"]),
        tuple(data["binds"]),
    )


def _read_note(data: dict[str, Any]) -> Note:
    kind = data["note"]
    if kind == "broken_cell":
        return BrokenCellNote(
            int(data["cell"]), int(data["line"]), str(data["message"]), tuple(data["names"])
        )
    if kind == "undefined_name":
        return UndefinedNameNote(
            str(data["name"]), tuple(data["users"]), _read_dropped(data["dropped"])
        )
    if kind == "stopped":
        error = _read_error(data["error"])
        if error is None:
            raise CodecError("a stopped note without its error")
        return StoppedNote(str(data["question"]), error)
    if kind == "dropped_statement":
        error = _read_error(data["error"])
        if error is None:
            raise CodecError("a dropped statement's note without its error")
        earlier = tuple(str(n) for n in data.get("earlier", ()))
        return DroppedStatementNote(str(data["code"]), tuple(data["binds"]), error, earlier)
    raise CodecError(f"unknown note kind {kind!r}")


def _read_arrays(blob: bytes) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(blob), allow_pickle=False) as archive:
        arrays = {key: archive[key] for key in archive.files}
    for key, array in arrays.items():
        if array.dtype.kind not in NUMERIC_KINDS:
            raise CodecError(f"array {key} is not numeric ({array.dtype})")
    return arrays


def _read_result(data: dict[str, Any], arrays: dict[str, np.ndarray]) -> ProbeResult:
    return ProbeResult(
        id=str(data["id"]),
        question=str(data["question"]),
        status=data["status"],
        data=dict(data["data"]),
        arrays={name: arrays[key] for name, key in data["arrays"].items()},
        error=_read_error(data["error"]),
        seconds=float(data["seconds"]),
        output=str(data["output"]),
    )


def decode_probed(blob: ProbeBlob) -> Probed:
    """The ``Probed`` of a blob; ``CodecError`` when the blob does not read (or holds an
    error instead)."""
    if blob.error:
        raise CodecError(f"the blob holds an error, not a result: {blob.error}")
    try:
        document = json.loads(blob.text)
        if document.get("format") != FORMAT:
            raise CodecError(f"blob format {document.get('format')!r}, expected {FORMAT}")
        arrays = _read_arrays(blob.arrays)
        results = [_read_result(r, arrays) for r in document["results"]]
        return Probed(
            submission=str(document["submission"]),
            status=GradingStatus(document["status"]),
            problem=str(document["problem"]),
            notes=tuple(_read_note(n) for n in document["notes"]),
            results={r.id: r for r in results},
            seconds=float(document["seconds"]),
        )
    except CodecError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError, OSError) as error:
        raise CodecError(f"cannot read a stored result: {type(error).__name__}: {error}") from None
