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
# # Module 03: Layers
#
# A neural network is a function with millions of adjustable numbers, its **parameters**. To
# train it we need to do three things with them again and again: find all of them, change them,
# and switch the network between training and evaluation behaviour. In this module you build
# the small machinery that makes that easy, the same shape PyTorch uses (`torch.nn.Module`):
#
# ```python
# model = Sequential(Linear(784, 128), ReLU(), Dropout(0.2), Linear(128, 10))
# logits = model(images)            # forward pass
# model.parameters()                # every weight and bias, found automatically
# model.eval()                      # dropout off, all the way down
# ```
#
# ## Learning objectives
# - Write a `Module` base class whose `parameters()` finds every parameter of arbitrarily nested
#   modules, exactly once, in a deterministic order; and whose `train()`/`eval()` reach every
#   sub-module.
# - Implement `Linear` (`y = x @ W + b`) and count its parameters, memory and FLOPs.
# - Explain why the **scale** of the initial weights decides whether a deep network can learn
#   at all, and implement Kaiming and Xavier initialization.
# - Implement inverted `Dropout` and `Sequential`.
# - Build every layer from the Tensor operations of module 01, so that module 05 (autograd)
#   can differentiate them without a single change here.
#
# ## How to work
# In your edition each piece you write is a stub that raises `NotImplementedError`; replace the
# `raise` with your code and run the test cell right after it. Stuck? `tito hint 03` lists the
# stubs, and `tito hint 03 Module.named_modules` shows the next hint for one of them (the idea,
# then the math, then the shape of the code; never the finished line). When every test passes,
# run `tito module complete 03`: it checks this file, exports the `#| export` cells to
# `tinytorch/layers.py`, and runs the full test suite.

# %% nbgrader={"grade": false, "grade_id": "layers-setup", "locked": false, "schema_version": 3, "solution": false, "task": false}
#| default_exp layers
#| export
import numpy as np

from tinytorch.tensor import Tensor

# %% [markdown]
# ## 1. Random numbers you can reproduce
#
# Layers start from random weights, and dropout draws random masks. A bug you cannot reproduce
# is a bug you cannot fix, so every random draw in TinyTorch comes from a NumPy `Generator`
# that you can seed:
#
# - `manual_seed(0)` resets the module-wide generator (like `torch.manual_seed(0)`): building
#   the same model twice after it gives identical weights.
# - Every layer that draws random numbers also takes `rng=`: an `int` seed or your own
#   `np.random.Generator`, for when you want one layer's randomness independent of the rest.
#
# This plumbing is given.

# %% nbgrader={"grade": false, "grade_id": "layers-rng", "locked": false, "schema_version": 3, "solution": false, "task": false}
#| export
_generator = np.random.default_rng()


def manual_seed(seed: int) -> None:
    """Reseed the generator that layers use when they are not given their own `rng`."""
    global _generator
    _generator = np.random.default_rng(seed)


def get_rng(rng=None) -> np.random.Generator:
    """The generator to draw from: `rng` itself, a new one seeded with the int `rng`, or the
    module-wide one (see `manual_seed`) when `rng` is None."""
    if rng is None:
        return _generator
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise TypeError(f"rng must be None, an int seed or a numpy Generator, got {type(rng).__name__}")


# %% [markdown]
# ## 2. `Module`: the container of parameters
#
# A **parameter** is a tensor the optimizer will change: it has `requires_grad=True` and it is a
# *leaf*, made directly rather than computed by an operation (an operation's output has
# `_op_name` set once autograd is active). So a module that caches an intermediate result in
# `self.last_output` does not accidentally turn it into a parameter. Unlike PyTorch there is no
# separate `Parameter` class: `Tensor(w, requires_grad=True)` is a parameter.
#
# A module keeps its parameters and its sub-modules as ordinary attributes:
#
# ```python
# class TwoLayer(Module):
#     def __init__(self):
#         super().__init__()
#         self.hidden = Linear(784, 128)           # a sub-module
#         self.heads = [Linear(128, 10), Linear(128, 2)]   # a list of sub-modules
#         self.scale = Tensor(1.0, requires_grad=True)      # a parameter of its own
# ```
#
# `parameters()` walks these attributes (`vars(self)`, which keeps the order they were assigned
# in, so the result is deterministic), descends into sub-modules and into lists, tuples and
# dicts, and collects every parameter **once**: two layers that share one weight tensor (weight
# tying) must not hand it to the optimizer twice, or it would be updated twice per step.
#
# Names matter too: `named_parameters()` gives each parameter the path by which it was found,
# `"hidden.weight"`, `"heads.1.bias"`, `"scale"`. Saving and loading a model (module 07) is
# nothing but a dict from these names to arrays.
#
# Walk in this order, which is PyTorch's: first the module itself (its own parameters, in
# attribute order), then each sub-module in attribute order, depth first. `named_modules()` does
# that walk over modules; `named_parameters()` then visits each module's own attributes.
#
# **Worked example.** For `TwoLayer` above (each `Linear` holds `weight`, then `bias`):
#
# | step | `named_modules()` adds | `named_parameters()` adds |
# |---|---|---|
# | the model itself | `("", model)` | `("scale", …)` |
# | attribute `hidden` | `("hidden", Linear)` | `("hidden.weight", …)`, `("hidden.bias", …)` |
# | attribute `heads`, item 0 | `("heads.0", Linear)` | `("heads.0.weight", …)`, `("heads.0.bias", …)` |
# | attribute `heads`, item 1 | `("heads.1", Linear)` | `("heads.1.weight", …)`, `("heads.1.bias", …)` |
#
# "Each once" covers two traps. The same module can be reachable twice (`self.tied = self.hidden`,
# or two modules that point at each other, a cycle): list it the first time, skip it after, and
# the walk always ends. And two *different* modules can hold the same tensor (weight tying): list
# the tensor once, under the first name found. Identity is what counts, not equality: compare
# objects by `id`, since two distinct zero tensors are equal but are two parameters.
#
# `train(mode=True)` and `eval()` set the `training` flag of **every** module in the tree, this
# one included, and return the module itself (so `model.eval()(x)` works). Layers such as
# `Dropout` (below) and batch normalization behave differently in the two modes; forgetting to
# reach a sub-module buried three levels deep is a classic silent bug (a model evaluated with
# dropout still on scores worse, at random). Once `parameters()` works, `zero_grad()` (given)
# is one loop over it: it sets every `.grad` to None, as PyTorch does.
#
# The helper `_flatten` (given) turns one attribute into `(name, item)` pairs, looking inside
# lists, tuples and dicts: `_flatten([a, b], "heads")` gives `("heads.0", a), ("heads.1", b)`.

