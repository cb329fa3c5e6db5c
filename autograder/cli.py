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
    """The main job on the bundled examples: grade the solution, the student template and the
    example wrong submissions, and print a small gradebook."""
    from tqdm.auto import tqdm

    from autograder.engine import grade_submission
    from autograder.gradebook import render_gradebook, write_gradebook_csv

    root = Path(__file__).resolve().parent.parent
    submissions = [
        root / "fixtures" / "submissions" / "solution.ipynb",
        root / "student_template" / "nmt.ipynb",
        *sorted((root / "fixtures" / "submissions").glob("wrong-*.ipynb")),
    ]
    missing = [p for p in submissions if not p.is_file()]
    if missing:
        print(
            f"error: {missing[0]} is missing; run `python grade.py build-notebooks`",
            file=sys.stderr,
        )
        return 2
    reports = []
    for path in tqdm(submissions, desc="grading", unit="notebook"):
        reports.append(grade_submission(path, out_dir=args.out / path.stem, config=_config(args)))
    print(render_gradebook(reports))
    csv_path = write_gradebook_csv(reports, args.out / "gradebook.csv")
    print(
        f"per-submission results.json and feedback.md in {args.out}/<name>/; gradebook: {csv_path}"
    )
    return 0


def _config(args: argparse.Namespace):
    from autograder.config import GraderConfig

    return GraderConfig().with_options(rubric=getattr(args, "rubric", None))


def _execute(args: argparse.Namespace):
    """The --execute settings of the command line, or None without --execute."""
    if not getattr(args, "execute", False):
        return None
    from autograder.execution import ExecuteSettings

    return ExecuteSettings(
        profile=args.profile,
        device=args.device,
        cell_timeout_s=args.cell_timeout,
        budget_s=args.execute_budget,
        memory_mb=args.execute_memory,
        data_dir=str(args.data_dir) if args.data_dir else None,
    )


def _grade(args: argparse.Namespace) -> int:
    """Everything, as Gradescope scores it: results.json and feedback.md in --out."""
    from autograder.engine import grade_submission
    from autograder.report import render_terminal

    report = grade_submission(
        args.submission,
        out_dir=args.out,
        questions=args.question,
        config=_config(args),
        execute=_execute(args),
    )
    if report.status == "unreadable":
        print(f"error: {report.problem}", file=sys.stderr)
        print(f"results (score 0): {args.out / 'results.json'}")
        return 2
    print(render_terminal(report, public_only=False))
    print(f"results: {args.out / 'results.json'}; feedback: {args.out / 'feedback.md'}")
    return 0 if report.status == "graded" else 1


def _check(args: argparse.Namespace) -> int:
    """The public checks only, readable in a terminal."""
    from autograder.engine import grade_submission
    from autograder.report import render_terminal

    report = grade_submission(
        args.submission, public_only=True, questions=args.question, config=_config(args)
    )
    if report.status == "unreadable":
        print(f"error: {report.problem}", file=sys.stderr)
        return 2
    print(render_terminal(report, public_only=True))
    return 0 if report.status == "graded" else 1


def _batch(args: argparse.Namespace) -> int:
    """Grade a class: per-student results and feedback, the class report, resumable."""
    from autograder.batch import BatchOptions, run_batch

    options = BatchOptions(
        source=args.input,
        out=args.out,
        jobs=args.jobs,
        only=tuple(args.only or ()),
        ray_address=args.ray,
        config=_config(args),
        execute=_execute(args),
        progress=not args.quiet,
        fork_server=not args.no_fork_server,
        **({"template": args.template} if args.template else {}),
    )
    summary = run_batch(options)
    if summary.skipped:
        shown = ", ".join(summary.skipped[:5]) + (", ..." if len(summary.skipped) > 5 else "")
        print(f"skipped {len(summary.skipped)} files that are not notebooks: {shown}")
    print(summary.line())
    if summary.report is not None:
        print(f"per-student files in {args.out}/<student>/; class report: {summary.report}")
    return 1 if summary.statuses.get("error") else 0


def _goldens(args: argparse.Namespace) -> int:
    """Regenerate (or, with --check, compare) the golden files from the reference."""
    from autograder.goldens import GOLDENS_DIR
    from autograder.goldens.build import compare_goldens, write_goldens

    if args.check:
        problems = compare_goldens(GOLDENS_DIR)
        for problem in problems:
            print(f"stale golden: {problem}", file=sys.stderr)
        print("goldens are up to date" if not problems else "run `python grade.py goldens`")
        return 1 if problems else 0
    print(f"wrote {write_goldens(GOLDENS_DIR)}")
    return 0


def _build_notebooks(args: argparse.Namespace) -> int:
    """Build the student and solution notebooks from the reference (or, with --check, compare)."""
    from autograder.notebook import main as build_main

    return build_main(check=args.check)


