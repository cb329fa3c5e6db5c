"""Training probes: short seeded runs of the homework's given training code with the student's
classes plugged in (2.2.1, 2.2.2, 2.3.1, 2.3.4).

The training code is the given one (``autograder.child.given``: ``train_encoder_decoder``,
``train_decoder_only``, ``fit``, the losses, the batches), never the reference's. The student's
class replaces a global of the given module while it runs, as a notebook that defines it would,
and every class of another question is a stand-in, so that each run grades one question:

- 2.2.1 ``ScaledDotAttention``: the given encoder-decoder, with our causal attention;
- 2.2.2 ``CausalScaledDotAttention``: the given encoder-decoder, with our attention;
- 2.3.1 ``DecoderOnlyTransformer``: ``train_decoder_only``, one head of our causal attention;
- 2.3.4 ``MultiHeadCausalScaledDotAttention``: ``train_decoder_only``, two heads of our causal
  attention, in the given decoder-only model with our forward (``StandInDecoderOnly``).

The probe returns plain numbers: the loss of every epoch and step, the step where a run
stopped (a NaN loss, or a loss with no gradient), and how well the trained model translates,
teacher-forced and greedily. The parent judges them against thresholds calibrated on the
reference (``autograder/cases/training.py``); no threshold comes here.

Data: the official ``pig_latin_small.txt`` when the parent sends its bytes (``official``, a
uint8 array: the child reads no file of the grader), otherwise the given offline builder's
pairs (``build_offline_pairs``, from the ``wordsegment`` package's word list).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator, Sequence
from types import ModuleType

import numpy as np
import torch
import torch.nn.functional as F

from autograder.child import given
from autograder.child.probes.common import Arrays, ContractError, get_definition
from autograder.child.probes.standins import (
    StandInCausalAttention,
    replaced,
    stand_in_attention,
)
from autograder.child.registry import probe

Pair = tuple[str, str]
ENCODER_DECODER = ("ScaledDotAttention", "CausalScaledDotAttention")
"""Student classes trained inside the given encoder-decoder."""
DECODER_ONLY = ("DecoderOnlyTransformer", "MultiHeadCausalScaledDotAttention")
"""Student classes trained inside the given decoder-only model."""
EXAMPLES = 3
"""Greedy translations returned as examples for the feedback."""
_OFFLINE: dict[str, list[Pair]] = {}
"""The offline pairs, built once per child (the builder reads a 300,000-line word list)."""


class StandInAttention(given.ScaledDotAttention):
    """The given scaled dot-product attention (its ``__init__`` and attributes) with torch's
    kernel: the encoder's side of the encoder-decoder while the student's causal attention is
    trained. Returns no attention weights (zeros)."""

    def forward(self, queries, keys, values):
        batch = keys.size(0)
        q = self.Q(queries.reshape(batch, -1, self.hidden_size))  # (B, k, H)
        k, v = self.K(keys), self.V(values)  # (B, L, H)
        context = F.scaled_dot_product_attention(q, k, v)  # (B, k, H)
        return context, torch.zeros(batch, q.size(1), k.size(1), dtype=q.dtype)


class StandInDecoderOnly(given.DecoderOnlyTransformer):
    """The given decoder-only model (its ``__init__``: embedding, attention layers, MLPs, output
    layer) with the given encoder's forward followed by the output layer: the model around the
    student's multi-head attention (2.3.4), so that a mistake in their own forward (2.3.1) does
    not cost that question. Returns no attention weights."""

    def forward(self, inputs):
        x = self.embedding(inputs) + self.positional_encodings[: inputs.size(1)]  # (B, L, H)
        for attention, mlp in zip(self.self_attentions, self.attention_mlps, strict=True):
            x = x + attention(x, x, x)[0]
            x = x + mlp(x)
        return self.out(x), None


# --------------------------------------------------------------------------------------- data


def official_pairs(data: np.ndarray) -> list[Pair]:
    """The pairs of an ``english piglatin`` file's bytes, kept as the given ``read_pairs`` keeps
    them: both sides match ``[a-z-]+``, file order, no duplicates."""
    text = np.asarray(data, dtype=np.uint8).tobytes().decode("utf-8", errors="replace")
    pairs: dict[Pair, None] = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) == 2 and all(given.WORD_PATTERN.fullmatch(f) for f in fields):
            pairs[(fields[0], fields[1])] = None
    return list(pairs)


def dataset(official: np.ndarray | None) -> tuple[list[Pair], str]:
    """The small dataset's pairs and their source ("official" or "offline")."""
    if official is not None:
        return official_pairs(official), "official"
    if "small" not in _OFFLINE:
        try:
            _OFFLINE["small"] = given.build_offline_pairs()["small"]
        except ImportError:
            raise RuntimeError(
                "the grader has neither pig_latin_small.txt nor the wordsegment package to "
                "build the offline pairs, so no training check can run (a set-up problem of the "
                "grader, not of this notebook)"
            ) from None
    return list(_OFFLINE["small"]), "offline"


