"""Checks of 2.3.5 calc_parameters_decoder and the 2.4.2 IsoFLOP fits."""

from __future__ import annotations

import numpy as np

from autograder.checks.base import CheckContext, check
from autograder.markdown import inert


@check(
    "2.3.5",
    "count",
    "calc_parameters_decoder: equals the model's parameter count",
    cases=["parameters"],
)
def parameter_count(ctx: CheckContext) -> str:
    """Each count must be the model's size: the reference's, or the size of the same model with
    a W^O without bias (the handout's W^O has none). Both are decided from the sizes alone,
    never from what the student's code says about its own model; the failure message does not
    give the answer."""
    out = ctx.probe("parameters")
    expected = ctx.facts("parameters")["counts"]
    wrong, bias_free = [], 0
    rows = zip(expected, out.data["counts"], out.data["errors"], strict=True)
    for item, count, error in rows:
        v, h, layers, heads = item["config"]
        config = f"vocab {v}, hidden {h}, layers {layers}, heads {heads}"
        if error is not None:
            wrong.append(f"- {config}: raised {inert(error)}")
        elif count == item["count"]:
            continue
        elif count == item["count_without_wo_bias"]:
            bias_free += 1
        else:
            wrong.append(f"- {config}: returned {inert(count)}, which is not the model's size")
    if wrong:
        ctx.fail(f"{len(wrong)} of {len(expected)} configurations are wrong:\n" + "\n".join(wrong))
    if bias_free:
        return (
            f"all {len(expected)} configurations match ({bias_free} as the model with a W^O "
            "without bias)"
        )
    return f"all {len(expected)} configurations match"


LN10 = float(np.log(10.0))


@check(
    "2.4.2",
    "fit",
    "find_optimal_params: p, the quadratic fit of loss against log10 parameters",
    cases=["find_optimal_params"],
)
def optimal_params_fit(ctx: CheckContext) -> None:
    """The coefficients of the fitted parabola (np.polyfit order, x = log10 N); a fit in ln N is
    named as such."""
    out = ctx.probe("find_optimal_params")
    expected = ctx.expected("find_optimal_params")["p"]
    p = out.arrays["p"]
    in_ln = expected / np.array([LN10**2, LN10, 1.0])
    if p.shape == expected.shape and np.allclose(p, in_ln, rtol=1e-4, atol=1e-8):
        ctx.fail(
            "p is a parabola in ln N (natural log), but the plotting code and the question "
            "expect it in log10 N"
        )
    ctx.expect_close(p, expected, what="p (np.polyfit order, x = log10 params)")


@check(
    "2.4.2",
    "n-opt",
    "find_optimal_params: n_opt, the parameter count at the parabola's minimum",
    cases=["find_optimal_params"],
)
def optimal_params_vertex(ctx: CheckContext) -> str | None:
    """The vertex of the fitted parabola, in parameters; a value read off a fine grid over the
    parabola (within 1% of the exact vertex) is as good."""
    out = ctx.probe("find_optimal_params")
    n_opt, exact = out.data["n_opt"], ctx.facts("find_optimal_params")["n_opt"]
    ctx.expect(
        bool(np.isfinite(n_opt)),
        f"n_opt = {inert(n_opt)} is not a number of parameters",
    )
    ctx.expect(
        bool(np.isclose(n_opt, exact, rtol=1e-2)),
        f"n_opt = {n_opt:.4g} is not where the parabola fitted to these losses is lowest: it "
        "should be that minimum, as a number of parameters (not its log10), and it usually "
        "lies between the trained sizes",
    )
    if not np.isclose(n_opt, exact, rtol=1e-6):
        return "passed (your n_opt is within 1% of the parabola's exact minimum)"
    return None


def _line(ctx: CheckContext, name: str, what: str) -> None:
    out = ctx.probe("fit_linear_log")
    value, expected = out.data[name], ctx.facts("fit_linear_log")[name]
    ctx.expect(
        bool(np.isclose(value, expected, rtol=1e-5, atol=1e-8)),
        f"{name} = {value:.5g} is not the {what} of the least-squares line of log10 y on "
        "log10 x for the data given",
    )


@check(
    "2.4.2", "slope", "fit_linear_log: m, the slope in log10-log10 space", cases=["fit_linear_log"]
)
def linear_log_slope(ctx: CheckContext) -> None:
    _line(ctx, "m", "slope")


@check(
    "2.4.2",
    "intercept",
    "fit_linear_log: c, the intercept in log10-log10 space",
    cases=["fit_linear_log"],
)
def linear_log_intercept(ctx: CheckContext) -> None:
    _line(ctx, "c", "intercept")
