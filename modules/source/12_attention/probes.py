"""Grading probes for module 12 (Attention): the graded checks again, on inputs drawn at grading time.

tito calls each probe after the notebook's cells, with the notebook's namespace and a seeded NumPy
generator, and compares what it returns with the reference's values (tito/grading/probes.py).
Layers get every parameter from the drawn values, never from an init. Where the contract leaves a
choice (the keys a pad query may see), only the part it fixes is returned.
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


def _layer(ns, rng, d, heads):
    """A MultiHeadAttention whose weights and biases are all drawn here."""
    mha = ns["MultiHeadAttention"](d, heads, rng=0)
    for p in mha.parameters():
        p.data[...] = rng.normal(size=p.shape) * 0.5
    return mha


def causal_mask(ns, rng):
    mask = ns["causal_mask"]
    t_q = _size(rng, 1, 7)
    t_k = t_q + int(rng.integers(0, 4))
    return {"square": mask(t_q + 1), "shifted": mask(t_q, t_k),
            "too_few_keys": _raises(lambda: mask(t_k + 1, t_k), ValueError)}


def masked_fill(ns, rng):
    Tensor, fill = ns["Tensor"], ns["masked_fill"]
    b, t, k = _size(rng), _size(rng), _size(rng)
    x = Tensor(_matrix(rng, b, t, k), requires_grad=True)
    mask = rng.random((t, k)) < 0.5
    value = float(rng.normal())
    out = fill(x, mask, value)
    g = _matrix(rng, b, t, k)
    kept = g.copy()
    out.backward(g)
    ones = Tensor(np.ones((t, k), np.float32), requires_grad=True)
    (fill(ones, rng.integers(0, 2, size=k), 0.0).sum() * 3.0).backward()  # a 0/1 mask; a read-only grad
    return {"out": out.data, "op": str(out._op_name), "x_kept": x.data, "grad": _grad(x),
            "grad_kept": bool(np.array_equal(g, kept)), "through_sum": _grad(ones)}


def sdpa(ns, rng):
    from tinytorch.autograd import backward

    Tensor, attend = ns["Tensor"], ns["scaled_dot_product_attention"]
    b, h, t_q, d_v = _size(rng, 1, 3), _size(rng, 1, 4), _size(rng, 2, 6), _size(rng)
    t_k = t_q + int(rng.integers(0, 3))
    d = t_k + int(rng.integers(1, 4))  # the scale is 1/sqrt(d), and d != T_k tells the two apart
    qa, ka, va = _matrix(rng, b, h, t_q, d), _matrix(rng, b, h, t_k, d), _matrix(rng, b, h, t_k, d_v)
    out, w = attend(Tensor(qa), Tensor(ka), Tensor(va))
    causal_out, causal_w = attend(Tensor(qa), Tensor(ka), Tensor(va), mask=ns["causal_mask"](t_q, t_k))
    pad = np.ones((b, 1, 1, t_k), np.float32)
    pad[..., int(rng.integers(1, t_k)):] = 0  # a 0/1 Tensor mask: the last keys are padding
    pad_out, pad_w = attend(Tensor(qa), Tensor(ka), Tensor(va), mask=Tensor(pad))
    q, k, v = (Tensor(a, requires_grad=True) for a in (qa, ka, va))
    backward(attend(q, k, v, mask=ns["causal_mask"](t_q, t_k))[0], _matrix(rng, b, h, t_q, d_v))
    return {"out": out.data, "weights": w.data, "causal_out": causal_out.data, "causal_weights": causal_w.data,
            "pad_out": pad_out.data, "pad_weights": pad_w.data, "grad_q": _grad(q), "grad_k": _grad(k),
            "grad_v": _grad(v),
            "empty_row": _raises(lambda: attend(Tensor(qa), Tensor(ka), Tensor(va), np.zeros((t_q, t_k), bool)),
                                 ValueError)}


def heads(ns, rng):
    Tensor = ns["Tensor"]
    b, t, h, d = _size(rng, 1, 4), _size(rng), _size(rng, 2, 5), _size(rng, 1, 5)
    x = Tensor(_matrix(rng, b, t, h * d), requires_grad=True)
    split = ns["split_heads"](x, h)
    split.backward(_matrix(rng, b, h, t, d))
    return {"split": split.data, "merged": ns["merge_heads"](Tensor(_matrix(rng, b, h, t, d))).data,
            "round_trip": ns["merge_heads"](split).data, "grad": _grad(x)}


def mha(ns, rng):
    from tinytorch.testing import ops_in_graph

    Tensor = ns["Tensor"]
    h, d = _size(rng, 2, 4), _size(rng, 1, 4)
    b, t = _size(rng, 1, 4), _size(rng, 2, 7)
    layer = _layer(ns, rng, h * d, h)
    x = _matrix(rng, b, t, h * d)
    out = {"plain": layer(Tensor(x)).data, "plain_weights": np.asarray(layer.last_weights)}
    causal = layer(Tensor(x), mask=ns["causal_mask"](t))
    out.update(causal=causal.data, causal_weights=np.asarray(layer.last_weights),
               matmuls=ops_in_graph(causal).count("matmul"))
    (causal * Tensor(_matrix(rng, b, t, h * d))).sum().backward()
    for name, p in layer.named_parameters():
        out[f"grad_{name}"] = _grad(p)
    return out


class _ConcatCache:
    """The graded cell's test double: keeps every key and value so far (module 17 ships the real one)."""

    def __init__(self, Tensor):
        self.Tensor, self.k, self.v, self.calls = Tensor, None, None, 0

    def update(self, k, v):
        self.calls += 1
        if self.k is not None:
            k = self.Tensor(np.concatenate([self.k.data, k.data], axis=2))
            v = self.Tensor(np.concatenate([self.v.data, v.data], axis=2))
        self.k, self.v = k, v
        return k, v


