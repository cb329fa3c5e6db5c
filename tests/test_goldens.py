"""The goldens: the reference still reproduces them, and no answer is sent to the child."""

from __future__ import annotations

import numpy as np

from autograder.goldens import load_goldens
from autograder.goldens.build import compare_goldens
from autograder.probe_plan import probe_calls


def test_reference_reproduces_the_committed_goldens():
    assert compare_goldens() == []


def test_probe_calls_carry_inputs_only():
    goldens = load_goldens()
    calls = probe_calls(goldens)
    assert [c.id for c in calls] == list(goldens.cases)
    for call in calls:
        golden = goldens.case(call.id)
        assert set(call.arrays) == set(golden.inputs), call.id
        assert all(isinstance(v, np.ndarray) for v in call.arrays.values())


def test_probe_sizes_are_all_distinct():
    case = load_goldens().case("sdpa_3d").inputs
    batch, queries, hidden = case["queries"].shape
    keys = case["keys"].shape[1]
    assert len({batch, queries, keys, hidden}) == 4
