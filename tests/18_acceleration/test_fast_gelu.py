"""Module 18: fast_gelu and accelerate — the same numbers as GELU, forward and backward, through a seam."""

import copy
import tracemalloc

import numpy as np
import pytest

from tinytorch.acceleration import FastGELU, accelerate, fast_gelu, fast_gelu_backward
from tinytorch.activations import GELU
from tinytorch.autograd import gradcheck, no_grad
from tinytorch.layers import Linear, Sequential
from tinytorch.losses import CrossEntropyLoss
from tinytorch.optimizers import SGD
from tinytorch.profiling import count_flops, named_layers
from tinytorch.tensor import BACKWARD_RULES, Tensor
from tinytorch.testing import close, ops_in_graph, raises
from tinytorch.transformers import GPT, MLP


@pytest.mark.parametrize("scale", [1e-3, 1.0, 5.0, 40.0])
def test_forward_matches_gelu(scale):
    rng = np.random.default_rng(int(scale * 10))
    x = (rng.normal(size=(4, 5, 33)) * scale).astype(np.float32)
    close(fast_gelu(Tensor(x)), GELU()(Tensor(x)), atol=1e-6, rtol=1e-5)


def test_extremes_are_finite_and_exact_limits():
    x = Tensor(np.array([-1e4, -50.0, 50.0, 1e4, 0.0], np.float32), requires_grad=True)
    y = fast_gelu(x)
    assert np.all(np.isfinite(y.data))
    close(y, [0.0, 0.0, 50.0, 1e4, 0.0], atol=1e-6)
    y.sum().backward()
    close(x.grad, [0.0, 0.0, 1.0, 1.0, 0.5], atol=1e-6)


@pytest.mark.parametrize("shape", [(7,), (3, 4), (2, 3, 8), (2, 1, 3, 4)])
def test_backward_matches_the_gelu_rule(shape):
    rng = np.random.default_rng(len(shape))
    data = (rng.normal(size=shape) * 3).astype(np.float32)
    x, x_ref = Tensor(data, requires_grad=True), Tensor(data.copy(), requires_grad=True)
    g = rng.normal(size=shape).astype(np.float32)
    (fast_gelu(x) * Tensor(g)).sum().backward()
    (GELU()(x_ref) * Tensor(g)).sum().backward()
    close(x.grad, x_ref.grad, atol=1e-5, rtol=1e-5)
    assert x.grad.dtype == np.float32


def test_gradcheck_float64():
    rng = np.random.default_rng(0)
    assert gradcheck(fast_gelu, Tensor(rng.normal(size=(4, 6)) * 2.5, requires_grad=True))


def test_one_op_in_the_graph_and_float32_kept():
    x = Tensor(np.linspace(-3, 3, 12, dtype=np.float32).reshape(3, 4), requires_grad=True)
    y = fast_gelu(x)
    assert ops_in_graph(y) == ["fast_gelu"] and y.dtype == np.float32
    assert "fast_gelu" in BACKWARD_RULES


def test_inputs_grad_and_context_are_not_modified():
    rng = np.random.default_rng(1)
    data = rng.normal(size=(5, 6)).astype(np.float32)
    x = Tensor(data.copy(), requires_grad=True)
    y = fast_gelu(x)
    assert np.array_equal(x.data, data)
    t = y._ctx["t"]
    t_before = t.copy()
    grad = rng.normal(size=(5, 6)).astype(np.float32)
    grad_before = grad.copy()
    first = fast_gelu_backward(grad, y, x, t)[0]
    second = fast_gelu_backward(grad, y, x, t)[0]
    assert np.array_equal(grad, grad_before) and np.array_equal(t, t_before)
    close(first, second, atol=0)
    assert not np.shares_memory(first, grad) and not np.shares_memory(first, t)


def test_backward_accepts_a_read_only_broadcast_gradient():
    x = Tensor(np.linspace(-2, 2, 6, dtype=np.float32).reshape(2, 3), requires_grad=True)
    y = fast_gelu(x)
    grad = np.broadcast_to(np.float32(2.0), (2, 3))
    (g,) = fast_gelu_backward(grad, y, x, y._ctx["t"])
    (g_ref,) = BACKWARD_RULES["gelu"](grad, y, x)
    close(g, g_ref, atol=1e-6)


def test_no_grad_records_nothing():
    x = Tensor(np.ones((2, 2)), requires_grad=True)
    with no_grad():
        y = fast_gelu(x)
    assert not y.requires_grad and ops_in_graph(y) == []


