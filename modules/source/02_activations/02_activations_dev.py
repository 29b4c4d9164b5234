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
# - Implement `ReLU`, `Sigmoid`, `GELU` and `Softmax` as callable objects on Tensors, and see
#   why the given `Tanh` is one trusted NumPy call.
# - Explain why `1 / (1 + exp(-x))` overflows for `x = -1000`, and **design** a sigmoid that
#   cannot overflow and stays accurate in its tails; explain why softmax subtracts the row
#   maximum first.
# - Know what each activation costs: FLOPs per element, and the memory of the output that
#   the backward pass (module 05) will keep.
# - Route every activation through `Tensor._op` with the op names and context of the
#   contract in `docs/MODULE_FORMAT.md`, so that module 05 can differentiate them.
#
# ## How to work
# In your copy of this file, each `forward` you write is a stub that raises
# `NotImplementedError`; replace the stub with your code (Tanh's, in section 4, is given: read
# it). Sections 2 to 6 explain one activation each (the docstring says which); run the test cell right after each one. Stuck? `tito hint 02`
# lists the stubs, and `tito hint 02 Sigmoid.forward` (for example) shows hints one level at a
# time: the idea, then the math, then the shape of the code. When every test passes, run
# `tito module complete 02`: it checks this file, exports the `#| export` cells to
# `tinytorch/activations.py`, and runs the full test suite.

# %% nbgrader={"grade": false, "grade_id": "activations-setup", "locked": false, "schema_version": 3, "solution": false, "task": false}
#| default_exp activations
#| export
import numpy as np

from tinytorch.tensor import Tensor

# %% nbgrader={"grade": false, "grade_id": "activations-test-helpers", "locked": false, "schema_version": 3, "solution": false, "task": false}
# Test helpers (not exported), here for your own experiments: `close` compares numbers and shows
# the worst element, `recording_ops` registers throw-away backward rules so that you can see the
# graph your activations record. Each graded test imports the ones it uses itself.
from tinytorch.testing import close, recording_ops  # noqa: F401 - for your experiments

# %% [markdown]
# ## 1. The shape of an activation
#
# Every activation here is a small class: you create it once (`act = ReLU()`), then call it on
# a tensor (`y = act(x)`). Calling runs `forward`. The output has the same shape as the input;
# `Softmax` additionally needs to know which axis holds the classes (`dim`).
#
# Each `forward` does two things:
# 1. compute the result with NumPy on `x.data` (a `float32` array, or `float64` when module 05
#    checks gradients; do not force a dtype: write code that keeps the input's), without a
#    Python loop over elements, and without writing into `x.data`: the input stays unchanged;
# 2. return `Tensor._op(name, result, x, **ctx)`, where `name` is the op name module 05 will
#    attach a derivative to: `"relu"`, `"sigmoid"`, `"tanh"`, `"gelu"`, `"softmax"`. The
#    element-wise ones record no settings; softmax records its axis (section 6).
#
# The tests below also hold every activation to **no warnings** (no overflow, no division by
# zero, no invalid value): not for inputs of `±10,000`, and for ReLU, Sigmoid and Tanh not even
# for the largest `float32`, `±3.4·10³⁸`. A warning in every training step hides the one that
# matters.
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
# | Softmax | `e^{x_i - m} / Σ_j e^{x_j - m}` | 1 exp + ~4 (four passes over the row) | `(0, 1)`, sums to 1 |

# %% [markdown]
# ## 2. ReLU
#
# `ReLU(x) = max(0, x)`: pass positives through, zero out negatives. It is the default
# activation of deep networks since AlexNet (2012): one comparison per element, and for
# positive inputs its slope is exactly 1, so gradients pass through many layers without
# shrinking (the sigmoid's slope is at most 0.25, which is why deep sigmoid networks trained
# so slowly). The contract: any shape, the input's dtype, `0` where `x ≤ 0` and `x` itself
# where `x > 0`, with no Python loop or branch per element (NumPy works on the whole array at
# once).

