"""Grading probes for module 03 (Layers): the graded checks again, on inputs drawn at grading time.

tito calls each probe after the notebook's cells, with the notebook's namespace and a seeded NumPy
generator, and compares what it returns with the reference's values (tito/grading/probes.py).
Weights are set explicitly; where the contract leaves a draw free (which distribution, which mask),
a probe returns what every correct draw shares: the bound and spread of the weights, the kept
values of a dropout mask.
"""

import numpy as np


def _matrix(rng, *shape):
    return rng.normal(size=shape).astype(np.float32)


def _nonzero(rng, *shape):
    """Values that are never 0 (so a dropped element is told apart from a kept one)."""
    return (rng.uniform(0.5, 2.0, size=shape) * rng.choice([-1.0, 1.0], size=shape)).astype(np.float32)


def module_class(ns, rng):
    Module, Tensor = ns["Module"], ns["Tensor"]

    class Leaf(Module):
        def __init__(self, size):
            super().__init__()
            self.w = Tensor(rng.normal(size=size), requires_grad=True)
            self.constant = Tensor(np.zeros(size))  # not a parameter

    leaves = [Leaf(int(rng.integers(1, 4))) for _ in range(6)]
    root = Module()
    root.scale = Tensor(float(rng.normal()), requires_grad=True)
    order = [int(i) for i in rng.permutation(4)]  # which leaf goes into which container
    root.first = leaves[order[0]]
    root.branches = [leaves[order[1]], (leaves[order[2]],)]
    root.table = {"b": leaves[order[3]], "a": leaves[4]}
    leaves[order[0]].inner = leaves[5]  # depth first: inner comes before branches
    root.tied = leaves[int(rng.integers(0, 6))]  # a module seen twice
    leaves[5].peer = root  # a cycle
    shared = int(rng.integers(1, 4))
    leaves[order[shared]].w = leaves[order[0]].w  # a tensor shared by two modules
    params = root.parameters()
    out = {"parameter_names": "|".join(n for n, _ in root.named_parameters()),
           "module_names": "|".join(n for n, _ in root.named_modules()),
           "values": np.concatenate([np.ravel(p.data) for p in params]),
           "same_tensors": bool(params[0] is root.scale and params[1] is root.first.w),
           "stable_order": bool(root.parameters() == params)}
    for p in params:
        p.grad = Tensor(np.ones(p.shape))
    root.zero_grad()
    out["zero_grad"] = all(p.grad is None for p in params)
    out["eval_returns_self"] = root.eval() is root
    out["eval_flags"] = np.array([m.training for m in [root, *leaves]])
    root.train()
    out["train_flags"] = np.array([m.training for m in [root, *leaves]])
    return out


def init(ns, rng):
    """Kaiming and Xavier on drawn fans: the largest |w| of a big draw is the bound (to ~1e-4)."""
    kaiming, xavier, manual_seed = ns["kaiming_uniform"], ns["xavier_uniform"], ns["manual_seed"]
    fan_in, fan_out = int(rng.integers(50, 900)), int(rng.integers(50, 900))
    shape = (400, 300)
    k = np.asarray(kaiming(fan_in, shape, rng=int(rng.integers(1 << 30))))
    x = np.asarray(xavier(fan_in, fan_out, shape, rng=np.random.default_rng(int(rng.integers(1 << 30)))))
    seed = int(rng.integers(1 << 30))
    manual_seed(seed)
    first = np.asarray(kaiming(fan_in, (5,)))
    manual_seed(seed)
    return {"kaiming_shape": np.array(k.shape), "kaiming_bound": float(np.abs(k).max()),
            "kaiming_std": float(k.std()), "kaiming_centred": bool(abs(k.mean()) < 6 * k.std() / np.sqrt(k.size)),
            "xavier_shape": np.array(x.shape), "xavier_bound": float(np.abs(x).max()), "xavier_std": float(x.std()),
            "seeded": bool(np.array_equal(kaiming(fan_in, (7, 3), rng=seed), kaiming(fan_in, (7, 3), rng=seed))),
            "manual_seed": bool(np.array_equal(first, kaiming(fan_in, (5,))))}


def init_for(ns, rng):
    """The variance init_for picks for drawn activations (its accuracy is the student's design:
    the graded cell allows 12 %, hence this probe's tolerance)."""
    from tinytorch.activations import ReLU, Tanh

    Tensor, init_for = ns["Tensor"], ns["init_for"]
    relu, tanh = ReLU(), Tanh()
    slope, gain = float(rng.uniform(0.05, 0.5)), float(rng.uniform(0.5, 3.0))
    activations = {"relu": relu, "leaky": lambda t: relu(t) - relu(-t) * slope,
                   "scaled_tanh": lambda t: tanh(t) * gain, "sin": lambda t: Tensor(np.sin(t.data) * gain)}
    fan_in = int(rng.integers(50, 500))
    out = {}
    for name, f in activations.items():
        w = np.asarray(init_for(f, fan_in, (fan_in, 200), rng=int(rng.integers(1 << 30))))
        out[f"{name}_shape"] = np.array(w.shape)
        out[f"{name}_var"] = float(w.var())
        out[f"{name}_centred"] = bool(abs(w.mean()) < 6 * w.std() / np.sqrt(w.size))
    seed = int(rng.integers(1 << 30))
    out["seeded"] = bool(np.array_equal(init_for(relu, fan_in, (9, 4), rng=seed), init_for(relu, fan_in, (9, 4), rng=seed)))
    return out


