"""Child side: the sandbox's main loop, started by ``runner`` as

    python -s -P -S -B -c BOOTSTRAP WORKSPACE EVENT_FD

with WORKSPACE/lib (copies of this package and the probe modules) first on ``sys.path`` and the
grader's site-packages last. It
reads ``request.json``, enters the sandbox (``limits``), imports numpy and torch, installs the CPU
patches, loads the probe modules, then imports the student's ``submission.py`` and runs the calls
one by one, writing each record as soon as the call ends (``transport``).

Events go to the parent, one ASCII line each, on the pipe EVENT_FD: ``warn TEXT``, ``isolated
LIST`` (the namespaces that took effect) and ``fatal`` (trusted: nothing of the student's has run
yet), then ``importing N``, ``statement I`` before each top-level statement of the student's
module runs (``definitions``), ``imported N`` or ``import_failed N`` (the module does not parse),
``start I N`` and ``done I N`` per call, and ``end``; N is the size of the output file at that
moment, so the parent can tell which call printed what. The student's code
can write to that pipe too; the parent checks every line against what it expects next.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import os
import random
import sys
import traceback
import types
from pathlib import Path
from typing import Any

from .definitions import run_module
from .limits import enter_sandbox
from .patches import install_cpu_patches
from .registry import PROBES, load_probe_modules, to_numpy
from .wire import ERROR_KINDS, MAX_TEXT, encode_json, read_input_array, write_arrays, write_atomic

OOM_MARKERS = ("can't allocate memory", "not enough memory", "Cannot allocate memory")
"""Messages of the RuntimeErrors torch raises when an allocation fails."""


class Events:
    """The write end of the event pipe."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def send(self, line: str) -> None:
        text = "".join(c if " " <= c <= "~" else "?" for c in line)[:400]
        try:
            os.write(self.fd, (text + "\n").encode("ascii"))
        except OSError:
            os._exit(4)  # the parent is gone or closed the pipe


def flush_output() -> None:
    """Flush Python's buffers of stdout and stderr (the student may have replaced them)."""
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        with contextlib.suppress(Exception):  # a student's stream may do anything
            stream.flush()


def output_size() -> int:
    """The size of the output file (fd 1) after flushing: where the next print will land."""
    flush_output()
    try:
        return os.fstat(1).st_size
    except OSError:
        return 0


def describe_error(error: BaseException, filename: str) -> dict[str, Any]:
    """{type, message, lineno}: lineno is the deepest line of ``filename`` in the traceback
    (of the error, else of the error it was raised from), None if the file is not in it."""
    lineno = getattr(error, "submission_lineno", None)  # a DefinitionError's
    lineno = lineno if isinstance(lineno, int) and not isinstance(lineno, bool) else None
    if lineno is None and isinstance(error, SyntaxError) and error.filename == filename:
        lineno = error.lineno
    chain, seen = error, set()
    while lineno is None and chain is not None and id(chain) not in seen:
        seen.add(id(chain))
        for frame, line in traceback.walk_tb(chain.__traceback__):
            if frame.f_code.co_filename == filename:
                lineno = line
        chain = chain.__cause__ or chain.__context__
    try:
        message = error.msg if isinstance(error, SyntaxError) else str(error)
    except Exception:  # a student's exception may fail to print
        message = "(the exception's message could not be printed)"
    return {
        "type": type(error).__name__[:200],
        "message": str(message)[:MAX_TEXT],
        "lineno": lineno,
        "kind": error_kind(error),
    }


def error_kind(error: BaseException) -> str:
    """The record's ``kind``: a probe's ContractError says "contract" (its class attribute
    ``grader_kind``), a stub's NotImplementedError "not_implemented", anything else
    "exception". Student code can claim any of them; a claim changes only its own message."""
    if isinstance(error, NotImplementedError):
        return "not_implemented"
    kind = getattr(type(error), "grader_kind", None)
    return kind if kind in ERROR_KINDS else "exception"


def is_out_of_memory(error: BaseException) -> bool:
    if isinstance(error, MemoryError):
        return True
    return isinstance(error, RuntimeError) and any(m in str(error) for m in OOM_MARKERS)


def import_submission(path: Path, events: Events, skip: dict[int, str]) -> types.ModuleType:
    """Run ``path`` as the module ``submission``, one top-level statement at a time, each
    announced to the parent (``statement I``) before it runs (``definitions.run_module``)."""
    return run_module(path, skip=skip, before=lambda index: events.send(f"statement {index}"))


