"""Module 09: forward passes of the spatial ops and layers against plain loops (see conftest.py)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinytorch.autograd import no_grad
from tinytorch.layers import Module
from tinytorch.spatial import (
    AvgPool2d,
    BatchNorm2d,
    Conv2d,
    Flatten,
    MaxPool2d,
    avg_pool2d,
    col2im,
    conv2d,
    conv_output_size,
    im2col,
    max_pool2d,
)
from tinytorch.tensor import Tensor
from tinytorch.testing import close, raises

RNG = np.random.default_rng(2024)


def _arr(*shape):
    return RNG.normal(size=shape).astype(np.float32)


# --- geometry ----------------------------------------------------------------------------------


@pytest.mark.parametrize("size,kernel,stride,padding,want", [
    (28, 3, 1, 0, 26), (28, 3, 1, 1, 28), (32, 3, 2, 1, 16), (7, 2, 2, 0, 3), (5, 5, 1, 0, 1),
    (1, 3, 1, 1, 1), (10, 4, 3, 0, 3), (11, 4, 3, 2, 4)])
def test_conv_output_size(size, kernel, stride, padding, want):
    got = conv_output_size(size, kernel, stride, padding)
    assert got == want, \
        f"conv_output_size(size={size}, kernel={kernel}, stride={stride}, padding={padding}) = {got}, " \
        f"expected {want}"


def test_conv_output_size_rejects_kernels_that_do_not_fit():
    with pytest.raises(ValueError, match="does not fit"):
        conv_output_size(3, 6, 1, 1)


# --- im2col / col2im ---------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 2), c=st.integers(1, 3), h=st.integers(1, 7), w=st.integers(1, 7),
       kh=st.integers(1, 3), kw=st.integers(1, 3), sh=st.integers(1, 3), sw=st.integers(1, 3),
       seed=st.integers(0, 1000))
def test_im2col_layout_and_col2im_adjoint(n, c, h, w, kh, kw, sh, sw, seed):
    if kh > h or kw > w:
        return
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, c, h, w))
    cols = im2col(x, (kh, kw), (sh, sw))
    oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
    assert cols.shape == (n, c * kh * kw, oh * ow), \
        f"im2col of {x.shape}, kernel {(kh, kw)}, stride {(sh, sw)}: shape {cols.shape}, " \
        f"expected {(n, c * kh * kw, oh * ow)}"
    expect = np.empty_like(cols)
    for ci in range(c):
        for r in range(kh):
            for q in range(kw):
                for i in range(oh):
                    for j in range(ow):
                        expect[:, (ci * kh + r) * kw + q, i * ow + j] = x[:, ci, i * sh + r, j * sw + q]
    close(cols, expect, atol=0, rtol=0, what=f"im2col layout cols[n, (c*kh + di)*kw + dj, i*OW + j] = "
          f"x[n, c, i*sh + di, j*sw + dj], kernel {(kh, kw)}, stride {(sh, sw)}")
    g = rng.normal(size=cols.shape)
    back = col2im(g, x.shape, (kh, kw), (sh, sw))
    assert back.shape == x.shape, f"col2im returned shape {back.shape}, expected {x.shape}"
    assert np.isclose(np.sum(cols * g), np.sum(x * back)), \
        f"col2im is not the adjoint of im2col (kernel {(kh, kw)}, stride {(sh, sw)}): <im2col(x), c> = " \
        f"{np.sum(cols * g):.6f} but <x, col2im(c)> = {np.sum(x * back):.6f}"


def test_im2col_layout_on_a_non_square_image_with_distinct_values():
    x = np.arange(1, 13, dtype=np.float32).reshape(1, 1, 3, 4)
    cols = im2col(np.concatenate([x, 100 + x], axis=1), (2, 3), (1, 1))
    one = np.array([[1, 2, 5, 6], [2, 3, 6, 7], [3, 4, 7, 8],
                    [5, 6, 9, 10], [6, 7, 10, 11], [7, 8, 11, 12]], dtype=np.float32)
    close(cols[0], np.concatenate([one, 100 + one]), atol=0, rtol=0,
          what="two channels of 3x4, kernel 2x3: rows (c, di, dj), columns (i, j)")


def test_im2col_does_not_modify_its_input_and_keeps_float32():
    x = _arr(2, 3, 5, 5)
    before = x.copy()
    cols = im2col(x, (3, 3), (1, 1))
    assert np.array_equal(x, before), "im2col changed its input"
    assert cols.dtype == np.float32, f"im2col keeps the dtype: float32 in, got {cols.dtype}"
    back = col2im(cols, x.shape, (3, 3), (1, 1))
    assert back.dtype == np.float32, f"col2im keeps the dtype of its columns: float32 in, got {back.dtype}"


# --- conv2d ------------------------------------------------------------------------------------


def check_conv_bias(conv) -> None:
    """`conv(x, w, b)` minus `conv(x, w)` must be b[o] at every image and position of channel o. 4 output
    channels of 2x2 = 4 positions, so a bias added along the positions runs; a failure names the axis."""
    x, w, b = _arr(2, 1, 4, 4), _arr(4, 1, 3, 3), np.array([1.0, 2.0, 3.0, 4.0], np.float32)
    plain = conv(Tensor(x), Tensor(w)).data
    try:
        added = conv(Tensor(x), Tensor(w), Tensor(b)).data - plain
    except ValueError as error:
        if "broadcast" not in str(error):
            raise
        raise AssertionError(f"conv2d with a bias (4,) on an output (2, 4, 2, 2) raised ValueError "
                             f"({error}) and runs without it: the bias is added along the wrong axis; "
                             f"bias[o] belongs to output channel o, axis 1") from None
    if np.allclose(added, b.reshape(1, 1, 2, 2), atol=1e-5):
        raise AssertionError("conv2d's bias [1, 2, 3, 4] runs over the 4 positions of each channel: it was "
                             "added along the wrong axis (L of (N, O, L)); bias[o] belongs to output channel "
                             "o, axis 1")
    close(added, np.broadcast_to(b[None, :, None, None], added.shape), atol=1e-5,
          what="conv2d with bias [1, 2, 3, 4] minus conv2d without: bias[o] at every position of channel o")


def test_conv2d_adds_the_bias_per_output_channel():
    check_conv_bias(conv2d)


def _bias_along_the_positions(x, w, b=None, stride=1, padding=0):
    """Planted: the package's conv2d without a bias, then the bias added over the positions (i, j)."""
    out = conv2d(x, w, stride=stride, padding=padding)
    return out if b is None else out + Tensor(b.data.reshape(1, 1, *out.shape[2:]))


