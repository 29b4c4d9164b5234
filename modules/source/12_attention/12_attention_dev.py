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
# # Module 12: Attention — letting positions talk to each other
#
# Module 11 turned token ids into vectors, one per position. Every layer you have built so far
# then treats each position on its own: a `Linear` layer applied to a `(B, T, D)` sequence mixes
# the `D` features *within* a position and never looks at a neighbour. To predict the next
# character of "to be or not to b", a model must read the earlier characters. Convolutions
# (module 09) read a fixed window; recurrent networks pass a state along, one step at a time.
# **Attention** (Bahdanau et al. 2014; Vaswani et al. 2017, "Attention is all you need") lets
# every position read from every other position in one step, with weights it computes from the
# content itself.
#
# This module builds scaled dot-product attention, its masks, and multi-head attention, all as
# a handful of batched matrix products: no Python loop over the batch, the heads or the
# positions. Module 13 stacks it into a GPT; module 17 will make generation fast with a
# key/value cache, through a seam this module leaves open.
#
# ## Learning objectives
# - Explain attention as a soft dictionary lookup: queries, keys and values.
# - Measure why scores are divided by `√d`, and why softmax runs over the keys.
# - Build masks (causal, padding) in PyTorch's convention, and masking as an op with a backward rule.
# - Implement `scaled_dot_product_attention` and `MultiHeadAttention` with all heads in one
#   batched matmul, and count their FLOPs and their `O(T²)` memory.
# - Leave a seam (`cache.update`) that module 17's KV cache will plug into.
#
# ## How to work
# In your edition each piece you write is a stub that raises `NotImplementedError`: replace the
# `raise` with your code, then run the test cell right after it. Stuck? `tito hint 12` lists
# the stubs; `tito hint 12 causal_mask` (for example) shows the next hint for one stub, from the
# idea to the math to the shape of the code. When every test passes, run
# `tito module complete 12`: its pytest suite checks every backward rule with `gradcheck` and,
# when PyTorch is installed, compares forward and backward with PyTorch's attention.

# %% nbgrader={"grade": false, "grade_id": "attention-setup", "locked": false, "schema_version": 3, "solution": false, "task": false}
#| default_exp attention
#| export
import math

import numpy as np

from tinytorch.activations import Softmax
from tinytorch.layers import Linear, Module, get_rng
from tinytorch.tensor import Tensor, register_backward


def _positive_int(value, name: str, where: str) -> int:
    """`value` as an int, or a ValueError naming `name` and `where` (given)."""
    if not isinstance(value, int | np.integer) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{where} needs a positive integer {name}, got {value!r}")
    return int(value)


def _as_bool_mask(mask, where: str) -> np.ndarray:
    """A boolean NumPy array from a bool or 0/1 array, list or Tensor (given).

    Anything but booleans or the numbers 0 and 1 raises: a float mask of 0 and -inf (the
    *additive* convention some libraries use) would otherwise be read the wrong way round.
    """
    array = np.asarray(mask.data if isinstance(mask, Tensor) else mask)
    if array.dtype == bool:
        return array
    if array.dtype.kind not in "iuf":
        raise TypeError(f"{where}: a mask holds booleans (True = allowed) or 0/1, got dtype {array.dtype}")
    bad = array[(array != 0) & (array != 1)]
    if bad.size:
        raise ValueError(f"{where}: a mask holds booleans (True = allowed) or 0/1, got the value "
                         f"{bad.flat[0]!r}; additive masks (0 and -inf) are not accepted: pass True "
                         "where attention is allowed")
    return array != 0


def _check_mask_shape(mask: np.ndarray, shape: tuple[int, ...], where: str) -> None:
    """A mask must broadcast to `shape` without enlarging it (given)."""
    try:
        grown = np.broadcast_shapes(mask.shape, shape)
    except ValueError:
        grown = None
    if grown != tuple(shape):
        raise ValueError(f"{where}: a mask of shape {mask.shape} does not broadcast to the "
                         f"shape {tuple(shape)} it must cover")


# %% [markdown]
# ## 1. Queries, keys and values
#
# Think of a dictionary lookup. A Python `dict` takes a query, finds the one key equal to it and
# returns that key's value. Attention does the same **softly**: every position `i` emits a
# **query** vector `q_i` ("what am I looking for?"); every position `j` emits a **key** `k_j`
# ("what do I contain?") and a **value** `v_j` ("what do I hand over if you pick me?"). The
# match between query `i` and key `j` is the dot product `q_i · k_j`; a softmax over `j` turns
# the matches of query `i` into weights that are positive and sum to 1; the output of position
# `i` is the weighted average of the values:
#
# `out_i = Σ_j softmax_j(q_i · k_j / √d) · v_j`
#
# All positions at once, with `Q` (T_q, d), `K` (T_k, d), `V` (T_k, d_v):
#
# `Attention(Q, K, V) = softmax(Q Kᵀ / √d) V`
#
# | tensor | shape | meaning |
# |---|---|---|
# | `Q Kᵀ` (scores) | (T_q, T_k) | row `i`: how well query `i` matches each key |
# | weights | (T_q, T_k) | softmax of each row: where query `i` looks, sums to 1 |
# | output | (T_q, d_v) | row `i`: the values mixed with row `i`'s weights |
#
# **Worked example.** One query `q = [0, 2]`, two keys `k_0 = [2, 0]`, `k_1 = [0, 2]`, values
# `v_0 = [1, 0, 0]`, `v_1 = [0, 10, 0]`, `d = 2`. Scores: `q·k_0 / √2 = 0` and
# `q·k_1 / √2 = 4/√2 ≈ 2.83`. Softmax: `e^{2.83} ≈ 16.9`, so the weights are
# `1/17.9 ≈ 0.056` and `16.9/17.9 ≈ 0.944`. Output: `0.056·v_0 + 0.944·v_1 ≈ [0.056, 9.44, 0]`.
# The query "asked for" the direction of `k_1` and got mostly `v_1`, with a little of `v_0`
# mixed in; every weight is positive, so the lookup is differentiable everywhere. (The first
# unit test below checks exactly these numbers.)
#
# In self-attention `Q`, `K` and `V` are three different linear maps of the same sequence
# (section 6), so each position decides for itself what to ask, what to advertise and what to
# hand over. Any leading axes (batch, heads) ride along: `@` on `(…, T_q, d)` and `(…, d, T_k)`
# is a batched matrix product (module 01), one BLAS call per matrix, no Python loop.
#
# **Softmax runs over the keys** (the last axis of the scores), never over the queries: each
# query distributes one unit of attention among the keys it may see. Normalising over the
# queries would instead ask each key how it is shared, and a query could end up with weights
# summing to 5 or to 0.01.

# %% [markdown]
# ## 2. Masks: who may look at whom
#
# Often a query must not see some keys:
# - **Causal** (language models): position `i` predicts token `i + 1`, so it may only read
#   positions `≤ i`; looking ahead would be cheating, and the model would learn nothing useful
#   for generation.
# - **Padding**: sequences of different lengths in one batch are padded to the same `T`; no
#   query should attend to a pad position. A padding mask of shape `(B, 1, 1, T_k)` broadcasts
#   over heads and queries.
#
# TinyTorch follows PyTorch's boolean convention for `scaled_dot_product_attention`: a mask
# holds **True (or 1) where attention is allowed**, and it must broadcast to the scores' shape
# `(…, T_q, T_k)`.
#
# The causal mask for `T_q = T_k = 4` is the lower triangle:
#
# ```
#          key 0  1  2  3
# query 0:     1  0  0  0
# query 1:     1  1  0  0
# query 2:     1  1  1  0
# query 3:     1  1  1  1
# ```
#
# **With a cache of past keys** (module 17), the queries are only the newest `T_q` positions of
# a sequence of `T_k`: query `i` sits at absolute position `i + (T_k − T_q)` and may see every
# key up to there. With `T_q = 2, T_k = 5` the two rows are `1 1 1 1 0` and `1 1 1 1 1`. So:
#
# `allowed[i, j]  ⟺  j ≤ i + (T_k − T_q)`
#
# `causal_mask(T_q, T_k=None)` returns this as a boolean NumPy array of shape `(T_q, T_k)`
# (`T_k` defaults to `T_q`). A mask is data, not a Tensor: it has no gradient. The argument
# checks are given.

