"""Grading probes for module 06 (Optimizers): the graded checks again, on inputs drawn at grading time.

tito calls each probe after the notebook's cells, with the notebook's namespace and a seeded NumPy
generator, and compares what it returns with the reference's values (tito/grading/probes.py).
Parameters, gradients and settings are drawn; every correct optimizer gives the same trajectory.
"""

import numpy as np

from tinytorch.tensor import Tensor


def _shape(rng):
    return int(rng.integers(2, 5)), int(rng.integers(1, 4))


def _trajectory(ns, name, rng, steps=3, **settings):
    """Drawn start and gradients, `steps` updates of one parameter: (p after each step, p, optimizer, grads)."""
    shape = _shape(rng)
    start = rng.normal(size=shape).astype(np.float32)
    grads = (rng.normal(size=(steps, *shape)) * rng.uniform(0.1, 3)).astype(np.float32)
    p = Tensor(start, requires_grad=True)
    opt = ns[name]([p], **settings)
    history = []
    for g in grads:
        p.grad = Tensor(g.copy())
        opt.step()
        history.append(p.data.copy())
    return np.array(history), p, opt, grads


def _by_position(ns, name, rng, **settings):
    """Three parameters, one (drawn) without a gradient: the state each one holds after a step."""
    params = [Tensor(rng.normal(size=2).astype(np.float32), requires_grad=True) for _ in range(3)]
    skipped = int(rng.integers(0, 3))
    for i, p in enumerate(params):
        if i != skipped:
            p.grad = Tensor(rng.normal(size=2).astype(np.float32))
    opt = ns[name](params, **settings)
    opt.step()
    return opt, np.array([p.data for p in params])


def _unchanged_grad(ns, name, rng, **settings):
    """One step; whether p.data is the same array after it, and the gradient's values after it."""
    q = Tensor(rng.normal(size=3).astype(np.float32), requires_grad=True)
    array, grad = q.data, rng.normal(size=3).astype(np.float32)
    q.grad = Tensor(grad)
    ns[name]([q], **settings).step()
    return q.data is array, q.grad.data.copy()


def sgd(ns, rng):
    lr = float(rng.uniform(0.05, 0.5))
    plain, p, _, _ = _trajectory(ns, "SGD", rng, lr=lr)
    decayed, _, _, _ = _trajectory(ns, "SGD", rng, lr=lr, weight_decay=float(rng.uniform(0.1, 1)))
    in_place, grad_after = _unchanged_grad(ns, "SGD", rng, lr=lr, weight_decay=0.3)
    _, skipped = _by_position(ns, "SGD", rng, lr=lr)
    return {"plain": plain, "dtype": str(p.data.dtype), "weight_decay": decayed, "in_place": in_place,
            "grad_after": grad_after, "skip_no_grad": skipped}


def momentum(ns, rng):
    lr, mu = float(rng.uniform(0.05, 0.3)), float(rng.uniform(0.5, 0.95))
    heavy, _, opt, _ = _trajectory(ns, "SGD", rng, lr=lr, momentum=mu)
    nesterov, _, _, _ = _trajectory(ns, "SGD", rng, lr=lr, momentum=mu, nesterov=True)
    decayed, _, _, _ = _trajectory(ns, "SGD", rng, lr=lr, momentum=mu, weight_decay=float(rng.uniform(0.1, 1)))
    _, grad_after = _unchanged_grad(ns, "SGD", rng, lr=lr, momentum=mu, nesterov=True)
    by_position, params = _by_position(ns, "SGD", rng, lr=lr, momentum=mu)
    return {"momentum": heavy, "velocity": opt.momentum_buffers[0].copy(), "nesterov": nesterov,
            "weight_decay": decayed, "nesterov_grad_after": grad_after,
            "velocities_by_position": np.array(by_position.momentum_buffers), "params_by_position": params}


