"""Noisy quadratic model (NQM): the answer key of written section 1 (batch size vs. learning rate).

Scalar model (handout section 1): loss ``L(w) = a w^2 / 2`` and minibatch gradient
``g_B(w) = a w + eps`` with ``eps ~ N(0, sigma^2 / B)``. SGD ``w <- w - lr g_B`` gives the exact
moment recursion, with ``r = 1 - lr a``, ``m_t = E[w_t]`` and ``s_t = E[w_t^2]``::

    m_{t+1} = r m_t,        s_{t+1} = r^2 s_t + lr^2 sigma^2 / B,        E[L_t] = a s_t / 2,

whose closed form is ``s_t = r^{2t} s_0 + (lr^2 sigma^2 / B) sum_{k<t} r^{2k}``.

Diagonal model (Zhang et al. 2019, "Which algorithmic choices matter at which batch sizes?",
section 2): ``d`` independent coordinates with curvatures ``h_i`` and per-example noise variances
``c_i``; coordinate ``i`` follows the scalar recursion with ``a = h_i``, ``sigma^2 = c_i`` and the
loss is ``sum_i h_i s_{t,i} / 2``. The default is ``d = 1000``, ``h_i = 1 / i`` and
``c_i = 100 h_i`` (gradient-noise covariance proportional to the Hessian; the factor 100 puts the
noise-dominated regime at ``B`` from 1 to about 10^3). Its steps-to-target curve has
the shape of Shallue et al. 2018 (figure 1 of the handout): perfect ``1/B`` scaling while gradient
noise dominates, then a plateau set by the ill-conditioned curvature.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

FloatArray = np.ndarray
_MAX_CHUNK_ELEMENTS = 1 << 21  # elements of one (points, dims) block in expected_loss


@dataclass(frozen=True, eq=False)
class NQM:
    """A diagonal noisy quadratic model; the scalar model is the case ``dim == 1``."""

    curvatures: FloatArray
    """Hessian eigenvalues ``h_i > 0``, shape ``(d,)``."""
    noise_variances: FloatArray
    """Per-example gradient-noise variances ``c_i >= 0``; a batch of ``B`` divides them by ``B``."""
    init_second_moments: FloatArray
    """``s_{0,i} = E[w_{0,i}^2]``; the Monte Carlo simulator starts at ``w_0 = sqrt(s_0)``."""

    def __post_init__(self) -> None:
        h, c, s0 = (np.asarray(x, dtype=float) for x in self._arrays())
        if h.ndim != 1 or h.shape != c.shape or h.shape != s0.shape or h.size == 0:
            raise ValueError("curvatures, noise_variances, init_second_moments: same 1-D shape")
        if not (np.all(h > 0) and np.all(c >= 0) and np.all(s0 >= 0)):
            raise ValueError("need curvatures > 0, noise_variances >= 0, init_second_moments >= 0")
        for name, value in zip(
            ("curvatures", "noise_variances", "init_second_moments"), (h, c, s0), strict=True
        ):
            value.setflags(write=False)
            object.__setattr__(self, name, value)

    def _arrays(self) -> tuple[FloatArray, FloatArray, FloatArray]:
        return self.curvatures, self.noise_variances, self.init_second_moments

    @classmethod
    def scalar(cls, a: float = 1.0, sigma2: float = 1.0, w0: float = 1.0) -> NQM:
        """The handout's scalar NQM ``L = a w^2 / 2`` with per-example noise variance ``sigma2``."""
        return cls(np.array([a]), np.array([sigma2]), np.array([w0**2]))

    @classmethod
    def diagonal(
        cls, dim: int = 1000, *, h_max: float = 1.0, noise_scale: float = 100.0, w0: float = 1.0
    ) -> NQM:
        """Zhang et al. 2019 spectrum: ``h_i = h_max / i``, ``c_i = noise_scale h_i``, ``w_0``."""
        h = h_max / np.arange(1, dim + 1, dtype=float)
        return cls(h, noise_scale * h, np.full(dim, float(w0) ** 2))

    @property
    def dim(self) -> int:
        return int(self.curvatures.size)

    @property
    def stability_bound(self) -> float:
        """``2 / max_i h_i``: above it the stiffest coordinate diverges (``|1 - lr h| > 1``)."""
        return 2.0 / float(self.curvatures.max())

    @property
    def initial_loss(self) -> float:
        return float(0.5 * np.sum(self.curvatures * self.init_second_moments))


