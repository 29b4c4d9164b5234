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
    max_pool2d,
)
from tinytorch.tensor import BACKWARD_RULES, Tensor


def _param(*shape, seed=0):
    return Tensor(np.random.default_rng(seed).normal(size=shape), requires_grad=True)


def test_rules_are_registered_by_the_package():
    for name in ("conv2d", "max_pool2d", "avg_pool2d", "batch_norm2d"):
        assert name in BACKWARD_RULES


# --- conv2d ------------------------------------------------------------------------------------


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


def test_conv2d_gradient_values_by_hand():
    x = Tensor(np.ones((1, 1, 3, 3)), requires_grad=True)
    w = Tensor([[[[1.0, 2.0], [3.0, 4.0]]]], requires_grad=True)
    b = Tensor([0.0], requires_grad=True)
    conv2d(x, w, b).sum().backward()
    assert np.array_equal(x.grad.data[0, 0], [[1, 3, 2], [4, 10, 6], [3, 7, 4]])
    assert np.array_equal(w.grad.data[0, 0], [[4, 4], [4, 4]])
    assert np.array_equal(b.grad.data, [4])


def test_conv2d_padding_gradient_excludes_the_pad():
    x = Tensor(np.ones((1, 1, 2, 2)), requires_grad=True)
    w = Tensor(np.ones((1, 1, 3, 3)), requires_grad=True)
    conv2d(x, w, padding=1).sum().backward()
    assert x.grad.shape == (1, 1, 2, 2) and np.array_equal(x.grad.data[0, 0], [[4, 4], [4, 4]])
    assert np.array_equal(w.grad.data[0, 0], [[1, 2, 1], [2, 4, 2], [1, 2, 1]])


def test_conv2d_unused_rows_get_zero_gradient():
    # 6 rows, kernel 3, stride 2: windows start at 0 and 2; row 5 is never used.
    x = Tensor(np.ones((1, 1, 6, 6)), requires_grad=True)
    conv2d(x, Tensor(np.ones((1, 1, 3, 3))), stride=2).sum().backward()
    assert np.all(x.grad.data[0, 0, 5] == 0) and np.all(x.grad.data[0, 0, :, 5] == 0)
    assert x.grad.data[0, 0, 2, 2] == 4


def test_conv2d_input_without_grad_gets_none_and_weights_still_learn():
    x = Tensor(np.random.default_rng(0).normal(size=(2, 1, 5, 5)))
    conv = Conv2d(1, 2, 3, rng=0)
    conv(x).sum().backward()
    assert x.grad is None
    assert conv.weight.grad is not None and conv.weight.grad.shape == (2, 1, 3, 3)
    assert conv.bias.grad is not None and np.allclose(conv.bias.grad.data, 2 * 9)


def test_conv2d_gradients_accumulate_over_two_backwards():
    conv = Conv2d(1, 1, 2, rng=0)
    x = Tensor(np.ones((1, 1, 3, 3)))
    conv(x).sum().backward()
    first = conv.weight.grad.data.copy()
    conv(x).sum().backward()
    assert np.allclose(conv.weight.grad.data, 2 * first)


def test_conv2d_gradients_are_float32_in_training():
    conv = Conv2d(2, 3, 3, padding=1, rng=0)
    x = Tensor(np.random.default_rng(0).normal(size=(2, 2, 4, 4)), requires_grad=True)
    conv(x).sum().backward()
    assert x.grad.dtype == np.float32 and conv.weight.grad.dtype == np.float32


# --- pooling -----------------------------------------------------------------------------------


@pytest.mark.parametrize("op", [max_pool2d, avg_pool2d])
@pytest.mark.parametrize("shape,k,s", [((2, 2, 4, 6), 2, None), ((1, 2, 5, 5), 2, None), ((1, 2, 7, 7), 3, 2),
                                       ((2, 1, 5, 6), (2, 3), (1, 2)), ((1, 1, 4, 4), 2, 1)])
def test_pool_gradcheck(op, shape, k, s):
    assert gradcheck(lambda x: op(x, k, s), _param(*shape, seed=4))


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
    assert np.allclose(xt.grad.data, ref.route(arg, g, shape), atol=1e-6)


def test_max_pool_ties_go_to_the_first_maximum_only(ref):
    x = np.zeros((2, 2, 4, 4), np.float32)  # all ties, like ReLU output
    x[0, 0, 1, 1] = 1.0
    x[1, 1, 2:, 2:] = 3.0
    xt = Tensor(x, requires_grad=True)
    out = max_pool2d(xt, 2)
    g = np.arange(1, out.size + 1, dtype=np.float32).reshape(out.shape)
    out.backward(g)
    _, _, arg = ref.pool(x, (2, 2), (2, 2))
    assert np.array_equal(xt.grad.data, ref.route(arg, g, x.shape))
    assert np.count_nonzero(xt.grad.data) == out.size, "exactly one element per window receives gradient"


def test_overlapping_max_pool_accumulates_when_one_element_wins_twice():
    x = np.zeros((1, 1, 3, 3), np.float32)
    x[0, 0, 1, 1] = 5.0  # the centre wins all four 2x2 windows with stride 1
    xt = Tensor(x, requires_grad=True)
    max_pool2d(xt, 2, 1).sum().backward()
    want = np.zeros((3, 3))
    want[1, 1] = 4
    assert np.array_equal(xt.grad.data[0, 0], want)


def test_avg_pool_gradient_is_spread_evenly():
    xt = Tensor(np.zeros((1, 1, 4, 5)), requires_grad=True)
    avg_pool2d(xt, 2).sum().backward()
    want = np.full((4, 5), 0.25)
    want[:, 4] = 0  # the last column is never pooled
    assert np.allclose(xt.grad.data[0, 0], want)


# --- batch norm --------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(3, 2, 3, 2), (2, 3, 1, 4), (5, 1, 2, 2)])
def test_batchnorm_gradcheck_training(shape):
    x, w, b = _param(*shape, seed=7), _param(shape[1], seed=8), _param(shape[1], seed=9)
    assert gradcheck(lambda x, w, b: batch_norm2d(x, w, b, training=True), x, w, b)
    assert gradcheck(lambda x, w, b: batch_norm2d(x, w, b, training=True, eps=0.5), x, w, b)


def test_batchnorm_gradcheck_eval():
    x, w, b = _param(2, 3, 2, 2, seed=10), _param(3, seed=11), _param(3, seed=12)
    rm, rv = np.array([0.3, -1.0, 2.0]), np.array([0.5, 2.0, 1.5])
    assert gradcheck(lambda x, w, b: batch_norm2d(x, w, b, rm, rv, training=False), x, w, b)


def test_batchnorm_gradient_of_the_sum_is_zero_in_training():
    # Each channel's outputs sum to M * beta whatever x is, so d(sum)/dx = 0.
    bn = BatchNorm2d(3)
    x = Tensor(np.random.default_rng(0).normal(size=(4, 3, 2, 2)), requires_grad=True)
    bn(x).sum().backward()
    assert np.allclose(x.grad.data, 0, atol=1e-5)
    assert np.allclose(bn.bias.grad.data, 16) and np.allclose(bn.weight.grad.data, 0, atol=1e-5)


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
