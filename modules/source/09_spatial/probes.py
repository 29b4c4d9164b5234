"""Grading probes for module 09 (Spatial): the graded checks again, on inputs drawn at grading time.

tito calls each probe after the notebook's cells, with the notebook's namespace and a seeded NumPy
generator, and compares what it returns with the reference's values (tito/grading/probes.py).
Shapes, strides, paddings and values are drawn; layers get their weights set from drawn values.
Gradients come from `.backward()` with a drawn upstream gradient, through the student's rules.
"""

import numpy as np

from tinytorch.tensor import Tensor


def _normal(rng, *shape):
    return rng.normal(size=shape).astype(np.float32)


def _geometry(rng):
    """A drawn (kh, kw), (sh, sw), (ph, pw) and an input size that fits them; kernels of 2 or 3
    along each axis, so that a flipped or transposed kernel shows."""
    kernel = int(rng.integers(2, 4)), int(rng.integers(2, 4))
    stride = int(rng.integers(1, 3)), int(rng.integers(1, 4))
    padding = int(rng.integers(0, 3)), int(rng.integers(0, 2))
    size = int(rng.integers(kernel[0] + 1, 8)), int(rng.integers(kernel[1] + 1, 8))
    return kernel, stride, padding, size


def _error(call):
    try:
        call()
    except Exception as exc:  # noqa: BLE001 - the kind of error is the value
        return type(exc).__name__
    return "no error"


def output_size(ns, rng):
    size_of = ns["conv_output_size"]
    cases = []
    for _ in range(12):
        k, s, p = int(rng.integers(1, 6)), int(rng.integers(1, 4)), int(rng.integers(0, 3))
        n = int(rng.integers(max(1, k - 2 * p), 40))
        cases.append(size_of(n, k, s, p))
    k = int(rng.integers(4, 9))
    return {"sizes": np.array(cases), "too_small": _error(lambda: size_of(k - 2, k))}


def conv_naive(ns, rng):
    naive = ns["conv2d_naive"]
    n, c, o = int(rng.integers(1, 3)), int(rng.integers(1, 3)), int(rng.integers(1, 4))
    (kh, kw), _, _, (h, w) = _geometry(rng)
    stride, padding = int(rng.integers(1, 3)), int(rng.integers(0, 2))
    x, weight, bias = _normal(rng, n, c, h, w), _normal(rng, o, c, kh, kw), _normal(rng, o)
    return {"biased": naive(x, weight, bias, stride=stride, padding=padding), "plain": naive(x, weight)}


def im2col(ns, rng):
    kernel, stride, _, (h, w) = _geometry(rng)
    x = rng.normal(size=(int(rng.integers(1, 3)), int(rng.integers(1, 4)), h, w))
    kept = x.copy()
    cols = ns["im2col"](x, kernel, stride)
    single = ns["im2col"](x.astype(np.float32), kernel, stride)
    return {"cols": cols, "float32": single, "input_kept": bool(np.array_equal(x, kept))}


def conv2d(ns, rng):
    out = {}
    for k in range(3):
        kernel, stride, padding, (h, w) = _geometry(rng)
        n, c, o = int(rng.integers(1, 3)), int(rng.integers(1, 4)), int(rng.integers(1, 5))
        x, weight, bias = _normal(rng, n, c, h, w), _normal(rng, o, c, *kernel), _normal(rng, o)
        result = ns["conv2d"](Tensor(x), Tensor(weight), Tensor(bias) if k != 1 else None,
                              stride=stride if k else stride[0], padding=padding if k else padding[0])
        out[f"out{k}"] = result.data
    return out


