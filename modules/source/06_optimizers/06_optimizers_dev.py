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
# # Module 06: Optimizers
#
# Module 05 gave every parameter a gradient: the direction in which the loss grows fastest. An
# **optimizer** turns gradients into parameter updates. The simplest one takes a small step
# downhill, `p ← p - lr·g`; the ones that train today's networks remember past gradients
# (momentum) and scale each parameter's step by how large its gradients usually are (Adam).
# In this module you implement `SGD` (with momentum, Nesterov momentum and weight decay),
# `Adam` and `AdamW` so that they produce **the same numbers as `torch.optim`** for the same
# settings: what you learn here transfers one to one.
#
# ## Learning objectives
# - Implement SGD, momentum and Nesterov momentum, Adam with bias correction, and the
#   difference between L2 regularization (`Adam(weight_decay=…)`) and decoupled weight decay
#   (`AdamW`).
# - Write updates as **vectorized, in-place** NumPy on preallocated state: the optimizer runs
#   after every batch, on every parameter.
# - Account for optimizer **memory**: SGD with momentum keeps one extra copy of the parameters,
#   Adam two; for large models that is the largest part of training memory.
#
# ## How to work
# In your edition each piece you write is a stub that raises `NotImplementedError`; replace the
# `raise` with your code and run the test cell right after it. Stuck? `tito hint 06` lists the
# stubs, and `tito hint 06 Adam.step` shows the next hint for one of them (the idea, then the
# math, then the shape of the code; never the finished line). When every test passes, run
# `tito module complete 06`: it checks this file, exports the `#| export` cells to
# `tinytorch/optimizers.py`, and runs the full test suite.

# %% nbgrader={"grade": false, "grade_id": "optimizers-setup", "locked": false, "schema_version": 3, "solution": false, "task": false}
#| default_exp optimizers
#| export
import math

import numpy as np

from tinytorch.tensor import Tensor

# %% [markdown]
# ## 1. The optimizer's contract
#
# ```python
# optimizer = SGD(model.parameters(), lr=0.1, momentum=0.9)
# for x, y in batches:
#     loss = loss_fn(model(x), y)
#     optimizer.zero_grad()     # forget the previous batch's gradients (they accumulate)
#     loss.backward()           # fill p.grad for every parameter
#     optimizer.step()          # update every parameter from its gradient
# ```
#
# The base class `Optimizer` (given) holds the list of parameters, the learning rate `lr`
# (a plain attribute: the schedules of module 07 change it between epochs), and a step counter
# per parameter. It also gives `zero_grad()` and saving/loading of the optimizer's state.
#
# Rules every optimizer follows:
# - A parameter whose `.grad` is `None` (it took no part in this loss) is **skipped**: not
#   updated, its state untouched, its step counter not advanced. That is what PyTorch does, and
#   it matters for Adam's bias correction, which counts each parameter's own steps.
# - Updates change `p.data` **in place** (`p.data -= …`): the model holds these very tensors, so
#   a new array would be invisible to it. In-place updates also allocate nothing new.
# - State (momentum buffers, Adam's moments) is **preallocated** once, in `__init__` (given),
#   as zero arrays shaped and typed like each parameter, and then updated **in place** too: after
#   a step, `self.m[i]` is still the same array object (saving, loading and `state_bytes()` read
#   those very arrays), and everything stays `float32`.
# - The gradient is read, never written: `p.grad` must hold the same values after `step()`.
# - `self.lr` is read at every step, never cached: module 07's schedules change it between
#   epochs.
#
# `_grad(p)` (given) returns the gradient of `p` as a NumPy array, or None.

# %% nbgrader={"grade": false, "grade_id": "optimizer-base", "locked": false, "schema_version": 3, "solution": false, "task": false}
#| export
def _grad(p: Tensor) -> np.ndarray | None:
    """The gradient of parameter `p` as an array of p's shape, or None when it has none."""
    g = p.grad
    if g is None:
        return None
    g = g.data if isinstance(g, Tensor) else np.asarray(g)
    if g.shape != p.shape:
        raise ValueError(f"a parameter of shape {p.shape} has a gradient of shape {g.shape}")
    return g


