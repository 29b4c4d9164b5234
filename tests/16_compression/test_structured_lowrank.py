"""Module 16: structured pruning really removes units, and low-rank factorization is the SVD."""

import numpy as np
import pytest

from tinytorch.activations import ReLU, Tanh
from tinytorch.compression import (
    low_rank_approximate,
    parameter_count,
    slice_inputs,
    structured_prune,
    unit_importance,
)
from tinytorch.layers import Dropout, Linear, Sequential
from tinytorch.spatial import AvgPool2d, BatchNorm2d, Conv2d, Flatten, MaxPool2d
from tinytorch.tensor import Tensor
from tinytorch.testing import close, raises
from tinytorch.transformers import LayerNorm


def kill(layer, units, bias_value=0.0):
    """Make `units` of `layer` output exactly zero before any activation."""
    if type(layer) is Linear:
        layer.weight.data[:, units] = 0.0
    else:
        layer.weight.data[units] = 0.0
    layer.bias.data[units] = bias_value


def test_dead_units_removed_from_a_deep_mlp_change_nothing():
    model = Sequential(Linear(5, 10, rng=0), ReLU(), Dropout(0.5), Linear(10, 10, rng=1), Tanh(),
                       Linear(10, 4, rng=2))
    kill(model.layers[0], [0, 3, 5, 9])
    kill(model.layers[3], [2, 4, 6, 8])
    model.eval()
    x = Tensor(np.random.default_rng(0).normal(size=(7, 5)))
    small = structured_prune(model, 0.4)
    shapes = [layer.weight.shape for layer in small.layers if isinstance(layer, Linear)]
    assert shapes == [(5, 6), (6, 6), (6, 4)], shapes
    close(small(x).data, model(x).data, atol=1e-5, what="dead units removed")
    assert not small.training, "the pruned model keeps the original's mode"


@pytest.mark.parametrize("pool", [MaxPool2d(2), AvgPool2d(2)], ids=["max", "avg"])
def test_dead_channels_removed_through_batchnorm_pool_and_flatten(pool):
    model = Sequential(Conv2d(2, 6, 3, padding=1, rng=0), BatchNorm2d(6), ReLU(),
                       Conv2d(6, 4, 3, padding=1, rng=1), BatchNorm2d(4), ReLU(), pool, Flatten(),
                       Linear(4 * 3 * 3, 3, rng=2))
    x = Tensor(np.random.default_rng(1).normal(size=(3, 2, 6, 6)))
    model(x)  # one training pass gives the norms running statistics
    model.eval()
    kill(model.layers[0], [1, 4, 5])
    model.layers[1].bias.data[[1, 4, 5]] = -1.0  # ReLU then zeroes them whatever the statistics
    kill(model.layers[3], [0, 2])
    model.layers[4].bias.data[[0, 2]] = -1.0
    model.layers[4].running_mean[[0, 2]] = 0.0
    small = structured_prune(model, 0.5)
    assert small.layers[0].weight.shape == (3, 2, 3, 3) and small.layers[3].weight.shape == (2, 3, 3, 3)
    assert small.layers[1].running_mean.shape == (3,) and small.layers[4].weight.shape == (2,)
    assert small.layers[8].weight.shape == (18, 3)
    close(small(x).data, model(x).data, atol=1e-5, what="dead channels removed")


def test_the_lowest_l1_units_go_and_order_is_kept():
    layer = Linear(2, 5, rng=0)
    layer.weight.data[...] = [[5, -1, 3, 0.5, -4], [0, 1, -3, 0.2, 0]]  # L1: 5, 2, 6, 0.7, 4
    model = Sequential(layer, ReLU(), Linear(5, 2, rng=1))
    small = structured_prune(model, 0.4)
    assert small.layers[0].weight.data.tolist() == [[5, 3, -4], [0, -3, 0]]
    assert np.array_equal(small.layers[2].weight.data, model.layers[2].weight.data[[0, 2, 4]])


def test_importance_is_the_l1_norm_of_each_unit():
    """L1, not L2 or the largest entry: the three rank the units of this layer differently."""
    layer = Linear(4, 3, rng=0)
    layer.weight.data[...] = [[3.0, 1.5, 0.0], [0.0, 1.5, 2.0], [0.0, 0.0, 2.0], [0.0, 0.0, -0.5]]
    got = unit_importance(layer)
    assert got.tolist() == [3.0, 3.0, 4.5], f"L1 norm of each output column, (3, 3, 4.5): got {got.tolist()}"
    conv = Conv2d(2, 2, 1, rng=0)
    conv.weight.data[...] = np.array([[3.0, 0.0], [-2.0, -2.0]]).reshape(2, 2, 1, 1)
    got = unit_importance(conv)
    assert got.tolist() == [3.0, 4.0], f"L1 norm of each filter, (3, 4): got {got.tolist()}"


