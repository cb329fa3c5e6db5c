"""Tests of reference/scaling.py: IsoFLOP profiles and compute-optimal power laws (section 2.4)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from reference.scaling import (
    DEFAULT_TARGETS,
    analyse_isoflops,
    estimate_params,
    estimate_tokens,
    find_optimal_params,
    fit_linear_log,
    loss_at_flops,
    save_compute_optimal_params,
    save_compute_optimal_tokens,
    save_isoflop_profiles,
)

# Chinchilla's fitted loss (Hoffmann et al. 2022, eq. 10): L(N, D) = E + A / N^alpha + B / D^beta.
E, A, B, ALPHA, BETA = 1.69, 406.4, 410.7, 0.34, 0.28
# Minimising L(N, C / 6N) over N gives N_opt(C) = G (C / 6)^a (Hoffmann et al. 2022, eq. 4).
EXPONENT = BETA / (ALPHA + BETA)
G = (ALPHA * A / (BETA * B)) ** (1 / (ALPHA + BETA))
HIDDEN_SIZES = (16, 24, 32, 48, 64, 96, 128)


def chinchilla_n_opt(flops: float) -> float:
    return G * (flops / 6) ** EXPONENT


def chinchilla_runs() -> list[dict]:
    """Seven models from 1e4 to 1e6 parameters, 400 epochs of 2e4 tokens each, C = 6 N D.

    The largest model's first epoch already costs 1.2e11 FLOPs and the smallest model stops at
    4.8e11, so the 0.08 and 1.28 TFLOP budgets are each reached by fewer than seven models.
    """
    tokens = 2e4 * np.arange(1, 401)
    runs = []
    for hidden, n in zip(HIDDEN_SIZES, np.geomspace(1e4, 1e6, 7), strict=True):
        n = int(round(n))
        runs.append(
            {
                "hidden_size": hidden,
                "params": n,
                "flops": (6 * n * tokens).tolist(),
                "tokens": tokens.tolist(),
                "val_loss": (E + A / n**ALPHA + B / tokens**BETA).tolist(),
            }
        )
    return runs


@pytest.fixture(scope="module")
def runs() -> list[dict]:
    return chinchilla_runs()


@pytest.fixture(scope="module")
def analysis(runs):
    return analyse_isoflops(runs)


# --------------------------------------------------------------------------- find_optimal_params


def test_find_optimal_params_exact_parabola_in_polyfit_order():
    x = np.linspace(4, 6, 7)
    losses = 2.0 * (x - 4.7) ** 2 + 3.0  # = 2 x^2 - 18.8 x + 47.18
    p, n_opt = find_optimal_params(10**x, losses)
    np.testing.assert_allclose(p, [2.0, -18.8, 2.0 * 4.7**2 + 3.0], rtol=1e-9)
    assert n_opt == pytest.approx(10**4.7, rel=1e-9)


def test_find_optimal_params_noisy_parabola():
    # Loss noise sd 0.01 on a curvature of 0.5 per dex^2: over 2000 seeds the fitted vertex has
    # sd 0.0064 dex and never strays more than 0.024 dex, so 0.03 dex is ~5 sd.
    x = np.linspace(4, 6, 9)
    noise = np.random.default_rng(0).normal(0, 0.01, x.size)
    p, n_opt = find_optimal_params(10**x, 0.5 * (x - 4.8) ** 2 + 3.0 + noise)
    assert p[0] == pytest.approx(0.5, abs=0.05)
    assert math.log10(n_opt) == pytest.approx(4.8, abs=0.03)


# --------------------------------------------------------------------------- fit_linear_log


def test_fit_linear_log_exact_power_law():
    x = np.geomspace(1e10, 1e13, 6)
    m, c = fit_linear_log(x, 10**-1.5 * x**0.5)
    assert m == pytest.approx(0.5, abs=1e-10)
    assert c == pytest.approx(-1.5, abs=1e-8)


def test_fit_linear_log_noisy_power_law():
    # Log-normal noise of 0.02 dex on 20 points over three decades: over 2000 seeds the slope has
    # sd 0.0048 and the intercept (at log10 x = 0, far from the data) sd 0.055; tolerances ~5 sd.
    x = np.geomspace(1e10, 1e13, 20)
    noise = np.random.default_rng(1).normal(0, 0.02, x.size)
    m, c = fit_linear_log(x, 10**-1.5 * x**0.5 * 10**noise)
    assert m == pytest.approx(0.5, abs=0.025)
    assert c == pytest.approx(-1.5, abs=0.3)


# --------------------------------------------------------------------------- loss_at_flops


def test_loss_at_flops_is_exact_on_piecewise_linear_in_log_curve():
    flops = [1e9, 1e10, 1e11]
    losses = [5.0, 4.0, 2.0]
    targets = [1e9, 10**9.5, 1e10, 10**10.25, 1e11]
    np.testing.assert_allclose(
        loss_at_flops(flops, losses, targets), [5.0, 4.5, 4.0, 3.5, 2.0], rtol=1e-12
    )


def test_loss_at_flops_is_nan_outside_the_curve():
    out = loss_at_flops([1e9, 1e10], [5.0, 4.0], [9.99e8, 5e9, 1.01e10])
    assert math.isnan(out[0]) and math.isnan(out[2])
    assert out[1] == pytest.approx(5.0 - math.log10(5))


@pytest.mark.parametrize(
    ("flops", "losses", "targets", "match"),
    [
        ([1e9, 1e10], [5.0], [1e9], "equal length"),
        ([1e10, 1e9], [5.0, 4.0], [1e9], "strictly increasing"),
        ([0.0, 1e9], [5.0, 4.0], [1e9], "positive"),
        ([1e9, 1e10], [5.0, float("nan")], [1e9], "finite"),
        ([1e9, 1e10], [5.0, 4.0], [-1.0], "targets"),
    ],
)
def test_loss_at_flops_rejects_bad_input(flops, losses, targets, match):
    with pytest.raises(ValueError, match=match):
        loss_at_flops(flops, losses, targets)


# --------------------------------------------------------------------------- analyse_isoflops


def test_analyse_isoflops_recovers_chinchilla_exponents(analysis):
    # A parabola in log10 N is only the second-order expansion of the IsoFLOP profile, which is
    # skewed when alpha != beta; with models two decades apart the vertex lands 2-4 % (<= 0.02 dex)
    # above the true optimum at every budget. The bias varies by < 0.02 dex across 1.2 decades of
    # budget, bounding the exponent error by ~0.02 (measured: 3e-4). A sign or base error in the
    # vertex, or a fit against params instead of log10(params), is off by far more.
    assert analysis.skipped == ()
    assert [len(prof.params) for prof in analysis.profiles] == [6, 7, 7, 6, 5]
    np.testing.assert_allclose(
        np.log10(analysis.n_opts), np.log10(chinchilla_n_opt(analysis.flops)), atol=0.02
    )
    assert analysis.params_fit[0] == pytest.approx(EXPONENT, abs=0.02)
    # D_opt = C / (6 N_opt) gives the complementary exponent.
    assert analysis.tokens_fit[0] == pytest.approx(1 - EXPONENT, abs=0.02)
    assert analysis.params_fit[0] + analysis.tokens_fit[0] == pytest.approx(1.0, abs=1e-9)


def test_estimates_at_1e15_match_the_analytic_optimum(analysis):
    # Extrapolating three decades beyond the data; the measured error is 2 %.
    n_true = chinchilla_n_opt(1e15)
    assert 3e6 < n_true < 4e6
    assert estimate_params(analysis) == pytest.approx(n_true, rel=0.2)
    assert estimate_tokens(analysis) == pytest.approx(1e15 / (6 * n_true), rel=0.2)
    assert estimate_params(analysis, budget=1e12) == pytest.approx(chinchilla_n_opt(1e12), rel=0.1)


def test_analyse_isoflops_skips_budgets_reached_by_fewer_than_three_models(runs):
    # The two largest models stop at 2.2e13 and 4.8e13 FLOPs, so only they reach 2e13.
    result = analyse_isoflops(runs, targets=(*DEFAULT_TARGETS, 2e13))
    assert [t for t, _ in result.skipped] == [2e13]
    assert "2 model" in result.skipped[0][1]
    assert tuple(prof.target for prof in result.profiles) == DEFAULT_TARGETS
    assert result.targets == (*DEFAULT_TARGETS, 2e13)


def test_analyse_isoflops_profile_contents(runs, analysis):
    prof = analysis.profiles[0]  # 8e10: the 1e6-parameter model starts at 1.2e11 FLOPs
    assert prof.target == 8e10
    assert prof.hidden_sizes == HIDDEN_SIZES[:6]
    assert prof.params == tuple(r["params"] for r in runs[:6])
    expected = [loss_at_flops(r["flops"], r["val_loss"], [8e10])[0] for r in runs[:6]]
    np.testing.assert_allclose(prof.losses, expected)
    assert prof.d_opt == pytest.approx(8e10 / (6 * prof.n_opt))


def test_analyse_isoflops_rejects_malformed_runs(runs):
    broken = dict(runs[0])
    del broken["tokens"]
    with pytest.raises(ValueError, match="lacks keys"):
        analyse_isoflops([broken, *runs[1:]])
    short = {**runs[0], "val_loss": runs[0]["val_loss"][:-1]}
    with pytest.raises(ValueError, match="one entry per epoch"):
        analyse_isoflops([short, *runs[1:]])
    with pytest.raises(ValueError, match="power law needs 2"):
        analyse_isoflops(runs, targets=(8e10,))


def test_to_json_is_plain_and_maps_nan_to_none(analysis):
    data = analysis.to_json()
    assert json.loads(json.dumps(data, allow_nan=False)) == data
    assert data["params_fit"]["m"] == pytest.approx(analysis.params_fit[0])
    assert len(data["profiles"]) == 5
    nan_profile = type(analysis.profiles[0])(
        target=1.0, hidden_sizes=(1,), params=(1,), losses=(float("nan"),), p=(1, 0, 0), n_opt=1
    )
    weird = type(analysis)(
        targets=(1.0,),
        profiles=(nan_profile,),
        skipped=(),
        params_fit=(float("nan"), 0.0),
        tokens_fit=(0.0, 0.0),
    )
    out = weird.to_json()
    assert out["params_fit"]["m"] is None and out["profiles"][0]["losses"] == [None]


# --------------------------------------------------------------------------- plots


def test_plots_write_png_files(tmp_path, runs, analysis):
    paths = [
        save_isoflop_profiles(runs, analysis, tmp_path / "isoflop.png"),
        save_compute_optimal_params(analysis, tmp_path / "params.png"),
        save_compute_optimal_tokens(analysis, tmp_path / "tokens.png"),
    ]
    for path in paths:
        assert path.parent == tmp_path
        data = path.read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 10_000
