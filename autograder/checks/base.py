"""The check framework: a check is a small function with metadata, run in the trusted parent.

Writing a check is like writing a test::

    @check("2.2.1", "context-3d", "Context for 3D queries matches the reference", cases=["sdpa_3d"])
    def context_3d(ctx: CheckContext) -> str | None:
        out = ctx.probe("sdpa_3d")
        ctx.expect_close(out.arrays["context"], ctx.expected("sdpa_3d")["context"], what="context")

A check fails by raising ``CheckFailed`` (``ctx.fail`` / ``ctx.expect*``), never with ``assert``;
it may return a line to show on success. Points and visibility come from the rubric
(``rubric.toml``), so a course changes them without touching code. A check never sees student
objects, only the sandbox's plain data (``ProbeResult``) and the goldens.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from autograder.cases import standin_id
from autograder.goldens import Goldens, GoldensError
from autograder.manifest import BY_NUMBER
from autograder.sandbox import ProbeError, ProbeResult
from autograder.sandbox.model import Status

VISIBILITIES = ("visible", "after_due_date", "after_published", "hidden")
NAN_HINT = (
    " (a softmax over scores that are all -inf gives NaN: can every query attend to at least "
    "one key, its own position included?)"
)
TOLERANCES = {"float64": (1e-6, 1e-8), "float32": (1e-5, 2e-6)}  # (rtol, atol)
"""Per dtype of the student's output: float32 ones only where the student's code runs only in
float32 (the probe retries in float32 when float64 fails). The float32 tolerance is about 5x the
reference's own float32 error on the probe cases (at most 5e-7 absolute, docs/grading.md), and
far below every known bug's difference (tests/test_diagnose.py proves it on the catalogue)."""


class CheckFailed(Exception):
    """A check's verdict: the Markdown message says what was expected and what was found."""


@dataclass(frozen=True)
class Blocked:
    """Why a check could not judge: the probe it needs produced no data."""

    case: str
    """The probe case."""
    status: Status
    """The probe's status ("error", "timeout"...); "not_run" when there is no result at all."""
    error: ProbeError | None
    """The probe's error, typed; None when there is no result at all."""


class ProbeUnavailable(CheckFailed):
    """The probe a check needs did not produce data (not implemented, error, timeout...)."""

    def __init__(self, blocked: Blocked) -> None:
        super().__init__(f"probe {blocked.case} gave no data ({blocked.status})")
        self.blocked = blocked


@dataclass(frozen=True)
class Check:
    """One rubric line."""

    question: str
    """Handout question, e.g. ``"2.3.4"``."""
    id: str
    """Stable identifier, unique across the rubric, e.g. ``"2.3.4/wo-shape"``."""
    title: str
    """One line for people."""
    cases: tuple[str, ...]
    """The probe cases (golden case names) it reads."""
    function: Callable[[CheckContext], str | None]
    """The check itself."""


@dataclass(frozen=True)
class CheckResult:
    """The verdict of one check, as data for the report."""

    check_id: str
    """``Check.id``."""
    question: str
    """Handout question."""
    title: str
    """``Check.title``."""
    score: float
    """Points earned."""
    max_score: float
    """Points possible."""
    passed: bool
    """Whether the check passed."""
    visibility: str
    """Gradescope visibility."""
    message: str = ""
    """The check's own words (Markdown): why it failed, or a note on a pass; empty when it
    passed without a note or could not judge."""
    blocked: Blocked | None = None
    """Set when the check could not judge because its probe produced no data."""
    grader_error: str | None = None
    """Set when the check itself raised (a bug of the grader): the exception, for staff."""
    substituted: tuple[str, ...] = ()
    """Questions whose definitions were replaced by stand-ins for this check, because the
    submission's own failed their checks."""
    lowered: bool = False
    """Whether outputs were compared in float32 (the student's code ran only in float32)."""


REGISTRY: list[Check] = []


def check(question: str, id: str, title: str, *, cases: Sequence[str]):
    """Register a check (see the module docstring)."""

    def register(function: Callable[[CheckContext], str | None]):
        full_id = f"{question}/{id}"
        if any(c.id == full_id for c in REGISTRY):
            raise ValueError(f"duplicate check id {full_id}")
        REGISTRY.append(Check(question, full_id, title, tuple(cases), function))
        return function

    return register


