"""The attention modules against torch's own scaled_dot_product_attention (minGPT-style)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from reference.attention import (
    CausalScaledDotAttention,
    MultiHeadCausalScaledDotAttention,
    ScaledDotAttention,
)

B, K, L, H = 3, 5, 7, 11  # all distinct, so a wrong transpose cannot pass by coincidence


def _projected(module, queries, keys, values):
    q = module.Q(queries.view(queries.size(0), -1, module.hidden_size))
    return q, module.K(keys), module.V(values)


@pytest.mark.parametrize("query_shape", [(B, K, H), (B, H)], ids=["3d", "2d"])
def test_scaled_dot_matches_torch(query_shape):
    module = ScaledDotAttention(H).double()
    queries = torch.randn(query_shape, dtype=torch.float64)
    keys, values = (
        torch.randn(B, L, H, dtype=torch.float64),
        torch.randn(B, L, H, dtype=torch.float64),
    )
    context, weights = module(queries, keys, values)
    q, k, v = _projected(module, queries, keys, values)
    expected = F.scaled_dot_product_attention(q, k, v)
    k_out = query_shape[1] if len(query_shape) == 3 else 1
    assert context.shape == (B, k_out, H)
    assert weights.shape == (B, k_out, L)
    torch.testing.assert_close(context, expected)
    torch.testing.assert_close(weights.sum(-1), torch.ones(B, k_out, dtype=torch.float64))


def test_causal_matches_torch_and_ignores_the_future():
    module = CausalScaledDotAttention(H).double()
    x = torch.randn(B, L, H, dtype=torch.float64)
    context, weights = module(x, x, x)
    expected = F.scaled_dot_product_attention(*_projected(module, x, x, x), is_causal=True)
    torch.testing.assert_close(context, expected)
    assert torch.all(weights.triu(1) == 0)
    perturbed = x.clone()
    perturbed[:, 4:] += torch.randn(B, L - 4, H, dtype=torch.float64)
    moved, _ = module(perturbed, perturbed, perturbed)
    torch.testing.assert_close(moved[:, :4], context[:, :4])
    assert not torch.allclose(moved[:, 4:], context[:, 4:])
    # the first position attends to itself only
    torch.testing.assert_close(weights[:, 0, 0], torch.ones(B, dtype=torch.float64))


def test_one_head_with_identity_output_equals_causal():
    causal = CausalScaledDotAttention(H).double()
    multi = MultiHeadCausalScaledDotAttention(H, 1).double()
    multi.heads[0].load_state_dict(causal.state_dict())
    with torch.no_grad():
        multi.W_O.weight.copy_(torch.eye(H))
        multi.W_O.bias.zero_()
    x = torch.randn(B, L, H, dtype=torch.float64)
    torch.testing.assert_close(multi(x, x, x)[0], causal(x, x, x)[0])


def test_multi_head_concatenates_heads_before_w_o():
    heads = 3
    multi = MultiHeadCausalScaledDotAttention(H, heads).double()
    assert multi.W_O.weight.shape == (H, heads * H)
    x = torch.randn(B, L, H, dtype=torch.float64)
    context, weights = multi(x, x, x)
    assert context.shape == (B, L, H)
    assert weights.shape == (B, heads, L, L)
    by_hand = torch.cat([head(x, x, x)[0] for head in multi.heads], dim=-1) @ multi.W_O.weight.T
    torch.testing.assert_close(context, by_hand + multi.W_O.bias)
