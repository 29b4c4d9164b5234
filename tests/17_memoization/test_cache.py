"""Module 17: KVCache — in-place filling, views, errors, memory."""

import numpy as np
import pytest

from tinytorch.attention import MultiHeadAttention, causal_mask
from tinytorch.autograd import no_grad
from tinytorch.memoization import KVCache, kv_cache_bytes, make_caches
from tinytorch.tensor import Tensor
from tinytorch.testing import close, raises
from tinytorch.transformers import GPT


def _kv(rng, b, h, t, d):
    return (Tensor(rng.normal(size=(b, h, t, d)).astype(np.float32)) for _ in range(2))


def test_cache_stays_float32_and_returns_views():
    cache = KVCache(2, 1, 4, 2)
    k = np.arange(8, dtype=np.float32).reshape(2, 1, 2, 2)
    k_all, v_all = cache.update(Tensor(k), Tensor(-k))
    close(k_all, k, what="the keys")
    close(v_all, -k, what="the values (not the keys)")
    dtypes = {"cache.keys": cache.keys.dtype, "cache.values": cache.values.dtype,
              "returned keys": k_all.dtype, "returned values": v_all.dtype}
    assert all(d == np.float32 for d in dtypes.values()), \
        f"the cache stays float32: got {', '.join(f'{n} {d}' for n, d in dtypes.items())}"
    assert np.shares_memory(k_all.data, cache.keys) and np.shares_memory(v_all.data, cache.values), \
        "update returns views of the preallocated arrays (basic slices), not copies"


def test_many_single_updates_equal_one_concatenation_and_never_reallocate():
    rng = np.random.default_rng(0)
    cache = KVCache(1, 2, 50, 3)
    keys_buffer, values_buffer = cache.keys, cache.values
    ks, vs = [], []
    for _ in range(50):
        k, v = _kv(rng, 1, 2, 1, 3)
        ks.append(k.data)
        vs.append(v.data)
        k_all, v_all = cache.update(k, v)
    assert cache.keys is keys_buffer and cache.values is values_buffer
    assert cache.length == 50 and k_all.shape == (1, 2, 50, 3)
    close(k_all, np.concatenate(ks, axis=2))
    close(v_all, np.concatenate(vs, axis=2))
    assert k_all.dtype == np.float32


def check_second_update_goes_after(cache_class) -> None:
    """An update of 1 after one of 3 lands at row 3 and leaves rows 0..2; one written at row 0 is named."""
    cache = cache_class(1, 1, 6, 2)
    first = np.arange(6, dtype=np.float32).reshape(1, 1, 3, 2)
    cache.update(Tensor(first), Tensor(-first))
    new = np.full((1, 1, 1, 2), 9.0, np.float32)
    k_all, _ = cache.update(Tensor(new), Tensor(-new))
    assert np.array_equal(k_all.data[:, :, :3], first), \
        ("update 2 changed rows 0..2, which hold the 3 positions stored before it: its new row goes after "
         "them, at row 3" + (" (its keys are at row 0)" if np.all(k_all.data[:, :, 0] == 9.0) else ""))
    close(k_all, np.concatenate([first, new], axis=2), what="keys after 3 + 1 positions")


class _WritesAtZero(KVCache):
    """Planted: every update writes from row 0."""

    def update(self, k, v):
        k, v = self._check(k, v)
        n = k.shape[2]
        self.keys[:, :, :n], self.values[:, :, :n] = k, v
        self._length += n
        return Tensor(self.keys[:, :, :self._length]), Tensor(self.values[:, :, :self._length])


def test_a_second_update_goes_after_the_first():
    check_second_update_goes_after(KVCache)


def test_an_update_written_at_row_0_is_named():
    raises(AssertionError, lambda: check_second_update_goes_after(_WritesAtZero), "rows 0..2", "at row 0")


