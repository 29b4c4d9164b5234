"""Module 09: every backward rule of tinytorch/spatial.py, by gradcheck and by exact values."""

import numpy as np
import pytest

from tinytorch.autograd import gradcheck
from tinytorch.layers import Linear, Sequential
from tinytorch.spatial import (
    BatchNorm2d,
    Conv2d,
    Flatten,
    MaxPool2d,
    avg_pool2d,
    batch_norm2d,
    conv2d,
    im2col,
    max_pool2d,
)
from tinytorch.tensor import BACKWARD_RULES, Tensor
from tinytorch.testing import close


def _param(*shape, seed=0):
    return Tensor(np.random.default_rng(seed).normal(size=shape), requires_grad=True)


def test_rules_are_registered_by_the_package():
    for name in ("conv2d", "max_pool2d", "avg_pool2d", "batch_norm2d"):
        assert name in BACKWARD_RULES


# --- conv2d ------------------------------------------------------------------------------------


def test_conv2d_gradient_values_by_hand():
    x = Tensor(np.ones((1, 1, 3, 3)), requires_grad=True)
    w = Tensor([[[[1.0, 2.0], [3.0, 4.0]]]], requires_grad=True)
    b = Tensor([0.0], requires_grad=True)
    conv2d(x, w, b).sum().backward()
    close(x.grad, [[[[1, 3, 2], [4, 10, 6], [3, 7, 4]]]],
          what="input gradient of sum(conv2d(ones, [[1, 2], [3, 4]])): each pixel gets the weights that "
               "touched it")
    close(w.grad, [[[[4, 4], [4, 4]]]], what="weight gradient: each weight saw 4 pixels of value 1")
    close(b.grad, [4], what="bias gradient: the upstream gradient summed over N, OH, OW (4 outputs)")


def test_conv2d_rule_sums_the_batch_and_cuts_the_padding():
    x = Tensor(np.ones((2, 1, 3, 3)), requires_grad=True)  # two identical images, padding 1, 2x2 kernel
    w = Tensor([[[[1.0, 2.0], [3.0, 4.0]]]], requires_grad=True)
    cols = im2col(np.pad(x.data, ((0, 0), (0, 0), (1, 1), (1, 1))), (2, 2), (1, 1))
    grads = BACKWARD_RULES["conv2d"](np.ones((2, 1, 4, 4)), None, x, w, Tensor([0.0]), stride=(1, 1),
                                     padding=(1, 1), cols=cols)
    assert isinstance(grads, tuple) and len(grads) == 3, \
        f"with a bias the rule returns (grad_x, grad_weight, grad_bias), got {type(grads).__name__}"
    grad_x, grad_w, grad_b = grads
    assert np.shape(grad_x) == (2, 1, 3, 3), \
        f"grad_x has shape {np.shape(grad_x)}, x has (2, 1, 3, 3): cut the padding off the padded gradient"
    close(grad_b, [32],
          what="bias gradient of an all-ones g (2, 1, 4, 4): summed over all axes but the channel")
    close(grad_w, np.full((1, 1, 2, 2), 18.0),
          what="weight gradient: 9 ones per image, summed over the 2 images (9: one image, or the mean)")
    close(grad_x, np.full((2, 1, 3, 3), 10.0), what="input gradient: every pixel meets all four weights")


def test_conv2d_padding_gradient_excludes_the_pad():
    x = Tensor(np.ones((1, 1, 2, 2)), requires_grad=True)
    w = Tensor(np.ones((1, 1, 3, 3)), requires_grad=True)
    conv2d(x, w, padding=1).sum().backward()
    close(x.grad, [[[[4, 4], [4, 4]]]], what="input gradient with padding 1: x's shape, the padding cut off")
    close(w.grad, [[[[1, 2, 1], [2, 4, 2], [1, 2, 1]]]],
          what="weight gradient with padding 1: a weight that meets the zero padding gets less")


def test_conv2d_unused_rows_get_zero_gradient():
    # 6 rows, kernel 3, stride 2: windows start at 0 and 2; row 5 is never used.
    x = Tensor(np.ones((1, 1, 6, 6)), requires_grad=True)
    conv2d(x, Tensor(np.ones((1, 1, 3, 3))), stride=2).sum().backward()
    want = np.ones((6, 6))
    want[2, :] *= 2
    want[:, 2] *= 2
    want[5, :] = want[:, 5] = 0
    close(x.grad, want[None, None],
          what="6x6 input, 3x3 kernel, stride 2: row and column 2 are in two windows, row and column 5 "
               "in none")


