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
# # Module 02: Activations
#
# A neural network alternates two kinds of step: a linear map (`x @ W + b`, module 03) and an
# element-wise **nonlinearity**, the activation function. Without the nonlinearity, depth buys
# nothing: `(x @ W1) @ W2 = x @ (W1 @ W2)`, so a stack of a hundred linear layers is still one
# linear layer, and a linear model cannot even learn XOR. With it, a two-layer network with
# enough hidden units can approximate any continuous function on a bounded range as closely as
# you like (the universal approximation theorem). In this module you build the five
# activations modern networks use, and you make them **numerically stable**: correct for inputs
# like `±10,000`, without a single overflow warning or `NaN`.
#
# ## Learning objectives
# - Implement `ReLU`, `Sigmoid`, `Tanh`, `GELU` and `Softmax` as callable objects on Tensors.
# - Explain why `1 / (1 + exp(-x))` overflows for `x = -1000` and fix it with the
#   **sign-split** form; explain why softmax subtracts the row maximum first.
# - Know what each activation costs: FLOPs per element, and the memory of the output that
#   the backward pass (module 05) will keep.
# - Route every activation through `Tensor._op` with the op names and context of the
#   contract in `docs/MODULE_FORMAT.md`, so that module 05 can differentiate them.
#
# ## How to work
# Write your code between `### BEGIN SOLUTION` and `### END SOLUTION`; run the test cell right
# after each piece. When every test passes, run `tito module complete 02`: it checks this file,
# exports the `#| export` cells to `tinytorch/activations.py`, and runs the full test suite.

# %% nbgrader={"grade": false, "grade_id": "activations-setup", "locked": false, "schema_version": 3, "solution": false, "task": false}
#| default_exp activations
#| export
import numpy as np

from tinytorch.tensor import Tensor

# %% [markdown]
# ## 1. The shape of an activation
#
# Every activation here is a small class: you create it once (`act = ReLU()`), then call it on
# a tensor (`y = act(x)`). Calling runs `forward`. The output has the same shape as the input;
# `Softmax` additionally needs to know which axis holds the classes (`dim`).
#
# Each `forward` does two things:
# 1. compute the result with NumPy on `x.data` (a `float32` array, or `float64` when module 05
#    checks gradients; do not force a dtype: write code that keeps the input's);
# 2. return `Tensor._op(name, result, x, **ctx)`, where `name` is the op name module 05 will
#    attach a derivative to: `"relu"`, `"sigmoid"`, `"tanh"`, `"gelu"`, `"softmax"`.
#
# Why one op per activation rather than composing `exp`, `div` and friends from module 01?
# Composition would also work, but a fused op is faster (one NumPy pass, no intermediate
# tensors) and its derivative has a neat closed form in terms of the output: for example
# `sigmoid'(x) = s·(1 - s)` with `s = sigmoid(x)`. That is why the contract hands the backward
# rule `out.data`.
#
# ### Cost of an element-wise activation
# For a tensor of `n` elements an activation reads `n` numbers, writes `n` numbers and does a
# handful of FLOPs per element. For a batch of 256 hidden vectors of width 512 that is 131,072
# elements: 512 KB in and 512 KB out in `float32`, against about 134 M FLOPs for the `(256, 512)
# @ (512, 512)` matmul before it. Activations are cheap in FLOPs and **bound by memory
# traffic**; their real cost is that training keeps every activation's output around for the
# backward pass ("activation memory").
#
# | activation | formula | FLOPs per element (roughly) | output range |
# |---|---|---|---|
# | ReLU | `max(0, x)` | 1 comparison | `[0, ∞)` |
# | Sigmoid | `1 / (1 + e^{-x})` | 1 exp + 3 | `(0, 1)` |
# | Tanh | `(e^x - e^{-x}) / (e^x + e^{-x})` | ~1 exp + 4 | `(-1, 1)` |
# | GELU (tanh approx.) | `0.5·x·(1 + tanh(√(2/π)(x + 0.044715·x³)))` | 1 tanh + ~8 | `≈[-0.17, ∞)` |
# | Softmax | `e^{x_i - m} / Σ_j e^{x_j - m}` | 1 exp + ~4 (three passes over the row) | `(0, 1)`, sums to 1 |

