"""IsoFLOP profiles and compute-optimal scaling laws (handout section 2.4).

Approach 2 of Hoffmann et al. 2022, "Training Compute-Optimal Large Language Models", section 3.2:
for each FLOP budget C, read every model's validation loss at C off its training curve, fit a
parabola of loss against log10(parameters) (the IsoFLOP profile) and take its vertex as the
compute-optimal size N_opt(C); then fit the power law N_opt(C) = 10**c * C**m by least squares in
log-log space and extrapolate it to a larger budget (1e15 FLOPs in the handout).

Compute-optimal tokens use the standard approximation C ~ 6 N D (Kaplan et al. 2020, section 2.1):
D_opt(C) = C / (6 N_opt(C)). The homework counts training FLOPs with an explicit per-operation
formula, so this is an approximation there, the same one the ancestor course makes.

``find_optimal_params`` and ``fit_linear_log`` are the student-facing functions: their bodies
between ``# BEGIN SOLUTION`` and ``# END SOLUTION`` are replaced by a TODO in the notebook. They
stay plain; validation happens in the helpers that call them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

DEFAULT_TARGETS: tuple[float, ...] = (8e10, 1.6e11, 3.2e11, 6.4e11, 1.28e12)
"""Target FLOP budgets of the handout: 0.08, 0.16, 0.32, 0.64 and 1.28 TFLOPs."""

DEFAULT_BUDGET = 1e15
"""The budget the handout asks to extrapolate to (question 2.4.2)."""

MIN_MODELS_PER_TARGET = 3
"""A parabola needs at least three points."""

RUN_KEYS = ("hidden_size", "params", "flops", "tokens", "val_loss")


# --------------------------------------------------------------------------- student functions


def find_optimal_params(params: np.ndarray, losses: np.ndarray) -> tuple[np.ndarray, float]:
    """Fit the IsoFLOP profile of one budget and return its minimum (Hoffmann et al. 2022, 3.2).

    Args:
        params: shape (k,), parameter count of each model trained with this FLOP budget.
        losses: shape (k,), validation loss of each model at this FLOP budget.

    Returns:
        p: shape (3,), coefficients of the quadratic fit of loss against log10(params), highest
            power first (``np.polyfit`` order): loss ~ p[0] x**2 + p[1] x + p[2], x = log10(N).
        n_opt: the parameter count at the parabola's minimum (in parameters, not log10), the
            vertex of the parabola even when it lies outside the range of ``params``; read off
            a fine grid over the parabola instead, it must be within 1% of the vertex. (A
            parabola that opens downwards has no minimum: return its vertex all the same; the
            given analysis skips such budgets.)
    """
    # BEGIN SOLUTION
    p = np.polyfit(np.log10(params), losses, 2)
    n_opt = 10 ** (-p[1] / (2 * p[0]))  # vertex of p[0] x^2 + p[1] x + p[2], x = log10 N
    # END SOLUTION
    return p, n_opt


def fit_linear_log(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Fit a power law y ~ 10**c * x**m by least squares in log-log space.

    Args:
        x: shape (k,), positive abscissae (FLOP budgets).
        y: shape (k,), positive ordinates (optimal parameters or tokens).

    Returns:
        (m, c): slope and intercept of the least-squares line log10(y) = m log10(x) + c.
    """
    # BEGIN SOLUTION
    m, c = np.polyfit(np.log10(x), np.log10(y), 1)
    # END SOLUTION
    return m, c


# --------------------------------------------------------------------------- analysis


def loss_at_flops(
    flops: Sequence[float], losses: Sequence[float], targets: Sequence[float]
) -> np.ndarray:
    """Read one training curve at the given FLOP budgets.

    Args:
        flops: shape (E,), cumulative training FLOPs at the end of each epoch, strictly increasing.
        losses: shape (E,), validation loss after each epoch.
        targets: shape (T,), FLOP budgets to read the curve at.

    Returns:
        shape (T,), the loss at each target by linear interpolation in log10(FLOPs); NaN where a
        target lies outside [flops[0], flops[-1]].
    """
    f = np.asarray(flops, dtype=float)
    v = np.asarray(losses, dtype=float)
    t = np.asarray(targets, dtype=float)
    if f.ndim != 1 or v.ndim != 1 or f.shape != v.shape or f.size == 0:
        raise ValueError(
            f"flops and losses must be non-empty 1-D sequences of equal length, "
            f"got shapes {f.shape} and {v.shape}"
        )
    if t.ndim != 1:
        raise ValueError(f"targets must be a 1-D sequence, got shape {t.shape}")
    if not (np.all(np.isfinite(f)) and np.all(f > 0)):
        raise ValueError("flops must be finite and positive")
    if np.any(np.diff(f) <= 0):
        raise ValueError("flops must be strictly increasing (cumulative FLOPs per epoch)")
    if not np.all(np.isfinite(v)):
        raise ValueError("losses must be finite")
    if not (np.all(np.isfinite(t)) and np.all(t > 0)):
        raise ValueError("targets must be finite and positive")
    return np.interp(np.log10(t), np.log10(f), v, left=np.nan, right=np.nan)