def test_conv2d_input_without_grad_gets_none_and_weights_still_learn():
    x = Tensor(np.random.default_rng(0).normal(size=(2, 1, 5, 5)))
    conv = Conv2d(1, 2, 3, rng=0)
    conv(x).sum().backward()
    no_grad = x.grad is None
    assert no_grad, f"x does not require grad, yet it got a gradient of shape {x.grad.shape}"
    assert conv.weight.grad is not None and conv.weight.grad.shape == (2, 1, 3, 3), \
        f"the weight must still get its gradient (2, 1, 3, 3), got {conv.weight.grad}"
    close(conv.bias.grad, [18, 18], what="bias gradient: 2 images x 9 output positions")


def test_conv2d_rule_skips_the_input_gradient_when_x_needs_none():
    x = Tensor(np.ones((1, 1, 3, 3)))
    w = Tensor(np.ones((1, 1, 2, 2)), requires_grad=True)
    out = conv2d(x, w)
    grads = BACKWARD_RULES["conv2d"](np.ones((1, 1, 2, 2)), out, x, w, stride=(1, 1), padding=(0, 0),
                                     cols=im2col(x.data, (2, 2), (1, 1)))
    skipped = grads[0] is None
    assert skipped, \
        f"x does not require grad (the images of a first layer): the rule returns None for it and skips " \
        f"the col2im branch, got {type(grads[0]).__name__}"
    assert len(grads) == 2, f"no bias: the rule returns (grad_x, grad_weight), got {len(grads)} values"


def test_conv2d_gradients_accumulate_over_two_backwards():
    conv = Conv2d(1, 1, 2, rng=0)
    x = Tensor(np.ones((1, 1, 3, 3)))
    conv(x).sum().backward()
    first = conv.weight.grad.data.copy()
    conv(x).sum().backward()
    close(conv.weight.grad, 2 * first, what="two backward passes add up in .grad")


def test_conv2d_gradients_are_float32_in_training():
    conv = Conv2d(2, 3, 3, padding=1, rng=0)
    x = Tensor(np.random.default_rng(0).normal(size=(2, 2, 4, 4)), requires_grad=True)
    conv(x).sum().backward()
    assert x.grad.dtype == np.float32 and conv.weight.grad.dtype == np.float32, \
        f"float32 in training: grad_x {x.grad.dtype}, grad_weight {conv.weight.grad.dtype}"


# --- pooling -----------------------------------------------------------------------------------


@pytest.mark.parametrize("shape,k,s", [((2, 3, 6, 6), 2, None), ((1, 2, 7, 7), 3, 2),
                                       ((2, 1, 5, 7), (2, 3), (1, 2)), ((1, 1, 6, 6), 3, 1),
                                       ((2, 2, 5, 6), 2, (1, 2)), ((2, 2, 6, 5), 2, (2, 1)),
                                       ((2, 2, 7, 6), (3, 2), 2), ((2, 2, 6, 7), (2, 3), 2)])
def test_max_pool_routes_to_the_winner(ref, shape, k, s):
    x = np.random.default_rng(5).normal(size=shape).astype(np.float32)
    kk = (k, k) if isinstance(k, int) else k
    ss = kk if s is None else ((s, s) if isinstance(s, int) else s)
    _, _, arg = ref.pool(x, kk, ss)
    xt = Tensor(x, requires_grad=True)
    out = max_pool2d(xt, k, s)
    g = np.random.default_rng(6).normal(size=out.shape).astype(np.float32)
    out.backward(g)
    close(xt.grad, ref.route(arg, g, shape), atol=1e-6,
          what=f"max_pool2d gradient to each window's first maximum, kernel {k}, stride {s}")


def test_max_pool_ties_go_to_the_first_maximum_only(ref):
    x = np.zeros((2, 2, 4, 4), np.float32)  # all ties, like ReLU output
    x[0, 0, 1, 1] = 1.0
    x[1, 1, 2:, 2:] = 3.0
    xt = Tensor(x, requires_grad=True)
    out = max_pool2d(xt, 2)
    g = np.arange(1, out.size + 1, dtype=np.float32).reshape(out.shape)
    out.backward(g)
    _, _, arg = ref.pool(x, (2, 2), (2, 2))
    winners = int(np.count_nonzero(xt.grad.data))
    assert winners == out.size, \
        f"all-tie windows (as after a ReLU): exactly one element per window receives gradient, " \
        f"got {winners} nonzero gradients for {out.size} windows"
    close(xt.grad, ref.route(arg, g, x.shape),
          what="ties: each window's gradient goes to its first maximum in row-major order")


