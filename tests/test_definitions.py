"""Definition-time failures (issue 8): a top-level statement that raises, or that kills or hangs
the child while the notebook is imported, costs only the questions that need what it defines.

Each test grades the solution with one graded definition replaced by a broken one (an appended
cell: the last definition of a name wins) and compares every check with the solution's: the
broken definition's checks lose their points with a message that says what happened, every
other check keeps its score. Gradings go through a fork server (they would pass the same way
with fresh interpreters, only slower: ``tests/test_sandbox.py`` runs both).
"""

from __future__ import annotations

import textwrap

import pytest

from autograder.config import GraderConfig
from autograder.engine import grade_submission
from autograder.outcome import DroppedStatementNote
from autograder.probe_plan import PROBE_MODULES
from autograder.sandbox import ErrorKind, ForkServer, SandboxLimits
from tests.attacks.corpus import SOLUTION, write_notebook

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def config():
    with ForkServer(PROBE_MODULES) as server:
        yield GraderConfig(launcher=server, limits=SandboxLimits(import_budget_s=10))


@pytest.fixture(scope="module")
def solution(config):
    return grade_submission(SOLUTION, config=config)


def grade_broken(tmp_path, config, cells: list[str]):
    path = write_notebook(
        tmp_path / "broken.ipynb", "solution", [textwrap.dedent(c) for c in cells], ""
    )
    out = tmp_path / "out"
    report = grade_submission(path, out_dir=out, config=config)
    feedback = (out / "feedback.md").read_text()
    return report, feedback


def lost(report, solution) -> set[str]:
    """The checks that score less than the solution's."""
    before = {c.check_id: c.score for c in solution.checks}
    assert before.keys() == {c.check_id for c in report.checks}
    return {c.check_id for c in report.checks if c.score < before[c.check_id]}


def checks_of(solution, question: str) -> set[str]:
    return {c.check_id for c in solution.checks if c.question == question and c.score > 0}


def test_a_class_body_that_raises_costs_only_its_question(tmp_path, config, solution):
    report, feedback = grade_broken(
        tmp_path,
        config,
        [
            "from nmt_helpers import make_mask\n",
            """\
            class ScaledDotAttention(nn.Module):
                causal_mask = make_mask(3)

                def forward(self, queries, keys, values):
                    return queries, keys
            """,
        ],
    )
    assert lost(report, solution) == checks_of(solution, "2.2.1")
    assert "defining `ScaledDotAttention` raised NameError: name 'make_mask' is not defined" in (
        feedback
    )
    assert ", line 2)" in feedback  # the class body's line, in its cell


def test_a_decorator_that_raises_costs_only_what_it_decorates(tmp_path, config, solution):
    report, feedback = grade_broken(
        tmp_path,
        config,
        [
            """\
            def checked(function):
                raise RuntimeError("the checker is not installed")


            @checked
            def fit_linear_log(x, y):
                return 0.0, 0.0
            """
        ],
    )
    fit = {c.check_id for c in solution.checks if c.check_id in ("2.4.2/slope", "2.4.2/intercept")}
    assert fit and lost(report, solution) == fit
    assert "defining `fit_linear_log` raised RuntimeError: the checker is not installed" in feedback


def test_a_class_body_that_ends_the_process_costs_only_its_question(tmp_path, config, solution):
    report, feedback = grade_broken(
        tmp_path,
        config,
        [
            """\
            import os


            class ScaledDotAttention(nn.Module):
                os._exit(0)
            """
        ],
    )
    assert lost(report, solution) == checks_of(solution, "2.2.1")
    (note,) = [n for n in report.notes if isinstance(n, DroppedStatementNote)]
    assert note.code == "class ScaledDotAttention(nn.Module):"
    assert note.error.kind is ErrorKind.CRASH and note.earlier == ()
    assert "the process exited (status 0)" in note.error.message
    assert "stopped the notebook's import" in feedback and "left it out" in feedback
    assert "`ScaledDotAttention` was left out" in feedback


def test_a_dropped_redefinition_leaves_the_earlier_definition_graded(tmp_path, config, solution):
    """The solution's training function's return annotation names ``DecoderOnlyTransformer``
    (evaluated when the function is defined), so its first definition is kept beside a later
    one. When the later one is left out, the earlier binding stands, as in Python (and in a
    kernel where the later cell failed): it is graded, and the note says so."""
    report, feedback = grade_broken(
        tmp_path,
        config,
        [
            """\
            import os


            class DecoderOnlyTransformer(nn.Module):
                os._exit(0)
            """
        ],
    )
    assert lost(report, solution) == set()
    (note,) = [n for n in report.notes if isinstance(n, DroppedStatementNote)]
    assert note.code == "class DecoderOnlyTransformer(nn.Module):"
    assert note.earlier == ("DecoderOnlyTransformer",)
    assert "the earlier definition of `DecoderOnlyTransformer` was graded instead" in feedback
    assert "could not be graded" not in feedback


def test_a_class_body_that_never_ends_costs_only_its_question(tmp_path, config, solution):
    report, feedback = grade_broken(
        tmp_path,
        config,
        [
            """\
            class MultiHeadCausalScaledDotAttention(nn.Module):
                while True:
                    pass
            """
        ],
    )
    assert lost(report, solution) == checks_of(solution, "2.3.4")
    (note,) = [n for n in report.notes if isinstance(n, DroppedStatementNote)]
    assert note.error.kind is ErrorKind.TIMEOUT
    assert note.binds == ("MultiHeadCausalScaledDotAttention",)
    assert "took more than 10 s to import" in feedback
