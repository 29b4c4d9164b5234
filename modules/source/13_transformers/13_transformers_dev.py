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
# # Module 13: Transformers — a GPT you wrote
#
# Modules 10–12 gave you tokens, embeddings and attention. This module puts them together into
# the architecture behind GPT-2 and most language models since 2019: a stack of **pre-norm
# transformer blocks** on a **residual stream**, trained to predict the next token, and sampled
# one token at a time to generate text. You add the two missing layers (layer normalization,
# with one fused backward rule, and the GELU MLP), the block, the whole model, its training
# objective, the sampling rule and generation.
#
# The model is small enough to train on two CPU cores: milestone M05 trains it on Shakespeare
# and compares it with n-gram baselines on the same held-out text.
#
# ## Learning objectives
# - Explain the residual stream, and why GPT-2 normalizes *before* each sub-layer (pre-norm).
# - Implement layer normalization with one fused op, and derive its backward pass.
# - Build the GELU MLP, the pre-norm block and the GPT, and check that it is causal.
# - Count a GPT's parameters and FLOPs per token from its configuration, and check the count.
# - Turn text into next-token training pairs; sample with temperature and top-k; generate.
#
# ## How to work
# Each piece you write is a stub that raises `NotImplementedError`: replace the `raise` with
# your code and run the test cell after it. `tito hint 13` lists the stubs, `tito hint 13 NAME`
# gives the next hint for one of them. When every test passes, `tito module complete 13` runs the
# pytest suite, which also compares LayerNorm, a block and a whole GPT with PyTorch, forward and
# backward, when PyTorch is installed.

# %% nbgrader={"grade": false, "grade_id": "transformers-setup", "locked": false, "schema_version": 3, "solution": false, "task": false}
#| default_exp transformers
#| export
import zipfile
from pathlib import Path

import numpy as np

from tinytorch.activations import GELU
from tinytorch.attention import MultiHeadAttention, causal_mask
from tinytorch.autograd import no_grad
from tinytorch.embeddings import Embedding, LearnedPositionalEmbedding, as_token_ids
from tinytorch.layers import Linear, Module, get_rng
from tinytorch.tensor import Tensor, register_backward
from tinytorch.training import load_checkpoint, save_checkpoint


def _positive(value, name: str) -> int:
    """`value` as an int >= 1, or a clear error (given)."""
    if not isinstance(value, int | np.integer) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


# %% [markdown]
# ## 1. The residual stream, and where the normalization goes
#
# A GPT keeps, for every position of the input, one vector of `D` numbers: the **residual
# stream**. The embeddings write the first version (token vector + position vector). Then each
# block *reads* the stream, computes something, and *adds* its result back:
#
# ```
# x = token_embedding(ids) + position_embedding       (B, T, D)
# for each block:
#     x = x + attention(...)        # mixes information between positions (module 12)
#     x = x + mlp(...)              # transforms each position on its own
# logits = head(norm(x))                               (B, T, vocab)
# ```
#
# Two sub-layers with different jobs: **attention** is the only place where position `t` can
# read other positions (only earlier ones: the mask of module 12); the **MLP** works on each
# position separately, the same way for all. Every sub-layer *adds* to `x` rather than replacing
# it, so the derivative of a block's output with respect to its input is `I + (something)`:
# the gradient of the loss reaches the first block through the identity path undiminished, however
# deep the stack. That is what lets transformers, like ResNets, be trained 12, 48 or 96 blocks
# deep.
#
# **Pre-norm or post-norm.** The original Transformer (Vaswani et al., 2017) normalized *after*
# the addition, `x = norm(x + sublayer(x))` (**post-norm**). Every block then rescales the whole
# stream, the identity path goes through a normalization in every block, and deep post-norm
# models need a learning-rate warm-up to train at all (Xiong et al., 2020). GPT-2 moved the
# normalization *inside* the branch, `x = x + sublayer(norm(x))` (**pre-norm**): each sub-layer
# sees a normalized input, while the stream itself is never normalized, so the identity path is
# clean. Since the stream grows as blocks add to it, one final normalization `ln_f` comes before
# the output layer. This module builds the pre-norm block.

# %% [markdown]
# ## 2. Layer normalization
#
# Batch normalization (module 09) normalized each channel over the *batch*. That does not suit
# a language model: sequences differ in length, a batch of one must work for generation, and the
# statistics of position 3 would depend on the other sequences. **Layer normalization** (Ba et
# al., 2016) normalizes each vector of the stream over its own `D` features instead, so every
# position of every sequence is normalized on its own, the same way in training and in
# evaluation (no running statistics). A vector `x` of length `D` is centred on its own mean `μ`
# and divided by its own standard deviation: the **biased** one (`σ²` is the mean squared
# deviation, divided by `D` as in PyTorch, not by `D − 1`), with a small `eps` added to the
# variance *under* the square root, so that a constant vector divides by `sqrt(eps)`, not by
# zero. That gives `x̂`, with mean 0 and variance 1 (up to `eps`). Then each feature `i` is
# scaled by a learnable `γ_i` and shifted by a learnable `β_i`: `γ` (`weight`, ones) and `β`
# (`bias`, zeros) have shape `(D,)` and are shared by all positions, so the layer can undo the
# normalization where that helps. On an input `(B, T, D)` there are `B·T` means and `B·T`
# variances, one per position: no statistic mixes two positions or two sequences.
#
# Worked example, `D = 4`, `x = [1, 2, 3, 6]`: `μ = 3`, deviations `[−2, −1, 0, 3]`,
# `σ² = (4 + 1 + 0 + 9)/4 = 3.5`, so with `eps = 0` `x̂ = [−1.069, −0.535, 0, 1.604]`: mean 0,
# variance 1. Shifting or scaling the whole vector (`x + 5`, `10·x`) gives the same `x̂`.
#
# **One fused op.** Written with module 01's ops, LayerNorm is a mean, a subtraction, a square,
# another mean, an addition, a square root, a division, a multiplication and an addition: nine
# recorded ops, nine temporaries of the size of the input, nine backward rules to run. Instead,
# `layer_norm` computes the result with NumPy and returns one op, `"layer_norm"`, whose rule you
# derive in section 3. Keep `x_hat` (the size of the input) and `inv_std`, the reciprocal of the
# standard deviation with its `eps` (one number per position, shape `(…, 1)`), for the backward
# pass: that is all it needs. The result stays float32 for float32 inputs. Which NumPy calls,
# and how to avoid temporaries you do not need, is up to you (`tito hint 13 layer_norm` when
# stuck).

# %% nbgrader={"grade": false, "grade_id": "layer-norm", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
def layer_norm(x: Tensor, weight: Tensor, bias: Tensor, eps: float = 1e-5) -> Tensor:
    """Normalize x (…, D) over its last axis, then scale by weight (D,) and shift by bias (D,)."""
    x, weight, bias = Tensor._lift(x), Tensor._lift(weight), Tensor._lift(bias)
    if x.ndim == 0 or weight.shape != (x.shape[-1],) or bias.shape != (x.shape[-1],):
        raise ValueError(f"layer_norm needs x of shape (..., D) with weight and bias of shape (D,), "
                         f"got x {x.shape}, weight {weight.shape}, bias {bias.shape}")
    # Set `x_hat` (x's shape), `inv_std` (shape (..., 1)) and `out` (section 2).
    ### BEGIN SOLUTION
    dim = x.shape[-1]
    x_hat = x.data - x.data.sum(axis=-1, keepdims=True) * (1.0 / dim)  # centred; scaled in place below
    var = np.einsum("...i,...i->...", x_hat, x_hat)[..., None] * (1.0 / dim)  # no squared temporary
    inv_std = 1.0 / np.sqrt(var + eps)
    x_hat *= inv_std
    out = x_hat * weight.data
    out += bias.data
    ### END SOLUTION
    return Tensor._op("layer_norm", out, x, weight, bias, x_hat=x_hat, inv_std=inv_std)


# %% [markdown]
# ### Unit test: layer normalization, forward
# The worked example, a batch of vectors with very different offsets and scales, `weight` and
# `bias` applied after the normalization, and `eps` inside the square root.

# %% nbgrader={"grade": true, "grade_id": "test-layer-norm", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false}
def test_unit_layer_norm():
    from tinytorch.testing import close

    def run(x, w, b, eps):
        try:
            return layer_norm(Tensor(x), Tensor(w), Tensor(b), eps=eps)
        except NotImplementedError:
            raise
        except Exception as err:
            raise AssertionError(f"layer_norm on x of shape {np.shape(x)} raised {type(err).__name__}: {err}. "
                                 "Each statistic is one number per vector, shape (..., 1), so that it "
                                 "broadcasts against (..., D)") from None

    rows = np.array([[1, 2, 3, 6], [10, 10, 12, 8], [0, -4, 4, 0]], np.float32)
    y = run(rows, np.ones(4), np.zeros(4), 0.0)
    assert isinstance(y, Tensor), f"layer_norm returns a Tensor, got {type(y).__name__}"
    assert y.shape == rows.shape, f"layer_norm keeps the shape: x {rows.shape}, got {y.shape}"
    means, variances = y.data.mean(axis=-1), y.data.var(axis=-1)
    if not (np.allclose(means, 0, atol=1e-5) and np.allclose(variances, 1, atol=1e-4)):
        columns = np.allclose(y.data.mean(axis=0), 0, atol=1e-5) and np.allclose(y.data.var(axis=0), 1, atol=1e-4)
        raise AssertionError(
            f"each vector of the last axis is normalized on its own: on x = {rows.tolist()} (eps = 0) the rows of "
            f"the result have means {[round(float(v), 3) for v in means]} (expected 0) and variances "
            f"{[round(float(v), 3) for v in variances]} (expected 1)"
            + ("; the columns are normalized instead: the statistics are over the wrong axis" if columns else "")
            + ("; variance 0.75 = 3/4: the variance is the biased one, divide by D (not D - 1)"
               if np.allclose(variances, 0.75, atol=1e-3) else ""))
    one = run(rows[:1], np.ones(4), np.zeros(4), 0.0)
    close(one, [[-2 / 3.5 ** 0.5, -1 / 3.5 ** 0.5, 0.0, 3 / 3.5 ** 0.5]], atol=1e-6,
          what="the worked example of section 2: x = [1, 2, 3, 6], eps = 0 (biased variance: divide by D)")
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(2, 3, 5)) * np.array([[[0.5]], [[10.0]]]) + np.array([[[10.0]], [[-3.0]]]))
    x = x.astype(np.float32)
    gamma, beta = np.array([1, 2, -1, 0.5, 3], np.float32), np.array([0, 1, 2, -1, 0.5], np.float32)
    y = run(x, gamma, beta, 1e-5)
    assert y.shape == x.shape and y.dtype == np.float32, f"shape {y.shape}, dtype {y.dtype}: expected {x.shape}, float32"
    x64 = x.astype(np.float64)
    mu, var = x64.mean(axis=-1, keepdims=True), x64.var(axis=-1, keepdims=True)
    wide = run(x[1], np.ones(5), np.zeros(5), 4.0)
    close(wide, (x64[1] - mu[1]) / np.sqrt(var[1] + 4.0), atol=1e-5,
          what="eps = 4 is added to the variance, under the square root: (x - mean) / sqrt(var + eps)")
    close(y, (x64 - mu) / np.sqrt(var + 1e-5) * gamma + beta, atol=2e-4,
          what="statistics over the last axis of (2, 3, 5), then weight and bias")
    print("layer_norm forward: OK")