def test_overlapping_max_pool_accumulates_when_one_element_wins_twice():
    x = np.zeros((1, 1, 3, 3), np.float32)
    x[0, 0, 1, 1] = 5.0  # the centre wins all four 2x2 windows with stride 1
    xt = Tensor(x, requires_grad=True)
    max_pool2d(xt, 2, 1).sum().backward()
    want = np.zeros((3, 3))
    want[1, 1] = 4
    close(xt.grad, want[None, None], what="3x3, kernel 2, stride 1: the centre wins all four windows, gets 4")


def test_avg_pool_gradient_is_spread_evenly():
    xt = Tensor(np.zeros((1, 1, 4, 5)), requires_grad=True)
    avg_pool2d(xt, 2).sum().backward()
    want = np.full((4, 5), 0.25)
    want[:, 4] = 0  # the last column is never pooled
    close(xt.grad, want[None, None],
          what="avg_pool2d(kernel 2) of a 4x5 input: 1/4 per element, the last column unused")


def test_avg_pool_overlapping_windows_add_their_shares():
    xt = Tensor([[[[1.0, 5.0, 2.0]]]], requires_grad=True)
    (avg_pool2d(xt, (1, 2), 1) * Tensor([[[[3.0, 4.0]]]])).sum().backward()
    close(xt.grad, [[[[1.5, 3.5, 2.0]]]],
          what="kernel (1, 2), stride 1, g = (3, 4): each element gets g / 2 from each window, added up")


# --- batch norm --------------------------------------------------------------------------------


def test_batchnorm_training_gradient_has_both_paths_through_the_statistics():
    rng = np.random.default_rng(14)
    x = Tensor(rng.normal(size=(4, 3, 2, 3)) * 2 + 1, requires_grad=True)
    w, b = Tensor(rng.normal(size=3), requires_grad=True), Tensor(rng.normal(size=3), requires_grad=True)
    g = rng.normal(size=x.shape)
    (batch_norm2d(x, w, b, training=True) * Tensor(g)).sum().backward()
    mean, var = x.data.mean(axis=(0, 2, 3), keepdims=True), x.data.var(axis=(0, 2, 3), keepdims=True)
    x_hat = (x.data - mean) / np.sqrt(var + 1e-5)
    close(b.grad, g.sum(axis=(0, 2, 3)), what="bias gradient: the upstream gradient summed over (N, H, W)")
    close(w.grad, (g * x_hat).sum(axis=(0, 2, 3)), atol=1e-6,
          what="weight gradient: the upstream gradient times x_hat, summed over (N, H, W)")
    sums = [float(v) for v in x.grad.data.sum(axis=(0, 2, 3))]
    centred = max(map(abs, sums)) < 1e-6
    assert centred, \
        f"the gradient of x must sum to zero over each channel in training (a constant added to a channel " \
        f"changes nothing), got {[round(v, 4) for v in sums]}: the path through the mean is missing"
    along = [float(v) for v in (x.grad.data * x_hat).sum(axis=(0, 2, 3))]
    orthogonal = max(map(abs, along)) < 1e-4
    assert orthogonal, \
        f"the gradient of x must be orthogonal to x_hat per channel in training (scaling a channel changes " \
        f"nothing), got {[round(v, 4) for v in along]}: the path through the variance is missing"


def test_batchnorm_eval_gradient_is_the_affine_one():
    rng = np.random.default_rng(15)
    x, w = Tensor(rng.normal(size=(2, 3, 2, 2)), requires_grad=True), Tensor(rng.normal(size=3))
    rm, rv, g = np.array([0.3, -1.0, 2.0]), np.array([0.5, 2.0, 1.5]), rng.normal(size=(2, 3, 2, 2))
    (batch_norm2d(x, w, Tensor(np.zeros(3)), rm, rv, training=False) * Tensor(g)).sum().backward()
    close(x.grad, g * w.data[None, :, None, None] / np.sqrt(rv + 1e-5)[None, :, None, None],
          what="evaluation mode: the running statistics are constants, "
               "grad_x = weight * g / sqrt(running_var + eps)")


