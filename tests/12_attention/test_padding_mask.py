"""Module 12: padding_mask, judged by its contract; any policy for the rows of pad queries passes."""

import numpy as np
import pytest

from tinytorch.attention import MultiHeadAttention, causal_mask, padding_mask, scaled_dot_product_attention
from tinytorch.autograd import no_grad
from tinytorch.tensor import Tensor
from tinytorch.testing import close, raises

CASES = [([3, 1, 4], 4), ([2, 5, 1, 5, 3], 5), ([1], 1), ([1, 1], 3), ([6, 6], 6)]


def _real(length, T, pad_left):
    return np.arange(T - length, T) if pad_left else np.arange(length)


@pytest.mark.parametrize("lengths,T", CASES)
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("pad_left", [False, True])
def test_the_mask_meets_its_contract(lengths, T, causal, pad_left):
    m = padding_mask(lengths, T, causal=causal, pad_left=pad_left)
    B = len(lengths)
    assert isinstance(m, np.ndarray) and m.dtype == bool
    for heads in (1, 4):
        assert np.broadcast_shapes(m.shape, (B, heads, T, T)) == (B, heads, T, T), \
            f"shape {m.shape} does not broadcast to the scores {(B, heads, T, T)}"
    full = np.broadcast_to(m, (B, 1, T, T))[:, 0]
    assert full.any(axis=-1).all(), "a query row allows no key: its softmax would be NaN"
    for b, length in enumerate(lengths):
        real = _real(length, T, pad_left)
        is_real = np.isin(np.arange(T), real)
        for rank, i in enumerate(real):
            want = real[: rank + 1] if causal else real
            got = np.flatnonzero(full[b, i])
            assert np.array_equal(got, want), \
                f"sequence {b}, real query {i}: allowed keys {got.tolist()}, want {want.tolist()}"
        assert not (full[b][np.ix_(is_real, ~is_real)]).any(), "a real query may attend to a pad key"


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("pad_left", [False, True])
def test_a_padded_batch_gives_each_sequence_its_own_output(causal, pad_left):
    rng = np.random.default_rng(7)
    mha = MultiHeadAttention(12, 3, rng=8)
    lengths, T = [4, 1, 6, 3], 6
    x = rng.normal(size=(4, T, 12)).astype(np.float32)
    x_other = x.copy()
    for b, length in enumerate(lengths):  # different pad values must change nothing at real positions
        pad = np.setdiff1d(np.arange(T), _real(length, T, pad_left))
        x_other[b, pad] = rng.normal(size=(pad.size, 12)) * 100
    mask = padding_mask(lengths, T, causal=causal, pad_left=pad_left)
    with no_grad():
        out = mha(Tensor(x), mask=mask).data
        out_other = mha(Tensor(x_other), mask=mask).data
        for b, length in enumerate(lengths):
            real = _real(length, T, pad_left)
            alone = mha(Tensor(x[b:b + 1, real]), mask=causal_mask(length) if causal else None).data[0]
            close(out[b, real], alone, atol=1e-5, what=f"sequence {b} of length {length}, padded vs alone")
            close(out_other[b, real], alone, atol=1e-5, what=f"sequence {b}: other pad values")


def test_pad_keys_get_weight_exactly_zero_from_real_queries():
    rng = np.random.default_rng(9)
    q, k, v = (Tensor(rng.normal(size=(2, 2, 5, 4))) for _ in range(3))
    _, w = scaled_dot_product_attention(q, k, v, padding_mask([2, 5], 5, causal=True))
    assert np.all(w.data[0, :, :2, 2:] == 0)
    close(w.data.sum(axis=-1), np.ones((2, 2, 5)), atol=1e-5, what="rows sum to 1")


@pytest.mark.parametrize("lengths,T,fragment", [([0, 2], 3, "1..3"), ([4], 3, "1..3"), ([], 3, "1-D"),
                                                ([[1, 2]], 3, "1-D"), ([1.5], 3, "int")])
def test_bad_lengths_are_refused(lengths, T, fragment):
    raises(ValueError, lambda: padding_mask(lengths, T), fragment)


def test_bad_T_is_refused():
    raises(ValueError, lambda: padding_mask([1], 0), "T")
