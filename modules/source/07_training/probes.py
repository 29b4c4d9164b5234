"""Grading probes for module 07 (Training): the graded checks again, on inputs drawn at grading time.

tito calls each probe after the notebook's cells, with the notebook's namespace and a seeded NumPy
generator, and compares what it returns with the reference's values (tito/grading/probes.py).
Models get their weights set from the drawn values; files go to a temporary folder, removed after.
"""

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from tinytorch.tensor import Tensor


def _param(rng, shape, grad=None):
    p = Tensor(rng.normal(size=shape).astype(np.float32), requires_grad=True)
    p.grad = None if grad is None else Tensor(np.asarray(grad, dtype=np.float32))
    return p


def _set_weights(model, rng, scale=0.5):
    for p in model.parameters():
        p.data[...] = rng.normal(size=p.shape) * scale


def clip(ns, rng):
    clip_grad_norm = ns["clip_grad_norm"]
    shapes = [(int(rng.integers(1, 4)), int(rng.integers(1, 4))) for _ in range(int(rng.integers(2, 4)))]
    grads = [rng.normal(size=s) * rng.uniform(0.5, 3) for s in shapes]
    params = [_param(rng, s, g) for s, g in zip(shapes, grads)] + [_param(rng, (2,))]  # the last: no grad
    old = params[0].grad
    max_norm = float(rng.uniform(0.2, 1.5))
    norm = clip_grad_norm(params, max_norm=max_norm)
    out = {"norm": norm, "is_float": type(norm) is float, "old_grad_kept": old.data.copy(),
           "clipped": np.concatenate([p.grad.data.ravel() for p in params[:-1]]),
           "no_grad_stays_none": params[-1].grad is None}
    # under max_norm: the very same gradient Tensor, unchanged
    small = _param(rng, (3,), rng.uniform(-0.1, 0.1, size=3))
    kept = small.grad
    out["small_norm"] = clip_grad_norm([small], max_norm=1.0)
    out["small_same_tensor"] = small.grad is kept
    out["small_grad"] = small.grad.data.copy()
    # float32 squares would overflow; the 1e-6 guard shows on tiny norms
    huge = _param(rng, (2,), rng.uniform(1, 4, size=2) * 1e20)
    out["huge_norm"] = clip_grad_norm([huge], max_norm=1.0)
    tiny = _param(rng, (2,), rng.uniform(1, 4, size=2) * 1e-6)
    clip_grad_norm([tiny], max_norm=1e-6)
    out["tiny_grad"] = tiny.grad.data.astype(np.float64) * 1e6
    out["no_grads"] = clip_grad_norm([_param(rng, (2,))], max_norm=1.0)
    return out


def _rates(ns, scheduler, base, epochs, **settings):
    opt = _sgd(base)
    sched = ns[scheduler](opt, **settings)
    seen = []
    for _ in range(epochs):
        seen.append(opt.lr)
        sched.step()
    return np.array(seen), sched


def _sgd(lr):
    from tinytorch.optimizers import SGD

    return SGD([Tensor(np.zeros(1), requires_grad=True)], lr=lr)


def schedulers(ns, rng):
    base = float(rng.uniform(0.01, 1))
    step_size, gamma = int(rng.integers(1, 5)), float(rng.uniform(0.1, 0.9))
    t_max, eta_min = int(rng.integers(2, 7)), float(rng.uniform(0, base / 2))
    step, _ = _rates(ns, "StepLR", base, 12, step_size=step_size, gamma=gamma)
    cosine, sched = _rates(ns, "CosineAnnealingLR", base, 2 * t_max + 3, T_max=t_max, eta_min=eta_min)
    out = {"step": step, "cosine": cosine, "last_epoch": sched.last_epoch, "base_lr": sched.base_lr}
    # restored straight at a drawn epoch: the rate of that epoch, from base_lr and the epoch alone
    epoch = int(rng.integers(1, 12))
    opt = _sgd(0.5)
    ns["StepLR"](opt, step_size=step_size, gamma=gamma).load_state_dict(
        {"base_lr": np.array(base), "last_epoch": np.array(epoch)})
    out["step_restored"] = opt.lr
    opt = _sgd(0.5)
    ns["CosineAnnealingLR"](opt, T_max=t_max, eta_min=eta_min).load_state_dict(
        {"base_lr": np.array(base), "last_epoch": np.array(epoch)})
    out["cosine_restored"] = opt.lr
    return out


