"""Module 13: MLP and TransformerBlock — structure, residuals, causality, PyTorch forward+backward."""

import numpy as np
import pytest

from tinytorch.attention import causal_mask
from tinytorch.autograd import gradcheck
from tinytorch.layers import Module
from tinytorch.tensor import Tensor
from tinytorch.testing import close, raises
from tinytorch.transformers import MLP, LayerNorm, TransformerBlock


def test_mlp_structure_and_values(spy):
    mlp = MLP(5, mlp_ratio=3, rng=0)
    assert [n for n, _ in mlp.named_parameters()] == ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    assert mlp.fc1.weight.shape == (5, 15) and mlp.fc2.weight.shape == (15, 5)
    x = np.random.default_rng(0).normal(size=(3, 5)).astype(np.float32)
    plain = mlp(Tensor(x)).data
    seen = []
    for name in ("fc1", "act", "fc2"):
        setattr(mlp, name, spy(name, getattr(mlp, name), seen))
    y = mlp(Tensor(x))
    order = [name for name, *_ in seen]
    assert sorted(order) == ["act", "fc1", "fc2"], \
        f"the MLP calls each of its three layers once: it called {order}"
    flow = {name: (v_in, v_out) for name, v_in, _, v_out in seen}
    close(flow["fc1"][0], x, what="fc1 reads the MLP's input")
    close(flow["act"][0], flow["fc1"][1], what="GELU bends fc1's output")
    close(flow["fc2"][0], flow["act"][1], what="fc2 projects GELU's output back to D")
    close(y, flow["fc2"][1], what="the MLP returns fc2's output")
    close(y, plain, atol=1e-6, what="the same MLP output with and without the recorders")
    gelu = 0.5 * np.float32(1.0) * (1 + np.tanh(np.sqrt(2 / np.pi) * (1 + 0.044715)))
    close(mlp.act(Tensor(np.ones(2, np.float32))), [gelu, gelu], atol=1e-5,
          what="the activation is GELU (tanh form)")
    raises(ValueError, lambda: MLP(0), "embed_dim")
    raises(ValueError, lambda: MLP(4, mlp_ratio=0), "mlp_ratio")


def test_block_structure():
    block = TransformerBlock(12, 3, mlp_ratio=2, rng=0)
    assert isinstance(block.ln1, LayerNorm) and isinstance(block.ln2, LayerNorm)
    assert block.attn.num_heads == 3 and block.mlp.fc1.weight.shape == (12, 24)
    names = [n for n, _ in block.named_parameters()]
    assert names[:2] == ["ln1.weight", "ln1.bias"] and "ln2.weight" in names and names[-1] == "mlp.fc2.bias"
    raises(ValueError, lambda: TransformerBlock(10, 3), "divisible")


def _randomized_block(seed, dim=8, heads=2):
    rng = np.random.default_rng(seed)
    block = TransformerBlock(dim, heads, rng=seed)
    for p in block.parameters():  # every part matters; ln1 and ln2 get different weights
        scale_one = p.ndim == 1 and "weight" in _name(block, p)
        p.data[...] = rng.normal(size=p.shape) * 0.5 + (1.0 if scale_one else 0.0)
    return block, rng


def _name(module, param):
    return next(n for n, p in module.named_parameters() if p is param)


class _StandIn(Module):
    """Replaces a sub-layer of a block: the elementwise map v * scale + shift; records its calls."""

    def __init__(self, scale, shift):
        super().__init__()
        self.scale, self.shift, self.calls = scale, shift, []

    def forward(self, v, mask=None, cache=None):
        self.calls.append((mask, cache))
        return Tensor._lift(v) * self.scale + self.shift


# What each wiring of a block gives with the stand-ins ln1: 2v, attn: v + 3, ln2: v + 7, mlp: 4v and
# an input of ones (the inline test uses other stand-ins).
_WIRINGS = {
    53.0: "no residual around attention",
    52.0: "no residual around the MLP",
    48.0: "no residual at all",
    54.0: "ln1 used before the MLP too (ln2 never used)",
    88.0: "ln2 used before attention too (ln1 never used)",
    108.0: "ln1 and ln2 swapped",
    38.0: "the MLP reads the block's input instead of the stream attention left",
    25.0: "no normalization before the sub-layers",
    57.0: "post-norm (the norm applied to the sum)",
    102.0: "the MLP before attention",
}


@pytest.mark.parametrize("shape", [(1, 3, 4), (2, 1, 6)])
def test_block_wiring_with_stand_ins(shape):
    """Pre-norm, both residuals, ln1 before attention and ln2 before the MLP, attention first."""
    block = TransformerBlock(shape[-1], 2, rng=0)
    block.ln1, block.attn = _StandIn(2, 0), _StandIn(1, 3)
    block.ln2, block.mlp = _StandIn(1, 7), _StandIn(4, 0)
    mask, cache = causal_mask(shape[1]), object()
    values = np.unique(block(Tensor(np.ones(shape)), mask=mask, cache=cache).data)
    named = _WIRINGS.get(values[0]) if values.size == 1 else None
    assert values.tolist() == [58.0], \
        (f"wiring with stand-ins ln1: 2v, attn: v + 3, ln2: v + 7, mlp: 4v on ones: got {values.tolist()}, "
         "a pre-norm block gives 58" + (f"; that is {named}" if named else ""))
    calls = [len(part.calls) for part in (block.ln1, block.attn, block.ln2, block.mlp)]
    assert calls == [1, 1, 1, 1], f"each sub-layer runs once (ln1, attn, ln2, mlp): {calls}"
    assert block.attn.calls[0][0] is mask and block.attn.calls[0][1] is cache, \
        "mask and cache reach the attention"


