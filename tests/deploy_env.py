"""What the deployment tests share, built once per test session (each helper is cached):
the Gradescope zip, the students' wheel, a local torch index, the Gradescope install made by
running setup.sh, a fresh virtual environment with the checker, and the secrets to search for.

Everything lives in one folder under /var/tmp, readable by the sandbox user (the child must
read the virtual environments' Python and torch, as in Gradescope's container), removed at
exit.
"""

from __future__ import annotations

import atexit
import functools
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
TORCH = "torch==2.13.0"
QUIET_PIP = ["--disable-pip-version-check", "-q", "--no-cache-dir"]


@functools.cache
def workdir() -> Path:
    """The session's folder (world-traversable, outside the checkout and /tmp)."""
    base = Path("/var/tmp") if Path("/var/tmp").is_dir() else Path(tempfile.gettempdir())
    path = Path(tempfile.mkdtemp(prefix="nmt-deploy-tests-", dir=base))
    path.chmod(0o755)
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


@functools.cache
def autograder_zip() -> Path:
    from autograder.deploy.gradescope import build_autograder

    folder = workdir() / "zip"
    folder.mkdir(mode=0o700)  # it holds the hidden goldens, as /autograder/source does
    return build_autograder(folder / "autograder.zip").path


@functools.cache
def checker_wheel() -> Path:
    from autograder.deploy.checker import build_student_checker

    return build_student_checker(workdir() / "checker").path


def readable_python() -> str | None:
    """A Python >= 3.11 that other users can run and read (Gradescope's is /usr/bin), or None
    (this machine's own may live in /root, which the sandbox user cannot enter)."""
    for name in ("python3.13", "python3.12", "python3.11", "python3"):
        path = Path("/usr/bin") / name
        if not path.exists():
            continue
        probe = "import sys; print(sys.version_info >= (3, 11), sys.base_prefix)"
        out = subprocess.run([path, "-c", probe], capture_output=True, text=True).stdout.split()
        if out and out[0] == "True" and others_can_read(Path(out[1], "lib")):
            return str(path)
    return None


def others_can_read(path: Path) -> bool:
    """Whether a user with no special rights can list ``path`` and enter every folder above."""
    folders = [path, *path.parents]
    return all(p.is_dir() and p.stat().st_mode & 0o005 == 0o005 for p in folders)


@functools.cache
def torch_index() -> str:
    """A PEP 503 index (file://) holding the torch wheel this machine's pip finds: what
    TORCH_INDEX_URL points at in the tests."""
    wheels = workdir() / "torch-wheel"
    subprocess.run(
        [sys.executable, "-m", "pip", "download", *QUIET_PIP, "--no-deps", "-d", wheels, TORCH],
        check=True,
    )
    [wheel] = sorted(wheels.glob("torch-*.whl"))
    project = workdir() / "simple" / "torch"
    project.mkdir(parents=True)
    link = f'<a href="{wheel.as_uri()}">{wheel.name}</a>'
    (project / "index.html").write_text(f"<html><body>{link}</body></html>\n")
    return (workdir() / "simple").as_uri() + "/"


@functools.cache
def gradescope_install() -> tuple[Path, Path, subprocess.CompletedProcess]:
    """Gradescope's image, rehearsed: the zip unpacked into ROOT/source and setup.sh run (as
    root) into a fresh virtual environment with torch from ``torch_index``. Returns the venv,
    the root and setup.sh's process."""
    python = readable_python()
    root, venv = workdir() / "root", workdir() / "venv"
    with zipfile.ZipFile(autograder_zip()) as archive:
        archive.extractall(root / "source")
    for script in ("setup.sh", "run_autograder"):
        (root / "source" / script).chmod(0o755)
    env = {
        **os.environ,
        "TORCH_INDEX_URL": torch_index(),
        "NMT_AUTOGRADER_VENV": str(venv),
        **({"NMT_PYTHON": python} if python else {}),
    }
    done = subprocess.run(
        ["bash", root / "source" / "setup.sh"], env=env, capture_output=True, text=True
    )
    return venv, root, done


