"""Module 09: a small CNN trained end to end on TinyDigits (the data that ships with the repo)."""

from tinytorch.activations import ReLU
from tinytorch.autograd import no_grad
from tinytorch.dataloader import DataLoader, TensorDataset
from tinytorch.datasets import load_tinydigits
from tinytorch.layers import Linear, Sequential
from tinytorch.losses import CrossEntropyLoss
from tinytorch.optimizers import Adam
from tinytorch.spatial import BatchNorm2d, Conv2d, Flatten, MaxPool2d
from tinytorch.tensor import Tensor


def test_cnn_reaches_97_percent_on_tinydigits():
    x_train, y_train, x_test, y_test = load_tinydigits()
    x_train, x_test = x_train[:, None], x_test[:, None]
    model = Sequential(
        Conv2d(1, 16, 3, padding=1, rng=0), BatchNorm2d(16), ReLU(), MaxPool2d(2),   # 16 x 4 x 4
        Conv2d(16, 32, 3, padding=1, rng=1), BatchNorm2d(32), ReLU(), MaxPool2d(2),  # 32 x 2 x 2
        Flatten(), Linear(128, 10, rng=2))
    loader = DataLoader(TensorDataset(x_train, y_train), batch_size=32, shuffle=True, seed=0)
    opt, loss_fn = Adam(model.parameters(), lr=0.005), CrossEntropyLoss()
    for _ in range(8):
        model.train()
        for xb, yb in loader:
            loss = loss_fn(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    with no_grad():
        predictions = model(Tensor(x_test)).data.argmax(axis=1)
    accuracy = float((predictions == y_test).mean())
    assert accuracy >= 0.97, f"test accuracy {accuracy:.1%}"
