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
# - Choose an optimizer and its settings for an ill-conditioned problem, from what each one does
#   to a direction of high or low curvature.
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
# `momentum_buffer`). Each step the old velocity is damped by the momentum factor `μ` and the
# new gradient is added to it; the parameter then moves along the velocity instead of along the
# raw gradient. The velocity starts at zero, so the first step is a plain SGD step. Components
# that keep their sign add up (a geometric series: up to `1/(1-μ)` = 10× for μ = 0.9);
# components that flip sign cancel. So the zig-zag dies out and the steady direction speeds up.
#
# **Nesterov momentum** looks one step ahead: instead of moving along the velocity it has just
# updated, it moves along the current gradient plus the momentum it is about to apply (the new
# velocity, damped once more by `μ`). This is exactly PyTorch's form.
#
# **Weight decay** `λ` is the gradient of an L2 penalty `λ/2·‖p‖²` added to the loss, so it
# enters as `λ·p` added to the gradient, before anything else sees the gradient: with momentum,
# the decay goes into the velocity too. It pulls every weight towards zero.
#
# **The contract of `step()`.** Vectorized over whole arrays (no Python loop over elements).
# Three kinds of arrays, three rules: the **velocity** must carry over to the next step and the
# **parameter** is held by the model, so both change *in place* (after the step,
# `self.momentum_buffers[i]` and `p.data` are the very same array objects, and everything is
# still `float32`); the **gradient** is only read: it may be the very array stored in `p.grad`,
# and it must hold the same values after `step()`. State belongs to a parameter by its position
# `i` in `self.params`, whether or not the parameters before it had a gradient this step.
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
# Nesterov version of step 1 yourself before you run the test (the momentum test's first
# expected value is `[0.981, -1.43]`), and the same step with weight decay.
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
        """Update, in place, every parameter that has a gradient (decay, velocity, step: section 2)."""
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

    # the stored velocity first: after one step from b = 0 it is the gradient itself
    _, _, opt = _run(SGD, GRADS[:1], lr=0.1, momentum=0.9)
    velocity = opt.momentum_buffers[0]
    assert np.any(velocity != 0), \
        ("the stored velocity momentum_buffers[0] is still zero after a step: update it in place "
         "(assigning a new array to a local name leaves the stored buffer as it was)")
    close(velocity, [0.1, -3.0], atol=1e-6,
          what="the velocity after one step from b = 0 is the gradient itself (b ← μ·b + g, no (1 - μ) factor)")
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
    # state belongs to a parameter by its position in self.params, gradient or not
    a, b, c = (Tensor(np.ones(2), requires_grad=True) for _ in range(3))
    opt = SGD([a, b, c], lr=0.1, momentum=0.9)
    b.grad, c.grad = Tensor(np.full(2, 1.0)), Tensor(np.full(2, 2.0))
    opt.step()
    buffers = [buf.tolist() for buf in opt.momentum_buffers]
    assert buffers == [[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]], \
        (f"params [a (no grad), b (grad 1), c (grad 2)]: velocities after one step {buffers}, expected "
         "[[0, 0], [1, 1], [2, 2]]: parameter i's state is momentum_buffers[i], by its position in "
         "self.params, not by its position among the parameters that have a gradient")
    print("momentum: OK")


if __name__ == "__main__":
    test_unit_momentum()