@functools.cache
def checker_venv() -> Path:
    """A fresh virtual environment with torch (this machine's local CPU wheel), the checker
    wheel (--no-deps) and what else it requires."""
    venv = workdir() / "checker-venv"
    subprocess.run([readable_python() or sys.executable, "-m", "venv", venv], check=True)
    pip = [venv / "bin" / "python", "-m", "pip", "install", *QUIET_PIP]
    subprocess.run([*pip, TORCH], check=True)
    subprocess.run([*pip, "--no-deps", checker_wheel()], check=True)
    from autograder.deploy.checker import CHECKER_REQUIRES

    subprocess.run([*pip, *(r for r in CHECKER_REQUIRES if not r.startswith("torch"))], check=True)
    return venv


# --- secrets ----------------------------------------------------------------------------------


@functools.cache
def secret_lines() -> tuple[str, ...]:
    """Every line of a reference solution region that the student notebook does not show."""
    from autograder.notebook import reference_regions

    notebook = json.loads((REPO / "student_template" / "nmt.ipynb").read_text())
    shown = {
        line.strip() for cell in notebook["cells"] for line in "".join(cell["source"]).splitlines()
    }
    lines = {line.strip() for body in reference_regions().values() for line in body}
    return tuple(sorted(line for line in lines if line and line not in shown))


def hidden_cases(rubric: Path | None = None) -> list[str]:
    """The golden cases no visible check of the rubric reads."""
    from autograder.checks import REGISTRY
    from autograder.deploy.contents import public_cases
    from autograder.goldens import load_goldens
    from autograder.rubric import DEFAULT_RUBRIC, load_rubric

    loaded = load_rubric(rubric or DEFAULT_RUBRIC)
    visible = [c for c in REGISTRY if loaded.line(c).visibility == "visible"]
    return sorted(set(load_goldens().cases) - public_cases(visible))


@functools.cache
def hidden_values(*, answers_only: bool = False) -> np.ndarray:
    """Every distinctive number of the hidden cases' goldens (arrays and JSON facts): floats
    that are not round (a round 1.0 is everywhere). With ``answers_only``, the reference's
    answers alone: the inputs are sent to the child by design, so it may see them."""
    from autograder.goldens import load_goldens

    goldens = load_goldens()
    numbers: list[float] = []
    for case in hidden_cases():
        golden = goldens.cases[case]
        inputs = () if answers_only else tuple(golden.inputs.values())
        for array in (*inputs, *golden.expected.values()):
            numbers += np.asarray(array, dtype=np.float64).ravel().tolist()
        numbers += re.findall(r"-?\d+\.\d+(?:e[-+]?\d+)?", json.dumps(golden.facts))
    values = np.unique(np.array(numbers, dtype=np.float64))
    return values[np.abs(values * 1000 - np.round(values * 1000)) > 1e-6]


def _float_hits(blob: bytes, values: np.ndarray) -> list[float]:
    """Values found in ``blob`` as raw float64 (any alignment) or as text with 8+ decimals."""
    hits: set[float] = set()
    for offset in range(8):
        usable = (len(blob) - offset) // 8 * 8
        if usable <= 0:
            continue
        found = np.frombuffer(blob, dtype="<f8", count=usable // 8, offset=offset)
        hits |= set(found[np.isin(found, values)].tolist())
    for token in re.findall(rb"-?\d+\.\d{8,}(?:e[-+]?\d+)?", blob):
        value = float(token)
        index = np.searchsorted(values, value)
        for near in values[max(index - 1, 0) : index + 1]:
            if np.isclose(value, near, rtol=1e-9, atol=0):
                hits.add(float(near))
    return sorted(hits)


def expand(blob: bytes, name: str = "") -> list[tuple[str, bytes]]:
    """A file's bytes, and for a zip (wheel, npz) every member's, recursively."""
    parts = [(name, blob)]
    if blob[:4] == b"PK\x03\x04":
        try:
            with zipfile.ZipFile(io.BytesIO(blob)) as archive:
                for member in archive.namelist():
                    parts += expand(archive.read(member), f"{name}/{member}")
        except zipfile.BadZipFile:
            pass
    return parts


def find_secrets(blob: bytes, name: str = "", *, answers_only: bool = False) -> list[str]:
    """What of the secrets ``blob`` holds (zips opened): reference lines and hidden values
    (with ``answers_only``, the hidden cases' answers but not their inputs)."""
    values = hidden_values(answers_only=answers_only)
    found = []
    for part, data in expand(blob, name):
        found += [f"{part}: line {line!r}" for line in secret_lines() if line.encode() in data]
        found += [f"{part}: value {v!r}" for v in _float_hits(data, values)]
    return found
