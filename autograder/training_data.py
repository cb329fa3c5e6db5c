"""The official data of the training checks, read by the parent and sent with their calls.

The child reads no file of the grader's machine (its view of the filesystem is an allowlist),
so the parent reads the official ``pig_latin_small.txt`` when it has one (plain text, public:
the course website serves it; capped in size) and adds its bytes, as a uint8 array named
``official``, to the calls of the ``train`` probe. Without the file the child builds the offline
pairs with the given code, and the probe's data says which source it used. The file is looked
for where the reference looks (``reference.data.default_data_dirs``, repeated here because the
grading path never imports the reference): ``$NMT_DATA_DIR``, ``./data``, and beside the
checkout ``data/`` and ``../shared/data/``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from autograder.sandbox import ProbeCall

OFFICIAL_FILE = "pig_latin_small.txt"
"""The course file the training checks use."""
DATA_DIR_ENV = "NMT_DATA_DIR"
"""The environment variable naming a folder that holds it (as for the reference)."""
MAX_BYTES = 1 << 20
"""A larger file is not the course's (63 KB) and is ignored."""
TRAINING_PROBE = "train"
"""The probe whose calls get the data."""
_ROOT = Path(__file__).resolve().parent.parent


def data_dirs() -> list[Path]:
    """Where the official file is looked for, in order."""
    dirs = [Path(os.environ[DATA_DIR_ENV])] if os.environ.get(DATA_DIR_ENV) else []
    return [*dirs, Path("data"), _ROOT / "data", _ROOT.parent / "shared" / "data"]


def official_bytes(directories: Sequence[Path] | None = None) -> np.ndarray | None:
    """The first official file's bytes found (at most MAX_BYTES), or None."""
    for directory in data_dirs() if directories is None else directories:
        path = Path(directory) / OFFICIAL_FILE
        try:
            if path.is_file() and path.stat().st_size <= MAX_BYTES:
                return np.frombuffer(path.read_bytes(), dtype=np.uint8)
        except OSError:
            continue
    return None


def with_official_data(
    calls: Sequence[ProbeCall], directories: Sequence[Path] | None = None
) -> list[ProbeCall]:
    """The calls, the training ones carrying the official file's bytes when there is one."""
    if not any(call.probe == TRAINING_PROBE for call in calls):
        return list(calls)
    data = official_bytes(directories)
    if data is None:
        return list(calls)
    return [
        replace(call, arrays={**call.arrays, "official": data})
        if call.probe == TRAINING_PROBE
        else call
        for call in calls
    ]
