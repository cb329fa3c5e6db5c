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


def load_probe_modules(names: Sequence[str]) -> None:
    """Import the probe modules (their ``@probe`` decorators fill ``PROBES``)."""
    for name in names:
        importlib.import_module(name)
