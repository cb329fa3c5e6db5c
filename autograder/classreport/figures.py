"""The report's figures as PNG bytes, drawn on matplotlib ``Figure`` objects with the Agg canvas.

No pyplot: nothing here touches matplotlib's global figure state, so the report can be built in
any process (a batch worker, a test) without a display and without leaking figures.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Sequence

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from autograder.classreport.analysis import CheckStats, ClassAnalysis, QuestionStats

DPI = 110
"""Pixels per inch of the PNGs (the page scales them to its width)."""
WIDTH = 9.0
"""Figure width in inches."""
PALETTE = ("#3b6ea5", "#e07b39", "#4c9a63", "#b5485d", "#7b5ea7", "#8c6d46", "#c25ea0", "#6b7b8c")
"""One colour per question, in handout order."""
GRADED_COLOUR = "#3b6ea5"
OTHER_COLOUR = "#b9bec5"
LOW_DISCRIMINATION = 0.2
"""Below this a check separates strong and weak submissions poorly (shaded in the scatter)."""


def png_data_uri(png: bytes) -> str:
    """A ``data:`` URI for an ``<img src>``: the page needs no other file and no network."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def score_histogram(analysis: ClassAnalysis) -> bytes:
    """Totals of graded submissions, with the not-graded ones stacked in grey."""
    figure, axes = _figure(2.9)
    top = max(analysis.max_total, max((r.total for r in analysis.records), default=0.0), 1.0)
    step = 1.0 if top <= 40 else top / 20
    edges = [i * step for i in range(math.ceil(top / step) + 1)]
    edges[-1] = max(edges[-1], top) + 1e-9
    graded = analysis.totals()
    others = [r.total for r in analysis.not_graded]
    axes.hist(
        [graded, others],
        bins=edges,
        stacked=True,
        color=[GRADED_COLOUR, OTHER_COLOUR],
        edgecolor="white",
        label=[f"graded ({len(graded)})", f"not graded ({len(others)})"],
    )
    mean, median = analysis.mean_total(), analysis.median_total()
    if mean is not None and median is not None:
        axes.axvline(mean, color="#222", linestyle="--", linewidth=1, label=f"mean {mean:.2f}")
        axes.axvline(median, color="#222", linestyle=":", linewidth=1, label=f"median {median:.2f}")
    axes.set_xlim(0, edges[-1])
    axes.set_xlabel(f"total points (of {analysis.max_total:g})")
    axes.set_ylabel("students")
    axes.yaxis.get_major_locator().set_params(integer=True)
    _legend(figure, 4)
    return _png(figure)


def question_rates(questions: Sequence[QuestionStats]) -> bytes:
    """Per question: the share with full marks and the mean share of points."""
    figure, axes = _figure(2.6)
    positions = range(len(questions))
    full = [_percent(q.full_marks_rate) for q in questions]
    mean = [
        _percent(q.mean_score / q.max_score if q.max_score and q.mean_score is not None else None)
        for q in questions
    ]
    axes.bar([p - 0.2 for p in positions], full, width=0.4, color=PALETTE[0], label="full marks")
    axes.bar([p + 0.2 for p in positions], mean, width=0.4, color=PALETTE[1], label="mean points")
    axes.set_xticks(list(positions), [q.question for q in questions])
    axes.set_ylim(0, 105)
    axes.set_ylabel("% of graded submissions")
    _legend(figure, 2)
    return _png(figure)


def check_pass_rates(checks: Sequence[CheckStats]) -> bytes:
    """One horizontal bar per check, coloured by question, first check at the top."""
    figure, axes = _figure(max(2.0, 0.24 * len(checks) + 0.8))
    colours = _question_colours(checks)
    rows = list(range(len(checks)))[::-1]
    rates = [_percent(c.pass_rate) for c in checks]
    axes.barh(rows, rates, color=[colours[c.question] for c in checks], height=0.7)
    for row, rate in zip(rows, rates, strict=True):
        axes.text(rate + 1, row, f"{rate:.0f}%", va="center", fontsize=7, color="#333")
    axes.set_yticks(rows, [c.check_id for c in checks], fontsize=7)
    axes.set_xlim(0, 108)
    axes.set_xlabel("pass rate (% of graded submissions)")
    return _png(figure)


def difficulty_discrimination(checks: Sequence[CheckStats]) -> bytes:
    """Pass rate against discrimination, one labelled point per check."""
    figure, axes = _figure(4.0)
    colours = _question_colours(checks)
    axes.axhspan(-1.05, LOW_DISCRIMINATION, color="#f4e3e3", zorder=0)
    axes.axhline(0, color="#999", linewidth=0.8)
    for check in checks:
        if check.pass_rate is None or check.discrimination is None:
            continue
        x, y = 100 * check.pass_rate, check.discrimination
        axes.scatter([x], [y], color=colours[check.question], s=28, zorder=3)
        axes.annotate(
            check.check_id, (x, y), xytext=(4, 3), textcoords="offset points", fontsize=6.5
        )
    for question, colour in colours.items():
        axes.scatter([], [], color=colour, s=28, label=question)
    axes.set_xlim(-2, 108)
    axes.set_ylim(-1.05, 1.05)
    axes.set_xlabel("pass rate (%)  (low = hard)")
    axes.set_ylabel("discrimination (point-biserial r)")
    axes.text(
        1, LOW_DISCRIMINATION - 0.05, "weak discrimination", fontsize=7, color="#a33", va="top"
    )
    _legend(figure, len(colours))
    return _png(figure)


def _figure(height: float) -> tuple[Figure, object]:
    figure = Figure(figsize=(WIDTH, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.spines[["top", "right"]].set_visible(False)
    axes.grid(axis="both", color="#e6e6e6", linewidth=0.6)
    axes.set_axisbelow(True)
    return figure, axes


def _legend(figure: Figure, columns: int) -> None:
    """One row of legend entries above the axes (never over the data)."""
    if columns:
        figure.legend(loc="outside upper center", ncol=columns, frameon=False, fontsize=8)


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, facecolor="white")
    return buffer.getvalue()


def _percent(rate: float | None) -> float:
    return 0.0 if rate is None else 100.0 * rate


def _question_colours(checks: Sequence[CheckStats]) -> dict[str, str]:
    questions = list(dict.fromkeys(c.question for c in checks))
    return {q: PALETTE[i % len(PALETTE)] for i, q in enumerate(questions)}
