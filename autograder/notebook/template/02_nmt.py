"""Notebook template, part 2: section 2.2, neural machine translation with an encoder-decoder.

Read by autograder/notebook/plan.py (see its docstring for the format).
"""
# ruff: noqa: E402, F401, F821

# %% [markdown]
r"""
## 2.2 Neural machine translation (NMT): Transformers (Attention Is All You Need)

Translation is a sequence-to-sequence problem. A Transformer (Vaswani et al., 2017) uses an
encoder-decoder architecture and relies entirely on attention to draw dependencies between the
input and the output. The encoder reads the source word in parallel with stacked self-attention
and position-wise fully connected layers; the decoder then generates the output one character at
a time, attending to its own earlier outputs and to the encoder's hidden states.

The input characters go through an embedding layer ($30 \times H$, one $H$-dimensional vector
per token) before the encoder. At each step the decoder outputs unnormalized log-probabilities
over the vocabulary (a linear map of its hidden state); the model is trained with the
cross-entropy between these and the ground truth at each step.

### Question 2.2.1: scaled dot-product attention

The attention function is a dot product between the linearly transformed query and keys, with
weight matrices $W_q$ and $W_k$:

$$\tilde{\alpha}_i^{(t)} = f(Q_t, K_i) = \frac{(W_q Q_t)^\top (W_k K_i)}{\sqrt{d}}, \qquad
\alpha_i^{(t)} = \mathrm{softmax}(\tilde{\alpha}^{(t)})_i, \qquad
c_t = \sum_{i=1}^{T} \alpha_i^{(t)} W_v V_i$$

where $d$ is the dimension of the query and $W_v$ projects the values to produce the context
vectors.

**Implement the scaled dot-product attention**: fill in `ScaledDotAttention.forward` below.
Use `torch.bmm` (or `@`) for the dot products between the batched queries and the batched keys.
Useful functions: `squeeze`, `unsqueeze`, `expand_as`, `cat`, `view`, `bmm` (or `@`).

Your forward pass must work with a 2D query tensor (batch_size x hidden_size: one query per
example, what the handout writes batch_size x (1) x hidden_size) and a 3D one (batch_size x k x
hidden_size). It returns the context (batch_size x k x hidden_size, so batch_size x 1 x
hidden_size for 2D queries; batch_size x hidden_size is accepted too) and the attention weights
(batch_size x k x seq_len, each row summing to 1; the transposed layout batch_size x seq_len x k
is accepted too).
"""

# %%
# include attention: ScaledDotAttention

# %%
check("2.2.1")

# %% [markdown]
r"""
### Question 2.2.2: causal scaled dot-product attention

**Implement the causal scaled dot-product attention**: fill in
`CausalScaledDotAttention.forward`. It is mostly the same as `ScaledDotAttention`; in addition,
query $i$ must not attend to the keys of future time steps $j > i$: add `float("-inf")` to those
entries of the unnormalized attention weights (the given `self.neg_inf`, -1e7, works as well:
both pass the checks). `torch.tril`, `torch.triu` or `masked_fill` are handy. Causal attention is
self-attention here: the queries are the keys' positions, query $i$ at position $i$ (the checks
use as many queries as keys; with fewer, query $i$ stays aligned with key $i$).
"""

# %%
# include attention: CausalScaledDotAttention

# %%
check("2.2.2")

# %% [markdown]
r"""
### Question 2.2.3: the encoder (given) and positional encodings

`ScaledDotAttention` is the building block of a simplified Transformer encoder (no layer
normalization, one head). The encoder has three components:

1. **Positional encoding.** To encode the position of each character, its embedding gets a
   constant vector that depends on the position $p$:
   $p^{\text{th}}$ embedding = input embedding + positional encoding($p$), with the sine and
   cosine functions of Vaswani et al. (2017):
   $$\mathrm{PE}(pos, 2i) = \sin\frac{pos}{10000^{2i/d_{\text{model}}}}, \qquad
   \mathrm{PE}(pos, 2i+1) = \cos\frac{pos}{10000^{2i/d_{\text{model}}}}$$
   The encodings never change during training, so they are computed once, when the model is
   built.
2. A `ScaledDotAttention` layer (self-attention), with a residual connection.
3. An MLP (`Linear` + `ReLU`), with a residual connection.

The decoder is built the same way, with a `CausalScaledDotAttention` over its own inputs and a
`ScaledDotAttention` over the encoder's outputs in each layer.

**Written question (2.2.3).** Why do we need to represent the position of each character
through this positional encoding? (One or two sentences.) What are the advantages of this
positional encoding method over other methods, such as a one-hot encoding of the position? (One
or two sentences.) Answer in your report.
"""

