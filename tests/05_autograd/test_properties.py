"""Module 05: property tests (hypothesis) for broadcasting, reductions and indexing gradients."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tinytorch.autograd import backward, unbroadcast
from tinytorch.tensor import Tensor

SETTINGS = settings(max_examples=60, deadline=None)


@SETTINGS
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, max_side=4),
       seed=st.integers(0, 2**32 - 1))
def test_unbroadcast_is_the_adjoint_of_broadcasting(shapes, seed):
    """<unbroadcast(G), v> == <G, broadcast_to(v)> for every v: the definition of the right gradient."""
    rng = np.random.default_rng(seed)
    g = rng.normal(size=shapes.result_shape)
    for shape in shapes.input_shapes:
        reduced = np.asarray(unbroadcast(g, shape))
        assert reduced.shape == shape
        v = rng.normal(size=shape)
        assert np.isclose(np.sum(reduced * v), np.sum(g * np.broadcast_to(v, shapes.result_shape)))


@SETTINGS
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, max_side=4),
       seed=st.integers(0, 2**32 - 1))
def test_mul_gradients_under_any_broadcast(shapes, seed):
    rng = np.random.default_rng(seed)
    sa, sb = shapes.input_shapes
    a = Tensor(rng.normal(size=sa), requires_grad=True)
    b = Tensor(rng.normal(size=sb), requires_grad=True)
    g = rng.normal(size=shapes.result_shape).astype(np.float32)
    backward(a * b - b, g)
    big = shapes.result_shape
    want_a = np.broadcast_to(b.data, big) * g
    want_b = np.broadcast_to(a.data, big) * g - g
    # reference: walk every output position and add its gradient to the input element it came from
    for t, want in ((a, want_a), (b, want_b)):
        ref = np.zeros(t.shape)
        lead = len(big) - t.ndim
        for pos in np.ndindex(*big):
            ref[tuple(0 if t.shape[k] == 1 else pos[lead + k] for k in range(t.ndim))] += want[pos]
        assert t.grad.shape == t.shape
        assert np.allclose(t.grad.data, ref, atol=1e-4), (t.shape, big)


@SETTINGS
@given(data=st.data())
def test_sum_and_mean_spread_the_gradient_evenly(data):
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=4, max_side=4))
    axis = data.draw(st.none() | st.lists(st.integers(0, len(shape) - 1), min_size=1, unique=True).map(tuple))
    keepdims = data.draw(st.booleans())
    x = Tensor(np.zeros(shape), requires_grad=True)
    backward(x.sum(axis=axis, keepdims=keepdims).sum() + x.mean(axis=axis, keepdims=keepdims).sum() * 2)
    n = int(np.prod([shape[i] for i in (axis if axis is not None else range(len(shape)))]))
    assert np.allclose(x.grad.data, 1 + 2 / n)


@SETTINGS
@given(data=st.data())
def test_max_gradient_sums_to_one_per_reduced_slice(data):
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, max_side=5))
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    values = data.draw(hnp.arrays(np.float32, shape, elements=st.integers(-2, 2).map(float)))  # many ties
    x = Tensor(values, requires_grad=True)
    backward(x.max(axis=axis).sum())
    grad = x.grad.data
    assert np.allclose(grad.sum(axis=axis), 1), "ties share the gradient, which sums to g"
    assert np.all(grad[values < values.max(axis=axis, keepdims=True)] == 0), "only maxima receive gradient"


@SETTINGS
@given(n=st.integers(1, 6), picks=st.lists(st.integers(0, 5), min_size=1, max_size=12),
       seed=st.integers(0, 1000))
def test_getitem_with_repeated_indices_counts_every_pick(n, picks, seed):
    picks = [p % n for p in picks]
    x = Tensor(np.zeros((n, 2)), requires_grad=True)
    w = np.random.default_rng(seed).normal(size=(len(picks), 2)).astype(np.float32)
    backward((x[np.array(picks)] * Tensor(w)).sum())
    want = np.zeros((n, 2))
    for row, p in enumerate(picks):
        want[p] += w[row]
    assert np.allclose(x.grad.data, want, atol=1e-5)
