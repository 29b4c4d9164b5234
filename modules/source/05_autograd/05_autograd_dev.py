# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Module 05: Autograd
#
# Training a network means nudging every parameter against the gradient of the loss. A
# 784-128-10 classifier has 101,770 parameters; writing their derivatives by hand for every model
# is hopeless. **Automatic differentiation** does it for any program built from operations whose
# local derivatives we know. This module is that machine: PyTorch's `loss.backward()`, in about
# three hundred lines of NumPy.
#
# ## Learning objectives
# - Explain the **computational graph** that every operation records, and what it costs in memory.
# - Write the **backward rule** (the chain rule, one op at a time) for every operation of modules
#   01–04, including broadcasting, reductions, matmul, indexing, activations and losses.
# - Walk the graph in **topological order**, iteratively, accumulating gradients.
# - Switch recording off with `no_grad()` and check every rule with **`gradcheck`**.
#
# ## How to work
# Write your code between `### BEGIN SOLUTION` and `### END SOLUTION`; run the test cell after each
# piece. When every test passes, run `tito module complete 05`.
#
# One thing to know while you work in this notebook: `loss.backward()` (the method on `Tensor`)
# calls the *exported* engine in `tinytorch/autograd.py`, which exists only after
# `tito module complete 05`. Inside this notebook, call the function you write here:
# `backward(loss)`.

# %% nbgrader={"grade": false, "grade_id": "autograd-setup", "locked": false, "schema_version": 3, "solution": false, "task": false}
#| default_exp autograd
#| export
from collections.abc import Callable
from contextlib import contextmanager

import numpy as np

from tinytorch.tensor import BACKWARD_RULES, Config, Tensor, register_backward

# %% [markdown]
# ## 1. The computational graph
#
# Since module 01 every operation ends with `Tensor._op(name, data, *inputs, **ctx)`. Until now
# `_op` only wrapped the result. From this module on, a **backward rule** is registered for each
# op name, and `_op` then also records, on the output tensor, *how it was computed*:
#
# | attribute | meaning | example for `y = w * x` |
# |---|---|---|
# | `y._op_name` | which operation | `"mul"` |
# | `y._inputs` | the input tensors (kept alive!) | `(w, x)` |
# | `y._ctx` | anything else the rule needs | `{}` (for `sum`: `axis`, `keepdims`) |
#
# It records only when an input has `requires_grad=True` (a parameter, or something computed from
# one) and grad mode is on. Tensors you create yourself are **leaves**; tensors an op produced
# are **interior nodes**. Following `_inputs` from the loss back to the leaves walks a directed
# acyclic graph: the computational graph.
#
# ### A worked example with numbers
# Take `x = 2`, `w = 3`, `b = 1` and compute `L = y * y` with `y = w * x + b`:
#
# ```
#  w=3 ─┐
#       mul ── u=6 ─┐
#  x=2 ─┘           add ── y=7 ──┬── mul ── L=49
#  b=1 ─────────────┘            └──┘   (y is used twice)
# ```
#
# Backward starts with `dL/dL = 1` and applies the chain rule node by node, from the loss back:
#
# | node | gradient arriving | rule | gradients sent to its inputs |
# |---|---|---|---|
# | `L = y * y` | 1 | `d(a·b)/da = b`, `d(a·b)/db = a` | to `y`: 1·7 = 7, and again 7 (second use) → **14** |
# | `y = u + b` | 14 | `d(a+b)/da = d(a+b)/db = 1` | to `u`: 14, to `b`: **14** |
# | `u = w * x` | 14 | as for `mul` | to `w`: 14·2 = **28**, to `x`: 14·3 = **42** |
#
# Check against calculus: `L = (wx + b)²`, so `dL/dw = 2(wx+b)·x = 2·7·2 = 28`. Two things to
# notice. `y` was used twice, and its gradient is the **sum** of both contributions. And `y`'s
# gradient had to be complete (14, not 7) *before* we passed it on to `u` and `b`: nodes must
# be visited in an order where every consumer of a tensor comes before the tensor itself.
#
# ## 2. The chain rule, one op at a time
#
# A backward rule receives `grad` (∂L/∂out, the same shape as the output), the output tensor,
# the inputs and the ctx, and returns one gradient per input (∂L/∂input, each with *that
# input's* shape), or `None` for an input that needs none:
#
#     rule(grad, out, *inputs, **ctx) -> tuple[np.ndarray | None, ...]
#
# | op | forward | gradient for each input (`g` = grad) |
# |---|---|---|
# | `add`, `sub` | `a ± b` | `g`, `±g` (then undo broadcasting) |
# | `mul` | `a * b` | `g·b`, `g·a` |
# | `div` | `a / b` | `g / b`, `-g·a / b²` |
# | `neg`, `exp`, `log`, `sqrt` | `-a`, `eᵃ`, `ln a`, `√a` | `-g`, `g·out`, `g / a`, `g / (2·out)` |
# | `pow` | `aᵖ` | `g·p·aᵖ⁻¹` |
# | `matmul` | `A @ B` | `G @ Bᵀ`, `Aᵀ @ G` |
# | `sum`, `mean` | `Σa`, `Σa / n` | `g` (or `g / n`) copied back to every element that was summed |
# | `max` | `max a` | `g` routed to the element(s) that were the maximum |
# | `reshape`, `transpose`, `getitem` | move elements | move `g` back the same way |
# | `relu`, `sigmoid`, `tanh` | `σ(x)` | `g · σ'(x)`, often cheapest from `out` |
# | `softmax`, `cross_entropy`, `binary_cross_entropy` | see section 9 | |
#
# Rules may use `out.data`: `exp`'s derivative *is* its output, so reusing it saves recomputing
# `np.exp`. They must never modify `grad`, `out.data` or an input's data in place (other rules may
# still need them) and should skip the work for an input with `requires_grad=False`: in the
# first layer of an MNIST MLP (a batch of 256, 784 → 128), `dL/dx` of the images is a 51-MFLOP
# matmul nobody wants.

# %% [markdown]
# ## 3. Undoing broadcasting
#
# In `h = z + b` with `z` of shape `(256, 128)` and the bias `b` of shape `(128,)`, NumPy
# broadcasts `b` to every one of the 256 rows. Each row's use of `b` contributes to its gradient,
# so `∂L/∂b` is the gradient of `h` **summed over the rows**: shape `(128,)` again.
#
# In general, an input of shape `shape` was stretched to the output shape in two ways, both
# undone by summing:
# 1. **leading axes** it did not have (`(128,)` → `(256, 128)`): sum them away;
# 2. axes where it had **size 1** (`(256, 1)` → `(256, 128)`): sum with `keepdims=True`.
#
# `unbroadcast` must return `grad` itself when the shapes already match (no copy: this is the
# common case on the hot path).

