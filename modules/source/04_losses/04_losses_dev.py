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
# # Module 04: Losses
#
# Training needs one number that says how wrong the model is: the **loss**. Module 05 will
# differentiate that number with respect to every parameter, and module 06 will nudge the
# parameters downhill. In this module you build the three losses that cover most of deep
# learning: mean squared error for regression, cross-entropy for classification among `C`
# classes, and binary cross-entropy for yes/no questions. Losses are where numerical accidents
# happen (`log(0)`, `exp(1000)`), so stability is half the work.
#
# ## Learning objectives
# - Implement `MSELoss` as a composition of Tensor ops, and explain why a shape mismatch such as
#   `(N, 1)` against `(N,)` is a silent bug worth an explicit error.
# - Derive the **log-sum-exp** trick and use it in `log_softmax` and `CrossEntropyLoss`, so that
#   logits of `±10,000` give exact, finite losses.
# - Explain why softmax and cross-entropy are **fused** into one op: no `log` of an underflowed
#   probability, one graph node instead of a chain, and a gradient as simple as `probs - onehot`.
# - Implement `BinaryCrossEntropyLoss` with clamping, and count the FLOPs and memory of each
#   loss for a batch.
#
# ## How to work
# In your edition each piece you write is a stub that raises `NotImplementedError`; replace the
# `raise` with your code and run the test cell right after it. Stuck? `tito hint 04` lists the
# stubs, and `tito hint 04 CrossEntropyLoss.forward` shows the next hint for one of them (the idea,
# then the math, then the shape of the code; never the finished line). When every test passes,
# run `tito module complete 04`: it checks this file, exports the `#| export` cells to
# `tinytorch/losses.py`, and runs the full test suite.

# %% nbgrader={"grade": false, "grade_id": "losses-setup", "locked": false, "schema_version": 3, "solution": false, "task": false}
#| default_exp losses
#| export
import numpy as np

from tinytorch.tensor import Tensor

# %% [markdown]
# ## 1. What a loss returns
#
# A loss compares a batch of predictions with a batch of targets and returns a **scalar** Tensor
# (shape `()`): the mean over the batch of a per-example error. Why the mean and not the sum?
# With the mean, the size of the gradient does not depend on the batch size, so a learning rate
# tuned with batches of 32 still works with batches of 256.
#
# Like the activations, losses are callable objects: `loss_fn = MSELoss()`, then
# `loss = loss_fn(pred, target)`. Calling runs `forward`.
#
# | loss | use | input shapes | FLOPs per batch | kept for backward |
# |---|---|---|---|---|
# | `MSELoss` | regression | `pred`, `target`: same shape, `n` elements | `≈ 3n` | the difference, `n` floats |
# | `CrossEntropyLoss` | `C`-way classification | logits `(N, C)`, targets `(N,)` ints | `≈ 4NC` + `NC` exp | softmax probs, `N·C` floats |
# | `BinaryCrossEntropyLoss` | yes/no | `pred`, `target`: same shape, `n` elements | `≈ 7n` + `2n` log | nothing new (pred, target) |
#
# All three are tiny next to the network in front of them, with one exception worth
# remembering: a language model with a 50,257-token vocabulary and a batch of 8 sequences of
# 1,024 tokens has logits of shape `(8192, 50257)`, and the softmax probabilities kept for
# backward take `8192 · 50257 · 4` bytes ≈ **1.6 GB**. That single loss can be the largest
# tensor of the whole training step.

# %% [markdown]
# ## 2. Mean squared error
#
# `MSE(pred, target) = mean((pred - target)²)`. Squaring makes every error positive and punishes
# large errors more than small ones. Example: `pred = [[1, 2], [3, 4]]`, `target = [[1.5, 2], [1, 7]]`
# gives errors `-0.5, 0, 2, -3`, squares `0.25, 0, 4, 9`, and a loss of `13.25 / 4 = 3.3125`.
#
# Build it from module 01 ops (subtraction, a product or a power, `.mean()`), never on `.data`:
# then it needs no backward rule of its own, because module 05 already differentiates each of
# those ops, and the chain rule does the rest. Working on the raw arrays would give the right
# number but a loss with no graph behind it, and nothing would ever train. The result is a
# scalar Tensor (shape `()`).
#
# **The broadcasting trap.** A regression model usually outputs shape `(N, 1)`, while targets
# are often stored as `(N,)`. NumPy happily broadcasts `(N, 1) - (N,)` to `(N, N)`: every
# prediction compared with every target, a loss that is wrong but looks plausible, and a model
# that trains badly for no visible reason. So `MSELoss` insists on identical shapes (given).

# %% nbgrader={"grade": false, "grade_id": "mse", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
class MSELoss:
    """Mean squared error: `mean((pred - target)²)` over every element, as a scalar Tensor."""

    def __call__(self, pred: Tensor, target) -> Tensor:
        return self.forward(pred, target)

    def forward(self, pred: Tensor, target) -> Tensor:
        """`target` may be a Tensor or an array of the same shape as `pred`. Use Tensor ops only."""
        target = Tensor._lift(target)
        if pred.shape != target.shape:
            raise ValueError(
                f"MSELoss: pred has shape {pred.shape} but target has shape {target.shape}; they must "
                f"match exactly (broadcasting (N, 1) against (N,) would compare every pair)"
            )
        # Tensor ops only: autograd must see every step.
        ### BEGIN SOLUTION
        diff = pred - target
        return (diff * diff).mean()
        ### END SOLUTION

    def __repr__(self) -> str:
        return "MSELoss()"


# %% [markdown]
# ### Unit test: MSELoss

# %% nbgrader={"grade": true, "grade_id": "test-mse", "locked": true, "points": 5, "schema_version": 3, "solution": false, "task": false}
def test_unit_mse():
    from tinytorch.testing import close, raises

    pred = Tensor([[1.0, 2.0], [3.0, 4.0]])
    loss = MSELoss()(pred, np.array([[1.5, 2.0], [1.0, 7.0]]))
    assert isinstance(loss, Tensor) and loss.shape == (), f"a loss is a scalar Tensor, got {loss!r}"
    assert abs(loss.item() - 13.25) > 1e-6, "got 13.25, the sum of the squared errors: the loss is their mean"
    close(loss, 13.25 / 4, what="MSE of the worked example, (0.25 + 0 + 4 + 9) / 4")
    perfect = MSELoss()(Tensor([[0.5, -2.0, 3.0]]), Tensor([[0.5, -2.0, 3.0]])).item()
    assert perfect == 0.0, f"MSE of a perfect prediction is 0, got {perfect}"
    raises(ValueError, lambda: MSELoss()(Tensor(np.zeros((4, 1))), np.zeros(4)), "(4, 1)", "(4,)")
    print("MSELoss: OK")