def _check_batch_size(batch_size: float) -> float:
    batch = float(batch_size)
    if not batch > 0:  # also rejects NaN; math.inf means noiseless gradients
        raise ValueError(f"batch_size must be > 0, got {batch_size!r}")
    return batch


_BIG = np.finfo(float).max


class _Moments:
    """Closed form ``s_t = q^t s_0 + (lr^2 c / B) sum_{k<t} q^k`` with ``q = (1 - lr h)^2``.

    Precomputes the per-(lr, coordinate) terms of ``n`` learning rates so that evaluating many
    ``t`` is cheap. The geometric sum is ``expm1(t log q) / expm1(log q)``: accurate as
    ``lr h -> 0``, exactly ``t`` at ``q == 1`` and ``1`` at ``q == 0``. Values are clipped to the
    largest float, so a divergent coordinate gives ``inf`` totals but never NaN.
    """

    def __init__(self, model: NQM, lrs: FloatArray, batch_size: float) -> None:
        lr = np.asarray(lrs, dtype=float)[:, None]  # (n, 1)
        x = lr * model.curvatures  # (n, d)
        with np.errstate(all="ignore"):
            # log|1 - x| = log1p(-x) for x < 1 and log1p(x - 2) otherwise; -inf at x == 1
            self.log_q = 2.0 * np.log1p(np.where(x < 1.0, -x, x - 2.0))
            self.denominator = np.expm1(self.log_q)
            self.noise = lr**2 * model.noise_variances / batch_size  # (n, d); 0 when B is inf
        self.flat = self.log_q == 0  # q == 1: lr == 0 or lr h == 2
        self.any_flat = bool(self.flat.any())
        self.s0 = model.init_second_moments

    def at(self, steps: FloatArray, rows: np.ndarray | slice = slice(None)) -> FloatArray:
        """``s_t`` for each selected learning rate at its own ``steps``; shape ``(n, d)``."""
        t = np.asarray(steps, dtype=float)[:, None]
        log_q = self.log_q[rows]
        with np.errstate(all="ignore"):
            t_log_q = t * log_q
            if np.any(t == 0):
                t_log_q = np.where(t == 0, 0.0, t_log_q)  # 0 * -inf at lr h == 1
            decay = np.minimum(np.exp(t_log_q), _BIG)
            geometric = np.minimum(np.expm1(t_log_q) / self.denominator[rows], _BIG)
            if self.any_flat:
                geometric = np.where(self.flat[rows], t, geometric)
            return np.minimum(decay * self.s0 + geometric * self.noise[rows], _BIG)


