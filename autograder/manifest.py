"""The autograded questions: one home for what each one is.

Everything that needs a question's number, title, graded definitions or stub text derives it
from ``QUESTIONS``: the notebook builder (the stubs of the solution regions), the probe cases
(``autograder.cases``), the checks (``autograder.checks``), the rubric, the reports' titles and
the example wrong submissions. ``tests/test_manifest.py`` walks it: every question has a
reference region, a stub, goldens, a check, rubric lines and an example wrong submission. See
"Adding a question" in docs/grading.md.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Stub:
    """What the student notebook shows in place of one solution region."""

    region: str
    """The region's owner in ``reference/``: ``Class.method`` or ``function``."""
    todo: str
    """One line saying what to write (after ``# TODO (question N):``)."""
    message: str
    """Text of the stub's ``NotImplementedError``; names the definition and the question."""


@dataclass(frozen=True)
class Question:
    """One autograded question of the handout."""

    number: str
    """Handout number, "section.question": ``"2.3.4"``."""
    title: str
    """Short title for reports: the definitions it grades."""
    definitions: tuple[str, ...]
    """Top-level names of the notebook the question grades (classes or functions)."""
    stubs: tuple[Stub, ...]
    """The solution regions the student writes for it, each with its stub."""
    depends: tuple[str, ...] = ()
    """Questions whose definitions this one builds on (2.3.1 builds its layers from 2.2.2's
    ``CausalScaledDotAttention``): when one of them fails its checks, this question is probed
    with a stand-in for it instead (``autograder.child.probes.standins``)."""


QUESTIONS: tuple[Question, ...] = (
    Question(
        "2.2.1",
        "ScaledDotAttention",
        ("ScaledDotAttention",),
        (
            Stub(
                "ScaledDotAttention.forward",
                "q, k, v projections; softmax(q k^T / sqrt(H)) over keys; weighted v",
                "ScaledDotAttention.forward: question 2.2.1",
            ),
        ),
    ),
    Question(
        "2.2.2",
        "CausalScaledDotAttention",
        ("CausalScaledDotAttention",),
        (
            Stub(
                "CausalScaledDotAttention.forward",
                "as ScaledDotAttention, with the scores of keys j > i set to -inf",
                "CausalScaledDotAttention.forward: question 2.2.2",
            ),
        ),
    ),
    Question(
        "2.3.1",
        "DecoderOnlyTransformer.forward",
        ("DecoderOnlyTransformer",),
        (
            Stub(
                "DecoderOnlyTransformer.forward",
                "embedding + positions; per layer attention, MLP (+ residuals); out",
                "DecoderOnlyTransformer.forward: question 2.3.1",
            ),
        ),
        depends=("2.2.2",),
    ),
    Question(
        "2.3.2",
        "decoder_generate",
        ("decoder_generate",),
        (
            Stub(
                "decoder_generate",
                "tokens = the indices of <SOS> input_string <EOP>, as a list",
                "decoder_generate: the prompt line, question 2.3.2",
            ),
        ),
    ),
    Question(
        "2.3.4",
        "MultiHeadCausalScaledDotAttention",
        ("MultiHeadCausalScaledDotAttention",),
        (
            Stub(
                "MultiHeadCausalScaledDotAttention.__init__",
                "self.W_O, mapping the concatenated heads (h * H) back to H",
                "MultiHeadCausalScaledDotAttention: W^O, question 2.3.4",
            ),
            Stub(
                "MultiHeadCausalScaledDotAttention.forward",
                "run the heads, concatenate their contexts, apply W^O; stack weights",
                "MultiHeadCausalScaledDotAttention.forward: question 2.3.4",
            ),
        ),
        depends=("2.2.2",),
    ),
    Question(
        "2.3.5",
        "calc_parameters_decoder",
        ("calc_parameters_decoder",),
        (
            Stub(
                "calc_parameters_decoder",
                "count the parameters of DecoderOnlyTransformer(V, H, layers, heads)",
                "calc_parameters_decoder: question 2.3.5",
            ),
        ),
    ),
    Question(
        "2.4.2",
        "find_optimal_params and fit_linear_log",
        ("find_optimal_params", "fit_linear_log"),
        (
            Stub(
                "find_optimal_params",
                "p = quadratic fit of losses on log10(params); n_opt = its vertex",
                "find_optimal_params: question 2.4.2",
            ),
            Stub(
                "fit_linear_log",
                "(m, c) of the least-squares line log10(y) = m log10(x) + c",
                "fit_linear_log: question 2.4.2",
            ),
        ),
    ),
)

BY_NUMBER: dict[str, Question] = {q.number: q for q in QUESTIONS}
"""The questions by number."""


def question(number: str) -> Question:
    """The question ``number``; a KeyError that lists the known numbers otherwise."""
    try:
        return BY_NUMBER[number]
    except KeyError:
        known = ", ".join(BY_NUMBER)
        raise KeyError(f"no autograded question {number!r}; the questions are {known}") from None


def question_sort_key(number: str) -> tuple[int, ...]:
    """Sort "2.3.10" after "2.3.9"."""
    return tuple(int(part) for part in number.split(".") if part.isdigit())


def stubs_by_region() -> dict[str, tuple[str, Stub]]:
    """Every stub by its region's owner, with its question's number."""
    return {stub.region: (q.number, stub) for q in QUESTIONS for stub in q.stubs}
