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
# # Module 07: Training
#
# You now have every ingredient: tensors, layers, losses, gradients and optimizers. Training is
# the loop that combines them, run thousands of times. Written once, carefully, it serves every
# model of the rest of the course. In this module you build the loop and the tools that make
# long training runs safe and observable:
#
# ```python
# trainer = Trainer(model, Adam(model.parameters(), lr=1e-3), CrossEntropyLoss(),
#                   scheduler=None, max_grad_norm=1.0)
# history = trainer.fit(train_batches, epochs=10, val_data=val_batches)
# trainer.save("digits.npz")
# ```
#
# ## Learning objectives
# - Write the training step (`zero_grad → forward → loss → backward → clip → step`) and the
#   evaluation pass (`eval()` mode, no graph), and know what each costs.
# - Clip gradients by their **global norm**, and change the learning rate over training with
#   `StepLR` and `CosineAnnealingLR`, with PyTorch's semantics.
# - Average metrics correctly over batches of different sizes; keep a history.
# - Save and restore a model *and* its optimizer to a `.npz` file, atomically, with errors that
#   name the parameter that does not fit.
#
# ## How to work
# In your edition each piece you write is a stub that raises `NotImplementedError`; replace the
# `raise` with your code and run the test cell right after it. Stuck? `tito hint 07` lists the
# stubs, and `tito hint 07 Trainer.evaluate` shows the next hint for one of them (the idea, then
# the math, then the shape of the code; never the finished line). When every test passes, run
# `tito module complete 07`: it checks this file, exports the `#| export` cells to
# `tinytorch/training.py`, and runs the full test suite.

# %% nbgrader={"grade": false, "grade_id": "training-setup", "locked": false, "schema_version": 3, "solution": false, "task": false}
#| default_exp training
#| export
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from tinytorch.autograd import no_grad
from tinytorch.tensor import Tensor

# %% [markdown]
# ## 1. The training step, and what it costs
#
# For every batch `(x, y)`, in this order (`P` is the number of parameters):
#
# | stage | what it does | cost |
# |---|---|---|
# | forward | the model's output for `x` | ~2·P FLOPs per example |
# | loss | one number: how wrong the output is for `y` (module 04) | small |
# | clear gradients | the last batch's gradients must go: gradients accumulate (module 05) | free |
# | backward | backpropagation from the loss fills every parameter's `.grad` | ~4·P FLOPs per example (two matmuls per matmul) |
# | clip (optional) | section 2's clipping, over the parameters the optimizer updates | ~2·P FLOPs per batch |
# | update | the optimizer's rule of module 06 moves every parameter | 2–12·P FLOPs per batch |
#
# So one training step costs about **6·P·N FLOPs** for a batch of N, three times an evaluation
# pass (2·P·N, no backward). For the 784 → 128 → 10 MLP (P ≈ 102 K) one epoch over 60,000 MNIST
# images is about 6·102K·60K ≈ 37 GFLOPs: seconds with NumPy.
#
# Memory follows the same split: the forward pass of training keeps every intermediate result
# for the backward pass (activation memory, proportional to N), while evaluation under
# `no_grad()` frees each one as soon as the next layer has used it. That is why evaluation
# always runs under `no_grad()` and can use larger batches. You write this loop in section 7;
# first, the pieces it uses.

# %% [markdown]
# ## 2. Gradient clipping by global norm
#
# One bad batch (an outlier, a long sequence, an exploding recurrent net) can produce a gradient
# thousands of times larger than usual, and a single step along it throws the model far away
# from everything it learned. Clipping limits the step. Treat all gradients as **one** vector
# and measure its length:
#
# `total = √(Σ_p Σ_i g_{p,i}²)`
#
# If `total > max_norm`, multiply every gradient by `max_norm / (total + 1e-6)`: the direction
# is kept, only the length shrinks (clipping each element separately would change the
# direction). The function returns `total`, the norm *before* clipping: worth logging, since a
# norm that keeps growing is an early sign of divergence. This is the rule of
# `torch.nn.utils.clip_grad_norm_`, which scales the gradients in place; ours gives each clipped
# parameter a new gradient Tensor instead (below). Sum the squares in `float64` (a sum of 100 M squared
# `float32` numbers loses precision), and skip parameters whose `.grad` is None.
#
# Worked example: gradients `[3, 4]` and `[12]` form the vector `(3, 4, 12)`, of length
# `√(9 + 16 + 144) = 13`. With `max_norm = 6.5` the scale is `6.5 / 13.000001 ≈ 0.5`, so the
# gradients become `[1.5, 2]` and `[6]`, and the function returns `13.0`. With `max_norm = 20`
# the scale would be above 1: nothing changes, and each parameter keeps the very gradient Tensor
# it had. When you do clip, give each parameter a new gradient Tensor holding the scaled values.
# The return value is a Python `float` (`0.0` when no parameter has a gradient).

# %% nbgrader={"grade": false, "grade_id": "clip", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
def _grad_array(p: Tensor) -> np.ndarray:
    g = p.grad
    return g.data if isinstance(g, Tensor) else np.asarray(g)


def clip_grad_norm(params, max_norm: float) -> float:
    """Scale all gradients together so that their global L2 norm is at most `max_norm`.
    Returns the global norm before clipping (a Python float)."""
    params = [params] if isinstance(params, Tensor) else list(params)
    with_grad = [p for p in params if p.grad is not None]
    # `_grad_array(p)` is the gradient of `p` as an array; measure in float64.
    ### BEGIN SOLUTION
    total = 0.0
    for p in with_grad:
        g = _grad_array(p).astype(np.float64)
        total += float(np.sum(g * g))
    total = math.sqrt(total)
    scale = max_norm / (total + 1e-6)
    if scale < 1.0:
        for p in with_grad:
            p.grad = Tensor(_grad_array(p) * scale)
    return total
    ### END SOLUTION


# %% [markdown]
# ### Unit test: gradient clipping
# Gradients `[3, 4]` and `[12]` form the vector `(3, 4, 12)` of length 13.

