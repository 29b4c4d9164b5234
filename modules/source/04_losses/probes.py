"""Grading probes for module 04 (Losses): the graded checks again, on inputs drawn at grading time.

tito calls each probe after the notebook's cells, with the notebook's namespace and a seeded NumPy
generator, and compares what it returns with the reference's values (tito/grading/probes.py).
Values are returned in float64 where the graded cell does not check the dtype.
"""

import warnings

import numpy as np

# every op of modules 01-02: a graph of these can be recorded and replayed
_OPS = ("add", "sub", "mul", "div", "neg", "exp", "log", "sqrt", "pow", "matmul", "sum", "mean", "max",
        "reshape", "transpose", "getitem", "relu", "sigmoid", "tanh", "softmax")


def _matrix(rng, *shape, scale=1.0):
    return (rng.normal(size=shape) * scale).astype(np.float32)


def _f64(t):
    return np.asarray(t.data, dtype=np.float64)


def _strict(fn, fallback):
    """fn() with every floating-point warning an error: (result, "ok"), or (fallback, the warning's type)."""
    with warnings.catch_warnings(), np.errstate(over="raise", divide="raise", invalid="raise"):
        warnings.simplefilter("error")
        try:
            return fn(), "ok"
        except (FloatingPointError, RuntimeWarning) as exc:
            return fallback, type(exc).__name__


def _error(fn):
    try:
        fn()
    except Exception as exc:  # the type is the contract; the message is the student's
        return type(exc).__name__
    return "no error"


def _replay(out, leaf, value, shape):
    from tinytorch.testing import replay_graph

    again = replay_graph(out, leaf, value)
    return np.full(shape, -1.0) if again is None else np.asarray(again, dtype=np.float64).reshape(shape)


def mse(ns, rng):
    Tensor, MSELoss = ns["Tensor"], ns["MSELoss"]
    shape = (int(rng.integers(1, 6)), int(rng.integers(1, 5)))
    pred, target = _matrix(rng, *shape), _matrix(rng, *shape)
    loss = MSELoss()(Tensor(pred), target)
    return {"loss": loss.item(), "shape": np.array(loss.shape, dtype=np.int64),
            "tensor_target": MSELoss()(Tensor(pred), Tensor(target)).item(),
            "perfect": MSELoss()(Tensor(pred), Tensor(pred.copy())).item(),
            "column_vs_flat": _error(lambda: MSELoss()(Tensor(np.zeros((shape[0], 1))), np.zeros(shape[0])))}


def log_softmax(ns, rng):
    from tinytorch.testing import recording_ops

    Tensor, log_softmax = ns["Tensor"], ns["log_softmax"]
    shape = (int(rng.integers(2, 4)), int(rng.integers(2, 5)), int(rng.integers(2, 6)))
    a = _matrix(rng, *shape, scale=3.0)
    dim = int(rng.integers(-3, 3))
    out = {"default": _f64(log_softmax(Tensor(a))), "dim": _f64(log_softmax(Tensor(a), dim=dim))}
    with recording_ops(*_OPS):
        x = Tensor(a, requires_grad=True)
        moved = a + rng.uniform(-1, 1, size=shape)  # the graph must follow x, not constants from .data
        out["replayed"] = _replay(log_softmax(x, dim=dim), x, moved, shape)
    big = rng.choice([-1e4, 0.0, 1e4], size=(3, 4)) + rng.normal(size=(3, 4))
    big[-1] = -1e4
    value, out["large_warning"] = _strict(lambda: _f64(log_softmax(Tensor(big))), np.zeros((3, 4)))
    out["large"] = value
    return out