@dataclass(frozen=True)
class CheckContext:
    """What a check may read: the probe results, the goldens, and which questions passed."""

    results: Mapping[str, ProbeResult]
    """``ProbeResult`` by case name."""
    goldens: Goldens
    """The reference's answers."""
    failed_questions: frozenset[str] = frozenset()
    """Questions that failed a check of theirs: a question that depends on one of them is
    judged on the stand-in variant of its cases (``probe_for``)."""
    substituted: set[str] = field(default_factory=set)
    """Filled by ``probe_for``: the dependencies replaced by stand-ins for this check."""
    lowered: set[str] = field(default_factory=set)
    """Filled by ``expect_close``: outputs compared in float32 (the student's code ran only in
    float32)."""

    def for_check(self) -> CheckContext:
        """A fresh context for one check (its own ``substituted`` and ``lowered``)."""
        return replace(self, substituted=set(), lowered=set())

    def probe_for(self, case: str, question: str) -> ProbeResult:
        """The result of a case of ``question`` that builds on other questions' definitions:
        the submission's own when those passed their checks, else the stand-in variant's."""
        failed = sorted(set(BY_NUMBER[question].depends) & self.failed_questions)
        if not failed:
            return self.probe(case)
        self.substituted.update(failed)
        return self.probe(standin_id(case))

    def probe(self, case: str) -> ProbeResult:
        """The result of a probe case, or ProbeUnavailable with the reason."""
        result = self.results.get(case)
        if result is None:
            raise ProbeUnavailable(Blocked(case, "not_run", None))
        if result.status != "ok":
            raise ProbeUnavailable(Blocked(case, result.status, result.error))
        return result

    def expected(self, case: str) -> dict[str, np.ndarray]:
        """The reference's output arrays for a case."""
        return self.goldens.case(case).expected

    def facts(self, case: str) -> dict[str, Any]:
        """The reference's JSON answers for a case."""
        return self.goldens.case(case).facts

    @staticmethod
    def fail(message: str) -> None:
        raise CheckFailed(message)

    def expect(self, condition: bool, message: str) -> None:
        if not condition:
            raise CheckFailed(message)

    def expect_shape(self, array: np.ndarray, shape: tuple[int, ...], *, what: str) -> None:
        if tuple(array.shape) != tuple(shape):
            raise CheckFailed(f"{what} has shape {tuple(array.shape)}; expected {tuple(shape)}")

    def expect_informative(self, array: np.ndarray, *, what: str) -> None:
        """A property earns points only for an output that is a real function of its inputs:
        finite, not constant, and different for different batch rows (whose inputs differ)."""
        if not np.all(np.isfinite(array)):
            raise CheckFailed(f"NaN or infinite values in {what}{NAN_HINT}")
        flat = array.reshape(array.shape[0], -1) if array.ndim else array.reshape(1, -1)
        varies = flat.size and float(np.ptp(flat)) > 1e-9
        rows_differ = flat.shape[0] < 2 or float(np.abs(flat - flat[:1]).max()) > 1e-9
        self.expect(
            bool(varies and rows_differ),
            f"{what} does not depend on the inputs (it is "
            f"{'constant' if not varies else 'the same for every batch row'}): this check "
            "needs a real implementation",
        )

    def expect_causal(
        self, case: str, name: str, *, what: str, question: str | None = None
    ) -> None:
        """Outputs ``name`` and ``name_perturbed`` of a probe case, whose inputs differ only at
        positions >= ``perturb_from``, must agree at every earlier position, and differ at the
        later ones (an output that ignores its inputs is not causal, it is absent). With
        ``question``, the case builds on other questions' definitions (``probe_for``)."""
        out = self.probe_for(case, question) if question else self.probe(case)
        start = self.facts(case)["perturb_from"]
        before, after = out.arrays[name], out.arrays[f"{name}_perturbed"]
        self.expect_shape(after, before.shape, what=what)
        self.expect_informative(before, what=what)
        self.expect_informative(after, what=what)
        moved = float(np.abs(before[:, :start] - after[:, :start]).max())
        self.expect(
            moved < 1e-6,
            f"changing only positions >= {start} moved {what} at earlier positions "
            f"(by up to {moved:.3g}): an earlier position sees later ones",
        )
        later = float(np.abs(before[:, start:] - after[:, start:]).max())
        self.expect(
            later > 1e-6,
            f"changing positions >= {start} did not change {what} there either: it does not "
            "depend on its inputs",
        )

    def expect_close(self, actual: np.ndarray, expected: np.ndarray, *, what: str) -> None:
        """Same shape and values within the tolerance of the output's dtype: float64, or
        float32 where the student's code runs only in float32 (recorded in ``lowered``)."""
        self.expect_shape(actual, expected.shape, what=what)
        dtype = "float32" if actual.dtype == np.float32 else "float64"
        if dtype == "float32":
            self.lowered.add(what)
        rtol, atol = TOLERANCES[dtype]
        if not np.all(np.isfinite(actual)):
            raise CheckFailed(f"NaN or infinite values in {what}{NAN_HINT}")
        if not np.allclose(actual, expected, rtol=rtol, atol=atol):
            error = np.max(np.abs(actual - expected))
            raise CheckFailed(
                f"mismatch in {what} (largest difference from the reference {error:.3g}; "
                f"tolerance {atol:g} + {rtol:g} x |expected|)"
            )


def run_check(spec: Check, ctx: CheckContext, *, points: float, visibility: str) -> CheckResult:
    """Run one check; an unexpected error in the check itself is recorded, not raised."""
    message, blocked, grader_error = "", None, None
    ctx = ctx.for_check()
    try:
        passed, message = True, spec.function(ctx) or ""
    except ProbeUnavailable as unavailable:
        passed, blocked = False, unavailable.blocked
    except CheckFailed as failure:
        passed, message = False, str(failure)
    except GoldensError as error:
        passed, grader_error = False, str(error)
    except Exception as error:  # noqa: BLE001 - a grader bug must not lose the submission
        passed, grader_error = False, f"{type(error).__name__}: {error}"
    return CheckResult(
        check_id=spec.id,
        question=spec.question,
        title=spec.title,
        score=points if passed else 0.0,
        max_score=points,
        passed=passed,
        visibility=visibility,
        message=message,
        blocked=blocked,
        grader_error=grader_error,
        substituted=tuple(sorted(ctx.substituted)),
        lowered=bool(ctx.lowered),
    )
