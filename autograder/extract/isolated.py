"""Extraction in a short-lived process of its own, bounded in memory and time.

The parent starts ``python -S -s -P -B -c BOOTSTRAP PATH LIMITS``; the process sets its limits
(address space, CPU time, no core file, death with the parent), reads the file, gives up root
(``nobody``, no new privileges) when it has it, analyses the notebook (``extract_source``, no
student code runs) and prints one JSON object:
``{"module": ...}``, ``{"error": {"kind", "message"}}`` for an unreadable notebook, or
``{"failure": TEXT}`` for a bug of ours. The parent waits at most ``timeout_s``, then kills it
(its process group), and turns every way it can end into an ``ExtractedModule`` or an
``ExtractError`` with a message that says which limit the notebook hit.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import math
import os
import resource
import signal
import subprocess
import sys
import tempfile
import traceback
from dataclasses import asdict
from pathlib import Path
from typing import Any

from .bounds import ExtractLimits
from .model import BrokenCell, Dropped, ExtractedModule, ExtractError

PACKAGE_ROOT = Path(__file__).resolve().parents[2]
"""The folder that holds the ``autograder`` package (a checkout or site-packages)."""
BOOTSTRAP = (
    "import sys; sys.path.insert(0, sys.argv[1]); "
    "from autograder.extract.isolated import child_main; child_main(sys.argv[2], sys.argv[3])"
)
MAX_OUTPUT = 32 << 20
"""Largest JSON the process may write (its RLIMIT_FSIZE) and the parent reads."""
MAX_DROPPED = 20_000
"""Most statements-left-out the process reports (each is a line of text for a report; a
notebook of 2 MB of one-line statements would otherwise send half a million)."""


def extract_isolated(path: Path, limits: ExtractLimits) -> ExtractedModule:
    """Extract ``path`` in a process of its own (see the module docstring)."""
    with contextlib.suppress(OSError):
        size = path.stat().st_size
        if size > limits.max_notebook_bytes:  # no process for a file that is refused anyway
            from .read import read_capped

            read_capped(path, limits.max_notebook_bytes)
    command = [sys.executable, "-S", "-s", "-P", "-B", "-c", BOOTSTRAP]
    command += [str(PACKAGE_ROOT), str(path), json.dumps(asdict(limits))]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=out,  # files, not pipes: the process's RLIMIT_FSIZE bounds what it writes
            stderr=err,
            env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONHASHSEED": "0"},
            start_new_session=True,
        )
        try:
            process.wait(timeout=limits.timeout_s)
        except subprocess.TimeoutExpired:
            raise ExtractError(
                "too_complex",
                f"{path.name} could not be read within the grader's limits: analysing it took "
                f"more than {limits.timeout_s:g} s",
            ) from None
        finally:
            _kill(process)
        out.seek(0)
        err.seek(max(0, os.fstat(err.fileno()).st_size - 4096))
        return _outcome(path.name, process.returncode, out.read(MAX_OUTPUT), err.read(), limits)


def _kill(process: subprocess.Popen) -> None:
    with contextlib.suppress(OSError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(Exception):
        process.wait(timeout=5)


def _outcome(name: str, code: int, out: bytes, err: bytes, limits: ExtractLimits) -> Any:
    """The module, or the ExtractError, that the process's ending means."""
    try:
        data = json.loads(out[:MAX_OUTPUT]) if out else None
    except ValueError:
        data = None
    if isinstance(data, dict) and "module" in data:
        return module_from_json(data["module"])
    if isinstance(data, dict) and "error" in data:
        raise ExtractError(data["error"]["kind"], data["error"]["message"])
    if isinstance(data, dict) and "failure" in data:
        raise RuntimeError(f"extraction failed: {data['failure']}")
    if code < 0 and -code in (signal.SIGKILL, signal.SIGXCPU):
        reason = f"it needed more than {limits.timeout_s:g} s of CPU time"
    elif code < 0:
        reason = f"the grader's reader crashed on it ({signal.Signals(-code).name})"
    else:
        tail = err.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no output"]
        reason = f"the grader's reader stopped ({tail[0][:200]})"
    raise ExtractError(
        "too_complex", f"{name} could not be read within the grader's limits: " + reason
    )


def module_to_json(module: ExtractedModule) -> dict[str, Any]:
    return asdict(module)


def module_from_json(data: dict[str, Any]) -> ExtractedModule:
    """Rebuild what ``module_to_json`` wrote (plain JSON from our own process)."""
    return ExtractedModule(
        source=data["source"],
        line_map=tuple((int(c), int(n)) for c, n in data["line_map"]),
        definitions={str(k): int(v) for k, v in data["definitions"].items()},
        broken_cells=tuple(
            BrokenCell(b["cell_index"], b["line"], b["message"], tuple(b["names"]))
            for b in data["broken_cells"]
        ),
        dropped=tuple(
            Dropped(
                d["cell_index"], d["line"], d["kind"], d["code"], d["reason"], tuple(d["binds"])
            )
            for d in data["dropped"]
        ),
        missing_globals={k: tuple(v) for k, v in data["missing_globals"].items()},
    )


def _set_limits(limits: ExtractLimits) -> None:
    memory = limits.memory_mb << 20
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    cpu = math.ceil(limits.timeout_s) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (MAX_OUTPUT, MAX_OUTPUT))
    with contextlib.suppress(Exception):
        ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    sys.setrecursionlimit(5_000)  # the depth cap needs far less; C frames stay small


def drop_root() -> None:
    """As root, become ``nobody`` for good before parsing: the notebook is hostile input and the
    parser is C code; nothing after reading the file needs privileges."""
    if os.geteuid() != 0:
        return
    import encodings.utf_8_sig  # noqa: F401 - what nobody could not import later

    from . import SourceCell, extract_source

    extract_source([SourceCell(0, "import x\n%time\ndef f(a=1):\n    return a\n")])
    ctypes.CDLL(None).prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)


def child_main(path: str, limits_json: str) -> None:
    """The extraction process: print the outcome as one JSON object, exit 0."""
    from . import extract_source
    from .read import cells_from_bytes, read_capped

    limits = ExtractLimits(**json.loads(limits_json))
    _set_limits(limits)
    try:
        data = read_capped(Path(path), limits.max_notebook_bytes)
        drop_root()
        cells = cells_from_bytes(data, Path(path).name)
        module = module_to_json(extract_source(cells, limits=limits))
        module["dropped"] = module["dropped"][:MAX_DROPPED]
        result: dict[str, Any] = {"module": module}
    except ExtractError as error:
        result = {"error": {"kind": error.kind, "message": error.message}}
    except (MemoryError, RecursionError) as error:
        what = (
            f"more than {limits.memory_mb} MB of memory"
            if isinstance(error, MemoryError)
            else "nesting deeper than the grader can follow"
        )
        message = f"{Path(path).name} could not be read within the grader's limits: {what}"
        result = {"error": {"kind": "too_complex", "message": message}}
    except Exception:  # noqa: BLE001 - a bug of ours: the parent reports it as the grader's
        result = {"failure": traceback.format_exc()[-2000:]}
    sys.stdout.write(json.dumps(result))
    sys.stdout.flush()
    os._exit(0)
