"""The reference is right: the stored goldens, recomputed without the reference.

``tests/test_goldens.py`` proves the reference still reproduces the goldens; these tests prove
the goldens are the right answers. Each expected output is recomputed from the case's stored
inputs and weights by an independent implementation written from the handout and the papers
(numpy attention, a numpy decoder-only forward, a model counted by ``numel`` of plain torch
layers, least squares by ``np.linalg.lstsq``), and compared with what is stored.

Mutation that proves them: attention divided by H instead of sqrt(H) in
``reference/attention.py``, goldens regenerated with ``python grade.py goldens``: the attention,
multi-head and decoder tests fail (the goldens-vs-reference test still passes).
"""

from __future__ import annotations

import numpy as np
import pytest
from torch import nn

from autograder.goldens import CaseGolden, load_goldens

RTOL, ATOL = 1e-6, 1e-9
"""The reference runs in float64 but its scaling factor and positional table are computed in
float32 (as the given code does), so values agree to about 1e-7, not to the last bit."""


@pytest.fixture(scope="module")
def goldens():
    return load_goldens()


def _weights(case: CaseGolden, prefix: str = "") -> dict[str, np.ndarray]:
    """The case's ``state.<prefix>*`` arrays, without the prefix."""
    head = f"state.{prefix}"
    return {k[len(head) :]: v for k, v in case.inputs.items() if k.startswith(head)}


def _linear(x: np.ndarray, state: dict[str, np.ndarray], name: str) -> np.ndarray:
    """``nn.Linear`` as y = x W^T + b."""
    return x @ state[f"{name}.weight"].T + state[f"{name}.bias"]


def _softmax(scores: np.ndarray) -> np.ndarray:
    shifted = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def attention(state, queries, keys, values, *, causal: bool) -> tuple[np.ndarray, np.ndarray]:
    """Scaled dot-product attention (Vaswani et al. 2017, eq. 1) with the Q/K/V projections:
    (context (B, k, H), weights (B, k, L)); 2D queries are one query per batch element."""
    if queries.ndim == 2:
        queries = queries[:, None, :]
    q, k, v = (_linear(x, state, n) for x, n in ((queries, "Q"), (keys, "K"), (values, "V")))
    scores = q @ k.transpose(0, 2, 1) / np.sqrt(q.shape[-1])
    if causal:
        later = np.arange(k.shape[1])[None, :] > np.arange(q.shape[1])[:, None]
        scores = np.where(later, -np.inf, scores)
    weights = _softmax(scores)
    return weights @ v, weights


def multihead(state, x: np.ndarray, heads: int) -> tuple[np.ndarray, np.ndarray]:
    """Concat(head_1..head_h) W^O over full-width causal heads (DESIGN.md, 2.3.4)."""
    outputs = [attention(_sub(state, f"heads.{i}."), x, x, x, causal=True) for i in range(heads)]
    context = np.concatenate([c for c, _ in outputs], axis=-1)
    return _linear(context, state, "W_O"), np.stack([w for _, w in outputs], axis=1)


def _sub(state: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}


def positional_encodings(length: int, hidden: int) -> np.ndarray:
    """PE(pos, 2i) = sin(pos / 10000^(2i/d)), PE(pos, 2i+1) = cos(pos / 10000^(2i/d))
    (Vaswani et al. 2017, section 3.5)."""
    table = np.zeros((length, hidden))
    for pos in range(length):
        for dim in range(hidden):
            angle = pos / 10000 ** (2 * (dim // 2) / hidden)
            table[pos, dim] = np.sin(angle) if dim % 2 == 0 else np.cos(angle)
    return table


def decoder_logits(state, tokens: np.ndarray, layers: int) -> np.ndarray:
    """Decoder-only forward (DESIGN.md, 2.3.1): embedding + positions, then per layer causal
    self-attention + residual and ReLU MLP + residual, then the output head."""
    embedding = state["embedding.weight"]
    x = embedding[tokens] + positional_encodings(tokens.shape[1], embedding.shape[1])
    for layer in range(layers):
        context, _ = attention(_sub(state, f"self_attentions.{layer}."), x, x, x, causal=True)
        x = x + context
        x = x + np.maximum(_linear(x, state, f"attention_mlps.{layer}.0"), 0.0)
    return _linear(x, state, "out")


@pytest.mark.parametrize(
    ("case_id", "causal"),
    [("sdpa_3d", False), ("sdpa_2d", False), ("sdpa_scaled", False), ("causal", True)],
)
def test_attention_goldens_are_scaled_dot_product_attention(goldens, case_id, causal):
    case = goldens.case(case_id)
    arrays = (case.inputs[n] for n in ("queries", "keys", "values"))
    context, weights = attention(_weights(case), *arrays, causal=causal)
    np.testing.assert_allclose(case.expected["context"], context, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(case.expected["weights"], weights, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("case_id", ["mha", "mha.standin"])
def test_multihead_goldens_are_concatenated_heads_through_w_o(goldens, case_id):
    case = goldens.case(case_id)
    context, weights = multihead(_weights(case), case.inputs["x"], case.kwargs["heads"])
    np.testing.assert_allclose(case.expected["context"], context, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(case.expected["weights"], weights, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("case_id", ["decoder", "decoder.standin"])
def test_decoder_goldens_are_the_decoder_only_forward(goldens, case_id):
    case = goldens.case(case_id)
    logits = decoder_logits(_weights(case), case.inputs["inputs"], case.kwargs["layers"])
    np.testing.assert_allclose(case.expected["logits"], logits, rtol=RTOL, atol=1e-7)


def _built_model(vocab: int, hidden: int, layers: int, heads: int) -> nn.Module:
    """The decoder-only model's trainable layers, built from plain torch modules."""
    parts: list[nn.Module] = [nn.Embedding(vocab, hidden), nn.Linear(hidden, vocab)]
    for _ in range(layers):
        parts += [nn.Linear(hidden, hidden) for _ in range(3 * heads)]  # each head's Q, K, V
        if heads > 1:
            parts.append(nn.Linear(heads * hidden, hidden))  # W^O
        parts.append(nn.Linear(hidden, hidden))  # the MLP
    return nn.ModuleList(parts)


def test_parameter_counts_are_the_numel_of_an_independently_built_model(goldens):
    counts = goldens.case("parameters").facts["counts"]
    assert len(counts) >= 10
    for entry in counts:
        numel = sum(p.numel() for p in _built_model(*entry["config"]).parameters())
        assert entry["count"] == entry["numel"] == numel, entry["config"]


def _least_squares(columns: list[np.ndarray], y: np.ndarray) -> np.ndarray:
    solution, *_ = np.linalg.lstsq(np.stack(columns, axis=1), y, rcond=None)
    return solution


def test_the_optimum_is_the_vertex_of_a_quadratic_in_log10_parameters(goldens):
    case = goldens.case("find_optimal_params")
    x, losses = np.log10(case.inputs["params"]), case.inputs["losses"]
    p = _least_squares([x**2, x, np.ones_like(x)], losses)
    np.testing.assert_allclose(case.expected["p"], p, rtol=1e-8)
    assert case.facts["n_opt"] == pytest.approx(10 ** (-p[1] / (2 * p[0])), rel=1e-8)


def test_the_power_law_is_a_least_squares_line_in_log10_space(goldens):
    case = goldens.case("fit_linear_log")
    x, y = np.log10(case.inputs["flops"]), np.log10(case.inputs["optimal"])
    m, c = _least_squares([x, np.ones_like(x)], y)
    assert case.facts["m"] == pytest.approx(m, rel=1e-8)
    assert case.facts["c"] == pytest.approx(c, rel=1e-8)