# %% nbgrader={"grade": false, "grade_id": "module-class", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
def _flatten(value, name: str):
    """Yield (name, item) for `value`, or for each item inside a list, tuple or dict."""
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from _flatten(item, f"{name}.{i}")
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _flatten(item, f"{name}.{key}")
    else:
        yield name, value


def _is_parameter(value) -> bool:
    """A parameter is a leaf tensor that requires a gradient."""
    return isinstance(value, Tensor) and value.requires_grad and value._op_name is None


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


class Module:
    """Base class of every layer and model: holds parameters and sub-modules as attributes."""

    training = True  # a class default, so subclasses that skip super().__init__() still work

    def __init__(self):
        self.training = True

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def named_modules(self) -> list[tuple[str, "Module"]]:
        """[(name, module)] for this module (name "") and every sub-module, each once, depth first."""
        # Depth first, each module once (remember what you have seen).
        ### BEGIN SOLUTION
        found = []
        seen = set()

        def visit(prefix: str, module: Module) -> None:
            if id(module) in seen:
                return
            seen.add(id(module))
            found.append((prefix, module))
            for attr, value in vars(module).items():
                for name, item in _flatten(value, attr):
                    if isinstance(item, Module):
                        visit(_join(prefix, name), item)

        visit("", self)
        return found
        ### END SOLUTION

    def named_parameters(self) -> list[tuple[str, Tensor]]:
        """[(name, parameter)] for every parameter of this module and its sub-modules, each once."""
        # Each module's own attributes, in order; a tied tensor only once.
        ### BEGIN SOLUTION
        found = []
        seen = set()
        for prefix, module in self.named_modules():
            for attr, value in vars(module).items():
                for name, item in _flatten(value, attr):
                    if _is_parameter(item) and id(item) not in seen:
                        seen.add(id(item))
                        found.append((_join(prefix, name), item))
        return found
        ### END SOLUTION

    def parameters(self) -> list[Tensor]:
        """Every parameter, each once, in a deterministic order (hand this to an optimizer)."""
        return [p for _, p in self.named_parameters()]

    def modules(self) -> list["Module"]:
        return [m for _, m in self.named_modules()]

    def train(self, mode: bool = True) -> "Module":
        """Set training mode on this module and every sub-module; returns self."""
        ### BEGIN SOLUTION
        for module in self.modules():
            module.training = bool(mode)
        return self
        ### END SOLUTION

    def eval(self) -> "Module":
        """Evaluation mode everywhere (dropout off); returns self."""
        return self.train(False)

    def zero_grad(self) -> None:
        """Forget the gradients of every parameter (sets `.grad` to None, as PyTorch does)."""
        for p in self.parameters():
            p.grad = None

    # --- saving and loading (given; module 07 writes these dicts to files) --------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """{name: copy of the parameter's array}."""
        return {name: p.data.copy() for name, p in self.named_parameters()}

    def load_state_dict(self, state: dict) -> None:
        """Copy arrays into the parameters, in place. Checks every name and shape first, so a
        mismatched state changes nothing and the error names what does not fit."""
        own = dict(self.named_parameters())
        missing = [name for name in own if name not in state]
        unexpected = [name for name in state if name not in own]
        if missing or unexpected:
            raise ValueError(f"state does not match {type(self).__name__}: missing parameters "
                             f"{missing}, unexpected entries {unexpected}")
        for name, p in own.items():
            shape = np.shape(state[name])
            if shape != p.shape:
                raise ValueError(f"parameter {name!r} has shape {p.shape} in the model but "
                                 f"{shape} in the state")
        for name, p in own.items():
            p.data[...] = state[name]

    # --- printing (given) ---------------------------------------------------------------------
    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        children = [(name, item) for attr, value in vars(self).items()
                    for name, item in _flatten(value, attr) if isinstance(item, Module)]
        if not children:
            return f"{type(self).__name__}({self.extra_repr()})"
        lines = [f"{type(self).__name__}({self.extra_repr()}"]
        for name, child in children:
            body = repr(child).replace("\n", "\n  ")
            lines.append(f"  ({name}): {body}")
        return "\n".join(lines) + "\n)"


# %% [markdown]
# ### Unit test: finding parameters and switching modes
# Nested modules, a list of modules, a shared (tied) weight, a tensor that is not a parameter.