# %% [markdown]
# ## 2. ReLU
#
# `ReLU(x) = max(0, x)`: pass positives through, zero out negatives. It is the default
# activation of deep networks since AlexNet (2012): one comparison per element, and for
# positive inputs its slope is exactly 1, so gradients pass through many layers without
# shrinking (the sigmoid's slope is at most 0.25, which is why deep sigmoid networks trained
# so slowly). Use `np.maximum(x.data, 0)`; it is vectorized (no Python loop over elements).

# %% nbgrader={"grade": false, "grade_id": "relu", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
class ReLU:
    """Rectified linear unit: `max(0, x)`, element-wise."""

    def __call__(self, x: Tensor) -> Tensor:
        return self.forward(x)

    def forward(self, x: Tensor) -> Tensor:
        """Return `max(0, x)` as `Tensor._op("relu", result, x)`."""
        ### BEGIN SOLUTION
        return Tensor._op("relu", np.maximum(x.data, 0), x)
        ### END SOLUTION

    def __repr__(self) -> str:
        return "ReLU()"


# %% [markdown]
# ### Unit test: ReLU

# %% nbgrader={"grade": true, "grade_id": "test-relu", "locked": true, "points": 5, "schema_version": 3, "solution": false, "task": false}
def test_unit_relu():
    x = Tensor([[-3.0, -0.5, 0.0], [0.5, 2.0, 7.0]])
    y = ReLU()(x)
    assert isinstance(y, Tensor), f"ReLU must return a Tensor, got {type(y).__name__}"
    assert y.shape == (2, 3), f"ReLU keeps the shape: got {y.shape}, expected (2, 3)"
    expected = np.array([[0.0, 0.0, 0.0], [0.5, 2.0, 7.0]])
    assert np.array_equal(y.data, expected), f"ReLU gave {y.data}, expected {expected}"
    assert y.dtype == np.float32, f"ReLU output must stay float32, got {y.dtype}"
    assert np.array_equal(x.data[0], [-3.0, -0.5, 0.0]), "ReLU must not change its input"
    print("ReLU: OK")


if __name__ == "__main__":
    test_unit_relu()

# %% [markdown]
# ## 3. Sigmoid, and the overflow trap
#
# `sigmoid(x) = 1 / (1 + e^{-x})` squashes any number into `(0, 1)`: a probability. Written
# exactly like that, it breaks. In `float32`, `e^{89}` is already larger than the biggest
# number the format holds (`3.4·10³⁸`), so for `x = -1000` NumPy computes `e^{1000} = inf`
# and warns `overflow encountered in exp`. The answer, `1 / inf = 0`, happens to be right,
# but a warning in every training step hides the real bugs, and the same `inf` in a
# derivative turns into `NaN` (`inf / inf`).
#
# **The sign-split form.** Multiply top and bottom by `e^{x}`:
#
# `sigmoid(x) = 1 / (1 + e^{-x})  =  e^{x} / (1 + e^{x})`.
#
# Use the first form where `x ≥ 0` and the second where `x < 0`. In both, the exponent is
# `-|x| ≤ 0`, so the exponential lies in `(0, 1]` and can never overflow. With
# `z = e^{-|x|}`:
#
# | where | use | value |
# |---|---|---|
# | `x ≥ 0` | `1 / (1 + e^{-x})` | `1 / (1 + z)` |
# | `x < 0` | `e^{x} / (1 + e^{x})` | `z / (1 + z)` |
#
# `np.exp(-np.abs(x))` computes `z` for every element in one pass; `np.where(condition, a, b)`
# picks from `a` or `b` element by element. (For `x = -10,000`, `z` *underflows* to `0`: that
# is the correctly rounded answer, not an error. Overflow is the bug; underflow is fine.)

# %% nbgrader={"grade": false, "grade_id": "sigmoid", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
class Sigmoid:
    """Logistic sigmoid `1 / (1 + e^{-x})`, element-wise, computed without overflow."""

    def __call__(self, x: Tensor) -> Tensor:
        return self.forward(x)

    def forward(self, x: Tensor) -> Tensor:
        """Return sigmoid(x) via the sign-split form, as `Tensor._op("sigmoid", result, x)`."""
        # Hint: compute `z = e^{-|x|}` once, build both candidates from it (table above), and let
        # `np.where` pick per element by the sign of x.
        ### BEGIN SOLUTION
        z = np.exp(-np.abs(x.data))  # in (0, 1]: never overflows
        data = np.where(x.data < 0, z / (1 + z), 1 / (1 + z))
        return Tensor._op("sigmoid", data, x)
        ### END SOLUTION

    def __repr__(self) -> str:
        return "Sigmoid()"