def test_update_accepts_arrays_and_returns_views():
    cache = KVCache(2, 1, 4, 2)
    k = np.arange(8, dtype=np.float32).reshape(2, 1, 2, 2)
    k_all, v_all = cache.update(k, -k)
    assert np.shares_memory(k_all.data, cache.keys) and np.shares_memory(v_all.data, cache.values)
    close(v_all, -k)


def test_errors_name_the_problem_and_change_nothing():
    rng = np.random.default_rng(1)
    cache = KVCache(2, 2, 3, 4)
    cache.update(*_kv(rng, 2, 2, 2, 4))
    raises(ValueError, lambda: cache.update(*_kv(rng, 2, 2, 2, 4)), "do not fit", "max_len = 3")
    raises(ValueError, lambda: cache.update(*_kv(rng, 1, 2, 1, 4)), "(B, H, T_new, hd)")
    raises(ValueError, lambda: cache.update(*_kv(rng, 2, 2, 1, 5)), "(B, H, T_new, hd)")
    raises(ValueError, lambda: cache.update(*_kv(rng, 2, 2, 0, 4)), "T_new >= 1")
    raises(ValueError, lambda: cache.update(np.zeros((2, 2, 4)), np.zeros((2, 2, 4))), "(B, H, T_new, hd)")
    assert cache.length == 2
    for bad in (0, -1, 2.5, True):
        raises(ValueError, lambda bad=bad: KVCache(bad, 2, 3, 4), "batch_size")
    raises(ValueError, lambda: KVCache(1, 2, 0, 4), "max_len")


def test_gradients_are_refused_outside_no_grad_and_allowed_inside():
    cache = KVCache(1, 1, 4, 2)
    k = Tensor(np.ones((1, 1, 1, 2)), requires_grad=True)
    raises(RuntimeError, lambda: cache.update(k, k), "no_grad")
    with no_grad():
        cache.update(k, k)
    assert cache.length == 1


def test_reset_reuses_the_buffers():
    rng = np.random.default_rng(2)
    cache = KVCache(1, 1, 3, 2)
    cache.update(*_kv(rng, 1, 1, 3, 2))
    cache.reset()
    assert cache.length == 0
    k, v = _kv(rng, 1, 1, 1, 2)
    k_all, _ = cache.update(k, v)
    close(k_all, k.data)
    assert "length=1" in repr(cache)


@pytest.mark.parametrize("layers,dim,seq,batch,size",
                         [(1, 8, 1, 1, 4), (4, 128, 256, 1, 4), (12, 768, 1024, 8, 2)])
def test_kv_cache_bytes_matches_allocated_caches(layers, dim, seq, batch, size):
    expected = 2 * layers * dim * seq * batch * size
    got = kv_cache_bytes(layers, dim, seq, batch, size)
    assert got == expected, (f"kv_cache_bytes{(layers, dim, seq, batch, size)} = {got}, expected {expected}"
                             + (" (half: a key and a value per position)" if 2 * got == expected else ""))
    if size == 4 and layers * dim * seq * batch < 10**6:
        model = GPT(5, dim, layers, 2 if dim % 2 == 0 else 1, seq, rng=0)
        assert sum(c.nbytes for c in make_caches(model, batch)) == expected


def test_kv_cache_bytes_rejects_bad_counts():
    raises(ValueError, lambda: kv_cache_bytes(1, 0, 5), "embed_dim")
    raises(ValueError, lambda: kv_cache_bytes(1, 4, 5, batch_size=-2), "batch_size")


def test_attention_through_the_cache_equals_attention_on_the_whole_sequence():
    rng = np.random.default_rng(3)
    attn = MultiHeadAttention(12, 3, rng=0)
    x = Tensor(rng.normal(size=(2, 7, 12)).astype(np.float32))
    with no_grad():
        full = attn(x, mask=causal_mask(7)).data
        cache = KVCache(2, 3, 7, 4)
        first = attn(x[:, :3], mask=causal_mask(3, 3), cache=cache).data
        rest = [attn(x[:, t:t + 1], cache=cache).data for t in range(3, 7)]
    close(np.concatenate([first, *rest], axis=1), full, atol=1e-5)