# %% nbgrader={"grade": true, "grade_id": "test-clip", "locked": true, "points": 5, "schema_version": 3, "solution": false, "task": false}
def test_unit_clip_grad_norm():
    from tinytorch.testing import close

    def with_grad(values):
        p = Tensor(np.zeros(np.shape(values)), requires_grad=True)
        p.grad = None if values is None else Tensor(np.array(values))
        return p

    a, b, c = with_grad([3.0, 4.0]), with_grad([12.0]), with_grad(None)  # c has no gradient
    old_grad = a.grad
    norm = clip_grad_norm([a, b, c], max_norm=6.5)
    assert isinstance(norm, float), f"return a Python float, got {type(norm).__name__}"
    close(norm, 13.0, atol=1e-9, what="the global norm of (3, 4, 12), before clipping")
    close(a.grad, [1.5, 2.0], atol=1e-5,
          what="first gradient, scaled by 6.5 / 13: the norm of all gradients together, not its own 5")
    close(b.grad, [6.0], atol=1e-5, what="second gradient, scaled by 6.5 / 13")
    close(old_grad, [3.0, 4.0], what="the gradient Tensor a parameter had before clipping must keep its values "
          "(someone may still hold it): give the parameter a new Tensor with the scaled values")
    assert c.grad is None, f"a parameter without a gradient stays without one, got {c.grad!r}"

    small = with_grad([0.3, 0.4])
    kept = small.grad
    close(clip_grad_norm([small], max_norm=1.0), 0.5, what="norm of (0.3, 0.4)")
    assert small.grad is kept, "a gradient under max_norm is left alone (the same Tensor)"
    close(small.grad, [0.3, 0.4], what="a gradient under max_norm is unchanged")

    huge = with_grad([3e20, 4e20])  # float32 holds 3e20, but not its square 9e40 (max 3.4e38)
    norm = clip_grad_norm([huge], max_norm=1.0)
    assert math.isfinite(norm), f"gradients (3e20, 4e20): norm 5e20, got {norm}: the squares overflow " \
        "float32, so measure in float64"
    close(norm, 5e20, rtol=1e-6, what="norm of (3e20, 4e20), measured in float64")

    tiny = with_grad([3e-6, 4e-6])  # norm 5e-6: here the 1e-6 guard shows
    clip_grad_norm([tiny], max_norm=1e-6)
    close(tiny.grad, np.array([3e-6, 4e-6]) / 6, rtol=1e-4, atol=0,
          what="scale by max_norm / (norm + 1e-6), as PyTorch does")
    assert clip_grad_norm([with_grad(None)], max_norm=1.0) == 0.0, "no gradients at all: the norm is 0.0"
    print("clip_grad_norm: OK")


if __name__ == "__main__":
    test_unit_clip_grad_norm()

# %% [markdown]
# ## 3. Learning-rate schedules
#
# Early in training large steps make fast progress; late in training they bounce around the
# minimum. So we lower the learning rate as training goes on. A **scheduler** owns that
# decision: it remembers the optimizer's starting rate (`base_lr`) and, each time you call
# `scheduler.step()` (once per epoch, after the epoch's optimizer steps, as in PyTorch), sets
# `optimizer.lr` to the rate for the next epoch. The base class (given) does the bookkeeping;
# each schedule only writes `get_lr(epoch)`, the rate for epoch number `epoch` (0 = the first):
#
# | schedule | the rule | base 0.1, first epochs |
# |---|---|---|
# | `StepLR(step_size=3, gamma=0.5)` | multiply the rate by `γ` every `step_size` epochs | 0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025 |
# | `CosineAnnealingLR(T_max=4, eta_min=0.01)` | `η_min + (base - η_min)·(1 + cos(π·epoch / T_max)) / 2` | 0.1, 0.0868, 0.055, 0.0232, 0.01, 0.0232, … |
#
# `get_lr(epoch)` must give the rate of *any* epoch directly, from `base_lr` and the epoch
# number alone, not by adjusting the previous rate: `load_state_dict` jumps straight to the saved
# epoch, and a rule that only works step by step would then be wrong. For `StepLR`, find that
# closed form yourself: how many times has the rate been multiplied by `γ` by epoch 7 with
# `step_size = 3`? Check your answer against the table.
#
# Cosine annealing glides smoothly from `base` to `eta_min` over `T_max` epochs; like PyTorch's,
# it keeps following the cosine after `T_max`, back up towards `base`. Set `T_max` to the number
# of epochs you train. Worked example, epoch 1 of the table: `cos(π/4) = 0.7071`, so
# `0.01 + 0.09·(1 + 0.7071)/2 = 0.0868`.

# %% nbgrader={"grade": false, "grade_id": "schedulers", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
class LRScheduler:
    """Sets `optimizer.lr` to `get_lr(epoch)` on every `step()`; epoch 0 uses the base rate."""

    def __init__(self, optimizer):
        if not hasattr(optimizer, "lr"):
            raise TypeError(f"a scheduler needs an optimizer with an `lr`, got {type(optimizer).__name__}")
        self.optimizer = optimizer
        self.base_lr = float(optimizer.lr)
        self.last_epoch = 0
        optimizer.lr = self.get_lr(0)

    def get_lr(self, epoch: int) -> float:
        raise NotImplementedError(f"{type(self).__name__} must define get_lr(epoch)")

    def step(self) -> None:
        """Advance one epoch and set the optimizer's learning rate for it."""
        self.last_epoch += 1
        self.optimizer.lr = self.get_lr(self.last_epoch)

    def get_last_lr(self) -> float:
        return self.optimizer.lr

    def state_dict(self) -> dict[str, np.ndarray]:
        return {"base_lr": np.array(self.base_lr), "last_epoch": np.array(self.last_epoch)}

    def load_state_dict(self, state: dict) -> None:
        self.base_lr = float(state["base_lr"])
        self.last_epoch = int(state["last_epoch"])
        self.optimizer.lr = self.get_lr(self.last_epoch)