# %% nbgrader={"grade": false, "grade_id": "unbroadcast", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
def unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum `grad` (the shape of a broadcast result) back down to `shape`.

    Example: grad (256, 128), shape (128,) -> grad.sum(axis=0); shape (256, 1) -> sum over axis 1
    with keepdims. Returns `grad` unchanged when the shapes already match.
    """
    if grad.shape == shape:
        return grad
    # Hint: first sum away the `grad.ndim - len(shape)` leading axes; then sum, with keepdims=True,
    # the axes where `shape` has 1 but `grad` does not.
    ### BEGIN SOLUTION
    lead = grad.ndim - len(shape)
    if lead:
        grad = grad.sum(axis=tuple(range(lead)))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if stretched:
        grad = grad.sum(axis=stretched, keepdims=True)
    return grad
    ### END SOLUTION


# %% [markdown]
# ### Unit test: unbroadcast

# %% nbgrader={"grade": true, "grade_id": "test-unbroadcast", "locked": true, "points": 5, "schema_version": 3, "solution": false, "task": false}
def test_unit_unbroadcast():
    g = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    assert unbroadcast(g, (2, 3, 4)) is g, "matching shapes must return grad itself (no copy)"
    cases = [((4,), g.sum(axis=(0, 1))), ((3, 4), g.sum(axis=0)), ((3, 1), g.sum(axis=(0, 2))[:, None]),
             ((1, 1, 4), g.sum(axis=(0, 1), keepdims=True)), ((2, 1, 1), g.sum(axis=(1, 2), keepdims=True)),
             ((), g.sum()), ((1, 3, 1), g.sum(axis=(0, 2), keepdims=True))]
    for shape, want in cases:
        got = np.asarray(unbroadcast(g, shape))
        assert got.shape == shape, f"unbroadcast to {shape} gave shape {got.shape}"
        assert np.allclose(got, want), f"unbroadcast to {shape}: got {got}, expected {want}"
    print("unbroadcast: OK")


if __name__ == "__main__":
    test_unit_unbroadcast()

# %% [markdown]
# ## 4. Arithmetic rules
#
# `add` and `neg` are given as worked examples. Write `sub`, `mul` and `div`, each in two
# steps: the local derivative from the table above, then `unbroadcast` to the input's shape.
# Return `None` for an input with `requires_grad=False`, as `add` does. For `div`, `-g·a/b²`
# equals `-g·out/b`, which saves a square.

# %% nbgrader={"grade": false, "grade_id": "arithmetic-rules", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
@register_backward("add")
def add_backward(grad, out, a, b):
    return (unbroadcast(grad, a.shape) if a.requires_grad else None,
            unbroadcast(grad, b.shape) if b.requires_grad else None)


@register_backward("neg")
def neg_backward(grad, out, a):
    return (-grad,)


@register_backward("sub")
def sub_backward(grad, out, a, b):
    ### BEGIN SOLUTION
    return (unbroadcast(grad, a.shape) if a.requires_grad else None,
            unbroadcast(-grad, b.shape) if b.requires_grad else None)
    ### END SOLUTION


@register_backward("mul")
def mul_backward(grad, out, a, b):
    ### BEGIN SOLUTION
    return (unbroadcast(grad * b.data, a.shape) if a.requires_grad else None,
            unbroadcast(grad * a.data, b.shape) if b.requires_grad else None)
    ### END SOLUTION


@register_backward("div")
def div_backward(grad, out, a, b):
    ### BEGIN SOLUTION
    return (unbroadcast(grad / b.data, a.shape) if a.requires_grad else None,
            unbroadcast(-grad * out.data / b.data, b.shape) if b.requires_grad else None)
    ### END SOLUTION


# %% [markdown]
# ### Unit test: arithmetic rules
# We call the rules directly, the way the engine will, with a broadcast operand so that
# unbroadcasting is checked too.

# %% nbgrader={"grade": true, "grade_id": "test-arithmetic-rules", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false}
def test_unit_arithmetic_rules():
    rng = np.random.default_rng(0)
    a = Tensor(rng.uniform(1, 2, size=(2, 3)), requires_grad=True)
    b = Tensor(rng.uniform(1, 2, size=(3,)), requires_grad=True)
    g = rng.normal(size=(2, 3)).astype(np.float32)
    A, B = a.data, b.data
    expected = {
        "sub": (sub_backward, A - B, g, -g.sum(axis=0)),
        "mul": (mul_backward, A * B, g * B, (g * A).sum(axis=0)),
        "div": (div_backward, A / B, g / B, (-g * A / B**2).sum(axis=0)),
        "add": (add_backward, A + B, g, g.sum(axis=0)),
    }
    for name, (rule, fwd, want_a, want_b) in expected.items():
        ga, gb = rule(g, Tensor(fwd), a, b)
        assert ga.shape == (2, 3) and gb.shape == (3,), f"{name}: gradient shapes {ga.shape}, {gb.shape}"
        assert np.allclose(ga, want_a, atol=1e-5), f"{name}: grad of a is {ga}, expected {want_a}"
        assert np.allclose(gb, want_b, atol=1e-5), f"{name}: grad of b is {gb}, expected {want_b}"
    const = Tensor(B)
    assert mul_backward(g, Tensor(A * B), a, const)[1] is None, "no gradient for an input without requires_grad"
    assert np.allclose(neg_backward(g, Tensor(-A), a)[0], -g)
    print("arithmetic rules: OK")


if __name__ == "__main__":
    test_unit_arithmetic_rules()

# %% [markdown]
# ## 5. exp, log, sqrt and pow
#
# Each has one input. `exp` is given. Use `out.data` where it saves work (`sqrt`), `a.data`
# otherwise. `pow` gets its exponent `p` through ctx as the keyword `exponent`: the derivative is
# `p·aᵖ⁻¹`. Careful with `p = 0`: `0 · a⁻¹` is `nan` at `a = 0`, while the true gradient is 0.

# %% nbgrader={"grade": false, "grade_id": "unary-rules", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
@register_backward("exp")
def exp_backward(grad, out, a):
    return (grad * out.data,)


@register_backward("log")
def log_backward(grad, out, a):
    ### BEGIN SOLUTION
    return (grad / a.data,)
    ### END SOLUTION


@register_backward("sqrt")
def sqrt_backward(grad, out, a):
    ### BEGIN SOLUTION
    return (grad / (2 * out.data),)
    ### END SOLUTION


@register_backward("pow")
def pow_backward(grad, out, a, exponent):
    ### BEGIN SOLUTION
    if exponent == 0:
        return (np.zeros_like(grad),)
    return (grad * exponent * a.data ** (exponent - 1),)
    ### END SOLUTION


# %% [markdown]
# ### Unit test: exp, log, sqrt, pow

# %% nbgrader={"grade": true, "grade_id": "test-unary-rules", "locked": true, "points": 5, "schema_version": 3, "solution": false, "task": false}
def test_unit_unary_rules():
    x = Tensor([0.5, 1.0, 4.0], requires_grad=True)
    g = np.array([1.0, -2.0, 3.0], dtype=np.float32)
    (gl,) = log_backward(g, Tensor(np.log(x.data)), x)
    assert np.allclose(gl, g / x.data), f"log: got {gl}, expected {g / x.data}"
    (gs,) = sqrt_backward(g, Tensor(np.sqrt(x.data)), x)
    assert np.allclose(gs, g * 0.5 / np.sqrt(x.data)), f"sqrt: got {gs}"
    for p in (3, 0.5, -1.0):
        (gp,) = pow_backward(g, Tensor(x.data ** p), x, exponent=p)
        assert np.allclose(gp, g * p * x.data ** (p - 1)), f"pow {p}: got {gp}"
    (g0,) = pow_backward(g, Tensor(np.ones(3)), Tensor([0.0, 1.0, 2.0], requires_grad=True), exponent=0)
    assert np.array_equal(g0, np.zeros(3)), f"x ** 0 has zero gradient everywhere, got {g0}"
    assert np.allclose(exp_backward(g, Tensor(np.exp(x.data)), x)[0], g * np.exp(x.data))
    print("exp/log/sqrt/pow rules: OK")


if __name__ == "__main__":
    test_unit_unary_rules()

# %% [markdown]
# ## 6. Matrix multiplication
#
# For `C = A @ B` with `A: (n, k)`, `B: (k, m)`, `C: (n, m)` and `G = ∂L/∂C`:
#
# `∂L/∂A = G @ Bᵀ` — shapes `(n, m) @ (m, k) = (n, k)` ✓ and `∂L/∂B = Aᵀ @ G` — `(k, n) @ (n, m) = (k, m)` ✓.
#
# If you forget them, recover them from the shapes: with `n`, `k`, `m` all different, there is
# only one way to combine `G` with the other operand into the right shape. Each is another
# matmul of the same size, so **backward costs twice the forward FLOPs** — the rule of thumb
# "training ≈ 3× inference".
#
# NumPy's `matmul` adds two twists, and the rule must handle both:
# - **Batch dimensions broadcast**: `(8, 4, 5) @ (5, 3)`. The weight `B` was used by all 8
#   batch items, so its gradient sums over them — `unbroadcast` again. `np.swapaxes(X, -1, -2)`
#   transposes the last two axes of any batch.
# - **1-D operands**: a vector on the left acts as a row `(1, k)`, on the right as a column
#   `(k, 1)`, and that axis is dropped from the result. Promote the vector (and `grad`) to 2-D,
#   apply the 2-D rule, and reshape the gradient back to the vector's shape.
#
# Speed: for 2-D operands, `np.matmul` on a transposed view calls BLAS with a "transposed" flag
# instead of copying.
# When `A` has batch dimensions and `B` is a plain matrix (a `Linear` layer on a `(B, T, D)`
# input), `Aᵀ @ G` summed over the batch is a single matmul of `A` flattened to `(B·T, k)`.

# %% nbgrader={"grade": false, "grade_id": "matmul-rule", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
@register_backward("matmul")
def matmul_backward(grad, out, a, b):
    A, B = a.data, b.data
    # Promote 1-D operands to matrices, and give `grad` the matching size-1 axis.
    if B.ndim == 1:
        B, grad = B[:, None], grad[..., None]
    if A.ndim == 1:
        A, grad = A[None, :], grad[..., None, :]
    # Hint: grad_a = grad @ Bᵀ, grad_b = Aᵀ @ grad (`np.swapaxes` for the transposes), each
    # `unbroadcast` to A's / B's (promoted) shape and then reshaped to `a.shape` / `b.shape`.
    # None for an input that does not require grad.
    ### BEGIN SOLUTION
    grad_a = grad_b = None
    if a.requires_grad:
        grad_a = unbroadcast(np.matmul(grad, np.swapaxes(B, -1, -2)), A.shape).reshape(a.shape)
    if b.requires_grad:
        if A.ndim > 2 and B.ndim == 2:  # shared weight: fold the batch into one matmul
            grad_b = A.reshape(-1, A.shape[-1]).T @ grad.reshape(-1, grad.shape[-1])
        else:
            grad_b = unbroadcast(np.matmul(np.swapaxes(A, -1, -2), grad), B.shape)
        grad_b = grad_b.reshape(b.shape)
    return grad_a, grad_b
    ### END SOLUTION


# %% [markdown]
# ### Unit test: matmul rule

# %% nbgrader={"grade": true, "grade_id": "test-matmul-rule", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false}
def test_unit_matmul_rule():
    rng = np.random.default_rng(1)

    def run(sa, sb):
        a = Tensor(rng.normal(size=sa), requires_grad=True)
        b = Tensor(rng.normal(size=sb), requires_grad=True)
        out = np.matmul(a.data, b.data)
        g = rng.normal(size=out.shape).astype(np.float32)
        ga, gb = matmul_backward(g, Tensor(out), a, b)
        assert ga.shape == sa and gb.shape == sb, f"{sa} @ {sb}: gradient shapes {ga.shape}, {gb.shape}"
        return a.data, b.data, g, ga, gb

    A, B, G, ga, gb = run((4, 5), (5, 3))
    assert np.allclose(ga, G @ B.T, atol=1e-5) and np.allclose(gb, A.T @ G, atol=1e-5), "2-D rule wrong"
    A, B, G, ga, gb = run((6, 4, 5), (5, 3))
    assert np.allclose(ga, G @ B.T, atol=1e-5), "batched: grad of A wrong"
    assert np.allclose(gb, np.einsum("bik,bim->km", A, G), atol=1e-4), "batched: B's gradient sums over the batch"
    A, B, G, ga, gb = run((2, 1, 4, 5), (3, 5, 2))
    assert np.allclose(ga, np.einsum("xyim,ykm->xik", G, B)[:, None], atol=1e-4), "broadcast batch dims: grad of A"
    assert np.allclose(gb, np.einsum("xik,xyim->ykm", A[:, 0], G), atol=1e-4), "broadcast batch dims: grad of B"
    A, B, G, ga, gb = run((5,), (5, 3))
    assert np.allclose(ga, B @ G, atol=1e-5) and np.allclose(gb, np.outer(A, G), atol=1e-5), "vector @ matrix"
    A, B, G, ga, gb = run((4, 5), (5,))
    assert np.allclose(ga, np.outer(G, B), atol=1e-5) and np.allclose(gb, A.T @ G, atol=1e-5), "matrix @ vector"
    A, B, G, ga, gb = run((5,), (5,))
    assert np.allclose(ga, G * B, atol=1e-5) and np.allclose(gb, G * A, atol=1e-5), "vector @ vector"
    print("matmul rule: OK")


if __name__ == "__main__":
    test_unit_matmul_rule()

# %% [markdown]
# ## 7. Reductions: sum, mean, max
#
# `s = a.sum(axis=1)` for `a: (2, 3)` gives `s: (2,)`; each `a[i, j]` contributed once to `s[i]`,
# so `∂L/∂a[i, j] = g[i]`: the gradient is **copied back along the reduced axes**. The helper
# `expand_reduced` (given) puts back the reduced axes as size 1 (unless `keepdims` kept them);
# `np.broadcast_to(g, a.shape)` then stretches it without copying a byte.
#
# - `mean` is `sum / n`, with `n` the number of elements reduced into each output
#   (`a.size // out.size`).
# - `max` passes the gradient only to the element that was the maximum: compare `a.data` with the
#   (expanded) `out.data` to get a mask. **Ties**: when several elements equal the maximum, we
#   **split the gradient evenly** among them (divide by the count of maxima), as PyTorch's `amax`
#   does. The total gradient stays `g`, and the rule stays symmetric.

# %% nbgrader={"grade": false, "grade_id": "reduction-rules", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
def _axes(axis, ndim: int) -> tuple[int, ...]:
    """The reduced axes as a tuple of non-negative ints (all axes when axis is None)."""
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (tuple, list)):
        return tuple(int(ax) % ndim for ax in axis)
    return (int(axis) % ndim,)


def expand_reduced(grad, ndim: int, axis, keepdims: bool) -> np.ndarray:
    """Give a reduction's `grad` back its reduced axes (size 1), so it broadcasts against the input."""
    if keepdims or axis is None:  # keepdims kept them; a full reduction gives a 0-d grad, which broadcasts
        return grad
    return np.expand_dims(grad, _axes(axis, ndim))


