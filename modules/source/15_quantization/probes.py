"""Grading probes for module 15 (Quantization): the graded checks again, on inputs drawn at grading time.

tito calls each probe after the notebook's cells, with the notebook's namespace and a seeded NumPy
generator, and compares what it returns with the reference's values (tito/grading/probes.py).
Weights are set from the drawn inputs, never left to an init. The streaming calibrator may answer
within 0.5 % of the largest magnitude (its contract), so its probe returns its range divided by
that magnitude and is compared with a matching tolerance.
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


def qparams(ns, rng):
    params = ns["quantization_params"]
    n = _size(rng, 4, 9)
    lo = rng.uniform(-5, 2, size=n)
    hi = lo + rng.uniform(0, 6, size=n)
    lo[0], hi[0] = 0.0, 0.0  # all-zero range
    lo[1] = hi[1] = float(rng.uniform(0.5, 4))  # a constant
    lo[2], hi[2] = -float(rng.uniform(1, 3)), -float(rng.uniform(0.1, 0.9))  # all negative
    out = {}
    for symmetric in (False, True):
        scale, zero = params(lo, hi, symmetric=symmetric)
        out[f"scale_{symmetric}"], out[f"zero_{symmetric}"] = np.asarray(scale), np.asarray(zero)
    a = float(rng.uniform(-4, 0))
    scale, zero = params(a, a + float(rng.uniform(0.5, 8)))
    out["scalar"] = np.array([float(scale), float(zero)])
    out["bad_range"] = _error_name(lambda: params(1.0, -1.0))
    return out


def quantize(ns, rng):
    quantize, dequantize = ns["quantize"], ns["dequantize_int8"]
    scale, zero = float(rng.uniform(0.01, 0.2)), int(rng.integers(-100, 100))
    x = rng.uniform(-30, 30, size=(_size(rng, 3, 7), 5))
    halves = (rng.integers(-60, 60, size=8) + 0.5) * 0.5  # exact half steps of s = 0.5: ties go to even
    codes = rng.integers(-128, 128, size=12).astype(np.int8)
    codes[:2] = [127, -128]
    zeros = rng.integers(-128, 128, size=12)
    zeros[:2] = [-128, 127]
    columns = rng.uniform(0.01, 2, size=(1, 4))
    return {"q": quantize(x, scale, zero), "q_sym": quantize(x, scale, 0, symmetric=True),
            "halves": quantize(halves, 0.5, 0), "x_hat": dequantize(codes, float(rng.uniform(0.01, 1)), zeros),
            "x_hat_one_zero": dequantize(codes, float(rng.uniform(0.01, 1)), int(rng.integers(-128, -100))),
            "per_column": dequantize(rng.integers(-128, 128, size=(3, 4)).astype(np.int8), columns,
                                     rng.integers(-20, 20, size=(1, 4))),
            "not_int8": _error_name(lambda: dequantize(np.ones(2), 1.0, 0))}


def quantize_int8(ns, rng):
    qi8 = ns["quantize_int8"]
    out = {}
    x = rng.normal(size=(_size(rng, 2, 5), _size(rng, 2, 5), _size(rng, 2, 5))) * rng.uniform(0.1, 10)
    x[0, 0, 0] = 0.0
    for symmetric in (False, True):
        q, scale, zero = qi8(x, symmetric=symmetric)
        out[f"tensor_{symmetric}"] = q
        out[f"tensor_params_{symmetric}"] = np.array([scale, zero], dtype=np.float64)
        out[f"types_{symmetric}"] = isinstance(scale, float) and isinstance(zero, int)
        for axis in (0, 1, -1):
            q, scale, zero = qi8(x, symmetric=symmetric, axis=axis)
            key = f"{symmetric}_{axis}"
            out["q_" + key], out["scale_" + key], out["zero_" + key] = q, np.asarray(scale), np.asarray(zero)
    for name, value in (("constant", float(rng.uniform(-9, 9))), ("zeros", 0.0)):
        q, scale, zero = qi8(np.full(_size(rng), value))
        out[name] = np.concatenate([q.astype(np.float64), [scale, zero]])
    one_sided = rng.uniform(1, 3, size=9)
    out["one_sided"] = qi8(one_sided)[0]
    out["bad_axis"] = _error_name(lambda: qi8(np.ones(3), axis=1))
    return out


def calibrator(ns, rng):
    Tensor, Calibrator = ns["Tensor"], ns["Calibrator"]
    batches = [rng.normal(size=(_size(rng, 3, 9), 4)) * rng.uniform(0.5, 3) + rng.uniform(-1, 1) for _ in range(3)]
    minmax = Calibrator()
    for b in batches:
        minmax.observe(Tensor(b.astype(np.float32)))
    out = {"minmax": np.array(minmax.range(), dtype=np.float64), "qparams": np.array(minmax.qparams(), dtype=np.float64),
           "qparams_sym": np.array(minmax.qparams(symmetric=True), dtype=np.float64)}
    p = float(rng.uniform(60, 99.9))
    cal = Calibrator("percentile", percentile=p)
    for b in batches:
        cal.observe(b)
    out["percentile"] = np.array(cal.range(), dtype=np.float64)
    out["empty"] = _error_name(lambda: Calibrator().range())
    return out


def streaming_calibrator(ns, rng):
    from tinytorch.testing import kept_bytes

    Streaming = ns["StreamingCalibrator"]
    out = {}
    centre = float(rng.uniform(-2, 2))
    cases = {  # dense data: the exact percentiles are pinned down to far below the allowed error
        "normal": (float(rng.uniform(80, 99)), [rng.normal(centre, 1, size=2000) for _ in range(20)]),
        "drifting": (float(rng.uniform(90, 99)), [rng.normal(size=1000) * 1.04 ** i for i in range(30)]),
        "relu": (float(rng.uniform(70, 95)), [np.zeros(300)] + [np.maximum(rng.normal(size=1000), 0) for _ in range(10)]),
        "full": (100.0, [rng.normal(size=500) * 3 for _ in range(8)]),
    }
    for name, (p, batches) in cases.items():
        cal = Streaming(p, memory=4096)
        for b in batches:
            cal.observe(b)
        magnitude = max(float(np.abs(b).max()) for b in batches)
        out[name] = np.array(cal.range(), dtype=np.float64) / magnitude
        out[f"count_{name}"] = int(cal.count)
    cal = Streaming(float(rng.uniform(90, 99.9)), memory=1024)
    for i in range(100):
        cal.observe(rng.normal(size=2000) * (1 + i / 50))
    out["bounded"] = kept_bytes(cal) <= 16 * 1024 + 1024
    out["empty"] = _error_name(lambda: Streaming().range())
    return out


def _linear(rng, fan_in, fan_out, bias=True):
    from tinytorch.layers import Linear

    layer = Linear(fan_in, fan_out, bias=bias, rng=0)
    layer.weight.data[:] = rng.normal(size=(fan_in, fan_out)) * rng.uniform(0.01, 3, size=fan_out)
    if bias:
        layer.bias.data[:] = rng.normal(size=fan_out)
    return layer


def quantized_linear(ns, rng):
    Tensor, QLinear, Calibrator = ns["Tensor"], ns["QuantizedLinear"], ns["Calibrator"]
    k, m = _size(rng, 3, 9), _size(rng, 2, 6)
    linear = _linear(rng, k, m)
    x = rng.normal(size=(_size(rng, 3, 8), k)).astype(np.float32)
    cal = Calibrator()
    cal.observe(x)
    static, dynamic = QLinear.from_linear(linear, cal), QLinear.from_linear(linear)
    per_tensor = QLinear.from_linear(linear, cal, per_channel=False)
    fresh = (rng.normal(size=(2, 3, k)) * 1.5).astype(np.float32)  # some beyond the calibrated range: clipped
    big = _linear(rng, 1024, 2, bias=False)
    big.weight.data[:] = np.abs(big.weight.data) * np.array([1.0, -1.0], np.float32)
    ones = Calibrator()
    ones.observe(np.array([0.0, 1.0]))
    sums = QLinear.from_linear(big, ones)(Tensor(np.full((1, 1024), float(rng.uniform(0.5, 1)), np.float32)))
    return {"weight_q": static.weight_q, "weight_scale": np.asarray(static.weight_scale, np.float64),
            "static": static(Tensor(x)).data, "batched": static(Tensor(fresh)).data,
            "zero_in": static(Tensor(np.zeros((1, k), np.float32))).data,
            "dynamic": dynamic(Tensor(2 * x)).data, "per_tensor": per_tensor(Tensor(x)).data,
            "per_tensor_scale": np.asarray(per_tensor.weight_scale, np.float64), "big_sums": sums.data,
            "no_graph": not static(Tensor(x, requires_grad=True)).requires_grad, "nbytes": int(static.nbytes)}


def _model(rng):
    from tinytorch.activations import ReLU
    from tinytorch.layers import Dropout, Sequential

    a, h, o = _size(rng, 3, 8), _size(rng, 3, 9), _size(rng, 2, 5)
    shared = _linear(rng, h, h)
    return Sequential(_linear(rng, a, h), ReLU(), Dropout(0.5, rng=0), Sequential(shared, ReLU(), shared),
                      _linear(rng, h, o)), a


def _layers(model, QLinear):
    """Every QuantizedLinear's codes, weight scales and input parameters, in module order."""
    layers = [m for m in model.modules() if isinstance(m, QLinear)]
    return {"weight_q": np.concatenate([m.weight_q.ravel() for m in layers]),
            "weight_scale": np.concatenate([np.asarray(m.weight_scale, np.float64).ravel() for m in layers]),
            "input_params": np.array([[m.input_scale, m.input_zero_point] for m in layers], dtype=np.float64)}


