"""Child side: make code written for a GPU run on the CPU.

Real submissions hard-code ``.cuda()``, ``.to("cuda")``, ``device="cuda"`` and
``torch.device("cuda" if torch.cuda.is_available() else "cpu")``. After ``install_cpu_patches``
the child reports no GPU, ``.cuda()`` returns its receiver, and every CUDA device given to
``.to`` or to a tensor factory (``torch.zeros(..., device="cuda")``, ``nn.Linear(...,
device=...)``) means the CPU. Installed before the student's module is imported.
"""

from __future__ import annotations

import functools
from typing import Any

FACTORIES = (
    "arange",
    "as_tensor",
    "empty",
    "empty_like",
    "eye",
    "full",
    "full_like",
    "linspace",
    "logspace",
    "ones",
    "ones_like",
    "rand",
    "rand_like",
    "randint",
    "randint_like",
    "randn",
    "randn_like",
    "randperm",
    "tensor",
    "tril_indices",
    "triu_indices",
    "zeros",
    "zeros_like",
)
"""Tensor factories whose ``device=`` argument is mapped to the CPU."""


def is_gpu_device(value: Any) -> bool:
    """True for "cuda", "cuda:0", torch.device("cuda"), a bare device index, and the like."""
    import torch

    if isinstance(value, torch.device):
        return value.type != "cpu" and value.type != "meta"
    if isinstance(value, str):
        return value.split(":")[0].strip() in {"cuda", "mps", "xpu", "gpu"}
    return isinstance(value, int) and not isinstance(value, bool)


def to_cpu_arguments(args: tuple, kwargs: dict) -> tuple[tuple, dict]:
    """Map every GPU device among ``.to``'s arguments to "cpu"."""
    args = tuple("cpu" if is_gpu_device(a) else a for a in args)
    if is_gpu_device(kwargs.get("device")):
        kwargs = {**kwargs, "device": "cpu"}
    return args, kwargs


def _cpu_to(original):
    @functools.wraps(original)
    def to(self, *args, **kwargs):
        args, kwargs = to_cpu_arguments(args, kwargs)
        return original(self, *args, **kwargs)

    return to


def _cpu_factory(original):
    @functools.wraps(original)
    def factory(*args, **kwargs):
        if is_gpu_device(kwargs.get("device")):
            kwargs["device"] = "cpu"
        return original(*args, **kwargs)

    return factory


def _self(self, *args, **kwargs):
    return self


def install_cpu_patches() -> None:
    """Patch torch in this process so that CUDA calls run on the CPU (once: a second call does
    nothing)."""
    import torch

    if getattr(torch, "_nmt_cpu_patched", False):
        return
    torch._nmt_cpu_patched = True
    torch.cuda.is_available = lambda: False
    torch.cuda.device_count = lambda: 0
    torch.cuda.synchronize = lambda *args, **kwargs: None
    torch.Tensor.cuda = _self
    torch.nn.Module.cuda = _self
    torch.Tensor.to = _cpu_to(torch.Tensor.to)
    torch.nn.Module.to = _cpu_to(torch.nn.Module.to)
    for name in FACTORIES:
        setattr(torch, name, _cpu_factory(getattr(torch, name)))
