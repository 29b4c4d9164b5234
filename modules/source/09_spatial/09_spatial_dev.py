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
# millions of times; written as Python loops it costs thousands of times more CPU time than it
# needs to. You will write the loops once to understand them, then ship the version every framework
# uses: **im2col**, which turns the whole convolution into *one* matrix multiplication.
#
# Much of this module is design, not translation: you derive the output size, lay out the
# im2col matrix so that one matmul is the convolution, and work out each backward pass from
# the structure of its forward pass. Each section gives the specification, the math and a
# worked example; the code is yours.
#
# ## Learning objectives
# - Derive the output shape of convolution and pooling from kernel, stride and padding.
# - Write the naive convolution and count its cost in FLOPs and in seconds.
# - Design the im2col layout: a zero-copy view of every window, one copy, one matmul.
# - Derive the backward pass: bias and weight gradients from the matmul rule, the input
#   gradient by **col2im**, the adjoint of im2col.
# - Implement max pooling (gradient routed to the winning element, ties as in PyTorch) and
#   average pooling, and derive their backward passes.
# - Implement batch normalization with PyTorch's training/evaluation semantics.
#
# ## How to work
# In your edition, each piece you write is a stub that raises `NotImplementedError`: replace
# the `raise` with your code, then run the test cell right after it. Stuck? `tito hint 09`
# lists the stubs; `tito hint 09 NAME` (e.g. `tito hint 09 im2col`) shows the next hint for one
# stub, from the idea to the math to the shape of the code, one level at a time. When every
# test passes, run `tito module complete 09`: its pytest suite checks every backward rule with
# `gradcheck` and, when PyTorch is installed, against PyTorch.

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
# ## 1. Why convolutions, and the output size
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
# **Output size: derive it.** Look along one axis of length `n`, with kernel `k`, stride `s`
# and padding `p`. The padded axis has `n + 2p` positions, numbered from 0. Windows start at
# `0, s, 2s, …`; a window starting at `t` covers positions `t … t + k − 1`, and every one of
# them must exist. The output length is the number of windows that fit.
#
# Worked example: `n = 7, k = 2, s = 2, p = 0`. Starts 0, 2 and 4 fit (the window at 4 covers
# positions 4 and 5); a window at 6 would need position 7, which does not exist. So the output
# has **3** positions, and position 6 is never read. Count the starts in general, with a
# formula in `n, k, s, p`, and check it on this table before you code it:
#
# | input `n` | kernel `k` | stride `s` | padding `p` | output | note |
# |---|---|---|---|---|---|
# | 28 | 3 | 1 | 0 | 26 | "valid": shrinks by k − 1 |
# | 28 | 3 | 1 | 1 | 28 | "same": p = (k − 1) / 2 keeps the size |
# | 32 | 3 | 2 | 1 | 16 | stride 2 halves it |
# | 7 | 2 | 2 | 0 | 3 | the last position is never used |
# | 10 | 3 | 3 | 2 | 4 | |
#
# When not even one window fits (a kernel larger than the padded input), `conv_output_size`
# raises `ValueError` (given: you only compute the count).

# %% nbgrader={"grade": false, "grade_id": "output-size", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
def conv_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0) -> int:
    """Number of windows along one axis (section 1); ValueError when no window fits."""
    # Set `out`, the number of window starts that fit.
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
    from tinytorch.testing import raises
    cases = [((28, 3, 1, 0), 26), ((28, 3, 1, 1), 28), ((32, 3, 2, 1), 16), ((7, 2, 2, 0), 3),
             ((8, 2, 2, 0), 4), ((5, 5, 1, 0), 1), ((10, 3, 3, 2), 4), ((9, 4, 2, 3), 6)]
    for args, want in cases:
        got = conv_output_size(*args)
        assert got == want, f"conv_output_size{args} (size, kernel, stride, padding) = {got}, expected {want}"
    raises(ValueError, lambda: conv_output_size(2, 5), "does not fit")
    print("output size: OK")


if __name__ == "__main__":
    test_unit_output_size()

# %% [markdown]
# ## 2. The naive convolution, and what it costs
#
# The formula of section 1 is seven nested loops (six per image): batch, output channel, output
# row, output column, then the dot product over input channel, kernel row, kernel column. Write
# it plainly: it is the reference the fast version must agree with. (It takes NumPy arrays and
# is not part of the package: nobody should train with it.) The padding and the output array
# are given; each output starts from its channel's bias (0 without a bias).
#
# **Cost.** Each output value is a dot product of length `C·kh·kw`, so a convolution costs
#
# `FLOPs = 2 · N · O · OH · OW · C · kh · kw`
#
# (a multiply and an add per term). For a batch of 64 CIFAR images (3×32×32) through 32 filters
# of 3×3 with padding 1: 2 · 64 · 32 · 32 · 32 · 3 · 3 · 3 = **113 MFLOPs**, i.e. 57 million
# multiply-adds. This loop runs one multiply-add per Python iteration, each paying for bytecode
# dispatch, boxing a float and a NumPy scalar lookup: about 340 ns of CPU time per term, so
# about **19 seconds** of CPU for that batch. The vectorized convolution of section 4 (padding,
# im2col, one BLAS matrix multiply at tens of GFLOP/s with SIMD and cache blocking, the bias)
# does the same arithmetic in about **4 ms** of CPU: some **4,000 times less**. (Measured with
# `time.process_time`, one BLAS thread, on our shared 2-core machine at a load average of about
# 9; CPU time, unlike wall time, hardly depends on the load, and a ratio of two CPU times even
# less.) Python is fast enough to *orchestrate* arithmetic, never to *do* it element by element.
# The demo cell of section 10 measures both on your machine, on a batch small enough for the
# loops; there the ratio is smaller (about 500 on ours), because the vectorized version's fixed
# costs (a few Python calls, small BLAS calls) weigh more on a small batch.

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
    # Fill `out` with the formula of section 1, reading the padded `xp`.
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
    from tinytorch.testing import close
    x = np.arange(1, 10, dtype=np.float32).reshape(1, 1, 3, 3)
    w = np.array([[[[1, 2], [3, 4]]]], dtype=np.float32)
    out = conv2d_naive(x, w)
    close(out, [[[[37, 47], [67, 77]]]], what="3x3 image, 2x2 kernel (a flipped kernel gives 23 at [0, 0])")
    strided = conv2d_naive(x, w, np.array([0.5], np.float32), stride=2, padding=1)
    close(strided, [[[[4.5, 18.5], [36.5, 77.5]]]], what="stride 2, padding 1, bias 0.5")
    two = conv2d_naive(np.concatenate([x, 2 * x], axis=1), np.concatenate([w, -w], axis=1))
    close(two, -out, what="two input channels (x, 2x) with kernels (w, -w): the channels must be summed")
    biased = conv2d_naive(np.concatenate([x, 2 * x], axis=1), np.concatenate([w, -w], axis=1), np.array([0.5], np.float32))
    close(biased, 0.5 - out, what="two input channels and bias 0.5: the bias is added once per output, not once per channel")
    print("naive convolution: OK")


if __name__ == "__main__":
    test_unit_conv_naive()