# %% [markdown]
# ## 3. Adam
#
# Different parameters see gradients of wildly different sizes (an embedding row used once per
# epoch, a bias used by every example). One learning rate cannot suit all of them. **Adam**
# (Kingma & Ba, 2015) keeps two exponential moving averages per parameter, element by element,
# both starting at zero and updated at every step `t` of that parameter:
#
# - the **first moment** `m`, a smoothed gradient (momentum): it keeps a fraction `β1` of its old
#   value and takes `1 - β1` of the new gradient `g`;
# - the **second moment** `v`, the typical squared size of the gradient: the same with `β2` and
#   the elementwise square `g²`.
#
# Both are biased towards their zero start (next paragraph). Their corrected versions are
# `m̂ = m / (1 - β1^t)` and `v̂ = v / (1 - β2^t)`, and the parameter moves by `lr · m̂ / (√v̂ + ε)`
# against the gradient, element by element.
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
# last digits only; with `ε = 0.1` (one of the tests) they give visibly different numbers. You
# need not build the arrays `m̂` and `v̂` at all (two extra arrays per parameter per step): the
# corrections are scalars, and PyTorch applies them to scalars. How is left to you.
#
# **Worked example, first step.** `g = [0.1, -3]`, `β1 = 0.9`, `β2 = 0.999`, `lr = 0.1`:
# `m = 0.1·g = [0.01, -0.3]`, `v = 0.001·g² = [1e-5, 0.009]`; `m̂ = m / 0.1 = g`,
# `v̂ = v / 0.001 = g²`, so `m̂ / √v̂ = g / |g| = [1, -1]` and `p = [1, -2] - 0.1·[1, -1] =
# [0.9, -1.9]`: each element moves by exactly `lr`, whatever the gradient's size.
#
# **Weight decay in Adam** (`weight_decay=λ`) is L2 regularization: `λ·p` added to the gradient
# before the moments see it, exactly as in SGD. The decay then gets divided by `√v̂`: weights
# with large gradients are hardly decayed at all.
#
# **AdamW** (Loshchilov & Hutter, 2019) *decouples* the decay: before the Adam update, it shrinks
# the weight itself by the factor `1 - lr·λ`, and leaves the gradient alone. Every weight then
# decays at the same rate. AdamW (default `λ = 0.01`) is how transformers are trained. In the code,
# `AdamW` is `Adam` with the flag `decoupled_weight_decay = True`; your `step` handles both.
#
# The contract of section 2 holds here too: `m`, `v` and `p.data` change in place (the same
# array objects after the step, still `float32`), `p.grad` is only read, and `t` is the
# parameter's own step count (given as `t`).
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

    # the stored moments first: after one step from zero, m = (1 - β1)·g and v = (1 - β2)·g²
    try:
        _, _, opt = _run(Adam, GRADS[:1], lr=0.1)
    except ZeroDivisionError as error:
        raise AssertionError(f"Adam's first step raised ZeroDivisionError ({error}): the given t is already 1 at a "
                             "parameter's first step, so its corrections 1 - β^t are 0.1 and 0.001, never 0") from error
    for name, moment, want in [("m", opt.m[0], [0.01, -0.3]), ("v", opt.v[0], [1e-5, 0.009])]:
        assert np.any(moment != 0), \
            (f"the stored moment {name}[0] is still zero after a step: update it in place (assigning a "
             "new array to a local name leaves the stored one as it was)")
        close(moment, want, atol=1e-9, what=f"{name} after one step with g = [0.1, -3] (m: 0.1·g, v: 0.001·g²)")
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
    # state belongs to a parameter by its position in self.params, gradient or not
    a, b, c = (Tensor(np.zeros(2), requires_grad=True) for _ in range(3))
    opt = Adam([a, b, c], lr=0.1)
    b.grad, c.grad = Tensor(np.full(2, 1.0)), Tensor(np.full(2, 2.0))
    opt.step()
    firsts = [[round(float(x), 6) for x in m] for m in opt.m]
    assert firsts == [[0.0, 0.0], [0.1, 0.1], [0.2, 0.2]], \
        (f"params [a (no grad), b (grad 1), c (grad 2)]: first moments after one step {firsts}, expected "
         "[[0, 0], [0.1, 0.1], [0.2, 0.2]]: parameter i's state is m[i] and v[i], by its position in "
         "self.params, not by its position among the parameters that have a gradient")
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
# ## 4. Choosing an optimizer: the narrow valley
#
# You now have three optimizers and their settings; which one, with which numbers? Take the
# simplest loss that still has the difficulty of real ones, a quadratic bowl
# `L(p) = ½·pᵀHp` with its minimum at `p = 0` and gradient `Hp`. Along each eigenvector of `H`
# the loss is a parabola whose **curvature** is the eigenvalue `h`; here the curvatures lie
# between `lowest` and `highest`, and their ratio `κ = highest / lowest` (the *condition
# number*) says how narrow the valley is. The axes of the valley need not be the coordinate
# axes (`H` may be rotated).
#
# Plain SGD multiplies the distance to the minimum along a direction of curvature `h` by
# `1 - lr·h` at every step. The steepest direction caps the learning rate (beyond
# `lr = 2 / highest` that factor exceeds 1 in size and the steps grow: divergence), and with
# such a small `lr` the flattest direction shrinks by only `1 - lr·lowest` per step. With
# `κ = 100` and the best possible `lr`, that is 0.98 per step: after 150 steps 5% of the way is
# still left. This is the zig-zag of section 2, in numbers.
#
# **Your decision.** `choose_optimizer(params, lowest, highest)` returns an optimizer over
# `params` (one of this module's, with settings of your choosing, or one of your own
# `Optimizer` subclasses) that, on any such quadratic with `κ ≤ 100`, brings the parameters
# from their start to within **1/1000** of the start's distance to the minimum in **150
# steps**, without diverging. The test runs your optimizer on six valleys (curvatures from
# 0.002 to 1000, some rotated, 8 dimensions, random starts) and judges only that. Any approach
# that meets it passes. Think about what each optimizer does per step to one direction of
# curvature `h`, what caps its learning rate, and what limits its progress along the flattest
# direction (Adam's steps have a size of about `lr` in parameter units: what happens near the
# minimum?). Try a few choices: the test cell reports how far each valley got.
#
# Cost: whatever you pick costs O(P) per step; the choice changes how many steps you pay for.

