"""Module 16: measure_sparsity and magnitude_prune, exactly, on hand-made and random weights."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinytorch.activations import ReLU
from tinytorch.compression import keep_largest, magnitude_prune, measure_sparsity, prunable_weights
from tinytorch.embeddings import Embedding
from tinytorch.layers import Linear, Sequential
from tinytorch.losses import CrossEntropyLoss
from tinytorch.optimizers import SGD, Adam, AdamW
from tinytorch.spatial import BatchNorm2d, Conv2d, Flatten
from tinytorch.tensor import Tensor
from tinytorch.testing import raises


def cnn():
    return Sequential(Conv2d(1, 4, 3, rng=0), BatchNorm2d(4), ReLU(), Flatten(), Linear(4 * 6 * 6, 5, rng=1))


def test_prunable_weights_are_matrices_and_kernels_only():
    names = [name for name, _ in prunable_weights(cnn())]
    assert names == ["layers.0.weight", "layers.4.weight"], names
    assert [name for name, _ in prunable_weights(Embedding(7, 3, rng=0))] == ["weight"]


def test_sparsity_counts_every_zero_exactly():
    model = cnn()
    model.layers[0].weight.data[1] = 0.0  # 9 of 36
    model.layers[4].weight.data[:10, :3] = 0.0  # 30 of 720
    model.layers[1].weight.data[...] = 0.0  # BatchNorm scale: not a weight matrix
    assert measure_sparsity(model) == 39 / 756
    model.layers[4].weight.data[20:30, :] = 1e-10  # tiny but not zero: not pruned
    model.layers[0].weight.data[2, 0, 0, 0] = -0.0  # minus zero is zero
    got = measure_sparsity(model)
    assert got == 40 / 756, \
        f"exact zeros only (1e-10 is not zero, -0.0 is): got {got * 756:.1f} of 756, expected 40"


@pytest.mark.parametrize("model", [Sequential(), Sequential(ReLU(), Flatten()), BatchNorm2d(3)],
                         ids=["empty", "no-parameters", "only-vectors"])
def test_no_weights_means_sparsity_zero(model):
    assert measure_sparsity(model) == 0.0


def test_sparsity_of_an_all_zero_model_is_one():
    model = Sequential(Linear(3, 4, rng=0))
    model.layers[0].weight.data[...] = 0.0
    assert measure_sparsity(model) == 1.0


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 9), st.integers(1, 9)), min_size=1, max_size=4),
       st.floats(0.0, 1.0), st.sampled_from(["global", "layer"]), st.integers(0, 2**31 - 1))
def test_prune_counts_and_order(shapes, sparsity, scope, seed):
    rng = np.random.default_rng(seed)
    layers = [Linear(i, o, rng=rng) for i, o in shapes]
    for layer in layers:  # few distinct values: plenty of ties
        layer.weight.data[...] = rng.integers(-3, 4, size=layer.weight.shape)
    model = Sequential(layers)
    before = [w.data.copy() for _, w in prunable_weights(model)]
    mask = magnitude_prune(model, sparsity, scope=scope)
    after = [w.data for _, w in prunable_weights(model)]
    keeps = [keep for _, _, keep in mask.entries]
    for b, a, keep in zip(before, after, keeps):
        assert np.array_equal(a, b * keep), "kept weights keep their value, pruned ones are zero"
    groups = [range(len(before))] if scope == "global" else [[i] for i in range(len(before))]
    for group in groups:
        kept = np.concatenate([np.abs(before[i])[keeps[i]] for i in group])
        gone = np.concatenate([np.abs(before[i])[~keeps[i]] for i in group])
        size = sum(before[i].size for i in group)
        assert len(gone) == int(round(sparsity * size)), f"{len(gone)} pruned of {size} at {sparsity}"
        if len(kept) and len(gone):
            assert gone.max() <= kept.min(), "every pruned weight is at most every kept one"


def test_ties_are_broken_by_position():
    assert keep_largest(np.array([1.0, 0.5, 0.5, 0.5, 2.0]), 2).tolist() == [True, False, False, True, True]


@pytest.mark.parametrize("size, prune", [(40, 20), (100, 37), (257, 128)])
def test_long_runs_of_ties_are_broken_by_position(size, prune):
    magnitudes = np.resize([0.3, 0.1, 0.2, 0.1], size)  # NumPy's default sort reorders long runs of ties
    pruned = np.flatnonzero(~keep_largest(magnitudes, prune))
    expected = np.sort(np.argsort(magnitudes, kind="stable")[:prune])
    differ = np.setxor1d(pruned, expected)
    assert differ.size == 0, \
        (f"ties go by position (a stable sort): {differ.size} positions differ, "
         f"the first {differ[:6].tolist()} "
         f"(magnitudes {magnitudes[differ[:6]].tolist()}); pruned must be the earliest of each tie")


def test_a_count_that_floats_just_below_an_integer_is_rounded():
    assert 0.69 * 300 < 207  # 206.99999999999997 in floats
    for scope in ("global", "layer"):
        model = Sequential(Linear(10, 30, rng=0))  # 300 weights
        magnitude_prune(model, 0.69, scope=scope)
        zeros = int(np.count_nonzero(model.layers[0].weight.data == 0))
        assert zeros == 207, f"{scope}: round(0.69 * 300) = 207 pruned, got {zeros} (int() truncates to 206)"


def test_global_prunes_the_small_scale_layer_first():
    model = Sequential(Linear(20, 20, rng=0), ReLU(), Linear(20, 20, rng=1))
    model.layers[2].weight.data[...] = 2.0 + np.abs(model.layers[2].weight.data)  # all larger than layer 0
    magnitude_prune(model, 0.4)
    first, second = (np.mean(w.data == 0) for _, w in prunable_weights(model))
    assert first == 0.8 and second == 0.0, (first, second)


@pytest.mark.parametrize("bad", [np.nan, np.inf], ids=["nan", "inf"])
def test_weights_that_are_not_finite_are_refused_and_left_alone(bad):
    """NaN has no magnitude to rank: pruning it once reported 50% pruned while nothing was."""
    model = Sequential(Linear(4, 4, rng=0), ReLU(), Linear(4, 4, rng=1))
    model.layers[2].weight.data[1, 2] = bad
    before = [w.data.copy() for _, w in prunable_weights(model)]
    raises(ValueError, lambda: magnitude_prune(model, 0.5), "layers.2.weight", "NaN or infinite")
    for old, (_, w) in zip(before, prunable_weights(model)):
        np.testing.assert_array_equal(w.data, old)


def test_pruning_again_goes_further_and_keeps_earlier_zeros():
    model = Sequential(Linear(10, 10, rng=0), ReLU(), Linear(10, 10, rng=1))
    magnitude_prune(model, 0.5)
    zeros = [w.data == 0 for _, w in prunable_weights(model)]
    magnitude_prune(model, 0.7)
    assert measure_sparsity(model) == 0.7
    for z, (_, w) in zip(zeros, prunable_weights(model)):
        assert np.all(w.data[z] == 0)


OPTIMIZERS = [lambda p: SGD(p, lr=0.1, momentum=0.9), lambda p: Adam(p, lr=0.05),
              lambda p: AdamW(p, lr=0.05, weight_decay=0.1)]


@pytest.mark.parametrize("make", OPTIMIZERS, ids=["sgd", "adam", "adamw"])
def test_mask_keeps_pruned_weights_at_zero_with_every_optimizer(make):
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(40, 6)), rng.integers(0, 4, size=40)
    model = Sequential(Linear(6, 12, rng=0), ReLU(), Linear(12, 4, rng=1))
    optimizer, loss_fn = make(model.parameters()), CrossEntropyLoss()

    def step():
        loss = loss_fn(model(Tensor(x)), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss.item()

    for _ in range(4):
        step()  # optimizer state built up before pruning
    mask = magnitude_prune(model, 0.75)
    pruned = [w.data == 0 for _, w in prunable_weights(model)]
    losses = []
    for _ in range(20):
        losses.append(step())
        mask.apply()
    for z, (name, w) in zip(pruned, prunable_weights(model)):
        assert np.all(w.data[z] == 0), f"{name}: pruned weights moved"
    assert measure_sparsity(model) == 0.75
    assert losses[-1] < losses[0], f"the survivors still learn: {losses[0]:.3f} -> {losses[-1]:.3f}"


def test_bad_arguments_are_named():
    model = Sequential(Linear(3, 3, rng=0))
    raises(TypeError, lambda: magnitude_prune(model, True), "sparsity")
    raises(TypeError, lambda: magnitude_prune(model, "0.5"), "sparsity")
    raises(ValueError, lambda: magnitude_prune(model, -0.1), "sparsity", "between 0 and 1")
    raises(ValueError, lambda: magnitude_prune(model, 0.5, scope="channel"), "scope")
    raises(ValueError, lambda: magnitude_prune(Sequential(ReLU()), 0.5), "no weight")
    raises(TypeError, lambda: measure_sparsity(np.zeros((3, 3))), "module")
    raises(ValueError, lambda: keep_largest(np.zeros((2, 2)), 1), "flat")
    raises(ValueError, lambda: keep_largest(np.zeros(3), 4), "cannot prune 4 of 3")
