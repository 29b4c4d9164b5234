# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Module 15: Quantization — the same model in a quarter of the memory
#
# Every weight you have trained so far is a 32-bit float. A trained network does not need that
# much precision: its weights are noisy estimates, and its decisions survive small
# perturbations. **Quantization** stores each number as an 8-bit integer plus a shared
# **scale**: four times less memory, four times less data to move from memory to the
# arithmetic units, and on hardware with int8 instructions, four times more multiply-adds per
# instruction.
#
# This module builds post-training quantization the way deployment toolchains do it
# (PyTorch's `torch.ao.quantization`, TensorFlow Lite, ONNX Runtime), and *measures* every
# claim on a model you train in the run: the bytes saved (from `nbytes`), the accuracy kept
# (on the held-out digits, with no retraining: calibration only, as in MLPerf's closed
# division), and the latency, including the honest reason why int8 arithmetic in NumPy is
# *not* faster than float32.
#
# ## Learning objectives
# - Derive the scale and zero point of affine and symmetric int8 quantization, and prove the
#   round-trip error bound of half a step.
# - Quantize per tensor and per channel, and measure the difference on real weights.
# - Calibrate activation ranges on sample batches, with min/max and percentiles, and explain the
#   clipping trade-off.
# - Build a `QuantizedLinear` with int8 weights, int32 accumulation and one float rescale.
# - Convert a trained model with `quantize_model`, without touching the float model.
#
# ## How to work
# Each piece you write is a stub that raises `NotImplementedError`: replace the `raise` with your
# code and run the test cell after it. `tito hint 15` lists the stubs; `tito hint 15 NAME` gives
# the next hint for one of them. When every test passes, `tito module complete 15` runs the pytest
# suite, which checks the error bound on thousands of random tensors (hypothesis), compares
# with PyTorch's quantizer when it is installed, and quantizes a digits MLP and CNN.

# %% nbgrader={"grade": false, "grade_id": "quantization-setup", "locked": false, "schema_version": 3, "solution": false, "task": false}
#| default_exp quantization
#| export
import copy

import numpy as np

from tinytorch.autograd import no_grad
from tinytorch.layers import Linear, Module, Sequential
from tinytorch.tensor import Tensor, register_non_differentiable

QMIN, QMAX = -128, 127  # the int8 range
F32_MAX = float(np.finfo(np.float32).max)


def _as_float_array(x, what: str) -> np.ndarray:
    """`x` (Tensor, array, list or number) as a float64 array of finite values (given)."""
    values = np.asarray(x.data if isinstance(x, Tensor) else x)
    if values.dtype == object or not (np.issubdtype(values.dtype, np.number) or values.dtype == bool):
        raise TypeError(f"{what} needs real numbers, got an array of dtype {values.dtype}")
    if np.iscomplexobj(values):
        raise TypeError(f"{what} needs real numbers, got complex dtype {values.dtype}")
    values = values.astype(np.float64)
    if values.size == 0:
        raise ValueError(f"{what} cannot quantize an empty array (shape {values.shape}): there is no range")
    if not np.all(np.isfinite(values)):
        bad = np.argwhere(~np.isfinite(values))[0]
        raise ValueError(f"{what} needs finite values, got {values[tuple(bad)]} at index {tuple(int(i) for i in bad)}")
    return values


# %% [markdown]
# ## 1. Why int8: memory and bandwidth
#
# A float32 is 4 bytes; an int8 is 1. For a weight matrix of shape `(in, out)` that is
# `4·in·out` bytes against `in·out` bytes plus a few scales. For the digits MLP of this module,
# 64 → 128 → 64 → 10, the three weight matrices hold 8,192 + 8,192 + 640 = 17,024 numbers:
# 68,096 bytes as float32, 17,024 bytes as int8. For a 124-million-parameter GPT-2 it is 496 MB
# against 124 MB: the difference between fitting in a phone's memory budget or not.
#
# Memory is not only capacity, it is **time**. A matrix-vector product (one token of a language
# model, one request of a small server) reads every weight once and does one multiply-add with
# it: 2 FLOPs per 4 bytes read. A CPU core does tens of GFLOP/s but its share of DRAM delivers
# maybe 10 GB/s, so such a product is limited by the bytes it must read, not by the
# arithmetic. Four times fewer bytes is up to four times faster, *if* the arithmetic can work
# on int8 directly. CPUs can (x86 `VPDPBUSD`, ARM `SDOT`: 4 int8 products per 32-bit lane per
# instruction, four times the float32 rate), and so can GPUs and NPUs. NumPy cannot; section 9
# measures what that costs.
#
# The question for the rest of the module: how to map floats to 256 integers so that the
# model's answers do not change.

# %% [markdown]
# ## 2. Affine quantization: scale and zero point
#
# An **affine** quantizer maps a real interval `[lo, hi]` onto the 256 integers `-128 … 127`
# with two numbers: a **scale** `s` (the real value of one integer step) and a **zero point**
# `z` (the integer that stands for the real 0):
#
# `q = clip(round(x / s) + z, -128, 127)`,   `x̂ = s · (q − z)`  (dequantized)
#
# **Derive `s` and `z`.** The 256 integers span 255 steps, and they must cover `hi − lo`, so
# `s = (hi − lo) / 255`. The smallest value must land on the smallest integer:
# `lo / s + z = −128`, and `z` must be an integer (so that `q − z` is exact integer
# arithmetic), so `z = −128 − round(lo / s)`.
#
# **Zero must be exact.** Before computing `s`, extend the range to include 0:
# `lo ← min(lo, 0)`, `hi ← max(hi, 0)`. Then `z` lies in `[−128, 127]`, so the real 0 is
# represented *exactly* by `q = z`. This matters: zero padding, ReLU outputs and pruned weights
# are zeros that must stay zeros. (It also handles a constant tensor: all 2.0 becomes the range
# `[0, 2]`, not the empty range `[2, 2]`, whose scale would be 0.)
#
# **Worked example.** `x = [−1.0, 0.0, 0.55, 2.0]`, so `lo = −1`, `hi = 2`:
#
# | step | value |
# |---|---|
# | `s = (2 − (−1)) / 255` | `0.0117647` (3/255) |
# | `z = −128 − round(−1 / s) = −128 − (−85)` | `−43` |
# | `x = −1.0`: `round(−85) − 43` | `q = −128`, `x̂ = s·(−128 + 43) = −1.0` |
# | `x = 0.0`: `0 − 43` | `q = −43 = z`, `x̂ = 0` exactly |
# | `x = 0.55`: `round(46.75) − 43` | `q = 4`, `x̂ = s·47 = 0.55294` (error 0.0029 ≤ s/2) |
# | `x = 2.0`: `round(170) − 43` | `q = 127`, `x̂ = s·170 = 2.0` |
#
# **Symmetric quantization** fixes `z = 0` and uses `−127 … 127`: `s = max(|lo|, |hi|) / 127`.
# It wastes range when the data is one-sided (ReLU outputs in `[0, 6]` use only half the
# integers) but it makes the arithmetic cheaper: with `z = 0` the product of two quantized
# numbers needs no correction terms (section 7). Frameworks use symmetric for **weights**
# (roughly centred on 0) and affine for **activations** (often one-sided). Dropping −128 keeps
# the grid symmetric, so `−x` quantizes to `−q`.
#
# **The all-zero tensor.** Then `hi − lo = 0` and any scale represents it exactly; use `s = 1`
# (never divide by zero) and the same zero-point rule as always (−128 for affine: `lo = 0`).
#
# Write `quantization_params(lo, hi, symmetric)`. It takes `lo`, `hi` as NumPy arrays (the
# ranges of one or many channels, same shape) and returns `(scale, zero_point)` arrays of that
# shape, scale float64 and zero point int32. The conversion of the inputs and the check
# `lo <= hi` are given.

