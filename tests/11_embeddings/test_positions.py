"""Module 11: sinusoidal and learned positions, their offsets, gradients and errors."""

import numpy as np
import pytest

from tinytorch.autograd import gradcheck
from tinytorch.embeddings import LearnedPositionalEmbedding, PositionalEncoding, sinusoidal_encoding
from tinytorch.tensor import Tensor
from tinytorch.testing import close, raises


def _reference_table(length, dim):
    """The formula of Vaswani et al., one element at a time, in float64."""
    table = np.zeros((length, dim))
    for p in range(length):
        for j in range(dim):
            angle = p / 10000 ** ((j - j % 2) / dim)
            table[p, j] = np.sin(angle) if j % 2 == 0 else np.cos(angle)
    return table


@pytest.mark.parametrize("length,dim", [(1, 1), (1, 2), (10, 4), (7, 5), (64, 128), (33, 17)])
def test_sinusoidal_matches_the_formula(length, dim):
    table = sinusoidal_encoding(length, dim)
    assert table.shape == (length, dim) and table.dtype == np.float32
    close(table, _reference_table(length, dim), atol=1e-6,
          what=f"sinusoidal_encoding({length}, {dim}) against the formula in float64")


def test_sinusoidal_is_accurate_at_far_positions():
    table = sinusoidal_encoding(20000, 8)
    close(table[-1000:], _reference_table(20000, 8)[-1000:], atol=1e-6, rtol=0,
          what="positions 19000..19999 (angles up to 20,000 radians): compute ω and the angles in float64, "
               "float32 angles are off by ~1e-4")


def test_dot_products_depend_only_on_the_distance():
    table = sinusoidal_encoding(40, 32).astype(np.float64)
    gram = table @ table.T
    for distance in (0, 1, 5, 17):
        diagonal = np.diagonal(gram, offset=distance)
        close(diagonal, np.full(diagonal.shape, diagonal[0]), atol=1e-5)


@pytest.mark.parametrize("args,exc", [((0, 4), ValueError), ((4, 0), ValueError), ((4.5, 4), TypeError)])
def test_sinusoidal_bad_sizes(args, exc):
    raises(exc, lambda: sinusoidal_encoding(*args))
    raises(exc, lambda: PositionalEncoding(*args))
    raises(exc, lambda: LearnedPositionalEmbedding(*args))


@pytest.mark.parametrize("layer_cls", [PositionalEncoding, LearnedPositionalEmbedding])
@pytest.mark.parametrize("shape,offset", [((2, 5, 6), 0), ((2, 5, 6), 3), ((1, 8, 6), 0), ((3, 1, 6), 7),
                                          ((5, 6), 2)])
def test_forward_adds_the_rows_of_the_positions(layer_cls, shape, offset):
    layer = layer_cls(8, 6)
    table = layer.encoding if layer_cls is PositionalEncoding else layer.weight.data
    x = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    t = shape[-2]
    out = layer(Tensor(x), offset=offset)
    assert out.shape == shape and out.dtype == np.float32
    close(out, x + table[offset:offset + t])


def test_offset_equals_slicing_a_longer_sequence():
    # the KV-cache seam (module 17): positions of the new tokens continue where the cache ends
    layer = LearnedPositionalEmbedding(10, 4, rng=0)
    x = np.random.default_rng(1).normal(size=(2, 7, 4)).astype(np.float32)
    full = layer(Tensor(x)).data
    close(layer(Tensor(x[:, 4:]), offset=4), full[:, 4:])
    fixed = PositionalEncoding(10, 4)
    close(fixed(Tensor(x[:, 6:]), offset=6), fixed(Tensor(x)).data[:, 6:])


@pytest.mark.parametrize("layer_cls", [PositionalEncoding, LearnedPositionalEmbedding])
def test_errors(layer_cls):
    layer = layer_cls(4, 3)
    raises(ValueError, lambda: layer(Tensor(np.zeros((1, 5, 3)))), "0..4", "max_seq_len = 4")
    raises(ValueError, lambda: layer(Tensor(np.zeros((1, 2, 3))), offset=3), "3..4", "offset 3")
    raises(ValueError, lambda: layer(Tensor(np.zeros((1, 2, 3))), offset=-1), "offset -1")
    raises(TypeError, lambda: layer(Tensor(np.zeros((1, 2, 3))), offset=1.0), "offset")
    raises(ValueError, lambda: layer(Tensor(np.zeros((1, 2, 4)))), "(B, T, 3)")
    raises(ValueError, lambda: layer(Tensor(np.zeros(3))), "(B, T, 3)")
    raises(TypeError, lambda: layer(np.zeros((1, 2, 3))), "Tensor")
    layer(Tensor(np.zeros((1, 4, 3))))  # exactly max_seq_len fits
    layer(Tensor(np.zeros((1, 1, 3))), offset=3)


def test_sinusoidal_has_no_parameters_and_gradient_goes_to_x():
    layer = PositionalEncoding(6, 4)
    assert layer.parameters() == [] and layer.state_dict() == {}
    x = Tensor(np.random.default_rng(2).normal(size=(2, 3, 4)), requires_grad=True)
    assert gradcheck(lambda x: layer(x, offset=2) * layer(x), x)
    before = layer.encoding.copy()
    layer(x).sum().backward()
    assert np.array_equal(layer.encoding, before)


def test_learned_gradient_reaches_only_the_rows_used():
    layer = LearnedPositionalEmbedding(6, 2, rng=0)
    x = Tensor(np.zeros((3, 2, 2)), requires_grad=True)
    grad = np.arange(12, dtype=np.float32).reshape(3, 2, 2)
    layer(x, offset=3).backward(grad)
    assert layer.weight.grad is not None, "weight.grad is None: the rows added were outside the graph"
    want = np.zeros((6, 2))
    want[3:5] = grad.sum(axis=0)
    assert np.array_equal(layer.weight.grad.data, want)
    assert np.array_equal(x.grad.data, grad)


@pytest.mark.parametrize("offset", [0, 2])
def test_learned_gradcheck(offset):
    layer = LearnedPositionalEmbedding(5, 3, rng=0)
    x = Tensor(np.random.default_rng(3).normal(size=(2, 3, 3)), requires_grad=True)
    assert gradcheck(lambda x, w: layer(x, offset=offset) * w[offset:offset + 3], x, layer.weight)


def test_learned_init_and_repr():
    layer = LearnedPositionalEmbedding(64, 32, rng=0)
    assert layer.parameters() == [layer.weight] and layer.weight.shape == (64, 32)
    assert abs(float(layer.weight.data.std()) - 1) < 0.05
    assert np.array_equal(LearnedPositionalEmbedding(64, 32, rng=0).weight.data, layer.weight.data)
    assert repr(layer) == "LearnedPositionalEmbedding(64, 32)"
    assert repr(PositionalEncoding(64, 32)) == "PositionalEncoding(64, 32)"
