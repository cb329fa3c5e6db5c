"""The otter-grader tests of the homework, one function per test case (exception-based format).

`build_master.py` copies each function below, verbatim, into a test cell of the otter-assign
master notebook; otter then writes one `tests/<question>.py` per question. `SPEC` says which
question, which of our checks (`autograder/rubric.toml`) the case mirrors, and whether it is
hidden; the points come from the rubric.

Otter calls a test function with the student's globals of the same names as its parameters
(None when a name is missing). A test passes when it raises nothing. Each function must be
self-contained (otter's test files hold only the functions): imports go inside. The tests follow
our checks' semantics where otter can express them: reference values are computed inside the
test from the student's own weights; a question that builds on an earlier one uses a reference
stand-in for the earlier part (as our grader does when that part failed), so one mistake costs
once; either attention-weight layout is accepted; W^O may have a bias or not.
"""

# ruff: noqa: N802, N803

# (question, check id of ours, hidden, test function name)
SPEC = [
    ("2.2.1", "2.2.1/context-3d", False, "test_sdpa_context_3d"),
    ("2.2.1", "2.2.1/context-2d", False, "test_sdpa_context_2d"),
    ("2.2.1", "2.2.1/weights", False, "test_sdpa_weights"),
    ("2.2.1", "2.2.1/rows-sum-to-one", False, "test_sdpa_rows_sum_to_one"),
    ("2.2.1", "2.2.1/scaling", True, "test_sdpa_scaling"),
    ("2.2.2", "2.2.2/context", False, "test_causal_context"),
    ("2.2.2", "2.2.2/weights", False, "test_causal_weights"),
    ("2.2.2", "2.2.2/no-future", False, "test_causal_no_future"),
    ("2.2.2", "2.2.2/first-position", True, "test_causal_first_position"),
    ("2.3.1", "2.3.1/logits", False, "test_decoder_logits"),
    ("2.3.1", "2.3.1/causal", True, "test_decoder_causal"),
    ("2.3.2", "2.3.2/prompt", False, "test_generate_prompt"),
    ("2.3.2", "2.3.2/greedy", True, "test_generate_greedy"),
    ("2.3.4", "2.3.4/wo-shape", False, "test_mha_wo_shape"),
    ("2.3.4", "2.3.4/output-shape", False, "test_mha_output_shape"),
    ("2.3.4", "2.3.4/causal", True, "test_mha_causal"),
    ("2.3.4", "2.3.4/match", False, "test_mha_match"),
    ("2.3.5", "2.3.5/count", False, "test_parameter_count"),
    ("2.4.2", "2.4.2/fit", False, "test_find_optimal_params_fit"),
    ("2.4.2", "2.4.2/n-opt", False, "test_find_optimal_params_n_opt"),
    ("2.4.2", "2.4.2/slope", False, "test_fit_linear_log_slope"),
    ("2.4.2", "2.4.2/intercept", False, "test_fit_linear_log_intercept"),
]

# Points of our rubric when it cannot be read (build_master.py reads autograder/rubric.toml).
DEFAULT_POINTS = {
    "2.2.1/context-3d": 2.0,
    "2.2.1/context-2d": 1.0,
    "2.2.1/weights": 1.0,
    "2.2.1/rows-sum-to-one": 0.5,
    "2.2.1/scaling": 0.5,
    "2.2.2/context": 1.5,
    "2.2.2/weights": 0.5,
    "2.2.2/no-future": 1.5,
    "2.2.2/first-position": 0.5,
    "2.3.1/logits": 3.0,
    "2.3.1/causal": 1.0,
    "2.3.2/prompt": 1.5,
    "2.3.2/greedy": 0.5,
    "2.3.4/wo-shape": 1.0,
    "2.3.4/output-shape": 0.5,
    "2.3.4/causal": 0.5,
    "2.3.4/match": 2.0,
    "2.3.5/count": 3.0,
    "2.4.2/fit": 0.75,
    "2.4.2/n-opt": 0.75,
    "2.4.2/slope": 0.75,
    "2.4.2/intercept": 0.75,
}


