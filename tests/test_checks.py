"""Checks against the reference and against one wrong submission per question (in-process)."""

from __future__ import annotations

import pytest

from autograder.checks import REGISTRY
from autograder.examples import EXAMPLES, apply_example
from autograder.notebook import reference_regions
from autograder.report import check_output
from tests.conftest import REPO
from tests.inprocess import check_result, grade_in_process, solution_source


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
    changed = source.replace(
        "def fit_linear_log(x: np.ndarray, y: np.ndarray)", "def fit_linear_log(x: np.ndarray)"
    )
    assert changed != source
    result = check_result(changed, "2.4.2/slope")
    assert not result.passed
    assert "`fit_linear_log` should accept (x, y)" in check_output(result)


def test_counting_by_building_the_model_is_refused(source):
    body = (
        "    return sum(p.numel() for p in DecoderOnlyTransformer(vocab_size, hidden_size, "
        "num_layers, num_heads).parameters())\n"
    )
    changed = _replace_region(source, "def calc_parameters_decoder(", body)
    result = check_result(changed, "2.3.5/count")
    assert not result.passed and "from the sizes alone" in check_output(result)


def _replace_region(source: str, anchor: str, body: str) -> str:
    """``source`` with the body of the solution region of the function ``anchor`` names
    replaced by ``body`` (the extracted module keeps the region's lines, not its markers)."""
    owner = anchor.removeprefix("def ").removesuffix("(")
    region = "\n".join(reference_regions(REPO / "reference")[owner]) + "\n"
    assert source.count(region) == 1
    return source.replace(region, body)


def test_all_masked_rows_get_a_nan_hint(source):
    diagonal = source.replace(
        "future = torch.ones_like(unnormalized_attention, dtype=torch.bool).triu(1)",
        "future = torch.ones_like(unnormalized_attention, dtype=torch.bool).triu(0)",
    )
    result = check_result(diagonal, "2.2.2/no-future")
    assert not result.passed and "its own position" in check_output(result)


def test_w_o_without_bias_passes_multihead_and_the_count(source):
    no_bias = source.replace(
        "self.W_O = nn.Linear(num_heads * hidden_size, hidden_size)",
        "self.W_O = nn.Linear(num_heads * hidden_size, hidden_size, bias=False)",
    ).replace(
        "attention = h * 3 * linear + (h * H * H + H if h > 1 else 0)",
        "attention = h * 3 * linear + (h * H * H if h > 1 else 0)",
    )
    verdicts = grade_in_process(no_bias)
    assert all(verdicts[c.id] for c in REGISTRY if c.question in {"2.3.4", "2.3.5"})


def test_heads_concatenated_feature_by_feature_are_accepted(source):
    interleaved = source.replace(
        "context = torch.cat([c for c, _ in outputs], dim=-1)  # (B, k, h * H)",
        "context = torch.stack([c for c, _ in outputs], dim=-1).flatten(-2)",
    )
    assert interleaved != source
    verdicts = grade_in_process(interleaved)
    assert all(verdicts[c.id] for c in REGISTRY if c.question == "2.3.4")


def test_a_squeezed_context_for_2d_queries_is_accepted(source):
    squeezed = source.replace(
        "        context = attention_weights @ v  # (B, k, H)\n        # END SOLUTION\n"
        "        return context, attention_weights\n",
        "        context = attention_weights @ v  # (B, k, H)\n        # END SOLUTION\n"
        "        if queries.dim() == 2:\n"
        "            return context.squeeze(1), attention_weights\n"
        "        return context, attention_weights\n",
        1,
    )
    assert squeezed != source
    verdicts = grade_in_process(squeezed)
    assert verdicts["2.2.1/context-2d"] and verdicts["2.2.1/context-3d"]


def test_a_wrong_layout_still_fails(source):
    wrong = source.replace(
        "context = torch.cat([c for c, _ in outputs], dim=-1)  # (B, k, h * H)",
        "context = torch.cat([c for c, _ in reversed(outputs)], dim=-1)",
    )
    verdicts = grade_in_process(wrong)
    assert not verdicts["2.3.4/match"]
