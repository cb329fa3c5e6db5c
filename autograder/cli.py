"""Command line of the project: ``python grade.py COMMAND ...``.

Each command imports what it needs when it runs, so ``--help`` and the grading commands stay
light (the grading parent needs no torch).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path


def _demo(args: argparse.Namespace) -> int:
    """The main job on the bundled example: the reference experiments' smoke profile."""
    from reference.experiments import main as experiments_main

    return experiments_main(["all", "--profile", "smoke", "--out", str(args.out)])


def _experiments(args: argparse.Namespace) -> int:
    from reference.experiments import main as experiments_main

    return experiments_main(args.rest)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python grade.py",
        description="nmt-autograder: reference solution, student notebook and autograder for "
        "the English-to-Pig-Latin Transformer homework.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = commands.add_parser("demo", help="run the main job on the bundled example")
    demo.add_argument("--out", type=Path, default=Path("out/demo"))
    demo.set_defaults(run=_demo)
    experiments = commands.add_parser(
        "experiments",
        help="the reference experiments (same as python -m reference.experiments)",
        add_help=False,
    )
    experiments.add_argument("rest", nargs=argparse.REMAINDER)
    experiments.set_defaults(run=_experiments)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
