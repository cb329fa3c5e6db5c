"""Probes of the decoder-only model (2.3.1) and of greedy generation (2.3.2)."""

from __future__ import annotations

from types import ModuleType

import numpy as np
import torch

from autograder.child.probes.common import (
    Arrays,
    ContractError,
    copy_tensor,
    expect_signature,
    get_definition,
    in_float64_or_float32,
    load_state,
    states,
    to_numpy,
)
from autograder.child.probes.standins import ScriptedDecoder, stand_in_attention
from autograder.child.registry import probe


@probe("decoder_forward")
def decoder_forward(
    submission: ModuleType,
    *,
    vocab: int,
    hidden: int,
    layers: int,
    standin: bool = False,
    **arrays: np.ndarray,
) -> tuple[dict, Arrays]:
    """``DecoderOnlyTransformer(vocab, hidden, layers)`` with the given weights (its attention
    the submission's own, or with ``standin`` ours), run on ``inputs`` and
    ``inputs_perturbed``; returns the logits."""
    factory = get_definition(submission, "DecoderOnlyTransformer")
    expect_signature(
        factory, ("vocab_size", "hidden_size", "num_layers"), what="DecoderOnlyTransformer"
    )
    expect_signature(factory.forward, ("self", "inputs"), what="DecoderOnlyTransformer.forward")
    state = states(arrays)

    def run(dtype: torch.dtype) -> Arrays:
        with stand_in_attention(submission, standin):
            model = factory(vocab, hidden, layers).to(dtype).eval()
        load_state(model, state, what="DecoderOnlyTransformer")
        out = {}
        for suffix in ("", "_perturbed"):
            inputs = copy_tensor(arrays[f"inputs{suffix}"], torch.long)
            with torch.no_grad():
                result = model(inputs)
            logits = result[0] if isinstance(result, tuple | list) else result
            if not isinstance(logits, torch.Tensor):
                raise ContractError(
                    "DecoderOnlyTransformer.forward must return (logits, attention_weights)"
                )
            out[f"logits{suffix}"] = to_numpy(logits)
        return out

    return in_float64_or_float32(run)


@probe("generate")
def generate(
    submission: ModuleType, *, word: str, script: list[int], vocab: int
) -> tuple[dict, Arrays]:
    """Call ``decoder_generate(model, word)`` with a scripted stand-in model; returns what it
    produced and every input sequence the model saw."""
    decoder_generate = get_definition(submission, "decoder_generate")
    expect_signature(decoder_generate, ("model", "input_string"), what="decoder_generate")
    model = ScriptedDecoder(script, vocab)
    with torch.no_grad():
        result = decoder_generate(model, word)
    if isinstance(result, torch.Tensor):
        result = result.tolist()
    if not isinstance(result, str | list | tuple):
        raise ContractError(
            f"decoder_generate returned {type(result).__name__}; expected the translation"
        )
    data = {
        "result": result if isinstance(result, str) else [str(r) for r in result],
        "calls": model.calls[:64],
    }
    return data, {}