def subsets(pairs: list[Pair], train: int, val: int) -> tuple[list[Pair], list[Pair]]:
    """The given seeded 80/20 split (seed 0), then its first ``train`` and ``val`` pairs."""
    train_pairs, val_pairs = given.split_pairs(pairs, seed=0)
    return train_pairs[:train], val_pairs[:val]


# ------------------------------------------------------------------------------ the recording


class Stop(Exception):
    """Ends a run early: its loss became NaN, or it has no gradient."""

    def __init__(self, reason: str, step: int) -> None:
        super().__init__(reason)
        self.reason, self.step = reason, step


class Recorder:
    """Wraps a given loss function: records every training step's mean loss, and stops the run
    at the first NaN loss or at a loss with no gradient. Evaluation calls (under
    ``torch.no_grad``, as the given ``evaluate``) are not steps."""

    def __init__(self) -> None:
        self.losses: list[float] = []

    def wrap(self, loss_fn: Callable) -> Callable:
        def recorded(batch, device):
            loss, count = loss_fn(batch, device)
            if not torch.is_grad_enabled():
                return loss, count
            step = len(self.losses) + 1
            if not isinstance(loss, torch.Tensor) or not loss.requires_grad:
                raise Stop("no_gradient", step)
            value = float(loss.detach()) / max(int(count), 1)
            self.losses.append(value)
            if not math.isfinite(value):
                raise Stop("nan", step)
            return loss, count

        return recorded

    def factory(self, make_loss: Callable) -> Callable:
        """A replacement for a given ``*_loss(modules...)`` factory that records its steps."""
        return lambda *modules: self.wrap(make_loss(*modules))


# ---------------------------------------------------------------------------- the evaluation


def _logits(output, *, what: str) -> torch.Tensor:
    logits = output[0] if isinstance(output, tuple | list) else output
    if not isinstance(logits, torch.Tensor):
        raise ContractError(f"{what} must return (logits, attention_weights)")
    return logits


class Scores:
    """Per-token accuracy, teacher-forced and greedy, over a set of pairs."""

    def __init__(self) -> None:
        self.forced = self.greedy = self.tokens = self.words = self.exact = 0
        self.examples: list[list[str]] = []

    def add(self, batch, forced: torch.Tensor, greedy: torch.Tensor) -> None:
        targets = batch.targets
        self.forced += int((forced == targets).sum())
        self.greedy += int((greedy == targets).sum())
        self.tokens += targets.numel()
        self.words += targets.size(0)
        self.exact += int((greedy == targets).all(dim=1).sum())
        for (source, target), row in zip(batch.pairs, greedy.tolist(), strict=True):
            if len(self.examples) < EXAMPLES:
                self.examples.append([source, given.indices_to_string(row), target])

    def data(self) -> dict:
        tokens, words = max(self.tokens, 1), max(self.words, 1)
        return {
            "teacher_forced_accuracy": round(self.forced / tokens, 4),
            "greedy_accuracy": round(self.greedy / tokens, 4),
            "greedy_word_accuracy": round(self.exact / words, 4),
            "examples": self.examples,
        }


def _greedy(step: Callable[[torch.Tensor], torch.Tensor], prompt: torch.Tensor, n: int):
    """``n`` greedy tokens after ``prompt`` (B, P); ``step(tokens)`` gives the logits (B, T, V)."""
    tokens = prompt
    for _ in range(n):
        next_token = step(tokens)[:, -1].argmax(dim=-1, keepdim=True)  # (B, 1)
        tokens = torch.cat([tokens, next_token], dim=1)
    return tokens[:, prompt.size(1) :]