if __name__ == "__main__":
    test_unit_mse()

# %% [markdown]
# ## 3. Log-softmax and the log-sum-exp trick
#
# A classifier outputs logits `z` (one score per class); softmax turns them into probabilities
# `p_i = e^{z_i} / Σ_j e^{z_j}` (module 02). Losses need the **log** of those probabilities:
#
# `log p_i = z_i - log Σ_j e^{z_j}`.
#
# The second term is the **log-sum-exp** of the row, `LSE(z)`. Computed literally it overflows:
# `LSE([1000, 0])` needs `e^{1000} = inf`. And computing `softmax` first and then `log` is no
# better: for `z = [1000, 0]`, `p_2 = e^{-1000}` underflows to `0` and `log 0 = -inf`, although
# the true answer, `-1000`, is a perfectly ordinary number.
#
# **The trick.** For any constant `m`, `Σ_j e^{z_j} = e^{m} · Σ_j e^{z_j - m}`, so
#
# `LSE(z) = m + log Σ_j e^{z_j - m}`.
#
# With `m = max_j z_j`, every exponent is `≤ 0` (no overflow) and one of them is `e^0 = 1`, so
# the sum is in `[1, C]` and its log is in `[0, log C]`: no `log 0`, ever. Put the two formulas
# together and `log p_i` needs no exponential of anything positive.
#
# **The contract.** `log_softmax` is built from Tensor ops of module 01, so module 05 can
# differentiate it with no new rule. The shift `m` is a **constant**: it may come from the raw
# array, wrapped in a fresh Tensor that carries no graph. That is allowed because
# `log_softmax(z - m) = log_softmax(z)` for every `m`, so no gradient needs to flow through it.
# Every row along `dim` is shifted by its *own* maximum. `dim` may be negative, like every NumPy
# axis; the output has the input's shape, and logits of `±10,000` give exact, finite values with
# no warning. Later modules use `log_softmax` when they need the
# whole row of log-probabilities (for example, to sample text or to compare two distributions).
#
# Worked example, one row `z = [1, 2, 3]`: `m = 3`, `z - m = [-2, -1, 0]`, the exponentials
# `[0.135, 0.368, 1]` sum to `1.503`, whose log is `0.408`; so `log_softmax(z) = [-2.408,
# -1.408, -0.408]`, and `exp` of that sums to 1.
#
# Cost for `(N, C)`: one `max`, one subtraction, `N·C` exponentials, a sum, `N` logs and a
# subtraction: about `4·N·C` FLOPs plus the exponentials.

# %% nbgrader={"grade": false, "grade_id": "log-softmax", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
def log_softmax(x: Tensor, dim: int = -1) -> Tensor:
    """Log of the softmax of `x` along `dim`, stable for any finite logits.

    Built from module 01 ops with the row maximum as a constant shift, so it is differentiable
    once module 05 is in place.
    """
    if not -x.ndim <= dim < x.ndim:
        raise ValueError(f"log_softmax(dim={dim}) is out of range for a tensor of shape {x.shape}")
    # Shift by a constant, then subtract the log of the summed exponentials.
    ### BEGIN SOLUTION
    shift = Tensor(x.data.max(axis=dim, keepdims=True))  # a constant: no gradient through it
    shifted = x - shift
    return shifted - shifted.exp().sum(axis=dim, keepdims=True).log()
    ### END SOLUTION


# %% [markdown]
# ### Unit test: log_softmax
# Values along rows and columns; then the graph, recomputed at other logits with the values you
# took from `.data` held fixed, must still be log_softmax (only the shift may be a constant); then
# logits of `±10,000`, with numerical warnings as errors.

# %% nbgrader={"grade": true, "grade_id": "test-log-softmax", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false}
def test_unit_log_softmax():
    import warnings

    from tinytorch.testing import close, ops_in_graph, recording_ops, replay_graph

    a = np.array([[1.0, 2.0, 3.0], [-1.0, 0.0, 4.0]])
    try:
        out = log_softmax(Tensor(a))
    except ValueError as error:
        raise AssertionError(f"log_softmax of a (2, 3) tensor raised ValueError: {error}. A row's sum over dim "
                             "has shape (2,), which does not broadcast against the (2, 3) rows; with the "
                             "reduced axis kept, (2, 1), it does") from None
    assert isinstance(out, Tensor), f"log_softmax returns a Tensor, got {type(out).__name__}"
    close(out, a - np.log(np.exp(a).sum(axis=1, keepdims=True)), atol=1e-5, what="log_softmax over rows")
    close(log_softmax(Tensor(a), dim=0), a - np.log(np.exp(a).sum(axis=0, keepdims=True)), atol=1e-5,
          what="log_softmax(dim=0): each column is one distribution")
    close(log_softmax(Tensor(a), dim=-2), a - np.log(np.exp(a).sum(axis=0, keepdims=True)), atol=1e-5,
          what="log_softmax(dim=-2) is dim=0 for a 2-D input")
    ops = {"add", "sub", "mul", "div", "neg", "exp", "log", "sqrt", "pow", "matmul", "sum", "mean", "max",
           "reshape", "transpose", "getitem"}
    with recording_ops(*ops):
        xs = Tensor(a, requires_grad=True)
        out = log_softmax(xs)
        assert ops_in_graph(out), "log_softmax must be built from Tensor ops: its result records no graph"
        moved = a + np.array([[0.5, -0.25, 0.0], [0.0, 0.75, -0.5]])
        again, want = replay_graph(out, xs, moved), moved - np.log(np.exp(moved).sum(axis=1, keepdims=True))
        if again is not None and np.shape(again) == want.shape and not np.allclose(again, want, atol=1e-5):
            worst = np.unravel_index(np.argmax(np.abs(again - want)), want.shape)
            raise AssertionError(
                f"log_softmax's graph, recomputed at other logits with the values you took from .data held fixed, "
                f"gives {again[worst]:.6g} at {tuple(map(int, worst))} where log_softmax is {want[worst]:.6g}: a "
                "value from .data carries part of how the output depends on x, and module 05's gradient would be "
                "wrong. Only the shift (each row's maximum) may be a constant")
    with warnings.catch_warnings(), np.errstate(over="raise", divide="raise", invalid="raise"):
        warnings.simplefilter("error")
        try:
            big = log_softmax(Tensor([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4]]))
        except (FloatingPointError, RuntimeWarning) as error:
            why = ("e^1e4 overflows: shift each row by its own maximum before exp" if "overflow" in str(error) else
                   "log 0: either one maximum for the whole tensor (the second row's exponentials all underflow "
                   "to 0) or the log of a softmax probability that underflowed to 0; subtract the log of the "
                   "summed exponentials of each row shifted by its own maximum")
            raise AssertionError(f"logits [[1e4, -1e4, 0], [-1e4, -1e4, -1e4]] raised {type(error).__name__} "
                                 f"({error}): {why}") from None
    close(big, [[0.0, -2e4, -1e4], [-np.log(3)] * 3], what="logits of ±1e4: shift each row by its own maximum")
    print("log_softmax: OK")


