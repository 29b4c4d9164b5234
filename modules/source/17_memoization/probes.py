"""Grading probes for module 17 (Memoization, KV cache): the graded checks again, on inputs drawn at
grading time.

tito calls each probe after the notebook's cells, with the notebook's namespace and a seeded NumPy
generator, and compares what it returns with the reference's values (tito/grading/probes.py).
Models get weights drawn from `rng`. The window policy of `generate_windowed` is the student's
choice, so its probe returns what every valid policy shares: the tokens generated while the
sequence fits in `max_seq_len`, and whether every later token is one that an allowed window gives
(replayed with the run's own draws), within the work budget.
"""

import numpy as np


def _size(rng, low=2, high=7):
    return int(rng.integers(low, high))


def _error_name(call):
    try:
        call()
    except Exception as exc:  # noqa: BLE001 - the kind of error is the answer
        return type(exc).__name__
    return "no error"


def _gpt(rng, vocab, layers, max_len, scale=0.5):
    from tinytorch.transformers import GPT

    heads = _size(rng, 1, 3)
    model = GPT(vocab, heads * _size(rng, 2, 5), layers, heads, max_len, rng=0)
    for p in model.parameters():
        p.data[...] = rng.normal(size=p.shape) * scale  # a confident model: a wrong window or offset shows
    return model.eval()


def kv_cache(ns, rng):
    Tensor, KVCache = ns["Tensor"], ns["KVCache"]
    b, h, hd = _size(rng, 1, 4), _size(rng, 1, 4), _size(rng, 1, 5)
    chunks = [_size(rng, 1, 4) for _ in range(3)]
    cache = KVCache(b, h, sum(chunks) + _size(rng, 1, 3), hd)
    out = {}
    for i, n in enumerate(chunks):
        k, v = (rng.normal(size=(b, h, n, hd)).astype(np.float32) for _ in range(2))
        k_all, v_all = cache.update(Tensor(k), Tensor(v))
        out[f"keys_{i}"], out[f"values_{i}"], out[f"length_{i}"] = k_all.data.copy(), v_all.data.copy(), cache.length
    out["views"] = bool(np.shares_memory(k_all.data, cache.keys) and np.shares_memory(v_all.data, cache.values))
    out["stored"], out["float32"] = cache.keys.copy(), str(k_all.dtype)
    too_many = np.ones((b, h, cache.max_len, hd), np.float32)
    out["overflow"] = _error_name(lambda: cache.update(Tensor(too_many), Tensor(too_many)))
    other_heads = Tensor(np.ones((b, h + 1, 1, hd), np.float32))
    out["wrong_shape"] = _error_name(lambda: cache.update(other_heads, other_heads))
    out["grad"] = _error_name(lambda: cache.update(Tensor(k, requires_grad=True), Tensor(v)))
    out["length_kept"] = cache.length
    cache.reset()
    k = rng.normal(size=(b, h, 1, hd)).astype(np.float32)
    out["after_reset"] = cache.update(Tensor(k), Tensor(-k))[1].data
    out["nbytes"] = int(cache.nbytes)
    return out


def kv_cache_bytes(ns, rng):
    cache_bytes = ns["kv_cache_bytes"]
    args = [tuple(int(v) for v in rng.integers(1, 50, size=5)) for _ in range(4)]
    return {"bytes": np.array([cache_bytes(*a) for a in args], dtype=np.int64),
            "defaults": cache_bytes(*args[0][:3]), "float16": cache_bytes(*args[1][:3], bytes_per_value=2),
            "zero_layers": _error_name(lambda: cache_bytes(0, 16, 10))}


