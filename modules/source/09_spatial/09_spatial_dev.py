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
# # Module 09: Spatial — fast convolutional networks
#
# An MLP sees an image as a flat list of numbers: shift a digit by one pixel and every input
# changes. Convolutional networks (LeCun, 1989–1998) build the structure of images into the
# layer: each output looks only at a small **neighbourhood**, and the **same small filter**
# slides over the whole image. This module builds the layers of a CNN (`Conv2d`, `MaxPool2d`,
# `AvgPool2d`, `Flatten`, `BatchNorm2d`) with their backward rules, and makes them fast.
#
# Fast matters here more than anywhere so far. A convolution is the same dot product repeated
# millions of times; written as Python loops it is ten thousand times slower than it needs to
# be. You will write the loops once to understand them, then ship the version every framework
# uses: **im2col**, which turns the whole convolution into *one* matrix multiplication.
#
# ## Learning objectives
# - Compute output shapes of convolution and pooling from kernel, stride and padding.
# - Write the naive convolution and count its cost in FLOPs and in seconds.
# - Vectorize it with `sliding_window_view` (a zero-copy view of every window) and one matmul.
# - Derive and implement the backward pass: weight gradient by matmul, input gradient by
#   **col2im** (strided accumulation over kernel offsets), bias gradient by a sum.
# - Implement max pooling (gradient routed to the winning element) and average pooling.
# - Implement batch normalization with PyTorch's training/evaluation semantics.
#
# ## How to work
# Write your code between `### BEGIN SOLUTION` and `### END SOLUTION`; run the test cell right
# after each piece. When every test passes, run `tito module complete 09`. Its pytest suite
# checks every backward rule with `gradcheck` and, when PyTorch is installed, against PyTorch.

# %% nbgrader={"grade": false, "grade_id": "spatial-setup", "locked": false, "schema_version": 3, "solution": false, "task": false}
#| default_exp spatial
#| export
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from tinytorch.layers import Module, kaiming_uniform
from tinytorch.tensor import Tensor, register_backward


def _pair(value, name: str = "value") -> tuple[int, int]:
    """`3` -> `(3, 3)`; `(3, 2)` -> `(3, 2)` (given)."""
    pair = (value, value) if isinstance(value, int | np.integer) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, int | np.integer) and not isinstance(v, bool) for v in pair):
        raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
    return int(pair[0]), int(pair[1])


# %% [markdown]
# ## 1. Why convolutions
#
# Images in TinyTorch, as in PyTorch, are batches of shape **(N, C, H, W)**: N images, C
# channels (1 for grey, 3 for RGB, 8 or 64 for feature maps), H rows, W columns.
#
# Take a 28×28 grey image and ask for 8 feature maps of 26×26. A `Linear` layer connecting every
# input pixel to every output needs 784 × 5,408 = **4.2 million** weights. A 3×3 convolution with
# 8 filters needs 8 × 1 × 3 × 3 = **72** weights plus 8 biases, because of two assumptions
# that hold for images:
#
# - **Locality**: an output pixel depends on a 3×3 neighbourhood, not on the whole image.
# - **Weight sharing**: the same filter is used at every position, so a stroke detector learned
#   at the top-left also fires at the bottom-right (*translation equivariance*).
#
# A convolution layer holds `weight` of shape **(out_channels, in_channels, kh, kw)** and a
# `bias` of shape (out_channels,). Output channel `o` at position `(i, j)` is
#
# `out[n, o, i, j] = bias[o] + Σ_c Σ_di Σ_dj  x_pad[n, c, i·s + di, j·s + dj] · weight[o, c, di, dj]`
#
# where `s` is the **stride** (step between windows) and `x_pad` is the input with `p` rows and
# columns of zeros added on every side (**padding**). Note the `+ di`: deep learning's
# "convolution" is mathematically a *cross-correlation*; the kernel is not flipped. (PyTorch does
# the same, so weights transfer.)
#
# **Output size.** Along one axis of length `n`, with kernel `k`, stride `s` and padding `p`, the
# window starts at `0, s, 2s, …` and must end inside the padded length `n + 2p`:
#
# `out = floor((n + 2p - k) / s) + 1`
#
# | input | kernel | stride | padding | output | note |
# |---|---|---|---|---|---|
# | 28 | 3 | 1 | 0 | 26 | "valid": shrinks by k − 1 |
# | 28 | 3 | 1 | 1 | 28 | "same": p = (k − 1) / 2 keeps the size |
# | 32 | 3 | 2 | 1 | 16 | stride 2 halves it |
# | 7 | 2 | 2 | 0 | 3 | floor: the last row and column are never used |

# %% nbgrader={"grade": false, "grade_id": "output-size", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
def conv_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0) -> int:
    """Length of the output along one axis (the formula above); an error if no window fits."""
    # Set `out` with the formula above (`//` floors for non-negative numbers).
    ### BEGIN SOLUTION
    out = (size + 2 * padding - kernel) // stride + 1
    ### END SOLUTION
    if out < 1:
        raise ValueError(f"kernel {kernel} does not fit an input of size {size} with padding {padding}")
    return out


# %% [markdown]
# ### Unit test: output size

# %% nbgrader={"grade": true, "grade_id": "test-output-size", "locked": true, "points": 5, "schema_version": 3, "solution": false, "task": false}
def test_unit_output_size():
    cases = [((28, 3, 1, 0), 26), ((28, 3, 1, 1), 28), ((32, 3, 2, 1), 16), ((7, 2, 2, 0), 3),
             ((8, 2, 2, 0), 4), ((5, 5, 1, 0), 1), ((10, 3, 3, 2), 4), ((9, 4, 2, 3), 6)]
    for args, want in cases:
        got = conv_output_size(*args)
        assert got == want, f"conv_output_size{args} = {got}, expected {want}"
    try:
        conv_output_size(2, 5)
    except ValueError:
        pass
    else:
        raise AssertionError("a kernel larger than the padded input must raise ValueError")
    print("output size: OK")


if __name__ == "__main__":
    test_unit_output_size()

# %% [markdown]
# ## 2. The naive convolution, and what it costs
#
# The formula is seven nested loops (six per image): batch, output channel, output row, output
# column, then the dot product over input channel, kernel row, kernel column. Write it plainly:
# it is the reference the fast version must agree with. (It takes NumPy arrays and is not part
# of the package: nobody should train with it.)
#
# **Cost.** Each output value is a dot product of length `C·kh·kw`, so a convolution costs
#
# `FLOPs = 2 · N · O · OH · OW · C · kh · kw`
#
# (a multiply and an add per term). For a batch of 64 CIFAR images (3×32×32) through 32 filters
# of 3×3 with padding 1: 2 · 64 · 32 · 32 · 32 · 3 · 3 · 3 = **113 MFLOPs**, i.e. 57 million
# multiply-adds. This loop runs one multiply-add per Python iteration, each paying for bytecode
# dispatch, boxing a float and a NumPy scalar lookup: on our 2-core machine about 350 ns per
# term, so about **20 seconds** for that batch. The BLAS matrix multiply behind `@` does the
# same arithmetic in about **2 ms** (tens of GFLOP/s with SIMD and cache blocking): ten
# thousand times faster. Python is fast enough to *orchestrate* arithmetic, never to *do* it
# element by element. (The demo cell in section 9 measures the ratio on your machine.)

