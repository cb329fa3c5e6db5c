"""Training runs as independent jobs: one run each, in this process or in a pool of spawned
processes, every finished run saved at once and reused by a later invocation (so an interrupted
experiment resumes without losing or repeating work). Used by ``reference.experiments``.
"""

from __future__ import annotations

import json
import math
import multiprocessing
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from reference.train import (
    TrainConfig,
    decoder_generate,
    train_decoder_only,
    train_encoder_decoder,
    translate,
    translate_sentence,
    word_accuracy,
)


def _plain(value):
    """JSON-ready data: NaN and infinities (a diverged run) become None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def to_json_text(data) -> str:
    return json.dumps(_plain(data), indent=2, allow_nan=False)


@dataclass(frozen=True)
class Job:
    """One training run of an experiment."""

    experiment: str
    """Which experiment it belongs to."""
    key: str
    """The run's name in the results, e.g. ``hidden32_small``."""
    model: str
    """"encdec" or "decoder"."""
    dataset: str
    """"small" or "large"."""
    config: TrainConfig
    """Its hyper-parameters."""
    accuracy_pairs: int = 0
    """Validation pairs translated to measure word accuracy (0: none)."""
    translate: tuple[str, ...] = ()
    """Sentences to translate after training."""


def train_job(job: Job, data: dict, progress: bool = True) -> dict:
    """Run one job; returns its history (JSON-ready) with accuracy and translations."""
    train, val = data[job.dataset]["train"], data[job.dataset]["val"]
    if job.model == "encdec":
        encoder, decoder, history = train_encoder_decoder(train, val, job.config, progress=progress)
        translate_word = lambda w: translate(encoder, decoder, w)  # noqa: E731
    else:
        model, history = train_decoder_only(train, val, job.config, progress=progress)
        translate_word = lambda w: decoder_generate(model, w)  # noqa: E731
    record = {**history.to_json(), "config": vars(job.config)}
    if job.accuracy_pairs:
        record["val_word_accuracy"] = word_accuracy(val[: job.accuracy_pairs], translate_word)
    if job.translate:
        record["translations"] = {s: translate_sentence(s, translate_word) for s in job.translate}
    return record


def _worker(job: Job, data: dict) -> dict:
    torch.set_num_threads(1)
    return train_job(job, data, progress=False)


def _record_path(record_dir: Path, job: Job) -> Path:
    return record_dir / f"{job.experiment}__{job.key}.json"


def _identity(job: Job, data: dict) -> dict:
    """What makes a saved run reusable: the configuration and the data it trained on."""
    dataset = data[job.dataset]
    return json.loads(
        to_json_text(
            {
                "config": vars(job.config),
                "data": {
                    "source": dataset["source"],
                    "train": len(dataset["train"]),
                    "val": len(dataset["val"]),
                },
            }
        )
    )


def _saved_record(record_dir: Path | None, job: Job, data: dict) -> dict | None:
    """A finished run of the same configuration and data, saved by an earlier invocation."""
    if record_dir is None or not _record_path(record_dir, job).is_file():
        return None
    record = json.loads(_record_path(record_dir, job).read_text())
    identity = _identity(job, data)
    return record if all(record.get(k) == v for k, v in identity.items()) else None


def _save_record(record_dir: Path | None, job: Job, record: dict, data: dict) -> None:
    if record_dir is not None:
        record_dir.mkdir(parents=True, exist_ok=True)
        path = _record_path(record_dir, job)
        path.with_suffix(".tmp").write_text(to_json_text({**record, **_identity(job, data)}))
        path.with_suffix(".tmp").replace(path)


def run_jobs(
    jobs: Sequence[Job], data: dict, n_jobs: int = 1, record_dir: Path | None = None
) -> list[dict]:
    """Every job's record, in order; with ``n_jobs > 1`` in that many spawned processes. Each
    finished run is saved in ``record_dir`` at once and reused by a later invocation, so an
    interrupted run resumes without losing or repeating work."""
    records: dict[int, dict] = {}
    for index, job in enumerate(jobs):
        saved = _saved_record(record_dir, job, data)
        if saved is not None:
            records[index] = saved
    todo = [i for i in range(len(jobs)) if i not in records]
    if records:
        print(f"reusing {len(records)} finished run(s) from {record_dir}")
    if n_jobs <= 1:
        for index in todo:
            records[index] = train_job(jobs[index], data)
            _save_record(record_dir, jobs[index], records[index], data)
    else:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=n_jobs, mp_context=context) as pool:
            futures = {
                pool.submit(_worker, jobs[i], {jobs[i].dataset: data[jobs[i].dataset]}): i
                for i in todo
            }
            for future in tqdm(as_completed(futures), total=len(futures), desc="training runs"):
                index = futures[future]
                records[index] = future.result()
                _save_record(record_dir, jobs[index], records[index], data)
    return [records[i] for i in range(len(jobs))]
