"""A functional PyTorch reference of module 13's models, reading TinyTorch's weights by name.

Tests get it through the session fixture `torch_ref` (pytest runs with --import-mode=importlib, so
test files cannot import a sibling helper module). It skips when PyTorch is not installed.
"""

import math
from types import SimpleNamespace

import numpy as np
import pytest


def _reference(torch):
    F = torch.nn.functional

    def params(model):
        """{name: torch leaf tensor} holding a float32 copy of every TinyTorch parameter."""
        return {name: torch.tensor(np.array(p.data), requires_grad=True)
                for name, p in model.named_parameters()}

    def linear(x, p, name):  # TinyTorch's Linear stores weight as (in, out)
        return x @ p[f"{name}.weight"] + p[f"{name}.bias"]

    def block(x, p, prefix, num_heads, mask=None):
        B, T, D = x.shape
        hd = D // num_heads

        def heads(t):
            return t.reshape(B, T, num_heads, hd).transpose(1, 2)

        h = F.layer_norm(x, (D,), p[f"{prefix}ln1.weight"], p[f"{prefix}ln1.bias"], 1e-5)
        q, k, v = (heads(linear(h, p, f"{prefix}attn.{n}_proj")) for n in "qkv")
        scores = q @ k.transpose(-2, -1) / math.sqrt(hd)
        if mask is not None:
            scores = scores.masked_fill(~torch.from_numpy(np.asarray(mask, bool)), float("-inf"))
        att = torch.softmax(scores, dim=-1) @ v
        x = x + linear(att.transpose(1, 2).reshape(B, T, D), p, f"{prefix}attn.out_proj")
        h = F.layer_norm(x, (D,), p[f"{prefix}ln2.weight"], p[f"{prefix}ln2.bias"], 1e-5)
        h = F.gelu(linear(h, p, f"{prefix}mlp.fc1"), approximate="tanh")
        return x + linear(h, p, f"{prefix}mlp.fc2")

    def gpt(ids, p, num_layers, num_heads):
        ids = torch.from_numpy(np.asarray(ids, np.int64))
        T = ids.shape[1]
        x = p["token_embedding.weight"][ids] + p["position_embedding.weight"][:T]
        mask = np.tril(np.ones((T, T), bool))
        for i in range(num_layers):
            x = block(x, p, f"blocks.{i}.", num_heads, mask)
        D = x.shape[-1]
        x = F.layer_norm(x, (D,), p["ln_f.weight"], p["ln_f.bias"], 1e-5)
        return linear(x, p, "head")

    return SimpleNamespace(torch=torch, params=params, block=block, gpt=gpt)


@pytest.fixture(scope="session")
def torch_ref():
    torch = pytest.importorskip("torch", reason="PyTorch is not installed: the comparisons with PyTorch "
                                "are skipped (the torch-free tests still check the same structure)")
    return _reference(torch)


@pytest.fixture
def spy():
    """A layer wrapper that records what a part of a model reads and writes (the wiring tests)."""
    from tinytorch.layers import Module
    from tinytorch.tensor import Tensor

    class Spy(Module):
        """Calls the real part and records (name, input, mask, output) in `seen`; other attributes are
        the part's."""

        def __init__(self, name, part, seen):
            super().__init__()
            self.name, self.part, self.seen = name, part, seen

        def __getattr__(self, attr):
            part = self.__dict__.get("part")
            if part is None:
                raise AttributeError(attr)
            return getattr(part, attr)

        def forward(self, v, *args, **kwargs):
            out = self.part(v, *args, **kwargs)
            mask = kwargs.get("mask", args[0] if args else None)
            v_in = np.array(v.data if isinstance(v, Tensor) else v)
            self.seen.append((self.name, v_in, mask, np.array(out.data)))
            return out

    return Spy