# 2.2.1 ScaledDotAttention --------------------------------------------------------------------


def test_sdpa_context_3d(ScaledDotAttention):
    import torch

    torch.manual_seed(1)
    B, k, L, H = 2, 3, 5, 6
    module = ScaledDotAttention(H)
    q, key, v = torch.randn(B, k, H), torch.randn(B, L, H), torch.randn(B, L, H)
    with torch.no_grad():
        context, _ = module(q, key, v)
        scores = module.Q(q) @ module.K(key).transpose(1, 2) / H**0.5
        expected = torch.softmax(scores, dim=2) @ module.V(v)
    assert tuple(context.shape) == (B, k, H), f"context shape {tuple(context.shape)}"
    assert torch.allclose(context.float(), expected, atol=1e-5), "context differs"


def test_sdpa_context_2d(ScaledDotAttention):
    import torch

    torch.manual_seed(2)
    B, L, H = 3, 4, 5
    module = ScaledDotAttention(H)
    q, key, v = torch.randn(B, H), torch.randn(B, L, H), torch.randn(B, L, H)
    with torch.no_grad():
        context, _ = module(q, key, v)
        scores = module.Q(q)[:, None] @ module.K(key).transpose(1, 2) / H**0.5
        expected = torch.softmax(scores, dim=2) @ module.V(v)  # (B, 1, H)
    if tuple(context.shape) == (B, H):
        context = context[:, None]
    assert tuple(context.shape) == (B, 1, H), f"context shape {tuple(context.shape)}"
    assert torch.allclose(context.float(), expected, atol=1e-5), "context differs (2D queries)"


def test_sdpa_weights(ScaledDotAttention):
    import torch

    torch.manual_seed(1)
    B, k, L, H = 2, 3, 5, 6
    module = ScaledDotAttention(H)
    q, key, v = torch.randn(B, k, H), torch.randn(B, L, H), torch.randn(B, L, H)
    with torch.no_grad():
        _, weights = module(q, key, v)
        scores = module.Q(q) @ module.K(key).transpose(1, 2) / H**0.5
        expected = torch.softmax(scores, dim=2)  # (B, k, L)
    if tuple(weights.shape) == (B, L, k):
        weights = weights.transpose(1, 2)
    assert tuple(weights.shape) == (B, k, L), f"weights shape {tuple(weights.shape)}"
    assert torch.allclose(weights.float(), expected, atol=1e-5), "attention weights differ"


def test_sdpa_rows_sum_to_one(ScaledDotAttention):
    import torch

    torch.manual_seed(1)
    B, k, L, H = 2, 3, 5, 6
    module = ScaledDotAttention(H)
    with torch.no_grad():
        _, weights = module(torch.randn(B, k, H), torch.randn(B, L, H), torch.randn(B, L, H))
    if tuple(weights.shape) == (B, L, k):
        weights = weights.transpose(1, 2)
    assert tuple(weights.shape) == (B, k, L), f"weights shape {tuple(weights.shape)}"
    sums = weights.sum(dim=2)
    assert torch.allclose(sums, torch.ones_like(sums), atol=1e-5), "rows do not sum to 1"


def test_sdpa_scaling(ScaledDotAttention):
    import torch

    torch.manual_seed(3)
    B, k, L, H = 3, 4, 7, 10
    module = ScaledDotAttention(H)
    q, key, v = torch.randn(B, k, H), torch.randn(B, L, H), torch.randn(B, L, H)
    with torch.no_grad():
        context, _ = module(q, key, v)
        scores = module.Q(q) @ module.K(key).transpose(1, 2) / H**0.5
        expected = torch.softmax(scores, dim=2) @ module.V(v)
    assert torch.allclose(context.float(), expected, atol=1e-5), "not scaled by 1/sqrt(H)"


# 2.2.2 CausalScaledDotAttention --------------------------------------------------------------


