"""Grading probes for module 02 (Activations): the graded checks again, on inputs drawn at grading time.

tito calls each probe after the notebook's cells, with the notebook's namespace and a seeded NumPy
generator, and compares what it returns with the reference's values (tito/grading/probes.py).
"""

import sys
import warnings

import numpy as np

from tinytorch.tensor import Config

_BIG = float(np.finfo(np.float32).max)


def _matrix(rng, *shape, scale=1.0):
    return (rng.normal(size=shape) * scale).astype(np.float32)


def _shape(rng):
    return int(rng.integers(2, 6)), int(rng.integers(2, 7))


def _strict(fn):
    """fn() with every floating-point warning an error: (result, "ok") or (None, the warning's type)."""
    with warnings.catch_warnings(), np.errstate(over="raise", divide="raise", invalid="raise"):
        warnings.simplefilter("error")
        try:
            return fn(), "ok"
        except (FloatingPointError, RuntimeWarning) as exc:
            return None, type(exc).__name__


def _unchanged(x, before):
    return bool(np.array_equal(x.data, before))


def relu(ns, rng):
    Tensor = ns["Tensor"]
    a = _matrix(rng, *_shape(rng), scale=3.0)
    a[0, : a.shape[1] // 2] = 0.0  # exact zeros: the boundary of max(0, x)
    x = Tensor(a.copy())
    y = ns["ReLU"]()(x)
    return {"out": y.data, "dtype": str(y.dtype), "input_kept": _unchanged(x, a)}


def sigmoid(ns, rng):
    Tensor, act = ns["Tensor"], ns["Sigmoid"]()
    a = _matrix(rng, *_shape(rng), scale=4.0)
    x = Tensor(a.copy())
    y = act(x)
    tails = -rng.uniform(15.0, 85.0, size=6)  # tiny but not 0: judged relative to the value
    extremes = np.array([-_BIG, -1e4, -float(rng.uniform(89, 1000)), float(rng.uniform(89, 1000)), 1e4, _BIG])
    out = {"out": y.data, "dtype": str(y.dtype), "input_kept": _unchanged(x, a),
           "mirror": act(Tensor(-a)).data, "tails": act(Tensor(tails)).data}
    for i, v in enumerate(extremes):
        value, warned = _strict(lambda v=v: act(Tensor([v])).data)
        out[f"extreme_{i}"], out[f"extreme_{i}_warning"] = (value if value is not None else -1.0), warned
    return out


def sigmoid_float64(ns, rng):
    """float64 mode, as in module 05's gradcheck: a step that rounds through float32 is caught."""
    Tensor, act = ns["Tensor"], ns["Sigmoid"]()
    a = rng.normal(size=int(rng.integers(3, 8))) * 5
    Config.dtype = np.float64
    try:
        y = act(Tensor(a))
    finally:
        Config.dtype = np.float32
    return {"out": y.data, "dtype": str(y.dtype)}


def gelu(ns, rng):
    Tensor, act = ns["Tensor"], ns["GELU"]()
    a = _matrix(rng, *_shape(rng), scale=2.5)
    x = Tensor(a.copy())
    y = act(x)
    ends, warned = _strict(lambda: act(Tensor([-1e4, float(rng.uniform(50, 1e4))])).data)
    return {"out": y.data, "dtype": str(y.dtype), "input_kept": _unchanged(x, a),
            "ends": ends if ends is not None else np.zeros(2, np.float32), "ends_warning": warned}


def softmax(ns, rng):
    Tensor, Softmax = ns["Tensor"], ns["Softmax"]
    shape = (int(rng.integers(2, 4)), int(rng.integers(2, 5)), int(rng.integers(2, 6)))
    a = _matrix(rng, *shape, scale=2.0)
    x = Tensor(a.copy())
    dim = int(rng.choice([0, 1, -2, -3]))  # never the last axis: that is the default's job
    out = {"default": Softmax()(x).data, "dim": Softmax(dim=dim)(x).data, "input_kept": _unchanged(x, a)}
    big = (rng.choice([-1e4, 0.0, 1e4], size=(3, 4)) + rng.normal(size=(3, 4))).astype(np.float32)
    big[-1] = -1e4  # a row of equal, very negative logits
    value, warned = _strict(lambda: Softmax()(Tensor(big)).data)
    out["large"], out["large_warning"] = (value if value is not None else np.zeros((3, 4), np.float32)), warned
    return out


def no_loops(ns, rng):
    """Count the Python steps of each activation on 20,000 drawn elements (as the graded cell does)."""
    Tensor = ns["Tensor"]
    n = 20_000
    a = rng.uniform(-6.0, 6.0, size=(100, 200)).astype(np.float32)
    steps = [0]

    def count_lines(frame, event, arg):
        steps[0] += 1
        return count_lines

    def count_calls(frame, event, arg):
        if event in ("call", "c_call"):
            steps[0] += 1

    out = {}
    for name in ("ReLU", "Sigmoid", "Tanh", "GELU", "Softmax"):
        act = ns[name]()
        x = Tensor(a)
        steps[0] = 0
        old_trace, old_profile = sys.gettrace(), sys.getprofile()
        sys.settrace(count_lines)
        sys.setprofile(count_calls)
        try:
            y = act(x)
        finally:
            sys.settrace(old_trace)
            sys.setprofile(old_profile)
        out[f"{name}_vectorized"] = steps[0] < n // 10
        out[f"{name}_corner"] = y.data[:3, :3]  # depends on the draw
    return out


def op_path(ns, rng):
    from tinytorch.testing import recording_ops

    Tensor = ns["Tensor"]
    a = _matrix(rng, *_shape(rng))
    dim = int(rng.choice([0, -2]))  # the rows' axis, written either way
    out = {}
    with recording_ops("relu", "sigmoid", "tanh", "gelu", "softmax"):
        for name, act in [("relu", ns["ReLU"]()), ("sigmoid", ns["Sigmoid"]()), ("tanh", ns["Tanh"]()),
                          ("gelu", ns["GELU"]()), ("softmax", ns["Softmax"](dim=dim))]:
            x = Tensor(a, requires_grad=True)
            y = act(x)
            out[f"{name}_op"] = str(y._op_name)
            out[f"{name}_inputs"] = len(y._inputs)
            out[f"{name}_input_is_x"] = bool(len(y._inputs) == 1 and y._inputs[0] is x)
            out[f"{name}_requires_grad"] = bool(y.requires_grad)
            out[f"{name}_ctx_keys"] = ",".join(sorted(map(str, y._ctx)))
            out[f"{name}_value"] = y.data
        out["softmax_axis"] = int(y._ctx.get("axis", 99))  # the drawn dim
        out["default_axis"] = int(ns["Softmax"]()(Tensor(a, requires_grad=True))._ctx.get("axis", 99))
    return out


def module(ns, rng):
    Tensor = ns["Tensor"]
    n, d, h, c = int(rng.integers(4, 12)), int(rng.integers(2, 6)), int(rng.integers(4, 10)), int(rng.integers(2, 5))
    x, w1, w2 = _matrix(rng, n, d), _matrix(rng, d, h), _matrix(rng, h, c)
    out = {}
    for name in ("ReLU", "Sigmoid", "Tanh", "GELU"):
        hidden = ns[name]()(Tensor(x) @ Tensor(w1))
        out[f"{name}_hidden"] = hidden.data
        out[f"{name}_probs"] = ns["Softmax"]()(hidden @ Tensor(w2)).data
    return out


PROBES = {
    "test-relu": ["relu"],
    "test-sigmoid": ["sigmoid", "sigmoid_float64"],
    "test-gelu": ["gelu"],
    "test-softmax": ["softmax"],
    "test-activations-no-loops": ["no_loops"],
    "test-activations-op-path": ["op_path"],
    "test-module": ["module"],
}
# relative only: sigmoid(-80) is 1.8e-35, not 0; float64 mode must be right to about 12 digits
TOLERANCE = {"sigmoid": (1e-4, 0.0), "sigmoid_float64": (1e-11, 0.0)}
