"""Training cases: a short seeded run of the homework's given training code with one student
class plugged in (2.2.2, 2.3.1, 2.3.4), judged against limits calibrated on the reference.

Each case is one run of the child's ``train`` probe (``autograder/child/probes/training.py``):
a one-layer model of width 32, Adam at 1e-2, batches of 16, on a fixed subset of the small
dataset (the first 280 training and 200 validation pairs of the given seeded split), seed 0.
Its facts are what the parent judges with and what names a bug:

- ``limits``: computed from the calibration (``training_calibration.json``, written by
  ``python -m autograder.cases.calibrate``: the reference run by the same probe over ten
  seeds on the official and the offline data) and the margins below;
- ``leaks_in_training`` and ``loss_has_gradient``: what the model built by the given code does
  in training mode before any step (deterministic, threshold-free: the diagnosis compares them
  with every known bug's).

The losses and accuracies of a run are noisy (another machine, another summation order): no
fact is named like them, so the diagnosis never compares them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from autograder.cases import CaseData, case

CALIBRATION = Path(__file__).resolve().parent / "training_calibration.json"
"""The reference's numbers per run, seed and data source (``autograder.cases.calibrate``)."""
CALIBRATE = "python -m autograder.cases.calibrate"
"""The command that writes ``CALIBRATION``."""
BASE = {
    "hidden": 32,
    "layers": 1,
    "heads": 1,
    "batch_size": 16,
    "learning_rate": 0.01,
    "train_pairs": 280,
    "val_pairs": 200,
    "seed": 0,
}
"""What every run shares (the probe's keyword arguments)."""
RUNS: dict[str, dict[str, Any]] = {
    "train_causal": {"student": "CausalScaledDotAttention", "epochs": 8},
    "train_decoder": {"student": "DecoderOnlyTransformer", "epochs": 4},
    "train_multihead": {"student": "MultiHeadCausalScaledDotAttention", "heads": 2, "epochs": 5},
}
"""Per case, what differs from BASE. 2.2.2 trains longest: a mask that leaks only in training
mode shows as an implausibly low training loss once the model has learnt to read the future
(about 150 steps)."""
MARGIN_HIGH = 0.2
"""Nats above the reference's highest best validation loss before a run "learns too slowly"."""
MARGIN_LOW = 0.3
"""Nats below the reference's lowest losses (best validation, last epoch's training) before a
run's loss is "implausibly low"."""
MARGIN_GREEDY = 0.05
"""Above the reference's best greedy accuracy, translations are better than a short run gives
(so an implausibly low loss is believed: the model really translates)."""


def kwargs_of(case_id: str) -> dict[str, Any]:
    """The probe's keyword arguments of a training case."""
    return {**BASE, **RUNS[case_id]}


def read_calibration(path: Path = CALIBRATION) -> dict[str, Any]:
    """The calibration file; a ValueError naming the command when it is missing."""
    if not path.is_file():
        raise ValueError(f"no training calibration at {path}; run `{CALIBRATE}`")
    return json.loads(path.read_text(encoding="utf-8"))


def limits(case_id: str, calibration: dict[str, Any]) -> dict[str, float]:
    """The limits of a case from the reference's runs on both data sources; a ValueError when
    the calibration was made with other settings than the case's."""
    entry = calibration["runs"].get(case_id)
    if entry is None or entry["kwargs"] != kwargs_of(case_id):
        raise ValueError(f"the training calibration of {case_id} is stale; run `{CALIBRATE}`")
    runs = [run for source in ("official", "offline") for run in entry[source]]
    values = {key: np.array([run[key] for run in runs]) for key in runs[0]}
    return {
        "val_high": round(float(values["best_val"].max()) + MARGIN_HIGH, 4),
        "val_low": round(float(values["best_val"].min()) - MARGIN_LOW, 4),
        "train_low": round(float(values["final_train"].min()) - MARGIN_LOW, 4),
        "greedy_high": round(float(values["greedy_accuracy"].max()) + MARGIN_GREEDY, 4),
        "reference_val_min": round(float(values["best_val"].min()), 4),
        "reference_val_max": round(float(values["best_val"].max()), 4),
        "reference_train_min": round(float(values["final_train"].min()), 4),
        "reference_greedy_min": round(float(values["greedy_accuracy"].min()), 4),
        "reference_greedy_max": round(float(values["greedy_accuracy"].max()), 4),
        "reference_seeds": len(calibration["seeds"]),
    }


def _training_case(case_id: str, impl: Any) -> CaseData:
    from autograder.child.probes.training import signature

    kwargs = kwargs_of(case_id)
    facts = {"limits": limits(case_id, read_calibration())}
    return CaseData(kwargs=kwargs, inputs={}, facts=facts | signature(impl, **kwargs))


@case("train_causal", "2.2.2", probe="train")
def train_causal(rng: np.random.Generator, impl: Any) -> CaseData:
    """The given encoder-decoder with the student's causal attention in its decoder."""
    return _training_case("train_causal", impl)


@case("train_decoder", "2.3.1", probe="train")
def train_decoder(rng: np.random.Generator, impl: Any) -> CaseData:
    """The given ``train_decoder_only`` with the student's decoder-only model (one head)."""
    return _training_case("train_decoder", impl)


@case("train_multihead", "2.3.4", probe="train")
def train_multihead(rng: np.random.Generator, impl: Any) -> CaseData:
    """The given ``train_decoder_only`` with two heads of the student's multi-head attention."""
    return _training_case("train_multihead", impl)
