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
# # Module 17: Memoization — the KV cache
#
# Module 13's `generate` produces one token per step, and every step runs the whole context
# through the model again to use the output of its last position only. Nearly all of that work
# was already done in the previous step. This module keeps it: a **KV cache** stores, for every
# block, the keys and values of the positions already seen, so each new token costs one
# position of work instead of the whole context. It is the single most important optimization of
# language-model inference: every production system (and PyTorch's `transformers` library) uses
# it.
#
# The cache is *memoization*: remembering the result of a computation that will be asked for
# again. It is exact: the cached model computes the same numbers as the uncached one (up to
# float32 rounding), so `generate_cached` gives the same tokens as `model.generate` for the same
# seed. It plugs into the `cache` seam that module 12 left in `MultiHeadAttention.forward`, and
# the `offset` seam of module 11's positional embedding; no earlier code changes.
#
# ## Learning objectives
# - Explain why generation without a cache costs `O(T²)` positions of work for `T` tokens,
#   and which parts of a transformer's computation can be reused.
# - Explain why the keys and values are cached and the queries are not.
# - Implement a preallocated per-layer `KVCache` filled in place, and compute its memory.
# - Run a GPT one token at a time through the cache (decode), after one pass over the prompt
#   (prefill), and handle the context limit so the result stays identical.
# - Measure the speed-up honestly, and explain why it is below the ratio of the work.
#
# ## How to work
# Each piece you write is a stub that raises `NotImplementedError`: replace the `raise` with
# your code and run the test cell after it. `tito hint 17` lists the stubs, `tito hint 17 NAME`
# gives the next hint for one of them. When every test passes, `tito module complete 17` runs
# the pytest suite, which also compares the cached logits with the uncached ones on larger models.

# %% nbgrader={"grade": false, "grade_id": "memoization-setup", "locked": false, "schema_version": 3, "solution": false, "task": false}
#| default_exp memoization
#| export
import numpy as np

from tinytorch.attention import causal_mask
from tinytorch.autograd import no_grad
from tinytorch.tensor import Config, Tensor
from tinytorch.transformers import GPT, _generation_context, sample_next


def _count(value, name: str, minimum: int = 1) -> int:
    """`value` as an int >= minimum, or a ValueError naming it (given)."""
    if not isinstance(value, int | np.integer) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


# %% [markdown]
# ## 1. Why generation without a cache is O(T²)
#
# To generate, module 13 runs `model(context)` and keeps the logits of the last position only.
# With a prompt of `P` tokens, step `t` (t = 0, 1, …, n − 1) runs `P + t` positions through every
# block, so `n` new tokens cost
#
# `Σ_t (P + t) = n·P + n(n − 1)/2` positions,
#
# quadratic in the length. And each of those positions is the expensive kind: per block, the
# four `D × D` projections of attention and the `D × 4D`, `4D × D` matrices of the MLP, about
# `24·D²` floating-point operations (a multiply-add counts 2), plus attention itself, whose
# scores for `T` positions are a `T × T` matrix per head: `4·T·D` operations per position
# (scores and weighted sum), `4·T²·D` for the step. Summed over the steps, the projections cost
# `O(n²·D²)` and attention `O(n³·D)`.
#
# **What does a new step really need?** Causal attention makes the answer short. The output of
# position `j` in any block depends only on tokens `0 … j`. When token `t` is appended, nothing
# about positions `0 … t − 1` changes, in any block: their hidden states, keys and values are the
# ones the previous step computed. The only new computation is position `t` itself: its hidden
# state in each block, which needs
#
# - its own query, key and value (one position through the projections),
# - the keys and values of **all** earlier positions (to attend to them),
# - and nothing else from the past: not their queries, not their MLP outputs.
#
# So if every block remembers the keys and values it has computed, a step costs one position:
# `24·D²` per block for the projections and MLP, plus `4·t·D` to attend to `t` cached keys.
# Over `n` tokens: `O(n·D²)` and `O(n²·D)`, one power of `n` less for each part.
#
# | | work per step at context `T` (per block) | total for `n` tokens |
# |---|---|---|
# | no cache | `T·24D² + 4T²·D` | `O(n²D² + n³D)` |
# | KV cache | `24D² + 4T·D` | `O(nD² + n²D)` |
#
# **Why K and V, not Q.** In attention `softmax(q·Kᵀ/√d)·V`, the query belongs to the position
# being computed; the keys and values belong to the positions being *read*. A past position is
# never computed again, so its query is never needed again; but it is read by every later token,
# so its key and value are needed at every step. Caching Q would store numbers nobody reads.
# (Caching the attention *outputs* of past positions is not needed either: the next block reads
# the past only through its own cached keys and values.)
#
# The cell below counts the work for our test model: `D = 128`, 4 blocks, a prompt of 16
# tokens, using the formulas above.

# %% nbgrader={"grade": false, "grade_id": "work-count", "locked": false, "schema_version": 3, "solution": false, "task": false}
def generation_flops(embed_dim: int, num_layers: int, prompt_len: int, new_tokens: int, cached: bool) -> int:
    """Floating-point operations of the blocks for generating `new_tokens` tokens (section 1)."""
    D, total = embed_dim, 0
    if cached:  # one prefill over the prompt, then one position per step
        T = prompt_len
        total += T * 24 * D * D + 4 * T * T * D
        for t in range(1, new_tokens):
            total += 24 * D * D + 4 * (prompt_len + t) * D
    else:
        for t in range(new_tokens):
            T = prompt_len + t
            total += T * 24 * D * D + 4 * T * T * D
    return num_layers * total


if __name__ == "__main__":
    print(f"{'new tokens':>10} {'positions, no cache':>20} {'positions, cached':>18} "
          f"{'GFLOP, no cache':>16} {'GFLOP, cached':>14} {'ratio':>6}")
    for n in (50, 100, 200):
        positions = sum(16 + t for t in range(n)), 16 + n - 1
        flops = [generation_flops(128, 4, 16, n, cached) for cached in (False, True)]
        print(f"{n:>10} {positions[0]:>20,} {positions[1]:>18,} {flops[0] / 1e9:>16.2f} "
              f"{flops[1] / 1e9:>14.3f} {flops[0] / flops[1]:>6.1f}")

# %% [markdown]
# The ratio of the work grows with the length: that is the quadratic-versus-linear difference.
# Section 8 measures how much of it survives as wall-clock time.

# %% [markdown]
# ## 2. The cache: preallocated, filled in place
#
# One `KVCache` serves one block. It holds two arrays of shape `(B, H, max_len, hd)` (batch,
# heads, positions, head size: the layout of module 12's `k` and `v`), allocated once, and
# `length`, the number of positions filled so far. Module 12's seam calls, inside
# `MultiHeadAttention.forward`,
#
# ```
# k, v = cache.update(k, v)     # k, v: (B, H, T_new, hd) for this call's T_new positions
# ```
#
# and expects back **all** keys and values so far, `(B, H, length + T_new, hd)`, as Tensors.
#
# **Why preallocate.** The obvious cache keeps a list and concatenates: `K = concat(K, k)` at
# every step. Each concatenation copies everything stored so far, so after `n` steps it has
# copied `1 + 2 + … + n = n(n + 1)/2` positions: the quadratic cost we are removing comes back
# through the memory system. Preallocated arrays are written once per position: `update`
# writes the `T_new` new positions right after the stored ones, in place, advances `length`,
# and returns every stored position as a **view** of the two arrays, not a copy. Cost per
# step: `O(T_new)` positions copied, whatever the length. The arrays stay float32, the dtype of
# the model's keys and values (a Tensor made from an array of another dtype converts it, which
# is a copy).
#
# The views share memory with the cache. That is the point, and it has one consequence: after
# `reset()` the next `update` overwrites rows that earlier views show. Use a view before the
# next reset.
#
# **Errors, not wrong numbers.** `update` raises a `ValueError` when the shapes do not match the
# cache (another batch size, head count or head size, or `k` and `v` of different shapes), and
# when the new positions do not fit (`length + T_new > max_len`): writing past the end would
# either fail with a NumPy broadcasting error or, worse, silently drop positions. Gradients do
# not flow through the stored arrays (they are plain NumPy buffers, written in place), so an
# update with grad mode on and `k` requiring grad raises a `RuntimeError`: a cache is for
# inference, under `no_grad()`.
#
# The constructor, `reset`, `length` and `nbytes` are given; you write `update`.