def cross_entropy(ns, rng):
    Tensor, CE = ns["Tensor"], ns["CrossEntropyLoss"]
    n, c = int(rng.integers(2, 8)), int(rng.integers(2, 7))
    z = _matrix(rng, n, c, scale=2.0)
    kept = z.copy()
    y = rng.integers(0, c, size=n)
    loss = CE()(Tensor(z), y)
    b, t = int(rng.integers(2, 4)), int(rng.integers(2, 5))  # a mean over all b·t positions
    z3, y3 = _matrix(rng, b, t, c), rng.integers(0, c, size=(b, t))
    out = {"loss": loss.item(), "shape": np.array(loss.shape, dtype=np.int64), "input_kept": bool(np.array_equal(z, kept)),
           "shifted": CE()(Tensor(z + np.float32(rng.uniform(20, 80))), y).item(),
           "sequence": CE()(Tensor(z3), y3).item()}
    big = np.where(rng.random((n, c)) < 0.5, -1e4, 1e4).astype(np.float32)
    big[0] = -1e4
    value, out["large_warning"] = _strict(lambda: CE()(Tensor(big), y).item(), -1.0)
    out["large"] = value
    return out


def cross_entropy_targets(ns, rng):
    Tensor, CE = ns["Tensor"], ns["CrossEntropyLoss"]
    n, c = int(rng.integers(2, 7)), int(rng.integers(2, 6))
    z = _matrix(rng, n, c)
    y = rng.integers(0, c, size=n)
    out = {}
    for name, targets in (("int64", y.astype(np.int64)), ("int32", y.astype(np.int32)), ("tensor", Tensor(y)),
                          ("list", [int(k) for k in y]), ("whole_floats", y.astype(np.float32))):
        out[name] = CE()(Tensor(z), targets).item()
    bad = y.copy()
    bad[int(rng.integers(0, n))] = c + int(rng.integers(0, 3))
    out["column_targets"] = _error(lambda: CE()(Tensor(z), y[:, None]))
    out["too_large"] = _error(lambda: CE()(Tensor(z), bad))
    out["negative"] = _error(lambda: CE()(Tensor(z), -1 - y))
    return out


def bce(ns, rng):
    Tensor, BCE = ns["Tensor"], ns["BinaryCrossEntropyLoss"]
    n = int(rng.integers(2, 9))
    p = rng.uniform(0.01, 0.99, size=n)
    hard, soft = (rng.random(n) < 0.5).astype(np.float64), rng.random(n)
    out = {"hard": BCE()(Tensor(p), hard).item(), "soft": BCE()(Tensor(p), Tensor(soft)).item()}
    eps = float(10 ** rng.uniform(-7, -3))
    edge = rng.choice([0.0, 1.0], size=n)
    value, out["edge_warning"] = _strict(lambda: BCE(eps=eps)(Tensor(edge), rng.choice([0.0, 1.0], size=n)).item(), -1.0)
    out["edge"] = value
    p[int(rng.integers(0, n))] = np.nan
    out["nan"] = _error(lambda: BCE()(Tensor(p), hard))
    return out


def bce_with_logits(ns, rng):
    from tinytorch.testing import ops_in_graph, recording_ops

    Tensor, Loss = ns["Tensor"], ns["BCEWithLogitsLoss"]
    size = float(rng.uniform(1, 10))
    logits = np.array([-1e4, -1000.0, -90 - size, -30 - size, -size, 0.0, size, 30 + size, 90 + size, 1000.0, 1e4])
    out = {}
    for name, t in (("no", 0.0), ("yes", 1.0), ("soft", float(rng.uniform(0.05, 0.95)))):
        values, warned = [], []
        for x in logits:  # one element at a time: each loss alone, as the graded cell does
            value, why = _strict(lambda x=x, t=t: Loss()(Tensor([x]), [t]).item(), -1.0)
            values.append(value)
            warned.append(why != "ok")
        out[f"target_{name}"] = np.array(values)
        out[f"target_{name}_warned"] = np.array(warned)
    shape = (int(rng.integers(2, 5)), int(rng.integers(2, 5)))
    x, t = _matrix(rng, *shape, scale=4.0), (rng.random(shape) > 0.5).astype(np.float32)
    loss = Loss()(Tensor(x), t)
    out["batch"], out["dtype"] = loss.item(), str(loss.dtype)
    with recording_ops(*_OPS):
        xs = Tensor(x, requires_grad=True)
        graph = Loss()(xs, t)
        ops = ops_in_graph(graph)
        out["ops_known"] = bool(ops) and set(ops) <= set(_OPS)
        out["replayed"] = _replay(graph, xs, x + rng.uniform(-0.5, 0.5, size=shape), ())
    return out