if __name__ == "__main__":
    test_unit_layer_norm()

# %% [markdown]
# ## 3. The fused backward pass
#
# The rule gets `g = ∂L/∂y` (the shape of `x`) and returns `(grad_x, grad_weight, grad_bias)`.
# Mind the types of its arguments (module 05's seam): `grad` and the two arrays the forward saved
# (`x_hat`, `inv_std`) are **NumPy arrays**; `out`, `x`, `weight` and `bias` are the **Tensors**
# of the op, so their numbers are `.data` (e.g. `weight.data`, shape `(D,)`) and `x.requires_grad`
# says whether `x` needs a gradient at all. Return NumPy arrays (or `None`): `grad * weight`
# would be a Tensor, not the array the engine adds into the other gradients.
#
# **γ and β, derived in full.** `y_i = γ_i·x̂_i + β_i` at every position, and `γ`, `β` are shared
# by all positions, so, as for a bias broadcast over a batch in module 05, their gradients are
# sums over every axis but the last: `∂L/∂β = Σ g` and `∂L/∂γ = Σ g·x̂`, each of shape `(D,)`.
#
# **x: derive it.** This is batch normalization's rule of module 09 with a different axis:
# there the statistics were over `(N, H, W)` per channel, here over the `D` features of one
# position. Write `ĝ = γ·g` (the gradient with respect to `x̂`); each `x̂_j` depends on every
# `x_i` of its vector through three paths (directly, through `μ`, through `σ²`), with
# `∂μ/∂x_i = 1/D` and `∂σ²/∂x_i = 2(x_i − μ)/D`. The result is a short closed form in `ĝ`,
# `x̂`, `inv_std` and the means over the last axis of `ĝ` and of `ĝ·x̂`. Two properties check it:
# the gradient of `x` sums to zero over each vector (adding a constant to a vector changes
# nothing), and it is orthogonal to `x̂` (scaling a vector changes nothing, when `eps = 0`).
#
# **What fusing saves.** For the activations of one block at the nanoGPT-cpu configuration
# (12 × 64 positions, `D = 128`, 393 KB in float32), the composed version allocates nine arrays
# of that size in the forward pass and as many in the backward; the fused one keeps `x_hat`
# and one number per position, and its backward makes a handful of passes. When `x` does not
# require grad, return `None` for it and skip that work.

# %% nbgrader={"grade": false, "grade_id": "layer-norm-backward", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
@register_backward("layer_norm")
def _layer_norm_backward(grad, out, x, weight, bias, x_hat, inv_std):
    """`(grad_x, grad_weight, grad_bias)`: grad_x None when x does not require grad."""
    dim = x_hat.shape[-1]
    ### BEGIN SOLUTION
    flat_grad = grad.reshape(-1, dim)
    grad_weight = (flat_grad * x_hat.reshape(-1, dim)).sum(axis=0)
    grad_bias = flat_grad.sum(axis=0)
    grad_x = None
    if x.requires_grad:
        grad_x = grad * weight.data  # ĝ, then updated in place
        mean_g = grad_x.sum(axis=-1, keepdims=True) * (1.0 / dim)
        mean_gx = np.einsum("...i,...i->...", grad_x, x_hat)[..., None] * (1.0 / dim)
        grad_x -= mean_g
        grad_x -= x_hat * mean_gx
        grad_x *= inv_std
    return grad_x, grad_weight, grad_bias
    ### END SOLUTION


class LayerNorm(Module):
    """Layer normalization over the last axis (`torch.nn.LayerNorm(dim)`): weight ones, bias zeros."""

    def __init__(self, dim: int, eps: float = 1e-5):
        super().__init__()
        self.dim, self.eps = _positive(dim, "dim"), float(eps)
        self.weight = Tensor(np.ones(self.dim), requires_grad=True)
        self.bias = Tensor(np.zeros(self.dim), requires_grad=True)

    def forward(self, x: Tensor) -> Tensor:
        x = Tensor._lift(x)
        if x.ndim == 0 or x.shape[-1] != self.dim:
            raise ValueError(f"{self!r} expects inputs of shape (..., {self.dim}), got {x.shape}")
        return layer_norm(x, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.dim}, eps={self.eps}"


# %% [markdown]
# ### Unit test: the fused backward pass
# First the forward is checked (a wrong forward gets its own message here, not a gradcheck
# failure). Then the rule alone: it is called directly with the arrays a correct forward saves,
# and compared with central differences of that forward; then `gradcheck` (module 05) through
# the op, one op in the graph, the two properties of section 3, and `LayerNorm` as a layer.

# %% nbgrader={"grade": true, "grade_id": "test-layer-norm-backward", "locked": true, "points": 15, "schema_version": 3, "solution": false, "task": false}
def test_unit_layer_norm_backward():
    from tinytorch.autograd import gradcheck
    from tinytorch.testing import close, ops_in_graph, raises
    rng = np.random.default_rng(1)

    def reference(xa, wa, ba):  # a known-correct forward in float64: (y, x_hat, inv_std)
        inv = 1.0 / np.sqrt(xa.var(axis=-1, keepdims=True) + 1e-5)
        x_hat = (xa - xa.mean(axis=-1, keepdims=True)) * inv
        return x_hat * wa + ba, x_hat, inv

    arrays = [rng.normal(size=(2, 3, 6)) * 2 + 1, rng.normal(size=6), rng.normal(size=6)]
    y_ref, x_hat, inv_std = reference(*arrays)
    forward = layer_norm(*(Tensor(a) for a in arrays)).data
    assert np.allclose(forward, y_ref, atol=1e-4), \
        "layer_norm's forward is wrong: fix it first (test_unit_layer_norm); this test checks the backward rule"
    g = rng.normal(size=(2, 3, 6))
    x, w, b = (Tensor(a, requires_grad=True) for a in arrays)
    try:
        got = _layer_norm_backward(g.astype(np.float32), Tensor(y_ref), x, w, b,
                                   x_hat.astype(np.float32), inv_std.astype(np.float32))
    except NotImplementedError:
        raise
    except Exception as err:
        raise AssertionError(f"the rule raised {type(err).__name__}: {err}. grad, x_hat and inv_std are NumPy "
                             "arrays; out, x, weight and bias are Tensors (their numbers: .data)") from None
    assert len(got) == 3 and all(isinstance(a, np.ndarray) for a in got), \
        f"the rule returns three NumPy arrays, got {[type(a).__name__ for a in got]} (use weight.data, not weight)"
    close(got[0].sum(axis=-1), np.zeros((2, 3)), atol=1e-3,
          what="grad_x sums to zero over each vector (the term with the mean of w * g)")
    close((got[0] * x_hat).sum(axis=-1), np.zeros((2, 3)), atol=1e-3,
          what="grad_x is orthogonal to x_hat (the term with the mean of w * g * x_hat)")
    for k, name in enumerate(["grad_x", "grad_weight", "grad_bias"]):
        numeric = np.zeros_like(arrays[k])
        for i in np.ndindex(numeric.shape):  # central differences of the reference forward
            plus, minus = [a.copy() for a in arrays], [a.copy() for a in arrays]
            plus[k][i] += 1e-6
            minus[k][i] -= 1e-6
            numeric[i] = ((reference(*plus)[0] - reference(*minus)[0]) * g).sum() / 2e-6
        if k == 0 and not np.allclose(got[0], numeric, atol=1e-3, rtol=1e-3):
            assert not np.allclose(got[0] * inv_std, numeric, atol=1e-3, rtol=1e-3), \
                "grad_x is right up to the common factor inv_std: every term is multiplied by it"
        close(got[k], numeric, atol=1e-3, rtol=1e-3, what=f"{name} of the rule, against central differences")
    x, w, b = (Tensor(a, requires_grad=True) for a in arrays)
    assert gradcheck(lambda x, w, b: layer_norm(x, w, b), x, w, b), "layer_norm gradient wrong"
    assert gradcheck(lambda x, w, b: layer_norm(x, w, b, eps=0.5), x, w, b), "layer_norm gradient wrong (eps 0.5)"
    xs = Tensor(rng.normal(size=(4, 5)).astype(np.float32), requires_grad=True)
    ln = LayerNorm(5, eps=0.0)
    assert [p.shape for p in ln.parameters()] == [(5,), (5,)], "LayerNorm's parameters are weight (D,) and bias (D,)"
    close(ln.weight, np.ones(5), what="LayerNorm weight starts at ones")
    close(ln.bias, np.zeros(5), what="LayerNorm bias starts at zeros")
    ln.weight.data[:] = [1.0, -2.0, 0.5, 3.0, 1.5]
    y = ln(xs)
    assert ops_in_graph(y) == ["layer_norm"], f"one fused op expected, the graph holds {ops_in_graph(y)}"
    g = rng.normal(size=(4, 5)).astype(np.float32)
    y.backward(g)
    x_hat = (xs.data - xs.data.mean(-1, keepdims=True)) / xs.data.std(-1, keepdims=True)
    close(xs.grad.data.sum(axis=-1), np.zeros(4), atol=1e-5, what="grad_x sums to zero over each vector")
    close((xs.grad.data * x_hat).sum(axis=-1), np.zeros(4), atol=1e-4, what="grad_x is orthogonal to x_hat (eps = 0)")
    close(ln.bias.grad, g.sum(axis=0), atol=1e-5, what="grad_bias = sum of g over the positions")
    close(ln.weight.grad, (g * x_hat).sum(axis=0), atol=1e-4, what="grad_weight = sum of g * x_hat over the positions")
    assert xs.grad.dtype == np.float32, f"gradients stay float32, got {xs.grad.dtype}"
    fixed = Tensor(rng.normal(size=(3, 5)))
    z = ln(fixed)
    z.sum().backward()
    assert fixed.grad is None and ln.bias.grad is not None, "an input without requires_grad gets no gradient"
    raises(ValueError, lambda: ln(Tensor(np.zeros((2, 4)))), "(..., 5)")
    print("layer_norm backward: OK")


if __name__ == "__main__":
    test_unit_layer_norm_backward()

# %% [markdown]
# ## 4. The MLP: GELU, four times wider
#
# The second sub-layer of a block is a two-layer perceptron applied to every position on its
# own: `fc1` widens `D` to `4D`, module 02's GELU (the tanh approximation of GPT-2) bends it,
# `fc2` projects back to `D`. Attention only *moves* information between positions (its output
# is a weighted average of value vectors); the MLP is where each position's vector is
# transformed non-linearly, and it holds most of the parameters: `2 · 4D² = 8D²` weights against
# attention's `4D²`, two thirds of a block. With `D = 128` the hidden layer of a batch of 12 × 64
# positions is `768 × 512` floats (1.5 MB), the largest activation of the block (the attention
# weights are `12 × 4 × 64 × 64`: 0.8 MB).
#
# The layers are given; `forward` maps `(…, D)` to `(…, D)`.