# %% nbgrader={"grade": false, "grade_id": "kv-cache", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
class KVCache:
    """Keys and values of one attention layer: two preallocated (B, H, max_len, hd) float32 arrays
    filled in place; `update(k, v)` appends this call's positions and returns all of them."""

    def __init__(self, batch_size: int, num_heads: int, max_len: int, head_dim: int):
        shape = tuple(_count(n, name) for n, name in ((batch_size, "batch_size"), (num_heads, "num_heads"),
                                                       (max_len, "max_len"), (head_dim, "head_dim")))
        self.keys = np.zeros(shape, dtype=np.float32)
        self.values = np.zeros(shape, dtype=np.float32)
        self._length = 0

    @property
    def max_len(self) -> int:
        """The number of positions the cache can hold."""
        return self.keys.shape[2]

    @property
    def length(self) -> int:
        """The number of positions filled so far."""
        return self._length

    @property
    def nbytes(self) -> int:
        """Bytes allocated for keys and values (all max_len positions)."""
        return self.keys.nbytes + self.values.nbytes

    def reset(self) -> None:
        """Forget every position (the arrays are kept and overwritten by the next updates)."""
        self._length = 0

    def _check(self, k, v) -> tuple[np.ndarray, np.ndarray]:
        """k and v as arrays of shape (B, H, T_new, hd) that fit in the cache (given)."""
        if Config.grad_enabled and any(isinstance(t, Tensor) and t.requires_grad for t in (k, v)):
            raise RuntimeError("KVCache.update: gradients do not flow through a KV cache; "
                               "run the model under no_grad() when you use one")
        k, v = (np.asarray(t.data if isinstance(t, Tensor) else t) for t in (k, v))
        B, H, _, hd = self.keys.shape
        if k.shape != v.shape or k.ndim != 4 or (k.shape[0], k.shape[1], k.shape[3]) != (B, H, hd) \
                or k.shape[2] == 0:
            raise ValueError(f"KVCache.update needs k and v of shape (B, H, T_new, hd) = ({B}, {H}, T_new >= 1, "
                             f"{hd}), got k {k.shape} and v {v.shape}")
        if self._length + k.shape[2] > self.max_len:
            raise ValueError(f"KVCache.update: {k.shape[2]} new positions do not fit: the cache holds "
                             f"{self._length} of max_len = {self.max_len}; reset() it first")
        return k, v

    def update(self, k, v) -> tuple[Tensor, Tensor]:
        """Write k, v (B, H, T_new, hd) after the stored positions; return all keys and values
        (B, H, length, hd) as Tensors viewing the cache's arrays."""
        k, v = self._check(k, v)
        ### BEGIN SOLUTION
        start, stop = self._length, self._length + k.shape[2]
        self.keys[:, :, start:stop] = k
        self.values[:, :, start:stop] = v
        self._length = stop
        return Tensor(self.keys[:, :, :stop]), Tensor(self.values[:, :, :stop])
        ### END SOLUTION

    def __repr__(self) -> str:
        B, H, S, hd = self.keys.shape
        return f"KVCache(batch_size={B}, num_heads={H}, max_len={S}, head_dim={hd}, length={self._length})"


# %% [markdown]
# ### Unit test: the cache
# Updates of 3, then 1, then 2 positions return the concatenation so far; the returned arrays
# are views of the cache (no copy); earlier rows are never rewritten; a full cache, a wrong shape
# and grad mode raise; `reset` starts again from position 0.

# %% nbgrader={"grade": true, "grade_id": "test-kv-cache", "locked": true, "points": 15, "schema_version": 3, "solution": false, "task": false}
def test_unit_kv_cache():
    from tinytorch.testing import close, raises
    rng = np.random.default_rng(0)
    cache = KVCache(2, 3, 8, 4)
    assert cache.length == 0 and cache.max_len == 8, f"a new cache is empty: {cache!r}"
    ks = [rng.normal(size=(2, 3, n, 4)).astype(np.float32) for n in (3, 1, 2)]
    vs = [rng.normal(size=(2, 3, n, 4)).astype(np.float32) for n in (3, 1, 2)]
    for i, (k, v) in enumerate(zip(ks, vs)):
        k_all, v_all = cache.update(Tensor(k), Tensor(v))
        assert isinstance(k_all, Tensor) and isinstance(v_all, Tensor), "update returns two Tensors"
        total = sum(x.shape[2] for x in ks[:i + 1])
        assert cache.length == total and k_all.shape == (2, 3, total, 4), \
            f"after update {i + 1}: length {cache.length}, keys {k_all.shape}; expected {total}, (2, 3, {total}, 4)"
        before, n = total - ks[i].shape[2], ks[i].shape[2]
        kept = np.allclose(k_all.data[:, :, :before], np.concatenate(ks[:i], axis=2)) if i else True
        assert kept, \
            (f"update {i + 1} changed rows 0..{before - 1}, which hold the {before} positions stored before it: its "
             f"{n} new rows go after them, at rows {before}..{total - 1}"
             + (" (its keys are at row 0)" if np.allclose(k_all.data[:, :, :n], ks[i]) else ""))
        close(k_all, np.concatenate(ks[:i + 1], axis=2), what=f"keys after update {i + 1}")
        assert not np.allclose(v_all.data, np.concatenate(ks[:i + 1], axis=2)), \
            f"update {i + 1} returned the keys as the values: v goes into the values array"
        close(v_all, np.concatenate(vs[:i + 1], axis=2), what=f"values after update {i + 1} (not the keys)")
    dtypes = {"cache.keys": cache.keys.dtype, "cache.values": cache.values.dtype, "returned keys": k_all.dtype,
              "returned values": v_all.dtype}
    assert all(d == np.float32 for d in dtypes.values()), \
        f"the cache stays float32 (the dtype of the model's keys): got {', '.join(f'{n} {d}' for n, d in dtypes.items())}"
    assert np.shares_memory(k_all.data, cache.keys) and np.shares_memory(v_all.data, cache.values), \
        ("update returns views of the preallocated arrays (basic slices), not copies: no concatenate, no .copy(), "
         "no .astype() (and a Tensor made from an array of another dtype converts it, which is a copy too)")
    close(cache.keys[:, :, :6], np.concatenate(ks, axis=2), what="the keys are stored in place, rows 0..5")
    close(cache.keys[:, :, 6:], np.zeros((2, 3, 2, 4)), what="rows past length are untouched")
    raises(ValueError, lambda: cache.update(Tensor(ks[0]), Tensor(vs[0])), "fit", "6")
    assert cache.length == 6, f"a refused update changes nothing: length {cache.length}, expected 6"
    raises(ValueError, lambda: cache.update(Tensor(ks[1][:, :2]), Tensor(vs[1][:, :2])), "shape")
    raises(ValueError, lambda: cache.update(Tensor(ks[1]), Tensor(vs[2])), "shape")
    raises(RuntimeError, lambda: cache.update(Tensor(ks[1], requires_grad=True), Tensor(vs[1])), "no_grad")
    cache.reset()
    k_all, v_all = cache.update(Tensor(ks[2]), Tensor(vs[2]))
    assert cache.length == 2, f"after reset and one update of 2: length {cache.length}"
    close(k_all, ks[2], what="after reset the next update starts at position 0")
    close(v_all, vs[2], what="after reset, values")
    assert cache.nbytes == 2 * 2 * 3 * 8 * 4 * 4, f"nbytes {cache.nbytes}, expected 2 arrays * (2*3*8*4) * 4 bytes"
    print(f"KVCache: OK ({cache!r})")