# %% [markdown]
# ### Unit test: Sigmoid
# Values against the textbook formula (in `float64`, where moderate inputs are safe), the
# symmetry `sigmoid(-x) = 1 - sigmoid(x)`, and extreme inputs with every overflow, division
# and invalid-value warning turned into an error.

# %% nbgrader={"grade": true, "grade_id": "test-sigmoid", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false}
def test_unit_sigmoid():
    import warnings

    a = np.array([-6.0, -1.0, -0.25, 0.0, 0.25, 1.0, 6.0])
    y = Sigmoid()(Tensor(a))
    assert isinstance(y, Tensor) and y.shape == a.shape, "Sigmoid returns a Tensor of the same shape"
    assert np.allclose(y.data, 1 / (1 + np.exp(-a)), atol=1e-6), f"sigmoid({a}) gave {y.data}"
    assert y.data[3] == 0.5, f"sigmoid(0) must be 0.5, got {y.data[3]}"
    assert np.allclose(Sigmoid()(Tensor(-a)).data, 1 - y.data, atol=1e-6), "sigmoid(-x) = 1 - sigmoid(x)"
    big = Tensor([-1e4, -1000.0, -100.0, 100.0, 1000.0, 1e4])
    with warnings.catch_warnings(), np.errstate(over="raise", divide="raise", invalid="raise"):
        warnings.simplefilter("error")
        s = Sigmoid()(big).data
    assert np.all(np.isfinite(s)), f"sigmoid of large inputs must be finite, got {s}"
    assert np.allclose(s, [0.0, 0.0, 0.0, 1.0, 1.0, 1.0], rtol=0, atol=1e-30), f"sigmoid(±large) gave {s}"
    assert s[0] == 0.0 and s[-1] == 1.0, f"sigmoid(±1e4) must be exactly 0 and 1, got {s[0]}, {s[-1]}"
    print("Sigmoid: OK")


if __name__ == "__main__":
    test_unit_sigmoid()

# %% [markdown]
# ## 4. Tanh
#
# `tanh(x) = (e^x - e^{-x}) / (e^x + e^{-x}) = 2·sigmoid(2x) - 1`: a sigmoid stretched to
# `(-1, 1)` and centred on zero, which keeps the inputs of the next layer centred too. It is
# the activation of classic RNNs and LSTMs. Written with exponentials it overflows just like the
# naive sigmoid; NumPy's `np.tanh` is already computed stably, so use it.

# %% nbgrader={"grade": false, "grade_id": "tanh", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
class Tanh:
    """Hyperbolic tangent, element-wise, output in (-1, 1)."""

    def __call__(self, x: Tensor) -> Tensor:
        return self.forward(x)

    def forward(self, x: Tensor) -> Tensor:
        """Return tanh(x) as `Tensor._op("tanh", result, x)`."""
        ### BEGIN SOLUTION
        return Tensor._op("tanh", np.tanh(x.data), x)
        ### END SOLUTION

    def __repr__(self) -> str:
        return "Tanh()"


# %% [markdown]
# ### Unit test: Tanh

# %% nbgrader={"grade": true, "grade_id": "test-tanh", "locked": true, "points": 5, "schema_version": 3, "solution": false, "task": false}
def test_unit_tanh():
    a = np.array([[-1e4, -2.0, -0.5], [0.0, 0.5, 1e4]])
    y = Tanh()(Tensor(a))
    assert isinstance(y, Tensor) and y.shape == (2, 3), "Tanh returns a Tensor of the same shape"
    assert np.allclose(y.data, np.tanh(a), atol=1e-6), f"tanh gave {y.data}, expected {np.tanh(a)}"
    assert y.data[0, 0] == -1.0 and y.data[1, 2] == 1.0, "tanh saturates at ±1"
    assert np.allclose(y.data, 2 * Sigmoid()(Tensor(2 * a)).data - 1, atol=1e-6), \
        "tanh(x) = 2·sigmoid(2x) - 1"
    print("Tanh: OK")


if __name__ == "__main__":
    test_unit_tanh()

