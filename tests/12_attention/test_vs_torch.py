"""Module 12: attention forward and backward against PyTorch (when installed).

scaled_dot_product_attention against torch.nn.functional.scaled_dot_product_attention (same
boolean mask convention), and MultiHeadAttention against torch.nn.MultiheadAttention loaded with
the same weights (PyTorch packs q/k/v into one in_proj and stores Linear weights as (out, in)).
"""

import numpy as np
import pytest

from tinytorch.attention import MultiHeadAttention, causal_mask, scaled_dot_product_attention
from tinytorch.tensor import Tensor

torch = pytest.importorskip("torch", reason="PyTorch is not installed, so nothing to compare with")
F = torch.nn.functional


def _pair(rng, *shape):
    a = rng.normal(size=shape).astype(np.float32)
    return Tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)


@pytest.mark.parametrize("qs,ks,vs,mask", [
    ((2, 3, 5, 8), (2, 3, 5, 8), (2, 3, 5, 8), None),
    ((2, 3, 5, 8), (2, 3, 5, 8), (2, 3, 5, 8), "causal"),
    ((2, 4, 3, 16), (2, 4, 7, 16), (2, 4, 7, 4), "causal"),  # 3 new queries after 4 cached keys
    ((3, 6, 4), (3, 6, 4), (3, 6, 5), "padding"),
    ((1, 2, 32, 16), (1, 2, 32, 16), (1, 2, 32, 16), "causal"),
])
def test_sdpa_matches_torch_forward_and_backward(qs, ks, vs, mask):
    rng = np.random.default_rng(0)
    (q, tq), (k, tk), (v, tv) = _pair(rng, *qs), _pair(rng, *ks), _pair(rng, *vs)
    m = None
    if mask == "causal":
        m = causal_mask(qs[-2], ks[-2])
    elif mask == "padding":
        m = np.ones((qs[0], 1, ks[-2]), bool)
        m[0, :, 4:] = False
        m[2, :, 1:] = False
    out, w = scaled_dot_product_attention(q, k, v, m)
    tout = F.scaled_dot_product_attention(tq, tk, tv, attn_mask=None if m is None else torch.from_numpy(m))
    np.testing.assert_allclose(out.data, tout.detach().numpy(), atol=1e-5)
    g = rng.normal(size=out.shape).astype(np.float32)
    out.backward(g)
    tout.backward(torch.from_numpy(g))
    for ours, theirs in ((q, tq), (k, tk), (v, tv)):
        np.testing.assert_allclose(ours.grad.data, theirs.grad.numpy(), atol=1e-4, rtol=1e-4)


def test_weights_match_torch_softmax_of_masked_scores():
    rng = np.random.default_rng(1)
    (q, tq), (k, tk), (v, _) = _pair(rng, 2, 6, 8), _pair(rng, 2, 6, 8), _pair(rng, 2, 6, 8)
    m = causal_mask(6)
    _, w = scaled_dot_product_attention(q, k, v, m)
    scores = (tq @ tk.transpose(-2, -1)) / np.sqrt(8)
    tw = torch.softmax(scores.masked_fill(~torch.from_numpy(m), float("-inf")), dim=-1)
    np.testing.assert_allclose(w.data, tw.detach().numpy(), atol=1e-6)
    gw = rng.normal(size=w.shape).astype(np.float32)
    w.backward(gw)
    tw.backward(torch.from_numpy(gw))
    np.testing.assert_allclose(q.grad.data, tq.grad.numpy(), atol=1e-5)
    np.testing.assert_allclose(k.grad.data, tk.grad.numpy(), atol=1e-5)


def _torch_mha(ours):
    """torch.nn.MultiheadAttention holding `ours`'s weights (TinyTorch Linear: (in, out))."""
    D, H = ours.embed_dim, ours.num_heads
    theirs = torch.nn.MultiheadAttention(D, H, batch_first=True)
    with torch.no_grad():
        theirs.in_proj_weight.copy_(torch.from_numpy(np.concatenate(
            [ours.q_proj.weight.data.T, ours.k_proj.weight.data.T, ours.v_proj.weight.data.T])))
        theirs.in_proj_bias.copy_(torch.from_numpy(np.concatenate(
            [ours.q_proj.bias.data, ours.k_proj.bias.data, ours.v_proj.bias.data])))
        theirs.out_proj.weight.copy_(torch.from_numpy(ours.out_proj.weight.data.T.copy()))
        theirs.out_proj.bias.copy_(torch.from_numpy(ours.out_proj.bias.data))
    return theirs


@pytest.mark.parametrize("B,T,D,H,causal", [(2, 5, 12, 3, True), (8, 32, 64, 4, True), (3, 7, 16, 2, False),
                                             (2, 4, 8, 8, True)])
def test_mha_matches_torch_multiheadattention(B, T, D, H, causal):
    rng = np.random.default_rng(2)
    ours = MultiHeadAttention(D, H, rng=3)
    for p in ours.parameters():
        if p.ndim == 1:
            p.data[...] = rng.normal(size=p.shape) * 0.1
    theirs = _torch_mha(ours)
    x, tx = _pair(rng, B, T, D)
    m = causal_mask(T) if causal else None
    out = ours(x, mask=m)
    tout, tw = theirs(tx, tx, tx, need_weights=True, average_attn_weights=False,
                      attn_mask=None if m is None else torch.from_numpy(~m))  # torch MHA: True = blocked
    np.testing.assert_allclose(out.data, tout.detach().numpy(), atol=1e-5)
    np.testing.assert_allclose(ours.last_weights, tw.detach().numpy(), atol=1e-6)
    g = rng.normal(size=out.shape).astype(np.float32)
    out.backward(g)
    tout.backward(torch.from_numpy(g))
    np.testing.assert_allclose(x.grad.data, tx.grad.numpy(), atol=1e-4, rtol=1e-4)
    ip = theirs.in_proj_weight.grad.numpy()
    for i, proj in enumerate((ours.q_proj, ours.k_proj, ours.v_proj)):
        np.testing.assert_allclose(proj.weight.grad.data, ip[i * D:(i + 1) * D].T, atol=1e-4, rtol=1e-4)
        np.testing.assert_allclose(proj.bias.grad.data, theirs.in_proj_bias.grad.numpy()[i * D:(i + 1) * D],
                                   atol=1e-4, rtol=1e-4)
    np.testing.assert_allclose(ours.out_proj.weight.grad.data, theirs.out_proj.weight.grad.numpy().T,
                               atol=1e-4)
    np.testing.assert_allclose(ours.out_proj.bias.grad.data, theirs.out_proj.bias.grad.numpy(), atol=1e-4)


def test_mha_with_a_padding_mask_matches_torch_key_padding_mask():
    rng = np.random.default_rng(4)
    ours = MultiHeadAttention(8, 2, rng=5)
    theirs = _torch_mha(ours)
    x, tx = _pair(rng, 3, 5, 8)
    lengths = np.array([5, 3, 1])
    valid = np.arange(5)[None, :] < lengths[:, None]  # (B, T_k) True = real token
    out = ours(x, mask=valid[:, None, None, :])
    tout, _ = theirs(tx, tx, tx, key_padding_mask=torch.from_numpy(~valid))
    np.testing.assert_allclose(out.data, tout.detach().numpy(), atol=1e-5)
