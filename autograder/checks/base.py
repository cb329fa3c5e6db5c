"""The check framework: a check is a small function with metadata, run in the trusted parent.

Writing a check is like writing a test::

    @check("2.2.1", "context-3d", "Context for 3D queries matches the reference", cases=["sdpa_3d"])
    def context_3d(ctx: CheckContext) -> str | None:
        out = ctx.probe("sdpa_3d")
        ctx.expect_close(out.arrays["context"], ctx.golden("sdpa_3d")["context"], what="context")

A check fails by raising ``CheckFailed`` (``ctx.fail`` / ``ctx.expect*``), never with ``assert``;
it may return a line to show on success. Points and visibility come from the rubric
(``rubric.toml``), so a course changes them without touching code. A check never sees student
objects, only the sandbox's plain data (``ProbeResult``) and the goldens.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from autograder.goldens import Goldens

VISIBILITIES = ("visible", "after_due_date", "after_published", "hidden")
NAN_HINT = (
    " (a softmax over scores that are all -inf gives NaN: can every query attend to at least "
    "one key, its own position included?)"
)
TOLERANCES = {"float64": (1e-6, 1e-8), "float32": (1e-4, 1e-5)}  # (rtol, atol)


class CheckFailed(Exception):
    """A check's verdict: the Markdown message says what was expected and what was found."""


class ProbeUnavailable(CheckFailed):
    """The probe a check needs did not produce data (not implemented, error, timeout...)."""


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
    """The verdict of one check, ready for the report."""

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
    output: str
    """Markdown explanation."""
    visibility: str
    """Gradescope visibility."""


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


def _describe_failure(result: Any) -> str:
    """Why a probe produced nothing, for a student."""
    error = getattr(result, "error", None)
    status = getattr(result, "status", "not_run")
    if error is not None and error.type == "ContractError":
        return error.message
    if error is not None and error.type == "NotImplementedError":
        place = (error.location or "").split("`, ", 1)[-1]  # the stub names its definition
        where = f" ({place})" if place else ""
        return f"not implemented yet: {error.message or 'NotImplementedError'}{where}"
    if error is not None:
        where = f" {error.location}" if error.location else ""
        return f"your code raised `{error.type}: {error.message}`{where}"
    reasons = {
        "timeout": "it ran past its time budget",
        "crash": "the grading process crashed while running it",
        "oom": "it ran out of memory",
        "not_run": "it was not run (an earlier failure stopped the grading of this question)",
    }
    return reasons.get(status, f"it did not run ({status})")


@dataclass(frozen=True)
class CheckContext:
    """What a check may read: the probe results and the goldens."""

    results: Mapping[str, Any]
    """``ProbeResult`` by case name."""
    goldens: Goldens
    """The reference's answers."""

    def probe(self, case: str) -> Any:
        """The result of a probe case, or ProbeUnavailable with the reason."""
        result = self.results.get(case)
        if result is None or result.status != "ok":
            raise ProbeUnavailable(_describe_failure(result))
        return result

    def golden(self, case: str) -> dict[str, np.ndarray]:
        return self.goldens.case(case)

    @staticmethod
    def fail(message: str) -> None:
        raise CheckFailed(message)

    def expect(self, condition: bool, message: str) -> None:
        if not condition:
            raise CheckFailed(message)

    def expect_shape(self, array: np.ndarray, shape: tuple[int, ...], *, what: str) -> None:
        if tuple(array.shape) != tuple(shape):
            raise CheckFailed(f"{what} has shape {tuple(array.shape)}; expected {tuple(shape)}")

    def expect_causal(self, case: str, name: str, *, what: str) -> None:
        """Outputs ``name`` and ``name_perturbed`` of a probe case, whose inputs differ only at
        positions >= ``perturb_from``, must agree at every earlier position."""
        out = self.probe(case)
        start = self.goldens.meta["perturb_from"]
        before, after = out.arrays[name], out.arrays[f"{name}_perturbed"]
        self.expect_shape(after, before.shape, what=what)
        if not (np.all(np.isfinite(before)) and np.all(np.isfinite(after))):
            raise CheckFailed(f"NaN or infinite values in {what}{NAN_HINT}")
        moved = float(np.abs(before[:, :start] - after[:, :start]).max())
        self.expect(
            moved < 1e-6,
            f"changing only positions >= {start} moved {what} at earlier positions "
            f"(by up to {moved:.3g}): an earlier position sees later ones",
        )

    def expect_close(
        self, actual: np.ndarray, expected: np.ndarray, *, what: str, dtype: str = "float64"
    ) -> None:
        """Same shape and values within the tolerance of the dtype the probe ran in."""
        self.expect_shape(actual, expected.shape, what=what)
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
    """Run one check; an unexpected error in the check itself is reported, not raised."""
    try:
        note = spec.function(ctx)
        passed, output = True, note or "passed"
    except CheckFailed as failure:
        passed, output = False, str(failure)
    except Exception as error:  # noqa: BLE001 - a grader bug must not lose the submission
        passed = False
        output = f"the grader could not evaluate this check ({type(error).__name__}: {error})"
    return CheckResult(
        check_id=spec.id,
        question=spec.question,
        title=spec.title,
        score=points if passed else 0.0,
        max_score=points,
        passed=passed,
        output=output,
        visibility=visibility,
    )