# %% nbgrader={"grade": true, "grade_id": "test-module-class", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false}
def test_unit_module():
    class Leaf(Module):
        def __init__(self, size):
            super().__init__()
            self.w = Tensor(np.ones(size), requires_grad=True)
            self.constant = Tensor(np.zeros(size))  # no requires_grad: not a parameter

    class Tree(Module):
        def __init__(self):
            super().__init__()
            self.scale = Tensor(2.0, requires_grad=True)
            self.left = Leaf(2)
            self.branches = [Leaf(3), (Leaf(4),)]
            self.right = Leaf(5)
            self.tied = self.left  # the same module twice: its weight must appear once

    tree = Tree()
    names = [name for name, _ in tree.named_parameters()]
    assert names == ["scale", "left.w", "branches.0.w", "branches.1.0.w", "right.w"], \
        f"parameters found in the wrong order or with the wrong names: {names}"
    params = tree.parameters()
    assert [p.shape for p in params] == [(), (2,), (3,), (4,), (5,)], [p.shape for p in params]
    assert params[1] is tree.left.w, "parameters() must return the tensors themselves, not copies"
    walked = [name for name, _ in tree.named_modules()]
    assert walked == ["", "left", "branches.0", "branches.1.0", "right"], \
        f"named_modules(): Tree, left, two branches, right, each once (tree.tied is left again), got {walked}"
    assert tree.parameters() == params, "the order must be the same on every call"

    class Pair(Module):  # weight tying: two different modules share one tensor
        def __init__(self):
            super().__init__()
            self.a, self.b = Leaf(2), Leaf(2)
            self.b.w = self.a.w

    pair = Pair()
    assert pair.parameters() == [pair.a.w], "a tensor shared by two modules must be listed once"

    class Twins(Module):  # two different tensors with equal values: two parameters
        def __init__(self):
            super().__init__()
            self.a, self.b = Tensor(np.zeros(2), requires_grad=True), Tensor(np.zeros(2), requires_grad=True)

    twins = Twins()
    assert len(twins.parameters()) == 2, \
        (f"two distinct zero tensors gave {len(twins.parameters())} parameter(s), expected 2: tell parameters "
         "apart by identity (id), not by equal values")

    first, second = Leaf(2), Leaf(3)  # a cycle: each points at the other
    first.peer, second.peer = second, first
    try:
        walked = [name for name, _ in first.named_modules()]
    except RecursionError:
        raise AssertionError("named_modules() never ends on a cycle (a.peer = b, b.peer = a): mark a module as "
                             "seen before visiting its children") from None
    assert walked == ["", "peer"], f"a cycle of two modules: {walked}, expected ['', 'peer']"

    deep = Module()  # depth first: a sub-module's own sub-modules come before the next attribute
    deep.first, deep.second = Module(), Leaf(1)
    deep.first.inner = Leaf(2)
    walked = [name for name, _ in deep.named_modules()]
    assert walked == ["", "first", "first.inner", "second"], \
        f"named_modules() must walk depth first: got {walked}, expected ['', 'first', 'first.inner', 'second']"

    for p in params:
        p.grad = Tensor(np.ones(p.shape))
    tree.zero_grad()
    assert all(p.grad is None for p in params), "zero_grad() must reach nested parameters"

    assert tree.eval() is tree, "eval() returns the module itself"
    assert not tree.training, "after eval() the module itself still has training True: train(mode) sets it to mode"
    assert not any(m.training for m in tree.modules()), "eval() must reach every sub-module"
    assert not tree.branches[1][0].training, "a module inside a tuple inside a list is reached too"
    tree.train()
    assert all(m.training for m in tree.modules()), "train() must reach every sub-module"
    print("Module: OK")


if __name__ == "__main__":
    test_unit_module()

# %% [markdown]
# ## 3. Initialization: why the scale of random weights matters
#
# A layer computes `y_j = Σ_i x_i · W_ij` over `n = in_features` inputs. If the inputs and
# weights are independent with mean 0, the variances multiply and add up:
#
# `Var(y) = n · Var(W) · Var(x)`
#
# so each layer multiplies the variance of the activations by `n · Var(W)` (halved by a ReLU,
# which zeroes half of them). Over 20 layers a factor of 2 becomes `2^20 ≈ 10^6`. Here is a
# 20-layer ReLU network, width 256, on unit-variance inputs (standard deviation of the
# activations after layer 1, 5, 10, 20; the demo cell after the initialization test reproduces
# it):
#
# | weights drawn with std | layer 1 | layer 5 | layer 10 | layer 20 | what happens |
# |---|---|---|---|---|---|
# | 0.01 | 0.094 | 1.6e-5 | 3.1e-10 | 1.2e-19 | signal (and gradient) vanish |
# | 1.0 | 9.4 | 1.4e5 | 3.1e10 | 1.2e21 | explode (a few layers more and `float32` overflows to `inf`) |
# | Xavier `√(2/(n_in+n_out))` | 0.58 | 0.13 | 0.018 | 6.9e-4 | shrinks by about √2 per ReLU layer |
# | **Kaiming `√(2/n_in)`** | 0.83 | 0.72 | 0.56 | 0.40 | **stays of order 1** |
#
# The fix is to choose `Var(W)` so that the factor is 1:
#
# - **Kaiming / He** (He et al., 2015), for ReLU networks: `Var(W) = 2 / fan_in` (the 2 makes
#   up for the half that ReLU zeroes). Default for `Linear` here.
# - **Xavier / Glorot** (Glorot & Bengio, 2010), for tanh/sigmoid/linear layers: a compromise
#   between keeping the forward signal (`1 / fan_in`) and the backward gradient (`1 / fan_out`),
#   `Var(W) = 2 / (fan_in + fan_out)`.
#
# We draw from a uniform distribution `U(-a, a)`. Its density is `1/(2a)` on `[-a, a]`, its mean
# 0, so its variance is `∫ x² / (2a) dx` over `[-a, a]` `= a² / 3`. To hit a target variance,
# solve `a² / 3 = Var(W)` for `a`: `a = √(3 · Var(W))`. For Kaiming, `Var(W) = 2 / fan_in`, so
# `a = √(6 / fan_in)`; with `fan_in = 400`, `a = 0.1225` and the variance is `0.005`. Derive the
# Xavier bound the same way. Biases start at zero. (PyTorch's `nn.Linear` default is `U(-1/√fan_in, 1/√fan_in)` for both
# weight and bias, i.e. `Var(W) = 1/(3·fan_in)`: fine for shallow nets, but in a deep ReLU stack
# it divides the variance by 6 per layer, faster still than the Xavier row above.)
#
# Both functions return a NumPy array of the requested shape (any shape: `fan_in` is passed
# separately because a convolution's fan-in is not its first dimension); `Linear` (and the
# convolutions of module 09) wrap it in a parameter tensor. Draw from `get_rng(rng)` (section
# 1), never from `np.random` directly, or seeds stop working: the same `rng` seed must give the
# same array, and `manual_seed` must make unseeded draws repeat.

# %% nbgrader={"grade": false, "grade_id": "init", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
def kaiming_uniform(fan_in: int, shape, rng=None) -> np.ndarray:
    """Weights from U(-a, a) with variance 2 / fan_in (He init, for ReLU), as an array of `shape`."""
    ### BEGIN SOLUTION
    bound = np.sqrt(6.0 / fan_in)
    return get_rng(rng).uniform(-bound, bound, size=shape)
    ### END SOLUTION


