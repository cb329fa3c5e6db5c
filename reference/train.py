"""Training, evaluation and greedy decoding (handout 2.2.2 question 4, 2.3 questions 2-3).

Both models train with Adam, a per-epoch learning-rate decay, mini-batches of equal
(source length, target length), and early stopping on the validation loss (the best weights are
restored). Losses are per-token cross-entropies averaged over the tokens of an epoch.
"""

from __future__ import annotations

import copy
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn
from tqdm.auto import tqdm

from reference.data import (
    EOP_TOKEN,
    EOS_TOKEN,
    SOS_TOKEN,
    VOCAB_SIZE,
    Batch,
    Pair,
    count_tokens,
    indices_to_string,
    make_batches,
    string_to_indices,
)
from reference.models import (
    DecoderOnlyTransformer,
    TransformerDecoder,
    TransformerEncoder,
    decoder_training_flops,
)


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of one training run (the handout's suggested values by default)."""

    hidden_size: int
    """Model width H."""
    num_layers: int = 3
    """Transformer layers (encoder and decoder each, for the encoder-decoder)."""
    num_heads: int = 1
    """Attention heads of the decoder-only model."""
    batch_size: int = 64
    """Pairs per mini-batch (64 for the small dataset, 512 for the large one)."""
    learning_rate: float = 5e-4
    """Adam's initial learning rate."""
    lr_decay: float = 0.99
    """Multiplier applied to the learning rate after every epoch."""
    max_epochs: int = 100
    """Upper bound on epochs."""
    early_stopping_patience: int | None = 10
    """Stop after this many epochs without a better validation loss; None never stops early."""
    seed: int = 0
    """Seeds the weights and the batch order."""
    device: str = "auto"
    """"auto" (CUDA when available), "cpu" or "cuda"."""


@dataclass
class TrainHistory:
    """Per-epoch record of one run; plain data, JSON-ready through ``to_json``."""

    train_loss: list[float] = field(default_factory=list)
    """Mean training loss of each epoch."""
    val_loss: list[float] = field(default_factory=list)
    """Validation loss after each epoch."""
    flops: list[float] = field(default_factory=list)
    """Cumulative training FLOPs at the end of each epoch (decoder-only runs)."""
    tokens: list[int] = field(default_factory=list)
    """Cumulative training tokens at the end of each epoch."""
    seconds: float = 0.0
    """Wall time of the run."""
    device: str = "cpu"
    """Where it ran."""

    @property
    def best_val_loss(self) -> float:
        return min(self.val_loss) if self.val_loss else math.nan

    @property
    def best_epoch(self) -> int:
        return self.val_loss.index(self.best_val_loss) + 1 if self.val_loss else 0

    def to_json(self) -> dict:
        return {
            "train_loss": self.train_loss,
            "val_loss": self.val_loss,
            "flops": self.flops,
            "tokens": self.tokens,
            "best_val_loss": self.best_val_loss,
            "best_epoch": self.best_epoch,
            "epochs": len(self.val_loss),
            "seconds": round(self.seconds, 2),
            "device": self.device,
        }


def resolve_device(device: str = "auto") -> torch.device:
    """``"auto"`` picks CUDA when it is available."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def model_device(model: nn.Module) -> torch.device:
    """The device of a model's first parameter (CPU for a model without parameters)."""
    for parameter in model.parameters():
        return parameter.device
    return torch.device("cpu")


# ---------------------------------------------------------------------------------------------
# Losses of one batch: (sum of token losses, number of tokens)
# ---------------------------------------------------------------------------------------------

LossFn = Callable[[Batch, torch.device], tuple[torch.Tensor, int]]


def encoder_decoder_loss(encoder: nn.Module, decoder: nn.Module) -> LossFn:
    """Teacher forcing: the decoder reads ``<SOS> tgt`` and predicts ``tgt <EOS>``."""

    def loss_fn(batch: Batch, device: torch.device) -> tuple[torch.Tensor, int]:
        sources, targets = batch.sources.to(device), batch.targets.to(device)
        sos = torch.full_like(targets[:, :1], SOS_TOKEN)
        annotations, _ = encoder(sources)
        logits, _ = decoder(torch.cat([sos, targets[:, :-1]], dim=1), annotations)
        loss = nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten(), reduction="sum")
        return loss, targets.numel()

    return loss_fn