@dataclass(frozen=True)
class IsoFlopProfile:
    """The models that reach one FLOP budget, their losses there, and the fitted parabola."""

    target: float
    """FLOP budget C."""
    hidden_sizes: tuple[int, ...]
    """Hidden size of each model whose training curve reaches C."""
    params: tuple[int, ...]
    """Parameter count of each of those models."""
    losses: tuple[float, ...]
    """Validation loss of each of those models at C (interpolated in log10 FLOPs)."""
    p: tuple[float, float, float]
    """Quadratic coefficients of loss against log10(params), ``np.polyfit`` order."""
    n_opt: float
    """Vertex of the parabola in parameters: the compute-optimal model size at C."""

    @property
    def d_opt(self) -> float:
        """Compute-optimal training tokens at C, from C ~ 6 N D."""
        return self.target / (6.0 * self.n_opt)


@dataclass(frozen=True)
class IsoFlopAnalysis:
    """IsoFLOP profiles at several budgets and the power laws fitted through their optima."""

    targets: tuple[float, ...]
    """All requested FLOP budgets, including skipped ones."""
    profiles: tuple[IsoFlopProfile, ...]
    """One profile per budget that was fitted, in the order of ``targets``."""
    skipped: tuple[tuple[float, str], ...]
    """(budget, reason) for each budget left out of the power-law fits."""
    params_fit: tuple[float, float]
    """(m, c): log10 N_opt = m log10 C + c."""
    tokens_fit: tuple[float, float]
    """(m, c): log10 D_opt = m log10 C + c, with D_opt = C / (6 N_opt)."""

    @property
    def flops(self) -> np.ndarray:
        """shape (P,), the fitted budgets."""
        return np.array([prof.target for prof in self.profiles])

    @property
    def n_opts(self) -> np.ndarray:
        """shape (P,), compute-optimal parameters at each fitted budget."""
        return np.array([prof.n_opt for prof in self.profiles])

    @property
    def d_opts(self) -> np.ndarray:
        """shape (P,), compute-optimal tokens at each fitted budget (C ~ 6 N D)."""
        return np.array([prof.d_opt for prof in self.profiles])

    def to_json(self) -> dict[str, Any]:
        """Plain-Python view (floats, lists, dicts; NaN and infinities as None)."""
        return {
            "targets": [_plain(t) for t in self.targets],
            "profiles": [
                {
                    "target": _plain(prof.target),
                    "hidden_sizes": [int(h) for h in prof.hidden_sizes],
                    "params": [int(n) for n in prof.params],
                    "losses": [_plain(v) for v in prof.losses],
                    "p": [_plain(v) for v in prof.p],
                    "n_opt": _plain(prof.n_opt),
                    "d_opt": _plain(prof.d_opt),
                }
                for prof in self.profiles
            ],
            "skipped": [{"target": _plain(t), "reason": r} for t, r in self.skipped],
            "params_fit": {"m": _plain(self.params_fit[0]), "c": _plain(self.params_fit[1])},
            "tokens_fit": {"m": _plain(self.tokens_fit[0]), "c": _plain(self.tokens_fit[1])},
        }


def _plain(x: float) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def _check_runs(runs: Sequence[dict[str, Any]]) -> None:
    if len(runs) == 0:
        raise ValueError("runs is empty")
    for i, run in enumerate(runs):
        missing = [k for k in RUN_KEYS if k not in run]
        if missing:
            raise ValueError(f"run {i} lacks keys {missing} (expected {list(RUN_KEYS)})")
        if not run["params"] > 0:
            raise ValueError(f"run {i}: params must be positive, got {run['params']}")
        n = len(run["flops"])
        if len(run["tokens"]) != n or len(run["val_loss"]) != n:
            raise ValueError(
                f"run {i}: flops, tokens and val_loss must have one entry per epoch, got "
                f"{n}, {len(run['tokens'])} and {len(run['val_loss'])}"
            )


