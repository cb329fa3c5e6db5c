"""Golden outputs: the reference solution's answers to every probe, stored as plain data.

``fixtures/goldens/goldens.npz`` holds arrays (inputs, weights, expected outputs; read with
``allow_pickle=False``) and ``goldens.json`` holds configurations and scalars. They are written
only by the explicit command ``python grade.py goldens`` (``--check`` compares instead), which
imports ``reference`` and torch; reading them needs numpy only, so the grading parent stays
torch-free. Every probe input uses sizes that are all distinct, so a wrong transpose cannot pass
by coincidence. Keys are ``<case>/<name>``; a case is one probe call.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

GOLDENS_DIR = Path(__file__).resolve().parent.parent / "fixtures" / "goldens"
VOCAB_SIZE = 30
SEED = 2025

# Attention probes: batch, queries, keys, hidden, all distinct.
B, K, L, H = 3, 4, 6, 8
MHA = {"batch": 2, "seq": 5, "hidden": 6, "heads": 3}
DECODER = {"batch": 3, "seq": 7, "hidden": 8, "layers": 2}
PERTURB_FROM = 3  # positions >= this are perturbed in the causality probes
PARAMETER_GRID = [
    (30, 16, 1, 1),
    (30, 32, 3, 1),
    (30, 32, 3, 2),
    (30, 32, 3, 4),
    (30, 64, 3, 1),
    (30, 128, 4, 1),
    (29, 10, 2, 3),
    (7, 5, 1, 2),
    (30, 24, 4, 1),
    (50, 12, 6, 5),
    (30, 1, 1, 1),
    (12, 9, 0, 2),
]


@dataclass(frozen=True)
class Goldens:
    """The loaded golden files."""

    arrays: dict[str, np.ndarray]
    """Every golden array, by ``<case>/<name>``."""
    meta: dict
    """Configurations and scalar answers, by case."""

    def case(self, name: str) -> dict[str, np.ndarray]:
        """The arrays of one case, without the case prefix."""
        prefix = f"{name}/"
        return {k[len(prefix) :]: v for k, v in self.arrays.items() if k.startswith(prefix)}


def load_goldens(directory: Path = GOLDENS_DIR) -> Goldens:
    """Read the goldens (numpy only, no pickles)."""
    npz = directory / "goldens.npz"
    if not npz.is_file():
        raise FileNotFoundError(f"no goldens in {directory}; run `python grade.py goldens`")
    with np.load(npz, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    meta = json.loads((directory / "goldens.json").read_text())
    return Goldens(arrays=arrays, meta=meta)


# ---------------------------------------------------------------------------------------------
# Generation (imports reference and torch; never on the grading path)
# ---------------------------------------------------------------------------------------------


def _state(module) -> dict[str, np.ndarray]:
    return {k: v.detach().numpy().copy() for k, v in module.state_dict().items()}


def _attention_case(cls, rng, *, queries_shape, keys_len, hidden, scale=1.0, self_attn=False):
    import torch

    torch.manual_seed(int(rng.integers(2**31)))
    module = cls(hidden).double()
    queries = rng.standard_normal(queries_shape) * scale
    keys = queries if self_attn else rng.standard_normal((queries_shape[0], keys_len, hidden))
    values = rng.standard_normal((queries_shape[0], keys_len, hidden))
    keys = keys * scale
    with torch.no_grad():
        context, weights = module(*(torch.from_numpy(a) for a in (queries, keys, values)))
    return {
        **{f"state.{k}": v for k, v in _state(module).items()},
        "queries": queries,
        "keys": keys,
        "values": values,
        "context": context.numpy(),
        "weights": weights.numpy(),
    }


def _perturbed(rng, array: np.ndarray) -> np.ndarray:
    """A copy whose positions >= PERTURB_FROM (axis 1) are replaced."""
    out = array.copy()
    out[:, PERTURB_FROM:] = rng.standard_normal(out[:, PERTURB_FROM:].shape)
    return out


def generate_goldens() -> tuple[dict[str, np.ndarray], dict]:
    """Compute every golden from the reference solution."""
    import torch

    from reference import scaling
    from reference.attention import (
        CausalScaledDotAttention,
        MultiHeadCausalScaledDotAttention,
        ScaledDotAttention,
    )
    from reference.models import DecoderOnlyTransformer, calc_parameters_decoder

    rng = np.random.default_rng(SEED)
    arrays: dict[str, np.ndarray] = {}
    meta: dict = {"seed": SEED, "vocab_size": VOCAB_SIZE}

    def add(case: str, values: dict[str, np.ndarray]) -> None:
        for name, value in values.items():
            arrays[f"{case}/{name}"] = np.asarray(value)

    # 2.2.1 ScaledDotAttention: 3D and 2D queries, and large inputs where scaling matters.
    add(
        "sdpa_3d",
        _attention_case(ScaledDotAttention, rng, queries_shape=(B, K, H), keys_len=L, hidden=H),
    )
    add(
        "sdpa_2d",
        _attention_case(ScaledDotAttention, rng, queries_shape=(B, H), keys_len=L, hidden=H),
    )
    add(
        "sdpa_scaled",
        _attention_case(
            ScaledDotAttention,
            rng,
            queries_shape=(B, K, 2 * H),
            keys_len=L,
            hidden=2 * H,
            scale=2.0,
        ),
    )
    # 2.2.2 CausalScaledDotAttention: self-attention, and a perturbed copy of the future.
    causal = _attention_case(
        CausalScaledDotAttention, rng, queries_shape=(B, L, H), keys_len=L, hidden=H, self_attn=True
    )
    causal["queries_perturbed"] = _perturbed(rng, causal["queries"])
    causal["keys_perturbed"] = causal["queries_perturbed"]  # self-attention: keys are queries
    causal["values_perturbed"] = causal["values"].copy()
    causal["values_perturbed"][:, PERTURB_FROM:] = rng.standard_normal(
        causal["values"][:, PERTURB_FROM:].shape
    )
    add("causal", causal)
    meta["perturb_from"] = PERTURB_FROM

    # 2.3.1 DecoderOnlyTransformer.forward on reference weights.
    torch.manual_seed(int(rng.integers(2**31)))
    d = DECODER
    model = DecoderOnlyTransformer(VOCAB_SIZE, d["hidden"], d["layers"]).double().eval()
    inputs = rng.integers(0, VOCAB_SIZE, size=(d["batch"], d["seq"]))
    perturbed = inputs.copy()
    perturbed[:, PERTURB_FROM:] = (perturbed[:, PERTURB_FROM:] + 7) % VOCAB_SIZE
    with torch.no_grad():
        logits, _ = model(torch.from_numpy(inputs))
    add(
        "decoder",
        {
            **{f"state.{k}": v for k, v in _state(model).items()},
            "inputs": inputs,
            "inputs_perturbed": perturbed,
            "logits": logits.numpy(),
        },
    )
    meta["decoder"] = dict(DECODER)

    # 2.3.2 decoder_generate with a scripted stand-in model (the parent knows the answers).
    meta["generate"] = {
        "generate_short": {"word": "cat", "script": [1, 20, 3, 1, 25, 28], "expected": "atcay"},
        "generate_long": {
            "word": "strengths",
            "script": list(range(1, 27)),
            "expected": "abcdefghijklmnopqrst",
        },
    }

    # 2.3.4 MultiHeadCausalScaledDotAttention with its heads and W^O loaded.
    m = MHA
    torch.manual_seed(int(rng.integers(2**31)))
    mha = MultiHeadCausalScaledDotAttention(m["hidden"], m["heads"]).double()
    with torch.no_grad():
        mha.W_O.bias.zero_()  # the handout's W^O has no bias: bias-free answers match too
    x = rng.standard_normal((m["batch"], m["seq"], m["hidden"]))
    with torch.no_grad():
        context, weights = mha(*(torch.from_numpy(x),) * 3)
    add(
        "mha",
        {
            **{f"state.{k}": v for k, v in _state(mha).items()},
            "x": x,
            "x_perturbed": _perturbed(rng, x),
            "context": context.numpy(),
            "weights": weights.numpy(),
        },
    )
    meta["mha"] = dict(MHA)

    # 2.3.5 calc_parameters_decoder on a grid, against numel.
    counts = []
    for v, h, layers, heads in PARAMETER_GRID:
        count = calc_parameters_decoder(v, h, layers, heads)
        numel = sum(p.numel() for p in DecoderOnlyTransformer(v, h, layers, heads).parameters())
        if count != numel:
            raise RuntimeError(f"reference count {count} != numel {numel} for {(v, h, layers)}")
        counts.append({"config": [v, h, layers, heads], "count": count})
    meta["parameters"] = counts

    # 2.4 find_optimal_params and fit_linear_log on synthetic data with a known answer.
    params = np.array([2e4, 5e4, 1.2e5, 3e5, 7e5, 1.6e6, 4e6])
    vertex = 5.3  # log10 of the optimum
    losses = 0.3 * (np.log10(params) - vertex) ** 2 + 1.1 + rng.normal(0, 0.01, params.size)
    p, n_opt = scaling.find_optimal_params(params, losses)
    flops = np.array([8e10, 1.6e11, 3.2e11, 6.4e11, 1.28e12])
    optimal = 10 ** (0.52 * np.log10(flops) - 0.9) * 10 ** rng.normal(0, 0.02, flops.size)
    slope, intercept = scaling.fit_linear_log(flops, optimal)
    add(
        "scaling",
        {
            "params": params,
            "losses": losses,
            "p": np.asarray(p),
            "flops": flops,
            "optimal": optimal,
        },
    )
    meta["scaling"] = {"n_opt": float(n_opt), "m": float(slope), "c": float(intercept)}
    return arrays, meta


def write_goldens(directory: Path = GOLDENS_DIR) -> Path:
    """Regenerate the golden files (the explicit command's work)."""
    arrays, meta = generate_goldens()
    directory.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(directory / "goldens.npz", **arrays)
    (directory / "goldens.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return directory


def compare_goldens(
    directory: Path = GOLDENS_DIR, *, rtol: float = 1e-9, atol: float = 1e-12
) -> list[str]:
    """Differences between the committed goldens and what the reference computes now."""
    stored = load_goldens(directory)
    arrays, meta = generate_goldens()
    problems = []
    if sorted(arrays) != sorted(stored.arrays):
        problems.append(f"keys differ: {sorted(set(arrays) ^ set(stored.arrays))}")
    for key in sorted(set(arrays) & set(stored.arrays)):
        new, old = arrays[key], stored.arrays[key]
        if new.shape != old.shape or not np.allclose(new, old, rtol=rtol, atol=atol):
            problems.append(f"{key} differs")
    new_meta, old_meta = json.loads(json.dumps(meta)), stored.meta
    new_scaling, old_scaling = new_meta.pop("scaling"), dict(old_meta).pop("scaling", {})
    if new_meta != {k: v for k, v in old_meta.items() if k != "scaling"}:
        problems.append("goldens.json differs")
    for key, value in new_scaling.items():
        if not np.isclose(value, old_scaling.get(key, np.nan), rtol=rtol, atol=atol):
            problems.append(f"scaling/{key} differs")
    return problems
