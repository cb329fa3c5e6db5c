"""Notebook template, part 3: section 2.3, decoder-only NMT and multi-head attention.

Read by autograder/notebook/plan.py (see its docstring for the format).
"""
# ruff: noqa: E402, F401, F821

# %% [markdown]
r"""
## 2.3 Decoder-only NMT

Now a decoder-only model translates, with causal attention. Instead of encoding the input first,
the decoder reads the input and the target together, separated by the end-of-prompt token
`<EOP>`:

- input of the decoder: `<SOS>` source `<EOP>` target, e.g. `<SOS> c a t <EOP> a t c a y`;
- what it predicts at each position, the input shifted by one: source `<EOP>` target `<EOS>`,
  e.g. `c a t <EOP> a t c a y <EOS>`.

The decoder reads this sequence with *causal* attention, and the cross-entropy loss counts only
the predictions from the output at `<EOP>` on (the target and its `<EOS>`).

To translate a word, the decoder reads `<SOS>` word `<EOP>` and predicts the first character of
the translation; that character is appended to its input, and so on, until it predicts `<EOS>`
or the translation reaches its maximum length.

### Question 2.3.1: the decoder-only Transformer

**Implement the forward function of `DecoderOnlyTransformer`.** It embeds the tokens and adds
the positional encodings; each layer is a (multi-head) causal self-attention with a residual
connection, then an MLP with a residual connection; a linear layer (`self.out`) gives the
logits. It returns the logits (batch x L x vocab) and the attention weights of every layer,
stacked.
"""

# %%
# include models: DecoderOnlyTransformer

# %%
check("2.3.1")

# %% [markdown]
r"""
### Question 2.3.2: the prompt of `decoder_generate`

**Implement the missing line of `decoder_generate`**: the list of token indices
`<SOS>` input sequence `<EOP>` that the decoder reads first (`string_to_indices`,
`SOS_TOKEN` and `EOP_TOKEN` are defined in the Data section).
"""

# %%
# include train: decoder_generate

# %%
check("2.3.2")

# %% [markdown]
r"""
### Training and evaluation code (part 2)

Given: the decoder-only inputs and targets, its loss (on the target span only), and its
training. Training also counts FLOPs (floating point operations), used in section 2.4: per
example of length $L$ and per layer, the Q, K and V projections take $2 \cdot 3 L H^2$, the
attention scores $2 L^2 H$, the softmax $3 L^2$, the weighted sum $2 L^2 H$ and the MLP
$2 L H^2$; the output layer $2 L V H$; the backward pass twice the forward pass.
"""

# %%
# include train: decoder_only_inputs, decoder_only_loss
# include models: decoder_forward_flops, decoder_training_flops
# include train: decoder_epoch_cost, train_decoder_only

# %% [markdown]
r"""
### Question 2.3.3: train the model

Run the next two cells: they train a decoder-only model (hidden size 128, 3 layers, one head) on
the small dataset, then translate a few sentences with it.
"""

# %%
# include experiments: decoder_config

require("data", "2.2.2", "2.3.1")
config = decoder_config(profile, DEVICE, SEED)
decoder_model, decoder_history = train_decoder_only(
    datasets["small"]["train"], datasets["small"]["val"], config
)
print(
    f"decoder-only, hidden {config.hidden_size}: lowest validation loss "
    f"{decoder_history.best_val_loss:.4f} (epoch {decoder_history.best_epoch} of "
    f"{len(decoder_history.val_loss)}){profile.caveat}"
)

# %%
require("2.3.3", "2.3.2")


def generate(word: str) -> str:
    return decoder_generate(decoder_model, word)


for sentence in TEST_SENTENCES:
    print(f"{sentence!r} -> {translate_sentence(sentence, generate)!r}")
accuracy = word_accuracy(datasets["small"]["val"][: profile.accuracy_pairs], generate)
print(f"word accuracy on validation words: {accuracy:.1%}")

# %% [markdown]
r"""
**Written question (2.3.3).** What are the pros and cons of the decoder-only approach? How is
the quality of its translations compared to those of the encoder-decoder model?
"""

# %% [markdown]
r"""
### Question 2.3.4: multi-head attention

Multi-head attention has the form

$$\mathrm{MultiHead}(Q, K, V) = \mathrm{Concat}(\mathrm{head}_1, \dots, \mathrm{head}_h)\,W^O,
\qquad \mathrm{head}_i = \mathrm{Attention}(Q W_i^Q, K W_i^K, V W_i^V).$$

**Implement `MultiHeadCausalScaledDotAttention`**: create $W^O$ in `__init__` and write
`forward`. Here every head is a full-width `CausalScaledDotAttention(hidden_size)` (given in
`self.heads`): the concatenated contexts have `num_heads * hidden_size` features, and $W^O$
maps them back to `hidden_size`. `forward` returns the context (batch x k x hidden) and the
attention weights of every head, stacked on dimension 1 (batch x heads x k x seq_len).
"""

# %%
# include attention: MultiHeadCausalScaledDotAttention

# %%
check("2.3.4")

# %% [markdown]
r"""
### Question 2.3.5: more heads or more hidden units?

Five decoder-only models follow, with (hidden size, heads) = (32, 1), (32, 2), (32, 4), (64, 1)
and (128, 1). To compare their parameter efficiency, **implement `calc_parameters_decoder`**: the
number of parameters of `DecoderOnlyTransformer(vocab_size, hidden_size, num_layers,
num_heads)`, embedding included (the positional encodings are not parameters). It must equal
`sum(p.numel() for p in model.parameters())`, computed from the sizes alone (do not build
the model). Count $W^O$ as you wrote it in 2.3.4, with or without a bias.
"""

# %%
# include models: calc_parameters_decoder

# %%
check("2.3.5")

# %% [markdown]
r"""
Given: the figure of question 2.3.5, the validation losses of the five models and their lowest
validation loss against their parameter count. The cell after it trains the five models.
"""

# %%
# include plots: save_heads_vs_hidden

# %%
# include experiments: HEADS_RUNS, heads_config

require("data", "2.2.2", "2.3.1", "2.3.4", "2.3.5")
heads_results, heads_params = {}, {}
for hidden, heads in HEADS_RUNS:
    config = heads_config(hidden, heads, profile, DEVICE, SEED)
    _, history = train_decoder_only(datasets["small"]["train"], datasets["small"]["val"], config)
    heads_results[(hidden, heads)] = history.to_json()
    heads_params[(hidden, heads)] = calc_parameters_decoder(
        VOCAB_SIZE, hidden, config.num_layers, heads
    )
    print(
        f"hidden {hidden}, {heads} head(s): {heads_params[(hidden, heads)]:,} parameters, "
        f"lowest validation loss {history.best_val_loss:.4f}"
    )
show_figure(save_heads_vs_hidden(heads_results, heads_params, FIGURES_DIR / "heads_vs_hidden.png"))

# %% [markdown]
r"""
**Written question (2.3.5).** What tends to improve performance more: increasing the number of
attention heads for a fixed hidden size, or increasing the hidden size with a single head? Which
of the two is more parameter efficient?

**Deliverables of section 2.3** (a report section called "Decoder Only NMT"):

- screenshots of your implementations for questions 2.3.1 and 2.3.2;
- your written answer to question 2.3.3;
- a screenshot of your implementation for question 2.3.4;
- your written answer to question 2.3.5, the loss curves above, and a screenshot of your
  `calc_parameters_decoder`.
"""