@register_backward("sum")
def sum_backward(grad, out, a, axis=None, keepdims=False):
    ### BEGIN SOLUTION
    return (np.broadcast_to(expand_reduced(grad, a.ndim, axis, keepdims), a.shape),)
    ### END SOLUTION


@register_backward("mean")
def mean_backward(grad, out, a, axis=None, keepdims=False):
    ### BEGIN SOLUTION
    n = a.size // out.size if out.size else 1
    return (np.broadcast_to(expand_reduced(grad / n, a.ndim, axis, keepdims), a.shape),)
    ### END SOLUTION


@register_backward("max")
def max_backward(grad, out, a, axis=None, keepdims=False):
    # Hint: mask = `a.data == expanded out.data`; count the maxima per reduced slice with
    # `mask.sum(axis=_axes(axis, a.ndim), keepdims=True)`; send `expanded grad / count` through the mask.
    ### BEGIN SOLUTION
    is_max = a.data == expand_reduced(out.data, a.ndim, axis, keepdims)
    count = is_max.sum(axis=_axes(axis, a.ndim), keepdims=True, dtype=grad.dtype)
    return (is_max * (expand_reduced(grad, a.ndim, axis, keepdims) / count),)
    ### END SOLUTION


# %% [markdown]
# ### Unit test: reduction rules

