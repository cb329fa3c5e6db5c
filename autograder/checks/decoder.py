"""Checks of 2.3.1 DecoderOnlyTransformer.forward and 2.3.2 decoder_generate."""

from __future__ import annotations

from autograder.checks.base import CheckContext, check
from autograder.markdown import inert


@check(
    "2.3.1",
    "logits",
    "DecoderOnlyTransformer.forward: logits on reference weights",
    cases=["decoder"],
)
def decoder_logits(ctx: CheckContext) -> None:
    out = ctx.probe_for("decoder", "2.3.1")
    ctx.expect_close(
        out.arrays["logits"],
        ctx.expected("decoder")["logits"],
        what="the logits",
    )


@check(
    "2.3.1",
    "causal",
    "DecoderOnlyTransformer.forward: earlier logits ignore later tokens",
    cases=["decoder"],
)
def decoder_causal(ctx: CheckContext) -> None:
    ctx.expect_causal("decoder", "logits", what="the logits", question="2.3.1")


def _tokens(ctx: CheckContext, indices: list[int]) -> str:
    """Indices as readable tokens: ``<SOS> c a t <EOP>``."""
    names = ctx.goldens.meta["vocabulary"]
    return " ".join(
        names[i] if isinstance(i, int) and 0 <= i < len(names) else f"?{i}" for i in indices
    )


def _prompt(ctx: CheckContext, case: str) -> None:
    out = ctx.probe(case)
    facts = ctx.facts(case)
    calls = out.data["calls"]
    ctx.expect(bool(calls), "decoder_generate never called the model")
    ctx.expect(
        calls[0] == facts["prompt"],
        f"for the word {facts['word']!r} the first input your decoder_generate gave the model "
        f"was {inert(_tokens(ctx, calls[0]))}; compare it with the prompt question 2.3.2 "
        "describes",
    )


@check(
    "2.3.2",
    "prompt",
    "decoder_generate: builds the prompt `<SOS> input <EOP>`",
    cases=["generate_short", "generate_long"],
)
def generate_prompt(ctx: CheckContext) -> None:
    _prompt(ctx, "generate_short")
    _prompt(ctx, "generate_long")


@check(
    "2.3.2",
    "greedy",
    "decoder_generate: greedy decoding stops at `<EOS>` or the length cap",
    cases=["generate_short", "generate_long"],
)
def generate_greedy(ctx: CheckContext) -> None:
    for case in ("generate_short", "generate_long"):
        out = ctx.probe(case)
        facts = ctx.facts(case)
        ctx.expect(
            out.data["result"] == facts["result"],
            f"with a model scripted to produce {facts['result']!r}, decoder_generate returned "
            f"{inert(repr(out.data['result']))}",
        )
        ctx.expect(
            len(out.data["calls"]) <= facts["calls"],
            f"decoder_generate called the model {len(out.data['calls'])} times where "
            f"{facts['calls']} were enough: it should stop once the model says <EOS>",
        )
