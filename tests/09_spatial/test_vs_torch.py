"""Module 09: forward and backward of every spatial op and layer against PyTorch (when installed)."""

import numpy as np
import pytest

from tinytorch.layers import Linear, Sequential
from tinytorch.spatial import (
    AvgPool2d,
    BatchNorm2d,
    Conv2d,
    Flatten,
    MaxPool2d,
    avg_pool2d,
    conv2d,
    max_pool2d,
)
from tinytorch.tensor import Tensor

torch = pytest.importorskip("torch")
F = torch.nn.functional


def _pair(rng, *shape):
    a = rng.normal(size=shape).astype(np.float32)
    return Tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)


@pytest.mark.parametrize("xs,ws,stride,padding", [
    ((4, 3, 9, 9), (5, 3, 3, 3), 1, 1), ((2, 3, 10, 8), (4, 3, 3, 3), 2, 1),
    ((2, 2, 9, 11), (3, 2, 2, 4), (3, 2), (2, 1)), ((3, 1, 28, 28), (8, 1, 3, 3), 1, 0),
    ((2, 4, 6, 6), (6, 4, 1, 1), 1, 0), ((1, 2, 7, 7), (2, 2, 5, 5), 2, 2)])
def test_conv2d_forward_and_backward(xs, ws, stride, padding):
    rng = np.random.default_rng(0)
    (x, tx), (w, tw), (b, tb) = _pair(rng, *xs), _pair(rng, *ws), _pair(rng, ws[0])
    out = conv2d(x, w, b, stride=stride, padding=padding)
    tout = F.conv2d(tx, tw, tb, stride=stride, padding=padding)
    assert out.shape == tuple(tout.shape)
    assert np.allclose(out.data, tout.detach().numpy(), atol=1e-4)
    g = rng.normal(size=out.shape).astype(np.float32)
    out.backward(g)
    tout.backward(torch.from_numpy(g))
    for ours, theirs in ((x, tx), (w, tw), (b, tb)):
        assert np.allclose(ours.grad.data, theirs.grad.numpy(), atol=1e-3, rtol=1e-4)


@pytest.mark.parametrize("k,s", [(2, None), (3, 2), (3, 1), ((2, 3), (1, 2)), (2, 1)])
def test_pooling_forward_and_backward(k, s):
    rng = np.random.default_rng(1)
    (x, tx) = _pair(rng, 2, 3, 9, 8)
    for ours_fn, torch_fn in ((max_pool2d, F.max_pool2d), (avg_pool2d, F.avg_pool2d)):
        x.grad, tx.grad = None, None
        out = ours_fn(x, k, s)
        tout = torch_fn(tx, k, s)
        assert np.allclose(out.data, tout.detach().numpy(), atol=1e-6)
        g = rng.normal(size=out.shape).astype(np.float32)
        out.backward(g)
        tout.backward(torch.from_numpy(g))
        assert np.allclose(x.grad.data, tx.grad.numpy(), atol=1e-5)


def test_max_pool_ties_after_relu_match_torch():
    rng = np.random.default_rng(2)
    a = np.maximum(rng.normal(size=(4, 3, 8, 8)), 0).astype(np.float32)
    a[:, :, :4, :4] = 0.0  # whole windows of ties
    a[0, 0, 5, 5] = a[0, 0, 5, 4] = a[0, 0, 4, 5] = 2.0  # a tie between non-zero maxima
    for k, s in ((2, None), (3, 1), (3, 2)):
        x, tx = Tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
        out, tout = max_pool2d(x, k, s), F.max_pool2d(tx, k, s)
        g = rng.normal(size=out.shape).astype(np.float32)
        out.backward(g)
        tout.backward(torch.from_numpy(g))
        assert np.allclose(x.grad.data, tx.grad.numpy(), atol=1e-6), (k, s)


