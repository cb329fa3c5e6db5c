"""The batch's cache under OUT: what the sandbox found, and the graded results, by content.

Two kinds of entries, each keyed by a hash of everything that decides it:

- a *probe* entry (``Probed``, as ``codec`` writes it: ``<key>.npz`` then ``<key>.json``) is
  keyed by the submission's bytes and file name, the grader's version and the code that probes
  (extraction, sandbox, probe cases: ``probe_code_hash``), the goldens' digest, the set of probe
  cases and the sandbox's limits. A change of the rubric or of a check keeps it, so the class is
  regraded without running student code again;
- a *result* entry (the rendered results.json and feedback.md, with the batch's status and the
  code fingerprint) is keyed by the probe key, every module that judges or words
  (``judge_code_hash``) and the rubric file's bytes.

Every write goes through a temporary name and a rename, arrays before the record that names
them, so a batch killed at any moment leaves complete entries or none. ``log.jsonl`` records each
grading the batch did (one line per event, appended), which is how a test counts them.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any

from autograder import __version__
from autograder.batch.codec import CodecError, ProbeBlob, read_blob
from autograder.child.wire import write_atomic
from autograder.sandbox import SandboxLimits

PACKAGE = Path(__file__).resolve().parents[1]
"""The ``autograder`` package whose code the keys hash."""
NOT_PROBING = (
    "checks/",
    "report.py",
    "rubric.py",
    "gradebook.py",
    "classreport/",
    "batch/",
    "execution/read.py",
    "execution/losses.py",
    "execution/model.py",
    "execution/calibrate.py",
)
"""Modules that cannot change what the sandbox finds (everything else counts, to be safe)."""
DATA_FILES = ("execution/calibration.json",)
"""Data files whose bytes count like a module's (the execution's calibrated ranges)."""
NOT_JUDGING = ("classreport/", "notebook/", "cli.py", "examples.py")
"""Modules that cannot change a student's results.json or feedback.md."""


def _code_hash(excluded: tuple[str, ...]) -> str:
    digest = hashlib.sha256(__version__.encode())
    paths = [*PACKAGE.rglob("*.py"), *(PACKAGE / name for name in DATA_FILES)]
    for path in sorted(p for p in paths if p.is_file()):
        relative = path.relative_to(PACKAGE).as_posix()
        if "__pycache__" in relative or relative.startswith(excluded):
            continue
        digest.update(relative.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


@cache
def probe_code_hash() -> str:
    """The grader's version and every module that can change what the sandbox finds."""
    return _code_hash(NOT_PROBING)


@cache
def judge_code_hash() -> str:
    """The grader's version and every module that can change a student's report."""
    return _code_hash(NOT_JUDGING)


def file_hash(path: Path) -> str:
    """SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _key(parts: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def probe_key(
    *,
    content: str,
    name: str,
    goldens: str,
    cases: set[str],
    limits: SandboxLimits,
    execute: dict[str, Any] | None = None,
) -> str:
    """The key of a probe entry (see the module docstring); ``limits`` without their hidden
    paths, which differ between machines and change nothing the child can compute; ``execute``
    the ``--execute`` settings (``ExecuteSettings.key``), when the notebook runs too."""
    parts = {
        "content": content,
        "name": name,
        "code": probe_code_hash(),
        "goldens": goldens,
        "cases": sorted(cases),
        "limits": asdict(replace(limits, hide_paths=None)),
    }
    return _key({**parts, "execute": execute} if execute is not None else parts)


def result_key(*, probe: str, rubric: str) -> str:
    """The key of a result entry: the probe key, the judging code and the rubric's hash."""
    return _key({"probe": probe, "code": judge_code_hash(), "rubric": rubric})


@dataclass(frozen=True)
class CachedResult:
    """A graded submission as the batch stored it."""

    results: dict[str, Any]
    """results.json, as written for every member of the submission."""
    feedback: str
    """feedback.md."""
    status: str
    """The batch's status: graded, unreadable, timed_out, crashed, out_of_memory."""
    fingerprint: str | None
    """``fingerprint_definitions`` of the graded definitions (None when unreadable)."""


class Cache:
    """Entries under one folder (``OUT/.batch/cache``)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        for folder in ("probes", "results"):
            (self.root / folder).mkdir(mode=0o700, parents=True, exist_ok=True)

    def _path(self, kind: str, key: str, suffix: str) -> Path:
        return self.root / kind / f"{key}{suffix}"

    def load_probed(self, key: str) -> ProbeBlob | None:
        """The stored probes, or None when absent or unreadable (they are then redone)."""
        try:
            return read_blob(
                self._path("probes", key, ".json").read_text(encoding="utf-8"),
                self._path("probes", key, ".npz").read_bytes(),
            )
        except (OSError, UnicodeDecodeError, CodecError):
            return None

    def store_probed(self, key: str, blob: ProbeBlob) -> None:
        """Store a probe entry: arrays first, then the record that completes it."""
        write_atomic(self._path("probes", key, ".npz"), blob.arrays)
        write_atomic(self._path("probes", key, ".json"), blob.text.encode("utf-8"))

    def load_result(self, key: str) -> CachedResult | None:
        """The stored result, or None when absent or unreadable."""
        try:
            data = json.loads(self._path("results", key, ".json").read_text(encoding="utf-8"))
            return CachedResult(
                results=data["results"],
                feedback=str(data["feedback"]),
                status=str(data["status"]),
                fingerprint=data["fingerprint"],
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def store_result(self, key: str, result: CachedResult) -> None:
        """Store a result entry (one file, replaced atomically)."""
        text = json.dumps(asdict(result), allow_nan=False)
        write_atomic(self._path("results", key, ".json"), text.encode("utf-8"))

    def log(self, event: str, **fields: Any) -> None:
        """Append one line to ``log.jsonl``: what the batch did (``probed``, ``judged``)."""
        line = json.dumps({"event": event, "time": round(time.time(), 3), **fields}) + "\n"
        descriptor = os.open(self.root / "log.jsonl", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(descriptor, line.encode("utf-8"))
        finally:
            os.close(descriptor)

    def events(self) -> list[dict[str, Any]]:
        """Every line of ``log.jsonl`` (a torn last line, from a kill, is skipped)."""
        try:
            lines = (self.root / "log.jsonl").read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        events = []
        for line in lines:
            try:
                events.append(json.loads(line))
            except ValueError:
                continue
        return events