# %% [markdown]
# ## 5. GELU
#
# GELU, the Gaussian Error Linear Unit (Hendrycks & Gimpel, 2016), is the activation of BERT
# and GPT. Its idea: instead of *gating* the input with a hard step (ReLU keeps `x` when
# `x > 0`), gate it with the probability that a standard normal variable is below `x`:
#
# `GELU(x) = x · Φ(x)`,  where `Φ(x) = P(Z ≤ x) = ½·(1 + erf(x / √2))`.
#
# Large positive inputs pass (Φ ≈ 1), large negative ones are zeroed (Φ ≈ 0), and in between
# the curve is smooth, dipping slightly below zero (minimum ≈ -0.17 near `x = -0.75`).
#
# The original BERT and GPT-2 code used a cheaper approximation of `Φ` built from `tanh` (and
# NumPy itself has no vectorized `erf`). It matches the exact GELU to within about `5·10⁻⁴`,
# the worst gap being near `x = ±2.7`:
#
# `Φ(x) ≈ ½·(1 + tanh(√(2/π) · (x + 0.044715·x³)))`
#
# Where do the constants come from? Near zero `Φ(x) ≈ ½ + x/√(2π)`, and
# `½·(1 + tanh(u)) ≈ ½ + u/2`, so `u` must start as `√(2/π)·x`; the cubic term `0.044715·x³`
# is then fitted so the two curves also agree in the tails. This is the formula to implement
# (PyTorch calls it `gelu(x, approximate="tanh")`):
#
# `GELU(x) = 0.5 · x · (1 + tanh(√(2/π) · (x + 0.044715 · x³)))`
#
# Stability: `tanh` saturates to exactly `±1` for large arguments, so for `x = -10,000` the
# bracket is exactly `0` and the output `-0.0`; `x³ = 10¹²` fits easily in `float32`.
# Cost: about 8 FLOPs and one `tanh` per element, several times a ReLU, still negligible
# next to the matmuls around it.

# %% nbgrader={"grade": false, "grade_id": "gelu", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
class GELU:
    """Gaussian Error Linear Unit, tanh approximation (as in GPT-2 and BERT)."""

    def __call__(self, x: Tensor) -> Tensor:
        return self.forward(x)

    def forward(self, x: Tensor) -> Tensor:
        """Return 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) as `Tensor._op("gelu", result, x)`."""
        # Hint: `np.tanh` and `np.pi`; `a ** 3` cubes every element of the array `a = x.data`.
        ### BEGIN SOLUTION
        a = x.data
        inner = (2 / np.pi) ** 0.5 * (a + 0.044715 * a ** 3)
        return Tensor._op("gelu", 0.5 * a * (1 + np.tanh(inner)), x)
        ### END SOLUTION

    def __repr__(self) -> str:
        return "GELU()"


# %% [markdown]
# ### Unit test: GELU
# Against the formula, against the exact `x·Φ(x)` (computed with `math.erf`), and the identity
# `GELU(x) - GELU(-x) = x`, which holds exactly for this approximation (try to prove it:
# `tanh` is odd).

# %% nbgrader={"grade": true, "grade_id": "test-gelu", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false}
def test_unit_gelu():
    import math

    a = np.linspace(-5, 5, 41)
    y = GELU()(Tensor(a))
    assert isinstance(y, Tensor) and y.shape == a.shape, "GELU returns a Tensor of the same shape"
    formula = 0.5 * a * (1 + np.tanh(np.sqrt(2 / np.pi) * (a + 0.044715 * a ** 3)))
    assert np.allclose(y.data, formula, atol=1e-6), f"GELU differs from the tanh formula: {y.data}"
    exact = np.array([v * 0.5 * (1 + math.erf(v / math.sqrt(2))) for v in a])
    assert np.max(np.abs(y.data - exact)) < 1e-3, "GELU should be within 1e-3 of x·Φ(x)"
    assert abs(GELU()(Tensor(1.0)).item() - 0.841192) < 1e-5, "GELU(1) ≈ 0.841192"
    assert np.allclose(y.data - GELU()(Tensor(-a)).data, a, atol=1e-5), "GELU(x) - GELU(-x) = x"
    ends = GELU()(Tensor([-1e4, 1e4])).data
    assert np.array_equal(ends, [0.0, 1e4]), f"GELU(±1e4) should be [0, 1e4], got {ends}"
    print("GELU: OK")


if __name__ == "__main__":
    test_unit_gelu()