def linear(ns, rng):
    Tensor, Linear = ns["Tensor"], ns["Linear"]
    n_in, n_out = int(rng.integers(2, 7)), int(rng.integers(1, 6))
    layer = Linear(n_in, n_out, rng=int(rng.integers(1 << 30)))
    out = {"weight_shape": np.array(layer.weight.shape), "bias_zeros": layer.bias.data,
           "trainable": bool(layer.weight.requires_grad and layer.bias.requires_grad),
           "parameters": bool(layer.parameters() == [layer.weight, layer.bias])}
    layer.weight.data[...] = _matrix(rng, n_in, n_out)
    layer.bias.data[...] = _matrix(rng, n_out)
    out["y_2d"] = layer(Tensor(_matrix(rng, int(rng.integers(1, 5)), n_in))).data
    out["y_3d"] = layer(Tensor(_matrix(rng, 2, int(rng.integers(1, 4)), n_in))).data
    plain = Linear(n_in, n_out, bias=False, rng=0)
    plain.weight.data[...] = layer.weight.data
    out["y_no_bias"] = plain(Tensor(_matrix(rng, 3, n_in))).data
    out["no_bias_count"] = len(plain.parameters())
    out["count"] = sum(p.size for p in Linear(n_in * 7, n_out * 5).parameters())
    try:
        layer(Tensor(np.ones((2, n_in + 1))))
        out["wrong_width"] = "no error"
    except ValueError:
        out["wrong_width"] = "ValueError"
    return out


