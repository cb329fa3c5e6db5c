"""Checks, one per rubric line, run in the trusted parent over plain data."""

from autograder.checks import (  # noqa: F401 - registers checks
    attention,
    decoder,
    functions,
    training,
)
from autograder.checks.base import REGISTRY, Check, CheckContext, CheckFailed, CheckResult

__all__ = ["REGISTRY", "Check", "CheckContext", "CheckFailed", "CheckResult"]
