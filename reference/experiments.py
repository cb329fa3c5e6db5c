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
import math
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from reference import nqm_key, scaling
from reference.data import VOCAB_SIZE, Pair, load_dataset, split_pairs
from reference.models import calc_parameters_decoder
from reference.plots import (
    save_heads_vs_hidden,
    save_loss_comparison_by_dataset,
    save_loss_comparison_by_hidden,
)
from reference.runs import Job, run_jobs, to_json_text
from reference.scaling import DEFAULT_TARGETS
from reference.train import (
    TrainConfig,
    decoder_epoch_cost,
    resolve_device,
)

EXPERIMENTS = ("encdec", "decoder", "heads", "scaling", "nqm")
TEST_SENTENCES = ("the air conditioning is working", "i went shopping", "roomba is cool")
ENCDEC_RUNS = tuple(
    (dataset, batch_size, hidden)
    for dataset, batch_size in (("small", 64), ("large", 512))
    for hidden in (16, 32)
)
"""2.2.2 question 4: (dataset, batch size, hidden size) of the four encoder-decoder runs."""
HEADS_RUNS = ((32, 1), (32, 2), (32, 4), (64, 1), (128, 1))
"""2.3 question 5: (hidden size, heads) of the five decoder-only runs."""
SCALING_HIDDEN = (16, 24, 32, 48, 64, 96, 128)
"""2.4: hidden sizes of the seven scaling runs."""


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

    @property
    def caveat(self) -> str:
        """What to print after a number this profile produced: smoke runs test the code,
        their numbers mean nothing."""
        return "  [smoke profile: a test of the code, not a result]" if self.name == "smoke" else ""


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


def _write(out_dir: Path, results: dict) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "results.json"
    path.write_text(to_json_text(results))
    return path


def encdec_config(
    hidden: int, batch_size: int, profile: Profile, device: str, seed: int
) -> TrainConfig:
    """An encoder-decoder run of 2.2.2 question 4 (the notebook uses it too)."""
    return TrainConfig(
        hidden_size=hidden,
        batch_size=batch_size,
        device=device,
        max_epochs=profile.max_epochs,
        seed=seed,
    )


def decoder_config(profile: Profile, device: str, seed: int) -> TrainConfig:
    """The decoder-only run of 2.3 question 3: hidden 128, 3 layers, one head."""
    return TrainConfig(
        hidden_size=128,
        num_layers=3,
        batch_size=64,
        device=device,
        max_epochs=profile.max_epochs,
        seed=seed,
    )


def heads_config(hidden: int, heads: int, profile: Profile, device: str, seed: int) -> TrainConfig:
    """A run of 2.3 question 5: 3 layers, ``heads`` heads of width ``hidden``."""
    return replace(decoder_config(profile, device, seed), hidden_size=hidden, num_heads=heads)


def scaling_config(hidden: int, device: str, seed: int) -> TrainConfig:
    """A scaling run of 2.4 (4 layers, one head, no early stopping), before its epoch count."""
    return TrainConfig(
        hidden_size=hidden,
        num_layers=4,
        batch_size=64,
        device=device,
        early_stopping_patience=None,
        seed=seed,
        max_epochs=1,
    )


def scaling_epochs(flops_per_epoch: float, profile: Profile) -> int:
    """Epochs that take a scaling run just past the largest budget (capped by the profile)."""
    epochs = math.ceil(1.05 * target_budgets(profile)[-1] / flops_per_epoch)
    return min(epochs, profile.max_scaling_epochs)


def encdec_jobs(profile: Profile, device: str, seed: int) -> list[Job]:
    """Handout 2.2.2 question 4: hidden 16 vs 32 on the small vs large dataset."""
    return [
        Job(
            "encdec",
            f"hidden{hidden}_{dataset}",
            "encdec",
            dataset,
            encdec_config(hidden, batch_size, profile, device, seed),
            accuracy_pairs=profile.accuracy_pairs,
        )
        for dataset, batch_size, hidden in ENCDEC_RUNS
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
    config = decoder_config(profile, device, seed)
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
            heads_config(hidden, heads, profile, device, seed),
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


def target_budgets(profile: Profile) -> list[float]:
    """The 2.4 target budgets, scaled down in the smoke profile."""
    return [t * profile.flops_scale for t in DEFAULT_TARGETS]


def scaling_jobs(profile: Profile, device: str, seed: int, train: Sequence[Pair]) -> list[Job]:
    """Handout 2.4: seven models, each trained just past the largest FLOP budget."""
    jobs = []
    for hidden in SCALING_HIDDEN:
        config = scaling_config(hidden, device, seed)
        flops_per_epoch, _ = decoder_epoch_cost(train, config)
        epochs = scaling_epochs(flops_per_epoch, profile)
        jobs.append(
            Job(
                "scaling", f"hidden{hidden}", "decoder", "small", replace(config, max_epochs=epochs)
            )
        )
    return jobs


def finish_scaling(jobs: list[Job], records: list[dict], out_dir: Path, profile: Profile) -> dict:
    """The IsoFLOP analysis, its three figures and the 1e15 estimate."""
    targets = target_budgets(profile)
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
    return nqm_key.main(out_dir, profile.name)


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