# %% nbgrader={"grade": true, "grade_id": "test-reduction-rules", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false}
def test_unit_reduction_rules():
    a = Tensor(np.arange(24, dtype=np.float32).reshape(2, 3, 4), requires_grad=True)
    g = np.array([[1.0, -2.0, 3.0, 4.0], [5.0, 6.0, -7.0, 8.0]], dtype=np.float32)  # shape (2, 4)
    (gs,) = sum_backward(g, Tensor(a.data.sum(axis=1)), a, axis=1, keepdims=False)
    assert gs.shape == (2, 3, 4) and np.allclose(gs, g[:, None, :]), "sum(axis=1): g copied along axis 1"
    (gm,) = mean_backward(g, Tensor(a.data.mean(axis=-2)), a, axis=-2, keepdims=False)
    assert np.allclose(gm, g[:, None, :] / 3), "mean(axis=-2) divides by the 3 reduced elements"
    gk = np.array([[[2.0]], [[-1.0]]], dtype=np.float32)
    (gm,) = mean_backward(gk, Tensor(a.data.mean(axis=(1, 2), keepdims=True)), a, axis=(1, 2), keepdims=True)
    assert np.allclose(gm, np.broadcast_to(gk / 12, (2, 3, 4))), "mean over (1, 2) with keepdims"
    (gall,) = sum_backward(np.array(3.0, dtype=np.float32), Tensor(a.data.sum()), a)
    assert np.allclose(gall, np.full((2, 3, 4), 3.0)), "full sum: every element gets g"
    x = Tensor([[1.0, 5.0, 3.0], [7.0, 2.0, 7.0]], requires_grad=True)
    (gx,) = max_backward(np.array([10.0, 20.0], dtype=np.float32), Tensor([5.0, 7.0]), x, axis=1)
    assert np.allclose(gx, [[0, 10, 0], [10, 0, 10]]), f"max(axis=1): ties split evenly, got {gx}"
    (gx,) = max_backward(np.array([[1.0, 2.0, 3.0]], dtype=np.float32), Tensor([[7.0, 5.0, 7.0]]), x,
                         axis=0, keepdims=True)
    assert np.allclose(gx, [[0, 2, 0], [1, 0, 3]]), f"max(axis=0, keepdims=True): got {gx}"
    print("reduction rules: OK")


if __name__ == "__main__":
    test_unit_reduction_rules()

# %% [markdown]
# ## 8. Shape rules: reshape, transpose, getitem
#
# These ops move numbers without changing them, so backward moves the gradient back:
# - `reshape` (given): reshape `grad` to the input's shape.
# - `transpose(axes)`: output axis `i` is input axis `axes[i]`. Undo it with the **inverse
#   permutation**, `np.argsort(axes)`. (For a plain swap of two axes the permutation is its own
#   inverse, so a wrong rule can pass a 2-D test; the test below uses a 3-axis cycle.)
# - `getitem`: `out = a[index]` picked some elements, maybe the **same element twice**
#   (`a[[0, 0, 2]]`, an embedding lookup with a repeated token). Start from zeros of `a`'s shape
#   and *add* `grad` at `index`. `full[index] += grad` is wrong for repeated indices (NumPy
#   writes each position once); `np.add.at(full, index, grad)` accumulates correctly. For basic
#   indexing (ints, slices) no element repeats, and a plain assignment `full[index] = grad` is
#   much faster.

# %% nbgrader={"grade": false, "grade_id": "shape-rules", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
_BASIC_INDEX = (int, np.integer, slice, type(None), type(Ellipsis))


def _is_basic_index(index) -> bool:
    """True for ints/slices/None/... (no element can be picked twice)."""
    if isinstance(index, tuple):
        return all(isinstance(i, _BASIC_INDEX) for i in index)
    return isinstance(index, _BASIC_INDEX)


@register_backward("reshape")
def reshape_backward(grad, out, a):
    return (grad.reshape(a.shape),)


@register_backward("transpose")
def transpose_backward(grad, out, a, axes):
    ### BEGIN SOLUTION
    return (grad.transpose(np.argsort(axes)),)
    ### END SOLUTION


@register_backward("getitem")
def getitem_backward(grad, out, a, index):
    full = np.zeros(a.shape, dtype=grad.dtype)
    ### BEGIN SOLUTION
    if _is_basic_index(index):
        full[index] = grad
    else:
        np.add.at(full, index, grad)
    ### END SOLUTION
    return (full,)


# %% [markdown]
# ### Unit test: shape rules

# %% nbgrader={"grade": true, "grade_id": "test-shape-rules", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false}
def test_unit_shape_rules():
    a = Tensor(np.arange(24, dtype=np.float32).reshape(2, 3, 4), requires_grad=True)
    axes = (1, 2, 0)
    g = np.arange(24, dtype=np.float32).reshape(3, 4, 2)
    (gt,) = transpose_backward(g, Tensor(a.data.transpose(axes)), a, axes=axes)
    assert gt.shape == (2, 3, 4), f"transpose: gradient shape {gt.shape}, expected (2, 3, 4)"
    assert np.array_equal(gt, g.transpose(2, 0, 1)), "transpose: use the inverse permutation"
    v = Tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    (gi,) = getitem_backward(np.array([1.0, 10.0, 100.0], dtype=np.float32), Tensor(v.data[[0, 0, 2]]), v,
                             index=[0, 0, 2])
    assert np.allclose(gi, [11.0, 0.0, 100.0, 0.0]), f"repeated indices must add up, got {gi}"
    (gi,) = getitem_backward(np.ones((2, 2), dtype=np.float32), Tensor(a.data[1, :2, 1:3]), a,
                             index=(1, slice(None, 2), slice(1, 3)))
    want = np.zeros((2, 3, 4))
    want[1, :2, 1:3] = 1
    assert np.array_equal(gi, want), "basic indexing: gradient lands on the selected block"
    rows = np.array([1, 0, 1])
    (gi,) = getitem_backward(np.ones((3, 4), dtype=np.float32), Tensor(a.data[0][rows]), Tensor(a.data[0]),
                             index=rows)
    assert np.allclose(gi, [[1, 1, 1, 1], [2, 2, 2, 2], [0, 0, 0, 0]]), f"row gather with repeats: {gi}"
    assert np.array_equal(reshape_backward(g, Tensor(g), a)[0], g.reshape(2, 3, 4))
    print("shape rules: OK")


if __name__ == "__main__":
    test_unit_shape_rules()

# %% [markdown]
# ## 9. Activations and losses
#
# Modules 02 and 04 created these ops; now they get their derivatives. Most are cheapest from the
# **saved output** `out.data`:
#
# | op | derivative | rule |
# |---|---|---|
# | `relu` | 1 where `x > 0`, else 0 (we take 0 at `x = 0`, like PyTorch) | `g * (x > 0)` |
# | `sigmoid` | `s (1 − s)` | `g * s * (1 - s)` |
# | `tanh` (given) | `1 − t²` | `g * (1 - t**2)` |
# | `gelu` (given) | see the code | |
# | `softmax(axis)` | Jacobian `diag(s) − s sᵀ` per row | `s * (g - Σ(g·s))`, sum along `axis`, keepdims |
#
# The softmax Jacobian is `C×C` per row, but we never build it: multiplying `g` by it gives
# `s ⊙ (g − ⟨g, s⟩)` in `O(C)`.
#
# **Cross-entropy** (module 04) computes `probs = softmax(logits)` and returns the mean of
# `-log probs[target]` over the `N` targets. It hands its rule `probs` and `targets` through ctx.
# The famous simplification: `∂L/∂logits = (probs − onehot(targets)) / N` (times the incoming
# scalar `g`). No `log`, no division by a tiny probability — this is why frameworks fuse the two.
# Build it without a Python loop: copy `probs` scaled by `g / N`, then subtract `g / N` at
# `[row, target]` with fancy indexing on a `(N, C)` view.
#
# **Binary cross-entropy** (given) clamps `p` to `[eps, 1 − eps]` before the logs. Inside that
# range the derivative of `-mean(t log p + (1−t) log(1−p))` is `(p − t) / (p (1 − p)) / N`.
# Outside it, the clamp's own derivative is 0, which would silence a confidently wrong prediction
# (`p = 0` for target 1) forever. We choose the **clamp-consistent** gradient instead: evaluate the
# same formula at the clamped `p`. It equals the exact derivative wherever `eps ≤ p ≤ 1 − eps`,
# stays finite (at most `1 / (eps N)` in size) outside, and always points the right way (like
# PyTorch's `BCELoss`, which also keeps a gradient there).

