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
# # Module 11: Embeddings — from token ids to vectors
#
# Module 10 turned text into integers: a `CharTokenizer` trained on the Shakespeare corpus
# (`datasets/shakespeare.txt`, 76 distinct characters) turns `"to be"` into `[67, 62, 1, 49, 52]`.
# A network cannot do arithmetic with those numbers as numbers: id 67 is not "more" than id
# 62, and "t" is not the average of two other characters. Every token needs its own vector of
# learned features instead, and every position in the sequence needs one too, because the
# attention layer of module 12 treats its input as a *set* and would otherwise not know which
# token came first.
#
# This module builds both. An **embedding table** is a matrix with one row per token; looking
# a token up is reading its row. The table learns like any weight, through a backward rule you
# derive: a **scatter-add** that sends each position's gradient back to the row it was read
# from. Then come the two ways to tell the model *where* a token sits: the fixed
# **sinusoidal** encoding of the original Transformer (Vaswani et al., 2017) and the
# **learned** position table of GPT.
#
# ## Learning objectives
# - See a lookup as a matrix product with a one-hot vector, and why no framework ever builds
#   that one-hot: count its FLOPs and bytes.
# - Derive the backward pass of a lookup, get repeated ids right (the classic bug), and make it
#   fast without a Python loop.
# - Compute the memory of real embedding tables (GPT-2's, ours) and what training adds to it.
# - Build the sinusoidal encoding and show why it encodes *relative* positions; compare it with
#   a learned position table.
# - Accept token ids carefully: integers in range, never a silent wrong row.
#
# ## How to work
# In your edition, each piece you write is a stub that raises `NotImplementedError`: replace
# the `raise` with your code, then run the test cell right after it. Stuck? `tito hint 11`
# lists the stubs; `tito hint 11 NAME` (e.g. `tito hint 11 _embedding_backward`) shows the
# next hint, one level at a time. When every test passes, run `tito module complete 11`: its
# pytest suite gradchecks the backward rule and compares everything with PyTorch's
# `nn.Embedding` when PyTorch is installed.

# %% nbgrader={"grade": false, "grade_id": "embeddings-setup", "locked": false, "schema_version": 3, "solution": false, "task": false}
#| default_exp embeddings
#| export
import numpy as np

from tinytorch.layers import Module, get_rng
from tinytorch.tensor import Tensor, register_backward


def _positive_int(value, name: str) -> int:
    """`value` as an int >= 1, or a clear error (given)."""
    if not isinstance(value, int | np.integer) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be at least 1, got {value}")
    return int(value)


# %% [markdown]
# ## 1. Token ids in, and nothing silently wrong
#
# Ids arrive in three forms: a NumPy integer array (what a data loader yields), a nested list
# (what you type), or a `Tensor`. The last one needs care: a Tensor stores **float32**, so the
# id 7 arrives as `7.0`. Converting with `astype(int)` would turn `6.9999` into 6 and `2.5`
# into 2 without a word: a wrong row, a wrong model, no error. The given `as_token_ids`
# accepts floats only when they are whole numbers, and checks the range before anything is
# looked up:
#
# | input | result |
# |---|---|
# | `np.array([[3, 1], [0, 2]])`, `[3, 1]`, `5`, `Tensor([3., 1.])` | int64 array of the same shape |
# | `Tensor([2.5])`, `np.array([np.nan])` | `ValueError` naming the value and where it is |
# | `np.array([True, False])`, `["a"]`, a ragged list | `TypeError`: these are not ids |
# | `[7]` for a table of 5 rows, `[-1]` | `IndexError` naming the id, where it is, and the range |
#
# Why reject `-1`? NumPy reads `table[-1]` as the *last* row. For an id that is always a bug
# (an unknown character mapped to -1, say), so we refuse it as PyTorch does.
#
# One limit to know: float32 holds every integer exactly only up to 2²⁴ = 16,777,216. Token
# ids of a real vocabulary (GPT-2's reach 50,256) are far below, but an id stored in a Tensor
# beyond that has already lost its last digits; pass such ids as an integer array.

# %% nbgrader={"grade": false, "grade_id": "token-ids", "locked": false, "schema_version": 3, "solution": false, "task": false}
#| export
def _ragged(rows, where: tuple = ()) -> str:
    """Where a nested list of ids stops being rectangular (given)."""
    if not isinstance(rows, list | tuple):
        return "its rows differ in length"
    sizes = [f"a list of {len(r)}" if isinstance(r, list | tuple) else "a single id" for r in rows]
    for i, size in enumerate(sizes):
        if size != sizes[0]:
            at = f"in ids{''.join(f'[{k}]' for k in where)}, " if where else ""
            return f"{at}row 0 is {sizes[0]} but row {i} is {size}"
    found = [_ragged(r, (*where, i)) for i, r in enumerate(rows) if isinstance(r, list | tuple)]
    return next((f for f in found if f != "its rows differ in length"), "its rows differ in length")


def as_token_ids(ids, num_embeddings: int) -> np.ndarray:
    """Token ids as an int64 array of the same shape, each in 0..num_embeddings-1 (given).

    `ids`: an int, a (nested) list of ints, an integer NumPy array, or a Tensor / float array
    holding whole numbers. Raises TypeError (not ids at all), ValueError (not whole numbers) or
    IndexError (out of range), each naming the offending value and its index.
    """
    raw = ids.data if isinstance(ids, Tensor) else ids
    try:
        raw = np.asarray(raw)
    except ValueError:  # a ragged nested list: say which rows differ
        raise TypeError(f"token ids must form a rectangular array: {_ragged(ids)}") from None
    if raw.dtype.kind not in "iuf":
        raise TypeError(f"token ids must be integers (an int array, a list of ints or a Tensor of whole "
                        f"numbers), got {type(ids).__name__} of dtype {raw.dtype}")
    if raw.dtype.kind == "f":
        bad = ~np.isfinite(raw) | (raw != np.floor(raw))
        if bad.any():
            where = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ValueError(f"token ids must be whole numbers, got {raw[where].item()!r} at index {where}")
    bad = (raw < 0) | (raw >= num_embeddings)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise IndexError(f"token id {int(raw[where])} at index {where} is out of range: the table has "
                         f"{num_embeddings} rows, so ids must be in 0..{num_embeddings - 1}")
    return raw.astype(np.int64)


