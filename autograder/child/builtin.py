"""Child side: generic probes, always loaded.

``call`` runs a top-level function of the submission with JSON arguments (and arrays, as
keyword arguments) and returns what it returns, arrays and tensors as arrays (see ``split``).
"""

from __future__ import annotations

import types
from typing import Any

import numpy as np

from .registry import ProbeOutput, probe


def is_array(value: Any) -> bool:
    return isinstance(value, np.ndarray) or type(value).__name__ in {"Tensor", "Parameter"}


def split(value: Any, name: str, arrays: dict[str, Any]) -> Any:
    """``value`` as JSON, with every array or tensor in it moved to ``arrays`` under a dotted
    path ("result.0") and replaced by {"$array": path}. Tuples become lists."""
    if is_array(value):
        arrays[name] = value
        return {"$array": name}
    if isinstance(value, dict):
        return {str(k): split(v, f"{name}.{k}", arrays) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [split(v, f"{name}.{n}", arrays) for n, v in enumerate(value)]
    return value


@probe("call")
def call(
    module: types.ModuleType,
    *,
    function: str,
    args: list | None = None,
    kwargs: dict | None = None,
    as_tensors: bool = False,
    **arrays: np.ndarray,
) -> ProbeOutput:
    """``module.function(*args, **kwargs, **arrays)``; with ``as_tensors`` the arrays are passed
    as torch tensors. Returns {"result": JSON} and the arrays found in the result."""
    target = getattr(module, function)
    if as_tensors:
        import torch

        arrays = {name: torch.from_numpy(array) for name, array in arrays.items()}
    value = target(*(args or []), **(kwargs or {}), **arrays)
    out: dict[str, Any] = {}
    return {"result": split(value, "result", out)}, out
