"""Notebook template, part 4: section 2.4, scaling laws and IsoFLOP profiles.

Read by autograder/notebook/plan.py (see its docstring for the format).
"""
# ruff: noqa: E402, F401, F821

# %% [markdown]
r"""
## 2.4 Scaling laws and IsoFLOP profiles

Section 2.3 compared models by their parameter efficiency; this section asks how to spend a
fixed compute budget best. A scaling law relates the size of a network, or the compute used to
train it, to the performance it reaches; it lets us forecast the performance of larger models.
IsoFLOP profiles (Hoffmann et al., 2022, "Training Compute-Optimal Large Language Models")
compare models of different sizes trained with the *same* number of FLOPs: for each budget, the
loss against the model size is a valley, and its bottom is the compute-optimal size for that
budget.

Here, seven decoder-only models (hidden size 16 to 128, 4 layers, one head) are trained on the
small dataset, and their validation loss is read at budgets from 0.08 to 1.28 TFLOPs. (The
`smoke` profile divides every budget, and the 1e15 FLOPs of question 2.4.2, by 100.)

### Question 2.4.1: seven models

Run the next cell: it trains the seven models and plots their validation loss against the FLOPs
spent on training.
"""

# %%
# include scaling: DEFAULT_TARGETS
# include experiments: SCALING_HIDDEN, target_budgets, scaling_config, scaling_epochs

require("data", "2.2.2", "2.3.1", "2.3.5")
scaling_targets = target_budgets(profile)
runs = []
for hidden in SCALING_HIDDEN:
    config = scaling_config(hidden, DEVICE, SEED)
    flops_per_epoch, _ = decoder_epoch_cost(datasets["small"]["train"], config)
    epochs = scaling_epochs(flops_per_epoch, profile)
    _, history = train_decoder_only(
        datasets["small"]["train"], datasets["small"]["val"], replace(config, max_epochs=epochs)
    )
    runs.append(
        {
            "hidden_size": hidden,
            "params": calc_parameters_decoder(VOCAB_SIZE, hidden, config.num_layers, 1),
            "flops": history.flops,
            "tokens": history.tokens,
            "val_loss": history.val_loss,
        }
    )
    print(
        f"hidden {hidden}: {runs[-1]['params']:,} parameters, {epochs} epochs, "
        f"{history.flops[-1]:.3g} FLOPs, final validation loss {history.val_loss[-1]:.4f}"
    )
scaling_runs = runs

fig, ax = plt.subplots(figsize=(8, 5))
for run in scaling_runs:
    label = f"hidden {run['hidden_size']} ({run['params']:,} parameters)"
    ax.plot(run["flops"], run["val_loss"], marker=".", label=label)
for target in scaling_targets:
    ax.axvline(target, color="gray", ls="--", lw=0.8)
ax.set(xscale="log", xlabel="training compute (FLOPs)", ylabel="validation loss")
ax.set_title("Validation loss against training compute (dashed: the budgets of 2.4.2)")
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(FIGURES_DIR / "val_loss_vs_flops.png", dpi=110)
plt.close(fig)
show_figure(FIGURES_DIR / "val_loss_vs_flops.png")

# %% [markdown]
r"""
**Written question (2.4.1).** Comment on anything interesting you observe. Does a larger model
always have a smaller validation loss? (Hint: see section 1.2 of the handout.)

### Question 2.4.2: compute-optimal model size

For each budget, the IsoFLOP profile is a parabola fitted to the validation loss against
$\log_{10}$ of the parameter count, over the models whose training reached that budget; its
vertex is the compute-optimal size $N_{opt}$. Then a line through the points
$(\log_{10} C, \log_{10} N_{opt})$ gives the power law $N_{opt}(C) = 10^{c} C^{m}$.

**Implement `find_optimal_params` and `fit_linear_log`** (signatures and return values in their
docstrings). Then run the cells after them: the IsoFLOP profiles, the compute-optimal model plot,
and the estimate at a budget of 1e15 FLOPs.
"""

