"""Module 12: forward values of causal_mask, masked_fill, scaled_dot_product_attention and
MultiHeadAttention against plain NumPy references (float64, one head and one query at a time)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


def attention_loops(q, k, v, allowed=None):
    """One query at a time: weights over the keys it may see, then the weighted sum of values."""
    q, k, v = (np.asarray(a, np.float64) for a in (q, k, v))
    batch = np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    tq, tk = q.shape[-2], k.shape[-2]
    q, k, v = (np.broadcast_to(a, batch + a.shape[-2:]) for a in (q, k, v))
    allowed = np.ones((tq, tk), bool) if allowed is None else np.asarray(allowed, bool)
    allowed = np.broadcast_to(allowed, batch + (tq, tk))
    out, weights = np.zeros(batch + (tq, v.shape[-1])), np.zeros(batch + (tq, tk))
    for idx in np.ndindex(*batch):
        for i in range(tq):
            scores = np.array([q[idx][i] @ k[idx][j] / np.sqrt(q.shape[-1]) for j in range(tk)])
            ok = allowed[idx][i]
            e = np.where(ok, np.exp(scores - scores[ok].max()), 0.0)
            weights[idx][i] = e / e.sum()
            out[idx][i] = sum(weights[idx][i][j] * v[idx][j] for j in range(tk))
    return out, weights


def mha_loops(layer, x, allowed=None):
    """MultiHeadAttention with a Python loop over heads, from the layer's own parameters."""
    def lin(p, a):
        return a @ p.weight.data.astype(np.float64) + p.bias.data
    q, k, v = (lin(p, x) for p in (layer.q_proj, layer.k_proj, layer.v_proj))
    d = layer.head_dim
    heads, weights = [], []
    for h in range(layer.num_heads):
        cols = slice(h * d, (h + 1) * d)
        o, w = attention_loops(q[..., cols], k[..., cols], v[..., cols], allowed)
        heads.append(o)
        weights.append(w)
    return lin(layer.out_proj, np.concatenate(heads, -1)), np.stack(weights, 1)


# --- causal_mask ------------------------------------------------------------------------------


@pytest.mark.parametrize("tq,tk", [(1, 1), (4, 4), (3, 7), (1, 9), (5, 6)])
def test_causal_mask_matches_the_definition(tq, tk):
    m = causal_mask(tq, tk)
    want = np.array([[j <= i + (tk - tq) for j in range(tk)] for i in range(tq)])
    assert m.dtype == bool and m.shape == (tq, tk)
    assert np.array_equal(m, want)


def test_causal_mask_default_is_square():
    assert np.array_equal(causal_mask(3), np.tril(np.ones((3, 3), bool)))


def test_causal_mask_rows_each_see_one_more_key():
    m = causal_mask(4, 9)
    assert m.sum(axis=1).tolist() == [6, 7, 8, 9]


# --- masked_fill ------------------------------------------------------------------------------


def test_masked_fill_values_dtype_and_input_untouched():
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    x = Tensor(a.copy())
    out = masked_fill(x, [[True], [False]], -2.5)
    assert out.dtype == np.float32
    assert np.array_equal(out.data, [[-2.5, -2.5, -2.5], [3, 4, 5]])
    assert np.array_equal(x.data, a)


def test_masked_fill_with_minus_infinity_and_a_tensor_mask():
    out = masked_fill(Tensor([1.0, 2.0, 3.0]), Tensor([0.0, 1.0, 0.0]), -np.inf)
    assert out.data.tolist() == [1.0, -np.inf, 3.0]
    assert out.dtype == np.float32


def test_masked_fill_all_false_is_a_copy_with_equal_values():
    x = Tensor(np.random.default_rng(0).normal(size=(2, 3, 4)))
    out = masked_fill(x, np.zeros((3, 4), bool), 9.0)
    assert np.array_equal(out.data, x.data) and out.data is not x.data


# --- scaled_dot_product_attention ---------------------------------------------------------------


@pytest.mark.parametrize("qs,ks,vs", [
    ((5, 4), (5, 4), (5, 3)),
    ((2, 3, 4), (2, 6, 4), (2, 6, 2)),
    ((2, 3, 5, 8), (2, 3, 7, 8), (2, 3, 7, 8)),
    ((2, 1, 4, 3), (1, 3, 4, 3), (1, 3, 4, 5)),  # batch axes broadcast
])
def test_sdpa_matches_loops_without_mask(qs, ks, vs):
    rng = np.random.default_rng(0)
    q, k, v = rng.normal(size=qs), rng.normal(size=ks), rng.normal(size=vs)
    out, w = scaled_dot_product_attention(Tensor(q), Tensor(k), Tensor(v))
    ro, rw = attention_loops(q, k, v)
    assert out.shape == ro.shape and w.shape == rw.shape
    assert out.dtype == np.float32 and w.dtype == np.float32
    np.testing.assert_allclose(w.data, rw, atol=1e-6)
    np.testing.assert_allclose(out.data, ro, atol=1e-5)


