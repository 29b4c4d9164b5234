"""quantize_int8 / dequantize_int8: the half-step bound on any tensor, per tensor and per channel."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tinytorch.quantization import dequantize_int8, quantization_params, quantize, quantize_int8
from tinytorch.tensor import Tensor
from tinytorch.testing import close, raises

finite32 = st.floats(width=32, allow_nan=False, allow_infinity=False)
BIG, TINY = float(np.float32(1e30)), float(np.float32(1e-30))
shapes = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=6)


def assert_half_step(x, q, scale, zero_point, what):
    """|x̂ - x| <= scale/2 for every element, up to float32 rounding of x̂ itself."""
    x = np.asarray(x, np.float64)
    assert q.dtype == np.int8 and q.shape == x.shape, \
        f"{what}: q is {q.dtype} {q.shape}, expected int8 {x.shape}"
    error = np.abs(dequantize_int8(q, scale, zero_point).astype(np.float64) - x)
    bound = (np.broadcast_to(np.asarray(scale, np.float64), x.shape) / 2 * (1 + 1e-9)
             + np.abs(x) * 2.0**-23 + 2.0**-149)  # one float32 ulp of x, subnormals included
    bad = np.argwhere(error > bound)
    assert bad.size == 0, (f"{what}: error {error[tuple(bad[0])]:.6g} > scale/2 = {bound[tuple(bad[0])]:.6g} "
                           f"at {tuple(bad[0])} (x = {x[tuple(bad[0])]!r})")


@settings(max_examples=300, deadline=None)
@given(hnp.arrays(np.float32, shapes, elements=finite32), st.booleans())
def test_half_step_bound_per_tensor_for_any_tensor(x, symmetric):
    q, scale, zero = quantize_int8(x, symmetric=symmetric)
    assert isinstance(scale, float) and isinstance(zero, int) and scale > 0
    assert (-127 if symmetric else -128) <= q.min() and q.max() <= 127
    assert_half_step(x, q, scale, zero, f"per tensor, symmetric={symmetric}")


@settings(max_examples=200, deadline=None)
@given(st.floats(-BIG, BIG, width=32), hnp.array_shapes(min_dims=1, max_dims=2, max_side=5), st.booleans())
def test_constant_tensors_come_back(value, shape, symmetric):
    x = np.full(shape, value, np.float32)
    q, scale, zero = quantize_int8(x, symmetric=symmetric)
    assert_half_step(x, q, scale, zero, f"constant {value}")


@settings(max_examples=200, deadline=None)
@given(hnp.arrays(np.float32, shapes, elements=st.floats(TINY, BIG, width=32)), st.booleans(), st.booleans())
def test_one_signed_tensors(x, negative, symmetric):
    x = -x if negative else x
    q, scale, zero = quantize_int8(x, symmetric=symmetric)
    assert_half_step(x, q, scale, zero, f"all {'negative' if negative else 'positive'}")


@settings(max_examples=200, deadline=None)
@given(hnp.arrays(np.float32, hnp.array_shapes(min_dims=2, max_dims=3, min_side=1, max_side=5),
                  elements=finite32), st.booleans(), st.data())
def test_half_step_bound_per_channel(x, symmetric, data):
    axis = data.draw(st.integers(-x.ndim, x.ndim - 1))
    q, scale, zero = quantize_int8(x, symmetric=symmetric, axis=axis)
    want_shape = tuple(n if i == axis % x.ndim else 1 for i, n in enumerate(x.shape))
    assert np.shape(scale) == want_shape and np.shape(zero) == want_shape, \
        f"axis {axis} of {x.shape}: scale {np.shape(scale)}, zero point {np.shape(zero)}, " \
        f"expected {want_shape}"
    assert_half_step(x, q, scale, zero, f"per channel axis={axis}, symmetric={symmetric}")


@settings(max_examples=100, deadline=None)
@given(hnp.arrays(np.float32, shapes, elements=st.floats(-1e6, 1e6, width=32)))
def test_zero_is_exact_and_symmetric_grid_is_odd(x):
    """0 dequantizes to exactly 0 (the zero point is an integer in range), and the symmetric
    quantizer maps -x to -q."""
    with_zero = np.append(x.ravel(), 0.0)
    q, scale, zero = quantize_int8(with_zero)
    assert dequantize_int8(q, scale, zero)[-1] == 0.0, f"0 came back as {dequantize_int8(q, scale, zero)[-1]}"
    q, scale, zero = quantize_int8(with_zero, symmetric=True)
    q_neg, scale_neg, _ = quantize_int8(-with_zero, symmetric=True)
    assert zero == 0 and scale_neg == scale and np.array_equal(q_neg, -q), "symmetric: -x must quantize to -q"


def test_the_constant_two_that_the_original_course_got_wrong():
    q, scale, zero = quantize_int8(np.full((3, 4), 2.0, np.float32))
    close(dequantize_int8(q, scale, zero), np.full((3, 4), 2.0), atol=0,
          what="constant 2.0 comes back exactly")
    q, scale, zero = quantize_int8(np.zeros(5), symmetric=True)
    assert np.all(q == 0) and np.all(dequantize_int8(q, scale, zero) == 0)


def test_worked_example_and_inputs():
    values = [-1.0, 0.0, 0.55, 2.0]
    for x in (values, np.array(values, np.float32), Tensor(values)):
        q, scale, zero = quantize_int8(x)
        assert q.tolist() == [-128, -43, 4, 127] and zero == -43, \
            f"{type(x).__name__}: q {q.tolist()}, zero {zero}"
        close(scale, 3 / 255, rtol=1e-6, what="scale")
    q, _, _ = quantize_int8(np.array([1, 2, 3], np.int64))
    assert q.dtype == np.int8
    for symmetric in (False, True):
        scale, zero = quantization_params(np.array([-1.0, 0.5]), np.array([2.0, 6.0]), symmetric=symmetric)
        assert scale.dtype == np.float64 and zero.dtype == np.int32, (scale.dtype, zero.dtype)
        scale, zero = quantization_params(np.zeros(2), np.zeros(2), symmetric=symmetric)
        assert np.all(scale == 1.0) and np.all(zero == (0 if symmetric else -128)), \
            f"an all-zero range: scale 1 and zero point {0 if symmetric else -128}, got {scale}, {zero}"


def test_per_channel_beats_per_tensor_on_uneven_columns(rng):
    w = rng.normal(size=(64, 32)) * np.logspace(-3, 0, 32)
    per_tensor = np.abs(dequantize_int8(*quantize_int8(w, symmetric=True)) - w)
    per_channel = np.abs(dequantize_int8(*quantize_int8(w, symmetric=True, axis=1)) - w)
    rel_t = np.linalg.norm(per_tensor, axis=0) / np.linalg.norm(w, axis=0)
    rel_c = np.linalg.norm(per_channel, axis=0) / np.linalg.norm(w, axis=0)
    assert rel_c.max() < 0.01, f"per channel: worst column relative error {rel_c.max():.3%}"
    assert rel_t.max() > 0.5, \
        f"per tensor: the smallest column should be mostly rounded away, got {rel_t.max():.3%}"


def test_clipping_and_rounding_of_quantize():
    assert quantize(np.array([1e9, -1e9]), 1.0, 0).tolist() == [127, -128], "saturate, never wrap around"
    assert quantize(np.array([1e9, -1e9]), 1.0, 0, symmetric=True).tolist() == [127, -127]
    assert quantize(np.array([0.5, 1.5, 2.5, -0.5]), 1.0, 0).tolist() == [0, 2, 2, 0], "halves to even"


def test_bad_inputs_are_named():
    raises(ValueError, lambda: quantize_int8(np.array([1.0, np.inf])), "finite", "(1,)")
    raises(ValueError, lambda: quantize_int8(np.array([[np.nan]])), "finite")
    raises(ValueError, lambda: quantize_int8(np.zeros((2, 0))), "empty")
    raises(ValueError, lambda: quantize_int8(np.zeros((2, 3)), axis=2), "axis", "(2, 3)")
    raises(ValueError, lambda: quantize_int8(np.zeros((2, 3)), axis=True), "axis")
    raises(TypeError, lambda: quantize_int8(np.array(["a", "b"])), "real numbers")
    raises(TypeError, lambda: quantize_int8(np.array([1 + 2j])), "complex")
    raises(TypeError, lambda: dequantize_int8(np.array([1, 2], np.int32), 1.0, 0), "int8", "int32")
    raises(TypeError, lambda: dequantize_int8([1, 2], 1.0, 0), "int8", "list")
    raises(ValueError, lambda: quantization_params(np.zeros(2), np.zeros(3)), "same shape")
    raises(ValueError, lambda: quantization_params(np.nan, 1.0), "finite")
    raises(ValueError, lambda: quantization_params(-np.inf, np.zeros(())), "finite")
    raises(ValueError, lambda: quantization_params(np.zeros(2), np.array([1.0, np.inf])), "finite")


@pytest.mark.filterwarnings("ignore:torch.quantize_per_tensor:UserWarning")
def test_matches_pytorch_quantizer(rng):
    torch = pytest.importorskip("torch")
    x = (rng.normal(size=(40, 7)) * [0.1, 1, 3, 0.01, 5, 2, 0.5]).astype(np.float32)
    q, scale, zero = quantize_int8(x)
    observer = torch.ao.quantization.MinMaxObserver(dtype=torch.qint8, qscheme=torch.per_tensor_affine)
    observer(torch.from_numpy(x))
    t_scale, t_zero = observer.calculate_qparams()
    close(scale, float(t_scale), rtol=1e-6, what="per-tensor affine scale vs torch MinMaxObserver")
    assert zero == int(t_zero), f"zero point {zero} vs torch {int(t_zero)}"
    t_q = torch.quantize_per_tensor(torch.from_numpy(x), scale, zero, torch.qint8).int_repr().numpy()
    assert np.abs(t_q.astype(int) - q).max() <= 1 and np.mean(t_q != q) < 0.01, \
        "codes vs torch.quantize_per_tensor"
    qc, scales, zeros = quantize_int8(x, axis=1)
    torch_q = torch.quantize_per_channel(torch.from_numpy(x), torch.from_numpy(scales.ravel()),
                                         torch.from_numpy(zeros.ravel().astype(np.int64)), 1, torch.qint8)
    t_qc = torch_q.int_repr().numpy()
    assert np.abs(t_qc.astype(int) - qc).max() <= 1 and np.mean(t_qc != qc) < 0.01, \
        "codes vs torch.quantize_per_channel"
    close(dequantize_int8(qc, scales, zeros), torch.dequantize(torch_q).numpy(),
          atol=float(scales.max()) * 1.01, what="dequantized vs torch")