# %% nbgrader={"grade": false, "grade_id": "causal-mask", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
def causal_mask(T_q: int, T_k: int | None = None) -> np.ndarray:
    """Boolean (T_q, T_k) array, True where query i may attend to key j: j <= i + (T_k - T_q).

    The queries are the last T_q of T_k positions (all of them when T_k is None).
    """
    T_q = _positive_int(T_q, "T_q", "causal_mask")
    T_k = T_q if T_k is None else _positive_int(T_k, "T_k", "causal_mask")
    if T_k < T_q:
        raise ValueError(f"causal_mask: T_k ({T_k}) must be at least T_q ({T_q}): the queries are "
                         "the last T_q of the T_k key positions")
    ### BEGIN SOLUTION
    return np.tri(T_q, T_k, k=T_k - T_q, dtype=bool)
    ### END SOLUTION


# %% [markdown]
# ### Unit test: the causal mask
# The square case, the cached case of section 2, and the dtype (a mask is boolean).

# %% nbgrader={"grade": true, "grade_id": "test-causal-mask", "locked": true, "points": 5, "schema_version": 3, "solution": false, "task": false}
def test_unit_causal_mask():
    from tinytorch.testing import raises
    m = causal_mask(4)
    want = np.array([[1, 0, 0, 0], [1, 1, 0, 0], [1, 1, 1, 0], [1, 1, 1, 1]], dtype=bool)
    assert isinstance(m, np.ndarray) and m.dtype == bool, \
        f"causal_mask returns a boolean NumPy array, got {type(m).__name__} of dtype {getattr(m, 'dtype', None)}"
    assert np.array_equal(m, want), f"causal_mask(4):\n{m.astype(int)}\nexpected the lower triangle:\n{want.astype(int)}"
    cached = causal_mask(2, 5)
    assert np.array_equal(cached, [[1, 1, 1, 1, 0], [1, 1, 1, 1, 1]]), \
        f"causal_mask(2, 5) (2 new queries after 3 cached keys):\n{cached.astype(int)}\nexpected rows 11110 and 11111"
    one = causal_mask(1, 6)
    assert one.shape == (1, 6) and one.all(), f"one new query sees all 6 keys, got {one.astype(int)}"
    tall = causal_mask(3, 4)
    assert np.array_equal(tall, [[1, 1, 0, 0], [1, 1, 1, 0], [1, 1, 1, 1]]), f"causal_mask(3, 4):\n{tall.astype(int)}"
    raises(ValueError, lambda: causal_mask(4, 2), "T_k")
    raises(ValueError, lambda: causal_mask(0), "T_q")
    print("causal mask: OK")


if __name__ == "__main__":
    test_unit_causal_mask()

# %% [markdown]
# ## 3. Masking as an op, with its backward rule
#
# How do we stop a query from attending to a key? Set that score to `−∞` *before* the softmax:
# `e^{−∞} = 0`, so the key gets weight exactly 0, and the remaining weights of the row still
# sum to 1. (Zeroing the weights *after* the softmax would leave rows that no longer sum to 1.)
#
# The operation is PyTorch's `masked_fill(x, mask, value)`: a copy of `x` with `value`
# wherever `mask` is True. Careful with the two conventions: `masked_fill`'s mask says where to
# **fill**, the attention mask says where attention is **allowed**; attention fills where its
# mask is False.
#
# It needs a backward rule, because it sits between the scores (which depend on the
# parameters) and the loss. Derive it per element: `out = value` (a constant) where the mask is
# True, `out = x` elsewhere. So `∂out/∂x` is 0 at filled positions and 1 elsewhere, and
# `grad_x` is the incoming gradient with the filled positions set to 0. (In attention the
# incoming gradient at a masked score is already 0, because softmax's output there is 0; the
# rule must still be right on its own.)
#
# The mask goes into the op's context as a boolean array; it broadcasts to `x` (a `(T, T)`
# causal mask covers `(B, H, T, T)` scores), and the result has `x`'s shape. Its dtype is
# float32 in any case, because `Tensor` stores float32; but under NumPy 2 a fill value that
# is a NumPy float64 scalar (say `np.float64(-np.inf)`) makes NumPy build a float64 copy of the
# whole score array first, twice the bytes, only for `Tensor` to cast it back. A plain Python
# float such as `-np.inf` does not (NumPy lets the array's dtype win over a Python number).
# The conversions and shape checks are given.

# %% nbgrader={"grade": false, "grade_id": "masked-fill", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
def masked_fill(x: Tensor, mask, value: float) -> Tensor:
    """A copy of `x` holding `value` wherever `mask` (broadcastable to x) is True; op
    `"masked_fill"`, input `x`, ctx `mask` (a boolean array)."""
    x = Tensor._lift(x)
    mask = _as_bool_mask(mask, "masked_fill")
    _check_mask_shape(mask, x.shape, "masked_fill")
    ### BEGIN SOLUTION
    data = np.where(mask, x.dtype.type(value), x.data)
    ### END SOLUTION
    return Tensor._op("masked_fill", data, x, mask=mask)


@register_backward("masked_fill")
def masked_fill_backward(grad, out, x, mask):
    """`(grad_x,)`: `grad` with the filled positions set to zero, in grad's shape and dtype."""
    ### BEGIN SOLUTION
    return (np.where(mask, grad.dtype.type(0), grad),)
    ### END SOLUTION


# %% [markdown]
# ### Unit test: masked_fill
# Values by hand (with a mask that broadcasts over rows), the dtype, the gradient (zero exactly
# where filled, with the incoming gradient left untouched, even when it is read-only or shared
# with another branch of the graph) and `gradcheck` against central differences.

