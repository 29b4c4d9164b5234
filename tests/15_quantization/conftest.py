"""Trained digits models for module 15's tests, built once per session.

Tests get them through session fixtures (pytest runs with --import-mode=importlib, so test files
cannot import a sibling helper module). Training is seeded: the same models every run.
"""

import importlib
from types import SimpleNamespace

import numpy as np
import pytest


def _needs(name, number, title):
    """tinytorch.<name>, or a failure that names the module to complete first (08 and 09 are not
    among module 15's registry prerequisites, though they come first in course order)."""
    try:
        return importlib.import_module(f"tinytorch.{name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"tinytorch.{name}":
            raise
        pytest.fail(f"module 15's digits models need tinytorch.{name}: complete module {number} ({title}) "
                    f"first with `tito module complete {number}`", pytrace=False)


def _train(model, x, y, epochs, lr=3e-3, seed=0):
    dataloader = _needs("dataloader", "08", "DataLoader")
    DataLoader, TensorDataset = dataloader.DataLoader, dataloader.TensorDataset
    from tinytorch.losses import CrossEntropyLoss
    from tinytorch.optimizers import Adam

    loss_fn, optimizer = CrossEntropyLoss(), Adam(model.parameters(), lr=lr)
    for _ in range(epochs):
        for xb, yb in DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True, seed=seed):
            loss = loss_fn(model(xb), yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model.eval()


@pytest.fixture(scope="session")
def digits():
    from tinytorch.datasets import load_tinydigits

    x_train, y_train, x_test, y_test = load_tinydigits()
    return SimpleNamespace(x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)


@pytest.fixture(scope="session")
def digits_mlp(digits):
    """M03's MLP (64-128-64-10), 8 epochs of Adam."""
    from tinytorch.activations import ReLU
    from tinytorch.layers import Linear, Sequential

    model = Sequential(Linear(64, 128, rng=0), ReLU(), Linear(128, 64, rng=1), ReLU(), Linear(64, 10, rng=2))
    return _train(model, digits.x_train.reshape(-1, 64), digits.y_train, epochs=8)


@pytest.fixture(scope="session")
def digits_cnn(digits):
    """A small CNN: conv 1->8 (3x3, pad 1), ReLU, max pool 2, flatten, Linear 128->64, ReLU, Linear 64->10."""
    from tinytorch.activations import ReLU
    from tinytorch.layers import Linear, Sequential

    spatial = _needs("spatial", "09", "Spatial")
    Conv2d, Flatten, MaxPool2d = spatial.Conv2d, spatial.Flatten, spatial.MaxPool2d
    model = Sequential(Conv2d(1, 8, 3, padding=1, rng=0), ReLU(), MaxPool2d(2), Flatten(),
                       Linear(8 * 4 * 4, 64, rng=1), ReLU(), Linear(64, 10, rng=2))
    return _train(model, digits.x_train[:, None], digits.y_train, epochs=4)


def accuracy(model, x, y) -> float:
    from tinytorch.autograd import no_grad
    from tinytorch.tensor import Tensor

    with no_grad():
        return float((model(Tensor(x)).data.argmax(axis=-1) == y).mean())


@pytest.fixture(scope="session")
def acc():
    return accuracy


@pytest.fixture(scope="session")
def rng():
    return np.random.default_rng(0)