# %% nbgrader={"grade": false, "grade_id": "conv-naive", "locked": false, "schema_version": 3, "solution": true, "task": false}
def conv2d_naive(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None = None,
                 stride: int = 1, padding: int = 0) -> np.ndarray:
    """Reference convolution with explicit loops. x: (N, C, H, W), weight: (O, C, kh, kw)."""
    n_img, channels, height, width = x.shape
    out_channels, _, kh, kw = weight.shape
    oh = conv_output_size(height, kh, stride, padding)
    ow = conv_output_size(width, kw, stride, padding)
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    out = np.zeros((n_img, out_channels, oh, ow), dtype=x.dtype)
    # Hint: loop over n, o, i, j; start each output at `bias[o]` (0 without a bias) and add the
    # products of the formula in section 1 over c, di, dj, reading the padded `xp`.
    ### BEGIN SOLUTION
    for n in range(n_img):
        for o in range(out_channels):
            for i in range(oh):
                for j in range(ow):
                    total = 0.0 if bias is None else bias[o]
                    for c in range(channels):
                        for di in range(kh):
                            for dj in range(kw):
                                total += xp[n, c, i * stride + di, j * stride + dj] * weight[o, c, di, dj]
                    out[n, o, i, j] = total
    ### END SOLUTION
    return out


# %% [markdown]
# ### Unit test: the naive convolution, by hand
# With `x = [[1,2,3],[4,5,6],[7,8,9]]` and `w = [[1,2],[3,4]]`, the top-left output is
# `1·1 + 2·2 + 4·3 + 5·4 = 37`. A flipped kernel would give 23.

# %% nbgrader={"grade": true, "grade_id": "test-conv-naive", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false}
def test_unit_conv_naive():
    x = np.arange(1, 10, dtype=np.float32).reshape(1, 1, 3, 3)
    w = np.array([[[[1, 2], [3, 4]]]], dtype=np.float32)
    out = conv2d_naive(x, w)
    assert out.shape == (1, 1, 2, 2), f"shape {out.shape}, expected (1, 1, 2, 2)"
    assert np.array_equal(out[0, 0], [[37, 47], [67, 77]]), f"got {out[0, 0]}, expected [[37, 47], [67, 77]]"
    strided = conv2d_naive(x, w, np.array([0.5], np.float32), stride=2, padding=1)
    assert np.array_equal(strided[0, 0], [[4.5, 18.5], [36.5, 77.5]]), \
        f"stride 2, padding 1, bias 0.5: got {strided[0, 0]}, expected [[4.5, 18.5], [36.5, 77.5]]"
    two = conv2d_naive(np.concatenate([x, 2 * x], axis=1), np.concatenate([w, -w], axis=1))
    assert np.array_equal(two[0, 0], -out[0, 0]), "input channels must be summed"
    print("naive convolution: OK")


if __name__ == "__main__":
    test_unit_conv_naive()

# %% [markdown]
# ## 3. im2col: every window as a column
#
# Look at the formula again: for a fixed output position, the output over all `O` channels is
# a matrix-vector product of `weight.reshape(O, C·kh·kw)` with the window unrolled into a
# vector of length `K = C·kh·kw`. Put the `L = OH·OW` windows of an image side by side as the
# columns of a `(K, L)` matrix, and the whole convolution of that image is **one matrix
# product** `(O, K) @ (K, L) -> (O, L)`, which is already the output in `(O, OH, OW)` layout.
# Building that matrix is called **im2col** (image to columns).
#
# **Windows without copying.** `sliding_window_view(x_pad, (kh, kw), axis=(2, 3))` returns an
# array of shape `(N, C, H', W', kh, kw)` (with `H' = Hp - kh + 1`) in which element
# `[n, c, i, j, di, dj]` is `x_pad[n, c, i + di, j + dj]`. It is a *view*: NumPy just reuses the
# row and column strides twice, so it costs no memory however many windows overlap. A stride
# `s` keeps every `s`-th window: `[:, :, ::s, ::s]`, still a view.
#
# **One copy.** Reordering that view to `(N, C, kh, kw, OH, OW)` and reshaping to `(N, K, L)`
# must copy: this is the im2col buffer, `kh·kw` times the size of the input for stride 1 (9× for
# 3×3 kernels). For the CIFAR batch above, 64 · 27 · 1024 · 4 B = 7 MB.
#
# Order the axes as `(C, kh, kw)` so that the column index `k = (c·kh + di)·kw + dj` matches
# `weight.reshape(O, K)`; ordering them differently silently computes a different (wrong)
# convolution.

# %% nbgrader={"grade": false, "grade_id": "im2col", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
def im2col(x_pad: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int]) -> np.ndarray:
    """Unroll every (kh, kw) window of an already padded (N, C, Hp, Wp) array.

    Returns `cols` of shape (N, C·kh·kw, OH·OW) with
    `cols[n, (c·kh + di)·kw + dj, i·OW + j] = x_pad[n, c, i·sh + di, j·sw + dj]`.
    """
    (kh, kw), (sh, sw) = kernel, stride
    n, c = x_pad.shape[:2]
    # Hint: `sliding_window_view` over axes (2, 3), then keep every stride-th window (still a
    # view); move the kernel axes in front of the window-position axes, giving
    # (N, C, kh, kw, OH, OW), and reshape to (N, K, L): that reshape is the one copy.
    ### BEGIN SOLUTION
    windows = sliding_window_view(x_pad, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]  # view
    oh, ow = windows.shape[2:4]
    return windows.transpose(0, 1, 4, 5, 2, 3).reshape(n, c * kh * kw, oh * ow)  # the one copy
    ### END SOLUTION


# %% [markdown]
# ### Unit test: im2col

# %% nbgrader={"grade": true, "grade_id": "test-im2col", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false}
def test_unit_im2col():
    x = np.arange(1, 10, dtype=np.float32).reshape(1, 1, 3, 3)
    cols = im2col(x, (2, 2), (1, 1))
    assert cols.shape == (1, 4, 4), f"shape {cols.shape}, expected (1, 4, 4)"
    assert np.array_equal(cols[0, :, 0], [1, 2, 4, 5]), "column 0 is the top-left window, row-major"
    assert np.array_equal(cols[0, :, 3], [5, 6, 8, 9]), "column 3 is the bottom-right window"
    rng = np.random.default_rng(0)
    xp = rng.normal(size=(2, 3, 7, 6))
    cols = im2col(xp, (3, 2), (2, 3))
    assert cols.shape == (2, 3 * 3 * 2, 3 * 2), f"shape {cols.shape}, expected (2, 18, 6)"
    for n, c, di, dj, i, j in [(0, 0, 0, 0, 0, 0), (1, 2, 2, 1, 2, 1), (0, 1, 1, 0, 1, 1), (1, 0, 2, 0, 0, 1)]:
        k, l = (c * 3 + di) * 2 + dj, i * 2 + j
        assert cols[n, k, l] == xp[n, c, i * 2 + di, j * 3 + dj], \
            f"cols[{n}, {k}, {l}] should be x_pad[{n}, {c}, {i * 2 + di}, {j * 3 + dj}]"
    print("im2col: OK")


if __name__ == "__main__":
    test_unit_im2col()