if __name__ == "__main__":
    test_unit_log_softmax()

# %% [markdown]
# ## 4. Cross-entropy, fused with softmax
#
# For one example with logits `z` (length `C`) and true class `y`, cross-entropy is the negative
# log-probability the model gives the right answer:
#
# `CE(z, y) = -log softmax(z)_y = LSE(z) - z_y = log Σ_j e^{z_j - m} - (z_y - m)`.
#
# Confident and right: `p_y ≈ 1`, loss `≈ 0`. Confident and wrong: `p_y ≈ 0`, loss large.
# A model that knows nothing (uniform `p`) scores `log C`: `2.30` for 10 classes. That is the
# number to expect at the start of training.
#
# **Why fuse softmax and cross-entropy into one op?** You could chain `Softmax`, `.log()` and an
# index. Three reasons not to:
# 1. *Stability*: `log(softmax(z))` takes the log of a number that may have underflowed to `0`.
#    The fused formula `LSE(z) - z_y` never forms that tiny number.
# 2. *The gradient is beautiful*: `∂CE/∂z_j = p_j - [j = y]`, that is, `probs - onehot(y)`,
#    divided by `N` for the mean. No division by `p_y`, nothing to blow up. Module 05's rule
#    for `"cross_entropy"` needs exactly two things: the probabilities and the targets. So the
#    forward pass computes `probs` once and hands them over in the ctx.
# 3. *Memory and speed*: one op with one `(N, C)` array kept for backward (`probs`), instead of
#    a chain of Tensor ops (`exp`, `sum`, `div`, `log`, indexing), each a graph node that keeps
#    its own `(N, C)` output alive until backward.
#
# **Shapes.** Logits `(N, C)` with targets `(N,)`, or in general `(..., C)` with targets
# `(...)`: a language model's logits `(B, T, V)` with targets `(B, T)`. The loss is the mean
# over every target position. Targets are class **indices** (`0 ≤ y < C`), as an integer NumPy
# array or a Tensor (whose float values must be whole numbers). A given helper,
# `_class_indices`, turns them into an `int64` array of shape `logits.shape[:-1]` or raises: a
# `ValueError` naming both shapes when they do not fit (or when a value is not a whole number),
# an `IndexError` naming the target and the number of classes when a class is outside `0 … C-1`.
#
# **What `forward` must deliver.** Unlike `log_softmax`, this op works on the raw NumPy array
# `logits.data`: it is *one* node of the graph, and its gradient comes from module 05's rule,
# not from a chain of Tensor ops. Your code must
# - compute `probs`, the softmax of every row, stably: shape `(..., C)`, the logits' dtype;
# - compute, for every target position, `LSE(z) - z_y` from the *same* shifted row and sum of
#   exponentials (section 3 explains why the shift makes both safe); nothing needs computing twice;
# - average those into one number: the loss comes out in the logits' dtype (`float32`, or
#   `float64` when module 05's gradcheck switches `Config.dtype`);
# - hand the result to `Tensor._op` under the op name `"cross_entropy"`, with `logits` as the only
#   input and exactly two ctx entries: `probs` (your softmax) and `targets` (the checked integer
#   array). That is the contract module 05's rule reads (docs/MODULE_FORMAT.md lists it).
#
# Never write into `logits.data`: the caller's logits must be unchanged afterwards.
#
# **Worked example.** Two rows, `C = 3`:
#
# | row | `z` | `y` | `z - m` | exponentials | sum | `probs` | `log(sum) - (z - m)_y` |
# |---|---|---|---|---|---|---|---|
# | 0 | `[2, 1, 0.1]` | 0 | `[0, -1, -1.9]` | `[1, 0.368, 0.150]` | 1.517 | `[0.659, 0.242, 0.099]` | `0.417 - 0 = 0.417` |
# | 1 | `[0.5, 2.5, -1]` | 1 | `[-2, 0, -3.5]` | `[0.135, 1, 0.030]` | 1.166 | `[0.116, 0.858, 0.026]` | `0.153 - 0 = 0.153` |
#
# The loss is `(0.417 + 0.153) / 2 = 0.285`. Check: `-log 0.659 = 0.417`, the same number.
#
# **Picking `z_y` for every position without a loop.** Each row needs the one entry its target
# names, for any number of leading axes. A Python loop over rows would work, but it costs one
# interpreter round trip per row: for a batch of 8,192 positions that is slower than the whole
# rest of the loss. NumPy can gather one entry per row in a single call; finding which one, and
# what shape of index it wants, is part of the exercise (`tito hint 04 CrossEntropyLoss.forward`
# names it).