# %% nbgrader={"grade": true, "grade_id": "test-masked-fill", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false}
def test_unit_masked_fill():
    from tinytorch.autograd import gradcheck
    from tinytorch.testing import close, raises
    x = Tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)
    out = masked_fill(x, np.array([True, False, True]), -1.0)
    close(out, [[-1, 2, -1], [-1, 5, -1]],
          what="masked_fill(x, [T, F, T], -1): value where the mask is True, x where it is False, the mask "
               "broadcast over both rows")
    assert out.dtype == np.float32, f"masked_fill keeps float32, got {out.dtype}"
    assert out._op_name == "masked_fill", f"the op is recorded as 'masked_fill', got {out._op_name!r}"
    close(x, [[1, 2, 3], [4, 5, 6]], what="x itself is not changed")
    inf = masked_fill(Tensor([[0.5, 0.25]]), [[0, 1]], -np.inf)
    assert inf.data[0, 1] == -np.inf and inf.data[0, 0] == 0.5, f"0/1 masks work too: got {inf.data}"
    g = np.array([[10.0, 20.0, 30.0], [40.0, 50.0, 60.0]], dtype=np.float32)
    out.backward(g)
    close(x.grad, [[0, 20, 0], [0, 50, 0]], what="gradient: zero where filled, the incoming gradient elsewhere")
    close(g, [[10, 20, 30], [40, 50, 60]], what="the caller's gradient after backward: the rule must not write into grad")
    b = Tensor(np.ones((2, 3)), requires_grad=True)
    try:  # sum's backward hands over a read-only (broadcast) array
        masked_fill(b, [True, False, True], 0.0).sum().backward()
    except ValueError as err:
        raise AssertionError(f"backward through .sum() gives masked_fill_backward a read-only gradient and "
                             f"writing into it failed ({err}): return a new array") from err
    close(b.grad, [[0, 1, 0], [0, 1, 0]], what="gradient of masked_fill(b, [T, F, T], 0).sum()")
    c = Tensor(np.ones((2, 3)), requires_grad=True)
    (masked_fill(c, [True, False, True], 0.0) + c).backward(np.ones((2, 3), np.float32))  # one array to both branches
    close(c.grad, [[1, 2, 1], [1, 2, 1]], what="gradient of masked_fill(c, [T, F, T], 0) + c: the add's other branch keeps its 1s")
    rng = np.random.default_rng(0)
    a = Tensor(rng.normal(size=(2, 3, 4)), requires_grad=True)
    m = rng.random((3, 4)) < 0.5
    assert gradcheck(lambda a: masked_fill(a, m, 7.0) * a, a), "masked_fill gradient wrong"
    raises(ValueError, lambda: masked_fill(Tensor(np.zeros((2, 3))), np.ones((3, 3), bool), 0.0), "broadcast")
    print("masked_fill: OK")


if __name__ == "__main__":
    test_unit_masked_fill()

# %% [markdown]
# ## 4. Scaled dot-product attention
#
# **Why divide by `√d`?** If the entries of `q` and `k` are independent with mean 0 and
# variance 1, then `q · k = Σ_{m<d} q_m k_m` is a sum of `d` terms of variance 1: its variance
# is `d`. For `d = 64` the scores have a standard deviation of 8; a softmax over numbers that
# far apart puts nearly all its weight on one key, and a near one-hot softmax has gradients
# near zero (its Jacobian `s_i (δ_ij − s_j)`, module 05, vanishes when one `s` is 1 and the
# others 0), so learning stalls. Dividing by `√d` brings the variance back to 1 whatever the
# head size. The next cell measures both effects on random vectors.

# %% nbgrader={"grade": false, "grade_id": "scale-demo", "locked": false, "schema_version": 3, "solution": false, "task": false}
if __name__ == "__main__":
    def softmax_rows(s):  # plain NumPy, for this measurement only
        e = np.exp(s - s.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)

    demo_rng = np.random.default_rng(0)
    print("  d   var(q·k)   var(q·k/√d)   mean largest weight of 32: raw   scaled")
    for d in (4, 16, 64, 256):
        q_demo = demo_rng.normal(size=(2000, 1, d))  # 2000 queries, one each
        k_demo = demo_rng.normal(size=(2000, 32, d))  # 32 keys per query
        raw = (q_demo @ k_demo.transpose(0, 2, 1))[:, 0]  # (2000, 32) scores
        scaled = raw / np.sqrt(d)
        peak_raw, peak_scaled = (softmax_rows(s).max(axis=-1).mean() for s in (raw, scaled))
        print(f"{d:3d}   {raw.var():8.1f}   {scaled.var():11.2f}   {peak_raw:30.2f}   {peak_scaled:6.2f}")

# %% [markdown]
# The unscaled variance grows like `d`, and the largest weight of a row approaches 1 (one-hot);
# scaled, both stay put. (Uniform weights over 32 keys would be 0.03 each.)
#
# **The function.** `scaled_dot_product_attention(q, k, v, mask=None)` takes `q` (…, T_q, d),
# `k` (…, T_k, d) and `v` (…, T_k, d_v) and returns `(output, weights)`, both Tensors of the
# graph: the weights `softmax(q kᵀ / √d)` of shape (…, T_q, T_k), normalised over the keys,
# and the output `weights · v` of shape (…, T_q, d_v) (section 1's formula, with any leading
# axes riding along). Where the mask is False a key gets weight exactly 0, and the allowed
# weights of the row still sum to 1; section 3 says why that happens *before* the softmax.
# The given code turns the mask into the boolean array `allowed` (True = allowed), or leaves
# it None. Mind the polarity: `allowed` and `masked_fill`'s mask mean opposite things.
#
# Where the scale goes is your choice: scaling `q` by `1/√d` before the product, or the scores
# after it, give the same numbers up to float32 rounding. Scaling `q` first is slightly
# cheaper (`T_q·d` multiplications instead of `T_q·T_k`, and one `(…, T_q, T_k)` tensor fewer
# kept for the backward pass), which is what the reference does.
#
# Every step is an op of the graph (module 01's ops, module 02's softmax, your `masked_fill`),
# so autograd differentiates the whole thing; you write no backward here. **Never NaN:** if a
# query had no allowed key at all, its row would be all `−∞`, and softmax would compute
# `−∞ − (−∞) = NaN`. The given checks refuse such a mask with a ValueError naming the row, as
# well as shapes that do not fit.

# %% nbgrader={"grade": false, "grade_id": "sdpa", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
def _check_qkv(q: Tensor, k: Tensor, v: Tensor) -> tuple[int, ...]:
    """Shape checks of scaled_dot_product_attention; returns the scores' shape (given)."""
    if q.ndim < 2 or k.ndim < 2 or v.ndim < 2:
        raise ValueError(f"scaled_dot_product_attention needs q, k, v with at least 2 dimensions "
                         f"(…, T, d), got shapes {q.shape}, {k.shape}, {v.shape}")
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"scaled_dot_product_attention: q and k need the same last dimension d, "
                         f"got q {q.shape} and k {k.shape}")
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(f"scaled_dot_product_attention: k and v need the same number of positions "
                         f"T_k, got k {k.shape} and v {v.shape}")
    try:
        batch = np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    except ValueError:
        raise ValueError(f"scaled_dot_product_attention: the leading (batch) dimensions of q {q.shape}, "
                         f"k {k.shape} and v {v.shape} do not broadcast") from None
    return (*batch, q.shape[-2], k.shape[-2])


def scaled_dot_product_attention(q: Tensor, k: Tensor, v: Tensor, mask=None) -> tuple[Tensor, Tensor]:
    """softmax(q kᵀ / √d) v over the last two axes; returns `(output, weights)`.

    q (…, T_q, d), k (…, T_k, d), v (…, T_k, d_v); `mask` (bool or 0/1, True = allowed) must
    broadcast to (…, T_q, T_k). weights (…, T_q, T_k), output (…, T_q, d_v).
    """
    q, k, v = Tensor._lift(q), Tensor._lift(k), Tensor._lift(v)
    scores_shape = _check_qkv(q, k, v)
    allowed = None
    if mask is not None:
        allowed = _as_bool_mask(mask, "scaled_dot_product_attention")
        _check_mask_shape(allowed, scores_shape, "scaled_dot_product_attention")
        empty = ~allowed.any(axis=-1) if allowed.ndim else ~allowed[None]
        if empty.any():
            row = tuple(int(i) for i in np.argwhere(empty)[0])
            raise ValueError(f"scaled_dot_product_attention: query row {row} of the mask (shape "
                             f"{allowed.shape}) allows no key at all; its softmax would be NaN")
    ### BEGIN SOLUTION
    scores = (q * (1.0 / math.sqrt(q.shape[-1]))) @ k.transpose(-2, -1)
    if allowed is not None:
        scores = masked_fill(scores, ~allowed, -np.inf)
    weights = Softmax(dim=-1)(scores)
    return weights @ v, weights
    ### END SOLUTION