# %% nbgrader={"grade": false, "grade_id": "mlp", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
class MLP(Module):
    """Position-wise feed-forward network: Linear(D, ratio·D), GELU, Linear(ratio·D, D)."""

    def __init__(self, embed_dim: int, mlp_ratio: int = 4, *, rng=None):
        super().__init__()
        embed_dim, mlp_ratio = _positive(embed_dim, "embed_dim"), _positive(mlp_ratio, "mlp_ratio")
        rng = get_rng(rng)
        self.fc1 = Linear(embed_dim, mlp_ratio * embed_dim, rng=rng)
        self.act = GELU()
        self.fc2 = Linear(mlp_ratio * embed_dim, embed_dim, rng=rng)

    def forward(self, x: Tensor) -> Tensor:
        ### BEGIN SOLUTION
        return self.fc2(self.act(self.fc1(x)))
        ### END SOLUTION


# %% [markdown]
# ### Unit test: the MLP
# The layers' shapes, then the flow of values: each of the three layers runs once and reads what
# the one before it wrote.

# %% nbgrader={"grade": true, "grade_id": "test-mlp", "locked": true, "points": 5, "schema_version": 3, "solution": false, "task": false}
def test_unit_mlp():
    from tinytorch.testing import close
    mlp = MLP(6, rng=0)
    assert (mlp.fc1.weight.shape, mlp.fc2.weight.shape) == ((6, 24), (24, 6)), \
        f"fc1 {mlp.fc1.weight.shape}, fc2 {mlp.fc2.weight.shape}: expected (6, 24) and (24, 6)"
    rng = np.random.default_rng(2)
    mlp.fc1.bias.data[:] = rng.normal(size=24)
    mlp.fc2.bias.data[:] = rng.normal(size=6)
    x = rng.normal(size=(2, 3, 6)).astype(np.float32)
    seen = []  # (layer, what went in, what came out), in the order of the calls

    class Spy(Module):  # calls the real layer and records the flow of values
        def __init__(self, name, layer):
            super().__init__()
            self.name, self.layer = name, layer

        def forward(self, v):
            out = self.layer(v)
            seen.append((self.name, np.array(Tensor._lift(v).data), np.array(Tensor._lift(out).data)))
            return out

    for name in ("fc1", "act", "fc2"):
        setattr(mlp, name, Spy(name, getattr(mlp, name)))
    y = mlp(Tensor(x))
    order = [name for name, _, _ in seen]
    assert sorted(order) == ["act", "fc1", "fc2"], \
        f"the MLP calls each of its three layers once (fc1, the activation, fc2): it called {order}"
    flow = {name: (v_in, v_out) for name, v_in, v_out in seen}
    close(flow["fc1"][0], x, what="fc1 reads the MLP's input (it widens D to 4D)")
    close(flow["act"][0], flow["fc1"][1], what="GELU bends fc1's output (the 4D-wide hidden layer)")
    close(flow["fc2"][0], flow["act"][1], what="fc2 projects GELU's output back to D")
    close(y, flow["fc2"][1], what="the MLP returns fc2's output")
    assert MLP(4, mlp_ratio=2).fc1.weight.shape == (4, 8), "mlp_ratio=2 makes the hidden layer 2D wide"
    print("MLP: OK")


if __name__ == "__main__":
    test_unit_mlp()

# %% [markdown]
# ## 5. The transformer block
#
# `TransformerBlock(embed_dim, num_heads, mlp_ratio=4)` holds `ln1`, `attn` (module 12's
# `MultiHeadAttention`), `ln2` and `mlp`. Its forward is one pre-norm block of section 1, with
# two sub-layers in order, attention first. The contract:
#
# - each sub-layer reads a normalized version of the stream, through its own LayerNorm (`ln1`
#   for attention, `ln2` for the MLP), and what it returns is *added* to the stream; the stream
#   itself is never normalized inside the block;
# - the MLP reads the stream as attention left it, not the block's input;
# - the sub-layers are called as modules (the test swaps in stand-ins for them to see the wiring);
#   `mask` (e.g. `causal_mask(T)`) and `cache` go to the attention untouched: the cache is the
#   seam module 17 uses for its KV cache, and a block never needs to know what is in it;
# - input and output are `(B, T, D)`; when both sub-layers return zeros, the block returns its
#   input unchanged.

# %% nbgrader={"grade": false, "grade_id": "block", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
class TransformerBlock(Module):
    """Pre-norm transformer block: attention and MLP sub-layers, each added to the residual stream."""

    def __init__(self, embed_dim: int, num_heads: int, mlp_ratio: int = 4, *, rng=None):
        super().__init__()
        rng = get_rng(rng)
        self.ln1 = LayerNorm(embed_dim)
        self.attn = MultiHeadAttention(embed_dim, num_heads, rng=rng)
        self.ln2 = LayerNorm(embed_dim)
        self.mlp = MLP(embed_dim, mlp_ratio, rng=rng)

    def forward(self, x: Tensor, mask=None, cache=None) -> Tensor:
        ### BEGIN SOLUTION
        x = x + self.attn(self.ln1(x), mask=mask, cache=cache)
        return x + self.mlp(self.ln2(x))
        ### END SOLUTION


# %% [markdown]
# ### Unit test: the block
# First the wiring, with stand-ins: the four sub-layers are replaced by simple maps (add 1,
# double, add 10, triple) so that every way of wiring them gives its own number, and the test
# names the wiring it sees (post-norm, a missing residual, `ln1` used twice, ...). Then the real
# block: its shape, causality with a causal mask, the cache reaching the attention, and the
# residual path (with both branches' output layers zeroed, the block is the identity).

# %% nbgrader={"grade": true, "grade_id": "test-block", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false}
def test_unit_block():
    from tinytorch.testing import close
    rng = np.random.default_rng(3)

    class StandIn(Module):  # replaces a sub-layer: an elementwise map v * scale + shift; records its calls
        def __init__(self, scale, shift):
            super().__init__()
            self.scale, self.shift, self.calls = scale, shift, []

        def forward(self, v, mask=None, cache=None):
            self.calls.append((mask, cache))
            return Tensor._lift(v) * self.scale + self.shift

    probe = TransformerBlock(4, 2, rng=0)
    probe.ln1, probe.attn, probe.ln2, probe.mlp = StandIn(1, 1), StandIn(2, 0), StandIn(1, 10), StandIn(3, 0)
    probe_mask, probe_cache = causal_mask(2), object()
    try:
        wired = probe(Tensor(np.ones((1, 2, 4))), mask=probe_mask, cache=probe_cache)
    except NotImplementedError:
        raise
    except Exception as err:
        raise AssertionError(f"with stand-in sub-layers the block raised {type(err).__name__}: {err}; call the "
                             "sub-layers as modules (self.ln1(...), self.attn(..., mask=..., cache=...))") from None
    values = np.unique(np.asarray(Tensor._lift(wired).data))
    wirings = {  # what each wiring gives with these stand-ins, for an input of ones
        46.0: "no residual around attention (its output replaces the stream instead of being added to it)",
        45.0: "no residual around the MLP (the block returns the MLP's output without the stream)",
        42.0: "no residual at all (each sub-layer's output replaces the stream)",
        23.0: "ln1 used before the MLP too (ln2 is never used)",
        122.0: "ln2 used before attention too (ln1 is never used)",
        95.0: "ln1 and ln2 swapped",
        38.0: "the MLP reads the block's input instead of the stream attention left",
        12.0: "no normalization before the sub-layers",
        26.0: "post-norm: the norm is applied to the sum, after the addition; in pre-norm the stream is never "
              "normalized, only each sub-layer's input",
        104.0: "the MLP before attention",
    }
    assert values.tolist() == [50.0], \
        (f"the block's wiring, with stand-ins ln1: v + 1, attn: 2v, ln2: v + 10, mlp: 3v and an input of ones: got "
         f"{values.tolist()}, a pre-norm block gives 50"
         + (f"; that is {wirings[values[0]]}" if values.size == 1 and values[0] in wirings else ""))
    calls = {name: len(layer.calls) for name, layer in
             (("ln1", probe.ln1), ("attn", probe.attn), ("ln2", probe.ln2), ("mlp", probe.mlp))}
    assert all(n == 1 for n in calls.values()), f"each sub-layer runs once per forward: calls {calls}"
    assert probe.attn.calls[0][0] is probe_mask and probe.attn.calls[0][1] is probe_cache, \
        "the block hands `mask` and `cache` to its attention, untouched, by keyword"

    block = TransformerBlock(8, 2, rng=0)
    block.ln1.weight.data[:] = rng.uniform(0.5, 2, size=8)
    block.ln2.bias.data[:] = rng.normal(size=8)
    x = rng.normal(size=(2, 5, 8)).astype(np.float32)
    mask = causal_mask(5)
    got = block(Tensor(x), mask=mask)
    assert got.shape == (2, 5, 8), f"block output shape {got.shape}, expected (2, 5, 8)"
    got = got.data
    changed = x.copy()
    changed[:, 3:] = rng.normal(size=(2, 2, 8))  # new tokens (a constant shift would vanish in ln1)
    later = block(Tensor(changed), mask=mask)
    close(later.data[:, :3], got[:, :3], atol=1e-5, what="with a causal mask, positions 0..2 ignore later tokens")

    class Recorder:  # a stand-in for module 17's cache: records the call, returns k and v unchanged
        calls = 0

        def update(self, k, v):
            self.calls += 1
            return k, v

    recorder = Recorder()
    close(block(Tensor(x), mask=mask, cache=recorder), got, atol=1e-6, what="a pass-through cache changes nothing")
    assert recorder.calls == 1, f"the block hands `cache` to its attention: cache.update called {recorder.calls} times"
    for layer in (block.attn.out_proj, block.mlp.fc2):
        layer.weight.data[:] = 0.0
        layer.bias.data[:] = 0.0
    close(block(Tensor(x), mask=mask), x, what="both branches output zero: the residual stream passes unchanged")
    print("TransformerBlock: OK")


if __name__ == "__main__":
    test_unit_block()