if __name__ == "__main__":
    test_unit_kv_cache()

# %% [markdown]
# ## 3. What the cache costs in memory
#
# A cache stores, for every block, one key and one value vector of size `D` (all heads together:
# `H · hd = D`) per position and per sequence. In float32 (4 bytes):
#
# `bytes per token per layer = 2 · D · 4`,  `total = 2 · L · D · T · B · 4`
#
# for `L` layers, `T` positions and a batch of `B`. It grows with the context and the batch, not
# with the vocabulary or the MLP. Write `kv_cache_bytes(num_layers, embed_dim, seq_len,
# batch_size=1, bytes_per_value=4)` (2 bytes for float16, which most inference uses).
#
# For GPT-2 (124 M parameters, `D = 768`, 12 layers, a context of 1,024) that is a sizeable
# fraction of the model; at large batch and long context the cache, not the weights, is what
# fills an accelerator's memory, which is why later models share keys and values between heads
# (multi-query and grouped-query attention) or quantize the cache (module 15's tools apply).
# The cell after the test prints the numbers.

# %% nbgrader={"grade": false, "grade_id": "kv-cache-bytes", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
def kv_cache_bytes(num_layers: int, embed_dim: int, seq_len: int, batch_size: int = 1,
                   bytes_per_value: int = 4) -> int:
    """Bytes of the keys and values of `num_layers` layers for `batch_size` sequences of `seq_len`."""
    counts = [_count(n, name) for n, name in ((num_layers, "num_layers"), (embed_dim, "embed_dim"),
                                               (seq_len, "seq_len"), (batch_size, "batch_size"),
                                               (bytes_per_value, "bytes_per_value"))]
    ### BEGIN SOLUTION
    layers, dim, positions, batch, size = counts
    return 2 * layers * dim * positions * batch * size
    ### END SOLUTION


# %% [markdown]
# ### Unit test: cache memory
# The formula against a cache you allocate, for one and for several layers, and the float16 case.

# %% nbgrader={"grade": true, "grade_id": "test-kv-cache-bytes", "locked": true, "points": 5, "schema_version": 3, "solution": false, "task": false}
def test_unit_kv_cache_bytes():
    from tinytorch.testing import raises
    one = KVCache(3, 2, 10, 8)
    got = kv_cache_bytes(1, 16, 10, 3)
    missing = {1920: "half of it: a cache holds a key and a value per position", 1280: "the batch of 3 is missing",
               960: "the 4 bytes per value are missing", 384: "the 10 positions are missing",
               240: "embed_dim 16 is missing"}
    assert got == one.nbytes == 3840, \
        (f"one layer, D = 16, 10 positions, batch 3: got {got}, the cache holds {one.nbytes}, expected 3840"
         + (f" ({missing[got]})" if got in missing else ""))
    assert kv_cache_bytes(5, 16, 10, 3) == 5 * 3840, f"five layers: got {kv_cache_bytes(5, 16, 10, 3)}, expected {5 * 3840}"
    assert kv_cache_bytes(12, 768, 1, bytes_per_value=2) == 36864, \
        f"GPT-2, one token, float16: got {kv_cache_bytes(12, 768, 1, bytes_per_value=2)}, expected 2*12*768*2 = 36864"
    assert kv_cache_bytes(2, 6, 7) == 2 * 2 * 6 * 7 * 4, f"got {kv_cache_bytes(2, 6, 7)}, expected 672"
    raises(ValueError, lambda: kv_cache_bytes(0, 16, 10), "num_layers")
    print("kv_cache_bytes: OK")


if __name__ == "__main__":
    test_unit_kv_cache_bytes()

# %% [markdown]
# The memory of the cache for our test model and for the GPT-2 family, each at its full context,
# one sequence, float32, next to the parameters' memory (module 13's `gpt_parameter_count`, GPT-2
# vocabulary 50,257, its head tied to the embedding so counted once).

# %% nbgrader={"grade": false, "grade_id": "memory-table", "locked": false, "schema_version": 3, "solution": false, "task": false}
if __name__ == "__main__":
    from tinytorch.transformers import gpt_parameter_count
    configs = [("nanoGPT-cpu, 256 positions", 65, 128, 4, 256), ("GPT-2 small", 50257, 768, 12, 1024),
               ("GPT-2 medium", 50257, 1024, 24, 1024), ("GPT-2 XL", 50257, 1600, 48, 1024)]
    print(f"{'model':<20} {'per token per layer':>20} {'per token':>10} {'full context':>13} {'parameters':>11}")
    for name, vocab, dim, layers, context in configs:
        params = gpt_parameter_count(vocab, dim, layers, context) - (vocab * dim if vocab > 1000 else 0)
        print(f"{name:<20} {kv_cache_bytes(1, dim, 1):>18,} B {kv_cache_bytes(layers, dim, 1) / 1024:>7.0f} KB "
              f"{kv_cache_bytes(layers, dim, context) / 2**20:>10.1f} MB {params * 4 / 2**20:>8.0f} MB")

# %% [markdown]
# A GPT-2 XL context of 1,024 tokens needs 600 MB of cache per sequence in float32: a batch of 10
# sequences holds as much cache as the model has weights (about 6 GB). Our model's 1 MB is nothing; on a small
# model the cache's cost is time, not memory (section 8).

# %% [markdown]
# ## 4. One cached forward pass
#
# `GPT.forward(ids)` (module 13) always starts at position 0 and passes no cache. A cached pass
# drives the same public pieces with two extra pieces of information:
#
# - **the position offset**: the new tokens are at positions `length … length + T − 1`, where
#   `length` is how many positions the caches already hold (module 11's positional embedding
#   takes an `offset`).
# - **the mask**: each of the `T` new queries sees every cached key and the new keys up to its
#   own position, and none after it (module 12 has the tool). With `T = 1` every key is allowed,
#   and no mask at all is needed.
#
# `forward_cached(model, ids, caches)` takes ids `(B, T)` and one `KVCache` per block (all
# holding the same number of positions; each block appends to and reads from its own, never
# another block's), and returns the logits `(B, T, vocab)` of the new positions, computed by the
# same public pieces `GPT.forward` uses. It runs under `no_grad()`, and its checks are given:
# ids and caches that do not belong together (another batch size, caches made for another
# model or holding different lengths, no room left for `T` positions) raise a `ValueError`
# before any cache is touched. Called on a prompt
# with empty caches it equals `model(ids)`; called again with the next token, its logits equal
# the last row of `model(all ids so far)`.

