"""Training checks: the student's class in the given training code, judged against limits
calibrated on the reference, each failure named (NaN, does not learn, leaks the future, learns
too slowly); the official data travels from the parent; the calibration is reproducible."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pytest

from autograder.cases.training import (
    CALIBRATION,
    MARGIN_GREEDY,
    MARGIN_HIGH,
    MARGIN_LOW,
    RUNS,
    kwargs_of,
    limits,
    read_calibration,
)
from autograder.checks.base import CheckContext, CheckFailed
from autograder.checks.training import UNIFORM, judge_training
from autograder.child.probes import training as probe
from autograder.engine import grade_submission
from autograder.examples import CATALOGUE, apply_example
from autograder.goldens import load_goldens
from autograder.probe_plan import probe_calls
from autograder.rubric import DEFAULT_RUBRIC, load_rubric
from autograder.sandbox import ProbeCall, ProbeResult
from autograder.training_data import MAX_BYTES, OFFICIAL_FILE, official_bytes, with_official_data
from tests.conftest import REPO
from tests.inprocess import judge_in_process, probe_results, solution_source

CASES = {"train_causal": "2.2.2", "train_decoder": "2.3.1", "train_multihead": "2.3.4"}
"""Each training case and its question."""


@pytest.fixture(scope="module")
def source() -> str:
    return solution_source()


@pytest.fixture(scope="module")
def solution_runs(source) -> dict[str, ProbeResult]:
    results = probe_results(source)
    return {case: results[case] for case in CASES}


# --- the calibration and the limits ----------------------------------------------------------


def test_the_calibration_covers_five_seeds_and_both_data_sources_with_the_cases_settings():
    calibration = read_calibration()
    assert len(calibration["seeds"]) >= 5 and calibration["command"]
    assert set(calibration["runs"]) == set(RUNS) == set(CASES)
    for case_id, entry in calibration["runs"].items():
        assert entry["kwargs"] == kwargs_of(case_id)
        for source in ("official", "offline"):
            assert [run["seed"] for run in entry[source]] == calibration["seeds"]


def test_limits_are_the_reference_range_widened_by_the_margins():
    calibration = read_calibration()
    for case_id in CASES:
        runs = [r for s in ("official", "offline") for r in calibration["runs"][case_id][s]]
        found = limits(case_id, calibration)
        assert found["val_high"] == pytest.approx(max(r["best_val"] for r in runs) + MARGIN_HIGH)
        assert found["val_low"] == pytest.approx(min(r["best_val"] for r in runs) - MARGIN_LOW)
        assert found["train_low"] == pytest.approx(min(r["final_train"] for r in runs) - MARGIN_LOW)
        assert found["greedy_high"] == pytest.approx(
            max(r["greedy_accuracy"] for r in runs) + MARGIN_GREEDY
        )
        assert found["val_low"] < found["val_high"] < UNIFORM - 0.5


def test_a_calibration_made_with_other_settings_is_refused():
    calibration = read_calibration()
    calibration["runs"]["train_causal"]["kwargs"]["epochs"] += 1
    with pytest.raises(ValueError, match="stale.*autograder.cases.calibrate"):
        limits("train_causal", calibration)


def test_the_goldens_carry_the_calibrated_limits():
    goldens, calibration = load_goldens(), read_calibration()
    for case_id in CASES:
        assert goldens.case(case_id).facts["limits"] == limits(case_id, calibration)


def test_no_noisy_output_is_a_diagnosis_signature(solution_runs):
    """The diagnosis compares facts with the probe's data keys of the same name: only the two
    deterministic training-mode properties are shared, never a loss or an accuracy."""
    goldens = load_goldens()
    for case_id, result in solution_runs.items():
        shared = set(goldens.case(case_id).facts) & set(result.data)
        assert shared == {"leaks_in_training", "loss_has_gradient"}
        assert goldens.case(case_id).expected == {}


# --- the data ---------------------------------------------------------------------------------


def test_official_bytes_are_parsed_as_the_given_read_pairs_reads_a_file(tmp_path):
    from reference.data import read_pairs

    text = "cat atcay\nCat Atcay\nwell-known ellway-ownknay\ncat atcay\nx\nquit itquay\n"
    path = tmp_path / OFFICIAL_FILE
    path.write_text(text, encoding="utf-8")
    assert probe.official_pairs(official_bytes([tmp_path])) == read_pairs(path)


def test_the_parent_sends_the_official_file_to_training_calls_only(tmp_path):
    (tmp_path / OFFICIAL_FILE).write_text("cat atcay\n")
    calls = [ProbeCall("a", "attention", "2.2.1"), ProbeCall("t", "train", "2.2.2")]
    sent = with_official_data(calls, [tmp_path])
    assert "official" not in sent[0].arrays
    assert sent[1].arrays["official"].dtype == np.uint8
    assert sent[1].arrays["official"].tobytes() == b"cat atcay\n"
    assert with_official_data(calls, [tmp_path / "none"]) == calls


def test_a_file_larger_than_the_course_file_is_not_read(tmp_path):
    (tmp_path / OFFICIAL_FILE).write_bytes(b"a b\n" * (MAX_BYTES // 4 + 1))
    assert official_bytes([tmp_path]) is None


def test_the_data_source_is_in_the_probe_data_and_the_feedback(solution_runs, source):
    for result in solution_runs.values():
        assert result.data["data_source"] == "offline"  # the in-process harness sends no file
        assert result.data["pairs"] == [
            kwargs_of("train_causal")[k] for k in ("train_pairs", "val_pairs")
        ]
    limit = load_goldens().case("train_causal").facts["limits"]
    message = judge_in_process(source)["2.2.2/trains"].message
    reference = f"{limit['reference_val_min']:.2f}-{limit['reference_val_max']:.2f}"
    assert "offline word pairs" in message and reference in message


def test_the_solution_passes_on_the_official_data(source, official_data):
    runs = _runs_with(source, official_bytes([official_data]))
    for case_id, result in runs.items():
        assert result.data["data_source"] == "official"
        assert _verdict(case_id, result) is None


# --- the solution and the named failures -----------------------------------------------------


def test_the_solution_passes_every_training_check_with_a_note(source):
    results = judge_in_process(source)
    for question in CASES.values():
        result = results[f"{question}/trains"]
        assert result.passed, result.message
        assert result.message.startswith("Best validation loss")


NAMED = {
    "MASK-EVAL-ONLY": ("2.2.2", "**leaks the future**", "implausibly low"),
    "MASK-NOT-APPLIED": ("2.2.2", "**leaks the future**", "implausibly low"),
    "MASK-TIMES-INF": ("2.2.2", "**NaN**", "from step 1 (epoch 1)"),
    "MASK-HIDES-DIAGONAL": ("2.2.2", "**NaN**", "from step 1 (epoch 1)"),
    "LOGITS-SOFTMAX": ("2.3.1", "**does not learn**", "never got below 2.90"),
    "FORWARD-NO-GRAD": ("2.3.1", "**does not learn**", "no gradient"),
    "HEADS-NO-TRANSPOSE": ("2.3.4", "**leaks the future**", "in training mode"),
}
"""Bugs of the catalogue and the failure their question's training check names."""