# %% [markdown]
# ## 6. The GPT
#
# `GPT(vocab_size, embed_dim, num_layers, num_heads, max_seq_len)` stacks everything:
#
# | part | module | shape of its output |
# |---|---|---|
# | `token_embedding` | `Embedding(vocab_size, D)` (module 11) | `(B, T, D)` |
# | `position_embedding` | `LearnedPositionalEmbedding(max_seq_len, D)` (its forward returns its input plus the positions) | `(B, T, D)` |
# | `blocks` | a list of `num_layers` `TransformerBlock(D, num_heads)` | `(B, T, D)` |
# | `ln_f` | `LayerNorm(D)` | `(B, T, D)` |
# | `head` | `Linear(D, vocab_size)` | `(B, T, vocab_size)` logits |
#
# `forward(ids)` takes token ids of shape `(B, T)` and returns the logits for the next token at
# every position. It must be **causal**: the logits at position `t` may depend on tokens
# `0..t` only, otherwise training would let position `t` read the very token it must predict.
# Build one `causal_mask(T)` and give it to every block. The validation of `ids` is given
# (`T ≤ max_seq_len`: there are only `max_seq_len` learned positions).
#
# **Initialization (given)**, as in GPT-2: every weight matrix and both embedding tables drawn
# from `N(0, 0.02²)`, biases zero, and the two matrices that write into the residual stream
# (`attn.out_proj` and `mlp.fc2`) scaled down by `1/sqrt(2·num_layers)`: with `2L` branches
# adding to the stream, the stream's variance then stays about the same however deep the model.
# At this initialization every logit is near zero, so the first loss is close to
# `ln(vocab_size)`, the loss of a uniform guess: `ln 76 = 4.33` for the 76 distinct characters of
# milestone M05's Shakespeare (nanoGPT's Shakespeare has 65: `ln 65 = 4.17`).

# %% nbgrader={"grade": false, "grade_id": "gpt", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
class GPT(Module):
    """Decoder-only transformer language model: token ids (B, T) -> next-token logits (B, T, vocab)."""

    def __init__(self, vocab_size: int, embed_dim: int, num_layers: int, num_heads: int,
                 max_seq_len: int, *, rng=None):
        super().__init__()
        self.vocab_size, self.embed_dim = _positive(vocab_size, "vocab_size"), _positive(embed_dim, "embed_dim")
        self.num_layers, self.num_heads = _positive(num_layers, "num_layers"), _positive(num_heads, "num_heads")
        self.max_seq_len = _positive(max_seq_len, "max_seq_len")
        if embed_dim % num_heads:
            raise ValueError(f"embed_dim {embed_dim} is not divisible by num_heads {num_heads}")
        rng = get_rng(rng)
        self.token_embedding = Embedding(vocab_size, embed_dim, rng=rng)
        self.position_embedding = LearnedPositionalEmbedding(max_seq_len, embed_dim, rng=rng)
        self.blocks = [TransformerBlock(embed_dim, num_heads, rng=rng) for _ in range(num_layers)]
        self.ln_f = LayerNorm(embed_dim)
        self.head = Linear(embed_dim, vocab_size, rng=rng)
        residual_scale = 1.0 / np.sqrt(2 * num_layers)
        for name, p in self.named_parameters():  # GPT-2's initialization
            if p.ndim == 2:
                std = 0.02 * (residual_scale if name.endswith(("out_proj.weight", "fc2.weight")) else 1.0)
                p.data[...] = rng.normal(0.0, std, size=p.shape)
            elif not name.split(".")[-2].startswith("ln"):
                p.data[...] = 0.0  # biases

    def _check_ids(self, ids) -> np.ndarray:
        """ids as an array of shape (B, T) with 1 <= T <= max_seq_len (given; the embedding checks
        the values)."""
        array = np.asarray(ids.data if isinstance(ids, Tensor) else ids)
        if array.ndim != 2 or array.shape[1] == 0:
            raise ValueError(f"GPT.forward needs token ids of shape (B, T) with T >= 1, got shape {array.shape}"
                             + (": for one sequence pass ids[None]" if array.ndim == 1 else ""))
        if array.shape[1] > self.max_seq_len:
            raise ValueError(f"GPT.forward: sequence length T = {array.shape[1]} exceeds max_seq_len = "
                             f"{self.max_seq_len}; crop the context to its last {self.max_seq_len} tokens")
        return array

    def forward(self, ids) -> Tensor:
        ids = self._check_ids(ids)
        seq_len = ids.shape[1]
        ### BEGIN SOLUTION
        x = self.position_embedding(self.token_embedding(ids))
        mask = causal_mask(seq_len)
        for block in self.blocks:
            x = block(x, mask=mask)
        return self.head(self.ln_f(x))
        ### END SOLUTION

    def generate(self, ids, max_new_tokens: int, temperature: float = 1.0, top_k: int | None = None,
                 seed: int | None = None) -> np.ndarray:
        """Append `max_new_tokens` sampled tokens to ids (1-D or 2-D); see `generate` (section 10)."""
        return generate(self, ids, max_new_tokens, temperature, top_k, seed)

    def extra_repr(self) -> str:
        return (f"vocab_size={self.vocab_size}, embed_dim={self.embed_dim}, num_layers={self.num_layers}, "
                f"num_heads={self.num_heads}, max_seq_len={self.max_seq_len}")


# %% [markdown]
# ### Unit test: the GPT
# Shapes, the first loss of a fresh model (near `ln(vocab)`), the flow of values from part to part
# (each part reads what the one before wrote, every block gets the causal mask), causality (changing a later token changes no earlier logit), and the errors.

# %% nbgrader={"grade": true, "grade_id": "test-gpt", "locked": true, "points": 15, "schema_version": 3, "solution": false, "task": false}
def test_unit_gpt():
    from tinytorch.losses import CrossEntropyLoss
    from tinytorch.testing import close, raises
    model = GPT(11, 16, 2, 2, 8, rng=0)
    assert len(model.blocks) == 2 and model.head.weight.shape == (16, 11), "2 blocks and a (16, 11) head"
    rng = np.random.default_rng(4)
    ids = rng.integers(0, 11, size=(3, 6))
    logits = model(ids)
    assert isinstance(logits, Tensor) and logits.shape == (3, 6, 11), f"logits shape {logits.shape}, expected (3, 6, 11)"
    first = CrossEntropyLoss()(logits, rng.integers(0, 11, size=(3, 6))).item()
    assert abs(first - np.log(11)) < 0.1, f"a fresh GPT predicts nearly uniformly: loss {first:.3f}, ln 11 = {np.log(11):.3f}"
    for p in (model.position_embedding.weight, model.ln_f.bias, model.blocks[1].ln2.weight):
        p.data[...] = rng.normal(size=p.shape)  # make every part matter
    bold = GPT(11, 16, 2, 2, 8, rng=1)
    for p in bold.parameters():
        p.data[...] = rng.normal(size=p.shape) * 0.5  # large weights: every token matters to what may see it
    changed = ids.copy()
    changed[:, 4] = (changed[:, 4] + 1) % 11
    before, after = bold(ids).data, bold(changed).data
    close(after[:, :4], before[:, :4], atol=1e-5,
          what="causal: logits at positions 0..3 ignore token 4 (does every block get the causal mask?)")
    assert not np.allclose(after[:, 4:], before[:, 4:]), "changing token 4 must change the logits from position 4 on"
    seen = []  # (part, what went in, the mask it got, what came out), in the order of the calls

    class Spy(Module):  # calls the real part and records the flow of values
        def __init__(self, name, part):
            super().__init__()
            self.name, self.part = name, part

        def __getattr__(self, attr):  # anything else (e.g. .weight) is the real part's
            part = self.__dict__.get("part")
            if part is None:
                raise AttributeError(attr)
            return getattr(part, attr)

        def forward(self, v, *args, **kwargs):
            out = self.part(v, *args, **kwargs)
            mask = kwargs.get("mask", args[0] if args else None)
            seen.append((self.name, np.array(v.data if isinstance(v, Tensor) else v), mask, np.array(out.data)))
            return out

    for name in ("token_embedding", "position_embedding", "ln_f", "head"):
        setattr(model, name, Spy(name, getattr(model, name)))
    model.blocks = [Spy(f"block {i}", b) for i, b in enumerate(model.blocks)]
    got = model(Tensor(ids.astype(np.float32)))
    flow = {name: (v_in, mask, v_out) for name, v_in, mask, v_out in seen}
    order = [name for name, _, _, _ in seen if name.startswith("block")]
    assert order == ["block 0", "block 1"], f"every block runs once, in order: the blocks ran as {order}"
    tokens = flow["token_embedding"][2]
    positions = model.position_embedding.weight.data[:6]
    close(flow["block 0"][0], tokens + positions, atol=1e-5,
          what="block 0 reads the token vectors plus the position vectors of positions 0..5")
    for i in range(2):
        mask = flow[f"block {i}"][1]
        assert mask is not None and np.array_equal(np.asarray(mask), causal_mask(6)), \
            f"block {i} gets the causal mask of the sequence (causal_mask(6)), got {mask if mask is None else np.asarray(mask).shape}"
    close(flow["block 1"][0], flow["block 0"][2], atol=1e-6, what="block 1 reads block 0's output")
    assert "ln_f" in flow and "head" in flow, f"ln_f and the head each run once: the parts called were {[n for n, *_ in seen]}"
    close(flow["ln_f"][0], flow["block 1"][2], atol=1e-6, what="ln_f normalizes the last block's output")
    close(flow["head"][0], flow["ln_f"][2], atol=1e-6, what="the head reads ln_f's output")
    close(got, flow["head"][2], atol=1e-6, what="the logits are the head's output")
    raises(ValueError, lambda: model(rng.integers(0, 11, size=(2, 9))), "max_seq_len")
    raises(ValueError, lambda: model(ids[0]), "(B, T)")
    raises(IndexError, lambda: model([[1, 11]]), "11")
    raises(ValueError, lambda: GPT(11, 10, 1, 3, 8), "divisible")
    print("GPT: OK")


if __name__ == "__main__":
    test_unit_gpt()

# %% [markdown]
# ## 7. Counting parameters and FLOPs
#
# How big is a GPT? Count it from the configuration (`V` vocabulary, `D` width, `L` blocks,
# `S = max_seq_len`, MLP ratio `r`):
#
# - embeddings: `V·D` token vectors and `S·D` position vectors;
# - per block: attention has four `D × D` projections, each with a bias; two LayerNorms with a
#   weight and a bias of `D` each; the MLP has `D × rD` and `rD × D` weights and their biases;
# - `ln_f`, and the head `D × V` with a bias of `V`.
#
# The number of heads does not appear: splitting `D` into heads reshapes the projections, it
# adds no weights. With `r = 4` a block is about `12·D²` parameters. `gpt_parameter_count`
# returns the exact total; the test compares it with the parameters of real models.
#
# **FLOPs per token.** A matrix multiply by a `D_in × D_out` weight costs `2·D_in·D_out` FLOPs per
# token (a multiply and an add per weight), so the forward pass costs about `2N` FLOPs per token,
# where `N` counts the weights of matrix multiplies (the embedding tables are looked up, not
# multiplied). Attention adds `4·T·D` per token and block (the scores `QKᵀ` and the weighted sum
# of `V`, over all `T` keys, masked or not). The backward pass costs about twice the forward (a
# gradient for the input and one for the weight per matmul), so **training costs ≈ 6N FLOPs per
# token** (Kaplan et al., 2020). The cell after the test works it out for nanoGPT's CPU
# configuration.