def test_batchnorm_gradient_of_the_sum_is_zero_in_training():
    # Each channel's outputs sum to M * beta whatever x is, so d(sum)/dx = 0.
    bn = BatchNorm2d(3)
    x = Tensor(np.random.default_rng(0).normal(size=(4, 3, 2, 2)), requires_grad=True)
    bn(x).sum().backward()
    close(bn.bias.grad, [16, 16, 16], what="bias gradient of the sum: M = 4 * 2 * 2 values per channel")
    close(bn.weight.grad, np.zeros(3), atol=1e-5, what="weight gradient of the sum: sum of x_hat per channel")
    close(x.grad, np.zeros(x.shape), atol=1e-5,
          what="training mode, gradient of the sum: each channel's outputs sum to M * beta whatever x is")


# --- every rule against central differences (after the specific checks above) -----------------


@pytest.mark.parametrize("xs,ws,stride,padding", [
    ((2, 2, 5, 6), (3, 2, 3, 2), 1, 0),
    ((2, 2, 5, 6), (3, 2, 3, 3), 2, 1),
    ((1, 3, 7, 7), (2, 3, 3, 3), 3, 2),
    ((2, 1, 6, 5), (2, 1, 2, 3), (2, 1), (1, 0)),
    ((1, 2, 4, 4), (2, 2, 1, 1), 1, 0),
    ((1, 1, 5, 5), (1, 1, 5, 5), 1, 2),
])
@pytest.mark.parametrize("bias", [True, False])
def test_conv2d_gradcheck(xs, ws, stride, padding, bias):
    x, w = _param(*xs, seed=1), _param(*ws, seed=2)
    if bias:
        b = _param(ws[0], seed=3)
        assert gradcheck(lambda x, w, b: conv2d(x, w, b, stride=stride, padding=padding), x, w, b)
    else:
        assert gradcheck(lambda x, w: conv2d(x, w, stride=stride, padding=padding), x, w)


@pytest.mark.parametrize("op", [max_pool2d, avg_pool2d])
@pytest.mark.parametrize("shape,k,s", [((2, 2, 4, 6), 2, None), ((1, 2, 5, 5), 2, None), ((1, 2, 7, 7), 3, 2),
                                       ((2, 1, 5, 6), (2, 3), (1, 2)), ((1, 1, 4, 4), 2, 1)])
def test_pool_gradcheck(op, shape, k, s):
    assert gradcheck(lambda x: op(x, k, s), _param(*shape, seed=4))


@pytest.mark.parametrize("shape", [(3, 2, 3, 2), (2, 3, 1, 4), (5, 1, 2, 2)])
def test_batchnorm_gradcheck_training(shape):
    x, w, b = _param(*shape, seed=7), _param(shape[1], seed=8), _param(shape[1], seed=9)
    assert gradcheck(lambda x, w, b: batch_norm2d(x, w, b, training=True), x, w, b)
    assert gradcheck(lambda x, w, b: batch_norm2d(x, w, b, training=True, eps=0.5), x, w, b)


def test_batchnorm_gradcheck_eval():
    x, w, b = _param(2, 3, 2, 2, seed=10), _param(3, seed=11), _param(3, seed=12)
    rm, rv = np.array([0.3, -1.0, 2.0]), np.array([0.5, 2.0, 1.5])
    assert gradcheck(lambda x, w, b: batch_norm2d(x, w, b, rm, rv, training=False), x, w, b)


# --- a whole network ---------------------------------------------------------------------------


def test_small_cnn_gradcheck_end_to_end():
    conv, bn, lin = Conv2d(1, 2, 3, padding=1, rng=0), BatchNorm2d(2), Linear(2 * 2 * 2, 3, rng=1)
    model = Sequential(conv, bn, MaxPool2d(2), Flatten(), lin)
    x = _param(3, 1, 4, 4, seed=13)
    params = [conv.weight, conv.bias, bn.weight, bn.bias, lin.weight, lin.bias]

    def fn(x, cw, cb, bw, bb, lw, lb):
        conv.weight, conv.bias, bn.weight, bn.bias, lin.weight, lin.bias = cw, cb, bw, bb, lw, lb
        return model(x)

    assert gradcheck(fn, x, *params)