# %% [markdown]
# ## 4. The convolution, vectorized
#
# `conv2d(x, weight, bias, stride, padding)`: pad, im2col, then **one matmul**
# `weight.reshape(O, K) @ cols`. NumPy broadcasts the `(O, K)` matrix over the batch axis of
# `cols` `(N, K, L)` and hands each image's product to BLAS; the result `(N, O, L)` reshapes to
# `(N, O, OH, OW)` for free. Add the bias per channel, `bias[:, None]`, and return through
# `Tensor._op("conv2d", …)` with the padded input's geometry and `cols` in the context: the
# backward pass needs `cols` to compute the weight gradient (memory traded for time).
#
# Why this layout? On our 2-core reference machine we timed four ways of doing the contraction
# for `(64, 3, 32, 32)` → 32 channels, 3×3, padding 1, one thread each (your times will
# differ; the ranking is the point):
#
# | contraction | time | why |
# |---|---|---|
# | `np.tensordot(windows, w, axes=…)` | 4.5 ms | copies the windows to `(N·L, K)` with a slow gather, result needs a transpose |
# | `np.einsum('nchwij,ocij->nohw', …)` | 2.6 ms | same copy, chosen by einsum's optimizer |
# | one big GEMM `(O, K) @ (K, N·L)` | 2.7 ms | one BLAS call, but the output `(O, N, L)` must be transposed to `(N, O, L)` |
# | **`(O, K) @ (N, K, L)`, batched** | **1.8 ms** | copy has contiguous rows; output already in NCHW order |
# | PyTorch `F.conv2d` (oneDNN) | 1.5 ms | |
#
# The naive loops would take about 20 s for the same batch.

# %% nbgrader={"grade": false, "grade_id": "conv2d", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
def conv2d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0) -> Tensor:
    """2-D convolution (cross-correlation) of x (N, C, H, W) with weight (O, C, kh, kw)."""
    x, weight = Tensor._lift(x), Tensor._lift(weight)
    bias = None if bias is None else Tensor._lift(bias)
    (sh, sw), (ph, pw) = _pair(stride, "stride"), _pair(padding, "padding")
    if x.ndim != 4 or weight.ndim != 4:
        raise ValueError(f"conv2d needs x of shape (N, C, H, W) and weight of shape (O, C, kh, kw), "
                         f"got {x.shape} and {weight.shape}")
    if x.shape[1] != weight.shape[1]:
        raise ValueError(f"conv2d: input has {x.shape[1]} channels but the weight expects "
                         f"{weight.shape[1]} (x {x.shape}, weight {weight.shape})")
    if sh < 1 or sw < 1 or ph < 0 or pw < 0:
        raise ValueError(f"conv2d needs stride >= 1 and padding >= 0, got {stride} and {padding}")
    n, _, h, w = x.shape
    o, _, kh, kw = weight.shape
    oh, ow = conv_output_size(h, kh, sh, ph), conv_output_size(w, kw, sw, pw)
    # Set `cols` (the im2col buffer of the padded input, kept for the backward pass) and
    # `out` (N, O, OH, OW), bias included. Hint: pad H and W only (`np.pad`, skip it when there
    # is no padding), `im2col`, one matmul with the (O, K) weight matrix, the bias per channel,
    # then a reshape.
    ### BEGIN SOLUTION
    x_pad = np.pad(x.data, ((0, 0), (0, 0), (ph, ph), (pw, pw))) if ph or pw else x.data
    cols = im2col(x_pad, (kh, kw), (sh, sw))  # (N, K, L)
    out = weight.data.reshape(o, -1) @ cols  # (O, K) @ (N, K, L) -> (N, O, L)
    if bias is not None:
        out += bias.data[:, None]
    out = out.reshape(n, o, oh, ow)
    ### END SOLUTION
    inputs = (x, weight) if bias is None else (x, weight, bias)
    return Tensor._op("conv2d", out, *inputs, stride=(sh, sw), padding=(ph, pw), cols=cols)


# %% [markdown]
# ### Unit test: conv2d against a loop reference
# An asymmetric kernel catches a flipped kernel; stride 2 and padding 1 catch wrong window
# arithmetic; several channels catch a wrong im2col ordering.

# %% nbgrader={"grade": true, "grade_id": "test-conv2d", "locked": true, "points": 15, "schema_version": 3, "solution": false, "task": false}
def test_unit_conv2d():
    def reference(x, w, b, s, p):  # loop over output positions, dot product over (C, kh, kw)
        xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
        kh, kw = w.shape[2:]
        oh, ow = (xp.shape[2] - kh) // s + 1, (xp.shape[3] - kw) // s + 1
        out = np.zeros((x.shape[0], w.shape[0], oh, ow))
        for i in range(oh):
            for j in range(ow):
                patch = xp[:, :, i * s:i * s + kh, j * s:j * s + kw]
                out[:, :, i, j] = np.tensordot(patch, w, axes=([1, 2, 3], [1, 2, 3]))
        return out + (0 if b is None else b[None, :, None, None])

    x = np.arange(1, 10, dtype=np.float32).reshape(1, 1, 3, 3)
    w = np.array([[[[1, 2], [3, 4]]]], dtype=np.float32)
    out = conv2d(Tensor(x), Tensor(w))
    assert isinstance(out, Tensor) and np.array_equal(out.data[0, 0], [[37, 47], [67, 77]]), \
        f"got {out.data}, expected [[37, 47], [67, 77]]"
    rng = np.random.default_rng(0)
    for shape, wshape, s, p, use_bias in [((2, 3, 7, 6), (4, 3, 3, 2), 1, 0, True),
                                          ((2, 3, 7, 6), (4, 3, 3, 3), 2, 1, True),
                                          ((3, 2, 8, 8), (5, 2, 2, 2), 2, 0, False),
                                          ((1, 1, 5, 5), (2, 1, 3, 3), 3, 2, True)]:
        xv = rng.normal(size=shape).astype(np.float32)
        wv = rng.normal(size=wshape).astype(np.float32)
        bv = rng.normal(size=wshape[0]).astype(np.float32) if use_bias else None
        got = conv2d(Tensor(xv), Tensor(wv), None if bv is None else Tensor(bv), stride=s, padding=p)
        want = reference(xv, wv, bv, s, p)
        assert got.shape == want.shape, f"x {shape}, w {wshape}, s={s}, p={p}: shape {got.shape}, expected {want.shape}"
        assert np.allclose(got.data, want, atol=1e-4), f"x {shape}, w {wshape}, s={s}, p={p}: values differ"
        assert got.dtype == np.float32, "float32 in, float32 out"
    print("conv2d forward: OK")


if __name__ == "__main__":
    test_unit_conv2d()

# %% [markdown]
# ## 5. The backward pass
#
# Write the forward pass per image as `out[o, l] = Σ_k W[o, k] · cols[k, l] + b[o]` with
# `W = weight.reshape(O, K)`. It is a matmul, so module 05's matmul rule tells us everything.
# Given `g = ∂loss/∂out` of shape `(N, O, L)`:
#
# | gradient | formula | shape | cost |
# |---|---|---|---|
# | bias | `g.sum(axis=(0, 2))` | `(O,)` | tiny |
# | weight | `Σ_n g[n] @ cols[n].T` | `(O, K)` → `(O, C, kh, kw)` | same FLOPs as forward |
# | columns | `W.T @ g[n]` for each n | `(N, K, L)` | same FLOPs as forward |
# | input | **col2im** of the column gradient, then remove the padding | `(N, C, H, W)` | `kh·kw` additions of the input's size |
#
# So training costs about three forward passes, as for a `Linear` layer.
#
# **col2im.** Each column entry came from one input pixel; an input pixel appears in up to
# `kh·kw` windows, so its gradient is the **sum** over every window that used it. Looping over
# pixels would be slow again; `np.add.at(grad, index_arrays, values)` can scatter all at once
# but is an unbuffered ufunc, 10–15× slower in our measurements than the trick we use. Loop over the **kernel offsets**
# instead: for offset `(di, dj)`, the entries `cols[:, (c, di, dj), (i, j)]` came from
# `x_pad[:, c, i·s + di, j·s + dj]`, a strided rectangle of the input. So
#
# `grad_pad[:, :, di : di + s·(OH−1) + 1 : s, dj : dj + s·(OW−1) + 1 : s] += cols_grad[:, :, di, dj]`
#
# is `kh·kw` (9 for 3×3) vectorized additions. `+=` matters: windows overlap when `s < k`.
# When the network's input itself needs no gradient (the images of the first layer), skip the
# whole input branch.
#
# The rule is registered right here with `@register_backward("conv2d")`: the op and its
# derivative live in the same file, and gradcheck in the tests compares them with finite
# differences in float64.