def adam(ns, rng):
    lr = float(rng.uniform(0.01, 0.2))
    betas = (float(rng.uniform(0.5, 0.95)), float(rng.uniform(0.9, 0.999)))
    plain, _, opt, _ = _trajectory(ns, "Adam", rng, lr=lr, betas=betas)
    out = {"adam": plain, "m": opt.m[0].copy(), "v": opt.v[0].copy(), "state_dtype": str(opt.v[0].dtype)}
    out["large_eps"], _, _, _ = _trajectory(ns, "Adam", rng, lr=lr, betas=betas, eps=float(rng.uniform(0.05, 0.5)))
    out["weight_decay"], _, _, _ = _trajectory(ns, "Adam", rng, lr=lr, weight_decay=float(rng.uniform(0.1, 1)))
    # in place: p and both moments stay the same arrays; the gradient is only read
    q = Tensor(rng.normal(size=3).astype(np.float32), requires_grad=True)
    array, q.grad = q.data, Tensor(rng.normal(size=3).astype(np.float32))
    decaying = ns["Adam"]([q], lr=lr, weight_decay=0.5)
    moments = decaying.m[0], decaying.v[0]
    decaying.step()
    out["in_place"] = q.data is array and decaying.m[0] is moments[0] and decaying.v[0] is moments[1]
    out["grad_after"] = q.grad.data.copy()
    # a late starter: its own step count drives its bias correction
    a, b = (Tensor(rng.normal(size=2).astype(np.float32), requires_grad=True) for _ in range(2))
    late = ns["Adam"]([a, b], lr=lr)
    a.grad = Tensor(rng.normal(size=2).astype(np.float32))
    for _ in range(int(rng.integers(1, 4))):
        late.step()
    b.grad = Tensor(rng.normal(size=2).astype(np.float32))
    late.step()
    out["late_starter"], out["steps"] = np.array([a.data, b.data]), np.array(late.steps, dtype=np.int64)
    by_position, params = _by_position(ns, "Adam", rng, lr=lr)
    out["m_by_position"], out["params_by_position"] = np.array(by_position.m), params
    return out


def adamw(ns, rng):
    lr, decay = float(rng.uniform(0.01, 0.2)), float(rng.uniform(0.1, 1))
    shape = _shape(rng)
    p = Tensor(rng.normal(size=shape).astype(np.float32), requires_grad=True)
    opt = ns["AdamW"]([p], lr=lr, weight_decay=decay)
    array = p.data
    for _ in range(2):  # zero gradients: decay only
        p.grad = Tensor(np.zeros(shape, dtype=np.float32))
        opt.step()
    only_decay = p.data.copy()
    decoupled, _, _, _ = _trajectory(ns, "AdamW", rng, lr=lr, weight_decay=decay)
    defaults = (ns["AdamW"]([Tensor([1.0], requires_grad=True)]).weight_decay,
                ns["Adam"]([Tensor([1.0], requires_grad=True)]).weight_decay)
    return {"only_decay": only_decay, "adamw": decoupled, "in_place": p.data is array,
            "default_decays": np.array(defaults, dtype=np.float64)}


def choose_optimizer(ns, rng):
    """Drawn valleys (curvatures, rotation, start) around a drawn minimum `centre`, 150 steps each.
    Correct choices may end at different points, all within 1e-3 of the centre (the start is at
    distance 1): TOLERANCE compares the end points to 2e-3."""
    out = {}
    for k in range(3):
        n = int(rng.integers(4, 9))
        lowest = float(10 ** rng.uniform(-3, 1))
        highest = lowest * (100.0 if k == 0 else float(10 ** rng.uniform(0, 2)))
        rotation = np.linalg.qr(rng.normal(size=(n, n)))[0] if k != 1 else np.eye(n)
        hessian = rotation @ np.diag(np.geomspace(lowest, highest, n)) @ rotation.T
        centre = rng.uniform(-3, 3, size=n)
        direction = rng.normal(size=n)
        start = centre + direction / np.linalg.norm(direction)
        p = Tensor(start.astype(np.float32), requires_grad=True)
        opt = ns["choose_optimizer"]([p], lowest, highest)
        out[f"built_over_params_{k}"] = isinstance(opt, ns["Optimizer"]) and opt.params == [p]
        for _ in range(150):
            p.grad = Tensor((hessian @ (p.data.astype(np.float64) - centre)).astype(np.float32))
            opt.step()
        out[f"within_1e-3_{k}"] = bool(np.linalg.norm(p.data - centre) <= 1e-3)
        out[f"end_{k}"] = p.data.astype(np.float64)
    return out


