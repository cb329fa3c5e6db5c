"""Every experiment of the handout, for instructors: reference numbers, figures, answer key.

    python -m reference.experiments {encdec,decoder,heads,scaling,nqm,all} \
        --profile {smoke,full} --out DIR [--data-dir DIR] [--device auto|cpu|cuda]

- ``encdec``  (2.2.2 q4): hidden 16 vs 32 on the small vs large dataset, the two figures;
- ``decoder`` (2.3 q3): the decoder-only model and its test translations;
- ``heads``   (2.3 q5): (hidden, heads) in (32,1) (32,2) (32,4) (64,1) (128,1), with counts;
- ``scaling`` (2.4): seven decoder-only models, IsoFLOP profiles, compute-optimal fits;
- ``nqm``     (written part 1): the noisy quadratic model answer key.

Each experiment writes ``DIR/<name>/results.json`` and its figures; ``all`` also writes
``DIR/summary.md`` (lowest validation loss per run, the optimum at 1e15 FLOPs). The ``full``
profile is the handout's suggested setting; ``smoke`` runs every code path in minutes on a CPU.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import random
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from tqdm.auto import tqdm

from reference import nqm, scaling
from reference.data import VOCAB_SIZE, Pair, load_dataset, split_pairs
from reference.models import calc_parameters_decoder
from reference.plots import (
    save_heads_vs_hidden,
    save_loss_comparison_by_dataset,
    save_loss_comparison_by_hidden,
)
from reference.train import (
    TrainConfig,
    decoder_epoch_cost,
    decoder_generate,
    resolve_device,
    train_decoder_only,
    train_encoder_decoder,
    translate,
    translate_sentence,
    word_accuracy,
)

EXPERIMENTS = ("encdec", "decoder", "heads", "scaling", "nqm")
TEST_SENTENCES = ("the air conditioning is working", "i went shopping", "roomba is cool")
HEADS_RUNS = ((32, 1), (32, 2), (32, 4), (64, 1), (128, 1))
SCALING_HIDDEN = (16, 24, 32, 48, 64, 96, 128)
SCALING_TARGETS = (0.08e12, 0.16e12, 0.32e12, 0.64e12, 1.28e12)


@dataclass(frozen=True)
class Profile:
    """How much of each experiment to run."""

    name: str
    """"smoke" or "full"."""
    max_epochs: int
    """Epoch cap of the encoder-decoder, decoder-only and heads runs."""
    subsample: dict[str, int] | None
    """Pairs kept per dataset (None: all of them)."""
    flops_scale: float
    """Multiplier on the 2.4 target budgets (1 in full)."""
    max_scaling_epochs: int
    """Epoch cap of a scaling run."""
    accuracy_pairs: int
    """Validation pairs translated to measure word accuracy."""


PROFILES = {
    "smoke": Profile("smoke", 2, {"small": 480, "large": 1200}, 1e-2, 60, 50),
    "full": Profile("full", 100, None, 1.0, 2000, 500),
}


def _datasets(profile: Profile, data_dir: Path | None, seed: int) -> dict[str, dict]:
    """Train/validation splits of both datasets, subsampled in the smoke profile."""
    out = {}
    for name in ("small", "large"):
        pairs, source = load_dataset(name, data_dir)
        if profile.subsample:
            pairs = random.Random(seed).sample(sorted(pairs), profile.subsample[name])
        train, val = split_pairs(pairs, seed=seed)
        out[name] = {"train": train, "val": val, "source": source}
    return out


def _plain(value):
    """JSON-ready data: NaN and infinities (a diverged run) become None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _dumps(data) -> str:
    return json.dumps(_plain(data), indent=2, allow_nan=False)


def _write(out_dir: Path, results: dict) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "results.json"
    path.write_text(_dumps(results))
    return path


