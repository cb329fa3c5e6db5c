"""What ``run_autograder`` runs inside Gradescope's container: pick the file, grade, write.

Gradescope's layout, under ``/autograder`` (``--root`` or ``NMT_AUTOGRADER_ROOT`` moves it, so
tests lay it out in a temporary folder)::

    source/                    the uploaded zip: rubric.toml, goldens/public, goldens/hidden, wheel
    submission/                what the student uploaded
    submission_metadata.json   who submitted, the assignment's dates, earlier results
    results/results.json       what this writes, always, even when everything else fails

Secrets are kept from student code by ownership and modes, whether or not the sandbox gets its
namespaces: as root, this makes the source, the results folder, the metadata (earlier results
include hidden tests' output) and the submission folder root-only before any student code
runs, and ``setup.sh`` made the installed grader package root-only. The sandboxed child runs as
an unprivileged uid of its own and gets copies of the child-side package in its own workspace.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from autograder import __version__
from autograder.config import PACKAGE_DIR, GraderConfig, default_secret_paths
from autograder.deploy.select import select_submission
from autograder.engine import grade_submission
from autograder.files import write_json
from autograder.sandbox import ProbeCall, SandboxLimits, run_probes

ROOT_ENV = "NMT_AUTOGRADER_ROOT"
"""Environment variable: the container's root folder (default ``/autograder``)."""
NAMESPACES_ENV = "NMT_SANDBOX_NAMESPACES"
"""Environment variable: ``0`` runs the child without namespaces (as in Docker without
CAP_SYS_ADMIN, Gradescope's usual case), to rehearse that case anywhere."""
DEFAULT_ROOT = Path("/autograder")


@dataclass(frozen=True)
class Layout:
    """Where the container's folders are."""

    root: Path
    """``/autograder``, or a test's stand-in for it."""

    @property
    def source(self) -> Path:
        return self.root / "source"

    @property
    def submission(self) -> Path:
        return self.root / "submission"

    @property
    def metadata(self) -> Path:
        return self.root / "submission_metadata.json"

    @property
    def results(self) -> Path:
        return self.root / "results"


def limits_from_environment(base: SandboxLimits | None = None) -> SandboxLimits:
    """The sandbox limits, with ``NMT_SANDBOX_NAMESPACES=0`` honoured."""
    limits = base or SandboxLimits()
    if os.environ.get(NAMESPACES_ENV, "").strip().lower() in {"0", "false", "no", "off"}:
        limits = replace(limits, namespaces=False)
    return limits


def deployment_config(layout: Layout) -> GraderConfig:
    """The zip's rubric and goldens; the whole container root hidden from the child."""
    goldens = layout.source / "goldens"
    return GraderConfig(
        rubric=layout.source / "rubric.toml",
        goldens=(goldens / "public", goldens / "hidden"),
        secret_paths=(*default_secret_paths(), layout.root.resolve()),
        limits=limits_from_environment(),
    )


def _restrict(path: Path, *, directory_mode: int = 0o700, file_mode: int = 0o600) -> None:
    """Make ``path`` (and everything under it) root-only."""
    if path.is_symlink() or not path.exists():
        return
    if path.is_dir():
        for item in path.rglob("*"):
            if not item.is_symlink():
                item.chmod(directory_mode if item.is_dir() else item.stat().st_mode & 0o700)
        path.chmod(directory_mode)
    else:
        path.chmod(file_mode)


def installed_package() -> Path | None:
    """The grader package when it is installed (in a site-packages), not a checkout."""
    return PACKAGE_DIR if PACKAGE_DIR.parent.name.endswith("-packages") else None


def protect(layout: Layout) -> None:
    """As root: make the secrets and the results folder root-only (see the module docstring)."""
    layout.results.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        return
    for path in (layout.source, layout.results, layout.metadata, layout.submission):
        _restrict(path)
    package = installed_package()
    if package is not None and package.stat().st_mode & 0o077:
        _restrict(package)