# %% [markdown]
# ### Unit test: scaled dot-product attention
# A case by hand first: one query that matches the second of two keys. Then random batched
# cases against a NumPy reference written out with explicit sums, a causal mask, a padding
# mask, the errors, and `gradcheck` through the whole function.

# %% nbgrader={"grade": true, "grade_id": "test-sdpa", "locked": true, "points": 15, "schema_version": 3, "solution": false, "task": false}
def test_unit_sdpa():
    from tinytorch.autograd import gradcheck
    from tinytorch.testing import close, raises

    def reference(q, k, v, keep=None):  # explicit sums, float64
        s = np.einsum("...id,...jd->...ij", q, k) / np.sqrt(q.shape[-1])
        if keep is not None:
            s = np.where(keep, s, -np.inf)
        w = np.exp(s - s.max(-1, keepdims=True))
        w /= w.sum(-1, keepdims=True)
        return np.einsum("...ij,...jd->...id", w, v), w

    rng = np.random.default_rng(0)
    qa, ka, va = rng.normal(size=(2, 3, 5, 4)), rng.normal(size=(2, 3, 6, 4)), rng.normal(size=(2, 3, 6, 7))
    result = scaled_dot_product_attention(Tensor(qa), Tensor(ka), Tensor(va))
    assert isinstance(result, tuple) and len(result) == 2 and all(isinstance(t, Tensor) for t in result), \
        f"returns two Tensors (output, weights), got {type(result).__name__}"
    out, w = result
    assert w.shape == (2, 3, 5, 6) and out.shape == (2, 3, 5, 7), \
        f"q (2, 3, 5, 4), k (2, 3, 6, 4), v (2, 3, 6, 7): weights {w.shape}, output {out.shape}; expected (2, 3, 5, 6), (2, 3, 5, 7)"
    close(w.data.sum(axis=-1), np.ones((2, 3, 5)), atol=1e-5,
          what="each query's weights sum to 1 over the keys (the softmax runs over the last axis)")
    q = Tensor([[0.0, 2.0]])
    k = Tensor([[2.0, 0.0], [0.0, 2.0]])
    v = Tensor([[1.0, 0.0, 0.0], [0.0, 10.0, 0.0]])
    out1, w1 = scaled_dot_product_attention(q, k, v)
    e = np.exp(4 / np.sqrt(2))  # score of key 1 is 4/√2, of key 0 is 0
    close(w1, [[1 / (1 + e), e / (1 + e)]], what="weights of one query [0, 2] against keys [2, 0], [0, 2]: scores q·k / √d = 0 and 4/√2 (d = 2)")
    close(out1, [[1 / (1 + e), 10 * e / (1 + e), 0]], what="output: the values averaged with those weights")
    k4 = np.zeros((3, 4))
    k4[0] = 1.0  # query [1, 1, 1, 1] matches key 0 with q·k = 4; keys 1 and 2 are zero
    _, w4 = scaled_dot_product_attention(Tensor(np.ones((1, 4))), Tensor(k4), Tensor(np.eye(3)))
    ratio = w4.data[0, 0] / w4.data[0, 1] if w4.shape == (1, 3) and w4.data[0, 1] > 0 else np.nan
    implied = 4 / np.log(ratio) if np.isfinite(ratio) and ratio > 1 else np.nan
    assert abs(implied - 2) < 1e-3, \
        (f"one query [1, 1, 1, 1] against 3 keys (d = 4, T_k = 3), q·k = 4 for key 0 and 0 for the others: your "
         f"weights [{', '.join(f'{x:.4f}' for x in w4.data.ravel())}] imply that q·k was divided by {implied:.4g}, expected √d = 2. The "
         f"scale is 1/√d with d = q.shape[-1], the size of one query vector, whatever the number of keys")

    ro, rw = reference(qa, ka, va)
    close(w, rw, atol=1e-5, what="weights (2, 3, 5, 6), no mask")
    close(out, ro, atol=1e-5, what="output (2, 3, 5, 7), no mask")
    causal = causal_mask(5, 6)
    out, w = scaled_dot_product_attention(Tensor(qa), Tensor(ka), Tensor(va), mask=causal)
    assert np.isfinite(w.data).all(), \
        ("NaN in the weights with causal_mask(5, 6), whose every row allows some key: a row got -inf everywhere, "
         "so the fill hit the allowed keys. The attention mask is True where attention is ALLOWED; masked_fill "
         "fills where its own mask is True")
    forbidden = w.data[..., ~causal]
    assert not forbidden.any(), \
        (f"with causal_mask(5, 6) a forbidden (future) key got weight up to {forbidden.max():.3g}: it must be "
         f"exactly 0. Fill the scores with -inf where the mask is False, before the softmax")
    sums = w.data.sum(axis=-1)
    close(sums, np.ones_like(sums), atol=1e-5,
          what="with causal_mask(5, 6), each query's weights over its allowed keys sum to 1 (zeroing weights after "
               "the softmax leaves rows short: mask the scores before it)")
    ro, rw = reference(qa, ka, va, causal)
    close(w, rw, atol=1e-5, what="weights with causal_mask(5, 6): zero above the shifted diagonal")
    close(out, ro, atol=1e-5, what="output with causal_mask(5, 6)")
    pad = np.ones((2, 1, 1, 6), dtype=np.float32)
    pad[1, ..., 4:] = 0  # sequence 1 has only 4 real positions
    out, w = scaled_dot_product_attention(Tensor(qa), Tensor(ka), Tensor(va), mask=Tensor(pad))
    close(w, reference(qa, ka, va, pad != 0)[1], atol=1e-5, what="weights with a 0/1 padding mask (2, 1, 1, 6)")
    assert np.all(w.data[1, :, :, 4:] == 0), "padded keys get weight exactly 0"

    raises(ValueError, lambda: scaled_dot_product_attention(Tensor(qa), Tensor(ka), Tensor(va),
                                                            np.zeros((5, 6), bool)), "no key")
    raises(ValueError, lambda: scaled_dot_product_attention(Tensor(qa), Tensor(ka), Tensor(va), causal_mask(5)), "broadcast")
    raises(ValueError, lambda: scaled_dot_product_attention(Tensor(qa), Tensor(va), Tensor(va)), "same last dimension")
    raises(ValueError, lambda: scaled_dot_product_attention(Tensor(qa), Tensor(ka), Tensor(va), np.where(causal, 0.0, -np.inf)), "additive")

    qs, ks, vs = (Tensor(rng.normal(size=s), requires_grad=True) for s in [(2, 3, 4), (2, 5, 4), (2, 5, 3)])
    assert gradcheck(lambda q, k, v: scaled_dot_product_attention(q, k, v)[0], qs, ks, vs), "attention gradient wrong"
    assert gradcheck(lambda q, k, v: scaled_dot_product_attention(q, k, v, causal_mask(3, 5))[0], qs, ks, vs), \
        "attention gradient wrong with a causal mask"
    print("scaled dot-product attention: OK")


if __name__ == "__main__":
    test_unit_sdpa()

