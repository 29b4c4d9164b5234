"""Module 05: the backward engine, no_grad and gradcheck, against the exported package."""

import re
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest

from tinytorch.autograd import (
    enable_grad,
    gradcheck,
    no_grad,
    numeric_gradient,
    topological_order,
    unbroadcast,
)
from tinytorch.tensor import BACKWARD_RULES, Config, Tensor, register_backward
from tinytorch.testing import close


@pytest.fixture
def temporary_rules():
    """Register throw-away rules in a test; remove them afterwards."""
    added = []

    def add(name, rule):
        register_backward(name)(rule)
        added.append(name)

    yield add
    for name in added:
        BACKWARD_RULES.pop(name, None)


def test_importing_the_package_alone_activates_autograd():
    code = ("from tinytorch.tensor import Tensor\n"
            "x = Tensor([1.0, 2.0], requires_grad=True)\n"
            "(x * x).sum().backward()\n"
            "assert x.grad.data.tolist() == [2.0, 4.0], x.grad\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


# --- backward -----------------------------------------------------------------------------------


def test_a_sum_of_two_contributions_is_a_new_array():
    p, q = Tensor([1.0, 2.0], requires_grad=True), Tensor([3.0, 4.0], requires_grad=True)
    (p + q + p).backward(np.ones(2, dtype=np.float32))  # `add` hands the same array to both of its inputs
    close(p.grad, [2, 2], what="p is used twice: its gradient is the sum of both contributions")
    close(q.grad, [1, 1], what="q (used once) must get 1: summing p's two contributions in place (+=) wrote "
          "into the array that add also handed to q; make a new array for a sum")


def test_worked_example_through_the_tensor_method():
    x, w, b = (Tensor(v, requires_grad=True) for v in (2.0, 3.0, 1.0))
    y = w * x + b
    (y * y).backward()
    assert (w.grad.item(), x.grad.item(), b.grad.item()) == (28.0, 42.0, 14.0)


def test_leaf_grads_are_float32_tensors_and_interior_grads_stay_none():
    x = Tensor(np.ones((2, 3)), requires_grad=True)
    h = x * 3
    out = h.sum()
    out.backward()
    assert isinstance(x.grad, Tensor) and x.grad.dtype == np.float32 and x.grad.shape == (2, 3)
    assert h.grad is None and out.grad is None
    assert not x.grad.requires_grad, "a gradient is a plain tensor, not part of a graph"


def test_gradients_accumulate_across_backward_calls():
    x = Tensor([1.0, 2.0], requires_grad=True)
    (x * x).sum().backward()
    first = x.grad
    (x * 3).sum().backward()
    assert x.grad is first, "accumulation happens in place in the same .grad tensor"
    assert np.allclose(x.grad.data, [2 + 3, 4 + 3])
    x.grad = None
    (x * 3).sum().backward()
    assert np.allclose(x.grad.data, [3, 3]), "after zeroing (grad = None) accumulation starts afresh"


def test_backward_twice_on_the_same_graph_accumulates_twice():
    x = Tensor([1.0, 2.0], requires_grad=True)
    loss = (x * x).sum()
    loss.backward()
    loss.backward()
    assert np.allclose(x.grad.data, 4 * x.data)


def test_a_tensor_used_many_times_gets_the_sum():
    x = Tensor([3.0], requires_grad=True)
    y = x * 2
    z = y * y + y * 3 + y.exp() * 0
    z.sum().backward()
    assert np.allclose(x.grad.data, 2 * (2 * 6 + 3))


def test_diamond_and_shared_subgraph():
    x = Tensor([0.5, -1.0], requires_grad=True)
    a = x.exp()
    b = a * x
    c = a + b
    (c * a).sum().backward()
    e = np.exp(x.data.astype(np.float64))
    # c*a = e^2 (1 + x): derivative 2 e^2 (1 + x) + e^2
    assert np.allclose(x.grad.data, 2 * e**2 * (1 + x.data) + e**2, rtol=1e-5)


def test_each_leaf_owns_its_gradient_memory():
    p, q = Tensor([1.0, 2.0], requires_grad=True), Tensor([3.0, 4.0], requires_grad=True)
    (p + q).sum().backward()  # add hands the very same array to both inputs
    p.grad.data *= 10
    assert np.allclose(q.grad.data, [1, 1]), "changing one leaf's .grad in place must not change another's"
    seed = np.array([1.0, 2.0], dtype=np.float32)
    r = Tensor([0.0, 0.0], requires_grad=True)
    r.backward(seed)
    seed[:] = 0
    assert np.allclose(r.grad.data, [1, 2]), ".grad must not alias the array passed to backward"
    s = Tensor(np.zeros((2, 3)), requires_grad=True)
    s.sum().backward()  # the sum rule returns a read-only broadcast view
    s.grad.data += 1
    assert np.allclose(s.grad.data, 2)


def test_backward_on_a_leaf_and_with_an_explicit_gradient():
    x = Tensor([[1.0, 2.0]], requires_grad=True)
    x.backward(Tensor([[5.0, 6.0]]))
    assert np.allclose(x.grad.data, [[5, 6]])
    y = Tensor(np.ones((2, 3)), requires_grad=True)
    (y * 2).backward(np.arange(6).reshape(2, 3))
    assert np.allclose(y.grad.data, 2 * np.arange(6).reshape(2, 3))


def test_constants_and_detached_tensors_get_no_gradient():
    x = Tensor([1.0, 2.0], requires_grad=True)
    c = Tensor([3.0, 4.0])
    d = x.detach()
    ((x * c) + (d * x)).sum().backward()
    assert c.grad is None and d.grad is None
    assert np.allclose(x.grad.data, c.data + d.data), "the detached copy acts as a constant"


def test_errors_are_clear():
    with pytest.raises(RuntimeError, match="one-element"):
        (Tensor([1.0, 2.0], requires_grad=True) * 2).backward()
    with pytest.raises(RuntimeError, match="does not require grad"):
        (Tensor([1.0]) * 2).backward()
    with pytest.raises(ValueError, match=r"\(3,\)"):
        (Tensor([1.0, 2.0], requires_grad=True) * 2).backward(np.ones(3))
    one = Tensor([[2.0]], requires_grad=True)
    (one * 3).backward()  # a one-element tensor of any shape needs no explicit gradient
    assert one.grad.shape == (1, 1) and one.grad.item() == 3.0


def test_a_rule_with_a_shape_bug_is_reported(temporary_rules):
    temporary_rules("bad_shape", lambda grad, out, x: (grad.sum(),))
    temporary_rules("bad_arity", lambda grad, out, x: grad)
    x = Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(ValueError, match=r"bad_shape.*\(\).*\(2,\)|bad_shape.*\(2,\).*\(\)"):
        Tensor._op("bad_shape", x.data, x).sum().backward()  # the message names the op and both shapes
    with pytest.raises(TypeError, match="bad_arity"):
        Tensor._op("bad_arity", x.data, x).sum().backward()


def test_a_rule_returning_none_stops_the_gradient(temporary_rules):
    temporary_rules("stop", lambda grad, out, x: (None,))
    x = Tensor([1.0, 2.0], requires_grad=True)
    (Tensor._op("stop", x.data * 2, x) + x).sum().backward()
    assert np.allclose(x.grad.data, [1, 1])


@pytest.mark.parametrize("depth", [10_000])
def test_deep_chain_does_not_hit_the_recursion_limit(depth):
    assert depth > sys.getrecursionlimit()
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = x
    for i in range(depth):
        y = y * 1.0 if i % 2 else y + 0.001
    order = topological_order(y)
    assert len(order) == depth + 1 and order[0] is y and order[-1] is x
    y.sum().backward()
    assert np.allclose(x.grad.data, [1.0, 1.0])


def test_topological_order_puts_every_node_before_its_inputs():
    rng = np.random.default_rng(0)
    leaves = [Tensor(rng.normal(size=3), requires_grad=True) for _ in range(4)]
    nodes = list(leaves)
    for _ in range(60):  # a random DAG with lots of sharing
        i, j = rng.integers(len(nodes), size=2)
        nodes.append(nodes[i] * nodes[j] if rng.random() < 0.5 else nodes[i] + nodes[j])
    root = nodes[-1]
    order = topological_order(root)
    pos = {id(t): k for k, t in enumerate(order)}
    assert len(pos) == len(order), "each tensor appears once"
    for t in order:
        for inp in t._inputs:
            assert pos[id(t)] < pos[id(inp)]


def test_intermediate_gradients_are_freed_during_the_walk():
    x = Tensor(np.ones(100_000), requires_grad=True)  # 400 KB per array
    y = x
    for _ in range(50):
        y = y * 1.0
    loss = y.sum()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        start, _ = tracemalloc.get_traced_memory()
        loss.backward()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    held = (peak - start) / 1e6
    assert held < 4.0, f"backward held {held:.1f} MB at its peak: intermediate gradients are not freed"


def test_unbroadcast_returns_grad_itself_when_shapes_match():
    g = np.ones((3, 4), dtype=np.float32)
    assert unbroadcast(g, (3, 4)) is g


# --- no_grad ------------------------------------------------------------------------------------


def test_no_grad_records_nothing_and_restores():
    x = Tensor([1.0], requires_grad=True)
    with no_grad():
        y = x * 2
        with no_grad():
            z = y + 1
        with enable_grad():
            w = x * 3
        assert not Config.grad_enabled
    assert Config.grad_enabled
    assert not y.requires_grad and not z.requires_grad and y._inputs == () and y._op_name is None
    assert w.requires_grad and w._inputs[0] is x


def test_no_grad_restores_after_an_exception_and_works_as_a_decorator():
    with pytest.raises(ZeroDivisionError), no_grad():
        raise ZeroDivisionError
    assert Config.grad_enabled

    @no_grad()
    def step(t):
        return t * 2

    x = Tensor([1.0], requires_grad=True)
    assert not step(x).requires_grad and not step(x).requires_grad, "reusable as a decorator"
    assert Config.grad_enabled


def test_parameter_update_under_no_grad_keeps_the_parameter_a_leaf():
    w = Tensor([1.0, 2.0], requires_grad=True)
    (w * w).sum().backward()
    with no_grad():
        w.data -= 0.1 * w.grad.data
        new = w - 0.1 * w.grad
    assert w._op_name is None and new._op_name is None and not new.requires_grad


# --- gradcheck ----------------------------------------------------------------------------------


def test_gradcheck_accepts_correct_rules_and_leaves_inputs_alone():
    x = Tensor(np.random.default_rng(0).uniform(0.5, 1.5, size=(3, 4)), requires_grad=True)
    before = x.data.copy()
    assert gradcheck(lambda t: (t * t).sum(axis=1) / t.max(), x) is True
    assert np.array_equal(x.data, before) and x.grad is None and x.dtype == np.float32
    assert Config.dtype == np.float32 and Config.grad_enabled


def test_gradcheck_runs_in_float64():
    seen = []

    def fn(t):
        seen.append((t.dtype, Tensor(1.0).dtype))
        return t * 2

    gradcheck(fn, Tensor([1.0, 2.0], requires_grad=True))
    assert seen and all(d == (np.float64, np.float64) for d in seen)


def test_gradcheck_failure_names_input_element_and_values(temporary_rules):
    def half_wrong(grad, out, x):  # right everywhere except the last element
        g = grad * 2 * x.data
        g.reshape(-1)[-1] *= -1
        return (g,)

    temporary_rules("square_half_wrong", half_wrong)
    a = Tensor([1.0, 2.0])
    b = Tensor([[0.5, 1.0], [1.5, 2.0]], requires_grad=True)
    with pytest.raises(AssertionError) as info:
        gradcheck(lambda c, t: Tensor._op("square_half_wrong", t.data ** 2, t) * c, a, b)
    message = str(info.value)
    assert "input 1" in message and "(1, 1)" in message, message
    analytic, numeric = map(float, re.search(r"analytic (\S+), numeric (\S+) ", message).groups())
    assert analytic == pytest.approx(-numeric, rel=1e-4) and numeric != 0, message
    assert Config.dtype == np.float32, "Config.dtype is restored after a failure"


def test_gradcheck_catches_errors_a_sum_of_outputs_would_hide(temporary_rules):
    # A transpose rule using the permutation itself instead of its inverse: for sum(out) every
    # input gradient is 1 either way, so only a random projection reveals the bug.
    temporary_rules("bad_transpose", lambda grad, out, x, axes: (grad.transpose(axes),))
    axes = (1, 2, 0)
    x = Tensor(np.random.default_rng(0).normal(size=(2, 2, 2)), requires_grad=True)
    with pytest.raises(AssertionError):
        gradcheck(lambda t: Tensor._op("bad_transpose", t.data.transpose(axes), t, axes=axes), x)


def test_gradcheck_explains_a_cut_graph():
    x = Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(AssertionError, match="no gradient"):
        gradcheck(lambda t: Tensor(t.data * 2), x)


def test_gradcheck_restores_dtype_when_fn_raises_and_works_under_no_grad():
    def broken(t):
        raise KeyError("boom")

    with pytest.raises(KeyError):
        gradcheck(broken, Tensor([1.0], requires_grad=True))
    assert Config.dtype == np.float32
    with no_grad():
        assert gradcheck(lambda t: t.exp(), Tensor([0.5], requires_grad=True))
        assert not Config.grad_enabled


def test_gradcheck_handles_a_tensor_passed_twice():
    x = Tensor([0.5, 1.5], requires_grad=True)
    assert gradcheck(lambda a, b: a * b.exp(), x, x)


def test_numeric_gradient_restores_every_element():
    x = np.array([[0.5, -1.0, 0.25], [1.0, 8.0, -0.25]])  # (x + eps) - eps or (x - eps) + eps is not x
    before = x.copy()
    grad = numeric_gradient(lambda: float(np.sum(np.sin(x) * x)), x, eps=1e-6)
    moved = [(tuple(map(int, i)), float(before[tuple(i)]), float(x[tuple(i)]))
             for i in np.argwhere(x != before)]
    assert not moved, f"every perturbed element must be put back exactly; (index, before, after): {moved[:3]}"
    close(grad, np.cos(x) * x + np.sin(x), atol=1e-8, what="numeric_gradient of sum(sin(x) * x)")


def test_numeric_gradient_is_a_central_difference():
    z = np.array([0.2, -0.4, 0.7])
    close(numeric_gradient(lambda: float(np.sum(np.exp(3 * z))), z, eps=1e-3), 3 * np.exp(3 * z), rtol=1e-4,
          what="numeric_gradient(eps=1e-3) of sum(exp(3z)): one-sided differences are only O(eps) accurate")