# %% nbgrader={"grade": false, "grade_id": "qparams", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
def quantization_params(lo, hi, symmetric: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Scale (float64) and zero point (int32) mapping [lo, hi] (extended to include 0) onto
    int8 (section 2): affine onto -128..127, or symmetric (zero point 0) onto -127..127.
    `lo` and `hi` are numbers or arrays of the same shape; the results have that shape."""
    lo, hi = np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)
    if lo.shape != hi.shape or np.any(lo > hi):
        raise ValueError(f"quantization_params needs lo <= hi of the same shape, got {lo} and {hi}")
    if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))):
        raise ValueError(f"quantization_params needs a finite range, got lo = {lo} and hi = {hi}")
    # Set `scale` (float64, never 0) and `zero_point` (int32), both of lo's shape.
    ### BEGIN SOLUTION
    lo, hi = np.minimum(lo, 0.0), np.maximum(hi, 0.0)
    if symmetric:
        scale = np.maximum(-lo, hi) / QMAX
    else:
        scale = (hi - lo) / (QMAX - QMIN)
    scale = np.where(scale > 0, scale, 1.0)
    if symmetric:
        zero_point = np.zeros(lo.shape, dtype=np.int32)
    else:
        zero_point = (QMIN - np.rint(lo / scale)).astype(np.int32)
    ### END SOLUTION
    return scale, zero_point


# %% [markdown]
# ### Unit test: scale and zero point
# The worked example, a one-sided range (its zero point is −128: all 256 integers serve the
# positive values), the symmetric rule, a constant range, and the all-zero range.

# %% nbgrader={"grade": true, "grade_id": "test-qparams", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false}
def test_unit_quantization_params():
    from tinytorch.testing import close, raises
    scale, zero = quantization_params(-1.0, 2.0)
    close(scale, 3 / 255, what="affine scale of [-1, 2]: (hi - lo) / 255")
    assert int(zero) == -43 and zero.dtype == np.int32, \
        f"zero point of [-1, 2]: got {int(zero)} ({zero.dtype}), expected -43 (int32): z = -128 - round(lo / s)"
    scale, zero = quantization_params(-1.0, 6.0)
    assert int(zero) == -92, \
        (f"zero point of [-1, 6]: got {int(zero)}, expected -92: lo / s = -255/7 = -36.43 rounds to -36, so "
         "z = -128 + 36; round to the nearest integer (a cast to int truncates toward 0)")
    scale, zero = quantization_params(np.array([0.5, -4.0]), np.array([6.0, -1.0]))
    close(scale, [6 / 255, 4 / 255], what="ranges [0.5, 6] and [-4, -1] are extended to [0, 6] and [-4, 0]")
    assert zero.tolist() == [-128, 127], f"zero points of [0, 6] and [-4, 0]: got {zero.tolist()}, expected [-128, 127]"
    scale, zero = quantization_params(np.array([-3.0, -0.5]), np.array([1.0, 2.54]), symmetric=True)
    close(scale, [3 / 127, 2.54 / 127], what="symmetric scale: max(|lo|, |hi|) / 127")
    assert zero.tolist() == [0, 0] and zero.dtype == np.int32, f"symmetric zero points must be int32 0, got {zero!r}"
    scale, zero = quantization_params(2.0, 2.0)
    close(scale, 2 / 255, what="a constant 2.0: the range [0, 2]")
    assert int(zero) == -128, f"zero point of a constant 2.0 (range [0, 2]): got {int(zero)}, expected -128"
    for symmetric in (False, True):
        scale, zero = quantization_params(np.zeros(2), np.zeros(2), symmetric=symmetric)
        want = 0 if symmetric else QMIN
        assert np.all(scale == 1.0) and np.all(zero == want), \
            f"all-zero range (symmetric={symmetric}): scale 1, zero point {want} expected, got {scale}, {zero}"
    raises(ValueError, lambda: quantization_params(1.0, -1.0), "lo <= hi")
    print("quantization params: OK")


if __name__ == "__main__":
    test_unit_quantization_params()

# %% [markdown]
# ## 3. Quantize and dequantize
#
# With `s` and `z` known, quantizing is one rounding, one shift and one clip:
#
# `q = clip(round(x / s) + z, qmin, qmax)` stored as `np.int8`
#
# with `qmin = −128` for affine and `−127` for symmetric. **Round to nearest**: `np.rint`
# (halves go to the even neighbour, as in PyTorch); truncation with `astype` alone would make
# every error one-sided and up to a full step.
#
# **The error bound: half a step.** For `x` inside `[lo, hi]`, `round` moves `x / s` by at
# most 1/2, so `|x − x̂| ≤ s/2`. The clip does not break it at the ends: `lo / s + z` is
# `−128` plus the rounding error of `z`, at most 1/2, so the smallest element is clipped by at
# most half a step, and `hi / s + z = lo / s + 255 + z` likewise. Values *outside* the
# calibrated range (section 6) are clipped to the nearest end, and their error is unbounded:
# that is the price of clipping.
#
# **Dequantize: beware int8 overflow.** `x̂ = s · (q − z)`. The difference `q − z` ranges over
# `−255 … 255`, which int8 cannot hold: NumPy computes `int8 − int8` in int8, so with `q = 127`
# and `z = −128` the true 255 wraps around to −1, silently, and a value at the top of the range
# comes back at the bottom. Your dequantization must be exact for every int8 code and every zero
# point in `[−128, 127]`; choose the arithmetic so that it is. (The given last line returns
# float32, TinyTorch's dtype, saturating the rare value that rounds just past float32's largest
# number.)
#
# `quantize(x, scale, zero_point, symmetric)` takes an already converted float64 array and
# parameters that broadcast against it; `dequantize_int8(q, scale, zero_point)` checks that it
# gets int8 (given) and returns float32.

# %% nbgrader={"grade": false, "grade_id": "quantize", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
def quantize(x: np.ndarray, scale, zero_point, symmetric: bool = False) -> np.ndarray:
    """int8 codes of `x` for the given scale and zero point (broadcast against x); values outside
    the representable range are clipped (section 3)."""
    qmin = -QMAX if symmetric else QMIN
    ### BEGIN SOLUTION
    q = np.rint(x / scale) + zero_point
    return np.clip(q, qmin, QMAX).astype(np.int8)
    ### END SOLUTION


def dequantize_int8(q: np.ndarray, scale, zero_point) -> np.ndarray:
    """float32 values `scale * (q - zero_point)` of int8 codes `q` (section 3)."""
    if not isinstance(q, np.ndarray) or q.dtype != np.int8:
        got = q.dtype if isinstance(q, np.ndarray) else type(q).__name__
        raise TypeError(f"dequantize_int8 expects the int8 array that quantize_int8 returns, got {got}")
    # Set `x_hat`, the dequantized values (float64 is fine: the given line converts).
    ### BEGIN SOLUTION
    centred = q.astype(np.int32) - zero_point
    x_hat = centred * scale
    ### END SOLUTION
    return np.clip(x_hat, -F32_MAX, F32_MAX).astype(np.float32)  # float32 even at the edge of its range


# %% [markdown]
# ### Unit test: quantize and dequantize
# The worked example both ways, rounding to nearest (halves to even), clipping, the symmetric
# range and the int8 overflow trap (`q = 127`, `z = −128`).

# %% nbgrader={"grade": true, "grade_id": "test-quantize", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false}
def test_unit_quantize():
    from tinytorch.testing import close, raises
    q = quantize(np.array([0.26, 0.24, -0.26, 5.0, -5.0]), 0.5, 0)
    assert isinstance(q, np.ndarray) and q.dtype == np.int8, f"quantize must return an int8 array, got {getattr(q, 'dtype', type(q))}"
    assert q.tolist() == [1, 0, -1, 10, -10], \
        (f"round to nearest, q = round(x / s) + z with s = 0.5 and z = 0: x / s = [0.52, 0.48, -0.52, 10, -10], so "
         f"[1, 0, -1, 10, -10] expected, got {q.tolist()}")
    q = quantize(np.array([0.25, 0.75, -0.25, -0.75]), 0.5, 0)
    assert q.tolist() == [0, 2, 0, -2], f"halves (0.5, 1.5, -0.5, -1.5 steps) go to the even neighbour: got {q.tolist()}, expected [0, 2, 0, -2]"
    x = np.array([-1.0, 0.0, 0.55, 2.0])
    q = quantize(x, 3 / 255, -43)
    assert q.tolist() == [-128, -43, 4, 127], \
        f"worked example (s = 3/255, z = -43): got {q.tolist()}, expected [-128, -43, 4, 127]: the zero point is added"
    q_clip = quantize(np.array([100.0, -100.0, 3.0]), 0.5, 10)
    assert q_clip.tolist() == [127, -128, 16], f"clipping with zero point 10: got {q_clip.tolist()}, expected [127, -128, 16]"
    q_sym = quantize(np.array([-100.0, 100.0]), 0.5, 0, symmetric=True)
    assert q_sym.tolist() == [-127, 127], f"symmetric range is -127..127: got {q_sym.tolist()}"
    close(dequantize_int8(np.array([0, 10], dtype=np.int8), 0.5, 4), [-2.0, 3.0],
          what="x_hat = s * (q - z) with s = 0.5 and z = 4: q = 0 gives -2, q = 10 gives 3")
    close(dequantize_int8(np.array([127, -128], dtype=np.int8), 0.5, -128), [127.5, 0.0],
          what="q - z must be computed in a wider type: 127 - (-128) = 255 overflows int8")
    close(dequantize_int8(q, 3 / 255, -43), [-1.0, 0.0, 47 * 3 / 255, 2.0], what="dequantized worked example")
    assert dequantize_int8(q, 3 / 255, -43).dtype == np.float32, "dequantize_int8 returns float32"
    close(dequantize_int8(np.array([[1, 2], [3, 4]], dtype=np.int8), np.array([[1.0, 10.0]]), np.array([[0, 1]])),
          [[1.0, 10.0], [3.0, 30.0]], what="per-column scale and zero point broadcast")
    raises(TypeError, lambda: dequantize_int8(np.array([1.0, 2.0]), 1.0, 0), "int8", "float64")
    print("quantize / dequantize: OK")


if __name__ == "__main__":
    test_unit_quantize()

# %% [markdown]
# ## 4. `quantize_int8`: per tensor and per channel
#
# `quantize_int8(x, symmetric=False, axis=None)` finds the range of the data itself and
# returns `(q, scale, zero_point)`:
#
# - **Per tensor** (`axis=None`): one range, from the smallest to the largest element, so one
#   scale and one zero point for all of `x` (returned as a Python `float` and `int`).
# - **Per channel** (`axis=k`): one range per index along axis `k`, taken over all the *other*
#   axes. For a `Linear` weight of shape `(in, out)`, one scale per output neuron is a per-channel
#   quantization along the axis that indexes the outputs. Return the scales and zero points
#   with **the reduced axes kept as size 1** (shape `(1, out)` for one scale per output neuron),
#   so that `dequantize_int8(q, scale, zp)` broadcasts them without being told the axis.
#
# **Why per channel?** One output neuron may have weights in `[−0.05, 0.05]` and another in
# `[−2, 2]`. With one shared scale, the small neuron's weights get about 3 of the 255 steps,
# and most round to 0; with its own scale, all 255. Per-channel costs one float per output
# (128 scales next to 8,192 int8 weights for a 64 → 128 layer: 6 % more bytes) and nothing in
# the arithmetic: each output column is rescaled by its own scale after the integer matmul.
# The demo below measures both on a weight matrix whose columns have different ranges.
#
# Write the part that finds `lo` and `hi` (arrays, kept dimensions for a channel axis) and
# calls the two functions above; the conversion to a float64 array, the check of `axis` and
# the conversion of the per-tensor parameters to `float`/`int` are given.

# %% nbgrader={"grade": false, "grade_id": "quantize-int8", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
def quantize_int8(x, symmetric: bool = False, axis: int | None = None):
    """`(q, scale, zero_point)`: int8 codes of `x` with a range found from `x` itself, per tensor
    (`axis=None`: float and int) or per channel along `axis` (arrays with the other axes kept as
    size 1). Every element satisfies |dequantize_int8(q, scale, zero_point) - x| <= scale / 2."""
    x = _as_float_array(x, "quantize_int8")
    if axis is not None:
        if isinstance(axis, bool) or not isinstance(axis, int | np.integer) or not -x.ndim <= axis < x.ndim:
            raise ValueError(f"quantize_int8: axis must be None or an int in [{-x.ndim}, {x.ndim - 1}] "
                             f"for an array of shape {x.shape}, got {axis!r}")
        others = tuple(i for i in range(x.ndim) if i != axis % x.ndim)
    # Set `q`, `scale` and `zero_point` (arrays; per channel with the reduced axes kept).
    ### BEGIN SOLUTION
    if axis is None:
        lo, hi = x.min(), x.max()
    else:
        lo, hi = x.min(axis=others, keepdims=True), x.max(axis=others, keepdims=True)
    scale, zero_point = quantization_params(lo, hi, symmetric)
    q = quantize(x, scale, zero_point, symmetric)
    ### END SOLUTION
    if axis is None:
        return q, float(scale), int(zero_point)
    return q, scale, zero_point


# %% [markdown]
# ### Unit test: quantize_int8
# The original TinyTorch course returned 0 for a constant tensor of 2.0; here the error bound
# must hold for constant, all-positive, all-negative and all-zero tensors, per tensor and per
# channel. (The pytest suite checks the bound on thousands of random tensors with hypothesis.)

# %% nbgrader={"grade": true, "grade_id": "test-quantize-int8", "locked": true, "points": 15, "schema_version": 3, "solution": false, "task": false}
def test_unit_quantize_int8():
    from tinytorch.testing import close, raises

    def check(x, **kwargs):
        q, scale, zero = quantize_int8(x, **kwargs)
        assert q.dtype == np.int8 and q.shape == np.shape(x), f"q: {q.dtype} {q.shape}, expected int8 {np.shape(x)}"
        axis = kwargs.get("axis")
        if axis is not None:
            want = tuple(n if i == axis % np.ndim(x) else 1 for i, n in enumerate(np.shape(x)))
            assert np.shape(scale) == want and np.shape(zero) == want, \
                (f"per channel along axis {axis} of shape {np.shape(x)}: one scale and zero point per index along that "
                 f"axis, the range taken over the other axes, kept as size 1: expected shape {want}, got "
                 f"{np.shape(scale)} and {np.shape(zero)}")
        if kwargs.get("symmetric"):
            assert np.all(np.asarray(zero) == 0), \
                f"symmetric=True: the zero point is 0 (the range is symmetric about 0), got {np.unique(zero).tolist()}"
        error = np.abs(dequantize_int8(q, scale, zero) - np.asarray(x, np.float64))
        bound = np.broadcast_to(np.asarray(scale) / 2, error.shape) * (1 + 1e-5) + 1e-12
        worst = tuple(int(i) for i in np.unravel_index(np.argmax(error - bound), error.shape))
        assert np.all(error <= bound), (f"round-trip error {error[worst]:.3g} > scale/2 = {bound[worst]:.3g} at "
                                        f"{worst} for {kwargs}, x = {np.asarray(x)[worst]}")
        return q, scale, zero

    q, scale, zero = check(np.full(5, 2.0))
    close(dequantize_int8(q, scale, zero), np.full(5, 2.0), what="a constant 2.0 must come back as 2.0, not 0")
    assert isinstance(scale, float) and isinstance(zero, int), f"per tensor: float and int, got {type(scale)}, {type(zero)}"
    q, scale, zero = check(np.zeros((2, 3)))
    assert np.all(dequantize_int8(q, scale, zero) == 0), "an all-zero tensor must come back as zeros"
    rng = np.random.default_rng(0)
    for x in (rng.uniform(1, 3, 50), rng.uniform(-3, -1, 50), rng.normal(size=(4, 6)), np.full(3, -7.5)):
        for symmetric in (False, True):
            check(x, symmetric=symmetric)
    q, scale, zero = check(np.array([-1.0, 0.0, 0.55, 2.0]))
    assert (q.tolist(), round(scale * 255, 6), zero) == ([-128, -43, 4, 127], 3.0, -43), \
        f"worked example: q {q.tolist()}, scale*255 {scale * 255}, zero point {zero}"

    w = rng.normal(size=(5, 3)) * np.array([0.01, 1.0, 100.0])  # three output channels, very different ranges
    q, scale, zero = check(w, symmetric=True, axis=1)
    assert np.shape(scale) == (1, 3) and np.shape(zero) == (1, 3), f"per-channel axis=1 of (5, 3): shapes {np.shape(scale)}, {np.shape(zero)}, expected (1, 3)"
    close(scale.ravel(), np.abs(w).max(axis=0) / 127, what="one symmetric scale per column")
    q_rows, scale_rows, _ = check(w, axis=0)
    assert np.shape(scale_rows) == (5, 1), f"axis=0 of (5, 3): scale shape {np.shape(scale_rows)}, expected (5, 1)"
    _, scale_neg, _ = check(w, axis=-1)
    close(scale_neg, quantize_int8(w, axis=1)[1], what="axis=-1 is the last axis")
    per_tensor = np.abs(dequantize_int8(*quantize_int8(w, symmetric=True)) - w)[:, 0].max()
    per_channel = np.abs(dequantize_int8(q, scale, zero) - w)[:, 0].max()
    assert per_channel < per_tensor / 100, f"the small column: per-channel error {per_channel:.2g} should be far below per-tensor {per_tensor:.2g}"
    check(rng.normal(size=(2, 3, 4)), axis=1)
    raises(ValueError, lambda: quantize_int8(np.ones(3), axis=1), "axis")
    raises(ValueError, lambda: quantize_int8(np.array([1.0, np.nan])), "finite")
    raises(ValueError, lambda: quantize_int8(np.zeros(0)), "empty")
    print("quantize_int8: OK")


if __name__ == "__main__":
    test_unit_quantize_int8()

# %% [markdown]
# ### Measured: per-tensor against per-channel
# A weight matrix shaped like a trained layer's, `(64, 128)`, whose output columns have
# different spreads (standard deviations from 0.01 to 1, log-spaced), quantized symmetric both
# ways. The error is relative: `‖ŵ − w‖ / ‖w‖` per column, then summarised; the share of weights
# that round to 0 shows where the precision went.

# %% nbgrader={"grade": false, "grade_id": "per-channel-demo", "locked": false, "schema_version": 3, "solution": false, "task": false}
if __name__ == "__main__":
    demo_rng = np.random.default_rng(1)
    demo_w = demo_rng.normal(size=(64, 128)) * np.logspace(-2, 0, 128)
    for label, axis in (("per tensor ", None), ("per channel", 1)):
        w_hat = dequantize_int8(*quantize_int8(demo_w, symmetric=True, axis=axis))
        rel = np.linalg.norm(w_hat - demo_w, axis=0) / np.linalg.norm(demo_w, axis=0)
        print(f"{label}: relative error per column median {np.median(rel):.2%}, worst {rel.max():.2%}; "
              f"weights that round to 0: {np.mean(w_hat == 0):.1%} of all, {np.mean(w_hat[:, 0] == 0):.0%} "
              f"of the smallest column's")

# %% [markdown]
# ## 5. What quantizing a layer's *inputs* needs: calibration
#
# Weights are known before the model runs, so their ranges are exact. A layer's **inputs**
# (activations) change with every example. Two options:
#
# - **Dynamic** quantization: find the range of each batch when it arrives. Exact range, but
#   a min/max pass over the activations on every call.
# - **Static** quantization: run a few **calibration** batches through the float model once,
#   record the range of the inputs of every layer, and fix the scale and zero point. Cheaper at
#   run time; inputs outside the calibrated range are clipped.
#
# A `Calibrator` watches the batches (`observe(x)`) and then reports a range (`range()`) and
# the parameters for it (`qparams(symmetric)`, given). Two methods:
#
# - `"minmax"`: the smallest and largest value seen. Only two numbers to keep per layer.
# - `"percentile"`: the `(100 − p)`-th and `p`-th percentiles of all values seen
#   (`p = 99.99` by default), so the few most extreme values are clipped.
#
# **The clipping trade-off.** The step is `s = (hi − lo) / 255`, and every in-range value has
# error up to `s/2`. One outlier 50 times larger than the typical activation stretches `s`
# 50-fold for *all* values; clipping it costs one large error to save many small ones. Too
# aggressive a percentile clips values that matter. Which wins depends on the distribution and
# the model: the demo after the test measures both errors on data with a few huge values,
# and section 8 measures the model's accuracy both ways.
#
# (Keeping every observed value is fine for a few calibration batches; PyTorch's
# `HistogramObserver` keeps a fixed-size histogram instead.)

# %% nbgrader={"grade": false, "grade_id": "calibrator", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
class Calibrator:
    """Records the values a layer sees on calibration batches and turns them into a range."""

    def __init__(self, method: str = "minmax", percentile: float = 99.99):
        if method not in ("minmax", "percentile"):
            raise ValueError(f"Calibrator method must be 'minmax' or 'percentile', got {method!r}")
        if isinstance(percentile, bool) or not isinstance(percentile, int | float) or not 50 < percentile <= 100:
            raise ValueError(f"percentile must be a number in (50, 100], got {percentile!r}")
        self.method, self.percentile = method, float(percentile)
        self.lo, self.hi = np.inf, -np.inf  # min/max of everything observed
        self.samples: list[np.ndarray] = []  # every observed value, flattened (percentile method)
        self.batches = 0

    def observe(self, x) -> None:
        """Record one batch (Tensor or array)."""
        values = _as_float_array(x, "Calibrator.observe").ravel()
        self.lo, self.hi = min(self.lo, float(values.min())), max(self.hi, float(values.max()))
        if self.method == "percentile":
            self.samples.append(values)
        self.batches += 1

    def range(self) -> tuple[float, float]:
        """(lo, hi) of the observed values: min and max, or the (100 - p)-th and p-th percentiles."""
        if self.batches == 0:
            raise ValueError("Calibrator.range(): no batch observed yet; call observe(x) on calibration data "
                             "first (in quantize_model: a Linear that the calibration batches never reached)")
        if self.method == "minmax":
            return self.lo, self.hi
        ### BEGIN SOLUTION
        values = np.concatenate(self.samples)
        lo, hi = np.percentile(values, [100.0 - self.percentile, self.percentile])
        return float(lo), float(hi)
        ### END SOLUTION

    def qparams(self, symmetric: bool = False) -> tuple[float, int]:
        """Scale and zero point for the calibrated range (given)."""
        scale, zero_point = quantization_params(*self.range(), symmetric=symmetric)
        return float(scale), int(zero_point)


# %% [markdown]
# ### Unit test: calibration
# Min/max over several batches is the global min/max; the percentiles are those of all batches
# together, not of the last one.

# %% nbgrader={"grade": true, "grade_id": "test-calibrator", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false}
def test_unit_calibrator():
    from tinytorch.testing import close, raises
    rng = np.random.default_rng(2)
    batches = [rng.normal(size=(8, 5)), rng.normal(size=(8, 5)) * 3, rng.normal(size=(4, 5)) - 1]
    everything = np.concatenate([b.ravel() for b in batches])
    minmax = Calibrator()
    for b in batches:
        minmax.observe(Tensor(b))
    close(minmax.range(), [everything.min(), everything.max()], atol=1e-5, what="min/max over all batches")
    for p in (99.0, 90.0):
        cal = Calibrator("percentile", percentile=p)
        for b in batches:
            cal.observe(b)
        lo, hi = cal.range()
        close([lo, hi], [np.percentile(everything, 100 - p), np.percentile(everything, p)],
              what=f"percentiles 100 - p = {100 - p:g} and p = {p:g} (in percent) of all observed values, all batches together")
    full = Calibrator("percentile", percentile=100)
    full.observe(everything)
    close(full.range(), [everything.min(), everything.max()], what="percentile 100 is min/max")
    scale, zero = minmax.qparams()
    close(scale, (everything.max() - everything.min()) / 255, atol=1e-7, what="qparams of the min/max range")
    assert isinstance(zero, int), f"qparams returns an int zero point, got {type(zero)}"
    raises(ValueError, lambda: Calibrator().range(), "no batch")
    raises(ValueError, lambda: Calibrator("entropy"), "method")
    print("calibrator: OK")


if __name__ == "__main__":
    test_unit_calibrator()

# %% [markdown]
# ### Measured: min/max against percentile when a few values are huge
# 20,000 values from a standard normal distribution (the bulk) plus 20 outliers of magnitude
# 50 to 100 (0.1 % of the values, like the outlier features of large language models),
# calibrated and quantized with each method. Two errors matter: the RMS error on the bulk
# (the values within ±4), and the largest error (an outlier clipped to the range's end).

# %% nbgrader={"grade": false, "grade_id": "percentile-demo", "locked": false, "schema_version": 3, "solution": false, "task": false}
if __name__ == "__main__":
    demo_rng = np.random.default_rng(3)
    outliers = demo_rng.uniform(50, 100, 20) * demo_rng.choice([-1, 1], 20)
    spiky = np.concatenate([demo_rng.normal(size=20_000), outliers])
    bulk = np.abs(spiky) <= 4
    for method, p in (("minmax", 100), ("percentile", 99.99), ("percentile", 99.9), ("percentile", 99.0)):
        cal = Calibrator(method, percentile=p)
        cal.observe(spiky)
        scale, zero = cal.qparams()
        err = np.abs(dequantize_int8(quantize(spiky, scale, zero), scale, zero) - spiky)
        lo, hi = cal.range()
        print(f"{method:10s} p={p:6.2f}: range [{lo:7.2f}, {hi:6.2f}], step {scale:.4f}, "
              f"bulk RMS error {np.sqrt(np.mean(err[bulk] ** 2)):.4f}, largest error {err.max():6.2f}, "
              f"{np.mean((spiky < lo) | (spiky > hi)):.2%} clipped")

# %% [markdown]
# With min/max, the 20 outliers set the step, and the 20,000 ordinary values share a handful of
# integers: their error is a sizeable fraction of their own spread. A percentile that excludes
# the outliers gives the bulk a step tens of times finer, and the outliers pay with errors of
# their own size. Here that is 99.9: the outliers are 0.1 % of the values, so the default 99.99
# cuts off only the most extreme few of them, and the step barely shrinks. Neither is right in general: if the model needs the outliers (it does in
# large language models, which is why LLM.int8() keeps those features in float16), clipping them
# breaks it; if they are noise, min/max wastes the precision of everything else. A percentile
# too low (99 %) clips ordinary values as well. Measure on the model: section 8 does.

# %% [markdown]
# ## 5b. Calibrating in bounded memory
#
# `Calibrator("percentile")` keeps every value it has seen. For a few batches of a small model
# that is fine; for a GPT's activations over a calibration set of thousands of sequences it is
# gigabytes. `StreamingCalibrator(percentile, memory)` gives the same answer in bounded memory:
#
# - `observe(x)` takes a batch (Tensor or array, any shape, any number of batches; use
#   `_as_float_array(x, "StreamingCalibrator.observe")` to read it), and `range()` returns
#   `(lo, hi)`, the `(100 − p)`-th and `p`-th percentiles of **all** values observed so far
#   (a ValueError before the first batch);
# - whatever the number of batches, the calibrator keeps at most about `memory` numbers, at
#   least 512 (the test measures it: 200,000 observed values must not make it grow past that);
# - `lo` and `hi` may be off from the exact percentiles by at most **0.5 % of the largest
#   magnitude observed**. "Exact" means what `np.percentile` of everything (`Calibrator`'s answer)
#   could have said: any value between the two sorted values that bracket the percentile's
#   position (in a sparse tail those two can be far apart). That is the precision that matters:
#   the range is extended to include 0 before the scale is set, so the scale is at least the
#   largest magnitude over 255, and an error of 0.5 % of it moves the range by about one step.
#
# The batches may drift (later ones larger than the first), be one-sided, or be constant, and
# `p` is anything in `(50, 100]`: for `p = 90` and 100,000 values, 10,000 of them lie beyond
# each percentile. How you summarise the stream is yours to decide.

# %% nbgrader={"grade": false, "grade_id": "streaming-calibrator", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
class StreamingCalibrator:
    """The (100 - p)-th and p-th percentiles of every value observed, kept in about `memory`
    numbers whatever the number of values; each end within 0.5 % of the largest magnitude."""

    def __init__(self, percentile: float = 99.99, memory: int = 4096):
        if isinstance(percentile, bool) or not isinstance(percentile, int | float) or not 50 < percentile <= 100:
            raise ValueError(f"percentile must be a number in (50, 100], got {percentile!r}")
        if isinstance(memory, bool) or not isinstance(memory, int) or memory < 512:
            raise ValueError(f"memory must be an int >= 512 (numbers kept), got {memory!r}")
        self.percentile, self.memory = float(percentile), memory
        self.count = 0  # values observed so far

    def observe(self, x) -> None:
        """Take one batch into the summary."""
        values = _as_float_array(x, "StreamingCalibrator.observe").ravel()
        ### BEGIN SOLUTION
        # A histogram of about `memory` counts on [-reach, reach), anchored at 0; when a value
        # falls outside, adjacent bins merge in pairs and the reach doubles, so the bin width
        # stays below 4 * max|value| / bins.
        if self.count == 0:
            self.reach = float(np.abs(values).max()) or 1.0
            self.counts = np.zeros(self.memory // 4 * 4, np.int64)
        bins = len(self.counts)
        while np.abs(values).max() >= self.reach:
            merged = self.counts.reshape(-1, 2).sum(axis=1)
            self.counts = np.concatenate([np.zeros(bins // 4, np.int64), merged, np.zeros(bins // 4, np.int64)])
            self.reach *= 2.0
        index = ((values + self.reach) / (2.0 * self.reach / bins)).astype(np.int64)
        self.counts += np.bincount(np.minimum(index, bins - 1), minlength=bins)
        ### END SOLUTION
        self.count += values.size

    def range(self) -> tuple[float, float]:
        """(lo, hi): the (100 - p)-th and p-th percentiles of all values observed."""
        if self.count == 0:
            raise ValueError("StreamingCalibrator.range(): no batch observed yet")
        ### BEGIN SOLUTION
        below = np.cumsum(self.counts)  # values in bins 0..i

        def quantile(fraction: float) -> float:
            i = int(np.searchsorted(below, fraction * (self.count - 1), side="right"))  # np.percentile's position
            return float(-self.reach + (i + 0.5) * 2.0 * self.reach / len(self.counts))  # the bin's centre

        return quantile(1.0 - self.percentile / 100.0), quantile(self.percentile / 100.0)
        ### END SOLUTION


# %% [markdown]
# ### Unit test: the streaming calibrator
# Each case compares the streamed range with the exact percentiles of everything observed, and
# checks what the calibrator keeps after 200,000 values.

# %% nbgrader={"grade": true, "grade_id": "test-streaming-calibrator", "locked": true, "points": 15, "schema_version": 3, "solution": false, "task": false}
def test_unit_streaming_calibrator():
    from tinytorch.testing import kept_bytes, raises
    rng = np.random.default_rng(11)
    raises(ValueError, lambda: StreamingCalibrator().range(), "no batch")
    # Specific first: a batch 100x wider than the first must move the range (p = 100: min and max).
    cal = StreamingCalibrator(100.0, memory=1024)
    cal.observe(np.linspace(-1.0, 1.0, 1001))
    wider = "values beyond the range the first batch set must be counted where they are: the summary has to grow"
    try:
        cal.observe(np.linspace(-100.0, 100.0, 1001))
    except (ValueError, IndexError) as error:
        raise AssertionError(f"observe raised {type(error).__name__} ({error}) on a batch in [-100, 100] after "
                             f"one in [-1, 1]: {wider}") from None
    lo, hi = cal.range()
    assert lo <= hi, f"p = 100: range() = ({lo:.4g}, {hi:.4g}), lo above hi; lo is the (100 - p)-th percentile, hi the p-th"
    assert hi >= 99.5 and lo <= -99.5, \
        (f"p = 100 after a batch in [-1, 1], then one in [-100, 100]: range() = ({lo:.4g}, {hi:.4g}), expected "
         f"about (-100, 100): the range stays where the first batch set it; {wider}")
    cases = {
        "100 normal batches, p = 99.99": (99.99, [rng.normal(size=1000) for _ in range(100)]),
        "100 normal batches, p = 90": (90.0, [rng.normal(size=1000) for _ in range(100)]),
        "drifting: each batch wider than the last": (99.0, [rng.normal(size=500) * 1.05 ** i for i in range(100)]),
        "one-sided, far from 0": (99.9, [rng.uniform(100, 101, size=(20, 50)) for _ in range(50)]),
        "a first batch of zeros, then ReLU outputs": (99.99, [np.zeros(300)] + [np.maximum(rng.normal(size=700), 0) for _ in range(40)]),
        "heavy tails (Student t, 2 degrees of freedom)": (99.9, [rng.standard_t(2, size=2000) for _ in range(50)]),
        "a constant": (95.0, [np.full(100, -2.5) for _ in range(3)]),
        "p = 100 is min and max": (100.0, [rng.normal(size=1000) * 3 for _ in range(20)]),
    }
    for what, (p, batches) in cases.items():
        cal = StreamingCalibrator(p, memory=4096)
        for b in batches:
            cal.observe(Tensor(b) if b.ndim == 2 else b)
        everything = np.sort(np.concatenate([b.ravel() for b in batches]))
        position = np.array([100 - p, p]) / 100 * (everything.size - 1)  # np.percentile's position
        below, above = everything[np.floor(position).astype(int)], everything[np.ceil(position).astype(int)]
        got = np.array(cal.range(), dtype=np.float64)
        off = np.maximum(below - got, 0) + np.maximum(got - above, 0)  # distance to the bracket
        allowed = 0.005 * np.abs(everything).max()
        worst = int(np.argmax(off))
        assert np.all(off <= allowed) or got[0] <= got[1], \
            (f"{what}: range() = ({got[0]:.5g}, {got[1]:.5g}): lo above hi; lo is the (100 - p)-th percentile, "
             f"the lower end, hi the p-th")
        assert np.all(off <= allowed) or everything[0] - allowed <= got[0] and got[1] <= everything[-1] + allowed, \
            (f"{what}: range() = ({got[0]:.5g}, {got[1]:.5g}) reaches beyond every observed value "
             f"([{everything[0]:.5g}, {everything[-1]:.5g}]): a percentile lies among the values, so it comes from "
             f"a part of the summary that holds some (an empty bin? a position that is not p / 100 of the values?)")
        assert np.all(off <= allowed), \
            (f"{what}: {'hi' if worst else 'lo'} = {got[worst]:.5g}, but the {[100 - p, p][worst]:g}-th percentile "
             f"of all {everything.size:,} values lies in [{below[worst]:.5g}, {above[worst]:.5g}]; allowed error "
             f"{allowed:.3g} (0.5 % of the largest magnitude)")
        assert cal.count == everything.size, f"{what}: count {cal.count}, expected {everything.size}"
    cal = StreamingCalibrator(99.0, memory=1024)
    kept = []
    for i in range(200):
        cal.observe(rng.normal(size=1000) * (1 + i / 100))
        if i in (9, 199):
            kept.append(kept_bytes(cal))
    assert kept[1] <= 16 * 1024 + 1024, \
        (f"after 200,000 values the calibrator keeps {kept[1]:,} bytes of numbers (after 10,000: {kept[0]:,}); "
         f"memory=1024 allows about {16 * 1024 + 1024:,}: it keeps more than `memory` numbers")
    print("StreamingCalibrator: OK")


if __name__ == "__main__":
    test_unit_streaming_calibrator()

# %% [markdown]
# ## 6. Integer arithmetic: a quantized matrix product
#
# A `Linear` computes `y = x @ W + b`, `x` of shape `(N, K)`, `W` of shape `(K, M)`. Quantize
# the input affine with `(s_x, z_x)` and the weights symmetric per output column with
# `s_w` of shape `(1, M)` (zero point 0):
#
# `x ≈ s_x · (x_q − z_x)`,   `W ≈ W_q · s_w`
#
# Substitute and pull the scales out of the sum over `k` (they do not depend on `k`):
#
# `y[n, m] ≈ s_x · s_w[m] · Σ_k (x_q[n, k] − z_x) · W_q[k, m] + b[m]`
#
# The sum is **pure integer arithmetic**: an int8 by int8 matrix product, accumulated in
# **int32**, then one float multiply per output (the **rescale**) and the bias.
#
# **Why int32 accumulation.** One product is at most 255 · 127 = 32,385 in magnitude: already
# too big for int8, fine for int16. A sum of `K = 64` of them reaches 2 million: too big for
# int16 (32,767). int32 holds sums of about 66,000 such products, far beyond any layer here.
# (Real int8 kernels keep the operands int8 and expand `Σ (x_q − z_x) W_q` into
# `Σ x_q W_q − z_x Σ_k W_q`, with the column sums of `W_q` precomputed; NumPy has no int8
# kernel, so we subtract `z_x` in int32 first.)
#
# **The cost of a matmul in integers.** Same count: `2·N·K·M` operations. In hardware, int8
# multiply-adds are 4× denser in a SIMD register than float32. In NumPy, `@` on int32 arrays
# does *not* go to BLAS (BLAS is floating point only); it runs NumPy's own generic loop. Section
# 9 measures it.
#
# `QuantizedLinear` holds `weight_q` (int8, `(K, M)`), `weight_scale` (float32, `(1, M)`),
# `bias` (float32 `(M,)` or None) and the input parameters `input_scale`, `input_zero_point`
# (from a calibrator: static), or None for both (dynamic: quantize each batch with its own
# range). `from_linear(linear, calibrator=None, per_channel=True)` builds it from a trained
# `Linear`. Its output goes through `Tensor._op("quantized_linear", …)`, declared
# non-differentiable: a quantized model is for inference; training through it needs
# quantization-aware training, which is another story.

# %% nbgrader={"grade": false, "grade_id": "quantized-linear", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
register_non_differentiable("quantized_linear")


class QuantizedLinear(Module):
    """Inference-only Linear with int8 weights (symmetric, per output channel or per tensor),
    int8 inputs (static: calibrated scale and zero point; dynamic: None, range of each batch),
    int32 accumulation and one float rescale (section 6)."""

    def __init__(self, weight_q: np.ndarray, weight_scale, bias=None, input_scale=None, input_zero_point=None):
        super().__init__()
        if not isinstance(weight_q, np.ndarray) or weight_q.dtype != np.int8 or weight_q.ndim != 2:
            raise TypeError(f"QuantizedLinear needs a 2-D int8 weight_q, got {getattr(weight_q, 'dtype', type(weight_q))} "
                            f"of shape {np.shape(weight_q)}")
        if (input_scale is None) != (input_zero_point is None):
            raise ValueError("give both input_scale and input_zero_point (static) or neither (dynamic)")
        if input_scale is not None and not input_scale > 0:
            raise ValueError(f"input_scale must be positive, got {input_scale!r}")
        self.in_features, self.out_features = weight_q.shape
        self.weight_q = weight_q
        weight_scale = np.asarray(weight_scale, np.float32)
        if weight_scale.shape not in ((), (1,), (1, 1), (self.out_features,), (1, self.out_features)):
            raise ValueError(f"QuantizedLinear: weight_scale must be one number or one per output column "
                             f"({self.out_features}), got shape {weight_scale.shape}")
        if not np.all(np.isfinite(weight_scale) & (weight_scale > 0)):
            raise ValueError(f"QuantizedLinear: weight_scale must be positive and finite, got {weight_scale}")
        self.weight_scale = np.broadcast_to(weight_scale.reshape(1, -1), (1, self.out_features)).copy()
        if bias is not None and np.size(bias) != self.out_features:
            raise ValueError(f"QuantizedLinear: bias must have {self.out_features} values (one per output column), "
                             f"got shape {np.shape(bias)}")
        self.bias = None if bias is None else np.asarray(bias, np.float32).reshape(self.out_features)
        self.input_scale = None if input_scale is None else float(input_scale)
        self.input_zero_point = None if input_zero_point is None else int(input_zero_point)

    @classmethod
    def from_linear(cls, linear: Linear, calibrator: Calibrator | None = None, per_channel: bool = True):
        """Quantize a trained Linear: weights symmetric int8 (one scale per output column when
        `per_channel`), inputs with the calibrator's affine range (None: dynamic)."""
        if not isinstance(linear, Linear):
            raise TypeError(f"QuantizedLinear.from_linear needs a Linear, got {type(linear).__name__}")
        input_scale = input_zero_point = None
        if calibrator is not None:
            input_scale, input_zero_point = calibrator.qparams(symmetric=False)
        bias = None if linear.bias is None else linear.bias.data
        ### BEGIN SOLUTION
        weight_q, weight_scale, _ = quantize_int8(linear.weight.data, symmetric=True,
                                                  axis=1 if per_channel else None)
        ### END SOLUTION
        return cls(weight_q, weight_scale, bias, input_scale, input_zero_point)

    def forward(self, x) -> Tensor:
        x = Tensor._lift(x)
        if x.ndim == 0 or x.shape[-1] != self.in_features:
            raise ValueError(f"{self!r} expects inputs with last dimension {self.in_features}, got shape {x.shape}")
        data = _as_float_array(x, "QuantizedLinear")  # float64; NaN or inf is an error, never an int8 code
        if self.input_scale is None:  # dynamic: this batch's own range
            _, scale, zero_point = quantize_int8(data)
        else:
            scale, zero_point = self.input_scale, self.input_zero_point
        # int8 input codes, int32 accumulation, rescale, bias: set `out` (float32, (..., M)).
        ### BEGIN SOLUTION
        x_q = quantize(data, scale, zero_point)
        acc = (x_q.astype(np.int32) - np.int32(zero_point)) @ self.weight_q.astype(np.int32)
        out = acc * (scale * self.weight_scale[0])
        if self.bias is not None:
            out = out + self.bias
        out = out.astype(np.float32)
        ### END SOLUTION
        return Tensor._op("quantized_linear", out, x)

    @property
    def nbytes(self) -> int:
        """Bytes of every array this layer stores (given)."""
        arrays = [self.weight_q, self.weight_scale] + ([] if self.bias is None else [self.bias])
        return sum(a.nbytes for a in arrays) + (0 if self.input_scale is None else 8 + 4)

    def extra_repr(self) -> str:
        mode = "dynamic" if self.input_scale is None else f"input_scale={self.input_scale:.4g}, zero_point={self.input_zero_point}"
        return f"in_features={self.in_features}, out_features={self.out_features}, {mode}"


# %% [markdown]
# ### Unit test: QuantizedLinear
# The output must equal the float computation on the *dequantized* operands (that is what the
# integer arithmetic computes, exactly), stay close to the float layer, use the calibrated
# range with clipping, and accumulate large sums without overflow.

# %% nbgrader={"grade": true, "grade_id": "test-quantized-linear", "locked": true, "points": 15, "schema_version": 3, "solution": false, "task": false}
def test_unit_quantized_linear():
    from tinytorch.testing import close, raises
    rng = np.random.default_rng(4)
    linear = Linear(6, 4, rng=5)
    linear.weight.data[:] *= np.array([0.01, 0.1, 1.0, 10.0], np.float32)  # very different columns
    linear.bias.data[:] = [0.5, -1.0, 2.0, 0.0]
    x = rng.normal(size=(7, 6)).astype(np.float32)
    cal = Calibrator()
    cal.observe(x)
    layer = QuantizedLinear.from_linear(linear, cal)
    assert layer.weight_q.dtype == np.int8 and layer.weight_q.shape == (6, 4), f"weight_q {layer.weight_q.dtype} {layer.weight_q.shape}"
    w_q, w_scale, _ = quantize_int8(linear.weight.data, symmetric=True, axis=1)
    bad = np.flatnonzero((layer.weight_q != w_q).any(axis=0))
    assert bad.size == 0, (f"weight_q differs from the symmetric per-output-column codes in columns {bad.tolist()}: "
                           "weights are quantized symmetric (zero point 0), one scale per output column")
    w_hat = dequantize_int8(w_q, w_scale, 0)
    s, z = cal.qparams()
    x_hat = dequantize_int8(quantize(x.astype(np.float64), s, z), s, z)
    out = layer(Tensor(x))
    assert isinstance(out, Tensor) and out.dtype == np.float32 and out.shape == (7, 4), f"got {type(out)} {out.shape}"
    zero_in = layer(Tensor(np.zeros((1, 6), np.float32))).data
    worst = int(np.argmax(np.abs(zero_in[0] - linear.bias.data)))
    assert np.allclose(zero_in, linear.bias.data, atol=1e-6), \
        (f"a zero input must give exactly the bias (x = 0 is the code q = z, so q - z = 0 and the integer sum is 0): "
         f"output {worst} is {zero_in[0, worst]:.4f}, bias {linear.bias.data[worst]:.4f}. Is the zero point subtracted "
         f"(z = {z})? Is the bias added after the rescale, in float?")
    big = Linear(1024, 2, bias=False, rng=6)
    big.weight.data[:] = np.array([1.0, -1.0], np.float32)
    ones = Calibrator()
    ones.observe(np.array([0.0, 1.0]))
    sums = QuantizedLinear.from_linear(big, ones)(Tensor(np.ones((1, 1024), np.float32)))
    ratio = float(sums.data[0, 0]) / 1024
    assert abs(ratio - 1) < 1e-3 and abs(float(sums.data[0, 1]) + 1024) < 1.1, \
        (f"K = 1024 inputs of 1.0 (codes 127 with z = -128: q - z = 255) against weights +1 and -1 (codes +-127, "
         f"s_w = 1/127): the integer sums +-1024 * 255 * 127, rescaled by s_x * s_w = (1/255) * (1/127), give +-1024; got "
         f"[{', '.join(f'{v:.6g}' for v in sums.data[0])}]"
         + (": the sum wrapped around, accumulate in int32 (1024 * 255 * 127 is far beyond int16)" if abs(ratio) < 0.99
            else f": {ratio:.4g} times too large, does the rescale multiply by both s_x and s_w?" if abs(ratio) > 1.01
            else ""))
    bottom = layer(Tensor(np.full((1, 6), x.min(), np.float32)))
    close(bottom, np.full((1, 6), (QMIN - z) * s) @ w_hat + linear.bias.data, atol=1e-4,
          what="an input at the bottom of the calibrated range is the input code -128: inputs are quantized affine "
               "(-128..127) with the calibrator's s_x and z_x")
    close(out, x_hat.astype(np.float64) @ w_hat + linear.bias.data, atol=1e-4,
          what="static QuantizedLinear = dequantized input @ dequantized weight + bias (input codes affine, -128..127, "
               "with the calibrated s_x and z_x; weight codes symmetric, one scale per output column)")
    close(out, linear(Tensor(x)), atol=0.15, rtol=0.02, what="quantized output close to the float Linear")
    dynamic = QuantizedLinear.from_linear(linear)
    s_dyn, z_dyn = quantization_params(np.float64(2 * x.min()), np.float64(2 * x.max()))
    x_hat2 = dequantize_int8(quantize(2.0 * x, s_dyn, z_dyn), s_dyn, z_dyn)
    close(dynamic(Tensor(2 * x)), x_hat2.astype(np.float64) @ w_hat + linear.bias.data, atol=1e-4,
          what="dynamic mode quantizes each batch with its own range")
    clipped = layer(Tensor(np.full((1, 6), 100.0, np.float32)))
    close(clipped, np.full((1, 6), (QMAX - z) * s) @ w_hat + linear.bias.data, atol=1e-3,
          what="static mode clips inputs above the calibrated range")
    per_tensor = QuantizedLinear.from_linear(linear, cal, per_channel=False)
    assert np.all(per_tensor.weight_scale == per_tensor.weight_scale[0, 0]), "per_channel=False: one weight scale"
    err_t = np.abs(per_tensor(Tensor(x)).data[:, 0] - linear(Tensor(x)).data[:, 0]).max()
    err_c = np.abs(out.data[:, 0] - linear(Tensor(x)).data[:, 0]).max()
    assert err_c < err_t, f"column 0 (small weights): per-channel error {err_c:.3g} should beat per-tensor {err_t:.3g}"
    close(layer(Tensor(x[None])), out.data[None], what="inputs with leading batch axes (1, 7, 6)")

    x_grad = Tensor(x, requires_grad=True)
    assert not layer(x_grad).requires_grad, "quantized_linear is inference only: no graph"
    raises(ValueError, lambda: layer(Tensor(np.ones((2, 5)))), "last dimension 6")
    raises(TypeError, lambda: QuantizedLinear(np.ones((2, 2)), 1.0), "int8")
    print("QuantizedLinear: OK")


if __name__ == "__main__":
    test_unit_quantized_linear()

# %% [markdown]
# ## 7. `quantize_model`: convert a trained model
#
# `quantize_model(model, calibration_data, method="minmax", percentile=99.99, per_channel=True)`
# returns a **copy** of the model with every `Linear` replaced by a `QuantizedLinear`; the float
# model is not changed (you will want it to compare against). Other layers (`Conv2d`, ReLU,
# batch norm) stay float. The contract:
#
# - the float model comes back exactly as it was (weights, training mode, no wrappers left);
# - each `QuantizedLinear` gets static input parameters from the inputs *its* `Linear` saw on all
#   calibration batches (with `method` and `percentile`), and per-channel weights when
#   `per_channel`;
# - calibration runs the model as in inference: evaluation mode (dropout off, batch norm on its
#   running statistics), no graph.
#
# The difficulty is that a `Linear`'s inputs exist only inside the model's forward pass. Three
# given pieces help. `_Observed(linear, calibrator)` is a layer that shows its input to a
# `Calibrator` and then runs the `Linear`. `_swap_modules(root, replace)` walks every module's attributes,
# including lists (`Sequential.layers`, a GPT's `blocks`) and dicts, and puts `replace(child)`
# wherever that returns a module. A `Linear` used in two places (tied) is one object and is
# swapped everywhere. The model itself is held in a one-layer `Sequential` during the swaps,
# so a bare `Linear` works too. `_batches(calibration_data)` (given) turns one array or
# Tensor, a list of them, or a `DataLoader` (it keeps each batch's inputs, not the labels) into
# a list of batches, and names anything else with a TypeError.
#
# The result is in evaluation mode and holds no parameters for the quantized layers: int8
# arrays are not trained.

# %% nbgrader={"grade": false, "grade_id": "quantize-model", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
class _Observed(Module):
    """A Linear with a Calibrator watching its inputs (given)."""

    def __init__(self, linear: Linear, calibrator: Calibrator):
        super().__init__()
        self.linear, self.calibrator = linear, calibrator

    def forward(self, x):
        self.calibrator.observe(x)
        return self.linear(x)


def _swap_modules(root: Module, replace) -> None:
    """Put `replace(child)` in place of every sub-module child (attributes, lists, dicts) for
    which it returns a Module (given). Each replacement is made once per distinct child."""
    done: dict[int, Module] = {}

    def swap(child):
        if isinstance(child, Module) and id(child) not in done:
            done[id(child)] = replace(child)
        return done.get(id(child)) if isinstance(child, Module) else None

    for _, module in root.named_modules():
        for attr, value in list(vars(module).items()):
            if isinstance(value, list):
                value[:] = [v if swap(v) is None else swap(v) for v in value]
            elif isinstance(value, dict):
                value.update({k: swap(v) for k, v in value.items() if swap(v) is not None})
            elif isinstance(value, tuple) and any(swap(v) is not None for v in value):
                raise TypeError(f"{type(module).__name__}.{attr} is a tuple of layers; use a list so they can be replaced")
            elif swap(value) is not None:
                setattr(module, attr, swap(value))


def _batches(calibration_data) -> list:
    """The calibration batches as a list (given): one array or Tensor, a list/tuple of them, or an
    iterable of batches such as a DataLoader (of a batch tuple `(inputs, labels, ...)` only the
    inputs are used)."""
    def inputs_of(batch):
        return batch[0] if isinstance(batch, tuple) and batch and isinstance(batch[0], Tensor | np.ndarray) else batch

    data = calibration_data
    if isinstance(data, Tensor | np.ndarray):
        batches = [data]
    elif isinstance(data, list | tuple):
        items = [inputs_of(b) for b in data]
        batches = items if items and all(isinstance(b, Tensor | np.ndarray) for b in items) else [data]
    elif hasattr(data, "__iter__") and not isinstance(data, str | bytes | dict | set):
        batches = [inputs_of(b) for b in data]  # a DataLoader or another iterable of batches
    else:
        raise TypeError(f"quantize_model: calibration_data must be an array or Tensor of inputs, a list of them "
                        f"or a DataLoader, got {type(data).__name__}")
    out = []
    for i, batch in enumerate(batches):
        if not isinstance(batch, Tensor):
            try:
                batch = np.asarray(batch)
            except ValueError as exc:
                raise TypeError(f"quantize_model: calibration batch {i} is not an array of numbers: {exc}") from None
            if not (np.issubdtype(batch.dtype, np.number) or batch.dtype == bool):
                raise TypeError(f"quantize_model: calibration batch {i} must hold numbers, got "
                                f"{type(batches[i]).__name__} (dtype {batch.dtype})")
        if batch.size == 0:
            raise ValueError(f"quantize_model: calibration batch {i} is empty; give at least one sample")
        out.append(batch)
    if not out:
        raise ValueError("quantize_model: calibration_data is empty; give at least one sample batch")
    return out


def quantize_model(model: Module, calibration_data, method: str = "minmax", percentile: float = 99.99,
                   per_channel: bool = True) -> Module:
    """A copy of `model` with every Linear replaced by a calibrated QuantizedLinear (section 7).
    `model` is not changed. The copy is returned in evaluation mode."""
    if not isinstance(model, Module):
        raise TypeError(f"quantize_model needs a Module, got {type(model).__name__}")
    Calibrator(method, percentile)  # check the arguments before any work
    batches = _batches(calibration_data)
    holder = Sequential(copy.deepcopy(model))
    if not any(isinstance(m, Linear) for m in holder.modules()):
        raise ValueError(f"quantize_model: {type(model).__name__} has no Linear layer to quantize")
    ### BEGIN SOLUTION
    _swap_modules(holder, lambda m: _Observed(m, Calibrator(method, percentile)) if isinstance(m, Linear) else None)
    holder.eval()
    with no_grad():
        for batch in batches:
            holder(batch)
    _swap_modules(holder, lambda m: QuantizedLinear.from_linear(m.linear, m.calibrator, per_channel)
                  if isinstance(m, _Observed) else None)
    ### END SOLUTION
    return holder.layers[0].eval()  # eval() also for a bare Linear's new QuantizedLinear


def model_nbytes(model: Module) -> int:
    """Bytes of every parameter and every quantized layer's arrays (given)."""
    return (sum(p.data.nbytes for p in model.parameters())
            + sum(m.nbytes for m in model.modules() if isinstance(m, QuantizedLinear)))


# %% [markdown]
# ### Unit test: quantize_model
# A small model with nested layers and a `Dropout`: every `Linear` becomes a `QuantizedLinear`
# (a tied one stays tied), the float model is untouched, the outputs stay close, and the input
# ranges are calibrated on the data given, in evaluation mode (a Dropout left on in calibration
# would double the ranges of the layers after it).

# %% nbgrader={"grade": true, "grade_id": "test-quantize-model", "locked": true, "points": 15, "schema_version": 3, "solution": false, "task": false}
def test_unit_quantize_model():
    from tinytorch.activations import ReLU
    from tinytorch.layers import Dropout
    from tinytorch.testing import close, raises
    rng = np.random.default_rng(7)
    shared = Linear(8, 8, rng=8)
    model = Sequential(Linear(5, 8, rng=9), ReLU(), Dropout(0.5, rng=0), Sequential(shared, ReLU(), shared),
                       Linear(8, 3, rng=10))
    before = {name: p.data.copy() for name, p in model.named_parameters()}
    x = rng.normal(size=(32, 5)).astype(np.float32)
    quantized = quantize_model(model, [x[:16], Tensor(x[16:])])
    kinds = [type(m).__name__ for m in quantized.modules()]
    assert kinds.count("QuantizedLinear") == 3 and "Linear" not in kinds and "_Observed" not in kinds, \
        f"every Linear (3 distinct, one used twice) must become a QuantizedLinear: got {kinds}"
    float_kinds = [type(m).__name__ for m in (model.layers[0], shared, model.layers[4])]
    assert float_kinds == ["Linear"] * 3, \
        f"quantize_model works on a copy: the float model's own layers must stay Linear, got {float_kinds}"
    assert all(np.array_equal(p.data, before[name]) for name, p in model.named_parameters()), "the float model's weights changed"
    assert not quantized.training and model.training, "the copy is in eval mode; the float model's mode is unchanged"
    inner = quantized.layers[3].layers
    assert inner[0] is inner[2], "a tied Linear must stay one (quantized) layer"
    first = quantized.layers[0]
    assert first.input_scale is not None, \
        ("the first QuantizedLinear has no input_scale (dynamic mode): quantize_model gives each one static input "
         "parameters from the Calibrator that watched its Linear")
    own = (x.max() - x.min()) / 255
    assert abs(first.input_scale - own) <= 1e-5 * own, \
        (f"first layer's input scale {first.input_scale:.6g}, expected {own:.6g} from the min/max of its own inputs over "
         "all calibration batches: "
         + ("narrower: did every calibration batch run through the model?" if first.input_scale < own else
            "wider: one Calibrator per Linear (a shared one mixes the ranges of different layers)"))
    hidden = np.maximum(x @ model.layers[0].weight.data + model.layers[0].bias.data, 0)
    close(inner[0].input_scale, (hidden.max() - 0) / 255, rtol=1e-3,
          what="second layer calibrated on the float ReLU outputs, with the Dropout off (evaluation mode)")
    float_out, q_out = model.eval()(Tensor(x)).data, quantized(Tensor(x)).data
    close(q_out, float_out, atol=0.05 * np.abs(float_out).max(), what="quantized model output close to float")
    assert not np.array_equal(q_out, float_out), "the quantized model must actually use int8 (outputs identical to float)"
    want = sum(m.in_features * m.out_features + 8 * m.out_features + 12 for m in (model.layers[0], shared, model.layers[4]))
    assert model_nbytes(quantized) == want, \
        f"quantized bytes: got {model_nbytes(quantized)}, expected {want} (1 per weight, 4 + 4 per output for scale and bias, 12 for the input scale and zero point; a tied layer once)"
    pct = quantize_model(model, x, method="percentile", percentile=90)
    assert pct.layers[0].input_scale < first.input_scale * 0.9, "percentile 90 must calibrate a narrower range than min/max"
    one_scale = quantize_model(model, x, per_channel=False)
    assert all(np.all(m.weight_scale == m.weight_scale[0, 0]) for m in one_scale.modules() if isinstance(m, QuantizedLinear)), \
        "per_channel=False must reach every QuantizedLinear: one weight scale per layer"
    single = quantize_model(Linear(5, 2, rng=11), x)
    assert isinstance(single, QuantizedLinear), f"a bare Linear becomes a QuantizedLinear, got {type(single).__name__}"
    raises(ValueError, lambda: quantize_model(Sequential(ReLU()), x), "no Linear")
    raises(ValueError, lambda: quantize_model(model, x, method="kl"), "method")
    raises(ValueError, lambda: quantize_model(model, np.zeros((0, 5))), "empty")
    raises(TypeError, lambda: quantize_model(model, None), "calibration_data", "NoneType")
    print("quantize_model: OK")


if __name__ == "__main__":
    test_unit_quantize_model()

# %% [markdown]
# ## 8. Measured on real digits: bytes and accuracy
#
# Train the MLP of milestone M03 (64 → 128 → 64 → 10, ReLU) on TinyDigits for 8 epochs,
# then quantize it with 256 training images as calibration data (closed division: no
# retraining, no test data), and compare on the 360 held-out test images. Everything below is
# measured in this run. The training uses the `DataLoader` of module 08 and the CNN below the
# `Conv2d` of module 09: complete both before this section (in course order they are).

# %% nbgrader={"grade": false, "grade_id": "digits-demo", "locked": false, "schema_version": 3, "solution": false, "task": false}
def _needs(name: str, number: str, title: str):
    """`tinytorch.<name>`, or a clear error naming the module to complete first (given)."""
    import importlib

    try:
        return importlib.import_module(f"tinytorch.{name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"tinytorch.{name}":
            raise
        raise RuntimeError(f"module 15's digits models need tinytorch.{name} from module {number} ({title}): "
                           f"complete it first with `tito module complete {number}`") from exc


def train_on_digits(model: Module, images: bool = False, epochs: int = 8, seed: int = 0):
    """Train `model` on TinyDigits with Adam (batch 32, lr 3e-3); returns (model in eval mode,
    x_train, y_train, x_test, y_test), images as (N, 1, 8, 8) when `images`, else flattened to
    64 values (given)."""
    from tinytorch.datasets import load_tinydigits
    from tinytorch.losses import CrossEntropyLoss
    from tinytorch.optimizers import Adam

    dataloader = _needs("dataloader", "08", "DataLoader")
    DataLoader, TensorDataset = dataloader.DataLoader, dataloader.TensorDataset
    x_train, y_train, x_test, y_test = load_tinydigits()
    shape = (1, 8, 8) if images else (64,)
    x_train, x_test = x_train.reshape(-1, *shape), x_test.reshape(-1, *shape)
    loss_fn, optimizer = CrossEntropyLoss(), Adam(model.parameters(), lr=3e-3)
    loader = DataLoader(TensorDataset(x_train, y_train), batch_size=32, shuffle=True, seed=seed)
    for _ in range(epochs):
        for xb, yb in loader:
            loss = loss_fn(model(xb), yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model.eval(), x_train, y_train, x_test, y_test


def digits_mlp(seed: int = 0) -> Sequential:
    """Milestone M03's MLP, 64 -> 128 -> 64 -> 10 with ReLU (given)."""
    from tinytorch.activations import ReLU
    return Sequential(Linear(64, 128, rng=seed), ReLU(), Linear(128, 64, rng=seed + 1), ReLU(),
                      Linear(64, 10, rng=seed + 2))


def accuracy_of(model: Module, x: np.ndarray, y: np.ndarray) -> float:
    """Fraction of `x` whose argmax prediction is `y` (given)."""
    with no_grad():
        return float((model(Tensor(x)).data.argmax(axis=-1) == y).mean())


if __name__ == "__main__":
    mlp, digits_x, digits_y, test_x, test_y = train_on_digits(digits_mlp())
    calibration = digits_x[:256]
    mlp_q = quantize_model(mlp, calibration)
    float_acc, int8_acc = accuracy_of(mlp, test_x, test_y), accuracy_of(mlp_q, test_x, test_y)
    weight_float = sum(m.weight.data.nbytes for m in mlp.modules() if isinstance(m, Linear))
    weight_int8 = sum(m.weight_q.nbytes + m.weight_scale.nbytes for m in mlp_q.modules() if isinstance(m, QuantizedLinear))
    print(f"weight matrices: {weight_float:,} B float32 -> {weight_int8:,} B int8 + scales ({weight_float / weight_int8:.2f}x smaller)")
    print(f"whole model:     {model_nbytes(mlp):,} B -> {model_nbytes(mlp_q):,} B ({model_nbytes(mlp) / model_nbytes(mlp_q):.2f}x; "
          f"biases stay float32)")
    print(f"test accuracy:   float {float_acc:.2%}, int8 {int8_acc:.2%} ({int8_acc / float_acc:.2%} of float; "
          f"{int(np.sum(mlp(Tensor(test_x)).data.argmax(1) != mlp_q(Tensor(test_x)).data.argmax(1)))} of {len(test_y)} predictions differ)")
    for label, kwargs in (("per-tensor weights", {"per_channel": False}), ("percentile 99.9", {"method": "percentile", "percentile": 99.9}),
                          ("percentile 99.0", {"method": "percentile", "percentile": 99.0})):
        variant = quantize_model(mlp, calibration, **kwargs)
        print(f"  {label:18s}: int8 test accuracy {accuracy_of(variant, test_x, test_y):.2%}")
    for name, module in mlp.named_modules():
        if isinstance(module, Linear):
            w = module.weight.data.astype(np.float64)
            errors = [np.linalg.norm(dequantize_int8(*quantize_int8(w, symmetric=True, axis=axis)) - w) / np.linalg.norm(w)
                      for axis in (None, 1)]
            print(f"  weight {name:8s} {str(w.shape):10s}: relative error per tensor {errors[0]:.3%}, per channel {errors[1]:.3%}")

# %% [markdown]
# Read the numbers you got. The weight matrices shrink by a bit less than 4× (each output
# column carries one float32 scale), the whole model by less (biases stay float32: real
# toolchains store them as int32 in units of `s_x · s_w`). The accuracy should match the float
# model's to within a prediction or two: int8 rounding perturbs each weight by at most half a
# step, far less than the margin by which a trained network separates most digits.
#
# Per-channel has the smaller weight error on every layer, but on this small, well-behaved MLP
# the accuracy difference is usually nothing, and so is the percentile's: the pixels and
# hidden activations have no rare huge values to clip, and 255 steps are already fine enough.
# That is also a result. Per-channel earns its keep on layers whose output channels have very
# different ranges (section 4), percentiles on heavy-tailed activations (section 5); neither is
# free of risk, so measure before you choose.
#
# **The CNN.** `quantize_model` quantizes only the `Linear` layers; a convolution stays float32
# (an int8 `Conv2d` is the same idea applied to the im2col matmul of module 09). Below, a small
# CNN: its two Linear layers shrink about 4×; the convolution's bytes do not change, which
# here costs little (its 8 filters hold 80 numbers) but dominates in a deep CNN whose weights
# are mostly convolutions.

# %% nbgrader={"grade": false, "grade_id": "cnn-demo", "locked": false, "schema_version": 3, "solution": false, "task": false}
if __name__ == "__main__":
    from tinytorch.activations import ReLU

    spatial = _needs("spatial", "09", "Spatial")
    Conv2d, Flatten, MaxPool2d = spatial.Conv2d, spatial.Flatten, spatial.MaxPool2d
    cnn = Sequential(Conv2d(1, 8, 3, padding=1, rng=0), ReLU(), MaxPool2d(2), Flatten(),
                     Linear(8 * 4 * 4, 64, rng=1), ReLU(), Linear(64, 10, rng=2))
    cnn, cnn_x, _, cnn_test_x, _ = train_on_digits(cnn, images=True, epochs=4)
    cnn_q = quantize_model(cnn, cnn_x[:256])
    linear_bytes = sum(p.data.nbytes for m in cnn.modules() if isinstance(m, Linear) for p in m.parameters())
    linear_q_bytes = sum(m.nbytes for m in cnn_q.modules() if isinstance(m, QuantizedLinear))
    cnn_acc, cnn_q_acc = accuracy_of(cnn, cnn_test_x, test_y), accuracy_of(cnn_q, cnn_test_x, test_y)
    print(f"CNN Linear layers: {linear_bytes:,} B -> {linear_q_bytes:,} B ({linear_bytes / linear_q_bytes:.2f}x); "
          f"whole model {model_nbytes(cnn):,} B -> {model_nbytes(cnn_q):,} B ({model_nbytes(cnn) / model_nbytes(cnn_q):.2f}x)")
    print(f"CNN test accuracy: float {cnn_acc:.2%}, int8 {cnn_q_acc:.2%} ({cnn_q_acc / cnn_acc:.2%} of float)")

# %% [markdown]
# ## 9. Is it faster? Measured, with one BLAS thread
#
# Time the float and the quantized model on the 360 test images, one BLAS thread
# (`threadpoolctl`), the two sides alternated 30 times so that both see the same machine state,
# and compare medians. Then time the core of each: a float32 matmul (BLAS) against an int32
# matmul of the same shape (NumPy's own loop).

# %% nbgrader={"grade": false, "grade_id": "latency-demo", "locked": false, "schema_version": 3, "solution": false, "task": false}
def interleaved_median_ms(fns: dict, repeats: int = 30) -> dict:
    """Median milliseconds of each zero-argument function, calling them in turn `repeats` times
    with one BLAS thread (given)."""
    import time

    from threadpoolctl import threadpool_limits

    times = {name: [] for name in fns}
    with threadpool_limits(1, user_api="blas"):
        for _ in range(repeats):
            for name, fn in fns.items():
                start = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - start)
    return {name: 1e3 * float(np.median(t)) for name, t in times.items()}


if __name__ == "__main__":
    test_tensor = Tensor(test_x)
    with no_grad():
        ms = interleaved_median_ms({"float32 model": lambda: mlp(test_tensor), "int8 model": lambda: mlp_q(test_tensor)})
    print(f"forward on {len(test_x)} images: float32 {ms['float32 model']:.3f} ms, int8 {ms['int8 model']:.3f} ms "
          f"(int8 / float = {ms['int8 model'] / ms['float32 model']:.1f}x)")
    a32 = np.random.default_rng(5).normal(size=(360, 128)).astype(np.float32)
    b32 = np.random.default_rng(6).normal(size=(128, 64)).astype(np.float32)
    a_int = np.random.default_rng(7).integers(-255, 256, size=(360, 128)).astype(np.int32)
    b_int = np.random.default_rng(8).integers(-127, 128, size=(128, 64)).astype(np.int32)
    a_f, b_f = a_int.astype(np.float32), b_int.astype(np.float32)
    exact = np.array_equal((a_f @ b_f).astype(np.int64), a_int.astype(np.int64) @ b_int)
    ms = interleaved_median_ms({"float32 @": lambda: a32 @ b32, "int32 @": lambda: a_int @ b_int,
                                "ints as float32 @": lambda: a_f @ b_f})
    print(f"(360, 128) @ (128, 64): float32 BLAS {ms['float32 @']:.3f} ms, int32 NumPy loop {ms['int32 @']:.3f} ms "
          f"({ms['int32 @'] / ms['float32 @']:.1f}x slower); the same integers through float32 BLAS "
          f"{ms['ints as float32 @']:.3f} ms, exact: {exact}")

# %% [markdown]
# **Why int8 is slower here, and why it is not slower in production.** The int8 model does the
# same number of multiply-adds as the float one, plus quantizing its inputs (a divide, a round
# and a clip per activation), widening to int32 and rescaling. Worse, `@` on integer arrays
# never reaches BLAS: NumPy runs a generic loop with no cache blocking and little SIMD, which
# the second measurement shows is many times slower than the float32 BLAS kernel. Nothing of
# int8's advantage is available to NumPy: no int8 × int8 → int32 instruction, no 4× denser
# registers. What we *do* get is real: the 4× smaller weights, measured from `nbytes`, and the
# accuracy, measured on held-out data. Speed comes when the same integer arithmetic runs on a
# kernel built for it (fbgemm, QNNPACK/XNNPACK, oneDNN on CPUs with VNNI, tensor cores on GPUs);
# a memory-bound layer then runs up to ~4× faster because it reads 4× fewer bytes. (The third
# timing shows a NumPy-only escape: integers up to 255 · 127 summed over `K = 128` terms stay
# below 2²⁴, where float32 is exact, so BLAS can do the integer product with no error; the
# speed is then float32's, not int8's.) The honest
# comparison for a NumPy framework is therefore: quantization here buys memory, not time.

# %% [markdown]
# ## Module test
# The whole path on real data: train the digits MLP, quantize it with 256 training images as
# calibration data, and check the bytes (from `nbytes`) and the held-out accuracy against the
# float model measured in the same run.

# %% nbgrader={"grade": true, "grade_id": "test-module", "locked": true, "points": 20, "schema_version": 3, "solution": false, "task": false}
def test_module():
    model, x_train, _, x_test, y_test = train_on_digits(digits_mlp(seed=1), epochs=6, seed=1)
    float_acc = accuracy_of(model, x_test, y_test)
    assert float_acc > 0.9, f"the float MLP should pass 90% on TinyDigits, got {float_acc:.1%}"
    before = model_nbytes(model)
    quantized = quantize_model(model, x_train[:256])
    assert all(type(m).__name__ == "QuantizedLinear" for m in quantized.layers[::2]), \
        f"every Linear of the MLP quantized: {[type(m).__name__ for m in quantized.layers]}"
    assert model_nbytes(model) == before, "quantize_model must not change the float model"
    weights = sum(m.weight_q.nbytes for m in quantized.layers[::2])
    assert weights * 4 == sum(m.weight.data.nbytes for m in model.layers[::2]), "int8 weights: one byte per float32 weight"
    ratio = before / model_nbytes(quantized)
    assert ratio > 3.5, f"the quantized MLP should be about 4x smaller, got {ratio:.2f}x"
    int8_acc = accuracy_of(quantized, x_test, y_test)
    assert int8_acc >= 0.99 * float_acc, f"int8 accuracy {int8_acc:.2%} below 99% of float {float_acc:.2%}"
    print(f"module 15: all tests passed (TinyDigits MLP: {ratio:.2f}x smaller, "
          f"accuracy float {float_acc:.1%} -> int8 {int8_acc:.1%})")


if __name__ == "__main__":
    test_module()

# %% [markdown]
# ## Reflection
# - A layer's activations lie in `[0, 6]` after a ReLU6. Compute the step of an affine and of
#   a symmetric int8 quantizer for that range. Which would you choose, and why do frameworks
#   still use symmetric for the weights?
# - Your `QuantizedLinear` subtracts `z_x` before the matmul. Expand `Σ (x_q − z_x) W_q` and say
#   which part can be computed once, when the model is converted, and what it costs to store.
# - With int8 inputs and weights, how many terms can an int32 accumulator sum before it can
#   overflow in the worst case? Which layers of a GPT come close?
# - The measured int8 model was slower in NumPy. Which two facts about NumPy explain it, and what
#   would a hardware int8 kernel change in the 2·N·K·M operations and in the bytes read?