def conv2d_backward(ns, rng):
    kernel, stride, _, (h, w) = _geometry(rng)
    shape = (int(rng.integers(1, 3)), int(rng.integers(1, 3)), h + 2, w + 1)
    cols_shape = ns["im2col"](np.zeros(shape), kernel, stride).shape  # checked by test-im2col
    out = {"col2im": ns["col2im"](rng.normal(size=cols_shape), shape, kernel, stride),
           "col2im_float32": ns["col2im"](_normal(rng, *cols_shape), shape, kernel, stride)}
    for k, with_bias in enumerate((True, False)):
        kernel, stride, padding, (h, w) = _geometry(rng)
        c, o = int(rng.integers(1, 3)), int(rng.integers(1, 4))
        x = Tensor(_normal(rng, 2, c, h, w), requires_grad=True)
        weight = Tensor(_normal(rng, o, c, *kernel), requires_grad=True)
        bias = Tensor(_normal(rng, o), requires_grad=True) if with_bias else None
        y = ns["conv2d"](x, weight, bias, stride=stride, padding=padding)
        (y * Tensor(_normal(rng, *y.shape))).sum().backward()
        out[f"grad_x{k}"], out[f"grad_w{k}"] = x.grad.data, weight.grad.data
        if with_bias:
            out["grad_b"] = bias.grad.data
    frozen = Tensor(_normal(rng, 1, 1, 4, 4))
    weight = Tensor(_normal(rng, 2, 1, 2, 2), requires_grad=True)
    ns["conv2d"](frozen, weight).sum().backward()
    out["frozen_x_no_grad"] = frozen.grad is None
    out["frozen_grad_w"] = weight.grad.data
    return out