# %% [markdown]
# ## 5. What attention costs: O(T²)
#
# Count for one head of size `d` over `T` positions (batch `B`, `H` heads, `D = H·d`):
#
# | step | shape | FLOPs | memory kept for backward |
# |---|---|---|---|
# | scores `(q/√d) @ kᵀ` | (B, H, T, T) | `2·B·H·T²·d = 2·B·T²·D` | the scores, `4·B·H·T²` bytes |
# | mask, softmax | (B, H, T, T) | a few per element | masked scores and weights, the same again each |
# | `weights @ v` | (B, H, T, d) | `2·B·T²·D` | — |
#
# So the attention core costs `4·B·T²·D` FLOPs, **quadratic in T**, while the four projections
# of section 6 cost `4 · 2·B·T·D² = 8·B·T·D²`, linear in `T`. The core dominates once `T > 2D`.
# Memory is worse: the `(B, H, T, T)` weights must be kept for the backward pass (and this
# implementation also keeps the scores and the masked scores: three such tensors per layer,
# four if the scale comes after the product).
# The next cell computes the numbers for a GPT-2-small-sized layer (`H = 12`, `D = 768`) with a
# batch of 8.

# %% nbgrader={"grade": false, "grade_id": "cost-demo", "locked": false, "schema_version": 3, "solution": false, "task": false}
if __name__ == "__main__":
    B_demo, H_demo, D_demo = 8, 12, 768
    print("    T    weights (B, H, T, T) float32   core FLOPs 4·B·T²·D   projection FLOPs 8·B·T·D²")
    for T_demo in (128, 512, 2048, 8192):
        weight_bytes = B_demo * H_demo * T_demo * T_demo * 4
        core, proj = 4 * B_demo * T_demo**2 * D_demo, 8 * B_demo * T_demo * D_demo**2
        print(f"{T_demo:5d}   {weight_bytes / 1e6:14,.0f} MB               {core / 1e9:10,.1f} G"
              f"            {proj / 1e9:10,.1f} G")

# %% [markdown]
# At `T = 512` the weights of one layer take 101 MB; at 2,048 they take 1.6 GB, and a 12-layer
# model keeps twelve of them for the backward pass. Multiplying `T` by 4 multiplies that memory
# by 16. This is why long contexts are expensive, and why FlashAttention (Dao et al., 2022)
# computes attention block by block without ever storing the `T × T` matrix. For our
# Shakespeare model (`T = 64`, `D = 128`) the core is small: `T < 2D`, and the projections and
# the MLP dominate.

# %% [markdown]
# ## 6. Multi-head attention is a reshape
#
# One attention "head" computes one set of weights per query: one way of looking. Vaswani et
# al. split the model dimension `D` into `H` heads of size `d = D / H`, let each attend
# separately (one might track the previous character, another the start of the word), and
# concatenate the results. The cost is the same as one head of size `D`, because each head
# works on `d = D/H` features.
#
# No loop over heads is needed. After the projection `q_proj(x)` of shape `(B, T, D)`, the
# features of head `h` are the columns `h·d … (h+1)·d − 1`. `split_heads` rearranges them into
# `(B, H, T, d)`: the heads become one more batch axis, and `q @ kᵀ` on `(B, H, T, d)` computes
# every head's scores in one batched matmul. `merge_heads` is its exact inverse, back to
# `(B, T, D)` with head `h` in the same columns. Both are pure rearrangements, no arithmetic:
# think about how the `D` features of one position lie in memory, and which axes must move.
# One of the two directions cannot be a view and copies the data; work out which, and why.
#
# Example, `B = 1, T = 2, D = 4, H = 2`: the row `[a b c d]` of position 0 becomes head 0's
# `[a b]` and head 1's `[c d]`.
#
# `split_heads(x, num_heads)` and `merge_heads(x)` must be built from Tensor ops (module 01),
# so that autograd differentiates them with module 05's rules. The checks are given.

# %% nbgrader={"grade": false, "grade_id": "heads", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
def split_heads(x: Tensor, num_heads: int) -> Tensor:
    """(B, T, D) -> (B, H, T, D/H): head h holds features h·D/H … (h+1)·D/H − 1."""
    if x.ndim != 3 or x.shape[-1] % num_heads:
        raise ValueError(f"split_heads needs (B, T, D) with D divisible by num_heads={num_heads}, got {x.shape}")
    B, T, D = x.shape
    ### BEGIN SOLUTION
    return x.reshape(B, T, num_heads, D // num_heads).transpose(1, 2)
    ### END SOLUTION


def merge_heads(x: Tensor) -> Tensor:
    """(B, H, T, d) -> (B, T, H·d), the inverse of split_heads."""
    if x.ndim != 4:
        raise ValueError(f"merge_heads needs (B, H, T, d), got {x.shape}")
    B, H, T, d = x.shape
    ### BEGIN SOLUTION
    return x.transpose(1, 2).reshape(B, T, H * d)
    ### END SOLUTION


# %% [markdown]
# ### Unit test: splitting and merging heads

# %% nbgrader={"grade": true, "grade_id": "test-heads", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false}
def test_unit_heads():
    from tinytorch.testing import close
    x = Tensor(np.arange(24, dtype=np.float32).reshape(1, 2, 12))  # B=1, T=2, D=12
    h = split_heads(x, 3)
    assert isinstance(h, Tensor) and h.shape == (1, 3, 2, 4), f"split_heads((1, 2, 12), 3): shape {h.shape}, expected (1, 3, 2, 4)"
    close(h.data[0, 0], [[0, 1, 2, 3], [12, 13, 14, 15]], what="head 0: features 0-3 of both positions")
    close(h.data[0, 2], [[8, 9, 10, 11], [20, 21, 22, 23]], what="head 2: features 8-11 of both positions")
    close(merge_heads(h), x, what="merge_heads(split_heads(x)) gives x back")
    rng = np.random.default_rng(0)
    a = rng.normal(size=(2, 5, 6)).astype(np.float32)
    close(split_heads(Tensor(a), 2), a.reshape(2, 5, 2, 3).transpose(0, 2, 1, 3), what="split_heads (2, 5, 6), 2 heads")
    b = rng.normal(size=(2, 3, 4, 5)).astype(np.float32)
    close(merge_heads(Tensor(b)), b.transpose(0, 2, 1, 3).reshape(2, 4, 15), what="merge_heads (2, 3, 4, 5)")
    xs = Tensor(a, requires_grad=True)
    g = rng.normal(size=(2, 2, 5, 3)).astype(np.float32)
    split_heads(xs, 2).backward(g)
    close(xs.grad, g.transpose(0, 2, 1, 3).reshape(2, 5, 6), what="gradient through split_heads: merged back")
    print("heads: OK")


if __name__ == "__main__":
    test_unit_heads()

# %% [markdown]
# ## 7. The `MultiHeadAttention` layer
#
# The layer holds four `Linear(D, D)` maps (module 03), named as in PyTorch:
# `q_proj`, `k_proj`, `v_proj` and `out_proj`, initialised with Glorot/Xavier uniform (what
# PyTorch's `nn.MultiheadAttention` uses for its q/k/v projections), with zero biases. (`rng`
# becomes one generator first, so that an int seed gives four *different* weight matrices.)
# `forward(x, mask=None, cache=None)` maps `x` of shape `(B, T, D)` to `(B, T, D)`: the
# queries, keys and values are the three projections of `x`, each split into heads
# `(B, H, T, d)`; attention with `mask` runs over all heads at once; the heads are merged
# and mixed by `out_proj`. It keeps the attention weights as a NumPy array in
# `self.last_weights` (B, H, T_q, T_k), for plots and tests.
#
# **The seam for module 17.** Generating text one token at a time recomputes the keys and
# values of the whole prefix at every step, although they never change. Module 17 adds a
# **KV cache**: an object whose `update(k, v)` appends this call's keys and values (shape
# `(B, H, T_new, d)`) to those of earlier calls and returns all of them, `(B, H, T_past + T_new,
# d)`. `forward` calls it when a cache is given, right after computing `k` and `v`, so module
# 17 plugs in without touching this file. The caller passes the matching mask
# (`causal_mask(T_new, T_past + T_new)`, section 2). This module ships no cache class; the test
# below uses a five-line stand-in.

# %% nbgrader={"grade": false, "grade_id": "mha", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
class MultiHeadAttention(Module):
    """Multi-head self-attention over (B, T, D) with `num_heads` heads of size D / num_heads."""

    def __init__(self, embed_dim: int, num_heads: int, *, bias: bool = True, rng=None):
        super().__init__()
        self.embed_dim = _positive_int(embed_dim, "embed_dim", "MultiHeadAttention")
        self.num_heads = _positive_int(num_heads, "num_heads", "MultiHeadAttention")
        if self.embed_dim % self.num_heads:
            raise ValueError(f"MultiHeadAttention: embed_dim ({embed_dim}) must be divisible by "
                             f"num_heads ({num_heads})")
        self.head_dim = self.embed_dim // self.num_heads
        rng = get_rng(rng)  # one generator, so the four projections differ
        D = self.embed_dim
        self.q_proj = Linear(D, D, bias, init="xavier", rng=rng)
        self.k_proj = Linear(D, D, bias, init="xavier", rng=rng)
        self.v_proj = Linear(D, D, bias, init="xavier", rng=rng)
        self.out_proj = Linear(D, D, bias, init="xavier", rng=rng)
        self.last_weights: np.ndarray | None = None

    def forward(self, x: Tensor, mask=None, cache=None) -> Tensor:
        """Self-attention of x (B, T, D) -> (B, T, D). `mask` broadcasts to (B, H, T, T_k);
        `cache.update(k, v)` (module 17) returns all keys and values so far."""
        x = Tensor._lift(x)
        if x.ndim != 3 or x.shape[-1] != self.embed_dim:
            raise ValueError(f"{self!r} expects input of shape (B, T, {self.embed_dim}), got {x.shape}")
        # Part 1 of 2: set q, k, v, each (B, H, T, head_dim).
        ### BEGIN SOLUTION
        q = split_heads(self.q_proj(x), self.num_heads)
        k = split_heads(self.k_proj(x), self.num_heads)
        v = split_heads(self.v_proj(x), self.num_heads)
        ### END SOLUTION
        if cache is not None:  # the seam for module 17's KV cache (given)
            k, v = cache.update(k, v)
            if not (isinstance(k, Tensor) and isinstance(v, Tensor) and k.shape == v.shape
                    and k.shape[:2] == q.shape[:2] and k.shape[3] == q.shape[3]):
                raise ValueError(f"cache.update(k, v) must return two Tensors of shape (B, H, T_total, "
                                 f"{self.head_dim}) with B, H = {q.shape[:2]}, got "
                                 f"{getattr(k, 'shape', type(k).__name__)} and {getattr(v, 'shape', type(v).__name__)}")
        # Part 2 of 2: attention, `self.last_weights`, then the merged heads through out_proj.
        ### BEGIN SOLUTION
        out, weights = scaled_dot_product_attention(q, k, v, mask)
        self.last_weights = weights.data
        return self.out_proj(merge_heads(out))
        ### END SOLUTION

    def extra_repr(self) -> str:
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}"


