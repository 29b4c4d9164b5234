"""QuantizedLinear: exact integer arithmetic, int32 accumulation, static and dynamic inputs."""

import numpy as np
import pytest

from tinytorch.layers import Linear
from tinytorch.quantization import Calibrator, QuantizedLinear, dequantize_int8, quantize, quantize_int8
from tinytorch.tensor import Tensor
from tinytorch.testing import close, ops_in_graph, raises


def reference(linear, x, scale, zero, per_channel=True):
    """The float computation on dequantized operands: what the integer path must equal."""
    axis = 1 if per_channel else None
    w_hat = dequantize_int8(*quantize_int8(linear.weight.data, symmetric=True, axis=axis))
    x_hat = dequantize_int8(quantize(np.asarray(x, np.float64), scale, zero), scale, zero).astype(np.float64)
    out = x_hat @ w_hat.astype(np.float64)
    return out if linear.bias is None else out + linear.bias.data


@pytest.mark.parametrize("per_channel", [True, False])
def test_static_layer_equals_dequantized_float_math(rng, per_channel):
    linear = Linear(20, 7, rng=1)
    linear.bias.data[:] = rng.normal(size=7)
    x = rng.normal(size=(3, 5, 20)).astype(np.float32)
    cal = Calibrator()
    cal.observe(x)
    layer = QuantizedLinear.from_linear(linear, cal, per_channel=per_channel)
    out = layer(Tensor(x))
    assert out.shape == (3, 5, 7) and out.dtype == np.float32
    close(out, reference(linear, x, *cal.qparams(), per_channel), atol=1e-4, rtol=1e-5,
          what="int32 accumulation + rescale == dequantized float math")
    close(out, linear(Tensor(x)), atol=0.05, what="close to the float layer")


def test_dynamic_layer_uses_each_batch_range(rng):
    linear = Linear(8, 3, bias=False, rng=2)
    for k in (0.01, 1.0, 300.0):
        x = (rng.normal(size=(4, 8)) * k).astype(np.float32)
        _, scale, zero = quantize_int8(x)
        out = QuantizedLinear.from_linear(linear)(x)
        close(out, reference(linear, x, scale, zero), atol=1e-5 * k, rtol=1e-5,
              what=f"dynamic, inputs of size {k}")


def test_large_sums_need_int32():
    """4096 terms of 255 * 127 = 133 million: far past int16, within int32."""
    linear = Linear(4096, 1, bias=False, rng=3)
    linear.weight.data[:] = 0.5
    cal = Calibrator()
    cal.observe(np.array([0.0, 2.0]))
    out = QuantizedLinear.from_linear(linear, cal)(np.full((2, 4096), 2.0, np.float32))
    close(out, np.full((2, 1), 4096.0), rtol=1e-5, what="sum of 4096 maximal products")


def test_weights_are_int8_and_bytes_are_counted():
    linear = Linear(64, 128, rng=4)
    layer = QuantizedLinear.from_linear(linear)
    assert layer.weight_q.dtype == np.int8 and layer.weight_q.shape == (64, 128)
    assert layer.weight_scale.shape == (1, 128) and layer.weight_scale.dtype == np.float32
    assert layer.parameters() == [], "int8 arrays are not trainable parameters"
    assert layer.nbytes == 64 * 128 + 128 * 4 + 128 * 4, f"dynamic layer bytes {layer.nbytes}"
    assert (linear.weight.data.nbytes + linear.bias.data.nbytes) / layer.nbytes > 3.6


def test_inference_only_output_records_no_graph(rng):
    layer = QuantizedLinear.from_linear(Linear(4, 2, rng=5))
    x = Tensor(rng.normal(size=(3, 4)), requires_grad=True)
    out = layer(x)
    assert not out.requires_grad and ops_in_graph(out) in ([], ["quantized_linear"]), "no graph through int8"


def test_bad_arguments_are_named(rng):
    layer = QuantizedLinear.from_linear(Linear(4, 2, rng=6))
    raises(ValueError, lambda: layer(np.ones((3, 5), np.float32)), "last dimension 4", "(3, 5)")
    raises(ValueError, lambda: layer(np.float32(1.0)), "last dimension")
    raises(TypeError, lambda: QuantizedLinear.from_linear(layer), "Linear", "QuantizedLinear")
    raises(TypeError, lambda: QuantizedLinear(np.ones((2, 2), np.int32), 1.0), "int8")
    raises(ValueError, lambda: QuantizedLinear(np.ones((2, 2), np.int8), 1.0, input_scale=0.1), "both")
    codes = np.ones((2, 2), np.int8)
    raises(ValueError, lambda: QuantizedLinear(codes, 1.0, input_scale=0.0, input_zero_point=0), "positive")
    raises(ValueError, lambda: QuantizedLinear(codes, np.ones(3)), "weight_scale", "2", "(3,)")
    raises(ValueError, lambda: QuantizedLinear(codes, np.ones((2, 1))), "weight_scale", "(2, 1)")
    raises(ValueError, lambda: QuantizedLinear(codes, np.array([1.0, 0.0])), "weight_scale", "positive")
    raises(ValueError, lambda: QuantizedLinear(codes, 1.0, bias=np.ones(3)), "bias", "2", "(3,)")
    raises(ValueError, lambda: layer(np.array([[np.nan, 0, 0, 0]], np.float32)), "finite")
    cal = Calibrator()
    cal.observe(np.ones(4))
    static = QuantizedLinear.from_linear(Linear(4, 2, rng=7), cal)
    raises(ValueError, lambda: static(np.array([[0, np.inf, 0, 0]], np.float32)), "QuantizedLinear", "finite")