# %% [markdown]
# ## 3. im2col: every window as a column
#
# Fix one output position `(i, j)`. The outputs over all `O` channels are then a
# matrix-vector product: the weight seen as a matrix `W = weight.reshape(O, K)`, with
# `K = C·kh·kw`, times the window unrolled into a vector of length `K`. Put the `L = OH·OW`
# windows of an image side by side as the columns of a `(K, L)` matrix `cols`, and the whole
# convolution of that image is **one matrix product** `(O, K) @ (K, L) -> (O, L)`. Building
# `cols` is called **im2col** (image to columns).
#
# **Design the layout.** Two index conventions are already fixed by the rest of the
# computation, and `cols` must agree with both:
# - **Rows.** `weight.reshape(O, K)` flattens the axes `(C, kh, kw)` in row-major order. Which
#   `(c, di, dj)` does column `k` of `W` hold? Row `k` of `cols` must hold the pixel that
#   this weight multiplies.
# - **Columns.** The product `(O, L)` will be reshaped to `(O, OH, OW)`, row-major again. Which
#   output position `(i, j)` is column `l`?
#
# Write down the map `cols[n, k, l] = x_pad[n, c, ?, ?]` (with `k` and `l` expressed through
# `c, di, dj, i, j`) before writing any code. A wrong layout does not crash: it silently
# computes a different convolution.
#
# Worked example: one image, one channel, 3×4 with values 1…12, kernel 2×3, stride 1, so
# `OH = 2`, `OW = 2`, `K = 6`, `L = 4`:
#
# ```
# x_pad = [[ 1  2  3  4]       cols[0] = [[ 1  2  5  6]     row k = (di, dj) = (0, 0)
#          [ 5  6  7  8]                  [ 2  3  6  7]                        (0, 1)
#          [ 9 10 11 12]]                 [ 3  4  7  8]                        (0, 2)
#                                         [ 5  6  9 10]                        (1, 0)
#                                         [ 6  7 10 11]                        (1, 1)
#                                         [ 7  8 11 12]]                       (1, 2)
# ```
#
# Column 1 is the window at `(i, j) = (0, 1)`, the block `[[2, 3, 4], [6, 7, 8]]` read row by
# row; column 2 is the window at `(1, 0)`. With a second channel, its six rows would follow
# these six.
#
# **Windows without copying.** NumPy can present every stride-1 window of an array as a
# *view*, with two extra axes for the position inside the window: it reuses the row and column
# strides twice, so it costs no memory however many windows overlap (`sliding_window_view`,
# imported at the top; its documentation says which axes it adds and where). Basic slicing of
# a view (with a step, say) is again a view.
#
# **One copy.** Going from the windows to `(N, K, L)` must copy once: this is the im2col buffer,
# `kh·kw` times the size of the input for stride 1 (9× for 3×3 kernels). For a batch of 64
# CIFAR images and a 3×3 kernel: 64 · 27 · 1024 · 4 B = 7 MB.

# %% nbgrader={"grade": false, "grade_id": "im2col", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
def im2col(x_pad: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int]) -> np.ndarray:
    """Unroll every (kh, kw) window of an already padded (N, C, Hp, Wp) array.

    Returns `cols` of shape (N, C·kh·kw, OH·OW) in the layout of section 3: row k matches
    column k of `weight.reshape(O, -1)`, column l is output position l of the row-major
    (OH, OW) grid. One copy; `x_pad` is not changed; the dtype is kept.
    """
    (kh, kw), (sh, sw) = kernel, stride
    n, c = x_pad.shape[:2]
    ### BEGIN SOLUTION
    windows = sliding_window_view(x_pad, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]  # view
    oh, ow = windows.shape[2:4]
    return windows.transpose(0, 1, 4, 5, 2, 3).reshape(n, c * kh * kw, oh * ow)  # the one copy
    ### END SOLUTION


# %% [markdown]
# ### Unit test: im2col
# First the worked example of section 3, entry by entry: a non-square image with distinct
# values, so that swapping two axes of the layout changes the result. Then a second channel,
# a stride, and random cases checked against the index map.

# %% nbgrader={"grade": true, "grade_id": "test-im2col", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false}
def test_unit_im2col():
    from tinytorch.testing import close
    x = np.arange(1, 13, dtype=np.float32).reshape(1, 1, 3, 4)
    want = np.array([[1, 2, 5, 6], [2, 3, 6, 7], [3, 4, 7, 8],
                     [5, 6, 9, 10], [6, 7, 10, 11], [7, 8, 11, 12]], dtype=np.float32)
    got = im2col(x, (2, 3), (1, 1))
    assert not np.array_equal(got, want.reshape(2, 3, 4).transpose(1, 0, 2).reshape(1, 6, 4)), \
        "the worked example of section 3: the rows come in (dj, di) order; row k must be (c, di, dj) in row-major " \
        "order, the order in which weight.reshape(O, -1) flattens the kernel"
    assert not np.array_equal(got, want.reshape(6, 2, 2).transpose(0, 2, 1).reshape(1, 6, 4)), \
        "the worked example of section 3: the columns come in (j, i) order; column l must be output position (i, j) " \
        "in row-major order, the order in which (O, L) is reshaped to (O, OH, OW)"
    close(got, want[None], what="the worked example of section 3 (rows (di, dj), columns (i, j))")

    two = np.concatenate([x, 100 + x], axis=1)  # channel 1 holds 101..112
    close(im2col(two, (2, 3), (1, 1)), np.concatenate([want, 100 + want])[None],
          what="two channels: channel 0's six rows, then channel 1's")
    strided = im2col(np.arange(1, 21, dtype=np.float32).reshape(1, 1, 4, 5), (2, 2), (2, 3))
    close(strided, [[[1, 4, 11, 14], [2, 5, 12, 15], [6, 9, 16, 19], [7, 10, 17, 20]]],
          what="4x5 image 1..20, kernel 2x2, stride (2, 3): windows start at rows 0, 2 and columns 0, 3")

    rng = np.random.default_rng(0)
    xp = rng.normal(size=(2, 3, 7, 6))
    cols = im2col(xp, (3, 2), (2, 3))
    assert cols.shape == (2, 3 * 3 * 2, 3 * 2), f"shape {cols.shape}, expected (2, 18, 6)"
    for n, c, di, dj, i, j in [(0, 0, 0, 0, 0, 0), (1, 2, 2, 1, 2, 1), (0, 1, 1, 0, 1, 1), (1, 0, 2, 0, 0, 1)]:
        k, l = (c * 3 + di) * 2 + dj, i * 2 + j
        assert cols[n, k, l] == xp[n, c, i * 2 + di, j * 3 + dj], \
            f"cols[{n}, {k}, {l}] = {cols[n, k, l]}, expected x_pad[{n}, {c}, {i * 2 + di}, {j * 3 + dj}] " \
            f"= {xp[n, c, i * 2 + di, j * 3 + dj]}"
    print("im2col: OK")


if __name__ == "__main__":
    test_unit_im2col()

