"""Module 12: the masked_fill rule and gradients through attention, by gradcheck and by values."""

import numpy as np
import pytest

from tinytorch.attention import (
    MultiHeadAttention,
    causal_mask,
    masked_fill,
    merge_heads,
    scaled_dot_product_attention,
    split_heads,
)
from tinytorch.autograd import gradcheck
from tinytorch.tensor import BACKWARD_RULES, Tensor
from tinytorch.testing import ops_in_graph


def _param(*shape, seed=0):
    return Tensor(np.random.default_rng(seed).normal(size=shape), requires_grad=True)


def test_masked_fill_rule_is_registered_by_the_package():
    assert "masked_fill" in BACKWARD_RULES


@pytest.mark.parametrize("shape,mask_shape", [((4,), (4,)), ((2, 3), (3,)), ((2, 3, 4), (3, 4)),
                                              ((2, 3, 4), (2, 1, 4)), ((2, 2, 3, 3), (3, 3))])
def test_masked_fill_gradcheck(shape, mask_shape):
    x = _param(*shape, seed=1)
    m = np.random.default_rng(2).random(mask_shape) < 0.5
    # multiply by x so the gradient depends on the values, not only on the mask
    assert gradcheck(lambda x: masked_fill(x, m, 3.0) * x, x)


def test_masked_fill_gradient_is_exactly_zero_where_filled():
    x = Tensor(np.ones((2, 2, 3)), requires_grad=True)
    m = np.array([[True, False, False], [False, True, True]])
    g = np.arange(12, dtype=np.float32).reshape(2, 2, 3) + 1
    masked_fill(x, m, -np.inf).backward(g)
    assert np.array_equal(x.grad.data, np.where(m, 0, g))
    assert x.grad.dtype == np.float32


def test_masked_fill_backward_leaves_its_incoming_gradient_alone():
    m = np.array([True, False, True])
    x = Tensor(np.ones((2, 3)), requires_grad=True)
    g = np.arange(6, dtype=np.float32).reshape(2, 3) + 1
    masked_fill(x, m, 0.0).backward(g)
    assert np.array_equal(g, np.arange(6).reshape(2, 3) + 1), f"the rule wrote into the gradient: {g}"
    # a read-only gradient: the rule itself, and through .sum() (whose rule returns a broadcast view)
    ro = np.ones((2, 3), np.float32)
    ro.flags.writeable = False
    (gx,) = BACKWARD_RULES["masked_fill"](ro, None, x, m)
    assert np.array_equal(gx, [[0, 1, 0], [0, 1, 0]]) and np.all(ro == 1)
    y = Tensor(np.ones((2, 3)), requires_grad=True)
    masked_fill(y, m, 0.0).sum().backward()
    assert np.array_equal(y.grad.data, [[0, 1, 0], [0, 1, 0]])
    # add hands one gradient array to both of its inputs: the other branch must keep its ones
    z = Tensor(np.ones((2, 3)), requires_grad=True)
    (masked_fill(z, m, 0.0) + z).backward(np.ones((2, 3), np.float32))
    assert np.array_equal(z.grad.data, [[1, 2, 1], [1, 2, 1]])


def test_masked_fill_with_minus_inf_then_softmax_has_finite_gradients():
    q, k = _param(3, 4, seed=3), _param(4, 4, seed=4)
    _, w = scaled_dot_product_attention(q, k, k, causal_mask(3, 4))
    (w * w).sum().backward()
    assert np.all(np.isfinite(q.grad.data)) and np.all(np.isfinite(k.grad.data))


def test_the_attention_graph_is_made_of_known_ops():
    q, k, v = _param(2, 3, 4), _param(2, 5, 4, seed=1), _param(2, 5, 2, seed=2)
    out, w = scaled_dot_product_attention(q, k, v, causal_mask(3, 5))
    names = ops_in_graph(out)
    assert names.count("matmul") == 2 and "softmax" in names and "masked_fill" in names, \
        f"attention is two matmuls, a masked_fill and a softmax; the graph holds {names}"
    # the scale may be a mul or a div, on q, on k or on the scores: all are correct
    known = {"matmul", "transpose", "mul", "div", "masked_fill", "softmax"}
    assert set(ops_in_graph(w)) <= known, \
        f"the weights' graph holds ops other than {sorted(known)}: {sorted(set(ops_in_graph(w)) - known)}"
    plain, _ = scaled_dot_product_attention(q, k, v)
    assert "masked_fill" not in ops_in_graph(plain)


