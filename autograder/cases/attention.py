"""Cases of the attention modules: 2.2.1 ScaledDotAttention, 2.2.2 CausalScaledDotAttention,
2.3.4 MultiHeadCausalScaledDotAttention.

Sizes are all distinct (batch, queries, keys, hidden), so a wrong transpose cannot pass by
coincidence. Causality is probed by perturbation: the ``_perturbed`` inputs differ from the
others only at positions >= ``PERTURB_FROM``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from autograder.cases import CaseData, case, seed_torch, state_of

B, K, L, H = 3, 4, 6, 8
"""Batch, queries, keys and hidden size of the attention cases."""
MHA = {"batch": 2, "seq": 5, "hidden": 6, "heads": 3}
PERTURB_FROM = 3
"""Positions >= this are perturbed in the causality cases."""


def perturbed(rng: np.random.Generator, array: np.ndarray) -> np.ndarray:
    """A copy whose positions >= PERTURB_FROM (axis 1) are replaced."""
    out = array.copy()
    out[:, PERTURB_FROM:] = rng.standard_normal(out[:, PERTURB_FROM:].shape)
    return out


def _forward(module, inputs: dict[str, np.ndarray], suffix: str = "") -> dict[str, np.ndarray]:
    import torch

    with torch.no_grad():
        context, weights = module(
            *(torch.from_numpy(inputs[f"{n}{suffix}"]) for n in ("queries", "keys", "values"))
        )
    return {f"context{suffix}": context.numpy(), f"weights{suffix}": weights.numpy()}


def _attention(
    cls,
    rng: np.random.Generator,
    *,
    queries_shape: tuple[int, ...],
    hidden: int,
    scale: float = 1.0,
) -> tuple[Any, dict[str, np.ndarray]]:
    """A module of ``cls`` in float64 and random queries, keys and values for it."""
    seed_torch(rng)
    module = cls(hidden).double().eval()
    queries = rng.standard_normal(queries_shape) * scale
    keys = rng.standard_normal((queries_shape[0], L, hidden)) * scale
    values = rng.standard_normal((queries_shape[0], L, hidden))
    return module, {"queries": queries, "keys": keys, "values": values}


def _sdpa(rng, impl, *, queries_shape: tuple[int, ...], hidden: int, scale: float = 1.0):
    module, inputs = _attention(
        impl.ScaledDotAttention, rng, queries_shape=queries_shape, hidden=hidden, scale=scale
    )
    return CaseData(
        kwargs={"cls": "ScaledDotAttention", "hidden": hidden, "inputs": [""]},
        inputs={**state_of(module), **inputs},
        expected=_forward(module, inputs),
    )


@case("sdpa_3d", "2.2.1", probe="attention")
def sdpa_3d(rng: np.random.Generator, impl: Any) -> CaseData:
    """3D queries (B, K, H) against L keys."""
    return _sdpa(rng, impl, queries_shape=(B, K, H), hidden=H)


@case("sdpa_2d", "2.2.1", probe="attention")
def sdpa_2d(rng: np.random.Generator, impl: Any) -> CaseData:
    """2D queries (B, H): one query per batch row."""
    return _sdpa(rng, impl, queries_shape=(B, H), hidden=H)


@case("sdpa_scaled", "2.2.1", probe="attention")
def sdpa_scaled(rng: np.random.Generator, impl: Any) -> CaseData:
    """Another hidden size and larger inputs, where the 1/sqrt(H) scaling matters."""
    return _sdpa(rng, impl, queries_shape=(B, K, 2 * H), hidden=2 * H, scale=2.0)


@case("causal", "2.2.2", probe="attention")
def causal(rng: np.random.Generator, impl: Any) -> CaseData:
    """Self-attention (keys are the queries) and a copy whose future is perturbed."""
    seed_torch(rng)
    module = impl.CausalScaledDotAttention(H).double().eval()
    queries = rng.standard_normal((B, L, H))
    values = rng.standard_normal((B, L, H))
    inputs = {"queries": queries, "keys": queries, "values": values}
    inputs["queries_perturbed"] = perturbed(rng, queries)
    inputs["keys_perturbed"] = inputs["queries_perturbed"]
    inputs["values_perturbed"] = perturbed(rng, values)
    return CaseData(
        kwargs={"cls": "CausalScaledDotAttention", "hidden": H, "inputs": ["", "_perturbed"]},
        inputs={**state_of(module), **inputs},
        expected=_forward(module, inputs),
        facts={"perturb_from": PERTURB_FROM},
    )


def outside_shapes(module) -> list[list[int]]:
    """The shapes of a multi-head module's parameters outside its heads, sorted."""
    return sorted(list(p.shape) for n, p in module.named_parameters() if not n.startswith("heads."))


@case("mha_structure", "2.3.4", probe="multihead_structure", standin=True)
def mha_structure(rng: np.random.Generator, impl: Any) -> CaseData:
    """The module's parameters (W^O found by shape), without running forward."""
    module = impl.MultiHeadCausalScaledDotAttention(MHA["hidden"], MHA["heads"])
    return CaseData(
        kwargs={"hidden": MHA["hidden"], "heads": MHA["heads"]},
        inputs={},
        facts={"outside_shapes": outside_shapes(module)},
    )


@case("mha", "2.3.4", probe="multihead", standin=True)
def mha(rng: np.random.Generator, impl: Any) -> CaseData:
    """Self-attention of 3 heads on (2, 5, 6) inputs, and a copy whose future is perturbed."""
    import torch

    seed_torch(rng)
    module = impl.MultiHeadCausalScaledDotAttention(MHA["hidden"], MHA["heads"]).double().eval()
    output_projection = getattr(module, "W_O", None)
    if output_projection is not None:  # None in a mutant without W^O
        with torch.no_grad():
            output_projection.bias.zero_()  # the handout's W^O has no bias: bias-free ones match
    x = rng.standard_normal((MHA["batch"], MHA["seq"], MHA["hidden"]))
    with torch.no_grad():
        context, weights = module(*(torch.from_numpy(x),) * 3)
    return CaseData(
        kwargs={"hidden": MHA["hidden"], "heads": MHA["heads"]},
        inputs={**state_of(module), "x": x, "x_perturbed": perturbed(rng, x)},
        expected={"context": context.numpy(), "weights": weights.numpy()},
        facts={"perturb_from": PERTURB_FROM},
    )