# %% nbgrader={"grade": false, "grade_id": "conv2d-backward", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
def col2im(cols: np.ndarray, padded_shape: tuple[int, ...], kernel: tuple[int, int],
           stride: tuple[int, int]) -> np.ndarray:
    """Adjoint of im2col: add each column entry back onto the pixel it came from.

    cols: (N, C·kh·kw, OH·OW); returns an array of `padded_shape` (N, C, Hp, Wp).
    """
    (kh, kw), (sh, sw) = kernel, stride
    n, c, hp, wp = padded_shape
    oh, ow = (hp - kh) // sh + 1, (wp - kw) // sw + 1
    # Hint: view `cols` as (N, C, kh, kw, OH, OW); start from zeros of `padded_shape` in
    # `cols.dtype`; for each kernel offset (di, dj), `+=` its (N, C, OH, OW) slab onto the
    # strided rectangle of section 5.
    ### BEGIN SOLUTION
    cols = cols.reshape(n, c, kh, kw, oh, ow)
    grad = np.zeros(padded_shape, dtype=cols.dtype)
    for di in range(kh):
        for dj in range(kw):
            grad[:, :, di:di + sh * (oh - 1) + 1:sh, dj:dj + sw * (ow - 1) + 1:sw] += cols[:, :, di, dj]
    return grad
    ### END SOLUTION


@register_backward("conv2d")
def _conv2d_backward(grad, out, x, weight, *bias, stride, padding, cols):
    """`(grad_x, grad_weight)`, plus `grad_bias` when the forward had a bias.

    grad: (N, O, OH, OW). `bias` is a tuple: empty, or the bias tensor. `stride` and `padding`
    are pairs; `cols` is the forward's (N, K, L) im2col buffer. grad_x is None when x does not
    require grad (skip that branch).
    """
    n, o, oh, ow = grad.shape
    g = grad.reshape(n, o, oh * ow)
    w_mat = weight.data.reshape(o, -1)
    # Hint: the table of section 5. Weight: the batched product of `g` with `cols` transposed
    # on its last two axes is (N, O, K); sum over N, reshape to weight's shape. Input:
    # `w_mat.T @ g` is the column gradient; col2im it onto the padded shape, then slice the
    # padding off. Bias: sum `grad` over every axis but the channel axis.
    ### BEGIN SOLUTION
    grad_weight = (g @ cols.transpose(0, 2, 1)).sum(axis=0).reshape(weight.shape)
    grad_x = None
    if x.requires_grad:
        (ph, pw), (_, _, h, w) = padding, x.shape
        padded_shape = (n, x.shape[1], h + 2 * ph, w + 2 * pw)
        grad_pad = col2im(w_mat.T @ g, padded_shape, weight.shape[2:], stride)
        grad_x = grad_pad[:, :, ph:ph + h, pw:pw + w]
    grads = (grad_x, grad_weight)
    if bias:
        grads += (grad.sum(axis=(0, 2, 3)),)
    return grads
    ### END SOLUTION


# %% [markdown]
# ### Unit test: conv2d backward
# `col2im` must be the exact adjoint of `im2col`: for any `x` and `c`,
# `⟨im2col(x), c⟩ = ⟨x, col2im(c)⟩`. Then `gradcheck` (module 05) compares the rule with
# central differences, with stride and padding. A summed output also gives a gradient we can
# predict: each input pixel's gradient is the sum of the kernel weights that touched it.

# %% nbgrader={"grade": true, "grade_id": "test-conv2d-backward", "locked": true, "points": 15, "schema_version": 3, "solution": false, "task": false}
def test_unit_conv2d_backward():
    from tinytorch.autograd import gradcheck
    rng = np.random.default_rng(1)
    for shape, kernel, stride in [((2, 3, 6, 7), (3, 2), (1, 1)), ((1, 2, 7, 7), (3, 3), (2, 2)),
                                  ((2, 1, 5, 8), (2, 3), (3, 2))]:
        xp = rng.normal(size=shape)
        cols = im2col(xp, kernel, stride)
        c = rng.normal(size=cols.shape)
        back = col2im(c, shape, kernel, stride)
        assert back.shape == shape, f"col2im returned shape {back.shape}, expected {shape}"
        assert np.isclose((cols * c).sum(), (xp * back).sum()), \
            f"col2im is not the adjoint of im2col (kernel {kernel}, stride {stride})"
    assert col2im(c.astype(np.float32), shape, kernel, stride).dtype == np.float32, "col2im keeps the dtype"

    x = Tensor(rng.normal(size=(3, 2, 5, 6)), requires_grad=True)
    w = Tensor(rng.normal(size=(4, 2, 3, 2)), requires_grad=True)
    b = Tensor(rng.normal(size=4), requires_grad=True)
    for s, p in [(1, 0), (2, 1), (1, 2)]:
        assert gradcheck(lambda x, w, b, s=s, p=p: conv2d(x, w, b, stride=s, padding=p), x, w, b), \
            f"conv2d gradients wrong for stride={s}, padding={p}"
    assert gradcheck(lambda x, w: conv2d(x, w, stride=(2, 1), padding=(0, 1)), x, w)

    xt = Tensor(np.ones((1, 1, 3, 3)), requires_grad=True)
    wt = Tensor(np.array([[[[1.0, 2.0], [3.0, 4.0]]]]), requires_grad=True)
    conv2d(xt, wt, padding=0).sum().backward()
    assert np.allclose(xt.grad.data[0, 0], [[1, 3, 2], [4, 10, 6], [3, 7, 4]]), \
        f"input gradient {xt.grad.data[0, 0]}: each pixel gets the weights of the windows that used it"
    assert np.allclose(wt.grad.data[0, 0], [[4, 4], [4, 4]]), "each weight saw 4 pixels of value 1"
    print("conv2d backward: OK")


if __name__ == "__main__":
    test_unit_conv2d_backward()

# %% [markdown]
# ## 6. The `Conv2d` layer and `Flatten`
#
# The layer holds the parameters and calls `conv2d`. Initialise like `Linear` (module 03):
# He/Kaiming uniform with `fan_in = in_channels · kh · kw` (each output sums that many inputs),
# bias zero. `rng` works as in `Linear`: an int seed, a generator, or the module-wide one.
#
# | layer | parameters | e.g. |
# |---|---|---|
# | `Conv2d(C, O, k)` | `O·C·k² + O` | `Conv2d(3, 32, 3)`: 896 |
# | `Linear(C·H·W, O)` on the same input | `C·H·W·O + O` | 32×32×3 → 32: 98,336 |
#
# `Flatten` turns `(N, C, H, W)` into `(N, C·H·W)`, the bridge from convolutional features to
# `Linear` layers. It is a `reshape`, so module 05's reshape rule already differentiates it.

