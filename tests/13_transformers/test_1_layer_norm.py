"""Module 13: layer_norm and LayerNorm — values, the fused backward rule (gradcheck), PyTorch."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinytorch.autograd import gradcheck, no_grad
from tinytorch.tensor import BACKWARD_RULES, Tensor
from tinytorch.testing import close, ops_in_graph, raises
from tinytorch.transformers import LayerNorm, layer_norm


def _t(rng, *shape, scale=1.0, shift=0.0):
    return Tensor(rng.normal(size=shape) * scale + shift, requires_grad=True)


def test_each_vector_is_normalized_on_its_own():
    """The axis first (before any worked example): rows of a (3, 4) input, with eps = 0."""
    rows = np.array([[1, 2, 3, 6], [10, 10, 12, 8], [0, -4, 4, 0]], np.float32)
    y = layer_norm(Tensor(rows), Tensor(np.ones(4)), Tensor(np.zeros(4)), eps=0.0).data
    means, variances = y.mean(axis=-1), y.var(axis=-1)
    if not (np.allclose(means, 0, atol=1e-5) and np.allclose(variances, 1, atol=1e-4)):
        columns = np.allclose(y.mean(axis=0), 0, atol=1e-5) and np.allclose(y.var(axis=0), 1, atol=1e-4)
        pytest.fail(f"each row of {rows.tolist()} must be normalized on its own: row means "
                    f"{np.round(means, 3).tolist()} (expected 0), variances "
                    f"{np.round(variances, 3).tolist()} (expected 1)"
                    + ("; the columns are normalized instead: wrong axis" if columns else "")
                    + ("; 0.75 = 3/4: use the biased variance (divide by D)"
                       if np.allclose(variances, 0.75) else ""))
    close(y[0], [-2 / 3.5 ** 0.5, -1 / 3.5 ** 0.5, 0.0, 3 / 3.5 ** 0.5], atol=1e-6,
          what="the worked example [1, 2, 3, 6]")


def test_eps_goes_under_the_square_root():
    x = np.array([[1.0, 2.0, 3.0, 6.0]])
    got = layer_norm(Tensor(x), Tensor(np.ones(4)), Tensor(np.zeros(4)), eps=4.0)
    close(got, (x - 3.0) / np.sqrt(3.5 + 4.0), atol=1e-6, what="eps = 4: (x - mean) / sqrt(var + eps)")


def test_rule_names_each_gradient():
    """The rule alone, on what a correct forward saves: each gradient checked by name."""
    rng = np.random.default_rng(11)
    xa, wa, g = rng.normal(size=(3, 5)) * 2 + 1, rng.normal(size=5), rng.normal(size=(3, 5))
    inv = 1.0 / np.sqrt(xa.var(axis=-1, keepdims=True) + 1e-5)
    x_hat = (xa - xa.mean(axis=-1, keepdims=True)) * inv
    x, w, b = (Tensor(a, requires_grad=True) for a in (xa, wa, np.zeros(5)))
    got = BACKWARD_RULES["layer_norm"](g, Tensor(x_hat * wa), x, w, b, x_hat=x_hat, inv_std=inv)
    close(got[2], g.sum(axis=0), atol=1e-6, what="grad_bias = sum of g over the positions")
    close(got[1], (g * x_hat).sum(axis=0), atol=1e-6, what="grad_weight = sum of g * x_hat over positions")
    close(got[0].sum(axis=-1), np.zeros(3), atol=1e-5, what="grad_x sums to 0 over each vector (mean of w g)")
    close((got[0] * x_hat).sum(axis=-1), np.zeros(3), atol=1e-4,
          what="grad_x is orthogonal to x_hat (mean of w*g*x_hat)")

    def loss(a):  # <g, layer_norm(a)> in float64
        y = (a - a.mean(-1, keepdims=True)) / np.sqrt(a.var(-1, keepdims=True) + 1e-5) * wa
        return float((y * g).sum())

    numeric = np.zeros_like(xa)
    for i in np.ndindex(xa.shape):
        step = np.zeros_like(xa)
        step[i] = 1e-6
        numeric[i] = (loss(xa + step) - loss(xa - step)) / 2e-6
    right = np.allclose(got[0], numeric, atol=1e-4, rtol=1e-4)
    if not right and np.allclose(got[0] * inv, numeric, atol=1e-4):
        pytest.fail("grad_x is right up to the common factor inv_std: every term is multiplied by it")
    close(got[0], numeric, atol=1e-4, rtol=1e-4, what="grad_x of the rule against central differences")


def test_rule_is_registered_by_the_package():
    assert "layer_norm" in BACKWARD_RULES


@pytest.mark.parametrize("shape", [(7,), (3, 5), (2, 3, 4), (2, 1, 3, 6), (4, 1)])
def test_gradcheck_every_input(shape):
    rng = np.random.default_rng(len(shape))
    d = shape[-1]
    x, w, b = _t(rng, *shape, scale=2.0, shift=1.0), _t(rng, d), _t(rng, d)
    assert gradcheck(lambda x, w, b: layer_norm(x, w, b), x, w, b)
    assert gradcheck(lambda x, w, b: layer_norm(x, w, b, eps=0.3), x, w, b)


def test_gradcheck_inside_a_larger_graph():
    rng = np.random.default_rng(5)
    x, w, b = _t(rng, 3, 4), _t(rng, 4), _t(rng, 4)
    assert gradcheck(lambda x, w, b: (layer_norm(x * x, w, b) * x).sum(axis=0), x, w, b)


def test_forward_matches_the_definition_in_float64():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 6, 9)) * rng.uniform(0.1, 10, size=(4, 6, 1)) + rng.normal(size=(4, 6, 1)) * 5
    w, b = rng.normal(size=9), rng.normal(size=9)
    got = layer_norm(Tensor(x.astype(np.float32)), Tensor(w), Tensor(b))
    ref = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-5) * w + b
    assert got.dtype == np.float32
    close(got, ref, atol=5e-5, what="layer_norm of (4, 6, 9)")


def test_one_op_in_the_graph_and_no_grad_records_nothing():
    ln = LayerNorm(5)
    x = Tensor(np.random.default_rng(1).normal(size=(2, 5)), requires_grad=True)
    assert ops_in_graph(ln(x)) == ["layer_norm"]
    with no_grad():
        assert not ln(x).requires_grad


def test_input_gradient_properties():
    rng = np.random.default_rng(2)
    ln = LayerNorm(8, eps=0.0)
    ln.weight.data[:] = rng.normal(size=8)
    x = Tensor(rng.normal(size=(5, 8)), requires_grad=True)
    y = ln(x)
    y.backward(rng.normal(size=(5, 8)))
    x_hat = (x.data - x.data.mean(-1, keepdims=True)) / x.data.std(-1, keepdims=True)
    close(x.grad.data.sum(-1), np.zeros(5), atol=1e-5, what="invariant to a shift of each vector")
    close((x.grad.data * x_hat).sum(-1), np.zeros(5), atol=1e-4, what="invariant to a scaling (eps = 0)")


def test_constant_vector_is_normalized_to_zero_without_nan(strict_numerics):
    with strict_numerics():
        y = LayerNorm(4)(Tensor(np.full((2, 4), 3.0), requires_grad=True))
        y.sum().backward()
    close(y, np.zeros((2, 4)), what="a constant vector: x - mean = 0, eps keeps the division finite")


def test_frozen_input_gets_no_gradient_and_parameters_do():
    ln = LayerNorm(3)
    x = Tensor(np.array([[1.0, 2.0, 4.0]]))
    ln(x).sum().backward()
    assert x.grad is None
    close(ln.bias.grad, np.ones(3), what="grad_bias of a sum")


def test_layer_and_errors():
    ln = LayerNorm(6, eps=1e-3)
    assert [n for n, _ in ln.named_parameters()] == ["weight", "bias"]
    assert "6" in repr(ln) and "0.001" in repr(ln)
    raises(ValueError, lambda: ln(Tensor(np.zeros((2, 5)))), "(..., 6)")
    raises(ValueError, lambda: LayerNorm(0), "dim")
    raises(ValueError, lambda: LayerNorm(2.5), "dim")
    x3, ones2, zeros3 = Tensor(np.zeros((2, 3))), Tensor(np.ones(2)), Tensor(np.zeros(3))
    raises(ValueError, lambda: layer_norm(x3, ones2, zeros3), "weight")
    raises(ValueError, lambda: layer_norm(Tensor(1.0), Tensor(np.ones(1)), Tensor(np.zeros(1))), "(..., D)")


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 3), st.integers(2, 7), st.floats(-20, 20), st.floats(0.01, 100))
def test_normalized_rows_have_zero_mean_unit_variance(rows, dim, shift, scale):
    # the shift in units of the scale: float32 inputs keep about 7 digits of the deviations
    x = (np.random.default_rng(rows * 10 + dim).normal(size=(rows, dim)) + shift) * scale
    if np.ptp(x, axis=-1).min() < 1e-3 * scale:
        return
    y = LayerNorm(dim, eps=0.0)(Tensor(x)).data.astype(np.float64)
    close(y.mean(-1), np.zeros(rows), atol=1e-4, what="mean of a normalized row")
    close(y.var(-1), np.ones(rows), atol=1e-3, what="variance of a normalized row")


@pytest.mark.parametrize("shape", [(3, 16), (2, 5, 32), (2, 3, 4, 8)])
def test_forward_and_backward_match_torch(torch_ref, shape):
    torch = torch_ref.torch
    rng = np.random.default_rng(7)
    d = shape[-1]
    xa, wa, ba = (rng.normal(size=s).astype(np.float32) * 2 for s in (shape, (d,), (d,)))
    ln = LayerNorm(d)
    ln.weight.data[:], ln.bias.data[:] = wa, ba
    x = Tensor(xa, requires_grad=True)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (xa, wa, ba))
    out = ln(x)
    tout = torch.nn.functional.layer_norm(tx, (d,), tw, tb, 1e-5)
    close(out, tout.detach().numpy(), atol=1e-5, what="forward vs torch")
    g = rng.normal(size=shape).astype(np.float32)
    out.backward(g)
    tout.backward(torch.from_numpy(g))
    for ours, theirs, what in ((x, tx, "x"), (ln.weight, tw, "weight"), (ln.bias, tb, "bias")):
        close(ours.grad, theirs.grad.numpy(), atol=1e-4, rtol=1e-4, what=f"grad of {what} vs torch")