class StepLR(LRScheduler):
    """Multiply the learning rate by `gamma` every `step_size` epochs."""

    def __init__(self, optimizer, step_size: int, gamma: float = 0.1):
        if step_size < 1:
            raise ValueError(f"step_size must be a positive number of epochs, got {step_size}")
        self.step_size, self.gamma = int(step_size), float(gamma)
        super().__init__(optimizer)

    def get_lr(self, epoch: int) -> float:
        """The rate of epoch `epoch` (0 = the first): `base_lr` multiplied by `gamma` once per
        `step_size` completed epochs, in closed form (section 3)."""
        ### BEGIN SOLUTION
        return self.base_lr * self.gamma ** (epoch // self.step_size)
        ### END SOLUTION


class CosineAnnealingLR(LRScheduler):
    """Follow half a cosine from the base rate down to `eta_min` over `T_max` epochs."""

    def __init__(self, optimizer, T_max: int, eta_min: float = 0.0):
        if T_max < 1:
            raise ValueError(f"T_max must be a positive number of epochs, got {T_max}")
        self.T_max, self.eta_min = int(T_max), float(eta_min)
        super().__init__(optimizer)

    def get_lr(self, epoch: int) -> float:
        """`eta_min + (base_lr - eta_min)·(1 + cos(π·epoch / T_max)) / 2` (the table above)."""
        # No clamping at T_max: PyTorch keeps following the cosine.
        ### BEGIN SOLUTION
        cosine = (1.0 + math.cos(math.pi * epoch / self.T_max)) / 2.0
        return self.eta_min + (self.base_lr - self.eta_min) * cosine
        ### END SOLUTION


# %% [markdown]
# ### Unit test: schedules
# The expected rates come from `torch.optim.lr_scheduler`.

# %% nbgrader={"grade": true, "grade_id": "test-schedulers", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false}
def test_unit_schedulers():
    from tinytorch.optimizers import SGD

    def rates(make_scheduler, epochs):
        opt = SGD([Tensor(np.zeros(1), requires_grad=True)], lr=0.1)
        scheduler = make_scheduler(opt)
        seen = []
        for _ in range(epochs):
            seen.append(opt.lr)
            scheduler.step()
        return seen, scheduler

    def first_difference(what, got, want):
        bad = [e for e, (g, w) in enumerate(zip(got, want)) if not np.isclose(g, w)]
        if bad:
            e = bad[0]
            raise AssertionError(f"{what}: epoch {e} should use {want[e]:.4g}, got {got[e]:.4g}; "
                                 f"rates by epoch {[round(g, 4) for g in got]}, expected {[round(w, 4) for w in want]}")

    got, _ = rates(lambda o: StepLR(o, step_size=3, gamma=0.5), 8)
    first_difference("StepLR(step_size=3, gamma=0.5) from 0.1 (halved after every 3 completed epochs)",
                     got, [0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025])
    got, sched = rates(lambda o: CosineAnnealingLR(o, T_max=4, eta_min=0.01), 10)
    want = [0.1, 0.0868198052, 0.055, 0.0231801948, 0.01, 0.0231801948, 0.055, 0.0868198052, 0.1,
            0.0868198052]
    first_difference("CosineAnnealingLR(T_max=4, eta_min=0.01) from 0.1 (past T_max it rises again, unclamped)",
                     got, want)
    assert sched.last_epoch == 10 and sched.base_lr == 0.1, \
        f"after 10 steps: last_epoch {sched.last_epoch} (want 10), base_lr {sched.base_lr} (want 0.1)"
    # restoring a scheduler sets the optimizer's rate for the saved epoch
    opt = SGD([Tensor(np.zeros(1), requires_grad=True)], lr=0.1)
    restored = CosineAnnealingLR(opt, T_max=4, eta_min=0.01)
    restored.load_state_dict(sched.state_dict())
    assert restored.last_epoch == 10 and np.isclose(opt.lr, 0.055), f"restored rate {opt.lr}"
    opt = SGD([Tensor(np.zeros(1), requires_grad=True)], lr=0.1)
    step = StepLR(opt, step_size=3, gamma=0.5)
    step.load_state_dict({"base_lr": np.array(0.1), "last_epoch": np.array(7)})
    assert np.isclose(opt.lr, 0.025), \
        (f"StepLR(step_size=3, gamma=0.5) restored straight at epoch 7 must set 0.1·0.5² = 0.025, got {opt.lr:.4g}: "
         "get_lr(epoch) gives the rate of any epoch from base_lr and the epoch alone, not from the previous rate")
    print("schedulers: OK")


if __name__ == "__main__":
    test_unit_schedulers()

# %% [markdown]
# ## 4. Metrics
#
# The loss is what we optimize; **accuracy** is what we report. `accuracy(outputs, targets)`
# handles the two classification layouts of module 04:
#
# - class scores of shape `(..., C)` with integer targets of shape `(...)` (cross-entropy):
#   the prediction is the class with the highest score (the last axis holds the classes);
# - one probability per example, shape `(N,)` or `(N, 1)`, with 0/1 targets (binary
#   cross-entropy): the prediction is 1 when the probability is **strictly above** `threshold`
#   (0.5 by default), else 0. A probability of exactly 0.5 says "no idea"; by convention it
#   predicts 0, as the logit 0 does.
#
# Anything else (a regression target, non-integer labels) is a `ValueError`: accuracy means
# nothing there; train regression models with `Trainer(..., metrics={})`.
#
# **Averaging over an epoch.** Batches can differ in size (the last one is usually smaller), so
# the epoch's loss is not the mean of the batch losses. Every loss of module 04 is a mean over
# its targets, so weigh each batch by its number of targets:
# `epoch_loss = Σ_b loss_b · n_b / Σ_b n_b`. `_Meter` (given) keeps these weighted sums.

# %% nbgrader={"grade": false, "grade_id": "accuracy", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
def _array(value) -> np.ndarray:
    return value.data if isinstance(value, Tensor) else np.asarray(value)


def accuracy(outputs, targets, threshold: float = 0.5) -> float:
    """Fraction of correct predictions: argmax of class scores (..., C) against integer targets
    (...), or probability > threshold against 0/1 targets of the same shape."""
    out, target = _array(outputs), _array(targets)
    if out.ndim == target.ndim + 1 and out.shape[:-1] == target.shape and out.shape[-1] > 1:
        if not np.array_equal(target, np.round(target)):
            raise ValueError("accuracy needs integer class labels as targets; for regression pass "
                             "metrics={} to the Trainer")
        # `predicted`: the winning class of each position (the shape of `target`).
        ### BEGIN SOLUTION
        predicted = out.argmax(axis=-1)
        ### END SOLUTION
    elif out.size == target.size and np.squeeze(out).shape == np.squeeze(target).shape:
        out, target = np.squeeze(out), np.squeeze(target)
        if not np.all((target == 0) | (target == 1)):
            raise ValueError("accuracy needs 0/1 targets for one output per example; for regression "
                             "pass metrics={} to the Trainer")
        # `predicted`: 1 above the threshold, else 0.
        ### BEGIN SOLUTION
        predicted = (out > threshold).astype(target.dtype)
        ### END SOLUTION
    else:
        raise ValueError(f"accuracy: outputs of shape {out.shape} do not fit targets of shape "
                         f"{target.shape}; expected (..., C) with (...), or the same shape")
    # The fraction of correct predictions, as a Python float.
    ### BEGIN SOLUTION
    return float(np.mean(predicted == target))
    ### END SOLUTION


class _Meter:
    """Weighted running means: add(name, value, n) for a batch of n targets."""

    def __init__(self):
        self.sums: dict[str, float] = {}
        self.count = 0

    def add(self, values: dict[str, float], n: int) -> None:
        for name, value in values.items():
            self.sums[name] = self.sums.get(name, 0.0) + float(value) * n
        self.count += n

    def means(self) -> dict[str, float]:
        return {name: total / self.count for name, total in self.sums.items()} if self.count else {}


# %% [markdown]
# ### Unit test: accuracy

# %% nbgrader={"grade": true, "grade_id": "test-accuracy", "locked": true, "points": 5, "schema_version": 3, "solution": false, "task": false}
def test_unit_accuracy():
    from tinytorch.testing import raises

    rows = np.eye(3)[[2, 2, 0]]  # example i (row i) scores its class highest: classes 2, 2, 0
    got = accuracy(rows, np.array([2, 2, 0]))
    assert type(got) is float, f"return a Python float (float(...)), got {type(got).__name__}"
    assert 0.0 <= got <= 1.0, (f"accuracy is the fraction of correct predictions, between 0 and 1, got {got}: "
                               "divide the number of correct predictions by the number of predictions")
    assert got == 1.0, f"3 examples (rows) x 3 classes (columns): each row predicts its highest column, " \
        f"[2, 2, 0], so 1.0; got {got:.4f} (take the argmax over the last axis, the classes)"
    logits = Tensor([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0], [0.5, 0.2, 0.9], [1.0, 0.0, 5.0]])
    got = accuracy(logits, np.array([0, 1, 2, 0]))
    assert got == 0.75, f"argmax over the class axis predicts [0, 1, 2, 2]: 0.75, got {got}"
    got = accuracy(logits, Tensor([0, 2, 2, 2]))
    assert got == 0.75, f"targets may be a Tensor: 0.75, got {got}"
    sequences = np.stack([np.eye(3)[[2, 2, 0]], np.eye(3)[[1, 0, 1]]])  # (B, T, C) = (2, 3, 3)
    got = accuracy(sequences, np.array([[2, 2, 0], [1, 0, 1]]))
    assert got == 1.0, f"(B, T, C) scores with (B, T) labels: every position predicts its label, 1.0; " \
        f"got {got:.4f} (the classes are the last axis, not axis 1)"
    probs = np.array([[0.9], [0.2], [0.6], [0.4]])
    got = accuracy(probs, np.array([1, 0, 0, 0]))
    assert got == 0.75 and isinstance(got, float), f"binary: probability > 0.5 gives 0.75 (a float), got {got!r}"
    got = accuracy(np.array([0.5, 0.5, 0.7]), np.array([0, 0, 1]))
    assert got == 1.0, f"a probability of exactly 0.5 is not above the threshold, so it predicts 0: 1.0, got " \
        f"{got:.4f} (the comparison must be strictly greater: > threshold, not >=)"
    got = accuracy(np.array([0.25, 0.3]), np.array([0, 1]), threshold=0.25)
    assert got == 1.0, f"threshold 0.25: 0.25 is not above it (0), 0.3 is (1): 1.0, got {got:.4f} " \
        "(strictly greater than the threshold)"
    got = accuracy(probs[:, 0], np.array([1.0, 1.0, 1.0, 0.0]))
    assert got == 0.75, f"probabilities (N,) against float 0/1 targets: 0.75, got {got}"
    got = accuracy(probs, np.array([1, 0, 0, 0]), threshold=0.1)
    assert got == 0.25, f"threshold 0.1: every probability counts as 1, so 0.25, got {got}"
    raises(ValueError, lambda: accuracy(probs, np.array([0.3, 1.2, 0.0, 1.0])), "0/1 targets")
    raises(ValueError, lambda: accuracy(logits, np.array([0, 1])), "(4, 3)", "(2,)")
    meter = _Meter()
    meter.add({"loss": 1.0}, 30)
    meter.add({"loss": 4.0}, 10)
    assert meter.means() == {"loss": 1.75}, f"the epoch mean weighs batches by size: {meter.means()}"
    print("accuracy: OK")