# %% nbgrader={"grade": false, "grade_id": "conv-layer", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
class Conv2d(Module):
    """2-D convolution layer; weight (out_channels, in_channels, kh, kw), bias (out_channels,)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 bias: bool = True, *, rng=None):
        super().__init__()
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels)):
            if not isinstance(value, int | np.integer) or isinstance(value, bool) or value < 1:
                raise ValueError(f"Conv2d needs a positive integer {name}, got {value!r}")
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size = _pair(kernel_size, "kernel_size")
        self.stride, self.padding = _pair(stride, "stride"), _pair(padding, "padding")
        # Set `self.weight` (out_channels, in_channels, kh, kw) from `kaiming_uniform(fan_in,
        # shape, rng)` and `self.bias` (zeros, or None when `bias` is False), both Tensors with
        # requires_grad=True.
        ### BEGIN SOLUTION
        kh, kw = self.kernel_size
        fan_in = self.in_channels * kh * kw
        shape = (self.out_channels, self.in_channels, kh, kw)
        self.weight = Tensor(kaiming_uniform(fan_in, shape, rng), requires_grad=True)
        self.bias = Tensor(np.zeros(self.out_channels), requires_grad=True) if bias else None
        ### END SOLUTION

    def forward(self, x: Tensor) -> Tensor:
        x = Tensor._lift(x)
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"{self!r} expects input of shape (N, {self.in_channels}, H, W), got {x.shape}")
        # Hint: `conv2d` with this layer's parameters, stride and padding.
        ### BEGIN SOLUTION
        return conv2d(x, self.weight, self.bias, self.stride, self.padding)
        ### END SOLUTION

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, bias={self.bias is not None}")


class Flatten(Module):
    """Keep the first `start_dim` axes and merge the rest: (N, C, H, W) -> (N, C·H·W)."""

    def __init__(self, start_dim: int = 1):
        super().__init__()
        self.start_dim = start_dim

    def forward(self, x: Tensor) -> Tensor:
        x = Tensor._lift(x)
        # Hint: keep `x.shape[:self.start_dim]` and let `reshape` compute the last length (-1).
        ### BEGIN SOLUTION
        return x.reshape(x.shape[:self.start_dim] + (-1,))
        ### END SOLUTION

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}"


# %% [markdown]
# ### Unit test: layers

# %% nbgrader={"grade": true, "grade_id": "test-conv-layer", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false}
def test_unit_conv_layer():
    conv = Conv2d(3, 8, 3, stride=2, padding=1, rng=0)
    assert conv.weight.shape == (8, 3, 3, 3) and conv.bias.shape == (8,), \
        f"weight {conv.weight.shape}, bias {conv.bias.shape}: expected (8, 3, 3, 3) and (8,)"
    params = conv.parameters()
    assert len(params) == 2 and params[0] is conv.weight, "parameters() are the weight and the bias"
    bound = np.sqrt(6 / 27)
    assert np.abs(conv.weight.data).max() <= bound and conv.weight.data.std() > bound / 3, \
        "Kaiming uniform with fan_in = in_channels * kh * kw"
    assert np.all(conv.bias.data == 0)
    x = np.random.default_rng(0).normal(size=(2, 3, 9, 9)).astype(np.float32)
    y = conv(Tensor(x))
    assert y.shape == (2, 8, 5, 5), f"shape {y.shape}, expected (2, 8, 5, 5)"
    want = conv2d(Tensor(x), conv.weight, conv.bias, stride=2, padding=1)
    assert np.allclose(y.data, want.data), "Conv2d must use its stride and padding"
    assert len(Conv2d(3, 8, (3, 5), bias=False).parameters()) == 1
    assert Conv2d(3, 8, (3, 5), bias=False).weight.shape == (8, 3, 3, 5)
    flat = Flatten()(Tensor(x))
    assert flat.shape == (2, 243) and np.array_equal(flat.data, x.reshape(2, -1)), "Flatten keeps row-major order"
    assert Flatten(2)(Tensor(x)).shape == (2, 3, 81)
    print("Conv2d and Flatten: OK")


if __name__ == "__main__":
    test_unit_conv_layer()

# %% [markdown]
# ## 7. Pooling
#
# Pooling shrinks feature maps: a 2×2 max pool with stride 2 keeps the largest of each 2×2
# block, halving height and width (a quarter of the memory and of the next layer's FLOPs) and
# making the features tolerant to shifts of a pixel. Output sizes follow the same formula as
# convolution (stride defaults to the kernel size; no padding).
#
# **Forward, measured.** The tempting version for non-overlapping windows is a reshape,
# `x.reshape(N, C, OH, k, OW, k).max(axis=(3, 5))`: no copy, one call. Yet it is slow, because
# NumPy reduces over tiny inner axes one short run at a time. Looping over the `k·k` kernel
# offsets instead, each a strided slice `x[:, :, di::s, dj::s]` combined with
# `np.maximum(out, slice, out=out)`, was **30× faster** on our machine for a `(32, 8, 26, 26)`
# batch (0.1 ms against 3.1 ms), and the same loop handles overlapping windows
# (`stride < kernel`). Loop over the *small* axis, vectorize over the big ones.
#
# **Max-pool backward.** Only the element that won each window gets the gradient; the others
# get zero. Which one won? Compare each offset's slice with the output: equal means it was the
# maximum. On a tie (common after ReLU: windows of zeros) PyTorch routes the gradient to the
# *first* maximum in row-major order, so keep a boolean `taken` mask and let an offset win
# only where no earlier offset did. The mask is rebuilt from the input and output that the
# graph keeps anyway, so inference pays nothing for it.
#
# **Average pooling** is a convolution with a fixed kernel of `1/k²`: forward sums the `k·k`
# slices, backward adds `g / k²` to every slice.

# %% nbgrader={"grade": false, "grade_id": "pooling", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
def _pool_geometry(x: Tensor, kernel_size, stride):
    """Kernel, stride, output size and the k·k strided slices of a pooling op (given)."""
    (kh, kw) = _pair(kernel_size, "kernel_size")
    (sh, sw) = _pair(kernel_size if stride is None else stride, "stride")
    if x.ndim != 4:
        raise ValueError(f"pooling needs input of shape (N, C, H, W), got {x.shape}")
    oh, ow = conv_output_size(x.shape[2], kh, sh), conv_output_size(x.shape[3], kw, sw)
    slices = [(slice(None), slice(None), slice(di, di + sh * (oh - 1) + 1, sh),
               slice(dj, dj + sw * (ow - 1) + 1, sw)) for di in range(kh) for dj in range(kw)]
    return (kh, kw), (sh, sw), slices


def max_pool2d(x: Tensor, kernel_size, stride=None) -> Tensor:
    """Max over each (kh, kw) window; stride defaults to the kernel size."""
    x = Tensor._lift(x)
    kernel, stride, slices = _pool_geometry(x, kernel_size, stride)
    # Set `out` (N, C, OH, OW). `x.data[sl]` for `sl` in `slices` is the (N, C, OH, OW) array of
    # the elements at one kernel offset of every window. Hint: start from a copy of the first
    # slice and fold in the others with `np.maximum(..., out=out)`.
    ### BEGIN SOLUTION
    out = x.data[slices[0]].copy()
    for sl in slices[1:]:
        np.maximum(out, x.data[sl], out=out)
    ### END SOLUTION
    return Tensor._op("max_pool2d", out, x, kernel=kernel, stride=stride)


@register_backward("max_pool2d")
def _max_pool2d_backward(grad, out, x, kernel, stride):
    """`(grad_x,)`, x's shape: each window's gradient goes to its first maximum."""
    _, _, slices = _pool_geometry(x, kernel, stride)
    # Hint: a boolean `taken` mask of out's shape, all False. For each offset slice `sl` (they
    # come in row-major order): it wins where `x.data[sl] == out.data` and not yet taken; mark
    # those taken and add `grad` where it won into `grad_x[sl]` (add, not assign: overlapping
    # windows can share an element).
    ### BEGIN SOLUTION
    grad_x = np.zeros_like(x.data)
    taken = np.zeros(out.shape, dtype=bool)
    overlapping = stride[0] < kernel[0] or stride[1] < kernel[1]
    for sl in slices:  # row-major offsets: the first maximum wins, as in PyTorch
        hit = x.data[sl] == out.data
        hit &= ~taken
        taken |= hit
        if overlapping:
            grad_x[sl] += grad * hit  # one element may win several windows: add
        else:
            np.multiply(grad, hit, out=grad_x[sl])  # each element is in one window at most: write
    return (grad_x,)
    ### END SOLUTION


def avg_pool2d(x: Tensor, kernel_size, stride=None) -> Tensor:
    """Mean over each (kh, kw) window; stride defaults to the kernel size."""
    x = Tensor._lift(x)
    kernel, stride, slices = _pool_geometry(x, kernel_size, stride)
    # Set `out` (N, C, OH, OW): the sum of the k·k slices divided by their number.
    ### BEGIN SOLUTION
    out = x.data[slices[0]].copy()
    for sl in slices[1:]:
        out += x.data[sl]
    out /= len(slices)
    ### END SOLUTION
    return Tensor._op("avg_pool2d", out, x, kernel=kernel, stride=stride)


@register_backward("avg_pool2d")
def _avg_pool2d_backward(grad, out, x, kernel, stride):
    """`(grad_x,)`, x's shape: each window's gradient shared equally by its k·k elements."""
    _, _, slices = _pool_geometry(x, kernel, stride)
    # Hint: add `grad / (number of slices)` into `grad_x[sl]` for every offset slice.
    ### BEGIN SOLUTION
    grad_x = np.zeros_like(x.data)
    share = grad / len(slices)
    for sl in slices:
        grad_x[sl] += share
    return (grad_x,)
    ### END SOLUTION


class MaxPool2d(Module):
    """Max pooling layer (no parameters)."""

    def __init__(self, kernel_size, stride=None):
        super().__init__()
        self.kernel_size, self.stride = kernel_size, stride

    def forward(self, x: Tensor) -> Tensor:
        return max_pool2d(x, self.kernel_size, self.stride)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride or self.kernel_size}"


class AvgPool2d(MaxPool2d):
    """Average pooling layer (no parameters)."""

    def forward(self, x: Tensor) -> Tensor:
        return avg_pool2d(x, self.kernel_size, self.stride)


# %% [markdown]
# ### Unit test: pooling
# Values against a loop reference (overlapping windows too), the tie rule, and gradients that
# land on the winning element.

# %% nbgrader={"grade": true, "grade_id": "test-pooling", "locked": true, "points": 15, "schema_version": 3, "solution": false, "task": false}
def test_unit_pooling():
    from tinytorch.autograd import gradcheck
    rng = np.random.default_rng(2)
    for shape, k, s in [((2, 3, 6, 6), 2, None), ((1, 2, 7, 5), 3, 2), ((2, 1, 5, 7), (2, 3), (1, 2)),
                        ((2, 2, 5, 6), 2, (1, 2)), ((2, 2, 6, 5), 2, (2, 1)),  # windows overlap along one axis
                        ((2, 2, 7, 6), (3, 2), 2), ((2, 2, 6, 7), (2, 3), 2)]:
        x = rng.normal(size=shape).astype(np.float32)
        kh, kw = (k, k) if isinstance(k, int) else k
        sh, sw = (kh, kw) if s is None else ((s, s) if isinstance(s, int) else s)
        oh, ow = (shape[2] - kh) // sh + 1, (shape[3] - kw) // sw + 1
        want_max, want_avg = np.zeros(shape[:2] + (oh, ow)), np.zeros(shape[:2] + (oh, ow))
        want_grad = np.zeros(shape)
        for i in range(oh):
            for j in range(ow):
                win = x[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw].reshape(shape[0], shape[1], -1)
                want_max[:, :, i, j], want_avg[:, :, i, j] = win.max(-1), win.mean(-1)
                arg = win.argmax(-1)
                for n in range(shape[0]):
                    for c in range(shape[1]):
                        want_grad[n, c, i * sh + arg[n, c] // kw, j * sw + arg[n, c] % kw] += i + 10 * j + 1
        xt = Tensor(x, requires_grad=True)
        mp = max_pool2d(xt, k, s)
        assert mp.shape == want_max.shape, f"max_pool2d shape {mp.shape}, expected {want_max.shape}"
        assert np.allclose(mp.data, want_max), f"max_pool2d values wrong for kernel {k}, stride {s}"
        assert np.allclose(avg_pool2d(Tensor(x), k, s).data, want_avg, atol=1e-6), \
            f"avg_pool2d values wrong for kernel {k}, stride {s}"
        g = (np.arange(oh)[:, None] + 10 * np.arange(ow)[None, :] + 1).astype(np.float32)
        (mp * Tensor(g)).sum().backward()
        assert np.allclose(xt.grad.data, want_grad), f"max_pool2d gradient must go to each window's maximum (kernel {k}, stride {s})"

    tie = Tensor(np.array([[[[1, 3, 3, 0], [3, 2, 0, 0]]]], dtype=np.float32), requires_grad=True)
    pooled = max_pool2d(tie, 2)
    assert np.array_equal(pooled.data, [[[[3, 3]]]])
    (pooled * Tensor([[[[10.0, 20.0]]]])).sum().backward()
    assert np.array_equal(tie.grad.data, [[[[0, 10, 20, 0], [0, 0, 0, 0]]]]), \
        f"ties go to the first maximum in row-major order only, got {tie.grad.data}"

    x = Tensor(rng.normal(size=(2, 2, 5, 6)), requires_grad=True)
    assert gradcheck(lambda t: max_pool2d(t, 2), x), "max_pool2d gradient wrong"
    assert gradcheck(lambda t: max_pool2d(t, 3, 2), x), "max_pool2d gradient wrong (overlapping)"
    assert gradcheck(lambda t: avg_pool2d(t, (2, 3), (1, 2)), x), "avg_pool2d gradient wrong"
    assert MaxPool2d(2)(x).shape == (2, 2, 2, 3) and AvgPool2d(2, 1)(x).shape == (2, 2, 4, 5)
    print("pooling: OK")


if __name__ == "__main__":
    test_unit_pooling()

# %% [markdown]
# ## 8. Batch normalization
#
# Deep CNNs train faster and tolerate larger learning rates when each channel's
# pre-activations are kept centred and of unit scale (Ioffe & Szegedy, 2015). `BatchNorm2d(C)`
# normalizes each channel over the `M = N·H·W` values it has in the batch, then lets the network
# rescale: with per-channel batch mean `μ` and (biased) variance `σ²`,
#
# `x̂ = (x − μ) / sqrt(σ² + eps)`,  `y = γ · x̂ + β`
#
# with learnable `γ` (`weight`, ones) and `β` (`bias`, zeros), both of shape `(C,)`.
#
# **Training vs evaluation** (PyTorch's semantics, exactly):
# - `train()`: normalize with the batch's `μ`, `σ²`; update running estimates
#   `running_mean ← (1 − m)·running_mean + m·μ` and
#   `running_var ← (1 − m)·running_var + m·σ²·M/(M − 1)` (the **unbiased** variance), with
#   `momentum m = 0.1`, starting from 0 and 1. A batch with `M = 1` cannot be normalized: error.
# - `eval()`: normalize with the running estimates, so a prediction does not depend on what
#   else is in the batch.
# The running estimates are plain NumPy arrays, not parameters: the optimizer must not touch them.
#
# **Backward** (training mode), per channel, with `ĝ = γ·g` and means over the `M` values:
#
# `∂L/∂x = (ĝ − mean(ĝ) − x̂ · mean(ĝ · x̂)) / sqrt(σ² + eps)`
#
# The two subtracted terms are the gradient flowing through `μ` and `σ²`: every output depends
# on every input of its channel. In evaluation mode `μ`, `σ²` are constants and
# `∂L/∂x = ĝ / sqrt(σ² + eps)`. Both modes: `∂L/∂γ = Σ g·x̂`, `∂L/∂β = Σ g`.
# One fused op with this closed form costs a few passes over the activations; building it from
# `mean`, `sub`, `pow`, `sqrt`, `div` would record ten ops and allocate ten temporaries.

# %% nbgrader={"grade": false, "grade_id": "batchnorm", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
def batch_norm2d(x: Tensor, weight: Tensor, bias: Tensor, running_mean: np.ndarray | None = None,
                 running_var: np.ndarray | None = None, training: bool = True, momentum: float = 0.1,
                 eps: float = 1e-5) -> Tensor:
    """Batch normalization over (N, H, W) per channel. In training, uses the batch statistics and
    updates `running_mean`/`running_var` in place (when given); otherwise uses them."""
    x, weight, bias = Tensor._lift(x), Tensor._lift(weight), Tensor._lift(bias)
    if x.ndim != 4:
        raise ValueError(f"batch_norm2d needs input of shape (N, C, H, W), got {x.shape}")
    count = x.shape[0] * x.shape[2] * x.shape[3]
    if training and count < 2:
        raise ValueError(f"batch_norm2d needs more than one value per channel in training, got input {x.shape}")
    if not training and (running_mean is None or running_var is None):
        raise ValueError("batch_norm2d in evaluation mode needs running_mean and running_var")
    per_channel = (1, -1, 1, 1)  # reshape a (C,) array to this to broadcast over (N, C, H, W)
    # Set `x_hat` (normalized x), `inv_std` (C,) = 1 / sqrt(var + eps), and `out`.
    # Hint: in training, mean and (biased) `var` over axes (0, 2, 3), and update the running
    # arrays *in place* (`*=`, `+=`: the layer holds them) with the unbiased var·M/(M − 1),
    # M = `count`. In evaluation, use the running arrays. Keep x's dtype (float32).
    ### BEGIN SOLUTION
    if training:
        mean = x.data.mean(axis=(0, 2, 3))
        var = x.data.var(axis=(0, 2, 3))
        if running_mean is not None:
            running_mean *= 1 - momentum
            running_mean += momentum * mean
        if running_var is not None:
            running_var *= 1 - momentum
            running_var += momentum * var * count / (count - 1)
    else:
        mean, var = running_mean, running_var
    inv_std = (1.0 / np.sqrt(var + eps)).astype(x.dtype)
    x_hat = (x.data - mean.astype(x.dtype).reshape(per_channel)) * inv_std.reshape(per_channel)
    out = x_hat * weight.data.reshape(per_channel) + bias.data.reshape(per_channel)
    ### END SOLUTION
    return Tensor._op("batch_norm2d", out, x, weight, bias, x_hat=x_hat, inv_std=inv_std,
                      batch_stats=training)


@register_backward("batch_norm2d")
def _batch_norm2d_backward(grad, out, x, weight, bias, x_hat, inv_std, batch_stats):
    """`(grad_x, grad_weight, grad_bias)`; `batch_stats` is True when the forward normalized
    with the batch's own statistics (training), so that μ and σ² depend on x."""
    per_channel = (1, -1, 1, 1)
    # Hint: the formulas of section 8, sums and means over axes (0, 2, 3); M = grad.size / C.
    # Note that mean(ĝ·x̂) per channel is (γ · ∂L/∂γ) / M.
    ### BEGIN SOLUTION
    grad_weight = (grad * x_hat).sum(axis=(0, 2, 3))
    grad_bias = grad.sum(axis=(0, 2, 3))
    g_hat = grad * weight.data.reshape(per_channel)
    if batch_stats:
        count = grad.size / grad.shape[1]
        g_hat = (g_hat - g_hat.mean(axis=(0, 2, 3), keepdims=True)
                 - x_hat * (grad_weight * weight.data / count).reshape(per_channel))
    grad_x = g_hat * inv_std.reshape(per_channel)
    return grad_x, grad_weight, grad_bias
    ### END SOLUTION