def xavier_uniform(fan_in: int, fan_out: int, shape, rng=None) -> np.ndarray:
    """Weights from U(-a, a) with variance 2 / (fan_in + fan_out) (Glorot init), as an array of `shape`."""
    ### BEGIN SOLUTION
    bound = np.sqrt(6.0 / (fan_in + fan_out))
    return get_rng(rng).uniform(-bound, bound, size=shape)
    ### END SOLUTION


# %% [markdown]
# ### Unit test: initialization
# The variance must match the formula, and a seed must reproduce the same weights.

# %% nbgrader={"grade": true, "grade_id": "test-init", "locked": true, "points": 5, "schema_version": 3, "solution": false, "task": false}
def test_unit_init():
    w = kaiming_uniform(400, (400, 300), rng=0)
    assert w.shape == (400, 300), f"shape {w.shape}, expected (400, 300)"
    third = " (a third of it: U(-a, a) has variance a²/3, not a²)" if abs(3 * w.var() - 2 / 400) < 0.05 * (2 / 400) else ""
    assert abs(w.var() - 2 / 400) < 0.05 * (2 / 400), f"Kaiming variance {w.var():.2e}, expected 5.0e-03{third}"
    assert np.abs(w).max() <= np.sqrt(6 / 400), "uniform weights must stay inside ±sqrt(6/fan_in)"
    assert abs(w.mean()) < 1e-3, "weights must be centred on 0"
    x = xavier_uniform(400, 200, (400, 200), rng=1)
    fan_in_only = " (that is 2/fan_in: fan_out is missing)" if abs(x.var() - 2 / 400) < 0.05 * (2 / 400) else ""
    assert abs(x.var() - 2 / 600) < 0.05 * (2 / 600), \
        f"Xavier variance {x.var():.2e}, expected 2/(400 + 200) = 3.3e-03{fan_in_only}"
    assert np.array_equal(kaiming_uniform(10, (10, 3), rng=7), kaiming_uniform(10, (10, 3), rng=7)), \
        "the same seed must give the same weights"
    manual_seed(3)
    a = kaiming_uniform(10, (4,))
    manual_seed(3)
    assert np.array_equal(a, kaiming_uniform(10, (4,))), "manual_seed must make draws reproducible"
    # the point of it all: 20 ReLU layers keep the signal's scale
    h = np.random.default_rng(0).normal(size=(256, 128))
    for layer in range(20):
        h = np.maximum(h @ kaiming_uniform(128, (128, 128), rng=layer), 0)
    assert 0.3 < h.std() < 3, f"after 20 Kaiming layers the activations have std {h.std():.3g}"
    print("init: OK")


if __name__ == "__main__":
    test_unit_init()

# %% [markdown]
# ### Demo: the variance table, reproduced
# Run this cell to see how the scale of the initial weights carries through 20 ReLU layers.

# %% nbgrader={"grade": false, "grade_id": "demo-depth", "locked": false, "schema_version": 3, "solution": false, "task": false}
if __name__ == "__main__":
    rng = np.random.default_rng(0)
    x0 = rng.normal(size=(512, 256))
    schemes = {"std 0.01": lambda: rng.normal(size=(256, 256)) * 0.01,
               "std 1": lambda: rng.normal(size=(256, 256)),
               "Xavier": lambda: xavier_uniform(256, 256, (256, 256), rng),
               "Kaiming": lambda: kaiming_uniform(256, (256, 256), rng)}
    for label, draw in schemes.items():
        h, stds = x0, []
        for depth in range(1, 21):
            h = np.maximum(h @ draw(), 0)
            if depth in (1, 5, 10, 20):
                stds.append(f"{h.std():9.3g}")
        print(f"{label:>9}: std after layers 1, 5, 10, 20 = {' '.join(stds)}")

# %% [markdown]
# ## 3b. Initialization for any activation: your design
#
# Kaiming's `2 / fan_in` is right for ReLU and only for ReLU: the 2 is there because ReLU keeps
# half of a symmetric signal's second moment. Section 3's argument works for any activation `f`
# once you replace "half" by what `f` really keeps. Follow one layer: if its pre-activations `z`
# are standard normal, the next layer's pre-activations are sums of `fan_in` terms `W_ij·f(z_i)`,
# and their second moment is `fan_in · Var(W) · E[f(z)²]`. Keep that at 1 and a deep stack of
# such layers neither vanishes nor explodes. For ReLU, `E[relu(z)²] = 1/2`, which gives Kaiming.
# For `tanh`, for a leaky ReLU, for `2·tanh`, for `sin` (all used in practice, or close to it),
# the number differs, and for an activation you have never seen there may be no closed form.
#
# **Your decision.** `init_for(activation, fan_in, shape, rng=None)` returns zero-mean weights
# of `shape` for a layer whose outputs go through `activation` (any callable on Tensors: the
# classes of module 02, or a function you write), drawn from `get_rng(rng)` so seeds work, and
# scaled so that the next layer keeps the scale. How you find the scale for an arbitrary
# activation is yours: a closed form where one exists, a measurement, or both; which
# distribution you draw from; how accurate is accurate enough. The test measures, for five
# activations, the gain `fan_in · Var(W) · E[f(z)²]` of the weights you return (it must lie
# within 12% of 1) and runs a 20-layer stack through each. Costs: whatever you compute once per
# call on top of the draw itself, which is `fan_in·fan_out` random numbers.

# %% nbgrader={"grade": false, "grade_id": "init-for", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
def init_for(activation, fan_in: int, shape, rng=None) -> np.ndarray:
    """Zero-mean weights of `shape` for a layer followed by `activation`, scaled so that a deep
    stack of such layers keeps the scale of its signal (section 3b)."""
    if not isinstance(fan_in, (int, np.integer)) or isinstance(fan_in, bool) or fan_in < 1:
        raise ValueError(f"fan_in must be a positive integer, got {fan_in!r}")
    ### BEGIN SOLUTION
    probe = np.random.default_rng(0).standard_normal(200_000)  # its own generator: rng stays untouched
    kept = np.mean(np.square(np.asarray(Tensor._lift(activation(Tensor(probe))).data, dtype=np.float64)))
    bound = np.sqrt(3.0 / (fan_in * kept))  # Var(U(-a, a)) = a²/3 = 1 / (fan_in · E[f(z)²])
    return get_rng(rng).uniform(-bound, bound, size=shape)
    ### END SOLUTION


