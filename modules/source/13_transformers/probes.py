"""Grading probes for module 13 (Transformers): the graded checks again, on inputs drawn at grading time.

tito calls each probe after the notebook's cells, with the notebook's namespace and a seeded NumPy
generator, and compares what it returns with the reference's values (tito/grading/probes.py).
Models get every parameter from the drawn values, never from an init. Sampling is exact under the
module's contract (inverse CDF, one `rng.random(B)` draw per row, one generator per run); where the
contract leaves a choice (which random windows `lm_batch` takes, which of several leaks
`find_causal_leak` reports), only what it fixes is returned.
"""

import numpy as np


def _matrix(rng, *shape):
    return rng.normal(size=shape).astype(np.float32)


def _size(rng, low=2, high=6):
    return int(rng.integers(low, high))


def _grad(t):
    """A tensor's gradient as an array (None when nothing reached it)."""
    return None if t.grad is None else np.asarray(getattr(t.grad, "data", t.grad))


def _raises(fn, error):
    try:
        fn()
    except error:
        return True
    except Exception:
        return False
    return False


def _drawn(module, rng, scale=0.5):
    """`module` with every parameter drawn here."""
    for p in module.parameters():
        p.data[...] = rng.normal(size=p.shape) * scale
    return module


def _gpt(ns, rng, vocab, dim, layers, heads, seq):
    return _drawn(ns["GPT"](vocab, dim, layers, heads, seq, rng=0), rng)


def layer_norm(ns, rng):
    Tensor = ns["Tensor"]
    shape = (_size(rng, 1, 4), _size(rng), _size(rng, 3, 9))
    x = _matrix(rng, *shape) * float(rng.uniform(0.5, 5)) + float(rng.normal() * 5)
    w, b = _matrix(rng, shape[-1]), _matrix(rng, shape[-1])
    eps = float(rng.uniform(0.1, 2))
    y = ns["layer_norm"](Tensor(x, requires_grad=True), Tensor(w), Tensor(b))  # records its ctx
    wide = ns["layer_norm"](Tensor(x), Tensor(w), Tensor(b), eps=eps)
    return {"out": y.data, "eps": wide.data,
            "x_hat": np.asarray(y._ctx["x_hat"], dtype=np.float64),  # the saved statistics, any float dtype
            "inv_std": np.asarray(y._ctx["inv_std"], dtype=np.float64)}


def layer_norm_backward(ns, rng):
    Tensor = ns["Tensor"]
    shape = (_size(rng, 1, 4), _size(rng), _size(rng, 3, 9))
    xa = (rng.normal(size=shape) * 2 + 1).astype(np.float32)
    wa, ba, g = _matrix(rng, shape[-1]), _matrix(rng, shape[-1]), _matrix(rng, *shape)
    # the rule's inputs, as layer_norm saves them (given here, so the rule is checked on its own)
    centred = xa.astype(np.float64) - xa.mean(axis=-1, keepdims=True)
    inv_std = 1.0 / np.sqrt((centred ** 2).mean(axis=-1, keepdims=True) + 1e-5)
    x, w, b = (Tensor(a, requires_grad=True) for a in (xa, wa, ba))
    direct = ns["_layer_norm_backward"](g, None, x, w, b, (centred * inv_std).astype(np.float32),
                                        inv_std.astype(np.float32))
    out = {"direct_x": direct[0], "direct_w": direct[1], "direct_b": direct[2]}
    y = ns["layer_norm"](x, w, b, eps=0.5)
    y.backward(g)
    out.update(graph_x=_grad(x), graph_w=_grad(w), graph_b=_grad(b))
    fixed = Tensor(xa)
    ns["layer_norm"](fixed, w, b).sum().backward()
    out["no_grad_for_constant_x"] = fixed.grad is None
    return out


def mlp(ns, rng):
    Tensor = ns["Tensor"]
    d, ratio = _size(rng, 2, 7), _size(rng, 1, 5)
    layer = _drawn(ns["MLP"](d, ratio, rng=0), rng)
    return {"out": layer(Tensor(_matrix(rng, _size(rng, 1, 4), _size(rng), d))).data,
            "fc1_shape": np.array(layer.fc1.weight.shape)}


class _Recorder:
    """A pass-through cache: returns k and v unchanged, counts the calls."""

    calls = 0

    def update(self, k, v):
        self.calls += 1
        return k, v