def check_rows_after_a_flatten(slicer) -> None:
    """Channels 1 and 3 of 4 channels of 2 values each: rows 2, 3, 6, 7 of the next Linear; rows taken every
    4th (interleaved channels) are named."""
    nxt = Linear(8, 2, rng=0)
    nxt.weight.data[...] = np.arange(16.0).reshape(8, 2)
    rows = [round(v / 2) for v in slicer(nxt, np.array([1, 3]), 4).weight.data[:, 0].tolist()]
    assert rows == [2, 3, 6, 7], \
        f"channels 1 and 3 of 4 after a Flatten, each 2 consecutive inputs: rows 2, 3, 6, 7, got rows {rows}"


def _interleaved(layer, keep, channels):
    """Planted: channel c read as inputs c, c + channels, ... (every `channels`-th input)."""
    rows = (np.asarray(keep)[:, None] + channels * np.arange(layer.in_features // channels)).ravel()
    sliced = Linear(rows.size, layer.out_features, rng=0)
    sliced.weight.data = layer.weight.data[rows]
    return sliced


def test_a_linear_after_a_flatten_reads_consecutive_rows():
    check_rows_after_a_flatten(slice_inputs)


def test_interleaved_channels_are_named():
    raises(AssertionError, lambda: check_rows_after_a_flatten(_interleaved), "consecutive", "[1, 5, 3, 7]")


def test_at_least_one_unit_stays_and_outputs_are_never_pruned():
    model = Sequential(Linear(4, 2, rng=0), ReLU(), Linear(2, 3, rng=1))
    small = structured_prune(model, 0.9)
    assert small.layers[0].weight.shape == (4, 1) and small.layers[2].weight.shape == (1, 3)
    same = structured_prune(model, 0.0)
    close(same(Tensor(np.ones((1, 4)))).data, model(Tensor(np.ones((1, 4)))).data)
    assert structured_prune(Sequential(Linear(4, 3, rng=0)), 0.5).layers[0].weight.shape == (4, 3)


def test_pruned_layers_are_trainable_and_the_original_is_untouched():
    model = Sequential(Linear(4, 8, rng=0), ReLU(), Linear(8, 2, rng=1))
    before = [p.data.copy() for p in model.parameters()]
    small = structured_prune(model, 0.5)
    small(Tensor(np.ones((2, 4)))).sum().backward()
    assert all(p.grad is not None for p in small.parameters())
    assert all(np.array_equal(b, p.data) for b, p in zip(before, model.parameters()))
    assert parameter_count(small) == 4 * 4 + 4 + 4 * 2 + 2


def test_structured_prune_refuses_what_it_cannot_follow():
    raises(TypeError, lambda: structured_prune(Sequential(Linear(4, 4), LayerNorm(4), Linear(4, 2)), 0.5),
           "LayerNorm", "layer 1")
    raises(TypeError, lambda: structured_prune([Linear(2, 2)], 0.5), "Sequential")
    raises(ValueError, lambda: structured_prune(Sequential(Linear(2, 2)), 1.0), "below 1")


@pytest.mark.parametrize("where", [1, 2, 4])
def test_structured_prune_names_a_nested_sequential_wherever_it_is(where):
    """A factorized layer (low_rank_approximate's nested Sequential) anywhere -- in the middle, or
    after the last top-level Linear, where nothing would be pruned -- is an error naming it."""
    layers = [Linear(8, 16, rng=0), ReLU(), Linear(16, 16, rng=1), ReLU(), Linear(16, 3, rng=2)]
    layers[where] = low_rank_approximate(layers[where], 2) if isinstance(layers[where], Linear) \
        else Sequential(Linear(16, 16, rng=3))
    raises(TypeError, lambda: structured_prune(Sequential(*layers), 0.5), f"layer {where}", "Sequential")


def test_structured_prune_names_layers_it_does_not_know():
    quantization = pytest.importorskip("tinytorch.quantization")
    quantized = Sequential(quantization.QuantizedLinear.from_linear(Linear(8, 16, rng=0)), ReLU(),
                           quantization.QuantizedLinear.from_linear(Linear(16, 3, rng=1)))
    raises(TypeError, lambda: structured_prune(quantized, 0.5), "layer 0", "QuantizedLinear", "quantize")
    embeddings = pytest.importorskip("tinytorch.embeddings")
    embedded = Sequential(embeddings.Embedding(10, 8, rng=0), Linear(8, 16, rng=0), ReLU(),
                          Linear(16, 3, rng=1))
    raises(TypeError, lambda: structured_prune(embedded, 0.5), "layer 0", "Embedding")
    transformers = pytest.importorskip("tinytorch.transformers")
    gpt = transformers.GPT(10, 8, 1, 2, 4, rng=0)
    raises(TypeError, lambda: structured_prune(gpt, 0.5), "Sequential", "GPT")


def _wrong_products(weight):
    """What two factors multiply to when the singular values go on both sides, or V^T's columns are taken."""
    left, sigma, right_t = np.linalg.svd(np.float64(weight), full_matrices=False)
    both_sides = "U·S²·V^T: the singular values applied on both sides (each takes sqrt(sigma))"
    return {both_sides: (left * sigma**2) @ right_t,
            "U·S·V, the columns of V^T: the right singular vectors are its rows": (left * sigma) @ right_t.T}


def check_full_rank_product(approximate) -> None:
    """At full rank the two weights must multiply to the weight; a product with the singular values on both
    sides (U·S²·V^T) or with V^T's columns (U·S·V) is named."""
    layer = Linear(10, 6, rng=2)
    two = approximate(layer, 6)
    a, b = two.layers[0].weight.data.astype(np.float64), two.layers[1].weight.data.astype(np.float64)
    assert a.shape == (10, 6) and b.shape == (6, 6), f"(10, 6) and (6, 6), got {a.shape}, {b.shape}"
    for what, product in _wrong_products(layer.weight.data).items():
        assert not np.allclose(a @ b, product, atol=1e-4), f"full rank: the two weights multiply to {what}"
    close(a @ b, layer.weight.data, atol=1e-4, what="full rank: the two weights multiply to the weight")


def _planted(which):
    """Planted: two layers whose weights multiply to the `which`-th wrong product (the second: identity)."""
    def approximate(linear, rank):
        first, second = Linear(linear.in_features, rank, bias=False, rng=0), Linear(rank, rank, rng=0)
        first.weight.data = list(_wrong_products(linear.weight.data).values())[which].astype(np.float32)
        second.weight.data = np.eye(rank, dtype=np.float32)
        return Sequential(first, second)
    return approximate


def test_the_full_rank_product_is_the_weight():
    check_full_rank_product(low_rank_approximate)


@pytest.mark.parametrize("which, fragment", [(0, "both sides"), (1, "its rows")])
def test_a_wrong_factor_product_is_named(which, fragment):
    raises(AssertionError, lambda: check_full_rank_product(_planted(which)), "multiply to", fragment)


def test_low_rank_matches_numpy_svd_and_improves_with_rank():
    layer = Linear(20, 12, rng=3)
    x = Tensor(np.random.default_rng(2).normal(size=(9, 20)))
    w = layer.weight.data.astype(np.float64)
    sigma = np.linalg.svd(w, compute_uv=False)
    errors = []
    for rank in range(1, 13):
        two = low_rank_approximate(layer, rank)
        product = two.layers[0].weight.data.astype(np.float64) @ two.layers[1].weight.data
        errors.append(np.linalg.norm(w - product))
        assert abs(errors[-1] - np.sqrt(np.sum(sigma[rank:] ** 2))) < 1e-4
        assert parameter_count(two) == rank * 32 + 12
    assert all(a > b for a, b in zip(errors, errors[1:-1])), "the error falls with every rank"
    close(low_rank_approximate(layer, 12)(x).data, layer(x).data, atol=1e-4)
    no_bias = Linear(6, 4, bias=False, rng=0)
    assert low_rank_approximate(no_bias, 2).layers[1].bias is None


@pytest.mark.parametrize("rank", [1, 3, 6])
def test_low_rank_factors_are_balanced(rank):
    layer = Linear(9, 6, rng=4)
    two = low_rank_approximate(layer, rank)
    a, b = two.layers[0].weight.data.astype(np.float64), two.layers[1].weight.data.astype(np.float64)
    sigma = np.linalg.svd(layer.weight.data.astype(np.float64), compute_uv=False)[:rank]
    root = np.sqrt(sigma)
    close(np.linalg.norm(a, axis=0), root, atol=1e-4, what="column i of the first factor: norm sqrt(s_i)")
    close(np.linalg.norm(b, axis=1), root, atol=1e-4, what="row i of the second factor: norm sqrt(s_i)")


def test_low_rank_agrees_with_torch_svd():
    torch = pytest.importorskip("torch")
    layer = Linear(16, 10, rng=4)
    two = low_rank_approximate(layer, 3)
    product = two.layers[0].weight.data.astype(np.float64) @ two.layers[1].weight.data
    u, s, vh = torch.linalg.svd(torch.tensor(layer.weight.data, dtype=torch.float64), full_matrices=False)
    close(product, (u[:, :3] * s[:3] @ vh[:3]).numpy(), atol=1e-5, what="rank-3 reconstruction")


def test_low_rank_bad_arguments():
    layer = Linear(5, 3, rng=0)
    raises(ValueError, lambda: low_rank_approximate(layer, 4), "rank", "1 to 3")
    raises(ValueError, lambda: low_rank_approximate(layer, 1.5), "rank")
    raises(ValueError, lambda: low_rank_approximate(layer, True), "rank")
    raises(TypeError, lambda: low_rank_approximate(Sequential(layer), 1), "Linear")