def _normalized(out):
    # A float32 rescale that differs from the reference's in the last bit can move one code of the
    # next layer's input by a step: chained outputs are compared relative to their largest value.
    return out / np.abs(out).max()


def _quantized_model(ns, rng):
    Tensor = ns["Tensor"]
    model, width = _model(rng)
    before = [p.data.copy() for p in model.parameters()]
    x = rng.normal(size=(_size(rng, 8, 20), width)).astype(np.float32)
    half = len(x) // 2
    quantized = ns["quantize_model"](model, [x[:half], Tensor(x[half:])])
    return model, before, x, quantized, width


def quantize_model(ns, rng):
    QLinear, quantize_model = ns["QuantizedLinear"], ns["quantize_model"]
    model, before, x, quantized, width = _quantized_model(ns, rng)
    inner = quantized.layers[3].layers
    pct = quantize_model(model, x, method="percentile", percentile=float(rng.uniform(80, 99)))
    one_scale = quantize_model(model, x, per_channel=False)
    return {"kinds": ",".join(type(m).__name__ for m in quantized.modules()), **_layers(quantized, QLinear),
            "nbytes": int(ns["model_nbytes"](quantized)), "tied": inner[0] is inner[2],
            "eval": (quantized.training, model.training) == (False, True),
            "float_kept": all(np.array_equal(p.data, b) for p, b in zip(model.parameters(), before)),
            "percentile_params": _layers(pct, QLinear)["input_params"],
            "per_tensor_scales": _layers(one_scale, QLinear)["weight_scale"],
            "bare": type(quantize_model(_linear(rng, width, 2), x)).__name__}