def test_causal_context(CausalScaledDotAttention):
    import torch

    torch.manual_seed(4)
    B, L, H = 2, 5, 6
    module = CausalScaledDotAttention(H)
    q, key, v = torch.randn(B, L, H), torch.randn(B, L, H), torch.randn(B, L, H)
    with torch.no_grad():
        context, _ = module(q, key, v)
        scores = module.Q(q) @ module.K(key).transpose(1, 2) / H**0.5
        future = torch.ones(L, L, dtype=torch.bool).triu(1)
        expected = torch.softmax(scores.masked_fill(future, float("-inf")), dim=2) @ module.V(v)
    assert tuple(context.shape) == (B, L, H), f"context shape {tuple(context.shape)}"
    assert torch.allclose(context.float(), expected, atol=1e-5), "context differs"


def test_causal_weights(CausalScaledDotAttention):
    import torch

    torch.manual_seed(4)
    B, L, H = 2, 5, 6
    module = CausalScaledDotAttention(H)
    q, key, v = torch.randn(B, L, H), torch.randn(B, L, H), torch.randn(B, L, H)
    with torch.no_grad():
        _, weights = module(q, key, v)
        scores = module.Q(q) @ module.K(key).transpose(1, 2) / H**0.5
        future = torch.ones(L, L, dtype=torch.bool).triu(1)
        expected = torch.softmax(scores.masked_fill(future, float("-inf")), dim=2)
    assert tuple(weights.shape) == (B, L, L), f"weights shape {tuple(weights.shape)}"
    weights = weights.float()
    ok = torch.allclose(weights, expected, atol=1e-5)
    ok = ok or torch.allclose(weights.transpose(1, 2), expected, atol=1e-5)
    assert ok, "attention weights differ (in either layout)"


def test_causal_no_future(CausalScaledDotAttention):
    import torch

    torch.manual_seed(5)
    B, L, H = 2, 6, 4
    module = CausalScaledDotAttention(H)
    x = torch.randn(B, L, H)
    with torch.no_grad():
        base, _ = module(x, x, x)
        for t in range(L - 1):
            changed = x.clone()
            changed[:, t + 1 :] = torch.randn(B, L - t - 1, H)
            out, _ = module(changed, changed, changed)
            assert torch.allclose(out[:, : t + 1], base[:, : t + 1], atol=1e-5), (
                f"position {t} changes when later positions change"
            )
    assert not torch.allclose(base[:, 1:], base[:, :1].expand_as(base[:, 1:])), "constant output"


def test_causal_first_position(CausalScaledDotAttention):
    import torch

    torch.manual_seed(6)
    B, L, H = 3, 5, 4
    module = CausalScaledDotAttention(H)
    x = torch.randn(B, L, H)
    with torch.no_grad():
        _, weights = module(x, x, x)
    first = weights[:, 0, :].float()
    expected = torch.zeros_like(first)
    expected[:, 0] = 1.0
    assert torch.allclose(first, expected, atol=1e-6), "the first query does not see only itself"


# 2.3.1 DecoderOnlyTransformer.forward (reference attention in place of the student's) ---------


def test_decoder_logits(DecoderOnlyTransformer):
    import torch
    from torch import nn

    class ReferenceCausal(nn.Module):
        def __init__(self, given):
            super().__init__()
            self.Q, self.K, self.V = given.Q, given.K, given.V

        def forward(self, q, k, v):
            H = self.Q.in_features
            scores = self.Q(q) @ self.K(k).transpose(1, 2) / H**0.5
            future = torch.ones(q.size(1), k.size(1), dtype=torch.bool).triu(1)
            weights = torch.softmax(scores.masked_fill(future, float("-inf")), dim=2)
            return weights @ self.V(v), weights

    torch.manual_seed(7)
    V, H, layers = 30, 8, 2
    model = DecoderOnlyTransformer(V, H, layers)
    model.self_attentions = nn.ModuleList([ReferenceCausal(a) for a in model.self_attentions])
    tokens = torch.randint(0, V, (2, 7))
    with torch.no_grad():
        logits, _ = model(tokens)
        x = model.embedding(tokens) + model.positional_encodings[: tokens.size(1)]
        for attention, mlp in zip(model.self_attentions, model.attention_mlps, strict=True):
            x = x + attention(x, x, x)[0]
            x = x + mlp(x)
        expected = model.out(x)
    assert tuple(logits.shape) == (2, 7, V), f"logits shape {tuple(logits.shape)}"
    assert torch.allclose(logits.float(), expected, atol=1e-4), "logits differ"