# %% [markdown]
# ### Unit test: initialization for any activation
# Five activations, two of which have no textbook gain. For each: the gain of your weights, then
# a 20-layer stack of width 256 from standard-normal inputs.

# %% nbgrader={"grade": true, "grade_id": "test-init-for", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false}
def test_unit_init_for():
    from tinytorch.activations import ReLU, Tanh

    relu, tanh = ReLU(), Tanh()
    activations = {
        "ReLU": relu,
        "Tanh": tanh,
        "leaky ReLU (slope 0.1)": lambda t: relu(t) - relu(-t) * 0.1,
        "2·tanh": lambda t: tanh(t) * 2.0,
        "sin": lambda t: Tensor(np.sin(t.data)),
    }
    z = np.random.default_rng(2024).standard_normal(400_000)
    for k, (name, f) in enumerate(activations.items()):
        w = init_for(f, 300, (300, 400), rng=k)
        assert isinstance(w, np.ndarray) and w.shape == (300, 400), \
            f"{name}: init_for returns an array of the requested shape (300, 400), got {type(w).__name__} {np.shape(w)}"
        assert abs(w.mean()) < 4 * w.std() / np.sqrt(w.size), f"{name}: weights must be centred on 0, mean {w.mean():.2e}"
        kept = float(np.mean(np.square(np.asarray(f(Tensor(z)).data, dtype=np.float64))))
        gain = 300 * float(w.var()) * kept
        why = (f"E[f(z)²] for this activation is {kept:.3f}, not ReLU's 0.5 that Kaiming assumes"
               if abs(kept - 0.5) > 0.05 else f"your Var(W) is {gain:.3g} times the one that makes it 1")
        assert 0.88 < gain < 1.12, \
            f"{name}: fan_in·Var(W)·E[f(z)²] = 300 · {w.var():.3e} · {kept:.3f} = {gain:.3f}, want 1 (±12%): {why}"
    assert np.array_equal(init_for(relu, 10, (10, 3), rng=7), init_for(relu, 10, (10, 3), rng=7)), \
        "the same seed must give the same weights"
    for name in ("Tanh", "sin"):
        f = activations[name]
        h = np.random.default_rng(5).standard_normal((256, 256))
        for layer in range(20):
            h = np.asarray(f(Tensor(h @ init_for(f, 256, (256, 256), rng=100 + layer))).data, dtype=np.float64)
        rms, start = float(np.sqrt(np.mean(h ** 2))), float(np.sqrt(np.mean(np.square(f(Tensor(z)).data))))
        assert 0.5 * start < rms < 2 * start, \
            f"{name}: after 20 layers the activations have rms {rms:.3g}, one layer gives {start:.3g}: the scale drifts"
    print("init_for: OK")


if __name__ == "__main__":
    test_unit_init_for()

# %% [markdown]
# ## 4. `Linear`: `y = x @ W + b`
#
# | tensor | shape | here | PyTorch |
# |---|---|---|---|
# | input `x` | `(N, in)` or `(..., in)` | batch first | same |
# | weight `W` | **`(in, out)`** | `y = x @ W` | `(out, in)`, `y = x @ W.T` |
# | bias `b` | `(out,)` | broadcast over the batch | same |
# | output `y` | `(N, out)` | | same |
#
# We store `W` as `(in_features, out_features)` so the forward pass reads exactly like the math,
# `x @ W + b`, with no transpose. PyTorch stores `(out_features, in_features)` (each row is one
# output neuron's weights, the layout of the BLAS call it makes) and computes `x @ W.T + b`.
# Same numbers, transposed: to load PyTorch weights into TinyTorch, use `W_torch.T`.
#
# ### What a Linear layer costs
# - **Parameters**: `in·out + out`. Linear(784, 128) has 100,352 + 128 = 100,480; in `float32`
#   (4 bytes each) that is 402 KB. A 4096 → 4096 layer of a large language model has 16.8 M
#   parameters, 67 MB.
# - **FLOPs**: each of the `N·out` outputs is a dot product of length `in`: `in` multiplies and
#   `in` adds, so `2·N·in·out` FLOPs (plus `N·out` for the bias). For a batch of 256 MNIST
#   images through Linear(784, 128): 2·256·784·128 ≈ 51.4 M FLOPs.
#
# A whole 784 → 128 → 10 MLP has 101,770 parameters (407 KB) and needs about
# 2·(784·128 + 128·10) ≈ 0.2 MFLOPs per image: tiny by today's standards, yet well trained it
# reaches about 97–98% test accuracy on MNIST (milestone M03 asks for 97%).
#
# ### Shapes and errors
# `x @ W` works for any number of leading dimensions, so `(batch, seq, in)` inputs (module 13)
# work unchanged. When the last dimension of `x` is not `in_features`, raise a `ValueError`
# that names both: *"Linear(in_features=784, out_features=128) expects inputs with last
# dimension 784, got shape (32, 100)"*. The check is given; write the initialization and the
# forward pass. Use only Tensor operations (matmul and addition), so autograd differentiates the
# layer for free; the output keeps the `float32` of the parameters.
#
# **The constructor's contract.** `self.weight`: a parameter Tensor (`requires_grad=True`) of
# shape `(in_features, out_features)`, drawn with `kaiming_uniform` or `xavier_uniform` as `init`
# says, passing `rng` through so that seeds work. `self.bias`: a parameter Tensor of zeros of
# shape `(out_features,)`, or `None` when `bias=False`. Assign the weight first: `parameters()`
# lists attributes in the order they were set, and the tests expect `[weight, bias]`, as in
# PyTorch. The bias of shape `(out,)` broadcasts over every leading dimension of `x @ W`.

