"""Probe cases: for each, what the child is asked and what the reference answers.

A case is one probe call. Its ``build`` function, given a random generator and an implementation
(the reference as a namespace, or a known-bug mutant of it; see ``reference.mutants``), returns
a ``CaseData`` in which the four parts are kept apart:

- ``kwargs`` and ``inputs``: what the child receives (JSON arguments and arrays);
- ``expected`` and ``facts``: the reference's answers (arrays and JSON), which stay in the
  parent.

So a case's golden and its probe call stand side by side, under one id. Cases are registered by
topic (``attention``, ``decoder``, ``functions``, ``training``) with ``@case``;
``python grade.py goldens`` runs every one and stores the results (``autograder.goldens``).
Building a case imports torch and the reference; nothing on the grading path does.
"""

from __future__ import annotations

import importlib
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from autograder.manifest import BY_NUMBER

SEED = 2025
"""The seed every case's random generator derives from."""


@dataclass(frozen=True)
class CaseData:
    """What one case sends to the child and what the reference answers."""

    kwargs: dict[str, Any]
    """JSON arguments of the probe call (sent to the child)."""
    inputs: dict[str, np.ndarray]
    """Arrays of the probe call (sent to the child): inputs and the weights to load."""
    expected: dict[str, np.ndarray] = field(default_factory=dict)
    """The reference's output arrays (never sent)."""
    facts: dict[str, Any] = field(default_factory=dict)
    """The reference's JSON answers and what checks need to know about the inputs (never
    sent)."""


@dataclass(frozen=True)
class Case:
    """One probe call and how to compute its golden."""

    id: str
    """Unique name, used by checks (``ctx.probe("sdpa_3d")``) and as the golden's file name."""
    question: str
    """The question it belongs to (a number of ``autograder.manifest``)."""
    probe: str
    """The child-side probe it calls (``autograder/child/probes``)."""
    build: Callable[[np.random.Generator, Any], CaseData]
    """``build(rng, impl)``: the call and the answers of ``impl`` to it."""

    def rng(self) -> np.random.Generator:
        """The case's own generator: the same inputs whatever other cases exist (a stand-in
        variant shares its case's)."""
        base = self.id.removesuffix(STANDIN)
        return np.random.default_rng([SEED, zlib.crc32(base.encode())])

    def run(self, impl: Any) -> CaseData:
        """Build the case against ``impl`` (the reference namespace or a mutant of it)."""
        return self.build(self.rng(), impl)


CASES: dict[str, Case] = {}
"""Every registered case, by id, in registration (question) order."""


STANDIN = ".standin"
"""Suffix of the id of a case's stand-in variant."""


def standin_id(case_id: str) -> str:
    """The id of the variant of ``case_id`` probed with stand-ins for the question's
    dependencies (``autograder.manifest.Question.depends``)."""
    return case_id + STANDIN


def case(case_id: str, question: str, *, probe: str, standin: bool = False):
    """Register the decorated ``build(rng, impl) -> CaseData`` as a case. With ``standin``,
    also register its variant ``<id>.standin``: the same call with ``standin=True`` in its
    kwargs, which the probe answers with stand-ins for the question's dependencies."""
    if question not in BY_NUMBER:
        raise ValueError(f"case {case_id}: {question} is not a question of the manifest")
    if standin and not BY_NUMBER[question].depends:
        raise ValueError(f"case {case_id}: question {question} depends on no other question")

    def register(build: Callable[[np.random.Generator, Any], CaseData]):
        variants = {case_id: build}
        if standin:
            variants[standin_id(case_id)] = _with_standin(build)
        for variant, function in variants.items():
            if variant in CASES:
                raise ValueError(f"duplicate case id {variant}")
            CASES[variant] = Case(variant, question, probe, function)
        return build

    return register


def _with_standin(build: Callable[[np.random.Generator, Any], CaseData]):
    def build_standin(rng: np.random.Generator, impl: Any) -> CaseData:
        data = build(rng, impl)
        return CaseData({**data.kwargs, "standin": True}, data.inputs, data.expected, data.facts)

    return build_standin


def seed_torch(rng: np.random.Generator) -> None:
    """Seed torch from the case's generator (for the weights of the modules it builds)."""
    import torch

    torch.manual_seed(int(rng.integers(2**31)))


def state_of(module) -> dict[str, np.ndarray]:
    """A module's weights as ``state.<name>`` input arrays."""
    return {f"state.{k}": v.detach().numpy().copy() for k, v in module.state_dict().items()}


TOPICS = ("attention", "decoder", "functions", "training")
"""The topic modules, in the goldens' order."""


def load_all() -> dict[str, Case]:
    """Import every topic module (registering its cases) and return the cases, topic by topic
    in ``TOPICS`` order (whichever was imported first), each in its registration order."""
    for topic in TOPICS:
        importlib.import_module(f"autograder.cases.{topic}")
    rank = {f"autograder.cases.{topic}": n for n, topic in enumerate(TOPICS)}

    def topic_of(item: tuple[str, Case]) -> int:
        return rank[CASES[item[0].removesuffix(STANDIN)].build.__module__]

    return dict(sorted(CASES.items(), key=topic_of))
