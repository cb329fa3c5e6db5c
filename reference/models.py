"""The Transformer models of the homework and their accounting.

A simplified Transformer (Vaswani et al. 2017): single-head unless asked otherwise, no
LayerNorm, a layer is ``x = x + attention(x)`` then ``x = x + mlp(x)`` with ``mlp = ReLU(Linear)``,
sinusoidal positional encodings added to the embeddings (handout 2.2.2 question 3).

- ``TransformerEncoder`` / ``TransformerDecoder``: the encoder-decoder of handout 2.2 (given).
- ``DecoderOnlyTransformer``: the decoder-only model of handout 2.3 (students write ``forward``).
- ``calc_parameters_decoder`` (handout 2.3 question 5) and ``decoder_training_flops`` (2.4).
"""

from __future__ import annotations

import torch
from torch import nn

from reference.attention import (
    CausalScaledDotAttention,
    MultiHeadCausalScaledDotAttention,
    ScaledDotAttention,
)

MAX_SEQ_LEN = 1000


def create_positional_encodings(hidden_size: int, max_seq_len: int = MAX_SEQ_LEN) -> torch.Tensor:
    """Sinusoidal table (Vaswani et al. 2017, section 3.5), (max_seq_len, hidden_size):
    ``PE(pos, 2i) = sin(pos / 10000^(2i/d))`` and ``PE(pos, 2i+1) = cos(pos / 10000^(2i/d))``."""
    positions = torch.arange(max_seq_len, dtype=torch.float)[:, None]  # (T, 1)
    dims = torch.arange(0, hidden_size, 2, dtype=torch.float)[None, :]  # (1, ceil(H/2))
    angles = positions / 10000 ** (dims / hidden_size)  # (T, ceil(H/2))
    encodings = torch.zeros(max_seq_len, hidden_size)
    encodings[:, 0::2] = torch.sin(angles)
    encodings[:, 1::2] = torch.cos(angles[:, : hidden_size // 2])
    return encodings


def _mlp(hidden_size: int) -> nn.Module:
    return nn.Sequential(nn.Linear(hidden_size, hidden_size), nn.ReLU())


class TransformerEncoder(nn.Module):
    """Encoder: embedding + positional encoding, then ``num_layers`` of self-attention and MLP."""

    def __init__(self, vocab_size: int, hidden_size: int, num_layers: int) -> None:
        super().__init__()
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.embedding = nn.Embedding(vocab_size, hidden_size)
        self.self_attentions = nn.ModuleList(
            [ScaledDotAttention(hidden_size) for _ in range(num_layers)]
        )
        self.attention_mlps = nn.ModuleList([_mlp(hidden_size) for _ in range(num_layers)])
        self.register_buffer(
            "positional_encodings", create_positional_encodings(hidden_size), persistent=False
        )

    def forward(self, inputs: torch.Tensor) -> tuple[torch.Tensor, None]:
        """inputs (B, L) token indices -> annotations (B, L, H)."""
        seq_len = inputs.size(1)
        x = self.embedding(inputs) + self.positional_encodings[:seq_len]  # (B, L, H)
        for attention, mlp in zip(self.self_attentions, self.attention_mlps, strict=True):
            x = x + attention(x, x, x)[0]
            x = x + mlp(x)
        return x, None


class TransformerDecoder(nn.Module):
    """Decoder: causal self-attention, attention over the encoder's annotations, MLP."""

    def __init__(self, vocab_size: int, hidden_size: int, num_layers: int) -> None:
        super().__init__()
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.embedding = nn.Embedding(vocab_size, hidden_size)
        self.self_attentions = nn.ModuleList(
            [CausalScaledDotAttention(hidden_size) for _ in range(num_layers)]
        )
        self.encoder_attentions = nn.ModuleList(
            [ScaledDotAttention(hidden_size) for _ in range(num_layers)]
        )
        self.attention_mlps = nn.ModuleList([_mlp(hidden_size) for _ in range(num_layers)])
        self.out = nn.Linear(hidden_size, vocab_size)
        self.register_buffer(
            "positional_encodings", create_positional_encodings(hidden_size), persistent=False
        )

    def forward(
        self, inputs: torch.Tensor, annotations: torch.Tensor
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """inputs (B, Lt) decoder tokens, annotations (B, Ls, H) -> logits (B, Lt, V) and the
        stacked (encoder, self) attention weights, each (num_layers, B, Lt, Ls or Lt)."""
        seq_len = inputs.size(1)
        x = self.embedding(inputs) + self.positional_encodings[:seq_len]  # (B, Lt, H)
        encoder_weights, self_weights = [], []
        for self_attention, encoder_attention, mlp in zip(
            self.self_attentions, self.encoder_attentions, self.attention_mlps, strict=True
        ):
            context, weights = self_attention(x, x, x)
            x = x + context
            self_weights.append(weights)
            context, weights = encoder_attention(x, annotations, annotations)
            x = x + context
            encoder_weights.append(weights)
            x = x + mlp(x)
        return self.out(x), (torch.stack(encoder_weights), torch.stack(self_weights))


class DecoderOnlyTransformer(nn.Module):
    """Decoder-only model of handout 2.3: the input ``<SOS> src <EOP> tgt`` is read with
    causal self-attention (multi-head when ``num_heads > 1``); each position predicts the next
    token."""

    def __init__(
        self, vocab_size: int, hidden_size: int, num_layers: int, num_heads: int = 1
    ) -> None:
        super().__init__()
        if num_heads < 1:
            raise ValueError(f"num_heads must be at least 1, got {num_heads}")
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.embedding = nn.Embedding(vocab_size, hidden_size)
        if num_heads == 1:
            attentions = [CausalScaledDotAttention(hidden_size) for _ in range(num_layers)]
        else:
            attentions = [
                MultiHeadCausalScaledDotAttention(hidden_size, num_heads) for _ in range(num_layers)
            ]
        self.self_attentions = nn.ModuleList(attentions)
        self.attention_mlps = nn.ModuleList([_mlp(hidden_size) for _ in range(num_layers)])
        self.out = nn.Linear(hidden_size, vocab_size)
        self.register_buffer(
            "positional_encodings", create_positional_encodings(hidden_size), persistent=False
        )

    def forward(self, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The next-token logits at every position.

        Args:
            inputs: (B, L) token indices.

        Returns:
            logits: (B, L, vocab_size).
            attention_weights: (num_layers, B, L, L), or (num_layers, B, num_heads, L, L)
                with several heads.
        """
        # BEGIN SOLUTION
        seq_len = inputs.size(1)
        x = self.embedding(inputs) + self.positional_encodings[:seq_len]  # (B, L, H)
        attention_weights = []
        for attention, mlp in zip(self.self_attentions, self.attention_mlps, strict=True):
            context, weights = attention(x, x, x)
            x = x + context
            x = x + mlp(x)
            attention_weights.append(weights)
        logits = self.out(x)  # (B, L, V)
        attention_weights = torch.stack(attention_weights)
        # END SOLUTION
        return logits, attention_weights


def calc_parameters_decoder(
    vocab_size: int, hidden_size: int, num_layers: int, num_heads: int
) -> int:
    """Number of parameters of ``DecoderOnlyTransformer(vocab_size, hidden_size, num_layers,
    num_heads)``, counted from its layers: equal to ``sum(p.numel() for p in
    model.parameters())``, the embedding included (the positional table is a buffer, not a
    parameter)."""
    # BEGIN SOLUTION
    V, H, h = vocab_size, hidden_size, num_heads
    linear = H * H + H  # one nn.Linear(H, H): weight and bias
    # each head's Q, K, V projections, and W^O = Linear(h H, H) when there are several heads
    attention = h * 3 * linear + (h * H * H + H if h > 1 else 0)
    per_layer = attention + linear  # + the MLP
    return V * H + num_layers * per_layer + H * V + V
    # END SOLUTION


def decoder_forward_flops(seq_len: int, hidden_size: int, num_layers: int, vocab_size: int) -> int:
    """Forward FLOPs of one single-head decoder-only example of length L, counted per operation:
    per layer Q/K/V projections ``2*3*L*H^2``, scores ``2*L^2*H``, softmax ``3*L^2``, weighted sum
    ``2*L^2*H``, MLP ``2*L*H^2``; then the output head ``2*L*V*H``."""
    L, H = seq_len, hidden_size
    per_layer = 2 * 3 * L * H * H + 2 * L * L * H + 3 * L * L + 2 * L * L * H + 2 * L * H * H
    return num_layers * per_layer + 2 * L * vocab_size * H


def decoder_training_flops(seq_len: int, hidden_size: int, num_layers: int, vocab_size: int) -> int:
    """Training FLOPs of one example: forward plus a backward pass of twice the forward."""
    return 3 * decoder_forward_flops(seq_len, hidden_size, num_layers, vocab_size)