class BatchNorm2d(Module):
    """Per-channel batch normalization of (N, C, H, W) inputs, with running statistics."""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1):
        super().__init__()
        self.num_features, self.eps, self.momentum = int(num_features), eps, momentum
        self.weight = Tensor(np.ones(num_features), requires_grad=True)
        self.bias = Tensor(np.zeros(num_features), requires_grad=True)
        self.running_mean = np.zeros(num_features, dtype=np.float32)
        self.running_var = np.ones(num_features, dtype=np.float32)

    def forward(self, x: Tensor) -> Tensor:
        x = Tensor._lift(x)
        if x.ndim != 4 or x.shape[1] != self.num_features:
            raise ValueError(f"{self!r} expects input of shape (N, {self.num_features}, H, W), got {x.shape}")
        # Hint: `batch_norm2d` with this layer's parameters, running statistics, mode
        # (`self.training`), momentum and eps.
        ### BEGIN SOLUTION
        return batch_norm2d(x, self.weight, self.bias, self.running_mean, self.running_var,
                            training=self.training, momentum=self.momentum, eps=self.eps)
        ### END SOLUTION

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}"


# %% [markdown]
# ### Unit test: batch normalization
# Statistics per channel (axis 1), PyTorch's running-statistics update with the unbiased
# variance, evaluation with the running statistics, and gradients in both modes.

