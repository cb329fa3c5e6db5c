"""Shared fixtures (the official data, a deterministic torch) and the CI skip policy.

Tests that only mean something as root (``@pytest.mark.needs_root``: a user to drop to,
namespaces) or with ``../shared`` (``@pytest.mark.official_data``, or the ``official_data``
fixture) are skipped on a machine without them. CI (``CI=true``) has both, so there a skip of
such a test is a failure: it would hide a broken promise (``tests/test_ci_skips.py``).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parent.parent
OFFICIAL_DATA = REPO.parent / "shared" / "data"
CI_REQUIRED = ("needs_root", "official_data")
"""Markers of tests that CI must run, never skip."""


@pytest.fixture(autouse=True)
def _deterministic_torch():
    torch.manual_seed(0)
    yield


@pytest.fixture
def official_data() -> Path:
    """The official course files (CI keeps them in ../shared/data); skipped without them."""
    if not (OFFICIAL_DATA / "pig_latin_small.txt").is_file():
        pytest.skip(
            f"official data not found in {OFFICIAL_DATA} (only CI and course staff have it)"
        )
    return OFFICIAL_DATA


def in_ci() -> bool:
    """Whether this is a CI run (``CI=true``, as CI services set it)."""
    return os.environ.get("CI", "").lower() in {"true", "1"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that uses the ``official_data`` fixture needs ../shared: mark it so."""
    for item in items:
        if "official_data" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.official_data)


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("needs_root") and os.geteuid() != 0:
        pytest.skip("needs root (a user to drop to, namespaces); CI and Gradescope run as root")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """In CI, a skip of a test marked with one of ``CI_REQUIRED`` becomes a failure."""
    outcome = yield
    report = outcome.get_result()
    marker = next((m for m in CI_REQUIRED if item.get_closest_marker(m)), None)
    if marker and report.skipped and not hasattr(report, "wasxfail") and in_ci():
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"CI must run every {marker} test, but it was skipped: {reason}"