def block(ns, rng):
    Tensor, causal_mask = ns["Tensor"], ns["causal_mask"]
    heads = _size(rng, 1, 4)
    d, t = heads * _size(rng, 3, 6), _size(rng, 2, 7)  # D >= 3: a LayerNorm of 1 or 2 numbers is degenerate
    layer = _drawn(ns["TransformerBlock"](d, heads, rng=0), rng)
    x = Tensor(_matrix(rng, _size(rng, 1, 4), t, d), requires_grad=True)
    recorder = _Recorder()
    y = layer(x, mask=causal_mask(t), cache=recorder)
    (y * Tensor(_matrix(rng, *y.shape))).sum().backward()
    out = {"causal": y.data, "plain": layer(Tensor(x.data)).data, "cache_calls": recorder.calls, "grad_x": _grad(x)}
    for name, p in layer.named_parameters():
        out[f"grad_{name}"] = _grad(p)
    return out


def gpt(ns, rng):
    Tensor = ns["Tensor"]
    vocab, heads, layers = _size(rng, 5, 12), _size(rng, 1, 3), _size(rng, 1, 3)
    seq = _size(rng, 3, 8)
    model = _gpt(ns, rng, vocab, heads * _size(rng, 3, 6), layers, heads, seq)
    ids = rng.integers(0, vocab, size=(_size(rng, 1, 4), seq))
    return {"logits": model(ids).data, "float_ids": model(Tensor(ids[:, :-1].astype(np.float32))).data,
            "blocks": len(model.blocks), "too_long": _raises(lambda: model(np.zeros((1, seq + 1), int)), ValueError)}


def param_count(ns, rng):
    counts = []
    for _ in range(3):
        vocab, dim, layers, seq, ratio = (int(n) for n in rng.integers(1, 50, size=5))
        counts.append(ns["gpt_parameter_count"](vocab, dim, layers, seq, mlp_ratio=ratio % 6 + 1))
    heads = _size(rng, 1, 3)
    config = (_size(rng, 3, 20), heads * _size(rng, 1, 5), _size(rng, 1, 4), heads, _size(rng, 2, 20))
    counts.append(ns["gpt_parameter_count"](*config[:3], config[4]))
    counts.append(sum(p.size for p in ns["GPT"](*config, rng=0).parameters()))
    return {"counts": np.array(counts, dtype=np.int64)}


def lm_batch(ns, rng):
    lm_batch = ns["lm_batch"]
    context = _size(rng, 2, 7)
    tight = rng.integers(0, 1000, size=context + 1)  # one window fits: the batch is fixed
    tx, ty = lm_batch(tight, _size(rng, 1, 5), context, rng=int(rng.integers(1000)))
    n = context + _size(rng, 2, 7)
    data = 100 + rng.permutation(n)  # distinct tokens: a window's first token gives its start
    seed = int(rng.integers(1000))
    x, y = lm_batch(data, 400, context, rng=seed)
    starts = np.array([np.flatnonzero(data == token)[0] for token in x[:, 0]])
    windows = data[starts[:, None] + np.arange(context + 1)]
    return {"tight_x": tx, "tight_y": ty, "shape": np.array(x.shape), "dtype": str(x.dtype) + str(y.dtype),
            "x_windows": bool(np.array_equal(x, windows[:, :-1])), "y_shifted": bool(np.array_equal(y, windows[:, 1:])),
            "starts": np.unique(starts),  # 400 draws: every start that fits, w.p. 1 - 1e-30
            "same_seed": bool(np.array_equal(lm_batch(data, 400, context, rng=seed)[0], x))}


class _Given(np.random.Generator):
    """A generator whose `random(B)` returns the given draws (the graded cell uses one too)."""

    def __init__(self, draws):
        super().__init__(np.random.PCG64(0))
        self.draws = np.asarray(draws, dtype=np.float64)

    def random(self, size=None):
        return self.draws.copy()


def sample_next(ns, rng):
    sample = ns["sample_next"]
    # draws that land exactly on a running sum: equal logits, V a power of two, draws j / V
    v2 = int(rng.choice([2, 4, 8]))
    flat = np.repeat(rng.normal(size=(6, 1)), v2, axis=1)
    on_bounds = sample(flat, rng=_Given(rng.integers(0, v2, size=6) / v2))
    masked = np.zeros((2, 4))
    masked[:, rng.permutation(4)[:2]] = 5.0  # top_k = 2 keeps these two; a draw of 0 must pick the first
    b, v = _size(rng, 3, 9), _size(rng, 3, 9)
    logits = rng.normal(size=(b, v)) * 3
    ties = np.round(logits)  # equal logits: greedy takes the first, top-k keeps every tie of the k-th
    k = _size(rng, 1, v)
    seed = int(rng.integers(1000))
    temperature = float(rng.uniform(0.3, 2))
    return {"greedy": sample(ties, temperature=0), "plain": sample(logits, rng=seed),
            "warm": sample(logits, temperature=temperature, rng=seed + 1),
            "top_k": sample(logits, temperature, k, rng=seed + 2), "top_k_ties": sample(ties, 1.0, k, rng=seed + 3),
            "large": sample(logits + 1000, rng=seed + 4), "many": sample(np.tile(logits[:1], (500, 1)), rng=seed + 5),
            "many_top_k": sample(np.tile(logits[:1], (500, 1)), 1.0, k, rng=seed + 6), "on_bounds": on_bounds,
            "masked_first": sample(masked, top_k=2, rng=_Given([0.0, 0.0]))}