# %% [markdown]
# ## 2. A lookup is a matrix product with a one-hot vector
#
# Write token `i` of a vocabulary of `V` tokens as a **one-hot** vector `e_i` of length `V`:
# all zeros except a 1 at position `i`. A linear layer without bias applied to it, with weight
# `W` of shape `(V, D)`, gives
#
# `e_i @ W = Σ_k e_i[k] · W[k, :] = W[i, :]`
#
# since only the term `k = i` survives. So "multiply the one-hot by a matrix" and "read row
# `i` of the matrix" are the **same function**. That is why an embedding is an ordinary
# trainable layer: it is a linear layer whose input happens to be one-hot. It also tells us
# its gradient (section 4).
#
# For a batch the one-hots stack into a matrix `(M, V)` with `M = B·T` tokens, and the product
# `(M, V) @ (V, D)` picks `M` rows. Now count what the product would cost for GPT-2 (`V` =
# 50,257, `D` = 768) on a batch of 8 sequences of 1,024 tokens, `M` = 8,192:
#
# | | one-hot @ W | row lookup |
# |---|---|---|
# | input | 8,192 × 50,257 floats = **1.65 GB** | 8,192 ints = 64 KB |
# | arithmetic | 2 · 8,192 · 50,257 · 768 = **632 GFLOPs**, all but 1 in 50,257 of them `0 · w` | none: copy 8,192 rows = 25 MB |
#
# On a laptop CPU doing ~100 GFLOP/s that is six seconds per batch to compute what a memory
# copy does in milliseconds. So no framework builds the one-hot: the math says "matrix
# product", the code says "index". You will write `one_hot` once here (the package keeps
# it for tests and demos, never for a lookup), to check the identity with your own eyes; the
# demo in section 8 measures both.
#
# `one_hot(ids, V)` returns float32 of shape `(*ids.shape, V)`: one 1 per row, at the column
# given by the id. Fill a zero array with ones at the right places: no Python loop.

# %% nbgrader={"grade": false, "grade_id": "one-hot", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
def one_hot(ids: np.ndarray, num_classes: int) -> np.ndarray:
    """float32 array of shape (*ids.shape, num_classes): 1 at [..., ids[...]], 0 elsewhere."""
    ids = np.asarray(ids)
    ### BEGIN SOLUTION
    out = np.zeros((*ids.shape, num_classes), dtype=np.float32)
    np.put_along_axis(out, ids[..., None], 1.0, axis=-1)
    return out
    ### END SOLUTION


# %% [markdown]
# ### Unit test: one-hot, and the lookup identity

# %% nbgrader={"grade": true, "grade_id": "test-one-hot", "locked": true, "points": 5, "schema_version": 3, "solution": false, "task": false}
def test_unit_one_hot():
    from tinytorch.testing import close
    ids = np.array([[2, 0, 2], [1, 3, 0]])
    got = one_hot(ids, 4)
    assert got.shape == (2, 3, 4) and got.dtype == np.float32, \
        f"one_hot of ids (2, 3) with 4 classes: got shape {got.shape}, dtype {got.dtype}; expected (2, 3, 4), float32"
    per_id = got.sum(axis=-1)
    assert np.all(per_id == 1), \
        f"one_hot holds exactly one 1 per id; the ids (2, 3) got {per_id.astype(int).tolist()} ones: each id sets " \
        f"only its own vector, at its own column"
    close(got[0], [[0, 0, 1, 0], [1, 0, 0, 0], [0, 0, 1, 0]], what="one_hot row 0 (ids 2, 0, 2)")
    close(got[1], [[0, 1, 0, 0], [0, 0, 0, 1], [1, 0, 0, 0]], what="one_hot row 1 (ids 1, 3, 0)")
    table = np.arange(12, dtype=np.float32).reshape(4, 3) ** 2
    close(one_hot(ids, 4) @ table, table[ids], what="one_hot(ids) @ table must equal the rows table[ids]")
    close(one_hot(np.array(3), 5), [0, 0, 0, 1, 0], what="one_hot of a single id")
    print("one-hot: OK")


if __name__ == "__main__":
    test_unit_one_hot()

# %% [markdown]
# ## 3. The embedding op, forward
#
# `embedding(ids, weight)` takes ids of **any shape** `S` and a table `weight` of shape
# `(N, D)`, and returns a Tensor of shape `(*S, D)`: `out[s] = weight[ids[s]]` for every index
# `s` of the ids. For the usual `(B, T)` batch of token ids it gives `(B, T, D)`, the input of
# attention. NumPy's integer-array indexing does exactly this in one call, with the ids array
# in the first axis of the table (module 01, section 7). The ids are checked and converted by
# `as_token_ids` (given).
#
# The result goes through `Tensor._op("embedding", out, weight, ids=ids)` (given): **the table
# is the op's only input**. The ids are not differentiable: they are integers, and a small
# change to `3` is not a token. Keeping them in the context (for the backward pass) and out of
# the inputs means no gradient is ever computed for them, even when they arrive as a Tensor.
#
# Why a new op instead of module 01's `getitem`? `weight[ids]` through `getitem` would work,
# with module 05's scatter-add rule. A named op gives the lookup its own backward rule, one
# you design for speed (next section), its own name in a profile (module 14) and its own
# error messages.

# %% nbgrader={"grade": false, "grade_id": "embedding-op", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
def embedding(ids, weight: Tensor) -> Tensor:
    """Rows of `weight` (N, D) picked by token ids of any shape S: a Tensor of shape (*S, D).

    Op "embedding", the only input is `weight`, ctx `ids` (the checked int64 array).
    """
    weight = Tensor._lift(weight)
    if weight.ndim != 2:
        raise ValueError(f"embedding needs a weight table of shape (num_embeddings, embedding_dim), "
                         f"got shape {weight.shape}")
    ids = as_token_ids(ids, weight.shape[0])
    # Set `out`, the rows of the table picked by `ids` (a NumPy array of shape (*ids.shape, D)).
    ### BEGIN SOLUTION
    out = weight.data[ids]
    ### END SOLUTION
    return Tensor._op("embedding", out, weight, ids=ids)


# %% [markdown]
# ### Unit test: the lookup
# Values, shapes for 0-D, 1-D and 2-D ids, ids given as a list or a Tensor, the op recorded
# with the table as its only input, and bad ids refused with a message that says which.