class Optimizer:
    """Base class: the parameters, the learning rate, per-parameter step counts and state."""

    state_names: tuple[str, ...] = ()  # attributes holding one state array per parameter

    def __init__(self, params, lr: float):
        if isinstance(params, Tensor):
            raise TypeError("params must be an iterable of tensors, e.g. model.parameters(), "
                            "not a single Tensor")
        unique, seen = [], set()
        for i, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError(f"parameter {i} is a {type(p).__name__}, not a Tensor")
            if id(p) not in seen:  # a tied weight listed twice is updated once
                seen.add(id(p))
                unique.append(p)
        if not unique:
            raise ValueError("the optimizer got an empty parameter list")
        if not lr >= 0.0:
            raise ValueError(f"learning rate must be >= 0, got {lr}")
        self.params: list[Tensor] = unique
        self.lr = float(lr)
        self.steps = np.zeros(len(unique), dtype=np.int64)  # updates made to each parameter

    def step(self) -> None:
        raise NotImplementedError(f"{type(self).__name__} must define step()")

    def zero_grad(self) -> None:
        """Forget every parameter's gradient (sets `.grad` to None, as PyTorch does)."""
        for p in self.params:
            p.grad = None

    # --- saving and loading (module 07 writes these dicts to .npz files) ----------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """{"lr", "steps", "<state>.<i>"}: copies of everything needed to resume training."""
        state = {"lr": np.array(self.lr), "steps": self.steps.copy()}
        for name in self.state_names:
            for i, array in enumerate(getattr(self, name)):
                state[f"{name}.{i}"] = array.copy()
        return state

    def load_state_dict(self, state: dict) -> None:
        """Restore a state_dict in place. Every key and shape is checked before anything changes."""
        own = self.state_dict()
        missing = [key for key in own if key not in state]
        unexpected = [key for key in state if key not in own]
        if missing or unexpected:
            raise ValueError(f"optimizer state does not match {type(self).__name__} with "
                             f"{len(self.params)} parameters: missing {missing}, unexpected {unexpected}")
        for key, value in own.items():
            if np.shape(state[key]) != value.shape:
                raise ValueError(f"optimizer state {key!r} has shape {np.shape(state[key])} in the "
                                 f"state but {value.shape} in this optimizer")
        self.lr = float(state["lr"])
        self.steps[...] = state["steps"]
        for name in self.state_names:
            for i, array in enumerate(getattr(self, name)):
                array[...] = state[f"{name}.{i}"]

    def state_bytes(self) -> int:
        """Memory held by the optimizer's state arrays, in bytes."""
        return sum(a.nbytes for name in self.state_names for a in getattr(self, name))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(lr={self.lr}, {len(self.params)} parameters)"