@pytest.mark.parametrize("bug", NAMED)
def test_each_failure_mode_is_named(source, bug):
    question, name, detail = NAMED[bug]
    (example,) = [e for e in CATALOGUE if e.bug.id == bug]
    result = judge_in_process(apply_example(source, example))[f"{question}/trains"]
    assert not result.passed
    assert result.message.startswith(name) and detail in result.message


# --- the verdicts, on data the tests choose ---------------------------------------------------


def _verdict(case_id: str, result: ProbeResult) -> str | None:
    """The failure message of a training check on ``result``, None when it passes."""
    ctx = CheckContext(results={case_id: result}, goldens=load_goldens())
    try:
        judge_training(ctx, case_id)
    except CheckFailed as failure:
        return str(failure)
    return None


def _with(result: ProbeResult, **data) -> ProbeResult:
    return replace(result, data={**result.data, **data})


def test_nan_names_the_step_and_epoch(solution_runs):
    run = solution_runs["train_decoder"]
    stopped = _with(run, stopped={"reason": "nan", "step": 40}, steps_per_epoch=36)
    assert "from step 40 (epoch 2)" in _verdict("train_decoder", stopped)
    nan_val = _with(run, val_loss=[2.5, math.nan, 2.0, 2.0])
    assert "validation loss is NaN or infinite in epoch 2" in _verdict("train_decoder", nan_val)


def test_a_loss_at_the_uniform_level_does_not_learn(solution_runs):
    run = solution_runs["train_decoder"]
    flat = _with(run, train_loss=[3.4, 3.39, 3.38, 3.37], val_loss=[3.4, 3.4, 3.39, 3.39])
    assert _verdict("train_decoder", flat).startswith("**does not learn**")


def test_an_implausibly_low_loss_with_poor_translations_leaks_the_future(solution_runs):
    run = solution_runs["train_causal"]
    low = _with(run, train_loss=[*run.data["train_loss"][:-1], 0.2])
    assert _verdict("train_causal", low).startswith("**leaks the future**")
    translating = _with(low, greedy_accuracy=0.95)  # a low loss that translates is believed
    assert _verdict("train_causal", translating) is None
    moved = _with(run, leaks_in_training=True)
    assert "in training mode" in _verdict("train_causal", moved)


