"""Every promise of the grader has a test that fails when it breaks (issue 14).

Each test's docstring names the mutation of the grader that proved it: the one-line change was
made in a private copy of the tree, the test failed there, and the copy was thrown away.
``docs/testing.md`` lists every promise, its test and its mutation. The reference's own
correctness (goldens recomputed independently) is in ``tests/test_goldens_independent.py``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import types
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import jsonschema
import nbformat
import numpy as np
import pytest
import torch

from autograder import engine, report
from autograder.checks import REGISTRY
from autograder.config import GraderConfig
from autograder.engine import grade_submission
from autograder.extract import extract_submission
from autograder.goldens import Goldens, load_goldens
from autograder.probe_plan import probe_calls
from autograder.rubric import DEFAULT_RUBRIC, load_rubric
from autograder.sandbox import SandboxError, session
from autograder.training_data import official_bytes
from tests.inprocess import judge_in_process, probe_results, solution_source

ROOT = Path(__file__).resolve().parents[1]
SOLUTION = ROOT / "fixtures" / "submissions" / "solution.ipynb"
SCHEMA = json.loads((ROOT / "autograder" / "results.schema.json").read_text())


def _with_cell(tmp_path: Path, name: str, code: str) -> Path:
    """The solution notebook with one more code cell at the end."""
    notebook = nbformat.read(SOLUTION, 4)
    notebook.cells.append(nbformat.v4.new_code_cell(code))
    path = tmp_path / f"{name}.ipynb"
    nbformat.write(notebook, path)
    return path


def _change(source: str, anchor: str, old: str, new: str) -> str:
    """``source`` with the first ``old`` after ``anchor`` replaced by ``new`` (both must exist)."""
    at = source.index(old, source.index(anchor))
    return source[:at] + new + source[at + len(old) :]


def _failing(source: str) -> set[str]:
    """The ids of the checks a submission source fails (probes run in this process)."""
    return {check_id for check_id, r in judge_in_process(source).items() if not r.passed}


# --- student code never runs in the grading parent ------------------------------------------

WITNESS = '''
import os


class LoadWitness:
    """A class body runs when the module loads: it records which process loaded it."""

    pid = os.getpid()
    try:
        open(f"loaded-by-{{pid}}", "w").write(str(pid))
    except OSError:
        pass
    try:
        open(os.path.join({folder!r}, f"loaded-by-{{pid}}"), "w").write(str(pid))
    except OSError:
        pass


def fit_linear_log(x, y):
    import numpy as np

    print(f"loaded-by={{LoadWitness.pid}}")
    m, c = np.polyfit(np.log10(x), np.log10(y), 1)
    return m, c
'''


def test_student_code_never_runs_in_the_grading_parent(tmp_path, monkeypatch):
    """A kept class body records ``os.getpid()`` in the process's cwd, in a folder of the
    parent's, and (through a graded function's printed output) in the probe's result: it ran in
    the child, never in the parent.

    Mutation: ``probe_submission`` also runs ``exec(compile(module.source, ...))`` in the parent
    after extracting it: ``loaded-by-<parent pid>`` appears in the parent's cwd."""
    witness, cwd = tmp_path / "witness", tmp_path / "cwd"
    witness.mkdir()
    cwd.mkdir()
    path = _with_cell(tmp_path, "witness", WITNESS.format(folder=str(witness)))
    assert "class LoadWitness" in extract_submission(path).source  # the statement is kept
    results = []
    run_probes = engine.run_probes

    def spy(*args, **kwargs):
        found = run_probes(*args, **kwargs)
        results.extend(found)
        return found

    monkeypatch.setattr(engine, "run_probes", spy)
    monkeypatch.chdir(cwd)
    graded = grade_submission(path, out_dir=tmp_path / "out")
    assert graded.score == graded.max_score > 0
    outputs = {r.id: r.output for r in results}
    child_pids = re.findall(r"loaded-by=(\d+)", outputs["fit_linear_log"])
    assert child_pids, "the witness never ran in the child: the test would prove nothing"
    assert str(os.getpid()) not in child_pids
    assert sorted(os.listdir(cwd)) == []
    assert f"loaded-by-{os.getpid()}" not in os.listdir(witness)


