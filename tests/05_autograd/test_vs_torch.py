"""Module 05: gradients of composite functions compared with PyTorch (skipped when it is not installed)."""

import numpy as np
import pytest

from tinytorch.activations import GELU, ReLU, Sigmoid, Softmax, Tanh
from tinytorch.losses import BinaryCrossEntropyLoss, CrossEntropyLoss
from tinytorch.tensor import Tensor

torch = pytest.importorskip("torch")
F = torch.nn.functional


def make_params(seed=0):
    rng = np.random.default_rng(seed)
    return {
        "emb": rng.normal(0, 0.5, size=(10, 8)),
        "wq": rng.normal(0, 0.4, size=(8, 8)), "wk": rng.normal(0, 0.4, size=(8, 8)),
        "wv": rng.normal(0, 0.4, size=(8, 8)), "gain": rng.uniform(0.5, 1.5, size=(8,)),
        "w_out": rng.normal(0, 0.4, size=(8, 3)), "b_out": rng.normal(0, 0.1, size=(3,)),
        "w_bin": rng.normal(0, 0.4, size=(8,)), "scale": rng.uniform(0.5, 1.5, size=()),
    }


TOKENS = np.array([[1, 4, 4, 9, 0], [3, 3, 3, 7, 1]])  # repeated tokens: getitem with repeats
TARGETS = np.array([2, 0])
BIN_TARGETS = np.array([1.0, 0.0])


def tinytorch_loss(p):
    x = p["emb"][TOKENS]  # (2, 5, 8)
    q, k, v = x @ p["wq"], x @ p["wk"], x @ p["wv"]
    att = Softmax(dim=-1)(q @ k.transpose(-2, -1) / 8**0.5)
    h = att @ v + x
    mu = h.mean(axis=-1, keepdims=True)
    var = ((h - mu) ** 2).mean(axis=-1, keepdims=True)
    h = (h - mu) / (var + 1e-5).sqrt() * p["gain"]
    h = GELU()(h) + Tanh()(h) * 0.5 - ReLU()(h - 0.2) * 0.25
    pooled = h.max(axis=1) + h.mean(axis=1)  # (2, 8)
    logits = pooled @ p["w_out"] + p["b_out"]
    ce = CrossEntropyLoss()(logits, TARGETS)
    prob = Sigmoid()(pooled @ p["w_bin"] * p["scale"])
    bce = BinaryCrossEntropyLoss()(prob, BIN_TARGETS)
    extra = (logits.exp().sum(axis=0).log() / (pooled[:, :2].T @ pooled[:, 2:5] + 3)).sum(axis=(0, 1))
    return ce + bce * 0.5 - extra * 0.1


def torch_loss(p):
    x = p["emb"][torch.as_tensor(TOKENS)]
    q, k, v = x @ p["wq"], x @ p["wk"], x @ p["wv"]
    att = torch.softmax(q @ k.transpose(-2, -1) / 8**0.5, dim=-1)
    h = att @ v + x
    mu = h.mean(dim=-1, keepdim=True)
    var = ((h - mu) ** 2).mean(dim=-1, keepdim=True)
    h = (h - mu) / (var + 1e-5).sqrt() * p["gain"]
    h = F.gelu(h, approximate="tanh") + torch.tanh(h) * 0.5 - torch.relu(h - 0.2) * 0.25
    pooled = h.amax(dim=1) + h.mean(dim=1)
    logits = pooled @ p["w_out"] + p["b_out"]
    ce = F.cross_entropy(logits, torch.as_tensor(TARGETS))
    prob = torch.sigmoid(pooled @ p["w_bin"] * p["scale"])
    bce = F.binary_cross_entropy(prob, torch.as_tensor(BIN_TARGETS))
    extra = (logits.exp().sum(dim=0).log() / (pooled[:, :2].T @ pooled[:, 2:5] + 3)).sum(dim=(0, 1))
    return ce + bce * 0.5 - extra * 0.1


def test_composite_gradients_match_pytorch():
    raw = make_params()
    ours = {name: Tensor(value, requires_grad=True) for name, value in raw.items()}
    theirs = {name: torch.tensor(value, dtype=torch.float64, requires_grad=True)
              for name, value in raw.items()}
    loss = tinytorch_loss(ours)
    reference = torch_loss(theirs)
    assert loss.item() == pytest.approx(reference.item(), rel=1e-5)
    loss.backward()
    reference.backward()
    for name in raw:
        want = theirs[name].grad.numpy()
        got = ours[name].grad.data
        assert got.shape == want.shape, name
        assert np.allclose(got, want, rtol=1e-3, atol=1e-6), f"{name}: max diff {np.abs(got - want).max()}"


def test_mlp_step_gradients_match_pytorch():
    from tinytorch.layers import Linear

    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(16, 20)), rng.integers(0, 5, size=16)
    l1, l2 = Linear(20, 32, rng=1), Linear(32, 5, rng=2)
    loss = CrossEntropyLoss()(l2(ReLU()(l1(Tensor(x)))), y)
    loss.backward()
    tw = [torch.tensor(t.data, dtype=torch.float64, requires_grad=True)
          for t in (l1.weight, l1.bias, l2.weight, l2.bias)]
    ref = F.cross_entropy(torch.relu(torch.as_tensor(x) @ tw[0] + tw[1]) @ tw[2] + tw[3], torch.as_tensor(y))
    ref.backward()
    for ours, theirs in zip((l1.weight, l1.bias, l2.weight, l2.bias), tw):
        assert np.allclose(ours.grad.data, theirs.grad.numpy(), rtol=1e-4, atol=1e-6)


def test_max_ties_match_pytorch_amax():
    values = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]])
    ours = Tensor(values, requires_grad=True)
    (ours.max(axis=1) * Tensor([1.0, 3.0])).sum().backward()
    theirs = torch.tensor(values, requires_grad=True)
    (theirs.amax(dim=1) * torch.tensor([1.0, 3.0], dtype=torch.float64)).sum().backward()
    assert np.allclose(ours.grad.data, theirs.grad.numpy())