def analyse_isoflops(
    runs: Sequence[dict[str, Any]], targets: Sequence[float] = DEFAULT_TARGETS
) -> IsoFlopAnalysis:
    """Fit IsoFLOP profiles at each budget and power laws through their optima.

    Args:
        runs: one dict per model: ``hidden_size`` (int), ``params`` (int), and per epoch
            ``flops`` (cumulative training FLOPs), ``tokens`` (cumulative training tokens),
            ``val_loss``.
        targets: FLOP budgets C; a budget reached by fewer than three models is skipped.

    Returns:
        The profiles, the skipped budgets, and (m, c) for N_opt(C) and D_opt(C) = C / (6 N_opt(C)).
    """
    _check_runs(runs)
    targets = tuple(float(t) for t in targets)
    curves = np.stack([loss_at_flops(r["flops"], r["val_loss"], targets) for r in runs])  # (R, T)
    profiles: list[IsoFlopProfile] = []
    skipped: list[tuple[float, str]] = []
    for j, target in enumerate(targets):
        reach = [i for i in range(len(runs)) if np.isfinite(curves[i, j])]
        if len(reach) < MIN_MODELS_PER_TARGET:
            skipped.append((target, f"reached by {len(reach)} model(s), need 3"))
            continue
        params = np.array([runs[i]["params"] for i in reach], dtype=float)
        losses = curves[reach, j]
        p, n_opt = find_optimal_params(params, losses)
        if not p[0] > 0:
            skipped.append((target, "parabola opens downwards: its vertex is a maximum"))
            continue
        profiles.append(
            IsoFlopProfile(
                target=target,
                hidden_sizes=tuple(int(runs[i]["hidden_size"]) for i in reach),
                params=tuple(int(runs[i]["params"]) for i in reach),
                losses=tuple(float(v) for v in losses),
                p=(float(p[0]), float(p[1]), float(p[2])),
                n_opt=float(n_opt),
            )
        )
    if len(profiles) < 2:
        raise ValueError(
            f"only {len(profiles)} budget(s) could be fitted, a power law needs 2; skipped: "
            f"{skipped}"
        )
    flops = np.array([prof.target for prof in profiles])
    n_opts = np.array([prof.n_opt for prof in profiles])
    params_fit = fit_linear_log(flops, n_opts)
    tokens_fit = fit_linear_log(flops, flops / (6.0 * n_opts))
    return IsoFlopAnalysis(
        targets=targets,
        profiles=tuple(profiles),
        skipped=tuple(skipped),
        params_fit=(float(params_fit[0]), float(params_fit[1])),
        tokens_fit=(float(tokens_fit[0]), float(tokens_fit[1])),
    )


def _power_law(fit: tuple[float, float], budget: float) -> float:
    if not (math.isfinite(budget) and budget > 0):
        raise ValueError(f"budget must be a positive number of FLOPs, got {budget}")
    m, c = fit
    return float(10 ** (m * math.log10(budget) + c))


def estimate_params(analysis: IsoFlopAnalysis, budget: float = DEFAULT_BUDGET) -> float:
    """Compute-optimal parameters at ``budget`` FLOPs from the fitted line: 10**c * budget**m."""
    return _power_law(analysis.params_fit, budget)


def estimate_tokens(analysis: IsoFlopAnalysis, budget: float = DEFAULT_BUDGET) -> float:
    """Compute-optimal training tokens at ``budget`` FLOPs from the fitted line (C ~ 6 N D)."""
    return _power_law(analysis.tokens_fit, budget)


# --------------------------------------------------------------------------- plots


def _save(fig: Figure, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=120)
    return path


def _sci(x: float) -> str:
    """3640948.5 -> '3.64e6'."""
    mantissa, exponent = f"{x:.2e}".split("e")
    return f"{float(mantissa):g}e{int(exponent)}"


def _tflops(c: float) -> str:
    return f"{c / 1e12:g} TFLOPs"


def _cmap(name: str, k: int, n: int) -> tuple[float, float, float, float]:
    """k-th of n colours from a colormap, avoiding its palest end."""
    return colormaps[name](0.85 * k / max(n - 1, 1))


