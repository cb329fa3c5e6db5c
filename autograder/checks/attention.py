"""Checks of 2.2.1 ScaledDotAttention, 2.2.2 CausalScaledDotAttention and 2.3.4 multi-head."""

from __future__ import annotations

import numpy as np

from autograder.checks.base import CheckContext, CheckFailed, ProbeUnavailable, check
from autograder.markdown import inert


def _weights_in_reference_layout(ctx: CheckContext, case: str, suffix: str = "") -> np.ndarray:
    """The student's attention weights as (B, k, L); (B, L, k) is accepted and transposed."""
    out = ctx.probe(case)
    expected = ctx.expected(case)[f"weights{suffix}"]
    weights = out.arrays.get(f"weights{suffix}")
    if weights is None:
        ctx.fail("forward returned no attention weights (the second returned value)")
    flipped = expected.transpose(0, 2, 1)
    if weights.shape == expected.shape == flipped.shape:  # square: keep the closer layout
        error = np.abs(weights - expected).max()
        return (
            weights
            if error <= np.abs(weights.transpose(0, 2, 1) - expected).max()
            else (weights.transpose(0, 2, 1))
        )
    if weights.shape == expected.shape:
        return weights
    if weights.shape == flipped.shape:
        return weights.transpose(0, 2, 1)
    raise CheckFailed(
        f"attention weights have shape {weights.shape}; expected (batch, queries, keys) = "
        f"{expected.shape} or (batch, keys, queries) = {expected.transpose(0, 2, 1).shape}"
    )


def _context(
    ctx: CheckContext, case: str, suffix: str = "", *, question: str | None = None
) -> str | None:
    """The context against the reference; a (B, H) context for 2D queries is accepted as the
    (B, 1, H) of the contract, with a note. With ``question``, the case builds on other
    questions' definitions (``CheckContext.probe_for``)."""
    out = ctx.probe_for(case, question) if question else ctx.probe(case)
    actual, expected = out.arrays[f"context{suffix}"], ctx.expected(case)[f"context{suffix}"]
    note = None
    if expected.ndim == 3 and expected.shape[1] == 1 and actual.shape == expected[:, 0].shape:
        actual, note = actual[:, None], "passed (your context is (batch, hidden); the contract "
        note += "says (batch, 1, hidden))"
    ctx.expect_close(actual, expected, what="the context")
    return note


# 2.2.1 ---------------------------------------------------------------------------------------


@check("2.2.1", "context-3d", "ScaledDotAttention: context for 3D queries", cases=["sdpa_3d"])
def sdpa_context_3d(ctx: CheckContext) -> str | None:
    return _context(ctx, "sdpa_3d")


@check("2.2.1", "context-2d", "ScaledDotAttention: 2D queries (batch x hidden)", cases=["sdpa_2d"])
def sdpa_context_2d(ctx: CheckContext) -> str | None:
    return _context(ctx, "sdpa_2d")


@check(
    "2.2.1", "weights", "ScaledDotAttention: attention weights (either layout)", cases=["sdpa_3d"]
)
def sdpa_weights(ctx: CheckContext) -> None:
    ctx.expect_close(
        _weights_in_reference_layout(ctx, "sdpa_3d"),
        ctx.expected("sdpa_3d")["weights"],
        what="the attention weights",
    )


@check(
    "2.2.1",
    "rows-sum-to-one",
    "ScaledDotAttention: each query's weights sum to 1",
    cases=["sdpa_3d"],
)
def sdpa_rows(ctx: CheckContext) -> None:
    weights = _weights_in_reference_layout(ctx, "sdpa_3d")
    ctx.expect_informative(weights, what="the attention weights")
    ctx.expect_informative(ctx.probe("sdpa_3d").arrays["context"], what="the context")
    sums = weights.sum(axis=2)
    ctx.expect(
        np.allclose(sums, 1.0, atol=1e-5),
        f"each query's weights over the keys should sum to 1; sums range "
        f"{sums.min():.4g}..{sums.max():.4g} (softmax over the keys axis?)",
    )


@check(
    "2.2.1",
    "scaling",
    "ScaledDotAttention: scaled by 1/sqrt(hidden) at another size",
    cases=["sdpa_scaled"],
)
def sdpa_scaling(ctx: CheckContext) -> str | None:
    return _context(ctx, "sdpa_scaled")