def forward_cached(ns, rng):
    forward, make = ns["forward_cached"], ns["make_caches"]
    vocab, max_len, batch = _size(rng, 5, 15), _size(rng, 8, 14), _size(rng, 1, 3)
    model = _gpt(rng, vocab, _size(rng, 1, 3), max_len, scale=0.3)
    length = max_len - int(rng.integers(0, 3))
    ids = rng.integers(0, vocab, size=(batch, length))
    prompt = _size(rng, 2, 5)
    caches = make(model, batch)
    out = {"prompt": forward(model, ids[:, :prompt], caches).data}
    out["steps"] = np.concatenate([forward(model, ids[:, t:t + 1], caches).data for t in range(prompt, length)], axis=1)
    out["lengths"] = np.array([c.length for c in caches])
    cuts = np.sort(rng.choice(np.arange(1, length), size=3, replace=False))
    chunked = make(model, batch)
    bounds = [0, *cuts.tolist(), length]
    out["chunks"] = np.concatenate([forward(model, ids[:, a:b], chunked).data for a, b in zip(bounds, bounds[1:])],
                                   axis=1)
    out["one_cache_too_many"] = _error_name(lambda: forward(model, ids, make(model, batch) + make(model, batch)[:1]))
    return out


def generate_cached(ns, rng):
    generate = ns["generate_cached"]
    vocab, max_len = _size(rng, 8, 16), _size(rng, 6, 10)
    model = _gpt(rng, vocab, 2, max_len)
    prompt = rng.integers(0, vocab, size=_size(rng, 2, 5))
    out = {}
    settings = [{"seed": int(rng.integers(1000))}, {"seed": int(rng.integers(1000)), "temperature": 0.7},
                {"seed": int(rng.integers(1000)), "top_k": 3}, {"temperature": 0}]
    for i, kwargs in enumerate(settings):
        out[f"tokens_{i}"] = generate(model, prompt, _size(rng, 3, 7), **kwargs)
    batch = rng.integers(0, vocab, size=(2, _size(rng, 2, max_len)))
    out["batch"] = generate(model, batch, _size(rng, 2, 5), seed=int(rng.integers(1000)))
    out["long_run"] = generate(model, prompt, 3 * max_len, seed=int(rng.integers(1000)))  # re-prefills
    long_prompt = rng.integers(0, vocab, size=max_len + _size(rng, 1, 4))
    out["long_prompt"] = generate(model, long_prompt, _size(rng, 2, 5), temperature=0)
    generate(model, long_prompt, 1, temperature=0)
    out["prefill_weights"] = np.array(model.blocks[0].attn.last_weights.shape)  # one pass over the last max_len
    generate(model, prompt, max_len - len(prompt), seed=0)
    out["decode_weights"] = np.array(model.blocks[0].attn.last_weights.shape)  # one query, no call after the last
    out["no_new"] = generate(model, prompt, 0)
    model.train()
    generate(model, prompt, 2, seed=0)
    out["mode_restored"] = model.training
    return out


class _Replay(np.random.Generator):
    """Hands `sample_next` the draws a run made at one step."""

    def __init__(self, draws):
        super().__init__(np.random.PCG64(0))
        self.draws = draws

    def random(self, size=None):
        return self.draws


def _valid_tokens(ns, model, got, prompt_len, n, min_context, kwargs):
    """Whether every new token is the one some allowed window gives (the run's own draws)."""
    from tinytorch.autograd import no_grad

    draws = np.random.default_rng(kwargs.get("seed"))
    temperature, top_k, limit = kwargs.get("temperature", 1.0), kwargs.get("top_k"), model.max_seq_len
    for i in range(n):
        seq = got[:, :prompt_len + i]
        widths = [seq.shape[1]] if seq.shape[1] <= limit else range(min_context, limit + 1)
        u = draws.random(seq.shape[0]) if temperature != 0 else None
        options = []
        for w in widths:
            with no_grad():
                logits = model(seq[:, -w:]).data[:, -1]
            options.append(ns["sample_next"](logits, temperature, top_k, rng=_Replay(u)))
        if not any(np.array_equal(got[:, prompt_len + i], t) for t in options):
            return False
    return True


