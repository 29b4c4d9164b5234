"""Grading probes for module 05 (Autograd): the graded checks again, on inputs drawn at grading time.

tito calls each probe after the notebook's cells, with the notebook's namespace and a seeded NumPy
generator, and compares what it returns with the reference's values (tito/grading/probes.py).
Most probes return gradients: of one rule called directly, or of a whole drawn graph after the
notebook's own `backward` (never `Tensor.backward`, which imports the package's module 05).
"""

import numpy as np

from tinytorch.tensor import Config


def _g(rng, *shape):
    return rng.normal(size=shape).astype(np.float32)


def _pos(rng, *shape):
    return rng.uniform(0.5, 2.0, size=shape).astype(np.float32)


def _arr(value):
    return np.asarray(value, dtype=np.float64)


def _error(fn):
    try:
        fn()
    except Exception as exc:  # the type is the contract; the message is the student's
        return type(exc).__name__
    return "no error"


def unbroadcast(ns, rng):
    f = ns["unbroadcast"]
    shape = (int(rng.integers(2, 4)), int(rng.integers(2, 4)), int(rng.integers(2, 5)))
    out = {}
    for k in range(5):
        lead = int(rng.integers(0, 3))  # leading axes the input did not have
        target = tuple(1 if rng.random() < 0.5 else n for n in shape[lead:])
        g = _g(rng, *shape)
        kept = g.copy()
        out[f"case_{k}"] = _arr(f(g, target))
        out[f"case_{k}_kept"] = bool(np.array_equal(g, kept))
    ones = _g(rng, 1, *shape[1:])  # a leading axis of size 1 that the input has elsewhere
    out["size_one_lead"] = _arr(f(ones, (shape[1], 1) if rng.random() < 0.5 else (1, shape[2])))
    same = _g(rng, *shape)
    out["same_is_grad"] = f(same, shape) is same
    return out


def arithmetic_rules(ns, rng):
    Tensor = ns["Tensor"]
    m, n = int(rng.integers(2, 5)), int(rng.integers(2, 5))
    b_shape = [(n,), (m, 1), (1, n), ()][int(rng.integers(0, 4))]
    A, B, g = _pos(rng, m, n), _pos(rng, *b_shape), _g(rng, m, n)
    out = {}
    for name, forward in (("div", A / B), ("mul", A * B), ("sub", A - B), ("add", A + B)):
        a, b = Tensor(A, requires_grad=True), Tensor(B, requires_grad=True)
        ga, gb = ns[f"{name}_backward"](g, Tensor(forward), a, b)
        out[f"{name}_a"], out[f"{name}_b"] = _arr(ga), _arr(gb)
        out[f"{name}_dtypes"] = f"{np.asarray(ga).dtype},{np.asarray(gb).dtype}"
        out[f"{name}_inputs_kept"] = bool(np.array_equal(a.data, A) and np.array_equal(b.data, B))
    a, b = Tensor(A, requires_grad=True), Tensor(B)
    ga, gb = ns["div_backward"](g, Tensor(A / B), a, b)
    out["div_constant_b"], out["div_constant_b_none"] = _arr(ga), gb is None
    out["neg"] = _arr(ns["neg_backward"](g, Tensor(-A), Tensor(A, requires_grad=True))[0])
    return out


def unary_rules(ns, rng):
    Tensor = ns["Tensor"]
    x = _pos(rng, int(rng.integers(2, 7)))
    g = _g(rng, x.size)
    out = {}
    for k, p in enumerate((float(rng.integers(2, 5)), float(rng.uniform(-2, -0.1)), float(rng.uniform(0.1, 0.9)))):
        result = ns["pow_backward"](g, Tensor(x ** p), Tensor(x, requires_grad=True), exponent=p)
        out[f"pow_{k}"], out[f"pow_{k}_dtype"] = _arr(result[0]), str(np.asarray(result[0]).dtype)
    zero = x.copy()
    zero[int(rng.integers(0, x.size))] = 0.0
    try:
        with np.errstate(all="raise"):
            (g0,) = ns["pow_backward"](g, Tensor(np.ones(x.size)), Tensor(zero, requires_grad=True), exponent=0)
        out["pow_0"], out["pow_0_error"] = _arr(g0), "none"
    except FloatingPointError:
        out["pow_0"], out["pow_0_error"] = np.full(x.size, -1.0), "FloatingPointError"
    t = Tensor(x, requires_grad=True)
    out["exp"] = _arr(ns["exp_backward"](g, Tensor(np.exp(x)), t)[0])
    out["log"] = _arr(ns["log_backward"](g, Tensor(np.log(x)), t)[0])
    out["sqrt"] = _arr(ns["sqrt_backward"](g, Tensor(np.sqrt(x)), t)[0])
    return out