# %% nbgrader={"grade": false, "grade_id": "param-count", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
def gpt_parameter_count(vocab_size: int, embed_dim: int, num_layers: int, max_seq_len: int,
                        mlp_ratio: int = 4) -> int:
    """The number of parameters of `GPT(vocab_size, embed_dim, num_layers, any heads, max_seq_len)`."""
    V, D, L, S, r = vocab_size, embed_dim, num_layers, max_seq_len, mlp_ratio
    ### BEGIN SOLUTION
    attention = 4 * (D * D + D)
    norms = 2 * 2 * D
    mlp = D * r * D + r * D + r * D * D + D
    return V * D + S * D + L * (attention + norms + mlp) + 2 * D + D * V + V
    ### END SOLUTION


# %% [markdown]
# ### Unit test: the parameter count, against real models

# %% nbgrader={"grade": true, "grade_id": "test-param-count", "locked": true, "points": 5, "schema_version": 3, "solution": false, "task": false}
def test_unit_param_count():
    for config in [(11, 16, 2, 2, 8), (7, 12, 1, 3, 5), (5, 8, 3, 4, 30)]:
        model = GPT(*config, rng=0)
        actual = sum(p.size for p in model.parameters())
        vocab, dim, layers, _, seq = config
        got = gpt_parameter_count(vocab, dim, layers, seq)
        off = got - actual
        parts = [f"{off // n} x {what}" for n, what in ((dim, f"D = {dim}"), (vocab, f"V = {vocab}"),
                                                         (seq, f"S = {seq}")) if off and off % n == 0]
        assert got == actual, f"gpt_parameter_count{(vocab, dim, layers, seq)} = {got}, but GPT{config} has {actual}: " \
            f"off by {off}" + (f" (= {' or '.join(parts)}: which part is that?)" if parts else "")
    assert gpt_parameter_count(65, 128, 4, 64, mlp_ratio=2) == 555_073, \
        f"mlp_ratio=2 at (65, 128, 4, 64): got {gpt_parameter_count(65, 128, 4, 64, mlp_ratio=2)}, expected 555,073"
    print("parameter count: OK")


if __name__ == "__main__":
    test_unit_param_count()

# %% nbgrader={"grade": false, "grade_id": "flops-demo", "locked": false, "schema_version": 3, "solution": false, "task": false}
if __name__ == "__main__":
    V, D, L, S, B = 65, 128, 4, 64, 12  # nanoGPT's CPU configuration, batch 12
    demo = GPT(V, D, L, 4, S, rng=0)
    total = sum(p.size for p in demo.parameters())
    matmul_weights = sum(p.size for name, p in demo.named_parameters() if p.ndim == 2 and "embedding" not in name)
    forward = 2 * matmul_weights + L * 4 * S * D
    print(f"GPT(65, 128, 4 layers, 4 heads, 64): {total:,} parameters (formula: "
          f"{gpt_parameter_count(V, D, L, S):,}), {matmul_weights:,} of them in matrix multiplies")
    print(f"per token: forward {forward / 1e6:.2f} MFLOPs (attention {L * 4 * S * D / 1e6:.2f}), "
          f"training ≈ 3x = {3 * forward / 1e6:.2f} MFLOPs; a step of {B}x{S} tokens: "
          f"{3 * forward * B * S / 1e9:.2f} GFLOPs")

# %% [markdown]
# At roughly 30–50 GFLOP/s for one core's float32 matrix multiplies, that step cannot take much
# less than about 0.1 s, in any framework: this is why the milestone's 2,000 steps take minutes.
#
# ## 8. The training objective: predict the next token
#
# A language model assigns a probability to every next token. Trained with cross-entropy on
# text, the logits at position `t` learn `P(token_{t+1} | token_0..t)`. One window of `T + 1`
# consecutive tokens of the corpus gives `T` training examples at once: the input is the first
# `T` tokens, the target the same window shifted left by one:
#
# ```
# text:    T  o  ␣  b  e  ,
# x:       T  o  ␣  b  e          (what the model reads)
# y:       o  ␣  b  e  ,          (what it must predict at each position)
# ```
#
# Causality (section 6) makes this honest: position 1 has seen `T o` only when it predicts `␣`.
# The loss is module 04's `CrossEntropyLoss` on logits `(B, T, V)` and targets `(B, T)`, the
# mean over all `B·T` predictions. A model that guesses uniformly scores `ln V` nats per token.
#
# `lm_batch(data, batch_size, context, rng)` draws `batch_size` random windows of a 1-D token
# array: start positions uniform over every start that leaves room for `context + 1` tokens
# (draw them with one call to the generator, so a seed fixes the batch), then `x` and `y`, each
# int64 of shape `(batch_size, context)`. The batch is gathered without a Python loop over its
# rows: at batch 12 that loop would not matter, but a data loader runs once per step, and at
# batch 512 it would. The validation is given.

# %% nbgrader={"grade": false, "grade_id": "lm-batch", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
def lm_batch(data, batch_size: int, context: int, rng=None) -> tuple[np.ndarray, np.ndarray]:
    """Random next-token training pairs (x, y), each int64 (batch_size, context), y = x shifted by one."""
    data = np.asarray(data)
    batch_size, context = _positive(batch_size, "batch_size"), _positive(context, "context")
    if data.ndim != 1 or data.dtype.kind not in "iu":
        raise ValueError(f"lm_batch needs a 1-D array of token ids, got shape {data.shape}, dtype {data.dtype}")
    if len(data) < context + 1:
        raise ValueError(f"lm_batch: {len(data)} tokens are too few for windows of context + 1 = {context + 1}")
    rng = get_rng(rng)
    ### BEGIN SOLUTION
    starts = rng.integers(0, len(data) - context, size=batch_size)
    windows = data[starts[:, None] + np.arange(context + 1)].astype(np.int64)
    return windows[:, :-1], windows[:, 1:]
    ### END SOLUTION


# %% [markdown]
# ### Unit test: training pairs

# %% nbgrader={"grade": true, "grade_id": "test-lm-batch", "locked": true, "points": 5, "schema_version": 3, "solution": false, "task": false}
def test_unit_lm_batch():
    from tinytorch.testing import raises
    data = np.arange(100, 120)  # token i is 100 + i: a window's values give its start
    x, y = lm_batch(data, 500, 4, rng=0)
    assert x.shape == y.shape == (500, 4) and x.dtype == y.dtype == np.int64, \
        f"x {x.shape} {x.dtype}, y {y.shape} {y.dtype}: expected (500, 4) int64 each"
    assert np.array_equal(x[:, 1:] - x[:, :1], np.tile(np.arange(1, 4), (500, 1))), "x holds consecutive tokens"
    assert np.array_equal(y, x + 1), "y is x shifted by one token"
    starts = x[:, 0] - 100
    assert starts.min() == 0 and starts.max() == 15, \
        f"starts range over 0..{len(data) - 5} (every window that fits): got {starts.min()}..{starts.max()}"
    tight = lm_batch(np.arange(5), 3, 4, rng=1)
    assert np.array_equal(tight[0], np.tile(np.arange(4), (3, 1))), "5 tokens, context 4: only the window at 0 fits"
    again = lm_batch(data, 500, 4, rng=0)
    assert np.array_equal(again[0], x), "the same seed gives the same batch"
    raises(ValueError, lambda: lm_batch(np.arange(4), 2, 4), "too few")
    print("lm_batch: OK")


if __name__ == "__main__":
    test_unit_lm_batch()

# %% [markdown]
# ## 9. Sampling the next token
#
# Generation turns the logits at the last position into one token, again and again. The
# sampling rule `sample_next(logits, temperature, top_k, rng)` takes logits `(B, V)` (NumPy) and
# returns `B` token ids. Module 17 reuses it unchanged, so it is defined once, here:
#
# - **Temperature** `τ`: sample from `softmax(logits / τ)`. `τ < 1` sharpens the distribution
#   toward the likeliest tokens, `τ > 1` flattens it toward uniform, and `τ = 0` (the limit) is
#   **greedy decoding**: the argmax, the first one on ties.
# - **Top-k**: before sampling, keep only the `k` largest logits of each row (every logit equal
#   to the `k`-th largest is kept too, so ties are never broken by chance) and give the rest
#   probability 0. It cuts off the long tail of unlikely tokens that, sampled once in a while,
#   derail a text. `top_k ≥ V` keeps everything.
# - **One draw per row**, by inverse CDF: with `p` the row's *unnormalised* weights (no need to
#   divide by their sum) and `c` their running sum, draw `u` uniform in `[0, c_last)` (one
#   `rng.random(B)` call: row `b`'s `[0, 1)` draw times its `c_last`) and pick the first index
#   `i` with `c_i > u`. The running sum of a masked token equals its predecessor's, so with that
#   rule it is never picked, even when `u` lands exactly on a running-sum value.
#
# The contract beyond the math: logits of any size work (a row like `[1000, 999, 0]` must give
# the probabilities of `[1, 0, −999]`: `exp(1000)` overflows float64, so module 02's lesson
# applies), the result is int64 of shape `(B,)`, and all rows are handled at once, without a
# Python loop over the batch.
#
# Worked example: logits `[2, 1, 0, 1]`, `τ = 1`, `top_k = 2`: the kept logits are the 2 and
# both 1s (tied with the second largest), so `p = [e², e, 0, e]` and `c = [e², e² + e, e² + e,
# e² + 2e]`; divided by `c_last` (only to read them) that is `[0.576, 0.788, 0.788, 1.0]`. A draw
# of `0.8` (so `u = 0.8·c_last`) picks index 3; a draw of `0.5` picks index 0.
# The validation is given.

# %% nbgrader={"grade": false, "grade_id": "sample-next", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
def sample_next(logits, temperature: float = 1.0, top_k: int | None = None, rng=None) -> np.ndarray:
    """One token id per row of logits (B, V): greedy at temperature 0, else softmax(logits / T)
    sampled by inverse CDF (one rng.random() draw per row), restricted to the top_k largest."""
    logits = np.asarray(logits.data if isinstance(logits, Tensor) else logits)
    if logits.ndim != 2 or logits.shape[1] == 0 or logits.dtype.kind not in "iuf":
        raise ValueError(f"sample_next needs numeric logits of shape (B, V), got shape {logits.shape}")
    if not np.all(np.isfinite(logits)):
        raise ValueError("sample_next: the logits hold NaN or infinity; the model has diverged")
    if not (isinstance(temperature, int | float | np.floating) and np.isfinite(temperature) and temperature >= 0):
        raise ValueError(f"temperature must be a finite number >= 0, got {temperature!r}")
    if top_k is not None:
        top_k = _positive(top_k, "top_k")
    rng = get_rng(rng)
    batch, vocab = logits.shape
    ### BEGIN SOLUTION
    if temperature == 0:
        return logits.argmax(axis=1).astype(np.int64)
    z = logits.astype(np.float64) / temperature
    if top_k is not None and top_k < vocab:
        kth = np.partition(z, vocab - top_k, axis=1)[:, vocab - top_k, None]  # k-th largest per row
        z = np.where(z >= kth, z, -np.inf)
    p = np.exp(z - z.max(axis=1, keepdims=True))
    cdf = np.cumsum(p, axis=1)
    u = rng.random(batch)[:, None] * cdf[:, -1:]
    return (cdf <= u).sum(axis=1).astype(np.int64)
    ### END SOLUTION