# %% nbgrader={"grade": true, "grade_id": "test-embedding-op", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false}
def test_unit_embedding_op():
    from tinytorch.testing import close, ops_in_graph, raises, recording_ops
    table = np.arange(15, dtype=np.float32).reshape(5, 3)  # row i holds 3i, 3i+1, 3i+2
    ids = np.array([[4, 0, 4], [1, 3, 2]])
    out = embedding(ids, Tensor(table))
    assert isinstance(out, Tensor) and out.shape == (2, 3, 3), \
        f"ids (2, 3), table (5, 3): got {type(out).__name__} of shape {getattr(out, 'shape', None)}, expected (2, 3, 3)"
    close(out, table[ids], what="embedding(ids, table)[b, t] = table[ids[b, t]]")
    close(embedding([2, 2, 0], Tensor(table)), [[6, 7, 8], [6, 7, 8], [0, 1, 2]], what="ids as a list, with a repeat")
    close(embedding(Tensor([3.0, 1.0]), Tensor(table)), [[9, 10, 11], [3, 4, 5]], what="ids as a float32 Tensor")
    close(embedding(4, Tensor(table)), [12, 13, 14], what="a single id gives one row of shape (D,)")
    with recording_ops("embedding"):
        w = Tensor(table, requires_grad=True)
        y = embedding(Tensor([1.0, 2.0], requires_grad=True), w)
        assert ops_in_graph(y) == ["embedding"], f"expected one 'embedding' op, got {ops_in_graph(y)}"
        assert len(y._inputs) == 1 and y._inputs[0] is w, \
            f"the table must be the op's only input (ids are not differentiable), got {len(y._inputs)} inputs"
        assert y._ctx["ids"].dtype == np.int64, f"ctx ids dtype {y._ctx['ids'].dtype}, expected int64"
    raises(IndexError, lambda: embedding([1, 5], Tensor(table)), "5", "0..4")
    raises(IndexError, lambda: embedding([[0, -1]], Tensor(table)), "-1", "(0, 1)")
    raises(ValueError, lambda: embedding(Tensor([1.5]), Tensor(table)), "whole numbers", "1.5")
    raises(TypeError, lambda: embedding(np.array([True, False]), Tensor(table)), "integers")
    raises(ValueError, lambda: embedding([0], Tensor(np.zeros(5))), "shape")
    print("embedding forward: OK")


if __name__ == "__main__":
    test_unit_embedding_op()

# %% [markdown]
# ## 4. The backward pass: scatter-add, derived
#
# Call the table `W` `(N, D)`, the flattened ids `ids` of length `M`, and the output
# `Y = W[ids]` of shape `(M, D)`. The gradient `G = ∂L/∂Y` arrives with the shape of `Y`. We
# want `∂L/∂W`, shape `(N, D)`.
#
# **From the one-hot view.** `Y = X @ W` with `X = one_hot(ids)` of shape `(M, N)`. Module
# 05's matmul rule gives `∂L/∂W = Xᵀ @ G`, and row `i` of `Xᵀ @ G` is
#
# `∂L/∂W[i, :] = Σ_m X[m, i] · G[m, :] = Σ_{m : ids[m] = i} G[m, :]`
#
# **Directly.** `W[i, d]` appears in `Y[m, d]` for every position `m` whose id is `i`, with
# derivative 1, and nowhere else. The chain rule sums over every use:
# `∂L/∂W[i, d] = Σ_{m : ids[m] = i} G[m, d]`.
#
# So each position **adds** its gradient row into the table row it read: a *scatter-add*.
# Rows of tokens absent from the batch get exactly zero. Worked example, `N = 4`, `D = 2`:
#
# ```
# ids = [1, 3, 1]     G = [[ 1,  2],      ∂L/∂W = [[0, 0],      row 0: never read
#                          [10, 20],               [101, 202],  row 1: G[0] + G[2]
#                          [100, 200]]             [0, 0],      row 2: never read
#                                                  [10, 20]]    row 3: G[1]
# ```
#
# **The classic bug.** The obvious NumPy line, assigning `G` into a zero array at the rows
# `ids` (fancy-index assignment), is wrong whenever an id repeats: NumPy writes row 1 twice
# and the last write wins, so row 1 gets `[100, 200]` and loses `[1, 2]`. No error, and the
# gradient is only wrong for repeated tokens, which in text is *every common token*: the
# space, "e", "the". Module 05 met the same trap in `getitem`.
#
# **Your design: how to add the rows up.** Write `_embedding_backward(grad, out, weight, ids)`.
# The contract: `grad` has shape `(*ids.shape, D)`; return a 1-tuple holding the `(N, D)`
# gradient of the table as a NumPy array in `grad`'s dtype, with all `N` rows even when the
# last rows of the table are never read, and without writing into `grad`. *How* you sum is
# yours to decide. The candidates give the same numbers and differ in what they cost, for `M`
# positions, `N` rows and `D` columns:
#
# | approach | work | extra memory |
# |---|---|---|
# | the one-hot view taken literally, `Xᵀ @ G` | `2·M·N·D` FLOPs | the `(M, N)` one-hot: 1.65 GB at GPT-2 sizes (section 2) |
# | a Python loop over the positions | `M` interpreter steps of a few hundred ns each | none |
# | an unbuffered "add into these rows" routine | `M·D` adds, one element at a time | none |
# | a compiled "sum values by integer key" routine | `M·D` adds in one pass | one slot per possible key |
#
# The last two are NumPy functions (`tito hint 11 _embedding_backward` names them). A key
# routine needs one key per *cell* `(row, column)` of the table, and its slots for all `N·D`
# cells cost 309 MB of float64 for GPT-2's table even when a batch reads 500 rows, unless you
# first number the distinct ids of the batch and sum into those slots only.
#
# The tests judge the result (the worked example, repeats, unused rows, dtype, against the
# one-hot product and finite differences) and two costs you can reason about before running:
# the Python steps must not grow with the number of positions (a test counts the Python lines
# your rule executes for 2,000 ids: a loop over positions or over distinct ids shows up as
# thousands), and the memory must not grow with `M·N` (a test measures the peak allocation
# of your rule against a budget of a few times the gradient table). Any approach that meets
# both passes; section 8 times yours against the one-hot product.

# %% nbgrader={"grade": false, "grade_id": "embedding-backward", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
@register_backward("embedding")
def _embedding_backward(grad, out, weight, ids):
    """`(grad_weight,)`: row i of grad_weight is the sum of `grad` over every position whose id is i."""
    num_rows, dim = weight.shape
    ### BEGIN SOLUTION
    rows, slot = np.unique(ids.reshape(-1), return_inverse=True)  # distinct ids; each position's slot
    keys = (slot.reshape(-1, 1) * dim + np.arange(dim)).reshape(-1)  # one key per (slot, column)
    summed = np.bincount(keys, weights=grad.reshape(-1)).reshape(rows.size, dim)
    full = np.zeros((num_rows, dim), grad.dtype)
    full[rows] = summed
    return (full,)
    ### END SOLUTION


