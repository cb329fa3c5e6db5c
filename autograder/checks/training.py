"""Training checks: does the student's class train inside the homework's given training code?

Each reads one run of the child's ``train`` probe (``autograder/cases/training.py``) and
judges it against limits calibrated on the reference over ten seeds and both data sources,
naming the way it fails, in this order:

- **NaN**: a training loss became NaN or infinite (the step and epoch where it first did);
- **does not learn**: the loss has no gradient at all, or it never got ``NOT_LEARNING`` nats
  below the uniform level ln 30 (what a model that has learnt nothing scores);
- **leaks the future**: the model's outputs at a position change when later tokens change in
  training mode, or its loss is implausibly low (below the reference's lowest, less a margin)
  while its greedy translations are no better than the reference's after the same run: the
  loss comes from reading the characters it should predict;
- **learns too slowly**: its best validation loss is above the reference's highest, plus a
  margin.

The numbers are what the child reports (claims, like every probe's data); nothing here believes
them to award points beyond the run's own verdict.
"""

from __future__ import annotations

import math
from typing import Any

from autograder.checks.base import CheckContext, check

UNIFORM = math.log(30)
"""The loss of a model that gives each of the 30 tokens the same probability (3.40)."""
NOT_LEARNING = 0.5
"""A run whose losses never get this far below UNIFORM has learnt nothing: letter frequencies
alone give more (the reference gets 1.2 nats below it in its first epoch)."""
STANDINS = {
    "train_causal": "in the given encoder-decoder (the grader's attention in its encoder)",
    "train_decoder": "with the given `train_decoder_only` (the grader's causal attention in its "
    "layers)",
    "train_multihead": "with the given `train_decoder_only`, two heads (each the grader's causal "
    "attention) in a decoder whose forward is the grader's",
}
"""Per case, where the student's class was trained (stand-ins for other questions' classes)."""


def _losses(data: dict[str, Any], key: str) -> list[float]:
    values = data.get(key)
    if not isinstance(values, list) or not values:
        CheckContext.fail(f"the training run reported no {key.replace('_', ' ')}")
    try:
        return [float(v) for v in values]
    except (TypeError, ValueError):
        CheckContext.fail(f"the training run reported a malformed {key.replace('_', ' ')}")


def _number(data: dict[str, Any], key: str) -> float:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        CheckContext.fail(f"the training run reported no {key.replace('_', ' ')}")
    return float(value)


def _source(data: dict[str, Any]) -> str:
    if data.get("data_source") == "official":
        return "the official `pig_latin_small.txt`"
    return "the offline word pairs (this grader has no `pig_latin_small.txt`)"


def _run(data: dict[str, Any], case: str, epochs: int) -> str:
    pairs = data.get("pairs") or ["?", "?"]
    return f"{epochs} epochs on {pairs[0]} pairs of {_source(data)}, {STANDINS[case]}"


def _stopped(ctx: CheckContext, data: dict[str, Any], where: str) -> None:
    stopped = data.get("stopped")
    if not isinstance(stopped, dict):
        return
    step = stopped.get("step")
    per_epoch = data.get("steps_per_epoch")
    epoch = (step - 1) // per_epoch + 1 if isinstance(step, int) and per_epoch else "?"
    if stopped.get("reason") == "nan":
        ctx.fail(
            f"**NaN**: the training loss is NaN or infinite from step {step} (epoch {epoch}) on, "
            f"in {where}. Look for a value that overflows or a `0 * inf` (an infinite mask "
            "multiplied instead of filled in, say)."
        )
    ctx.fail(
        f"**does not learn**: the loss of training step {step} has no gradient (it depends on "
        f"no trainable parameter), so no weight can change ({where}). Is forward run under "
        "`torch.no_grad()`, or is its output detached?"
    )


