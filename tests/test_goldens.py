"""The goldens: the reference still reproduces them, and no answer is sent to the child."""

from __future__ import annotations

import numpy as np

from autograder.goldens import compare_goldens, load_goldens
from autograder.probe_plan import probe_calls

ANSWERS = {"context", "weights", "logits", "p", "context_perturbed"}


def test_reference_reproduces_the_committed_goldens():
    assert compare_goldens() == []


def test_probe_calls_carry_inputs_only():
    goldens = load_goldens()
    calls = probe_calls(goldens)
    assert len({c.id for c in calls}) == len(calls)
    for call in calls:
        assert not set(call.arrays) & ANSWERS, call.id
        assert all(isinstance(v, np.ndarray) for v in call.arrays.values())


def test_probe_sizes_are_all_distinct():
    case = load_goldens().case("sdpa_3d")
    batch, queries, hidden = case["queries"].shape
    keys = case["keys"].shape[1]
    assert len({batch, queries, keys, hidden}) == 4
