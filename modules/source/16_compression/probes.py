"""Grading probes for module 16 (Compression): the graded checks again, on inputs drawn at grading time.

tito calls each probe after the notebook's cells, with the notebook's namespace and a seeded NumPy
generator, and compares what it returns with the reference's values (tito/grading/probes.py).
Weights are set from the drawn inputs. Where the contract leaves a choice open (the signs of an
SVD's factors, the recipe of `prune_within_budget`), the probes return what every correct answer
shares: the product of the factors and their norms; the count of zeros, the mask, the budget.
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


def _mlp(rng, sizes, tied_values=False):
    from tinytorch.activations import ReLU
    from tinytorch.layers import Linear, Sequential

    layers = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes, sizes[1:])):
        layer = Linear(fan_in, fan_out, rng=i)
        if tied_values:  # few distinct magnitudes, mixed signs: many ties to break by position
            values = rng.integers(1, 6, size=(fan_in, fan_out)) * rng.choice([-1.0, 1.0], size=(fan_in, fan_out))
            layer.weight.data[...] = values * rng.choice([0.01, 1.0])
        else:
            layer.weight.data[...] = rng.normal(size=(fan_in, fan_out))
        layer.bias.data[...] = rng.normal(size=fan_out)
        layers += [layer, ReLU()]
    return Sequential(*layers[:-1])


def _weights(model):
    return np.concatenate([p.data.ravel() for p in model.parameters()]).astype(np.float64)


def measure_sparsity(ns, rng):
    from tinytorch.activations import ReLU
    from tinytorch.layers import Sequential

    measure = ns["measure_sparsity"]
    model = _mlp(rng, [_size(rng, 4, 12), _size(rng, 8, 20), _size(rng, 2, 6)])
    first, last = model.layers[0], model.layers[2]
    first.weight.data[rng.random(first.weight.shape) < rng.uniform(0.2, 0.8)] = 0.0
    last.weight.data[:, : _size(rng, 1, 3)] = 0.0
    last.weight.data[-1, -1] = 1e-9  # tiny, not zero
    last.bias.data[...] = 0.0  # biases never count
    return {"model": measure(model), "no_weights": measure(Sequential(ReLU())),
            "fresh": measure(_mlp(rng, [3, 4])), "not_a_model": _error_name(lambda: measure([1, 2]))}


def keep_largest(ns, rng):
    keep = ns["keep_largest"]
    n = _size(rng, 20, 60)
    ties = rng.integers(0, 5, size=n).astype(np.float64)  # long runs of ties
    distinct = rng.permutation(n).astype(np.float64)
    return {"ties": keep(ties, int(rng.integers(1, n))), "distinct": keep(distinct, int(rng.integers(1, n))),
            "none": keep(distinct, 0), "all": keep(ties, n)}


def magnitude_prune(ns, rng):
    prune = ns["magnitude_prune"]
    sizes = [_size(rng, 4, 10), _size(rng, 4, 10), _size(rng, 2, 6)]
    out = {}
    for scope in ("global", "layer"):
        model = _mlp(np.random.default_rng(rng.integers(2**31)), sizes, tied_values=True)
        mask = prune(model, float(rng.uniform(0.1, 0.9)), scope=scope)
        out[f"{scope}_weights"] = _weights(model)
        out[f"{scope}_keeps"] = np.concatenate([keep.ravel() for _, _, keep in mask.entries])
        out[f"{scope}_names"] = ",".join(name for name, _, _ in mask.entries)
        out[f"{scope}_shapes"] = str([keep.shape for _, _, keep in mask.entries])
        out[f"{scope}_sparsity"] = mask.sparsity()
    single = _mlp(rng, [_size(rng, 5, 12), _size(rng, 5, 12)], tied_values=True)
    prune(single, 0.69, scope="layer")  # 0.69 * n may sit just below an integer: round, not truncate
    out["rounding"] = int(np.count_nonzero(single.layers[0].weight.data == 0))
    out["bad_scope"] = _error_name(lambda: prune(single, 0.5, scope="row"))
    return out


def mask_persists(ns, rng):
    from tinytorch.losses import CrossEntropyLoss
    from tinytorch.optimizers import SGD

    Tensor = ns["Tensor"]
    classes = _size(rng, 2, 5)
    model = _mlp(rng, [_size(rng, 3, 9), _size(rng, 6, 16), classes])
    x, y = rng.normal(size=(16, model.layers[0].in_features)), rng.integers(0, classes, size=16)
    optimizer, loss_fn = SGD(model.parameters(), lr=0.1, momentum=0.9), CrossEntropyLoss()

    def step():
        loss = loss_fn(model(Tensor(x)), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    for _ in range(3):
        step()  # momentum builds up
    mask = ns["magnitude_prune"](model, float(rng.uniform(0.3, 0.8)))
    pruned = _weights(model) == 0
    for _ in range(3):
        step()
        mask.apply()
    return {"weights": _weights(model), "stay_zero": bool(np.all(_weights(model)[pruned] == 0))}


def structured_pieces(ns, rng):
    from tinytorch.spatial import Conv2d

    importance, outputs, inputs = ns["unit_importance"], ns["slice_outputs"], ns["slice_inputs"]
    lin = _mlp(rng, [_size(rng, 3, 8), _size(rng, 4, 9)]).layers[0]
    conv = Conv2d(_size(rng, 1, 4), _size(rng, 3, 6), _size(rng, 1, 4), rng=0)
    conv.weight.data[...] = rng.normal(size=conv.weight.shape)
    conv.bias.data[...] = rng.normal(size=conv.bias.shape)

    def pick(n):
        return np.sort(rng.choice(n, size=int(rng.integers(1, max(n, 2))), replace=False))

    out = {"importance_linear": importance(lin), "importance_conv": importance(conv)}
    for name, layer in (("linear_out", outputs(lin, pick(lin.out_features))),
                        ("conv_out", outputs(conv, pick(conv.weight.shape[0]))),
                        ("conv_in", inputs(conv, pick(conv.weight.shape[1]), conv.weight.shape[1]))):
        out[name] = layer.weight.data
        out[name + "_bias"] = layer.bias.data
    channels, per = _size(rng, 2, 5), _size(rng, 2, 4)
    after_flatten = _mlp(rng, [channels * per, 3]).layers[0]
    flat = inputs(after_flatten, pick(channels), channels)
    out["flatten_in"], out["flatten_in_bias"] = flat.weight.data, flat.bias.data
    out["original_kept"] = lin.weight.shape == (lin.in_features, lin.out_features)
    return out


def structured_prune(ns, rng):
    from tinytorch.activations import ReLU
    from tinytorch.layers import Linear, Sequential
    from tinytorch.spatial import BatchNorm2d, Conv2d, Flatten, MaxPool2d

    Tensor, prune = ns["Tensor"], ns["structured_prune"]
    model = _mlp(rng, [_size(rng, 3, 8), _size(rng, 4, 10), _size(rng, 4, 10), _size(rng, 2, 5)])
    ratio = float(rng.uniform(0.2, 0.7))
    small = prune(model, ratio)
    x = Tensor(rng.normal(size=(3, model.layers[0].in_features)))
    channels = _size(rng, 3, 6)
    conv = Conv2d(1, channels, 3, padding=1, rng=0)
    conv.weight.data[...] = rng.normal(size=conv.weight.shape)
    norm = BatchNorm2d(channels)
    norm.weight.data[...], norm.bias.data[...] = rng.uniform(0.5, 2, size=channels), rng.normal(size=channels)
    norm.running_mean[...], norm.running_var[...] = rng.normal(size=channels), rng.uniform(0.5, 2, size=channels)
    head = Linear(channels * 4, 3, rng=0)
    head.weight.data[...] = rng.normal(size=head.weight.shape)
    cnn = Sequential(conv, norm, ReLU(), MaxPool2d(2), Flatten(), head).eval()
    small_cnn = prune(cnn, ratio)
    images = Tensor(rng.normal(size=(2, 1, 4, 4)))
    return {"mlp_out": small(x).data, "mlp_params": int(ns["parameter_count"](small)),
            "mlp_shapes": str([tuple(p.shape) for p in small.parameters()]), "cnn_out": small_cnn(images).data,
            "cnn_shapes": str([tuple(p.shape) for p in small_cnn.parameters()]),
            "original_kept": model.layers[0].weight.shape == (model.layers[0].in_features, model.layers[0].out_features)}


def low_rank(ns, rng):
    # Singular vectors have free signs: return the product of the factors, their column/row norms
    # (sqrt of the singular values on both sides) and the outputs, not the factors themselves.
    Tensor, approximate = ns["Tensor"], ns["low_rank_approximate"]
    layer = _mlp(rng, [_size(rng, 5, 12), _size(rng, 3, 8)]).layers[0]
    x = Tensor(rng.normal(size=(4, layer.in_features)))
    out = {}
    full = min(layer.in_features, layer.out_features)
    for rank in sorted({1, int(rng.integers(1, full + 1)), full}):
        two = approximate(layer, rank)
        a, b = two.layers[0].weight.data.astype(np.float64), two.layers[1].weight.data.astype(np.float64)
        out[f"product_{rank}"] = a @ b
        out[f"norms_{rank}"] = np.concatenate([np.linalg.norm(a, axis=0), np.linalg.norm(b, axis=1)])
        out[f"output_{rank}"] = two(x).data
        out[f"first_bias_{rank}"] = two.layers[0].bias is None
        out[f"params_{rank}"] = int(ns["parameter_count"](two))
    out["too_big"] = _error_name(lambda: approximate(layer, full + 1))
    return out


def distillation_loss(ns, rng):
    Tensor, loss_of = ns["Tensor"], ns["distillation_loss"]
    n, c = _size(rng, 2, 6), _size(rng, 2, 6)
    student = Tensor(rng.normal(size=(n, c)) * 2, requires_grad=True)
    teacher = rng.normal(size=(n, c)) * 3
    targets = rng.integers(0, c, size=n)
    temperature, alpha = float(rng.uniform(1, 5)), float(rng.uniform(0, 1))
    out = {"loss": [loss_of(student, teacher, targets, temperature, a).item() for a in (0.0, alpha, 1.0)]}
    out["loss"] = np.array(out["loss"], dtype=np.float64)
    student.grad = None
    loss_of(student, Tensor(teacher), targets, temperature, alpha).backward()
    out["grad"] = np.asarray(student.grad.data, dtype=np.float64)
    out["batched"] = loss_of(Tensor(student.data[None]), teacher[None], targets[None], temperature, alpha).item()
    extreme = teacher.copy()
    extreme[0] = 0.0
    extreme[0, 0] = float(rng.uniform(500, 1500))  # exp underflows: 0·log 0 must count as 0
    out["extreme"] = loss_of(Tensor(np.zeros((n, c))), extreme, targets, 1.0, 1.0).item()
    return out


def prune_within_budget(ns, rng):
    from tinytorch.datasets import load_tinydigits
    from tinytorch.layers import Module, Sequential

    class Counter(Module):
        """Counts the examples the model sees in training and, at each such pass, its zeros."""

        def __init__(self, watched):
            super().__init__()
            self.seen, self.watched, self.zeros = 0, watched, []

        def forward(self, x):
            if self.training:
                self.seen += x.shape[0]
                self.zeros.append(sum(int(np.count_nonzero(w.data == 0)) for w in self.watched))
            return x

    x_train, y_train, _, _ = load_tinydigits()
    rows = rng.choice(len(x_train), size=int(rng.integers(150, 250)), replace=False)
    x, y = x_train[rows].reshape(len(rows), 64), y_train[rows]
    dense = ns["digits_mlp"](hidden=_size(rng, 12, 24), dropout=0.0, seed=int(rng.integers(0, 100)))
    counter = Counter([w for _, w in ns["prunable_weights"](dense)])
    model = Sequential([counter] + dense.layers)
    sparsity, epochs = float(rng.uniform(0.5, 0.95)), _size(rng, 2, 4)
    mask = ns["prune_within_budget"](model, x, y, sparsity, epochs=epochs, seed=int(rng.integers(0, 100)))
    weights = ns["prunable_weights"](model)
    zeros = sum(int(np.sum(w.data == 0)) for _, w in weights)
    masked = sum(keep.size - int(keep.sum()) for _, _, keep in mask.entries)
    return {"zeros": zeros, "mask_is_final": masked == zeros and all(np.all(w.data[~k] == 0) for _, w, k in mask.entries),
            "within_budget": counter.seen <= epochs * len(x),
            "none_came_back": all(b >= a for a, b in zip(counter.zeros, counter.zeros[1:])),
            "bad_epochs": _error_name(lambda: ns["prune_within_budget"](model, x, y, 0.5, epochs=0))}


def module(ns, rng):
    from tinytorch.datasets import load_tinydigits

    fit, evaluate = ns["fit"], ns["evaluate"]
    x_train, y_train, x_test, y_test = load_tinydigits()
    rows = rng.choice(len(x_train), size=300, replace=False)
    x, y, x_test = x_train[rows].reshape(300, 64), y_train[rows], x_test.reshape(len(x_test), 64)
    model = fit(ns["digits_mlp"](hidden=_size(rng, 16, 32), dropout=0.0, seed=int(rng.integers(0, 100))),
                x, y, epochs=5, seed=0)
    mask = ns["magnitude_prune"](model, 0.8)
    fit(model, x, y, epochs=1, seed=1, mask=mask)
    out = {"sparsity": ns["measure_sparsity"](model), "tuned": evaluate(model, x_test, y_test)}
    small = ns["structured_prune"](model, 0.5)
    out["small_params"] = int(ns["parameter_count"](small))
    out["small_scores"] = small(ns["Tensor"](x_test[:20])).data
    model.layers[3] = ns["low_rank_approximate"](model.layers[3], _size(rng, 2, 8))
    out["low_rank_scores"] = model(ns["Tensor"](x_test[:20])).data
    return out


PROBES = {
    "test-measure-sparsity": ["measure_sparsity"],
    "test-keep-largest": ["keep_largest"],
    "test-magnitude-prune": ["magnitude_prune"],
    "test-mask-persists": ["mask_persists"],
    "test-structured-pieces": ["structured_pieces"],
    "test-structured-prune": ["structured_prune"],
    "test-low-rank": ["low_rank"],
    "test-distillation-loss": ["distillation_loss"],
    "test-prune-within-budget": ["prune_within_budget"],
    "test-module": ["module"],
}
TOLERANCE = {"low_rank": (1e-4, 1e-5), "module": (1e-4, 1e-5)}  # a float64 SVD cast to float32