def accuracy(ns, rng):
    accuracy = ns["accuracy"]
    n, c = int(rng.integers(5, 20)), int(rng.integers(2, 6))
    logits, labels = rng.normal(size=(n, c)), rng.integers(0, c, size=n)
    b, t = int(rng.integers(2, 4)), int(rng.integers(2, 5))
    sequences, sequence_labels = rng.normal(size=(b, t, c)), rng.integers(0, c, size=(b, t))
    threshold = int(rng.integers(2, 9)) / 10
    probs = rng.integers(0, 11, size=(n, 1)) / 10  # on a grid, with values exactly at 0.5 and the threshold
    probs[rng.choice(n, 2, replace=False), 0] = 0.5, threshold
    targets = rng.integers(0, 2, size=n)
    out = {"logits": accuracy(logits, labels), "tensors": accuracy(Tensor(logits), Tensor(labels)),
           "sequences": accuracy(sequences, sequence_labels), "binary": accuracy(probs, targets),
           "binary_flat_float": accuracy(probs[:, 0], targets.astype(np.float64)),
           "threshold": accuracy(probs, targets, threshold=threshold),
           "is_float": type(accuracy(logits, labels)) is float}
    for name, call in [("bad_targets", lambda: accuracy(probs, rng.uniform(0.1, 0.9, size=n))),
                       ("bad_shapes", lambda: accuracy(logits, labels[:-1]))]:
        try:
            call()
            out[name] = "no error"
        except Exception as exc:  # noqa: BLE001 - the kind of error is the value
            out[name] = type(exc).__name__
    return out


def _mlp(rng, sizes):
    from tinytorch.layers import Linear, Sequential

    model = Sequential(*[Linear(a, b) for a, b in zip(sizes, sizes[1:])])
    _set_weights(model, rng)
    return model


def checkpoint(ns, rng):
    from tinytorch.optimizers import Adam

    save, load = ns["save_checkpoint"], ns["load_checkpoint"]
    sizes = [int(s) for s in rng.integers(2, 6, size=3)]
    model = _mlp(rng, sizes)
    opt = Adam(model.parameters(), lr=float(rng.uniform(0.001, 0.1)))
    for p in model.parameters():
        p.grad = Tensor(rng.normal(size=p.shape))
    opt.step()
    scheduler = ns["StepLR"](opt, step_size=1, gamma=float(rng.uniform(0.1, 0.9)))
    scheduler.step()
    epoch = int(rng.integers(1, 100))
    folder = Path(tempfile.mkdtemp())
    out = {}
    try:
        path = folder / "run" / "ckpt.npz"
        save(path, model, opt, scheduler, epoch=epoch)
        out["only_the_file"] = sorted(os.listdir(path.parent)) == ["ckpt.npz"]
        twin = _mlp(rng, sizes)
        twin_opt = Adam(twin.parameters(), lr=0.5)
        twin_sched = ns["StepLR"](twin_opt, step_size=1, gamma=0.5)
        out["extra"] = load(path, twin, twin_opt, twin_sched)["epoch"]
        out["params"] = np.concatenate([p.data.ravel() for p in twin.parameters()])
        out["adam_m"] = np.concatenate([m.ravel() for m in twin_opt.m])
        out["lr"], out["last_epoch"] = twin_opt.lr, twin_sched.last_epoch
        out.update(_atomic(ns, path, model, folder))
        wrong = _mlp(rng, [sizes[0], sizes[1] + 1, sizes[2]])
        before = np.concatenate([p.data.ravel() for p in wrong.parameters()])
        try:
            load(path, wrong)
            out["wrong_shape"] = "no error"
        except ValueError:
            out["wrong_shape"] = "ValueError"
        out["wrong_untouched"] = bool(np.array_equal(before, np.concatenate([p.data.ravel()
                                                                              for p in wrong.parameters()])))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return out