# %% [markdown]
# ## 4. The convolution, vectorized
#
# `conv2d(x, weight, bias, stride, padding)` is section 3 made real: the padding of section 1
# (on H and W only: images and channels are never padded), im2col, and **one matmul** with the
# `(O, K)` weight matrix, plus the bias of each output channel; the result has shape
# `(N, O, OH, OW)`. Which single product gives `(N, O, L)` directly from `(O, K)` and
# `(N, K, L)`? Recall from module 01 how `@` treats leading axes. Keep the result float32 for
# float32 inputs.
#
# The op is returned through `Tensor._op("conv2d", …)` (given) with the stride, the padding and
# `cols` in the context: the backward pass needs `cols` to compute the weight gradient (memory
# traded for time). The validation of the arguments is given too.

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
    # Set `cols` (the (N, K, L) im2col buffer, kept for the backward pass) and `out` (N, O, OH, OW).
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
    from tinytorch.testing import close

    def reference(x, w, b, s, p):  # loop over output positions, dot product over (C, kh, kw)
        (sh, sw), (ph, pw) = _pair(s), _pair(p)
        xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
        kh, kw = w.shape[2:]
        oh, ow = (xp.shape[2] - kh) // sh + 1, (xp.shape[3] - kw) // sw + 1
        out = np.zeros((x.shape[0], w.shape[0], oh, ow))
        for i in range(oh):
            for j in range(ow):
                patch = xp[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw]
                out[:, :, i, j] = np.tensordot(patch, w, axes=([1, 2, 3], [1, 2, 3]))
        return out + (0 if b is None else b[None, :, None, None])

    x = np.arange(1, 10, dtype=np.float32).reshape(1, 1, 3, 3)
    w = np.array([[[[1, 2], [3, 4]]]], dtype=np.float32)
    out = conv2d(Tensor(x), Tensor(w))
    assert isinstance(out, Tensor), f"conv2d returns a Tensor, got {type(out).__name__}"
    close(out, [[[[37, 47], [67, 77]]]],
          what="3x3 image, 2x2 kernel [[1, 2], [3, 4]] (35 at [0, 0]: the kernel's rows and columns swapped when "
               "flattened to (O, K); 23: the kernel flipped)")
    rng = np.random.default_rng(0)
    # The bias alone: out with it minus out without it is bias[o] at every image and position of channel o.
    # 4 output channels and 2x2 = 4 positions, so a bias added along the positions runs without an error.
    xb, wb, bb = rng.normal(size=(2, 1, 4, 4)), rng.normal(size=(4, 1, 3, 3)), np.array([1.0, 2.0, 3.0, 4.0])
    plain = conv2d(Tensor(xb), Tensor(wb)).data
    try:
        added = conv2d(Tensor(xb), Tensor(wb), Tensor(bb)).data - plain
    except ValueError as error:
        if "broadcast" not in str(error):
            raise
        raise AssertionError(f"conv2d of x (2, 1, 4, 4) with 4 filters and a bias (4,) raised ValueError ({error}), and "
                             f"runs without the bias: the bias is added along the wrong axis. bias[o] belongs to "
                             f"output channel o, axis 1 of (N, O, OH, OW), and of (N, O, L) before the reshape") from None
    if not np.allclose(added, bb[None, :, None, None], atol=1e-5):
        along = ("it runs over the 4 positions instead (the L axis of (N, O, L)): the bias was added along the wrong "
                 "axis" if np.allclose(added, bb.reshape(1, 1, 2, 2), atol=1e-5) else
                 f"got {np.round(added[0, :, 0, 0], 4).tolist()} over the channels at image 0, position (0, 0), and "
                 f"{np.round(added[0, 0].ravel(), 4).tolist()} over the positions of channel 0 (expected 1 at each)")
        raise AssertionError(f"conv2d's bias [1, 2, 3, 4] on 4 output channels of 2x2: out with the bias minus out "
                             f"without it must be bias[o] at every image and position of channel o (axis 1); {along}")
    for shape, wshape, s, p, use_bias in [((2, 3, 7, 6), (4, 3, 3, 2), 1, 0, True),
                                          ((2, 3, 7, 6), (4, 3, 3, 3), 2, 1, True),
                                          ((3, 2, 8, 8), (5, 2, 2, 2), 2, 0, False),
                                          ((1, 1, 5, 5), (2, 1, 3, 3), 3, 2, True),
                                          ((2, 2, 5, 5), (3, 2, 3, 3), 1, (1, 0), True)]:  # rows padded, not columns
        xv = rng.normal(size=shape).astype(np.float32)
        wv = rng.normal(size=wshape).astype(np.float32)
        bv = rng.normal(size=wshape[0]).astype(np.float32) if use_bias else None
        got = conv2d(Tensor(xv), Tensor(wv), None if bv is None else Tensor(bv), stride=s, padding=p)
        close(got, reference(xv, wv, bv, s, p), atol=1e-4, what=f"x {shape}, w {wshape}, stride {s}, padding {p} (a pair is (rows, columns))")
        assert got.dtype == np.float32, f"float32 in, float32 out: got {got.dtype}"
    print("conv2d forward: OK")


if __name__ == "__main__":
    test_unit_conv2d()

# %% [markdown]
# ### Why this layout?
# We measured the CPU time of five ways of doing the contraction for `(64, 3, 32, 32)` → 32
# channels, 3×3, padding 1, each starting from the padded batch and ending with `(N, O, OH, OW)`
# (`time.process_time`, one thread each, best of three runs of 20 calls, on our shared 2-core
# machine at a load average of about 9). Your milliseconds will differ; the ratios, and the
# ranking, are the point:
#
# | contraction | CPU time | ÷ batched | why |
# |---|---|---|---|
# | `np.tensordot(windows, w, axes=…)` | 12.6 ms | 4.0× | copies the windows to `(N·L, K)` with a slow gather, result needs a transpose |
# | `np.einsum('nchwij,ocij->nohw', …, optimize=True)` | 3.6 ms | 1.1× | a copy and a contraction chosen by einsum's optimizer |
# | one big GEMM `(O, K) @ (K, N·L)` | 8.2 ms | 2.6× | one BLAS call, but the windows are gathered to `(K, N·L)` and the output `(O, N, L)` transposed to `(N, O, L)`: two more large copies |
# | **`(O, K) @ (N, K, L)`, batched** | **3.1 ms** | **1** | copy has contiguous rows; output already in NCHW order |
# | PyTorch `F.conv2d` (oneDNN) | 2.5 ms | 0.8× | |
#
# The naive loops take about 19 s of CPU for the same batch, some 6,000 times the batched
# contraction.

# %% [markdown]
# ## 5. The backward pass
#
# Per image, the forward pass is `out[o, l] = Σ_k W[o, k] · cols[k, l] + b[o]`, with
# `W = weight.reshape(O, K)`. Given `g = ∂loss/∂out` of shape `(N, O, OH, OW)`, viewed as
# `(N, O, L)`, the rule returns one gradient per input: `x`, `weight`, and `bias` when there
# was one.
#
# **The bias, derived in full.** `b[o]` appears in `out[n, o, l]` for every image `n` and every
# position `l`, each time with coefficient 1, and nowhere else. So
#
# `∂L/∂b[o] = Σ_n Σ_l ∂L/∂out[n, o, l] · 1 = Σ_n Σ_l g[n, o, l]`
#
# a sum of `g` over every axis except the channel axis, shape `(O,)`. This is module 05's
# broadcasting rule again: the bias was broadcast over `N`, `OH` and `OW` in the forward pass,
# so its gradient is summed over those axes in the backward pass.
#
# **The weight and the columns: derive them.** The forward pass is a matmul, so module 05's
# rule applies: for `C = A @ B` with upstream gradient `G`, `∂A = G @ Bᵀ` and `∂B = Aᵀ @ G`.
# Apply it to one image, with `A = W (O, K)`, `B = cols[n] (K, L)`, `G = g[n] (O, L)`; then
# ask what happens to `W` across the batch (it is the same matrix for every image, like the
# bias). Write the shape beside every factor and check that they chain. Each of the two costs
# as many FLOPs as the forward pass, so a training step costs about three forward passes.
#
# **From columns back to pixels: col2im.** Every entry of `cols` is a copy of one pixel of
# `x_pad`, and a pixel is copied into up to `kh·kw` columns. The gradient of a copy is a sum:
# each pixel's gradient is the **sum** of the gradients of all its copies. The function that
# does this, `col2im`, is the *adjoint* of im2col: `⟨im2col(x), c⟩ = ⟨x, col2im(c)⟩` for every
# `x` and `c`, which the test checks directly.
#
# Worked example in 1-D: `x` of length 5, kernel 3, stride 1, so 3 windows and
# `cols[d, l] = x[l + d]`:
#
# ```
#           l = 0   l = 1   l = 2
# d = 0:     x0      x1      x2
# d = 1:     x1      x2      x3
# d = 2:     x2      x3      x4
# ```
#
# `x2` appears three times, so `grad_x[2] = c[0, 2] + c[1, 1] + c[2, 0]`; `x0` appears once, so
# `grad_x[0] = c[0, 0]`. A loop over pixels or over entries would be slow again, and
# `np.add.at` (NumPy's unbuffered scatter-add) took 13× the CPU time of what follows (27 ms
# against 2.1 ms for the columns of 64 CIFAR images and a 3×3 kernel, one thread, on our shared
# 2-core machine at a load average of about 9). Read
# the table **by rows** instead: row `d` came from a run of consecutive pixels, so it can be
# added back onto that run with one vectorized `+=`. There are only `k` rows (`kh·kw` kernel
# offsets in 2-D: 9 for 3×3), so a Python loop over the offsets is cheap.
#
# Your design questions: in 2-D with stride `(sh, sw)`, which rectangle of the padded gradient
# does kernel offset `(di, dj)` touch (first row, step, how many rows; the same for columns)?
# Check your answer in 1-D with stride 2 on `x` of length 7 and kernel 3: windows start at 0,
# 2, 4, so row `d` holds `x[d], x[d + 2], x[d + 4]`. And why must it be `+=`, never `=`, when
# `s < k`? Finally, the rule gives the gradient of `x`, not of `x_pad`: the padding pixels
# are constants, so cut them off.
#
# When `x` does not require grad (the images of the first layer), the rule returns `None` for
# it and skips the whole col2im branch. Gradients keep `grad`'s dtype (float32 in training).
# The rule is registered right here with `@register_backward("conv2d")`: the op and its
# derivative live in the same file, and gradcheck in the tests compares them with finite
# differences in float64.

