"""The whole pipeline on notebooks: extract -> sandbox -> checks -> report."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import nbformat
import pytest

from autograder import engine
from autograder.checks import REGISTRY
from autograder.cli import main as cli_main
from autograder.config import GraderConfig
from autograder.engine import grade_submission
from autograder.examples import EXAMPLES, apply_example_to_notebook, colab_style
from autograder.goldens import GOLDENS_DIR
from autograder.report import check_output
from autograder.rubric import DEFAULT_RUBRIC, load_rubric

ROOT = Path(__file__).resolve().parents[1]
SOLUTION = ROOT / "fixtures" / "submissions" / "solution.ipynb"
TEMPLATE = ROOT / "student_template" / "nmt.ipynb"
SCHEMA = json.loads((ROOT / "autograder" / "results.schema.json").read_text())


TOTAL = sum(line.points for line in load_rubric(DEFAULT_RUBRIC).lines.values())
"""The rubric's total: tests read it rather than repeat it."""


def _points(*check_ids: str) -> float:
    lines = load_rubric(DEFAULT_RUBRIC).lines
    return sum(lines[c].points for c in check_ids)


def _scores_by_question(report) -> dict[str, float]:
    scores: dict[str, float] = {}
    for check in report.checks:
        scores[check.question] = scores.get(check.question, 0.0) + check.score
    return scores


@pytest.fixture(scope="module")
def solution_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("solution")
    return grade_submission(SOLUTION, out_dir=out), out


def test_solution_gets_full_marks_and_valid_results(solution_report):
    report, out = solution_report
    assert report.status == "graded"
    assert [c.check_id for c in report.checks if not c.passed] == []
    assert report.score == report.max_score == TOTAL
    results = json.loads((out / "results.json").read_text())
    jsonschema.validate(results, SCHEMA)
    assert results["score"] == TOTAL
    assert "Score" in (out / "feedback.md").read_text()


def test_grading_is_deterministic(solution_report, tmp_path):
    _, first_out = solution_report
    grade_submission(SOLUTION, out_dir=tmp_path)
    first, second = (json.loads((d / "results.json").read_text()) for d in (first_out, tmp_path))
    for results in (first, second):
        results.pop("execution_time")
        results["extra_data"].pop("timings")
    assert first == second


def test_template_scores_zero_with_not_implemented_per_question(tmp_path):
    report = grade_submission(TEMPLATE, out_dir=tmp_path)
    assert report.status == "graded" and report.score == 0
    for check in report.checks:
        output = check_output(check)
        assert output.startswith("not implemented yet"), (check.check_id, output)
    jsonschema.validate(json.loads((tmp_path / "results.json").read_text()), SCHEMA)


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.name for e in EXAMPLES])
def test_wrong_submission_loses_exactly_its_question(tmp_path, solution_report, example):
    solution, _ = solution_report
    path = tmp_path / f"{example.name}.ipynb"
    nbformat.write(apply_example_to_notebook(nbformat.read(SOLUTION, 4), example), path)
    report = grade_submission(path)
    full, got = _scores_by_question(solution), _scores_by_question(report)
    lost = {q for q in full if got[q] != full[q]}
    assert lost == {example.question}
    assert got[example.question] < full[example.question]


def test_colab_style_notebook_gets_full_marks(tmp_path):
    path = tmp_path / "colab.ipynb"
    nbformat.write(colab_style(nbformat.read(SOLUTION, 4)), path)
    assert path.stat().st_size > 3_000_000
    report = grade_submission(path)
    assert [c.check_id for c in report.checks if not c.passed] == []