# %% [markdown]
# ### Unit test: multi-head attention
# Against a reference that loops over the heads one at a time with plain NumPy (the naive
# version, written out), with and without a causal mask. The graph must hold exactly two
# attention matmuls however many heads there are, and the gradient must reach every parameter.

# %% nbgrader={"grade": true, "grade_id": "test-mha", "locked": true, "points": 15, "schema_version": 3, "solution": false, "task": false}
def test_unit_mha():
    from tinytorch.testing import close, ops_in_graph, raises

    def reference(layer, x, keep=None):  # one head at a time, plain NumPy
        def lin(p, a):
            return a @ p.weight.data + p.bias.data
        q, k, v = lin(layer.q_proj, x), lin(layer.k_proj, x), lin(layer.v_proj, x)
        d, heads, weights = layer.head_dim, [], []
        for h in range(layer.num_heads):
            cols = slice(h * d, (h + 1) * d)
            s = q[..., cols] @ k[..., cols].transpose(0, 2, 1) / np.sqrt(d)
            if keep is not None:
                s = np.where(keep, s, -np.inf)
            w = np.exp(s - s.max(-1, keepdims=True))
            w /= w.sum(-1, keepdims=True)
            heads.append(w @ v[..., cols])
            weights.append(w)
        return lin(layer.out_proj, np.concatenate(heads, axis=-1)), np.stack(weights, axis=1)

    rng = np.random.default_rng(0)
    mha = MultiHeadAttention(12, 3, rng=1)
    assert [p.shape for p in mha.parameters()] == [(12, 12), (12,)] * 4, \
        f"parameters: q_proj, k_proj, v_proj, out_proj weight and bias, got {[p.shape for p in mha.parameters()]}"
    for p in mha.parameters():
        p.data[...] = rng.normal(size=p.shape) * 0.5  # non-zero biases too
    x = rng.normal(size=(2, 5, 12)).astype(np.float32)
    out = mha(Tensor(x))
    assert isinstance(out, Tensor) and out.shape == (2, 5, 12), f"output shape {getattr(out, 'shape', None)}, expected (2, 5, 12)"
    for name in ("q_proj", "k_proj", "v_proj", "out_proj"):
        weight = getattr(mha, name).weight
        kept = weight.data.copy()
        weight.data[...] = kept + 0.5
        changed = not np.allclose(mha(Tensor(x)).data, out.data)
        weight.data[...] = kept
        assert changed, f"the output does not depend on {name}.weight: is {name} used, and used where it belongs?"
    want, want_w = reference(mha, x)
    close(out, want, atol=1e-4, what="MultiHeadAttention(12, 3) against the loop over heads, no mask")
    assert isinstance(mha.last_weights, np.ndarray), f"last_weights is a NumPy array, got {type(mha.last_weights).__name__}"
    close(mha.last_weights, want_w, atol=1e-5, what="last_weights (B, H, T, T)")
    want, want_w = reference(mha, x, causal_mask(5))
    out = mha(Tensor(x), mask=causal_mask(5))
    close(out, want, atol=1e-4, what="MultiHeadAttention with causal_mask(5)")
    close(mha.last_weights, want_w, atol=1e-5, what="last_weights with the causal mask")
    assert ops_in_graph(out).count("matmul") == 6, \
        f"4 projections + 2 attention matmuls for all heads at once, got {ops_in_graph(out).count('matmul')} matmuls"
    out.sum().backward()
    missing = [name for name, p in mha.named_parameters() if p.grad is None or not np.any(p.grad.data)]
    assert not missing, f"parameters without a gradient: {missing}"
    raises(ValueError, lambda: MultiHeadAttention(10, 3), "divisible")
    raises(ValueError, lambda: mha(Tensor(np.zeros((2, 5, 8)))), "(B, T, 12)")
    other = MultiHeadAttention(12, 3, rng=1)
    assert not np.allclose(other.q_proj.weight.data, other.k_proj.weight.data), \
        "an int seed must give different q_proj and k_proj weights (one generator for all four)"
    print("multi-head attention: OK")


if __name__ == "__main__":
    test_unit_mha()

# %% [markdown]
# ### Unit test: the cache seam
# A stand-in for module 17's cache: `update` concatenates along the time axis. Feeding a
# sequence one token at a time through the cache, each step with `causal_mask(1, t + 1)`, must
# give the same outputs as one causal pass over the whole sequence.