def expected_loss(
    model: NQM, lr: float | FloatArray, batch_size: float, steps: int | FloatArray
) -> FloatArray:
    """Exact ``E[L_t] = sum_i h_i s_{t,i} / 2`` after ``steps`` SGD steps (closed form above).

    ``lr`` and ``steps`` broadcast against each other; the result has their broadcast shape.
    Divergent learning rates give a growing loss and ``inf`` once it overflows, never NaN or
    floating-point warnings.
    """
    batch = _check_batch_size(batch_size)
    lr_b, t_b = np.broadcast_arrays(np.asarray(lr, dtype=float), np.asarray(steps, dtype=float))
    if np.any(lr_b < 0) or np.any(t_b < 0) or np.any(t_b != np.floor(t_b)):
        raise ValueError("need lr >= 0 and integer steps >= 0")
    flat_lr, flat_t = lr_b.ravel(), t_b.ravel()
    out = np.empty(flat_lr.size)
    half_h = 0.5 * model.curvatures
    chunk = max(1, _MAX_CHUNK_ELEMENTS // model.dim)
    for start in range(0, flat_lr.size, chunk):
        sl = slice(start, start + chunk)
        s = _Moments(model, flat_lr[sl], batch).at(flat_t[sl])
        with np.errstate(over="ignore"):
            out[sl] = np.where(np.any(s >= _BIG, axis=1), np.inf, s @ half_h)
    return out.reshape(lr_b.shape)


def expected_loss_by_recursion(model: NQM, lr: float, batch_size: float, steps: int) -> FloatArray:
    """``E[L_t]`` for ``t = 0..steps`` by iterating ``s_{t+1} = (1 - lr h)^2 s_t + lr^2 c / B``.

    An independent implementation of the closed form, used to test it.
    """
    batch = _check_batch_size(batch_size)
    h, c, s = model.curvatures, model.noise_variances, model.init_second_moments.copy()
    losses = np.empty(steps + 1)
    with np.errstate(all="ignore"):
        for t in range(steps + 1):
            losses[t] = 0.5 * float(h @ s)
            s = (1.0 - lr * h) ** 2 * s + lr**2 * c / batch
    return losses


def expected_weights(model: NQM, lr: float, steps: int) -> FloatArray:
    """``m_t = (1 - lr h)^t m_0`` with ``m_0 = sqrt(s_0)``; shape ``(steps + 1, d)``."""
    t = np.arange(steps + 1, dtype=float)[:, None]
    with np.errstate(all="ignore"):
        return (1.0 - lr * model.curvatures) ** t * np.sqrt(model.init_second_moments)


@dataclass(frozen=True, eq=False)
class MonteCarloResult:
    """Sample statistics of simulated SGD trajectories."""

    mean_loss: FloatArray
    """Sample mean of ``L(w_t)`` over runs, ``t = 0..steps``."""
    stderr: FloatArray
    """Standard error of ``mean_loss`` (sample std / sqrt(n_runs))."""
    mean_weights: FloatArray
    """Sample mean of ``w_t``, shape ``(steps + 1, d)``."""


def simulate_sgd(
    model: NQM,
    lr: float,
    batch_size: int,
    steps: int,
    *,
    n_runs: int = 20_000,
    seed: int = 0,
    per_example: bool = False,
) -> MonteCarloResult:
    """Run ``n_runs`` independent SGD trajectories ``w <- w - lr (h w + eps)`` on the NQM.

    ``eps`` is ``N(0, c / B)``; with ``per_example=True`` it is instead the mean of ``B``
    per-example ``N(0, c)`` draws, the handout's literal minibatch gradient.
    """
    batch = int(batch_size)
    if batch < 1 or batch != batch_size:
        raise ValueError(f"simulate_sgd needs an integer batch_size >= 1, got {batch_size!r}")
    rng = np.random.default_rng(seed)
    h, c = model.curvatures, model.noise_variances
    w = np.tile(np.sqrt(model.init_second_moments), (n_runs, 1))  # (n_runs, d)
    mean_loss, stderr = np.empty(steps + 1), np.empty(steps + 1)
    mean_w = np.empty((steps + 1, model.dim))
    with np.errstate(all="ignore"):
        for t in range(steps + 1):
            loss = 0.5 * (w**2 @ h)  # (n_runs,)
            mean_loss[t], stderr[t] = loss.mean(), loss.std(ddof=1) / math.sqrt(n_runs)
            mean_w[t] = w.mean(axis=0)
            if per_example:
                eps = rng.standard_normal((n_runs, batch, model.dim)).mean(axis=1) * np.sqrt(c)
            else:
                eps = rng.standard_normal((n_runs, model.dim)) * np.sqrt(c / batch)
            w = w - lr * (h * w + eps)
            w[np.isnan(w)] = np.inf  # a diverged run (inf - inf) stays diverged, not NaN
    return MonteCarloResult(mean_loss, stderr, mean_w)


def _golden_section(f: Callable[[float], float], lo: float, hi: float, tol: float) -> float:
    """Minimise a unimodal ``f`` on ``[lo, hi]`` to width ``tol`` by golden-section search."""
    inv_phi = (math.sqrt(5.0) - 1.0) / 2.0
    a, b = lo, hi
    x1, x2 = b - inv_phi * (b - a), a + inv_phi * (b - a)
    f1, f2 = f(x1), f(x2)
    while b - a > tol:
        if f1 <= f2:
            b, x2, f2 = x2, x1, f1
            x1 = b - inv_phi * (b - a)
            f1 = f(x1)
        else:
            a, x1, f1 = x1, x2, f2
            x2 = a + inv_phi * (b - a)
            f2 = f(x2)
    return x1 if f1 <= f2 else x2


def _lr_grid(model: NQM, decades: float, grid_size: int) -> FloatArray:
    """Log grid from ``10^-decades`` to twice the stability bound (past it things may still pay)."""
    top = math.log10(2.0 * model.stability_bound)
    return np.logspace(top - decades, top, grid_size)


def optimal_learning_rate(
    batch_size: float,
    steps: int,
    *,
    model: NQM | None = None,
    grid_size: int = 64,
    decades: float = 7.0,
    tol: float = 1e-4,
) -> float:
    """The ``lr`` minimising ``E[L_steps]`` at this batch size (Zhang et al. 2019, figure 2).

    A log grid of ``grid_size`` points spanning ``decades`` decades up to ``2 x`` the stability
    bound, then golden-section search in ``log lr`` between the best point's neighbours, to a
    relative width ``tol``.
    """
    model = NQM.diagonal() if model is None else model
    batch = _check_batch_size(batch_size)
    grid = _lr_grid(model, decades, grid_size)
    losses = expected_loss(model, grid, batch, steps)
    i = int(np.argmin(np.where(np.isnan(losses), np.inf, losses)))
    lo, hi = np.log(grid[max(i - 1, 0)]), np.log(grid[min(i + 1, grid_size - 1)])

    def loss_at(log_lr: float) -> float:
        return float(expected_loss(model, math.exp(log_lr), batch, steps))

    return math.exp(_golden_section(loss_at, float(lo), float(hi), tol))


@dataclass(frozen=True)
class TargetResult:
    """Fewest steps to reach a target expected loss, minimised over the learning rate."""

    steps: float
    """Steps (an integer, or ``inf`` when no learning rate reaches the target)."""
    learning_rate: float
    """A learning rate achieving ``steps`` (``nan`` when unreachable)."""


_Predicate = Callable[[FloatArray, np.ndarray], np.ndarray]


def _bisect_first(pred: _Predicate, lo: FloatArray, hi: float) -> tuple[FloatArray, np.ndarray]:
    """Smallest integer ``t`` in ``[lo, hi]`` with ``pred(t)``, for predicates monotone in ``t``.

    Vectorised over points: ``pred(t, sel)`` evaluates the points ``sel`` at times ``t``. Returns
    ``(t, found)``; ``found`` is false where even ``pred(hi)`` fails.
    """
    every = np.arange(lo.size)
    hi_t = np.full(lo.size, float(hi))
    found = pred(hi_t, every)
    at_lo = pred(lo, every)
    bad = lo.copy()  # invariant on open points: pred(bad) false, pred(hi_t) true
    while True:
        (sel,) = np.nonzero(found & ~at_lo & (hi_t - bad > 1))
        if sel.size == 0:
            return np.where(at_lo, lo, hi_t), found
        mid = np.floor((bad[sel] + hi_t[sel]) / 2)
        ok = pred(mid, sel)
        hi_t[sel[ok]] = mid[ok]
        bad[sel[~ok]] = mid[~ok]


def _is_below(
    part: Callable[[FloatArray, np.ndarray, FloatArray], FloatArray],
    weights: FloatArray,
    idx: np.ndarray,
    threshold: FloatArray,
    t: FloatArray,
    sel: np.ndarray,
) -> np.ndarray:
    return part(weights, idx[sel], t) <= threshold[sel]


def first_step_below(
    model: NQM,
    lrs: FloatArray,
    batch_size: float,
    target_loss: float,
    max_steps: float = 1e9,
    *,
    max_rounds: int = 1000,
) -> FloatArray:
    """Exact first ``t <= max_steps`` with ``E[L_t] <= target_loss`` for each ``lr`` (else inf).

    Each coordinate's ``s_t`` is monotone in ``t``, so ``E[L_t] = D(t) + I(t)`` with ``D``
    non-increasing (coordinates with ``s_1 <= s_0``) and ``I`` non-decreasing. Any crossing time
    ``t*`` has ``D(t*) <= target - I(t_k)`` for every lower bound ``t_k <= t*``, so iterating
    ``t_{k+1} = min{t : D(t) <= target - I(t_k)}`` (a bisection, since ``D`` is monotone) climbs
    to ``t*`` exactly; when ``I == 0`` (the usual case) one iteration suffices. The climb is capped
    at ``max_rounds`` iterations (only a crossing at a near-tangency could need more); a learning
    rate still unresolved then reports ``inf``, which can only overstate its step count.
    """
    batch = _check_batch_size(batch_size)
    lrs = np.asarray(lrs, dtype=float).ravel()
    moments = _Moments(model, lrs, batch)
    half_h = 0.5 * model.curvatures
    decreasing = moments.at(np.ones(lrs.size)) <= model.init_second_moments  # s_1 <= s_0
    w_dec = np.where(decreasing, half_h, 0.0)  # (n, d) weights of the non-increasing part D
    w_inc = half_h - w_dec
    any_inc = bool(np.any(w_inc > 0))

    def part(weights: FloatArray, idx: np.ndarray, t: FloatArray) -> FloatArray:
        if weights is w_inc and not any_inc:
            return np.zeros(idx.size)
        with np.errstate(over="ignore"):
            return np.einsum("ij,ij->i", moments.at(t, idx), weights[idx])

    result = np.full(lrs.size, np.inf)
    idx = np.arange(lrs.size)
    t_k = np.zeros(lrs.size)
    for _ in range(max_rounds):
        if idx.size == 0:
            break
        threshold = target_loss - part(w_inc, idx, t_k)
        below = functools.partial(_is_below, part, w_dec, idx, threshold)
        t_new, found = _bisect_first(below, t_k, max_steps)
        done = found & (part(w_dec, idx, t_new) + part(w_inc, idx, t_new) <= target_loss)
        result[idx[done]] = t_new[done]
        keep = found & ~done
        idx, t_k = idx[keep], t_new[keep]
    return result


def min_steps_to_target(
    batch_size: float,
    target_loss: float,
    *,
    model: NQM | None = None,
    grid_size: int = 48,
    decades: float = 7.0,
    refine_rounds: int = 3,
    refine_size: int = 16,
    max_steps: float = 1e9,
) -> TargetResult:
    """Fewest steps to ``E[L_t] <= target_loss``, minimised over ``lr`` (Shallue et al. 2018).

    For every ``lr`` the step count is exact (:func:`first_step_below`); the minimum over ``lr`` is
    taken on a log grid of ``grid_size`` points, then refined ``refine_rounds`` times on a log grid
    of ``refine_size`` points between the best point's neighbours. Targets not reached within
    ``max_steps`` count as unreachable.
    """
    model = NQM.diagonal() if model is None else model
    batch = _check_batch_size(batch_size)
    grid = _lr_grid(model, decades, grid_size)
    # every 4th grid point first: its best bounds the horizon, so slower lrs stop early
    best_steps = float(np.min(first_step_below(model, grid[::4], batch, target_loss, max_steps)))
    best_lr = math.nan
    for _ in range(refine_rounds + 1):
        horizon = min(max_steps, best_steps)  # a refined lr only matters if it is no slower
        steps = first_step_below(model, grid, batch, target_loss, horizon)
        i = int(np.argmin(steps))
        if steps[i] <= best_steps:
            best_steps, best_lr = float(steps[i]), float(grid[i])
        if not math.isfinite(steps[i]):
            break
        finer = np.geomspace(grid[max(i - 1, 0)], grid[min(i + 1, grid.size - 1)], refine_size)
        grid = np.unique(np.append(finer, grid[i]))  # sorted, with the incumbent kept
    return TargetResult(best_steps, best_lr)


def steps_to_target(batch_size: float, target_loss: float, *, model: NQM | None = None) -> float:
    """Fewest SGD steps to ``E[L_t] <= target_loss`` over learning rates; inf if unreachable."""
    return min_steps_to_target(batch_size, target_loss, model=model).steps


def critical_batch_size(
    model: NQM,
    target_loss: float,
    bracket: tuple[float, float],
    min_steps: float,
    *,
    factor: float = 2.0,
    rel_tol: float = 0.01,
) -> float:
    """The ``B`` where the fewest steps to ``target_loss`` fall to ``factor x S_min``.

    ``S_min`` is the step count with exact gradients (``B = inf``). With the empirical fit
    ``S = S_min (1 + B_noise / B)`` of McCandlish et al. 2018 (``factor = 2``) this is
    ``B_noise``, the knee of the curve: there both the steps and the examples processed (``B S``)
    are twice their minima. Bisection in ``log B`` inside ``bracket = (lo, hi)``, whose ends must
    straddle the level, to a relative width ``rel_tol``.
    """
    lo, hi = bracket
    level = factor * min_steps
    while hi / lo > 1.0 + rel_tol:
        mid = math.sqrt(lo * hi)
        if min_steps_to_target(mid, target_loss, model=model).steps <= level:
            hi = mid
        else:
            lo = mid
    return math.sqrt(lo * hi)
