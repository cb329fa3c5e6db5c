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
    """Each count must equal the reference model's size, or the size of the student's own
    model (whose W^O may have no bias); the failure message does not give the answer."""
    out = ctx.probe("parameters")
    expected = ctx.facts("parameters")["counts"]
    wrong, own_model = [], 0
    rows = zip(expected, out.data["counts"], out.data["errors"], out.data["own_model"], strict=True)
    for item, count, error, own in rows:
        v, h, layers, heads = item["config"]
        config = f"vocab {v}, hidden {h}, layers {layers}, heads {heads}"
        if error is not None:
            wrong.append(f"- {config}: raised `{error}`")
        elif count == item["count"]:
            continue
        elif own is not None and count == own:
            own_model += 1
        else:
            wrong.append(f"- {config}: returned {count:g}, which is not the model's size")
    if wrong:
        ctx.fail(f"{len(wrong)} of {len(expected)} configurations are wrong:\n" + "\n".join(wrong))
    if own_model:
        return (
            f"all {len(expected)} configurations match ({own_model} match your own model, "
            "whose layers differ from the reference's, e.g. a W^O without bias)"
        )
    return f"all {len(expected)} configurations match"


@check(
    "2.4.2",
    "optimal-params",
    "find_optimal_params: parabola fit and its vertex",
    cases=["find_optimal_params"],
)
def optimal_params(ctx: CheckContext) -> None:
    out = ctx.probe("find_optimal_params")
    golden, facts = ctx.expected("find_optimal_params"), ctx.facts("find_optimal_params")
    ctx.expect_close(out.arrays["p"], golden["p"], what="p (np.polyfit order, log10 params)")
    n_opt = out.data["n_opt"]
    ctx.expect(
        bool(np.isclose(n_opt, facts["n_opt"], rtol=1e-4)),
        f"n_opt = {n_opt:.4g} is not the vertex of your fitted parabola (in parameters, "
        "not log10 parameters)",
    )


@check(
    "2.4.2", "fit-linear-log", "fit_linear_log: line in log10-log10 space", cases=["fit_linear_log"]
)
def linear_log(ctx: CheckContext) -> None:
    out = ctx.probe("fit_linear_log")
    facts = ctx.facts("fit_linear_log")
    m, c = out.data["m"], out.data["c"]
    ctx.expect(
        bool(
            np.isclose(m, facts["m"], rtol=1e-5, atol=1e-8)
            and np.isclose(c, facts["c"], rtol=1e-5, atol=1e-8)
        ),
        f"(m, c) = ({m:.5g}, {c:.5g}) is not the least-squares line of log10 y on log10 x "
        "for the data given",
    )
