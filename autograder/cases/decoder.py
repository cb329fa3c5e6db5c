"""Cases of the decoder-only model: 2.3.1 ``DecoderOnlyTransformer.forward`` and 2.3.2
``decoder_generate``.

``decoder_generate`` is driven by a scripted model whose greedy choices the case fixes
(``autograder.child.probes.standins.ScriptedDecoder``), so its answer is known without a
trained transformer: the prompt it builds and the translation it returns.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from autograder.cases import CaseData, case, seed_torch, state_of
from autograder.cases.attention import PERTURB_FROM

DECODER = {"batch": 3, "seq": 7, "hidden": 8, "layers": 2}
VOCAB_SIZE = 30
SCRIPTS = {
    "generate_short": ("cat", [1, 20, 3, 1, 25, 28]),
    "generate_long": ("strengths", list(range(1, 27))),
}
"""Per case: the word to translate and the tokens the scripted model chooses, in order."""


@case("decoder", "2.3.1", probe="decoder_forward", standin=True)
def decoder(rng: np.random.Generator, impl: Any) -> CaseData:
    """Logits of a 2-layer model on random tokens, and with the tokens from PERTURB_FROM on
    changed."""
    import torch

    seed_torch(rng)
    d = DECODER
    model = impl.DecoderOnlyTransformer(VOCAB_SIZE, d["hidden"], d["layers"]).double().eval()
    inputs = rng.integers(0, VOCAB_SIZE, size=(d["batch"], d["seq"]))
    changed = inputs.copy()
    changed[:, PERTURB_FROM:] = (changed[:, PERTURB_FROM:] + 7) % VOCAB_SIZE
    with torch.no_grad():
        logits, _ = model(torch.from_numpy(inputs))
    return CaseData(
        kwargs={"vocab": VOCAB_SIZE, "hidden": d["hidden"], "layers": d["layers"]},
        inputs={**state_of(model), "inputs": inputs, "inputs_perturbed": changed},
        expected={"logits": logits.numpy()},
        facts={"perturb_from": PERTURB_FROM},
    )


def _generate(case_id: str, impl: Any) -> CaseData:
    from autograder.child.probes.standins import ScriptedDecoder

    word, script = SCRIPTS[case_id]
    model = ScriptedDecoder(script, VOCAB_SIZE)
    result = impl.decoder_generate(model, word)
    return CaseData(
        kwargs={"word": word, "script": script, "vocab": VOCAB_SIZE},
        inputs={},
        facts={
            "word": word,
            "prompt": model.calls[0] if model.calls else [],
            "result": result,
            "calls": len(model.calls),
        },
    )


@case("generate_short", "2.3.2", probe="generate")
def generate_short(rng: np.random.Generator, impl: Any) -> CaseData:
    """A short word whose scripted translation ends with ``<EOS>``."""
    return _generate("generate_short", impl)


@case("generate_long", "2.3.2", probe="generate")
def generate_long(rng: np.random.Generator, impl: Any) -> CaseData:
    """A model that never says ``<EOS>``: the translation stops at the length cap."""
    return _generate("generate_long", impl)
