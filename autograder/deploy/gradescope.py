"""``python grade.py build-autograder [--out autograder.zip]``: the zip Gradescope runs.

Contents (docs/course-staff.md says how to upload it)::

    setup.sh                  Python >= 3.11, a CPU-only torch, the grader; root-only modes
    run_autograder            grades /autograder/submission (``autograder.deploy.container``)
    nmt_grader-V-py3-none-any.whl   the grader alone: what run_autograder imports, and the
                              child-side package; no reference, no goldens, no notebook builder
    rubric.toml               points and visibility (the course's, from --rubric)
    goldens/public/           the cases the visible checks read
    goldens/hidden/           the others
    build.json                what was built: version, torch, the rubric's totals, case lists

Built reproducibly: the same inputs give the same bytes.
"""

from __future__ import annotations

import json
import re
import tempfile
import zipfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from autograder import __version__
from autograder.checks import REGISTRY
from autograder.deploy.contents import module_files, public_cases, split_goldens
from autograder.deploy.wheel import WheelSpec, write_wheel
from autograder.goldens import GOLDENS_DIR
from autograder.rubric import DEFAULT_RUBRIC, load_rubric

TORCH_VERSION = "2.13.0"
"""The torch setup.sh installs (the project's pinned version)."""
GRADER_NAME = "nmt-grader"
GRADER_REQUIRES = (
    "numpy>=1.24",
    "nbformat>=5.7",
    f"torch=={TORCH_VERSION}",
    "wordsegment>=1.3",  # the training checks' offline pairs, where no pig_latin_small.txt is found
)
ENTRY = "autograder.deploy.container"
_DATE = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class BuiltAutograder:
    """The zip and what went into it."""

    path: Path
    """The zip file."""
    wheel: str
    """The grader wheel's file name inside the zip."""
    public: tuple[str, ...]
    """Golden cases in goldens/public."""
    hidden: tuple[str, ...]
    """Golden cases in goldens/hidden."""


def grader_wheel_spec() -> WheelSpec:
    """The grader-only wheel: the modules ``run_autograder`` imports and the child package."""
    files = {archive: path.read_bytes() for archive, path in module_files([ENTRY]).items()}
    return WheelSpec(
        name=GRADER_NAME,
        version=__version__,
        summary="The NMT homework's grader, as the Gradescope autograder installs it",
        files=files,
        requires=GRADER_REQUIRES,
    )


def _template(name: str, **values: str) -> bytes:
    text = resources.files("autograder.deploy").joinpath("templates", name).read_text("utf-8")
    for key, value in values.items():
        text = text.replace(f"@{key}@", value)
    left = re.findall(r"@[A-Z_]+@", text)
    if left:
        raise ValueError(f"unfilled placeholder(s) {', '.join(left)} in {name}")
    return text.encode("utf-8")


def _add(archive: zipfile.ZipFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = zipfile.ZipInfo(name, date_time=_DATE)
    info.external_attr = mode << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    archive.writestr(info, data)


def build_autograder(
    out: Path, *, rubric_path: Path = DEFAULT_RUBRIC, goldens_dir: Path = GOLDENS_DIR
) -> BuiltAutograder:
    """Write the Gradescope zip to ``out``; ValueError when the rubric does not fit the checks."""
    rubric = load_rubric(rubric_path)
    rubric.validate(REGISTRY)
    visible = [c for c in rubric.enabled(REGISTRY) if rubric.line(c).visibility == "visible"]
    public = public_cases(visible)
    spec = grader_wheel_spec()
    info = f"{spec.stem}.dist-info"
    scripts = {
        "setup.sh": _template(
            "setup.sh", TORCH_VERSION=TORCH_VERSION, WHEEL=spec.filename, DIST_INFO=info
        ),
        "run_autograder": _template("run_autograder"),
    }
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        staging = Path(tmp)
        split_goldens(goldens_dir, public, staging / "public", staging / "hidden")
        wheel = write_wheel(spec, staging / "wheel")
        lists = {
            part: json.loads((staging / part / "index.json").read_text())["cases"]
            for part in ("public", "hidden")
        }
        build = {
            "version": __version__,
            "torch": TORCH_VERSION,
            "wheel": spec.filename,
            "title": rubric.title,
            "points": {
                v: sum(line.points for line in rubric.lines.values() if line.visibility == v)
                for v in sorted({line.visibility for line in rubric.lines.values()})
            },
            "goldens": lists,
        }
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, data in scripts.items():
                _add(archive, name, data, 0o755)
            _add(archive, spec.filename, wheel.read_bytes())
            _add(archive, "rubric.toml", Path(rubric_path).read_bytes())
            for part in ("public", "hidden"):
                for path in sorted((staging / part).iterdir()):
                    _add(archive, f"goldens/{part}/{path.name}", path.read_bytes())
            _add(archive, "build.json", (json.dumps(build, indent=1) + "\n").encode())
    return BuiltAutograder(out, spec.filename, tuple(lists["public"]), tuple(lists["hidden"]))