# %% nbgrader={"grade": false, "grade_id": "activation-loss-rules", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
@register_backward("tanh")
def tanh_backward(grad, out, x):
    return (grad * (1 - out.data * out.data),)


_GELU_C = np.sqrt(2 / np.pi)


@register_backward("gelu")
def gelu_backward(grad, out, x):
    # gelu(x) = 0.5 x (1 + tanh(u)), u = c (x + 0.044715 x³): product rule, then chain rule through tanh.
    v = x.data
    t = np.tanh(_GELU_C * (v + 0.044715 * v**3))
    du = _GELU_C * (1 + 3 * 0.044715 * v * v)
    return (grad * (0.5 * (1 + t) + 0.5 * v * (1 - t * t) * du),)


@register_backward("binary_cross_entropy")
def binary_cross_entropy_backward(grad, out, pred, target, eps):
    p = np.clip(pred.data, eps, 1 - eps)  # clamp-consistent: the formula at the clamped p (see above)
    local = (p - target) / (p * (1 - p))
    return (unbroadcast(local * (grad / local.size), pred.shape),)


@register_backward("relu")
def relu_backward(grad, out, x):
    ### BEGIN SOLUTION
    return (grad * (x.data > 0),)
    ### END SOLUTION


@register_backward("sigmoid")
def sigmoid_backward(grad, out, x):
    ### BEGIN SOLUTION
    s = out.data
    return (grad * s * (1 - s),)
    ### END SOLUTION


@register_backward("softmax")
def softmax_backward(grad, out, x, axis=-1):
    ### BEGIN SOLUTION
    s = out.data
    return (s * (grad - (grad * s).sum(axis=axis, keepdims=True)),)
    ### END SOLUTION


@register_backward("cross_entropy")
def cross_entropy_backward(grad, out, logits, probs, targets):
    targets = np.asarray(targets).astype(np.intp, copy=False).reshape(-1)
    n = targets.size
    ### BEGIN SOLUTION
    scale = grad / n
    result = probs * scale  # a new array: ctx's probs must stay untouched
    result.reshape(n, -1)[np.arange(n), targets] -= scale
    return (result,)
    ### END SOLUTION


# %% [markdown]
# ### Unit test: activation and loss rules
# The ops are built directly through `Tensor._op`, exactly as modules 02 and 04 build them.

# %% nbgrader={"grade": true, "grade_id": "test-activation-loss-rules", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false}
def test_unit_activation_loss_rules():
    x = Tensor([[-2.0, -0.5, 0.5, 3.0], [1.0, 0.0, -1.0, 2.0]], requires_grad=True)
    g = np.array([[1.0, 2.0, 3.0, 4.0], [-1.0, 5.0, 6.0, -2.0]], dtype=np.float32)
    (gr,) = relu_backward(g, Tensor(np.maximum(x.data, 0)), x)
    assert np.allclose(gr, [[0, 0, 3, 4], [-1, 0, 0, -2]]), f"relu: got {gr}"
    s = 1 / (1 + np.exp(-x.data))
    (gs,) = sigmoid_backward(g, Tensor(s), x)
    assert np.allclose(gs, g * s * (1 - s), atol=1e-6), f"sigmoid: got {gs}"
    for axis in (1, 0):
        e = np.exp(x.data - x.data.max(axis=axis, keepdims=True))
        p = e / e.sum(axis=axis, keepdims=True)
        (gx,) = softmax_backward(g, Tensor(p), x, axis=axis)
        # the full Jacobian, slice by slice, as a reference
        want = np.zeros_like(p)
        for k in range(p.shape[1 - axis]):
            pk = p[k] if axis == 1 else p[:, k]
            jac = np.diag(pk) - np.outer(pk, pk)
            gk = g[k] if axis == 1 else g[:, k]
            if axis == 1:
                want[k] = jac @ gk
            else:
                want[:, k] = jac @ gk
        assert np.allclose(gx, want, atol=1e-6), f"softmax(axis={axis}): got {gx}, expected {want}"
    logits = Tensor([[2.0, 1.0, 0.1], [0.5, 2.5, 0.3]], requires_grad=True)
    e = np.exp(logits.data)
    probs = e / e.sum(axis=1, keepdims=True)
    targets = np.array([0, 2])
    loss = Tensor(-np.log(probs[[0, 1], targets]).mean())
    (gl,) = cross_entropy_backward(np.array(2.0, dtype=np.float32), loss, logits, probs=probs, targets=targets)
    onehot = np.eye(3)[targets]
    assert np.allclose(gl, 2.0 * (probs - onehot) / 2, atol=1e-6), f"cross_entropy: got {gl}"
    assert np.allclose(probs.sum(axis=1), 1), "the rule must not modify ctx['probs'] in place"
    t = Tensor(np.tanh(x.data))
    assert np.allclose(tanh_backward(g, t, x)[0], g * (1 - np.tanh(x.data) ** 2), atol=1e-6)
    print("activation and loss rules: OK")


if __name__ == "__main__":
    test_unit_activation_loss_rules()

# %% [markdown]
# ## 10. The engine, part 1: topological order
#
# From the worked example: a node may pass its gradient on only once it has received the
# contributions of **every** node that used it. An order with that property is a *topological
# order* of the graph, reversed: the loss first, every tensor before the tensors it was computed
# from.
#
# Depth-first search gives one. Visit a node's inputs first, and append the node to a list after
# all of them are done ("post-order"): the list then has every node *after* its inputs. Reverse
# it, and every node comes *before* its inputs. Visit each node once (a `set` of `id`s), and follow
# only inputs with `requires_grad` (constants need no gradient).
#
# **Why not recursion?** The textbook DFS calls itself for each input. Python allows about 1,000
# nested calls (`sys.getrecursionlimit()`), and a graph is easily deeper: an RNN unrolled over 200
# time steps with 10 ops per step is 2,000 deep, and `RecursionError` would end training. So keep
# your own stack of `(node, iterator over its inputs)` pairs: a list on the heap, as deep as
# memory allows.
#
#     stack = [(root, iter(root._inputs))]
#     while stack:
#         node, inputs = stack[-1]
#         push the next unvisited input that requires grad (and stop looking), or, if none is left,
#         pop the node and append it to the order
#
# (Python's `for ... else` runs the `else` branch only when the loop finished without `break`.)

# %% nbgrader={"grade": false, "grade_id": "topological-order", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
def topological_order(root: Tensor) -> list[Tensor]:
    """Every tensor that `root` depends on through `requires_grad` inputs, `root` included,
    ordered so that each tensor comes before all of its inputs (so `root` is first).
    Iterative depth-first search: no recursion, any depth."""
    ### BEGIN SOLUTION
    order: list[Tensor] = []
    visited = {id(root)}
    stack = [(root, iter(root._inputs))]
    while stack:
        node, inputs = stack[-1]
        for child in inputs:
            if child.requires_grad and id(child) not in visited:
                visited.add(id(child))
                stack.append((child, iter(child._inputs)))
                break
        else:
            stack.pop()
            order.append(node)
    order.reverse()
    return order
    ### END SOLUTION


# %% [markdown]
# ### Unit test: topological order
# A diamond (a node used by two others) and a chain 10,000 ops deep.

