"""pytest front end: ``pytest --submission nmt.ipynb`` grades a notebook, one item per check.

Registered with the ``pytest11`` entry point, so it loads wherever the package is installed; it
does nothing unless ``--submission`` is given (the project's own test run never sees it).

- Items are named by check, ``2.3.4/wo-shape``, under the notebook (``-k 2.3.4`` selects a
  question, ``-k wo-shape`` a check); ``--junitxml`` works as for any test, each item with its
  ``score``, ``max_score``, ``question`` and ``visibility`` as properties and the total as a
  suite property.
- The probes run once per session, in the sandbox, for the items selected; each item judges its
  check with ``autograder.engine.judge``, so scores are those of ``python grade.py grade``.
- ``--rubric FILE`` grades with another rubric; ``--public-only`` keeps the visible checks
  (what ``grade.py check`` shows).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:  # the plugin loads in every pytest run: import the grader only when used
    from autograder.checks.base import Check, CheckResult

PLUGIN_NAME = "nmt-autograder-submission"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("nmt-autograder", "grading a homework submission (nmt-autograder)")
    group.addoption(
        "--submission",
        metavar="NOTEBOOK",
        help="grade this notebook (.ipynb or .py): one test item per check",
    )
    group.addoption("--rubric", metavar="FILE", help="with --submission: another rubric file")
    group.addoption(
        "--public-only", action="store_true", help="with --submission: only the visible checks"
    )


def pytest_configure(config: pytest.Config) -> None:
    submission = config.getoption("submission", None)
    if not submission:
        return
    path = Path(submission)
    if not path.is_file():
        raise pytest.UsageError(f"--submission: no file {submission}")
    if config.args_source is not pytest.Config.ArgsSource.ARGS:
        config.args[:] = [str(path)]  # no paths given: collect the submission alone
    elif not any(Path(a).resolve() == path.resolve() for a in config.args):
        config.args.append(str(path))
    config.pluginmanager.register(SubmissionPlugin(config, path.resolve()), PLUGIN_NAME)


class CheckFailure(Exception):
    """A check that did not pass; pytest shows its explanation (the report's words)."""


@dataclass
class Grading:
    """What one session computes once: the configuration, then the probes and verdicts."""

    path: Path
    """The submission."""
    config: Any
    """The GraderConfig."""
    public_only: bool
    """Only the visible checks."""
    rubric: Any = None
    goldens: Any = None
    results: dict[str, CheckResult] | None = None
    problem: str = ""
    selected: list[Check] = field(default_factory=list)

    def load(self) -> list[Check]:
        """The rubric, the goldens and the checks to collect."""
        from autograder.checks import REGISTRY
        from autograder.goldens import load_goldens
        from autograder.rubric import load_rubric

        self.rubric = load_rubric(self.config.rubric)
        self.rubric.validate(REGISTRY)
        self.goldens = load_goldens(self.config.goldens)
        visible = lambda c: self.rubric.line(c).visibility == "visible"  # noqa: E731
        return [c for c in self.rubric.enabled(REGISTRY) if not self.public_only or visible(c)]

    def result(self, check: Check) -> CheckResult | None:
        """The check's verdict; the probes of every selected check run on the first call."""
        if self.results is None:
            from autograder.checks import REGISTRY
            from autograder.engine import cases_for, judge, probe_submission
            from autograder.outcome import GradingStatus

            checks = self.selected or [check]
            universe = self.rubric.enabled(REGISTRY)
            probed = probe_submission(
                self.path,
                goldens=self.goldens,
                cases=cases_for(checks, universe),
                config=self.config,
            )
            self.results = {}
            if probed.status is GradingStatus.UNREADABLE:
                self.problem = probed.problem
            else:
                verdicts = judge(probed, checks, rubric=self.rubric, goldens=self.goldens)
                self.results = {r.check_id: r for r in verdicts}
        return self.results.get(check.id)


class SubmissionPlugin:
    """Collects the submission as items and keeps the session's one grading."""

    def __init__(self, config: pytest.Config, path: Path) -> None:
        from autograder.config import GraderConfig

        rubric = config.getoption("rubric", None)
        grader = GraderConfig().with_options(rubric=Path(rubric) if rubric else None)
        self.grading = Grading(path, grader, bool(config.getoption("public_only", False)))
        self.scores: dict[str, tuple[float, float]] = {}

    def pytest_collect_file(self, file_path: Path, parent: pytest.Collector) -> Any:
        if file_path.resolve() == self.grading.path:
            return SubmissionFile.from_parent(parent, path=file_path, grading=self.grading)
        return None

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.grading.selected = [i.check for i in session.items if isinstance(i, CheckItem)]

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call":
            props = dict(report.user_properties)
            if "score" in props:
                self.scores[report.nodeid] = (float(props["score"]), float(props["max_score"]))

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        from _pytest.junitxml import xml_key

        xml = session.config.stash.get(xml_key, None)
        if xml is not None and self.scores:
            xml.add_global_property("score", f"{self.total[0]:g}")
            xml.add_global_property("max_score", f"{self.total[1]:g}")

    @property
    def total(self) -> tuple[float, float]:
        return (sum(s for s, _ in self.scores.values()), sum(m for _, m in self.scores.values()))

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.scores:
            score, possible = self.total
            terminalreporter.write_sep("-", "nmt-autograder")
            terminalreporter.write_line(
                f"{self.grading.path.name}: score {score:g}/{possible:g} over "
                f"{len(self.scores)} checks"
            )


class SubmissionFile(pytest.File):
    """The notebook: its items are the checks."""

    def __init__(self, *, grading: Grading, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.grading = grading

    def collect(self):
        for check in self.grading.load():
            yield CheckItem.from_parent(self, name=check.id, check=check)


class CheckItem(pytest.Item):
    """One check of the submission."""

    def __init__(self, *, check: Check, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.check = check

    def runtest(self) -> None:
        from autograder.report import check_output

        grading: Grading = self.parent.grading  # type: ignore[attr-defined]
        result = grading.result(self.check)
        line = grading.rubric.line(self.check)
        self.user_properties += [
            ("score", result.score if result else 0.0),
            ("max_score", line.points),
            ("question", self.check.question),
            ("visibility", line.visibility),
        ]
        if result is None:
            raise CheckFailure(f"the submission could not be graded: {grading.problem}")
        if not result.passed:
            raise CheckFailure(check_output(result))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style=None) -> str:
        if isinstance(excinfo.value, CheckFailure):
            return f"{self.check.title}\n\n{excinfo.value}"
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"{self.check.id}: {self.check.title}"