@pytest.mark.parametrize("qs,ks,vs,masked", [
    ((3, 4), (3, 4), (3, 2), False),
    ((3, 4), (3, 4), (3, 2), True),
    ((2, 3, 4), (2, 5, 4), (2, 5, 3), True),
    ((2, 2, 3, 2), (2, 2, 4, 2), (2, 2, 4, 3), True),
    ((1, 3, 2), (2, 3, 2), (2, 3, 2), False),  # q broadcast over the batch
])
def test_sdpa_gradcheck_output_and_weights(qs, ks, vs, masked):
    q, k, v = _param(*qs, seed=4), _param(*ks, seed=5), _param(*vs, seed=6)
    m = causal_mask(qs[-2], ks[-2]) if masked else None
    assert gradcheck(lambda q, k, v: scaled_dot_product_attention(q, k, v, m)[0], q, k, v)
    # the weights are a graph Tensor too: their gradient reaches q and k
    assert gradcheck(lambda q, k: scaled_dot_product_attention(q, k, v, m)[1], q, k)


def test_sdpa_padding_mask_gradcheck_and_zero_gradient_for_masked_values():
    q, k, v = _param(2, 3, 4, seed=7), _param(2, 5, 4, seed=8), _param(2, 5, 3, seed=9)
    pad = np.ones((2, 1, 5), bool)
    pad[1, :, 3:] = False
    assert gradcheck(lambda q, k, v: scaled_dot_product_attention(q, k, v, pad)[0], q, k, v)
    for t in (q, k, v):
        t.grad = None
    scaled_dot_product_attention(q, k, v, pad)[0].sum().backward()
    assert np.all(v.grad.data[1, 3:] == 0) and np.all(k.grad.data[1, 3:] == 0)
    assert np.any(v.grad.data[0, 3:] != 0)


def test_heads_gradcheck():
    x = _param(2, 3, 6, seed=10)
    assert gradcheck(lambda x: split_heads(x, 3) * split_heads(x, 3), x)
    y = _param(2, 3, 4, 2, seed=11)
    assert gradcheck(lambda y: merge_heads(y) * merge_heads(y), y)


@pytest.mark.parametrize("causal", [False, True])
def test_mha_gradcheck_input_and_every_parameter(causal):
    layer = MultiHeadAttention(6, 2, rng=3)
    x = _param(2, 4, 6, seed=12)
    m = causal_mask(4) if causal else None
    params = layer.parameters()

    def f(x, *ps):
        saved = [p.data for p in params]
        try:
            for p, new in zip(params, ps):
                p.data = new.data
            # run with the float64 copies: swap the Tensors themselves so that gradients reach them
            for (owner, name), new in zip(_slots(layer), ps):
                setattr(owner, name, new)
            return layer(x, mask=m)
        finally:
            for (owner, name), p, data in zip(_slots(layer), params, saved):
                p.data = data
                setattr(owner, name, p)

    assert gradcheck(f, x, *params)


def _slots(layer):
    return [(proj, name) for proj in (layer.q_proj, layer.k_proj, layer.v_proj, layer.out_proj)
            for name in ("weight", "bias")]


def test_mha_input_gradient_respects_causality():
    layer = MultiHeadAttention(8, 2, rng=4)
    x = _param(1, 5, 8, seed=13)
    out = layer(x, mask=causal_mask(5))
    g = np.zeros(out.shape, np.float32)
    g[0, 1] = 1.0  # the loss reads position 1 only
    out.backward(g)
    assert np.all(x.grad.data[0, 2:] == 0) and np.any(x.grad.data[0, :2] != 0)