@pytest.mark.parametrize("tq,tk", [(4, 4), (2, 6), (1, 5)])
def test_sdpa_causal_mask_matches_loops_and_zeroes_the_future(tq, tk):
    rng = np.random.default_rng(1)
    q, k, v = rng.normal(size=(2, 2, tq, 4)), rng.normal(size=(2, 2, tk, 4)), rng.normal(size=(2, 2, tk, 3))
    m = causal_mask(tq, tk)
    out, w = scaled_dot_product_attention(Tensor(q), Tensor(k), Tensor(v), m)
    ro, rw = attention_loops(q, k, v, m)
    np.testing.assert_allclose(w.data, rw, atol=1e-6)
    np.testing.assert_allclose(out.data, ro, atol=1e-5)
    assert np.all(w.data[..., ~m] == 0.0)
    np.testing.assert_allclose(w.data.sum(-1), 1.0, atol=1e-6)


def test_sdpa_padding_mask_ignores_the_pad_values():
    rng = np.random.default_rng(2)
    q, k, v = rng.normal(size=(2, 2, 3, 4)), rng.normal(size=(2, 2, 5, 4)), rng.normal(size=(2, 2, 5, 4))
    pad = np.ones((2, 1, 1, 5), bool)
    pad[0, ..., 3:] = False
    out, w = scaled_dot_product_attention(Tensor(q), Tensor(k), Tensor(v), pad)
    v2, k2 = v.copy(), k.copy()
    v2[0, :, 3:] = 1e3  # whatever sits in the pad positions
    k2[0, :, 3:] = -7.0
    out2, _ = scaled_dot_product_attention(Tensor(q), Tensor(k2), Tensor(v2), pad)
    np.testing.assert_allclose(out.data, out2.data, atol=1e-5)
    assert np.all(w.data[0, :, :, 3:] == 0)
    np.testing.assert_allclose(out.data, attention_loops(q, k, v, pad)[0], atol=1e-5)


def test_sdpa_mask_conventions_bool_int_float_and_tensor_agree():
    rng = np.random.default_rng(3)
    q, k, v = (Tensor(rng.normal(size=(3, 4, 2))) for _ in range(3))
    m = causal_mask(4)
    results = [scaled_dot_product_attention(q, k, v, mask)[0].data
               for mask in (m, m.astype(int), m.astype(np.float32), Tensor(m), m.tolist())]
    for r in results[1:]:
        assert np.array_equal(r, results[0])
    all_true = scaled_dot_product_attention(q, k, v, np.ones((4, 4), bool))[0].data
    assert np.array_equal(all_true, scaled_dot_product_attention(q, k, v)[0].data)
    assert np.array_equal(scaled_dot_product_attention(q, k, v, True)[0].data, all_true)


def test_sdpa_is_stable_for_large_scores(strict_numerics):
    q = Tensor([[1000.0, 0.0], [0.0, -1000.0]])
    k = Tensor([[1000.0, 0.0], [-1000.0, 0.0], [0.0, 1000.0]])
    v = Tensor(np.eye(3))
    with strict_numerics():
        out, w = scaled_dot_product_attention(q, k, v, causal_mask(2, 3))
    assert np.all(np.isfinite(w.data)) and np.allclose(w.data.sum(-1), 1)
    assert w.data[0, 0] == pytest.approx(1.0)


def test_sdpa_accepts_arrays_and_lists():
    out, _ = scaled_dot_product_attention(np.ones((2, 3)), [[1.0, 0, 0], [0, 1.0, 0]], np.eye(2))
    np.testing.assert_allclose(out.data, [[0.5, 0.5], [0.5, 0.5]])


@settings(max_examples=25, deadline=None)
@given(tq=st.integers(1, 5), extra=st.integers(0, 3), d=st.integers(1, 6), seed=st.integers(0, 2**16))
def test_sdpa_property_rows_sum_to_one_and_causal_outputs_ignore_the_future(tq, extra, d, seed):
    tk = tq + extra
    rng = np.random.default_rng(seed)
    q, k, v = rng.normal(size=(tq, d)), rng.normal(size=(tk, d)), rng.normal(size=(tk, 2))
    m = causal_mask(tq, tk)
    out, w = scaled_dot_product_attention(Tensor(q), Tensor(k), Tensor(v), m)
    np.testing.assert_allclose(w.data.sum(-1), 1.0, atol=1e-5)
    v_future = v.copy()
    v_future[-1] += 100.0  # only the last query may see the last key
    k_future = k.copy()
    k_future[-1] -= 3.0
    out2, _ = scaled_dot_product_attention(Tensor(q), Tensor(k_future), Tensor(v_future), m)
    np.testing.assert_allclose(out2.data[:-1], out.data[:-1], atol=1e-5)


