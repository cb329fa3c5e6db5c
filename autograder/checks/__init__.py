"""Checks, one per rubric line, run in the trusted parent over plain data."""

from autograder.checks import attention, decoder, functions  # noqa: F401 - registers checks
from autograder.checks.base import REGISTRY, Check, CheckContext, CheckFailed, CheckResult

__all__ = ["REGISTRY", "Check", "CheckContext", "CheckFailed", "CheckResult"]