def test_against_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    data = (rng.normal(size=(3, 7, 16)) * 2).astype(np.float32)
    g = rng.normal(size=data.shape).astype(np.float32)
    x = Tensor(data, requires_grad=True)
    (fast_gelu(x) * Tensor(g)).sum().backward()
    xt = torch.tensor(data, requires_grad=True)
    yt = torch.nn.functional.gelu(xt, approximate="tanh")
    (yt * torch.tensor(g)).sum().backward()
    close(fast_gelu(Tensor(data)), yt.detach().numpy(), atol=1e-6, rtol=1e-5)
    close(x.grad, xt.grad.numpy(), atol=1e-5, rtol=1e-5)


def test_fast_gelu_layer_is_a_gelu():
    layer = FastGELU()
    assert isinstance(layer, GELU) and repr(layer) == "FastGELU()"
    x = Tensor(np.linspace(-1, 1, 5))
    close(layer(x), GELU()(x), atol=1e-7)
    assert ops_in_graph(layer(Tensor(np.ones(3), requires_grad=True))) == ["fast_gelu"]


def test_flop_rule_counts_like_gelu():
    mlp = MLP(8, 4, rng=0)
    fast = accelerate(mlp)
    x = Tensor(np.ones((2, 3, 8)))
    assert count_flops(fast, x) == count_flops(mlp, x) > 0


def _gpt(seed=0):
    model = GPT(13, 16, 2, 2, 8, rng=seed)
    rng = np.random.default_rng(seed + 100)
    for p in model.parameters():
        p.data[...] = rng.normal(size=p.shape) * 0.3
    return model


def test_accelerate_replaces_every_gelu_in_a_copy():
    model = _gpt()
    before = {k: v.copy() for k, v in model.state_dict().items()}
    fast = accelerate(model)
    assert fast is not model
    assert [type(b.mlp.act) for b in fast.blocks] == [FastGELU, FastGELU]
    assert [type(b.mlp.act) for b in model.blocks] == [GELU, GELU]
    assert list(fast.state_dict()) == list(model.state_dict())
    for name, value in fast.state_dict().items():
        assert np.array_equal(value, before[name])
    fast.blocks[0].mlp.fc1.weight.data[...] = 0.0  # a copy: the original's weights are separate
    assert np.array_equal(model.blocks[0].mlp.fc1.weight.data, before["blocks.0.mlp.fc1.weight"])


def test_accelerate_a_bare_gelu_and_a_sequential():
    seq = Sequential(Linear(4, 8, rng=0), GELU(), Linear(8, 2, rng=1))
    fast = accelerate(seq)
    assert type(fast.layers[1]) is FastGELU and type(seq.layers[1]) is GELU
    x = Tensor(np.random.default_rng(0).normal(size=(5, 4)))
    close(fast(x), seq(x), atol=1e-6)


def test_accelerate_refuses_a_model_without_gelu():
    raises(ValueError, lambda: accelerate(Sequential(Linear(2, 3))), "no GELU", "Sequential")
    raises(ValueError, lambda: accelerate(accelerate(_gpt())), "no GELU")


def test_training_an_accelerated_copy_gives_the_same_losses_and_weights():
    model = _gpt(1)
    fast = accelerate(model)
    models = [model, fast]
    # SGD, not Adam: the key bias's true gradient is 0 (softmax ignores a shift shared by all keys), and
    # Adam would scale its float32 rounding noise up to full-size steps that differ between the models.
    opts = [SGD(m.parameters(), lr=0.1) for m in models]
    rng = np.random.default_rng(3)
    loss_fn = CrossEntropyLoss()
    for _ in range(5):
        ids, targets = rng.integers(0, 13, size=(4, 8)), rng.integers(0, 13, size=(4, 8))
        losses = []
        for m, opt in zip(models, opts):
            loss = loss_fn(m(ids), targets)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        assert losses[0] == pytest.approx(losses[1], abs=1e-5)
    for (name, p), (_, q) in zip(model.named_parameters(), fast.named_parameters()):
        close(q, p, atol=1e-4, what=name)


def test_generation_is_unchanged():
    model = _gpt(2)
    fast = accelerate(model)
    prompt = np.array([1, 2, 3])
    expected = model.generate(prompt, 6, temperature=0).tolist()
    assert fast.generate(prompt, 6, temperature=0).tolist() == expected


def test_deepcopy_of_an_accelerated_model_still_uses_the_fast_op():
    fast = copy.deepcopy(accelerate(_gpt()))
    names = [type(layer).__name__ for _, layer in named_layers(fast) if isinstance(layer, GELU)]
    assert names == ["FastGELU", "FastGELU"]


