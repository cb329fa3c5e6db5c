"""The experiments CLI: runs write results and figures, and an interrupted run resumes."""

from __future__ import annotations

import json
import math

import pytest

from reference import experiments, runs
from reference.experiments import Profile, run

TINY = Profile("smoke", 1, {"small": 60, "large": 80}, 1e-3, 2, 4)


def test_heads_experiment_writes_results_and_resumes(tmp_path, monkeypatch):
    results = run(["heads"], TINY, tmp_path, device="cpu")
    written = json.loads((tmp_path / "heads" / "results.json").read_text())
    assert set(written["runs"]) == {
        "hidden32_heads1",
        "hidden32_heads2",
        "hidden32_heads4",
        "hidden64_heads1",
        "hidden128_heads1",
    }
    assert (
        written["runs"]["hidden32_heads2"]["params"] > written["runs"]["hidden32_heads1"]["params"]
    )
    assert (tmp_path / "heads" / "heads_vs_hidden.png").stat().st_size > 0
    assert len(list((tmp_path / "runs").glob("heads__*.json"))) == 5

    def no_training(*args, **kwargs):
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr(runs, "train_job", no_training)
    again = run(["heads"], TINY, tmp_path, device="cpu")
    assert again["heads"]["runs"].keys() == results["heads"]["runs"].keys()


def test_saved_runs_of_other_data_are_not_reused(tmp_path, monkeypatch):
    run(["decoder"], TINY, tmp_path, device="cpu")
    other = Profile("smoke", 1, {"small": 70, "large": 80}, 1e-3, 2, 4)
    calls = []
    real = runs.train_job
    monkeypatch.setattr(runs, "train_job", lambda *a, **k: calls.append(1) or real(*a, **k))
    run(["decoder"], other, tmp_path, device="cpu")
    assert calls == [1]


def test_json_has_no_nan():
    text = runs.to_json_text({"loss": [1.0, math.nan], "best": math.inf})
    assert json.loads(text) == {"loss": [1.0, None], "best": None}


def test_nqm_experiment_shows_both_regimes(tmp_path):
    """The answer key's content: in the noise-dominated regime (small batches) the steps to the
    target fall as 1/B and the optimal learning rate grows about linearly with B; in the
    curvature-dominated regime (large batches) the steps approach S_min and the learning rate
    saturates below the stability bound 2/h_max; the critical batch size lies between."""
    sweep = run(["nqm"], TINY, tmp_path)["nqm"]["sweep"]
    b, lr, steps = sweep["batch_sizes"], sweep["optimal_lr"], sweep["steps_to_target"]
    assert b == sorted(b) and len(b) >= 5
    noise = steps[0] / steps[1]
    assert 0.8 * (b[1] / b[0]) < noise < 1.2 * (b[1] / b[0])  # steps ~ 1/B
    assert 0.5 * (b[1] / b[0]) < lr[1] / lr[0] < 1.5 * (b[1] / b[0])  # lr ~ B
    assert steps[-1] < 1.5 * sweep["min_steps"]  # curvature-limited: S_min
    assert lr[-1] < sweep["stability_bound"] and lr[-1] / lr[-2] < 1.2  # saturates
    assert all(x >= y for x, y in zip(steps, steps[1:], strict=False))
    assert b[0] < sweep["critical_batch_size"] < b[-1]
    assert {p.name for p in (tmp_path / "nqm").iterdir()} >= {
        "nqm_learning_rate.png",
        "nqm_steps_to_target.png",
        "nqm_answer_key.md",
    }


def test_cli_rejects_unknown_experiment(capsys):
    with pytest.raises(SystemExit):
        experiments.main(["everything"])