# %% [markdown]
# ### Unit test: gradients, with repeated ids
# What the rule returns (a 1-tuple, `N` rows, `grad`'s dtype, `grad` untouched), then the
# invariants (rows never read are zero, each column keeps its total), the worked example
# above, a 2-D batch where every id but one repeats, a check against the one-hot matmul and
# `gradcheck`. Last, the two costs of your design: the Python lines it runs and the memory
# it allocates for 2,000 ids.

# %% nbgrader={"grade": true, "grade_id": "test-embedding-backward", "locked": true, "points": 15, "schema_version": 3, "solution": false, "task": false}
def test_unit_embedding_backward():
    import sys
    import tracemalloc

    from tinytorch.autograd import backward, gradcheck
    from tinytorch.testing import close
    rng = np.random.default_rng(0)
    ids = np.array([[0, 2, 2, 5], [5, 5, 0, 1], [2, 0, 0, 0]])  # rows 3, 4, 6 never read: 6 is the last
    g = rng.normal(size=(3, 4, 3)).astype(np.float32)
    table = Tensor(rng.normal(size=(7, 3)), requires_grad=True)
    g_kept = g.copy()
    result = _embedding_backward(g, None, table, ids)
    assert isinstance(result, tuple) and len(result) == 1, \
        f"_embedding_backward returns a 1-tuple (one gradient, for the table), got {type(result).__name__}"
    (direct,) = result
    assert isinstance(direct, np.ndarray) and direct.shape == (7, 3), \
        (f"ids in 0..5 for a table of 7 rows: the gradient needs all 7 rows (the last, never read, "
         f"included), got {type(direct).__name__} of shape {getattr(direct, 'shape', None)}, expected (7, 3)")
    assert direct.dtype == np.float32, f"the gradient has grad's dtype float32, got {direct.dtype}"
    assert np.array_equal(g, g_kept), "_embedding_backward wrote into grad: it belongs to the caller"
    assert not direct[[3, 4, 6]].any(), \
        (f"rows 3, 4 and 6 are never read, so their gradient is exactly 0, got "
         f"{np.round(direct[[3, 4, 6]], 4).tolist()}: values landed in the wrong cells (how is cell (row, column) "
         f"numbered?)")
    close(direct.sum(axis=0), g.reshape(-1, 3).sum(axis=0), atol=1e-5,
          what="column totals: every grad value is added once into its column; a different total means values "
               "were lost (an assignment at repeated ids keeps only the last write) or moved to another column")

    w = Tensor(np.zeros((4, 2)), requires_grad=True)
    backward(embedding([1, 3, 1], w), np.array([[1, 2], [10, 20], [100, 200]], dtype=np.float32))
    close(w.grad, [[0, 0], [101, 202], [0, 0], [10, 20]],
          what="ids [1, 3, 1]: row 1 gets G[0] + G[2] (a last-write-wins assignment gives [100, 200])")
    backward(embedding(ids, table), g)
    want = np.zeros((7, 3))
    for pos, i in np.ndenumerate(ids):
        want[i] += g[pos]
    close(table.grad, want, atol=1e-5, what="scatter-add over a (3, 4) batch with repeats (loop reference)")
    close(table.grad, one_hot(ids, 7).reshape(-1, 7).T @ g.reshape(-1, 3), atol=1e-5,
          what="the gradient must equal one_hot(ids).T @ grad (the matmul rule on the one-hot view)")
    assert gradcheck(lambda t: embedding(ids, t) * embedding(ids[:, ::-1], t), table), "embedding gradient wrong"

    # The costs: 2,000 ids (about 1,570 distinct) into a table of 4,000 rows of 2 columns.
    big_ids = np.random.default_rng(1).integers(0, 4000, size=(40, 50))
    big_grad = np.random.default_rng(2).normal(size=(40, 50, 2)).astype(np.float32)
    big_table = Tensor(np.zeros((4000, 2)))
    lines = 0

    def count_lines(frame, event, arg):
        nonlocal lines
        lines += event == "line"
        return count_lines

    previous = sys.gettrace()
    sys.settrace(count_lines)
    try:
        _embedding_backward(big_grad, None, big_table, big_ids)
    finally:
        sys.settrace(previous)
    assert lines <= 500, \
        (f"for 2,000 ids your rule ran {lines:,} Python lines: it loops in Python over the positions (or the "
         f"distinct ids); let one NumPy call do the sums")
    tracemalloc.start()
    try:
        _embedding_backward(big_grad, None, big_table, big_ids)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    budget = 10 * 4000 * 2 * 4 + 16 * 2000 * 2 * 8  # ten gradient tables plus 16 numbers per gradient value
    assert peak <= budget, \
        (f"for 2,000 ids into a (4000, 2) table your rule allocated {peak / 1e6:.1f} MB at its peak, budget "
         f"{budget / 1e6:.2f} MB: memory in proportion to ids x rows (a one-hot?) does not scale; sum by row")
    print("embedding backward: OK")


if __name__ == "__main__":
    test_unit_embedding_backward()

# %% [markdown]
# ## 5. The `Embedding` layer, and what tables cost
#
# `Embedding(num_embeddings, embedding_dim)` (given) holds `weight`, a parameter of shape
# `(N, D)` drawn from N(0, 1) as PyTorch's `nn.Embedding` does, and its forward pass is the op
# above. (GPT-2 and nanoGPT initialise with a standard deviation of 0.02 instead; module 13
# can rescale the table after construction.)
#
# **Memory, with real numbers.** A table holds `N·D` float32 numbers, 4 bytes each:
#
# | model | table | parameters | float32 |
# |---|---|---|---|
# | our character model (module 13) | 76 characters × 128 | 9,728 | 39 KB |
# | GPT-2 small, tokens | 50,257 × 768 | 38.6 M | **154 MB** |
# | GPT-2 small, positions | 1,024 × 768 | 0.79 M | 3.1 MB |
# | Llama 3 8B (2024), tokens | 128,256 × 4,096 | 525 M | 2.1 GB |
#
# GPT-2 small has 124 M parameters, so its token table is **31 %** of the whole model.
# Training multiplies every parameter by four: the weight, its gradient, and Adam's two
# moment arrays, so that table costs 618 MB during training. And the gradient of a lookup is
# *dense*: `(N, D)` with zeros in every row of a token not in the batch. A batch of 8,192
# tokens touches at most 8,192 of GPT-2's 50,257 rows, yet the rule writes all 154 MB every
# step. (PyTorch's `nn.Embedding(sparse=True)` returns only the touched rows, for optimizers
# that support it.) GPT-2 also *ties* the token table to its output layer: one matrix serves
# both ends of the model and is paid for once. For a 76-character vocabulary all this is
# irrelevant: almost every row is used in every batch.