# %% nbgrader={"grade": false, "grade_id": "relu", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
class ReLU:
    """Rectified linear unit: `max(0, x)`, element-wise."""

    def __call__(self, x: Tensor) -> Tensor:
        return self.forward(x)

    def forward(self, x: Tensor) -> Tensor:
        """Return `max(0, x)` as `Tensor._op("relu", result, x)` (section 2)."""
        ### BEGIN SOLUTION
        return Tensor._op("relu", np.maximum(x.data, 0), x)
        ### END SOLUTION

    def __repr__(self) -> str:
        return "ReLU()"


# %% [markdown]
# ### Unit test: ReLU

# %% nbgrader={"grade": true, "grade_id": "test-relu", "locked": true, "points": 5, "schema_version": 3, "solution": false, "task": false}
def test_unit_relu():
    from tinytorch.testing import close
    a = np.array([[-3.0, -0.5, 0.0], [0.5, 2.0, 7.0]], dtype=np.float32)
    x = Tensor(a.copy())
    y = ReLU()(x)
    assert isinstance(y, Tensor), f"ReLU must return a Tensor, got {type(y).__name__}"
    close(y, [[0.0, 0.0, 0.0], [0.5, 2.0, 7.0]], atol=0, rtol=0, what="ReLU of a (2, 3) tensor")
    assert y.dtype == np.float32, f"ReLU output must stay float32, got {y.dtype}"
    close(x, a, atol=0, rtol=0, what="ReLU's input afterwards (it must not change)")
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
# **Your design: a sigmoid that cannot overflow.** The formula is the math, not the code. How you
# compute it is up to you; the tests judge what comes out, and every formulation that meets this
# passes:
#
# | property | why |
# |---|---|
# | no warning of any kind (overflow, division by zero, invalid value) for any `float32` input, up to `±3.4·10³⁸` | a warning in every step hides the one that matters |
# | `sigmoid(0) = 0.5` exactly, `sigmoid(±10,000)` exactly `0` and `1`, every output in `[0, 1]` | the correctly rounded answers |
# | relative accuracy in the tails: `sigmoid(-20)` is `2.06·10⁻⁹`, not `0` | a loss takes `log(sigmoid(x))`: `log 0 = -inf` |
# | matches the textbook formula on moderate inputs; `sigmoid(-x) = 1 - sigmoid(x)` | it is still the sigmoid |
# | keeps the input's dtype (float64 inside module 05's gradcheck, to 12 digits) | no silent rounding through float32 |
#
# Some facts to reason with: `e^t` overflows only for large positive `t`; an exponential of a
# number `≤ 0` lies in `(0, 1]`; the same value can be written in more than one way, and no
# rule says one formula must serve every element; and `1 - (something very close to 1)`
# has no correct digits left. Underflow is fine: for `x = -10,000`, rounding `e^{-10,000}` to
# `0` is the correctly rounded answer, not an error. Count the exponentials your formulation
# computes per element: that is its cost.

# %% nbgrader={"grade": false, "grade_id": "sigmoid", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
class Sigmoid:
    """Logistic sigmoid `1 / (1 + e^{-x})`, element-wise, computed without overflow."""

    def __call__(self, x: Tensor) -> Tensor:
        return self.forward(x)

    def forward(self, x: Tensor) -> Tensor:
        """Return sigmoid(x), computed so that no input overflows (your design), as
        `Tensor._op("sigmoid", result, x)` (section 3)."""
        ### BEGIN SOLUTION
        z = np.exp(-np.abs(x.data))  # in (0, 1]: never overflows
        data = np.where(x.data < 0, z / (1 + z), 1 / (1 + z))
        return Tensor._op("sigmoid", data, x)
        ### END SOLUTION

    def __repr__(self) -> str:
        return "Sigmoid()"


# %% [markdown]
# ### Unit test: Sigmoid
# Your design is judged by behaviour, in this order: the output's type and dtype, `sigmoid(0)`,
# no warning on any extreme input (each tried alone, so the message names it), exact saturation,
# relative accuracy in the tails, then the values and the symmetry on moderate inputs. The
# references are the textbook formula in `float64` and plain Python, where moderate inputs are
# safe.