# %% nbgrader={"grade": false, "grade_id": "cross-entropy", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
def _class_indices(targets, logits_shape: tuple[int, ...]) -> np.ndarray:
    """Targets as an int64 array of shape `logits_shape[:-1]`, or a clear error (given)."""
    raw = targets.data if isinstance(targets, Tensor) else np.asarray(targets)
    if raw.dtype.kind == "f":
        if not np.all(raw == np.floor(raw)):
            raise ValueError("CrossEntropyLoss targets must be class indices (whole numbers), "
                             f"got non-integer values such as {raw[raw != np.floor(raw)].flat[0]}")
    elif raw.dtype.kind not in "iu":
        raise TypeError(f"CrossEntropyLoss targets must be integer class indices, got dtype {raw.dtype}")
    indices = raw.astype(np.int64)
    if indices.shape != tuple(logits_shape[:-1]):
        raise ValueError(
            f"CrossEntropyLoss: logits of shape {tuple(logits_shape)} need targets of shape "
            f"{tuple(logits_shape[:-1])} (one class index per row), got targets of shape {indices.shape}"
        )
    if indices.size == 0:
        raise ValueError(f"CrossEntropyLoss: empty batch (logits of shape {tuple(logits_shape)})")
    classes = logits_shape[-1]
    bad = (indices < 0) | (indices >= classes)
    if bad.any():
        raise IndexError(f"CrossEntropyLoss: target {indices[bad].flat[0]} is out of range for "
                         f"{classes} classes (logits of shape {tuple(logits_shape)}): use 0..{classes - 1}")
    return indices


class CrossEntropyLoss:
    """Softmax + negative log-likelihood in one stable op, mean over all target positions.

    `logits`: Tensor of shape (..., C). `targets`: class indices of shape (...), an integer
    array or a Tensor.
    """

    def __call__(self, logits: Tensor, targets) -> Tensor:
        return self.forward(logits, targets)

    def forward(self, logits: Tensor, targets) -> Tensor:
        if logits.ndim == 0:
            raise ValueError("CrossEntropyLoss needs logits with a class axis, e.g. shape (N, C); got a scalar")
        targets = _class_indices(targets, logits.shape)
        # One shifted row serves both the probabilities and the loss (section 4).
        ### BEGIN SOLUTION
        z = logits.data
        shifted = z - z.max(axis=-1, keepdims=True)
        e = np.exp(shifted)
        total = e.sum(axis=-1, keepdims=True)
        probs = e / total
        picked = np.take_along_axis(shifted, targets[..., None], axis=-1)[..., 0]
        loss = np.mean(np.log(total[..., 0]) - picked)
        return Tensor._op("cross_entropy", loss, logits, probs=probs, targets=targets)
        ### END SOLUTION

    def __repr__(self) -> str:
        return "CrossEntropyLoss()"


# %% [markdown]
# ### Unit test: CrossEntropyLoss
# The loss must equal `-log softmax(z)_y`, averaged, for 2-D and 3-D logits; give `log C` for
# uniform logits; and stay exact for logits of `±10,000`.

# %% nbgrader={"grade": true, "grade_id": "test-cross-entropy", "locked": true, "points": 15, "schema_version": 3, "solution": false, "task": false}
def test_unit_cross_entropy():
    import warnings

    def reference(z, y):
        z = z.astype(np.float64)
        logp = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
        rows, classes = logp.reshape(-1, z.shape[-1]), y.reshape(-1)
        return -np.mean([row[k] for row, k in zip(rows, classes)])

    from tinytorch.testing import close

    pair = np.array([[2.0, 1.0, 0.1], [0.5, 2.5, -1.0]], dtype=np.float32)
    given = pair.copy()
    worked = CrossEntropyLoss()(Tensor(pair), np.array([0, 1]))
    assert isinstance(worked, Tensor) and worked.shape == (), f"a loss is a scalar Tensor, got {worked!r}"
    assert np.array_equal(pair, given), f"the caller's logits changed to {np.round(pair, 4).tolist()}: never write into logits.data"
    # invariants before the worked example: shift-invariance of each row, and a mean over rows
    moved = CrossEntropyLoss()(Tensor(pair + np.float32(50)), np.array([0, 1])).item()
    assert abs(moved - worked.item()) < 1e-4, \
        (f"adding 50 to every logit changed the loss from {worked.item():.6g} to {moved:.6g}: softmax ignores "
         "a common shift, so the log of the sum and the picked logit must come from the same shifted row")
    twice = CrossEntropyLoss()(Tensor(np.repeat(pair[:1], 2, axis=0)), np.array([0, 0])).item()
    once = CrossEntropyLoss()(Tensor(pair[:1]), np.array([0])).item()
    assert abs(twice - once) < 1e-6, f"two copies of a row give {twice:.6g}, one gives {once:.6g}: the loss is a mean over rows"
    alone = [CrossEntropyLoss()(Tensor(pair[i:i + 1]), np.array([k])).item() for i, k in enumerate([0, 1])]
    assert abs(worked.item() - np.mean(alone)) < 1e-5, \
        (f"the two rows give {alone[0]:.6g} and {alone[1]:.6g} alone (mean {np.mean(alone):.6g}) but "
         f"{worked.item():.6g} together: each row must pick the logit of its own target, one entry per row")
    close(worked, 0.2851041, atol=1e-5, what="the worked example of section 4")
    z = np.array([[2.0, 1.0, 0.1], [0.5, 2.5, -1.0], [0.0, 0.0, 3.0], [1.0, -1.0, 0.0]])
    y = np.array([0, 2, 2, 1])
    close(CrossEntropyLoss()(Tensor(z), y), reference(z, y), atol=1e-5, what="CE of 4 rows with 3 classes")
    rng = np.random.default_rng(4)
    z3, y3 = rng.normal(size=(2, 5, 7)), rng.integers(0, 7, size=(2, 5))
    try:
        got3 = CrossEntropyLoss()(Tensor(z3), y3)
    except (IndexError, ValueError) as error:
        raise AssertionError(f"logits (2, 5, 7) with targets (2, 5) raised {type(error).__name__}: {error}. "
                             "The loss takes any number of leading axes, (..., C) with targets (...)") from None
    close(got3, reference(z3, y3), atol=1e-5, what="logits (B, T, C) with targets (B, T): mean over all B·T positions")
    close(CrossEntropyLoss()(Tensor(np.zeros((3, 10))), [1, 2, 3]), np.log(10), what="uniform logits over 10 classes")
    with warnings.catch_warnings(), np.errstate(over="raise", divide="raise", invalid="raise"):
        warnings.simplefilter("error")
        try:
            right = CrossEntropyLoss()(Tensor([[1e4, -1e4]]), np.array([0])).item()
            wrong = CrossEntropyLoss()(Tensor([[1e4, -1e4]]), np.array([1])).item()
            rows = CrossEntropyLoss()(Tensor([[1e4, -1e4], [-1e4, -1e4]]), np.array([0, 1])).item()
        except (FloatingPointError, RuntimeWarning) as error:
            text = str(error)
            why = ("exponentiate the rows shifted by their own maximum, never the raw logits" if "overflow" in text
                   else "log 0: -log of a probability that underflowed (e^-20000 is 0 in float32); take "
                   "log(sum) - (z_y - m) from the shifted row instead" if "log" in text or "divide by zero" in text
                   else "0/0: every exponential of a row underflowed; shift each row by its own maximum, "
                   "not one maximum for the whole batch")
            raise AssertionError(f"logits of ±1e4 raised {type(error).__name__} ({error}): {why}") from None
    assert right == 0.0 and wrong == 2e4, f"CE at ±1e4 gave {right} (want 0) and {wrong} (want 20000)"
    close(rows, np.log(2) / 2, what="rows [1e4, -1e4] and [-1e4, -1e4]: each shifted by its own maximum")
    print("CrossEntropyLoss: OK")