def _ruler_widths_valid(ns, rng):
    """A model whose greedy token is w - 1 after reading a window of w tokens: every new token
    must come from the whole sequence while it fits, then from a window of min_context..S."""
    from tinytorch.transformers import GPT

    ruler, limit = GPT(13, 16, 1, 2, 8, rng=0), 8
    for name, p in ruler.named_parameters():
        p.data[...] = 1.0 if name.endswith("ln_f.weight") else 0.0
    ruler.position_embedding.weight.data[:, :limit] = 10 * np.eye(limit)
    ruler.head.weight.data[:limit, :limit] = np.eye(limit)
    valid = []
    for min_context in range(1, limit // 2 + 1):
        prompt_len = _size(rng, 1, 6)
        got = ns["generate_windowed"](ruler, rng.integers(0, 13, size=prompt_len), _size(rng, 20, 30), min_context,
                                      temperature=0)
        for i, token in enumerate(got[prompt_len:].tolist()):
            length = prompt_len + i
            valid.append(token + 1 == length if length <= limit else min_context <= token + 1 <= limit)
    return all(valid)


def generate_windowed(ns, rng):
    windowed = ns["generate_windowed"]
    vocab, max_len = _size(rng, 20, 30), 2 * _size(rng, 3, 5)
    model = _gpt(rng, vocab, 2, max_len, scale=1.0)  # varied tokens: a stale or wrong window shows
    attn, counted = model.blocks[0].attn, []

    def counting(x, mask=None, cache=None):  # every position the model processes passes here once
        counted.append(x.shape[1])
        return type(attn).forward(attn, x, mask=mask, cache=cache)

    attn.forward = counting
    out = {}
    runs = [(rng.integers(0, vocab, size=_size(rng, 2, 5)), {"temperature": 0}),
            (rng.integers(0, vocab, size=(2, _size(rng, 2, 5))), {"seed": int(rng.integers(1000))}),
            (rng.integers(0, vocab, size=_size(rng, 2, 5)), {"seed": int(rng.integers(1000)), "top_k": 3,
                                                             "temperature": 0.8})]
    for i, (prompt, kwargs) in enumerate(runs):
        n, min_context = 3 * max_len + _size(rng, 0, 4), _size(rng, 1, max_len // 2 + 1)
        counted.clear()
        got = np.atleast_2d(windowed(model, prompt, n, min_context, **kwargs))
        p = np.atleast_2d(prompt).shape[1]
        out[f"fits_{i}"] = got[:, :max_len + 1]  # up to max_seq_len every policy reads the whole sequence
        out[f"budget_{i}"] = sum(counted) <= min(p, max_len) + max_len + 2 * n and len(counted) <= n
        out[f"valid_{i}"] = _valid_tokens(ns, model, got, p, n, min_context, kwargs)
    del attn.forward
    out["ruler"] = _ruler_widths_valid(ns, rng)
    out["bad_min_context"] = _error_name(lambda: windowed(model, runs[0][0], 3, max_len // 2 + 1))
    return out


def module(ns, rng):
    from tinytorch.losses import CrossEntropyLoss
    from tinytorch.optimizers import Adam
    from tinytorch.transformers import GPT, lm_batch

    vocab, max_len = _size(rng, 6, 12), _size(rng, 8, 12)
    data = rng.integers(0, vocab, size=40)
    model = GPT(vocab, 16, 2, 2, max_len, rng=int(rng.integers(100)))
    opt, loss_fn = Adam(model.parameters(), lr=2e-2), CrossEntropyLoss()
    for _ in range(10):
        x, y = lm_batch(data, 8, max_len, rng)
        loss = loss_fn(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    generate = ns["generate_cached"]
    out = {"greedy": generate(model, data[:5], 2 * max_len, temperature=0),
           "sampled": generate(model, data[None, :3], 2 * max_len, temperature=1.5, top_k=5,
                               seed=int(rng.integers(1000)))}
    model.eval()
    caches = ns["make_caches"](model, 1)
    steps = [ns["forward_cached"](model, data[None, :4], caches).data[0, -1]]
    steps += [ns["forward_cached"](model, data[None, t:t + 1], caches).data[0, -1] for t in range(4, max_len)]
    out["logits"] = np.stack(steps)
    return out


PROBES = {
    "test-kv-cache": ["kv_cache"],
    "test-kv-cache-bytes": ["kv_cache_bytes"],
    "test-forward-cached": ["forward_cached"],
    "test-generate-cached": ["generate_cached"],
    "test-generate-windowed": ["generate_windowed"],
    "test-module": ["module"],
}