# %% nbgrader={"grade": true, "grade_id": "test-sigmoid", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false}
def test_unit_sigmoid():
    from tinytorch.testing import close
    import math
    import warnings

    given = np.array([[0.0, 1.0], [-1.0, 2.0]], dtype=np.float32)
    x = Tensor(given.copy())
    y = Sigmoid()(x)
    assert isinstance(y, Tensor), f"Sigmoid must return a Tensor, got {type(y).__name__}"
    close(x, given, atol=0, rtol=0, what="Sigmoid's input afterwards (it must not change: write no result into x.data)")
    assert y.shape == (2, 2) and y.dtype == np.float32, f"Sigmoid of a (2, 2) float32 tensor gave {y.shape} {y.dtype}"
    assert y.data[0, 0] == 0.5, f"sigmoid(0) must be exactly 0.5, got {y.data[0, 0]:.9g}"
    big = float(np.finfo(np.float32).max)
    for v in [-big, -1e4, -1000.0, -100.0, -89.0, 89.0, 100.0, 1000.0, 1e4, big]:
        with warnings.catch_warnings(), np.errstate(over="raise", divide="raise", invalid="raise"):
            warnings.simplefilter("error")
            try:
                out = Sigmoid()(Tensor([v])).data
            except (FloatingPointError, RuntimeWarning) as exc:
                raise AssertionError(f"sigmoid({v:g}) raised {type(exc).__name__}: {exc}. Some step of your "
                                     f"formulation overflows (or divides by zero, or makes inf - inf) at x = {v:g}: "
                                     "which exponential or product grows without bound there?") from None
        assert 0.0 <= out[0] <= 1.0, f"sigmoid({v:g}) must lie in [0, 1], got {out[0]:.6g}"
    ends = Sigmoid()(Tensor([-1e4, 1e4])).data
    assert ends[0] == 0.0 and ends[1] == 1.0, f"sigmoid(-1e4), sigmoid(1e4) must be exactly 0 and 1, got {ends[0]:.6g}, {ends[1]:.9g}"
    tails = np.array([-20.0, -40.0, -80.0])
    want = np.array([1 / (1 + math.exp(-v)) for v in tails])
    got = Sigmoid()(Tensor(tails)).data
    error = np.abs(got - want) / want
    worst = int(np.argmax(error))
    assert error[worst] <= 1e-5, \
        f"sigmoid({tails[worst]:g}) must be {want[worst]:.6g} (relative error at most 1e-5), got {got[worst]:.6g}. " \
        "In the tail the answer is tiny but not 0, and a loss takes its log: a formulation that computes " \
        "1 - (something close to 1) loses every digit there"
    a = np.array([-6.0, -1.0, -0.25, 0.0, 0.25, 1.0, 6.0])
    y = Sigmoid()(Tensor(a))
    close(y, 1 / (1 + np.exp(-a)), atol=1e-6, what="sigmoid of moderate inputs")
    close(Sigmoid()(Tensor(-a)), 1 - y.data, atol=1e-6, what="sigmoid(-x), which must equal 1 - sigmoid(x)")
    from tinytorch.tensor import Config
    Config.dtype = np.float64  # as inside module 05's gradcheck
    try:
        precise = Sigmoid()(Tensor([0.3, -2.0]))
    finally:
        Config.dtype = np.float32
    want64 = 1 / (1 + np.exp(-np.array([0.3, -2.0])))
    error64 = float(np.abs(precise.data - want64).max())
    assert error64 < 1e-12, f"in float64 mode (Config.dtype float64, as in gradcheck) sigmoid(0.3), sigmoid(-2) " \
        f"must be right to 12 digits; the error is {error64:.2g}: does a step round through float32?"
    print("Sigmoid: OK")


if __name__ == "__main__":
    test_unit_sigmoid()