if __name__ == "__main__":
    test_unit_cross_entropy()

# %% [markdown]
# ### Unit test: CrossEntropyLoss targets
# Integer arrays and Tensors of class indices give the same loss; targets of the wrong shape or
# out of range give an error that names the shapes.

# %% nbgrader={"grade": true, "grade_id": "test-cross-entropy-targets", "locked": true, "points": 5, "schema_version": 3, "solution": false, "task": false}
def test_unit_cross_entropy_targets():
    from tinytorch.testing import close, raises

    rows = [[0.2, 1.5, -0.3], [2.0, 0.0, 0.5]]
    want = -np.mean([-0.3 - np.log(np.exp(rows[0]).sum()), 2.0 - np.log(np.exp(rows[1]).sum())])
    for targets in [np.array([2, 0]), np.array([2, 0], dtype=np.int32), Tensor([2, 0]), [2, 0]]:
        close(CrossEntropyLoss()(Tensor(rows), targets), want, atol=1e-5,
              what=f"targets given as {type(targets).__name__}")
    raises(ValueError, lambda: CrossEntropyLoss()(Tensor(rows), np.array([[2], [0]])), "(2, 3)", "(2,)", "(2, 1)")
    raises(IndexError, lambda: CrossEntropyLoss()(Tensor(rows), np.array([0, 3])), "target 3", "3 classes")
    raises(IndexError, lambda: CrossEntropyLoss()(Tensor(rows), np.array([-1, 0])), "target -1")
    print("CrossEntropyLoss targets: OK")


if __name__ == "__main__":
    test_unit_cross_entropy_targets()

# %% [markdown]
# ## 5. Binary cross-entropy
#
# For a yes/no question the model outputs one probability `p = P(yes)` per example (usually a
# `Sigmoid` of a logit), and the target `t` is `1` (yes) or `0` (no), or anything in between for
# soft labels. It is cross-entropy with two classes: the model gives probability `p` to "yes"
# and `1 - p` to "no", and the loss of one example is the negative log-probability of the right
# answer. A soft target `t` is a mixture of the two answers, so the loss is the same mixture of
# the two negative logs, weighted `t` and `1 - t`. Averaged over all elements.
#
# **Clamping.** A confident model will output `p = 1.0` exactly in `float32` (any logit above
# about 17 does it). Then `log(1 - p) = log 0 = -inf`, and one such example makes the whole
# batch's loss `inf`. So clamp `p` into `[eps, 1 - eps]` first; the loss of one example
# is then at most `-log(eps) ≈ 16` for `eps = 1e-7`. `eps` must also survive rounding:
# `float32` has no number between `1 - 6·10⁻⁸` and `1`, so an `eps` below about `3·10⁻⁸` makes
# `1 - eps` round to `1` and brings `log 0` back; the constructor refuses it.
#
# Worked example, `eps = 1e-7`: `p = [0.9, 0.2, 1.0]`, `t = [1, 0, 0]`. The clamp changes only
# the last one, to `1 - 10⁻⁷` (in float32, `0.99999988`). The terms are `-log 0.9 = 0.105`,
# `-log 0.8 = 0.223` and `-log(1.2·10⁻⁷) ≈ 15.9`: a confident mistake costs about 16, not `inf`.
#
# Like cross-entropy, this is one op on the raw arrays, recorded with `Tensor._op` under the name
# `"binary_cross_entropy"`, with `pred` as the only input and the ctx entries `target` (the
# float array `t`, already converted for you) and `eps`. Module 05's rule needs exactly those to
# rebuild the same clamped `p` and compute the derivative `(p - t) / (p·(1 - p))`, divided by the
# number of elements for the mean. The loss has `pred`'s dtype.
#
# **Checks before the math (given).** Shapes must match exactly, as for `MSELoss`. Predictions
# outside `[0, 1]` are almost always logits that skipped the `Sigmoid`, and the error says so.
# A prediction that is **NaN** is a different accident (a diverged model, a `0/0` upstream): the
# error says "NaN" and how many, because "apply Sigmoid first" would send you looking in the
# wrong place. Targets must lie in `[0, 1]` and must not be NaN either.
# (When you have logits rather than probabilities, a fused "BCE with logits" is stabler still,
# for the same reason as softmax + cross-entropy.)

# %% nbgrader={"grade": false, "grade_id": "binary-cross-entropy", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
def _reject_nan(values: np.ndarray, what: str, advice: str) -> None:
    """Raise a ValueError that says NaN, how many and where, when `values` holds any (given)."""
    nan = np.isnan(values)
    if nan.any():
        first = tuple(int(i) for i in np.argwhere(nan)[0])
        raise ValueError(f"BinaryCrossEntropyLoss got NaN in its {what} ({int(nan.sum())} of {values.size} "
                         f"values, the first at index {first}): {advice}")