# %%
# include scaling: find_optimal_params, fit_linear_log

# %%
check("2.4.2")

# %% [markdown]
r"""
Given: reading each training curve at the budgets, the profiles, the power-law fits and their
plots. Each model is trained once, with the learning rate decayed x0.99 per epoch, and its curve
is read at every budget: a small model that needs hundreds of epochs to reach a budget does so
with an almost fully decayed learning rate, while a large one does not. (Hoffmann et al. instead
train one run per budget with a matched schedule.) Keep this in mind when you read the profiles.
"""

# %%
# include scaling: DEFAULT_BUDGET, MIN_MODELS_PER_TARGET, RUN_KEYS
# include scaling: loss_at_flops, IsoFlopProfile, IsoFlopAnalysis, _plain, _check_runs
# include scaling: analyse_isoflops, _power_law, estimate_params, estimate_tokens
# include scaling: _save, _sci, _tflops, _cmap, save_isoflop_profiles, _save_power_law
# include scaling: save_compute_optimal_params, save_compute_optimal_tokens

# %%
require("2.4.1", "2.4.2")
BUDGET = 1e15 * profile.flops_scale
isoflop_analysis = analyse_isoflops(scaling_runs, scaling_targets)
show_figure(
    save_isoflop_profiles(scaling_runs, isoflop_analysis, FIGURES_DIR / "isoflop_profiles.png")
)
for prof in isoflop_analysis.profiles:
    print(
        f"budget {prof.target:.3g} FLOPs: {len(prof.params)} models, "
        f"compute-optimal parameters {prof.n_opt:.3g}"
    )
for target, reason in isoflop_analysis.skipped:
    print(f"budget {target:.3g} FLOPs left out: {reason}")
m, c = isoflop_analysis.params_fit
print(f"fit: N_opt(C) = 10^{c:.3f} * C^{m:.3f}{profile.caveat}")
show_figure(
    save_compute_optimal_params(
        isoflop_analysis, FIGURES_DIR / "compute_optimal_params.png", BUDGET
    )
)
print(
    f"compute-optimal parameters at {BUDGET:.3g} FLOPs: "
    f"{estimate_params(isoflop_analysis, BUDGET):.3g}{profile.caveat}"
)

# %% [markdown]
r"""
**Question 2.4.2 (report).** Based on the plot, what is the optimal number of parameters for a
compute budget of 1e15 FLOPs? Explain how you estimated it.

### Question 2.4.3: compute-optimal tokens

The compute-optimal number of training tokens follows from $C \approx 6 N D$ (Kaplan et al.,
2020): $D_{opt}(C) = C / (6 N_{opt}(C))$. The next cell plots it against the budget, with its
own power law.
"""

# %%
require("2.4.2 analysis")
show_figure(
    save_compute_optimal_tokens(
        isoflop_analysis, FIGURES_DIR / "compute_optimal_tokens.png", BUDGET
    )
)
m, c = isoflop_analysis.tokens_fit
print(f"fit: D_opt(C) = 10^{c:.3f} * C^{m:.3f}{profile.caveat}")
print(
    f"compute-optimal training tokens at {BUDGET:.3g} FLOPs: "
    f"{estimate_tokens(isoflop_analysis, BUDGET):.3g}{profile.caveat}"
)

# %% [markdown]
r"""
**Written question (2.4.3).** Given the compute-optimal model plot and the compute-optimal token
plot, is the training setup of question 2.3.3 compute optimal? If not, how should it change?
(Three sentences at most.)

**Deliverables of section 2.4** (a report section called "Scaling Law and IsoFLOP Profiles"):

- your written answer to question 2.4.1, three sentences at most;
- your answer to question 2.4.2: the optimal number of parameters for 1e15 FLOPs, and how you
  estimated it;
- your written answer to question 2.4.3, three sentences at most.

## Submission

Save this notebook as `hw2_code_<YOUR_UNI>.ipynb` and submit it on the CourseWorks assignment
page; your report (with the figures of `figures/`) goes to Gradescope.
"""
