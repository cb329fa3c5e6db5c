"""Models: positional encodings, causality of the decoder-only model, parameter and FLOP counts."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
import torch.nn.functional as F

from reference.models import (
    DecoderOnlyTransformer,
    TransformerDecoder,
    TransformerEncoder,
    calc_parameters_decoder,
    create_positional_encodings,
    decoder_forward_flops,
    decoder_training_flops,
)


def test_positional_encoding_formula():
    table = create_positional_encodings(6, max_seq_len=10)
    pos, i = 7, 1  # dimensions 2 and 3
    angle = pos / 10000 ** (2 * i / 6)
    assert table[pos, 2].item() == pytest.approx(math.sin(angle), abs=1e-6)
    assert table[pos, 3].item() == pytest.approx(math.cos(angle), abs=1e-6)
    assert create_positional_encodings(5, 4).shape == (4, 5)  # odd widths work


def test_decoder_only_shapes_and_causality():
    model = DecoderOnlyTransformer(30, 12, 2, num_heads=2).double()
    inputs = torch.randint(0, 30, (3, 9))
    logits, weights = model(inputs)
    assert logits.shape == (3, 9, 30)
    assert weights.shape == (2, 3, 2, 9, 9)
    changed = inputs.clone()
    changed[:, 6:] = (changed[:, 6:] + 1) % 30
    torch.testing.assert_close(model(changed)[0][:, :6], logits[:, :6])
    assert not torch.allclose(model(changed)[0][:, 6:], logits[:, 6:])


def test_positional_table_is_a_buffer_not_a_parameter():
    model = DecoderOnlyTransformer(30, 8, 1)
    assert "positional_encodings" not in dict(model.named_parameters())
    assert "positional_encodings" not in model.state_dict()


def test_encoder_decoder_shapes():
    encoder, decoder = TransformerEncoder(30, 10, 2), TransformerDecoder(30, 10, 2)
    annotations, _ = encoder(torch.randint(0, 30, (4, 6)))
    logits, (enc_w, self_w) = decoder(torch.randint(0, 30, (4, 8)), annotations)
    assert logits.shape == (4, 8, 30)
    assert enc_w.shape == (2, 4, 8, 6) and self_w.shape == (2, 4, 8, 8)


CONFIGS = list(itertools.product([30, 7], [4, 16, 33], [1, 3], [1, 2, 4]))


@pytest.mark.parametrize(("vocab", "hidden", "layers", "heads"), CONFIGS)
def test_parameter_count_equals_numel(vocab, hidden, layers, heads):
    model = DecoderOnlyTransformer(vocab, hidden, layers, heads)
    assert calc_parameters_decoder(vocab, hidden, layers, heads) == sum(
        p.numel() for p in model.parameters()
    )


def test_flops_by_hand():
    # L=2, H=3, one layer, V=5: QKV 2*3*2*9=108, scores 2*4*3=24, softmax 3*4=12,
    # weighted sum 24, MLP 2*2*9=36 -> 204; head 2*2*5*3=60 -> forward 264
    assert decoder_forward_flops(2, 3, 1, 5) == 264
    assert decoder_training_flops(2, 3, 1, 5) == 3 * 264
    assert decoder_forward_flops(2, 3, 4, 5) == 4 * 204 + 60


def _linear(layer, x):
    return x @ layer.weight.T + layer.bias


def _attend(attention, queries, keys, causal):
    q, k, v = _linear(attention.Q, queries), _linear(attention.K, keys), _linear(attention.V, keys)
    return F.scaled_dot_product_attention(q, k, v, is_causal=causal)


@pytest.mark.parametrize("heads", [1, 3])
def test_decoder_only_equals_an_independent_implementation(heads):
    model = DecoderOnlyTransformer(30, 12, 2, num_heads=heads).double()
    inputs = torch.randint(0, 30, (3, 9))
    x = model.embedding.weight[inputs] + create_positional_encodings(12)[:9].double()
    for attention, mlp in zip(model.self_attentions, model.attention_mlps, strict=True):
        if heads == 1:
            context = _attend(attention, x, x, causal=True)
        else:
            contexts = [_attend(head, x, x, causal=True) for head in attention.heads]
            context = _linear(attention.W_O, torch.cat(contexts, dim=-1))
        x = x + context
        x = x + torch.relu(_linear(mlp[0], x))
    torch.testing.assert_close(model(inputs)[0], _linear(model.out, x))


def test_encoder_decoder_equals_an_independent_implementation():
    encoder = TransformerEncoder(30, 10, 2).double()
    decoder = TransformerDecoder(30, 10, 2).double()
    sources, targets = torch.randint(0, 30, (4, 6)), torch.randint(0, 30, (4, 8))
    table = create_positional_encodings(10).double()
    a = encoder.embedding.weight[sources] + table[:6]
    for attention, mlp in zip(encoder.self_attentions, encoder.attention_mlps, strict=True):
        a = a + _attend(attention, a, a, causal=False)
        a = a + torch.relu(_linear(mlp[0], a))
    torch.testing.assert_close(encoder(sources)[0], a)
    x = decoder.embedding.weight[targets] + table[:8]
    layers = zip(
        decoder.self_attentions, decoder.encoder_attentions, decoder.attention_mlps, strict=True
    )
    for self_attention, encoder_attention, mlp in layers:
        x = x + _attend(self_attention, x, x, causal=True)
        x = x + _attend(encoder_attention, x, a, causal=False)
        x = x + torch.relu(_linear(mlp[0], x))
    torch.testing.assert_close(decoder(targets, a)[0], _linear(decoder.out, x))
