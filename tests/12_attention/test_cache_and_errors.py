"""Module 12: the cache seam for module 17 (with a test double), and clear errors for bad input."""

import numpy as np
import pytest

from tinytorch.attention import (
    MultiHeadAttention,
    causal_mask,
    masked_fill,
    merge_heads,
    scaled_dot_product_attention,
    split_heads,
)
from tinytorch.autograd import no_grad
from tinytorch.tensor import Tensor
from tinytorch.testing import raises


class ConcatCache:
    """Stand-in for module 17's KV cache: update() appends along the time axis (axis 2)."""

    def __init__(self):
        self.k = self.v = None
        self.seen = []

    def update(self, k, v):
        self.seen.append(k.shape)
        if self.k is not None:
            k = Tensor(np.concatenate([self.k.data, k.data], axis=2))
            v = Tensor(np.concatenate([self.v.data, v.data], axis=2))
        self.k, self.v = k, v
        return k, v


@pytest.mark.parametrize("prompt,chunks", [(1, [1] * 7), (3, [1, 1, 1, 1, 1]), (2, [3, 1, 2])])
def test_cached_steps_equal_the_full_causal_pass(prompt, chunks):
    rng = np.random.default_rng(0)
    layer = MultiHeadAttention(16, 4, rng=1)
    T = prompt + sum(chunks)
    x = rng.normal(size=(2, T, 16)).astype(np.float32)
    cache = ConcatCache()
    with no_grad():
        full = layer(Tensor(x), mask=causal_mask(T)).data
        outs = [layer(Tensor(x[:, :prompt]), mask=causal_mask(prompt), cache=cache).data]
        t = prompt
        for n in chunks:
            outs.append(layer(Tensor(x[:, t:t + n]), mask=causal_mask(n, t + n), cache=cache).data)
            t += n
    np.testing.assert_allclose(np.concatenate(outs, axis=1), full, atol=1e-5)
    assert cache.seen == [(2, 4, n, 4) for n in [prompt, *chunks]]
    assert cache.k.shape == (2, 4, T, 4)


def test_one_new_token_needs_no_mask_with_a_cache():
    rng = np.random.default_rng(1)
    layer = MultiHeadAttention(8, 2, rng=2)
    x = rng.normal(size=(1, 4, 8)).astype(np.float32)
    cache = ConcatCache()
    with no_grad():
        full = layer(Tensor(x), mask=causal_mask(4)).data
        layer(Tensor(x[:, :3]), mask=causal_mask(3), cache=cache)
        last = layer(Tensor(x[:, 3:]), cache=cache).data
    np.testing.assert_allclose(last[:, 0], full[:, 3], atol=1e-5)


def test_a_cache_with_the_wrong_mask_is_an_error_not_a_wrong_number():
    layer = MultiHeadAttention(8, 2, rng=3)
    cache = ConcatCache()
    x = np.ones((1, 3, 8), np.float32)
    layer(x, mask=causal_mask(3), cache=cache)
    # two new tokens after three cached ones need causal_mask(2, 5), not causal_mask(2)
    raises(ValueError, lambda: layer(x[:, :2], mask=causal_mask(2), cache=cache), "broadcast")


def test_a_cache_returning_the_wrong_thing_is_named():
    class Broken:
        def update(self, k, v):
            return k.data, v.data

    class Shrinking:
        def update(self, k, v):
            return k[:, :1], v[:, :1]

    layer = MultiHeadAttention(8, 2, rng=3)
    x = np.ones((1, 3, 8), np.float32)
    raises(ValueError, lambda: layer(x, cache=Broken()), "cache.update")
    raises(ValueError, lambda: layer(x, cache=Shrinking()), "cache.update")


# --- errors ---------------------------------------------------------------------------------------


def test_causal_mask_errors():
    raises(ValueError, lambda: causal_mask(0), "T_q")
    raises(ValueError, lambda: causal_mask(3, 2), "T_k")
    raises(ValueError, lambda: causal_mask(2.5), "T_q")
    raises(ValueError, lambda: causal_mask(True), "T_q")


def test_masked_fill_errors():
    x = Tensor(np.zeros((2, 3)))
    raises(ValueError, lambda: masked_fill(x, np.ones((2, 3, 1), bool), 0.0), "broadcast")
    raises(ValueError, lambda: masked_fill(x, np.ones((4,), bool), 0.0), "broadcast")
    raises(ValueError, lambda: masked_fill(x, np.full((3,), 0.5), 0.0), "0/1")
    raises(TypeError, lambda: masked_fill(x, np.array(["a", "b", "c"]), 0.0), "mask")


def test_sdpa_errors_name_the_problem():
    q, k, v = Tensor(np.zeros((2, 3, 4))), Tensor(np.zeros((2, 5, 4))), Tensor(np.zeros((2, 5, 6)))
    k3 = Tensor(np.zeros((2, 5, 3)))
    raises(ValueError, lambda: scaled_dot_product_attention(q, k3, v), "same last dimension")
    raises(ValueError, lambda: scaled_dot_product_attention(q, k, Tensor(np.zeros((2, 4, 6)))), "positions")
    raises(ValueError, lambda: scaled_dot_product_attention(Tensor(np.zeros(4)), k, v), "at least 2")
    raises(ValueError, lambda: scaled_dot_product_attention(Tensor(np.zeros((3, 3, 4))), k, v), "broadcast")
    raises(ValueError, lambda: scaled_dot_product_attention(q, k, v, causal_mask(3)), "broadcast")
    big = np.ones((3, 3, 3, 5), bool)
    raises(ValueError, lambda: scaled_dot_product_attention(q, k, v, big), "broadcast")
    empty = np.ones((3, 5), bool)
    empty[1] = False
    err = raises(ValueError, lambda: scaled_dot_product_attention(q, k, v, empty), "no key", "(1,)")
    assert "NaN" in str(err)
    pad = np.ones((2, 1, 5), bool)
    pad[1] = False  # a fully padded sequence
    raises(ValueError, lambda: scaled_dot_product_attention(q, k, v, pad), "no key", "(1, 0)")
    raises(ValueError, lambda: scaled_dot_product_attention(q, k, v, False), "no key")
    additive = np.where(causal_mask(3, 5), 0.0, -np.inf)
    raises(ValueError, lambda: scaled_dot_product_attention(q, k, v, additive), "additive")


def test_heads_errors():
    raises(ValueError, lambda: split_heads(Tensor(np.zeros((2, 3, 10))), 3), "divisible")
    raises(ValueError, lambda: split_heads(Tensor(np.zeros((3, 10))), 2), "(B, T, D)")
    raises(ValueError, lambda: merge_heads(Tensor(np.zeros((2, 3, 4)))), "(B, H, T, d)")


def test_mha_errors():
    raises(ValueError, lambda: MultiHeadAttention(10, 3), "divisible", "10", "3")
    raises(ValueError, lambda: MultiHeadAttention(0, 1), "embed_dim")
    raises(ValueError, lambda: MultiHeadAttention(8, 0), "num_heads")
    raises(ValueError, lambda: MultiHeadAttention(8.0, 2), "embed_dim")
    layer = MultiHeadAttention(8, 2, rng=0)
    raises(ValueError, lambda: layer(np.zeros((2, 3, 6))), "(B, T, 8)")
    raises(ValueError, lambda: layer(np.zeros((3, 8))), "(B, T, 8)")
    raises(ValueError, lambda: layer(np.zeros((1, 3, 8)), mask=causal_mask(4)), "broadcast")