def test_public_check_runs_visible_checks_only():
    report = grade_submission(SOLUTION, public_only=True, questions=["2.2.1"])
    assert {c.question for c in report.checks} == {"2.2.1"}
    assert all(c.visibility == "visible" for c in report.checks)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x89PNG not a notebook", "not a notebook"),
        (
            json.dumps({"nbformat": 3, "nbformat_minor": 0, "worksheets": [], "metadata": {}}),
            "format 3",
        ),
        (nbformat.writes(nbformat.v4.new_notebook()), "no code"),
    ],
    ids=["binary", "nbformat3", "empty"],
)
def test_unreadable_submission_one_line_error_and_zero_results(tmp_path, capsys, content, message):
    path = tmp_path / "submission.ipynb"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    code = cli_main(["grade", str(path), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("error: ")
    assert message in err.lower()
    assert "Traceback" not in err
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    jsonschema.validate(results, SCHEMA)
    assert results["score"] == 0


def test_grader_failure_still_leaves_valid_results(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("sandbox exploded")

    monkeypatch.setattr(engine, "run_probes", broken)
    report = grade_submission(SOLUTION, out_dir=tmp_path)
    assert report.status == "error" and "sandbox exploded" in report.problem
    assert "not your fault" in json.loads((tmp_path / "results.json").read_text())["output"]
    results = json.loads((tmp_path / "results.json").read_text())
    jsonschema.validate(results, SCHEMA)
    assert results["score"] == 0


def test_unknown_question_is_one_line_error(capsys):
    assert cli_main(["check", str(SOLUTION), "--question", "2.3.3"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no autograded question 2.3.3") and err.count("\n") == 1


def _with_cell(tmp_path, name: str, code: str) -> Path:
    """The solution with one more cell at the end (the last definition of a name wins)."""
    notebook = nbformat.read(SOLUTION, 4)
    notebook.cells.append(nbformat.v4.new_code_cell(code))
    path = tmp_path / f"{name}.ipynb"
    nbformat.write(notebook, path)
    return path


@pytest.mark.slow
def test_a_hanging_question_times_out_and_the_rest_is_graded(tmp_path):
    from autograder.config import GraderConfig
    from autograder.sandbox import SandboxLimits

    code = "def calc_parameters_decoder(vocab_size, hidden_size, num_layers, num_heads):\n"
    code += "    while True:\n        pass\n"
    # 10 s per question: the other questions need about 0.1 s, far from it even under load
    report = grade_submission(
        _with_cell(tmp_path, "hang", code),
        config=GraderConfig(limits=SandboxLimits(default_budget_s=10)),
    )
    scores = _scores_by_question(report)
    assert scores["2.3.5"] == 0 and sum(scores.values()) == TOTAL - _points("2.3.5/count")
    assert [(n.question, n.error.kind) for n in report.notes] == [("2.3.5", "timeout")]


@pytest.mark.needs_root
def test_student_code_cannot_read_the_goldens(tmp_path):
    """Only as root does the child run as another user in its own view of the filesystem; a
    student's own checker (not root) has no secret goldens to protect."""
    goldens = GOLDENS_DIR / "fit_linear_log.json"
    code = (
        "def fit_linear_log(x, y):\n"
        f"    text = open({str(goldens)!r}).read()\n"
        "    print(text)\n"
        "    meta = __import__('json').loads(text)\n"
        "    return meta['facts']['m'], meta['facts']['c']\n"
    )
    out = tmp_path / "out"
    report = grade_submission(_with_cell(tmp_path, "peek", code), out_dir=out)
    result = next(c for c in report.checks if c.check_id == "2.4.2/slope")
    assert not result.passed and result.blocked is not None
    facts = json.loads(goldens.read_text())["facts"]
    seen = (out / "results.json").read_text() + (out / "feedback.md").read_text()
    for value in (facts["m"], facts["c"]):
        assert f"{value:.5g}"[:6] not in seen and repr(value)[:8] not in seen


def test_prints_and_fake_results_do_not_change_the_grade(tmp_path):
    code = (
        "import sys\n"
        "def find_optimal_params(params, losses):\n"
        "    print('{\"score\": 100}' * 1000)\n"
        "    sys.stdout.write('\\n{\"tests\": []}\\n')\n"
        "    return 'p', 'n_opt'\n"
    )
    report = grade_submission(_with_cell(tmp_path, "spoof", code), out_dir=tmp_path / "out")
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    jsonschema.validate(results, SCHEMA)
    assert results["score"] == TOTAL - _points("2.4.2/fit", "2.4.2/n-opt")
    assert not next(c for c in report.checks if c.check_id == "2.4.2/fit").passed


def test_a_statement_the_grader_does_not_run_is_named_where_its_name_is_missing(tmp_path):
    from autograder.engine import extraction_notes
    from autograder.extract import extract_submission
    from autograder.report import describe_note

    code = (
        "def get_device():\n    return 'cpu'\n\n"
        "device = get_device()\n\n"
        "class ScaledDotAttention:\n"
        "    def forward(self, queries, keys, values):\n"
        "        return queries.to(device), None\n"
    )
    notes = extraction_notes(extract_submission(_with_cell(tmp_path, "device", code)))
    (note,) = notes
    assert (note.name, note.users) == ("device", ("ScaledDotAttention",))
    text = describe_note(note)
    assert "`device = get_device()` is not run by the grader" in text
    assert text.startswith("cell ") and "undefined in `ScaledDotAttention`" in text


def test_the_template_gets_no_note_about_names_its_stubs_leave_unset():
    from autograder.engine import extraction_notes
    from autograder.extract import extract_submission

    assert extraction_notes(extract_submission(TEMPLATE)) == []


def test_a_check_the_rubric_turns_off_is_neither_run_nor_shown(tmp_path, monkeypatch):
    """``enabled = false`` on the three training checks: they are not in the report, the
    maximum drops by their points, and no training probe is sent to the child."""
    trains = [c.id for c in REGISTRY if c.id.endswith("/trains")]
    assert len(trains) == 3
    text = DEFAULT_RUBRIC.read_text()
    for check_id in trains:
        text = text.replace(f'"{check_id}" = {{', f'"{check_id}" = {{ enabled = false,')
    rubric = tmp_path / "rubric.toml"
    rubric.write_text(text)
    sent: list[str] = []
    real = engine.run_probes

    def spy(source, calls, **kwargs):
        sent.extend(c.id for c in calls)
        return real(source, calls, **kwargs)

    monkeypatch.setattr(engine, "run_probes", spy)
    config = GraderConfig().with_options(rubric=rubric)
    report = grade_submission(SOLUTION, out_dir=tmp_path / "out", config=config)
    assert report.score == report.max_score == TOTAL - _points(*trains)
    assert not {c.check_id for c in report.checks} & set(trains)
    assert sent and not [i for i in sent if i.startswith("train")]
    assert "trains" not in (tmp_path / "out" / "feedback.md").read_text()