def _experiments(args: argparse.Namespace) -> int:
    from reference.experiments import main as experiments_main

    return experiments_main(args.rest)


def add_execute_options(parser: argparse.ArgumentParser) -> None:
    """--execute and its settings (grade and batch)."""
    from autograder.execution.settings import DEVICES, MEMORY_MB, PROFILES

    group = parser.add_argument_group(
        "execution", "run the notebook itself with papermill in the sandbox (no points)"
    )
    group.add_argument("--execute", action="store_true", help="also run the notebook")
    group.add_argument("--profile", choices=PROFILES, default="smoke", help="its PROFILE")
    group.add_argument("--device", choices=DEVICES, default="auto", help="its DEVICE")
    group.add_argument(
        "--cell-timeout", type=float, metavar="S", help="seconds per cell (default: by profile)"
    )
    group.add_argument(
        "--execute-budget", type=float, metavar="S", help="seconds in all (default: by profile)"
    )
    group.add_argument(
        "--execute-memory",
        type=int,
        default=MEMORY_MB,
        metavar="MB",
        help=f"address-space limit of the child and of its kernel (default {MEMORY_MB})",
    )
    group.add_argument(
        "--data-dir",
        type=Path,
        metavar="DIR",
        help="the official course files, shown read-only (default: $NMT_DATA_DIR, ./data, "
        "../shared/data; else the notebook builds its offline data)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python grade.py",
        description="nmt-autograder: reference solution, student notebook and autograder for "
        "the English-to-Pig-Latin Transformer homework.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = commands.add_parser("demo", help="grade the bundled example submissions")
    demo.add_argument("--out", type=Path, default=Path("out/demo"))
    demo.add_argument("--rubric", type=Path, metavar="FILE", help="another rubric file")
    demo.set_defaults(run=_demo)
    for name, function, text in (
        ("grade", _grade, "grade a submission as Gradescope would (all checks)"),
        ("check", _check, "run the public checks on a notebook (for students)"),
    ):
        sub = commands.add_parser(name, help=text, description=text)
        sub.add_argument("submission", type=Path, help="the .ipynb (or .py) to grade")
        sub.add_argument(
            "--question",
            action="append",
            metavar="Q",
            help="only this question, e.g. 2.3.4 (repeatable)",
        )
        sub.add_argument(
            "--rubric",
            type=Path,
            metavar="FILE",
            help="points and visibility per check (default: the package's rubric.toml)",
        )
        if name == "grade":
            sub.add_argument(
                "--out",
                type=Path,
                default=Path("out/grade"),
                help="folder for results.json and feedback.md",
            )
            add_execute_options(sub)
        sub.set_defaults(run=function)
    batch = commands.add_parser(
        "batch",
        help="grade a class (folder, zip or Gradescope export), in parallel and resumable",
        description="Grade every submission of INPUT into OUT/<student>/ and write the class "
        "report (OUT/report.html). Rerunning the same command resumes; results are cached.",
    )
    batch.add_argument("input", type=Path, help="folder of notebooks, Gradescope export, or zip")
    batch.add_argument("--out", type=Path, default=Path("out/batch"), help="output folder")
    batch.add_argument(
        "--jobs", type=int, metavar="N", help="submissions at once (default: cores and memory)"
    )
    batch.add_argument(
        "--only", nargs="+", metavar="ID", help="regrade only these students or submissions"
    )
    batch.add_argument("--ray", metavar="ADDRESS", help="run on this Ray cluster (host:port)")
    batch.add_argument("--rubric", type=Path, metavar="FILE", help="another rubric file")
    batch.add_argument(
        "--template", type=Path, metavar="NOTEBOOK", help="the handout's notebook (not copying)"
    )
    batch.add_argument("--quiet", action="store_true", help="no progress bar")
    batch.add_argument(
        "--no-fork-server",
        action="store_true",
        help="a fresh interpreter per sandboxed child (slower: each imports torch)",
    )
    add_execute_options(batch)
    batch.set_defaults(run=_batch)
    goldens = commands.add_parser("goldens", help="regenerate the golden outputs (explicit)")
    goldens.add_argument("--check", action="store_true", help="compare instead of writing")
    goldens.set_defaults(run=_goldens)
    notebooks = commands.add_parser(
        "build-notebooks",
        help="build student_template/nmt.ipynb and fixtures/submissions/solution.ipynb",
    )
    notebooks.add_argument(
        "--check", action="store_true", help="fail when a committed notebook is stale"
    )
    notebooks.set_defaults(run=_build_notebooks)
    from autograder.deploy.commands import add_deploy_commands

    add_deploy_commands(commands)
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
    except ValueError as error:  # bad options: one line, no traceback
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
