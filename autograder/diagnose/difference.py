"""Describe how a student's array differs from the reference's, without giving the answer:
where the largest difference is, how large, and what kind of difference it looks like."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

AXES = {
    "context": ("batch", "query", "feature"),
    "weights": ("batch", "query", "key"),
    "logits": ("batch", "position", "token"),
    "p": ("coefficient",),
}
"""Names of the axes of each output, for saying where a difference is."""
TOLERANCE = 1e-4


@dataclass(frozen=True)
class Difference:
    """How one output differs from the reference's."""

    case: str
    """The probe case."""
    output: str
    """The output's name (``context``, ``weights``, ``logits``, ``p``)."""
    kind: str
    """"shape", "nan", "transposed", "scaled", "permuted" or "values"."""
    largest: float | None
    """The largest absolute difference (None when the shapes differ or values are NaN)."""
    where: tuple[tuple[str, int], ...]
    """Where it is: (axis name, index) pairs."""
    shape: tuple[int, ...]
    """The student's shape."""
    expected_shape: tuple[int, ...]
    """The reference's shape."""
    factor: float | None = None
    """For "scaled": the student's values over the reference's."""


def _where(name: str, index: tuple[int, ...]) -> tuple[tuple[str, int], ...]:
    axes = AXES.get(name, ())
    return tuple(
        (axes[i] if i < len(axes) else f"axis {i}", int(position))
        for i, position in enumerate(index)
    )


def _close(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=TOLERANCE, atol=TOLERANCE))


def describe_difference(case: str, name: str, actual, expected) -> Difference:
    """The kind of difference between two arrays of one output."""
    a, e = np.asarray(actual, dtype=float), np.asarray(expected, dtype=float)
    base = {"case": case, "output": name, "shape": a.shape, "expected_shape": e.shape}
    if a.shape != e.shape:
        if a.ndim >= 2 and np.swapaxes(a, -1, -2).shape == e.shape:
            a = np.swapaxes(a, -1, -2)  # the other layout, as the checks accept it
        else:
            return Difference(kind="shape", largest=None, where=(), **base)
    if not np.all(np.isfinite(a)):
        index = np.unravel_index(int(np.argmax(~np.isfinite(a))), a.shape)
        return Difference(kind="nan", largest=None, where=_where(name, index), **base)
    error = np.abs(a - e)
    index = np.unravel_index(int(np.argmax(error)), a.shape)
    found = {"largest": float(error.max()), "where": _where(name, index)}
    if a.ndim >= 2 and a.shape[-1] == a.shape[-2] and _close(np.swapaxes(a, -1, -2), e):
        return Difference(kind="transposed", **found, **base)
    scale = float(np.vdot(a, e) / np.vdot(e, e)) if np.vdot(e, e) else 0.0
    if scale and abs(scale - 1) > TOLERANCE and _close(a, scale * e):
        return Difference(kind="scaled", factor=scale, **found, **base)
    if _close(np.sort(a, axis=None), np.sort(e, axis=None)):
        return Difference(kind="permuted", **found, **base)
    return Difference(kind="values", **found, **base)