# %% [markdown]
# ## 6. Softmax
#
# A classifier's last layer outputs one raw score (a **logit**) per class. Softmax turns a row
# of logits into a probability distribution:
#
# `softmax(x)_i = e^{x_i} / Σ_j e^{x_j}`
#
# Every output is positive and each row sums to 1. Unlike the activations above, softmax is not
# element-wise: every output depends on the whole row, so it needs an axis, `dim` (default
# `-1`, the last one, where classes usually live: logits of shape `(batch, classes)`).
#
# **The max trick.** `e^{1000}` overflows, so `softmax([1000, 0])` computed naively is
# `inf / inf = NaN`. But softmax does not change when you subtract the same number `m` from
# every entry of a row:
#
# `e^{x_i - m} / Σ_j e^{x_j - m} = (e^{-m}·e^{x_i}) / (e^{-m}·Σ_j e^{x_j}) = softmax(x)_i`.
#
# Choose `m = max_j x_j`. Then every exponent is `≤ 0` (no overflow) and the largest is exactly
# `e^0 = 1`, so the denominator is at least 1 (no division by zero). Three passes over the row:
#
# 1. `m = max(x, axis=dim, keepdims=True)` (keepdims so it broadcasts back over the row);
# 2. `e = exp(x - m)`;
# 3. `e / sum(e, axis=dim, keepdims=True)`.
#
# Cost for `(N, C)` logits: about `4·N·C` FLOPs plus `N·C` exponentials, and one `(N, C)`
# temporary. Return `Tensor._op("softmax", result, x, axis=self.dim)`: the backward rule needs
# to know the axis.

# %% nbgrader={"grade": false, "grade_id": "softmax", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
class Softmax:
    """Softmax along `dim`: non-negative outputs that sum to 1 along that axis."""

    def __init__(self, dim: int = -1):
        self.dim = dim

    def __call__(self, x: Tensor) -> Tensor:
        return self.forward(x)

    def forward(self, x: Tensor) -> Tensor:
        """Return the softmax of `x` along `self.dim` (max-shifted), as
        `Tensor._op("softmax", result, x, axis=self.dim)`."""
        if not -x.ndim <= self.dim < x.ndim:
            raise ValueError(f"Softmax(dim={self.dim}) is out of range for a tensor of shape {x.shape}")
        # Hint: the three steps above, with NumPy on `x.data`; reduce along `self.dim` with
        # `keepdims=True` both times so the results broadcast back over the row.
        ### BEGIN SOLUTION
        shifted = x.data - x.data.max(axis=self.dim, keepdims=True)
        e = np.exp(shifted)
        data = e / e.sum(axis=self.dim, keepdims=True)
        return Tensor._op("softmax", data, x, axis=self.dim)
        ### END SOLUTION

    def __repr__(self) -> str:
        return f"Softmax(dim={self.dim})"


# %% [markdown]
# ### Unit test: Softmax
# Values against a direct NumPy computation, rows summing to 1 along the chosen `dim`, and the
# max trick at work on logits of `±10,000`.

# %% nbgrader={"grade": true, "grade_id": "test-softmax", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false}
def test_unit_softmax():
    import warnings

    a = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, -1.0]])
    p = Softmax()(Tensor(a))
    assert isinstance(p, Tensor) and p.shape == (2, 3), "Softmax returns a Tensor of the same shape"
    want = np.exp(a) / np.exp(a).sum(axis=1, keepdims=True)
    assert np.allclose(p.data, want, atol=1e-6), f"softmax gave {p.data}, expected {want}"
    q = Softmax(dim=0)(Tensor(a))
    assert np.allclose(q.data, np.exp(a) / np.exp(a).sum(axis=0, keepdims=True), atol=1e-6), \
        "Softmax(dim=0) normalizes each column"
    assert np.allclose(q.data.sum(axis=0), 1, atol=1e-6), "columns of Softmax(dim=0) sum to 1"
    cube = np.arange(24, dtype=np.float32).reshape(2, 3, 4) / 5
    r = Softmax(dim=1)(Tensor(cube)).data
    assert np.allclose(r.sum(axis=1), 1, atol=1e-6) and not np.allclose(r.sum(axis=2), 1), \
        "Softmax(dim=1) on a 3-D tensor must normalize along axis 1"
    with warnings.catch_warnings(), np.errstate(over="raise", divide="raise", invalid="raise"):
        warnings.simplefilter("error")
        s = Softmax()(Tensor([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4]])).data
    assert np.allclose(s, [[1, 0, 0], [1 / 3, 1 / 3, 1 / 3]], atol=1e-6), \
        f"stable softmax gave {s}: subtract each row's own maximum"
    print("Softmax: OK")