# %% nbgrader={"grade": false, "grade_id": "linear", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
class Linear(Module):
    """Fully connected layer: `y = x @ weight + bias`, weight of shape (in_features, out_features)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *,
                 init: str = "kaiming", rng=None):
        super().__init__()
        for name, value in (("in_features", in_features), ("out_features", out_features)):
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise ValueError(f"Linear needs a positive integer {name}, got {value!r}")
        if init not in ("kaiming", "xavier"):
            raise ValueError(f"init must be 'kaiming' or 'xavier', got {init!r}")
        self.in_features, self.out_features = int(in_features), int(out_features)
        shape = (self.in_features, self.out_features)
        # self.weight, then self.bias: the constructor's contract of section 4.
        ### BEGIN SOLUTION
        if init == "kaiming":
            weight = kaiming_uniform(self.in_features, shape, rng)
        else:
            weight = xavier_uniform(self.in_features, self.out_features, shape, rng)
        self.weight = Tensor(weight, requires_grad=True)
        self.bias = Tensor(np.zeros(self.out_features), requires_grad=True) if bias else None
        ### END SOLUTION

    def forward(self, x: Tensor) -> Tensor:
        x = Tensor._lift(x)
        if x.ndim == 0 or x.shape[-1] != self.in_features:
            raise ValueError(f"{self!r} expects inputs with last dimension {self.in_features}, "
                             f"got shape {x.shape}")
        ### BEGIN SOLUTION
        out = x @ self.weight
        if self.bias is not None:
            out = out + self.bias
        return out
        ### END SOLUTION

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


# %% [markdown]
# ### Unit test: Linear
# Values against NumPy, parameter count, no-bias layers, batched inputs, and the shape error.

# %% nbgrader={"grade": true, "grade_id": "test-linear", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false}
def test_unit_linear():
    from tinytorch.testing import close, raises

    layer = Linear(4, 3, rng=0)
    assert layer.weight.shape == (4, 3), f"weight shape {layer.weight.shape}, expected (in, out) = (4, 3)"
    assert layer.bias.shape == (3,) and np.all(layer.bias.data == 0), "bias: zeros of shape (out,)"
    assert layer.weight.requires_grad and layer.bias.requires_grad, "weight and bias are parameters"
    assert layer.parameters() == [layer.weight, layer.bias], "parameters(): [weight, bias]"
    assert np.abs(layer.weight.data).max() <= np.sqrt(6 / 4), "default init is Kaiming uniform"
    assert layer.weight.data.std() > 0.1, "weights must be random, not zeros"
    layer.bias.data[:] = [0.5, -1.0, 2.0]
    x = np.arange(8, dtype=np.float32).reshape(2, 4) - 3
    y = layer(Tensor(x))
    assert isinstance(y, Tensor), f"Linear returns a Tensor, got {type(y).__name__}"
    close(y, x @ layer.weight.data + layer.bias.data, atol=1e-5, what="y = x @ W + b for x of shape (2, 4)")
    seq = np.random.default_rng(1).normal(size=(5, 7, 4))
    close(layer(Tensor(seq)), seq @ layer.weight.data + layer.bias.data, atol=1e-5,
          what="inputs (5, 7, 4): every leading dimension is kept")
    plain = Linear(4, 3, bias=False, rng=0)
    assert plain.bias is None and len(plain.parameters()) == 1, \
        f"bias=False: bias None and one parameter, got {plain.bias!r} and {len(plain.parameters())}"
    close(plain(Tensor(x)), x @ plain.weight.data, atol=1e-5, what="y = x @ W without a bias")
    xav = Linear(300, 100, init="xavier", rng=2)
    assert abs(xav.weight.data.var() - 2 / 400) < 0.1 * (2 / 400), \
        f"init='xavier' uses Var = 2/(in+out) = 5.0e-03, got {xav.weight.data.var():.2e}"
    for init in ("kaiming", "xavier"):
        twice = [Linear(4, 3, init=init, rng=5).weight.data for _ in range(2)]
        assert np.array_equal(*twice), \
            f"Linear(4, 3, init={init!r}, rng=5) twice gave different weights: pass rng on to the initializer"
    count = sum(p.size for p in Linear(784, 128).parameters())
    assert count == 100_480, f"Linear(784, 128) has 784·128 + 128 = 100,480 parameters, got {count}"
    raises(ValueError, lambda: layer(Tensor(np.ones((2, 5)))), "(2, 5)", "in_features=4")
    print("Linear: OK")


if __name__ == "__main__":
    test_unit_linear()

# %% [markdown]
# ## 5. `Dropout`: regularization by random deletion
#
# During training, dropout sets each element to zero with probability `p`, a fresh random choice
# every call. The network cannot rely on any single unit, which reduces overfitting (Srivastava
# et al., 2014). At evaluation time nothing is dropped.
#
# **Inverted dropout.** Dropping a fraction `p` shrinks the expected value of every activation
# to `(1 - p)·x`. If we did nothing, the next layer would see larger inputs at evaluation time
# than it ever saw in training. So during training we divide the survivors by `1 - p`:
#
# `y = x · mask / (1 - p)`, `mask_i ~ Bernoulli(1 - p)`,  so `E[y] = x`,
#
# and at evaluation `y = x`, with no work at all. (The original paper scaled at test time
# instead; every framework now scales at training time.)
#
# Worked example, `p = 0.25`, `x = [3, 3, 3, 3]`: uniform draws `[0.9, 0.1, 0.4, 0.8]`; the
# elements whose draw is below `1 - p = 0.75` survive, giving the mask `[0, 1, 1, 0]`; the
# survivors are divided by `0.75`: `y = [0, 4, 4, 0]`. On average a quarter of the elements are
# dropped and the mean stays 3.
#
# Edge cases: in evaluation mode, and for `p = 0`, return the input Tensor **itself** (the same
# object: no copy, no work); `p = 1` drops everything and returns zeros of the input's shape
# (dividing by `1 - p = 0` would give NaN); a `p` outside `[0, 1]` is an error (given). The
# output keeps the input's dtype, and the input is never modified. Each call draws a fresh
# mask from the layer's generator, so two calls differ while two layers seeded alike repeat.
#
# The mask is drawn from the layer's generator (`get_rng(self.rng)`, given as `rng`), vectorized
# over the whole input: no Python loop. The mask itself is a constant, but applying it must be a
# Tensor operation on `x`, so that autograd sends the gradient through the kept elements only,
# scaled by `1/(1-p)`, and nowhere else.
#
# Cost: one random number and one multiply per element, plus a mask the size of the input that
# the backward pass keeps.

# %% nbgrader={"grade": false, "grade_id": "dropout", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
class Dropout(Module):
    """Inverted dropout: in training, zero each element with probability p and scale the rest by
    1/(1-p); in evaluation, return the input unchanged."""

    def __init__(self, p: float = 0.5, *, rng=None):
        super().__init__()
        if isinstance(p, bool) or not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability must be between 0 and 1, got {p!r}")
        self.p = float(p)
        # an int seed becomes one generator now, so successive calls draw different masks
        self.rng = np.random.default_rng(rng) if isinstance(rng, (int, np.integer)) else rng

    def forward(self, x: Tensor) -> Tensor:
        """Training: `x * mask / (1 - p)` with a fresh Bernoulli(1 - p) mask. Evaluation, or
        `p = 0`: `x` itself. `p = 1`: zeros of x's shape."""
        x = Tensor._lift(x)
        rng = get_rng(self.rng)  # the generator to draw the mask from
        # The edge cases first, then the mask, applied with a Tensor operation (section 5).
        ### BEGIN SOLUTION
        if not self.training or self.p == 0.0:
            return x
        if self.p == 1.0:
            return x * 0.0
        keep = 1.0 - self.p
        mask = (rng.random(x.shape) < keep).astype(x.dtype) / keep
        return x * Tensor(mask)
        ### END SOLUTION

    def extra_repr(self) -> str:
        return f"p={self.p}"