# ---------------------------------------------------------------------------------------------
# Jobs: one training run each, independent, so they can run in a process pool (--jobs N)
# ---------------------------------------------------------------------------------------------


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
        _dumps(
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
        path.with_suffix(".tmp").write_text(_dumps({**record, **_identity(job, data)}))
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


def encdec_jobs(profile: Profile, device: str, seed: int) -> list[Job]:
    """Handout 2.2.2 question 4: hidden 16 vs 32 on the small vs large dataset."""
    return [
        Job(
            "encdec",
            f"hidden{hidden}_{dataset}",
            "encdec",
            dataset,
            TrainConfig(
                hidden_size=hidden,
                batch_size=batch_size,
                device=device,
                max_epochs=profile.max_epochs,
                seed=seed,
            ),
            accuracy_pairs=profile.accuracy_pairs,
        )
        for dataset, batch_size in (("small", 64), ("large", 512))
        for hidden in (16, 32)
    ]


def finish_encdec(jobs: list[Job], records: list[dict], out_dir: Path) -> dict:
    """The two comparison figures of 2.2.2 question 4 and the lowest validation losses."""
    results = {}
    for job, record in zip(jobs, records, strict=True):
        results[(job.config.hidden_size, job.dataset)] = record
        print(
            f"enc-dec {job.key}: lowest val loss {record['best_val_loss']:.4f} "
            f"(epoch {record['best_epoch']}), word accuracy {record['val_word_accuracy']:.2%}"
        )
    figures = [
        save_loss_comparison_by_hidden(results, out_dir / "loss_comparison_by_hidden.png"),
        save_loss_comparison_by_dataset(results, out_dir / "loss_comparison_by_dataset.png"),
    ]
    runs = {job.key: record for job, record in zip(jobs, records, strict=True)}
    summary = {"runs": runs, "figures": [p.name for p in figures]}
    _write(out_dir, summary)
    return summary


def decoder_jobs(profile: Profile, device: str, seed: int) -> list[Job]:
    """Handout 2.3 question 3: the decoder-only model and its translations."""
    config = TrainConfig(
        hidden_size=128,
        num_layers=3,
        batch_size=64,
        device=device,
        max_epochs=profile.max_epochs,
        seed=seed,
    )
    return [
        Job(
            "decoder",
            "hidden128_small",
            "decoder",
            "small",
            config,
            accuracy_pairs=profile.accuracy_pairs,
            translate=TEST_SENTENCES,
        )
    ]


def finish_decoder(jobs: list[Job], records: list[dict], out_dir: Path) -> dict:
    """Print and save the decoder-only run and its translations."""
    record = records[0]
    for sentence, translation in record["translations"].items():
        print(f"decoder-only: {sentence!r} -> {translation!r}")
    print(
        f"decoder-only {jobs[0].key}: lowest val loss {record['best_val_loss']:.4f}, "
        f"word accuracy {record['val_word_accuracy']:.2%}"
    )
    summary = {"runs": {jobs[0].key: record}, "translations": record["translations"]}
    _write(out_dir, summary)
    return summary


def heads_jobs(profile: Profile, device: str, seed: int) -> list[Job]:
    """Handout 2.3 question 5: more heads against more hidden units."""
    return [
        Job(
            "heads",
            f"hidden{hidden}_heads{heads}",
            "decoder",
            "small",
            TrainConfig(
                hidden_size=hidden,
                num_heads=heads,
                num_layers=3,
                batch_size=64,
                device=device,
                max_epochs=profile.max_epochs,
                seed=seed,
            ),
        )
        for hidden, heads in HEADS_RUNS
    ]


def finish_heads(jobs: list[Job], records: list[dict], out_dir: Path) -> dict:
    """Parameter counts and the heads-vs-hidden figure."""
    results, params, runs = {}, {}, {}
    for job, record in zip(jobs, records, strict=True):
        key = (job.config.hidden_size, job.config.num_heads)
        results[key] = record
        params[key] = calc_parameters_decoder(VOCAB_SIZE, key[0], job.config.num_layers, key[1])
        runs[job.key] = {**record, "params": params[key]}
        print(
            f"hidden {key[0]}, {key[1]} head(s): {params[key]:,} parameters, "
            f"lowest val loss {record['best_val_loss']:.4f}"
        )
    figure = save_heads_vs_hidden(results, params, out_dir / "heads_vs_hidden.png")
    summary = {"runs": runs, "figures": [figure.name]}
    _write(out_dir, summary)
    return summary


def scaling_targets(profile: Profile) -> list[float]:
    """The 2.4 target budgets, scaled down in the smoke profile."""
    return [t * profile.flops_scale for t in SCALING_TARGETS]


def scaling_jobs(profile: Profile, device: str, seed: int, train: Sequence[Pair]) -> list[Job]:
    """Handout 2.4: seven models, each trained just past the largest FLOP budget."""
    jobs = []
    for hidden in SCALING_HIDDEN:
        config = TrainConfig(
            hidden_size=hidden,
            num_layers=4,
            batch_size=64,
            device=device,
            early_stopping_patience=None,
            seed=seed,
        )
        flops_per_epoch, _ = decoder_epoch_cost(train, config)
        epochs = math.ceil(1.05 * scaling_targets(profile)[-1] / flops_per_epoch)
        epochs = min(epochs, profile.max_scaling_epochs)
        jobs.append(
            Job(
                "scaling", f"hidden{hidden}", "decoder", "small", replace(config, max_epochs=epochs)
            )
        )
    return jobs


def finish_scaling(jobs: list[Job], records: list[dict], out_dir: Path, profile: Profile) -> dict:
    """The IsoFLOP analysis, its three figures and the 1e15 estimate."""
    targets = scaling_targets(profile)
    runs = []
    for job, record in zip(jobs, records, strict=True):
        hidden = job.config.hidden_size
        runs.append(
            {
                "hidden_size": hidden,
                "params": calc_parameters_decoder(VOCAB_SIZE, hidden, job.config.num_layers, 1),
                "flops": record["flops"],
                "tokens": record["tokens"],
                "val_loss": record["val_loss"],
                "epochs": record["epochs"],
                "seconds": record["seconds"],
            }
        )
        print(
            f"scaling hidden {hidden}: {record['epochs']} epochs, "
            f"{record['flops'][-1]:.3g} FLOPs, final val loss {record['val_loss'][-1]:.4f}"
        )
    analysis = scaling.analyse_isoflops(runs, targets)
    budget = 1e15 * profile.flops_scale
    figures = [
        scaling.save_isoflop_profiles(runs, analysis, out_dir / "isoflop_profiles.png"),
        scaling.save_compute_optimal_params(
            analysis, out_dir / "compute_optimal_params.png", budget=budget
        ),
        scaling.save_compute_optimal_tokens(
            analysis, out_dir / "compute_optimal_tokens.png", budget=budget
        ),
    ]
    optimum = {
        "budget": budget,
        "params": scaling.estimate_params(analysis, budget),
        "tokens": scaling.estimate_tokens(analysis, budget),
    }
    print(f"compute-optimal parameters at {budget:.3g} FLOPs: {optimum['params']:.3g}")
    summary = {
        "runs": runs,
        "targets": targets,
        "analysis": analysis.to_json(),
        "optimum": optimum,
        "figures": [p.name for p in figures],
    }
    _write(out_dir, summary)
    return summary


def run_nqm(profile: Profile, out_dir: Path) -> dict:
    """Written part 1: the noisy quadratic model answer key."""
    return nqm.main(out_dir, profile.name)


def summary_table(results: dict[str, dict], profile: Profile, seconds: float) -> str:
    """Markdown summary of an ``all`` run."""
    lines = [
        f"# Reference experiments, profile `{profile.name}`",
        "",
        f"Wall time: {seconds:.0f} s.",
        "",
        "| experiment | run | lowest val loss | epochs |",
        "|---|---|---|---|",
    ]
    for name in ("encdec", "decoder", "heads"):
        for run, record in results.get(name, {}).get("runs", {}).items():
            lines.append(f"| {name} | {run} | {record['best_val_loss']:.4f} | {record['epochs']} |")
    if "scaling" in results:
        optimum = results["scaling"]["optimum"]
        lines += [
            "",
            f"Compute-optimal parameters at {optimum['budget']:.3g} FLOPs: "
            f"{optimum['params']:.3g} (tokens {optimum['tokens']:.3g}).",
        ]
    if "decoder" in results:
        lines += ["", "Decoder-only translations:", ""]
        lines += [f"- `{s}` -> `{t}`" for s, t in results["decoder"]["translations"].items()]
    return "\n".join(lines) + "\n"


FINISHERS = {"encdec": finish_encdec, "decoder": finish_decoder, "heads": finish_heads}


def run(
    experiments: Sequence[str],
    profile: Profile,
    out: Path,
    *,
    data_dir: Path | None = None,
    device: str = "auto",
    seed: int = 0,
    n_jobs: int = 1,
) -> dict[str, dict]:
    """Run the named experiments into ``out``; returns their results. The training runs of all
    experiments form one job list, so ``n_jobs`` processes share them."""
    start = time.perf_counter()
    if resolve_device(device).type == "cpu":
        torch.set_num_threads(1)  # these models are too small to gain from threads; 2 cores
        # shared with other work made training 20x slower with torch's default thread count
    needs_data = any(e != "nqm" for e in experiments)
    data = _datasets(profile, data_dir, seed) if needs_data else {}
    if data:
        print(
            "data: "
            + ", ".join(
                f"{k} from {v['source']} ({len(v['train'])} train, {len(v['val'])} val)"
                for k, v in data.items()
            )
        )
    planners = {
        "encdec": lambda: encdec_jobs(profile, device, seed),
        "decoder": lambda: decoder_jobs(profile, device, seed),
        "heads": lambda: heads_jobs(profile, device, seed),
        "scaling": lambda: scaling_jobs(profile, device, seed, data["small"]["train"]),
    }
    jobs = [job for name in experiments if name in planners for job in planners[name]()]
    records = run_jobs(jobs, data, n_jobs, record_dir=out / "runs")
    results = {}
    for name in experiments:
        if name == "nqm":
            results[name] = run_nqm(profile, out / name)
            continue
        pairs = [(j, r) for j, r in zip(jobs, records, strict=True) if j.experiment == name]
        own_jobs, own_records = [j for j, _ in pairs], [r for _, r in pairs]
        if name == "scaling":
            results[name] = finish_scaling(own_jobs, own_records, out / name, profile)
        else:
            results[name] = FINISHERS[name](own_jobs, own_records, out / name)
    seconds = time.perf_counter() - start
    if len(experiments) > 1:
        (out / "summary.md").write_text(summary_table(results, profile, seconds))
    print(f"done in {seconds:.0f} s; results in {out}")
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m reference.experiments", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("experiment", choices=(*EXPERIMENTS, "all"))
    parser.add_argument("--profile", choices=sorted(PROFILES), default="smoke")
    parser.add_argument("--out", type=Path, default=Path("out/experiments"))
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="folder with pig_latin_small.txt and pig_latin_large.txt "
        "(default: $NMT_DATA_DIR, ./data, ../shared/data, else built offline)",
    )
    parser.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--jobs", type=int, default=1, help="training runs at once, each in its own process"
    )
    args = parser.parse_args(argv)
    experiments = EXPERIMENTS if args.experiment == "all" else (args.experiment,)
    try:
        run(
            experiments,
            PROFILES[args.profile],
            args.out,
            data_dir=args.data_dir,
            device=args.device,
            seed=args.seed,
            n_jobs=args.jobs,
        )
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