def test_backward_uses_the_saved_tanh():
    x = np.array([1.0, -2.0, 0.0, 3.0], np.float32)
    t = np.array([0.5, -0.25, 0.9, 0.0], np.float32)  # deliberately not tanh(u)
    c, k = np.sqrt(2 / np.pi), 0.044715
    expected = 0.5 * (1 + t + x * (1 - t * t) * c * (1 + 3 * k * x * x))
    (g,) = fast_gelu_backward(np.full(4, 2.0, np.float32), None, Tensor(x), t)
    close(g, 2 * expected, atol=1e-6)


@pytest.mark.parametrize("shape", [(128, 1024), (16, 64, 256)])
def test_both_passes_stay_within_two_buffers(shape):
    x = Tensor(np.random.default_rng(8).normal(size=shape).astype(np.float32), requires_grad=True)
    grad = np.ones(shape, np.float32)
    tracemalloc.start()
    try:
        out = fast_gelu(x)
        forward = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        fast_gelu_backward(grad, out, x, out._ctx["t"])
        backward = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    size = x.data.nbytes
    assert forward <= 2.5 * size, f"forward peak {forward / size:.2f}x x.nbytes, budget 2.5x"
    assert backward <= 2.5 * size, f"backward peak {backward / size:.2f}x x.nbytes, budget 2.5x"


C, K = np.sqrt(2 / np.pi), 0.044715


def check_derivative_at_a_given_t(backward) -> None:
    """gelu' at x = 1, -2, 0 from the given t = 0.5; a usual slip of the derivative (no 3, the cube kept,
    1 - t for 1 - t², no c, no factor x, t recomputed) is named."""
    xs = np.array([1.0, -2.0, 0.0])
    given_t = np.full(3, 0.5, np.float32)
    (got,) = backward(np.ones(3, np.float32), None, Tensor(xs.astype(np.float32)), given_t)

    def slip(x_factor, tanh_part, inner, t=0.5):
        return 0.5 * (1 + t) + 0.5 * x_factor * tanh_part * C * inner

    cube = "the inner derivative is d/dx (x + 0.044715·x³) = 1 + 3·0.044715·x²"
    inner, again = 1 + 3 * K * xs**2, np.tanh(C * (xs + K * xs**3))
    slips = {f"1 + 0.044715·x² (no 3): {cube}": slip(xs, 0.75, 1 + K * xs**2),
             f"1 + 3·0.044715·x³ (the cube kept): {cube}": slip(xs, 0.75, 1 + 3 * K * xs**3),
             f"1 + 0.044715·x³ (u's inner sum, not its derivative): {cube}": slip(xs, 0.75, 1 + K * xs**3),
             "(1 − t) where tanh' = 1 − t² belongs": slip(xs, 0.5, inner),
             "the factor c missing from u' = c·(1 + 3·0.044715·x²)": slip(xs, 0.75, inner / C),
             "the second term without its factor x (product rule on x·(1 + t))": slip(1.0, 0.75, inner),
             "t recomputed as tanh(u(x)): use the saved t": slip(xs, 1 - again**2, inner, t=again)}
    for what, wrong in slips.items():
        assert not np.allclose(got, wrong, atol=1e-5), \
            f"gelu' at x = 1, -2, 0 with the given t = 0.5: got {[round(float(v), 5) for v in got]}, the " \
            f"value with {what}"
    close(got, slip(xs, 0.75, inner), atol=1e-5, what="gelu' at x = 1, -2, 0 with the given t = 0.5")


def _planted_rule(tanh_part, inner):
    """Planted: a rule written from the formula with one factor wrong."""
    def rule(grad, out, x, t):
        a = x.data.astype(np.float64)
        return ((grad * (0.5 * (1 + t) + 0.5 * a * tanh_part(t) * C * inner(a))).astype(np.float32),)
    return rule


def test_the_derivative_uses_the_given_t():
    check_derivative_at_a_given_t(fast_gelu_backward)


@pytest.mark.parametrize("rule, fragment", [
    (_planted_rule(lambda t: 1 - t, lambda a: 1 + 3 * K * a**2), "(1 − t) where tanh' = 1 − t²"),
    (_planted_rule(lambda t: 1 - t**2, lambda a: 1 + K * a**2), "(no 3)"),
    (_planted_rule(lambda t: 1 - t**2, lambda a: 1 + 3 * K * a**3), "the cube kept"),
])
def test_a_wrong_factor_of_the_derivative_is_named(rule, fragment):
    raises(AssertionError, lambda: check_derivative_at_a_given_t(rule), fragment)