class BinaryCrossEntropyLoss:
    """Binary cross-entropy on probabilities `pred` in [0, 1], mean over all elements."""

    def __init__(self, eps: float = 1e-7):
        if not (0 < eps < 0.5 and np.float32(1 - eps) < 1):
            raise ValueError(f"eps must lie in (0, 0.5) and be large enough that 1 - eps < 1 in float32 "
                             f"(about 3e-8 or more), got {eps}")
        self.eps = eps

    def __call__(self, pred: Tensor, target) -> Tensor:
        return self.forward(pred, target)

    def forward(self, pred: Tensor, target) -> Tensor:
        t = (target.data if isinstance(target, Tensor) else np.asarray(target)).astype(pred.dtype)
        if t.shape != pred.shape:
            raise ValueError(f"BinaryCrossEntropyLoss: pred has shape {pred.shape} but target has "
                             f"shape {t.shape}; they must match")
        _reject_nan(pred.data, "predictions", "the model diverged (try a smaller learning rate) or an "
                    "earlier op produced it (0/0, log of a negative number)")
        _reject_nan(t, "targets", "check the labels")
        if pred.size and not (pred.data.min() >= 0 and pred.data.max() <= 1):
            raise ValueError("BinaryCrossEntropyLoss expects probabilities in [0, 1], got values in "
                             f"[{pred.data.min()}, {pred.data.max()}]: apply Sigmoid to the logits first")
        if t.size and not (t.min() >= 0 and t.max() <= 1):
            raise ValueError(f"BinaryCrossEntropyLoss targets must lie in [0, 1], got [{t.min()}, {t.max()}]")
        # Clamp first, then the formula of section 5, as one op (like CrossEntropyLoss).
        ### BEGIN SOLUTION
        p = np.clip(pred.data, self.eps, 1 - self.eps)
        value = -np.mean(t * np.log(p) + (1 - t) * np.log(1 - p))
        return Tensor._op("binary_cross_entropy", value, pred, target=t, eps=self.eps)
        ### END SOLUTION

    def __repr__(self) -> str:
        return f"BinaryCrossEntropyLoss(eps={self.eps})"


# %% [markdown]
# ### Unit test: BinaryCrossEntropyLoss

# %% nbgrader={"grade": true, "grade_id": "test-bce", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false}
def test_unit_bce():
    import warnings

    from tinytorch.testing import close, raises

    p = np.array([0.9, 0.2, 0.6, 0.01])
    t = np.array([1.0, 0.0, 0.0, 1.0])
    loss = BinaryCrossEntropyLoss()(Tensor(p), t)
    assert isinstance(loss, Tensor) and loss.shape == (), f"a loss is a scalar Tensor, got {loss!r}"
    want = -np.mean(t * np.log(p) + (1 - t) * np.log(1 - p))
    for other, why in [(-want, "the negative of the loss: -log of a probability is positive"),
                       (4 * want, "the sum over the 4 elements, not their mean"),
                       (-np.mean((1 - t) * np.log(p) + t * np.log(1 - p)), "t and 1 - t swapped: t weights log p")]:
        assert abs(loss.item() - other) > 1e-5, f"BCE of 4 hard targets: got {loss.item():.6g}, {why}"
    close(loss, want, atol=1e-5, what="BCE of 4 hard targets")
    close(BinaryCrossEntropyLoss()(Tensor([0.3]), Tensor([0.8])), -(0.8 * np.log(0.3) + 0.2 * np.log(0.7)),
          atol=1e-5, what="BCE with a soft target 0.8 for p = 0.3")
    with warnings.catch_warnings(), np.errstate(over="raise", divide="raise", invalid="raise"):
        warnings.simplefilter("error")
        try:
            edge = BinaryCrossEntropyLoss()(Tensor([1.0, 0.0, 1.0, 0.0]), [1.0, 0.0, 0.0, 1.0]).item()
        except (FloatingPointError, RuntimeWarning) as error:
            raise AssertionError(f"p = [1, 0, 1, 0] raised {type(error).__name__} ({error}): log 0 at p = 0 or "
                                 "p = 1; clamp p into [eps, 1 - eps], at both ends, before the logs") from None
    assert np.isfinite(edge), f"clamping must keep the loss finite, got {edge}"
    close(edge, -np.log(1e-7) / 2, rtol=0.05, what="two clamped mistakes in 4 cost -log(eps)/2")
    raises(ValueError, lambda: BinaryCrossEntropyLoss()(Tensor([0.5, np.nan]), [1.0, 0.0]), "NaN", "predictions")
    print("BinaryCrossEntropyLoss: OK")


if __name__ == "__main__":
    test_unit_bce()

# %% [markdown]
# ## 6. Binary cross-entropy from logits: your design
#
# `BinaryCrossEntropyLoss` takes probabilities, and section 5 showed the price: a confident model
# outputs `p = 1.0` exactly once its logit passes about 17, the clamp then caps the loss of a
# confident mistake near 16, and the gradient there is almost zero. Yet the logit `x` itself
# still knew how wrong the model was. The cure is the one of section 4: do not go through the
# probability at all. `BCEWithLogitsLoss` (PyTorch has the same class) takes the logits `x` and
# the targets `t` and returns the same mean loss as BCE of `p = sigmoid(x)`, computed exactly.
#
# The math you need is in sections 3 to 5: `p = sigmoid(x) = 1 / (1 + e^{-x})` and
# `1 - p = sigmoid(-x)`, so each of the two negative logs is a log of `1 + e^{±x}`, a
# log-sum-exp of two numbers. With `x = 1000`, `t = 0` the loss is exactly `1000` (not `inf`, not
# 16); with `x = 1000`, `t = 1` it is `0` (well, `e^{-1000}`).
#
# **Your decision: how to compute it.** Any formulation passes that
# - equals the float64 reference to float32 accuracy for every logit from `-10,000` to `10,000`
#   and every target in `[0, 1]`, with no overflow, `inf`, NaN or warning on the way;
# - is built only from ops module 05 differentiates (module 01's Tensor ops, module 02's
#   activations, your `log_softmax`), so that the graph reaches `x` and the loss trains with no
#   new backward rule; constants (computed from `x.data`) are allowed where no gradient must flow;
# - returns a scalar Tensor (the mean over all elements) in the logits' dtype.
#
# Several correct routes exist (a rearranged formula, a two-class `log_softmax`, splitting by the
# sign of `x`, ...). Think about which intermediate values could overflow or round to 0 or 1 for a
# logit of `±10,000`. Shape check and target check are given. Cost: a handful of element-wise ops
# over `n` elements, and a few intermediate arrays of `n` floats kept for backward.