def _bias_on_the_last_axis(x, w, b=None, stride=1, padding=0):
    """Planted: the bias (O,) added to (N, O, OH, OW) as it is, so NumPy aligns it with OW."""
    out = conv2d(x, w, stride=stride, padding=padding)
    return out if b is None else Tensor(out.data + b.data)


@pytest.mark.parametrize("planted", [_bias_along_the_positions, _bias_on_the_last_axis])
def test_a_bias_on_the_wrong_axis_is_named(planted):
    raises(AssertionError, lambda: check_conv_bias(planted), "wrong axis")


CONV_CASES = [  # x shape, w shape, stride, padding, bias
    ((2, 1, 5, 5), (1, 1, 3, 3), (1, 1), (0, 0), False),
    ((2, 3, 6, 7), (4, 3, 3, 2), (1, 1), (0, 0), True),
    ((2, 3, 7, 7), (4, 3, 3, 3), (2, 2), (1, 1), True),
    ((1, 2, 8, 9), (3, 2, 2, 4), (3, 2), (2, 1), True),
    ((3, 2, 4, 4), (2, 2, 1, 1), (1, 1), (0, 0), True),
    ((1, 4, 5, 5), (2, 4, 5, 5), (1, 1), (0, 0), True),
    ((2, 1, 6, 6), (3, 1, 3, 3), (2, 2), (0, 0), False),
]


@pytest.mark.parametrize("xs,ws,stride,padding,bias", CONV_CASES)
def test_conv2d_matches_loops(ref, xs, ws, stride, padding, bias):
    x, w = _arr(*xs), _arr(*ws)
    b = _arr(ws[0]) if bias else None
    if bias:
        check_conv_bias(conv2d)  # a bias on the wrong axis is named before the values are compared
    out = conv2d(Tensor(x), Tensor(w), None if b is None else Tensor(b), stride=stride, padding=padding)
    want = ref.conv2d(x, w, b, stride, padding)
    assert out.dtype == np.float32, f"float32 in, float32 out: got {out.dtype}"
    close(out, want, atol=1e-4,
          what=f"conv2d of x {xs}, w {ws}, stride {stride}, padding {padding}, bias {bias}")


@settings(max_examples=40, deadline=None)
@given(c=st.integers(1, 3), o=st.integers(1, 3), h=st.integers(1, 6), w=st.integers(1, 6),
       k=st.integers(1, 3), s=st.integers(1, 3), p=st.integers(0, 2), seed=st.integers(0, 1000))
