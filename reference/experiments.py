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
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from reference import nqm, scaling
from reference.data import VOCAB_SIZE, load_dataset, split_pairs
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


def _write(out_dir: Path, results: dict) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "results.json"
    path.write_text(json.dumps(results, indent=2, allow_nan=False, default=_json_default))
    return path


def _json_default(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    raise TypeError(f"not JSON serialisable: {type(value)}")


def _finite(values: Sequence[float]) -> list[float | None]:
    return [v if math.isfinite(v) else None for v in values]


def run_encdec(profile: Profile, data: dict, out_dir: Path, device: str, seed: int) -> dict:
    """Handout 2.2.2 question 4: four encoder-decoder runs and the two comparison figures."""
    results, runs = {}, {}
    for dataset, batch_size in (("small", 64), ("large", 512)):
        for hidden in (16, 32):
            config = TrainConfig(
                hidden_size=hidden,
                batch_size=batch_size,
                device=device,
                max_epochs=profile.max_epochs,
                seed=seed,
            )
            encoder, decoder, history = train_encoder_decoder(
                data[dataset]["train"], data[dataset]["val"], config
            )
            results[(hidden, dataset)] = history.to_json()
            val = data[dataset]["val"][: profile.accuracy_pairs]
            accuracy = word_accuracy(val, lambda w, e=encoder, d=decoder: translate(e, d, w))
            runs[f"hidden{hidden}_{dataset}"] = {
                **history.to_json(),
                "val_word_accuracy": accuracy,
                "config": vars(config),
            }
            print(
                f"enc-dec hidden {hidden} {dataset}: lowest val loss "
                f"{history.best_val_loss:.4f} (epoch {history.best_epoch}), "
                f"word accuracy {accuracy:.2%}"
            )
    figures = [
        save_loss_comparison_by_hidden(results, out_dir / "loss_comparison_by_hidden.png"),
        save_loss_comparison_by_dataset(results, out_dir / "loss_comparison_by_dataset.png"),
    ]
    summary = {"runs": runs, "figures": [p.name for p in figures]}
    _write(out_dir, summary)
    return summary


def run_decoder(profile: Profile, data: dict, out_dir: Path, device: str, seed: int) -> dict:
    """Handout 2.3 question 3: the decoder-only model and its translations."""
    config = TrainConfig(
        hidden_size=128,
        num_layers=3,
        batch_size=64,
        device=device,
        max_epochs=profile.max_epochs,
        seed=seed,
    )
    model, history = train_decoder_only(data["small"]["train"], data["small"]["val"], config)
    generate = lambda word: decoder_generate(model, word)  # noqa: E731
    translations = {s: translate_sentence(s, generate) for s in TEST_SENTENCES}
    accuracy = word_accuracy(data["small"]["val"][: profile.accuracy_pairs], generate)
    for sentence, translation in translations.items():
        print(f"decoder-only: {sentence!r} -> {translation!r}")
    print(
        f"decoder-only hidden 128: lowest val loss {history.best_val_loss:.4f}, "
        f"word accuracy {accuracy:.2%}"
    )
    summary = {
        "runs": {
            "hidden128_small": {
                **history.to_json(),
                "val_word_accuracy": accuracy,
                "config": vars(config),
            }
        },
        "translations": translations,
    }
    _write(out_dir, summary)
    return summary


def run_heads(profile: Profile, data: dict, out_dir: Path, device: str, seed: int) -> dict:
    """Handout 2.3 question 5: more heads against more hidden units, with parameter counts."""
    results, params, runs = {}, {}, {}
    for hidden, heads in HEADS_RUNS:
        config = TrainConfig(
            hidden_size=hidden,
            num_heads=heads,
            num_layers=3,
            batch_size=64,
            device=device,
            max_epochs=profile.max_epochs,
            seed=seed,
        )
        _, history = train_decoder_only(data["small"]["train"], data["small"]["val"], config)
        results[(hidden, heads)] = history.to_json()
        params[(hidden, heads)] = calc_parameters_decoder(VOCAB_SIZE, hidden, 3, heads)
        runs[f"hidden{hidden}_heads{heads}"] = {
            **history.to_json(),
            "params": params[(hidden, heads)],
        }
        print(
            f"hidden {hidden}, {heads} head(s): {params[(hidden, heads)]:,} parameters, "
            f"lowest val loss {history.best_val_loss:.4f}"
        )
    figure = save_heads_vs_hidden(results, params, out_dir / "heads_vs_hidden.png")
    summary = {"runs": runs, "figures": [figure.name]}
    _write(out_dir, summary)
    return summary


def run_scaling(profile: Profile, data: dict, out_dir: Path, device: str, seed: int) -> dict:
    """Handout 2.4: seven models trained past the largest budget, then the IsoFLOP analysis."""
    targets = [t * profile.flops_scale for t in SCALING_TARGETS]
    train, val = data["small"]["train"], data["small"]["val"]
    runs = []
    for hidden in SCALING_HIDDEN:
        config = TrainConfig(
            hidden_size=hidden,
            num_layers=4,
            batch_size=64,
            device=device,
            early_stopping_patience=None,
            seed=seed,
            max_epochs=1,
        )
        flops_per_epoch, _ = decoder_epoch_cost(train, config)
        epochs = min(math.ceil(1.05 * targets[-1] / flops_per_epoch), profile.max_scaling_epochs)
        _, history = train_decoder_only(train, val, replace(config, max_epochs=epochs))
        runs.append(
            {
                "hidden_size": hidden,
                "params": calc_parameters_decoder(VOCAB_SIZE, hidden, 4, 1),
                "flops": history.flops,
                "tokens": history.tokens,
                "val_loss": history.val_loss,
                "epochs": epochs,
                "seconds": round(history.seconds, 2),
            }
        )
        print(
            f"scaling hidden {hidden}: {epochs} epochs, {history.flops[-1]:.3g} FLOPs, "
            f"final val loss {history.val_loss[-1]:.4f}"
        )
    analysis = scaling.analyse_isoflops(runs, targets)
    budget = 1e15 * profile.flops_scale
    figures = [
        scaling.save_isoflop_profiles(runs, analysis, out_dir / "isoflop_profiles.png"),
        scaling.save_compute_optimal_params(analysis, out_dir / "compute_optimal_params.png"),
        scaling.save_compute_optimal_tokens(analysis, out_dir / "compute_optimal_tokens.png"),
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


def run(
    experiments: Sequence[str],
    profile: Profile,
    out: Path,
    *,
    data_dir: Path | None = None,
    device: str = "auto",
    seed: int = 0,
) -> dict[str, dict]:
    """Run the named experiments into ``out``; returns their results."""
    torch.set_num_threads(max(1, torch.get_num_threads()))
    start = time.perf_counter()
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
    runners = {
        "encdec": run_encdec,
        "decoder": run_decoder,
        "heads": run_heads,
        "scaling": run_scaling,
    }
    results = {}
    for name in experiments:
        if name == "nqm":
            results[name] = run_nqm(profile, out / name)
        else:
            results[name] = runners[name](profile, data, out / name, device, seed)
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
        )
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