if __name__ == "__main__":
    test_unit_accuracy()

# %% [markdown]
# ## 5. Saving and loading, atomically
#
# A checkpoint is everything needed to pick training up where it stopped: the model's
# parameters (`model.state_dict()`, module 03), the optimizer's state (`optimizer.state_dict()`,
# module 06: Adam's moments and step counts) and the scheduler's position. Without the
# optimizer's state a resumed Adam would restart from zero moments and forget what it had
# learned about the size of each gradient. All three are dicts of NumPy arrays, so one `.npz`
# file (a zip of `.npy` arrays) holds them, with keys like `model/layers.0.weight` and
# `optimizer/m.0`. We load with `allow_pickle=False`: a checkpoint is data, and must not be
# able to run code.
#
# **Atomic writes: your design.** A run killed (or a disk filled) in the middle of `np.savez`
# leaves half a file. If that half file sits at `path`, the only copy of yesterday's checkpoint
# is gone, replaced by garbage. How `save_checkpoint` avoids that is yours to decide. The
# contract, which the tests check by behaviour (they break the disk at different moments and
# look at the folder), is:
#
# - **Never half a file at `path`.** At every moment of a save, `path` holds either the old
#   complete checkpoint (or nothing, if there was none) or the new complete one. A reader who
#   opens `path` while the arrays are being written gets the old checkpoint.
# - **Durable before visible.** When the new checkpoint appears at `path`, its bytes are already
#   on the disk, not only in the operating system's write cache (a power cut right after the
#   save must not lose it).
# - **Failures are loud and clean.** If anything fails on the way (a full disk, an `OSError` from
#   any step, even Ctrl-C), the **same** exception reaches the caller (a save that failed must
#   never look like one that worked), `path` still holds the old checkpoint, and no stray file
#   is left in the folder.
#
# What the operating system offers you: a file's bytes go first into Python's buffer, then into
# the OS's cache, and reach the disk when the cache is flushed or when you force them out
# (`os.fsync`); and renaming a file onto an existing name *within one file system* replaces it
# in a single atomic step, so nobody ever sees a mix of the two. The given code has already
# created an empty temporary file beside `path` with `tempfile.mkstemp`, which returns an open
# OS-level descriptor `fd` and the file's name `tmp`. Decide the order of events, and what
# happens to `tmp` on each way out. `tito hint 07 save_checkpoint` helps, one level at a time.
#
# **Loading** checks before it changes anything: a file from a different architecture must fail
# with an error naming the parameter and both shapes, and leave the model untouched.

# %% nbgrader={"grade": false, "grade_id": "checkpoint", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
def save_checkpoint(path, model, optimizer=None, scheduler=None, **extra) -> None:
    """Write the model's (and optionally the optimizer's and scheduler's) state to the .npz file
    `path`, atomically. `extra` holds numbers or arrays to keep alongside (e.g. epoch=3)."""
    path = Path(path)
    arrays = {f"model/{name}": value for name, value in model.state_dict().items()}
    for prefix, part in (("optimizer", optimizer), ("scheduler", scheduler)):
        if part is not None:
            arrays.update({f"{prefix}/{name}": value for name, value in part.state_dict().items()})
    arrays.update({f"extra/{name}": np.asarray(value) for name, value in extra.items()})
    path.parent.mkdir(parents=True, exist_ok=True)
    # a new, empty temporary file in the target's folder: `fd` is its open descriptor
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    # Your design (section 5): the old checkpoint survives any failure, no stray file is left.
    ### BEGIN SOLUTION
    try:
        with os.fdopen(fd, "wb") as handle:
            np.savez(handle, **arrays)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    ### END SOLUTION