def save_isoflop_profiles(
    runs: Sequence[dict[str, Any]], analysis: IsoFlopAnalysis, path: Path
) -> Path:
    """Left: validation loss against FLOPs per model; right: the IsoFLOP profile of each budget."""
    fig = Figure(figsize=(13, 5), layout="constrained")
    left, right = fig.subplots(1, 2)
    for k, run in enumerate(sorted(runs, key=lambda r: r["params"])):
        color = _cmap("viridis", k, len(runs))
        label = f"hidden {run['hidden_size']} ({_sci(run['params'])} params)"
        left.plot(run["flops"], run["val_loss"], marker=".", ms=3, color=color, label=label)
    for j, target in enumerate(analysis.targets):
        left.axvline(target, color=_cmap("plasma", j, len(analysis.targets)), ls="--", lw=1)
    left.set(xscale="log", xlabel="training compute (FLOPs)", ylabel="validation loss (nats/token)")
    left.set_title("Validation loss during training (dashed: target budgets)")
    left.legend(fontsize=8)

    for prof in analysis.profiles:
        j = analysis.targets.index(prof.target)
        color = _cmap("plasma", j, len(analysis.targets))
        x = np.log10(prof.params)
        grid = np.linspace(x.min() - 0.1, x.max() + 0.1, 200)
        right.scatter(prof.params, prof.losses, color=color, s=20)
        right.plot(10**grid, np.polyval(prof.p, grid), color=color, label=_tflops(prof.target))
        vertex = np.polyval(prof.p, math.log10(prof.n_opt))
        right.plot(prof.n_opt, vertex, marker="*", ms=12, color=color, mec="black")
    right.set(xscale="log", xlabel="parameters (count)", ylabel="validation loss (nats/token)")
    right.set_title("IsoFLOP profiles (star: fitted optimum $N_{opt}$)")
    right.legend(title="budget", fontsize=8)
    return _save(fig, path)


def _save_power_law(
    flops: np.ndarray,
    values: np.ndarray,
    fit: tuple[float, float],
    budget: float,
    quantity: str,
    symbol: str,
    path: Path,
) -> Path:
    estimate = _power_law(fit, budget)
    fig = Figure(figsize=(7, 5), layout="constrained")
    ax = fig.subplots()
    grid = np.geomspace(min(flops.min(), budget), max(flops.max(), budget), 100)
    ax.scatter(flops, values, color="C0", zorder=3, label=f"IsoFLOP optima {symbol}")
    ax.plot(
        grid,
        [_power_law(fit, c) for c in grid],
        color="C1",
        label=f"fit: $10^{{{fit[1]:.2f}}} \\, C^{{{fit[0]:.3f}}}$",
    )
    ax.plot(
        budget,
        estimate,
        marker="*",
        ms=14,
        color="C3",
        ls="none",
        label=f"estimate at {_sci(budget)}",
    )
    ax.annotate(
        f"{_sci(estimate)} at {_sci(budget)} FLOPs",
        (budget, estimate),
        xytext=(-14, -6),
        textcoords="offset points",
        ha="right",
        va="top",
        color="C3",
    )
    ax.set(xscale="log", yscale="log", xlabel="training compute C (FLOPs)", ylabel=quantity)
    ax.set_title(f"Compute-optimal {quantity.split(' (')[0]}")
    ax.margins(x=0.05, y=0.08)  # keep the star clear of the frame
    ax.grid(True, which="major", alpha=0.3)
    ax.legend()
    return _save(fig, path)


def save_compute_optimal_params(
    analysis: IsoFlopAnalysis, path: Path, budget: float = DEFAULT_BUDGET
) -> Path:
    """Log-log plot of N_opt against FLOPs with the fitted line extended to ``budget``."""
    return _save_power_law(
        analysis.flops,
        analysis.n_opts,
        analysis.params_fit,
        budget,
        "parameters (count)",
        "$N_{opt}$",
        path,
    )


def save_compute_optimal_tokens(
    analysis: IsoFlopAnalysis, path: Path, budget: float = DEFAULT_BUDGET
) -> Path:
    """Log-log plot of D_opt = C / (6 N_opt) against FLOPs, fitted line extended to ``budget``."""
    return _save_power_law(
        analysis.flops,
        analysis.d_opts,
        analysis.tokens_fit,
        budget,
        "training tokens (count)",
        "$D_{opt} = C / 6N_{opt}$",
        path,
    )