def matmul_rule(ns, rng):
    Tensor, rule = ns["Tensor"], ns["matmul_backward"]
    i, k, j, b = (int(rng.integers(2, 5)) for _ in range(4))
    cases = {"2d": ((i, k), (k, j)), "shared_weight": ((b, i, k), (k, j)), "broadcast": ((2, 1, i, k), (b, k, j)),
             "vec_mat": ((k,), (k, j)), "mat_vec": ((i, k), (k,)), "vec_vec": ((k,), (k,))}
    out = {}
    for name, (sa, sb) in cases.items():
        A, B = _g(rng, *sa), _g(rng, *sb)
        g = _g(rng, *np.matmul(A, B).shape)
        ga, gb = rule(g, Tensor(np.matmul(A, B)), Tensor(A, requires_grad=True), Tensor(B, requires_grad=True))
        out[f"{name}_a"], out[f"{name}_b"] = _arr(ga), _arr(gb)
    A, B = _g(rng, b, i, k), _g(rng, k, j)
    ga, gb = rule(_g(rng, b, i, j), Tensor(A @ B), Tensor(A, requires_grad=True), Tensor(B))
    out["constant_b"], out["constant_b_none"] = ga.shape == A.shape, gb is None
    return out


def reduction_rules(ns, rng):
    Tensor = ns["Tensor"]
    shape = (int(rng.integers(2, 4)), int(rng.integers(2, 4)), int(rng.integers(2, 5)))
    a = rng.integers(-3, 4, size=shape).astype(np.float32)  # few distinct values: many ties
    out = {}
    for k, (axis, keep) in enumerate(((None, False), (int(rng.integers(-3, 3)), False), ((0, 2), True),
                                      (int(rng.integers(0, 3)), True))):
        for name in ("sum", "mean", "max"):
            value = getattr(a, name)(axis=axis, keepdims=keep)
            g = _g(rng, *np.shape(value))
            (grad,) = ns[f"{name}_backward"](g, Tensor(value), Tensor(a, requires_grad=True), axis=axis, keepdims=keep)
            out[f"{name}_{k}"] = _arr(grad)
            out[f"{name}_{k}_dtype"] = str(np.asarray(grad).dtype)
    empty = Tensor(np.zeros((0, shape[1]), dtype=np.float32), requires_grad=True)
    out["empty_mean"] = _error(lambda: ns["mean_backward"](np.zeros(0, np.float32), Tensor(np.zeros(0)), empty,
                                                            axis=1, keepdims=False))
    return out


def shape_rules(ns, rng):
    Tensor = ns["Tensor"]
    shape = (int(rng.integers(2, 4)), int(rng.integers(2, 4)), int(rng.integers(2, 5)))
    a = _g(rng, *shape)
    axes = [(1, 2, 0), (2, 0, 1)][int(rng.integers(0, 2))]  # a 3-cycle: not its own inverse
    g = _g(rng, *a.transpose(axes).shape)
    out = {"transpose": _arr(ns["transpose_backward"](g, Tensor(a.transpose(axes)), Tensor(a, requires_grad=True),
                                                      axes=axes)[0])}
    picks = [int(i) for i in rng.integers(0, shape[0], size=int(rng.integers(3, 7)))]  # repeats likely
    basic = (int(rng.integers(0, shape[0])), slice(None, int(rng.integers(1, shape[1] + 1))), slice(1, None))
    mask = rng.random(shape[2]) < 0.5
    mask[0] = True
    rows = rng.integers(0, shape[1], size=4)
    for name, index in (("fancy", picks), ("basic", basic), ("mask", (Ellipsis, mask)),
                        ("pair", (rows, rng.integers(0, shape[2], size=4)))):
        src = a[0] if name == "pair" else a
        piece = src[index]
        (grad,) = ns["getitem_backward"](_g(rng, *piece.shape), Tensor(piece), Tensor(src, requires_grad=True),
                                         index=index)
        out[name], out[f"{name}_dtype"] = _arr(grad), str(np.asarray(grad).dtype)
    out["reshape"] = _arr(ns["reshape_backward"](g.reshape(-1), Tensor(a.reshape(-1)), Tensor(a, requires_grad=True))[0])
    return out