# %% [markdown]
# ## 2. SGD, momentum and Nesterov
#
# **Plain SGD**: `p ← p - lr·g`. Cheap and memory-free, but along a narrow valley the gradient
# points mostly across the valley, so SGD zig-zags and crawls along it.
#
# **Momentum** keeps a running sum of past gradients, a "velocity" `b` (PyTorch calls it the
# `momentum_buffer`), and steps along it:
#
# ```
# b ← μ·b + g          (b starts at 0, so after the first step b = g)
# p ← p - lr·b
# ```
#
# Components that keep their sign add up (up to `1/(1-μ)` = 10× for μ = 0.9); components that
# flip sign cancel. So the zig-zag dies out and the steady direction speeds up.
#
# **Nesterov momentum** looks one step ahead: it steps along `g + μ·b` (the gradient plus the
# momentum it is about to apply) rather than along `b`. This is exactly PyTorch's form.
#
# **Weight decay** `λ` adds `λ·p` to the gradient before anything else, i.e. the gradient of an
# L2 penalty `λ/2·‖p‖²` added to the loss: it pulls every weight towards zero.
#
# The full PyTorch SGD step, per parameter with a gradient:
#
# ```
# g ← g + λ·p                       (if weight_decay)
# b ← μ·b + g                       (if momentum)
# g ← g + μ·b  if nesterov, else g ← b
# p ← p - lr·g
# ```
#
# Write it with NumPy on whole arrays: no Python loop over elements. Two kinds of arrays, two
# rules. The **state** (`b`) and the **parameter** (`p.data`) are changed *in place*, with
# augmented assignments, so that the same array objects carry on. The **gradient** `g` must
# never be changed: it may be the very array stored in `p.grad`. An expression such as
# `g + λ·p` builds a new array, and rebinding the name `g` to it is harmless; an augmented
# assignment on `g` would write into `p.grad` and silently corrupt it. Likewise
# "`g ← b`" means: use `b` from here on, not copy `b` into `g`.
#
# **Worked example (momentum, μ = 0.9, lr = 0.1).** `p = [1, -2]`, gradients `[0.1, -3]`,
# then `[-0.2, 1]`:
#
# | step | `g` | `b ← 0.9·b + g` | `p ← p - 0.1·b` |
# |---|---|---|---|
# | 1 | `[0.1, -3]` | `[0.1, -3]` | `[0.99, -1.7]` |
# | 2 | `[-0.2, 1]` | `[0.09 - 0.2, -2.7 + 1] = [-0.11, -1.7]` | `[1.001, -1.53]` |
#
# In step 2 the first component's gradient flipped sign and the velocity nearly cancelled it,
# while the second kept its direction and the velocity kept most of its size. Work out the
# Nesterov version of step 1 yourself before you run the test: it steps along `g + 0.9·b`.
#
# Cost: about 2 FLOPs per parameter per step (plain) to 8 (Nesterov with weight decay),
# negligible next to the forward and backward passes (module 07 counts those).

