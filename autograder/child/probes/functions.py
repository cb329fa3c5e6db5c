"""Probes of the plain functions: ``calc_parameters_decoder`` (2.3.5) and the IsoFLOP fits
``find_optimal_params`` / ``fit_linear_log`` (2.4.2)."""

from __future__ import annotations

from types import ModuleType

import numpy as np
from torch import nn

from autograder.child.probes.common import (
    Arrays,
    ContractError,
    expect_signature,
    get_definition,
    to_numpy,
)
from autograder.child.registry import probe


def _number(value, *, what: str) -> float:
    try:
        return float(to_numpy(value).reshape(()))
    except (TypeError, ValueError):
        raise ContractError(f"{what} should be a number, got {type(value).__name__}") from None


class _Forbidden:
    """While ``calc_parameters_decoder`` runs, building any ``nn.Module`` raises: the count must
    come from the sizes (question 2.3.5), not from a model, however the class is named."""

    def __enter__(self) -> None:
        self.original = nn.Module.__init__

        def refuse(*args, **kwargs):
            raise ContractError(
                "calc_parameters_decoder must count the parameters from the sizes alone, "
                "without building a model or its layers"
            )

        nn.Module.__init__ = refuse

    def __exit__(self, *exc) -> None:
        nn.Module.__init__ = self.original


@probe("calc_parameters")
def calc_parameters(submission: ModuleType, *, configs: list[list[int]]) -> tuple[dict, Arrays]:
    """``calc_parameters_decoder(vocab, hidden, layers, heads)`` for each configuration; a
    configuration that raises is recorded with its error."""
    function = get_definition(submission, "calc_parameters_decoder")
    expect_signature(
        function,
        ("vocab_size", "hidden_size", "num_layers", "num_heads"),
        what="calc_parameters_decoder",
    )
    counts, errors = [], []
    for config in configs:
        try:
            with _Forbidden():
                count = function(*config)
            counts.append(_number(count, what="calc_parameters_decoder's result"))
            errors.append(None)
        except (NotImplementedError, ContractError):
            raise
        except Exception as error:  # noqa: BLE001 - reported per configuration
            counts.append(None)
            errors.append(f"{type(error).__name__}: {error}"[:300])
    return {"counts": counts, "errors": errors}, {}


@probe("find_optimal_params")
def find_optimal_params(submission: ModuleType, **arrays: np.ndarray) -> tuple[dict, Arrays]:
    """``find_optimal_params(params, losses)`` -> the fit coefficients and the optimum."""
    function = get_definition(submission, "find_optimal_params")
    expect_signature(function, ("params", "losses"), what="find_optimal_params")
    result = function(arrays["params"].copy(), arrays["losses"].copy())
    if not isinstance(result, tuple | list) or len(result) != 2:
        raise ContractError("find_optimal_params must return (p, n_opt)")
    try:
        p = np.asarray(to_numpy(result[0]), dtype=float).reshape(-1)
    except (TypeError, ValueError):
        raise ContractError(
            f"find_optimal_params returned p = {str(result[0])[:60]!r}; expected the array of "
            "the fit's coefficients"
        ) from None
    return {"n_opt": _number(result[1], what="n_opt")}, {"p": p}


@probe("fit_linear_log")
def fit_linear_log(submission: ModuleType, **arrays: np.ndarray) -> tuple[dict, Arrays]:
    """``fit_linear_log(flops, optimal)`` -> slope and intercept in log10 space."""
    function = get_definition(submission, "fit_linear_log")
    expect_signature(function, ("x", "y"), what="fit_linear_log")
    result = function(arrays["flops"].copy(), arrays["optimal"].copy())
    if not isinstance(result, tuple | list) or len(result) != 2:
        raise ContractError("fit_linear_log must return (m, c)")
    return {"m": _number(result[0], what="m"), "c": _number(result[1], what="c")}, {}