def activation_rules(ns, rng):
    Tensor = ns["Tensor"]
    shape = (int(rng.integers(2, 5)), int(rng.integers(2, 6)))
    x, g = _g(rng, *shape) * 3, _g(rng, *shape)
    s = (1 / (1 + np.exp(-x.astype(np.float64)))).astype(np.float32)
    out = {"sigmoid": _arr(ns["sigmoid_backward"](g, Tensor(s), Tensor(x, requires_grad=True))[0])}
    with np.errstate(all="ignore"):
        blind = ns["sigmoid_backward"](g, Tensor(s), Tensor(np.full(shape, np.nan), requires_grad=True))[0]
    out["sigmoid_reads_out_only"] = not np.isnan(blind).any()
    for which, axis in (("last", int(rng.choice([-1, 1]))), ("first", int(rng.choice([0, -2])))):
        e = np.exp(x - x.max(axis=axis, keepdims=True))
        p = e / e.sum(axis=axis, keepdims=True)
        out[f"softmax_{which}"] = _arr(ns["softmax_backward"](g, Tensor(p), Tensor(x, requires_grad=True), axis=axis)[0])
    for name, value in (("relu", np.maximum(x, 0)), ("tanh", np.tanh(x)), ("gelu", x)):
        out[name] = _arr(ns[f"{name}_backward"](g, Tensor(value), Tensor(x, requires_grad=True))[0])
    return out


def loss_rules(ns, rng):
    Tensor = ns["Tensor"]
    shape = (int(rng.integers(1, 4)), int(rng.integers(1, 4)), int(rng.integers(2, 6)))
    z = _g(rng, *shape) * 2
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    probs = e / e.sum(axis=-1, keepdims=True)
    saved = probs.copy()
    targets = rng.integers(0, shape[-1], size=shape[:-1])
    grad = np.array(rng.uniform(0.5, 3.0), dtype=np.float32)
    (result,) = ns["cross_entropy_backward"](grad, Tensor(1.0), Tensor(z, requires_grad=True), probs=probs, targets=targets)
    p = rng.uniform(0.05, 0.95, size=shape[1:]).astype(np.float32)
    t = (rng.random(shape[1:]) < 0.5).astype(np.float32)
    (bce,) = ns["binary_cross_entropy_backward"](grad, Tensor(1.0), Tensor(p, requires_grad=True), target=t, eps=1e-7)
    return {"cross_entropy": _arr(result), "dtype": str(np.asarray(result).dtype),
            "probs_kept": bool(np.array_equal(probs, saved)), "bce": _arr(bce)}


def _random_graph(Tensor, rng, n_leaves, n_ops):
    """A drawn DAG of module 01 ops over leaves (and a constant), each node tagged by its number."""
    nodes = [Tensor(_pos(rng, 3), requires_grad=True) for _ in range(n_leaves)]
    constant = Tensor(_pos(rng, 3))
    for _ in range(n_ops):
        a, b = nodes[int(rng.integers(0, len(nodes)))], nodes[int(rng.integers(0, len(nodes)))]
        small = nodes[int(rng.integers(0, n_leaves))] if rng.random() < 0.7 else constant  # keeps values small
        kind = int(rng.integers(0, 4))
        nodes.append(a + b if kind == 0 else a * small if kind == 1 else a - b if kind == 2 else a.sum() * small)
    return nodes, constant


def topological_order(ns, rng):
    Tensor, order_of = ns["Tensor"], ns["topological_order"]
    n_leaves = int(rng.integers(2, 5))
    nodes, constant = _random_graph(Tensor, rng, n_leaves, int(rng.integers(4, 12)))
    root = nodes[-1]
    order = order_of(root)
    tag = {id(t): i for i, t in enumerate(nodes)}
    position = {id(t): i for i, t in enumerate(order)}
    valid = all(position[id(t)] < position[id(i)] for t in order for i in t._inputs if i.requires_grad
                and id(i) in position)
    chain = nodes[0]
    depth = 3000 + int(rng.integers(0, 2000))
    for _ in range(depth):
        chain = chain + 1.0
    deep = order_of(chain)
    return {"nodes": np.array(sorted(tag.get(id(t), -1) for t in order)),  # which tensors, order aside
            "each_once": len(order) == len(position), "root_first": order[0] is root, "valid": bool(valid),
            "no_constant": all(t is not constant and t.requires_grad for t in order),
            "deep_length": len(deep), "deep_ends": bool(deep[0] is chain and deep[-1] is nodes[0]),
            "leaf_alone": bool(order_of(nodes[0]) == [nodes[0]])}


