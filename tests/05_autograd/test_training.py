"""Module 05: gradients good enough to train small networks built from modules 01-04."""

import numpy as np

from tinytorch.activations import ReLU, Sigmoid, Tanh
from tinytorch.autograd import no_grad
from tinytorch.layers import Linear, Sequential
from tinytorch.losses import BinaryCrossEntropyLoss, CrossEntropyLoss
from tinytorch.tensor import Tensor


def sgd(params, lr):
    with no_grad():
        for p in params:
            p.data -= lr * p.grad.data
            p.grad = None


def blobs(n=150, seed=0):
    rng = np.random.default_rng(seed)
    centers = np.array([[2.0, 0.0], [-1.0, 1.7], [-1.0, -1.7]])
    labels = rng.integers(0, 3, size=n)
    return centers[labels] + rng.normal(0, 0.5, size=(n, 2)), labels


def test_mlp_with_cross_entropy_learns_three_blobs():
    x, y = blobs()
    model = Sequential(Linear(2, 16, rng=0), ReLU(), Linear(16, 3, rng=1))
    loss_fn = CrossEntropyLoss()
    first = loss_fn(model(Tensor(x)), y).item()
    for _ in range(60):
        loss = loss_fn(model(Tensor(x)), y)
        loss.backward()
        sgd(model.parameters(), 0.3)
    with no_grad():
        logits = model(Tensor(x))
        final = loss_fn(logits, y).item()
    assert not logits.requires_grad, "evaluation under no_grad records no graph"
    assert final < 0.3 * first, f"loss {first:.3f} -> {final:.3f}"
    assert (logits.data.argmax(axis=1) == y).mean() > 0.95


def test_sigmoid_and_binary_cross_entropy_learn_xor():
    x = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = np.array([[0.0], [1.0], [1.0], [0.0]])
    model = Sequential(Linear(2, 8, rng=3), Tanh(), Linear(8, 1, rng=4), Sigmoid())
    loss_fn = BinaryCrossEntropyLoss()
    for _ in range(500):
        loss = loss_fn(model(Tensor(x)), y)
        loss.backward()
        sgd(model.parameters(), 1.0)
    assert loss.item() < 0.1, f"XOR loss stayed at {loss.item():.3f}"
    assert np.array_equal(model(Tensor(x)).data > 0.5, y > 0.5)


def test_one_gradient_step_lowers_the_loss_of_a_784_128_10_mlp():
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(256, 784)), rng.integers(0, 10, size=256)
    model = Sequential(Linear(784, 128, rng=6), ReLU(), Linear(128, 10, rng=7))
    loss_fn = CrossEntropyLoss()
    before = loss_fn(model(Tensor(x)), y)
    before.backward()
    for p in model.parameters():
        assert p.grad is not None and p.grad.shape == p.shape and np.all(np.isfinite(p.grad.data))
    sgd(model.parameters(), 0.05)
    after = loss_fn(model(Tensor(x)), y)
    assert after.item() < before.item()