# %% nbgrader={"grade": true, "grade_id": "test-cache-seam", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false}
def test_unit_cache_seam():
    from tinytorch.autograd import no_grad
    from tinytorch.testing import close

    class ConcatCache:  # test double: module 17 ships the real one
        def __init__(self):
            self.k = self.v = None
            self.calls = 0

        def update(self, k, v):
            self.calls += 1
            if self.k is not None:
                k = Tensor(np.concatenate([self.k.data, k.data], axis=2))
                v = Tensor(np.concatenate([self.v.data, v.data], axis=2))
            self.k, self.v = k, v
            return k, v

    rng = np.random.default_rng(2)
    mha = MultiHeadAttention(8, 2, rng=3)
    x = rng.normal(size=(2, 6, 8)).astype(np.float32)
    with no_grad():
        full = mha(Tensor(x), mask=causal_mask(6)).data
        cache = ConcatCache()
        first = mha(Tensor(x[:, :2]), mask=causal_mask(2, 2), cache=cache).data  # a prompt of 2
        steps = [first] + [mha(Tensor(x[:, t:t + 1]), mask=causal_mask(1, t + 1), cache=cache).data
                           for t in range(2, 6)]
    assert cache.calls == 5, f"forward calls cache.update once per call: {cache.calls} calls for 5 forwards"
    assert cache.k.shape == (2, 2, 6, 4), f"the cache holds (B, H, 6, head_dim) keys, got {cache.k.shape}"
    close(np.concatenate(steps, axis=1), full, atol=1e-5, what="cached step-by-step outputs vs one causal pass")
    assert mha.last_weights.shape == (2, 2, 1, 6), f"last step: weights (B, H, 1, 6), got {mha.last_weights.shape}"
    print("cache seam: OK")


if __name__ == "__main__":
    test_unit_cache_seam()

# %% [markdown]
# ## 7½. A batch of different lengths: your padding mask
#
# Sentences differ in length, and a batch is one array: shorter sequences are **padded** to
# the common length `T` with some filler token. Right padding puts the filler after the real
# tokens (training); left padding puts it before them, so that every sequence *ends* at the
# same position (batched generation: the next token of every sequence goes at the end). The
# filler must change nothing: the output at every real position must be exactly what the
# sequence would give alone, unpadded.
#
# `padding_mask(lengths, T, causal=False, pad_left=False)` builds the boolean mask (True =
# allowed) for a batch where sequence `b` holds `lengths[b]` real tokens out of `T`. The
# contract, which the tests judge:
#
# - it broadcasts to the scores `(B, H, T, T)` of `MultiHeadAttention` for any `H`, without
#   enlarging them (so sequence `b`'s mask meets sequence `b`'s scores, whatever `H` is);
# - a real query never attends to a pad key; with `causal=True` it never attends to a later
#   key either; it attends to every other real key;
# - **no row is empty**: `scaled_dot_product_attention` refuses a query that may see nothing
#   (its softmax would be NaN), and pad queries are queries too.
#
# Everything else is yours to decide: the shape of the mask (the smallest one that
# broadcasts, or the full square per sequence), how to build it, and the policy for the rows
# of **pad queries**, whose outputs nobody reads. Think about left padding with `causal=True`
# before you choose: what may pad query 0 see? Work out one case on paper: `lengths = [3, 1]`,
# `T = 3`, left padding, causal. Sequence 1's only real token sits at position 2.
#
# The argument checks are given: `lengths` is a 1-D sequence of ints, each in `1 … T`.

# %% nbgrader={"grade": false, "grade_id": "padding-mask", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
def padding_mask(lengths, T: int, causal: bool = False, pad_left: bool = False) -> np.ndarray:
    """Boolean mask (True = allowed), broadcastable to the scores (B, H, T, T), for B sequences
    padded to T positions, sequence b holding lengths[b] real tokens (at the start, or at the end
    when pad_left). Real queries see exactly the real keys (the earlier ones only when causal);
    no row is empty."""
    T = _positive_int(T, "T", "padding_mask")
    raw = np.asarray(lengths)
    if raw.ndim != 1 or raw.size == 0 or raw.dtype.kind not in "iu":
        raise ValueError(f"padding_mask needs a non-empty 1-D sequence of int lengths, got {lengths!r}")
    if raw.min() < 1 or raw.max() > T:
        raise ValueError(f"padding_mask: every length must be in 1..{T} (T = {T}), got {raw.tolist()}")
    lengths = raw.astype(np.int64)
    ### BEGIN SOLUTION
    positions = np.arange(T)
    if pad_left:
        real = positions >= (T - lengths)[:, None]  # (B, T)
    else:
        real = positions < lengths[:, None]
    allowed = real[:, None, None, :]  # real keys, for every query: (B, 1, 1, T)
    if causal:
        allowed = allowed & causal_mask(T)  # (B, 1, T, T)
    pad_query_sees_itself = ~real[:, None, :, None] & np.eye(T, dtype=bool)
    return allowed | pad_query_sees_itself
    ### END SOLUTION


# %% [markdown]
# ### Unit test: the padding mask
# The contract, checked piece by piece before the end-to-end case: the mask broadcasts to
# `(B, H, T, T)`, real queries see no pad key, no row is empty, real queries see no future key
# (causal) and every other real key. Then a padded batch through `MultiHeadAttention` gives, at every real
# position, the output of the sequence alone, for both sides of padding, causal or not.

# %% nbgrader={"grade": true, "grade_id": "test-padding-mask", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false}
def test_unit_padding_mask():
    from tinytorch.autograd import no_grad
    from tinytorch.testing import close, raises

    def real_positions(length, T, pad_left):
        return np.arange(T - length, T) if pad_left else np.arange(length)

    for lengths, T in (([3, 1, 4], 4), ([2, 5, 1, 5, 3], 5)):  # the second has B == T
        B = len(lengths)
        for causal in (False, True):
            for pad_left in (False, True):
                case = f"padding_mask({lengths}, {T}, causal={causal}, pad_left={pad_left})"
                m = padding_mask(lengths, T, causal=causal, pad_left=pad_left)
                assert isinstance(m, np.ndarray) and m.dtype == bool, \
                    f"{case}: a boolean NumPy array, got {type(m).__name__} {getattr(m, 'dtype', '')}"
                for H in (1, 2):  # neither equals B: a mask that lines B up with the heads fails
                    try:
                        grown = np.broadcast_shapes(m.shape, (B, H, T, T))
                    except ValueError:
                        grown = None
                    assert grown == (B, H, T, T), \
                        (f"{case} has shape {m.shape}, which does not broadcast to the scores (B, H, T, T) = "
                         f"{(B, H, T, T)} without enlarging them: the batch axis must come first, then one for "
                         f"the heads (NumPy aligns shapes from the right, so a (B, T, T) mask meets the heads axis)")
                full = np.broadcast_to(m, (B, 1, T, T))[:, 0]
                for b, length in enumerate(lengths):
                    real = real_positions(length, T, pad_left)
                    pad = np.setdiff1d(np.arange(T), real)
                    seen_pad = full[b][np.ix_(real, pad)] if pad.size else np.zeros((0, 0), bool)
                    if seen_pad.any():
                        i, j = np.argwhere(seen_pad)[0]
                        raise AssertionError(
                            f"{case}: real query {real[i]} of sequence {b} (length {length}) may attend to pad key "
                            f"{pad[j]}; True means allowed, so a pad key must be False for every real query")
                    empty = np.flatnonzero(~full[b].any(axis=-1))
                    assert empty.size == 0, \
                        (f"{case}: query {empty[0]} of sequence {b} (length {length}) may see no key at all; "
                         f"its softmax would be NaN: give every row at least one allowed key")
                    for i_rank, i in enumerate(real):
                        want = real[: i_rank + 1] if causal else real
                        got = np.flatnonzero(full[b, i] & np.isin(np.arange(T), real))
                        assert np.array_equal(got, want), \
                            (f"{case}: real query {i} of sequence {b} (length {length}) sees the real keys "
                             f"{got.tolist()}, expected {want.tolist()}"
                             + (" (causal: itself and the earlier ones)" if causal else " (all of them)"))

    rng = np.random.default_rng(4)
    mha = MultiHeadAttention(8, 2, rng=5)
    lengths, T = [2, 5, 3], 5
    x = rng.normal(size=(3, T, 8)).astype(np.float32)
    with no_grad():
        for causal in (False, True):
            for pad_left in (False, True):
                out = mha(Tensor(x), mask=padding_mask(lengths, T, causal=causal, pad_left=pad_left)).data
                assert np.isfinite(out).all(), "NaN or inf in the output of a padded batch"
                for b, length in enumerate(lengths):
                    real = real_positions(length, T, pad_left)
                    alone = mha(Tensor(x[b:b + 1, real]), mask=causal_mask(length) if causal else None).data[0]
                    close(out[b, real], alone, atol=1e-5,
                          what=f"sequence {b} (length {length}, causal={causal}, pad_left={pad_left}): "
                               "padded in the batch vs alone")
    raises(ValueError, lambda: padding_mask([0, 2], 3), "1..3")
    raises(ValueError, lambda: padding_mask([4], 3), "1..3")
    print("padding mask: OK")