# %% [markdown]
# ### Unit test: sampling
# Greedy decoding, the worked example with a fixed draw, frequencies against the probabilities
# over many rows, top-k, and temperature.

# %% nbgrader={"grade": true, "grade_id": "test-sample-next", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false}
def test_unit_sample_next():
    from tinytorch.testing import raises

    class Fixed(np.random.Generator):  # a generator whose draws are given
        def __init__(self, draws):
            super().__init__(np.random.PCG64(0))
            self.draws = np.asarray(draws, dtype=np.float64)

        def random(self, size):
            assert size == len(self.draws), f"one draw per row: asked for {size}, expected {len(self.draws)}"
            return self.draws

    def run(what, logits, *args, **kwargs):
        try:
            return sample_next(np.asarray(logits, np.float64), *args, **kwargs)
        except NotImplementedError:
            raise
        except Exception as err:
            raise AssertionError(f"{what}: sample_next raised {type(err).__name__}: {err}") from None

    row = np.array([[2.0, 1.0, 0.0, 1.0]])
    greedy = run("greedy", [[0.0, 3.0, 1.0, 3.0], [5.0, 0.0, 0.0, 0.0]], temperature=0)
    assert isinstance(greedy, np.ndarray) and greedy.dtype == np.int64 and greedy.tolist() == [1, 0], \
        f"greedy: got {greedy!r}, expected int64 [1, 0] (the first maximum)"
    sweep = np.linspace(0.001, 0.999, 400)  # draws across (0, 1), none on a boundary: every kept token is picked
    distinct = [3.0, 1.0, 2.0, 0.0, 4.0]  # no ties: the top k are tokens 4, 0, 2 in that order
    for k, top in ((2, [0, 4]), (3, [0, 2, 4]), (1, [4])):
        picks = run(f"top_k = {k} on {distinct}", np.tile(distinct, (400, 1)), 1.0, k, rng=Fixed(sweep))
        kept = sorted(set(int(i) for i in picks))
        assert kept == top, f"top_k = {k} on logits {distinct} (no ties): draws across [0, 1) picked tokens {kept}, " \
            f"expected exactly {top}, the {k} largest" + (
                f" (that is {len(kept)} tokens, the k-th largest itself left out: does the mask keep logits > the "
                "k-th largest instead of >= it? the k-th largest is one of the k kept, and logits tied with it "
                "are kept too)" if len(kept) == k - 1 and set(kept) < set(top) else
                f" (that is {len(kept)} tokens: is the k-th largest taken at the wrong rank, or the comparison "
                "the wrong way round?)" if len(kept) != k else "")
    huge = run("logits [1000, 999, 0]", [[1000.0, 999.0, 0.0]] * 2, rng=Fixed([0.5, 0.8]))
    assert huge.tolist() == [0, 1], f"logits [1000, 999, 0], draws 0.5 and 0.8: got {huge.tolist()}, expected [0, 1] " \
        "(the probabilities of [1, 0, -999]; exp(1000) overflows: shift each row by its own maximum)"
    picks = run("the worked example", np.tile(row, (4, 1)), 1.0, 2, rng=Fixed([0.5, 0.6, 0.8, 0.99])).tolist()
    assert picks == [0, 1, 3, 3], f"worked example of section 9 (draws 0.5, 0.6, 0.8, 0.99): got {picks}, expected [0, 1, 3, 3]"
    full = [int(sample_next(row, 1.0, None, rng=Fixed([u]))[0]) for u in (0.5, 0.7, 0.78, 0.9)]
    assert full == [0, 1, 2, 3], \
        f"no top-k: c = [0.53, 0.73, 0.80, 1] (u = 0.5, 0.7, 0.78, 0.9): got {full}, expected [0, 1, 2, 3]"
    for k in (4, 5, 99):  # top_k >= V keeps every token
        try:
            kept = [int(sample_next(row, 1.0, k, rng=Fixed([u]))[0]) for u in (0.5, 0.7, 0.78, 0.9)]
        except Exception as err:
            raise AssertionError(f"top_k = {k} >= V = 4 must keep every token, but sample_next raised "
                                 f"{type(err).__name__}: {err}") from None
        assert kept == full, f"top_k = {k} >= V = 4 keeps every token: got {kept}, expected {full} (as without top-k)"
    bounds = [int(sample_next(np.zeros((1, 4)), rng=Fixed([u]))[0]) for u in (0.0, 0.25, 0.5, 0.99)]
    assert bounds == [0, 1, 2, 3], f"equal logits, c = [1, 2, 3, 4]: u = 0, 1, 2, 3.96 pick {bounds}, expected " \
        "[0, 1, 2, 3] (a u equal to c_i picks i + 1: the first index with c_i > u, so count the entries <= u)"
    masked = int(sample_next(np.array([[0.0, 5.0, 5.0, 0.0]]), top_k=2, rng=Fixed([0.0]))[0])
    assert masked == 1, f"a draw of exactly 0 must not pick a masked token (c = [0, 1, 2, 2]): got {masked}, expected 1"
    huge = sample_next(np.tile([[1000.0, 999.0, 0.0], [0.0, 1.0, -1.0]], (5000, 1)), rng=3).reshape(5000, 2)
    share = [np.bincount(huge[:, r], minlength=3) / 5000 for r in (0, 1)]
    assert np.allclose(share[0], [0.731, 0.269, 0], atol=0.03) and np.allclose(share[1], [0.245, 0.665, 0.09], atol=0.03), \
        f"logits [1000, 999, 0] and [0, 1, -1]: frequencies {share[0]} and {share[1]} (shift each row by its own max)"
    logits = np.log(np.array([0.1, 0.2, 0.3, 0.4]))
    counts = np.bincount(sample_next(np.tile(logits, (20000, 1)), rng=0), minlength=4) / 20000
    assert np.allclose(counts, [0.1, 0.2, 0.3, 0.4], atol=0.015), f"frequencies {counts}, expected [0.1, 0.2, 0.3, 0.4]"
    top2 = np.bincount(sample_next(np.tile(logits, (20000, 1)), top_k=2, rng=1), minlength=4) / 20000
    assert np.allclose(top2, [0, 0, 3 / 7, 4 / 7], atol=0.015), f"top_k=2 frequencies {top2}, expected [0, 0, 0.43, 0.57]"
    top3 = np.bincount(sample_next(np.tile(logits, (20000, 1)), top_k=3, rng=5), minlength=4) / 20000
    assert np.allclose(top3, [0, 2 / 9, 3 / 9, 4 / 9], atol=0.015), f"top_k=3 frequencies {top3}, expected [0, 0.22, 0.33, 0.44]"
    cold = np.bincount(sample_next(np.tile(logits, (20000, 1)), temperature=0.5, rng=2), minlength=4) / 20000
    assert np.allclose(cold, [0.01 / 0.3, 0.04 / 0.3, 0.09 / 0.3, 0.16 / 0.3], atol=0.015), \
        f"temperature 0.5 squares the probabilities (then renormalizes): got {cold}"
    assert np.array_equal(sample_next(np.tile(logits, (50, 1)), rng=7), sample_next(np.tile(logits, (50, 1)), rng=7)), \
        "the same seed gives the same tokens"
    raises(ValueError, lambda: sample_next(logits), "(B, V)")
    raises(ValueError, lambda: sample_next(row, temperature=-1.0), "temperature")
    print("sample_next: OK")


if __name__ == "__main__":
    test_unit_sample_next()

# %% [markdown]
# ## 10. Generation
#
# `generate(model, ids, max_new_tokens, temperature, top_k, seed)` (and `GPT.generate`, which
# calls it) appends `max_new_tokens` tokens to every row of `ids`. Each new token is drawn by
# `sample_next` (with the given `temperature` and `top_k`) from the model's prediction for the
# position right after the current sequence, the model reading **at most its last
# `max_seq_len` tokens** (it has no position vectors beyond; older tokens are simply dropped
# from what it reads, never from the result). The model runs `max_new_tokens` times, no more.
#
# The loop over new tokens cannot be vectorized: token `t + 1` depends on token `t`. Each step
# recomputes the whole context, `T` positions, to use the prediction of one of them: generating
# `n` tokens costs `O(n·T)` positions of work where `O(n)` would do. Module 17's KV cache removes
# that waste, through the `cache` seam of the block.
#
# Generation needs no gradients and must not depend on training-only behaviour (dropout), so it
# runs in **evaluation mode** under **`no_grad()`**, and restores the model's previous mode when
# it is done, even after an error (given). **One generator for the whole run**:
# `rng = np.random.default_rng(seed)` is made once, before the loop (given), and every step
# draws from it, so the seed fixes the whole text. A generator made afresh inside the loop
# would replay the same first draw at every step (the test checks that the draws of a run are
# one generator's successive draws). The input may be one sequence (1-D) or a batch (2-D); the result has the same
# rank, as an int64 array with the new tokens appended.

# %% nbgrader={"grade": false, "grade_id": "generate", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
def _generation_context(model: GPT, ids, max_new_tokens, who: str = "generate") -> tuple[np.ndarray, int]:
    """The context as int64 (B, T), every id in range, and the rank of `ids` (1 or 2), or a clear
    error naming the index in `ids` as given (given; module 17's generators use it too)."""
    array = np.asarray(ids.data if isinstance(ids, Tensor) else ids)
    if array.ndim not in (1, 2) or array.shape[-1] == 0:
        raise ValueError(f"{who} needs a non-empty context of token ids, 1-D (T,) or 2-D (B, T), "
                         f"got shape {array.shape}")
    if not isinstance(max_new_tokens, int | np.integer) or isinstance(max_new_tokens, bool) or max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be an int >= 0, got {max_new_tokens!r}")
    return np.atleast_2d(as_token_ids(array, model.vocab_size)), array.ndim  # whole numbers in range


def generate(model: GPT, ids, max_new_tokens: int, temperature: float = 1.0, top_k: int | None = None,
             seed: int | None = None) -> np.ndarray:
    """Autoregressive sampling from `model`: returns ids with `max_new_tokens` tokens appended."""
    out, rank = _generation_context(model, ids, max_new_tokens)
    rng = np.random.default_rng(seed)
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            ### BEGIN SOLUTION
            for _ in range(max_new_tokens):
                logits = model(out[:, -model.max_seq_len:]).data[:, -1, :]
                token = sample_next(logits, temperature, top_k, rng)
                out = np.concatenate([out, token[:, None]], axis=1)
            ### END SOLUTION
    finally:
        model.train(was_training)
    return out if rank == 2 else out[0]


# %% [markdown]
# ### Unit test: generation
# The shape and the rank, the prompt kept, determinism with a seed, greedy decoding on a stand-in
# model whose predictions are known (which also checks that the context is cropped to
# `max_seq_len`), the mode restored, and one
# generator for the whole run (a model whose logits are all zero shows every draw).

