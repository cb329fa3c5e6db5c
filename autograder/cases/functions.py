"""Cases of the plain functions: 2.3.5 ``calc_parameters_decoder`` and the 2.4.2 IsoFLOP fits
``find_optimal_params`` and ``fit_linear_log`` (on synthetic data with a known answer)."""

from __future__ import annotations

from typing import Any

import numpy as np

from autograder.cases import CaseData, case

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
"""(vocab, hidden, layers, heads): the handout's configurations and odd ones (one layer, no
layer, five heads) that a formula fitted to the handout's would miss."""


@case("parameters", "2.3.5", probe="calc_parameters")
def parameters(rng: np.random.Generator, impl: Any) -> CaseData:
    """The count of every configuration of the grid, equal to the model's ``numel``."""
    counts = []
    for config in PARAMETER_GRID:
        _, hidden, layers, heads = config
        count = impl.calc_parameters_decoder(*config)
        numel = sum(p.numel() for p in impl.DecoderOnlyTransformer(*config).parameters())
        wo_bias = layers * hidden if heads > 1 else 0
        counts.append(
            {
                "config": list(config),
                "count": int(count),
                "numel": int(numel),
                "count_without_wo_bias": int(numel - wo_bias),
            }
        )
    return CaseData(
        kwargs={"configs": [list(c) for c in PARAMETER_GRID]}, inputs={}, facts={"counts": counts}
    )


@case("find_optimal_params", "2.4.2", probe="find_optimal_params")
def find_optimal_params(rng: np.random.Generator, impl: Any) -> CaseData:
    """Noisy losses on a parabola in log10 parameters whose vertex is at 10^5.3."""
    params = np.array([2e4, 5e4, 1.2e5, 3e5, 7e5, 1.6e6, 4e6])
    losses = 0.3 * (np.log10(params) - 5.3) ** 2 + 1.1 + rng.normal(0, 0.01, params.size)
    p, n_opt = impl.find_optimal_params(params, losses)
    return CaseData(
        kwargs={},
        inputs={"params": params, "losses": losses},
        expected={"p": np.asarray(p, dtype=float)},
        facts={"n_opt": float(n_opt)},
    )


@case("fit_linear_log", "2.4.2", probe="fit_linear_log")
def fit_linear_log(rng: np.random.Generator, impl: Any) -> CaseData:
    """Noisy optimal sizes on a power law of the FLOPs (slope 0.52 in log10 space)."""
    flops = np.array([8e10, 1.6e11, 3.2e11, 6.4e11, 1.28e12])
    optimal = 10 ** (0.52 * np.log10(flops) - 0.9) * 10 ** rng.normal(0, 0.02, flops.size)
    m, c = impl.fit_linear_log(flops, optimal)
    return CaseData(
        kwargs={},
        inputs={"flops": flops, "optimal": optimal},
        facts={"m": float(m), "c": float(c)},
    )
