"""Grading probes for module 01 (Tensor): the graded checks again, on inputs drawn at grading time.

tito calls each probe after the notebook's cells, with the notebook's namespace and a seeded NumPy
generator, and compares what it returns with the reference's values (tito/grading/probes.py).
"""

import numpy as np


def _matrix(rng, *shape):
    return rng.normal(size=shape).astype(np.float32)


def creation(ns, rng):
    Tensor = ns["Tensor"]
    rows = rng.integers(-50, 50, size=(int(rng.integers(2, 5)), 3)).tolist()  # a nested list of ints
    scalar = float(rng.normal())
    return {"from_list": Tensor(rows).data, "scalar": Tensor(scalar).item(),
            "from_bools": Tensor(rng.random(4) > 0.5).data}


def arithmetic(ns, rng):
    Tensor = ns["Tensor"]
    a, b = _matrix(rng, 3, 4), np.abs(_matrix(rng, 4)) + 0.5
    x, y = Tensor(a), Tensor(b)
    c = float(rng.uniform(1, 3))
    return {"add": (x + y).data, "sub": (x - y).data, "mul": (x * y).data, "div": (x / y).data,
            "neg": (-x).data, "square": (x ** 2).data, "root": (y ** 0.5).data, "exp": x.exp().data,
            "log": y.log().data, "sqrt": y.sqrt().data, "rsub": (c - x).data, "rdiv": (c / y).data,
            "inputs_kept": x.data}


def matmul(ns, rng):
    Tensor = ns["Tensor"]
    a, b = _matrix(rng, 4, 5), _matrix(rng, 5, 3)
    batch, vector = _matrix(rng, 2, 4, 5), _matrix(rng, 5)
    return {"2d": (Tensor(a) @ Tensor(b)).data, "batched": (Tensor(batch) @ Tensor(b)).data,
            "vector": (Tensor(a) @ Tensor(vector)).data, "method": Tensor(batch).matmul(Tensor(b)).data}


def reductions(ns, rng):
    x = ns["Tensor"](_matrix(rng, 3, 5))
    out = {}
    for name in ("sum", "mean", "max"):
        out[f"{name}_all"] = getattr(x, name)().data
        out[f"{name}_0"] = getattr(x, name)(axis=0).data
        out[f"{name}_1_kept"] = getattr(x, name)(axis=1, keepdims=True).data
    return out


def var(ns, rng):
    Tensor = ns["Tensor"]
    a = _matrix(rng, 4, 6) * 3
    readings = (10_000 + rng.normal(size=(2, 500))).astype(np.float32)
    return {"all": Tensor(a).var().data, "rows": Tensor(a).var(axis=1).data,
            "cols_kept": Tensor(a).var(axis=0, keepdims=True).data, "near_10000": Tensor(readings).var(axis=1).data}


def shapes(ns, rng):
    Tensor = ns["Tensor"]
    a = _matrix(rng, 2, 3, 4)
    x = Tensor(a)
    picks = rng.integers(0, 2, size=3).tolist()
    return {"reshape": x.reshape(4, -1).data, "transpose": x.transpose(0, 2).data, "T": x.T.data,
            "slice": x[1, :, 2].data, "fancy": x[picks].data, "tensor_index": x[Tensor(picks)].data}


def op_path(ns, rng):
    from tinytorch.testing import recording_ops

    Tensor = ns["Tensor"]
    with recording_ops("pow", rules=ns["BACKWARD_RULES"]):
        x = Tensor(_matrix(rng, 2, 3), requires_grad=True)
        cube = x ** 3
    return {"value": cube.data, "op": str(cube._op_name), "inputs": len(cube._inputs),
            "exponent": float(cube._ctx.get("exponent", -1)), "first_input_is_x": cube._inputs[0] is x}


def module(ns, rng):
    Tensor = ns["Tensor"]
    w, x, b = _matrix(rng, 4, 3), _matrix(rng, 5, 4), _matrix(rng, 3)
    hidden = Tensor(x) @ Tensor(w) + Tensor(b)
    return {"layer": hidden.data, "mean_square": (hidden * hidden).mean(axis=0).data}


PROBES = {
    "test-creation": ["creation"],
    "test-arithmetic": ["arithmetic"],
    "test-matmul": ["matmul"],
    "test-reductions": ["reductions"],
    "test-var": ["var"],
    "test-shapes": ["shapes"],
    "test-op-path": ["op_path"],
    "test-module": ["module"],
}
TOLERANCE = {"var": (1e-3, 1e-5)}  # float32 variance near 1e4 depends on the summation order