# %% nbgrader={"grade": false, "grade_id": "embedding-layer", "locked": false, "schema_version": 3, "solution": false, "task": false}
#| export
class Embedding(Module):
    """A learnable table of `num_embeddings` vectors of size `embedding_dim`; `forward(ids)` looks
    the ids up: ids of shape S -> Tensor (*S, embedding_dim). Like `torch.nn.Embedding`."""

    def __init__(self, num_embeddings: int, embedding_dim: int, *, rng=None):
        super().__init__()
        self.num_embeddings = _positive_int(num_embeddings, "num_embeddings")
        self.embedding_dim = _positive_int(embedding_dim, "embedding_dim")
        table = get_rng(rng).standard_normal((self.num_embeddings, self.embedding_dim))
        self.weight = Tensor(table, requires_grad=True)

    def forward(self, ids) -> Tensor:
        return embedding(ids, self.weight)

    def extra_repr(self) -> str:
        return f"{self.num_embeddings}, {self.embedding_dim}"


# %% [markdown]
# ## 6. Where is the token? Sinusoidal positions
#
# Attention (module 12) compares every token with every other one through dot products; it
# gives the same answer if you shuffle the tokens. "dog bites man" and "man bites dog" would
# be the same input. So we add to each token's vector a vector that depends on its
# **position** `p`, and the sum carries both "what" and "where".
#
# Vaswani et al. use fixed waves. For an even dimension `2i` and the odd one after it:
#
# `PE[p, 2i] = sin(p · ω_i)`, `PE[p, 2i + 1] = cos(p · ω_i)`, with `ω_i = 10000^(−2i / D)`
#
# The frequencies fall geometrically from `ω_0 = 1` (a wavelength of 2π ≈ 6 positions) to
# about `1/10000` (a wavelength of ~63,000 positions): like the digits of a clock, the fast
# pairs tell neighbours apart and the slow pairs say roughly where in a long text we are.
# Worked values for `D = 4` (so `ω_0 = 1`, `ω_1 = 0.01`):
#
# | p | PE[p, 0] = sin(p) | PE[p, 1] = cos(p) | PE[p, 2] = sin(0.01p) | PE[p, 3] = cos(0.01p) |
# |---|---|---|---|---|
# | 0 | 0 | 1 | 0 | 1 |
# | 1 | 0.8415 | 0.5403 | 0.0100 | 0.99995 |
# | 2 | 0.9093 | −0.4161 | 0.0200 | 0.9998 |
#
# **Why sines and cosines: relative positions.** Take one (sin, cos) pair and shift the
# position by `k`. The angle-addition formulas give
#
# `[sin((p+k)ω), cos((p+k)ω)] = [[cos kω, sin kω], [−sin kω, cos kω]] · [sin pω, cos pω]`
#
# a rotation by `kω` that depends on the offset `k` only, not on `p`. So "the token three to
# the left" is the same linear map at every position, something a layer can learn once and
# use everywhere. And the dot product of two encodings, `PE[p]·PE[q] = Σ_i cos((p − q)ω_i)`,
# depends only on the distance `p − q`. Every position has the same norm, `√(D/2)` (even `D`).
#
# **Why fixed: extrapolation.** The formula has no parameters and is defined for any `p`, so
# it gives a vector for position 5,000 even if training never went past 256 (whether the
# model *uses* it well is another matter). A learned table simply has no row there.
#
# **Precision.** Compute the angles in float64 and cast the table to float32 at the end:
# `p · ω` reaches thousands of radians, and float32's 7 digits would leave only a few
# correct digits of the sine.
#
# `sinusoidal_encoding(max_seq_len, D)` returns the `(max_seq_len, D)` float32 table with no
# Python loop. An odd `D` is allowed: the last column is then a sine with no partner.

