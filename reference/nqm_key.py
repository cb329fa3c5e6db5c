"""The written part's answer key: batch-size sweeps of the noisy quadratic model, their
figures, the answer text, and ``main`` (run by ``python -m reference.experiments nqm``).

The model and its exact expected-loss recursion are in ``reference.nqm``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from reference.nqm import (
    NQM,
    FloatArray,
    critical_batch_size,
    expected_loss,
    min_steps_to_target,
    optimal_learning_rate,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


@dataclass(frozen=True)
class BatchSizeSweep:
    """Optimal learning rate and steps-to-target of the NQM across batch sizes."""

    batch_sizes: tuple[float, ...]
    """Batch sizes ``B``, increasing."""
    optimal_lr: tuple[float, ...]
    """Learning rate minimising ``E[L_T]`` after ``steps_budget`` steps, per ``B``."""
    loss_at_optimal_lr: tuple[float, ...]
    """``E[L_T]`` at that learning rate."""
    steps_to_target: tuple[float, ...]
    """Fewest steps to ``E[L_t] <= target_loss`` over learning rates (inf if unreachable)."""
    lr_for_target: tuple[float, ...]
    """The learning rate achieving ``steps_to_target``."""
    steps_budget: int
    """``T`` of the fixed-budget learning-rate question."""
    target_loss: float
    """Target expected loss of the steps question."""
    min_steps: float
    """``S_min``: steps to target with exact gradients (``B = inf``), the curvature limit."""
    critical_batch_size: float
    """Where steps fall to ``2 S_min`` (:func:`critical_batch_size`); nan if not bracketed."""
    stability_bound: float
    """``2 / max h``: no stable learning rate exceeds it."""
    initial_loss: float
    """``E[L_0]``."""


def sweep_batch_sizes(
    batch_sizes: Iterable[float],
    *,
    model: NQM | None = None,
    steps_budget: int = 300,
    target_loss: float = 0.1,
    refine_rounds: int = 3,
    progress: bool = False,
) -> BatchSizeSweep:
    """Answer both batch-size questions of handout section 1 at each ``B`` (default: diagonal NQM).

    Per ``B``: the learning rate minimising ``E[L_T]`` at ``T = steps_budget`` and the fewest steps
    to ``target_loss``; then ``S_min`` (``B = inf``) and the critical batch size.
    """
    model = NQM.diagonal() if model is None else model
    sizes = sorted(float(b) for b in batch_sizes)
    if not 0 < target_loss < model.initial_loss:
        raise ValueError(f"target_loss must lie in (0, {model.initial_loss:.4g})")
    iterator: Iterable[float] = sizes
    if progress:
        from tqdm import tqdm

        iterator = tqdm(sizes, desc="NQM batch sizes", unit="B")
    lrs, losses, steps, target_lrs = [], [], [], []
    for b in iterator:
        lr = optimal_learning_rate(b, steps_budget, model=model)
        lrs.append(lr)
        losses.append(float(expected_loss(model, lr, b, steps_budget)))
        hit = min_steps_to_target(b, target_loss, model=model, refine_rounds=refine_rounds)
        steps.append(hit.steps)
        target_lrs.append(hit.learning_rate)
    s_min = min_steps_to_target(math.inf, target_loss, model=model, refine_rounds=refine_rounds)
    below = [i for i, n in enumerate(steps) if n <= 2.0 * s_min.steps]
    b_crit = math.nan  # the sweep must bracket the knee
    if below and below[0] > 0:
        bracket = (sizes[below[0] - 1], sizes[below[0]])
        b_crit = critical_batch_size(model, target_loss, bracket, s_min.steps)
    return BatchSizeSweep(
        batch_sizes=tuple(sizes),
        optimal_lr=tuple(lrs),
        loss_at_optimal_lr=tuple(losses),
        steps_to_target=tuple(steps),
        lr_for_target=tuple(target_lrs),
        steps_budget=steps_budget,
        target_loss=target_loss,
        min_steps=s_min.steps,
        critical_batch_size=b_crit,
        stability_bound=model.stability_bound,
        initial_loss=model.initial_loss,
    )


def _new_axes(title: str, ylabel: str) -> tuple[Figure, Axes]:
    from matplotlib.figure import Figure  # no pyplot: no global state, renders with Agg

    fig = Figure(figsize=(6.4, 4.4), layout="constrained")
    ax = fig.add_subplot()
    ax.set(xscale="log", yscale="log", xlabel="batch size B", ylabel=ylabel, title=title)
    ax.grid(True, which="major", alpha=0.3)
    return fig, ax


def plot_learning_rates(sweep: BatchSizeSweep, path: Path) -> Path:
    """Log-log optimal learning rate vs. batch size: ``~ B`` while noise dominates, then capped."""
    b = np.asarray(sweep.batch_sizes)
    fig, ax = _new_axes("NQM: optimal learning rate vs batch size", "learning rate")
    ax.plot(b, sweep.optimal_lr, "o-", label=f"minimises E[L] after T={sweep.steps_budget} steps")
    ax.plot(b, sweep.lr_for_target, "s-", label=f"fewest steps to E[L] <= {sweep.target_loss:g}")
    ax.plot(b, sweep.lr_for_target[0] * b / b[0], ":", color="grey", label="linear scaling, lr ~ B")
    ax.axhline(sweep.stability_bound, color="black", ls="--", label="stability bound 2 / max h")
    low = min(min(sweep.optimal_lr), min(sweep.lr_for_target))
    ax.set_ylim(0.5 * low, 3 * sweep.stability_bound)
    if math.isfinite(sweep.critical_batch_size):
        ax.axvline(
            sweep.critical_batch_size,
            color="tab:red",
            ls="-.",
            alpha=0.6,
            label=f"critical batch size ~{sweep.critical_batch_size:.3g}",
        )
    ax.legend(fontsize=8, loc="lower right")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    return path


def plot_steps_to_target(sweep: BatchSizeSweep, path: Path) -> Path:
    """Log-log steps to target vs. batch size with the two regimes and the critical batch size.

    Noise-dominated regime (small ``B``): steps fall as ``1/B`` (perfect scaling). Curvature-
    dominated regime (large ``B``): steps flatten at ``S_min``. The knee is marked where steps are
    ``2 S_min`` (McCandlish et al. 2018's ``B_noise``); compare Shallue et al. 2018 and handout
    figure 1.
    """
    b = np.asarray(sweep.batch_sizes)
    steps = np.asarray(sweep.steps_to_target)
    fig, ax = _new_axes(f"NQM: steps to reach E[L] <= {sweep.target_loss:g}", "steps to target")
    ax.plot(b, steps, "o-", color="tab:blue", lw=2, label="tuned SGD (exact expected loss)")
    ax.plot(b, steps[0] * b[0] / b, ":", color="grey", label="perfect scaling, steps ~ 1/B")
    ax.axhline(
        sweep.min_steps, color="black", ls="--", label=f"S_min = {sweep.min_steps:.0f} (B = inf)"
    )
    ax.set_ylim(0.3 * sweep.min_steps, 3 * np.nanmax(np.where(np.isfinite(steps), steps, np.nan)))
    b_crit = sweep.critical_batch_size
    if math.isfinite(b_crit):
        ax.axvspan(b[0], b_crit, color="tab:orange", alpha=0.08)
        ax.axvspan(b_crit, b[-1], color="tab:green", alpha=0.08)
        ax.plot(
            [b_crit],
            [2 * sweep.min_steps],
            "*",
            color="tab:red",
            ms=16,
            label=f"critical batch size ~{b_crit:.3g} (steps = 2 S_min)",
        )
        b_text = math.sqrt(b[0] * b_crit) / 3  # middle of the noise-dominated range (log scale)
        s_text = float(np.interp(math.log(b_text), np.log(b), np.log(steps)))
        ax.text(
            b_text * 2,
            3 * math.exp(s_text),
            "noise-dominated:\nsteps ~ 1/B",
            color="tab:orange",
            fontsize=9,
            va="bottom",
        )
        ax.text(
            b_crit * 1.2,
            10 * sweep.min_steps,
            "curvature-\ndominated:\nsteps ~ flat",
            color="tab:green",
            fontsize=9,
            va="bottom",
        )
    ax.legend(fontsize=8, loc="lower left")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    return path


def _ratio_per_doubling(b: FloatArray, y: FloatArray, i: int) -> float:
    """Growth of ``y`` per doubling of ``B`` between sweep points ``i`` and ``i + 1``."""
    return float((y[i + 1] / y[i]) ** (math.log(2.0) / math.log(b[i + 1] / b[i])))


def answer_key_text(sweep: BatchSizeSweep) -> str:
    """Markdown answers to handout questions 1(a), 1.1(a), 1.1(b) and 1.2(a), with NQM numbers."""
    b = np.asarray(sweep.batch_sizes)
    lr, lr_t = np.asarray(sweep.optimal_lr), np.asarray(sweep.lr_for_target)
    steps = np.asarray(sweep.steps_to_target)
    b_crit, s_min, bound = sweep.critical_batch_size, sweep.min_steps, sweep.stability_bound
    small = f"B = {b[0]:g} -> {b[1]:g}"
    if math.isfinite(b_crit):
        examples = b_crit * 2 * s_min / (b[0] * steps[0])  # relative to the small-batch limit
        crit = f"B* ~ {b_crit:.3g}"
        knee = (
            f" NQM: at {crit} training takes {2 * s_min:.0f} steps and processes {examples:.2f}x"
            f" as many examples as at B = {b[0]:g}."
        )
    else:
        crit, knee = "B* (not bracketed by this sweep)", ""
    return f"""# Answer key, section 1 (noisy quadratic model)

Numbers from the diagonal NQM of Zhang et al. 2019 (h_i = 1/i, gradient-noise covariance
proportional to the Hessian), exact expected loss, learning rate tuned per batch size.
Stability bound 2 / max h = {bound:g}. Critical batch size {crit}: the B where the steps to reach
E[L] <= {sweep.target_loss:g} are twice S_min = {s_min:.0f}, the steps with exact gradients.

**1(a).** The minibatch gradient noise has variance sigma^2 / B, so a larger batch gives a
cleaner gradient and tolerates a larger step before the noise floor (proportional to
lr sigma^2 / B) dominates: the optimal learning rate increases, roughly linearly in B while
noise dominates. Once the noise is small the curvature limits it, near the stability bound 2 / a.
NQM, per doubling of B at {small}: the lr reaching the target fastest grows
x{_ratio_per_doubling(b, lr_t, 0):.2f}, the lr minimising E[L] after T = {sweep.steps_budget}
steps x{_ratio_per_doubling(b, lr, 0):.2f}. At B = {b[-1]:g} they are {lr_t[-1]:.3g} and
{lr[-1]:.3g}, against the bound {bound:g}.

**1.1(a).** Point B, at the bend (the critical batch size). Left of it, doubling the batch halves
the steps at no extra total compute; right of it, extra examples per step barely reduce the
steps and the compute is wasted. At the bend steps and total examples are both within a small
factor of their minima (exactly 2x in the fit of McCandlish et al. 2018), the best time/compute
trade-off.{knee}

**1.1(b).** We read figure 1 as: A on the steep small-batch part, B at or past the knee.

- Point A: noise dominated; seek parallel compute (a larger batch): steps fall ~1/B
  (NQM: x{steps[1] / steps[0]:.2f} steps for {small}).
- Point B: curvature dominated; use higher-order (preconditioned) optimizers: a larger batch
  no longer helps (NQM: steps flatten at S_min = {s_min:.0f}, set by the condition number);
  only a better-conditioned update shortens training.

**1.2(a).** C, increase the model size. Larger models are more sample efficient: they reach a
given test loss with fewer tokens and less compute (Kaplan et al. 2020, figure 2), and the
compute-optimal allocation spends most additional compute on parameters (N ~ C^0.73). More
steps on the same model (A) run into that model's loss plateau; a larger batch (B) gives
diminishing returns past the critical batch size, as in 1.1.
"""


@dataclass(frozen=True)
class NQMProfile:
    """Settings of one :func:`main` run."""

    batch_sizes: tuple[float, ...]
    dim: int = 1000
    noise_scale: float = 100.0
    steps_budget: int = 300
    target_loss: float = 0.1
    refine_rounds: int = 3


PROFILES: dict[str, NQMProfile] = {
    "smoke": NQMProfile(batch_sizes=tuple(4.0**k for k in range(9))),
    "full": NQMProfile(batch_sizes=tuple(2.0 ** (k / 2) for k in range(35)), refine_rounds=4),
}


def _json_number(x: float) -> float | None:
    if isinstance(x, int):
        return x
    return float(x) if math.isfinite(x) else None  # JSON has no inf / nan


def sweep_to_json(sweep: BatchSizeSweep) -> dict[str, float | list[float | None] | None]:
    """The sweep as plain JSON values: tuples become lists, inf and nan become ``None``."""
    return {
        key: [_json_number(v) for v in value] if isinstance(value, tuple) else _json_number(value)
        for key, value in asdict(sweep).items()
    }


def main(out_dir: Path, profile: str = "smoke") -> dict:
    """Run the batch-size sweep; write both figures, ``nqm.json`` and ``nqm_answer_key.md``.

    ``profile`` is ``"smoke"`` (9 batch sizes, a few seconds) or ``"full"`` (35 batch sizes).
    Returns the dictionary written to ``nqm.json`` (plain numbers; inf and nan become null).
    """
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose from {sorted(PROFILES)}")
    config = PROFILES[profile]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model = NQM.diagonal(config.dim, noise_scale=config.noise_scale)
    sweep = sweep_batch_sizes(
        config.batch_sizes,
        model=model,
        steps_budget=config.steps_budget,
        target_loss=config.target_loss,
        refine_rounds=config.refine_rounds,
        progress=profile == "full",
    )
    lr_png = plot_learning_rates(sweep, out_dir / "nqm_learning_rate.png")
    steps_png = plot_steps_to_target(sweep, out_dir / "nqm_steps_to_target.png")
    key_md = out_dir / "nqm_answer_key.md"
    key_md.write_text(answer_key_text(sweep), encoding="utf-8")
    result = {
        "profile": profile,
        "model": {
            "spectrum": "h_i = h_max / i, c_i = noise_scale * h_i",
            "h_max": 1.0,
            "dim": config.dim,
            "noise_scale": config.noise_scale,
            "w0": 1.0,
        },
        "sweep": sweep_to_json(sweep),
        "files": [p.name for p in (lr_png, steps_png, key_md)] + ["nqm.json"],
    }
    (out_dir / "nqm.json").write_text(
        json.dumps(result, indent=2, allow_nan=False) + "\n", encoding="utf-8"
    )
    return result