def backward(ns, rng):
    Tensor, backward = ns["Tensor"], ns["backward"]
    n_leaves = int(rng.integers(2, 5))
    nodes, _ = _random_graph(Tensor, rng, n_leaves, int(rng.integers(4, 12)))
    backward(nodes[-1].sum())
    out = {f"leaf_{i}": (_arr(nodes[i].grad.data) if nodes[i].grad is not None else np.zeros(3)) for i in range(n_leaves)}
    out["interior_none"] = all(t.grad is None for t in nodes[n_leaves:])
    leaf = nodes[0]
    first = leaf.grad
    k = float(rng.uniform(1, 5))
    if first is not None:
        backward((leaf * k).sum())
        out["accumulated"], out["same_grad_tensor"] = _arr(leaf.grad.data), leaf.grad is first
    m, n = int(rng.integers(2, 5)), int(rng.integers(2, 5))
    w, bias = Tensor(_g(rng, m, n), requires_grad=True), Tensor(_g(rng, n), requires_grad=True)
    seed = _g(rng, m, n)
    backward(w * w + bias, seed)  # an explicit gradient, and a broadcast bias
    out["explicit_w"], out["explicit_bias"] = _arr(w.grad.data), _arr(bias.grad.data)
    out["grad_dtype"] = str(w.grad.dtype)
    s = Tensor(_g(rng, m, n), requires_grad=True)
    backward(s.sum())
    out["writable"] = bool(s.grad.data.flags.writeable)
    c = Tensor([1.0], requires_grad=True)
    z = c
    for _ in range(3000):
        z = z * 1.0001
    backward(z.sum())
    out["chain"] = _arr(c.grad.data)
    out["vector_without_grad"] = _error(lambda: backward(Tensor(_g(rng, 2), requires_grad=True) * 2))
    out["wrong_grad_shape"] = _error(lambda: backward(Tensor(_g(rng, 2), requires_grad=True) * 2, np.ones(4)))
    return out


def op_guard(ns, rng):
    from tinytorch.tensor import register_backward
    from tinytorch.testing import recording_ops

    Tensor, backward = ns["Tensor"], ns["backward"]
    k = float(rng.uniform(2, 9))
    out = {}
    with recording_ops():
        w = Tensor(_g(rng, int(rng.integers(2, 6))), requires_grad=True)
        out["unregistered"] = _error(lambda: Tensor._op("mystery", w.data * k, w))
        out["on_constants_records_nothing"] = not Tensor._op("mystery", w.data, Tensor(w.data)).requires_grad
        register_backward("mystery")(lambda grad, o, a: (grad * k,))
        y = Tensor._op("mystery", w.data * k, w)
        backward((y * y + w).sum())
        out["grad"] = _arr(w.grad.data)
    return out


def no_grad(ns, rng):
    Tensor, no_grad, enable_grad = ns["Tensor"], ns["no_grad"], ns["enable_grad"]
    x = Tensor(_g(rng, 3), requires_grad=True)
    switches = [bool(s) for s in rng.random(int(rng.integers(2, 6))) < 0.5]  # True: enable_grad

    def nest(level):
        if level == len(switches):
            return []
        with (enable_grad() if switches[level] else no_grad()):
            here = [Config.grad_enabled, (x * 2.0).requires_grad]
            inner = nest(level + 1)
            return here + inner + [Config.grad_enabled]

    states = nest(0)
    out = {"states": np.array(states + [Config.grad_enabled]), "switches": np.array(switches)}

    def fail():
        with no_grad():
            raise KeyError("probe")

    out["after_error"] = _error(fail) + str(Config.grad_enabled)

    @no_grad()
    def evaluate(t):
        return t * 2

    out["decorator"] = bool(not evaluate(x).requires_grad and Config.grad_enabled)
    return out


def gradcheck(ns, rng):
    from tinytorch.tensor import register_backward
    from tinytorch.testing import recording_ops

    Tensor, numeric, check = ns["Tensor"], ns["numeric_gradient"], ns["gradcheck"]
    arr = rng.uniform(-2, 2, size=(2, int(rng.integers(2, 5))))
    before = arr.copy()
    c = float(rng.uniform(-1, 1))
    eps = float(10 ** rng.uniform(-6, -3))
    num = numeric(lambda: float(np.sum(arr ** 3 + c * arr[0, 0] * arr)), arr, eps)
    out = {"numeric": _arr(num), "restored": bool(np.array_equal(arr, before))}
    a = Tensor(rng.uniform(0.5, 2, size=(3, 4)), requires_grad=True)
    b = Tensor(rng.uniform(0.5, 2, size=(4,)), requires_grad=True)
    out["passes"] = check(lambda x, y: (x * y - y / x).exp().log() + x.sqrt(), a, b) is True
    out["inputs_untouched"] = bool(a.grad is None and Config.dtype == np.float32)
    factor = float(rng.uniform(1.2, 3))
    with recording_ops():
        register_backward("wrong_square")(lambda grad, o, x: (grad * x.data * factor,))  # should be 2
        wrong = Tensor(_pos(rng, 3), requires_grad=True)
        out["wrong_rule"] = _error(lambda: check(lambda cst, x: Tensor._op("wrong_square", x.data ** 2, x) * cst.sum(),
                                                 Tensor([1.0, 2.0]), wrong))
    out["dtype_restored"] = Config.dtype == np.float32
    return out