# --- expected values never reach the child ----------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """One value the parent keeps: a number, a string or a token sequence."""

    where: str
    """Case and field, for the failure message."""
    value: float | str | tuple[int, ...]
    """The value searched for."""


def _leaves(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """(path, leaf) of a JSON value; lists of at least three ints also as one tuple leaf."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, f"{path}.{key}")
    elif isinstance(value, list | tuple):
        if len(value) >= 3 and all(_is_int(v) for v in value):
            yield path, tuple(value)
        for index, item in enumerate(value):
            yield from _leaves(item, f"{path}[{index}]")
    else:
        yield path, value


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _telling(value: Any) -> bool:
    """A number that cannot equal an input by coincidence: not a bool, finite, and not a small
    integer (0, 1, sizes, token ids, positions are inputs as much as answers)."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        return False
    value = float(value)
    return bool(np.isfinite(value)) and (not value.is_integer() or abs(value) >= 30)


def _answers_of(where: str, expected: dict, facts: dict, own: set) -> Iterator[Answer]:
    for name, array in expected.items():
        values = np.unique(np.asarray(array, dtype=float))
        for value in values[[_telling(v) for v in values]]:
            if float(value) not in own:
                yield Answer(f"{where} expected.{name}", float(value))
    for path, leaf in _leaves(facts, f"{where} facts"):
        if leaf in own:
            continue  # a fact about the inputs (a configuration, the word asked for)
        if isinstance(leaf, str) and len(leaf) >= 4 or isinstance(leaf, tuple):
            yield Answer(path, leaf)
        elif _telling(leaf):
            yield Answer(path, float(leaf))


def golden_answers(goldens: Goldens) -> list[Answer]:
    """Every value the parent keeps: each case's expected arrays and facts, and its known-bug
    mutants' (whose answers may legitimately equal one of the case's own inputs, as the
    argmin-grid optimum does)."""
    answers = []
    for case in goldens.cases.values():
        own_kwargs = {leaf for _, leaf in _leaves(case.kwargs)}
        answers += _answers_of(case.id, case.expected, case.facts, own_kwargs)
        own_inputs = own_kwargs | {float(v) for a in case.inputs.values() for v in a.ravel()}
        for bug, mutant in getattr(case, "mutants", {}).items():
            answers += _answers_of(
                f"{case.id} mutant {bug}", mutant.expected, mutant.facts, own_inputs
            )
    return answers


@dataclass(frozen=True)
class Sent:
    """Everything the child receives, as searchable values."""

    numbers: np.ndarray
    """Every number of every call's kwargs and arrays, sorted."""
    texts: tuple[str, ...]
    """Every string of the kwargs, and whole files as text."""
    sequences: tuple[tuple[int, ...], ...]
    """Every int list of the kwargs and every row of an int array."""

    def holds(self, answer: Answer) -> bool:
        value = answer.value
        if isinstance(value, str):
            return any(value in text for text in self.texts)
        if isinstance(value, tuple):
            return any(_contains(sequence, value) for sequence in self.sequences)
        at = np.searchsorted(self.numbers, value)
        near = self.numbers[max(at - 1, 0) : at + 1]
        return bool(np.any(np.isclose(near, value, rtol=1e-9, atol=0.0)))


def _contains(sequence: tuple[int, ...], part: tuple[int, ...]) -> bool:
    return any(sequence[i : i + len(part)] == part for i in range(len(sequence) - len(part) + 1))


def sent_values(
    calls: list[tuple[dict, dict[str, np.ndarray]]], files: tuple[str, ...] = ()
) -> Sent:
    """What ``(kwargs, arrays)`` calls (and raw ``files``) put in the child's reach."""
    numbers: list[float] = []
    texts: list[str] = list(files)
    sequences: list[tuple[int, ...]] = []
    for kwargs, arrays in calls:
        texts.append(json.dumps(kwargs))
        for _, leaf in _leaves(kwargs):
            if isinstance(leaf, tuple):
                sequences.append(leaf)
            elif isinstance(leaf, str):
                texts.append(leaf)
            elif isinstance(leaf, int | float) and not isinstance(leaf, bool):
                numbers.append(float(leaf))
        for array in arrays.values():
            numbers += np.asarray(array, dtype=float).ravel().tolist()
            if array.dtype.kind in "iu" and array.ndim:
                sequences += [tuple(row) for row in array.reshape(-1, array.shape[-1]).tolist()]
    return Sent(np.sort(np.asarray(numbers, dtype=float)), tuple(texts), tuple(sequences))


def _leaks(answers: list[Answer], sent: Sent) -> list[str]:
    return [f"{a.where} = {a.value!r}" for a in answers if sent.holds(a)]


def test_the_search_for_answers_finds_each_kind_of_answer_when_planted():
    """The search below is not vacuous: every kind of answer is found once planted."""
    answers = golden_answers(load_goldens())
    kinds = {type(a.value) for a in answers}
    assert kinds == {float, str, tuple}
    plain = [(c.kwargs, c.arrays) for c in probe_calls(load_goldens())]
    for answer in answers:
        value = answer.value
        if isinstance(value, str):
            plants = [({"planted": value}, {})]
        elif isinstance(value, tuple):
            plants = [({"planted": list(value)}, {}), ({}, {"planted": np.array([value])})]
        else:
            plants = [({"planted": value}, {}), ({}, {"planted": np.array([0.5, value])})]
        for plant in plants:
            assert sent_values([*plain, plant]).holds(answer), (answer, plant)


def test_no_golden_value_is_in_any_probe_call():
    """Every expected array value and every telling number, string and token sequence of the
    facts (the reference's and the known-bug mutants') is searched for in every probe call's
    ``kwargs`` and ``arrays``.

    Mutation: ``probe_calls`` adds ``"hint": g.facts`` to the kwargs of the 2.4.2 cases (the
    answers m, c and n_opt): "fit_linear_log facts.m = 0.53..." and two more are found."""
    goldens = load_goldens()
    calls = probe_calls(goldens)
    assert [c.id for c in calls] == list(goldens.cases)
    sent = sent_values([(c.kwargs, c.arrays) for c in calls])
    assert _leaks(golden_answers(goldens), sent) == []


def test_no_golden_value_is_in_the_workspace_the_child_receives(tmp_path, monkeypatch):
    """The same search in what a real grading run writes for the child: request.json (parsed,
    and as text) and every inputs/*.npy, read before the child starts.

    Mutation: as above, the 2.4.2 answers in a call's kwargs: found in request.json.

    The training calls' ``official`` array is the course's public ``pig_latin_small.txt``, byte
    for byte (asserted): its bytes are text, not answers, and are left out of the search."""
    workspaces = []

    def capture(*args, **kwargs):
        workspace = create_workspace(*args, **kwargs)
        text = (workspace.base / "request.json").read_text()
        inputs = {p.name: np.load(p, allow_pickle=False) for p in workspace.base.glob("inputs/*")}
        workspaces.append((text, inputs))
        return workspace

    create_workspace = session.create_workspace
    monkeypatch.setattr(session, "create_workspace", capture)
    graded = grade_submission(SOLUTION)
    calls, files = [], []
    for text, inputs in workspaces:
        files.append(text)
        for call in json.loads(text)["calls"]:
            arrays = {n: inputs[f"{call['index']}.{n}.npy"] for n in call["arrays"]}
            official = arrays.pop("official", None)
            if official is not None:
                assert official.tobytes() == official_bytes().tobytes()
            calls.append((call["kwargs"], arrays))
    goldens = load_goldens()
    assert len(calls) >= len(goldens.cases)  # every case went to a child
    assert _leaks(golden_answers(goldens), sent_values(calls, tuple(files))) == []
    assert graded.score == graded.max_score > 0  # the calls were the real ones


# --- results.json is valid from the first moment ----------------------------------------------


def _valid_results(out: Path) -> dict:
    results = json.loads((out / "results.json").read_text())
    jsonschema.validate(results, SCHEMA)
    return results


def test_results_json_is_valid_at_every_stage_of_a_grading(tmp_path, monkeypatch):
    """results.json is read and validated while grading runs: before the rubric is read, before
    the goldens, during the sandbox and before the checks; from the rubric on it lists every
    check, scored 0 of its points.

    Mutations: the placeholder write before the rubric removed (no results.json when the rubric
    is read); the placeholder write after the rubric removed (the checks listed without their
    points)."""
    out = tmp_path / "out"
    seen: dict[str, dict] = {}

    def at(stage: str, original):
        def wrapper(*args, **kwargs):
            seen[stage] = _valid_results(out)
            return original(*args, **kwargs)

        return wrapper

    for stage in ("load_rubric", "load_goldens", "run_probes", "judge"):
        monkeypatch.setattr(engine, stage, at(stage, getattr(engine, stage)))
    graded = grade_submission(SOLUTION, out_dir=out)
    assert list(seen) == ["load_rubric", "load_goldens", "run_probes", "judge"]
    rubric = load_rubric(DEFAULT_RUBRIC)
    total = sum(line.points for line in rubric.lines.values())
    for stage, results in seen.items():
        assert results["score"] == 0, stage
        assert results["extra_data"]["status"] == "in_progress", stage
        if stage != "load_rubric":
            tags = {t["tags"][0] for t in results["tests"] if "tags" in t}
            assert tags == {c.id for c in REGISTRY}, stage
            assert sum(t["max_score"] for t in results["tests"]) == total, stage
    assert _valid_results(out)["score"] == graded.score == total


def _no_probes(*args, **kwargs):
    return []


def _stage(name: str, tmp_path: Path, monkeypatch) -> tuple[Path, GraderConfig]:
    """Break one stage of grading; the submission and config to grade with."""
    config, path = GraderConfig(), SOLUTION
    if name == "bad-rubric":
        (tmp_path / "rubric.toml").write_text("not toml = = 1")
        config = GraderConfig(rubric=tmp_path / "rubric.toml")
    elif name == "missing-goldens":
        config = GraderConfig(goldens=(tmp_path / "no-goldens-here",))
    elif name == "extraction":
        path = tmp_path / "broken.ipynb"
        path.write_bytes(b"\x89PNG not a notebook")
    elif name == "sandbox":

        def fail(*args, **kwargs):
            raise SandboxError("the sandbox cannot start")

        monkeypatch.setattr(engine, "run_probes", fail)
    elif name == "check-crash":
        monkeypatch.setattr(engine, "run_probes", _no_probes)
        crashing = [replace(spec, function=_crash) for spec in REGISTRY]
        monkeypatch.setattr(engine, "REGISTRY", crashing)
    elif name == "judge-crash":
        monkeypatch.setattr(engine, "run_probes", _no_probes)
        monkeypatch.setattr(engine, "judge", _crash)
    elif name == "report-crash":
        render = report.render_gradescope

        def render_until_graded(graded_report):
            if graded_report.status != "in_progress":
                raise RuntimeError("the report crashed")
            return render(graded_report)

        monkeypatch.setattr(engine, "run_probes", _no_probes)
        monkeypatch.setattr(report, "render_gradescope", render_until_graded)
    return path, config


def _crash(*args, **kwargs):
    raise RuntimeError("crashed on purpose")


@pytest.mark.parametrize(
    ("stage", "status"),
    [
        ("bad-rubric", "error"),
        ("missing-goldens", "error"),
        ("extraction", "unreadable"),
        ("sandbox", "error"),
        ("check-crash", "graded"),  # each crashed check is recorded as the grader's error
        ("judge-crash", "error"),
        ("report-crash", "error"),  # the final write crashed: a failsafe results.json
    ],
)
def test_results_json_is_valid_after_a_failure_at_any_stage(tmp_path, monkeypatch, stage, status):
    """A failure at each stage still leaves a schema-valid results.json scoring 0, which says
    how far grading got.

    Mutation: the error path's write removed (``write()`` before ``return report`` when the
    status is not in progress): the file still says "in_progress" after a bad rubric, missing
    goldens, an unreadable notebook, a sandbox failure or a crash of the checks."""
    path, config = _stage(stage, tmp_path, monkeypatch)
    out = tmp_path / "out"
    grade_submission(path, out_dir=out, config=config)
    results = _valid_results(out)
    assert results["score"] == 0
    assert results["extra_data"]["status"] == status


# --- float32-only code is graded correctly -----------------------------------------------------

FAILS_IN_FLOAT64 = (
    "        q = self.Q(queries.view(batch_size, -1, self.hidden_size))  # (B, k, H)\n",
    "        q = self.Q(queries.view(batch_size, -1, self.hidden_size))  # (B, k, H)\n"
    "        q = q @ torch.eye(self.hidden_size)  # a float32 identity: float64 matmul fails\n",
)
RETURNS_FLOAT32 = (
    "        context = attention_weights @ v  # (B, k, H)\n",
    "        context = (attention_weights @ v).float()  # (B, k, H)\n",
)


def _float32_only(source: str, monkeypatch) -> None:
    """The submission's ScaledDotAttention really fails in float64."""
    submission = types.ModuleType("float32_only")
    monkeypatch.setitem(sys.modules, "float32_only", submission)  # for its dataclasses
    exec(compile(source, "float32_only.py", "exec"), submission.__dict__)  # noqa: S102
    module = submission.ScaledDotAttention(4).double()
    x = torch.randn(2, 3, 4, dtype=torch.float64)
    with pytest.raises(RuntimeError, match="dtype"):
        module(x, x, x)


@pytest.mark.parametrize(
    "change", [FAILS_IN_FLOAT64, RETURNS_FLOAT32], ids=["fails-in-float64", "returns-float32"]
)
def test_float32_only_code_passes_every_2_2_1_check_in_float32(monkeypatch, change):
    """A ScaledDotAttention that multiplies by ``torch.eye(H)`` (float32 by default) fails in
    float64 (matmul of float64 by float32): the probe runs it again in float32. One that returns
    a float32 context is graded in float32 too. Either way every 2.2.1 check passes and every
    2.2.1 probe says it ran in float32.

    Mutations of ``in_float64_or_float32``: the retry removed (``raise`` instead of running
    again in float32): every 2.2.1 probe errors; the dtype always reported as float64: the
    returned-float32 variant's probes say float64 and its checks use float64 tolerances."""
    source = _change(solution_source(), "class ScaledDotAttention", *change)
    if change is FAILS_IN_FLOAT64:
        _float32_only(source, monkeypatch)
    probes = probe_results(source)
    cases = {c for spec in REGISTRY if spec.question == "2.2.1" for c in spec.cases}
    for case in cases:
        assert probes[case].status == "ok", probes[case].error
        assert probes[case].data["dtype"] == "float32", case
        assert probes[case].arrays["context"].dtype == np.float32, case
    verdicts = judge_in_process(source)
    assert [i for i, r in verdicts.items() if r.question == "2.2.1" and not r.passed] == []


# --- property checks: which check fails, not only which question ------------------------------

PROPERTY_MUTATIONS = [
    pytest.param(
        ("class ScaledDotAttention", "        return context, attention_weights\n"),
        "        return context, unnormalized_attention\n",
        {"2.2.1/weights", "2.2.1/rows-sum-to-one"},
        id="2.2.1-returns-the-scores-not-the-weights",
    ),
    pytest.param(
        (
            "class CausalScaledDotAttention",
            "        unnormalized_attention = unnormalized_attention.masked_fill(future, "
            'float("-inf"))\n'
            "        attention_weights = self.softmax(unnormalized_attention)  # (B, k, L)\n"
            "        context = attention_weights @ v  # (B, k, H)\n",
        ),
        '        masked = unnormalized_attention.masked_fill(future, float("-inf"))\n'
        "        attention_weights = self.softmax(unnormalized_attention)  # (B, k, L)\n"
        "        context = self.softmax(masked) @ v  # (B, k, H)\n",
        {"2.2.2/weights", "2.2.2/first-position"},
        id="2.2.2-returns-the-weights-before-the-mask",
    ),
    pytest.param(
        ("class CausalScaledDotAttention", "torch.bool).triu(1)"),
        "torch.bool).tril(-1)",
        {"2.2.2/context", "2.2.2/weights", "2.2.2/no-future", "2.2.2/first-position"}
        | {"2.2.2/trains"},
        id="2.2.2-mask-transposed",
    ),
    pytest.param(
        ("class CausalScaledDotAttention", "torch.bool).triu(1)"),
        "torch.bool).triu(2)",
        {"2.2.2/context", "2.2.2/weights", "2.2.2/no-future", "2.2.2/first-position"}
        | {"2.2.2/trains"},
        id="2.2.2-mask-off-by-one",
    ),
    pytest.param(
        ("class DecoderOnlyTransformer", "            x = x + mlp(x)\n"),
        "            x = x + mlp(x)\n            x = nn.functional.layer_norm(x, x.shape[1:])\n",
        {"2.3.1/logits", "2.3.1/causal", "2.3.1/trains"},
        id="2.3.1-normalised-over-the-sequence",
    ),
    pytest.param(
        (
            "class MultiHeadCausalScaledDotAttention",
            "        context = torch.cat([c for c, _ in outputs], dim=-1)  # (B, k, h * H)\n",
        ),
        "        context = torch.cat([c for c, _ in outputs], dim=1)  # (B, h * k, H)\n"
        "        context = context.view(queries.size(0), -1, self.num_heads * self.hidden_size)\n",
        {"2.3.4/match", "2.3.4/causal", "2.3.4/trains"},
        id="2.3.4-heads-joined-on-the-time-axis",
    ),
]


@pytest.mark.parametrize(("where", "new", "failing"), PROPERTY_MUTATIONS)
def test_a_broken_property_fails_exactly_its_checks(where, new, failing):
    """Each mistake fails exactly this set of checks (ids), with the property checks among them:
    rows sum to one (2.2.1), first position and no future (2.2.2), causality (2.3.1, 2.3.4).

    Mutation: a property check reduced to a bare probe (``rows-sum-to-one`` keeping only
    ``_weights_in_reference_layout(...)``; ``first-position``, ``2.3.1/causal`` and
    ``2.3.4/causal`` only ``ctx.probe_for(...)``): that id drops out of the failing set."""
    anchor, old = where
    source = _change(solution_source(), anchor, old, new)
    assert _failing(source) == failing


def test_property_checks_say_what_is_wrong():
    """The failing property checks' messages name the property, not only a mismatch."""
    source = solution_source()
    for param, check_id, words in [
        (PROPERTY_MUTATIONS[0], "2.2.1/rows-sum-to-one", "sum to 1"),
        (PROPERTY_MUTATIONS[1], "2.2.2/first-position", "first query's weights"),
        (PROPERTY_MUTATIONS[3], "2.2.2/no-future", "earlier positions"),
        (PROPERTY_MUTATIONS[4], "2.3.1/causal", "earlier positions"),
        (PROPERTY_MUTATIONS[5], "2.3.4/causal", "earlier positions"),
    ]:
        (anchor, old), new, _ = param.values
        result = judge_in_process(_change(source, anchor, old, new))[check_id]
        assert not result.passed and words in result.message, (check_id, result.message)


# --- the notebook builder is deterministic across processes -----------------------------------

BUILD = """
import sys
from pathlib import Path
from autograder.notebook import build_notebooks
out = Path(sys.argv[1])
for path, text in build_notebooks().files(out).items():
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("utf-8"))
"""


def test_notebook_builder_gives_the_same_bytes_under_any_hash_seed(tmp_path):
    """Two processes with different ``PYTHONHASHSEED`` build byte-identical files.

    Mutation: ``render_imports`` joins ``set(aliases)`` instead of ``sorted(set(aliases))``
    (``from x import a, b`` in hash order): the two builds differ."""
    builds = {}
    for seed in ("0", "4242"):
        out = tmp_path / f"seed-{seed}"
        env = {**os.environ, "PYTHONHASHSEED": seed}
        subprocess.run([sys.executable, "-c", BUILD, str(out)], check=True, env=env, cwd=ROOT)
        builds[seed] = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    first, second = builds.values()
    assert first.keys() == second.keys() and len(first) >= 3
    assert [p for p in first if first[p] != second[p]] == []
