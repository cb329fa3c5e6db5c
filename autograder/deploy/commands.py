"""The deployments' commands of ``python grade.py``: ``build-autograder`` and
``build-student-checker`` (``autograder.cli`` adds them with ``add_deploy_commands``)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def _build_autograder(args: argparse.Namespace) -> int:
    """The Gradescope zip."""
    from autograder.deploy.gradescope import build_autograder

    built = build_autograder(args.out, rubric_path=args.rubric)
    size = built.path.stat().st_size
    print(
        f"wrote {built.path} ({size / 1024:.0f} KiB): setup.sh, run_autograder, {built.wheel}, "
        f"rubric.toml, {len(built.public)} public and {len(built.hidden)} hidden golden cases"
    )
    print("upload it as a Gradescope programming assignment's autograder (docs/course-staff.md)")
    return 0


def _build_student_checker(args: argparse.Namespace) -> int:
    """The students' wheel."""
    from autograder.deploy.checker import build_student_checker

    built = build_student_checker(args.out, rubric_path=args.rubric)
    print(
        f"wrote {built.path} ({built.path.stat().st_size / 1024:.0f} KiB): {len(built.checks)} "
        f"public checks, {len(built.cases)} golden cases; {len(built.removed)} hidden checks "
        "left out"
    )
    print(f"students: pip install {built.path.name}, then nmt-check nmt.ipynb (docs/students.md)")
    return 0


def add_deploy_commands(commands: Any) -> None:
    """Add the two commands to ``grade.py``'s subparsers."""
    from autograder.rubric import DEFAULT_RUBRIC

    rubric_help = "points and visibility per check (default: the package's rubric.toml)"
    zipped = commands.add_parser(
        "build-autograder",
        help="write the Gradescope autograder zip",
        description="Write the zip to upload as a Gradescope programming assignment's "
        "autograder: setup.sh, run_autograder, the grader's wheel, the rubric, the goldens.",
    )
    zipped.add_argument("--out", type=Path, default=Path("autograder.zip"), help="the zip file")
    zipped.add_argument(
        "--rubric", type=Path, default=DEFAULT_RUBRIC, metavar="FILE", help=rubric_help
    )
    zipped.set_defaults(run=_build_autograder)
    checker = commands.add_parser(
        "build-student-checker",
        help="write the students' checker wheel (public checks only)",
        description="Write the wheel students install for `nmt-check NOTEBOOK`: the public "
        "checks and goldens and the sandbox; no reference, hidden check or hidden golden.",
    )
    checker.add_argument("--out", type=Path, default=Path("dist"), help="folder for the wheel")
    checker.add_argument(
        "--rubric", type=Path, default=DEFAULT_RUBRIC, metavar="FILE", help=rubric_help
    )
    checker.set_defaults(run=_build_student_checker)
