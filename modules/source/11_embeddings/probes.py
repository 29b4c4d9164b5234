"""Grading probes for module 11 (Embeddings): the graded checks again, on inputs drawn at grading time.

tito calls each probe after the notebook's cells, with the notebook's namespace and a seeded NumPy
generator, and compares what it returns with the reference's values (tito/grading/probes.py).
Tables are set from the drawn values, never left to an init.
"""

import numpy as np


def _matrix(rng, *shape):
    return rng.normal(size=shape).astype(np.float32)


def _size(rng, low=2, high=6):
    return int(rng.integers(low, high))


def _grad(t):
    """A parameter's gradient as an array (None when nothing reached it)."""
    return None if t.grad is None else np.asarray(getattr(t.grad, "data", t.grad))


def _raises(fn, error):
    try:
        fn()
    except error:
        return True
    except Exception:
        return False
    return False


def one_hot(ns, rng):
    n = _size(rng, 3, 8)
    ids = rng.integers(0, n, size=(_size(rng), _size(rng)))
    return {"batch": ns["one_hot"](ids, n), "single": ns["one_hot"](np.array(int(rng.integers(0, n))), n),
            "list": ns["one_hot"](ids[0].tolist(), n)}


def embedding_op(ns, rng):
    from tinytorch.testing import recording_ops

    embedding, Tensor = ns["embedding"], ns["Tensor"]
    n, d = _size(rng, 4, 9), _size(rng)
    table = _matrix(rng, n, d)
    ids = rng.integers(0, n, size=(_size(rng), _size(rng)))
    out = {"batch": embedding(ids, Tensor(table)).data, "list": embedding(ids[0].tolist(), Tensor(table)).data,
           "float_tensor": embedding(Tensor(ids[-1].astype(np.float32)), Tensor(table)).data,
           "single": embedding(int(ids[0, 0]), Tensor(table)).data,
           "out_of_range": _raises(lambda: embedding([0, n], Tensor(table)), IndexError)}
    with recording_ops("embedding"):
        w = Tensor(table, requires_grad=True)
        y = embedding(Tensor(ids.astype(np.float32), requires_grad=True), w)
        out.update(op=str(y._op_name), inputs=len(y._inputs), input_is_table=y._inputs[0] is w,
                   ctx_ids=np.asarray(y._ctx["ids"]))
    return out


def embedding_backward(ns, rng):
    from tinytorch.autograd import backward

    Tensor = ns["Tensor"]
    n, d = _size(rng, 6, 12), _size(rng)
    ids = rng.integers(0, n - 2, size=(_size(rng), _size(rng, 4, 9)))  # repeats; the last rows never read
    g = _matrix(rng, *ids.shape, d)
    kept = g.copy()
    table = Tensor(_matrix(rng, n, d), requires_grad=True)
    (direct,) = ns["_embedding_backward"](g, None, table, ids)
    out = {"direct": np.asarray(direct), "grad_kept": bool(np.array_equal(g, kept))}
    backward(ns["embedding"](ids, table), g)
    out["through_graph"] = _grad(table)
    flat = Tensor(np.zeros((n, d), np.float32), requires_grad=True)
    backward(ns["embedding"](ids.reshape(-1), flat), g.reshape(-1, d))
    out["flat_ids"] = _grad(flat)
    return out


def sinusoidal(ns, rng):
    encode = ns["sinusoidal_encoding"]
    far = int(rng.integers(5_000, 10_001))
    return {"even": encode(_size(rng, 3, 20), 2 * _size(rng, 1, 9)),
            "odd": encode(_size(rng, 3, 20), 2 * _size(rng, 1, 9) + 1),
            "far": encode(far, _size(rng, 6, 17))[-6:]}  # angles of thousands of radians: float64 needed


def positions(ns, rng):
    from tinytorch.autograd import backward

    Tensor = ns["Tensor"]
    b, t, d = _size(rng), _size(rng), _size(rng, 2, 7)
    max_len = t + _size(rng, 1, 5)
    x, g = _matrix(rng, b, t, d), _matrix(rng, b, t, d)
    offset = int(rng.integers(1, max_len - t + 1))
    fixed = ns["PositionalEncoding"](max_len, d)
    learned = ns["LearnedPositionalEmbedding"](max_len, d, rng=0)
    learned.weight.data[...] = _matrix(rng, max_len, d)
    out = {"fixed": fixed(Tensor(x)).data, "fixed_offset": fixed(Tensor(x), offset=offset).data,
           "learned": learned(Tensor(x)).data, "fixed_params": len(fixed.parameters()),
           "learned_params": len(learned.parameters())}
    xt = Tensor(x, requires_grad=True)
    backward(fixed(xt, offset=offset), g)
    out["fixed_x_grad"] = _grad(xt)
    xt = Tensor(x, requires_grad=True)
    y = learned(xt, offset=offset)
    backward(y, g)
    out.update(learned_offset=y.data, learned_x_grad=_grad(xt), learned_weight_grad=_grad(learned.weight),
               too_long=_raises(lambda: learned(Tensor(x), offset=max_len - t + 1), ValueError))
    return out


def module(ns, rng):
    from tinytorch.layers import Linear
    from tinytorch.losses import CrossEntropyLoss
    from tinytorch.optimizers import SGD

    Tensor = ns["Tensor"]
    vocab, d, t = _size(rng, 5, 10), _size(rng, 3, 7), _size(rng, 4, 9)
    ids = rng.integers(0, vocab, size=(3, t))
    targets = rng.integers(0, 2, size=(3, t))
    tokens = ns["Embedding"](vocab, d, rng=0)
    tokens.weight.data[...] = _matrix(rng, vocab, d)
    position = ns["LearnedPositionalEmbedding"](t, d, rng=0)
    position.weight.data[...] = _matrix(rng, t, d)
    head = Linear(d, 2, rng=0)
    head.weight.data[...] = _matrix(rng, d, 2)
    head.bias.data[...] = 0
    fixed = ns["PositionalEncoding"](t, d)
    loss_fn = CrossEntropyLoss()
    params = tokens.parameters() + position.parameters() + head.parameters()
    opt = SGD(params, lr=0.5)
    losses = []
    for _ in range(3):
        loss = loss_fn(head(fixed(position(tokens(ids)))), Tensor(targets))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return {"losses": np.array(losses), "tokens": tokens.weight.data, "positions": position.weight.data,
            "head": head.weight.data}


PROBES = {
    "test-one-hot": ["one_hot"],
    "test-embedding-op": ["embedding_op"],
    "test-embedding-backward": ["embedding_backward"],
    "test-sinusoidal": ["sinusoidal"],
    "test-positions": ["positions"],
    "test-module": ["module"],
}
TOLERANCE = {"sinusoidal": (0, 1e-6),  # as the graded cell: float32 angles are off by ~1e-4 far out
             "embedding_backward": (1e-4, 1e-5),  # sums of repeated rows in another order
             "module": (1e-3, 1e-5)}  # three SGD steps through those sums
