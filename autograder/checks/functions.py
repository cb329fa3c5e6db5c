"""Checks of 2.3.5 calc_parameters_decoder and the 2.4.2 IsoFLOP fits."""

from __future__ import annotations

import numpy as np

from autograder.checks.base import CheckContext, check


@check(
    "2.3.5",
    "count",
    "calc_parameters_decoder: equals the model's parameter count",
    cases=["parameters"],
)
def parameter_count(ctx: CheckContext) -> str:
    out = ctx.probe("parameters")
    expected = ctx.goldens.meta["parameters"]
    wrong = []
    for item, count, error in zip(expected, out.data["counts"], out.data["errors"], strict=True):
        v, h, layers, heads = item["config"]
        config = f"vocab {v}, hidden {h}, layers {layers}, heads {heads}"
        if error is not None:
            wrong.append(f"- {config}: raised `{error}`")
        elif count != item["count"]:
            wrong.append(f"- {config}: returned {count:g}, the model has {item['count']}")
    if wrong:
        ctx.fail(f"{len(wrong)} of {len(expected)} configurations are wrong:\n" + "\n".join(wrong))
    return f"all {len(expected)} configurations match"


@check(
    "2.4.2",
    "optimal-params",
    "find_optimal_params: parabola fit and its vertex",
    cases=["find_optimal_params"],
)
def optimal_params(ctx: CheckContext) -> None:
    out = ctx.probe("find_optimal_params")
    golden, meta = ctx.golden("scaling"), ctx.goldens.meta["scaling"]
    ctx.expect_close(out.arrays["p"], golden["p"], what="p (np.polyfit order, log10 params)")
    n_opt = out.data["n_opt"]
    ctx.expect(
        bool(np.isclose(n_opt, meta["n_opt"], rtol=1e-4)),
        f"n_opt = {n_opt:.4g}; the parabola's vertex is at {meta['n_opt']:.4g} parameters",
    )


@check(
    "2.4.2", "fit-linear-log", "fit_linear_log: line in log10-log10 space", cases=["fit_linear_log"]
)
def linear_log(ctx: CheckContext) -> None:
    out = ctx.probe("fit_linear_log")
    meta = ctx.goldens.meta["scaling"]
    m, c = out.data["m"], out.data["c"]
    ctx.expect(
        bool(
            np.isclose(m, meta["m"], rtol=1e-5, atol=1e-8)
            and np.isclose(c, meta["c"], rtol=1e-5, atol=1e-8)
        ),
        f"(m, c) = ({m:.5g}, {c:.5g}); expected ({meta['m']:.5g}, {meta['c']:.5g}) from "
        "a least-squares line of log10 y on log10 x",
    )