def test_conv2d_matches_loops_property(ref, c, o, h, w, k, s, p, seed):
    if k > h + 2 * p or k > w + 2 * p:
        return
    rng = np.random.default_rng(seed)
    x, wt, b = rng.normal(size=(2, c, h, w)), rng.normal(size=(o, c, k, k)), rng.normal(size=o)
    check_conv_bias(conv2d)
    out = conv2d(Tensor(x), Tensor(wt), Tensor(b), stride=s, padding=p)
    close(out, ref.conv2d(x.astype(np.float32), wt.astype(np.float32), b, (s, s), (p, p)), atol=1e-4,
          what=f"conv2d of x {x.shape}, w {wt.shape}, stride {s}, padding {p}")


def test_conv2d_is_cross_correlation_not_flipped():
    x = np.arange(1, 10, dtype=np.float32).reshape(1, 1, 3, 3)
    w = np.array([[[[1, 2], [3, 4]]]], dtype=np.float32)
    close(conv2d(Tensor(x), Tensor(w)), [[[[37, 47], [67, 77]]]],
          what="3x3 image 1..9, kernel [[1, 2], [3, 4]] (23 at [0, 0]: the kernel flipped; 35: its rows "
               "and columns swapped when flattened)")


def test_conv2d_accepts_arrays_and_validates_shapes():
    x, w = _arr(1, 2, 5, 5), _arr(3, 2, 3, 3)
    assert conv2d(x, w).shape == (1, 3, 3, 3)
    with pytest.raises(ValueError, match="channels"):
        conv2d(Tensor(_arr(1, 3, 5, 5)), Tensor(w))
    with pytest.raises(ValueError, match="N, C, H, W"):
        conv2d(Tensor(_arr(2, 5, 5)), Tensor(w))
    with pytest.raises(ValueError, match="does not fit"):
        conv2d(Tensor(_arr(1, 2, 2, 2)), Tensor(w))
    with pytest.raises(ValueError, match="stride"):
        conv2d(Tensor(x), Tensor(w), stride=0)
    with pytest.raises(ValueError):
        conv2d(Tensor(x), Tensor(w), padding=(1, 2, 3))


def test_conv2d_records_no_graph_under_no_grad():
    x, w = Tensor(_arr(1, 1, 4, 4), requires_grad=True), Tensor(_arr(1, 1, 2, 2), requires_grad=True)
    with no_grad():
        out = conv2d(x, w)
    assert not out.requires_grad and out._inputs == ()
    assert conv2d(x, w)._op_name == "conv2d"


# --- Conv2d layer ------------------------------------------------------------------------------


def test_conv2d_layer_parameters_init_and_forward(ref):
    conv = Conv2d(3, 6, (3, 2), stride=2, padding=1, rng=0)
    assert isinstance(conv, Module)
    assert conv.weight.shape == (6, 3, 3, 2) and conv.bias.shape == (6,)
    assert [p.shape for p in conv.parameters()] == [(6, 3, 3, 2), (6,)]
    assert conv.weight.dtype == np.float32 and conv.weight.requires_grad and conv.bias.requires_grad
    bound = float(np.sqrt(6 / (3 * 3 * 2)))
    largest = float(np.abs(conv.weight.data).max())
    in_range = 0.9 * bound < largest <= bound
    assert in_range, \
        f"Conv2d(3, 6, (3, 2)): Kaiming uniform with fan_in = in_channels * kh * kw = 18 has bound " \
        f"{bound:.3f}, " \
        f"got max |w| = {largest:.3f}"
    assert np.all(conv.bias.data == 0), f"the bias starts at zero, got {conv.bias.data}"
    assert np.array_equal(Conv2d(3, 6, (3, 2), rng=0).weight.data, conv.weight.data), "rng seeds the init"
    x = _arr(2, 3, 7, 6)
    close(conv(Tensor(x)), ref.conv2d(x, conv.weight.data, conv.bias.data, (2, 2), (1, 1)), atol=1e-4,
          what="Conv2d(3, 6, (3, 2), stride=2, padding=1) against loops")
    no_bias = Conv2d(1, 1, 1, bias=False)
    one_parameter = no_bias.bias is None and len(no_bias.parameters()) == 1
    assert one_parameter, \
        f"bias=False: no bias and one parameter, got bias {no_bias.bias} and " \
        f"{len(no_bias.parameters())} parameters"
    assert "kernel_size=(3, 2)" in repr(conv)