def _atomic(ns, path, model, folder):
    """The contract of section 5 by behaviour: `path` while writing and syncing, then broken disks."""
    save = ns["save_checkpoint"]
    old = path.read_bytes()
    real_savez, real_fsync, real_fdatasync = np.savez, os.fsync, getattr(os, "fdatasync", None)
    events = []

    def leftovers():
        return sorted(set(os.listdir(path.parent)) - {"ckpt.npz"})

    def spy_savez(file, **arrays):
        name = file if isinstance(file, (str, os.PathLike)) else getattr(file, "name", None)
        direct = isinstance(name, (str, os.PathLike)) and Path(name).resolve() == path.resolve()
        events.append(("write", path.read_bytes() == old and not direct))
        real_savez(file, **arrays)

    def spy_sync(fd):
        events.append(("sync", path.read_bytes() == old))
        real_fsync(fd)

    def half_savez(file, **arrays):
        if hasattr(file, "write"):
            file.write(b"half a checkpoint")
        else:
            Path(str(file) if str(file).endswith(".npz") else f"{file}.npz").write_bytes(b"half")
        raise OSError("No space left on device")

    def interrupted_savez(file, **arrays):
        raise KeyboardInterrupt("Ctrl-C during the write")

    def failing_sync(fd):
        raise OSError("Input/output error while syncing")

    def under(savez, sync, epoch):
        np.savez, os.fsync = savez, sync
        if real_fdatasync is not None:
            os.fdatasync = sync
        try:
            save(path, model, epoch=epoch)
        finally:
            np.savez, os.fsync = real_savez, real_fsync
            if real_fdatasync is not None:
                os.fdatasync = real_fdatasync

    under(spy_savez, spy_sync, 9)
    out = {"old_while_writing": bool(events) and all(ok for what, ok in events if what == "write"),
           "synced_before_visible": any(ok for what, ok in events if what == "sync"),
           "saved_leftovers": len(leftovers()), "new_after_save": path.read_bytes() != old}
    old = path.read_bytes()
    for stage, savez, sync in [("disk_full", half_savez, real_fsync), ("ctrl_c", interrupted_savez, real_fsync),
                               ("sync_error", real_savez, failing_sync)]:
        try:
            under(savez, sync, 10)
            out[f"{stage}_raised"] = "nothing"
        except (Exception, KeyboardInterrupt) as exc:  # noqa: BLE001 - the error that came through is the value
            out[f"{stage}_raised"] = f"{type(exc).__name__}: {exc}"
        out[f"{stage}_leftovers"] = len(leftovers())
        out[f"{stage}_old_intact"] = path.read_bytes() == old
    return out


def _blobs(rng, n):
    x = np.concatenate([rng.normal(-2, 1, (n, 2)), rng.normal(2, 1, (n, 2))]).astype(np.float32)
    y = np.repeat([0, 1], n)
    order = rng.permutation(2 * n)
    return x[order], y[order]


def trainer(ns, rng):
    from tinytorch.layers import Dropout, Linear, Sequential
    from tinytorch.losses import CrossEntropyLoss
    from tinytorch.optimizers import SGD

    Trainer = ns["Trainer"]
    x, y = _blobs(rng, int(rng.integers(15, 30)))
    size = int(rng.integers(8, 20))
    batches = [(x[i:i + size], y[i:i + size]) for i in range(0, len(x), size)]
    recorded = []  # requires_grad of what the model computes: a graph or not
    dropout = Dropout(0.1)
    model = Sequential(Linear(2, 2), dropout, lambda t: recorded.append(t.requires_grad) or t)
    _set_weights(model, rng)
    out = {}
    # evaluation: no graph, no update, the mode it found (dropout never draws: eval mode inside)
    opt = SGD(model.parameters(), lr=float(rng.uniform(0.1, 0.5)))
    trainer = Trainer(model, opt, CrossEntropyLoss(), scheduler=ns["StepLR"](opt, step_size=2, gamma=0.1),
                      max_grad_norm=float(rng.uniform(0.05, 0.5)), progress=False)
    first = trainer.evaluate(batches)
    out["first_loss"], out["first_accuracy"] = first["loss"], first["accuracy"]
    out["eval_no_graph"] = recorded == [False] * len(batches)
    out["eval_keeps_train_mode"] = model.training and dropout.training
    model.eval()
    trainer.evaluate(batches)
    out["eval_keeps_eval_mode"] = not model.training and not dropout.training
    model.train()
    bad = [(x[:4], np.array([0, 1, 7, 0]))]  # class 7 of 2: the loss raises mid-pass
    try:
        trainer.evaluate(bad)
    except Exception:  # noqa: BLE001, S110 - only the mode afterwards matters
        pass
    out["mode_after_raise"] = model.training and dropout.training
    # the gradients each optimizer step sees: cleared before backward, clipped before step
    seen = []

    class Recording(SGD):
        def step(self):
            seen.append(np.concatenate([p.grad.data.ravel() for p in self.params]))
            super().step()

    plain = Linear(2, 2)
    _set_weights(plain, rng)
    Trainer(plain, Recording(plain.parameters(), lr=0.1), CrossEntropyLoss(), max_grad_norm=0.01,
            progress=False).train_epoch(batches)
    Trainer(plain, Recording(plain.parameters(), lr=0.0), CrossEntropyLoss(),
            progress=False).train_epoch([batches[0], batches[0]])
    out["grads_seen"] = np.array(seen)
    # fit without dropout's draws: a model with no dropout, set weights
    model = Linear(2, 2)
    _set_weights(model, rng)
    opt = SGD(model.parameters(), lr=float(rng.uniform(0.1, 0.5)))
    fitter = Trainer(model, opt, CrossEntropyLoss(), scheduler=ns["StepLR"](opt, step_size=2, gamma=0.1),
                     max_grad_norm=float(rng.uniform(0.05, 0.5)), progress=False)
    out["epoch_result"] = np.array(list(fitter.train_epoch(batches[:2]).values()))
    history = fitter.fit(batches, epochs=3, val_data=batches)
    for key in ("lr", "loss", "accuracy", "val_loss", "val_accuracy"):
        out[f"history_{key}"] = np.array(history[key], dtype=np.float64)
    out["history_keys"] = len(history)
    out["epochs"] = fitter.epoch
    out["params"] = np.concatenate([p.data.ravel() for p in model.parameters()])
    try:
        fitter.fit(((x, y) for _ in range(1)), epochs=2)
        out["generator"] = "no error"
    except ValueError:
        out["generator"] = "ValueError"
    return out