def seed_everything(seed: int) -> None:
    import numpy as np
    import torch

    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def run_call(module: types.ModuleType, call: dict[str, Any], base: Path) -> tuple[dict, dict]:
    """Run one call; return its record and arrays (an error record if anything failed)."""
    seed_everything(call["seed"])
    filename = module.__file__
    try:
        function = PROBES.get(call["probe"])
        if function is None:
            raise LookupError(f"no probe is registered as {call['probe']!r}")
        index = call["index"]
        inputs = {n: read_input_array(base / "inputs" / f"{index}.{n}.npy") for n in call["arrays"]}
        kwargs = dict(call["kwargs"])
        if "seed" in inspect.signature(function).parameters:
            kwargs["seed"] = call["seed"]
        data, arrays = function(module, **kwargs, **inputs)
        if not isinstance(data, dict) or not isinstance(arrays, dict):
            raise TypeError("a probe must return (dict, dict of arrays)")
        arrays = {str(name): to_numpy(array) for name, array in arrays.items()}
        return {"status": "ok", "data": data, "arrays": list(arrays), "error": None}, arrays
    except BaseException as error:  # student code may raise anything
        status = "oom" if is_out_of_memory(error) else "error"
        return {
            "status": status,
            "data": {},
            "arrays": [],
            "error": describe_error(error, filename),
        }, {}


def write_record(results: Path, index: int, record: dict, arrays: dict) -> None:
    """Write the call's arrays, then its record; a record that cannot be written becomes an
    error record saying why."""
    try:
        record["arrays"] = write_arrays(results, index, arrays)
        payload = encode_json(record)
    except Exception as error:
        message = f"the probe's answer cannot be sent: {type(error).__name__}: {error}"
        record = {
            "status": "error",
            "data": {},
            "arrays": [],
            "error": {
                "type": "ProbeOutputError",
                "message": message[:MAX_TEXT],
                "lineno": None,
                "kind": "exception",
            },
        }
        payload = encode_json(record)
    write_atomic(results / f"{index}.json", payload)


def prepare_interpreter() -> None:
    """What every child needs before any student code: numpy and torch imported, one thread,
    the CPU patches (a fork server does it once, for all its children)."""
    import numpy  # noqa: F401
    import torch

    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)
    install_cpu_patches()


def start(base: Path, events: Events, *, warm: bool) -> dict[str, Any]:
    """The trusted part: read the request, enter the sandbox, import what the probes need
    (``warm``: a fork of a server that did, which leaves the probe modules to load, if any)."""
    request = json.loads((base / "request.json").read_text())
    warnings, isolated = enter_sandbox(request["sandbox"], event_fd=events.fd, base=base)
    for warning in warnings:
        events.send("warn " + warning)
    events.send("isolated " + (",".join(sorted(isolated)) or "-"))
    if not warm:
        prepare_interpreter()
    load_probe_modules(request["probe_modules"])
    seed_everything(0)  # whatever the student's module draws at import is the same every time
    return request


def main() -> None:
    """The entry point of a fresh interpreter (``BOOTSTRAP``)."""
    serve_request(Path(sys.argv[1]), Events(int(sys.argv[2])), warm=False)


def serve_request(base: Path, events: Events, *, warm: bool) -> None:
    """The whole life of a child, trusted phase, import and calls; never returns."""
    try:
        request = start(base, events, warm=warm)
    except BaseException:
        traceback.print_exc()
        flush_output()
        events.send("fatal")
        os._exit(3)
    events.send(f"importing {output_size()}")
    path = base / "home" / "submission.py"
    skip = {int(entry["index"]): str(entry["why"]) for entry in request.get("skip", ())}
    try:
        module = import_submission(path, events, skip)
    except BaseException as error:
        flush_output()
        payload = encode_json({"error": describe_error(error, str(path))})
        write_atomic(base / "results" / "import.json", payload)
        events.send(f"import_failed {output_size()}")
        os._exit(0)
    events.send(f"imported {output_size()}")
    for call in request["calls"]:
        events.send(f"start {call['index']} {output_size()}")
        record, arrays = run_call(module, call, base)
        write_record(base / "results", call["index"], record, arrays)
        events.send(f"done {call['index']} {output_size()}")
    events.send("end")
    os._exit(0)