@torch.no_grad()
def score_decoder_only(model, pairs: Sequence[Pair]) -> dict:
    """Teacher-forced and greedy accuracy of a decoder-only model (``<SOS> src <EOP> tgt``)."""
    model.eval()
    scores = Scores()
    what = "DecoderOnlyTransformer.forward"
    for batch in given.make_batches(pairs, 256):
        inputs, targets, start = given.decoder_only_inputs(batch)
        forced = _logits(model(inputs), what=what)[:, start:].argmax(dim=-1)  # (B, Lt + 1)
        prompt = inputs[:, : start + 1]  # <SOS> src <EOP>
        greedy = _greedy(lambda t: _logits(model(t), what=what), prompt, targets.size(1))
        scores.add(batch, forced, greedy)
    return scores.data()


@torch.no_grad()
def score_encoder_decoder(encoder, decoder, pairs: Sequence[Pair]) -> dict:
    """Teacher-forced and greedy accuracy of the encoder-decoder (decoder input ``<SOS> tgt``)."""
    encoder.eval()
    decoder.eval()
    scores = Scores()
    for batch in given.make_batches(pairs, 256):
        annotations, _ = encoder(batch.sources)
        sos = torch.full_like(batch.targets[:, :1], given.SOS_TOKEN)
        forced_inputs = torch.cat([sos, batch.targets[:, :-1]], dim=1)
        forced = _logits(decoder(forced_inputs, annotations), what="the decoder").argmax(dim=-1)

        def step(tokens, annotations=annotations):
            return _logits(decoder(tokens, annotations), what="the decoder")

        scores.add(batch, forced, _greedy(step, sos, batch.targets.size(1)))
    return scores.data()


# ---------------------------------------------------------------------------------- the runs


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """One intra-op thread, as in the child (its calibration's setting: the summation order,
    hence the numbers, depend on it; tiny models also run fastest so)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


class Quiet:
    """Stands in for ``tqdm`` where it is not installed (the given ``fit`` wraps its epochs in
    a progress bar, disabled here)."""

    def __init__(self, iterable, **_) -> None:
        self.iterable = iterable

    def __iter__(self):
        return iter(self.iterable)

    def set_postfix(self, **_) -> None:
        pass


@contextlib.contextmanager
def plugged(submission: ModuleType, student: str) -> Iterator[None]:
    """The given module with the student's ``student`` class in it, and stand-ins for the
    classes of other questions, so that the run grades one question's code."""
    cls = get_definition(submission, student)
    with contextlib.ExitStack() as stack:
        if not hasattr(given, "tqdm"):
            stack.enter_context(replaced(given, "tqdm", Quiet))
        if student == "ScaledDotAttention":
            stack.enter_context(replaced(given, "ScaledDotAttention", cls))
            stack.enter_context(replaced(given, "CausalScaledDotAttention", StandInCausalAttention))
        elif student == "CausalScaledDotAttention":
            stack.enter_context(replaced(given, "ScaledDotAttention", StandInAttention))
            stack.enter_context(replaced(given, "CausalScaledDotAttention", cls))
        elif student == "DecoderOnlyTransformer":
            stack.enter_context(replaced(given, "DecoderOnlyTransformer", cls))
            stack.enter_context(stand_in_attention(submission))
        else:
            stack.enter_context(replaced(given, "DecoderOnlyTransformer", StandInDecoderOnly))
            stack.enter_context(replaced(given, "MultiHeadCausalScaledDotAttention", cls))
            stack.enter_context(stand_in_attention(submission))
        yield


def _run(student: str, config, train: list[Pair], val: list[Pair], recorder: Recorder):
    """Train with the given code; the history and how to score the trained model on ``val``."""
    if student in DECODER_ONLY:
        loss = replaced(given, "decoder_only_loss", recorder.factory(given.decoder_only_loss))
        with loss:
            model, history = given.train_decoder_only(train, val, config, progress=False)
        return history, lambda: score_decoder_only(model, val)
    loss = replaced(given, "encoder_decoder_loss", recorder.factory(given.encoder_decoder_loss))
    with loss:
        encoder, decoder, history = given.train_encoder_decoder(train, val, config, progress=False)
    return history, lambda: score_encoder_decoder(encoder, decoder, val)


SIGNATURE_LENGTH, SIGNATURE_FROM = 9, 5
"""Decoder inputs of the signature: their tokens from position SIGNATURE_FROM on are changed."""