def test_batchnorm_training_eval_and_running_stats_match_torch():
    rng = np.random.default_rng(3)
    ours, theirs = BatchNorm2d(4, eps=1e-5, momentum=0.2), torch.nn.BatchNorm2d(4, eps=1e-5, momentum=0.2)
    gamma, beta = rng.normal(size=4).astype(np.float32), rng.normal(size=4).astype(np.float32)
    ours.weight.data[:], ours.bias.data[:] = gamma, beta
    with torch.no_grad():
        theirs.weight.copy_(torch.from_numpy(gamma))
        theirs.bias.copy_(torch.from_numpy(beta))
    for step in range(3):
        a = (rng.normal(size=(5, 4, 3, 3)) * (step + 1) + step).astype(np.float32)
        x, tx = Tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
        out, tout = ours(x), theirs(tx)
        assert np.allclose(out.data, tout.detach().numpy(), atol=1e-4)
        g = rng.normal(size=a.shape).astype(np.float32)
        ours.zero_grad()
        theirs.zero_grad()
        out.backward(g)
        tout.backward(torch.from_numpy(g))
        assert np.allclose(x.grad.data, tx.grad.numpy(), atol=1e-4)
        assert np.allclose(ours.weight.grad.data, theirs.weight.grad.numpy(), atol=1e-3)
        assert np.allclose(ours.bias.grad.data, theirs.bias.grad.numpy(), atol=1e-4)
        assert np.allclose(ours.running_mean, theirs.running_mean.numpy(), atol=1e-5)
        assert np.allclose(ours.running_var, theirs.running_var.numpy(), atol=1e-4)
    ours.eval()
    theirs.eval()
    a = rng.normal(size=(2, 4, 3, 3)).astype(np.float32)
    x, tx = Tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    out, tout = ours(x), theirs(tx)
    assert np.allclose(out.data, tout.detach().numpy(), atol=1e-4)
    out.sum().backward()
    tout.sum().backward()
    assert np.allclose(x.grad.data, tx.grad.numpy(), atol=1e-4)


def test_lenet_style_step_matches_torch():
    """Same weights, same batch: loss and every parameter gradient agree with PyTorch."""
    from tinytorch.losses import CrossEntropyLoss

    rng = np.random.default_rng(4)
    ours = Sequential(Conv2d(1, 4, 3, padding=1, rng=0), BatchNorm2d(4), MaxPool2d(2),
                      Conv2d(4, 6, 3, stride=2, rng=1), AvgPool2d(1), Flatten(), Linear(6, 5, rng=2))
    nn = torch.nn
    theirs = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.MaxPool2d(2),
                           nn.Conv2d(4, 6, 3, stride=2), nn.AvgPool2d(1), nn.Flatten(), nn.Linear(6, 5))
    pairs = [(ours.layers[0], theirs[0]), (ours.layers[1], theirs[1]), (ours.layers[3], theirs[3]),
             (ours.layers[6], theirs[6])]
    with torch.no_grad():
        for mine, other in pairs:
            # TinyTorch's Linear stores (in, out), PyTorch's (out, in)
            weight = mine.weight.data.T if isinstance(mine, Linear) else mine.weight.data
            other.weight.copy_(torch.from_numpy(np.ascontiguousarray(weight)))
            other.bias.copy_(torch.from_numpy(mine.bias.data + 0.1))
            mine.bias.data += 0.1
    a = rng.normal(size=(6, 1, 8, 8)).astype(np.float32)
    y = rng.integers(0, 5, 6)
    loss = CrossEntropyLoss()(ours(Tensor(a)), Tensor(y))
    tloss = F.cross_entropy(theirs(torch.from_numpy(a)), torch.from_numpy(y))
    assert np.isclose(loss.item(), tloss.item(), atol=1e-5)
    loss.backward()
    tloss.backward()
    for mine, other in pairs:
        grad = mine.weight.grad.data.T if isinstance(mine, Linear) else mine.weight.grad.data
        assert np.allclose(grad, other.weight.grad.numpy(), atol=1e-4)
        assert np.allclose(mine.bias.grad.data, other.bias.grad.numpy(), atol=1e-4)
