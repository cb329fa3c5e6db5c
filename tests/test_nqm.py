"""Tests of the noisy quadratic model (reference/nqm.py) and its answer key (nqm_key.py)."""

from __future__ import annotations

import ast
import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest

from reference import nqm, nqm_key
from reference.nqm import NQM

NQM_SOURCE = Path(nqm.__file__)


@pytest.fixture(scope="module")
def default_model() -> NQM:
    return NQM.diagonal()


@pytest.mark.parametrize(
    ("model", "lr", "batch_size"),
    [
        (NQM.scalar(a=2.0, sigma2=3.0, w0=1.5), 0.1, 4.0),
        (NQM.scalar(a=2.0, sigma2=3.0, w0=1.5), 0.5, 1.0),  # lr a == 1: q == 0
        (NQM.scalar(a=2.0, sigma2=3.0, w0=1.5), 1.0, 2.0),  # lr a == 2: q == 1
        (NQM.scalar(a=2.0, sigma2=3.0, w0=1.5), 1e-7, 1.0),  # tiny steps: expm1 accuracy
        (NQM.diagonal(50, noise_scale=10.0), 0.7, 3.0),
        (NQM.diagonal(50, noise_scale=10.0), 1.3, math.inf),  # exact gradients
    ],
)
def test_closed_form_equals_literal_recursion(model: NQM, lr: float, batch_size: float) -> None:
    steps = 200
    recursion = nqm.expected_loss_by_recursion(model, lr, batch_size, steps)
    closed = nqm.expected_loss(model, lr, batch_size, np.arange(steps + 1))
    np.testing.assert_allclose(closed, recursion, rtol=1e-9, atol=1e-300)


@pytest.mark.parametrize(
    ("model", "lr", "batch_size", "per_example"),
    [
        (NQM.scalar(a=1.0, sigma2=4.0, w0=1.0), 0.1, 1, False),
        (NQM.scalar(a=1.0, sigma2=4.0, w0=1.0), 0.5, 4, True),  # literal mean of B draws
        (NQM.diagonal(5, noise_scale=3.0), 0.8, 2, True),
    ],
)
def test_exact_recursion_agrees_with_monte_carlo(
    model: NQM, lr: float, batch_size: int, per_example: bool
) -> None:
    steps, n_runs = 40, 20_000
    mc = nqm.simulate_sgd(
        model, lr, batch_size, steps, n_runs=n_runs, seed=1234, per_example=per_example
    )
    exact = nqm.expected_loss(model, lr, batch_size, np.arange(steps + 1))
    assert mc.mean_loss[0] == pytest.approx(exact[0])
    z = np.abs(mc.mean_loss[1:] - exact[1:]) / mc.stderr[1:]
    assert z.max() < 4.5, f"Monte Carlo deviates by {z.max():.1f} standard errors"
    # and the noise is really visible: the loss levels off well above the noiseless value
    noiseless = nqm.expected_loss(model, lr, math.inf, steps)
    assert exact[-1] > noiseless + 10 * mc.stderr[-1]


def test_monte_carlo_mean_follows_m_t() -> None:
    model = NQM.scalar(a=1.0, sigma2=4.0, w0=1.0)
    lr, batch, steps, n_runs = 0.3, 2, 30, 20_000
    mc = nqm.simulate_sgd(model, lr, batch, steps, n_runs=n_runs, seed=7)
    m = nqm.expected_weights(model, lr, steps)[:, 0]
    s = 2.0 * nqm.expected_loss(model, lr, batch, np.arange(steps + 1))  # s_t = 2 E[L] / a
    stderr = np.sqrt(np.maximum(s - m**2, 0.0) / n_runs)
    assert np.all(np.abs(mc.mean_weights[1:, 0] - m[1:]) < 4.5 * stderr[1:])


def _brute_first_step(model: NQM, lrs: np.ndarray, batch: float, target: float, horizon: int):
    hit = nqm.expected_loss(model, lrs[:, None], batch, np.arange(horizon + 1)) <= target
    return np.where(hit.any(axis=1), hit.argmax(axis=1), np.inf)