def test_decoder_causal(DecoderOnlyTransformer):
    import torch
    from torch import nn

    class ReferenceCausal(nn.Module):
        def __init__(self, given):
            super().__init__()
            self.Q, self.K, self.V = given.Q, given.K, given.V

        def forward(self, q, k, v):
            H = self.Q.in_features
            scores = self.Q(q) @ self.K(k).transpose(1, 2) / H**0.5
            future = torch.ones(q.size(1), k.size(1), dtype=torch.bool).triu(1)
            weights = torch.softmax(scores.masked_fill(future, float("-inf")), dim=2)
            return weights @ self.V(v), weights

    torch.manual_seed(8)
    V, H, layers, L = 30, 8, 2, 6
    model = DecoderOnlyTransformer(V, H, layers)
    model.self_attentions = nn.ModuleList([ReferenceCausal(a) for a in model.self_attentions])
    tokens = torch.randint(0, V, (2, L))
    with torch.no_grad():
        base, _ = model(tokens)
        for t in range(L - 1):
            changed = tokens.clone()
            changed[:, t + 1 :] = (changed[:, t + 1 :] + 1) % V
            out, _ = model(changed)
            assert torch.allclose(out[:, : t + 1], base[:, : t + 1], atol=1e-5), (
                f"logits at position {t} depend on later tokens"
            )


# 2.3.2 decoder_generate ------------------------------------------------------------------------


def test_generate_prompt(decoder_generate):
    import torch
    from torch import nn

    class Scripted(nn.Module):
        def __init__(self, script):
            super().__init__()
            self.weight = nn.Parameter(torch.zeros(1))
            self.script, self.calls = list(script), []

        def forward(self, inputs):
            self.calls.append(inputs[0].tolist())
            step = len(self.calls) - 1
            token = self.script[step] if step < len(self.script) else 28
            logits = torch.zeros(inputs.size(0), inputs.size(1), 30)
            logits[:, -1, token] = 1.0
            return logits, None

    for word in ("cat", "shopping"):
        model = Scripted([1, 2, 28])
        decoder_generate(model, word)
        prompt = [27] + ["-abcdefghijklmnopqrstuvwxyz".index(c) for c in word] + [29]
        assert model.calls, "decoder_generate never called the model"
        assert model.calls[0] == prompt, f"first input for {word!r} is not <SOS> word <EOP>"


def test_generate_greedy(decoder_generate):
    import torch
    from torch import nn

    class Scripted(nn.Module):
        def __init__(self, script):
            super().__init__()
            self.weight = nn.Parameter(torch.zeros(1))
            self.script, self.calls = list(script), []

        def forward(self, inputs):
            self.calls.append(inputs[0].tolist())
            step = len(self.calls) - 1
            token = self.script[step] if step < len(self.script) else 28
            logits = torch.zeros(inputs.size(0), inputs.size(1), 30)
            logits[:, -1, token] = 1.0
            return logits, None

    characters = "-abcdefghijklmnopqrstuvwxyz"
    short = "atcay"
    result = decoder_generate(Scripted([characters.index(c) for c in short] + [28]), "cat")
    assert result == short, "does not stop at <EOS>"
    long_script = [characters.index(c) for c in "abcdefghijklmnopqrstuvwxyz"]
    result = decoder_generate(Scripted(long_script), "ab")
    assert result == "abcdefghijklmnopqrst", "does not stop at 20 characters"


# 2.3.4 MultiHeadCausalScaledDotAttention (reference heads in place of the student's) ----------