def load_checkpoint(path, model, optimizer=None, scheduler=None) -> dict:
    """Restore what `save_checkpoint` wrote, into existing objects. Nothing changes unless
    everything fits. Returns the `extra` values."""
    with np.load(path, allow_pickle=False) as data:
        arrays = {key: data[key] for key in data.files}
    parts: dict[str, dict] = {"model": {}, "optimizer": {}, "scheduler": {}, "extra": {}}
    for key, value in arrays.items():
        prefix, _, name = key.partition("/")
        if prefix not in parts:
            raise ValueError(f"{path}: unexpected entry {key!r}; not a TinyTorch checkpoint")
        parts[prefix][name] = value
    targets = [("model", model), ("optimizer", optimizer), ("scheduler", scheduler)]
    for prefix, target in targets:
        if target is not None and not parts[prefix]:
            raise ValueError(f"{path} holds no {prefix} state")
    backups = [(target, target.state_dict()) for _, target in targets if target is not None]
    try:
        for prefix, target in targets:
            if target is not None:
                target.load_state_dict(parts[prefix])
    except (ValueError, KeyError) as err:
        for target, backup in backups:  # all or nothing
            target.load_state_dict(backup)
        raise ValueError(f"{path} does not fit: {err}") from None
    return {name: (value.item() if value.ndim == 0 else value) for name, value in parts["extra"].items()}


# %% [markdown]
# ### Unit test: checkpoints
# A round trip restores parameters and Adam's state exactly. Then the contract of section 5: spies
# look at `path` while the arrays are written and when the bytes are synced, and the disk breaks
# during the write, at Ctrl-C and during the sync: each time the same error must come through,
# with the old checkpoint intact and no stray file. Last, a file from another architecture is
# refused with an error naming the parameter and its shapes.

# %% nbgrader={"grade": true, "grade_id": "test-checkpoint", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false}
def test_unit_checkpoint():
    from tinytorch.layers import Linear, Sequential
    from tinytorch.optimizers import Adam
    from tinytorch.testing import raises

    folder = Path(tempfile.mkdtemp())
    model = Sequential(Linear(4, 3, rng=0), Linear(3, 2, rng=1))
    opt = Adam(model.parameters(), lr=0.01)
    for p in model.parameters():
        p.grad = Tensor(np.ones(p.shape))
    opt.step()
    scheduler = StepLR(opt, step_size=1, gamma=0.5)
    scheduler.step()
    path = folder / "run" / "ckpt.npz"
    save_checkpoint(path, model, opt, scheduler, epoch=7)
    assert path.is_file(), "save_checkpoint must create the file (and its folder)"
    stray = sorted(set(os.listdir(path.parent)) - {"ckpt.npz"})
    assert not stray, f"a successful save left {stray} beside ckpt.npz" + (
        " (np.savez given a file *name* without .npz appends .npz: it wrote another file)"
        if any(name.endswith(".tmp.npz") for name in stray) else "")

    twin = Sequential(Linear(4, 3, rng=5), Linear(3, 2, rng=6))
    twin_opt = Adam(twin.parameters(), lr=0.5)
    twin_sched = StepLR(twin_opt, step_size=1, gamma=0.5)
    extra = load_checkpoint(path, twin, twin_opt, twin_sched)
    assert extra == {"epoch": 7}, f"extra values: {extra}"
    for a, b in zip(model.parameters(), twin.parameters()):
        assert np.array_equal(a.data, b.data), "parameters must be restored exactly"
    assert np.array_equal(twin_opt.m[0], opt.m[0]) and list(twin_opt.steps) == [1, 1, 1, 1], \
        f"Adam's state restored: m[0] {twin_opt.m[0]} vs {opt.m[0]}, steps {list(twin_opt.steps)}"
    assert twin_opt.lr == 0.005 and twin_sched.last_epoch == 1, \
        f"optimizer and scheduler restored: lr {twin_opt.lr} (want 0.005), last_epoch {twin_sched.last_epoch} (want 1)"

    save_checkpoint(path, model, epoch=8)  # overwrite an existing checkpoint
    extra = load_checkpoint(path, twin)
    assert extra == {"epoch": 8}, f"after overwriting, the file holds the new save: extra {extra}"

    # The contract of section 5, checked by behaviour: spies watch `path` while the arrays are
    # written and when the bytes are forced to the disk; then the disk breaks at each stage.
    old = path.read_bytes()
    real_savez, real_fsync, real_fdatasync = np.savez, os.fsync, getattr(os, "fdatasync", None)
    events = []  # (what happened, did `path` still hold the old checkpoint then?)

    def leftovers():
        return sorted(set(os.listdir(path.parent)) - {"ckpt.npz"})

    def spy_savez(file, **arrays):
        # the file np.savez writes: a name, or an open file's name (os.fdopen's files are named by their descriptor)
        name = file if isinstance(file, (str, os.PathLike)) else getattr(file, "name", None)
        direct = isinstance(name, (str, os.PathLike)) and Path(name).resolve() == path.resolve()
        events.append(("write", path.read_bytes() == old and not direct))
        real_savez(file, **arrays)

    def spy_sync(fd):
        events.append(("sync", path.read_bytes() == old))
        real_fsync(fd)

    def half_savez(file, **arrays):  # the disk fills up halfway through the write
        if hasattr(file, "write"):
            file.write(b"half a checkpoint")
        else:  # a file name: np.savez would add .npz
            name = str(file) if str(file).endswith(".npz") else f"{file}.npz"
            Path(name).write_bytes(b"half a checkpoint")
        raise OSError("No space left on device")

    def interrupted_savez(file, **arrays):
        raise KeyboardInterrupt("Ctrl-C during the write")

    def failing_sync(fd):
        raise OSError("Input/output error while syncing")

    def under(savez, sync, action):
        np.savez, os.fsync = savez, sync
        if real_fdatasync is not None:
            os.fdatasync = sync
        try:
            return action()
        finally:
            np.savez, os.fsync = real_savez, real_fsync
            if real_fdatasync is not None:
                os.fdatasync = real_fdatasync

    under(spy_savez, spy_sync, lambda: save_checkpoint(path, model, epoch=9))
    writes = [still_old for what, still_old in events if what == "write"]
    syncs = [still_old for what, still_old in events if what == "sync"]
    assert writes and all(writes), \
        "np.savez wrote to `path` itself: while the arrays are written, `path` must still hold the old checkpoint " \
        "(a reader, or a crash, would see half a file): write the new checkpoint somewhere else first"
    assert syncs, "the new bytes must be forced to the disk (os.fsync) before the checkpoint appears " \
        "at `path`; no sync was called"
    assert any(syncs), "the bytes were synced only after the new checkpoint had appeared at `path`: " \
        "durable before visible, so sync first"
    assert leftovers() == [], f"a successful save left {leftovers()} in the folder"
    assert load_checkpoint(path, twin) == {"epoch": 9}, "after the save, `path` holds the new checkpoint"
    old = path.read_bytes()

    for stage, savez, sync, error, fragment in [
            ("a disk full halfway through np.savez", half_savez, real_fsync, OSError, "No space left"),
            ("Ctrl-C during np.savez", interrupted_savez, real_fsync, KeyboardInterrupt, "Ctrl-C"),
            ("an I/O error in os.fsync", real_savez, failing_sync, OSError, "Input/output")]:
        try:
            raises(error, lambda savez=savez, sync=sync: under(savez, sync, lambda: save_checkpoint(path, model, epoch=10)),
                   fragment)
        except AssertionError as failure:
            raise AssertionError(f"{stage}: the same error must reach the caller (a failed save must never look "
                                 f"like one that worked); {failure}") from None
        assert leftovers() == [], \
            f"{stage}: the failed save left {leftovers()} in the folder; remove it on every way out"
        assert path.read_bytes() == old, f"{stage}: a failed save must leave the old checkpoint intact at `path`"

    wrong = Sequential(Linear(4, 5, rng=0), Linear(5, 2, rng=1))
    before = [p.data.copy() for p in wrong.parameters()]
    raises(ValueError, lambda: load_checkpoint(path, wrong), "layers.0.weight", "(4, 5)", "(4, 3)")
    assert all(np.array_equal(a, p.data) for a, p in zip(before, wrong.parameters())), \
        "a failed load must leave the model unchanged"
    print("checkpoints: OK")