if __name__ == "__main__":
    test_unit_softmax()

# %% [markdown]
# ### Unit test: every activation goes through `Tensor._op`
# Module 05 attaches the derivative of each activation to its op name, and the softmax rule
# reads the axis from the context. We register throw-away rules, check the recorded graph, then
# remove them.

# %% nbgrader={"grade": true, "grade_id": "test-activations-op-path", "locked": true, "points": 5, "schema_version": 3, "solution": false, "task": false}
def test_unit_op_path():
    from tinytorch.tensor import BACKWARD_RULES

    saved = dict(BACKWARD_RULES)
    try:
        for name in ["relu", "sigmoid", "tanh", "gelu", "softmax"]:
            BACKWARD_RULES[name] = lambda grad, out, *inputs, **ctx: None
        x = Tensor([[0.5, -1.0], [2.0, 0.0]], requires_grad=True)
        for act, name in [(ReLU(), "relu"), (Sigmoid(), "sigmoid"), (Tanh(), "tanh"),
                          (GELU(), "gelu"), (Softmax(dim=0), "softmax")]:
            out = act(x)
            assert out._op_name == name, f"{act!r} recorded op {out._op_name!r}, expected {name!r}"
            assert len(out._inputs) == 1 and out._inputs[0] is x, f"{act!r} must record exactly its input x"
            assert out.requires_grad, f"{act!r}: the output of a tracked input requires grad"
        assert Softmax(dim=0)(x)._ctx == {"axis": 0}, "softmax must record ctx axis=dim"
        assert Softmax()(x)._ctx == {"axis": -1}, "Softmax() defaults to dim=-1"
        assert ReLU()(x)._ctx == {}, "element-wise activations record no ctx"
    finally:
        BACKWARD_RULES.clear()
        BACKWARD_RULES.update(saved)
    print("op path: OK")


if __name__ == "__main__":
    test_unit_op_path()

# %% [markdown]
# ## Module test
# A two-layer network's forward pass on a batch, using only module 01 and your activations:
# hidden = GELU(x @ W1), probabilities = Softmax(hidden @ W2). Each row is a distribution over
# 3 classes.

# %% nbgrader={"grade": true, "grade_id": "test-module", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false}
def test_module():
    rng = np.random.default_rng(2)
    x, w1, w2 = rng.normal(size=(16, 4)), rng.normal(size=(4, 8)), rng.normal(size=(8, 3))
    h = x @ w1
    for act, ref in [(ReLU(), np.maximum(h, 0)), (Sigmoid(), 1 / (1 + np.exp(-h))), (Tanh(), np.tanh(h)),
                     (GELU(), 0.5 * h * (1 + np.tanh(np.sqrt(2 / np.pi) * (h + 0.044715 * h ** 3))))]:
        hidden = act(Tensor(x) @ Tensor(w1))
        assert np.allclose(hidden.data, ref, atol=1e-4), f"{act!r} inside a network gave wrong values"
        logits_t = hidden @ Tensor(w2)
        probs = Softmax()(logits_t)
        logits = logits_t.data.astype(np.float64)
        want = np.exp(logits - logits.max(axis=1, keepdims=True))
        want /= want.sum(axis=1, keepdims=True)
        assert probs.shape == (16, 3) and np.allclose(probs.data, want, atol=1e-5)
        assert np.allclose(probs.data.sum(axis=1), 1, atol=1e-5), "each row is a distribution"
    print("module 02: all tests passed")


if __name__ == "__main__":
    test_module()

# %% [markdown]
# ## Reflection
# - A network with 10 layers of width 4096 and a batch of 64 keeps 10 activation outputs of
#   `64 × 4096` floats for the backward pass. How many megabytes is that in `float32`? How does
#   it grow with batch size?
# - `sigmoid'(x) = s·(1 - s)` is at most `0.25`. What happens to a gradient that passes back
#   through 20 sigmoid layers? Why does ReLU avoid this?
# - Softmax is invariant to adding a constant to a row. Is it invariant to *multiplying* the row
#   by a constant? What does multiplying logits by 10 do to the distribution (think
#   "temperature")?
