"""Helpers shared by the probes: contract errors, weight loading, dtype fallback."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np
import torch
from torch import nn

from autograder.child.definitions import failed_definition
from autograder.child.registry import to_numpy  # noqa: F401 - the probes import it from here


class ContractError(Exception):
    """The submission does not follow the assignment's contract (a missing class, a changed
    given part, a wrong return type); the message is shown to the student as it is."""

    grader_kind = "contract"
    """What the child's record says this error is (``autograder.child.main.error_kind``)."""


def get_definition(submission: ModuleType, name: str) -> Any:
    """A class or function of the submission; when it is missing, a DefinitionError saying what
    its definition did when the notebook was imported (it raised, or it stopped the import and
    was left out), else a ContractError naming what is missing."""
    value = getattr(submission, name, None)
    if value is None:
        failed_definition(name)
        raise ContractError(f"`{name}` is not defined in the notebook")
    return value


def expect_signature(function: Any, arguments: tuple[str, ...], *, what: str) -> None:
    """A ContractError when ``function`` cannot be called with these positional arguments."""
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return
    try:
        signature.bind(*arguments)
    except TypeError:
        expected = ", ".join(arguments)
        raise ContractError(
            f"`{what}` should accept ({expected}); yours is `{what}{signature}`"
        ) from None


def states(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The ``state.*`` arrays of a probe call, without the prefix."""
    return {k[len("state.") :]: v for k, v in arrays.items() if k.startswith("state.")}


def load_state(module: nn.Module, state: dict[str, np.ndarray], *, what: str) -> None:
    """Copy reference-shaped weights into a student module by parameter name."""
    own = dict(module.named_parameters())
    missing = sorted(set(state) - set(own))
    if missing:
        raise ContractError(
            f"{what} has no parameter `{missing[0]}` (the given `__init__` creates it; "
            "keep the given part of the class unchanged)"
        )
    with torch.no_grad():
        for name, value in state.items():
            if tuple(own[name].shape) != value.shape:
                raise ContractError(
                    f"{what}.{name} has shape {tuple(own[name].shape)}, expected {value.shape}"
                )
            own[name].copy_(torch.from_numpy(value))


def as_tensor_pair(output: Any, *, what: str) -> tuple[torch.Tensor, torch.Tensor]:
    """A forward's ``(context, attention_weights)``, checked to be two tensors."""
    if not isinstance(output, tuple | list) or len(output) != 2:
        raise ContractError(f"{what} must return a tuple (output, attention_weights)")
    first, second = output
    if not isinstance(first, torch.Tensor):
        raise ContractError(f"{what} returned {type(first).__name__} instead of a tensor")
    return first, second


def copy_tensor(array: np.ndarray, dtype: torch.dtype | None = None) -> torch.Tensor:
    """A fresh tensor (never sharing memory with the probe's inputs, which the student's code
    might modify in place)."""
    return torch.tensor(array, dtype=dtype)


Arrays = dict[str, np.ndarray]


def in_float64_or_float32(run: Callable[[torch.dtype], Arrays]) -> tuple[dict, Arrays]:
    """Run a probe in float64; if the student's code only works in float32 (a float32 tensor
    created inside forward, say), run it again in float32 and say so in the data."""
    try:
        arrays = run(torch.float64)
    except ContractError:
        raise
    except (RuntimeError, TypeError):
        return {"dtype": "float32"}, run(torch.float32)
    lowered = any(a.dtype == np.float32 for a in arrays.values())
    return {"dtype": "float32" if lowered else "float64"}, arrays