def quantize_model_output(ns, rng):
    _, _, _, quantized, width = _quantized_model(ns, rng)
    fresh = rng.normal(size=(4, width)).astype(np.float32)
    return {"output": _normalized(quantized(ns["Tensor"](fresh)).data.astype(np.float64))}


def _digits(ns, rng):
    # The module test's path, small: the digits MLP, a few Adam steps, then quantize_model.
    from tinytorch.activations import ReLU
    from tinytorch.datasets import load_tinydigits
    from tinytorch.layers import Linear, Sequential
    from tinytorch.losses import CrossEntropyLoss
    from tinytorch.optimizers import Adam

    Tensor = ns["Tensor"]
    x_train, y_train, x_test, y_test = load_tinydigits()
    x_train, x_test = x_train.reshape(len(x_train), -1), x_test.reshape(len(x_test), -1)
    seed = int(rng.integers(0, 1000))
    model = Sequential(Linear(64, 128, rng=seed), ReLU(), Linear(128, 64, rng=seed + 1), ReLU(),
                       Linear(64, 10, rng=seed + 2))
    loss_fn, optimizer = CrossEntropyLoss(), Adam(model.parameters(), lr=3e-3)
    for _ in range(5):
        rows = rng.choice(len(x_train), size=64, replace=False)
        loss = loss_fn(model(Tensor(x_train[rows])), Tensor(y_train[rows]))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    rows = rng.choice(len(x_train), size=128, replace=False)
    return model.eval(), ns["quantize_model"](model, x_train[rows]), x_test, y_test


def module(ns, rng):
    model, quantized, _, _ = _digits(ns, rng)
    return {"float_nbytes": int(ns["model_nbytes"](model)), "int8_nbytes": int(ns["model_nbytes"](quantized)),
            "kinds": ",".join(type(m).__name__ for m in quantized.layers), **_layers(quantized, ns["QuantizedLinear"])}


def module_output(ns, rng):
    _, quantized, x_test, y_test = _digits(ns, rng)
    picks = rng.choice(len(x_test), size=40, replace=False)
    return {"logits": _normalized(quantized(ns["Tensor"](x_test[picks])).data.astype(np.float64)),
            "accuracy": float((quantized(ns["Tensor"](x_test)).data.argmax(axis=-1) == y_test).mean())}


PROBES = {
    "test-qparams": ["qparams"],
    "test-quantize": ["quantize"],
    "test-quantize-int8": ["quantize_int8"],
    "test-calibrator": ["calibrator"],
    "test-streaming-calibrator": ["streaming_calibrator"],
    "test-quantized-linear": ["quantized_linear"],
    "test-quantize-model": ["quantize_model", "quantize_model_output"],
    "test-module": ["module", "module_output"],
}
# The streaming range is allowed 0.5 % of the largest magnitude off the exact percentile (so two
# correct answers differ by up to 1 %); the returned range is divided by that magnitude.
# Outputs of chained quantized layers: within 1 % of the largest (a code one step off moves them
# far less; a wrong scale, zero point or calibration far more). Accuracy: within 3 of 360 images.
TOLERANCE = {"streaming_calibrator": (0.0, 0.011), "quantized_linear": (1e-4, 1e-5),
             "quantize_model_output": (0.0, 0.01), "module_output": (0.0, 0.01)}