# %% nbgrader={"grade": false, "grade_id": "bce-with-logits", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
class BCEWithLogitsLoss:
    """Binary cross-entropy of `sigmoid(logits)` against targets in [0, 1], mean over all
    elements, computed from the logits without overflow (section 6)."""

    def __call__(self, logits: Tensor, target) -> Tensor:
        return self.forward(logits, target)

    def forward(self, logits: Tensor, target) -> Tensor:
        t = (target.data if isinstance(target, Tensor) else np.asarray(target)).astype(logits.dtype)
        if t.shape != logits.shape:
            raise ValueError(f"BCEWithLogitsLoss: logits have shape {logits.shape} but target has "
                             f"shape {t.shape}; they must match")
        if t.size and not (t.min() >= 0 and t.max() <= 1):
            raise ValueError(f"BCEWithLogitsLoss targets must lie in [0, 1], got [{t.min()}, {t.max()}]")
        target = Tensor(t)
        # Your formulation: Tensor ops that module 05 differentiates, exact for any logit.
        ### BEGIN SOLUTION
        # two classes, "no" with logit 0 and "yes" with logit x: a stable log_softmax over the pair
        pair = logits.reshape(*logits.shape, 1) * Tensor(np.array([0.0, 1.0], dtype=logits.dtype))
        log_p = log_softmax(pair, dim=-1)
        return -(log_p[..., 1] * target + log_p[..., 0] * (1.0 - target)).mean()
        ### END SOLUTION

    def __repr__(self) -> str:
        return "BCEWithLogitsLoss()"


# %% [markdown]
# ### Unit test: BCEWithLogitsLoss
# Values against a float64 reference from `-10,000` to `10,000`, with numerical warnings as
# errors; then the graph: it must reach the logits through ops module 05 differentiates, and,
# recomputed at other logits with the values you took from `.data` held fixed, still give the
# loss (or module 05's gradient would be wrong).

# %% nbgrader={"grade": true, "grade_id": "test-bce-with-logits", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false}
def test_unit_bce_with_logits():
    import warnings

    from tinytorch.testing import ops_in_graph, recording_ops, replay_graph

    def reference(x, t):  # float64: log(1 + e^x) - x·t, with NumPy's own stable log(e^0 + e^x)
        x, t = np.asarray(x, np.float64), np.asarray(t, np.float64)
        return np.logaddexp(0.0, x) - x * t

    loss = BCEWithLogitsLoss()(Tensor([0.0, 0.0]), [1.0, 0.0])
    assert isinstance(loss, Tensor) and loss.shape == (), f"a loss is a scalar Tensor, got {loss!r}"
    assert abs(loss.item() - np.log(2)) < 1e-6, f"logit 0 means p = 1/2: the loss is log 2 = 0.6931, got {loss.item()}"
    assert loss.dtype == np.float32, f"the loss keeps the logits' dtype float32, got {loss.dtype}"
    logits = np.array([-1e4, -1000.0, -90.0, -30.0, -17.0, -5.0, -0.5, 0.0, 0.5, 5.0, 17.0, 30.0, 90.0, 1000.0, 1e4])
    for t in (0.0, 1.0, 0.3):
        for x in logits:
            with warnings.catch_warnings(), np.errstate(over="raise", divide="raise", invalid="raise"):
                warnings.simplefilter("error")
                try:
                    got = BCEWithLogitsLoss()(Tensor([x]), [t]).item()
                except (FloatingPointError, RuntimeWarning) as error:
                    raise AssertionError(f"logit {x:g}, target {t:g}: {type(error).__name__} ({error}): an "
                                         "intermediate value overflows or takes log 0; see section 6") from None
            want, swapped = float(reference(x, t)), float(reference(x, 1 - t))
            assert np.isfinite(got), f"logit {x:g}, target {t:g}: the loss is {got}, want {want:.6g}"
            if abs(got - want) > 1e-6 * abs(want) + 2e-6:
                why = ""
                if abs(got - swapped) <= 1e-6 * abs(swapped) + 2e-6:
                    why = ": the weights are swapped (target 1 means 'yes', the logit's own class)"
                elif 15 < got < 16.2 < want:
                    why = ": capped near -log(1e-7) ≈ 16, going through sigmoid(x) loses the logit once p rounds to 0 or 1"
                raise AssertionError(f"logit {x:g}, target {t:g}: got {got:.7g}, want {want:.7g}{why}")
    x = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32) * 4
    t = (np.random.default_rng(1).random((4, 3)) > 0.5).astype(np.float32)
    got = BCEWithLogitsLoss()(Tensor(x), t).item()
    assert abs(got - reference(x, t).mean()) < 1e-5, f"mean over a (4, 3) batch: got {got}, want {reference(x, t).mean()}"
    module_05_ops = {"add", "sub", "mul", "div", "neg", "exp", "log", "sqrt", "pow", "sum", "mean", "max",
                     "reshape", "transpose", "getitem", "relu", "sigmoid", "tanh", "softmax"}
    with recording_ops(*module_05_ops):
        xs = Tensor(x, requires_grad=True)
        out = BCEWithLogitsLoss()(xs, t)
        ops = ops_in_graph(out)
        assert ops, "BCEWithLogitsLoss must be built from Tensor ops: its result records no graph (computed on .data?)"
        assert set(ops) <= module_05_ops, f"ops module 05 has no rule for: {sorted(set(ops) - module_05_ops)}"
        stack, seen = [out], set()
        while stack:
            node = stack.pop()
            seen.add(id(node))
            stack.extend(node._inputs)
        assert id(xs) in seen, f"the graph (ops {ops}) does not reach the logits: the loss could not train"
        moved = x.astype(np.float64) + np.linspace(-0.5, 0.5, x.size).reshape(x.shape)
        again, want = replay_graph(out, xs, moved), float(reference(moved, t).mean())
        if again is not None and abs(float(again) - want) > 1e-4 * abs(want) + 1e-5:
            raise AssertionError(
                f"the graph, recomputed at other logits with the values you took from .data held fixed, gives "
                f"{float(again):.6g} where the loss is {want:.6g}: a value from .data carries part of how the loss "
                "depends on x, and module 05's gradient would be wrong. Constants may shift or select (like a "
                "maximum, or a mask of signs), never stand in for a function of x such as |x|")
    print("BCEWithLogitsLoss: OK")


