"""Child side: the probes a request may name, registered with ``@probe("name")``.

A probe is a plain function ``f(module, **kwargs, **arrays) -> (data, arrays)``: ``module`` is the
student's imported module, ``kwargs`` the call's JSON arguments, ``arrays`` its input arrays; it
returns a JSON-able dict and a dict of numpy arrays (torch tensors are converted). A probe that
declares a ``seed`` parameter also receives the call's seed, which the child has already applied.

Probe modules run inside the child, next to the student's code. They are copied there (see
``workspace``): they may import their own package, ``autograder.sandbox``, the standard library,
numpy and torch, and nothing else from the project.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

ProbeOutput = tuple[dict[str, Any], dict[str, np.ndarray]]
Probe = Callable[..., ProbeOutput]

PROBES: dict[str, Probe] = {}
"""Every probe registered in this process, by name."""


def probe(name: str) -> Callable[[Probe], Probe]:
    """Register the decorated function as the probe ``name``."""

    def register(function: Probe) -> Probe:
        existing = PROBES.get(name)
        if existing is not None and existing is not function:
            raise ValueError(f"probe {name!r} is registered twice")
        PROBES[name] = function
        return function

    return register


def to_numpy(value: Any) -> np.ndarray:
    """A probe's array (a torch tensor or anything array-like) as numpy, tensors detached and
    moved to the CPU. float32 stays float32 (the parent then uses float32 tolerances); every
    other floating type (bfloat16, float16, float64) becomes float64; integers, booleans and
    complex numbers are kept as they are."""
    torch = sys.modules.get("torch")  # a tensor can only exist once torch is imported
    if torch is not None and isinstance(value, torch.Tensor):
        value = value.detach().cpu()
        if value.is_floating_point() and value.dtype != torch.float32:
            value = value.to(torch.float64)
        return value.numpy()
    array = np.asarray(value)
    if array.dtype.kind == "f" and array.dtype != np.float32:
        array = array.astype(np.float64)
    return array


def load_probe_modules(names: Sequence[str]) -> None:
    """Import the probe modules (their ``@probe`` decorators fill ``PROBES``)."""
    for name in names:
        importlib.import_module(name)
