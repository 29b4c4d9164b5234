"""Module 06: SGD, Adam and AdamW against NumPy references of torch.optim's documented algorithms,
and against PyTorch itself when it is installed."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinytorch.autograd  # noqa: F401  (module 05 is a prerequisite: gradients must flow)
from tinytorch.optimizers import SGD, Adam, AdamW, Optimizer, choose_optimizer
from tinytorch.tensor import Tensor

# --- references: the pseudo-code of the torch.optim docs, in float64, one parameter at a time -------


EPS32 = float(np.finfo(np.float32).eps)


def sgd_reference(p, grads, lr, momentum=0.0, weight_decay=0.0, nesterov=False):
    """p after each step, in float64, and beside it the float32 rounding a correct implementation
    may pile up by then: a few float32 epsilons times the sizes of every term that has entered p."""
    p, buf, out, slack = np.array(p, dtype=np.float64), None, [], []
    size = np.abs(p)  # the float32 copy of the start is already rounded
    buf_size = np.zeros_like(p)
    for step, g in enumerate(grads, start=1):
        if g is not None:
            g = np.array(g, dtype=np.float64)
            g_size = np.abs(g)
            if weight_decay != 0:
                g, g_size = g + weight_decay * p, g_size + weight_decay * np.abs(p)
            if momentum != 0:
                buf = g.copy() if buf is None else momentum * buf + g
                buf_size = momentum * buf_size + g_size
                g = g + momentum * buf if nesterov else buf
                g_size = g_size + momentum * buf_size if nesterov else buf_size
            p = p - lr * g
            size = size + np.abs(p) + lr * g_size
        out.append(p.copy())
        slack.append(4 * EPS32 * step * size)
    return out, slack


def adam_reference(p, grads, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, decoupled=False):
    p = np.array(p, dtype=np.float64)
    m, v, t, out = np.zeros_like(p), np.zeros_like(p), 0, []
    b1, b2 = betas
    for g in grads:
        if g is None:
            out.append(p.copy())
            continue
        g = np.array(g, dtype=np.float64)
        t += 1
        if decoupled:
            p = p * (1 - lr * weight_decay)
        elif weight_decay != 0:
            g = g + weight_decay * p
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat = m / (1 - b1 ** t)
        v_hat = v / (1 - b2 ** t)
        p = p - lr * m_hat / (np.sqrt(v_hat) + eps)
        out.append(p.copy())
    return out


def run(make, start, grads):
    """Apply `grads` (None = no gradient that step) to one parameter; p after each step."""
    p = Tensor(np.array(start), requires_grad=True)
    opt = make([p])
    out = []
    for g in grads:
        p.grad = None if g is None else Tensor(np.array(g))
        opt.step()
        out.append(p.data.copy())
    return out, p, opt


@st.composite
def trajectories(draw, allow_none=True):
    shape = draw(st.sampled_from([(1,), (3,), (2, 3)]))
    steps = draw(st.integers(1, 8))
    rng = np.random.default_rng(draw(st.integers(0, 10_000)))
    start = rng.normal(size=shape)
    grads = []
    for _ in range(steps):
        skip = allow_none and draw(st.booleans()) and draw(st.booleans())
        grads.append(None if skip else rng.normal(size=shape) * draw(st.sampled_from([1e-3, 1.0, 50.0])))
    return start, grads


def close(got, want, rtol=2e-5, atol=2e-6):
    for step, (a, b) in enumerate(zip(got, want)):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=f"after step {step + 1}")


def close_within(got, want, slack):
    """Each step's p within the float32 rounding `slack` of the float64 reference (elementwise);
    on failure, the first step that is off and its worst element."""
    for step, (a, b, room) in enumerate(zip(got, want, slack), start=1):
        excess = np.abs(np.asarray(a, dtype=np.float64) - b) - (room + 1e-6 * np.abs(b) + 1e-12)
        if (excess > 0).any():
            worst = np.unravel_index(np.argmax(excess), np.shape(b))
            index = [int(i) for i in worst]
            raise AssertionError(f"after step {step}: p{index} = {float(np.asarray(a)[worst]):.7g}, the "
                                 f"reference gives {float(b[worst]):.7g} (float32 rounding explains up to "
                                 f"{float(room[worst]):.2g})")


# --- against the references -------------------------------------------------------------------------


def stored_after_one_step(make, grad):
    opt = make([Tensor(np.zeros(len(grad)), requires_grad=True)])
    opt.params[0].grad = Tensor(np.array(grad))
    opt.step()
    return opt


class TestSGDReference:
    def test_velocity_after_one_step_is_the_gradient(self):
        opt = stored_after_one_step(lambda ps: SGD(ps, lr=0.1, momentum=0.9), [0.5, -2.0])
        velocity = opt.momentum_buffers[0]
        assert np.any(velocity != 0), "momentum_buffers[0] is still zero after a step: update it in place"
        np.testing.assert_allclose(velocity, [0.5, -2.0], rtol=1e-6,
                                   err_msg="the velocity after one step from 0 is the gradient (b = μ·b + g)")

    @settings(max_examples=60, deadline=None)
    @given(traj=trajectories(), lr=st.sampled_from([0.01, 0.1, 0.5]),
           momentum=st.sampled_from([0.0, 0.5, 0.9]), weight_decay=st.sampled_from([0.0, 0.01, 0.3]),
           nesterov=st.booleans())
    def test_matches(self, traj, lr, momentum, weight_decay, nesterov):
        start, grads = traj
        nesterov = nesterov and momentum > 0
        got, _, _ = run(lambda ps: SGD(ps, lr, momentum, weight_decay, nesterov), start, grads)
        close_within(got, *sgd_reference(start, grads, lr, momentum, weight_decay, nesterov))

    def test_hand_computed_momentum(self):
        # b1 = 1, p = 1 - 0.1; b2 = 0.9 + 2 = 2.9, p -= 0.29; b3 = 2.61 - 1 = 1.61, p -= 0.161
        got, _, opt = run(lambda ps: SGD(ps, lr=0.1, momentum=0.9), [1.0], [[1.0], [2.0], [-1.0]])
        np.testing.assert_allclose(np.ravel(got), [0.9, 0.61, 0.449], rtol=1e-6)
        np.testing.assert_allclose(opt.momentum_buffers[0], [1.61], rtol=1e-6)

    def test_hand_computed_nesterov(self):
        # step 1: b = 1, g + 0.9 b = 1.9 -> 0.81; step 2: b = 2.9, 2 + 2.61 = 4.61 -> 0.349
        got, _, _ = run(lambda ps: SGD(ps, lr=0.1, momentum=0.9, nesterov=True), [1.0], [[1.0], [2.0]])
        np.testing.assert_allclose(np.ravel(got), [0.81, 0.349], rtol=1e-6)


class TestAdamReference:
    def test_moments_after_one_step(self):
        opt = stored_after_one_step(lambda ps: Adam(ps, lr=0.1), [0.5, -2.0])
        for name, moment, want in [("m", opt.m[0], [0.05, -0.2]), ("v", opt.v[0], [2.5e-4, 4e-3])]:
            assert np.any(moment != 0), f"{name}[0] is still zero after a step: update it in place"
            np.testing.assert_allclose(moment, want, rtol=1e-6,
                                       err_msg=f"{name} after one step (m = 0.1·g, v = 0.001·g²)")

    @settings(max_examples=60, deadline=None)
    @given(traj=trajectories(), lr=st.sampled_from([1e-3, 0.01, 0.3]),
           betas=st.sampled_from([(0.9, 0.999), (0.5, 0.9), (0.0, 0.99)]),
           eps=st.sampled_from([1e-8, 1e-3, 0.5]), weight_decay=st.sampled_from([0.0, 0.01, 0.5]),
           decoupled=st.booleans())
    def test_matches(self, traj, lr, betas, eps, weight_decay, decoupled):
        start, grads = traj
        cls = AdamW if decoupled else Adam
        settings_ = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
        got, _, _ = run(lambda ps: cls(ps, **settings_), start, grads)
        want = adam_reference(start, grads, lr, betas, eps, weight_decay, decoupled)
        close(got, want, rtol=5e-5, atol=5e-6)

    def test_first_step_is_lr_times_sign(self):
        for scale in (1e-6, 1.0, 1e6):
            got, _, _ = run(lambda ps: Adam(ps, lr=0.01, eps=0.0), [0.0, 0.0], [[scale, -scale]])
            np.testing.assert_allclose(got[0], [-0.01, 0.01], rtol=1e-6)

    def test_bias_correction_uses_each_parameters_own_count(self):
        a, b = Tensor(np.zeros(2), requires_grad=True), Tensor(np.zeros(2), requires_grad=True)
        opt = Adam([a, b], lr=0.1)
        for step in range(6):
            a.grad = Tensor(np.ones(2))
            b.grad = Tensor(np.ones(2)) if step >= 4 else None
            opt.step()
        assert opt.steps.tolist() == [6, 2]
        np.testing.assert_allclose(a.data, adam_reference([0, 0], [[1, 1]] * 6, 0.1)[-1], rtol=1e-6)
        np.testing.assert_allclose(b.data, adam_reference([0, 0], [[1, 1]] * 2, 0.1)[-1], rtol=1e-6)

    def test_adamw_with_zero_gradient_only_decays(self):
        got, _, _ = run(lambda ps: AdamW(ps, lr=0.1, weight_decay=0.2), [2.0, -4.0], [[0.0, 0.0]] * 4)
        np.testing.assert_allclose(got[-1], np.array([2.0, -4.0]) * 0.98 ** 4, rtol=1e-6)

    def test_defaults(self):
        p = [Tensor([1.0], requires_grad=True)]
        adam, adamw = Adam(p), AdamW(p)
        assert (adam.lr, adam.betas, adam.eps, adam.weight_decay) == (1e-3, (0.9, 0.999), 1e-8, 0.0)
        assert adamw.weight_decay == 0.01 and adamw.decoupled_weight_decay and not adam.decoupled_weight_decay


# --- against PyTorch ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


def torch_trajectory(torch, make, start, grads):
    p = torch.tensor(np.array(start, dtype=np.float32), requires_grad=True)
    opt = make([p])
    out = []
    for g in grads:
        p.grad = None if g is None else torch.tensor(np.array(g, dtype=np.float32))
        opt.step()
        out.append(p.detach().numpy().copy())
    return out


class TestAgainstTorch:
    @settings(max_examples=40, deadline=None)
    @given(traj=trajectories(), lr=st.sampled_from([0.01, 0.2]), momentum=st.sampled_from([0.0, 0.9]),
           weight_decay=st.sampled_from([0.0, 0.1]), nesterov=st.booleans())
    def test_sgd(self, torch, traj, lr, momentum, weight_decay, nesterov):
        start, grads = traj
        nesterov = nesterov and momentum > 0
        settings_ = dict(lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=nesterov)
        got, _, _ = run(lambda ps: SGD(ps, **settings_), start, grads)
        _, slack = sgd_reference(start, grads, lr, momentum, weight_decay, nesterov)
        theirs = torch_trajectory(torch, lambda ps: torch.optim.SGD(ps, **settings_), start, grads)
        close_within(got, theirs, [2 * room for room in slack])  # both float32: twice the rounding

    @settings(max_examples=40, deadline=None)
    @given(traj=trajectories(), lr=st.sampled_from([1e-3, 0.05]),
           betas=st.sampled_from([(0.9, 0.999), (0.8, 0.95)]), eps=st.sampled_from([1e-8, 1e-2]),
           weight_decay=st.sampled_from([0.0, 0.05]), decoupled=st.booleans())
    def test_adam_and_adamw(self, torch, traj, lr, betas, eps, weight_decay, decoupled):
        start, grads = traj
        settings_ = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
        ours, theirs = (AdamW, torch.optim.AdamW) if decoupled else (Adam, torch.optim.Adam)
        got, _, _ = run(lambda ps: ours(ps, **settings_), start, grads)
        close(got, torch_trajectory(torch, lambda ps: theirs(ps, **settings_), start, grads),
              rtol=5e-5, atol=5e-6)

    @pytest.mark.parametrize("name", ["sgd", "momentum", "nesterov", "adam", "adamw"])
    def test_training_an_mlp_gives_the_same_weights(self, torch, name):
        """Same initial weights, same data, 30 steps with autograd on both sides."""
        from tinytorch.activations import Tanh
        from tinytorch.layers import Linear, Sequential

        ours = {"sgd": lambda ps: SGD(ps, lr=0.1), "momentum": lambda ps: SGD(ps, lr=0.05, momentum=0.9),
                "nesterov": lambda ps: SGD(ps, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3),
                "adam": lambda ps: Adam(ps, lr=0.01, weight_decay=1e-3),
                "adamw": lambda ps: AdamW(ps, lr=0.01, weight_decay=0.1)}[name]
        theirs = {"sgd": lambda ps: torch.optim.SGD(ps, lr=0.1),
                  "momentum": lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9),
                  "nesterov": lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True,
                                                         weight_decay=1e-3),
                  "adam": lambda ps: torch.optim.Adam(ps, lr=0.01, weight_decay=1e-3),
                  "adamw": lambda ps: torch.optim.AdamW(ps, lr=0.01, weight_decay=0.1)}[name]
        rng = np.random.default_rng(0)
        x = rng.normal(size=(32, 4)).astype(np.float32)
        y = np.sin(x.sum(axis=1, keepdims=True)).astype(np.float32)
        model = Sequential(Linear(4, 8, rng=1), Tanh(), Linear(8, 1, rng=2))
        t_model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
        with torch.no_grad():
            for mine, layer in zip((model[0], model[2]), (t_model[0], t_model[2])):
                layer.weight.copy_(torch.from_numpy(mine.weight.data.T.copy()))
                layer.bias.copy_(torch.from_numpy(mine.bias.data))
        opt, t_opt = ours(model.parameters()), theirs(t_model.parameters())
        for _ in range(30):
            diff = model(Tensor(x)) - Tensor(y)
            loss = (diff * diff).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            t_loss = ((t_model(torch.from_numpy(x)) - torch.from_numpy(y)) ** 2).mean()
            t_opt.zero_grad()
            t_loss.backward()
            t_opt.step()
        assert abs(loss.item() - t_loss.item()) < 1e-4 * max(1.0, t_loss.item())
        for mine, layer in zip((model[0], model[2]), (t_model[0], t_model[2])):
            np.testing.assert_allclose(mine.weight.data, layer.weight.detach().numpy().T,
                                       rtol=1e-4, atol=1e-5)
            np.testing.assert_allclose(mine.bias.data, layer.bias.detach().numpy(), rtol=1e-4, atol=1e-5)


# --- mechanics: in place, preallocated, skipped, validated ---------------------------------------------


@pytest.fixture(params=["sgd", "momentum", "nesterov", "adam", "adamw"])
def make_optimizer(request):
    return {"sgd": lambda ps: SGD(ps, lr=0.1, weight_decay=0.1),
            "momentum": lambda ps: SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.1),
            "nesterov": lambda ps: SGD(ps, lr=0.1, momentum=0.9, nesterov=True),
            "adam": lambda ps: Adam(ps, lr=0.1, weight_decay=0.1),
            "adamw": lambda ps: AdamW(ps, lr=0.1)}[request.param]


class TestMechanics:
    def test_in_place_and_preallocated(self, make_optimizer):
        p = Tensor(np.ones((3, 2)), requires_grad=True)
        array = p.data
        opt = make_optimizer([p])
        state = [a for name in opt.state_names for a in getattr(opt, name)]
        assert all(a.shape == (3, 2) and a.dtype == np.float32 for a in state)
        grad = np.full((3, 2), 0.5, dtype=np.float32)
        for _ in range(3):
            p.grad = Tensor(grad)
            opt.step()
        assert p.data is array and p.data.dtype == np.float32
        assert all(a is b for a, b in zip(state, [a for n in opt.state_names for a in getattr(opt, n)]))
        np.testing.assert_array_equal(grad, 0.5)  # the gradient is never modified
        assert not np.allclose(p.data, 1.0)

    def test_skips_parameters_without_gradient(self, make_optimizer):
        a, b = Tensor(np.ones(2), requires_grad=True), Tensor(np.ones(2), requires_grad=True)
        opt = make_optimizer([a, b])
        before = opt.state_dict()
        a.grad = Tensor(np.ones(2))
        opt.step()
        np.testing.assert_array_equal(b.data, 1.0)
        assert not np.allclose(a.data, 1.0)
        after = opt.state_dict()
        for key in after:
            if key.endswith(".1"):
                np.testing.assert_array_equal(after[key], before[key])
        assert opt.steps.tolist() == [1, 0]

    @pytest.mark.parametrize("missing", [0, 1])
    def test_state_follows_the_position_in_params(self, make_optimizer, missing):
        """The parameter without a gradient first, then in the middle: the others' state and
        updates are those of the same optimizer run on each of them alone."""
        ps = [Tensor(np.full(2, 1.0 + k), requires_grad=True) for k in range(3)]
        opt = make_optimizer(ps)
        before = opt.state_dict()
        for _ in range(3):
            for k, p in enumerate(ps):
                p.grad = None if k == missing else Tensor(np.full(2, 0.5 * (k + 1), dtype=np.float32))
            opt.step()
        assert opt.steps.tolist() == [0 if k == missing else 3 for k in range(3)], \
            f"steps {opt.steps.tolist()} with parameter {missing} never given a gradient"
        after = opt.state_dict()
        for name in opt.state_names:
            np.testing.assert_array_equal(
                after[f"{name}.{missing}"], before[f"{name}.{missing}"],
                err_msg=f"{name}[{missing}] changed, yet parameter {missing} never had a gradient: state is "
                        "indexed by the position in self.params, not among the parameters with a gradient")
        np.testing.assert_array_equal(ps[missing].data, 1.0 + missing)
        for k in range(3):
            if k == missing:
                continue
            alone = Tensor(np.full(2, 1.0 + k), requires_grad=True)
            solo = make_optimizer([alone])
            for _ in range(3):
                alone.grad = Tensor(np.full(2, 0.5 * (k + 1), dtype=np.float32))
                solo.step()
            np.testing.assert_allclose(
                ps[k].data, alone.data, rtol=1e-6,
                err_msg=f"parameter {k} (parameter {missing} has no gradient) is not updated as if alone: "
                        "its state must be the one at its own position in self.params")

    def test_zero_grad(self, make_optimizer):
        ps = [Tensor(np.ones(2), requires_grad=True) for _ in range(3)]
        for p in ps:
            p.grad = Tensor(np.ones(2))
        make_optimizer(ps).zero_grad()
        assert all(p.grad is None for p in ps)

    def test_numpy_gradient_accepted(self):
        p = Tensor(np.ones(2), requires_grad=True)
        p.grad = np.array([1.0, 2.0])
        SGD([p], lr=0.5).step()
        np.testing.assert_allclose(p.data, [0.5, 0.0])

    def test_gradient_shape_mismatch(self, make_optimizer):
        p = Tensor(np.ones((2, 3)), requires_grad=True)
        p.grad = Tensor(np.ones(3))
        with pytest.raises(ValueError, match=r"\(2, 3\).*\(3,\)"):
            make_optimizer([p]).step()

    def test_generator_of_parameters_and_duplicates(self):
        from tinytorch.layers import Linear

        layer = Linear(3, 2)
        opt = SGD((p for p in layer.parameters()), lr=0.1)
        assert opt.params == [layer.weight, layer.bias]
        shared = Tensor(np.ones(2), requires_grad=True)
        opt = SGD([shared, shared], lr=0.5)
        assert len(opt.params) == 1
        shared.grad = Tensor(np.ones(2))
        opt.step()
        np.testing.assert_allclose(shared.data, 0.5)  # updated once, not twice

    def test_lr_can_change_between_steps(self):
        p = Tensor(np.zeros(1), requires_grad=True)
        opt = SGD([p], lr=1.0)
        p.grad = Tensor(np.ones(1))
        opt.step()
        opt.lr = 0.5
        opt.step()
        np.testing.assert_allclose(p.data, [-1.5])

    @pytest.mark.parametrize("make, match", [
        (lambda ps: SGD(ps, lr=-0.1), "learning rate"),
        (lambda ps: SGD(ps, lr=0.1, momentum=-0.5), "momentum"),
        (lambda ps: SGD(ps, lr=0.1, weight_decay=-1), "weight_decay"),
        (lambda ps: SGD(ps, lr=0.1, nesterov=True), "Nesterov"),
        (lambda ps: Adam(ps, betas=(1.0, 0.999)), "betas"),
        (lambda ps: Adam(ps, betas=(0.9, -0.1)), "betas"),
        (lambda ps: Adam(ps, eps=-1e-8), "eps"),
        (lambda ps: AdamW(ps, weight_decay=-0.1), "weight_decay"),
        (lambda ps: Adam(ps, lr=float("nan")), "learning rate"),
        (lambda ps: SGD([], lr=0.1), "empty"),
    ])
    def test_invalid_settings(self, make, match):
        with pytest.raises(ValueError, match=match):
            make([Tensor([1.0], requires_grad=True)])

    def test_invalid_params(self):
        with pytest.raises(TypeError, match="iterable"):
            SGD(Tensor([1.0], requires_grad=True), lr=0.1)
        with pytest.raises(TypeError, match="parameter 1 is a ndarray"):
            SGD([Tensor([1.0]), np.ones(2)], lr=0.1)

    def test_base_class_step_is_abstract(self):
        with pytest.raises(NotImplementedError):
            Optimizer([Tensor([1.0], requires_grad=True)], lr=0.1).step()

    def test_repr(self):
        assert repr(SGD([Tensor([1.0])], lr=0.1)) == "SGD(lr=0.1, 1 parameters)"


# --- state: memory, saving, resuming --------------------------------------------------------------------


class TestState:
    def test_memory_for_the_mnist_mlp(self):
        from tinytorch.layers import Linear, Sequential

        params = Sequential(Linear(784, 128), Linear(128, 10)).parameters()
        n = sum(p.size for p in params)
        assert n == 101_770
        assert SGD(params, lr=0.1).state_bytes() == 0
        assert SGD(params, lr=0.1, momentum=0.9).state_bytes() == 4 * n
        assert Adam(params).state_bytes() == AdamW(params).state_bytes() == 8 * n

    def test_state_dict_keys(self):
        ps = [Tensor(np.ones(2), requires_grad=True), Tensor(np.ones((2, 2)), requires_grad=True)]
        assert sorted(SGD(ps, lr=0.1).state_dict()) == ["lr", "steps"]
        assert sorted(SGD(ps, lr=0.1, momentum=0.9).state_dict()) == [
            "lr", "momentum_buffers.0", "momentum_buffers.1", "steps"]
        assert sorted(Adam(ps).state_dict()) == ["lr", "m.0", "m.1", "steps", "v.0", "v.1"]

    def test_state_dict_is_a_copy(self):
        p = Tensor(np.ones(2), requires_grad=True)
        opt = Adam([p])
        state = opt.state_dict()
        state["m.0"][...] = 7
        assert np.all(opt.m[0] == 0)

    @pytest.mark.parametrize("make", [lambda ps: SGD(ps, lr=0.1, momentum=0.9, nesterov=True),
                                      lambda ps: Adam(ps, lr=0.05), lambda ps: AdamW(ps, lr=0.05)])
    def test_resume_is_exact(self, make):
        rng = np.random.default_rng(0)
        grads = [rng.normal(size=(2, 3)) for _ in range(10)]
        full, _, _ = run(make, np.ones((2, 3)), grads)
        first, p, opt = run(make, np.ones((2, 3)), grads[:4])
        q = Tensor(p.data.copy(), requires_grad=True)
        resumed = make([q])
        resumed.lr = 123.0
        resumed.load_state_dict(opt.state_dict())
        for g in grads[4:]:
            q.grad = Tensor(g)
            resumed.step()
        np.testing.assert_allclose(q.data, full[-1], rtol=1e-6, atol=1e-7)

    def test_mismatch_names_key_and_shapes(self):
        opt = Adam([Tensor(np.ones(3), requires_grad=True)])
        other = Adam([Tensor(np.ones(4), requires_grad=True)])
        before = opt.state_dict()
        with pytest.raises(ValueError, match=r"'m\.0'.*\(4,\).*\(3,\)"):
            opt.load_state_dict(other.state_dict())
        for key, value in opt.state_dict().items():
            np.testing.assert_array_equal(value, before[key])

    def test_mismatch_in_parameter_count_or_kind(self):
        one = [Tensor(np.ones(3), requires_grad=True)]
        two = one + [Tensor(np.ones(3), requires_grad=True)]
        with pytest.raises(ValueError, match=r"missing \['m\.1', 'v\.1'\]"):
            Adam(two).load_state_dict(Adam(one).state_dict())
        with pytest.raises(ValueError, match="unexpected"):
            SGD(one, lr=0.1).load_state_dict(Adam(one).state_dict())


# --- choosing an optimizer (the DESIGN task of section 4): judged by behaviour only ---------------------


def valley(lowest, highest, rotated, seed, n=8):
    rng = np.random.default_rng(seed)
    rotation = np.linalg.qr(rng.normal(size=(n, n)))[0] if rotated else np.eye(n)
    return rotation @ np.diag(np.geomspace(lowest, highest, n)) @ rotation.T, rng.normal(size=n)


def descend(lowest, highest, rotated, seed, steps=150):
    hessian, start = valley(lowest, highest, rotated, seed)
    p = Tensor(start, requires_grad=True)
    opt = choose_optimizer([p], lowest, highest)
    for _ in range(steps):
        p.grad = Tensor((hessian @ p.data.astype(np.float64)).astype(np.float32))
        opt.step()
    return float(np.linalg.norm(p.data) / np.linalg.norm(start)), opt


class TestChooseOptimizer:
    def test_returns_an_optimizer_over_the_params(self):
        ps = [Tensor(np.ones(3), requires_grad=True), Tensor(np.ones(2), requires_grad=True)]
        opt = choose_optimizer(ps, 0.5, 20.0)
        assert isinstance(opt, Optimizer) and opt.params == ps, f"{opt!r} over {len(opt.params)} parameters"

    @pytest.mark.parametrize("lowest, highest, rotated", [
        (1.0, 100.0, False), (1.0, 100.0, True), (0.01, 1.0, True), (10.0, 1000.0, True),
        (0.5, 20.0, False), (3.0, 3.0, True), (0.002, 0.2, True), (40.0, 4000.0, False), (0.2, 2.0, True)])
    @pytest.mark.parametrize("seed", [0, 1])
    def test_reaches_the_minimum_of_a_narrow_valley(self, lowest, highest, rotated, seed):
        ratio, opt = descend(lowest, highest, rotated, seed)
        assert np.isfinite(ratio) and ratio < 1.0, \
            f"{opt!r} diverged on curvatures {lowest:g} to {highest:g}: lr too large for the steepest one"
        assert ratio <= 1e-3, (f"{opt!r} left {ratio:.2e} of the starting distance after 150 steps on "
                               f"curvatures {lowest:g} to {highest:g}, needed 1e-3 or less")

    def test_invalid_curvatures(self):
        p = [Tensor(np.ones(2), requires_grad=True)]
        for lowest, highest in [(0.0, 1.0), (2.0, 1.0), (-1.0, 1.0)]:
            with pytest.raises(ValueError, match="curvature"):
                choose_optimizer(p, lowest, highest)