# %% nbgrader={"grade": false, "grade_id": "sinusoidal", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
def sinusoidal_encoding(max_seq_len: int, embed_dim: int) -> np.ndarray:
    """The (max_seq_len, embed_dim) float32 table PE[p, 2i] = sin(p·ω_i), PE[p, 2i+1] = cos(p·ω_i),
    ω_i = 10000^(-2i/embed_dim) (section 6)."""
    max_seq_len = _positive_int(max_seq_len, "max_seq_len")
    embed_dim = _positive_int(embed_dim, "embed_dim")
    table = np.empty((max_seq_len, embed_dim))  # float64 until the end
    # Fill every column of `table`: sines in the even ones, cosines in the odd ones.
    ### BEGIN SOLUTION
    rates = 10000.0 ** (-np.arange(0, embed_dim, 2) / embed_dim)  # ω_i for every even column
    angles = np.arange(max_seq_len)[:, None] * rates  # (max_seq_len, ceil(D/2))
    table[:, 0::2] = np.sin(angles)
    table[:, 1::2] = np.cos(angles[:, :embed_dim // 2])
    ### END SOLUTION
    return table.astype(np.float32)


# %% [markdown]
# ### Unit test: the sinusoidal table
# The worked values above, the largest and smallest frequencies, an odd dimension, and the
# two properties: equal norms, and a shift by `k` as one rotation per pair whatever `p` is.

# %% nbgrader={"grade": true, "grade_id": "test-sinusoidal", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false}
def test_unit_sinusoidal():
    from tinytorch.testing import close
    pe = sinusoidal_encoding(3, 4)
    assert pe.shape == (3, 4) and pe.dtype == np.float32, f"got shape {pe.shape}, dtype {pe.dtype}; expected (3, 4), float32"
    assert not np.allclose(pe[0], [np.sin(1), np.cos(1), np.sin(0.01), np.cos(0.01)], atol=1e-6), \
        "row 0 holds the values of position 1: positions run from 0 to max_seq_len - 1"
    close(pe[0], [0, 1, 0, 1], atol=1e-6,
          what="position 0: sin(0) = 0 in the even columns, cos(0) = 1 in the odd ones (sin and cos swapped?)")
    close(pe[1], [np.sin(1), np.cos(1), np.sin(0.01), np.cos(0.01)], atol=1e-6,
          what="position 1 for D = 4: ω = [1, 0.01], since ω_i = 10000^(-2i/D) has 2i, not i, in the exponent")
    close(pe, [[0, 1, 0, 1], [np.sin(1), np.cos(1), np.sin(0.01), np.cos(0.01)],
               [np.sin(2), np.cos(2), np.sin(0.02), np.cos(0.02)]], atol=1e-6, what="D = 4, positions 0..2")
    big = sinusoidal_encoding(50, 16)
    p = np.arange(50)
    for i in range(8):
        omega = 10000.0 ** (-2 * i / 16)
        close(big[:, 2 * i], np.sin(p * omega), atol=1e-6, what=f"column {2 * i} = sin(p * 10000^(-{2 * i}/16))")
        close(big[:, 2 * i + 1], np.cos(p * omega), atol=1e-6, what=f"column {2 * i + 1} = cos(p * 10000^(-{2 * i}/16))")
    odd = sinusoidal_encoding(6, 5)
    close(odd[:, 4], np.sin(np.arange(6) * 10000.0 ** (-4 / 5)), atol=1e-6, what="D = 5: the last column is a sine")
    close(odd[:, :4:2], np.sin(np.arange(6)[:, None] * 10000.0 ** (-np.array([0, 2]) / 5)), atol=1e-6,
          what="D = 5: even columns use ω_i = 10000^(-2i/5)")
    close(np.linalg.norm(big, axis=1), np.full(50, np.sqrt(8)), atol=1e-5, what="every position has norm sqrt(D/2)")
    k = 7
    for i in range(8):
        omega = 10000.0 ** (-2 * i / 16)
        rot = np.array([[np.cos(k * omega), np.sin(k * omega)], [-np.sin(k * omega), np.cos(k * omega)]])
        close(big[k:, 2 * i:2 * i + 2], big[:-k, 2 * i:2 * i + 2] @ rot.T, atol=1e-5,
              what=f"pair {i}: PE[p + {k}] is PE[p] rotated by {k}ω, for every p")
    far = sinusoidal_encoding(10001, 12)[-10:]  # positions 9991..10000: angles up to 10,000 radians
    rates = 10000.0 ** (-np.arange(0, 12, 2) / 12)
    angles = np.arange(9991, 10001)[:, None] * rates
    close(far[:, 0::2], np.sin(angles), atol=1e-6, rtol=0,
          what="positions 9991..10000, sines: compute ω and the angles in float64 (float32 is off by ~1e-4 here)")
    close(far[:, 1::2], np.cos(angles), atol=1e-6, rtol=0,
          what="positions 9991..10000, cosines: compute ω and the angles in float64")
    print("sinusoidal encoding: OK")


if __name__ == "__main__":
    test_unit_sinusoidal()

# %% [markdown]
# ## 7. Adding positions: `PositionalEncoding` and `LearnedPositionalEmbedding`
#
# Both layers take token vectors `x` of shape `(B, T, D)` and add to row `t` of every
# sequence the vector of position `offset + t`, the same for every sequence of the batch.
# The `offset` is a seam for module 17: with a KV cache, the model
# processes one new token at a time, and that token sits at position `offset`, not 0. Its
# default 0 is what training uses.
#
# - `PositionalEncoding(max_seq_len, D)` precomputes the sinusoidal table as a plain NumPy
#   array (a constant, not a parameter: the optimizer must not change it, and `state_dict`
#   does not save it). Its gradient goes to `x` only.
# - `LearnedPositionalEmbedding(max_seq_len, D)`, GPT's choice, holds `weight`, a parameter
#   of shape `(max_seq_len, D)` drawn from N(0, 1). The rows it adds must stay in the graph,
#   so that the gradient reaches exactly the rows used, and nothing else. (A NumPy array
#   taken out of a Tensor is outside the graph: the table would never learn, and no error
#   would tell you; the test checks that `weight.grad` arrives.)
#
# | | sinusoidal | learned |
# |---|---|---|
# | parameters | 0 | `max_seq_len · D` (GPT-2: 0.79 M) |
# | beyond `max_seq_len` | defined (quality uncertain) | impossible: no row |
# | relative offsets | built in (rotations) | must be learned from data |
# | used by | the 2017 Transformer | GPT-2, BERT; nanoGPT |
#
# Vaswani et al. report both give nearly the same quality; GPT-2 learned its table. Later
# models moved the position into attention itself (rotary embeddings, ALiBi), keeping the
# relative idea of the sinusoid.
#
# The checks are given (`_check_positions`): `x` must be a Tensor of shape `(…, T, D)` with
# the layer's `D`, `offset` a non-negative int, and `offset + T ≤ max_seq_len`, otherwise a
# `ValueError` naming the positions that do not fit. It returns `T`.

# %% nbgrader={"grade": false, "grade_id": "positions", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
def _check_positions(layer: Module, x, offset, max_seq_len: int, embed_dim: int) -> int:
    """T of `x` (…, T, D), after checking D, the offset and that the positions fit (given)."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{layer!r} takes a Tensor of shape (B, T, {embed_dim}), got {type(x).__name__}")
    if x.ndim < 2 or x.shape[-1] != embed_dim:
        raise ValueError(f"{layer!r} expects x of shape (B, T, {embed_dim}), got {x.shape}")
    if not isinstance(offset, int | np.integer) or isinstance(offset, bool):
        raise TypeError(f"{layer!r}: offset must be an int, got {type(offset).__name__}")
    seq_len = x.shape[-2]
    if offset < 0 or offset + seq_len > max_seq_len:
        raise ValueError(f"{layer!r}: positions {offset}..{offset + seq_len - 1} (offset {offset}, "
                         f"T = {seq_len}) do not fit max_seq_len = {max_seq_len}")
    return seq_len


class PositionalEncoding(Module):
    """Adds the fixed sinusoidal encoding of positions offset..offset+T-1 to x (…, T, D)."""

    def __init__(self, max_seq_len: int, embed_dim: int):
        super().__init__()
        self.encoding = sinusoidal_encoding(max_seq_len, embed_dim)  # a constant, not a parameter
        self.max_seq_len, self.embed_dim = self.encoding.shape

    def forward(self, x: Tensor, offset: int = 0) -> Tensor:
        seq_len = _check_positions(self, x, offset, self.max_seq_len, self.embed_dim)
        ### BEGIN SOLUTION
        return x + self.encoding[offset:offset + seq_len]
        ### END SOLUTION

    def extra_repr(self) -> str:
        return f"{self.max_seq_len}, {self.embed_dim}"


class LearnedPositionalEmbedding(Module):
    """Adds learned position vectors (rows offset..offset+T-1 of `weight`) to x (…, T, D)."""

    def __init__(self, max_seq_len: int, embed_dim: int, *, rng=None):
        super().__init__()
        self.max_seq_len = _positive_int(max_seq_len, "max_seq_len")
        self.embed_dim = _positive_int(embed_dim, "embed_dim")
        table = get_rng(rng).standard_normal((self.max_seq_len, self.embed_dim))
        self.weight = Tensor(table, requires_grad=True)

    def forward(self, x: Tensor, offset: int = 0) -> Tensor:
        seq_len = _check_positions(self, x, offset, self.max_seq_len, self.embed_dim)
        ### BEGIN SOLUTION
        return x + self.weight[offset:offset + seq_len]
        ### END SOLUTION

    def extra_repr(self) -> str:
        return f"{self.max_seq_len}, {self.embed_dim}"


# %% [markdown]
# ### Unit test: adding positions
# Values with and without an offset, gradients (to `x` for both, to the used rows of the
# learned table only), and the errors.

# %% nbgrader={"grade": true, "grade_id": "test-positions", "locked": true, "points": 15, "schema_version": 3, "solution": false, "task": false}
def test_unit_positions():
    from tinytorch.autograd import backward, gradcheck
    from tinytorch.testing import close, raises
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 3, 4)).astype(np.float32)
    fixed = PositionalEncoding(6, 4)
    assert fixed.parameters() == [], f"PositionalEncoding has no parameters, got {len(fixed.parameters())}"
    table = sinusoidal_encoding(6, 4)
    first = fixed(Tensor(x))
    assert not np.allclose(first.data, x + table[1:4], atol=1e-6), \
        "PositionalEncoding added PE[1:4]: row t of each sequence gets the vector of position offset + t, from 0"
    close(first, x + table[:3], what="PositionalEncoding: x + PE[0:3], broadcast over the batch")
    close(fixed(Tensor(x), offset=3), x + table[3:6], what="offset 3: x + PE[3:6]")
    xt = Tensor(x, requires_grad=True)
    g = rng.normal(size=x.shape).astype(np.float32)
    backward(fixed(xt, offset=1), g)
    close(xt.grad, g, what="the gradient of x + PE is the incoming gradient")

    learned = LearnedPositionalEmbedding(5, 4, rng=0)
    assert learned.parameters() == [learned.weight] and learned.weight.shape == (5, 4), \
        f"LearnedPositionalEmbedding: one parameter of shape (5, 4), got {[p.shape for p in learned.parameters()]}"
    w = learned.weight.data.copy()
    close(learned(Tensor(x)), x + w[:3], what="LearnedPositionalEmbedding: x + weight[0:3]")
    close(learned(Tensor(x), offset=2), x + w[2:5], what="offset 2: x + weight[2:5]")
    xt = Tensor(x, requires_grad=True)
    backward(learned(xt, offset=1), g)
    close(xt.grad, g, what="gradient of x")
    assert learned.weight.grad is not None, \
        "LearnedPositionalEmbedding: weight.grad is None after backward, so the rows added were outside the graph"
    want = np.zeros((5, 4), np.float32)
    want[1:4] = g.sum(axis=0)
    close(learned.weight.grad, want, atol=1e-6, what="weight gradient: rows 1..3 get the batch sum, rows 0 and 4 zero")
    assert gradcheck(lambda xx, ww: learned.forward(xx, 1) * ww[1:4], Tensor(x, requires_grad=True),
                     learned.weight), "LearnedPositionalEmbedding gradient wrong"

    raises(ValueError, lambda: fixed(Tensor(np.zeros((1, 7, 4)))), "max_seq_len", "0..6")
    raises(ValueError, lambda: learned(Tensor(x), offset=3), "3..5", "max_seq_len = 5")
    raises(ValueError, lambda: learned(Tensor(np.zeros((2, 3, 5)))), "(B, T, 4)")
    raises(ValueError, lambda: fixed(Tensor(x), offset=-1), "offset -1")
    print("positions: OK")


if __name__ == "__main__":
    test_unit_positions()

# %% [markdown]
# ## 8. Measured: one-hot vs lookup, and three backward passes
#
# The next cell runs on your machine, twice: a table of 8,192 tokens × 256 dimensions (8 MB)
# read by 512 ids, and a character-sized table (76 × 128) read by a batch of 12 × 64 ids,
# the size of module 13's training batch. It times the forward pass as a one-hot matmul and
# as a lookup, then the gradient of the table two ways: the one-hot matmul rule `Xᵀ @ G` and
# your rule. Both must agree; the times tell you what the identity of section 2 costs when
# taken literally.
#
# Expect the lookup to win by orders of magnitude for the large table, where the one-hot is
# 4 million floats for 512 useful ones. For the character table the one-hot is small (768 ×
# 76), and the gap shrinks: the identity costs `N` times the useful work, so its price
# grows with the vocabulary. How your rule compares depends on the tool you chose, `N`, `D`,
# the number of ids and your NumPy version: measure, don't assume. For a feel of the
# numbers, the cell measures CPU time (`time.process_time`, which hardly depends on other
# load); on our shared 2-core machine, one BLAS thread, at a load average of about 11: for the
# large table the one-hot product took about 20 ms and the lookup 0.03–0.07 ms, some 300–600
# times less, and our reference rule about 1.7 ms against 21 ms for `Xᵀ @ G`. For the
# character table the lookup took about 6 times less than the product (0.02 ms against
# 0.13 ms), and `Xᵀ @ G` (0.14 ms) beat our reference rule (about 0.3 ms): at that size the
# fixed costs of a few NumPy calls decide.

# %% nbgrader={"grade": false, "grade_id": "speed-demo", "locked": false, "schema_version": 3, "solution": false, "task": false}
if __name__ == "__main__":
    import time

    def best_of(fn, repeats=5):
        times = []
        for _ in range(repeats):
            start = time.process_time()  # CPU time of this process: hardly depends on other load
            result = fn()
            times.append(time.process_time() - start)
        return min(times), result

    def times(ratio):
        return f"{ratio:,.0f}x" if ratio >= 100 else f"{ratio:.2g}x"

    def measure(demo_n, demo_d, demo_m, demo_rng):
        demo_table = demo_rng.normal(size=(demo_n, demo_d)).astype(np.float32)
        demo_ids = demo_rng.integers(0, demo_n, size=demo_m)
        demo_grad = demo_rng.normal(size=(demo_m, demo_d)).astype(np.float32)
        t_hot, by_matmul = best_of(lambda: one_hot(demo_ids, demo_n) @ demo_table)
        t_look, by_lookup = best_of(lambda: embedding(demo_ids, Tensor(demo_table)).data)
        print(f"{demo_m} ids into a {demo_n} x {demo_d} table. CPU time, forward: one-hot @ W {t_hot * 1e3:.2f} ms "
              f"({2 * demo_m * demo_n * demo_d / 1e9:.3f} GFLOP, one-hot {demo_m * demo_n * 4 / 1e6:.1f} MB), "
              f"lookup {t_look * 1e3:.3f} ms (one-hot / lookup: {times(t_hot / t_look)}); same rows: "
              f"{np.array_equal(by_matmul, by_lookup)}")
        t_mm, g_mm = best_of(lambda: one_hot(demo_ids, demo_n).T @ demo_grad)
        t_rule, (g_rule,) = best_of(lambda: _embedding_backward(demo_grad, None, Tensor(demo_table), demo_ids))
        print(f"    backward: one-hot.T @ G {t_mm * 1e3:.2f} ms, your rule {t_rule * 1e3:.2f} ms "
              f"(one-hot / yours: {times(t_mm / t_rule)}); same gradient: {np.allclose(g_mm, g_rule, atol=1e-4)}")

    measure(8192, 256, 512, np.random.default_rng(0))
    measure(76, 128, 12 * 64, np.random.default_rng(1))
    for name, rows, dim in [("GPT-2 tokens", 50257, 768), ("GPT-2 positions", 1024, 768), ("76 characters", 76, 128)]:
        print(f"{name:>16}: {rows:>6} x {dim} = {rows * dim:>10,} parameters, {rows * dim * 4 / 1e6:8.2f} MB "
              f"float32, {4 * rows * dim * 4 / 1e6:8.2f} MB in training with Adam")

# %% [markdown]
# ## Module test
# A **bigram language model** is nothing but an embedding: `Embedding(V, V)` maps each
# character to a row of `V` logits for the next character. Trained with cross-entropy, its
# best possible loss is the entropy of the next character given the current one, which we can
# also *count* directly. The test trains the table with Adam on a short text and checks that
# the loss reaches the counted optimum: the lookup, the scatter-add (every common character
# repeats hundreds of times per batch) and the layer together, judged by a number computed in
# the same run.
#
# Then **position**: random tokens, and the target of each is whether it sits in the first or
# the second half of its sequence. Tokens alone carry no information about that, so a model
# without positions stays at chance (ln 2 ≈ 0.69 nats), while the same model with either
# position layer learns it. The comparison in one run, not a loss alone, shows that the
# positions carry the information.

# %% nbgrader={"grade": true, "grade_id": "test-module", "locked": true, "points": 15, "schema_version": 3, "solution": false, "task": false}
def test_module():
    from tinytorch.losses import CrossEntropyLoss
    from tinytorch.optimizers import Adam

    text = ("the cat sat on the mat. the dog sat on the log. a cat and a dog met on a mat; "
            "then the cat ran to the log and the dog ran to the mat. ") * 4
    chars = sorted(set(text))
    ids = np.array([chars.index(c) for c in text])
    inputs, targets = ids[:532], ids[1:533]  # 532 = 4 rows of 133 characters
    vocab = len(chars)
    counts = np.zeros((vocab, vocab))
    for current, following in zip(inputs, targets):
        counts[current, following] += 1
    probs = counts / counts.sum(axis=1, keepdims=True)
    optimum = -np.mean(np.log(probs[inputs, targets]))  # the counted bigram entropy, nats per character

    model = Embedding(vocab, vocab, rng=0)
    loss_fn, opt = CrossEntropyLoss(), Adam(model.parameters(), lr=0.2)
    first = None
    for _ in range(300):
        loss = loss_fn(model(inputs.reshape(4, -1)), targets.reshape(4, -1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        first = loss.item() if first is None else first
    final = loss_fn(model(inputs), targets).item()
    assert final < optimum + 0.05, \
        f"a bigram Embedding(V, V) should reach the counted bigram entropy {optimum:.3f} nats: got {final:.3f} (start {first:.3f})"

    from tinytorch.layers import Linear
    seq_ids = np.random.default_rng(0).integers(0, 10, size=(16, 12))
    halves = np.broadcast_to((np.arange(12) >= 6).astype(np.int64), (16, 12))  # 0 first half, 1 second
    losses = {}
    for name, position in [("none", None), ("sinusoidal", PositionalEncoding(12, 16)),
                           ("learned", LearnedPositionalEmbedding(12, 16, rng=2))]:
        tokens, head = Embedding(10, 16, rng=0), Linear(16, 2, rng=1)
        params = tokens.parameters() + head.parameters() + ([] if position is None else position.parameters())
        opt = Adam(params, lr=0.05)
        for _ in range(100):
            x = tokens(seq_ids)
            loss = loss_fn(head(x if position is None else position(x)), halves)
            opt.zero_grad()
            loss.backward()
            opt.step()
        losses[name] = loss.item()
    assert losses["none"] > 0.6, f"without positions the half cannot be known (chance: 0.69 nats), got {losses['none']:.3f}"
    assert losses["sinusoidal"] < 0.1 and losses["learned"] < 0.1, \
        f"with positions the half is easy: losses {losses} (expected sinusoidal and learned < 0.1)"
    print(f"module 11: all tests passed (bigram loss {first:.2f} -> {final:.3f} nats/char, counted optimum "
          f"{optimum:.3f}; first or second half: " + ", ".join(f"{k} {v:.3f}" for k, v in losses.items()) + ")")


if __name__ == "__main__":
    test_module()

# %% [markdown]
# ## Reflection
# - GPT-2 *ties* its token table to its output layer: the logits are `h @ Wᵀ` with the same
#   `W` `(50257, 768)`. How many parameters does that save, and what does the gradient of `W`
#   become (two contributions: which ones)?
# - Your backward rule writes a dense `(N, D)` gradient. How many of its rows are non-zero
#   for a batch of `B·T` tokens, at most? When would a sparse gradient pay off?
# - A model trained with a learned position table of 256 rows is asked for position 300.
#   What happens with your code, and what would you need to change to let it run?
# - For a sinusoidal pair of frequency ω, two positions `p` and `p + 2π/ω` get the same
#   (sin, cos). Why does that not confuse the model in practice?