def module(ns, rng):
    from tinytorch.activations import ReLU
    from tinytorch.datasets import load_tinydigits
    from tinytorch.layers import Linear, Sequential
    from tinytorch.losses import CrossEntropyLoss
    from tinytorch.optimizers import Adam

    x_train, y_train, x_test, y_test = load_tinydigits()
    picks, test_picks = rng.choice(len(x_train), 192, replace=False), rng.choice(len(x_test), 96, replace=False)
    x, y = x_train[picks].reshape(-1, 64), y_train[picks]
    xt, yt = x_test[test_picks].reshape(-1, 64), y_test[test_picks]
    train = [(x[i:i + 64], y[i:i + 64]) for i in range(0, len(x), 64)]
    test = [(xt[i:i + 64], yt[i:i + 64]) for i in range(0, len(xt), 64)]
    hidden = int(rng.integers(16, 40))
    model = Sequential(Linear(64, hidden), ReLU(), Linear(hidden, 10))
    _set_weights(model, rng, 0.2)
    opt = Adam(model.parameters(), lr=0.01)
    trainer = ns["Trainer"](model, opt, CrossEntropyLoss(), scheduler=ns["CosineAnnealingLR"](opt, T_max=3),
                            max_grad_norm=float(rng.uniform(0.5, 3)), progress=False)
    history = trainer.fit(train, epochs=3, val_data=test)
    out = {f"history_{k}": np.array(history[k], dtype=np.float64)
           for k in ("lr", "loss", "accuracy", "val_loss", "val_accuracy")}
    folder = Path(tempfile.mkdtemp())
    try:
        trainer.save(folder / "digits.npz")
        fresh = Sequential(Linear(64, hidden), ReLU(), Linear(hidden, 10))
        fresh_opt = Adam(fresh.parameters(), lr=0.5)
        restored = ns["Trainer"](fresh, fresh_opt, CrossEntropyLoss(),
                                 scheduler=ns["CosineAnnealingLR"](fresh_opt, T_max=3), progress=False)
        restored.load(folder / "digits.npz")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    out["restored_epoch"] = restored.epoch
    out["restored_history"] = restored.history == history
    out["restored_eval"] = np.array(list(restored.evaluate(test).values()))
    out["restored_lr"] = fresh_opt.lr
    return out


PROBES = {
    "test-clip": ["clip"],
    "test-schedulers": ["schedulers"],
    "test-accuracy": ["accuracy"],
    "test-checkpoint": ["checkpoint"],
    "test-trainer": ["trainer"],
    "test-module": ["module"],
}