# %% nbgrader={"grade": false, "grade_id": "conv2d-backward", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
def col2im(cols: np.ndarray, padded_shape: tuple[int, ...], kernel: tuple[int, int],
           stride: tuple[int, int]) -> np.ndarray:
    """Adjoint of im2col: add each column entry back onto the pixel it came from.

    cols: (N, C·kh·kw, OH·OW) in im2col's layout; returns a new array of `padded_shape`
    (N, C, Hp, Wp) in `cols.dtype`.
    """
    (kh, kw), (sh, sw) = kernel, stride
    n, c, hp, wp = padded_shape
    oh, ow = (hp - kh) // sh + 1, (wp - kw) // sw + 1
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
# `col2im` by hand on the 1-D example (as a 1×5 image), then the adjoint identity on random
# cases with strides. Then `gradcheck` (module 05) compares the rule with central differences,
# with stride and padding. A summed output also gives a gradient we can predict: each input
# pixel's gradient is the sum of the kernel weights that touched it.

# %% nbgrader={"grade": true, "grade_id": "test-conv2d-backward", "locked": true, "points": 15, "schema_version": 3, "solution": false, "task": false}
def test_unit_conv2d_backward():
    from tinytorch.autograd import gradcheck
    from tinytorch.testing import close
    c = np.array([[[1, 2, 3], [10, 20, 30], [100, 200, 300]]], dtype=np.float32)  # rows d, columns l
    back = col2im(c, (1, 1, 1, 5), (1, 3), (1, 1))
    assert isinstance(back, np.ndarray), f"col2im returns a NumPy array, got {type(back).__name__}"
    assert back.sum() == c.sum(), \
        f"col2im lost gradient: the column entries sum to {c.sum():g} but the pixels it returns to {back.sum():g}; " \
        f"each entry goes to exactly one pixel, so where windows overlap the entries must be added (+=), not assigned"
    close(col2im(c, (1, 1, 1, 5), (1, 3), (1, 1)), [[[[1, 12, 123, 230, 300]]]],
          what="col2im of the 1-D example of section 5 (length 5, kernel 3, stride 1)")
    close(col2im(c, (1, 1, 1, 7), (1, 3), (1, 2)), [[[[1, 10, 102, 20, 203, 30, 300]]]],
          what="col2im with stride 2 (length 7, kernel 3): row d lands on x[d], x[d + 2], x[d + 4]")
    rng = np.random.default_rng(1)
    for shape, kernel, stride in [((2, 3, 6, 7), (3, 2), (1, 1)), ((1, 2, 7, 7), (3, 3), (2, 2)),
                                  ((2, 1, 5, 8), (2, 3), (3, 2))]:
        xp = rng.normal(size=shape)
        cols = im2col(xp, kernel, stride)
        c = rng.normal(size=cols.shape)
        back = col2im(c, shape, kernel, stride)
        assert back.shape == shape, f"col2im returned shape {back.shape}, expected {shape}"
        assert np.isclose((cols * c).sum(), (xp * back).sum()), \
            f"col2im is not the adjoint of im2col (kernel {kernel}, stride {stride}): " \
            f"<im2col(x), c> = {(cols * c).sum():.6f} but <x, col2im(c)> = {(xp * back).sum():.6f}"
    kept = col2im(c.astype(np.float32), shape, kernel, stride).dtype
    assert kept == np.float32, f"col2im keeps the dtype of cols: got {kept} for float32 columns"

    ones = Tensor(np.ones((2, 1, 3, 3)), requires_grad=True)  # two identical images, padding 1, 2x2 kernel
    kernel = Tensor(np.array([[[[1.0, 2.0], [3.0, 4.0]]]]), requires_grad=True)
    grads = _conv2d_backward(np.ones((2, 1, 4, 4)), None, ones, kernel, Tensor(np.zeros(1)), stride=(1, 1),
                             padding=(1, 1), cols=im2col(np.pad(ones.data, ((0, 0), (0, 0), (1, 1), (1, 1))), (2, 2), (1, 1)))
    assert isinstance(grads, tuple) and len(grads) == 3, \
        f"with a bias the rule returns (grad_x, grad_weight, grad_bias), got {type(grads).__name__} of " \
        f"{len(grads) if isinstance(grads, tuple) else '?'}"
    grad_x, grad_w, grad_b = grads
    assert np.shape(grad_x) == (2, 1, 3, 3), \
        f"grad_x has shape {np.shape(grad_x)}, x has (2, 1, 3, 3): the rule returns the gradient of x, so cut the " \
        f"padding off the padded gradient"
    close(grad_b, [32], what="bias gradient of an all-ones g (2, 1, 4, 4): summed over the images and every position, "
                             "all axes but the channel")
    close(grad_w, [[[[18, 18], [18, 18]]]],
          what="weight gradient of two all-ones images padded by 1, all-ones g: each weight meets 9 ones per image, "
               "and the same weight serves both images, so the batch is summed (9 would be one image or the mean)")
    close(grad_x, np.full((2, 1, 3, 3), 10.0), what="input gradient: every pixel meets all four weights, 1 + 2 + 3 + 4")

    x = Tensor(rng.normal(size=(3, 2, 5, 6)), requires_grad=True)
    w = Tensor(rng.normal(size=(4, 2, 3, 2)), requires_grad=True)
    b = Tensor(rng.normal(size=4), requires_grad=True)
    for s, p in [(1, 0), (2, 1), (1, 2)]:
        assert gradcheck(lambda x, w, b, s=s, p=p: conv2d(x, w, b, stride=s, padding=p), x, w, b), \
            f"conv2d gradients wrong for stride={s}, padding={p}"
    assert gradcheck(lambda x, w: conv2d(x, w, stride=(2, 1), padding=(0, 1)), x, w), \
        "conv2d gradients wrong without a bias, stride (2, 1), padding (0, 1)"

    xt = Tensor(np.ones((1, 1, 3, 3)), requires_grad=True)
    wt = Tensor(np.array([[[[1.0, 2.0], [3.0, 4.0]]]]), requires_grad=True)
    conv2d(xt, wt, padding=0).sum().backward()
    close(xt.grad, [[[[1, 3, 2], [4, 10, 6], [3, 7, 4]]]],
          what="input gradient of sum(conv2d(ones, [[1, 2], [3, 4]])): each pixel gets the weights that touched it")
    close(wt.grad, [[[[4, 4], [4, 4]]]], what="weight gradient: each weight saw 4 pixels of value 1")
    frozen = Tensor(np.ones((1, 1, 3, 3)))
    conv2d(frozen, wt).sum().backward()
    assert frozen.grad is None, "an input that does not require grad gets no gradient"
    rule_out = _conv2d_backward(np.ones((1, 1, 2, 2)), None, frozen, wt, stride=(1, 1), padding=(0, 0),
                                cols=im2col(frozen.data, (2, 2), (1, 1)))
    assert rule_out[0] is None, \
        f"x does not require grad (the images of a first layer): the rule returns None for it and skips " \
        f"the col2im branch, got {type(rule_out[0]).__name__}"
    print("conv2d backward: OK")