# %% nbgrader={"grade": true, "grade_id": "test-topological-order", "locked": true, "points": 5, "schema_version": 3, "solution": false, "task": false}
def test_unit_topological_order():
    x = Tensor([1.0, 2.0], requires_grad=True)
    a = x * 2
    b = x.exp()
    c = a + b
    d = c * a
    order = topological_order(d)
    position = {id(t): i for i, t in enumerate(order)}
    assert len(order) == 5 and len(position) == 5, f"expected 5 distinct tensors, got {len(order)}"
    assert order[0] is d and order[-1] is x, "the root comes first, the leaf last"
    for node in order:
        for inp in node._inputs:
            if inp.requires_grad:
                assert position[id(node)] < position[id(inp)], f"{node._op_name} must come before its inputs"
    assert all(t.requires_grad for t in order), "constants (like the 2 in x * 2) are not part of the order"
    y = x
    for _ in range(10_000):
        y = y + 1.0
    deep = topological_order(y)
    assert len(deep) == 10_001 and deep[-1] is x, "a 10,000-op chain must not hit the recursion limit"
    print("topological order: OK")


if __name__ == "__main__":
    test_unit_topological_order()

# %% [markdown]
# ## 11. The engine, part 2: `backward`
#
# `backward(tensor, grad)` runs the whole machine:
# 1. **Seed.** `grad` is `∂L/∂tensor`. For a scalar loss it defaults to 1 (`np.ones` of the
#    tensor's shape). For any other tensor, "the gradient" is ambiguous, so a missing `grad` is an
#    error that says what to do. A tensor that does not require grad has no graph: error too.
# 2. **Walk** `topological_order(tensor)`. Gradients of interior nodes live in a dict
#    `grads: id(tensor) → array`. For each node, `pop` its gradient: popping frees it as soon as
#    it has been used, so at any moment only the gradients of the current "frontier" are in memory.
#    (A node with no entry received no gradient — every rule returned `None` for it — and is
#    skipped.)
# 3. **Interior node**: call its rule, `BACKWARD_RULES[node._op_name](g, node, *node._inputs,
#    **node._ctx)`, and add each returned gradient into `grads` under its input's id (skipping
#    `None` and inputs without `requires_grad`). A tensor used twice receives two contributions,
#    which add up: `grads[k] = grads[k] + g` (a new array: never modify a rule's result in place,
#    it may be another tensor's gradient or a view of one). Check each gradient's shape against its
#    input: a rule with a shape bug should fail here with a message, not three layers later.
# 4. **Leaf** (requires grad, no `_op_name`): **accumulate** into `leaf.grad`, a `Tensor`. The
#    first time, store a *copy* (`.grad` must own its memory: the array may be a view of another
#    gradient, or the very same array another leaf gets from `add`); afterwards add in place,
#    `leaf.grad.data += g`. Gradients also accumulate **across** `backward` calls, as in PyTorch:
#    that lets you sum the gradients of several losses or mini-batches. Zeroing them is the job of
#    `optimizer.zero_grad()` (module 06).
#
# Interior nodes keep `.grad = None`, as in PyTorch: their gradients are only needed during the
# walk, and keeping them all would double the memory of the graph.
#
# ### What the graph costs
# Recording keeps every op's inputs alive until the loss is gone, because the rules need them
# (`mul` needs both factors; `matmul` needs `A` to compute `Aᵀ @ G`). For a 784-128-10 MLP on a
# batch of 256 in float32:
#
# | tensor kept for backward | shape | memory |
# |---|---|---|
# | input images `x` (for `∂L/∂W₁ = xᵀ G`) | (256, 784) | 803 KB |
# | `x @ W₁`, `+ b₁`, `relu(·)` | 3 × (256, 128) | 393 KB |
# | logits, probabilities | 2 × (256, 10) | 20 KB |
# | *for comparison: all parameters* | 101,770 numbers | 407 KB |
#
# The activations already outweigh the parameters, and they grow with the batch size (and, for
# transformers, with the sequence length). That is why evaluation runs under `no_grad()`
# (section 12): nothing is recorded, and each intermediate is freed as soon as the next op has
# used it. The graph itself is freed when the last reference to the loss goes away; calling
# `backward` twice on the same graph works and accumulates twice.

# %% nbgrader={"grade": false, "grade_id": "backward", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
def _seed(tensor: Tensor, grad) -> np.ndarray:
    """The starting gradient ∂L/∂tensor as an array of the tensor's shape (given)."""
    if not tensor.requires_grad:
        raise RuntimeError(
            "backward() on a tensor that does not require grad: no graph was recorded. Create the "
            "leaves with requires_grad=True, and do not compute the loss inside no_grad()")
    if grad is None:
        if tensor.data.size != 1:
            raise RuntimeError(
                f"backward() without a gradient needs a one-element tensor (a scalar loss), got "
                f"shape {tensor.shape}: reduce it (e.g. .sum() or .mean()) or pass grad= of that shape")
        return np.ones(tensor.shape, dtype=tensor.dtype)
    seed = np.asarray(grad.data if isinstance(grad, Tensor) else grad, dtype=tensor.dtype)
    if seed.shape != tensor.shape:
        raise ValueError(f"backward(): grad has shape {seed.shape}, but the tensor has shape {tensor.shape}")
    return seed


def backward(tensor: Tensor, grad=None) -> None:
    """Backpropagate from `tensor`: accumulate ∂tensor/∂leaf (times `grad`) into every leaf's `.grad`.

    `grad` may be omitted for a one-element tensor (it is then 1). Leaves are tensors with
    requires_grad=True that no recorded op produced; interior tensors keep `.grad = None`.
    """
    grads = {id(tensor): _seed(tensor, grad)}
    ### BEGIN SOLUTION
    for node in topological_order(tensor):
        g = grads.pop(id(node), None)
        if g is None:
            continue
        if node._op_name is None:  # a leaf: accumulate into .grad
            if node.grad is None:
                node.grad = Tensor(np.array(g, dtype=node.data.dtype))  # a copy that .grad owns
            else:
                node.grad.data += g
            continue
        rule = BACKWARD_RULES.get(node._op_name)
        if rule is None:
            raise RuntimeError(f"no backward rule registered for op {node._op_name!r}")
        input_grads = rule(g, node, *node._inputs, **node._ctx)
        if not isinstance(input_grads, (tuple, list)) or len(input_grads) != len(node._inputs):
            raise TypeError(f"the backward rule for {node._op_name!r} must return a tuple with one "
                            f"gradient (or None) per input ({len(node._inputs)})")
        for inp, inp_grad in zip(node._inputs, input_grads):
            if inp_grad is None or not inp.requires_grad:
                continue
            if inp_grad.shape != inp.data.shape:
                raise ValueError(f"the backward rule for {node._op_name!r} returned a gradient of shape "
                                 f"{inp_grad.shape} for an input of shape {inp.data.shape}")
            key = id(inp)
            previous = grads.get(key)
            grads[key] = inp_grad if previous is None else previous + inp_grad
    ### END SOLUTION


# %% [markdown]
# ### Unit test: backward
# The worked example of section 1, a tensor used twice, accumulation across calls, the errors,
# and the 10,000-op chain.