# %% nbgrader={"grade": true, "grade_id": "test-generate", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false}
def test_unit_generate():
    model = GPT(9, 16, 1, 2, 6, rng=1)
    rng = np.random.default_rng(5)
    for p in model.parameters():
        p.data[...] = rng.normal(size=p.shape)  # a confident model: greedy and sampled runs differ
    prompt = np.array([1, 2, 3])
    out = model.generate(prompt, 10, seed=0)
    assert out.shape == (13,) and out.dtype == np.int64, f"1-D prompt of 3, 10 new tokens: got {out.shape} {out.dtype}"
    assert np.array_equal(out[:3], prompt), f"the prompt comes first: got {out[:3]}"
    assert np.array_equal(model.generate(prompt, 10, seed=0), out), "the same seed gives the same text"
    batch = model.generate(np.array([[1, 2], [4, 0]]), 7, seed=3)
    assert batch.shape == (2, 9), f"2-D prompt (2, 2), 7 new tokens: got {batch.shape}"
    class Counting(Module):  # a stand-in model: at every position the likeliest next token is (sum of the tokens seen) % 9
        vocab_size, max_seq_len = 9, 6

        def forward(self, ids):
            ids = np.asarray(ids)
            assert ids.ndim == 2 and ids.shape[1] <= 6, \
                f"generate gave the model {ids.shape[1]} tokens: crop the context to its last max_seq_len = 6"
            return Tensor(np.eye(9, dtype=np.float32)[np.cumsum(ids, axis=1) % 9] * 5)

    want = [1, 2, 3]
    for _ in range(8):  # the prediction after the last token, from the last 6 tokens at most
        want.append(sum(want[-6:]) % 9)
    counted = generate(Counting(), prompt, 8, temperature=0).tolist()
    first = [1, 2, 3]
    for _ in range(8):
        first.append(first[-6:][0] % 9)
    assert counted == want, f"temperature 0 with a model whose prediction after a context is (its sum) % 9: got " \
        f"{counted}, expected {want}" + (" (the logits of the first position were used: the next token comes from "
                                         "the last position)" if counted == first else "")
    greedy = model.generate(prompt, 8, temperature=0)
    samples = {tuple(model.generate(prompt, 8, seed=s)) for s in range(6)}
    assert len(samples) > 1, "temperature 1 with different seeds should not always give the same text"
    top1 = model.generate(prompt, 8, top_k=1, seed=4)
    assert top1.tolist() == greedy.tolist(), "top_k=1 keeps only the likeliest token: the same as greedy"
    model.train()
    model.generate(prompt, 1, seed=0)
    assert model.training, "generate restores training mode afterwards"
    assert model.generate(prompt, 0).tolist() == [1, 2, 3], "max_new_tokens=0 returns the prompt"
    flat = GPT(7, 8, 1, 2, 4, rng=0)
    flat.head.weight.data[:] = 0.0
    flat.head.bias.data[:] = 0.0  # every logit 0: the token is floor(7 · draw), so the draws can be read off
    run = flat.generate(np.zeros((2, 1), np.int64), 12, seed=11)[:, 1:]
    one = np.random.default_rng(11)
    draws = np.stack([(one.random(2) * 7).astype(np.int64) for _ in range(12)], axis=1)
    assert np.array_equal(run, draws), \
        (f"one generator for the whole run (step t uses its t-th draw, one per row): got {run.tolist()}, "
         f"expected {draws.tolist()}" + (" - every step repeats the same draw: is the generator made afresh "
                                         "inside the loop?" if np.all(run == run[:, :1]) else ""))
    print("generate: OK")


if __name__ == "__main__":
    test_unit_generate()

# %% [markdown]
# ## 11. Saving and loading a model (given)
#
# A trained model is only useful if it survives the process that trained it. `Module` has
# `state_dict()` / `load_state_dict()` (module 03), and module 07's `save_checkpoint` writes them
# to a `.npz` file atomically (a temporary file, then `os.replace`, so a crash never leaves half
# a file). `save_model(model, path, **extra)` and `load_model(model, path)` use them for a model
# alone, and turn every way a file can be wrong into a clear error: no file, not an `.npz`
# archive, a truncated or corrupt one, or one made for a model of another shape (which names the
# parameter, and changes nothing). `load_model` loads into a model you build first with the same
# configuration; keep the configuration in `extra` (it comes back as a dict).

# %% nbgrader={"grade": false, "grade_id": "save-load", "locked": false, "schema_version": 3, "solution": false, "task": false}
#| export
def save_model(model: Module, path, **extra) -> None:
    """Write the model's parameters (and `extra` numbers or arrays) to the .npz file `path`, atomically."""
    save_checkpoint(path, model, **extra)