def conv_layer(ns, rng):
    Conv2d = ns["Conv2d"]
    c, (kh, kw) = int(rng.integers(1, 4)), (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
    o = int(np.ceil(160 / (c * kh * kw)))  # >= 160 weights: the largest is within 10% of the bound
    stride, padding = int(rng.integers(1, 3)), int(rng.integers(0, 2))
    conv = Conv2d(c, o, (kh, kw), stride=stride, padding=padding, rng=int(rng.integers(0, 2**31)))
    bound = np.sqrt(6 / (c * kh * kw))
    top = float(np.abs(conv.weight.data).max())
    out = {"weight_shape": np.array(conv.weight.shape), "bias_zero": bool(np.all(conv.bias.data == 0)),
           "kaiming_bound": bool(0.9 * bound < top <= bound * (1 + 1e-6)),
           "parameters": len(conv.parameters()), "first_is_weight": conv.parameters()[0] is conv.weight,
           "require_grad": conv.weight.requires_grad and conv.bias.requires_grad}
    conv.weight.data[...] = _normal(rng, o, c, kh, kw)
    conv.bias.data[...] = _normal(rng, o)
    out["forward"] = conv(Tensor(_normal(rng, 2, c, 7, 6))).data
    plain = Conv2d(c, 2, (kh, kw), bias=False)
    out["no_bias"] = plain.bias is None and len(plain.parameters()) == 1
    out["no_bias_shape"] = np.array(plain.weight.shape)
    return out


def _pool(ns, rng, name, ties):
    out = {}
    for k in range(2):
        kernel = int(rng.integers(1, 4)), int(rng.integers(2, 4))
        stride = (int(rng.integers(1, kernel[0] + 1)), int(rng.integers(1, kernel[1] + 1))) if k else None
        shape = (2, int(rng.integers(1, 3)), int(rng.integers(kernel[0], 8)), int(rng.integers(kernel[1], 8)))
        data = (rng.integers(0, 3, size=shape) if ties else rng.normal(size=shape)).astype(np.float32)
        x = Tensor(data.copy(), requires_grad=True)
        y = ns[name](x, kernel, stride)
        out[f"input_kept{k}"] = bool(np.array_equal(x.data, data))
        (y * Tensor(_normal(rng, *y.shape))).sum().backward()
        out[f"out{k}"], out[f"grad{k}"] = y.data, x.grad.data
    return out


def max_pool(ns, rng):
    out = _pool(ns, rng, "max_pool2d", ties=True)  # values 0..2: many ties, first maximum wins
    out["layer_shape"] = np.array(ns["MaxPool2d"](2)(Tensor(_normal(rng, 1, 2, 5, 7))).shape)
    return out


def avg_pool(ns, rng):
    out = _pool(ns, rng, "avg_pool2d", ties=False)
    out["layer"] = ns["AvgPool2d"](2, 1)(Tensor(_normal(rng, 1, 2, 4, 5))).data
    return out


def batchnorm(ns, rng):
    c = int(rng.integers(2, 5))
    shift, scale = rng.normal(size=(1, c, 1, 1)) * 2, rng.uniform(0.5, 3, size=(1, c, 1, 1))
    x = (rng.normal(size=(int(rng.integers(2, 5)), c, 3, 4)) * scale + shift).astype(np.float32)
    bn = ns["BatchNorm2d"](c, momentum=float(rng.uniform(0.05, 0.5)))
    out = {"train": bn(Tensor(x)).data, "running_mean": bn.running_mean.copy(), "running_var": bn.running_var.copy()}
    bn(Tensor(x[::-1] * 2 + 1))
    out["running_mean2"], out["running_var2"] = bn.running_mean.copy(), bn.running_var.copy()
    out["wide_eps"] = ns["BatchNorm2d"](c, eps=float(rng.uniform(0.1, 1)))(Tensor(x)).data
    bn.weight.data[...], bn.bias.data[...] = _normal(rng, c), _normal(rng, c)
    bn.eval()
    out["eval"] = bn(Tensor(x)).data
    out["eval_keeps_running"] = bool(np.array_equal(bn.running_mean, out["running_mean2"]))
    # gradients, training and evaluation mode, with a drawn upstream gradient
    xs = Tensor(_normal(rng, 3, 2, 3, 2), requires_grad=True)
    w, b = Tensor(_normal(rng, 2), requires_grad=True), Tensor(_normal(rng, 2), requires_grad=True)
    g = _normal(rng, 3, 2, 3, 2)
    (ns["batch_norm2d"](xs, w, b, training=True) * Tensor(g)).sum().backward()
    out["grad_x_train"], out["grad_w"], out["grad_b"] = xs.grad.data, w.grad.data, b.grad.data
    xe = Tensor(xs.data.copy(), requires_grad=True)
    running = rng.normal(size=2).astype(np.float32), rng.uniform(0.5, 2, size=2).astype(np.float32)
    (ns["batch_norm2d"](xe, Tensor(w.data), Tensor(b.data), *running, training=False) * Tensor(g)).sum().backward()
    out["grad_x_eval"] = xe.grad.data
    return out


def module(ns, rng):
    from tinytorch.activations import ReLU
    from tinytorch.dataloader import DataLoader, TensorDataset
    from tinytorch.datasets import load_tinydigits
    from tinytorch.layers import Linear, Sequential
    from tinytorch.losses import CrossEntropyLoss
    from tinytorch.optimizers import SGD

    x_train, y_train, x_test, y_test = load_tinydigits()
    picks = rng.choice(len(x_train), 96, replace=False)
    channels = int(rng.integers(3, 7))
    model = Sequential(ns["Conv2d"](1, channels, 3, padding=1), ns["BatchNorm2d"](channels), ReLU(),
                       ns["MaxPool2d"](2), ns["Flatten"](), Linear(channels * 16, 10))
    for p in model.parameters():
        p.data[...] = rng.normal(size=p.shape) * 0.3
    # SGD, not Adam: Adam turns rounding-level differences in tiny gradients into steps of size lr
    loss_fn, opt = CrossEntropyLoss(), SGD(model.parameters(), lr=0.1)
    loader = DataLoader(TensorDataset(x_train[picks, None], y_train[picks]), batch_size=32)
    model.train()
    losses = []
    for xb, yb in loader:
        loss = loss_fn(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    model.eval()
    logits = model(Tensor(x_test[:64, None])).data
    return {"parameters": len(model.parameters()), "losses": np.array(losses), "eval_logits": logits}


PROBES = {
    "test-output-size": ["output_size"],
    "test-conv-naive": ["conv_naive"],
    "test-im2col": ["im2col"],
    "test-conv2d": ["conv2d"],
    "test-conv2d-backward": ["conv2d_backward"],
    "test-conv-layer": ["conv_layer"],
    "test-max-pool": ["max_pool"],
    "test-avg-pool": ["avg_pool"],
    "test-batchnorm": ["batchnorm"],
    "test-module": ["module"],
}
TOLERANCE = {"batchnorm": (1e-3, 1e-5),  # float32 statistics and the training-mode gradient's cancellations
             "module": (1e-3, 1e-5)}  # three SGD steps through batch norm, in float32