# %% nbgrader={"grade": true, "grade_id": "test-backward", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false}
def test_unit_backward():
    x, w, b = (Tensor(v, requires_grad=True) for v in (2.0, 3.0, 1.0))
    y = w * x + b
    loss = y * y
    backward(loss)
    got = (w.grad.item(), x.grad.item(), b.grad.item())
    assert got == (28.0, 42.0, 14.0), f"worked example: (dw, dx, db) = {got}, expected (28, 42, 14)"
    assert y.grad is None and loss.grad is None, "interior tensors keep .grad = None"
    backward(w * 10)
    assert w.grad.item() == 38.0, f"gradients accumulate across backward calls: got {w.grad.item()}"

    v = Tensor([1.0, -2.0, 3.0], requires_grad=True)
    h = v * v
    backward((h + h).sum() - v.sum())
    assert np.allclose(v.grad.data, 4 * v.data - 1), f"a tensor used twice gets the sum: {v.grad.data}"
    m = Tensor(np.ones((2, 3)), requires_grad=True)
    bias = Tensor(np.zeros(3), requires_grad=True)
    out = m * 2 + bias
    backward(out, np.arange(6, dtype=np.float32).reshape(2, 3))
    assert np.allclose(m.grad.data, 2 * np.arange(6).reshape(2, 3)) and np.allclose(bias.grad.data, [3, 5, 7])
    p, q = Tensor([1.0, 2.0], requires_grad=True), Tensor([3.0, 4.0], requires_grad=True)
    backward((p + q).sum())
    backward((p + q).sum())
    assert np.allclose(p.grad.data, 2) and np.allclose(q.grad.data, 2), "each leaf owns its own .grad array"
    assert isinstance(p.grad, Tensor), ".grad is a Tensor"

    for bad, error in [(lambda: backward(Tensor([1.0, 2.0], requires_grad=True) * 2), RuntimeError),
                       (lambda: backward(Tensor([1.0]) * 2), RuntimeError),
                       (lambda: backward(v * 2, np.ones(4)), ValueError)]:
        try:
            bad()
        except error:
            pass
        else:
            raise AssertionError(f"expected {error.__name__}")

    c = Tensor([1.0], requires_grad=True)
    z = c
    for _ in range(10_000):
        z = z * 1.0001
    backward(z.sum())
    assert np.isclose(c.grad.data[0], 1.0001 ** 10_000, rtol=1e-3), "10,000-op chain"
    print("backward: OK")


if __name__ == "__main__":
    test_unit_backward()

# %% [markdown]
# ## 12. Switching recording off: `no_grad()`
#
# During evaluation we want neither the graph nor its memory. `_op` records only when
# `Config.grad_enabled` is true, so a context manager that sets it to `False` and **restores the
# previous value** on exit is all we need:
#
# ```python
# with no_grad():
#     predictions = model(test_images)   # no graph, activations freed at once
# ```
#
# Restore in a `finally` so an exception inside the block cannot leave recording switched off.
# Restoring the *previous* value (not `True`) makes it nestable: `no_grad()` inside `no_grad()`
# inside `enable_grad()` all work. Write the general `grad_mode(enabled)`; `no_grad()` and
# `enable_grad()` are one-liners on top. Because they come from `@contextmanager`, they also work
# as decorators: `@no_grad()` above a function.

# %% nbgrader={"grade": false, "grade_id": "no-grad", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
@contextmanager
def grad_mode(enabled: bool):
    """Context manager: set `Config.grad_enabled` to `enabled`, restore the previous value on exit."""
    # Hint: save the old value, set the new one, then `yield` inside `try:` ... `finally:` restore.
    ### BEGIN SOLUTION
    previous = Config.grad_enabled
    Config.grad_enabled = enabled
    try:
        yield
    finally:
        Config.grad_enabled = previous
    ### END SOLUTION


def no_grad():
    """`with no_grad():` records no graph (evaluation, parameter updates)."""
    return grad_mode(False)


def enable_grad():
    """`with enable_grad():` records again, even inside `no_grad()`."""
    return grad_mode(True)


# %% [markdown]
# ### Unit test: no_grad

# %% nbgrader={"grade": true, "grade_id": "test-no-grad", "locked": true, "points": 5, "schema_version": 3, "solution": false, "task": false}
def test_unit_no_grad():
    x = Tensor([1.0, 2.0], requires_grad=True)
    assert Config.grad_enabled
    with no_grad():
        y = x * 2
        assert not Config.grad_enabled
        with no_grad():
            pass
        assert not Config.grad_enabled, "leaving an inner no_grad() must keep the outer one"
        with enable_grad():
            z = x * 3
        assert not Config.grad_enabled
    assert Config.grad_enabled, "no_grad() must restore recording on exit"
    assert not y.requires_grad and y._inputs == (), "no graph inside no_grad()"
    assert z.requires_grad and z._op_name == "mul", "enable_grad() records again"
    try:
        with no_grad():
            raise KeyError("boom")
    except KeyError:
        pass
    assert Config.grad_enabled, "no_grad() must restore recording even after an exception"

    @no_grad()
    def evaluate(t):
        return t * 2

    assert not evaluate(x).requires_grad and Config.grad_enabled, "no_grad() works as a decorator"
    print("no_grad: OK")


if __name__ == "__main__":
    test_unit_no_grad()

# %% [markdown]
# ## 13. Checking every rule: `gradcheck`
#
# A wrong backward rule does not crash: training just goes slowly or nowhere. The remedy is to
# compare the analytic gradient with a **numerical** one. For each input element `xᵢ`:
#
#     ∂f/∂xᵢ ≈ (f(x + ε eᵢ) − f(x − ε eᵢ)) / (2ε)          (central difference)
#
# Its error is `O(ε²)` (a one-sided difference is only `O(ε)`). Rounding adds an error of about
# `machine epsilon / ε` (relative to the size of `f`). In float32 (`ε_mach ≈ 10⁻⁷`) the best
# trade-off, `ε` around `5·10⁻³`, still leaves relative errors of `10⁻⁶`–`10⁻⁵`, and a step that
# large blurs sharp functions; in float64 (`10⁻¹⁶`), `ε = 10⁻⁶` leaves about `10⁻¹⁰`. So
# `gradcheck` runs in float64: it sets `Config.dtype` for the duration (every `Tensor` created
# then is float64) and restores it after.
#
# The function may return a non-scalar tensor. We check it fully by reducing it with a fixed random
# projection `R`: `f(x) = sum(fn(x) * R)`. Its gradient is exactly what `backward(out, R)`
# computes, and a random `R` (unlike all ones) does not let errors cancel out.
#
# Cost: two forward passes per input element, so use small inputs. You write the loop
# `numeric_gradient`; `gradcheck` (given) does the float64 setup and the comparison, and explains a
# failure: which input, the worst element, analytic vs numeric.