def test_mha_wo_shape(MultiHeadCausalScaledDotAttention):
    from torch import nn

    H, h = 6, 3
    module = MultiHeadCausalScaledDotAttention(H, h)
    in_heads = {id(m) for m in module.heads.modules()}
    found = [
        m
        for m in module.modules()
        if isinstance(m, nn.Linear)
        and id(m) not in in_heads
        and (m.in_features, m.out_features) == (h * H, H)
    ]
    assert len(found) == 1, "no W^O = nn.Linear(num_heads * hidden, hidden) outside the heads"


def test_mha_output_shape(MultiHeadCausalScaledDotAttention):
    import torch

    torch.manual_seed(9)
    B, L, H, h = 2, 5, 6, 3
    module = MultiHeadCausalScaledDotAttention(H, h)
    x = torch.randn(B, L, H)
    with torch.no_grad():
        context, _ = module(x, x, x)
    assert tuple(context.shape) == (B, L, H), f"context shape {tuple(context.shape)}"


def test_mha_causal(MultiHeadCausalScaledDotAttention):
    import torch
    from torch import nn

    class ReferenceCausal(nn.Module):
        def __init__(self, given):
            super().__init__()
            self.Q, self.K, self.V = given.Q, given.K, given.V

        def forward(self, q, k, v):
            H = self.Q.in_features
            scores = self.Q(q) @ self.K(k).transpose(1, 2) / H**0.5
            future = torch.ones(q.size(1), k.size(1), dtype=torch.bool).triu(1)
            weights = torch.softmax(scores.masked_fill(future, float("-inf")), dim=2)
            return weights @ self.V(v), weights

    torch.manual_seed(10)
    B, L, H, h = 2, 6, 4, 2
    module = MultiHeadCausalScaledDotAttention(H, h)
    module.heads = nn.ModuleList([ReferenceCausal(head) for head in module.heads])
    x = torch.randn(B, L, H)
    with torch.no_grad():
        base, _ = module(x, x, x)
        for t in range(L - 1):
            changed = x.clone()
            changed[:, t + 1 :] = torch.randn(B, L - t - 1, H)
            out, _ = module(changed, changed, changed)
            assert torch.allclose(out[:, : t + 1], base[:, : t + 1], atol=1e-5), (
                f"position {t} changes when later positions change"
            )


def test_mha_match(MultiHeadCausalScaledDotAttention):
    import torch
    from torch import nn

    class ReferenceCausal(nn.Module):
        def __init__(self, given):
            super().__init__()
            self.Q, self.K, self.V = given.Q, given.K, given.V

        def forward(self, q, k, v):
            H = self.Q.in_features
            scores = self.Q(q) @ self.K(k).transpose(1, 2) / H**0.5
            future = torch.ones(q.size(1), k.size(1), dtype=torch.bool).triu(1)
            weights = torch.softmax(scores.masked_fill(future, float("-inf")), dim=2)
            return weights @ self.V(v), weights

    torch.manual_seed(11)
    B, L, H, h = 2, 5, 6, 3
    module = MultiHeadCausalScaledDotAttention(H, h)
    module.heads = nn.ModuleList([ReferenceCausal(head) for head in module.heads])
    in_heads = {id(m) for m in module.heads.modules()}
    w_o = [
        m
        for m in module.modules()
        if isinstance(m, nn.Linear)
        and id(m) not in in_heads
        and (m.in_features, m.out_features) == (h * H, H)
    ]
    assert len(w_o) == 1, "no W^O = nn.Linear(num_heads * hidden, hidden) outside the heads"
    x = torch.randn(B, L, H)
    with torch.no_grad():
        context, _ = module(x, x, x)
        heads = [head(x, x, x)[0] for head in module.heads]
        by_head = w_o[0](torch.cat(heads, dim=-1))
        by_feature = w_o[0](torch.stack(heads, dim=-1).flatten(-2))  # interleaved: accepted
    assert tuple(context.shape) == (B, L, H), f"context shape {tuple(context.shape)}"
    context = context.float()
    ok = torch.allclose(context, by_head, atol=1e-5)
    ok = ok or torch.allclose(context, by_feature, atol=1e-5)
    assert ok, "the multi-head context differs from Concat(heads) W^O"