def test_first_step_below_is_exact() -> None:
    model, horizon = NQM.diagonal(40, noise_scale=30.0), 2500
    lrs = np.array([0.01, 0.05, 0.2, 0.6, 1.0, 1.5, 1.9, 1.99])
    for batch, target in [(4.0, 0.5), (4.0, 2.0), (64.0, 0.1), (1.0, 1.5)]:
        fast = nqm.first_step_below(model, lrs, batch, target, max_steps=horizon)
        np.testing.assert_array_equal(fast, _brute_first_step(model, lrs, batch, target, horizon))


def test_first_step_below_finds_a_transient_dip() -> None:
    # a stiff coordinate decays from w0 = 1 while a noisy flat one rises from 0: E[L_t] dips
    # below the target, then climbs far above it, so a plain bisection on E[L_t] would miss it
    model = NQM(np.array([1.0, 0.01]), np.array([0.0, 50.0]), np.array([1.0, 0.0]))
    lrs, horizon = np.array([0.05, 0.1, 0.3]), 3000
    losses = nqm.expected_loss(model, lrs[:, None], 1.0, np.arange(horizon + 1))
    assert np.all(losses[:2].min(axis=1) < 0.06) and np.all(losses[:, -1] > 0.5)
    for target in (0.3, 0.06, 0.04):
        fast = nqm.first_step_below(model, lrs, 1.0, target, max_steps=horizon)
        brute = _brute_first_step(model, lrs, 1.0, target, horizon)
        np.testing.assert_array_equal(fast, brute)
    assert np.isfinite(nqm.first_step_below(model, lrs[:2], 1.0, 0.06, max_steps=horizon)).all()


def _doubling_ratio(model: NQM, batch: float, steps: int) -> float:
    return nqm.optimal_learning_rate(2 * batch, steps, model=model) / nqm.optimal_learning_rate(
        batch, steps, model=model
    )


def test_optimal_lr_is_a_minimiser(default_model: NQM) -> None:
    lr = nqm.optimal_learning_rate(16.0, 300, model=default_model)
    at = nqm.expected_loss(default_model, np.array([lr / 1.05, lr, lr * 1.05]), 16.0, 300)
    assert at[1] < at[0] and at[1] < at[2]


def test_optimal_lr_grows_linearly_then_saturates(default_model: NQM) -> None:
    for batch in (1.0, 8.0):  # noise-dominated: doubling B roughly doubles the lr
        assert 1.6 < _doubling_ratio(default_model, batch, 300) < 2.4
    assert 0.95 < _doubling_ratio(default_model, 2.0**15, 300) < 1.1  # curvature-dominated
    assert nqm.optimal_learning_rate(2.0**16, 300, model=default_model) < 2.0  # 2 / max h


def test_steps_to_target_scales_then_flattens(default_model: NQM) -> None:
    target = 0.1
    small = [nqm.min_steps_to_target(b, target, model=default_model) for b in (1.0, 2.0)]
    assert 0.45 < small[1].steps / small[0].steps < 0.55  # perfect scaling: steps ~ 1 / B
    assert 1.8 < small[1].learning_rate / small[0].learning_rate < 2.2  # lr ~ B
    large = [nqm.steps_to_target(b, target, model=default_model) for b in (2.0**14, 2.0**15)]
    s_min = nqm.steps_to_target(math.inf, target, model=default_model)
    assert large[1] / large[0] > 0.85  # flat: doubling B barely helps
    assert s_min <= large[1] < 1.6 * s_min
    assert small[0].steps > 1000 * s_min


def test_scalar_model_steps_and_unreachable_target() -> None:
    model = NQM.scalar(a=1.0, sigma2=1.0, w0=1.0)
    assert nqm.steps_to_target(math.inf, 1e-4, model=model) == 1  # lr ~ 1/a: one Newton step
    assert nqm.steps_to_target(1.0, 0.0, model=model) == math.inf  # noise floor > 0
    assert nqm.steps_to_target(8.0, 0.5, model=model) == 0  # already there: E[L_0] = 0.5


