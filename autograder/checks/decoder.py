"""Checks of 2.3.1 DecoderOnlyTransformer.forward and 2.3.2 decoder_generate."""

from __future__ import annotations

from autograder.checks.base import CheckContext, check

SOS, EOS, EOP = 27, 28, 29
CHARACTERS = "-abcdefghijklmnopqrstuvwxyz"


def _indices(word: str) -> list[int]:
    return [CHARACTERS.index(c) for c in word]


@check(
    "2.3.1",
    "logits",
    "DecoderOnlyTransformer.forward: logits on reference weights",
    cases=["decoder"],
)
def decoder_logits(ctx: CheckContext) -> None:
    out = ctx.probe("decoder")
    ctx.expect_close(
        out.arrays["logits"],
        ctx.golden("decoder")["logits"],
        what="the logits",
        dtype=out.data["dtype"],
    )


@check(
    "2.3.1",
    "causal",
    "DecoderOnlyTransformer.forward: earlier logits ignore later tokens",
    cases=["decoder"],
)
def decoder_causal(ctx: CheckContext) -> None:
    ctx.expect_causal("decoder", "logits", what="the logits")


def _prompt(ctx: CheckContext, case: str) -> None:
    out = ctx.probe(case)
    word = ctx.goldens.meta["generate"][case]["word"]
    expected = [SOS, *_indices(word), EOP]
    calls = out.data["calls"]
    ctx.expect(bool(calls), "decoder_generate never called the model")
    ctx.expect(
        calls[0] == expected,
        f"for {word!r} the first input to the model was {calls[0]}; expected "
        f"<SOS> {word!r} <EOP> = {expected}",
    )


@check(
    "2.3.2",
    "prompt",
    "decoder_generate: builds <SOS> input <EOP>",
    cases=["generate_short", "generate_long"],
)
def generate_prompt(ctx: CheckContext) -> None:
    _prompt(ctx, "generate_short")
    _prompt(ctx, "generate_long")


@check(
    "2.3.2",
    "greedy",
    "decoder_generate: greedy decoding stops at <EOS> or the length cap",
    cases=["generate_short", "generate_long"],
)
def generate_greedy(ctx: CheckContext) -> None:
    for case in ("generate_short", "generate_long"):
        out = ctx.probe(case)
        expected = ctx.goldens.meta["generate"][case]["expected"]
        ctx.expect(
            out.data["result"] == expected,
            f"with a model scripted to produce {expected!r}, decoder_generate returned "
            f"{out.data['result']!r}",
        )
