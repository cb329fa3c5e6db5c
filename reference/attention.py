"""Attention modules of the homework (handout 2.2.2 questions 1-2 and 2.3 question 4).

Scaled dot-product attention (Vaswani et al. 2017, section 3.2.1):
``Attention(Q, K, V) = softmax(Q K^T / sqrt(d)) V`` with learned projections ``W_q, W_k, W_v``.

Shapes: queries are (B, H) or (B, k, H); keys and values are (B, L, H). The context is (B, k, H)
and the attention weights are (B, k, L): row i holds query i's distribution over the L keys.
"""

from __future__ import annotations

import torch
from torch import nn


class ScaledDotAttention(nn.Module):
    """Single-head scaled dot-product attention with query, key and value projections."""

    def __init__(self, hidden_size: int) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        self.Q = nn.Linear(hidden_size, hidden_size)
        self.K = nn.Linear(hidden_size, hidden_size)
        self.V = nn.Linear(hidden_size, hidden_size)
        self.softmax = nn.Softmax(dim=2)
        self.scaling_factor = torch.rsqrt(torch.tensor(self.hidden_size, dtype=torch.float))

    def forward(
        self, queries: torch.Tensor, keys: torch.Tensor, values: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The context vectors and attention weights.

        Args:
            queries: (B, H) or (B, k, H).
            keys: (B, L, H).
            values: (B, L, H).

        Returns:
            context: (B, k, H), with k = 1 for 2D queries.
            attention_weights: (B, k, L); each row sums to 1.
        """
        # BEGIN SOLUTION
        batch_size = keys.size(0)
        q = self.Q(queries.view(batch_size, -1, self.hidden_size))  # (B, k, H)
        k = self.K(keys)  # (B, L, H)
        v = self.V(values)  # (B, L, H)
        unnormalized_attention = q @ k.transpose(1, 2) * self.scaling_factor  # (B, k, L)
        attention_weights = self.softmax(unnormalized_attention)  # (B, k, L)
        context = attention_weights @ v  # (B, k, H)
        # END SOLUTION
        return context, attention_weights


class CausalScaledDotAttention(nn.Module):
    """Scaled dot-product attention in which query i attends to keys j <= i only."""

    def __init__(self, hidden_size: int) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        self.neg_inf = torch.tensor(-1e7)
        self.Q = nn.Linear(hidden_size, hidden_size)
        self.K = nn.Linear(hidden_size, hidden_size)
        self.V = nn.Linear(hidden_size, hidden_size)
        self.softmax = nn.Softmax(dim=2)
        self.scaling_factor = torch.rsqrt(torch.tensor(self.hidden_size, dtype=torch.float))

    def forward(
        self, queries: torch.Tensor, keys: torch.Tensor, values: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The context vectors and attention weights, future keys masked out.

        Args:
            queries: (B, k, H); in self-attention k = L and query i sits at position i.
            keys: (B, L, H).
            values: (B, L, H).

        Returns:
            context: (B, k, H).
            attention_weights: (B, k, L); entry (i, j) is 0 for every j > i.

        Masked scores may be set to ``float("-inf")`` or to ``self.neg_inf`` (a large negative
        number); both give the future keys zero weight after the softmax.
        """
        # BEGIN SOLUTION
        batch_size = keys.size(0)
        q = self.Q(queries.view(batch_size, -1, self.hidden_size))  # (B, k, H)
        k = self.K(keys)  # (B, L, H)
        v = self.V(values)  # (B, L, H)
        unnormalized_attention = q @ k.transpose(1, 2) * self.scaling_factor  # (B, k, L)
        future = torch.ones_like(unnormalized_attention, dtype=torch.bool).triu(1)  # (B, k, L)
        unnormalized_attention = unnormalized_attention.masked_fill(future, float("-inf"))
        attention_weights = self.softmax(unnormalized_attention)  # (B, k, L)
        context = attention_weights @ v  # (B, k, H)
        # END SOLUTION
        return context, attention_weights


class MultiHeadCausalScaledDotAttention(nn.Module):
    """Multi-head causal attention: ``Concat(head_1, ..., head_h) W^O`` (Vaswani et al. 2017,
    section 3.2.2). Every head is a full-width ``CausalScaledDotAttention(hidden_size)``, so heads
    add parameters; ``W^O`` maps the concatenated (B, k, h * H) contexts back to H."""

    def __init__(self, hidden_size: int, num_heads: int) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        self.num_heads = num_heads
        self.heads = nn.ModuleList(
            [CausalScaledDotAttention(hidden_size) for _ in range(num_heads)]
        )
        # BEGIN SOLUTION
        self.W_O = nn.Linear(num_heads * hidden_size, hidden_size)
        # END SOLUTION

    def forward(
        self, queries: torch.Tensor, keys: torch.Tensor, values: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The context of all heads combined, and every head's attention weights.

        Args:
            queries: (B, k, H).
            keys: (B, L, H).
            values: (B, L, H).

        Returns:
            context: (B, k, H).
            attention_weights: (B, num_heads, k, L).
        """
        # BEGIN SOLUTION
        outputs = [head(queries, keys, values) for head in self.heads]
        context = torch.cat([c for c, _ in outputs], dim=-1)  # (B, k, h * H)
        context = self.W_O(context)  # (B, k, H)
        attention_weights = torch.stack([w for _, w in outputs], dim=1)  # (B, h, k, L)
        # END SOLUTION
        return context, attention_weights
