"""The reference as one namespace, and known bugs as textual mutants of it.

``reference_namespace()`` executes the graded reference modules as one module, the way a notebook
holds them (one namespace, so a class defined in ``attention`` is the one ``models`` builds).
``reference_namespace(mutant)`` does the same with one known bug applied: the grader's goldens
command runs every probe case on each mutant, so that a student's wrong output can be matched to
the bug that produces it (see ``autograder/diagnose``). Mutants are patches of this package's
source, kept here, beside the code they change, so that they stay in sync with it: a patch whose
text is no longer found is an error, never a silent no-op.
"""

from __future__ import annotations

import re
import sys
import types
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
MODULES = ("data", "attention", "models", "train", "scaling")
"""The modules a notebook holds, in the order they depend on each other."""


@dataclass(frozen=True)
class Patch:
    """One textual change to a reference module."""

    module: str
    """The module changed, e.g. ``"attention"``."""
    anchor: str
    """Text that comes before the change (a ``def`` or ``class`` line)."""
    old: str
    """The text replaced: its first occurrence after the anchor."""
    new: str
    """What replaces it."""


def apply_patch(source: str, patch: Patch) -> str:
    """``source`` with ``patch`` applied; ValueError when its anchor or text is missing."""
    start = source.find(patch.anchor)
    at = source.find(patch.old, start) if start >= 0 else -1
    if at < 0:
        raise ValueError(f"cannot find {patch.old!r} after {patch.anchor!r} in {patch.module}")
    return source[:at] + patch.new + source[at + len(patch.old) :]


def module_source(name: str, patches: tuple[Patch, ...] = ()) -> str:
    """The source of ``reference/<name>.py`` with the patches that concern it applied."""
    source = (HERE / f"{name}.py").read_text(encoding="utf-8")
    for patch in patches:
        if patch.module == name:
            source = apply_patch(source, patch)
    return source


def reference_source(patches: tuple[Patch, ...] = ()) -> str:
    """The graded reference modules as one source text, imports between them removed."""
    unknown = {p.module for p in patches} - set(MODULES)
    if unknown:
        raise ValueError(f"patches of unknown modules: {sorted(unknown)}")
    parts = ["from __future__ import annotations"]
    for name in MODULES:
        text = module_source(name, patches)
        text = re.sub(r"^from reference\.\S+ import \([^)]*\)\n", "", text, flags=re.M)
        text = re.sub(r"^from reference\.\S+ import .*\n", "", text, flags=re.M)
        parts.append(text.replace("from __future__ import annotations\n", ""))
    return "\n".join(parts)


def reference_namespace(patches: tuple[Patch, ...] = (), *, name: str = "reference_ns"):
    """Execute ``reference_source(patches)`` as a fresh module and return it."""
    module = types.ModuleType(name)
    module.__file__ = f"<{name}>"
    sys.modules[name] = module  # dataclasses look their module up while the class is built
    try:
        exec(compile(reference_source(patches), module.__file__, "exec"), module.__dict__)
    finally:
        del sys.modules[name]
    return module


# --------------------------------------------------------------------------- the bug catalogue


@dataclass(frozen=True)
class Bug:
    """A mistake students make, as a mutant of the reference."""

    id: str
    """Stable identifier, e.g. ``MASK-ZERO-NOT-NEGINF``: reports, extra_data and tests use it."""
    question: str
    """The handout question whose code it breaks."""
    description: str
    """What the student did, in one line (for staff)."""
    hint: str
    """For the student: the symptom and how to find it, without the answer."""
    patches: tuple[Patch, ...]
    """The change to the reference that makes the mutant."""
    cases: tuple[str, ...] = ()
    """The probe cases whose outputs identify it (empty: every case of its question)."""


def _p(module: str, anchor: str, old: str, new: str) -> Patch:
    return Patch(module, anchor, old, new)


