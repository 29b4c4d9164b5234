"""Grading probes for module 18 (Acceleration): the graded checks again, on inputs drawn at grading time.

tito calls each probe after the notebook's cells, with the notebook's namespace and a seeded NumPy
generator, and compares what it returns with the reference's values (tito/grading/probes.py).
No probe returns a time: only products, activations, gradients and the memory budget's verdict.
"""

import numpy as np


def _shape3(rng, low=1, high=7):
    return tuple(int(v) for v in rng.integers(low, high, size=3))


def matmul_vectorized(ns, rng):
    mm = ns["matmul_vectorized"]
    n, k, m = _shape3(rng)
    a32, b32 = rng.normal(size=(n, k)).astype(np.float32), rng.normal(size=(k, m)).astype(np.float32)
    shared = int(rng.integers(3, 9))  # at least 3 rank-1 updates
    a64, b64 = rng.normal(size=(m, shared)), rng.normal(size=(shared, k))
    ints_a, ints_b = rng.integers(-9, 9, size=(k, shared)), rng.integers(-9, 9, size=(shared, n))
    return {"float32": mm(a32, b32), "float64": mm(a64, b64), "ints": mm(ints_a, ints_b),
            "lists": mm(a64.tolist(), b64.tolist()), "empty_k": mm(np.zeros((n, 0)), np.zeros((0, m)))}


def matmul_blocked(ns, rng):
    mm = ns["matmul_blocked"]
    products = {}
    for case in range(3):  # blocks that divide the sizes or not, smaller or larger than them
        n, k, m = _shape3(rng, 1, 10)
        block = int(rng.integers(1, 6)) if case < 2 else int(rng.integers(10, 20))
        a, b = rng.normal(size=(n, k)).astype(np.float32), rng.normal(size=(k, m)).astype(np.float32)
        products[f"float32_{case}"] = mm(a, b, block)
    a, b = rng.normal(size=(7, 5)), rng.normal(size=(5, 6))
    products["float64_block2"] = mm(a, b, 2)
    products["ints_block3"] = mm(rng.integers(-5, 5, size=(4, 8)), rng.integers(-5, 5, size=(8, 3)), 3)
    return products


def fast_gelu(ns, rng):
    import tracemalloc

    from tinytorch.tensor import Tensor

    op, rule = ns["fast_gelu"], ns["fast_gelu_backward"]
    shape = (int(rng.integers(2, 5)), int(rng.integers(3, 40)))
    data = (rng.normal(size=shape) * 3).astype(np.float32)
    kept = data.copy()
    x = Tensor(data, requires_grad=True)
    y = op(x)
    grad = rng.normal(size=shape).astype(np.float32)
    grad_kept, t = grad.copy(), np.array(y._ctx["t"])
    (g,) = rule(grad, y, x, y._ctx["t"])
    fake_t = rng.uniform(-1, 1, size=5).astype(np.float32)  # not tanh(u): the rule must use the given t
    (g_fake,) = rule(np.ones(5, np.float32), None, Tensor(rng.normal(size=5).astype(np.float32)), fake_t)
    (y * Tensor(grad)).sum().backward()

    big = Tensor(rng.normal(size=(int(rng.integers(100, 140)), 1024)).astype(np.float32), requires_grad=True)
    big_grad = np.ones(big.shape, np.float32)
    tracemalloc.start()
    try:
        big_out = op(big)
        forward_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        rule(big_grad, big_out, big, big_out._ctx["t"])
        backward_peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    return {"forward": y.data, "op": str(y._op_name), "t": t, "backward": g, "from_given_t": g_fake,
            "x_grad": x.grad.data, "x_kept": bool(np.array_equal(x.data, kept)),
            "grad_kept": bool(np.array_equal(grad, grad_kept)),
            "t_kept": bool(np.array_equal(y._ctx["t"], t)),
            "forward_in_budget": bool(forward_peak <= 2.5 * big.data.nbytes),
            "backward_in_budget": bool(backward_peak <= 2.5 * big.data.nbytes)}


def module(ns, rng):
    from tinytorch.layers import Linear, Sequential
    from tinytorch.losses import CrossEntropyLoss
    from tinytorch.profiling import count_flops, named_layers
    from tinytorch.transformers import GPT

    accelerate, GELU = ns["accelerate"], ns["GELU"]
    vocab, context, layers = int(rng.integers(5, 15)), int(rng.integers(3, 9)), int(rng.integers(1, 4))
    model = GPT(vocab, 8, layers, 2, context, rng=0)
    for _, p in model.named_parameters():  # weights set here, not by an init
        p.data[...] = rng.normal(size=p.shape) * 0.4
    fast = accelerate(model)
    kinds = [type(layer).__name__ for _, layer in named_layers(fast) if isinstance(layer, GELU)]
    ids = rng.integers(0, vocab, size=(2, context))
    targets = rng.integers(0, vocab, size=(2, context))
    out = fast(ids)
    loss = CrossEntropyLoss()(out, targets)
    loss.backward()
    result = {"kinds": ",".join(kinds), "logits": out.data, "loss": float(loss.item()),
              "original_kept": all(type(b.mlp.act) is GELU for b in model.blocks),
              "original_untouched": all(p.grad is None for p in model.parameters()),
              "flops": int(count_flops(fast, ids)), "flops_same": count_flops(fast, ids) == count_flops(model, ids)}
    for i, (_, q) in enumerate(fast.named_parameters()):
        result[f"grad_{i}"] = q.grad.data
    try:
        accelerate(Sequential(Linear(2, 2)))
        result["no_gelu"] = "no error"
    except ValueError:
        result["no_gelu"] = "ValueError"
    return result


PROBES = {
    "test-matmul-vectorized": ["matmul_vectorized"],
    "test-matmul-blocked": ["matmul_blocked"],
    "test-fast-gelu": ["fast_gelu"],
    "test-module": ["module"],
}
# float32 sums in another order (rank-1 updates, tiles; in-place GELU steps) differ by rounding
TOLERANCE = {"matmul_vectorized": (1e-4, 1e-5), "matmul_blocked": (1e-4, 1e-5), "fast_gelu": (1e-4, 1e-5),
             "module": (1e-4, 1e-5)}