@pytest.mark.parametrize("args", [(0, 3, 3), (3, -1, 3), (3.0, 3, 3), (True, 3, 3)])
def test_conv2d_layer_validates_channels(args):
    with pytest.raises(ValueError):
        Conv2d(*args)


def test_conv2d_layer_rejects_wrong_input_channels():
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        Conv2d(3, 4, 3)(Tensor(_arr(1, 2, 5, 5)))


def test_flatten():
    x = _arr(2, 3, 4, 5)
    assert np.array_equal(Flatten()(Tensor(x)).data, x.reshape(2, 60))
    assert Flatten(2)(Tensor(x)).shape == (2, 3, 20)
    assert Flatten(0)(Tensor(x)).shape == (120,)


# --- pooling -----------------------------------------------------------------------------------


POOL_CASES = [((2, 3, 6, 6), 2, None), ((2, 2, 7, 5), 2, None), ((1, 2, 7, 7), 3, 2),
              ((2, 1, 5, 7), (2, 3), (1, 2)), ((1, 1, 4, 4), 4, None), ((2, 2, 6, 6), 3, 1),
              ((1, 1, 5, 5), 1, None)]


@pytest.mark.parametrize("shape,k,s", POOL_CASES)
def test_pooling_matches_loops(ref, shape, k, s):
    x = _arr(*shape)
    kk = (k, k) if isinstance(k, int) else k
    ss = kk if s is None else ((s, s) if isinstance(s, int) else s)
    before = x.copy()
    mx, avg, _ = ref.pool(x, kk, ss)
    close(max_pool2d(Tensor(x), k, s), mx, atol=0, rtol=0,
          what=f"max_pool2d of {shape}, kernel {k}, stride {s}")
    assert np.array_equal(x, before), f"max_pool2d changed its input (kernel {k}, stride {s})"
    close(avg_pool2d(Tensor(x), k, s), avg, atol=1e-6, what=f"avg_pool2d of {shape}, kernel {k}, stride {s}")
    assert np.array_equal(x, before), f"avg_pool2d changed its input (kernel {k}, stride {s})"
    close(MaxPool2d(k, s)(Tensor(x)), mx, atol=0, rtol=0, what=f"MaxPool2d({k}, {s})")
    close(AvgPool2d(k, s)(Tensor(x)), avg, atol=1e-6, what=f"AvgPool2d({k}, {s})")


def test_pooling_validates_input():
    with pytest.raises(ValueError, match="N, C, H, W"):
        max_pool2d(Tensor(_arr(3, 4, 4)), 2)
    with pytest.raises(ValueError, match="does not fit"):
        avg_pool2d(Tensor(_arr(1, 1, 2, 2)), 3)


@pytest.mark.parametrize("op", [max_pool2d, avg_pool2d])
@pytest.mark.parametrize("k,s", [(2, None), (3, 1)])
def test_pooling_does_not_modify_its_input(op, k, s):
    x = _arr(2, 2, 5, 5)
    before = x.copy()
    op(Tensor(x), k, s)
    assert np.array_equal(x, before), f"{op.__name__} changed its input"


def test_pool_layers_have_no_parameters():
    assert MaxPool2d(2).parameters() == [] and AvgPool2d(2).parameters() == []
    assert "kernel_size=2" in repr(MaxPool2d(2))


# --- BatchNorm2d -------------------------------------------------------------------------------


def test_batchnorm_training_normalizes_each_channel():
    x = (_arr(8, 3, 4, 5) * np.array([1, 5, 0.1], np.float32)[None, :, None, None] + 3).astype(np.float32)
    bn = BatchNorm2d(3)
    y = bn(Tensor(x)).data
    close(y.mean(axis=(0, 2, 3)), np.zeros(3), atol=1e-5,
          what="per-channel mean over (N, H, W) after batch norm")
    var = x.var(axis=(0, 2, 3))
    close(y.var(axis=(0, 2, 3)), var / (var + 1e-5), atol=1e-4,
          what="per-channel variance after batch norm (normalized with the biased variance)")
    assert bn.running_mean.dtype == np.float32 and bn.running_var.dtype == np.float32, \
        f"the running arrays stay float32, got {bn.running_mean.dtype} and {bn.running_var.dtype}"