def judge_training(ctx: CheckContext, case: str) -> str:
    """The verdict of one training case (see the module docstring); a note on a pass."""
    data = ctx.probe(case).data
    limits = ctx.facts(case)["limits"]
    epochs = int(ctx.goldens.case(case).kwargs["epochs"])
    where = _run(data, case, epochs)
    _stopped(ctx, data, where)
    train, val = _losses(data, "train_loss"), _losses(data, "val_loss")
    for name, losses in (("training", train), ("validation", val)):
        bad = [epoch for epoch, v in enumerate(losses, 1) if not math.isfinite(v)]
        if bad:
            ctx.fail(f"**NaN**: the {name} loss is NaN or infinite in epoch {bad[0]} of {where}.")
    best_val, last_train = min(val), train[-1]
    reference = (
        f"the reference's: {limits['reference_val_min']:.2f}-{limits['reference_val_max']:.2f} "
        f"over {limits['reference_seeds']} seeds and both data sources"
    )
    if min(train + val) > UNIFORM - NOT_LEARNING:
        ctx.fail(
            f"**does not learn**: the loss never got below {UNIFORM - NOT_LEARNING:.2f} (ln 30 "
            f"= {UNIFORM:.2f} is what a model that has learnt nothing scores): best validation "
            f"loss {best_val:.2f} after {where} ({reference}). Does forward return the logits "
            "themselves (no softmax), and do they depend on the weights?"
        )
    _leaks(ctx, data, limits, best_val=best_val, last_train=last_train, where=where)
    if best_val > limits["val_high"]:
        ctx.fail(
            f"**learns too slowly**: best validation loss {best_val:.2f} after {where} "
            f"({reference}; the limit is {limits['val_high']:.2f})."
        )
    return f"Best validation loss {best_val:.2f} after {where} ({reference})."


def _leaks(
    ctx: CheckContext,
    data: dict[str, Any],
    limits: dict[str, float],
    *,
    best_val: float,
    last_train: float,
    where: str,
) -> None:
    greedy = _number(data, "greedy_accuracy")
    low = last_train < limits["train_low"] or best_val < limits["val_low"]
    translates = greedy > limits["greedy_high"]
    moved = data.get("leaks_in_training") is True
    if not moved and not (low and not translates):
        return
    evidence = []
    if moved:
        evidence.append(
            "in training mode, changing later tokens changes the outputs at earlier positions"
        )
    if low:
        evidence.append(
            f"its loss is implausibly low (last training loss {last_train:.2f}, best validation "
            f"loss {best_val:.2f}; the reference's lowest: {limits['reference_train_min']:.2f} "
            f"and {limits['reference_val_min']:.2f}) while its greedy translations get "
            f"{greedy:.0%} of the characters right (the reference's: "
            f"{limits['reference_greedy_min']:.0%}-{limits['reference_greedy_max']:.0%})"
        )
    ctx.fail(
        f"**leaks the future**: {'; '.join(evidence)}, after {where}. The model reads the "
        "characters it must predict while it trains: does the mask apply in every mode "
        "(`self.training`), and does no position mix with later ones?"
    )


@check(
    "2.2.2",
    "trains",
    "CausalScaledDotAttention trains in the given encoder-decoder (no NaN, learns, no leak)",
    cases=["train_causal"],
)
def causal_trains(ctx: CheckContext) -> str:
    return judge_training(ctx, "train_causal")


@check(
    "2.3.1",
    "trains",
    "DecoderOnlyTransformer trains with the given train_decoder_only (no NaN, learns, no leak)",
    cases=["train_decoder"],
)
def decoder_trains(ctx: CheckContext) -> str:
    return judge_training(ctx, "train_decoder")


@check(
    "2.3.4",
    "trains",
    "MultiHeadCausalScaledDotAttention trains in a two-head decoder (no NaN, learns, no leak)",
    cases=["train_multihead"],
)
def multihead_trains(ctx: CheckContext) -> str:
    return judge_training(ctx, "train_multihead")