# %% nbgrader={"grade": false, "grade_id": "choose-optimizer", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
def choose_optimizer(params, lowest: float, highest: float) -> Optimizer:
    """An optimizer over `params` that brings a quadratic loss whose curvatures lie in
    [lowest, highest] (highest / lowest <= 100) to 1/1000 of its starting distance from the
    minimum within 150 steps (section 4)."""
    if not 0.0 < lowest <= highest:
        raise ValueError(f"curvatures must satisfy 0 < lowest <= highest, got {lowest} and {highest}")
    ### BEGIN SOLUTION
    root_low, root_high = math.sqrt(lowest), math.sqrt(highest)
    rate = (root_high - root_low) / (root_high + root_low)
    return SGD(params, lr=4.0 / (root_high + root_low) ** 2, momentum=rate * rate)
    ### END SOLUTION


# %% [markdown]
# ### Unit test: the narrow valley
# Six quadratic valleys, 150 steps each, from a random start; every one must end within 1/1000
# of its starting distance to the minimum. The message says which valley fell short and by
# how much.

# %% nbgrader={"grade": true, "grade_id": "test-choose-optimizer", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false}
VALLEYS = [(1.0, 100.0, False), (0.01, 1.0, True), (10.0, 1000.0, True), (0.5, 20.0, True),
           (3.0, 3.0, False), (0.002, 0.2, False)]  # (lowest, highest, rotated)


def _valley(lowest, highest, rotated, seed, n=8):
    """The Hessian of a quadratic valley with curvatures from lowest to highest, and a start."""
    rng = np.random.default_rng(seed)
    rotation = np.linalg.qr(rng.normal(size=(n, n)))[0] if rotated else np.eye(n)
    hessian = rotation @ np.diag(np.geomspace(lowest, highest, n)) @ rotation.T
    return hessian, rng.normal(size=n)


def _descend(optimizer_for, lowest, highest, rotated, seed, steps=150):
    """Run the chosen optimizer on one valley; return (final / start distance, the optimizer)."""
    hessian, start = _valley(lowest, highest, rotated, seed)
    p = Tensor(start, requires_grad=True)
    opt = optimizer_for([p], lowest, highest)
    for _ in range(steps):
        p.grad = Tensor((hessian @ p.data.astype(np.float64)).astype(np.float32))
        opt.step()
    return float(np.linalg.norm(p.data) / np.linalg.norm(start)), opt, p


def _valley_advice(opt) -> str:
    """What the kind of optimizer chosen suggests about a shortfall."""
    if isinstance(opt, Adam):
        return ("Adam's steps have a size of about lr whatever the gradient, so near the minimum it "
                "hovers instead of converging")
    if isinstance(opt, SGD) and not opt.momentum:
        return ("plain SGD: lr is capped by the steepest curvature, so the flattest direction "
                "shrinks by only 1 - lr·lowest per step")
    return "the flattest direction is too slow, or the steepest one oscillates: see section 4"


def test_unit_choose_optimizer():
    p = Tensor(np.ones(3), requires_grad=True)
    opt = choose_optimizer([p], 1.0, 100.0)
    assert isinstance(opt, Optimizer), f"choose_optimizer must return an Optimizer, got {type(opt).__name__}"
    assert opt.params == [p], "the optimizer must be built over the params it is given"
    for k, (lowest, highest, rotated) in enumerate(VALLEYS):
        ratio, opt, p = _descend(choose_optimizer, lowest, highest, rotated, seed=k)
        where = f"valley {k} (curvatures {lowest:g} to {highest:g}{', rotated' if rotated else ''})"
        assert np.isfinite(p.data).all() and ratio < 1.0, \
            (f"{where}: the distance to the minimum grew to {ratio:.3g}× the start with {opt!r}: "
             f"diverged, the learning rate is too large for the steepest curvature {highest:g}")
        assert ratio <= 1e-3, \
            (f"{where}: after 150 steps {ratio:.2e} of the starting distance is left, needed 1e-3 "
             f"or less, with {opt!r}: {_valley_advice(opt)}")
    print("choose_optimizer: OK")


if __name__ == "__main__":
    test_unit_choose_optimizer()

# %% [markdown]
# ## 5. Optimizer memory
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