def test_batchnorm_running_statistics_over_several_steps():
    bn = BatchNorm2d(2, momentum=0.3)
    rm, rv = np.zeros(2), np.ones(2)
    for step in range(4):
        x = _arr(3, 2, 2, 3) * (step + 1) + step
        bn(Tensor(x))
        for name, start in (("running_mean", 0.0), ("running_var", 1.0)):
            unchanged = bool(np.all(getattr(bn, name) == start)) and step == 0
            assert not unchanged, \
                f"{name} still holds its initial value {start} after a training step: update the layer's " \
                f"array in place (`{name} = ...` only rebinds a local name)"
        rm = 0.7 * rm + 0.3 * x.mean(axis=(0, 2, 3))
        rv = 0.7 * rv + 0.3 * x.var(axis=(0, 2, 3), ddof=1)
        close(bn.running_mean, rm, atol=1e-5,
              what=f"running_mean after step {step + 1}: (1 - momentum) * running + momentum * batch mean")
        close(bn.running_var, rv, atol=1e-4,
              what=f"running_var after step {step + 1}: (1 - momentum) * running + momentum * unbiased "
                   f"batch variance")


def test_batchnorm_eval_uses_running_statistics_and_affine():
    bn = BatchNorm2d(3, eps=1e-3)
    bn.running_mean[:] = [1.0, -2.0, 0.5]
    bn.running_var[:] = [4.0, 0.25, 1.0]
    bn.weight.data[:] = [2.0, 1.0, -1.0]
    bn.bias.data[:] = [0.0, 0.5, 1.0]
    bn.eval()
    x = _arr(2, 3, 3, 3)
    shape = (1, 3, 1, 1)
    want = ((x - bn.running_mean.reshape(shape)) / np.sqrt(bn.running_var.reshape(shape) + 1e-3)
            * bn.weight.data.reshape(shape) + bn.bias.data.reshape(shape))
    close(bn(Tensor(x)), want, atol=1e-5,
          what="eval(): normalize with the running statistics, then weight and bias")
    close(bn(Tensor(x[:1])), want[:1], atol=1e-5, what="eval(): one image alone gives the same output")
    assert np.array_equal(bn.running_mean, [1.0, -2.0, 0.5]), \
        f"eval() must not update the running statistics, running_mean became {bn.running_mean}"


def test_batchnorm_parameters_and_errors():
    bn = BatchNorm2d(4)
    assert [p.shape for p in bn.parameters()] == [(4,), (4,)]
    assert np.all(bn.weight.data == 1) and np.all(bn.bias.data == 0)
    with pytest.raises(ValueError, match=r"\(N, 4, H, W\)"):
        bn(Tensor(_arr(2, 3, 2, 2)))
    with pytest.raises(ValueError, match="more than one value"):
        bn(Tensor(_arr(1, 4, 1, 1)))
    bn.eval()
    assert bn(Tensor(_arr(1, 4, 1, 1))).shape == (1, 4, 1, 1), "a single value is fine in eval mode"


def test_module_train_eval_reaches_batchnorm_inside_sequential():
    from tinytorch.layers import Sequential

    model = Sequential(Conv2d(1, 2, 3, rng=0), BatchNorm2d(2))
    model.eval()
    assert model.layers[1].training is False
    model.train()
    assert model.layers[1].training is True


def test_the_numbers_quoted_in_the_prose():
    """Sections 1, 2, 3 and 6 quote these sizes of the CIFAR example and of the layers: a run gives them."""
    from tinytorch.layers import Linear

    def count(layer):
        return sum(p.data.size for p in layer.parameters())

    assert Conv2d(1, 8, 3, rng=0).weight.data.size == 72, "section 1: 8 filters of 1x3x3 are 72 weights"
    assert (count(Conv2d(3, 32, 3, rng=0)), count(Linear(32 * 32 * 3, 32, rng=0))) == (896, 98_336), \
        "section 6: Conv2d(3, 32, 3) has 896 parameters, Linear(3072, 32) 98,336"
    x_pad = np.zeros((64, 3, 34, 34), np.float32)  # 64 CIFAR images padded by 1
    cols = im2col(x_pad, (3, 3), (1, 1))
    assert cols.nbytes == 7_077_888 and cols.nbytes == 9 * 64 * 3 * 32 * 32 * 4, \
        f"section 3: the im2col buffer of 64 CIFAR images, 3x3 kernel, is 7 MB (9x the input), " \
        f"got {cols.nbytes:,} B"
    out_shape = conv2d(Tensor(x_pad[:1]), Tensor(np.zeros((32, 3, 3, 3))), padding=0).shape
    flops = 2 * 64 * int(np.prod(out_shape[1:])) * 3 * 3 * 3
    assert flops == 113_246_208, f"section 2: 2 * N * O * OH * OW * C * kh * kw = 113 MFLOPs, got {flops:,}"