# 2.2.2 ---------------------------------------------------------------------------------------


@check(
    "2.2.2",
    "context",
    "CausalScaledDotAttention: the context matches the reference",
    cases=["causal"],
)
def causal_context(ctx: CheckContext) -> str | None:
    return _context(ctx, "causal")


@check(
    "2.2.2",
    "weights",
    "CausalScaledDotAttention: the attention weights match the reference (either layout)",
    cases=["causal"],
)
def causal_weights(ctx: CheckContext) -> None:
    ctx.expect_close(
        _weights_in_reference_layout(ctx, "causal"),
        ctx.expected("causal")["weights"],
        what="the attention weights",
    )


@check(
    "2.2.2",
    "no-future",
    "CausalScaledDotAttention: no attention to future positions",
    cases=["causal"],
)
def causal_no_future(ctx: CheckContext) -> None:
    ctx.expect_causal("causal", "context", what="the context")


@check(
    "2.2.2",
    "first-position",
    "CausalScaledDotAttention: the first query sees only itself",
    cases=["causal"],
)
def causal_first(ctx: CheckContext) -> None:
    weights = _weights_in_reference_layout(ctx, "causal")
    ctx.expect_informative(weights, what="the attention weights")
    first = weights[:, 0, :]
    ctx.expect(
        np.allclose(first[:, 0], 1.0, atol=1e-6) and np.allclose(first[:, 1:], 0, atol=1e-6),
        f"the first query's weights should be [1, 0, 0, ...]; got {np.round(first[0], 3)}",
    )


# 2.3.4 ---------------------------------------------------------------------------------------


@check(
    "2.3.4",
    "wo-shape",
    "MultiHeadCausalScaledDotAttention: W^O maps num_heads*H to H",
    cases=["mha_structure"],
)
def mha_wo(ctx: CheckContext) -> str:
    out = ctx.probe_for("mha_structure", "2.3.4")
    kwargs = ctx.goldens.case("mha_structure").kwargs
    hidden, heads = kwargs["hidden"], kwargs["heads"]
    if out.data.get("output_projection") is None:
        outside = {
            n: tuple(s)
            for n, s in out.data.get("parameters", {}).items()
            if not n.startswith("heads.")
        }
        ctx.fail(
            f"no W^O found: expected a parameter of shape ({hidden}, {heads * hidden}) "
            f"(nn.Linear(num_heads * hidden_size, hidden_size)) outside `heads`; parameters "
            f"outside heads: {inert(outside or 'none')}"
        )
    context = ctx.probe_for("mha", "2.3.4").arrays["context"]
    ctx.expect_informative(context, what="the multi-head context")
    return f"W^O found: {inert(out.data['output_projection'])}"


@check("2.3.4", "output-shape", "MultiHeadCausalScaledDotAttention: output shape", cases=["mha"])
def mha_shape(ctx: CheckContext) -> None:
    out = ctx.probe_for("mha", "2.3.4")
    ctx.expect_informative(out.arrays["context"], what="the multi-head context")
    ctx.expect_shape(
        out.arrays["context"],
        ctx.expected("mha")["context"].shape,
        what="the multi-head context (batch, seq, hidden)",
    )


@check(
    "2.3.4",
    "causal",
    "MultiHeadCausalScaledDotAttention: no attention to the future",
    cases=["mha"],
)
def mha_causal(ctx: CheckContext) -> None:
    ctx.expect_causal("mha", "context", what="the multi-head context", question="2.3.4")


@check("2.3.4", "match", "MultiHeadCausalScaledDotAttention: matches the reference", cases=["mha"])
def mha_match(ctx: CheckContext) -> str | None:
    """Heads concatenated feature by feature instead of head by head are a permutation of
    W^O's columns: accepted, with a note."""
    try:
        return _context(ctx, "mha", question="2.3.4")
    except ProbeUnavailable:
        raise
    except CheckFailed as failure:
        interleaved = ctx.probe_for("mha", "2.3.4").arrays.get("context_interleaved")
        if interleaved is None:
            raise
        try:
            ctx.expect_close(interleaved, ctx.expected("mha")["context"], what="the context")
        except CheckFailed:
            raise failure from None
        return (
            "passed (your heads are concatenated feature by feature; W^O was loaded in that order)"
        )
