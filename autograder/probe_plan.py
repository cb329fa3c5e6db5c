"""The probe plan: which probe calls a submission gets, built from the goldens.

Only inputs and weights go to the child; expected outputs never leave the parent. Each call's id
is the name checks use (``ctx.probe("sdpa_3d")``).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from autograder.goldens import Goldens
from autograder.sandbox import ProbeCall

PROBE_MODULES = (
    "autograder.child.probes.attention",
    "autograder.child.probes.decoder",
    "autograder.child.probes.functions",
)
INPUT_PREFIXES = ("state.",)
ATTENTION_INPUTS = (
    "queries",
    "keys",
    "values",
    "queries_perturbed",
    "keys_perturbed",
    "values_perturbed",
)


def _inputs(goldens: Goldens, case: str, names: Iterable[str]) -> dict[str, np.ndarray]:
    arrays = goldens.case(case)
    chosen = {k: v for k, v in arrays.items() if k.startswith(INPUT_PREFIXES) or k in names}
    return chosen


def probe_calls(goldens: Goldens) -> list[ProbeCall]:
    """Every probe call of the full suite, in question order."""
    meta = goldens.meta
    calls = []

    def attention(case: str, cls: str, question: str, inputs: list[str]) -> None:
        arrays = _inputs(goldens, case, ATTENTION_INPUTS)
        hidden = int(arrays["queries"].shape[-1])
        calls.append(
            ProbeCall(
                id=case,
                probe="attention",
                question=question,
                kwargs={"cls": cls, "hidden": hidden, "inputs": inputs},
                arrays=arrays,
            )
        )

    attention("sdpa_3d", "ScaledDotAttention", "2.2.1", [""])
    attention("sdpa_2d", "ScaledDotAttention", "2.2.1", [""])
    attention("sdpa_scaled", "ScaledDotAttention", "2.2.1", [""])
    attention("causal", "CausalScaledDotAttention", "2.2.2", ["", "_perturbed"])
    d = meta["decoder"]
    calls.append(
        ProbeCall(
            id="decoder",
            probe="decoder_forward",
            question="2.3.1",
            kwargs={"vocab": meta["vocab_size"], "hidden": d["hidden"], "layers": d["layers"]},
            arrays=_inputs(goldens, "decoder", ("inputs", "inputs_perturbed")),
        )
    )
    for case, spec in meta["generate"].items():
        calls.append(
            ProbeCall(
                id=case,
                probe="generate",
                question="2.3.2",
                kwargs={
                    "word": spec["word"],
                    "script": spec["script"],
                    "vocab": meta["vocab_size"],
                },
                arrays={},
            )
        )
    m = meta["mha"]
    calls.append(
        ProbeCall(
            id="mha_structure",
            probe="multihead_structure",
            question="2.3.4",
            kwargs={"hidden": m["hidden"], "heads": m["heads"]},
            arrays={},
        )
    )
    calls.append(
        ProbeCall(
            id="mha",
            probe="multihead",
            question="2.3.4",
            kwargs={"hidden": m["hidden"], "heads": m["heads"]},
            arrays=_inputs(goldens, "mha", ("x", "x_perturbed")),
        )
    )
    calls.append(
        ProbeCall(
            id="parameters",
            probe="calc_parameters",
            question="2.3.5",
            kwargs={"configs": [p["config"] for p in meta["parameters"]]},
            arrays={},
        )
    )
    for name, inputs in (
        ("find_optimal_params", ("params", "losses")),
        ("fit_linear_log", ("flops", "optimal")),
    ):
        calls.append(
            ProbeCall(
                id=name,
                probe=name,
                question="2.4.2",
                kwargs={},
                arrays=_inputs(goldens, "scaling", inputs),
            )
        )
    return calls