# %% nbgrader={"grade": false, "grade_id": "forward-cached", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
def make_caches(model: GPT, batch_size: int, max_len: int | None = None) -> list[KVCache]:
    """One empty KVCache per block of `model`, for `max_len` positions (default max_seq_len) (given)."""
    max_len = model.max_seq_len if max_len is None else _count(max_len, "max_len")
    head_dim = model.embed_dim // model.num_heads
    return [KVCache(batch_size, model.num_heads, max_len, head_dim) for _ in model.blocks]


def _check_caches(model: GPT, ids, caches) -> np.ndarray:
    """ids as (B, T) ints that fit in the caches, made for this model (given)."""
    ids = np.asarray(ids.data if isinstance(ids, Tensor) else ids)
    if ids.ndim != 2 or ids.shape[1] == 0:
        raise ValueError(f"forward_cached needs token ids of shape (B, T) with T >= 1, got shape {ids.shape}")
    if not isinstance(caches, list | tuple) or len(caches) != len(model.blocks) \
            or not all(isinstance(c, KVCache) for c in caches):
        got = f"{type(caches).__name__} of {len(caches)}" if isinstance(caches, list | tuple) else type(caches).__name__
        raise ValueError(f"forward_cached needs a list of {len(model.blocks)} KVCache (one per block, "
                         f"see make_caches), got {got}")
    B, H, S, hd = caches[0].keys.shape
    if any(c.keys.shape != (B, H, S, hd) for c in caches) \
            or (H, hd) != (model.num_heads, model.embed_dim // model.num_heads):
        raise ValueError(f"forward_cached: caches of shapes {[c.keys.shape for c in caches]} do not fit this model "
                         f"({model.num_heads} heads of {model.embed_dim // model.num_heads} in every block); "
                         "make them with make_caches(model, batch_size)")
    lengths = [c.length for c in caches]
    if min(lengths) != max(lengths):
        raise ValueError(f"forward_cached: the caches hold different numbers of positions {lengths}")
    if ids.shape[0] != B:
        raise ValueError(f"forward_cached: ids hold a batch of {ids.shape[0]} sequences, the caches were made "
                         f"for batch_size = {B}")
    if lengths[0] + ids.shape[1] > S:
        raise ValueError(f"forward_cached: {ids.shape[1]} new positions after the {lengths[0]} cached ones do not "
                         f"fit the caches' max_len = {S} (the model's max_seq_len is {model.max_seq_len}); "
                         "reset() the caches and prefill the last positions again")
    return ids


def forward_cached(model: GPT, ids, caches: list[KVCache]) -> Tensor:
    """Logits (B, T, vocab) of the T new tokens ids (B, T), which follow the positions already in
    `caches` (one KVCache per block); appends their keys and values to the caches."""
    ids = _check_caches(model, ids, caches)
    with no_grad():
        ### BEGIN SOLUTION
        offset, seq_len = caches[0].length, ids.shape[1]
        x = model.position_embedding(model.token_embedding(ids), offset=offset)
        mask = None if seq_len == 1 else causal_mask(seq_len, offset + seq_len)
        for block, cache in zip(model.blocks, caches):
            x = block(x, mask=mask, cache=cache)
        return model.head(model.ln_f(x))
        ### END SOLUTION


# %% [markdown]
# ### Unit test: cached forward passes
# A prompt through empty caches gives `model(prompt)`; feeding the rest one token at a time,
# and then in chunks of 2 and 3, gives the matching rows of `model(whole sequence)` within
# `1e-5`; the caches end up holding every position; and the caches must be one per block.

# %% nbgrader={"grade": true, "grade_id": "test-forward-cached", "locked": true, "points": 15, "schema_version": 3, "solution": false, "task": false}
def test_unit_forward_cached():
    from tinytorch.testing import close, raises
    model = GPT(11, 16, 2, 4, 12, rng=3)
    rng = np.random.default_rng(4)
    for p in model.parameters():
        p.data[...] = rng.normal(size=p.shape) * 0.3  # position vectors matter: a wrong offset shows
    model.eval()
    ids = rng.integers(0, 11, size=(2, 10))
    with no_grad():
        full = model(ids).data
    caches = make_caches(model, 2)
    assert len(caches) == 2 and caches[0].keys.shape == (2, 4, 12, 4), f"make_caches: {caches}"
    final_norm = []  # model.ln_f's calls, counted for the message below
    model.ln_f.forward = lambda x: final_norm.append(x.shape) or type(model.ln_f).forward(model.ln_f, x)
    try:
        prompt = forward_cached(model, ids[:, :4], caches)
    except NotImplementedError:
        raise
    except Exception as err:
        lengths = [c.length for c in caches]
        raise AssertionError(f"a prompt of 4 through empty caches raised {type(err).__name__}: {err}; the caches "
                             f"now hold {lengths} positions" + (" - one cache received every block's keys: each "
                             "block needs its own cache (zip the blocks with the caches)" if max(lengths) > 4 else
                             " - the mask is True where a query may attend (module 12's causal_mask), so every "
                             "query sees at least its own key" if "allows no key" in str(err) else "")) from None
    assert [c.length for c in caches] == [4, 4], \
        f"after a prompt of 4 the caches hold {[c.length for c in caches]} positions: each block appends to its own"
    del model.ln_f.forward
    assert final_norm, "forward_cached never called model.ln_f: the final LayerNorm comes before the head, as in GPT"
    other = ids[:, :4].copy()
    other[:, 3] = (other[:, 3] + 1) % 11
    changed = forward_cached(model, other, make_caches(model, 2)).data[:, :3] - prompt.data[:, :3]
    assert np.abs(changed).max() < 1e-6, \
        (f"changing token 3 of a prompt of 4 changed the logits of positions 0..2 (by up to "
         f"{np.abs(changed).max():.3g}): the positions of one call see later ones; a call of T > 1 new tokens "
         f"needs the causal mask")
    close(prompt, full[:, :4], atol=1e-5, what="the prompt through empty caches equals model(prompt)")
    assert [c.length for c in caches] == [4, 4], f"after a prompt of 4 the caches hold {[c.length for c in caches]}"
    steps = [forward_cached(model, ids[:, t:t + 1], caches).data for t in range(4, 10)]
    close(steps[0], full[:, 4:5], atol=1e-5, what="token 4 after a prompt of 4: it sits at position 4, so the "
          "positional embedding's offset is the number of positions the caches held before the call")
    assert steps[0].shape == (2, 1, 11), f"one token in, logits (B, 1, vocab) out: got {steps[0].shape}"
    close(np.concatenate(steps, axis=1), full[:, 4:], atol=1e-5, what="tokens 4..9 one at a time through the caches")
    assert all(c.length == 10 for c in caches), f"every block's cache holds 10 positions: {[c.length for c in caches]}"
    chunked = make_caches(model, 2, max_len=10)
    try:
        parts = [forward_cached(model, ids[:, a:b], chunked).data for a, b in ((0, 2), (2, 5), (5, 7), (7, 10))]
    except NotImplementedError:
        raise
    except Exception as err:
        raise AssertionError(f"chunks of 2, 3, 2, 3 tokens: forward_cached raised {type(err).__name__}: {err}. A "
                             "chunk of T new tokens after L cached ones has T queries and L + T keys: its mask is "
                             "(T, L + T), not (T, T)") from None
    close(np.concatenate(parts, axis=1), full, atol=1e-5, what="chunks of 2, 3, 2, 3 (a mask with an offset)")
    raises(ValueError, lambda: forward_cached(model, ids, make_caches(model, 2)[:1]), "KVCache")
    print("forward_cached: OK")


if __name__ == "__main__":
    test_unit_forward_cached()

# %% [markdown]
# ## 5. Prefill and decode
#
# A cached generation has two phases with very different costs.
#
# **Prefill**: the whole prompt goes through the model in one pass (`forward_cached` with `T = P`
# tokens and empty caches). That is `P` positions at once: every projection is a `(B·P, D) @
# (D, D)` matrix multiply, large enough for BLAS to run near its peak, like a training forward
# pass. It fills the caches with the prompt's keys and values and gives the logits for the first
# new token.
#
# **Decode**: then one token per step (`T = 1`). Each projection is now a `(B, D) @ (D, D)`
# product: every weight of the model is read from memory to do 2 operations with it per sequence
# of the batch, and attention reads the whole cache to produce one vector. Decode is limited by
# memory traffic (on large models) and by fixed per-operation costs (on small ones, including
# ours: each of our ops costs some microseconds of Python and NumPy overhead whatever its size),
# not by arithmetic. That is why serving systems batch many users' decode steps together, and why
# the measured speed-up of section 8 is below the ratio of operations of section 1.
#
# Only the last position's logits are needed to sample the next token, in both phases.

# %% [markdown]
# ## 6. The context limit
#
# Our GPT has learned position vectors for `max_seq_len` positions only. When the sequence grows
# past that, module 13's `generate` crops the context to its **last** `max_seq_len` tokens, so
# every token moves to a new position at every step: the first token of the window is at
# position 0, and at the next step that is another token. The keys and values in the cache were
# computed at the old positions (the position vector is added before the first block, and every
# later block's keys depend on it), so none of them is valid any more.
#
# There is no exact shortcut: the cached generation must give the same tokens as the uncached
# one, so once the sequence is longer than `max_seq_len` each step **re-prefills**: reset the
# caches and run the cropped window through `forward_cached` as a prompt. Beyond the limit each
# step then costs what it costs without a cache; before it, one position. (Models with relative
# positions, such as rotary embeddings, can slide a cache window by dropping the oldest entries,
# at the price of results that differ from recomputing the window. Other systems start a
# shorter window when the cache is full, also inexact: section 9 has you design that policy.
# Here we keep exact.)
#
# ## 7. Cached generation
#
# `generate_cached(model, ids, max_new_tokens, temperature=1.0, top_k=None, seed=None)` has the
# arguments, checks and result of module 13's `generate` (given: the same checks, evaluation
# mode, `rng = np.random.default_rng(seed)`, restoring the mode). You write the loop. Its
# contract:
#
# - **the same tokens** as `model.generate` for the same arguments: every token is drawn by
#   module 13's `sample_next` from the logits `model.generate` would compute at that step, with
#   the one generator `rng`;
# - **the work of section 1**: the prompt (its last `max_seq_len` tokens) goes through the model
#   once, then one position per new token while the sequence fits in `max_seq_len`; past that,
#   section 6's re-prefill;
# - the model runs `max_new_tokens` times, like module 13's loop: not once more after the last
#   token (its logits would be thrown away).

# %% nbgrader={"grade": false, "grade_id": "generate-cached", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
def generate_cached(model: GPT, ids, max_new_tokens: int, temperature: float = 1.0, top_k: int | None = None,
                    seed: int | None = None) -> np.ndarray:
    """`model.generate` with a KV cache: the same tokens for the same arguments, one position of
    work per new token (until the context exceeds max_seq_len, then the window is re-prefilled)."""
    out, rank = _generation_context(model, ids, max_new_tokens, "generate_cached")  # module 13's checks
    rng = np.random.default_rng(seed)
    window = model.max_seq_len
    was_training = model.training
    model.eval()
    try:
        ### BEGIN SOLUTION
        caches = make_caches(model, out.shape[0])
        if max_new_tokens:
            logits = forward_cached(model, out[:, -window:], caches).data[:, -1]
        for step in range(max_new_tokens):
            token = sample_next(logits, temperature, top_k, rng)
            out = np.concatenate([out, token[:, None]], axis=1)
            if step == max_new_tokens - 1:
                break
            if caches[0].length < window:
                logits = forward_cached(model, token[:, None], caches).data[:, -1]
            else:
                for cache in caches:
                    cache.reset()
                logits = forward_cached(model, out[:, -window:], caches).data[:, -1]
        ### END SOLUTION
    finally:
        model.train(was_training)
    return out if rank == 2 else out[0]


# %% [markdown]
# ### Unit test: cached generation
# The same tokens as `model.generate` for several seeds, temperatures and top-k, for one
# sequence and a batch; a prompt longer than `max_seq_len` and a generation running far past it
# (the re-prefill); the mode restored; `max_new_tokens = 0`; and the work: the attention weights
# of the last model call (module 12's `last_weights`) show one query over the cached keys, and
# a long prompt prefilled in one pass over its last `max_seq_len` tokens.

# %% nbgrader={"grade": true, "grade_id": "test-generate-cached", "locked": true, "points": 15, "schema_version": 3, "solution": false, "task": false}
def test_unit_generate_cached():
    from tinytorch.testing import raises
    model = GPT(13, 16, 2, 2, 8, rng=5)
    rng = np.random.default_rng(6)
    for p in model.parameters():
        p.data[...] = rng.normal(size=p.shape) * 0.5  # a confident model: different seeds differ
    prompt = np.array([3, 1, 4])
    starts = np.array([[1, 2, 3, 4, 5], [6, 7, 8, 9, 10]])
    with no_grad():
        greedy = model(starts).data.argmax(axis=-1)  # (2, 5): the greedy token after each prompt position
    first = generate_cached(model, starts, 1, temperature=0)[:, -1]
    for row in range(2):
        earlier = np.flatnonzero(greedy[row, :-1] == first[row])
        assert first[row] == greedy[row, -1], \
            (f"greedy, 1 new token after {starts[row].tolist()}: expected {greedy[row, -1]}, the argmax of the last "
             f"prompt position's logits, got {first[row]}"
             + (f", the argmax after position {earlier[0]}" if earlier.size else ""))
    for kwargs in ({"seed": 0}, {"seed": 1, "temperature": 0.7}, {"seed": 2, "top_k": 3}, {"temperature": 0}):
        cached, plain = generate_cached(model, prompt, 4, **kwargs), model.generate(prompt, 4, **kwargs)
        assert cached.dtype == np.int64 and cached.shape == (7,), f"{kwargs}: got {cached.shape} {cached.dtype}, expected (7,) int64"
        drift = "seed" in kwargs and cached[3] == plain[3] and cached.tolist() != plain.tolist()
        assert cached.tolist() == plain.tolist(), \
            (f"{kwargs}: cached {cached.tolist()} != uncached {plain.tolist()}" + (
                "; the first new token agrees, later ones do not: every step draws from the one generator `rng`, "
                "in order (no new generator per step), from the logits of the last position" if drift else ""))
    runs = {tuple(generate_cached(model, prompt, 5, seed=s)) for s in range(5)}
    assert len(runs) > 1, "different seeds should give different samples"
    batch = np.array([[1, 2, 3, 4, 5], [6, 7, 8, 9, 10]])
    cached, plain = generate_cached(model, batch, 3, seed=7), model.generate(batch, 3, seed=7)
    assert cached.shape == (2, 8) and cached.tolist() == plain.tolist(), \
        f"a batch of 2 (max_seq_len 8 reached): cached {cached.tolist()}, uncached {plain.tolist()}"
    long_run = generate_cached(model, prompt, 20, seed=3)
    assert long_run.tolist() == model.generate(prompt, 20, seed=3).tolist(), \
        (f"23 tokens with max_seq_len 8: past position 8 each step re-prefills the last max_seq_len = 8 tokens, "
         f"the window model.generate reads; got {long_run.tolist()}")
    long_prompt = np.arange(11) % 13
    try:
        generate_cached(model, long_prompt, 1, temperature=0)
    except ValueError as error:
        raise AssertionError(f"a prompt of 11 > max_seq_len 8 raised ValueError ({error}): prefill only the "
                             f"prompt's last max_seq_len tokens, the window model.generate reads") from None
    assert generate_cached(model, long_prompt, 6, temperature=0).tolist() == \
        model.generate(long_prompt, 6, temperature=0).tolist(), "a prompt of 11 > max_seq_len 8 is cropped"
    generate_cached(model, long_prompt, 1, temperature=0)
    seen = model.blocks[0].attn.last_weights.shape
    assert seen == (1, 2, 8, 8), f"a prompt of 11, one new token: one prefill of the last 8 tokens, (1, 2, 8, 8) " \
        f"attention weights, got {seen}"
    assert generate_cached(model, prompt, 0).tolist() == [3, 1, 4], "max_new_tokens = 0 returns the prompt"
    generate_cached(model, prompt, 6, seed=0)
    seen = model.blocks[0].attn.last_weights.shape
    assert seen == (1, 2, 1, 8), f"3 + 6 tokens with max_seq_len 8: the last call feeds the token at position 7, " \
        f"which still fits: one query over 8 cached keys, (1, 2, 1, 8) attention weights, got {seen}; re-prefill " \
        "only when the sequence no longer fits in max_seq_len"
    one = GPT(13, 16, 1, 2, 16, rng=8)
    plain = one.generate(prompt, 6, seed=0)
    assert generate_cached(one, prompt, 6, seed=0).tolist() == plain.tolist(), "a one-block GPT: cached != uncached"
    seen = one.blocks[0].attn.last_weights.shape
    assert seen == (1, 2, 1, 8), f"3 + 6 tokens: the last model call should be one query over 8 cached keys, " \
        f"attention weights {seen}: no model call after the last token, no re-prefill before max_seq_len"
    model.train()
    generate_cached(model, prompt, 2, seed=0)
    assert model.training, "generate_cached restores training mode"
    raises(ValueError, lambda: generate_cached(model, np.zeros((1, 2, 3), int), 2), "shape")
    print("generate_cached: OK")


if __name__ == "__main__":
    test_unit_generate_cached()

# %% [markdown]
# ## 8. Measuring the speed-up
#
# The test above proves the cache is exact; now, is it fast? The cell below builds a GPT with 4
# blocks of `D = 128` (4 heads, `max_seq_len = 256`, nanoGPT's vocabulary of 65 characters;
# M05's Shakespeare has 76, which changes only the head), takes a prompt of 16 tokens and generates 50, 100 and 200 tokens with and
# without the cache, at temperature 1 with the same seed, checking that the tokens are the same.
# The weights are random: speed does not depend on them.
#
# Honest timing on a shared machine: one BLAS thread for both sides (`threadpoolctl`), the two
# sides interleaved (cached, uncached, cached, … at each length) so that a burst of load hits
# both, the best of the repeats for each. Besides tokens per second the cell prints the
# arithmetic rate each side reached: section 1's count of the blocks' operations divided by the
# measured time.
#
# On our 2-core reference machine, idle (load average 1.2) with `TINYTORCH_REPEATS=3`, one run
# gave:
#
# | new tokens | cached | uncached | speed-up | ratio of the work |
# |---|---|---|---|---|
# | 50 | 1,009 tokens/s | 414 tokens/s | 2.4× | 31.6× |
# | 100 | 988 tokens/s | 308 tokens/s | 3.2× | 58.3× |
# | 200 | 1,057 tokens/s | 187 tokens/s | 5.6× | 111.8× |
#
# The cached generator keeps a steady rate, because a decode step costs about the same at every
# length; the uncached one slows as the context grows. Shared with a dozen other jobs, the same
# machine runs every side several times slower and the ratios scatter from run to run (at 200
# tokens we have seen anything from 3.7× to 7.8×): compare the two sides of one run, never the
# numbers of two runs. Your cell prints its own.
#
# The speed-up is far below the ratio of the work. A decode step does about 1/100 of the
# arithmetic of an uncached step at this length, but it still runs a few dozen small ops per
# block (two layer norms; a matrix multiply and a bias add for each of six `Linear` layers; the
# reshapes into heads and back; scores, scaling, softmax and weighted sum; GELU; two residual
# adds), each costing a fixed few microseconds of Python and NumPy dispatch and checking,
# whatever its size. At `D = 128` a cached step is almost all fixed cost: in the idle run above
# the cached side reached about 2 GFLOP/s, the uncached one 28–40 GFLOP/s, its big matrix
# multiplies keeping BLAS busy. The speed-up still grows with the length, because the uncached
# cost per step grows with the context while the cached one barely does. On a larger model the
# fixed costs matter less and the measured ratio moves towards the ratio of the work: change
# `speed_model` to `GPT(65, 256, 4, 4, 256, rng=0)` and see (it takes longer to run).

# %% nbgrader={"grade": false, "grade_id": "speed", "locked": false, "schema_version": 3, "solution": false, "task": false}
def time_generation(model: GPT, prompt, lengths=(50, 100, 200), repeats: int = 1, seed: int = 0) -> list[dict]:
    """Wall-clock seconds of generate_cached and model.generate at each length, one BLAS thread,
    interleaved; also checks that both give the same tokens (a demo: no test times anything)."""
    import time

    from threadpoolctl import threadpool_limits
    rows = []
    with threadpool_limits(limits=1):
        for n in lengths:
            times = {"cached": [], "uncached": []}
            for _ in range(repeats):
                for side, run in (("cached", generate_cached), ("uncached", type(model).generate)):
                    start = time.perf_counter()
                    tokens = run(model, prompt, n, seed=seed)
                    times[side].append(time.perf_counter() - start)
                    if side == "cached":
                        cached_tokens = tokens
                    elif not np.array_equal(tokens, cached_tokens):
                        raise AssertionError(f"cached and uncached generation differ at {n} tokens")
            best = {side: min(t) for side, t in times.items()}
            rows.append({"new_tokens": n, **best, "speedup": best["uncached"] / best["cached"]})
    return rows


if __name__ == "__main__":
    import os
    speed_model = GPT(65, 128, 4, 4, 256, rng=0)
    speed_prompt = np.random.default_rng(1).integers(0, 65, size=16)
    shape = (speed_model.embed_dim, speed_model.num_layers, len(speed_prompt))
    # TINYTORCH_REPEATS=3 for steadier numbers (about 3 times as long)
    rows = time_generation(speed_model, speed_prompt, repeats=int(os.environ.get("TINYTORCH_REPEATS", 1)))
    print(f"{'new tokens':>10} | {'cached: s':>9} {'tokens/s':>9} {'GFLOP/s':>8} | {'uncached: s':>11} "
          f"{'tokens/s':>9} {'GFLOP/s':>8} | {'speed-up':>8} {'work ratio':>10}")
    for row in rows:
        n = row["new_tokens"]
        work = {side: generation_flops(*shape, n, side == "cached") for side in ("cached", "uncached")}
        (cs, ct, cg), (us, ut, ug) = ((row[side], n / row[side], work[side] / row[side] / 1e9) for side in work)
        print(f"{n:>10} | {cs:>9.2f} {ct:>9.0f} {cg:>8.1f} | {us:>11.2f} {ut:>9.0f} {ug:>8.1f} | "
              f"{row['speedup']:>7.1f}x {work['uncached'] / work['cached']:>9.1f}x")
    print(f"cache memory: {sum(c.nbytes for c in make_caches(speed_model, 1)):,} bytes for "
          f"{speed_model.num_layers} blocks x {speed_model.max_seq_len} positions")

# %% [markdown]
# ## 9. A policy you design: what to keep when the cache is full
#
# Section 6 kept `generate_cached` exact, and paid for it: past `max_seq_len` every step
# re-prefills the whole window, `S = max_seq_len` positions per token, the cost of no cache at
# all. Real systems give up exactness there. The model has only seen windows that start at
# position 0, so a full cache cannot just drop its oldest entry and go on (every cached key was
# computed at a position that would then be wrong). What it can do is **start a new window**:
# when the caches are full, reset them and prefill a *shorter* window of the most recent tokens.
# The model then reads less context for a while, and the caches have room again for many cheap
# decode steps.
#
# How much to keep is the decision. Keeping the whole window (`S` tokens) is exact and costs `S`
# positions at every step. Keeping `m` tokens costs `m` positions once, then buys `S − m` decode
# steps of one position each, during which the model sees between `m` and `S` tokens: a long
# `m` keeps more context, a short one costs less. The contract of
# `generate_windowed(model, ids, max_new_tokens, min_context, temperature=1.0, top_k=None, seed=None)`:
#
# - checks, result, evaluation mode and `rng` as `generate_cached` (given); `min_context` is an
#   int with `1 ≤ min_context ≤ max_seq_len // 2` (checked for you);
# - every new token is drawn by `sample_next(logits, temperature, top_k, rng)`, one call per new
#   token, where `logits` are the model's last-position logits for a **window** of the most recent
#   `w` tokens of the sequence so far (the window at positions `0 … w − 1`, as in `model(...)`):
#   while the sequence fits (`length ≤ max_seq_len`), the window is the whole sequence, so the
#   tokens are those of `generate_cached`; after that, any `w` with `min_context ≤ w ≤ max_seq_len`;
# - **the work**: counting every position of every forward pass (a prefill of `w` tokens counts
#   `w`, a decode step 1), a run costs at most `min(P, S) + S + 2·max_new_tokens` positions for a
#   prompt of `P` tokens and `S = max_seq_len`: on average at most two positions per new token
#   however long the run, plus one window's worth for a run that ends right after a reset;
# - the model runs at most `max_new_tokens` times (not after the last token).
#
# The test judges behaviour only: it replays your run and checks each token against the windows
# allowed at its step, and counts the positions your run pushed through the model. Any policy that
# meets the contract passes. Before you write it, work out the cost per token of keeping `m`
# tokens over one cycle (a reset to the next), and which `m` make it at most 2. Then ask what the text loses at the moment of a reset,
# and whether keeping more than `min_context` is worth it.

# %% nbgrader={"grade": false, "grade_id": "generate-windowed", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
def generate_windowed(model: GPT, ids, max_new_tokens: int, min_context: int, temperature: float = 1.0,
                      top_k: int | None = None, seed: int | None = None) -> np.ndarray:
    """Cached generation that, when the caches are full, starts a new window of at least
    `min_context` recent tokens: at most two positions of work per new token (section 9)."""
    out, rank = _generation_context(model, ids, max_new_tokens, "generate_windowed")
    window = model.max_seq_len
    min_context = _count(min_context, "min_context")
    if min_context > window // 2:
        raise ValueError(f"min_context must be at most max_seq_len // 2 = {window // 2}, got {min_context}")
    rng = np.random.default_rng(seed)
    was_training = model.training
    model.eval()
    try:
        ### BEGIN SOLUTION
        keep = max(window // 2, min_context)  # a new window of S/2: S positions buy S/2 + 1 tokens
        caches = make_caches(model, out.shape[0])
        if max_new_tokens:
            logits = forward_cached(model, out[:, -window:], caches).data[:, -1]
        for step in range(max_new_tokens):
            token = sample_next(logits, temperature, top_k, rng)
            out = np.concatenate([out, token[:, None]], axis=1)
            if step == max_new_tokens - 1:
                break
            if caches[0].length < window:
                logits = forward_cached(model, token[:, None], caches).data[:, -1]
            else:
                for cache in caches:
                    cache.reset()
                logits = forward_cached(model, out[:, -keep:], caches).data[:, -1]
        ### END SOLUTION
    finally:
        model.train(was_training)
    return out if rank == 2 else out[0]


# %% [markdown]
# ### Unit test: the window policy
# A run is replayed step by step: the test computes, for every new token, the tokens
# `sample_next` would give (with the run's own draws) for every allowed window, and the token
# must be one of them; the first step that breaks the rule is named, with what the window could
# have been. The positions the model processed are counted (a wrapper around the first block's
# attention) and held to the budget. Greedy and sampled runs, one sequence and a batch, a prompt
# longer than `max_seq_len`, and several `min_context`.

# %% nbgrader={"grade": true, "grade_id": "test-generate-windowed", "locked": true, "points": 15, "schema_version": 3, "solution": false, "task": false}
def test_unit_generate_windowed():
    from tinytorch.testing import raises
    model = GPT(13, 16, 2, 2, 8, rng=5)
    rng = np.random.default_rng(6)
    for p in model.parameters():
        p.data[...] = rng.normal(size=p.shape) * 0.5  # a confident model: different windows, different tokens
    model.eval()
    attn = model.blocks[0].attn
    counted = []

    def counting(x, mask=None, cache=None):  # every position the model processes passes here once
        counted.append(x.shape[1])
        return type(attn).forward(attn, x, mask=mask, cache=cache)

    attn.forward = counting

    class Replay(np.random.Generator):  # replays the run's own draws of one step
        def __init__(self, draws):
            super().__init__(np.random.PCG64(0))
            self.draws = draws

        def random(self, size=None):
            return self.draws

    def replay(prompt, n, min_context, **kwargs):
        counted.clear()
        try:
            got = generate_windowed(model, prompt, n, min_context, **kwargs)
        except NotImplementedError:
            raise
        except Exception as err:
            raise AssertionError(f"generate_windowed(prompt of {np.shape(prompt)}, {n}, min_context={min_context}) "
                                 f"raised {type(err).__name__}: {err}") from None
        work, calls = sum(counted), len(counted)
        prompt2d = np.atleast_2d(prompt)
        assert np.shape(got) == np.shape(prompt)[:-1] + (np.shape(prompt)[-1] + n,), \
            f"shape {np.shape(got)} for a prompt of {np.shape(prompt)} and {n} new tokens"
        got2d = np.atleast_2d(got)
        assert np.array_equal(got2d[:, :prompt2d.shape[1]], prompt2d), "the prompt comes first, unchanged"
        draws = np.random.default_rng(kwargs.get("seed"))
        S = model.max_seq_len
        for i in range(n):
            seq = got2d[:, :prompt2d.shape[1] + i]
            length = seq.shape[1]
            widths = [length] if length <= S else list(range(min_context, S + 1))
            u = draws.random(seq.shape[0]) if kwargs.get("temperature", 1.0) != 0 else None
            options = {}
            for w in widths:
                with no_grad():
                    logits = model(seq[:, -w:]).data[:, -1]

                options[w] = sample_next(logits, kwargs.get("temperature", 1.0), kwargs.get("top_k"), rng=Replay(u))
            token = got2d[:, length]
            if not any(np.array_equal(token, t) for t in options.values()):
                allowed = f"the whole sequence ({length} tokens)" if length <= S else \
                    f"the last w tokens (up to the newest one), {min_context} <= w <= {S}"
                raise AssertionError(
                    f"new token {i} (sequence length {length}, min_context {min_context}, {kwargs}): got "
                    f"{token.tolist()}, which no allowed window gives; the window must be {allowed}, read from "
                    f"position 0 (these windows give {sorted({tuple(t.tolist()) for t in options.values()})}). "
                    + ("Keys cached at old positions cannot be reused once the window moves; a reset and a "
                       "prefill of recent tokens start a valid one." if length > S else ""))
        budget = min(prompt2d.shape[1], S) + S + 2 * n
        assert work <= budget, \
            f"{n} new tokens from a prompt of {prompt2d.shape[1]} (max_seq_len {S}, min_context {min_context}) " \
            f"processed {work} positions, the budget is {budget} (min(P, S) + S + 2 per new token); a full window " \
            f"re-prefilled at every step costs {S} per token: keep fewer tokens when you reset"
        assert calls <= n, f"the model ran {calls} times for {n} new tokens (not after the last one)"
        return got

    ruler = GPT(13, 16, 1, 2, 8, rng=0)  # a model whose greedy token is w - 1 for a window of w tokens
    for name, p in ruler.named_parameters():
        p.data[...] = 1.0 if name.endswith("ln_f.weight") else 0.0
    ruler.position_embedding.weight.data[:, :8] = 10 * np.eye(8)
    ruler.head.weight.data[:8, :8] = np.eye(8)
    for min_context in (2, 3, 4):
        try:
            widths = generate_windowed(ruler, np.array([0, 1, 2]), 30, min_context, temperature=0)[3:] + 1
        except NotImplementedError:
            raise
        except Exception as err:
            raise AssertionError(f"generate_windowed(prompt of 3, 30, min_context={min_context}) raised "
                                 f"{type(err).__name__}: {err}") from None
        for i, w in enumerate(widths.tolist()):
            length = 3 + i
            allowed = [length] if length <= 8 else list(range(min_context, 9))
            assert w in allowed, f"min_context {min_context}: new token {i} (sequence length {length}) was " \
                f"predicted from a window of {w} tokens; allowed: {allowed[0]}" + \
                (f"..{allowed[-1]}: a reset keeps at least min_context tokens" if len(allowed) > 1 else
                 " (the whole sequence while it fits in max_seq_len)")
    prompt = np.array([3, 1, 4])
    first = replay(prompt, 5, 2, temperature=0)
    assert first.tolist() == generate_cached(model, prompt, 5, temperature=0).tolist(), \
        "while the sequence fits in max_seq_len the tokens are generate_cached's"
    for min_context in (1, 2, 4):
        replay(prompt, 30, min_context, temperature=0)
    replay(prompt, 30, 3, seed=0)
    replay(prompt, 25, 2, seed=4, temperature=0.8, top_k=4)
    replay(np.array([[3, 1, 4], [5, 9, 2]]), 20, 2, seed=1)
    replay(np.arange(11) % 13, 12, 4, temperature=0)
    assert replay(prompt, 0, 2).tolist() == [3, 1, 4], "max_new_tokens = 0 returns the prompt"
    del attn.forward
    raises(ValueError, lambda: generate_windowed(model, prompt, 3, 5), "min_context")
    raises(IndexError, lambda: generate_windowed(model, [1, 13], 0, 2), "13")
    print("generate_windowed: OK")


if __name__ == "__main__":
    test_unit_generate_windowed()

# %% [markdown]
# ## Module test
# A tiny GPT learns a short text by heart; cached greedy generation recites it exactly like the
# uncached one, sampled generation agrees token for token, the logits agree within `1e-5`, and a
# generation past the context limit agrees too.

# %% nbgrader={"grade": true, "grade_id": "test-module", "locked": true, "points": 15, "schema_version": 3, "solution": false, "task": false}
def test_module():
    from tinytorch.losses import CrossEntropyLoss
    from tinytorch.optimizers import Adam
    from tinytorch.testing import close
    from tinytorch.transformers import lm_batch
    text = "to be or not to be, that is the question."
    chars = sorted(set(text))
    data = np.array([chars.index(c) for c in text])
    model = GPT(len(chars), 16, 2, 2, 12, rng=0)
    opt, loss_fn = Adam(model.parameters(), lr=2e-2), CrossEntropyLoss()
    rng = np.random.default_rng(0)
    for _ in range(120):
        x, y = lm_batch(data, 16, 12, rng)
        loss = loss_fn(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    recited = generate_cached(model, data[:6], 30, temperature=0)
    assert recited.tolist() == model.generate(data[:6], 30, temperature=0).tolist(), "greedy: cached != uncached"
    assert "".join(chars[i] for i in recited) == text[:36], \
        f"the trained model recites the text: got {''.join(chars[i] for i in recited)!r}"
    sampled = generate_cached(model, data[None, :3], 40, temperature=1.5, top_k=5, seed=11)
    assert sampled.tolist() == model.generate(data[None, :3], 40, temperature=1.5, top_k=5, seed=11).tolist(), \
        "sampled generation past max_seq_len: cached != uncached"
    model.eval()
    caches = make_caches(model, 1)
    step_logits = [forward_cached(model, data[None, :5], caches).data[0, -1]]
    step_logits += [forward_cached(model, data[None, t:t + 1], caches).data[0, -1] for t in range(5, 12)]
    with no_grad():
        close(np.stack(step_logits), model(data[None, :12]).data[0, 4:], atol=1e-5, what="cached vs uncached logits")
    print(f"module 17: all tests passed (recited {''.join(chars[i] for i in recited)!r})")


if __name__ == "__main__":
    test_module()

# %% [markdown]
# ## Reflection
# - A decode step processes one position but takes far more than `1/T` of an uncached step's
#   time on our small model. Where does the rest go? Would batching 8 sequences make each step
#   8 times slower?
# - GPT-2 XL's cache for one full context is 600 MB in float32. How many sequences of 1,024
#   tokens fit beside the weights in 24 GB (float16 for both)? What does grouped-query attention
#   with 8 key/value heads instead of 25 change?
# - Your window policy of section 9 and `generate_cached` agree until the sequence reaches
#   `max_seq_len`. Right after a reset, how much context does your model read, and how does that
#   show in a text generated far past the limit? What would a model trained with relative
#   positions (rotary embeddings) let you do instead?
# - The cache stores keys after the projection. Could it store the block inputs (the normalized
#   residual stream) instead? Compare the memory and the work per step.