def test_a_loss_above_the_calibrated_range_learns_too_slowly(solution_runs):
    run = solution_runs["train_multihead"]
    high = load_goldens().case("train_multihead").facts["limits"]["val_high"] + 0.01
    slow = _with(run, val_loss=[2.5, 2.4, 2.3, high, high + 0.1])
    message = _verdict("train_multihead", slow)
    assert message.startswith("**learns too slowly**") and f"{high:.2f}" in message


@pytest.mark.parametrize(
    "data",
    [{"train_loss": None}, {"val_loss": "x"}, {"val_loss": []}, {"greedy_accuracy": "high"}],
)
def test_malformed_reports_fail_the_check_without_a_grader_error(solution_runs, data):
    run = _with(solution_runs["train_decoder"], **data)
    assert _verdict("train_decoder", run).startswith("the training run reported")


# --- budgets, the sandbox, reproducibility ---------------------------------------------------


def test_the_rubric_gives_each_training_question_its_budget(tmp_path):
    budgets = load_rubric(DEFAULT_RUBRIC).budgets
    assert set(CASES.values()) <= set(budgets)
    bad = tmp_path / "rubric.toml"
    bad.write_text('[checks]\n[budgets]\n"9.9" = 3\n')
    with pytest.raises(ValueError, match="names no question"):
        load_rubric(bad)
    bad.write_text('[checks]\n[budgets]\n"2.2.2" = -1\n')
    with pytest.raises(ValueError, match="invalid seconds"):
        load_rubric(bad)


@pytest.mark.slow
def test_in_the_sandbox_a_training_only_bug_fails_its_training_check_alone(tmp_path, monkeypatch):
    """MASK-EVAL-ONLY passes every forward check (they run in evaluation mode) and fails
    2.2.2/trains, named; the budgets reach the sandbox and the data is the official file
    where the grader has one."""
    from autograder import engine

    seen = {}
    run_probes = engine.run_probes

    def spy(source, calls, **kwargs):
        seen["budgets"], seen["calls"] = kwargs["budgets"], calls
        return run_probes(source, calls, **kwargs)

    monkeypatch.setattr(engine, "run_probes", spy)
    path = REPO / "fixtures" / "submissions" / "bugs" / "MASK-EVAL-ONLY.ipynb"
    report = grade_submission(path, out_dir=tmp_path, questions=["2.2.2"])
    failed = {c.check_id: c.message for c in report.checks if not c.passed}
    assert list(failed) == ["2.2.2/trains"]
    assert failed["2.2.2/trains"].startswith("**leaks the future**")
    assert seen["budgets"] == load_rubric(DEFAULT_RUBRIC).budgets
    train = [c for c in seen["calls"] if c.probe == "train"]
    assert train and all(("official" in c.arrays) == (official_bytes() is not None) for c in train)
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["extra_data"]["diagnoses"] == {"2.2.2": "MASK-EVAL-ONLY"}


@pytest.mark.slow
def test_the_calibration_is_reproduced_by_its_command_for_seed_zero():
    """The documented command's run of each case (seed 0, offline data) gives the committed
    numbers (on another CPU the float summation may differ: within 0.05)."""
    from autograder.cases.calibrate import calibrate_run

    calibration = json.loads(CALIBRATION.read_text())
    for case_id in CASES:
        stored = calibration["runs"][case_id]["offline"][0]
        found = calibrate_run(case_id, 0, None)
        assert found["best_val"] == pytest.approx(stored["best_val"], abs=0.05)
        assert found["final_train"] == pytest.approx(stored["final_train"], abs=0.05)


def _runs_with(source: str, official: np.ndarray) -> dict[str, ProbeResult]:
    """The training cases run in-process with the official data sent, as the engine sends it."""
    import sys
    import types

    from autograder.child.registry import PROBES

    submission = types.ModuleType("submission")
    sys.modules["submission"] = submission  # dataclasses look their module up
    try:
        exec(compile(source, "submission.py", "exec"), submission.__dict__)  # noqa: S102
    finally:
        del sys.modules["submission"]
    runs = {}
    for call in probe_calls(load_goldens(), CASES):
        data, arrays = PROBES["train"](submission, **call.kwargs, official=official)
        runs[call.id] = ProbeResult(call.id, call.question, "ok", data, arrays, None, 0.0)
    return runs


def test_a_training_call_carries_the_run_settings_only():
    """Only the run's settings go to the child: the limits and the signature stay here."""
    for case_id in CASES:
        (call,) = probe_calls(load_goldens(), [case_id])
        assert call.arrays == {} and call.kwargs == kwargs_of(case_id)