if __name__ == "__main__":
    test_unit_checkpoint()

# %% [markdown]
# ## 6. A progress bar
#
# A long loop that prints nothing looks exactly like a hung one. `ProgressBar` (given) redraws
# one line in place (`\r`) on a terminal, at most ten times a second, so printing never slows
# training down. When the output is not a terminal (a log file, CI, a notebook) it prints one
# plain line when the loop ends: no control characters in your logs. `progress(iterable)` wraps
# any loop.

# %% nbgrader={"grade": false, "grade_id": "progress", "locked": false, "schema_version": 3, "solution": false, "task": false}
#| export
def _format_number(value) -> str:
    if not isinstance(value, float):
        return str(value)
    return f"{value:.4f}" if value == 0 or 1e-2 <= abs(value) < 1e4 else f"{value:.3e}"


def _format_values(values: dict) -> str:
    return "  ".join(f"{key} {_format_number(value)}" for key, value in values.items())


class ProgressBar:
    """A one-line text progress bar: redrawn in place on a terminal, one plain line otherwise."""

    def __init__(self, total: int | None = None, desc: str = "", file=None, width: int = 24,
                 enabled: bool = True, min_interval: float = 0.1):
        self.total, self.desc, self.width, self.enabled = total, desc, width, enabled
        self.file = file if file is not None else sys.stdout
        isatty = getattr(self.file, "isatty", None)
        self.interactive = bool(isatty and isatty())
        self.min_interval = min_interval
        self.count = 0
        self.start = time.perf_counter()
        self._last_draw = -math.inf
        self.closed = False

    def _line(self, values: dict) -> str:
        elapsed = time.perf_counter() - self.start
        head = f"{self.desc} " if self.desc else ""
        if self.total:
            done = min(self.count / self.total, 1.0)
            filled = int(round(done * self.width))
            bar = f"[{'#' * filled}{'.' * (self.width - filled)}] {self.count}/{self.total}"
        else:
            bar = f"{self.count} it"
        tail = f"  {_format_values(values)}" if values else ""
        return f"{head}{bar}  {elapsed:.1f}s{tail}"

    def update(self, n: int = 1, **values) -> None:
        self.count += n
        if not (self.enabled and self.interactive):
            return
        now = time.perf_counter()
        if now - self._last_draw >= self.min_interval:
            self._last_draw = now
            self.file.write("\r" + self._line(values) + "\033[K")
            self.file.flush()

    def close(self, **values) -> None:
        if self.closed:
            return
        self.closed = True
        if self.enabled:
            prefix = "\r" if self.interactive else ""
            self.file.write(prefix + self._line(values) + ("\033[K" if self.interactive else "") + "\n")
            self.file.flush()

    def __enter__(self) -> "ProgressBar":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def progress(iterable, desc: str = "", total: int | None = None, file=None, enabled: bool = True):
    """Iterate over `iterable`, showing a ProgressBar."""
    if total is None and hasattr(iterable, "__len__"):
        total = len(iterable)
    with ProgressBar(total, desc, file=file, enabled=enabled) as bar:
        for item in iterable:
            yield item
            bar.update()


# %% [markdown]
# ## 7. The Trainer
#
# `Trainer` runs epochs over any **re-iterable** of `(x, y)` batches: a list of pairs today, the
# `DataLoader` of module 08 tomorrow. (A generator runs out after one epoch; the trainer says so
# instead of silently training on nothing.) `x` may be a NumPy array or a Tensor; `y` is handed
# to the loss as it is (cross-entropy wants integer labels, not float tensors).
#
# - `train_epoch(data)`: `model.train()`, then for each batch the step of section 1, with
#   `clip_grad_norm` when `max_grad_norm` is set. Returns the epoch's mean loss and metrics.
# - `evaluate(data)`: `model.eval()` and `no_grad()`: no dropout, no graph, no update. Returns
#   the same means; puts the model back in the mode it was in.
# - `fit(train_data, epochs, val_data=None)`: alternates the two, steps the scheduler after each
#   epoch, and appends to `history`: `loss`, `accuracy`, `val_loss`, `val_accuracy`, and `lr`
#   (the rate used during the epoch). `save(path)` / `load(path)` checkpoint everything, history
#   and epoch count included.
#
# You write the two branches inside `_run` (each must set `out` and `loss`: the metering after
# them uses both), and `train_epoch` and `evaluate`. The metering and progress bars are given.
#
# **Order matters in the training branch.** Gradients accumulate (module 05), so clear them
# before `backward`, or each step also carries every earlier batch's gradient. Clip after
# `backward` and before `step`: clipping afterwards would limit nothing. The optimizer holds the
# parameters (`self.optimizer.params`); that is the list to clip.
#
# **Put back what you change, on every way out.** `evaluate` changes two pieces of global state:
# grad mode and the model's mode. `no_grad()` is a context manager, so grad mode comes back by
# itself when the `with` block is left, normally or by an exception. The model's mode needs the
# same care from you: `was_training` (given) records it before you switch to eval mode, and it
# must be restored whether the pass returns normally or raises (a loss that rejects a batch, a
# Ctrl-C). A line after the `return` never runs, and a line before it runs too early; Python has
# a statement whose cleanup block runs on both paths. The tests call `evaluate` on a model in
# training mode (it must come back in training mode) and on one in eval mode (it must stay in
# eval mode, not be switched to training).

