"""Module 14: FLOP counts against PyTorch's FlopCounterMode.

FlopCounterMode uses the same convention for what it counts (a matmul (m, K) @ (K, n) is 2·m·n·K,
a convolution 2·MACs without the bias) but counts only matmuls, convolutions and fused attention
kernels, so it is compared with 2·Σ MACs, our count of exactly those ops. Everything else (bias
additions, LayerNorm, softmax, GELU, residual additions) is 0 to it.
"""

import math

import numpy as np
import pytest

from tinytorch.activations import ReLU
from tinytorch.attention import MultiHeadAttention, causal_mask
from tinytorch.layers import Linear, Sequential
from tinytorch.profiling import count_flops, trace
from tinytorch.spatial import Conv2d, Flatten, MaxPool2d
from tinytorch.transformers import GPT

torch = pytest.importorskip("torch")
flop_counter = pytest.importorskip("torch.utils.flop_counter")
F = torch.nn.functional


def torch_flops(fn, *args) -> int:
    with flop_counter.FlopCounterMode(display=False) as counter:
        fn(*args)
    return int(counter.get_total_flops())


def our_matmul_flops(model, x) -> int:
    tracer, _ = trace(model, x)
    return 2 * sum(r.macs for r in tracer.records)


def params(model):
    return {name: torch.from_numpy(np.array(p.data)) for name, p in model.named_parameters()}


@pytest.mark.parametrize("shape", [(6, 10), (3, 4, 10)])
def test_linear(shape):
    layer = Linear(10, 7, rng=0)
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    p = params(layer)
    theirs = torch_flops(lambda t: F.linear(t, p["weight"].T, p["bias"]), torch.from_numpy(x))
    assert our_matmul_flops(layer, x) == theirs
    assert count_flops(layer, x) == theirs + math.prod(shape[:-1]) * 7  # plus the bias additions


def test_cnn():
    cnn = Sequential(Conv2d(1, 4, 3, padding=1, rng=0), ReLU(), MaxPool2d(2),
                     Conv2d(4, 6, 3, stride=2, padding=1, rng=0), ReLU(), Flatten(),
                     Linear(6 * 2 * 2, 10, rng=0))
    x = np.random.default_rng(0).standard_normal((5, 1, 8, 8)).astype(np.float32)
    p = params(cnn)

    def forward(t):
        t = F.max_pool2d(F.relu(F.conv2d(t, p["layers.0.weight"], p["layers.0.bias"], padding=1)), 2)
        t = F.relu(F.conv2d(t, p["layers.3.weight"], p["layers.3.bias"], stride=2, padding=1))
        return F.linear(t.flatten(1), p["layers.6.weight"].T, p["layers.6.bias"])

    np.testing.assert_allclose(forward(torch.from_numpy(x)).numpy(), cnn(x).data, atol=1e-5)
    assert our_matmul_flops(cnn, x) == torch_flops(forward, torch.from_numpy(x))


def _torch_gpt(p, ids, num_layers, num_heads):
    def linear(x, name):
        return x @ p[f"{name}.weight"] + p[f"{name}.bias"]

    T = ids.shape[1]
    x = p["token_embedding.weight"][ids] + p["position_embedding.weight"][:T]
    mask = torch.from_numpy(causal_mask(T))
    for i in range(num_layers):
        pre = f"blocks.{i}."
        B, T, D = x.shape
        hd = D // num_heads
        h = F.layer_norm(x, (D,), p[pre + "ln1.weight"], p[pre + "ln1.bias"])
        q, k, v = (linear(h, pre + f"attn.{n}_proj").reshape(B, T, num_heads, hd).transpose(1, 2)
                   for n in "qkv")
        scores = (q / math.sqrt(hd)) @ k.transpose(-2, -1)
        att = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1) @ v
        x = x + linear(att.transpose(1, 2).reshape(B, T, D), pre + "attn.out_proj")
        h = F.layer_norm(x, (D,), p[pre + "ln2.weight"], p[pre + "ln2.bias"])
        x = x + linear(F.gelu(linear(h, pre + "mlp.fc1"), approximate="tanh"), pre + "mlp.fc2")
    x = F.layer_norm(x, (x.shape[-1],), p["ln_f.weight"], p["ln_f.bias"])
    return linear(x, "head")


@pytest.mark.parametrize("config, batch, T", [((13, 16, 2, 4, 12), 2, 12), ((29, 24, 3, 3, 20), 3, 7)])
def test_gpt(config, batch, T):
    model = GPT(*config, rng=0)
    ids = np.random.default_rng(1).integers(0, config[0], size=(batch, T))
    p = params(model)
    t_ids = torch.from_numpy(ids)
    np.testing.assert_allclose(_torch_gpt(p, t_ids, config[2], config[3]).numpy(), model(ids).data, atol=1e-4)
    theirs = torch_flops(_torch_gpt, p, t_ids, config[2], config[3])
    assert our_matmul_flops(model, ids) == theirs
    assert count_flops(model, ids) > theirs, "ours also counts LayerNorm, softmax, GELU and the additions"


def test_attention_against_torch_formula_for_sdpa():
    """FlopCounterMode's own formula for scaled_dot_product_attention is 2 bmm's: 4·B·H·T_q·T_k·d."""
    B, T, D, H = 2, 9, 16, 4
    attn = MultiHeadAttention(D, H, rng=0)
    tracer, _ = trace(attn, np.ones((B, T, D), np.float32))
    core = [r for r in tracer.records if r.op == "matmul" and len(r.input_shapes[0]) == 4]
    q = torch.zeros(B, H, T, D // H)
    ours = 2 * sum(r.macs for r in core)
    assert ours == 4 * B * H * T * T * (D // H)
    assert ours == torch_flops(lambda a, b, c: torch.softmax(a @ b.transpose(-2, -1), -1) @ c, q, q, q)