def module(ns, rng):
    """Every op of modules 01-04 in one drawn graph, then three steps of training a tiny network."""
    Tensor, backward, no_grad = ns["Tensor"], ns["backward"], ns["no_grad"]

    def op(name, t, value, **ctx):
        return Tensor._op(name, value, t, **ctx)

    def softmax(v, axis):
        e = np.exp(v - v.max(axis=axis, keepdims=True))
        return e / e.sum(axis=axis, keepdims=True)

    def cross_entropy(logits, targets):
        probs = softmax(logits.data, -1)
        value = -np.log(probs.reshape(-1, probs.shape[-1])[np.arange(targets.size), targets.reshape(-1)]).mean()
        return op("cross_entropy", logits, value, probs=probs, targets=targets)

    x = Tensor(rng.uniform(0.5, 1.5, size=(3, 4)), requires_grad=True)
    y = Tensor(rng.uniform(0.5, 1.5, size=(4,)), requires_grad=True)
    targets = rng.integers(0, 4, size=3)
    total = ((x + y) * x - y / x - (-x)).sum() + (x ** 3 + (x * y).exp() + y.log() - x.sqrt()).mean()
    total = total + (x @ y).sum() + (x.sum(axis=0) * y + x.max(axis=(0, 1))).sum()
    total = total + (x.transpose(1, 0)[[0, 0, 3], 1:] * y[1:3]).sum() + x.reshape(2, 6).mean()
    total = total + op("softmax", x, softmax(x.data, 0), axis=0).max() + op("sigmoid", x, 1 / (1 + np.exp(-x.data))).sum()
    total = total + op("tanh", y, np.tanh(y.data)).sum() + op("relu", x - 1, np.maximum(x.data - 1, 0)).sum()
    total = total + cross_entropy(x * y, targets) + op("binary_cross_entropy", x / 3, -np.mean(np.log(x.data / 3)),
                                                       target=np.ones((3, 4)), eps=1e-7)
    backward(total)
    out = {"x_grad": _arr(x.grad.data), "y_grad": _arr(y.grad.data)}
    w1 = Tensor(rng.normal(0, 0.5, size=(4, 8)), requires_grad=True)
    w2 = Tensor(rng.normal(0, 0.5, size=(8, 3)), requires_grad=True)
    inputs = Tensor(rng.normal(size=(16, 4)))
    labels = (inputs.data[:, 0] > 0).astype(int) + (inputs.data[:, 1] > 0)
    losses = []
    for _ in range(3):
        hidden = inputs @ w1
        loss = cross_entropy(op("relu", hidden, np.maximum(hidden.data, 0)) @ w2, labels)
        losses.append(loss.item())
        backward(loss)
        with no_grad():
            for p in (w1, w2):
                p.data -= 0.5 * p.grad.data
                p.grad = None
    out["losses"], out["w2"] = np.array(losses), _arr(w2.data)
    return out


PROBES = {
    "test-unbroadcast": ["unbroadcast"],
    "test-arithmetic-rules": ["arithmetic_rules"],
    "test-unary-rules": ["unary_rules"],
    "test-matmul-rule": ["matmul_rule"],
    "test-reduction-rules": ["reduction_rules"],
    "test-shape-rules": ["shape_rules"],
    "test-activation-rules": ["activation_rules"],
    "test-loss-rules": ["loss_rules"],
    "test-topological-order": ["topological_order"],
    "test-backward": ["backward"],
    "test-op-guard": ["op_guard"],
    "test-no-grad": ["no_grad"],
    "test-gradcheck": ["gradcheck"],
    "test-module": ["module"],
}
# numeric_gradient divides a difference of two nearby sums by a drawn eps (down to 1e-6)
TOLERANCE = {"gradcheck": (1e-4, 1e-5)}