def cache_seam(ns, rng):
    from tinytorch.autograd import no_grad

    Tensor, causal_mask = ns["Tensor"], ns["causal_mask"]
    h, d, b, t = _size(rng, 2, 4), _size(rng, 1, 4), _size(rng, 1, 3), _size(rng, 4, 8)
    prompt = _size(rng, 1, t)
    layer = _layer(ns, rng, h * d, h)
    x = _matrix(rng, b, t, h * d)
    cache = _ConcatCache(Tensor)
    with no_grad():
        full = layer(Tensor(x), mask=causal_mask(t)).data
        steps = [layer(Tensor(x[:, :prompt]), mask=causal_mask(prompt), cache=cache).data]
        steps += [layer(Tensor(x[:, i:i + 1]), mask=causal_mask(1, i + 1), cache=cache).data
                  for i in range(prompt, t)]
    return {"full": full, "steps": np.concatenate(steps, axis=1), "calls": cache.calls,
            "cached_keys": cache.k.data, "last_weights": np.asarray(layer.last_weights)}


def padding_mask(ns, rng):
    from tinytorch.autograd import no_grad

    Tensor = ns["Tensor"]
    t = _size(rng, 3, 7)
    lengths = rng.integers(1, t + 1, size=_size(rng, 2, 5))
    lengths[0] = t  # one sequence without padding
    b = len(lengths)
    h, d = 3 if b == 2 else 2, _size(rng, 1, 4)  # H != B: a mask must not line the batch up with the heads
    layer = _layer(ns, rng, h * d, h)
    x = _matrix(rng, b, t, h * d)
    out = {}
    for causal in (False, True):
        for pad_left in (False, True):
            case = f"{'causal' if causal else 'full'}_{'left' if pad_left else 'right'}"
            m = ns["padding_mask"](lengths.tolist(), t, causal=causal, pad_left=pad_left)
            positions = np.arange(t)
            real = positions >= (t - lengths)[:, None] if pad_left else positions < lengths[:, None]
            every = np.broadcast_to(m, (b, h, t, t))
            # a pad query may see any key but must see one; a real query's row is fixed by the contract
            out[f"{case}_real_rows"] = np.where(real[:, None, :, None], every, False)
            out[f"{case}_no_empty_row"] = bool(every.any(axis=-1).all())
            out[f"{case}_shape_ok"] = np.broadcast_shapes(np.shape(m), (b, h, t, t)) == (b, h, t, t)
            with no_grad():
                y = layer(Tensor(x), mask=m).data
            out[f"{case}_out_real"] = np.where(real[..., None], y, 0)
    out["zero_length"] = _raises(lambda: ns["padding_mask"]([0, 1], t), ValueError)
    return out


def module(ns, rng):
    from tinytorch.optimizers import SGD

    Tensor = ns["Tensor"]
    n, t, d = 8, _size(rng, 3, 6), 6
    x, y = _matrix(rng, n, t, d), _matrix(rng, n, t, d)
    losses = []
    for mask in (ns["causal_mask"](t), np.eye(t, dtype=bool)):
        layer = _layer(ns, rng, d, 2)
        opt = SGD(layer.parameters(), lr=0.1)
        for _ in range(3):
            loss = ((layer(Tensor(x), mask=mask) - Tensor(y)) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
    return {"losses": np.array(losses), "out_proj": layer.out_proj.weight.data, "q_proj": layer.q_proj.weight.data}


PROBES = {
    "test-causal-mask": ["causal_mask"],
    "test-masked-fill": ["masked_fill"],
    "test-sdpa": ["sdpa"],
    "test-heads": ["heads"],
    "test-mha": ["mha"],
    "test-cache-seam": ["cache_seam"],
    "test-padding-mask": ["padding_mask"],
    "test-module": ["module"],
}
# float32 softmax and matmuls: another order of the same sums differs in the last digits
TOLERANCE = {"sdpa": (1e-4, 1e-5), "mha": (1e-4, 1e-5), "cache_seam": (1e-4, 1e-5), "padding_mask": (1e-4, 1e-5),
             "module": (1e-3, 1e-5)}
