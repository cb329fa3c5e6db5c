"""Accepted variants: correct solutions written differently from the reference.

Each is a patch of the reference (``reference.mutants.Patch``), optionally with extra cells a
student would add (a helper defined in an earlier cell), and must get full marks with no
diagnosis: ``autograder.examples`` makes a fixture notebook of each
(``fixtures/submissions/accepted/<NAME>.ipynb``) and ``tests/test_accepted.py`` grades them.
docs/grading.md lists them; a correct-but-different solution that loses points is a defect.
"""

from __future__ import annotations

from dataclasses import dataclass

from reference.mutants import Patch


@dataclass(frozen=True)
class NewCell:
    """A code cell a student adds, just before the cell that holds ``before``."""

    before: str
    """Text of the cell it goes before (a ``class`` or ``def`` line)."""
    source: str
    """The cell's code."""


@dataclass(frozen=True)
class Variant:
    """One accepted way of writing a solution."""

    id: str
    """Stable identifier, e.g. ``MASK-NEG-1E9``."""
    description: str
    """What is different, in one line."""
    patches: tuple[Patch, ...]
    """The changes to the reference."""
    cells: tuple[NewCell, ...] = ()
    """Cells the student adds."""


def _p(module: str, anchor: str, old: str, new: str) -> Patch:
    return Patch(module, anchor, old, new)


_SDPA, _CAUSAL = "class ScaledDotAttention", "class CausalScaledDotAttention"
_MHA = "class MultiHeadCausalScaledDotAttention"
_SCORES = "unnormalized_attention = q @ k.transpose(1, 2) * self.scaling_factor  # (B, k, L)"
_MASK = "future = torch.ones_like(unnormalized_attention, dtype=torch.bool).triu(1)  # (B, k, L)"
_FILL = 'unnormalized_attention = unnormalized_attention.masked_fill(future, float("-inf"))'
_CAT = "context = torch.cat([c for c, _ in outputs], dim=-1)  # (B, k, h * H)"
_WO = "self.W_O = nn.Linear(num_heads * hidden_size, hidden_size)"
_COUNT_BODY = """    V, H, h = vocab_size, hidden_size, num_heads
    linear = H * H + H  # one nn.Linear(H, H): weight and bias
    # each head's Q, K, V projections, and W^O = Linear(h H, H) when there are several heads
    attention = h * 3 * linear + (h * H * H + H if h > 1 else 0)
    per_layer = attention + linear  # + the MLP
    return V * H + num_layers * per_layer + H * V + V"""

_COUNT_WO_NO_BIAS = _p(
    "models",
    "def calc_parameters_decoder",
    "(h * H * H + H if h > 1 else 0)",
    "(h * H * H if h > 1 else 0)",
)
"""The parameter count of a model whose W^O has no bias."""

