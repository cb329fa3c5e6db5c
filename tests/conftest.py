"""Shared fixtures: where the official data is, and a deterministic torch."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parent.parent
OFFICIAL_DATA = REPO.parent / "shared" / "data"


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
