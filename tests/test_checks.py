"""Checks against the reference and against one wrong submission per question (in-process)."""

from __future__ import annotations

import pytest

from autograder.checks import REGISTRY
from autograder.examples import EXAMPLES, apply_example
from tests.inprocess import grade_in_process, solution_source


@pytest.fixture(scope="module")
def source() -> str:
    return solution_source()


def test_reference_passes_every_check(source):
    verdicts = grade_in_process(source)
    assert [check for check, passed in verdicts.items() if not passed] == []


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.name for e in EXAMPLES])
def test_each_mistake_fails_only_its_question(source, example):
    verdicts = grade_in_process(apply_example(source, example))
    failed_questions = {c.question for c in REGISTRY if not verdicts[c.id]}
    assert failed_questions == {example.question}


def test_weights_in_the_transposed_layout_are_accepted(source):
    transposed = source.replace(
        "        return context, attention_weights\n",
        "        return context, attention_weights.transpose(1, 2)\n",
    )
    verdicts = grade_in_process(transposed)
    assert all(verdicts[c.id] for c in REGISTRY if c.question in {"2.2.1", "2.2.2"})


def test_float32_only_code_is_graded_in_float32(source):
    float32 = source.replace(
        "        context = attention_weights @ v  # (B, k, H)\n",
        "        context = (attention_weights @ v).float()  # (B, k, H)\n",
        1,
    )
    verdicts = grade_in_process(float32)
    assert verdicts["2.2.1/context-3d"]


def test_missing_definition_is_named(source):
    renamed = source.replace("def calc_parameters_decoder(", "def calc_params(")
    verdicts = grade_in_process(renamed)
    assert not verdicts["2.3.5/count"]
    assert verdicts["2.2.1/context-3d"]


def test_wrong_signature_is_explained(source):
    from autograder.checks.base import CheckContext, run_check
    from autograder.goldens import load_goldens
    from tests.inprocess import probe_results

    changed = source.replace(
        "def fit_linear_log(x: np.ndarray, y: np.ndarray)", "def fit_linear_log(x: np.ndarray)"
    )
    assert changed != source
    ctx = CheckContext(results=probe_results(changed), goldens=load_goldens())
    check = next(c for c in REGISTRY if c.id == "2.4.2/fit-linear-log")
    result = run_check(check, ctx, points=1.0, visibility="visible")
    assert not result.passed
    assert "`fit_linear_log` should accept (x, y)" in result.output


def test_counting_by_building_the_model_is_refused(source):
    from autograder.checks.base import CheckContext, run_check
    from autograder.goldens import load_goldens
    from tests.inprocess import probe_results

    body = (
        "    return sum(p.numel() for p in DecoderOnlyTransformer(vocab_size, hidden_size, "
        "num_layers, num_heads).parameters())\n"
    )
    start = source.index("def calc_parameters_decoder(")
    end = source.index("def decoder_forward_flops(")
    header = source[start : source.index('"""', source.index('"""', start) + 3) + 3]
    changed = source[:start] + header + "\n" + body + "\n\n" + source[end:]
    ctx = CheckContext(results=probe_results(changed), goldens=load_goldens())
    check = next(c for c in REGISTRY if c.id == "2.3.5/count")
    result = run_check(check, ctx, points=1.0, visibility="visible")
    assert not result.passed and "from the sizes alone" in result.output


def test_all_masked_rows_get_a_nan_hint(source):
    diagonal = source.replace(
        "future = torch.ones_like(unnormalized_attention, dtype=torch.bool).triu(1)",
        "future = torch.ones_like(unnormalized_attention, dtype=torch.bool).triu(0)",
    )
    from autograder.checks.base import CheckContext, run_check
    from autograder.goldens import load_goldens
    from tests.inprocess import probe_results

    ctx = CheckContext(results=probe_results(diagonal), goldens=load_goldens())
    check = next(c for c in REGISTRY if c.id == "2.2.2/no-future")
    result = run_check(check, ctx, points=1.0, visibility="visible")
    assert not result.passed and "its own position" in result.output