def load_model(model: Module, path) -> dict:
    """Load parameters saved by `save_model` into `model` (all or nothing); returns the extras."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no model file at {path}")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path} is not a TinyTorch model file (not an .npz archive)")
    try:
        return load_checkpoint(path, model)
    except (zipfile.BadZipFile, EOFError, OSError) as err:
        raise ValueError(f"{path} is corrupt or truncated ({type(err).__name__}: {err})") from None


# %% [markdown]
# ## 12. How fast is it?
#
# `python benchmarks/run.py` times your framework against PyTorch's CPU build, one thread each,
# same weights, interleaved. Two cases concern this module: `block_train`, forward and backward
# of `TransformerBlock(64, 4)` on `(8, 32, 64)` with a causal mask, and `gpt_train`, a whole
# training step (forward, cross-entropy, backward, AdamW) at nanoGPT's CPU configuration,
# reported in tokens per second.
#
# Wall-clock time on a shared machine says more about the other jobs than about your code, so
# here are numbers that hold still. **Ratios, with their load**: on our 2-core reference machine
# at a load average of 5–10 (both frameworks see the same load, interleaved), the block took
# 1.4–1.7× PyTorch's time and the GPT step 1.7–2.2×. **CPU time** (`time.process_time()`, one
# BLAS thread, median of 15 steps): a `gpt_train` step of 12 × 64 = 768 tokens took 220 ms of
# CPU, about 3,500 tokens per CPU-second, measured at a load average of 14 on the same 2 cores
# (wall time of that run: 0.9–1.2 s per step, which is why we do not quote it). On an idle core
# the CPU time is lower (about 100 ms has been measured there, 7,800 tokens per CPU-second):
# even CPU time grows when other jobs share the caches and memory bus. With M05's 76 characters
# instead of nanoGPT's 65 the head is a little wider; the step takes about the same. Measure
# your own with `python benchmarks/run.py --only gpt_train`, or time a step with
# `time.process_time()` around it. Where TinyTorch's time goes (`cProfile`, one thread):
# at nanoGPT's configuration about 40 % is in matrix multiplies (the four projections, the MLP,
# the head, each three times), as it should be; about a quarter in GELU, forward and backward,
# which NumPy computes in a dozen separate passes over the `(12, 64, 512)` hidden activations
# where PyTorch runs one fused loop; LayerNorm, softmax, the additions and AdamW share the rest.
# The fixed cost of Python per recorded op matters only for tiny models. Fusing LayerNorm into
# one op kept about twenty small ops per block out of the graph. `benchmarks/README.md` records
# the measured ratios.

# %% [markdown]
# ## 13. A check you design: is a model causal?
#
# Sections 6 and 8 rest on one property: the logits at position `t` depend on tokens `0 … t`
# only. A model that breaks it (a block called without the mask, a mask off by one, a position
# embedding that mixes positions, a cache that returns someone else's keys) trains beautifully:
# position `t` simply reads the token it must predict, the training loss falls towards zero, and
# generation, which has no future to read, produces nonsense. The loss curve will not tell you;
# a check will. The tests of this module check causality for the GPT you wrote, by changing one
# chosen token; here you write the check for **any** model, one you have not seen.
#
# `find_causal_leak(model, seq_len=None, seed=0)` probes a model and returns either `None` (no
# leak found) or a pair `(t, s)` of Python ints with `t < s`: changing the token at position `s`
# changed the logits at the earlier position `t`. The contract:
#
# - `model(ids)` takes int64 token ids `(B, T)` (any `B ≥ 1`, `1 ≤ T ≤ model.max_seq_len`) and
#   returns logits `(B, T, V)` (a Tensor; `.data` is the array), `V = model.vocab_size`. Probe
#   sequences of `seq_len` tokens (default `model.max_seq_len`; at least 2, checked for you).
# - Changes within float32 rounding are not leaks. For one probe sequence, let `M` be the
#   largest `|logit|` of its unchanged logits, the whole `(T, V)` array (every position, not only
#   the rows you compare: rounding at position `t` can come from sums that include later, larger
#   positions). Two logits of that sequence and of a copy with one token changed count as equal
#   when they differ by at most `1e-5 · (1 + M)`. The tolerance is relative: a model may compute
#   a causal function in an order whose float32 rounding depends on later tokens, and for logits
#   of size 1000 that rounding is about `1e-4`, far above a fixed `1e-5`.
# - A pair you return must be a real leak: changing token `s` (to some value) really changes the
#   logits at `t`. `None` must mean that your probes found nothing, and they must find the leaks
#   a student's model could have: from any later position (not only the next one), into any
#   earlier position (the first one included), small ones (a change of `1e-3` in logits of size
#   1), and ones that show only for some values of the later token.
# - It is deterministic (`seed` fixes every random choice) and cheap: a few batched forward
#   passes per position, not one pass per (position, value) pair; it runs under `no_grad()` and
#   leaves the model's mode as it found it.
#
# **What you decide**: which sequences to probe, which token to change and to what, how many
# probes, how to batch them, and how to compare. Any approach that meets the contract passes;
# the test runs it on causal models (which must give `None`) and on models with planted leaks,
# each of which must give one of its leaking pairs. Think about what a probe that changes one
# token to one other value can miss.

# %% nbgrader={"grade": false, "grade_id": "causal-leak", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
def find_causal_leak(model, seq_len: int | None = None, seed: int = 0) -> tuple[int, int] | None:
    """`None` when no probe finds the logits at a position t changing with a later token s > t,
    else such a pair `(t, s)` (see section 13)."""
    seq_len = model.max_seq_len if seq_len is None else seq_len
    if not isinstance(seq_len, int | np.integer) or isinstance(seq_len, bool) \
            or not 2 <= seq_len <= model.max_seq_len:
        raise ValueError(f"find_causal_leak needs 2 <= seq_len <= max_seq_len = {model.max_seq_len}, "
                         f"got {seq_len!r}")
    vocab = model.vocab_size
    rng = np.random.default_rng(seed)
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            ### BEGIN SOLUTION
            base = rng.integers(0, vocab, size=(2, seq_len))  # two sequences; token s takes every other value
            reference = model(base).data
            for s in range(1, seq_len):
                changed = np.repeat(base, vocab - 1, axis=0)
                changed[:, s] = (changed[:, s] + np.tile(np.arange(1, vocab), 2)) % vocab
                logits = model(changed).data.reshape(2, vocab - 1, seq_len, -1)
                change = np.abs(logits[:, :, :s] - reference[:, None, :s]).max(axis=(1, 3))  # (2, s)
                scale = 1e-5 * (1 + np.abs(reference).max(axis=(1, 2)))[:, None]  # per probe sequence
                leaks = np.flatnonzero((change > scale).any(axis=0))
                if leaks.size:
                    return int(leaks[0]), s
            return None
            ### END SOLUTION
    finally:
        model.train(was_training)


# %% [markdown]
# ### Unit test: the causality check
# Causal models first (a GPT, a causal model whose rounding depends on later tokens, and one
# whose logits are about 1000, where float32 rounding is about `1e-4`): they must give `None`. Then models with planted leaks, one kind at a time, each named in the
# message: a GPT whose blocks get no mask, position 0 reading the last token, every position
# reading the next one, a leak of `1e-3`, and leaks that show only for some values of the later
# token.

# %% nbgrader={"grade": true, "grade_id": "test-causal-leak", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false}
def test_unit_find_causal_leak():
    from tinytorch.testing import raises

    class Probe(Module):  # a tiny model whose logits are a function of the token ids, chosen per test
        def __init__(self, fn, vocab=7, max_seq_len=8):
            super().__init__()
            self.fn, self.vocab_size, self.max_seq_len = fn, vocab, max_seq_len
            self.calls = 0

        def forward(self, ids):
            ids = np.asarray(ids)
            assert ids.ndim == 2 and 1 <= ids.shape[1] <= self.max_seq_len and ids.dtype.kind in "iu", \
                f"the model takes int token ids (B, T <= {self.max_seq_len}), got {ids.shape} {ids.dtype}"
            self.calls += 1
            table = np.linspace(-1.0, 1.0, self.vocab_size * 3).reshape(self.vocab_size, 3)
            return Tensor(self.fn(ids, table[ids]).astype(np.float32))

    def prefix_mean(ids, e):  # causal: the logits at t are the mean of the embeddings of 0..t
        return np.cumsum(e, axis=1) / np.arange(1, e.shape[1] + 1)[:, None]

    def rounding(ids, e):  # causal, computed as (total - suffix): float32 rounding depends on later tokens
        e = (e * 1234.567 + 0.1234).astype(np.float32)
        suffix = np.cumsum(e[:, ::-1], axis=1)[:, ::-1]
        later = np.concatenate([suffix[:, 1:], np.zeros_like(suffix[:, :1])], axis=1)
        return (e.sum(axis=1, keepdims=True) - later) / np.float32(1234.567)

    def large(ids, e):  # causal, logits near 1000, computed as (1000 + total) - suffix: rounding ~1e-4
        e = e.astype(np.float32)
        suffix = np.cumsum(e[:, ::-1], axis=1)[:, ::-1]
        later = np.concatenate([suffix[:, 1:], np.zeros_like(suffix[:, :1])], axis=1)
        return (np.float32(1000.0) + e.sum(axis=1, keepdims=True)) - later

    def verify(name, model, allowed):
        calls_before = getattr(model, "calls", 0)
        try:
            found = find_causal_leak(model, seed=3)
        except NotImplementedError:
            raise
        except Exception as err:
            raise AssertionError(f"{name}: find_causal_leak raised {type(err).__name__}: {err}") from None
        if allowed is None:
            assert found is None, f"{name} is causal, but find_causal_leak reported a leak {found}" + (
                " (is your tolerance absolute? logits of size 1000 round by about 1e-4 in float32, far above "
                "1e-5: the tolerance is relative, 1e-5 * (1 + the largest |logit| of the unchanged sequence), "
                "see the contract of section 13)" if "1000" in name else
                " (is your tolerance below float32 rounding? see the contract)" if "rounding" in name else
                " (did you compare positions t >= s too? only t < s counts)")
        else:
            assert found is not None, f"{name}: find_causal_leak found no leak (expected one of " \
                f"{sorted(allowed)[:4]}; does every probe change token s to several values, so that a leak that " \
                "shows for some values only is seen, and compare the largest change, not an average?)"
            assert isinstance(found, tuple) and len(found) == 2 and all(type(i) is int for i in found), \
                f"{name}: return a pair of Python ints (t, s), got {found!r}"
            assert found in allowed, f"{name}: reported {found}, which is not a leak of this model " \
                f"(its leaking pairs (t, s) include {sorted(allowed)[:4]}; t is the earlier position)"
        assert getattr(model, "calls", 0) - calls_before <= 4 * model.max_seq_len, \
            f"{name}: {getattr(model, 'calls', 0) - calls_before} model calls for max_seq_len {model.max_seq_len}: " \
            "batch your probes (a few calls per position at most)"
        return found

    T = 8
    gpt = GPT(9, 16, 2, 2, T, rng=0)
    rng = np.random.default_rng(0)
    for p in gpt.parameters():
        p.data[...] = rng.normal(size=p.shape) * 0.5
    probe = rng.integers(0, 9, size=(2, T))
    last_changed = probe.copy()
    last_changed[:, -1] = (last_changed[:, -1] + 1) % 9
    with no_grad():
        moved = np.abs(gpt(last_changed).data[:, :-1] - gpt(probe).data[:, :-1]).max()
    assert moved < 1e-4, f"your GPT is not causal: changing the last token moved earlier logits by {moved:.3g}. " \
        "test_unit_gpt fails: fix GPT.forward first (does every block get the causal mask?); " \
        "this test needs a causal GPT to check find_causal_leak"
    gpt.train()
    verify("a GPT with its causal mask", gpt, None)
    assert gpt.training, "find_causal_leak restores the model's training mode"
    verify("a causal prefix mean", Probe(prefix_mean), None)
    verify("a causal model with rounding that depends on later tokens", Probe(rounding), None)
    verify("a causal model with logits near 1000 whose rounding depends on later tokens", Probe(large), None)

    class NoMask(Module):  # a block that drops the mask it is given: the GPT reads the future
        def __init__(self, block):
            super().__init__()
            self.block = block

        def forward(self, x, mask=None, cache=None):
            return self.block(x, cache=cache)

    leaky = GPT(9, 16, 2, 2, T, rng=0)
    leaky.load_state_dict(gpt.state_dict())
    leaky.blocks = [NoMask(b) for b in leaky.blocks]
    verify("a GPT whose blocks get no mask", leaky, {(t, s) for s in range(T) for t in range(s)})

    def last_into_first(ids, e):
        out = prefix_mean(ids, e)
        out[:, 0] += e[:, -1]
        return out

    verify("position 0 reading the last token", Probe(last_into_first), {(0, T - 1)})

    def next_token(ids, e):
        return prefix_mean(ids, e) + np.concatenate([e[:, 1:], np.zeros_like(e[:, :1])], axis=1)

    verify("every position reading the next token (targets in the input)", Probe(next_token),
           {(t, t + 1) for t in range(T - 1)})

    def small(ids, e):
        out = prefix_mean(ids, e)
        out[:, 2] += 1e-3 * e[:, 5]
        return out

    verify("a leak of 1e-3 from position 5 into position 2", Probe(small), {(2, 5)})

    def first_pair(ids, e):
        out = prefix_mean(ids, e)
        out[:, 0] += 2.5e-5 * np.sign(e[:, 1])  # logits of size 1: just above 1e-5 * (1 + 1)
        return out

    verify("a leak of 2.5e-5 from position 1 into position 0", Probe(first_pair), {(0, 1)})

    def odd_only(ids, e):
        out = prefix_mean(ids, e)
        out[:, 3, 0] += (ids[:, 6] % 2 == 1)
        return out

    verify("a leak from position 6 into position 3 that shows only for odd tokens", Probe(odd_only), {(3, 6)})
    verify("the same leak with a vocabulary of 2", Probe(odd_only, vocab=2), {(3, 6)})

    def zero_only(ids, e):
        out = prefix_mean(ids, e)
        out[:, 1] += (ids[:, 4] == 0)[:, None] * 0.5
        return out

    verify("a leak from position 4 into position 1 that shows only when token 4 is 0", Probe(zero_only), {(1, 4)})
    raises(ValueError, lambda: find_causal_leak(gpt, seq_len=1), "seq_len")
    print("find_causal_leak: OK")


if __name__ == "__main__":
    test_unit_find_causal_leak()

# %% [markdown]
# ## Module test
# A tiny GPT learns a short text by heart: next-token training on random windows with Adam,
# the loss falls far below `ln(vocab)`, and greedy generation from the first six characters
# (the shortest prefix that occurs only once) then recites the text. It also survives a save
# and load.

# %% nbgrader={"grade": true, "grade_id": "test-module", "locked": true, "points": 15, "schema_version": 3, "solution": false, "task": false}
def test_module():
    import tempfile
    from tinytorch.losses import CrossEntropyLoss
    from tinytorch.optimizers import Adam
    text = "to be or not to be, that is the question."
    chars = sorted(set(text))
    data = np.array([chars.index(c) for c in text])
    model = GPT(len(chars), 16, 1, 2, 12, rng=0)
    opt, loss_fn = Adam(model.parameters(), lr=2e-2), CrossEntropyLoss()
    rng = np.random.default_rng(0)
    losses = []
    for _ in range(120):
        x, y = lm_batch(data, 16, 12, rng)
        loss = loss_fn(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    first, last = losses[0], float(np.mean(losses[-10:]))
    assert abs(first - np.log(len(chars))) < 0.2, f"the first loss is about ln {len(chars)} = {np.log(len(chars)):.2f}, got {first:.2f}"
    assert last < 0.3, f"a tiny GPT should learn a 41-character text by heart: loss {first:.2f} -> {last:.3f}"
    recited = "".join(chars[i] for i in model.generate(data[:6], 30, temperature=0))
    assert recited == text[:36], f"greedy generation from 'to be ' gave {recited!r}, expected {text[:36]!r}"
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "tiny.npz"
        save_model(model, path, vocab=len(chars))
        copy = GPT(len(chars), 16, 1, 2, 12, rng=1)
        assert load_model(copy, path) == {"vocab": len(chars)}, "load_model returns the extras"
        assert np.array_equal(copy(data[None, :12]).data, model(data[None, :12]).data), "loaded model differs"
    print(f"module 13: all tests passed (loss {first:.2f} -> {last:.3f}, recited {recited!r})")


if __name__ == "__main__":
    test_module()

# %% [markdown]
# ## Reflection
# - Your fused LayerNorm keeps `x_hat` for the backward pass. How much memory is that for the
#   two LayerNorms of each of 4 blocks at batch 12 × 64, `D = 128`? What could you keep instead?
# - Generation recomputes the whole context for every new token. For a context of 64 and 200
#   new tokens, how many positions does the model process, and how many would a cache need?
# - The head `D × V` is small for 76 characters. For GPT-2's 50,257-token vocabulary and
#   `D = 768`, what fraction of the 124 M parameters is it (GPT-2 ties it to the token
#   embedding: what does that save)?
# - Why does pre-norm need the final `ln_f`, while post-norm does not?
