"""Stand-ins for model parts, so that one question is graded apart from the others.

``StandInCausalAttention`` replaces the student's ``CausalScaledDotAttention`` while their
``DecoderOnlyTransformer.forward`` (2.3.1) or ``MultiHeadCausalScaledDotAttention`` (2.3.4) is
probed, when their own failed question 2.2.2's checks, so a bug in 2.2.2 does not cost those
questions too. It is the homework's given class (``autograder.child.given``: the given
``__init__`` with every attribute students may read, ``Q``, ``K``, ``V``, ``softmax``,
``scaling_factor``, ``neg_inf``) with a forward of ours written with torch's own
``scaled_dot_product_attention``; it returns no attention weights (zeros), so it is not a
solution to copy. ``ScriptedDecoder`` drives ``decoder_generate`` (2.3.2) with logits the parent
chose, independent of the student's transformer.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType

import torch
import torch.nn.functional as F
from torch import nn

from autograder.child import given


class StandInCausalAttention(given.CausalScaledDotAttention):
    """The given causal attention (its ``__init__`` and attributes) with torch's kernel."""

    def forward(self, queries, keys, values):
        batch = keys.size(0)
        q = self.Q(queries.reshape(batch, -1, self.hidden_size))  # (B, k, H)
        k, v = self.K(keys), self.V(values)  # (B, L, H)
        mask = torch.ones(q.size(1), k.size(1), dtype=torch.bool, device=q.device).tril()
        context = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # (B, k, H)
        return context, torch.zeros(batch, q.size(1), k.size(1), dtype=q.dtype)


@contextmanager
def replaced(submission: ModuleType, name: str, value: object) -> Iterator[None]:
    """Within the block, the submission's global ``name`` (looked up by its code when it runs)
    is ``value``; the original, or its absence, is restored afterwards."""
    missing = object()
    original = getattr(submission, name, missing)
    setattr(submission, name, value)
    try:
        yield
    finally:
        if original is missing:
            delattr(submission, name)
        else:
            setattr(submission, name, original)


def stand_in_attention(submission: ModuleType, enabled: bool = True):
    """Within the block, when ``enabled``, the submission's ``CausalScaledDotAttention`` (looked
    up by the given ``__init__`` code when it builds layers or heads) is
    ``StandInCausalAttention``; otherwise the submission's own is used."""
    if not enabled:
        return contextlib.nullcontext()
    return replaced(submission, "CausalScaledDotAttention", StandInCausalAttention)


class ScriptedDecoder(nn.Module):
    """A decoder whose last-position argmax follows ``script`` and that records its inputs."""

    def __init__(self, script: list[int], vocab_size: int) -> None:
        super().__init__()
        self.script, self.vocab_size = list(script), vocab_size
        self.calls: list[list[int]] = []
        self.anchor = nn.Parameter(torch.zeros(1))  # so that next(model.parameters()) works

    def forward(self, inputs, *args, **kwargs):
        if not isinstance(inputs, torch.Tensor):
            inputs = torch.as_tensor(inputs)
        rows = inputs.reshape(-1, inputs.shape[-1]) if inputs.dim() > 0 else inputs.reshape(1, 1)
        self.calls.append([int(t) for t in rows[0].tolist()])
        step = min(len(self.calls) - 1, len(self.script) - 1)
        logits = torch.zeros(rows.size(0), rows.size(1), self.vocab_size)
        logits[:, :, self.script[step]] = 1.0
        return logits, torch.zeros(1, rows.size(0), rows.size(1), rows.size(1))