def decoder_only_inputs(batch: Batch) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Input ``<SOS> src <EOP> tgt``, the target span ``tgt <EOS>``, and where the span's
    predictions start (the position of ``<EOP>``)."""
    sources, targets = batch.sources[:, :-1], batch.targets  # (B, Ls), (B, Lt + 1)
    sos = torch.full_like(sources[:, :1], SOS_TOKEN)
    eop = torch.full_like(sources[:, :1], EOP_TOKEN)
    inputs = torch.cat([sos, sources, eop, targets[:, :-1]], dim=1)  # (B, Ls + Lt + 2)
    return inputs, targets, sources.size(1) + 1


def decoder_only_loss(model: nn.Module) -> LossFn:
    """Next-token loss on the target span only (the outputs from ``<EOP>`` on)."""

    def loss_fn(batch: Batch, device: torch.device) -> tuple[torch.Tensor, int]:
        inputs, targets, start = decoder_only_inputs(batch)
        logits, _ = model(inputs.to(device))
        span = logits[:, start:]  # (B, Lt + 1, V)
        loss = nn.functional.cross_entropy(
            span.flatten(0, 1), targets.to(device).flatten(), reduction="sum"
        )
        return loss, targets.numel()

    return loss_fn


@torch.no_grad()
def evaluate(
    loss_fn: LossFn,
    modules: Sequence[nn.Module],
    pairs: Sequence[Pair],
    batch_size: int,
    device: torch.device,
) -> float:
    """Mean per-token loss over ``pairs`` in evaluation mode."""
    for module in modules:
        module.eval()
    total, count = 0.0, 0
    for batch in make_batches(pairs, batch_size):
        loss, n = loss_fn(batch, device)
        total, count = total + loss.item(), count + n
    return total / max(count, 1)


def fit(
    modules: Sequence[nn.Module],
    loss_fn: LossFn,
    train_pairs: Sequence[Pair],
    val_pairs: Sequence[Pair],
    config: TrainConfig,
    *,
    flops_per_epoch: float = 0.0,
    tokens_per_epoch: int = 0,
    progress: bool = True,
    description: str = "train",
) -> TrainHistory:
    """The training loop shared by both models; the best weights are restored at the end."""
    device = resolve_device(config.device)
    for module in modules:
        module.to(device)
    parameters = [p for module in modules for p in module.parameters()]
    optimizer = torch.optim.Adam(parameters, lr=config.learning_rate)
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=config.lr_decay)
    rng = random.Random(config.seed)
    history = TrainHistory(device=str(device))
    best_state, since_best = None, 0
    start = time.perf_counter()
    bar = tqdm(
        range(config.max_epochs), desc=description, disable=None if progress else True, leave=False
    )
    for epoch in bar:
        for module in modules:
            module.train()
        total, count = 0.0, 0
        for batch in make_batches(train_pairs, config.batch_size, shuffle=True, generator=rng):
            loss, n = loss_fn(batch, device)
            optimizer.zero_grad()
            (loss / n).backward()
            optimizer.step()
            total, count = total + loss.item(), count + n
        scheduler.step()
        val_loss = evaluate(loss_fn, modules, val_pairs, config.batch_size, device)
        history.train_loss.append(total / max(count, 1))
        history.val_loss.append(val_loss)
        history.flops.append(flops_per_epoch * (epoch + 1))
        history.tokens.append(tokens_per_epoch * (epoch + 1))
        bar.set_postfix(train=f"{history.train_loss[-1]:.3f}", val=f"{val_loss:.3f}")
        if val_loss <= history.best_val_loss:
            best_state = [copy.deepcopy(module.state_dict()) for module in modules]
            since_best = 0
        else:
            since_best += 1
            patience = config.early_stopping_patience
            if patience is not None and since_best >= patience:
                break
    if best_state is not None:
        for module, state in zip(modules, best_state, strict=True):
            module.load_state_dict(state)
    history.seconds = time.perf_counter() - start
    return history


def train_encoder_decoder(
    train_pairs: Sequence[Pair],
    val_pairs: Sequence[Pair],
    config: TrainConfig,
    *,
    progress: bool = True,
) -> tuple[TransformerEncoder, TransformerDecoder, TrainHistory]:
    """Handout 2.2.2 question 4: train a Transformer encoder-decoder from a seeded init."""
    torch.manual_seed(config.seed)
    encoder = TransformerEncoder(VOCAB_SIZE, config.hidden_size, config.num_layers)
    decoder = TransformerDecoder(VOCAB_SIZE, config.hidden_size, config.num_layers)
    history = fit(
        [encoder, decoder],
        encoder_decoder_loss(encoder, decoder),
        train_pairs,
        val_pairs,
        config,
        progress=progress,
        description=f"enc-dec H={config.hidden_size}",
    )
    return encoder, decoder, history


def decoder_epoch_cost(pairs: Sequence[Pair], config: TrainConfig) -> tuple[float, int]:
    """Training FLOPs and tokens of one epoch of the (single-head) decoder-only model."""
    flops = sum(
        decoder_training_flops(
            len(s) + len(t) + 2, config.hidden_size, config.num_layers, VOCAB_SIZE
        )
        for s, t in pairs
    )
    return float(flops), count_tokens(pairs)


def train_decoder_only(
    train_pairs: Sequence[Pair],
    val_pairs: Sequence[Pair],
    config: TrainConfig,
    *,
    progress: bool = True,
) -> tuple[DecoderOnlyTransformer, TrainHistory]:
    """Handout 2.3 question 3: train a decoder-only model from a seeded init."""
    torch.manual_seed(config.seed)
    model = DecoderOnlyTransformer(
        VOCAB_SIZE, config.hidden_size, config.num_layers, config.num_heads
    )
    flops, tokens = decoder_epoch_cost(train_pairs, config)
    history = fit(
        [model],
        decoder_only_loss(model),
        train_pairs,
        val_pairs,
        config,
        flops_per_epoch=flops,
        tokens_per_epoch=tokens,
        progress=progress,
        description=f"decoder H={config.hidden_size} heads={config.num_heads}",
    )
    return model, history


# ---------------------------------------------------------------------------------------------
# Greedy decoding
# ---------------------------------------------------------------------------------------------

MAX_GENERATED = 20


@torch.no_grad()
def translate(
    encoder: nn.Module, decoder: nn.Module, word: str, max_len: int = MAX_GENERATED
) -> str:
    """Greedy translation of one word with the encoder-decoder."""
    encoder.eval()
    decoder.eval()
    device = model_device(encoder)
    sources = torch.tensor([string_to_indices(word) + [EOS_TOKEN]], device=device)
    annotations, _ = encoder(sources)
    tokens = [SOS_TOKEN]
    for _ in range(max_len):
        logits, _ = decoder(torch.tensor([tokens], device=device), annotations)
        next_token = int(logits[0, -1].argmax())
        if next_token == EOS_TOKEN:
            break
        tokens.append(next_token)
    return indices_to_string(tokens[1:])


@torch.no_grad()
def decoder_generate(model: nn.Module, input_string: str, max_len: int = MAX_GENERATED) -> str:
    """Greedy translation with the decoder-only model: the prompt ``<SOS> input <EOP>`` is
    extended by the argmax token until ``<EOS>`` or ``max_len`` generated characters."""
    model.eval()
    device = model_device(model)
    # BEGIN SOLUTION
    tokens = [SOS_TOKEN] + string_to_indices(input_string) + [EOP_TOKEN]
    # END SOLUTION
    generated = []
    for _ in range(max_len):
        logits, _ = model(torch.tensor([tokens], device=device))
        next_token = int(logits[0, -1].argmax())
        if next_token == EOS_TOKEN:
            break
        generated.append(next_token)
        tokens.append(next_token)
    return indices_to_string(generated)


def translate_sentence(sentence: str, translate_word: Callable[[str], str]) -> str:
    """Translate each word of a sentence on its own."""
    return " ".join(translate_word(word) for word in sentence.lower().split())


def word_accuracy(pairs: Sequence[Pair], translate_word: Callable[[str], str]) -> float:
    """Fraction of pairs translated exactly."""
    if not pairs:
        return math.nan
    return sum(translate_word(s) == t for s, t in pairs) / len(pairs)