# %% nbgrader={"grade": false, "grade_id": "trainer", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
class Trainer:
    """Train and evaluate a model with an optimizer and a loss, recording a history per epoch."""

    def __init__(self, model, optimizer, loss_fn, *, scheduler=None, max_grad_norm: float | None = None,
                 metrics: dict | None = None, progress: bool = True):
        self.model, self.optimizer, self.loss_fn = model, optimizer, loss_fn
        self.scheduler, self.max_grad_norm = scheduler, max_grad_norm
        self.metrics = {"accuracy": accuracy} if metrics is None else dict(metrics)
        self.progress = progress
        self.history: dict[str, list[float]] = {}
        self.epoch = 0  # epochs completed by fit()

    def _measure(self, meter: _Meter, loss: Tensor, out: Tensor, y) -> None:
        values = {"loss": loss.item()}
        for name, metric in self.metrics.items():
            values[name] = metric(out, y)
        meter.add(values, max(int(np.size(_array(y))), 1))

    def _run(self, data, train: bool, desc: str) -> dict[str, float]:
        meter = _Meter()
        total = len(data) if hasattr(data, "__len__") else None
        bar = ProgressBar(total, desc, enabled=self.progress)
        for batch in data:
            x, y = batch
            x = x if isinstance(x, Tensor) else Tensor(x)
            if train:
                # Set `out` and `loss`, then the rest of the step of section 1.
                ### BEGIN SOLUTION
                out = self.model(x)
                loss = self.loss_fn(out, y)
                self.optimizer.zero_grad()
                loss.backward()
                if self.max_grad_norm is not None:
                    clip_grad_norm(self.optimizer.params, self.max_grad_norm)
                self.optimizer.step()
                ### END SOLUTION
            else:
                # Set `out` and `loss` only: no backward, no update.
                ### BEGIN SOLUTION
                out = self.model(x)
                loss = self.loss_fn(out, y)
                ### END SOLUTION
            self._measure(meter, loss, out, y)
            bar.update(loss=meter.means()["loss"])
        results = meter.means()
        bar.close(**results)
        if not meter.count:
            raise ValueError(f"{desc or 'data'}: no batches. Pass a re-iterable (a list of (x, y) "
                             "pairs or a DataLoader), not a generator that is used up after one epoch")
        return results

    def train_epoch(self, data, desc: str = "train") -> dict[str, float]:
        """One pass over `data` with updates; returns the mean loss and metrics."""
        ### BEGIN SOLUTION
        self.model.train()
        return self._run(data, True, desc)
        ### END SOLUTION

    def evaluate(self, data, desc: str = "eval") -> dict[str, float]:
        """One pass over `data` in eval mode without a graph; returns the mean loss and metrics."""
        was_training = self.model.training
        # Eval mode and no graph; the previous mode comes back on every way out (section 7).
        ### BEGIN SOLUTION
        self.model.eval()
        try:
            with no_grad():
                return self._run(data, False, desc)
        finally:
            self.model.train(was_training)
        ### END SOLUTION

    def fit(self, train_data, epochs: int = 1, val_data=None) -> dict[str, list[float]]:
        """Train for `epochs` epochs; evaluate on `val_data` after each; step the scheduler."""
        for _ in range(epochs):
            label = f"epoch {self.epoch + 1}"
            record = {"lr": self.optimizer.lr}
            record.update(self.train_epoch(train_data, desc=f"{label} train"))
            if val_data is not None:
                record.update({f"val_{k}": v for k, v in self.evaluate(val_data, desc=f"{label} val").items()})
            if self.scheduler is not None:
                self.scheduler.step()
            for key, value in record.items():
                self.history.setdefault(key, []).append(float(value))
            self.epoch += 1
        return self.history

    def save(self, path) -> None:
        """Checkpoint model, optimizer, scheduler, epoch count and history."""
        history = {f"history.{k}": np.array(v) for k, v in self.history.items()}
        save_checkpoint(path, self.model, self.optimizer, self.scheduler, epoch=self.epoch, **history)

    def load(self, path) -> None:
        extra = load_checkpoint(path, self.model, self.optimizer, self.scheduler)
        self.epoch = int(extra.pop("epoch", 0))
        self.history = {k[len("history."):]: list(np.atleast_1d(v).astype(float))
                        for k, v in extra.items() if k.startswith("history.")}


# %% [markdown]
# ### Unit test: the Trainer
# Two well-separated blobs and a linear classifier: one training step must change the parameters
# and lower the loss, the history must have one entry per epoch, evaluation must record no graph,
# not touch the parameters and leave the model in the mode it found it (train or eval), and the
# scheduler must advance once per epoch.