def module(ns, rng):
    from tinytorch.layers import Linear, Sequential

    n_in = int(rng.integers(2, 5))
    x = rng.normal(size=(16, n_in)).astype(np.float32)
    y = (x @ rng.normal(size=(n_in, 1)) + rng.normal()).astype(np.float32)
    weight, bias = rng.normal(size=(n_in, 1)).astype(np.float32), rng.normal(size=1).astype(np.float32)
    out = {}
    for name, make in [("SGD", lambda ps: ns["SGD"](ps, lr=0.1)),
                       ("momentum", lambda ps: ns["SGD"](ps, lr=0.05, momentum=0.9)),
                       ("Nesterov", lambda ps: ns["SGD"](ps, lr=0.05, momentum=0.9, nesterov=True)),
                       ("Adam", lambda ps: ns["Adam"](ps, lr=0.05)),
                       ("AdamW", lambda ps: ns["AdamW"](ps, lr=0.05, weight_decay=0.1))]:
        model = Linear(n_in, 1)
        model.weight.data[...], model.bias.data[...] = weight, bias  # set, not drawn by an init
        opt, losses = make(model.parameters()), []
        for _ in range(4):
            diff = model(Tensor(x)) - Tensor(y)
            loss = (diff * diff).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        out[f"{name}_losses"] = np.array(losses)
        out[f"{name}_weight"], out[f"{name}_bias"] = model.weight.data.copy(), model.bias.data.copy()
    # state memory of a drawn MLP
    sizes = [int(s) for s in rng.integers(2, 40, size=3)]
    mlp = Sequential(Linear(sizes[0], sizes[1]), Linear(sizes[1], sizes[2]))
    out["state_bytes"] = np.array([ns["SGD"](mlp.parameters(), lr=0.1).state_bytes(),
                                   ns["SGD"](mlp.parameters(), lr=0.1, momentum=0.9).state_bytes(),
                                   ns["Adam"](mlp.parameters()).state_bytes()], dtype=np.int64)
    # stop, save, restore into a fresh optimizer, continue
    grads = rng.normal(size=(7, 2)).astype(np.float32)
    stop = int(rng.integers(2, 5))
    p = Tensor(rng.normal(size=2).astype(np.float32), requires_grad=True)
    opt = ns["Adam"]([p], lr=0.1)
    for g in grads[:stop]:
        p.grad = Tensor(g.copy())
        opt.step()
    saved, saved_p = opt.state_dict(), p.data.copy()
    for g in grads[stop:]:
        p.grad = Tensor(g.copy())
        opt.step()
    q = Tensor(saved_p, requires_grad=True)
    resumed = ns["Adam"]([q], lr=0.5)
    resumed.load_state_dict(saved)
    for g in grads[stop:]:
        q.grad = Tensor(g.copy())
        resumed.step()
    out["continued"], out["resumed"], out["resumed_lr"] = p.data.copy(), q.data.copy(), resumed.lr
    return out


PROBES = {
    "test-sgd": ["sgd"],
    "test-momentum": ["momentum"],
    "test-adam": ["adam"],
    "test-adamw": ["adamw"],
    "test-choose-optimizer": ["choose_optimizer"],
    "test-module": ["module"],
}
TOLERANCE = {"choose_optimizer": (0.0, 2e-3)}  # correct choices end anywhere within 1e-3 of the minimum