# %% [markdown]
# ### Unit test: Dropout
# Survivors are scaled by `1/(1-p)`, about a fraction `p` is dropped, nothing happens in
# evaluation mode, and the edge cases behave.

# %% nbgrader={"grade": true, "grade_id": "test-dropout", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false}
def test_unit_dropout():
    from tinytorch.testing import raises

    x = Tensor(np.full((200, 100), 3.0))
    drop = Dropout(0.25, rng=0)
    y = drop(x).data
    assert np.all(x.data == 3.0), "Dropout must not modify its input"
    assert y.shape == (200, 100), f"output shape {y.shape}, expected the input's (200, 100)"
    assert set(np.unique(y)) <= {0.0, 4.0}, f"kept elements must be 3 / (1 - 0.25) = 4, got {np.unique(y)[:5]}"
    dropped = float((y == 0).mean())
    flipped = " (that is about 1 - p: the mask drops what it should keep)" if 0.73 < dropped < 0.77 else ""
    assert 0.23 < dropped < 0.27, f"dropped a fraction {dropped:.3f} of the elements, expected about p = 0.25{flipped}"
    assert abs(y.mean() - 3.0) < 0.1, f"inverted dropout keeps the mean: {y.mean():.3f}, expected 3"
    assert not np.array_equal(y, drop(x).data), "every call draws a fresh mask"
    assert np.array_equal(Dropout(0.5, rng=4)(x).data, Dropout(0.5, rng=4)(x).data), "seeded masks repeat"
    drop.eval()
    assert drop(x) is x, "in eval mode dropout returns its input itself"
    drop.train()
    assert Dropout(0.0)(x) is x, "p=0 returns the input itself"
    zeros = Dropout(1.0)(Tensor(np.full((2, 3), 5.0))).data
    assert np.array_equal(zeros, np.zeros((2, 3))), f"p=1 drops everything (zeros, not NaN), got {zeros}"
    raises(ValueError, lambda: Dropout(-0.1), "between 0 and 1")
    raises(ValueError, lambda: Dropout(1.5), "between 0 and 1")
    print("Dropout: OK")


if __name__ == "__main__":
    test_unit_dropout()

# %% [markdown]
# ## 6. `Sequential`: layers in a row
#
# Most networks are a chain: the output of one layer is the input of the next.
# `Sequential(Linear(784, 128), ReLU(), Linear(128, 10))` keeps its layers in a list
# (`self.layers`) and `forward` feeds the input through them in order. Because the list is an
# attribute, `parameters()`, `train()` and `eval()` find everything inside with no extra code.
# The activations of module 02 are plain callables, not `Module`s: `Sequential` accepts any
# callable, and they simply have no parameters.
#
# An empty `Sequential()` returns its input itself: the identity. Indexing (`model[0]`),
# `len(model)` and iteration are given, as in PyTorch.

# %% nbgrader={"grade": false, "grade_id": "sequential", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
class Sequential(Module):
    """Apply layers one after the other: `Sequential(a, b, c)(x) == c(b(a(x)))`."""

    def __init__(self, *layers):
        super().__init__()
        if len(layers) == 1 and isinstance(layers[0], (list, tuple)):
            layers = tuple(layers[0])
        for i, layer in enumerate(layers):
            if not callable(layer):
                raise TypeError(f"Sequential: layer {i} ({type(layer).__name__}) is not callable")
        self.layers = list(layers)

    def forward(self, x):
        """Feed `x` through `self.layers` in order; return the last layer's output."""
        ### BEGIN SOLUTION
        for layer in self.layers:
            x = layer(x)
        return x
        ### END SOLUTION

    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, index):
        return Sequential(self.layers[index]) if isinstance(index, slice) else self.layers[index]

    def __iter__(self):
        return iter(self.layers)

    def __repr__(self) -> str:
        lines = [f"  ({i}): {repr(layer).replace(chr(10), chr(10) + '  ')}"
                 for i, layer in enumerate(self.layers)]
        return "Sequential(\n" + "\n".join(lines) + "\n)" if lines else "Sequential()"


# %% [markdown]
# ### Unit test: Sequential
# The order of the layers matters, parameters are collected from inside, and `eval()` reaches a
# dropout nested two levels down.