def read_metadata(path: Path) -> dict[str, Any]:
    """What results.json's extra_data keeps of submission_metadata.json: the submission's and
    the students' ids, the assignment and whether the submission came after its due date."""
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        assignment = data.get("assignment") or {}
        users = data.get("users") or []
        info: dict[str, Any] = {
            "submission_id": data.get("id"),
            "student_ids": [u.get("id") for u in users if isinstance(u, dict)],
            "assignment": {k: assignment.get(k) for k in ("id", "title", "due_date")},
        }
    except (OSError, ValueError, TypeError, AttributeError) as error:
        return {"metadata_error": f"{type(error).__name__}: {error}"}
    try:
        due, created = assignment.get("due_date"), data.get("created_at")
        if isinstance(due, str) and isinstance(created, str):
            info["late"] = datetime.fromisoformat(created) > datetime.fromisoformat(due)
    except (ValueError, TypeError):  # a date we cannot read, or one without a time zone
        pass
    return info


def _base_results(output: str, seconds: float, extra: dict[str, Any]) -> dict[str, Any]:
    return {
        "score": 0.0,
        "execution_time": round(seconds, 3),
        "output": output,
        "output_format": "md",
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "extra_data": {"grader_version": __version__, **extra},
        "tests": [],
    }


def _amend(path: Path, sentence: str, extra: dict[str, Any]) -> None:
    """Say which file was graded, first thing in the summary, and add ``extra``."""
    results = json.loads(path.read_text(encoding="utf-8"))
    results["output"] = f"{sentence}\n\n{results.get('output', '')}".strip()
    for test in results.get("tests", []):
        if test.get("number") == "0":  # the visible summary test
            test["output"] = f"{sentence}\n\n{test.get('output', '')}".strip()
    results.setdefault("extra_data", {}).update(extra)
    write_json(path, results)


def run(layout: Layout) -> Path:
    """Grade the submission of ``layout`` into its results.json; returns the file."""
    start = time.perf_counter()
    protect(layout)
    results = layout.results / "results.json"
    extra = read_metadata(layout.metadata)
    with tempfile.TemporaryDirectory(prefix="nmt-upload-") as work:
        selection = select_submission(layout.submission, Path(work))
        extra["submission"] = {
            "graded": selection.chosen.shown if selection.chosen else None,
            "not_graded": list(selection.others),
        }
        if selection.chosen is None:
            output = selection.describe()
            write_json(results, _base_results(output, time.perf_counter() - start, extra))
            return results
        grade_submission(
            selection.chosen.path, out_dir=layout.results, config=deployment_config(layout)
        )
    _amend(results, selection.describe(), extra)
    return results


def write_failure(layout: Layout, error: BaseException) -> Path:
    """results.json for a failure of the grader itself (never the student's fault)."""
    text = (
        f"The autograder itself failed ({type(error).__name__}: {error}). This is not your "
        "fault: please tell the course staff."
    )
    return write_json(layout.results / "results.json", _base_results(text, 0.0, {}))


def verify(layout: Layout) -> None:
    """Start a sandboxed child as grading will (``setup.sh`` runs this): raises SandboxError
    when the sandbox user cannot run Python and torch here."""
    config = deployment_config(layout)
    source = "import torch\n\ndef ping():\n    return int(torch.ones(2).sum())\n"
    call = ProbeCall("ping", "call", "setup", {"function": "ping"})
    [result] = run_probes(source, [call], probe_modules=[], limits=config.sandbox_limits())
    if result.status != "ok" or result.data.get("result") != 2:
        raise RuntimeError(f"the sandbox could not run a probe: {result.status} {result.error}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="run_autograder", description="Grade /autograder/submission for Gradescope."
    )
    parser.add_argument(
        "--root",
        type=Path,
        default=None,
        help=f"the container's root (default ${ROOT_ENV} or /autograder)",
    )
    parser.add_argument(
        "--verify", action="store_true", help="only check that the sandbox runs (setup.sh)"
    )
    args = parser.parse_args(argv)
    layout = Layout(args.root or Path(os.environ.get(ROOT_ENV) or DEFAULT_ROOT))
    if args.verify:
        verify(layout)
        print("the sandbox runs: a child as the sandbox user imported torch and answered a probe")
        return 0
    try:
        path = run(layout)
    except Exception as error:  # noqa: BLE001 - results.json must exist whatever happens
        path = write_failure(layout, error)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