if __name__ == "__main__":
    test_unit_conv2d_backward()

# %% [markdown]
# ## 6. The `Conv2d` layer and `Flatten`
#
# The layer holds the parameters and calls `conv2d` (its `forward` is given). Initialise like
# `Linear` (module 03): He/Kaiming uniform, `kaiming_uniform(fan_in, shape, rng)`, where
# `fan_in` is the number of inputs each output sums (count them in the formula of section 1),
# and a zero bias, or `None` when `bias=False`. Both are Tensors that require grad. `rng`
# works as in `Linear`: an int seed, a generator, or the module-wide one.
#
# | layer | parameters | e.g. |
# |---|---|---|
# | `Conv2d(C, O, k)` | `O·C·k² + O` | `Conv2d(3, 32, 3)`: 896 |
# | `Linear(C·H·W, O)` on the same input | `C·H·W·O + O` | 32×32×3 → 32: 98,336 |
#
# `Flatten` (given) turns `(N, C, H, W)` into `(N, C·H·W)`, the bridge from convolutional
# features to `Linear` layers. It is a `reshape`, so module 05's reshape rule already
# differentiates it.

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
        # Set `self.weight` and `self.bias` (section 6).
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
        return conv2d(x, self.weight, self.bias, self.stride, self.padding)

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
        return x.reshape(x.shape[:self.start_dim] + (-1,))

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}"


# %% [markdown]
# ### Unit test: layers

# %% nbgrader={"grade": true, "grade_id": "test-conv-layer", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false}
def test_unit_conv_layer():
    from tinytorch.testing import close
    conv = Conv2d(3, 8, 3, stride=2, padding=1, rng=0)
    assert conv.weight.shape == (8, 3, 3, 3) and conv.bias.shape == (8,), \
        f"weight {conv.weight.shape}, bias {conv.bias.shape}: expected (8, 3, 3, 3) and (8,)"
    params = conv.parameters()
    assert len(params) == 2 and params[0] is conv.weight, "parameters() are the weight and the bias"
    assert conv.weight.requires_grad and conv.bias.requires_grad, "both parameters require grad"
    bound = np.sqrt(6 / 27)
    assert bound * 0.9 < np.abs(conv.weight.data).max() <= bound, \
        f"Kaiming uniform with fan_in = 27 has bound {bound:.3f}: got weights in " \
        f"[{conv.weight.data.min():.3f}, {conv.weight.data.max():.3f}]"
    assert np.all(conv.bias.data == 0), f"the bias starts at zero, got {conv.bias.data}"
    x = np.random.default_rng(0).normal(size=(2, 3, 9, 9)).astype(np.float32)
    y = conv(Tensor(x))
    assert y.shape == (2, 8, 5, 5), f"shape {y.shape}, expected (2, 8, 5, 5)"
    close(y, conv2d(Tensor(x), conv.weight, conv.bias, stride=2, padding=1), what="Conv2d(3, 8, 3, stride=2, padding=1)")
    no_bias = Conv2d(3, 8, (3, 5), bias=False)
    assert no_bias.bias is None and len(no_bias.parameters()) == 1, "bias=False: no bias, one parameter"
    assert no_bias.weight.shape == (8, 3, 3, 5), f"kernel (3, 5): weight {no_bias.weight.shape}, expected (8, 3, 3, 5)"
    wide = Conv2d(2, 16, (1, 3), rng=1)
    bound = np.sqrt(6 / 6)
    assert bound * 0.9 < np.abs(wide.weight.data).max() <= bound, \
        f"Conv2d(2, 16, (1, 3)) has fan_in 6, bound {bound:.3f}: got max |w| {np.abs(wide.weight.data).max():.3f}"
    print("Conv2d: OK")


if __name__ == "__main__":
    test_unit_conv_layer()

# %% [markdown]
# ## 7. Max pooling
#
# Pooling shrinks feature maps: a 2×2 max pool with stride 2 keeps the largest of each 2×2
# block, halving height and width (a quarter of the memory and of the next layer's FLOPs) and
# making the features tolerant to shifts of a pixel. Output sizes follow your formula of
# section 1 (stride defaults to the kernel size; no padding). Pooling works on each channel
# separately: nothing mixes channels.
#
# **Forward, measured.** The tempting version for non-overlapping windows is a reshape to
# `(N, C, OH, k, OW, k)` and a max over the two `k` axes: no copy, one call. Yet it is slow,
# because NumPy reduces over tiny inner axes one short run at a time. Looping over the `k·k`
# kernel **offsets** instead, each a strided slice of `x` holding that offset's element of
# every window, and combining them elementwise into the output, took **33× less CPU time** for
# a `(32, 8, 26, 26)` batch and a 2×2 kernel (0.09 ms against 3.1 ms, one thread, on our shared
# 2-core machine at a load average of about 9), and the same loop handles
# overlapping windows (`stride < kernel`). Loop over the *small* axis, vectorize over the big
# ones. The given `_pool_geometry` returns those slices: `x.data[sl]` for `sl` in `slices` is an
# `(N, C, OH, OW)` view, one per offset, in row-major offset order `(0, 0), (0, 1), …`.
#
# The input must not change: `x.data` may be a view of a dataset or of another layer's output.
# Build the result in a new array.
#
# **Max-pool backward: your design.** Each output is the maximum of its window's `kh·kw`
# elements, and the derivative of a maximum is 1 for the element that is the maximum and 0 for
# the others: each window's gradient goes, whole, to the element that won it. The forward pass
# stores nothing about the winners; the rule receives `x`, `out` (the graph keeps both),
# `kernel` and `stride`, and must find them again. *How* is yours to decide: the tests judge
# only the gradient (against a loop reference, by hand on the cases below, with `gradcheck`
# and, when installed, against PyTorch), so any correct approach passes. The contract:
#
# - **Ties.** After a ReLU, windows full of zeros are common, and then every element is a
#   maximum. PyTorch gives the gradient to the **first** maximum in row-major order within
#   the window, and only to it; so must you (the tests compare with PyTorch). Example: the
#   window `[[1, 3], [3, 2]]` has maximum 3 twice; its gradient goes to position `(0, 1)`
#   only.
# - **Overlap.** With `stride < kernel`, one element can win two windows; its gradient is then
#   the sum of both. Example: `x = [[1, 5, 2]]`, kernel `(1, 2)`, stride 1: both windows
#   `[1, 5]` and `[5, 2]` are won by the 5, so with output gradients `(g0, g1)` the input
#   gradient is `[[0, g0 + g1, 0]]`.
# - **Result.** A one-element tuple `(grad_x,)`, with `x`'s shape and dtype; elements that win
#   no window get 0.
#
# Weigh the options before you pick one: what does each keep in memory, how many passes over
# `x` does it make, is it vectorized or a Python loop per window, and how does it handle the
# two questions above? The offset slices of the forward pass are one way in; a view of every
# window (section 3) is another.