def op_path(ns, rng):
    from tinytorch.testing import ops_in_graph, recording_ops

    Tensor = ns["Tensor"]
    module_01 = {"add", "sub", "mul", "div", "neg", "pow", "sum", "mean"}
    n, c = int(rng.integers(2, 6)), int(rng.integers(2, 5))
    out = {}
    with recording_ops(*module_01, "cross_entropy", "binary_cross_entropy"):
        pred = Tensor(rng.uniform(0.05, 0.95, size=(n, 2)), requires_grad=True)
        target = rng.random((n, 2))
        mse = ns["MSELoss"]()(pred, target)
        out["mse_ops_from_module_01"] = bool(ops_in_graph(mse)) and set(ops_in_graph(mse)) <= module_01
        out["mse_replayed"] = _replay(mse, pred, rng.uniform(0, 1, size=(n, 2)), ())
        logits = Tensor(_matrix(rng, n, c), requires_grad=True)
        targets = rng.integers(0, c, size=n)
        ce = ns["CrossEntropyLoss"]()(logits, Tensor(targets))
        out["ce_ops"] = ",".join(ops_in_graph(ce))
        out["ce_input_is_logits"] = bool(len(ce._inputs) == 1 and ce._inputs[0] is logits)
        out["ce_ctx_keys"] = ",".join(sorted(ce._ctx))
        out["ce_probs"] = np.asarray(ce._ctx.get("probs", np.zeros(0)), dtype=np.float64)
        saved = np.asarray(ce._ctx.get("targets", np.zeros(0)))
        out["ce_targets_int"] = saved.dtype.kind == "i"
        out["ce_targets"] = saved.astype(np.int64)
        eps = float(10 ** rng.uniform(-7, -3))
        hard = (rng.random((n, 2)) < 0.5).astype(np.float64)
        loss = ns["BinaryCrossEntropyLoss"](eps=eps)(pred, hard)
        out["bce_ops"] = ",".join(ops_in_graph(loss))
        out["bce_input_is_pred"] = bool(len(loss._inputs) == 1 and loss._inputs[0] is pred)
        out["bce_ctx_keys"] = ",".join(sorted(loss._ctx))
        out["bce_eps"] = float(loss._ctx.get("eps", -1.0))
        out["bce_target"] = np.asarray(loss._ctx.get("target", np.zeros(0)), dtype=np.float64)
    return out


def module(ns, rng):
    Tensor = ns["Tensor"]
    n, d, c = int(rng.integers(8, 33)), int(rng.integers(2, 7)), int(rng.integers(2, 6))
    x, w = rng.normal(size=(n, d)), rng.normal(size=(d, c))
    y = rng.integers(0, c, size=n)
    logits = Tensor(x) @ Tensor(w)
    p = 1 / (1 + np.exp(-(x @ w)[:, 0]))
    t = (y % 2).astype(np.float64)
    return {"ce": ns["CrossEntropyLoss"]()(logits, y).item(), "log_softmax": _f64(ns["log_softmax"](logits)),
            "confident": ns["CrossEntropyLoss"]()(Tensor(np.eye(c)[y] * 50), y).item(),
            "bce": ns["BinaryCrossEntropyLoss"]()(Tensor(p), t).item(), "mse": ns["MSELoss"]()(Tensor(p), t).item()}


PROBES = {
    "test-mse": ["mse"],
    "test-log-softmax": ["log_softmax"],
    "test-cross-entropy": ["cross_entropy"],
    "test-cross-entropy-targets": ["cross_entropy_targets"],
    "test-bce": ["bce"],
    "test-bce-with-logits": ["bce_with_logits"],
    "test-losses-op-path": ["op_path"],
    "test-module": ["module"],
}