def test_same_rng_same_block_different_seeds_differ():
    a, b, c = TransformerBlock(8, 2, rng=3), TransformerBlock(8, 2, rng=3), TransformerBlock(8, 2, rng=4)
    assert all(np.array_equal(p.data, q.data) for p, q in zip(a.parameters(), b.parameters()))
    assert not np.array_equal(a.mlp.fc1.weight.data, c.mlp.fc1.weight.data)


def test_block_is_causal_with_the_mask_and_not_without():
    rng = np.random.default_rng(1)
    block = TransformerBlock(8, 2, rng=1)
    x = rng.normal(size=(2, 6, 8)).astype(np.float32)
    changed = x.copy()
    changed[:, 4] = rng.normal(size=(2, 8))  # not a constant shift: LayerNorm would remove that
    masked = block(Tensor(x), mask=causal_mask(6)).data, block(Tensor(changed), mask=causal_mask(6)).data
    close(masked[1][:, :4], masked[0][:, :4], atol=1e-5, what="causal: earlier positions unchanged")
    free = block(Tensor(x)).data, block(Tensor(changed)).data
    assert not np.allclose(free[1][:, :4], free[0][:, :4]), "without a mask every position sees position 4"


def test_block_gradcheck_small():
    rng = np.random.default_rng(2)
    block = TransformerBlock(4, 2, rng=2)
    for p in block.parameters():
        p.data[...] = rng.normal(size=p.shape) * 0.5
    x = Tensor(rng.normal(size=(1, 3, 4)), requires_grad=True)
    w = block.ln2.weight
    assert gradcheck(lambda x, w: block(x, mask=causal_mask(3)), x, w, atol=1e-4)


def test_cache_is_handed_to_attention():
    class Concat:  # a test double of module 17's cache: keeps all keys and values so far
        def __init__(self):
            self.k = self.v = None
            self.calls = 0

        def update(self, k, v):
            from tinytorch.tensor import Tensor as T
            self.calls += 1
            if self.k is not None:
                k = T(np.concatenate([self.k.data, k.data], axis=2))
                v = T(np.concatenate([self.v.data, v.data], axis=2))
            self.k, self.v = k, v
            return k, v

    rng = np.random.default_rng(3)
    block = TransformerBlock(8, 2, rng=3)
    x = rng.normal(size=(1, 5, 8)).astype(np.float32)
    full = block(Tensor(x), mask=causal_mask(5)).data
    cache = Concat()
    first = block(Tensor(x[:, :3]), mask=causal_mask(3), cache=cache).data
    rest = block(Tensor(x[:, 3:]), mask=causal_mask(2, 5), cache=cache).data
    assert cache.calls == 2
    close(np.concatenate([first, rest], axis=1), full, atol=1e-5,
          what="with a cache, the positions in two chunks = all at once")


@pytest.mark.parametrize("use_mask", [True, False])
def test_block_forward_and_backward_match_torch(torch_ref, use_mask):
    torch = torch_ref.torch
    rng = np.random.default_rng(4)
    block = TransformerBlock(16, 4, rng=4)
    for p in block.parameters():
        p.data[...] = rng.normal(size=p.shape) * 0.3 + (1.0 if p.ndim == 1 and p.shape == (16,) else 0.0)
    xa = rng.normal(size=(3, 7, 16)).astype(np.float32)
    mask = causal_mask(7) if use_mask else None
    x = Tensor(xa, requires_grad=True)
    out = block(x, mask=mask)
    params = torch_ref.params(block)
    tx = torch.tensor(xa, requires_grad=True)
    tout = torch_ref.block(tx, params, "", 4, mask)
    close(out, tout.detach().numpy(), atol=1e-4, what="block forward vs torch")
    g = rng.normal(size=out.shape).astype(np.float32)
    out.backward(g)
    tout.backward(torch.from_numpy(g))
    close(x.grad, tx.grad.numpy(), atol=1e-3, rtol=1e-3, what="grad of x vs torch")
    for name, p in block.named_parameters():
        close(p.grad, params[name].grad.numpy(), atol=1e-3, rtol=1e-3, what=f"grad of {name} vs torch")


def test_every_parameter_of_the_block_gets_a_gradient():
    block, rng = _randomized_block(6)
    x = Tensor(rng.normal(size=(2, 5, 8)), requires_grad=True)
    out = block(x, mask=causal_mask(5))
    out.backward(rng.normal(size=out.shape).astype(np.float32))
    for name, p in block.named_parameters():
        assert p.grad is not None and np.abs(p.grad.data).max() > 0, f"{name} gets no gradient: is it used?"
    # the residual stream: the input's gradient contains the upstream gradient itself (identity path)
    block.attn.out_proj.weight.data[:] = 0.0
    block.mlp.fc2.weight.data[:] = 0.0
    x2 = Tensor(rng.normal(size=(2, 5, 8)), requires_grad=True)
    g = rng.normal(size=(2, 5, 8)).astype(np.float32)
    block(x2, mask=causal_mask(5)).backward(g)
    close(x2.grad, g, atol=1e-5,
          what="branches writing zero: the gradient flows through both residuals unchanged")