# %% nbgrader={"grade": false, "grade_id": "max-pool", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
def _pool_geometry(x: Tensor, kernel_size, stride):
    """Kernel, stride and the kh·kw strided slices of a pooling op, offsets in row-major order (given)."""
    (kh, kw) = _pair(kernel_size, "kernel_size")
    (sh, sw) = _pair(kernel_size if stride is None else stride, "stride")
    if x.ndim != 4:
        raise ValueError(f"pooling needs input of shape (N, C, H, W), got {x.shape}")
    oh, ow = conv_output_size(x.shape[2], kh, sh), conv_output_size(x.shape[3], kw, sw)
    slices = [(slice(None), slice(None), slice(di, di + sh * (oh - 1) + 1, sh),
               slice(dj, dj + sw * (ow - 1) + 1, sw)) for di in range(kh) for dj in range(kw)]
    return (kh, kw), (sh, sw), slices


def max_pool2d(x: Tensor, kernel_size, stride=None) -> Tensor:
    """Max over each (kh, kw) window; stride defaults to the kernel size. x is not changed."""
    x = Tensor._lift(x)
    kernel, stride, slices = _pool_geometry(x, kernel_size, stride)
    # Set `out` (N, C, OH, OW), a new array.
    ### BEGIN SOLUTION
    out = x.data[slices[0]].copy()
    for sl in slices[1:]:
        np.maximum(out, x.data[sl], out=out)
    ### END SOLUTION
    return Tensor._op("max_pool2d", out, x, kernel=kernel, stride=stride)


@register_backward("max_pool2d")
def _max_pool2d_backward(grad, out, x, kernel, stride):
    """`(grad_x,)`, x's shape and dtype: each window's gradient goes to its first maximum."""
    _, _, slices = _pool_geometry(x, kernel, stride)
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


class MaxPool2d(Module):
    """Max pooling layer (no parameters)."""

    def __init__(self, kernel_size, stride=None):
        super().__init__()
        self.kernel_size, self.stride = kernel_size, stride

    def forward(self, x: Tensor) -> Tensor:
        return max_pool2d(x, self.kernel_size, self.stride)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride or self.kernel_size}"


# %% [markdown]
# ### Unit test: max pooling
# Values and gradients against a loop reference (overlapping windows too), each case on its own
# input, which must be unchanged afterwards; then the worked examples of section 7 (a tie, an
# element that wins two windows) and `gradcheck`.