def test_divergent_learning_rate_gives_inf_without_warnings() -> None:
    model = NQM.scalar(a=1.0, sigma2=1.0, w0=1.0)
    steps = np.array([0, 1, 10, 100, 1000, 10**6])
    with np.errstate(all="raise"):  # any unguarded overflow or 0 * inf would raise here
        losses = nqm.expected_loss(model, 2.5, 4.0, steps)  # |1 - lr a| = 1.5
        noiseless = nqm.expected_loss(model, 3.0, math.inf, steps)
        at_bound = nqm.expected_loss(model, 2.0, 4.0, steps)  # |1 - lr a| = 1
        diag = nqm.expected_loss(NQM.diagonal(), np.array([1.0, 2.0, 10.0]), 1.0, 10**7)
    for curve in (losses, noiseless):
        assert not np.any(np.isnan(curve))
        assert np.all(np.diff(curve[:-1]) > 0)  # growing ...
        assert curve[3] > 1e30 and curve[-1] == math.inf  # ... until it overflows to inf
    np.testing.assert_allclose(at_bound, 0.5 * (1.0 + steps * 4.0 / 4.0))  # s_t = s_0 + t lr^2/B
    assert np.isfinite(diag[0]) and diag[1] > 1e6 and diag[2] == math.inf
    mc = nqm.simulate_sgd(model, 2.5, 1, 5000, n_runs=10, seed=0)
    assert mc.mean_loss[-1] == math.inf and not np.isnan(mc.mean_loss[:100]).any()


def test_invalid_arguments_raise() -> None:
    model = NQM.scalar()
    with pytest.raises(ValueError, match="batch_size"):
        nqm.expected_loss(model, 0.1, 0.0, 5)
    with pytest.raises(ValueError, match="lr >= 0"):
        nqm.expected_loss(model, -0.1, 1.0, 5)
    with pytest.raises(ValueError, match="same 1-D shape"):
        NQM(np.ones(3), np.ones(2), np.ones(3))
    with pytest.raises(ValueError, match="unknown profile"):
        nqm_key.main(Path("unused"), "huge")


def test_main_smoke_writes_outputs(tmp_path: Path) -> None:
    result = nqm_key.main(tmp_path, "smoke")  # 2.5 s under load (docs/testing.md): not asserted
    for name in (
        "nqm.json",
        "nqm_answer_key.md",
        "nqm_learning_rate.png",
        "nqm_steps_to_target.png",
    ):
        assert (tmp_path / name).stat().st_size > 0, name
    for png in tmp_path.glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    on_disk = json.loads(
        (tmp_path / "nqm.json").read_text(), parse_constant=lambda c: pytest.fail(f"JSON {c}")
    )
    assert on_disk == result
    sweep = result["sweep"]
    sizes, steps = sweep["batch_sizes"], sweep["steps_to_target"]
    assert sizes == sorted(sizes) and len(sizes) >= 5
    assert all(a > b for a, b in zip(steps, steps[1:], strict=False))  # more B, fewer steps
    b_crit = sweep["critical_batch_size"]
    assert sizes[0] < b_crit < sizes[-1]
    at_knee = nqm.steps_to_target(b_crit, sweep["target_loss"], model=NQM.diagonal())
    assert at_knee == pytest.approx(2 * sweep["min_steps"], rel=0.05)  # the definition of B*
    key = (tmp_path / "nqm_answer_key.md").read_text()
    for needle in ("1(a)", "1.1(a)", "1.1(b)", "1.2(a)", "noise dominated", "curvature dominated"):
        assert needle in key
    assert "C, increase the model size" in key and "Point B, at the bend" in key


def test_sweep_result_is_frozen() -> None:
    sweep = nqm_key.sweep_batch_sizes([1.0, 2.0], model=NQM.diagonal(20), target_loss=0.5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        sweep.min_steps = 0.0  # type: ignore[misc]
    assert math.isnan(sweep.critical_batch_size)  # two small batches cannot bracket the knee
    as_json = nqm_key.sweep_to_json(sweep)
    assert as_json["critical_batch_size"] is None and as_json["batch_sizes"] == [1.0, 2.0]
    json.dumps(as_json, allow_nan=False)


def test_module_is_definitions_only_and_never_imports_autograder() -> None:
    tree = ast.parse(NQM_SOURCE.read_text())
    allowed = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef, ast.Assign, ast.If)
    allowed += (ast.AnnAssign, ast.Expr)
    for node in tree.body:
        assert isinstance(node, allowed), ast.dump(node)[:80]
        if isinstance(node, ast.Expr):
            assert isinstance(node.value, ast.Constant)  # the module docstring only
    imported = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not any(name.split(".")[0] == "autograder" for name in imported)