# %% nbgrader={"grade": false, "grade_id": "sgd", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum, Nesterov momentum and weight decay;
    the same update as `torch.optim.SGD` (dampening 0)."""

    def __init__(self, params, lr: float, momentum: float = 0.0, weight_decay: float = 0.0,
                 nesterov: bool = False):
        super().__init__(params, lr)
        if not momentum >= 0.0:
            raise ValueError(f"momentum must be >= 0, got {momentum}")
        if not weight_decay >= 0.0:
            raise ValueError(f"weight_decay must be >= 0, got {weight_decay}")
        if nesterov and momentum == 0.0:
            raise ValueError("Nesterov momentum needs momentum > 0")
        self.momentum, self.weight_decay, self.nesterov = float(momentum), float(weight_decay), nesterov
        # one velocity per parameter, preallocated; none at all without momentum
        self.momentum_buffers = [np.zeros_like(p.data) for p in self.params] if momentum else []
        self.state_names = ("momentum_buffers",) if momentum else ()

    def step(self) -> None:
        """Update, in place, every parameter that has a gradient (the four-line step above)."""
        for i, p in enumerate(self.params):
            grad = _grad(p)
            if grad is None:
                continue
            self.steps[i] += 1
            # State and parameter in place; the gradient never (section 2).
            ### BEGIN SOLUTION
            if self.weight_decay:
                grad = grad + self.weight_decay * p.data
            if self.momentum:
                buf = self.momentum_buffers[i]
                buf *= self.momentum
                buf += grad
                grad = grad + self.momentum * buf if self.nesterov else buf
            p.data -= self.lr * grad
            ### END SOLUTION


# %% [markdown]
# ### Unit test: plain SGD and weight decay
# One parameter `[1, -2]`, three steps with gradients `[0.1, -3]`, `[-0.2, 1]`, `[0.3, 0.5]`
# and `lr = 0.1`. By hand, the first step of plain SGD is `[1, -2] - 0.1·[0.1, -3] = [0.99,
# -1.7]`. The expected values of the later steps were computed with `torch.optim.SGD`.

# %% nbgrader={"grade": true, "grade_id": "test-sgd", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false}
def _run(optimizer_class, grads, start=(1.0, -2.0), **settings):
    """Run three steps on one parameter with the given gradients; return p after each step."""
    p = Tensor(np.array(start), requires_grad=True)
    opt = optimizer_class([p], **settings)
    history = []
    for g in grads:
        p.grad = Tensor(np.array(g))
        opt.step()
        history.append(p.data.copy())
    return np.array(history), p, opt


GRADS = [[0.1, -3.0], [-0.2, 1.0], [0.3, 0.5]]


def test_unit_sgd():
    from tinytorch.testing import close

    got, p, opt = _run(SGD, GRADS, lr=0.1)
    close(got, [[0.99, -1.7], [1.01, -1.8], [0.98, -1.85]], atol=1e-6, what="plain SGD, p after each of 3 steps")
    assert p.data.dtype == np.float32, f"updates must keep the parameter float32, got {p.data.dtype}"
    got, _, _ = _run(SGD, GRADS, lr=0.1, weight_decay=0.5)
    close(got, [[0.94, -1.6], [0.913, -1.62], [0.83735, -1.589]], atol=1e-6,
          what="SGD with weight_decay=0.5 (g + 0.5·p), p after each step")
    # in place: the model holds this very array
    q = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    array = q.data
    grad = Tensor(np.array([1.0, 1.0]))
    q.grad = grad
    SGD([q], lr=0.5, weight_decay=0.1).step()
    assert q.data is array, "update p.data in place, do not replace the array"
    assert np.array_equal(grad.data, [1.0, 1.0]), f"the update must not change the gradient itself: {grad.data}"
    # parameters without a gradient are skipped
    a, b = Tensor(np.ones(2), requires_grad=True), Tensor(np.ones(2), requires_grad=True)
    a.grad = Tensor(np.ones(2))
    opt = SGD([a, b], lr=0.5)
    opt.step()
    assert np.allclose(a.data, 0.5) and np.allclose(b.data, 1.0), \
        f"a parameter with grad None stays put: a {a.data} (want 0.5), b {b.data} (want 1.0)"
    opt.zero_grad()
    assert a.grad is None and b.grad is None, "zero_grad() sets every .grad to None"
    print("SGD: OK")


if __name__ == "__main__":
    test_unit_sgd()

# %% [markdown]
# ### Unit test: momentum and Nesterov
# By hand, with `μ = 0.9`: step 1, `b = [0.1, -3]`, `p = [0.99, -1.7]`; step 2,
# `b = 0.9·[0.1, -3] + [-0.2, 1] = [-0.11, -1.7]`, `p = [0.99, -1.7] - 0.1·b = [1.001, -1.53]`.
# The Nesterov step must leave the gradient stored in `p.grad` as it was.

# %% nbgrader={"grade": true, "grade_id": "test-momentum", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false}
def test_unit_momentum():
    from tinytorch.testing import close, raises

    got, _, opt = _run(SGD, GRADS, lr=0.1, momentum=0.9)
    close(got, [[0.99, -1.7], [1.001, -1.53], [0.9809, -1.427]], atol=1e-6, what="momentum 0.9, p after each step")
    close(opt.momentum_buffers[0], [0.201, -1.03], atol=1e-6, what="the velocity after 3 steps")
    got, _, _ = _run(SGD, GRADS, lr=0.1, momentum=0.9, nesterov=True)
    close(got, [[0.981, -1.43], [1.0109, -1.377], [0.96281, -1.3343]], atol=1e-6,
          what="Nesterov momentum 0.9 (step along g + 0.9·b), p after each step")
    got, _, _ = _run(SGD, GRADS, lr=0.1, momentum=0.9, weight_decay=0.5)
    close(got, [[0.94, -1.6], [0.859, -1.26], [0.71315, -0.941]], atol=1e-6,
          what="momentum with weight decay (decay enters the velocity), p after each step")
    grad = Tensor(np.array([1.0, -1.0]))
    q = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    q.grad = grad
    SGD([q], lr=0.1, momentum=0.9, nesterov=True).step()
    assert np.array_equal(grad.data, [1.0, -1.0]), \
        f"Nesterov changed p.grad to {grad.data}: build a new array, never update the gradient in place"
    raises(ValueError, lambda: SGD([Tensor([1.0], requires_grad=True)], lr=0.1, nesterov=True), "momentum")
    print("momentum: OK")


if __name__ == "__main__":
    test_unit_momentum()

# %% [markdown]
# ## 3. Adam
#
# Different parameters see gradients of wildly different sizes (an embedding row used once per
# epoch, a bias used by every example). One learning rate cannot suit all of them. **Adam**
# (Kingma & Ba, 2015) keeps two running averages per parameter, element by element:
#
# ```
# t ← t + 1
# m ← β1·m + (1 - β1)·g          first moment: a smoothed gradient (momentum)
# v ← β2·v + (1 - β2)·g²         second moment: the typical squared size of g
# m̂ = m / (1 - β1^t)             bias correction
# v̂ = v / (1 - β2^t)
# p ← p - lr · m̂ / (√v̂ + ε)
# ```
#
# `m̂ / √v̂` is about ±1 when the gradient is consistent, whatever its scale, so every parameter
# moves by about `lr` per step: the learning rate becomes a step *size* in parameter units.
#
# **Why bias correction?** `m` and `v` start at zero, so early on they are too small: after one
# step `m = 0.1·g` and `v = 0.001·g²`. Uncorrected, the first step would be
# `0.1·g / √(0.001·g²) ≈ 3.16·lr` instead of `lr`, and the error peaks at about 6.6× near
# step 12 before fading (still 3.2× at step 100). Dividing by `1 - β^t` removes the bias exactly:
# with the correction, the first step is exactly `lr·g/(|g| + ε)`.
#
# Where `ε` goes matters: **after** the square root of the *corrected* `v̂`, not inside the
# root, and not before the correction. With the default `ε = 1e-8` the choices differ in the
# last digits only; with `ε = 0.1` (one of the tests) they give visibly different numbers. Since
# `√v̂ = √v / √(1 - β2^t)`, you can apply the corrections to scalars (cheap) instead of building
# the arrays `m̂` and `v̂` (two extra arrays per parameter per step): PyTorch does exactly that.
#
# **Worked example, first step.** `g = [0.1, -3]`, `β1 = 0.9`, `β2 = 0.999`, `lr = 0.1`:
# `m = 0.1·g = [0.01, -0.3]`, `v = 0.001·g² = [1e-5, 0.009]`; `m̂ = m / 0.1 = g`,
# `v̂ = v / 0.001 = g²`, so `m̂ / √v̂ = g / |g| = [1, -1]` and `p = [1, -2] - 0.1·[1, -1] =
# [0.9, -1.9]`: each element moves by exactly `lr`, whatever the gradient's size.
#
# **Weight decay in Adam** (`weight_decay=λ`) is L2 regularization: `g ← g + λ·p` before the
# moments, exactly as in SGD. The decay then gets divided by `√v̂`: weights with large gradients
# are hardly decayed at all.
#
# **AdamW** (Loshchilov & Hutter, 2019) *decouples* the decay: shrink the weight directly,
# `p ← p · (1 - lr·λ)`, before the Adam update, and leave `g` alone. Every weight then decays at
# the same rate. AdamW (default `λ = 0.01`) is how transformers are trained. In the code,
# `AdamW` is `Adam` with the flag `decoupled_weight_decay = True`; your `step` handles both.
#
# Memory: `m` and `v` are two arrays the size of the parameters. Cost: about 12 FLOPs and one
# square root per parameter per step.

# %% nbgrader={"grade": false, "grade_id": "adam", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
class Adam(Optimizer):
    """Adam with bias correction and optional L2 weight decay; the same update as
    `torch.optim.Adam` (amsgrad off)."""

    decoupled_weight_decay = False  # AdamW sets True
    state_names = ("m", "v")

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0):
        super().__init__(params, lr)
        beta1, beta2 = betas
        if not (0.0 <= beta1 < 1.0 and 0.0 <= beta2 < 1.0):
            raise ValueError(f"betas must be in [0, 1), got {betas}")
        if not eps >= 0.0:
            raise ValueError(f"eps must be >= 0, got {eps}")
        if not weight_decay >= 0.0:
            raise ValueError(f"weight_decay must be >= 0, got {weight_decay}")
        self.betas = (float(beta1), float(beta2))
        self.eps, self.weight_decay = float(eps), float(weight_decay)
        self.m = [np.zeros_like(p.data) for p in self.params]  # first moments
        self.v = [np.zeros_like(p.data) for p in self.params]  # second moments

    def step(self) -> None:
        """One Adam (or AdamW) update, in place, of every parameter that has a gradient."""
        beta1, beta2 = self.betas
        for i, p in enumerate(self.params):
            grad = _grad(p)
            if grad is None:
                continue
            self.steps[i] += 1
            t = int(self.steps[i])  # this parameter's own step count, for the bias correction
            m, v = self.m[i], self.v[i]
            # Decay (coupled or decoupled), the moments in place, then the corrected step.
            ### BEGIN SOLUTION
            if self.weight_decay:
                if self.decoupled_weight_decay:
                    p.data *= 1.0 - self.lr * self.weight_decay
                else:
                    grad = grad + self.weight_decay * p.data
            m *= beta1
            m += (1.0 - beta1) * grad
            v *= beta2
            v += (1.0 - beta2) * grad * grad
            correction1 = 1.0 - beta1 ** t
            correction2 = 1.0 - beta2 ** t
            denominator = np.sqrt(v) / math.sqrt(correction2) + self.eps
            p.data -= (self.lr / correction1) * m / denominator
            ### END SOLUTION


class AdamW(Adam):
    """Adam with decoupled weight decay (`p *= 1 - lr·λ` each step); `torch.optim.AdamW`."""

    decoupled_weight_decay = True

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2):
        super().__init__(params, lr, betas, eps, weight_decay)


# %% [markdown]
# ### Unit test: Adam
# Same parameter and gradients, `lr = 0.1`. By hand: the first step moves each element by
# exactly `lr` against the sign of its gradient (`m̂/√v̂ = g/|g|`), so `p = [0.9, -1.9]`,
# whatever the size of the gradient. Later values come from `torch.optim.Adam`. The update must
# change `p.data` in place and leave `p.grad` as it was, weight decay included.

# %% nbgrader={"grade": true, "grade_id": "test-adam", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false}
def test_unit_adam():
    from tinytorch.testing import close

    got, p, opt = _run(Adam, GRADS, lr=0.1)
    close(got[0], [0.9, -1.9], atol=1e-6, what="the first Adam step moves by exactly lr (bias correction)")
    close(got, [[0.9, -1.9], [0.9366103, -1.8599781], [0.9022862, -1.8394072]], atol=1e-6,
          what="Adam, p after each of 3 steps")
    close(opt.m[0], [0.0201, -0.103], atol=1e-6, what="the first moment m after 3 steps")
    close(opt.v[0], [1.3994e-4, 0.010231], atol=1e-8, what="the second moment v after 3 steps")
    got, _, _ = _run(Adam, GRADS, lr=0.1, betas=(0.5, 0.9), eps=0.1)
    close(got, [[0.95, -1.9032258], [0.9883743, -1.8886601], [0.9485008, -1.8963209]], atol=1e-6,
          what="Adam with betas (0.5, 0.9), eps 0.1 (eps added after the root of the corrected v)")
    got, _, _ = _run(Adam, GRADS, lr=0.1, weight_decay=0.5)
    close(got, [[0.9, -1.9], [0.8095202, -1.83393], [0.7151474, -1.7765042]], atol=1e-6,
          what="Adam with L2 weight decay 0.5 (added to the gradient)")
    grad = Tensor(np.array([1.0, -1.0]))
    q = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    array, q.grad = q.data, grad
    adam = Adam([q], lr=0.1, weight_decay=0.5)
    m_array, v_array = adam.m[0], adam.v[0]
    adam.step()
    assert q.data is array, "update p.data in place, do not replace the array"
    assert adam.m[0] is m_array and adam.v[0] is v_array, "update the moments in place, do not replace the arrays"
    assert np.array_equal(grad.data, [1.0, -1.0]), \
        f"Adam's weight decay changed p.grad to {grad.data}: build a new array, never update the gradient in place"
    # each parameter counts its own steps: a late starter gets a full bias-corrected first step
    a, b = Tensor(np.zeros(1), requires_grad=True), Tensor(np.zeros(1), requires_grad=True)
    opt = Adam([a, b], lr=0.1)
    a.grad = Tensor(np.ones(1))
    opt.step()
    opt.step()
    b.grad = Tensor(np.ones(1))
    opt.step()
    close(b.data, [-0.1], atol=1e-6, what="b's first update is -lr (its own step count is 1)")
    assert list(opt.steps) == [3, 1], f"step counts per parameter: {list(opt.steps)}, expected [3, 1]"
    print("Adam: OK")


if __name__ == "__main__":
    test_unit_adam()

# %% [markdown]
# ### Unit test: AdamW
# With a zero gradient, Adam's update is `0 / (0 + ε) = 0`, so AdamW only decays:
# `p · (1 - lr·λ)` exactly. Adam with L2 decay instead sees the gradient `λ·p` and moves each
# weight by a full `lr`, the difference that made AdamW the default for transformers.

# %% nbgrader={"grade": true, "grade_id": "test-adamw", "locked": true, "points": 5, "schema_version": 3, "solution": false, "task": false}
def test_unit_adamw():
    from tinytorch.testing import close

    got, _, _ = _run(AdamW, [[0.0, 0.0]] * 3, start=(1.0, -2.0), lr=0.1, weight_decay=0.5)
    close(got[-1], np.array([1.0, -2.0]) * 0.95 ** 3, atol=1e-6,
          what="AdamW with zero gradients only decays, by (1 - lr·λ) per step")
    got, _, _ = _run(AdamW, GRADS, lr=0.1, weight_decay=0.5)
    close(got, [[0.85, -1.8], [0.8441103, -1.669978], [0.7675807, -1.5659082]], atol=1e-6,
          what="AdamW, p after each of 3 steps (decay first, then the Adam step)")
    q = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    array, q.grad = q.data, Tensor(np.array([1.0, -1.0]))
    AdamW([q], lr=0.1, weight_decay=0.5).step()
    assert q.data is array, "AdamW: decay p.data in place, do not replace the array"
    assert AdamW([Tensor([1.0], requires_grad=True)]).weight_decay == 0.01, "AdamW's default decay is 0.01"
    assert Adam([Tensor([1.0], requires_grad=True)]).weight_decay == 0.0, "Adam's default decay is 0"
    print("AdamW: OK")


if __name__ == "__main__":
    test_unit_adamw()

# %% [markdown]
# ## 4. Optimizer memory
#
# Training keeps, for every parameter, the parameter itself, its gradient, and the optimizer's
# state. For the 784 → 128 → 10 MLP of module 03 (101,770 parameters, 4 bytes each):
#
# | optimizer | state per parameter | state | parameters + state | + gradients |
# |---|---|---|---|---|
# | SGD | 0 | 0 | 407 KB (1×) | 814 KB |
# | SGD + momentum | 1 (velocity) | 407 KB | 814 KB (**2×**) | 1.22 MB |
# | Adam / AdamW | 2 (`m`, `v`) | 814 KB | 1.22 MB (**3×**) | 1.63 MB |
#
# Tiny here; decisive at scale. A 7-billion-parameter model in float32 is 28 GB of weights;
# Adam adds 56 GB of state and the gradients another 28 GB: 112 GB before a single activation
# is stored. That is why large models are trained with the optimizer state split across many
# GPUs, or with 8-bit optimizer states. `optimizer.state_bytes()` reports the state's size.

# %% [markdown]
# ## Module test
# Everything together, with autograd: fit a linear regression with each optimizer, check the
# state memory of the MLP, and save/restore an optimizer mid-training.

# %% nbgrader={"grade": true, "grade_id": "test-module", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false}
def test_module():
    from tinytorch.layers import Linear, Sequential
    from tinytorch.testing import close

    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 3)).astype(np.float32)
    y = x @ np.array([[1.5], [-2.0], [0.5]], dtype=np.float32) + 0.3

    def fit(make_optimizer, steps):
        model = Linear(3, 1, rng=1)
        opt = make_optimizer(model.parameters())
        for _ in range(steps):
            diff = model(Tensor(x)) - Tensor(y)
            loss = (diff * diff).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        return loss.item(), model

    for name, make, steps in [("SGD", lambda ps: SGD(ps, lr=0.1), 200),
                              ("momentum", lambda ps: SGD(ps, lr=0.05, momentum=0.9), 200),
                              ("Nesterov", lambda ps: SGD(ps, lr=0.05, momentum=0.9, nesterov=True), 200),
                              ("Adam", lambda ps: Adam(ps, lr=0.05), 400),
                              ("AdamW", lambda ps: AdamW(ps, lr=0.05, weight_decay=1e-4), 400)]:
        loss, model = fit(make, steps)
        assert loss < 1e-4, f"{name} should fit a noiseless linear regression, final loss {loss:.3g}"
        assert np.allclose(model.bias.data, [0.3], atol=0.02), f"{name}: bias {model.bias.data}, expected 0.3"

    mlp = Sequential(Linear(784, 128), Linear(128, 10))
    n = sum(p.size for p in mlp.parameters())
    for label, opt, want in [("SGD", SGD(mlp.parameters(), lr=0.1), 0),
                             ("SGD + momentum", SGD(mlp.parameters(), lr=0.1, momentum=0.9), 4 * n),
                             ("Adam", Adam(mlp.parameters()), 8 * n)]:
        assert opt.state_bytes() == want, f"{label} state for the MLP: {opt.state_bytes()} bytes, expected {want}"
    assert 4 * n == 407_080, f"the MLP has {n} parameters, expected 101,770"

    # stop after 5 steps, restore into a fresh optimizer, continue: same result as no stop
    p = Tensor(np.array([1.0, -2.0]), requires_grad=True)
    opt = Adam([p], lr=0.1)
    for k in range(5):
        p.grad = Tensor(np.array([0.5 - k, 1.0 + k]))
        opt.step()
    saved, saved_p = opt.state_dict(), p.data.copy()
    for k in range(5, 8):
        p.grad = Tensor(np.array([0.5 - k, 1.0 + k]))
        opt.step()
    q = Tensor(saved_p, requires_grad=True)
    resumed = Adam([q], lr=0.5)
    resumed.load_state_dict(saved)
    assert resumed.lr == 0.1, f"the learning rate is part of the state: got {resumed.lr}, expected 0.1"
    for k in range(5, 8):
        q.grad = Tensor(np.array([0.5 - k, 1.0 + k]))
        resumed.step()
    close(q.data, p.data, atol=1e-6, what="a resumed optimizer must continue exactly")
    print("module 06: all tests passed")


if __name__ == "__main__":
    test_module()

# %% [markdown]
# ## Reflection
# - Plain SGD and Adam on the same problem: which one cares more about the scale of the
#   inputs? Why does Adam's first step have the same size for a gradient of 1e-6 and of 1e6?
# - Your model has 100 M parameters. How much memory does Adam need beyond the weights? What
#   would you try if it does not fit?
# - With weight decay 0.01 and lr 1e-3, by how much does AdamW shrink a weight that receives
#   no gradient signal over 10,000 steps?