# %% nbgrader={"grade": true, "grade_id": "test-batchnorm", "locked": true, "points": 15, "schema_version": 3, "solution": false, "task": false}
def test_unit_batchnorm():
    from tinytorch.autograd import gradcheck
    rng = np.random.default_rng(3)
    x = (rng.normal(size=(4, 3, 5, 2)) * [[[[1.0]], [[3.0]], [[0.5]]]] + [[[[2.0]], [[-1.0]], [[0.0]]]]).astype(np.float32)
    bn = BatchNorm2d(3)
    assert [p.shape for p in bn.parameters()] == [(3,), (3,)], "parameters are weight and bias only"
    y = bn(Tensor(x))
    assert y.shape == x.shape
    assert np.allclose(y.data.mean(axis=(0, 2, 3)), 0, atol=1e-5), "each channel is centred over (N, H, W)"
    assert np.allclose(y.data.var(axis=(0, 2, 3)), 1, atol=1e-3), "each channel has unit (biased) variance"
    mean, var = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3), ddof=1)
    assert np.allclose(bn.running_mean, 0.1 * mean, atol=1e-5), f"running_mean {bn.running_mean}, expected {0.1 * mean}"
    assert np.allclose(bn.running_var, 0.9 + 0.1 * var, atol=1e-5), \
        f"running_var {bn.running_var}, expected 0.9 + 0.1 * unbiased variance = {0.9 + 0.1 * var}"
    x2 = 2 * x[::-1] + 1
    bn(Tensor(x2))
    want_mean = 0.9 * 0.1 * mean + 0.1 * x2.mean(axis=(0, 2, 3))
    want_var = 0.9 * (0.9 + 0.1 * var) + 0.1 * x2.var(axis=(0, 2, 3), ddof=1)
    assert np.allclose(bn.running_mean, want_mean, atol=1e-5) and np.allclose(bn.running_var, want_var, atol=1e-4), \
        "running = (1 - momentum) * running + momentum * batch statistic, at every training step"
    wide = BatchNorm2d(3, eps=0.5)(Tensor(x))
    want = (x - x.mean(axis=(0, 2, 3), keepdims=True)) / np.sqrt(x.var(axis=(0, 2, 3), keepdims=True) + 0.5)
    assert np.allclose(wide.data, want, atol=1e-5), "eps is added to the variance under the square root"
    bn.weight.data[:] = [1.0, 2.0, 3.0]
    bn.bias.data[:] = [0.0, 1.0, -1.0]
    bn.eval()
    z = bn(Tensor(x))
    want = ((x - bn.running_mean[None, :, None, None]) / np.sqrt(bn.running_var[None, :, None, None] + 1e-5)
            * np.array([1.0, 2.0, 3.0])[None, :, None, None] + np.array([0.0, 1.0, -1.0])[None, :, None, None])
    assert np.allclose(z.data, want, atol=1e-4), "eval() normalizes with the running statistics"
    before = bn.running_mean.copy()
    bn(Tensor(x))
    assert np.array_equal(bn.running_mean, before), "eval() must not update the running statistics"

    xs, w, b = (Tensor(rng.normal(size=shape), requires_grad=True) for shape in [(3, 2, 3, 2), (2,), (2,)])
    rm, rv = np.array([0.5, -0.5]), np.array([2.0, 0.5])
    assert gradcheck(lambda x, w, b: batch_norm2d(x, w, b, training=True), xs, w, b), \
        "batch_norm2d gradient wrong in training mode"
    assert gradcheck(lambda x, w, b: batch_norm2d(x, w, b, rm, rv, training=False), xs, w, b), \
        "batch_norm2d gradient wrong in evaluation mode"
    print("batch norm: OK")