if __name__ == "__main__":
    test_unit_padding_mask()

# %% [markdown]
# ## 8. How fast is it?
#
# Everything above is a few large NumPy calls per forward pass. At small sizes the fixed cost
# per op (building a Tensor, recording the graph, one NumPy call) matters as much as the
# arithmetic, so the number of ops is what to count. One `MultiHeadAttention` forward records
# 22 with the reference (the next cell counts yours): three projections (a matmul and a bias
# add each), three head splits (two ops each), the attention core of section 4 (six ops, the
# scale and the mask included), the merge (two ops) and `out_proj` (matmul, add). The
# backward pass visits each once.
#
# **Fuse or not?** A single `"attention"` op with a hand-written backward (scores, mask,
# softmax and both matmuls in one NumPy function) replaces six ops by one. We measured it on
# our 2-core reference machine, one thread, for `MultiHeadAttention(64, 4)` on `(8, 32, 64)`
# forward and backward: about 15 % faster. Not worth it here: the composed version needs no new
# backward beyond `masked_fill`, every step is an op you already trust, and `weights` stays an
# ordinary Tensor of the graph (a fused op would have to return it detached, or with a second
# rule). The split changes at long sequences, where the `(B, H, T, T)` temporaries dominate:
# that is the memory argument of section 5, and the reason real frameworks fuse attention.
#
# **Against PyTorch** (same machine, one thread each, same weights): our layer took about
# 1.5× the time of a PyTorch layer that calls its fused `F.scaled_dot_product_attention`,
# and about the same time as PyTorch written with the same six ops. Your numbers will differ;
# the next cell measures yours, on one BLAS thread: at this size NumPy's multi-threaded BLAS
# can be many times *slower* than one thread (the matrices are 32×16, and waking and
# synchronising threads for each costs more than the product; on a busy machine the threads
# also wait for cores), so the cell pins one thread with `threadpoolctl.threadpool_limits(1)`.
# `python benchmarks/run.py` compares frameworks on one thread.

# %% nbgrader={"grade": false, "grade_id": "speed-demo", "locked": false, "schema_version": 3, "solution": false, "task": false}
if __name__ == "__main__":
    import time

    from threadpoolctl import threadpool_limits

    from tinytorch.testing import ops_in_graph

    demo_layer = MultiHeadAttention(64, 4, rng=0)
    demo_x = Tensor(np.random.default_rng(0).normal(size=(8, 32, 64)), requires_grad=True)
    demo_mask = causal_mask(32)
    print(f"ops recorded by one forward pass: {len(ops_in_graph(demo_layer(demo_x, mask=demo_mask)))}")
    # One BLAS thread: for matrices this small, more threads cost more than they save (see above).
    with threadpool_limits(1):
        for _ in range(3):
            demo_layer(demo_x, mask=demo_mask).sum().backward()
        start = time.perf_counter()
        for _ in range(50):
            demo_layer(demo_x, mask=demo_mask).sum().backward()
        step = (time.perf_counter() - start) / 50
    flops = 3 * (4 * 8 * 32**2 * 64 + 8 * 8 * 32 * 64**2)  # forward + backward ≈ 3 forwards
    print(f"MultiHeadAttention(64, 4) on (8, 32, 64), forward + backward: {step * 1e3:.2f} ms "
          f"({flops / 1e6:.0f} MFLOPs, {flops / step / 1e9:.1f} GFLOP/s)")

# %% [markdown]
# ## Module test
# Attention must **move information between positions**. Task: each sequence's first position
# carries a flag (feature 0 is 1, elsewhere 0) and a random payload; every position must output
# the first position's payload. A layer that treats positions separately cannot do it, since no
# position but the first sees the payload. Trained with Adam, `MultiHeadAttention` with a
# causal mask learns to look at the flagged key; the same layer with a mask that lets each
# position see only itself (the control) cannot get below predicting zero.

# %% nbgrader={"grade": true, "grade_id": "test-module", "locked": true, "points": 15, "schema_version": 3, "solution": false, "task": false}
def test_module():
    from tinytorch.optimizers import Adam

    def batch(rng, n=32, T=6, D=8):
        x = np.zeros((n, T, D), dtype=np.float32)
        x[:, :, 1:] = rng.normal(size=(n, T, D - 1)) * 0.5  # noise at every position
        x[:, 0, 0] = 1.0  # the flag
        payload = rng.normal(size=(n, D - 1)).astype(np.float32)
        x[:, 0, 1:] = payload
        y = np.zeros((n, T, D), dtype=np.float32)
        y[:, :, 1:] = payload[:, None, :]
        return x, y

    def train(mask, steps=150):
        rng = np.random.default_rng(0)
        layer = MultiHeadAttention(8, 2, rng=0)
        opt = Adam(layer.parameters(), lr=0.02)
        for _ in range(steps):
            x, y = batch(rng)
            loss = ((layer(Tensor(x), mask=mask) - Tensor(y)) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        x, y = batch(np.random.default_rng(99), n=256)
        return float(((layer(Tensor(x), mask=mask).data - y) ** 2).mean()), float((y ** 2).mean())

    attend, zero = train(causal_mask(6))
    alone, _ = train(np.eye(6, dtype=bool))
    assert attend < 0.1 * zero, f"with attention the held-out error should fall far below predicting zero ({zero:.3f}), got {attend:.3f}"
    assert alone > 0.7 * zero, f"the self-only control cannot see the payload: error {alone:.3f} should stay near {zero:.3f}"
    print(f"module 12: all tests passed (held-out error: attention {attend:.4f}, self-only {alone:.3f}, zero {zero:.3f})")


if __name__ == "__main__":
    test_module()

# %% [markdown]
# ## Reflection
# - The weights of one layer at `T = 2048` take 1.6 GB for a batch of 8 with 12 heads. Which
#   of the three `(B, H, T, T)` tensors this implementation keeps could the backward pass do
#   without, and what would it need instead?
# - With the cache of module 17, generating token `t` costs how many FLOPs in attention, and
#   without it? Sum over a 1,000-token generation.
# - A padding mask and a causal mask together: how do you combine them, and what shape does the
#   result have for a batch of `B` sequences?
# - Why do the heads cost no more than one head of size `D`, in FLOPs? Do they cost more memory?