def linear_init(ns, rng):
    """Linear's default (Kaiming) and Xavier weights: their bound, and that rng is passed on."""
    Linear = ns["Linear"]
    n_in, n_out = int(rng.integers(200, 500)), int(rng.integers(200, 400))
    seed = int(rng.integers(1 << 30))
    out = {"kaiming_bound": float(np.abs(Linear(n_in, n_out, rng=seed).weight.data).max()),
           "xavier_bound": float(np.abs(Linear(n_in, n_out, init="xavier", rng=seed).weight.data).max())}
    for init in ("kaiming", "xavier"):
        twice = [Linear(n_in // 10, 3, init=init, rng=seed).weight.data for _ in range(2)]
        out[f"{init}_seeded"] = bool(np.array_equal(*twice))
    return out


def dropout(ns, rng):
    Tensor, Dropout = ns["Tensor"], ns["Dropout"]
    p = int(rng.integers(1, 9)) / 10  # a multiple of 0.1: the dropped fraction rounds to it
    a = _nonzero(rng, 100, 200)
    x = Tensor(a.copy())
    drop = Dropout(p, rng=int(rng.integers(1 << 30)))
    y = drop(x).data
    again = drop(x).data
    out = {"shape": np.array(y.shape), "input_kept": bool(np.array_equal(x.data, a)),
           "kept_values": np.where(y != 0, y, a / np.float32(1 - p)),  # every kept value is x / (1 - p)
           "dropped_tenths": int(round(float((y == 0).mean()) * 10)), "fresh_mask": not np.array_equal(y, again)}
    seed = int(rng.integers(1 << 30))
    out["seeded"] = bool(np.array_equal(Dropout(p, rng=seed)(x).data, Dropout(p, rng=seed)(x).data))
    drop.eval()
    out["eval_is_input"] = drop(x) is x
    drop.train()
    out["p0_is_input"] = Dropout(0.0)(x) is x
    small = _nonzero(rng, int(rng.integers(1, 4)), int(rng.integers(1, 4)))
    out["p1"] = Dropout(1.0)(Tensor(small)).data
    return out


def sequential(ns, rng):
    Tensor, Linear, Dropout, Sequential = ns["Tensor"], ns["Linear"], ns["Dropout"], ns["Sequential"]
    c = float(rng.uniform(-2, 2))

    def double(t):
        return t * 2.0

    def shift(t):
        return t + c

    d_in, d_mid, d_out = int(rng.integers(2, 6)), int(rng.integers(2, 6)), int(rng.integers(1, 4))
    first, second = Linear(d_in, d_mid, rng=0), Linear(d_mid, d_out, rng=1)
    for layer in (first, second):
        layer.weight.data[...] = _matrix(rng, *layer.weight.shape)
        layer.bias.data[...] = _matrix(rng, *layer.bias.shape)
    funcs = [double, shift]
    order = [int(i) for i in rng.permutation(2)]
    inner = Sequential(Dropout(0.5, rng=0), second)
    model = Sequential(first, funcs[order[0]], funcs[order[1]], inner)
    x = Tensor(_matrix(rng, int(rng.integers(1, 5)), d_in))
    model.eval()
    out = {"eval_out": model(x).data, "names": "|".join(n for n, _ in model.named_parameters()),
           "small": Sequential(funcs[order[0]], funcs[order[1]])(Tensor(_matrix(rng, 3))).data,
           "empty_is_input": Sequential()(x) is x}
    model.train()
    out["train_reaches_nested"] = bool(inner[0].training)
    return out


def composition(ns, rng):
    """Replay the recorded graph at new weights and inputs: a graph cut by work on `.data` shows."""
    from tinytorch.testing import ops_in_graph, recording_ops, replay_graph

    Tensor, Linear, Dropout = ns["Tensor"], ns["Linear"], ns["Dropout"]
    n, d_in, d_out = int(rng.integers(2, 6)), int(rng.integers(2, 5)), int(rng.integers(2, 5))
    with recording_ops("add", "sub", "mul", "div", "matmul", "neg", "sum", "mean", "reshape"):
        layer = Linear(d_in, d_out, rng=0)
        layer.weight.data[...] = _matrix(rng, d_in, d_out)
        layer.bias.data[...] = _matrix(rng, d_out)
        x = Tensor(_matrix(rng, n, d_in), requires_grad=True)
        hidden = layer(x)
        p = int(rng.integers(1, 9)) / 10
        dropped = Dropout(p, rng=int(rng.integers(1 << 30)))(hidden)
        new_w, new_b, new_x = _matrix(rng, d_in, d_out), _matrix(rng, d_out), _matrix(rng, n, d_in)
        new_hidden = _nonzero(rng, n, d_out)
        out = {"hidden": hidden.data, "requires_grad": bool(hidden.requires_grad),
               "uses_matmul": "matmul" in ops_in_graph(hidden)}
        for name, leaf, value in (("at_weight", layer.weight, new_w), ("at_bias", layer.bias, new_b), ("at_x", x, new_x)):
            replayed = replay_graph(hidden, leaf, value)
            out[name] = np.zeros((n, d_out)) if replayed is None else np.asarray(replayed, dtype=np.float64)
        replayed = replay_graph(dropped, hidden, new_hidden)  # kept values scale the new hidden by 1/(1-p)
        replayed = np.zeros((n, d_out)) if replayed is None else np.asarray(replayed, dtype=np.float64)
        out["dropout_replay"] = np.where(replayed != 0, replayed, new_hidden / (1 - p))
    return out


def module(ns, rng):
    from tinytorch.activations import ReLU

    Tensor, Linear, Dropout, Sequential, manual_seed = (ns[k] for k in ("Tensor", "Linear", "Dropout",
                                                                        "Sequential", "manual_seed"))
    d, h, c = int(rng.integers(3, 20)), int(rng.integers(3, 20)), int(rng.integers(2, 6))
    seed = int(rng.integers(1 << 30))

    def build():
        manual_seed(seed)
        return Sequential(Linear(d, h), ReLU(), Dropout(0.2), Linear(h, c))

    model, twin = build(), build()
    out = {"count": sum(p.size for p in model.parameters()),
           "same_seed_same_model": all(np.array_equal(a.data, b.data) for a, b in zip(model.parameters(), twin.parameters()))}
    state = {name: _matrix(rng, *p.shape) for name, p in model.named_parameters()}
    out["names"] = "|".join(state)
    model.load_state_dict(state)
    batch = Tensor(rng.random((int(rng.integers(2, 9)), d)).astype(np.float32))
    model.eval()
    logits = model(batch).data
    out["eval_logits"] = logits
    out["eval_deterministic"] = bool(np.array_equal(logits, model(batch).data))
    model.train()
    many = Tensor(rng.random((64, d)).astype(np.float32))  # two masks on 64 rows never agree
    out["train_random"] = not np.array_equal(model(many).data, model(many).data)
    saved = model.state_dict()
    for p in model.parameters():
        p.data[...] = 0
    model.load_state_dict(saved)
    model.eval()
    out["round_trip"] = model(batch).data
    return out


PROBES = {
    "test-module-class": ["module_class"],
    "test-init": ["init"],
    "test-init-for": ["init_for"],
    "test-linear": ["linear", "linear_init"],
    "test-dropout": ["dropout"],
    "test-sequential": ["sequential"],
    "test-composition": ["composition"],
    "test-module": ["module"],
}
# Weights drawn at random: the largest |w| of 10^5 draws is within ~1e-4 of the bound and the
# spread within ~1e-3; init_for's accuracy is the student's choice (the graded cell allows 12 %).
TOLERANCE = {"init": (1e-2, 0.0), "linear_init": (1e-2, 0.0), "init_for": (0.15, 0.0)}