if __name__ == "__main__":
    test_unit_batchnorm()

# %% [markdown]
# ## 9. How fast is it?
#
# Measure on **your** machine: speed depends on the CPU, the BLAS library NumPy uses and what
# else is running, so no table in a text can tell you your numbers.
#
# - The next cell times your `conv2d` against your `conv2d_naive` on a small batch.
# - `python benchmarks/run.py` times TinyTorch against PyTorch's CPU build (when installed) on
#   the same data and the same initial weights: a `Conv2d(3, 16, 3, padding=1)` forward pass
#   and a small CNN training step, one thread each, alternating the two frameworks so that both
#   see the same machine state. Trust its ratios more than its milliseconds.
#
# For context, on our 2-core reference machine TinyTorch's convolution forward pass took roughly
# 1.5–2× PyTorch's time (the im2col copy, the padding and the separate bias pass are what
# PyTorch's fused kernels avoid), while the small training step ran faster than PyTorch's,
# whose fixed cost per op (dispatcher, autograd engine) dominates at that size. The milestone `milestones/04_1998_cnn/01_lecun_tinydigits.py` trains a
# LeNet-style CNN built from your layers on TinyDigits to about 98 % test accuracy.

# %% nbgrader={"grade": false, "grade_id": "speed-demo", "locked": false, "schema_version": 3, "solution": false, "task": false}
if __name__ == "__main__":
    import time

    demo_rng = np.random.default_rng(0)
    demo_x = demo_rng.normal(size=(2, 3, 16, 16)).astype(np.float32)
    demo_w = demo_rng.normal(size=(8, 3, 3, 3)).astype(np.float32)
    start = time.perf_counter()
    slow = conv2d_naive(demo_x, demo_w, padding=1)
    naive_time = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(100):
        fast = conv2d(Tensor(demo_x), Tensor(demo_w), padding=1)
    fast_time = (time.perf_counter() - start) / 100
    print(f"naive loops: {naive_time * 1e3:.1f} ms, im2col + matmul: {fast_time * 1e3:.3f} ms "
          f"({naive_time / fast_time:,.0f}x faster); same result: {np.allclose(slow, fast.data, atol=1e-4)}")

# %% [markdown]
# ## Module test
# LeNet in miniature on TinyDigits (8×8 handwritten digits): convolution, batch norm, ReLU,
# max pool, flatten, linear, trained with the DataLoader of module 08 and Adam. It should pass
# 90 % test accuracy within three epochs.

# %% nbgrader={"grade": true, "grade_id": "test-module", "locked": true, "points": 15, "schema_version": 3, "solution": false, "task": false}
def test_module():
    from tinytorch.datasets import load_tinydigits
    from tinytorch.dataloader import DataLoader, TensorDataset
    from tinytorch.layers import Linear, Sequential
    from tinytorch.activations import ReLU
    from tinytorch.losses import CrossEntropyLoss
    from tinytorch.optimizers import Adam
    from tinytorch.autograd import no_grad

    x_train, y_train, x_test, y_test = load_tinydigits()
    x_train, x_test = x_train[:, None], x_test[:, None]  # (N, 1, 8, 8)
    model = Sequential(Conv2d(1, 16, 3, padding=1, rng=0), BatchNorm2d(16), ReLU(), MaxPool2d(2),
                       Flatten(), Linear(16 * 4 * 4, 10, rng=1))
    assert len(model.parameters()) == 6, "conv weight, bias, batch-norm weight, bias, linear weight, bias"
    loss_fn, opt = CrossEntropyLoss(), Adam(model.parameters(), lr=0.01)
    loader = DataLoader(TensorDataset(x_train, y_train), batch_size=32, shuffle=True, seed=0)
    first = last = None
    model.train()
    for _ in range(3):
        for xb, yb in loader:
            loss = loss_fn(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            first = loss.item() if first is None else first
            last = loss.item()
    assert last < first / 4, f"the loss should drop well below its start: {first:.3f} -> {last:.3f}"
    model.eval()
    with no_grad():
        predictions = model(Tensor(x_test)).data.argmax(axis=1)
    accuracy = float((predictions == y_test).mean())
    assert accuracy > 0.9, f"a small CNN should pass 90% test accuracy on TinyDigits, got {accuracy:.1%}"
    print(f"module 09: all tests passed (TinyDigits CNN test accuracy {accuracy:.1%})")


if __name__ == "__main__":
    test_module()

# %% [markdown]
# ## Reflection
# - The im2col buffer of a 3×3 convolution is 9× its input. For a `Conv2d(64, 64, 3, padding=1)`
#   on a batch of 128 images of 56×56, how large is it? What could you do if it did not fit?
# - Your max-pool backward rebuilds the winner mask from the input and output. What would you
#   store instead if inputs were freed after the forward pass, and what would it cost?
# - Training costs about three convolutions per layer per step (forward, weight gradient,
#   input gradient). Which of the three can the first layer skip, and why?
# - Why must `BatchNorm2d` be in `eval()` mode when you measure test accuracy?