# %% nbgrader={"grade": true, "grade_id": "test-sequential", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false}
def test_unit_sequential():
    from tinytorch.testing import close

    def double(t):
        return t * 2.0

    def shift(t):
        return t + 1.0

    close(Sequential(double, shift)(Tensor([1.0, 2.0])), [3.0, 5.0], what="Sequential(double, shift): shift(double(x))")
    close(Sequential(shift, double)(Tensor([1.0, 2.0])), [4.0, 6.0], what="Sequential(shift, double): double(shift(x))")
    one = Tensor([1.0])
    assert Sequential()(one) is one, "an empty Sequential returns its input itself"

    first, second = Linear(6, 5, rng=0), Linear(5, 2, rng=1)
    inner = Sequential(Dropout(0.5, rng=0), second)
    model = Sequential(first, shift, inner)
    assert len(model) == 3 and model[0] is first and model[2][1] is second, "len() and indexing (given)"
    assert model.parameters() == [first.weight, first.bias, second.weight, second.bias], \
        "parameters(): both Linear layers' weight and bias, in order"
    names = [n for n, _ in model.named_parameters()]
    assert names == ["layers.0.weight", "layers.0.bias", "layers.2.layers.1.weight", "layers.2.layers.1.bias"], \
        f"parameter names through nested Sequentials: {names}"
    x = np.random.default_rng(2).normal(size=(3, 6)).astype(np.float32)
    model.eval()
    want = ((x @ first.weight.data + first.bias.data) + 1.0) @ second.weight.data + second.bias.data
    close(model(Tensor(x)), want, atol=1e-5, what="eval(): the nested Dropout must be off")
    model.train()
    assert inner[0].training, "train() must reach the nested Dropout"
    print("Sequential: OK")


if __name__ == "__main__":
    test_unit_sequential()

# %% [markdown]
# ### Unit test: layers are made of Tensor operations
# Module 05 differentiates any function built from the ops of modules 01–02. `recording_ops`
# (from `tinytorch.testing`) registers throw-away backward rules so the graph is recorded; we run
# a Linear layer and a Dropout and check that the recorded graph reaches the weight, the bias and
# the input. (If you computed with `.data` and wrapped the result in a new Tensor, the graph would
# be cut and autograd would never reach the parameters.)

# %% nbgrader={"grade": true, "grade_id": "test-composition", "locked": true, "points": 5, "schema_version": 3, "solution": false, "task": false}
def test_unit_composition():
    from tinytorch.testing import ops_in_graph, recording_ops

    def reaches(out, target):
        stack, seen = [out], set()
        while stack:
            t = stack.pop()
            if t is target:
                return True
            if id(t) not in seen:
                seen.add(id(t))
                stack.extend(t._inputs)
        return False

    with recording_ops("add", "sub", "mul", "div", "matmul", "neg", "sum", "mean", "reshape"):
        layer = Linear(3, 2, rng=0)
        x = Tensor(np.ones((4, 3)), requires_grad=True)
        hidden = layer(x)
        assert hidden.requires_grad, \
            "the output of Linear must be part of the graph: compute it with Tensor ops on x, weight and bias, not on .data"
        out = Dropout(0.5, rng=0)(hidden)
        assert reaches(out, hidden), \
            "the output of Dropout (training mode) must be part of the graph: apply the mask to x with a Tensor op, not on .data"
        for name, target in [("weight", layer.weight), ("bias", layer.bias), ("input", x)]:
            assert reaches(out, target), f"the graph from the output does not reach the {name}: ops {ops_in_graph(out)}"
        assert "matmul" in ops_in_graph(layer(x)), f"Linear uses a matmul, recorded {ops_in_graph(layer(x))}"
        assert len(Sequential(layer, lambda t: t * 2).parameters()) == 2, "Sequential finds the layer's 2 parameters"
    print("composition: OK")


if __name__ == "__main__":
    test_unit_composition()

# %% [markdown]
# ## Module test
# A 784 → 128 → 10 MLP for MNIST: its size, its FLOPs, a forward pass, train/eval behaviour,
# and a save/load round trip through `state_dict`.

# %% nbgrader={"grade": true, "grade_id": "test-module", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false}
def test_module():
    from tinytorch.activations import ReLU

    manual_seed(0)
    model = Sequential(Linear(784, 128), ReLU(), Dropout(0.2), Linear(128, 10))
    n_params = sum(p.size for p in model.parameters())
    assert n_params == 784 * 128 + 128 + 128 * 10 + 10 == 101_770, f"parameter count {n_params}"
    assert n_params * 4 == 407_080, "float32: 4 bytes per parameter"
    batch = np.random.default_rng(0).random((32, 784)).astype(np.float32)
    flops = sum(2 * 32 * m.in_features * m.out_features for m in model.modules() if isinstance(m, Linear))
    assert flops == 6_504_448, f"2·N·in·out summed over the Linear layers gives {flops}"
    model.eval()
    logits = model(Tensor(batch))
    assert logits.shape == (32, 10), f"logits shape {logits.shape}"
    assert np.array_equal(logits.data, model(Tensor(batch)).data), "eval() is deterministic"
    assert 0.2 < logits.data.std() < 5, f"Kaiming init keeps logits O(1), std {logits.data.std():.3g}"
    model.train()
    assert not np.array_equal(model(Tensor(batch)).data, model(Tensor(batch)).data), "train(): dropout on"
    manual_seed(0)
    twin = Sequential(Linear(784, 128), ReLU(), Dropout(0.2), Linear(128, 10))
    assert all(np.array_equal(a.data, b.data) for a, b in zip(model.parameters(), twin.parameters())), \
        "the same seed must build the same model"
    state = model.state_dict()
    for p in model.parameters():
        p.data[...] = 0
    model.load_state_dict(state)
    model.eval()
    assert np.allclose(model(Tensor(batch)).data, logits.data), "state_dict round trip"
    print("module 03: all tests passed")


if __name__ == "__main__":
    test_module()

# %% [markdown]
# ## Reflection
# - Your MLP has 101,770 parameters. How many bytes does the optimizer of module 06 need on top
#   of them for SGD with momentum? For Adam?
# - A `(4096, 4096)` Linear layer on a batch of 8 sequences of 2048 tokens: how many FLOPs?
#   (Hint: the batch is `N = 8·2048`.)
# - Why must `parameters()` return a tied weight only once? What would SGD do to it otherwise?
# - Draw the weights with std 0.01 in a 50-layer ReLU network: what will the gradient of the
#   first layer look like? (Module 05 lets you check.)