# %%
# include models: MAX_SEQ_LEN, create_positional_encodings, _mlp
# include models: TransformerEncoder, TransformerDecoder

# %% [markdown]
r"""
### Training and evaluation code (part 1)

Given: the training loop (Adam, the learning rate decayed by 0.99 every epoch, early stopping on
the validation loss, the best weights kept), the loss of the encoder-decoder (teacher forcing:
the decoder reads `<SOS>` + target and predicts target + `<EOS>`), and greedy translation.
"""

# %%
# include train: TrainConfig, TrainHistory, model_device, LossFn, encoder_decoder_loss
# include train: evaluate, fit, train_encoder_decoder, MAX_GENERATED, translate
# include train: translate_sentence, word_accuracy

# %% [markdown]
r"""
### Question 2.2.4: model capacity and dataset size

Train the Transformer with hidden size 16 and 32, on the small and on the large dataset: four
runs, with the suggested hyper-parameters (Adam, learning rate 5e-4 decayed by 0.99 per epoch,
batch size 64 on the small dataset and 512 on the large one, early stopping). The cell below
runs them, prints the lowest validation loss of each run and saves the two comparison figures
(`save_loss_comparison_by_hidden` and `save_loss_comparison_by_dataset`).
"""

# %%
# include plots: Results, _plot_runs, _save_train_val
# include plots: save_loss_comparison_by_hidden, save_loss_comparison_by_dataset

# %%
# include experiments: TEST_SENTENCES, ENCDEC_RUNS, encdec_config

require("data", "2.2.1", "2.2.2")
encdec_results = {}
for dataset, batch_size, hidden in ENCDEC_RUNS:
    config = encdec_config(hidden, batch_size, profile, DEVICE, SEED)
    encoder, decoder, history = train_encoder_decoder(
        datasets[dataset]["train"], datasets[dataset]["val"], config
    )
    encdec_results[(hidden, dataset)] = history.to_json()
    val = datasets[dataset]["val"][: profile.accuracy_pairs]
    accuracy = word_accuracy(val, lambda w, e=encoder, d=decoder: translate(e, d, w))
    print(
        f"hidden {hidden}, {dataset} dataset: lowest validation loss "
        f"{history.best_val_loss:.4f} (epoch {history.best_epoch} of "
        f"{len(history.val_loss)}), word accuracy {accuracy:.1%}{profile.caveat}"
    )

print("\ntranslations by the last model (hidden 32, large dataset):")
for sentence in TEST_SENTENCES:
    translation = translate_sentence(sentence, lambda w: translate(encoder, decoder, w))
    print(f"  {sentence!r} -> {translation!r}")
show_figure(
    save_loss_comparison_by_hidden(encdec_results, FIGURES_DIR / "loss_comparison_by_hidden.png")
)
show_figure(
    save_loss_comparison_by_dataset(encdec_results, FIGURES_DIR / "loss_comparison_by_dataset.png")
)

# %% [markdown]
r"""
**Written question (2.2.4).** Report the effects of increasing the model capacity (the hidden
size) and of increasing the dataset size: how is the loss as a function of gradient descent
iterations affected, and how does changing the model or dataset size affect generalization? Are
these results what you would expect?

**Deliverables of section 2.2** (a report section called "Scaled Dot Product Attention"):

- screenshots of your `ScaledDotAttention` and `CausalScaledDotAttention` implementations, with
  the lines you added highlighted;
- your written answer to question 2.2.3;
- the two loss plots above (in `figures/`) and the lowest validation loss of each run;
- your answer to the written part of question 2.2.4, six sentences at most.
"""