# --- heads and MultiHeadAttention ---------------------------------------------------------------


@pytest.mark.parametrize("B,T,D,H", [(1, 1, 4, 1), (2, 5, 12, 3), (3, 4, 8, 8)])
def test_split_and_merge_heads_layout(B, T, D, H):
    a = np.random.default_rng(0).normal(size=(B, T, D)).astype(np.float32)
    s = split_heads(Tensor(a), H)
    d = D // H
    for h in range(H):
        assert np.array_equal(s.data[:, h], a[:, :, h * d:(h + 1) * d])
    assert np.array_equal(merge_heads(s).data, a)


@pytest.mark.parametrize("B,T,D,H,causal", [(2, 5, 12, 3, False), (2, 5, 12, 3, True), (1, 7, 8, 1, True),
                                             (3, 4, 16, 4, True), (2, 3, 6, 6, False)])
def test_mha_matches_a_loop_over_heads(B, T, D, H, causal):
    rng = np.random.default_rng(4)
    layer = MultiHeadAttention(D, H, rng=5)
    for p in layer.parameters():
        p.data[...] = rng.normal(size=p.shape) * 0.4
    x = rng.normal(size=(B, T, D)).astype(np.float32)
    m = causal_mask(T) if causal else None
    out = layer(Tensor(x), mask=m)
    ro, rw = mha_loops(layer, x, m)
    assert out.shape == (B, T, D) and out.dtype == np.float32
    np.testing.assert_allclose(out.data, ro, atol=1e-4)
    assert isinstance(layer.last_weights, np.ndarray) and layer.last_weights.shape == (B, H, T, T)
    np.testing.assert_allclose(layer.last_weights, rw, atol=1e-5)


def test_mha_parameters_names_and_init():
    layer = MultiHeadAttention(16, 4, rng=0)
    names = [n for n, _ in layer.named_parameters()]
    projections = ("q_proj", "k_proj", "v_proj", "out_proj")
    assert names == [f"{p}.{w}" for p in projections for w in ("weight", "bias")]
    bound = np.sqrt(6 / 32)  # Xavier uniform for (16, 16)
    for name, p in layer.named_parameters():
        assert p.dtype == np.float32 and p.requires_grad
        if name.endswith("bias"):
            assert np.all(p.data == 0)
        else:
            assert np.abs(p.data).max() <= bound and p.data.std() > bound / 3
    weights = [p.weight.data for p in (layer.q_proj, layer.k_proj, layer.v_proj, layer.out_proj)]
    assert all(not np.array_equal(a, b) for i, a in enumerate(weights) for b in weights[i + 1:])
    again = MultiHeadAttention(16, 4, rng=0)
    for a, b in zip(layer.parameters(), again.parameters(), strict=True):
        assert np.array_equal(a.data, b.data)
    assert len(MultiHeadAttention(16, 4, bias=False).parameters()) == 4
    assert layer.head_dim == 4 and "num_heads=4" in repr(layer)


def test_mha_without_bias_matches_loops():
    rng = np.random.default_rng(6)
    layer = MultiHeadAttention(8, 2, bias=False, rng=1)
    x = rng.normal(size=(2, 3, 8)).astype(np.float32)
    for p in (layer.q_proj, layer.k_proj, layer.v_proj, layer.out_proj):
        p.bias = Tensor(np.zeros(8))  # so mha_loops can add it
    ro, _ = mha_loops(layer, x, causal_mask(3))
    for p in (layer.q_proj, layer.k_proj, layer.v_proj, layer.out_proj):
        p.bias = None
    np.testing.assert_allclose(layer(x, mask=causal_mask(3)).data, ro, atol=1e-5)


def test_mha_causal_output_at_t_ignores_later_tokens():
    rng = np.random.default_rng(7)
    layer = MultiHeadAttention(8, 2, rng=2)
    x = rng.normal(size=(1, 6, 8)).astype(np.float32)
    y = x.copy()
    y[:, 4:] = rng.normal(size=(1, 2, 8))
    with no_grad():
        a, b = layer(Tensor(x), mask=causal_mask(6)).data, layer(Tensor(y), mask=causal_mask(6)).data
    np.testing.assert_allclose(a[:, :4], b[:, :4], atol=1e-6)
    assert not np.allclose(a[:, 4:], b[:, 4:])