def generate(ns, rng):
    vocab, seq = _size(rng, 5, 10), _size(rng, 3, 6)
    model = _gpt(ns, rng, vocab, 8, 1, 2, seq)
    prompt = rng.integers(0, vocab, size=_size(rng, 1, 4))
    new = seq + _size(rng, 1, 4)  # longer than the context: it is cropped to the last max_seq_len
    seed = int(rng.integers(1000))
    model.train()
    out = {"sampled": model.generate(prompt, new, seed=seed), "training_kept": bool(model.training),
           "greedy": ns["generate"](model, prompt, new, temperature=0),
           "batch": model.generate(rng.integers(0, vocab, size=(2, 2)), new, top_k=2, seed=seed),
           "none": model.generate(prompt, 0)}
    return out


class _LeakyModel:
    """A stand-in model: causal prefix means, plus one leak from position s into position t (t < s)
    that shows only when token s is `trigger`."""

    def __init__(self, vocab, seq, t, s, trigger, size):
        self.vocab_size, self.max_seq_len, self.training = vocab, seq, True
        self.t, self.s, self.trigger, self.size, self.calls = t, s, trigger, size, 0
        self.table = np.linspace(-1.0, 1.0, vocab * 3).reshape(vocab, 3)

    def __call__(self, ids):
        return self.forward(ids)

    def train(self, mode=True):
        self.training = mode
        return self

    def eval(self):
        return self.train(False)

    def forward(self, ids):
        from tinytorch.tensor import Tensor

        ids = np.asarray(ids)
        self.calls += 1
        e = self.table[ids]
        out = np.cumsum(e, axis=1) / np.arange(1, e.shape[1] + 1)[:, None]
        if self.s < ids.shape[1]:
            out[:, self.t, 0] += self.size * (ids[:, self.s] == self.trigger)
        return Tensor(out.astype(np.float32))


def causal_leak(ns, rng):
    find = ns["find_causal_leak"]
    out = {}
    for i, size in enumerate([0.5, 1e-3, 0.5]):  # one leak each (so one right answer), for one token value
        vocab, seq = _size(rng, 2, 9), _size(rng, 4, 9)
        s = int(rng.integers(1, seq))
        t = int(rng.integers(0, s))
        leaky = _LeakyModel(vocab, seq, t, s, int(rng.integers(0, vocab)), size)
        leaky.train(bool(i % 2))
        found = find(leaky, seed=int(rng.integers(100)))
        out[f"leak_{i}"] = np.array(found if found is not None else (-1, -1), dtype=np.int64)
        out[f"few_calls_{i}"] = leaky.calls <= 4 * seq
        out[f"mode_kept_{i}"] = leaky.training == bool(i % 2)
    causal = _gpt(ns, rng, 7, 8, 1, 2, _size(rng, 3, 7))
    out["causal_gpt"] = find(causal, seed=int(rng.integers(100))) is None
    return out


def module(ns, rng):
    from tinytorch.losses import CrossEntropyLoss
    from tinytorch.optimizers import SGD

    vocab, seq = _size(rng, 5, 10), _size(rng, 4, 8)
    model = _gpt(ns, rng, vocab, 8, 1, 2, seq)
    x = rng.integers(0, vocab, size=(4, seq))
    y = rng.integers(0, vocab, size=(4, seq))
    opt, loss_fn = SGD(model.parameters(), lr=0.05), CrossEntropyLoss()
    losses = []
    for _ in range(3):
        loss = loss_fn(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return {"losses": np.array(losses), "head": model.head.weight.data, "logits": model(x).data}


PROBES = {
    "test-layer-norm": ["layer_norm"],
    "test-layer-norm-backward": ["layer_norm_backward"],
    "test-mlp": ["mlp"],
    "test-block": ["block"],
    "test-gpt": ["gpt"],
    "test-param-count": ["param_count"],
    "test-lm-batch": ["lm_batch"],
    "test-sample-next": ["sample_next"],
    "test-generate": ["generate"],
    "test-causal-leak": ["causal_leak"],
    "test-module": ["module"],
}
# float32 statistics, softmax and matmuls: another order of the same sums differs in the last digits
TOLERANCE = {"layer_norm": (1e-4, 1e-5), "layer_norm_backward": (1e-3, 1e-5), "block": (1e-4, 1e-5),
             "gpt": (1e-4, 1e-5), "module": (1e-3, 1e-5)}