# %% [markdown]
# ## 4. Tanh
#
# `tanh(x) = (e^x - e^{-x}) / (e^x + e^{-x}) = 2·sigmoid(2x) - 1`: a sigmoid stretched to
# `(-1, 1)` and centred on zero, which keeps the inputs of the next layer centred too. It is
# the activation of classic RNNs and LSTMs. Written with exponentials it overflows just like the
# naive sigmoid. The contract is the same as section 3's: no warning for any `float32` input,
# exactly `±1` for `±10,000`, `tanh(-x) = -tanh(x)`, and relative accuracy near zero as well
# (`tanh(10⁻³)` is `9.9999967·10⁻⁴`: a formula that subtracts two numbers close to 1 keeps only
# a few of those digits).
#
# This one is **given**, and the lesson is why: part of the engineer's job is knowing when not to
# write your own. NumPy's `np.tanh` already meets the whole contract: it is computed from
# `e^{-2|x|}` internally (the same idea as your sigmoid, so it cannot overflow) and with a
# separate formula near zero (so it keeps its digits there). Read the class below, then compare
# it with the two formulas above: which of them would fail which line of the contract? The test
# after it checks the contract all the same, as it would check a version of your own.

# %% nbgrader={"grade": false, "grade_id": "tanh", "locked": false, "schema_version": 3, "solution": false, "task": false}
#| export
class Tanh:
    """Hyperbolic tangent, element-wise, output in (-1, 1)."""

    def __call__(self, x: Tensor) -> Tensor:
        return self.forward(x)

    def forward(self, x: Tensor) -> Tensor:
        """Return tanh(x) as `Tensor._op("tanh", result, x)` (section 4; given)."""
        return Tensor._op("tanh", np.tanh(x.data), x)

    def __repr__(self) -> str:
        return "Tanh()"


# %% [markdown]
# ### Check: the given Tanh
# The given Tanh held to section 4's contract. It is a check, not a test: the code is given, so
# it passes before you write anything and scores nothing (`tests/02_activations` holds it too).

# %% nbgrader={"grade": false, "grade_id": "test-tanh", "locked": true, "schema_version": 3, "solution": false, "task": false}
def check_given_tanh():
    from tinytorch.testing import close
    import math
    import warnings

    a = np.array([[-1e4, -2.0, -0.5], [0.0, 0.5, 1e4]])
    x = Tensor(a)
    y = Tanh()(x)
    assert isinstance(y, Tensor), f"Tanh must return a Tensor, got {type(y).__name__}"
    close(x, a, atol=0, rtol=0, what="Tanh's input afterwards (it must not change: write no result into x.data)")
    assert y.data[0, 0] == -1.0 and y.data[1, 2] == 1.0, \
        f"tanh(-1e4) and tanh(1e4) must be exactly -1 and 1, got {y.data[0, 0]:.9g} and {y.data[1, 2]:.9g}"
    big = float(np.finfo(np.float32).max)
    with warnings.catch_warnings(), np.errstate(over="raise", divide="raise", invalid="raise"):
        warnings.simplefilter("error")
        try:
            Tanh()(Tensor([-big, -1000.0, 1000.0, big]))
        except (FloatingPointError, RuntimeWarning) as exc:
            raise AssertionError(f"tanh of ±1000 or ±3.4e38 raised {type(exc).__name__}: {exc}: some step "
                                 "of your formula overflows there") from None
    small = np.array([1e-3, -2e-4, 3e-6])
    got = Tanh()(Tensor(small)).data
    want = np.array([math.tanh(v) for v in small])
    error = np.abs(got - want) / np.abs(want)
    worst = int(np.argmax(error))
    assert error[worst] <= 1e-5, f"tanh({small[worst]:g}) must be {want[worst]:.8g} (relative error at most " \
        f"1e-5), got {got[worst]:.8g}: near 0 a formula that subtracts numbers close to 1 loses its digits"
    close(y, [[math.tanh(v) for v in row] for row in a], atol=1e-6, what="tanh of a (2, 3) tensor")
    print("Tanh: OK")