def _signature_inputs() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Fixed source tokens (2, 5), decoder tokens (2, 9) and a copy with a changed future."""
    sources = torch.tensor([[3, 1, 20, 19, 28], [19, 8, 15, 16, 28]])
    inputs = torch.tensor([[27, 1, 20, 3, 1, 25, 28, 4, 9], [27, 15, 16, 19, 8, 1, 25, 2, 5]])
    changed = inputs.clone()
    changed[:, SIGNATURE_FROM:] = (changed[:, SIGNATURE_FROM:] + 11) % given.EOP_TOKEN
    return sources, inputs, changed


def _signature_logits(student: str, hidden: int, layers: int, heads: int) -> Callable:
    """A model built as the given training code builds it, in training mode, as a function of
    the decoder's input tokens."""
    if student in DECODER_ONLY:
        model = given.DecoderOnlyTransformer(given.VOCAB_SIZE, hidden, layers, heads).train()
        return lambda tokens: _logits(model(tokens), what="the model")
    encoder = given.TransformerEncoder(given.VOCAB_SIZE, hidden, layers).train()
    decoder = given.TransformerDecoder(given.VOCAB_SIZE, hidden, layers).train()
    sources = _signature_inputs()[0]
    return lambda tokens: _logits(decoder(tokens, encoder(sources)[0]), what="the decoder")


def signature(
    submission: ModuleType, *, student: str, hidden: int, layers: int, heads: int = 1, **_
) -> dict:
    """What a run's model does in training mode before any step, deterministic and free of
    thresholds (the diagnosis compares it with the known bugs'): whether changing later decoder
    tokens moves the logits of earlier positions (``leaks_in_training``), and whether the loss
    has a gradient (``loss_has_gradient``)."""
    _, inputs, changed = _signature_inputs()
    with plugged(submission, student):
        torch.manual_seed(0)
        logits_of = _signature_logits(student, hidden, layers, heads)
        logits = logits_of(inputs)
        moved = (logits_of(changed) - logits).detach()[:, :SIGNATURE_FROM].abs().max()
        targets = torch.roll(inputs, -1, dims=1)
        loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten())
    return {"leaks_in_training": bool(moved > 1e-6), "loss_has_gradient": loss.requires_grad}


@probe("train")
def train(
    submission: ModuleType,
    *,
    student: str,
    hidden: int,
    layers: int,
    heads: int = 1,
    batch_size: int,
    learning_rate: float,
    epochs: int,
    train_pairs: int,
    val_pairs: int,
    seed: int = 0,
    official: np.ndarray | None = None,
) -> tuple[dict, Arrays]:
    """Train the given model with the student's ``student`` class for ``epochs`` epochs on a
    fixed subset of the small dataset; the losses, where a run stopped, and the scores."""
    if student not in ENCODER_DECODER + DECODER_ONLY:
        raise ValueError(f"unknown class to train {student}")
    started = time.perf_counter()
    pairs, source = dataset(official)
    train_set, val_set = subsets(pairs, train_pairs, val_pairs)
    config = given.TrainConfig(
        hidden_size=hidden,
        num_layers=layers,
        num_heads=heads,
        batch_size=batch_size,
        learning_rate=learning_rate,
        max_epochs=epochs,
        early_stopping_patience=None,
        seed=seed,
        device="cpu",
    )
    recorder = Recorder()
    with one_thread():
        data = signature(submission, student=student, hidden=hidden, layers=layers, heads=heads)
    data |= {"data_source": source, "pairs": [len(train_set), len(val_set)], "stopped": None}
    with one_thread(), plugged(submission, student):
        try:
            history, score = _run(student, config, train_set, val_set, recorder)
        except Stop as stop:
            data["stopped"] = {"reason": stop.reason, "step": stop.step}
            history, score = None, None
        steps_per_epoch = sum(1 for _ in given.make_batches(train_set, batch_size))
        data["steps_per_epoch"] = steps_per_epoch
        if history is not None:
            data["train_loss"] = [float(x) for x in history.train_loss]
            data["val_loss"] = [float(x) for x in history.val_loss]
            data |= score()
    data["seconds"] = round(time.perf_counter() - started, 3)
    return data, {"step_loss": np.asarray(recorder.losses, dtype=np.float64)}