if __name__ == "__main__":
    test_unit_bce_with_logits()

# %% [markdown]
# ### Unit test: the ops module 05 will differentiate
# `MSELoss` must be built from Tensor ops (so its graph reaches `pred`); the two cross-entropies
# must record their op name and exactly the ctx of the contract. `recording_ops` (from
# `tinytorch.testing`) registers throw-away rules so the graph is recorded, and removes them after.

# %% nbgrader={"grade": true, "grade_id": "test-losses-op-path", "locked": true, "points": 5, "schema_version": 3, "solution": false, "task": false}
def test_unit_op_path():
    from tinytorch.testing import close, ops_in_graph, recording_ops

    module_01_ops = {"add", "sub", "mul", "div", "neg", "pow", "sum", "mean"}
    with recording_ops(*module_01_ops, "cross_entropy", "binary_cross_entropy"):
        pred = Tensor([[0.2, 0.7], [0.9, 0.4]], requires_grad=True)
        mse = MSELoss()(pred, np.ones((2, 2)))
        assert mse._inputs, "MSELoss must be composed of Tensor ops: its result records no graph"
        assert set(ops_in_graph(mse)) <= module_01_ops, f"MSELoss should use module 01 ops, used {ops_in_graph(mse)}"

        logits = Tensor([[0.2, 0.7, -1.0], [0.9, 0.4, 0.0]], requires_grad=True)
        ce = CrossEntropyLoss()(logits, Tensor([1, 0]))
        assert ops_in_graph(ce) == ["cross_entropy"], f"one op named cross_entropy, got {ops_in_graph(ce)}"
        assert len(ce._inputs) == 1 and ce._inputs[0] is logits, "the logits are the op's only input"
        assert set(ce._ctx) == {"probs", "targets"}, f"cross_entropy ctx keys: {sorted(ce._ctx)}"
        e = np.exp(logits.data - logits.data.max(axis=1, keepdims=True))
        close(ce._ctx["probs"], e / e.sum(axis=1, keepdims=True), what="ctx probs: the softmax of each row")
        targets = ce._ctx["targets"]
        assert targets.dtype.kind == "i" and targets.tolist() == [1, 0], f"ctx targets: {targets!r}"

        bce = BinaryCrossEntropyLoss(eps=1e-6)(pred, [[0.0, 1.0], [1.0, 0.0]])
        assert ops_in_graph(bce) == ["binary_cross_entropy"], f"one op named binary_cross_entropy, got {ops_in_graph(bce)}"
        assert len(bce._inputs) == 1 and bce._inputs[0] is pred, "pred is the op's only input"
        assert set(bce._ctx) == {"target", "eps"}, f"binary_cross_entropy ctx keys: {sorted(bce._ctx)}"
        assert bce._ctx["eps"] == 1e-6, f"ctx eps: {bce._ctx['eps']}"
        assert isinstance(bce._ctx["target"], np.ndarray), f"ctx target is an array, got {type(bce._ctx['target'])}"
        close(bce._ctx["target"], [[0.0, 1.0], [1.0, 0.0]], what="ctx target")
    print("op path: OK")


if __name__ == "__main__":
    test_unit_op_path()

# %% [markdown]
# ## Module test
# A linear classifier on a batch: logits `x @ W`, then cross-entropy, which must agree with the
# `log_softmax` you wrote; and the same model as a yes/no classifier with a sigmoid and BCE.

# %% nbgrader={"grade": true, "grade_id": "test-module", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false}
def test_module():
    rng = np.random.default_rng(5)
    x, w = rng.normal(size=(32, 6)), rng.normal(size=(6, 4))
    y = rng.integers(0, 4, size=32)
    from tinytorch.testing import close

    logits = Tensor(x) @ Tensor(w)
    ce = CrossEntropyLoss()(logits, y).item()
    picked = np.array([row[k] for row, k in zip(log_softmax(logits).data, y)])
    close(ce, -picked.mean(), atol=1e-5, what="CE against -mean(log_softmax picked at the targets)")
    z = x @ w
    want = np.mean([np.log(np.exp(row).sum()) - row[k] for row, k in zip(z, y)])
    close(ce, want, atol=1e-4, what="CE of a linear classifier against the NumPy reference")
    confident = CrossEntropyLoss()(Tensor(np.eye(4)[y] * 50), y).item()
    assert confident < 1e-6, f"confident and right: the loss is near 0, got {confident}"
    p = 1 / (1 + np.exp(-z[:, 0]))
    t = (y % 2).astype(np.float64)
    close(BinaryCrossEntropyLoss()(Tensor(p), t), -np.mean(t * np.log(p) + (1 - t) * np.log(1 - p)), atol=1e-4,
          what="BCE of sigmoid outputs")
    close(MSELoss()(Tensor(p), t), np.mean((p - t) ** 2), what="MSE of sigmoid outputs")
    print("module 04: all tests passed")


if __name__ == "__main__":
    test_module()

# %% [markdown]
# ## Reflection
# - At the start of training a 1000-class classifier, what loss do you expect, and why is a
#   value far from it a sign of a bug?
# - Write the gradient of cross-entropy for one example with `C = 3`, `p = (0.7, 0.2, 0.1)` and
#   `y = 0`. Which logits go up and which go down after one step of gradient descent?
# - For a language model with vocabulary `V` and `N` tokens per batch, the fused loss keeps
#   `N·V` probabilities. How could you avoid storing them (hint: recompute, or process the
#   batch in chunks)?