if __name__ == "__main__":
    check_given_tanh()

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
#
# Dtype: keep every constant a plain Python number. A NumPy scalar such as `np.sqrt(2 / np.pi)`
# is a `float64`, and NumPy 2 silently upcasts `float32` arithmetic with it to `float64`: every
# intermediate array twice the bytes, rounded back only when `Tensor` stores the result.

# %% nbgrader={"grade": false, "grade_id": "gelu", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
class GELU:
    """Gaussian Error Linear Unit, tanh approximation (as in GPT-2 and BERT)."""

    def __call__(self, x: Tensor) -> Tensor:
        return self.forward(x)

    def forward(self, x: Tensor) -> Tensor:
        """Return 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) as `Tensor._op("gelu", result, x)`
        (section 5)."""
        ### BEGIN SOLUTION
        a = x.data
        inner = (2 / np.pi) ** 0.5 * (a + 0.044715 * a * a * a)
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
    from tinytorch.testing import close
    import math

    a = np.linspace(-5, 5, 41)
    x = Tensor(a)
    y = GELU()(x)
    assert isinstance(y, Tensor), f"GELU must return a Tensor, got {type(y).__name__}"
    assert y.dtype == np.float32, f"GELU of a float32 tensor must stay float32, got {y.dtype}"
    close(x, a, atol=0, rtol=0, what="GELU's input afterwards (it must not change: write no result into x.data)")
    one = GELU()(Tensor(1.0)).item()
    assert abs(one - 0.841192) < 1e-5, f"GELU(1) should be 0.841192 (tanh approximation), got {one:.7g}"
    minus_half = GELU()(Tensor(-0.5)).item()
    assert abs(minus_half - -0.154286) < 1e-5, \
        f"GELU(-0.5) should be -0.154286, got {minus_half:.7g} (GELU(1) is right: check the odd powers of x)"
    exact = np.array([v * 0.5 * (1 + math.erf(v / math.sqrt(2))) for v in a])
    close(y, exact, atol=1e-3, rtol=0, what="GELU against the exact x·Φ(x), within 1e-3")
    close(y.data - GELU()(Tensor(-a)).data, a, atol=1e-5, what="GELU(x) - GELU(-x), which must equal x")
    close(GELU()(Tensor([-1e4, 1e4])), [0.0, 1e4], atol=0, rtol=0, what="GELU(±1e4)")
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
# Choose `m = max_j x_j`, each row's own maximum. Then every exponent is `≤ 0` (no overflow)
# and the largest is exactly `e^0 = 1`, so the denominator is at least 1 (no division by zero).
# Worked on one row, `x = [1000, 999, 0]`: `m = 1000`, the shifted row is `[0, -1, -1000]`, its
# exponentials `[1, 0.368, 0]` (the last underflows, harmlessly), their sum `1.368`, and the
# softmax `[0.731, 0.269, 0]`.
#
# "Row" means "along `dim`": for logits of shape `(N, C)` and `dim=-1`, the maximum and the sum
# are taken over the `C` classes of each of the `N` rows, and each must broadcast back against
# the `(N, C)` array (section 6 of module 01 shows how reductions keep their axis for that).
#
# Cost for `(N, C)` logits: four passes over the data (a maximum, the shifted exponentials, a
# sum, a division), about `4·N·C` FLOPs plus `N·C` exponentials, and one `(N, C)` temporary. Record
# the axis as the setting `axis=self.dim`: the backward rule needs it. A `dim` outside the
# tensor's dimensions is refused for you (given) with a `ValueError` naming the shape.

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
        `Tensor._op("softmax", result, x, axis=self.dim)` (section 6)."""
        if not -x.ndim <= self.dim < x.ndim:
            raise ValueError(f"Softmax(dim={self.dim}) is out of range for a tensor of shape {x.shape}")
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
    from tinytorch.testing import close
    import warnings

    a = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, -1.0]])
    x = Tensor(a)
    try:
        p = Softmax()(x)
    except ValueError as exc:
        raise AssertionError(f"Softmax() of a (2, 3) tensor raised ValueError: {exc}. Each row's maximum and "
                             "sum must broadcast back against the (2, 3) rows: keep the reduced axis, (2, 1)") from None
    assert isinstance(p, Tensor), f"Softmax must return a Tensor, got {type(p).__name__}"
    close(x, a, atol=0, rtol=0, what="Softmax's input afterwards (it must not change: shift and exponentiate "
          "into new arrays, not into x.data)")
    close(p, np.exp(a) / np.exp(a).sum(axis=1, keepdims=True), atol=1e-6, what="Softmax() of (2, 3) rows")
    q = Softmax(dim=0)(Tensor(a))
    close(q, np.exp(a) / np.exp(a).sum(axis=0, keepdims=True), atol=1e-6,
          what="Softmax(dim=0), which normalizes each column")
    cube = np.arange(24, dtype=np.float32).reshape(2, 3, 4) / 5
    r = Softmax(dim=1)(Tensor(cube)).data
    close(r.sum(axis=1), np.ones((2, 4)), atol=1e-6, what="sums along axis 1 of Softmax(dim=1) on (2, 3, 4)")
    with warnings.catch_warnings(), np.errstate(over="raise", divide="raise", invalid="raise"):
        warnings.simplefilter("error")
        try:
            row = Softmax()(Tensor([1000.0, 999.0, 0.0]))
        except (FloatingPointError, RuntimeWarning) as exc:
            raise AssertionError(f"softmax([1000, 999, 0]) raised {type(exc).__name__}: {exc}. e^1000 overflows: "
                                 "the max trick of section 6 keeps every exponent at or below 0") from None
        try:
            s = Softmax()(Tensor([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4]])).data
        except (FloatingPointError, RuntimeWarning) as exc:
            raise AssertionError(f"softmax of [[1e4, -1e4, 0], [-1e4, -1e4, -1e4]] raised {type(exc).__name__}: "
                                 f"{exc}. Shifted by anything but its own maximum (-1e4), the second row's "
                                 "exponentials all underflow to 0, and 0 / 0 is nan: each row needs its own shift") from None
    close(row, [0.731059, 0.268941, 0.0], atol=1e-6, what="softmax([1000, 999, 0]) (the worked example)")
    close(s, [[1, 0, 0], [1 / 3, 1 / 3, 1 / 3]], atol=1e-6,
          what="softmax of ±1e4 logits (subtract each row's own maximum)")
    print("Softmax: OK")


if __name__ == "__main__":
    test_unit_softmax()

# %% [markdown]
# ### Unit test: no Python loop over the elements
# The contract asks for whole-array NumPy operations. This test counts the Python steps (lines
# run and function calls made) while each activation handles 20,000 elements: NumPy's own work
# is invisible to it, so a vectorized forward takes a few dozen steps, while a `for` loop, a list
# comprehension, `np.vectorize` or `np.frompyfunc` of a Python function takes at least one step
# per element (the functions of `math` are counted too). It counts steps, not seconds, so a busy
# machine cannot fail it.

# %% nbgrader={"grade": true, "grade_id": "test-activations-no-loops", "locked": true, "points": 5, "schema_version": 3, "solution": false, "task": false}
def test_unit_no_python_loops():
    import math
    import sys

    n = 20_000
    a = np.linspace(-6.0, 6.0, n).reshape(100, 200)
    steps = [0]

    def count_lines(frame, event, arg):
        steps[0] += 1
        return count_lines

    def count_calls(frame, event, arg):
        if event in ("call", "c_call"):
            steps[0] += 1

    # math's functions run in C, so a loop calling them would be invisible: wrap them in Python
    names = ("exp", "expm1", "tanh", "erf", "log", "log1p", "sqrt")
    originals = {name: getattr(math, name) for name in names}
    for act in [ReLU(), Sigmoid(), Tanh(), GELU(), Softmax()]:
        x = Tensor(a)
        steps[0] = 0
        for name, function in originals.items():
            setattr(math, name, lambda *args, _f=function: _f(*args))
        old_trace, old_profile = sys.gettrace(), sys.getprofile()
        sys.settrace(count_lines)
        sys.setprofile(count_calls)
        try:
            act(x)
        finally:
            sys.settrace(old_trace)
            sys.setprofile(old_profile)
            for name, function in originals.items():
                setattr(math, name, function)
        assert steps[0] < n // 10, \
            f"{act!r} took {steps[0]:,} Python steps (lines and calls) for {n:,} elements: it loops over the " \
            "elements in Python (a for loop, a comprehension, np.vectorize or np.frompyfunc of a Python " \
            "function, map). The contract asks for NumPy operations on the whole array at once"
    print("no Python loops: OK")


if __name__ == "__main__":
    test_unit_no_python_loops()

# %% [markdown]
# ### Unit test: every activation goes through `Tensor._op`
# Module 05 attaches the derivative of each activation to its op name, and the softmax rule
# reads the axis from the context. `recording_ops` registers throw-away rules for these names,
# so that the outputs record their graph, and removes them again afterwards.

# %% nbgrader={"grade": true, "grade_id": "test-activations-op-path", "locked": true, "points": 5, "schema_version": 3, "solution": false, "task": false}
def test_unit_op_path():
    from tinytorch.testing import recording_ops
    with recording_ops("relu", "sigmoid", "tanh", "gelu", "softmax"):
        for act, name in [(ReLU(), "relu"), (Sigmoid(), "sigmoid"), (Tanh(), "tanh"),
                          (GELU(), "gelu"), (Softmax(dim=0), "softmax")]:
            x = Tensor([[0.5, -1.0, 3.0], [2.0, 0.0, -4.0]], requires_grad=True)
            out = act(x)
            assert out._op_name == name, f"{act!r} recorded op {out._op_name!r}, expected {name!r}"
            assert len(out._inputs) == 1 and out._inputs[0] is x, \
                f"{act!r} must record exactly its input x, got {len(out._inputs)} input(s)"
            assert out.requires_grad, f"{act!r}: the output of a tracked input requires grad"
            if name != "softmax":
                assert out._ctx == {}, f"{act!r}: element-wise activations record no ctx, got {out._ctx}"
        x = Tensor([[0.5, -1.0, 3.0], [2.0, 0.0, -4.0]], requires_grad=True)
        ctx = Softmax(dim=0)(x)._ctx
        assert ctx == {"axis": 0}, f"Softmax(dim=0) must record ctx axis=0, got {ctx}"
        ctx = Softmax()(x)._ctx
        assert ctx == {"axis": -1}, f"Softmax() defaults to dim=-1 and records axis=-1, got {ctx}"
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
    from tinytorch.testing import close
    import math
    rng = np.random.default_rng(2)
    x, w1, w2 = rng.normal(size=(16, 4)), rng.normal(size=(4, 8)), rng.normal(size=(8, 3))
    h = x @ w1
    # references computed one element at a time in plain Python (your activations must not loop)
    relu_ref, tanh_ref = np.vectorize(lambda v: v if v > 0 else 0.0), np.vectorize(math.tanh)
    for act, ref in [(ReLU(), relu_ref(h)), (Sigmoid(), 1 / (1 + np.exp(-h))), (Tanh(), tanh_ref(h)),
                     (GELU(), 0.5 * h * (1 + np.tanh(np.sqrt(2 / np.pi) * (h + 0.044715 * h ** 3))))]:
        hidden = act(Tensor(x) @ Tensor(w1))
        close(hidden, ref, atol=1e-4, what=f"{act!r} of the (16, 8) hidden layer")
        logits_t = hidden @ Tensor(w2)
        probs = Softmax()(logits_t)
        logits = logits_t.data.astype(np.float64)
        want = np.exp(logits - logits.max(axis=1, keepdims=True))
        want /= want.sum(axis=1, keepdims=True)
        close(probs, want, atol=1e-5, what=f"Softmax of the (16, 3) logits after {act!r}")
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
