"""Loss-curve figures of handout 2.2.2 question 4 and 2.3 question 5.

``results`` maps a run key to ``{"train_loss": [...], "val_loss": [...]}`` (one value per epoch):
``(hidden_size, dataset_name)`` for the encoder-decoder runs, ``(hidden_size, num_heads)`` for the
heads/hidden comparison. Every function saves a PNG and returns its path. Figures are built
with matplotlib's object API (no pyplot), so importing this module changes no global backend.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from matplotlib.figure import Figure

Results = Mapping[tuple, Mapping[str, list[float]]]


def _plot_runs(ax, results: Results, keys: list[tuple], label, split: str) -> None:
    for key in keys:
        losses = results[key][f"{split}_loss"]
        ax.plot(range(1, len(losses) + 1), losses, label=label(key))
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"{split} loss (cross-entropy per token)")
    ax.grid(alpha=0.3)
    ax.legend()


def _save_train_val(
    results: Results, groups: list[tuple[str, list[tuple]]], label, title: str, path: Path
) -> Path:
    """One row per group, train loss left and validation loss right."""
    fig = Figure(figsize=(11, 3.6 * len(groups)))
    axes = fig.subplots(len(groups), 2, squeeze=False)
    for row, (group_title, keys) in enumerate(groups):
        for col, split in enumerate(("train", "val")):
            _plot_runs(axes[row, col], results, keys, label, split)
            axes[row, col].set_title(f"{group_title}: {split} loss")
    fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path


def save_loss_comparison_by_hidden(
    results: Results, path: Path | str = "loss_comparison_by_hidden.png"
) -> Path:
    """For each dataset, the runs of different hidden sizes side by side."""
    datasets = sorted({d for _, d in results}, key=lambda d: (d != "small", d))
    groups = [(f"{d} dataset", sorted(k for k in results if k[1] == d)) for d in datasets]
    return _save_train_val(
        results, groups, lambda k: f"hidden {k[0]}", "Effect of hidden size", Path(path)
    )


def save_loss_comparison_by_dataset(
    results: Results, path: Path | str = "loss_comparison_by_dataset.png"
) -> Path:
    """For each hidden size, the small and large dataset runs side by side."""
    hidden_sizes = sorted({h for h, _ in results})
    groups = [
        (f"hidden {h}", sorted((k for k in results if k[0] == h), key=lambda k: k[1] != "small"))
        for h in hidden_sizes
    ]
    return _save_train_val(
        results, groups, lambda k: f"{k[1]} dataset", "Effect of dataset size", Path(path)
    )


def save_heads_vs_hidden(
    results: Results,
    params: Mapping[tuple, int],
    path: Path | str = "heads_vs_hidden.png",
) -> Path:
    """Handout 2.3 question 5: validation curves of the (hidden, heads) models, and their lowest
    validation loss against their parameter count."""
    fig = Figure(figsize=(12, 4.2))
    left, right = fig.subplots(1, 2)
    keys = sorted(results)
    for hidden, heads in keys:
        losses = results[(hidden, heads)]["val_loss"]
        left.plot(range(1, len(losses) + 1), losses, label=f"hidden {hidden}, {heads} head(s)")
    left.set_xlabel("epoch")
    left.set_ylabel("validation loss")
    left.set_title("Validation loss")
    left.grid(alpha=0.3)
    left.legend()
    series = {
        "more heads (hidden fixed)": [k for k in keys if k[0] == keys[0][0]],
        "more hidden (one head)": [k for k in keys if k[1] == 1],
    }
    for marker, (name, chosen) in zip("os", series.items(), strict=True):
        xs = [params[k] for k in chosen]
        ys = [min(results[k]["val_loss"]) for k in chosen]
        right.plot(xs, ys, marker=marker, label=name)
        for k, x, y in zip(chosen, xs, ys, strict=True):
            right.annotate(f"H{k[0]}/h{k[1]}", (x, y), textcoords="offset points", xytext=(4, 4))
    right.set_xscale("log")
    right.set_xlabel("parameters")
    right.set_ylabel("lowest validation loss")
    right.set_title("Parameter efficiency")
    right.grid(alpha=0.3)
    right.legend()
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path