# %% nbgrader={"grade": true, "grade_id": "test-max-pool", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false}
def test_unit_max_pool():
    from tinytorch.autograd import gradcheck
    from tinytorch.testing import close
    tie = Tensor(np.array([[[[1, 3, 3, 0], [3, 2, 0, 0]]]], dtype=np.float32), requires_grad=True)
    pooled = max_pool2d(tie, 2)
    assert np.array_equal(tie.data, [[[[1, 3, 3, 0], [3, 2, 0, 0]]]]), \
        f"max_pool2d changed its input: [[1, 3, 3, 0], [3, 2, 0, 0]] became {tie.data[0, 0].tolist()}"
    close(pooled, [[[[3, 3]]]], what="max_pool2d of [[1, 3, 3, 0], [3, 2, 0, 0]], kernel 2")
    (pooled * Tensor([[[[10.0, 20.0]]]])).sum().backward()
    close(tie.grad, [[[[0, 10, 20, 0], [0, 0, 0, 0]]]],
          what="ties: each window's gradient goes to its first maximum in row-major order only")
    twice = Tensor(np.array([[[[1, 5, 2]]]], dtype=np.float32), requires_grad=True)
    (max_pool2d(twice, (1, 2), 1) * Tensor([[[[3.0, 4.0]]]])).sum().backward()
    close(twice.grad, [[[[0, 7, 0]]]],
          what="overlap: the 5 wins both windows and gets 3 + 4 (add each window's gradient, never assign)")

    rng = np.random.default_rng(2)
    for shape, k, s in [((2, 3, 6, 6), 2, None), ((1, 2, 7, 5), 3, 2), ((2, 1, 5, 7), (2, 3), (1, 2)),
                        ((2, 2, 5, 6), 2, (1, 2)), ((2, 2, 6, 5), 2, (2, 1)),  # windows overlap along one axis
                        ((2, 2, 7, 6), (3, 2), 2), ((2, 2, 6, 7), (2, 3), 2)]:
        x = rng.normal(size=shape).astype(np.float32)
        kh, kw = (k, k) if isinstance(k, int) else k
        sh, sw = (kh, kw) if s is None else ((s, s) if isinstance(s, int) else s)
        oh, ow = (shape[2] - kh) // sh + 1, (shape[3] - kw) // sw + 1
        g = (np.arange(oh)[:, None] + 10 * np.arange(ow)[None, :] + 1).astype(np.float32)
        want_max, want_grad = np.zeros(shape[:2] + (oh, ow)), np.zeros(shape)
        for i in range(oh):
            for j in range(ow):
                win = x[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw].reshape(shape[0], shape[1], -1)
                want_max[:, :, i, j] = win.max(-1)
                arg = win.argmax(-1)
                for n in range(shape[0]):
                    for c in range(shape[1]):
                        want_grad[n, c, i * sh + arg[n, c] // kw, j * sw + arg[n, c] % kw] += g[i, j]
        xt = Tensor(x.copy(), requires_grad=True)
        mp = max_pool2d(xt, k, s)
        assert np.array_equal(xt.data, x), f"max_pool2d changed its input (kernel {k}, stride {s})"
        close(mp, want_max, what=f"max_pool2d values, kernel {k}, stride {s}")
        (mp * Tensor(g)).sum().backward()
        close(xt.grad, want_grad, what=f"max_pool2d gradient (to each window's maximum), kernel {k}, stride {s}")


    x = Tensor(rng.normal(size=(2, 2, 5, 6)), requires_grad=True)
    assert gradcheck(lambda t: max_pool2d(t, 2), x), "max_pool2d gradient wrong"
    assert gradcheck(lambda t: max_pool2d(t, 3, 2), x), "max_pool2d gradient wrong (overlapping)"
    assert MaxPool2d(2)(x).shape == (2, 2, 2, 3), f"MaxPool2d(2) of (2, 2, 5, 6): got {MaxPool2d(2)(x).shape}"
    print("max pooling: OK")


if __name__ == "__main__":
    test_unit_max_pool()

# %% [markdown]
# ## 8. Average pooling
#
# Average pooling replaces each window by its mean. It is a convolution in disguise: each
# channel convolved with a fixed `kh × kw` kernel whose entries all equal `1/(kh·kw)`, with no
# mixing of channels. Forward: combine the `kh·kw` offset slices of section 7, as for the max,
# into a new array (never into `x.data`).
#
# **Backward: derive it.** The forward is linear, with no winner to find. Write one output
# as a sum over its window and differentiate with respect to one element of `x`; then, as in
# col2im, ask what happens to an element that belongs to two windows when `stride < kernel`.
# Check your rule on `x = [[1, 5, 2]]`, kernel `(1, 2)`, stride 1, output gradients `(g0, g1)`:
# the input gradient is `[[g0/2, (g0 + g1)/2, g1/2]]`.

# %% nbgrader={"grade": false, "grade_id": "avg-pool", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
def avg_pool2d(x: Tensor, kernel_size, stride=None) -> Tensor:
    """Mean over each (kh, kw) window; stride defaults to the kernel size. x is not changed."""
    x = Tensor._lift(x)
    kernel, stride, slices = _pool_geometry(x, kernel_size, stride)
    # Set `out` (N, C, OH, OW), a new array.
    ### BEGIN SOLUTION
    out = x.data[slices[0]].copy()
    for sl in slices[1:]:
        out += x.data[sl]
    out /= len(slices)
    ### END SOLUTION
    return Tensor._op("avg_pool2d", out, x, kernel=kernel, stride=stride)


@register_backward("avg_pool2d")
def _avg_pool2d_backward(grad, out, x, kernel, stride):
    """`(grad_x,)`, x's shape and dtype: each window's gradient shared by its kh·kw elements."""
    _, _, slices = _pool_geometry(x, kernel, stride)
    ### BEGIN SOLUTION
    grad_x = np.zeros_like(x.data)
    share = grad / len(slices)
    for sl in slices:
        grad_x[sl] += share
    return (grad_x,)
    ### END SOLUTION


class AvgPool2d(MaxPool2d):
    """Average pooling layer (no parameters)."""

    def forward(self, x: Tensor) -> Tensor:
        return avg_pool2d(x, self.kernel_size, self.stride)


# %% [markdown]
# ### Unit test: average pooling
# Values and gradients against a loop reference on fresh inputs (which must be unchanged),
# the worked example of section 8, and `gradcheck`.

# %% nbgrader={"grade": true, "grade_id": "test-avg-pool", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false}
def test_unit_avg_pool():
    from tinytorch.autograd import gradcheck
    from tinytorch.testing import close
    twice = Tensor(np.array([[[[1, 5, 2]]]], dtype=np.float32), requires_grad=True)
    averaged = avg_pool2d(twice, (1, 2), 1)
    assert np.array_equal(twice.data, [[[[1, 5, 2]]]]), \
        f"avg_pool2d changed its input: [[1, 5, 2]] became {twice.data[0, 0].tolist()}"
    close(averaged, [[[[3.0, 3.5]]]], what="avg_pool2d of [[1, 5, 2]], kernel (1, 2), stride 1: the mean of 2 elements")
    (averaged * Tensor([[[[3.0, 4.0]]]])).sum().backward()
    close(twice.grad, [[[[1.5, 3.5, 2.0]]]],
          what="the worked example of section 8 with (g0, g1) = (3, 4): each element gets g / (kh·kw) from every "
               "window that holds it, added up")

    rng = np.random.default_rng(5)
    for shape, k, s in [((2, 3, 6, 6), 2, None), ((1, 2, 7, 5), 3, 2), ((2, 1, 5, 7), (2, 3), (1, 2)),
                        ((2, 2, 6, 5), 2, (2, 1)), ((2, 2, 7, 6), (3, 2), 2)]:
        x = rng.normal(size=shape).astype(np.float32)
        kh, kw = (k, k) if isinstance(k, int) else k
        sh, sw = (kh, kw) if s is None else ((s, s) if isinstance(s, int) else s)
        oh, ow = (shape[2] - kh) // sh + 1, (shape[3] - kw) // sw + 1
        g = (np.arange(oh)[:, None] + 10 * np.arange(ow)[None, :] + 1).astype(np.float32)
        want_avg, want_grad = np.zeros(shape[:2] + (oh, ow)), np.zeros(shape)
        for i in range(oh):
            for j in range(ow):
                want_avg[:, :, i, j] = x[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw].mean(axis=(2, 3))
                want_grad[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw] += g[i, j] / (kh * kw)
        xt = Tensor(x.copy(), requires_grad=True)
        ap = avg_pool2d(xt, k, s)
        assert np.array_equal(xt.data, x), f"avg_pool2d changed its input (kernel {k}, stride {s})"
        close(ap, want_avg, what=f"avg_pool2d values (each window's mean of {kh * kw}), kernel {k}, stride {s}")
        (ap * Tensor(g)).sum().backward()
        close(xt.grad, want_grad, what=f"avg_pool2d gradient, kernel {k}, stride {s}")

    x = Tensor(rng.normal(size=(2, 2, 5, 6)), requires_grad=True)
    assert gradcheck(lambda t: avg_pool2d(t, (2, 3), (1, 2)), x), "avg_pool2d gradient wrong"
    assert AvgPool2d(2, 1)(x).shape == (2, 2, 4, 5), f"AvgPool2d(2, 1) of (2, 2, 5, 6): got {AvgPool2d(2, 1)(x).shape}"
    print("average pooling: OK")


if __name__ == "__main__":
    test_unit_avg_pool()

# %% [markdown]
# ## 9. Batch normalization
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
#   `momentum m = 0.1`, starting from 0 and 1. The running arrays belong to the layer: update
#   them **in place**, so that the layer sees the change. A batch with `M = 1` cannot be
#   normalized: a `ValueError` (given).
# - `eval()`: normalize with the running estimates (not changing them), so a prediction does
#   not depend on what else is in the batch.
#
# The running estimates are plain NumPy arrays, not parameters: the optimizer must not touch
# them. The output keeps `x`'s dtype (float32). `batch_norm2d` returns through
# `Tensor._op("batch_norm2d", …)` (given) with `x_hat` and `inv_std = 1/sqrt(σ² + eps)` (shape
# `(C,)`) in the context, for the backward pass; `BatchNorm2d.forward` (given) calls it.
#
# **Backward: γ and β, and evaluation mode, derived.** `y = γ·x̂ + β` per channel, so as for the
# conv bias, `∂L/∂β = Σ g` and `∂L/∂γ = Σ g·x̂`, summed over `(N, H, W)`. In evaluation mode `μ`
# and `σ²` are constants, `y` is an affine function of `x`, and
# `∂L/∂x = γ · g / sqrt(σ² + eps)` per channel.
#
# **Training mode: derive it.** Now `μ` and `σ²` are computed from the same batch, so every
# output of a channel depends on every input of that channel, through three paths: directly
# through `x`, through `μ`, and through `σ²`. Write `ĝ = γ·g` (the gradient with respect to
# `x̂`), differentiate `x̂` with respect to one input along each path (`∂μ/∂x_i = 1/M`,
# `∂σ²/∂x_i = 2(x_i − μ)/M`), and simplify with `x̂`. The result is a short closed form in
# `ĝ`, `x̂` and the per-channel means of `ĝ` and `ĝ·x̂`; `gradcheck` in the test confirms it.
# (`tito hint 09 _batch_norm2d_backward` gives the result if you want to check your algebra.)
# Check it on a property: in training, adding a constant to a whole channel of `x` changes
# nothing after normalization, so the gradient of `x` must sum to zero over each channel.
#
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
    # Set `x_hat`, `inv_std` (C,) and `out`, and update the running arrays in training (section 9).
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
        return batch_norm2d(x, self.weight, self.bias, self.running_mean, self.running_var,
                            training=self.training, momentum=self.momentum, eps=self.eps)

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}"


# %% [markdown]
# ### Unit test: batch normalization
# Statistics per channel (axis 1), PyTorch's running-statistics update with the unbiased
# variance, evaluation with the running statistics, and gradients in both modes.