ACCEPTED: tuple[Variant, ...] = (
    Variant(
        "MASK-NEG-1E9",
        "the causal mask fills -1e9 instead of -inf",
        (_p("attention", _CAUSAL, _FILL, _FILL.replace('float("-inf")', "-1e9")),),
    ),
    Variant(
        "MASK-NEG-INF-ATTRIBUTE",
        "the causal mask fills the given self.neg_inf (-1e7)",
        (_p("attention", _CAUSAL, _FILL, _FILL.replace('float("-inf")', "self.neg_inf")),),
    ),
    Variant(
        "MASK-ADDED",
        "the causal mask is added to the scores instead of filled in",
        (
            _p(
                "attention",
                _CAUSAL,
                _FILL,
                "unnormalized_attention = unnormalized_attention + torch.zeros_like("
                'unnormalized_attention).masked_fill(future, float("-inf"))',
            ),
        ),
    ),
    Variant(
        "MASK-TRIL-EQUALS-ZERO",
        "the mask is built as tril(ones) == 0 from the sizes",
        (
            _p(
                "attention",
                _CAUSAL,
                _MASK,
                "future = torch.tril(torch.ones(q.size(1), k.size(1))) == 0",
            ),
        ),
    ),
    Variant(
        "MASK-HELPER-CELL",
        "a causal-mask helper defined in an earlier cell",
        (
            _p(
                "attention",
                _CAUSAL,
                _MASK,
                "future = ~causal_mask(q.size(1), k.size(1))",
            ),
        ),
        (
            NewCell(
                _CAUSAL,
                "def causal_mask(num_queries, num_keys):\n"
                '    """True where query i may see key j (j <= i)."""\n'
                "    return torch.ones(num_queries, num_keys, dtype=torch.bool).tril()",
            ),
        ),
    ),
    Variant(
        "SCORES-BMM",
        "scores and context with torch.bmm",
        (
            _p(
                "attention",
                _SDPA,
                _SCORES,
                "unnormalized_attention = torch.bmm(q, k.transpose(1, 2)) * self.scaling_factor",
            ),
            _p(
                "attention",
                _SDPA,
                "context = attention_weights @ v  # (B, k, H)",
                "context = torch.bmm(attention_weights, v)",
            ),
        ),
    ),
    Variant(
        "SCORES-EINSUM",
        "scores and context with torch.einsum",
        (
            _p(
                "attention",
                _SDPA,
                _SCORES,
                'unnormalized_attention = torch.einsum("bqh,bkh->bqk", q, k) * self.scaling_factor',
            ),
            _p(
                "attention",
                _SDPA,
                "context = attention_weights @ v  # (B, k, H)",
                'context = torch.einsum("bqk,bkh->bqh", attention_weights, v)',
            ),
        ),
    ),
    Variant(
        "SOFTMAX-FUNCTIONAL",
        "softmax with torch.softmax over the last axis and division by sqrt(H)",
        (
            _p(
                "attention",
                _SDPA,
                _SCORES + "\n        attention_weights = self.softmax(unnormalized_attention)",
                "unnormalized_attention = q @ k.transpose(-2, -1) / self.hidden_size**0.5"
                "\n        attention_weights = torch.softmax(unnormalized_attention, dim=-1)",
            ),
        ),
    ),
    Variant(
        "QUERY-2D-UNSQUEEZE",
        "2D queries given their query axis with unsqueeze(1)",
        (
            _p(
                "attention",
                _SDPA,
                "q = self.Q(queries.view(batch_size, -1, self.hidden_size))  # (B, k, H)",
                "if queries.dim() == 2:\n            queries = queries.unsqueeze(1)\n"
                "        q = self.Q(queries)",
            ),
        ),
    ),
    Variant(
        "QUERY-2D-SQUEEZED",
        "a (B, H) context for 2D queries",
        (
            _p(
                "attention",
                _SDPA,
                "        context = attention_weights @ v  # (B, k, H)\n        # END SOLUTION\n"
                "        return context, attention_weights",
                "        context = attention_weights @ v  # (B, k, H)\n        # END SOLUTION\n"
                "        if queries.dim() == 2:\n"
                "            return context.squeeze(1), attention_weights\n"
                "        return context, attention_weights",
            ),
        ),
    ),
    Variant(
        "WEIGHTS-TRANSPOSED",
        "attention weights returned as (batch, keys, queries)",
        (
            _p(
                "attention",
                _SDPA,
                "        return context, attention_weights",
                "        return context, attention_weights.transpose(1, 2)",
            ),
            _p(
                "attention",
                _CAUSAL,
                "        return context, attention_weights",
                "        return context, attention_weights.transpose(1, 2)",
            ),
        ),
    ),
    Variant(
        "FLOAT32-ONLY",
        "attention that runs only in float32 (a float32 tensor made inside forward)",
        (
            _p(
                "attention",
                _SDPA,
                _SCORES,
                "unnormalized_attention = q.float() @ k.transpose(1, 2).float()"
                " * self.scaling_factor",
            ),
        ),
    ),
    Variant(
        "CUDA-CALLS",
        "device moves written for a GPU (.cuda(), .to(device)) in a CPU grader",
        (
            _p(
                "attention",
                _CAUSAL,
                _FILL,
                "future = future.cuda() if torch.cuda.is_available() else future.to(q.device)\n"
                "        " + _FILL,
            ),
            _p(
                "attention",
                _SDPA,
                "context = attention_weights @ v  # (B, k, H)",
                'context = (attention_weights @ v).to(torch.device("cuda"))',
            ),
        ),
    ),
    Variant(
        "WO-NO-BIAS",
        "W^O without a bias, and a parameter count to match",
        (
            _p("attention", _MHA, _WO, _WO.replace(", hidden_size)", ", hidden_size, bias=False)")),
            _COUNT_WO_NO_BIAS,
        ),
    ),
    Variant(
        "WO-RAW-MATRIX",
        "W^O as a raw (num_heads * H, H) parameter applied with @",
        (
            _p(
                "attention",
                _MHA,
                _WO,
                "self.W_O = nn.Parameter(torch.randn(num_heads * hidden_size, hidden_size) * 0.1)",
            ),
            _p(
                "attention",
                _MHA + "(nn.Module)",
                "context = self.W_O(context)",
                "context = context @ self.W_O",
            ),
            _COUNT_WO_NO_BIAS,
        ),
    ),
    Variant(
        "HEADS-INTERLEAVED",
        "heads concatenated feature by feature (stack on the last axis, then flatten)",
        (
            _p(
                "attention",
                _MHA + "(nn.Module)",
                _CAT,
                "context = torch.stack([c for c, _ in outputs], dim=-1).flatten(-2)",
            ),
        ),
    ),
    Variant(
        "HEADS-FUSED",
        "every head computed at once from the heads' own Q/K/V weights and scaling_factor",
        (
            _p(
                "attention",
                _MHA + "(nn.Module)",
                "outputs = [head(queries, keys, values) for head in self.heads]\n        " + _CAT,
                "Wq = torch.stack([h.Q.weight for h in self.heads])  # (h, H, H)\n"
                "        bq = torch.stack([h.Q.bias for h in self.heads])[:, None]  # (h, 1, H)\n"
                "        Wk = torch.stack([h.K.weight for h in self.heads])\n"
                "        bk = torch.stack([h.K.bias for h in self.heads])[:, None]\n"
                "        Wv = torch.stack([h.V.weight for h in self.heads])\n"
                "        bv = torch.stack([h.V.bias for h in self.heads])[:, None]\n"
                "        scale = torch.stack([h.scaling_factor for h in self.heads])\n"
                '        q = torch.einsum("bkd,hed->bhke", queries, Wq) + bq  # (B, h, k, H)\n'
                '        k = torch.einsum("bld,hed->bhle", keys, Wk) + bk\n'
                '        v = torch.einsum("bld,hed->bhle", values, Wv) + bv\n'
                "        scale = scale.to(q.dtype)[None, :, None, None]\n"
                "        scores = q @ k.transpose(-2, -1) * scale  # (B, h, k, L)\n"
                "        future = torch.ones(scores.shape[-2:], dtype=torch.bool).triu(1)\n"
                '        scores = scores.masked_fill(future, float("-inf"))\n'
                "        weights = scores.softmax(dim=-1)  # (B, h, k, L)\n"
                "        contexts = (weights @ v).unbind(1)\n"
                "        outputs = list(zip(contexts, weights.unbind(1), strict=True))\n"
                "        context = (weights @ v).transpose(1, 2).flatten(2)  # (B, k, h * H)",
            ),
        ),
    ),
    Variant(
        "COUNT-LAYER-BY-LAYER",
        "the parameter count added up layer by layer",
        (
            _p(
                "models",
                "def calc_parameters_decoder",
                _COUNT_BODY,
                "    def linear(n_in, n_out, bias=True):\n"
                "        return n_in * n_out + (n_out if bias else 0)\n"
                "\n"
                "    total = vocab_size * hidden_size  # embedding\n"
                "    for _ in range(num_layers):\n"
                "        for _ in range(num_heads):\n"
                "            total += 3 * linear(hidden_size, hidden_size)  # Q, K, V\n"
                "        if num_heads > 1:\n"
                "            total += linear(num_heads * hidden_size, hidden_size)  # W^O\n"
                "        total += linear(hidden_size, hidden_size)  # MLP\n"
                "    total += linear(hidden_size, vocab_size)  # output layer\n"
                "    return total",
            ),
        ),
    ),
    Variant(
        "N-OPT-FINE-GRID",
        "n_opt read off a fine grid over the fitted parabola",
        (
            _p(
                "scaling",
                "def find_optimal_params",
                "n_opt = 10 ** (-p[1] / (2 * p[0]))",
                "x = np.log10(params)\n"
                "    grid = np.linspace(x.min() - 1, x.max() + 1, 20001)\n"
                "    n_opt = 10 ** grid[np.argmin(np.polyval(p, grid))]",
            ),
        ),
    ),
    Variant(
        "FITS-LSTSQ",
        "both fits by hand with np.linalg.lstsq",
        (
            _p(
                "scaling",
                "def find_optimal_params",
                "p = np.polyfit(np.log10(params), losses, 2)",
                "x = np.log10(params)\n"
                "    p = np.linalg.lstsq(np.vander(x, 3), losses, rcond=None)[0]",
            ),
            _p(
                "scaling",
                "def fit_linear_log",
                "m, c = np.polyfit(np.log10(x), np.log10(y), 1)",
                "A = np.stack([np.log10(x), np.ones(len(x))], axis=1)\n"
                "    m, c = np.linalg.lstsq(A, np.log10(y), rcond=None)[0]",
            ),
        ),
    ),
)
"""Every accepted variant; each must get full marks and no diagnosis."""