# %% nbgrader={"grade": true, "grade_id": "test-trainer", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false}
def test_unit_trainer():
    from tinytorch.layers import Dropout, Linear, Sequential
    from tinytorch.losses import CrossEntropyLoss
    from tinytorch.optimizers import SGD
    from tinytorch.testing import raises

    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(-2, 1, (50, 2)), rng.normal(2, 1, (50, 2))]).astype(np.float32)
    y = np.repeat([0, 1], 50)
    order = rng.permutation(100)
    x, y = x[order], y[order]
    batches = [(x[i:i + 32], y[i:i + 32]) for i in range(0, 100, 32)]  # sizes 32, 32, 32, 4
    graph_recorded = []  # does the forward pass build a graph? (it must not during evaluation)
    spy = lambda t: graph_recorded.append(t.requires_grad) or t
    dropout = Dropout(0.1, rng=0)
    model = Sequential(Linear(2, 2, rng=0), dropout, spy)
    opt = SGD(model.parameters(), lr=0.5)
    trainer = Trainer(model, opt, CrossEntropyLoss(), scheduler=StepLR(opt, step_size=2, gamma=0.1),
                      max_grad_norm=5.0, progress=False)
    first = trainer.evaluate(batches)
    assert model.training and dropout.training, \
        "evaluate() must give the model (and its layers) back in the training mode it was in"
    assert graph_recorded == [False] * 4, "evaluate() must run under no_grad(): no graph"
    model.eval()
    trainer.evaluate(batches)
    assert not model.training and not dropout.training, \
        "evaluate() must restore the mode the model was in, here eval mode, not always train mode"
    seen_grads = []  # the gradients each optimizer.step() sees

    class Recording(SGD):
        def step(self):
            seen_grads.append([None if p.grad is None else np.array(p.grad.data) for p in self.params])
            super().step()

    def norm(grads):
        return math.sqrt(sum(float(np.sum(g.astype(np.float64) ** 2)) for g in grads))

    tiny = Linear(2, 2, rng=3)
    Trainer(tiny, Recording(tiny.parameters(), lr=0.1), CrossEntropyLoss(), max_grad_norm=1e-3,
            progress=False).train_epoch(batches)
    empty = [k for k, g in enumerate(seen_grads[0]) if g is None or not np.any(g)]
    assert not empty, f"optimizer.step() saw no gradient (None or all zeros) for parameters {empty}: " \
        "clear the gradients before backward(), not between backward() and step()"
    norms = [norm(grads) for grads in seen_grads]
    assert len(norms) == 4 and max(norms) <= 1.001e-3, \
        (f"with max_grad_norm=1e-3, optimizer.step() saw gradient norms {[float(f'{n:.3g}') for n in norms]}: "
         "clip the gradients after backward() and before step()")
    seen_grads.clear()
    Trainer(tiny, Recording(tiny.parameters(), lr=0.0), CrossEntropyLoss(),
            progress=False).train_epoch([batches[0], batches[0]])  # lr 0: the same batch twice
    assert np.allclose(seen_grads[0][0], seen_grads[1][0]), \
        "each step must see only its own batch's gradient: zero_grad() before backward()"

    before = [p.data.copy() for p in model.parameters()]
    trainer.train_epoch(batches[:1])
    assert model.training and dropout.training, "train_epoch() must put the model in training mode"
    assert graph_recorded[-1] is True, "training records the graph"
    assert not any(np.array_equal(a, p.data) for a, p in zip(before, model.parameters())), \
        "train_epoch() must update every parameter (optimizer.step() after loss.backward())"
    after = trainer.evaluate(batches)["loss"]
    assert after < first["loss"], f"one training step must lower the loss: {first['loss']:.4f} -> {after:.4f}"
    history = trainer.fit(batches, epochs=4, val_data=batches)
    assert set(history) == {"lr", "loss", "accuracy", "val_loss", "val_accuracy"}, sorted(history)
    assert all(len(v) == 4 for v in history.values()) and trainer.epoch == 4, \
        f"4 epochs: history lengths {[len(v) for v in history.values()]}, epoch {trainer.epoch}"
    assert np.allclose(history["lr"], [0.5, 0.5, 0.05, 0.05]), f"lr per epoch: {history['lr']}"
    assert history["val_loss"][-1] < first["loss"] / 2, f"loss {first['loss']:.3f} -> {history['val_loss']}"
    assert history["val_accuracy"][-1] >= 0.95, f"val accuracy {history['val_accuracy'][-1]}"

    before = [p.data.copy() for p in model.parameters()]
    result = trainer.evaluate(batches)
    assert all(np.array_equal(a, p.data) for a, p in zip(before, model.parameters())), "evaluate() must not update"
    model.eval()
    out = model(Tensor(x))
    manual = CrossEntropyLoss()(out, y).item()
    assert abs(result["loss"] - manual) < 1e-5, f"epoch loss must weigh batches by size: {result['loss']} vs {manual}"
    assert abs(result["accuracy"] - accuracy(out, y)) < 1e-9, f"epoch accuracy {result['accuracy']} vs {accuracy(out, y)}"
    model.train()

    raises(ValueError, lambda: trainer.fit(((x, y) for _ in range(1)), epochs=2), "re-iterable")

    model.train()
    bad_labels = [(x[:4], np.array([0, 1, 7, 0]))]  # class 7 of 2: the loss raises mid-pass
    raises(IndexError, lambda: trainer.evaluate(bad_labels), "out of range")
    assert model.training and dropout.training, \
        "when the pass raises, evaluate() must still give the model back in the mode it was in"
    model.eval()
    raises(IndexError, lambda: trainer.evaluate(bad_labels), "out of range")
    assert not model.training, "when the pass raises, a model in eval mode stays in eval mode"
    print("Trainer: OK")


if __name__ == "__main__":
    test_unit_trainer()

# %% [markdown]
# ## Module test
# The real thing: TinyDigits (1,437 training images of 8×8 handwritten digits, shipped with the
# repository), an MLP trained with Adam and a cosine schedule, a checkpoint saved and reloaded.

# %% nbgrader={"grade": true, "grade_id": "test-module", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false}
def test_module():
    from tinytorch.activations import ReLU
    from tinytorch.datasets import load_tinydigits
    from tinytorch.layers import Linear, Sequential, manual_seed
    from tinytorch.losses import CrossEntropyLoss
    from tinytorch.optimizers import Adam

    x_train, y_train, x_test, y_test = load_tinydigits()
    x_train, x_test = x_train.reshape(len(x_train), -1), x_test.reshape(len(x_test), -1)
    train = [(x_train[i:i + 64], y_train[i:i + 64]) for i in range(0, len(x_train), 64)]
    test = [(x_test[i:i + 128], y_test[i:i + 128]) for i in range(0, len(x_test), 128)]

    manual_seed(0)
    model = Sequential(Linear(64, 64), ReLU(), Linear(64, 10))
    opt = Adam(model.parameters(), lr=0.01)
    trainer = Trainer(model, opt, CrossEntropyLoss(), scheduler=CosineAnnealingLR(opt, T_max=15),
                      max_grad_norm=10.0, progress=False)
    history = trainer.fit(train, epochs=15, val_data=test)
    assert history["loss"][-1] < history["loss"][0] / 4, f"training loss {history['loss'][0]:.3f} -> {history['loss'][-1]:.3f}"
    assert history["val_accuracy"][-1] > 0.9, f"test accuracy {history['val_accuracy'][-1]:.3f}"
    assert history["lr"][0] == 0.01 and history["lr"][-1] < 0.001, f"cosine schedule, lr per epoch: {history['lr']}"

    path = Path(tempfile.mkdtemp()) / "digits.npz"
    trainer.save(path)
    manual_seed(1)
    fresh = Sequential(Linear(64, 64), ReLU(), Linear(64, 10))
    fresh_opt = Adam(fresh.parameters(), lr=0.01)
    restored = Trainer(fresh, fresh_opt, CrossEntropyLoss(),
                       scheduler=CosineAnnealingLR(fresh_opt, T_max=15), progress=False)
    restored.load(path)
    assert restored.epoch == 15 and restored.history == history, "epoch count and history restored"
    assert abs(restored.evaluate(test)["accuracy"] - history["val_accuracy"][-1]) < 1e-9, \
        "the restored model must score exactly like the saved one"
    print(f"module 07: all tests passed (TinyDigits test accuracy {history['val_accuracy'][-1]:.1%})")


if __name__ == "__main__":
    test_module()

# %% [markdown]
# ## Reflection
# - One training step costs about three evaluation passes. Where do the other two go?
# - Your run's gradient norm (the value `clip_grad_norm` returns) jumps from 2 to 200 at epoch 5.
#   What might have happened, and what does clipping at 10 do about it?
# - Why must a checkpoint hold Adam's `m`, `v` and step counts, and not only the weights? What
#   would the first steps after a resume look like without them?
# - Why write the checkpoint to a temporary file in the *same* folder, rather than in `/tmp`?
#   (Hint: `os.replace` across file systems.)