# %% nbgrader={"grade": true, "grade_id": "test-batchnorm", "locked": true, "points": 15, "schema_version": 3, "solution": false, "task": false}
def test_unit_batchnorm():
    from tinytorch.autograd import gradcheck
    from tinytorch.testing import close
    rng = np.random.default_rng(3)
    x = (rng.normal(size=(4, 3, 5, 2)) * [[[[1.0]], [[3.0]], [[0.5]]]] + [[[[2.0]], [[-1.0]], [[0.0]]]]).astype(np.float32)
    bn = BatchNorm2d(3)
    assert [p.shape for p in bn.parameters()] == [(3,), (3,)], "parameters are weight and bias only"
    y = bn(Tensor(x))
    assert y.shape == x.shape and y.dtype == np.float32, f"shape {y.shape}, dtype {y.dtype}: expected {x.shape}, float32"
    close(y.data.mean(axis=(0, 2, 3)), np.zeros(3), atol=1e-5, what="per-channel mean over (N, H, W) after training-mode batch norm")
    close(y.data.var(axis=(0, 2, 3)), np.ones(3), atol=1e-3, what="per-channel (biased) variance after batch norm")
    mean, var = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3), ddof=1)
    for name, start in (("running_mean", 0.0), ("running_var", 1.0)):
        assert not np.all(getattr(bn, name) == start), \
            f"{name} still holds its initial value {start} after a training step: update the layer's array in " \
            f"place (`{name} = ...` only rebinds a local name)"
    close(bn.running_mean, 0.1 * mean, atol=1e-5, what="running_mean after one step: 0.9 * 0 + 0.1 * batch mean")
    close(bn.running_var, 0.9 + 0.1 * var, atol=1e-5, what="running_var after one step: 0.9 * 1 + 0.1 * unbiased variance")
    x2 = 2 * x[::-1] + 1
    bn(Tensor(x2))
    close(bn.running_mean, 0.9 * 0.1 * mean + 0.1 * x2.mean(axis=(0, 2, 3)), atol=1e-5,
          what="running_mean after a second step: (1 - momentum) * running + momentum * batch mean")
    close(bn.running_var, 0.9 * (0.9 + 0.1 * var) + 0.1 * x2.var(axis=(0, 2, 3), ddof=1), atol=1e-4,
          what="running_var after a second step")
    wide = BatchNorm2d(3, eps=0.5)(Tensor(x))
    want = (x - x.mean(axis=(0, 2, 3), keepdims=True)) / np.sqrt(x.var(axis=(0, 2, 3), keepdims=True) + 0.5)
    close(wide, want, atol=1e-5, what="eps = 0.5 is added to the variance under the square root")
    bn.weight.data[:] = [1.0, 2.0, 3.0]
    bn.bias.data[:] = [0.0, 1.0, -1.0]
    bn.eval()
    z = bn(Tensor(x))
    want = ((x - bn.running_mean[None, :, None, None]) / np.sqrt(bn.running_var[None, :, None, None] + 1e-5)
            * np.array([1.0, 2.0, 3.0])[None, :, None, None] + np.array([0.0, 1.0, -1.0])[None, :, None, None])
    close(z, want, atol=1e-4, what="eval(): normalize with the running statistics, then weight and bias")
    before = bn.running_mean.copy()
    bn(Tensor(x))
    assert np.array_equal(bn.running_mean, before), \
        f"eval() must not update the running statistics: running_mean went from {before} to {bn.running_mean}"

    xs, w, b = (Tensor(rng.normal(size=shape), requires_grad=True) for shape in [(3, 2, 3, 2), (2,), (2,)])
    rm, rv = np.array([0.5, -0.5]), np.array([2.0, 0.5])
    g = rng.normal(size=xs.shape)
    (batch_norm2d(xs, w, b, training=True) * Tensor(g)).sum().backward()
    x_hat = (xs.data - xs.data.mean(axis=(0, 2, 3), keepdims=True)) / np.sqrt(xs.data.var(axis=(0, 2, 3), keepdims=True) + 1e-5)
    close(b.grad, g.sum(axis=(0, 2, 3)), atol=1e-6, what="bias gradient: the upstream gradient summed over (N, H, W)")
    close(w.grad, (g * x_hat).sum(axis=(0, 2, 3)), atol=1e-6,
          what="weight gradient: the upstream gradient times x_hat, summed over (N, H, W)")
    sums = [float(v) for v in xs.grad.data.sum(axis=(0, 2, 3))]
    assert max(map(abs, sums)) < 1e-6, \
        f"training mode: the gradient of x must sum to zero over each channel (adding a constant to a channel " \
        f"changes nothing after normalization), got sums {[round(v, 4) for v in sums]}: the path through the mean " \
        f"is missing"
    along = [float(v) for v in (xs.grad.data * x_hat).sum(axis=(0, 2, 3))]
    assert max(map(abs, along)) < 1e-4, \
        f"training mode: the gradient of x must be orthogonal to x_hat in each channel (scaling a channel changes " \
        f"nothing after normalization), got sum(grad_x * x_hat) = {[round(v, 4) for v in along]}: the path through " \
        f"the variance is missing"
    xe, we = Tensor(xs.data.copy(), requires_grad=True), Tensor(w.data.copy())
    (batch_norm2d(xe, we, Tensor(b.data), rm, rv, training=False) * Tensor(g)).sum().backward()
    close(xe.grad, g * we.data[None, :, None, None] / np.sqrt(rv + 1e-5)[None, :, None, None], atol=1e-6,
          what="evaluation mode: the running statistics are constants, so grad_x = weight * g / sqrt(running_var + eps) "
               "per channel (the training-mode formula does not apply)")
    assert gradcheck(lambda x, w, b: batch_norm2d(x, w, b, training=True), xs, w, b), \
        "batch_norm2d gradient wrong in training mode"
    assert gradcheck(lambda x, w, b: batch_norm2d(x, w, b, rm, rv, training=False), xs, w, b), \
        "batch_norm2d gradient wrong in evaluation mode"
    print("batch norm: OK")


if __name__ == "__main__":
    test_unit_batchnorm()

# %% [markdown]
# ## 10. How fast is it?
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
# For context, on our shared 2-core machine the script measured TinyTorch's convolution forward
# pass (`conv_fwd`) at 1.4–1.5× PyTorch's time at a load average of about 2.5, and 2.1× at a
# load average of about 9 (the im2col copy, the padding and the separate bias pass are what
# PyTorch's fused kernels avoid), while the small training step (`cnn_train`) took about half
# PyTorch's time (0.43–0.47× and 0.54×): PyTorch's fixed cost per op (dispatcher, autograd
# engine) dominates at that size. The milestone `milestones/04_1998_cnn/01_lecun_tinydigits.py` trains
# a LeNet-style CNN built from your layers on TinyDigits to about 98 % test accuracy.

# %% nbgrader={"grade": false, "grade_id": "speed-demo", "locked": false, "schema_version": 3, "solution": false, "task": false}
if __name__ == "__main__":
    import time

    demo_rng = np.random.default_rng(0)
    demo_x = demo_rng.normal(size=(2, 3, 16, 16)).astype(np.float32)
    demo_w = demo_rng.normal(size=(8, 3, 3, 3)).astype(np.float32)
    start = time.process_time()  # CPU time of this process: hardly depends on other load
    slow = conv2d_naive(demo_x, demo_w, padding=1)
    naive_time = time.process_time() - start
    start = time.process_time()
    for _ in range(300):
        fast = conv2d(Tensor(demo_x), Tensor(demo_w), padding=1)
    fast_time = (time.process_time() - start) / 300
    print(f"CPU time: naive loops {naive_time * 1e3:.1f} ms, im2col + matmul {fast_time * 1e3:.3f} ms "
          f"({naive_time / fast_time:,.0f}x less); same result: {np.allclose(slow, fast.data, atol=1e-4)}")

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
    assert len(model.parameters()) == 6, \
        f"conv weight, bias, batch-norm weight, bias, linear weight, bias: got {len(model.parameters())} parameters"
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