# %% nbgrader={"grade": false, "grade_id": "gradcheck", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
def numeric_gradient(f: Callable[[], float], x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central differences of the scalar `f()` with respect to every element of the array `x`.

    `f` takes no arguments and reads `x`: perturb `x` in place, one element at a time, and put the
    original value back each time.
    """
    grad = np.zeros(x.shape, dtype=np.float64)
    flat_x, flat_grad = x.reshape(-1), grad.reshape(-1)  # views: writing to them writes x and grad
    ### BEGIN SOLUTION
    for i in range(flat_x.size):
        original = flat_x[i]
        flat_x[i] = original + eps
        plus = f()
        flat_x[i] = original - eps
        minus = f()
        flat_x[i] = original
        flat_grad[i] = (plus - minus) / (2 * eps)
    ### END SOLUTION
    return grad


def gradcheck(fn: Callable[..., Tensor], *inputs, eps: float = 1e-6, atol: float = 1e-5,
              rtol: float = 1e-3) -> bool:
    """Compare autograd's gradients of `fn(*inputs)` with central differences, in float64.

    Every Tensor input with requires_grad is checked (on a float64 copy: the inputs are not
    changed). Returns True, or raises AssertionError naming the input, the worst element and both
    values. Tolerance per element: |analytic - numeric| <= atol + rtol * |numeric|.
    """
    saved_dtype = Config.dtype
    Config.dtype = np.float64
    try:
        with enable_grad():
            copies = {}
            for t in inputs:
                if isinstance(t, Tensor) and id(t) not in copies:
                    copies[id(t)] = Tensor(np.array(t.data, dtype=np.float64), requires_grad=t.requires_grad)
            args = [copies[id(t)] if isinstance(t, Tensor) else t for t in inputs]
            out = fn(*args)
            if not isinstance(out, Tensor):
                raise TypeError(f"gradcheck: fn must return a Tensor, got {type(out).__name__}")
            projection = np.random.default_rng(0).standard_normal(out.shape)
            if out.requires_grad:
                backward(out, projection)

            def f() -> float:
                with no_grad():
                    return float(np.sum(fn(*args).data * projection))

            checked = set()
            for index, (original, x) in enumerate(zip(inputs, args)):
                if not (isinstance(x, Tensor) and x.requires_grad) or id(x) in checked:
                    continue
                checked.add(id(x))
                numeric = numeric_gradient(f, x.data, eps)
                analytic = x.grad.data if x.grad is not None else np.zeros_like(numeric)
                _compare(index, original.shape, analytic, numeric, atol, rtol, x.grad is None)
    finally:
        Config.dtype = saved_dtype
    return True


def _compare(index, shape, analytic, numeric, atol, rtol, missing) -> None:
    """Raise an AssertionError that explains the worst mismatch, if there is one."""
    error = np.abs(analytic - numeric)
    bad = ~(error <= atol + rtol * np.abs(numeric))  # written so that nan counts as bad
    if not bad.any():
        return
    excess = np.where(bad, np.nan_to_num(error - rtol * np.abs(numeric), nan=np.inf), -np.inf)
    worst = np.unravel_index(int(np.argmax(excess)), shape)
    hint = (" It received no gradient at all (.grad is None): is a backward rule missing, or does "
            "fn cut the graph (detach, no_grad, NumPy on .data)?" if missing else "")
    raise AssertionError(
        f"gradcheck failed for input {index} (shape {tuple(shape)}): {int(bad.sum())} of {bad.size} "
        f"elements differ. Worst at index {tuple(int(i) for i in worst)}: analytic {analytic[worst]:.6g}, "
        f"numeric {numeric[worst]:.6g} (tolerance atol={atol:g} + rtol={rtol:g} * |numeric|).{hint}")


# %% [markdown]
# ### Unit test: gradcheck
# It must accept correct rules and reject a wrong one: we register a deliberately broken rule for
# a throw-away op and check that gradcheck catches it.

# %% nbgrader={"grade": true, "grade_id": "test-gradcheck", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false}
def test_unit_gradcheck():
    rng = np.random.default_rng(3)
    a = Tensor(rng.uniform(0.5, 2, size=(3, 4)), requires_grad=True)
    b = Tensor(rng.uniform(0.5, 2, size=(4,)), requires_grad=True)
    before = a.data.copy()
    assert gradcheck(lambda x, y: (x * y - y / x).exp().log() + x.sqrt(), a, b) is True
    assert np.array_equal(a.data, before) and a.grad is None, "gradcheck must not touch its inputs"
    assert Config.dtype == np.float32, "gradcheck must restore Config.dtype"
    arr = a.data.astype(np.float64)
    num = numeric_gradient(lambda: float(np.sum(arr ** 3)), arr)
    assert np.allclose(num, 3 * arr ** 2, rtol=1e-6), f"numeric_gradient of sum(x**3) is 3x**2, got {num}"
    assert np.array_equal(arr, a.data), "numeric_gradient must restore every element it perturbs"

    @register_backward("wrong_square")
    def wrong_square(grad, out, x):
        return (grad * x.data,)  # forgot the factor 2

    try:
        square = lambda c, x: Tensor._op("wrong_square", x.data ** 2, x) * c.sum()
        try:
            gradcheck(square, Tensor([1.0, 2.0]), Tensor([1.5, -1.0, 2.0], requires_grad=True))
        except AssertionError as err:
            assert "input 1" in str(err), f"the message should name input 1: {err}"
        else:
            raise AssertionError("gradcheck accepted a wrong backward rule")
    finally:
        del BACKWARD_RULES["wrong_square"]
    assert Config.dtype == np.float32, "gradcheck must restore Config.dtype after a failure too"
    print("gradcheck: OK")


if __name__ == "__main__":
    test_unit_gradcheck()

# %% [markdown]
# ## Module test
# Every rule through `gradcheck`, then a tiny two-layer network trained for a few steps by plain
# gradient descent. The loss must go down.

# %% nbgrader={"grade": true, "grade_id": "test-module", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false}
def test_module():
    rng = np.random.default_rng(4)

    def softmax(v, axis):
        e = np.exp(v - v.max(axis=axis, keepdims=True))
        return e / e.sum(axis=axis, keepdims=True)

    def gelu(v):  # module 02's GELU: the tanh approximation
        return 0.5 * v * (1 + np.tanh(np.sqrt(2 / np.pi) * (v + 0.044715 * v**3)))

    def op(name, t, value, **ctx):  # build a module 02/04 op the way those modules do
        return Tensor._op(name, value, t, **ctx)

    def cross_entropy(logits, targets):
        probs = softmax(logits.data, -1)
        value = -np.log(probs.reshape(-1, probs.shape[-1])[np.arange(targets.size), targets.reshape(-1)]).mean()
        return op("cross_entropy", logits, value, probs=probs, targets=targets)

    pos = lambda *s: Tensor(rng.uniform(0.5, 1.5, size=s), requires_grad=True)
    x, y = pos(3, 4), pos(4)
    # every op of modules 01-04 at least once, with broadcasting
    checks = {
        "arithmetic": lambda a, b: (a + b) * a - b / a - (-a),
        "pow/exp/log/sqrt": lambda a, b: a ** 3 + (a * b).exp() + b.log() - a.sqrt(),
        "matmul": lambda a, b: a @ b + b.reshape(4, 1).T @ a.T.reshape(4, 3),
        "reductions": lambda a, b: a.sum(axis=0) * b + a.mean(axis=1, keepdims=True) + a.max(axis=(0, 1)),
        "shapes": lambda a, b: a.transpose(0, 1)[[0, 0, 3], 1:] * b[1:3],
        "activations": lambda a, b: op("softmax", a, softmax(a.data, 0), axis=0)
        + op("sigmoid", a, 1 / (1 + np.exp(-a.data))) * op("tanh", b, np.tanh(b.data))
        + op("relu", a - 1, np.maximum(a.data - 1, 0)) - op("gelu", b - 1, gelu(b.data - 1)),
        "cross_entropy": lambda a, b: cross_entropy(a * b, np.array([3, 0, 3])),
        "binary_cross_entropy": lambda a, b: op(
            "binary_cross_entropy", a / 2, -np.mean(np.log(a.data / 2)), target=np.ones((3, 4)), eps=1e-7),
    }
    for name, fn in checks.items():
        assert gradcheck(fn, x, y), name

    w1 = Tensor(rng.normal(0, 0.5, size=(4, 16)), requires_grad=True)
    b1 = Tensor(np.zeros(16), requires_grad=True)
    w2 = Tensor(rng.normal(0, 0.5, size=(16, 3)), requires_grad=True)
    inputs = Tensor(rng.normal(size=(32, 4)))
    labels = (inputs.data[:, 0] > 0).astype(int) + (inputs.data[:, 1] > 0)

    def loss_fn():
        hidden = inputs @ w1 + b1
        return cross_entropy(op("relu", hidden, np.maximum(hidden.data, 0)) @ w2, labels)

    first = loss_fn().item()
    for _ in range(30):
        backward(loss_fn())
        with no_grad():
            for p in (w1, b1, w2):
                p.data -= 0.5 * p.grad.data
                p.grad = None
    last = loss_fn().item()
    assert last < 0.7 * first, f"training should reduce the loss: {first:.3f} -> {last:.3f}"
    print("module 05: all tests passed")


if __name__ == "__main__":
    test_module()

# %% [markdown]
# ## Reflection
# - Backward of `A @ B` is two matmuls of the same size. If a forward pass takes 10 ms, about how
#   long does a training step take? Where does the memory for backward come from?
# - We split the gradient of `max` evenly among ties. What would go wrong, for a network, if we
#   sent the full gradient to *every* tied element instead?
# - `gradcheck` costs two forward passes per input element. How long would it take for the
#   101,770 parameters of a 784-128-10 MLP? How would you check a big model's gradients instead?
# - Why does `backward` copy a leaf's first gradient instead of storing the array it received?
