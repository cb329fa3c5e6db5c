"""Probes of the attention modules (2.2.1, 2.2.2, 2.3.4)."""

from __future__ import annotations

from types import ModuleType

import numpy as np
import torch

from autograder.child.probes.common import (
    Arrays,
    as_tensor_pair,
    copy_tensor,
    expect_signature,
    get_definition,
    in_float64_or_float32,
    load_state,
    states,
    to_numpy,
)
from autograder.child.probes.standins import stand_in_attention
from autograder.child.registry import probe

ATTENTION_CLASSES = ("ScaledDotAttention", "CausalScaledDotAttention")


def _forward(module, queries, keys, values, *, what: str) -> Arrays:
    with torch.no_grad():
        context, weights = as_tensor_pair(module(queries, keys, values), what=what)
    out = {"context": to_numpy(context)}
    if isinstance(weights, torch.Tensor):
        out["weights"] = to_numpy(weights)
    return out


@probe("attention")
def attention(
    submission: ModuleType, *, cls: str, hidden: int, inputs: list[str], **arrays: np.ndarray
) -> tuple[dict, Arrays]:
    """Build ``cls(hidden)``, load the given Q/K/V weights, and run forward on each named set of
    inputs (``queries``/``keys``/``values``, optionally with a ``_perturbed`` suffix)."""
    if cls not in ATTENTION_CLASSES:
        raise ValueError(f"unknown attention class {cls}")
    factory = get_definition(submission, cls)
    expect_signature(factory, ("hidden_size",), what=cls)
    expect_signature(factory.forward, ("self", "queries", "keys", "values"), what=f"{cls}.forward")
    state = states(arrays)

    def run(dtype: torch.dtype) -> Arrays:
        module = factory(hidden).to(dtype).eval()
        load_state(module, state, what=cls)
        out = {}
        for suffix in inputs:
            q, k, v = (
                copy_tensor(arrays.get(f"{name}{suffix}", arrays[name]), dtype)
                for name in ("queries", "keys", "values")
            )
            for key, value in _forward(module, q, k, v, what=f"{cls}.forward").items():
                out[f"{key}{suffix}"] = value
        return out

    return in_float64_or_float32(run)


def _find_output_projection(module: torch.nn.Module, hidden: int, heads: int):
    """W^O found by shape rather than name: a parameter outside ``heads`` mapping h*H features
    to H, as an ``nn.Linear`` weight (H, h*H) or a raw matrix (h*H, H); and its bias if any.
    (None, None) when there is none (the checks say so)."""
    outside = {n: p for n, p in module.named_parameters() if not n.startswith("heads.")}
    weight = next(
        (
            (n, p)
            for n, p in outside.items()
            if tuple(p.shape) in {(hidden, heads * hidden), (heads * hidden, hidden)}
        ),
        None,
    )
    if weight is None:
        return None, None
    prefix = weight[0].rsplit(".", 1)[0] if "." in weight[0] else ""
    bias = outside.get(f"{prefix}.bias" if prefix else "bias")
    if bias is not None and tuple(bias.shape) != (hidden,):
        bias = None
    return weight, bias


def _interleaved(weight: np.ndarray, hidden: int, heads: int) -> np.ndarray:
    """W^O for heads concatenated feature by feature (``stack(dim=-1).flatten(-2)``) rather than
    head by head: column ``f * heads + i`` takes column ``i * hidden + f``."""
    order = [i * hidden + f for f in range(hidden) for i in range(heads)]
    return weight[:, order]


def _multihead_factory(submission: ModuleType):
    factory = get_definition(submission, "MultiHeadCausalScaledDotAttention")
    expect_signature(
        factory, ("hidden_size", "num_heads"), what="MultiHeadCausalScaledDotAttention"
    )
    return factory


@probe("multihead_structure")
def multihead_structure(
    submission: ModuleType, *, hidden: int, heads: int, standin: bool = False
) -> tuple[dict, Arrays]:
    """The parameters of ``MultiHeadCausalScaledDotAttention(hidden, heads)`` and its W^O,
    found by shape, without running forward; its heads are the submission's own causal
    attention, or with ``standin`` ours."""
    factory = _multihead_factory(submission)
    with stand_in_attention(submission, standin):
        module = factory(hidden, heads)
    weight, bias = _find_output_projection(module, hidden, heads)
    data = {
        "parameters": {n: list(p.shape) for n, p in module.named_parameters()},
        "output_projection": weight[0] if weight else None,
        "output_bias": bias is not None,
    }
    return data, {}


@probe("multihead")
def multihead(
    submission: ModuleType,
    *,
    hidden: int,
    heads: int,
    standin: bool = False,
    **arrays: np.ndarray,
) -> tuple[dict, Arrays]:
    """Build ``MultiHeadCausalScaledDotAttention(hidden, heads)`` (its heads the submission's
    own causal attention, or with ``standin`` ours), load the heads' weights and W^O (found by
    shape), run forward on ``x`` and ``x_perturbed``; also with W^O's columns in the interleaved
    order, for heads concatenated feature by feature."""
    factory = _multihead_factory(submission)
    state = states(arrays)
    head_state = {k: v for k, v in state.items() if k.startswith("heads.")}
    layouts = {
        "": state["W_O.weight"],
        "_interleaved": _interleaved(state["W_O.weight"], hidden, heads),
    }

    def run(dtype: torch.dtype) -> Arrays:
        out = {}
        for layout, value in layouts.items():
            with stand_in_attention(submission, standin):
                module = factory(hidden, heads).to(dtype).eval()
            load_state(module, head_state, what="MultiHeadCausalScaledDotAttention")
            found, bias = _find_output_projection(module, hidden, heads)
            if found is None and layout:
                continue  # no W^O to load in another order
            with torch.no_grad():
                if found is not None:
                    weight = found[1]
                    weight.copy_(
                        copy_tensor(value if tuple(weight.shape) == value.shape else value.T)
                    )
                if bias is not None:
                    bias.copy_(copy_tensor(state["W_O.bias"]))
            for suffix in ("", "_perturbed"):
                if layout and suffix:
                    continue
                q, k, v = (copy_tensor(arrays[f"x{suffix}"], dtype) for _ in range(3))
                what = "MultiHeadCausalScaledDotAttention.forward"
                out[f"context{layout}{suffix}"] = _forward(module, q, k, v, what=what)["context"]
        return out

    return in_float64_or_float32(run)