# 2.3.5 calc_parameters_decoder -----------------------------------------------------------------


def test_parameter_count(calc_parameters_decoder, DecoderOnlyTransformer):
    configs = [(30, 16, 2, 1), (30, 32, 3, 2), (30, 24, 4, 4), (29, 8, 1, 1), (30, 64, 3, 1)]
    wrong = []
    for V, H, layers, h in configs:
        linear = H * H + H
        attention = h * 3 * linear + (h * H * H + H if h > 1 else 0)
        reference = V * H + layers * (attention + linear) + H * V + V
        try:
            count = calc_parameters_decoder(V, H, layers, h)
        except Exception as error:  # noqa: BLE001 - any error fails this configuration
            wrong.append(f"{(V, H, layers, h)}: raised {type(error).__name__}")
            continue
        if count == reference:
            continue
        try:  # the student's own model (W^O without bias, say) counts too
            own = sum(p.numel() for p in DecoderOnlyTransformer(V, H, layers, h).parameters())
        except Exception:  # noqa: BLE001
            own = None
        if own is None or count != own:
            wrong.append(f"{(V, H, layers, h)}: {count} is not the model's size")
    assert not wrong, f"{len(wrong)} of {len(configs)} configurations are wrong"


# 2.4.2 find_optimal_params and fit_linear_log --------------------------------------------------


def test_find_optimal_params_fit(find_optimal_params):
    import numpy as np

    params = np.array([2.0e4, 5.0e4, 1.2e5, 3.1e5, 7.7e5, 2.0e6])
    x = np.log10(params)
    losses = 0.4 * (x - 5.3) ** 2 + 1.7 + np.array([0.01, -0.02, 0.015, 0.0, -0.01, 0.02])
    p_ref = np.polyfit(x, losses, 2)
    p, _ = find_optimal_params(params, losses)
    assert np.allclose(np.asarray(p, dtype=float), p_ref, rtol=1e-6, atol=1e-9), "p differs"


def test_find_optimal_params_n_opt(find_optimal_params):
    import numpy as np

    params = np.array([2.0e4, 5.0e4, 1.2e5, 3.1e5, 7.7e5, 2.0e6])
    x = np.log10(params)
    losses = 0.4 * (x - 5.3) ** 2 + 1.7 + np.array([0.01, -0.02, 0.015, 0.0, -0.01, 0.02])
    p_ref = np.polyfit(x, losses, 2)
    n_ref = 10 ** (-p_ref[1] / (2 * p_ref[0]))
    _, n_opt = find_optimal_params(params, losses)
    assert np.isclose(float(n_opt), n_ref, rtol=1e-4), "n_opt is not the parabola's vertex"


def test_fit_linear_log_slope(fit_linear_log):
    import numpy as np

    x = np.array([8e10, 1.6e11, 3.2e11, 6.4e11, 1.28e12])
    y = 10**-0.7 * x**0.52 * np.array([1.02, 0.97, 1.01, 0.99, 1.03])
    m_ref, _ = np.polyfit(np.log10(x), np.log10(y), 1)
    m, _ = fit_linear_log(x, y)
    assert np.isclose(float(m), m_ref, rtol=1e-5, atol=1e-8), "slope differs"


def test_fit_linear_log_intercept(fit_linear_log):
    import numpy as np

    x = np.array([8e10, 1.6e11, 3.2e11, 6.4e11, 1.28e12])
    y = 10**-0.7 * x**0.52 * np.array([1.02, 0.97, 1.01, 0.99, 1.03])
    _, c_ref = np.polyfit(np.log10(x), np.log10(y), 1)
    _, c = fit_linear_log(x, y)
    assert np.isclose(float(c), c_ref, rtol=1e-5, atol=1e-8), "intercept differs"