_SDPA, _CAUSAL = "class ScaledDotAttention", "class CausalScaledDotAttention"
_MHA, _DECODER = "class MultiHeadCausalScaledDotAttention", "class DecoderOnlyTransformer"
_SCORES = "unnormalized_attention = q @ k.transpose(1, 2) * self.scaling_factor  # (B, k, L)"
_MASK = "future = torch.ones_like(unnormalized_attention, dtype=torch.bool).triu(1)  # (B, k, L)"
_FILL = 'unnormalized_attention = unnormalized_attention.masked_fill(future, float("-inf"))'
_CAT = "context = torch.cat([c for c, _ in outputs], dim=-1)  # (B, k, h * H)"
_WO = "self.W_O = nn.Linear(num_heads * hidden_size, hidden_size)"
_COUNT = "return V * H + num_layers * per_layer + H * V + V"
_PROMPT = "tokens = [SOS_TOKEN] + string_to_indices(input_string) + [EOP_TOKEN]"
_LOGITS = "logits = self.out(x)  # (B, L, V)"
_FORWARD = "def forward(self, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:"

BUGS: tuple[Bug, ...] = (
    # 2.2.1 ScaledDotAttention -----------------------------------------------------------------
    Bug(
        "SOFTMAX-WRONG-AXIS",
        "2.2.1",
        "softmax over the queries axis instead of the keys axis",
        "Each query's weights should be a distribution over the keys, but yours are normalised "
        "along another axis. Print `attention_weights.sum(dim=...)` for each axis and check "
        "which dimension your softmax normalises.",
        (
            _p(
                "attention",
                _SDPA,
                "attention_weights = self.softmax(unnormalized_attention)",
                "attention_weights = unnormalized_attention.softmax(dim=1)",
            ),
        ),
    ),
    Bug(
        "SCALE-MISSING",
        "2.2.1",
        "scores not scaled",
        "Your weights are too peaked for large inputs: the scores are not scaled as the formula "
        "says. Compare your scores with the formula of question 2.2.2.1, term by term.",
        (_p("attention", _SDPA, _SCORES, "unnormalized_attention = q @ k.transpose(1, 2)"),),
    ),
    Bug(
        "SCALE-BY-H",
        "2.2.1",
        "scores divided by the hidden size instead of its square root",
        "Your weights are too flat: the scores are divided by too much. Check the scaling factor "
        "of the formula (and what `self.scaling_factor` already holds).",
        (
            _p(
                "attention",
                _SDPA,
                _SCORES,
                "unnormalized_attention = q @ k.transpose(1, 2) / self.hidden_size",
            ),
        ),
    ),
    Bug(
        "SCALE-WRONG-SIZE",
        "2.2.1",
        "scaled by the square root of the number of keys instead of the hidden size",
        "Your scaling depends on the number of keys: with the same hidden size but another "
        "sequence length your scores change scale. Check which size the formula's d is.",
        (
            _p(
                "attention",
                _SDPA,
                _SCORES,
                "unnormalized_attention = q @ k.transpose(1, 2) / keys.size(1) ** 0.5",
            ),
        ),
    ),
    Bug(
        "SCORES-TRANSPOSED",
        "2.2.1",
        "scores computed as (batch, keys, queries) and the softmax taken over the queries",
        "Your scores are laid out as (batch, keys, queries) but the softmax normalises them as "
        "if they were (batch, queries, keys): each query's weights do not sum to 1. Write the "
        "shape next to every line and check the softmax's axis against it.",
        (
            _p(
                "attention",
                _SDPA,
                _SCORES + "\n        attention_weights = self.softmax(unnormalized_attention)"
                "  # (B, k, L)\n        context = attention_weights @ v  # (B, k, H)",
                "unnormalized_attention = k @ q.transpose(1, 2) * self.scaling_factor"
                "\n        attention_weights = self.softmax(unnormalized_attention)"
                "\n        context = attention_weights.transpose(1, 2) @ v",
            ),
        ),
    ),
    Bug(
        "VIEW-NOT-TRANSPOSE",
        "2.2.1",
        "keys reshaped with view instead of transposed",
        "Your scores have the right shape but the wrong values: `view`/`reshape` to a new shape "
        "does not swap axes, it regroups the numbers in memory order. Check how you turn the "
        "keys (batch, L, H) into (batch, H, L).",
        (
            _p(
                "attention",
                _SDPA,
                _SCORES,
                "unnormalized_attention = q @ k.view(batch_size, self.hidden_size, -1)"
                " * self.scaling_factor",
            ),
        ),
    ),
    Bug(
        "CONTEXT-SUMMED",
        "2.2.1",
        "context summed over the queries",
        "Your context has one vector per batch row instead of one per query: it is summed over "
        "an axis it should keep. Check the shape of your context for 3D queries.",
        (
            _p(
                "attention",
                _SDPA,
                "context = attention_weights @ v  # (B, k, H)",
                "context = (attention_weights @ v).sum(dim=1, keepdim=True)",
            ),
        ),
    ),
    Bug(
        "QUERY-2D-BROADCAST",
        "2.2.1",
        "2D queries projected as they are, so the batch broadcasts against itself",
        "With 2D queries (batch, hidden) your output has an extra batch axis: the matrix "
        "product broadcasts your 2D queries against every batch row. Give 2D queries their "
        "query axis before projecting them.",
        (
            _p(
                "attention",
                _SDPA,
                "q = self.Q(queries.view(batch_size, -1, self.hidden_size))  # (B, k, H)",
                "q = self.Q(queries)",
            ),
        ),
    ),
    # 2.2.2 CausalScaledDotAttention -----------------------------------------------------------
    Bug(
        "MASK-NOT-APPLIED",
        "2.2.2",
        "the causal mask is computed but never applied",
        "Earlier positions change when only later ones do: no mask reaches the scores. Check "
        "that the masked scores are the ones your softmax uses.",
        (_p("attention", _CAUSAL, _FILL, "unnormalized_attention = unnormalized_attention"),),
    ),
    Bug(
        "MASK-ZERO-NOT-NEGINF",
        "2.2.2",
        "future scores set to 0 instead of -inf",
        "Future keys still get some weight after the softmax: a masked score must make its "
        "weight exactly 0. What does softmax give a score of 0?",
        (
            _p(
                "attention",
                _CAUSAL,
                _FILL,
                "unnormalized_attention = unnormalized_attention.masked_fill(future, 0.0)",
            ),
        ),
    ),
    Bug(
        "MASK-HIDES-DIAGONAL",
        "2.2.2",
        "the mask hides each position from itself too",
        "Your first query attends to nothing and its weights are NaN: the mask also hides the "
        "key at the query's own position. Which keys may query i see?",
        (_p("attention", _CAUSAL, _MASK, _MASK.replace(".triu(1)", ".triu(0)")),),
    ),
    Bug(
        "MASK-KEEPS-FUTURE",
        "2.2.2",
        "the mask hides the past and keeps the future",
        "Query i attends to later positions and not to earlier ones: the mask is the wrong "
        "triangle. Print your mask for a length of 4 and compare it with what query i may see.",
        (_p("attention", _CAUSAL, _MASK, _MASK.replace(".triu(1)", ".tril(-1)")),),
    ),
    Bug(
        "MASK-AFTER-SOFTMAX",
        "2.2.2",
        "future weights zeroed after the softmax, so the rows no longer sum to 1",
        "Your weights are 0 for future keys but each query's weights no longer sum to 1: the "
        "mask is applied after the normalisation. Where must the mask act?",
        (
            _p(
                "attention",
                _CAUSAL,
                _FILL + "\n        attention_weights = self.softmax(unnormalized_attention)"
                "  # (B, k, L)",
                "attention_weights = self.softmax(unnormalized_attention)"
                "\n        attention_weights = attention_weights.masked_fill(future, 0.0)",
            ),
        ),
    ),
    # 2.3.1 DecoderOnlyTransformer.forward -----------------------------------------------------
    Bug(
        "NO-POSITIONS",
        "2.3.1",
        "forward forgets to add the positional encodings",
        "Your logits do not depend on where a token is: the positional encodings never reach "
        "the embeddings. Check the first line of your forward.",
        (
            _p(
                "models",
                _DECODER,
                "x = self.embedding(inputs) + self.positional_encodings[:seq_len]",
                "x = self.embedding(inputs)",
            ),
        ),
    ),
    Bug(
        "RESIDUAL-MISSING",
        "2.3.1",
        "no residual connection around the attention",
        "Your layer replaces x by the attention's output instead of adding it: the residual "
        "connection around the attention is missing.",
        (_p("models", _DECODER, "x = x + context", "x = context"),),
    ),
    Bug(
        "MLP-RESIDUAL-MISSING",
        "2.3.1",
        "no residual connection around the MLP",
        "Your layer replaces x by the MLP's output instead of adding it: the residual connection "
        "around the MLP is missing.",
        (_p("models", _DECODER + "(nn.Module)", "x = x + mlp(x)", "x = mlp(x)"),),
    ),
    Bug(
        "PE-SIN-COS-SWAPPED",
        "2.3.1",
        "positional encodings with sine and cosine swapped",
        "Your positional encodings differ from the given ones: sine belongs on the even "
        "dimensions and cosine on the odd ones. Did you change `create_positional_encodings`?",
        (
            _p(
                "models",
                "def create_positional_encodings",
                "encodings[:, 0::2] = torch.sin(angles)\n"
                "    encodings[:, 1::2] = torch.cos(angles[:, : hidden_size // 2])",
                "encodings[:, 0::2] = torch.cos(angles)\n"
                "    encodings[:, 1::2] = torch.sin(angles[:, : hidden_size // 2])",
            ),
        ),
    ),
    Bug(
        "PE-WRONG-EXPONENT",
        "2.3.1",
        "positional encodings with the exponent 2 * 2i / d",
        "Your positional encodings differ from the given ones: their frequencies fall too fast "
        "with the dimension. Did you change `create_positional_encodings`? Compare its exponent "
        "with the handout's PE formula.",
        (
            _p(
                "models",
                "def create_positional_encodings",
                "angles = positions / 10000 ** (dims / hidden_size)",
                "angles = positions / 10000 ** (2 * dims / hidden_size)",
            ),
        ),
    ),
    # 2.3.2 decoder_generate -------------------------------------------------------------------
    Bug(
        "PROMPT-NO-SOS",
        "2.3.2",
        "the prompt has no <SOS> token",
        "The first sequence your decoder_generate gives the model does not start the way the "
        "training inputs start. Compare it with the decoder's training input of question 2.3.",
        (
            _p(
                "train",
                "def decoder_generate",
                _PROMPT,
                "tokens = string_to_indices(input_string) + [EOP_TOKEN]",
            ),
        ),
    ),
    Bug(
        "PROMPT-NO-EOP",
        "2.3.2",
        "the prompt has no <EOP> token",
        "The model is never told where the input ends: the prompt lacks the token that "
        "separates the input from the translation.",
        (
            _p(
                "train",
                "def decoder_generate",
                _PROMPT,
                "tokens = [SOS_TOKEN] + string_to_indices(input_string)",
            ),
        ),
    ),
    Bug(
        "PROMPT-EOS-NOT-EOP",
        "2.3.2",
        "the prompt ends with <EOS> instead of <EOP>",
        "Your prompt ends with the token that ends a translation, not the one that ends the "
        "input. Check which special token separates the input from the target.",
        (
            _p(
                "train",
                "def decoder_generate",
                _PROMPT,
                "tokens = [SOS_TOKEN] + string_to_indices(input_string) + [EOS_TOKEN]",
            ),
        ),
    ),
    Bug(
        "GENERATE-NO-STOP",
        "2.3.2",
        "generation goes on after <EOS>",
        "Your decoder_generate keeps asking the model for tokens after it produced <EOS>: "
        "generation should stop there.",
        (
            _p(
                "train",
                "def decoder_generate",
                "        if next_token == EOS_TOKEN:\n            break\n",
                "",
            ),
        ),
    ),
    # 2.3.4 MultiHeadCausalScaledDotAttention --------------------------------------------------
    Bug(
        "HEADS-AVERAGED",
        "2.3.4",
        "heads averaged and W^O mapping H to H",
        "Your W^O takes H features, so the heads are averaged or summed rather than "
        "concatenated: the formula concatenates every head's full context before W^O.",
        (
            _p("attention", _MHA, _WO, "self.W_O = nn.Linear(hidden_size, hidden_size)"),
            _p(
                "attention",
                _MHA + "(nn.Module)",
                _CAT,
                "context = torch.stack([c for c, _ in outputs]).mean(dim=0)  # (B, k, H)",
            ),
        ),
        cases=("mha_structure",),
    ),
    Bug(
        "WO-MISSING",
        "2.3.4",
        "no W^O: the concatenated heads are returned as they are",
        "Your output has num_heads * hidden features: the output projection W^O that maps the "
        "concatenated heads back to the hidden size is missing.",
        (
            _p("attention", _MHA, _WO, "self.W_O = None"),
            _p(
                "attention",
                _MHA + "(nn.Module)",
                "context = self.W_O(context)  # (B, k, H)",
                "pass",
            ),
        ),
    ),
    Bug(
        "HEADS-NO-TRANSPOSE",
        "2.3.4",
        "heads stacked on axis 1 and reshaped without a transpose",
        "Your multi-head output has the right shape but mixes the heads' features: stacking the "
        "heads on one axis and reshaping without moving that axis next to the features "
        "interleaves positions and heads. Check which axes your reshape merges.",
        (
            _p(
                "attention",
                _MHA + "(nn.Module)",
                _CAT,
                "context = torch.stack([c for c, _ in outputs], dim=1).reshape("
                "queries.size(0), queries.size(1), -1)",
            ),
        ),
    ),
    Bug(
        "HEADS-REVERSED",
        "2.3.4",
        "heads concatenated in reverse order",
        "Your heads are concatenated in another order than W^O expects: head 1 comes first.",
        (
            _p(
                "attention",
                _MHA + "(nn.Module)",
                _CAT,
                "context = torch.cat([c for c, _ in reversed(outputs)], dim=-1)",
            ),
        ),
    ),
    # 2.3.5 calc_parameters_decoder ------------------------------------------------------------
    Bug(
        "COUNT-NO-BIASES",
        "2.3.5",
        "the parameter count leaves out the linear layers' biases",
        "Your count is short by a few parameters per linear layer: every nn.Linear here has a "
        "bias as well as a weight.",
        (_p("models", "def calc_parameters_decoder", "linear = H * H + H", "linear = H * H"),),
    ),
    Bug(
        "COUNT-NO-EMBEDDING",
        "2.3.5",
        "the parameter count leaves out the embedding",
        "Your count is short by vocab_size * hidden_size: the embedding table is a parameter "
        "of the model too.",
        (
            _p(
                "models",
                "def calc_parameters_decoder",
                _COUNT,
                "return num_layers * per_layer + H * V + V",
            ),
        ),
    ),
    Bug(
        "COUNT-NO-OUTPUT-LAYER",
        "2.3.5",
        "the parameter count leaves out the output layer",
        "Your count misses the last linear layer, which maps the hidden size to the vocabulary.",
        (
            _p(
                "models",
                "def calc_parameters_decoder",
                _COUNT,
                "return V * H + num_layers * per_layer",
            ),
        ),
    ),
    Bug(
        "COUNT-WO-SINGLE-HEAD",
        "2.3.5",
        "W^O counted also for one head, where the model has none",
        "Your count is too large for one head: with num_heads = 1 the model uses "
        "CausalScaledDotAttention directly, without W^O.",
        (
            _p(
                "models",
                "def calc_parameters_decoder",
                "(h * H * H + H if h > 1 else 0)",
                "(h * H * H + H)",
            ),
        ),
    ),
    Bug(
        "COUNT-WO-ONE-HEAD-SIZE",
        "2.3.5",
        "W^O counted as H x H instead of (num_heads * H) x H",
        "Your count is short for several heads: W^O takes the concatenation of every head's "
        "context, not one head's.",
        (
            _p(
                "models",
                "def calc_parameters_decoder",
                "(h * H * H + H if h > 1 else 0)",
                "(H * H + H if h > 1 else 0)",
            ),
        ),
    ),
    # 2.4.2 IsoFLOP fits ------------------------------------------------------------------------
    Bug(
        "OPT-ARGMIN-GRID",
        "2.4.2",
        "n_opt is the trained size with the lowest loss, not the parabola's vertex",
        "Your n_opt is one of the given sizes: it should be the minimum of the fitted parabola, "
        "which usually lies between them.",
        (
            _p(
                "scaling",
                "def find_optimal_params",
                "n_opt = 10 ** (-p[1] / (2 * p[0]))",
                "n_opt = params[np.argmin(losses)]",
            ),
        ),
    ),
    Bug(
        "FIT-NATURAL-LOG",
        "2.4.2",
        "the parabola fitted in natural log of the parameters",
        "Your p is a parabola in ln N, but the plotting code (and the question) expects it in "
        "log10 N.",
        (
            _p(
                "scaling",
                "def find_optimal_params",
                "p = np.polyfit(np.log10(params), losses, 2)\n"
                "    n_opt = 10 ** (-p[1] / (2 * p[0]))",
                "p = np.polyfit(np.log(params), losses, 2)\n    n_opt = np.exp(-p[1] / (2 * p[0]))",
            ),
        ),
    ),
    Bug(
        "FIT-LINEAR-SPACE",
        "2.4.2",
        "the parabola fitted against the parameter count itself, not its logarithm",
        "Your parabola is fitted in parameters rather than log10 parameters, where IsoFLOP "
        "profiles are parabolas.",
        (
            _p(
                "scaling",
                "def find_optimal_params",
                "p = np.polyfit(np.log10(params), losses, 2)\n"
                "    n_opt = 10 ** (-p[1] / (2 * p[0]))",
                "p = np.polyfit(params, losses, 2)\n    n_opt = -p[1] / (2 * p[0])",
            ),
        ),
    ),
    Bug(
        "LINE-NATURAL-LOG",
        "2.4.2",
        "the power law fitted in natural log",
        "Your slope is right but your intercept is not in log10 units: the line is fitted in "
        "natural log. The plotting code draws 10 ** (m log10 x + c).",
        (
            _p(
                "scaling",
                "def fit_linear_log",
                "m, c = np.polyfit(np.log10(x), np.log10(y), 1)",
                "m, c = np.polyfit(np.log(x), np.log(y), 1)",
            ),
        ),
    ),
    Bug(
        "LINE-LINEAR-SPACE",
        "2.4.2",
        "the power law fitted as a straight line in linear space",
        "A power law is a straight line in log-log space, not in linear space: fit log10 y "
        "against log10 x.",
        (
            _p(
                "scaling",
                "def fit_linear_log",
                "m, c = np.polyfit(np.log10(x), np.log10(y), 1)",
                "m, c = np.polyfit(x, y, 1)",
            ),
        ),
    ),
    Bug(
        "LINE-SWAPPED",
        "2.4.2",
        "slope and intercept returned in the wrong order",
        "Your slope and intercept are swapped: check the order of the coefficients your fit "
        "returns and the order fit_linear_log must return them in.",
        (
            _p(
                "scaling",
                "def fit_linear_log",
                "m, c = np.polyfit(np.log10(x), np.log10(y), 1)",
                "c, m = np.polyfit(np.log10(x), np.log10(y), 1)",
            ),
        ),
    ),
    # Bugs that the training checks name (autograder/checks/training.py) ------------------------
    Bug(
        "MASK-EVAL-ONLY",
        "2.2.2",
        "the causal mask is applied only in evaluation mode (`if not self.training`)",
        "Your attention is causal when the model is evaluated but not while it trains: its "
        "training loss falls far below what an honest model reaches, while its greedy "
        "translations stay poor. Does your mask depend on `self.training`, or on anything but "
        "the positions?",
        (_p("attention", _CAUSAL, _FILL, "if not self.training:\n            " + _FILL),),
    ),
    Bug(
        "MASK-TIMES-INF",
        "2.2.2",
        "the mask multiplied by -inf and added, so the kept scores become 0 * -inf = NaN",
        "Your outputs are NaN everywhere, and training stops at its first step: multiplying the "
        "mask by an infinite value gives NaN wherever the mask is 0. Print the scores after you "
        "apply the mask.",
        (
            _p(
                "attention",
                _CAUSAL,
                _FILL,
                'unnormalized_attention = unnormalized_attention + future * float("-inf")',
            ),
        ),
    ),
    Bug(
        "LOGITS-SOFTMAX",
        "2.3.1",
        "forward returns probabilities (a softmax of the logits) instead of the logits",
        "Every row of your output sums to 1 and the model hardly learns: the given loss "
        "(`cross_entropy`) applies its own softmax, so it expects the raw scores of the output "
        "layer. Compare what forward returns with its docstring.",
        (
            _p(
                "models",
                _DECODER + "(nn.Module)",
                _LOGITS,
                _LOGITS.replace(")  #", ").softmax(-1)  #"),
            ),
        ),
    ),
    Bug(
        "FORWARD-NO-GRAD",
        "2.3.1",
        "forward decorated with `@torch.no_grad()` (as decoder_generate is)",
        "Your model gives the right outputs but cannot be trained: its loss has no gradient, so "
        "the optimizer never changes a weight. Look for `torch.no_grad()` (or `.detach()`) "
        "around the computation of the logits.",
        (_p("models", _DECODER + "(nn.Module)", _FORWARD, "@torch.no_grad()\n    " + _FORWARD),),
    ),
)
"""Every known bug, by question. ``autograder/diagnose`` matches a student's outputs with the
mutants'; ``autograder.examples`` makes a fixture notebook of each."""

BUGS_BY_ID: dict[str, Bug] = {bug.id: bug for bug in BUGS}
