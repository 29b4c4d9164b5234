"""Module 07: clipping, schedules, metrics, checkpoints, progress bar and the Trainer."""

import io
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinytorch.autograd  # noqa: F401  (module 05 is a prerequisite: gradients must flow)
from tinytorch.activations import ReLU
from tinytorch.layers import Dropout, Linear, Module, Sequential, manual_seed
from tinytorch.losses import CrossEntropyLoss, MSELoss
from tinytorch.optimizers import SGD, Adam
from tinytorch.tensor import Config, Tensor
from tinytorch.training import (
    CosineAnnealingLR,
    LRScheduler,
    ProgressBar,
    StepLR,
    Trainer,
    _Meter,
    accuracy,
    clip_grad_norm,
    load_checkpoint,
    progress,
    save_checkpoint,
)


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


def with_grads(*grads):
    params = []
    for g in grads:
        p = Tensor(np.zeros(np.shape(g)), requires_grad=True)
        p.grad = None if g is None else Tensor(np.array(g))
        params.append(p)
    return params


# --- clip_grad_norm -----------------------------------------------------------------------------------


class TestClipGradNorm:
    @settings(max_examples=50, deadline=None)
    @given(seed=st.integers(0, 1000), max_norm=st.sampled_from([1e-3, 0.5, 1.0, 10.0, 1e3]))
    def test_against_numpy(self, seed, max_norm):
        rng = np.random.default_rng(seed)
        grads = [rng.normal(size=s) * rng.choice([0.01, 1, 100]) for s in [(3,), (2, 4), ()]]
        params = with_grads(*grads)
        total = clip_grad_norm(params, max_norm)
        want = np.sqrt(sum(np.sum(np.float32(g) ** 2, dtype=np.float64) for g in grads))
        assert total == pytest.approx(want, rel=1e-6), \
            f"return the global norm of all gradients, before clipping: {want:.6g}, got {total!r}"
        scale = min(1.0, max_norm / (want + 1e-6))
        for p, g in zip(params, grads):
            np.testing.assert_allclose(p.grad.data, np.float32(g) * scale, rtol=1e-5, err_msg=(
               f"every gradient scaled by one factor, min(1, max_norm / (global norm + 1e-6)) = {scale:.4g}"))

    @settings(max_examples=30, deadline=None)
    @given(seed=st.integers(0, 1000), max_norm=st.sampled_from([1e-4, 0.5, 3.0, 100.0]))
    def test_against_torch(self, torch, seed, max_norm):
        rng = np.random.default_rng(seed)
        grads = [rng.normal(size=s).astype(np.float32) for s in [(4,), (3, 2)]]
        params = with_grads(*grads)
        t_params = [torch.zeros(g.shape, requires_grad=True) for g in grads]
        for tp, g in zip(t_params, grads):
            tp.grad = torch.from_numpy(g.copy())
        t_total = torch.nn.utils.clip_grad_norm_(t_params, max_norm)
        assert clip_grad_norm(params, max_norm) == pytest.approx(float(t_total), rel=1e-5)
        for p, tp in zip(params, t_params):
            np.testing.assert_allclose(p.grad.data, tp.grad.numpy(), rtol=1e-5, atol=1e-8)

    def test_skips_missing_gradients_and_accepts_one_tensor(self):
        params = with_grads([3.0, 4.0], None)
        assert clip_grad_norm(params, 1.0) == pytest.approx(5.0)
        assert params[1].grad is None
        np.testing.assert_allclose(params[0].grad.data, [0.6, 0.8], rtol=1e-5)
        single = with_grads([6.0, 8.0])[0]
        assert clip_grad_norm(single, 5.0) == pytest.approx(10.0)
        assert clip_grad_norm(with_grads(None), 1.0) == 0.0

    def test_measures_in_float64(self):
        params = with_grads([3e20, 4e20])  # float32 holds 3e20, not its square
        total = clip_grad_norm(params, 1.0)
        assert np.isfinite(total), f"norm of (3e20, 4e20) overflowed to {total}: sum the squares in float64"
        assert total == pytest.approx(5e20, rel=1e-6)

    def test_epsilon_guard_like_pytorch(self):
        params = with_grads([3e-6, 4e-6])  # norm 5e-6
        assert clip_grad_norm(params, 1e-6) == pytest.approx(5e-6, rel=1e-5)
        np.testing.assert_allclose(params[0].grad.data, np.float32([3e-6, 4e-6]) / 6, rtol=1e-4,
                                   err_msg="scale by max_norm / (norm + 1e-6), as PyTorch does")

    def test_clipping_leaves_the_old_gradient_tensor_alone(self):
        params = with_grads([3.0, 4.0])
        old = params[0].grad
        clip_grad_norm(params, 1.0)
        np.testing.assert_array_equal(old.data, np.float32([3.0, 4.0]), err_msg=(
            "the gradient Tensor a parameter had before clipping keeps its values: the scaled values go "
            "into a new Tensor"))
        np.testing.assert_allclose(params[0].grad.data, [0.6, 0.8], rtol=1e-5)

    @pytest.mark.parametrize("values, max_norm", [([0.1, 0.2], 1.0), ([0.6, 0.8], 1.5)])
    def test_under_the_limit_is_untouched(self, values, max_norm):
        params = with_grads(values)
        grad = params[0].grad
        clip_grad_norm(params, max_norm)
        norm = np.linalg.norm(values)
        assert params[0].grad is grad, f"a gradient of norm {norm:.3g} under max_norm {max_norm} stays as is"
        np.testing.assert_array_equal(grad.data, np.float32(values))

    def test_accepts_a_generator(self):
        layer = Linear(3, 2)
        for p in layer.parameters():
            p.grad = Tensor(np.ones(p.shape))
        assert clip_grad_norm(layer.parameters(), 1.0) == pytest.approx(np.sqrt(8))
        assert clip_grad_norm((p for p in layer.parameters()), 10.0) == pytest.approx(1.0, rel=1e-5)


# --- schedulers ----------------------------------------------------------------------------------------


def our_rates(make, epochs, lr=0.1):
    opt = SGD([Tensor(np.zeros(1), requires_grad=True)], lr=lr)
    sched = make(opt)
    rates = []
    for _ in range(epochs):
        rates.append(opt.lr)
        sched.step()
    return rates, sched


def torch_rates(torch, make, epochs, lr=0.1):
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=lr)
    sched = make(opt)
    rates = []
    for _ in range(epochs):
        rates.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return rates


class TestSchedulers:
    @settings(max_examples=30, deadline=None)
    @given(step_size=st.integers(1, 5), gamma=st.sampled_from([0.1, 0.5, 0.9, 1.0]),
           epochs=st.integers(1, 20))
    def test_step_lr_against_torch(self, torch, step_size, gamma, epochs):
        ours, _ = our_rates(lambda o: StepLR(o, step_size, gamma), epochs)
        theirs = torch_rates(torch, lambda o: torch.optim.lr_scheduler.StepLR(o, step_size, gamma), epochs)
        np.testing.assert_allclose(ours, theirs, rtol=1e-9)

    @settings(max_examples=30, deadline=None)
    @given(t_max=st.integers(1, 10), eta_min=st.sampled_from([0.0, 1e-3, 0.05]), epochs=st.integers(1, 30))
    def test_cosine_against_torch(self, torch, t_max, eta_min, epochs):
        ours, _ = our_rates(lambda o: CosineAnnealingLR(o, t_max, eta_min), epochs)
        theirs = torch_rates(torch, lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, t_max, eta_min),
                             epochs)
        np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-12)

    def test_closed_forms(self):
        rates, sched = our_rates(lambda o: StepLR(o, step_size=2, gamma=0.5), 7, lr=1.0)
        assert rates == [1.0, 1.0, 0.5, 0.5, 0.25, 0.25, 0.125], \
            f"StepLR(step_size=2, gamma=0.5) from 1.0, halved after every 2 completed epochs: got {rates}"
        assert sched.get_last_lr() == 0.125 and sched.last_epoch == 7
        rates, _ = our_rates(lambda o: CosineAnnealingLR(o, T_max=2, eta_min=0.0), 5, lr=1.0)
        np.testing.assert_allclose(rates, [1.0, 0.5, 0.0, 0.5, 1.0], atol=1e-12,
                                   err_msg="CosineAnnealingLR(T_max=2): past T_max it rises (no clamping)")
        rates, _ = our_rates(lambda o: CosineAnnealingLR(o, T_max=4, eta_min=0.01), 6)
        np.testing.assert_allclose(
            rates, [0.1, 0.0868198052, 0.055, 0.0231801948, 0.01, 0.0231801948], atol=1e-9,
            err_msg="CosineAnnealingLR(T_max=4, eta_min=0.01) from 0.1: it glides to eta_min")

    def test_step_lr_restored_at_a_later_epoch(self):
        opt = SGD([Tensor(np.zeros(1), requires_grad=True)], lr=0.1)
        sched = StepLR(opt, step_size=3, gamma=0.5)
        sched.load_state_dict({"base_lr": np.array(0.1), "last_epoch": np.array(7)})
        assert opt.lr == pytest.approx(0.025), \
            f"StepLR restored at epoch 7 sets 0.1·0.5² = 0.025 from base_lr alone, got {opt.lr}"

    def test_state_round_trip(self):
        _, sched = our_rates(lambda o: CosineAnnealingLR(o, T_max=10, eta_min=0.001), 4)
        opt = SGD([Tensor(np.zeros(1), requires_grad=True)], lr=5.0)
        other = CosineAnnealingLR(opt, T_max=10, eta_min=0.001)
        other.load_state_dict(sched.state_dict())
        assert other.base_lr == 0.1 and other.last_epoch == 4
        assert opt.lr == pytest.approx(sched.optimizer.lr)

    def test_validation(self):
        opt = SGD([Tensor(np.zeros(1), requires_grad=True)], lr=0.1)
        with pytest.raises(ValueError, match="step_size"):
            StepLR(opt, 0)
        with pytest.raises(ValueError, match="T_max"):
            CosineAnnealingLR(opt, 0)
        with pytest.raises(TypeError, match="lr"):
            StepLR(object(), 1)
        with pytest.raises(NotImplementedError):
            LRScheduler(opt)


# --- metrics ----------------------------------------------------------------------------------------------


class TestAccuracy:
    def test_classes_are_the_last_axis_and_the_result_a_python_float(self):
        got = accuracy(np.eye(3)[[2, 2, 0]], np.array([2, 2, 0]))
        assert type(got) is float, f"a Python float, got {type(got).__name__}"
        assert got == 1.0, f"rows are examples, columns classes: 1.0, got {got} (argmax over the last axis)"
        sequences = np.stack([np.eye(3)[[2, 2, 0]], np.eye(3)[[1, 0, 1]]])
        got = accuracy(sequences, np.array([[2, 2, 0], [1, 0, 1]]))
        assert got == 1.0, f"(B, T, C) scores: the classes are the last axis: 1.0, got {got}"

    @settings(max_examples=40, deadline=None)
    @given(seed=st.integers(0, 1000), n=st.integers(1, 30), c=st.integers(2, 6))
    def test_class_scores(self, seed, n, c):
        rng = np.random.default_rng(seed)
        scores = rng.normal(size=(n, c))
        labels = rng.integers(0, c, size=n)
        assert accuracy(scores, labels) == pytest.approx(np.mean(scores.argmax(1) == labels))
        assert accuracy(Tensor(scores), Tensor(labels)) == pytest.approx(np.mean(scores.argmax(1) == labels))

    def test_binary_and_sequences(self):
        assert accuracy(np.array([0.9, 0.1, 0.7]), np.array([1, 0, 0])) == pytest.approx(2 / 3)
        assert accuracy(np.array([[0.9], [0.1]]), np.array([[1.0], [1.0]])) == 0.5
        assert accuracy(np.array([0.3, 0.6]), np.array([1, 1]), threshold=0.25) == 1.0
        scores = np.zeros((2, 3, 5))
        scores[..., 4] = 1
        assert accuracy(scores, np.full((2, 3), 4)) == 1.0
        assert isinstance(accuracy(scores, np.full((2, 3), 4)), float)

    @pytest.mark.parametrize("threshold", [0.5, 0.25, 0.8])
    def test_exactly_the_threshold_predicts_zero(self, threshold):
        got = accuracy(np.array([threshold, threshold, 0.9]), np.array([0, 0, 1]), threshold=threshold)
        assert got == 1.0, (f"a probability of exactly the threshold {threshold} is not above it, so it "
                            f"predicts 0: 1.0, got {got:.4f} (strictly greater: >, not >=)")

    @pytest.mark.parametrize("out, target, match", [
        (np.zeros((4, 3)), np.array([0.5, 1, 2, 0]), "integer class labels"),
        (np.zeros(4), np.array([0.2, 1.0, 0.0, 1.0]), "0/1 targets"),
        (np.zeros((4, 3)), np.zeros(5), r"\(4, 3\).*\(5,\)"),
        (np.zeros((4, 2)), np.zeros((4, 3)), "do not fit"),
    ])
    def test_errors(self, out, target, match):
        with pytest.raises(ValueError, match=match):
            accuracy(out, target)

    def test_meter_weights_by_size(self):
        meter = _Meter()
        assert meter.means() == {}
        meter.add({"loss": 2.0, "acc": 1.0}, 3)
        meter.add({"loss": 6.0, "acc": 0.0}, 1)
        assert meter.means() == {"loss": 3.0, "acc": 0.75}


# --- checkpoints -----------------------------------------------------------------------------------------


def trained_pair():
    model = Sequential(Linear(3, 4, rng=0), ReLU(), Linear(4, 2, rng=1))
    opt = Adam(model.parameters(), lr=0.01)
    for p in model.parameters():
        p.grad = Tensor(np.full(p.shape, 0.5))
    opt.step()
    opt.step()
    return model, opt


class TestCheckpoints:
    def test_round_trip(self, tmp_path):
        model, opt = trained_pair()
        sched = StepLR(opt, step_size=1, gamma=0.5)
        sched.step()
        path = tmp_path / "a" / "b" / "ckpt.npz"
        save_checkpoint(str(path), model, opt, sched, epoch=3, best=0.75, curve=np.arange(3.0))
        stray = sorted(set(os.listdir(path.parent)) - {"ckpt.npz"})
        assert not stray, f"a successful save left {stray} beside ckpt.npz" + (
            " (np.savez given a file name without .npz appends .npz: it wrote another file)"
            if any(name.endswith(".tmp.npz") for name in stray) else "")
        fresh, fresh_opt = Sequential(Linear(3, 4, rng=7), ReLU(), Linear(4, 2, rng=8)), None
        fresh_opt = Adam(fresh.parameters(), lr=1.0)
        fresh_sched = StepLR(fresh_opt, step_size=1, gamma=0.5)
        extra = load_checkpoint(path, fresh, fresh_opt, fresh_sched)
        assert extra["epoch"] == 3 and extra["best"] == 0.75
        np.testing.assert_array_equal(extra["curve"], [0.0, 1.0, 2.0])
        for a, b in zip(model.parameters(), fresh.parameters()):
            np.testing.assert_array_equal(a.data, b.data)
        for key, value in opt.state_dict().items():
            np.testing.assert_array_equal(fresh_opt.state_dict()[key], value)
        assert fresh_opt.lr == opt.lr == 0.005 and fresh_sched.last_epoch == 1

    def test_file_is_plain_npz_without_pickles(self, tmp_path):
        model, opt = trained_pair()
        save_checkpoint(tmp_path / "c.npz", model, opt)
        with np.load(tmp_path / "c.npz", allow_pickle=False) as data:
            assert "model/layers.0.weight" in data.files and "optimizer/m.0" in data.files
            assert data["model/layers.0.weight"].shape == (3, 4)

    def test_wrong_shape_names_parameter(self, tmp_path):
        model, _ = trained_pair()
        save_checkpoint(tmp_path / "c.npz", model)
        other = Sequential(Linear(3, 5), ReLU(), Linear(5, 2))
        before = [p.data.copy() for p in other.parameters()]
        with pytest.raises(ValueError, match=r"c\.npz.*layers\.0\.weight.*\(3, 5\).*\(3, 4\)"):
            load_checkpoint(tmp_path / "c.npz", other)
        for a, p in zip(before, other.parameters()):
            np.testing.assert_array_equal(a, p.data)

    def test_missing_and_unexpected_parameters(self, tmp_path):
        save_checkpoint(tmp_path / "c.npz", Sequential(Linear(3, 4), Linear(4, 2)))
        expected = (r"missing parameters \['layers\.2\.weight', 'layers\.2\.bias'\], "
                    r"unexpected entries \['layers\.1\.weight', 'layers\.1\.bias'\]")
        with pytest.raises(ValueError, match=expected):
            load_checkpoint(tmp_path / "c.npz", Sequential(Linear(3, 4), ReLU(), Linear(4, 2)))

    def test_all_or_nothing_when_the_optimizer_does_not_fit(self, tmp_path):
        model, opt = trained_pair()
        save_checkpoint(tmp_path / "c.npz", model, opt)
        target = Sequential(Linear(3, 4, rng=5), ReLU(), Linear(4, 2, rng=6))
        wrong_opt = SGD(target.parameters(), lr=0.1, momentum=0.9)
        before = [p.data.copy() for p in target.parameters()]
        with pytest.raises(ValueError, match="optimizer state does not match SGD"):
            load_checkpoint(tmp_path / "c.npz", target, wrong_opt)
        for a, p in zip(before, target.parameters()):
            np.testing.assert_array_equal(a, p.data)
        assert wrong_opt.lr == 0.1

    def test_asking_for_state_that_is_not_there(self, tmp_path):
        model, opt = trained_pair()
        save_checkpoint(tmp_path / "c.npz", model)
        with pytest.raises(ValueError, match="holds no optimizer state"):
            load_checkpoint(tmp_path / "c.npz", model, opt)

    def test_foreign_npz(self, tmp_path):
        np.savez(tmp_path / "foreign.npz", weights=np.ones(3))
        with pytest.raises(ValueError, match="not a TinyTorch checkpoint"):
            load_checkpoint(tmp_path / "foreign.npz", Linear(1, 1))

    def test_object_arrays_are_refused(self, tmp_path):
        np.savez(tmp_path / "evil.npz", **{"model/weight": np.array([{"a": 1}], dtype=object)})
        with pytest.raises(ValueError, match="pickle"):
            load_checkpoint(tmp_path / "evil.npz", Linear(1, 1, bias=False))

    def test_atomic_write_failure_keeps_old_file(self, tmp_path, monkeypatch):
        model, opt = trained_pair()
        path = tmp_path / "c.npz"
        save_checkpoint(path, model, epoch=1)
        old = path.read_bytes()

        def exploding_savez(handle, **arrays):
            handle.write(b"PK\x03\x04 partial")
            raise OSError("disk full")

        monkeypatch.setattr(np, "savez", exploding_savez)
        with pytest.raises(OSError, match="disk full"):
            save_checkpoint(path, model, opt, epoch=2)
        monkeypatch.undo()
        assert path.read_bytes() == old, "a failed save must leave the old checkpoint intact"
        assert os.listdir(tmp_path) == ["c.npz"], f"a failed save left {os.listdir(tmp_path)}"

    def test_path_holds_the_old_checkpoint_until_the_new_one_is_synced(self, tmp_path, monkeypatch):
        """Behaviour, not a recipe: while the arrays are written and when the bytes are synced,
        `path` still holds the old checkpoint; afterwards the new one, and nothing else is left."""
        model, opt = trained_pair()
        path = tmp_path / "c.npz"
        save_checkpoint(path, model, epoch=1)
        old = path.read_bytes()
        events = []
        real_savez, real_fsync = np.savez, os.fsync

        def spy_savez(file, **arrays):
            events.append(("write", path.read_bytes() == old))
            real_savez(file, **arrays)

        def spy_sync(fd):
            events.append(("sync", path.read_bytes() == old))
            real_fsync(fd)

        monkeypatch.setattr(np, "savez", spy_savez)
        monkeypatch.setattr(os, "fsync", spy_sync)
        if hasattr(os, "fdatasync"):
            monkeypatch.setattr(os, "fdatasync", spy_sync)
        save_checkpoint(path, model, opt, epoch=2)
        monkeypatch.undo()
        writes = [still_old for what, still_old in events if what == "write"]
        syncs = [still_old for what, still_old in events if what == "sync"]
        assert writes and all(writes), "while np.savez writes, `path` must still hold the old checkpoint"
        assert syncs, "the new bytes must be synced to the disk (os.fsync) before they appear at `path`"
        assert any(syncs), "synced only after the new checkpoint had appeared at `path`: sync first"
        assert os.listdir(tmp_path) == ["c.npz"], f"left in the folder: {os.listdir(tmp_path)}"
        assert load_checkpoint(path, Sequential(Linear(3, 4), ReLU(), Linear(4, 2)))["epoch"] == 2

    @pytest.mark.parametrize("stage", ["savez", "interrupt", "fsync"])
    def test_every_failure_keeps_the_old_file_and_leaves_nothing(self, tmp_path, monkeypatch, stage):
        model, opt = trained_pair()
        path = tmp_path / "c.npz"
        save_checkpoint(path, model, epoch=1)
        old = path.read_bytes()

        def half_then_full(file, **arrays):
            if hasattr(file, "write"):
                file.write(b"PK\x03\x04 partial")
            else:  # a name: np.savez would write name + ".npz"
                Path(str(file) if str(file).endswith(".npz") else f"{file}.npz").write_bytes(b"partial")
            raise OSError("No space left on device")

        def interrupted(file, **arrays):
            raise KeyboardInterrupt("Ctrl-C during the write")

        def failing_sync(fd):
            raise OSError("Input/output error")

        error, fragment = {"savez": (OSError, "No space"), "interrupt": (KeyboardInterrupt, "Ctrl-C"),
                           "fsync": (OSError, "Input/output")}[stage]
        if stage == "savez":
            monkeypatch.setattr(np, "savez", half_then_full)
        elif stage == "interrupt":
            monkeypatch.setattr(np, "savez", interrupted)
        else:
            monkeypatch.setattr(os, "fsync", failing_sync)
            if hasattr(os, "fdatasync"):
                monkeypatch.setattr(os, "fdatasync", failing_sync)
        with pytest.raises(error, match=fragment):
            save_checkpoint(path, model, opt, epoch=2)
        monkeypatch.undo()
        assert os.listdir(tmp_path) == ["c.npz"], f"{stage}: the failed save left {os.listdir(tmp_path)}"
        assert path.read_bytes() == old, f"{stage}: a failed save must leave the old checkpoint intact"


# --- progress bar ------------------------------------------------------------------------------------------


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


class TestProgressBar:
    """Only the control characters and the number of lines are checked, never the wording."""

    def test_plain_output_when_not_a_terminal(self):
        out = io.StringIO()
        for _ in progress(range(50), desc="work", file=out):
            pass
        text = out.getvalue()
        assert "\r" not in text and "\033" not in text
        assert text.count("\n") == 1

    def test_redraws_in_place_on_a_terminal(self):
        out = FakeTerminal()
        bar = ProgressBar(total=3, file=out, min_interval=0.0)
        for _ in range(3):
            bar.update(loss=0.5)
        bar.close(loss=0.25)
        text = out.getvalue()
        assert text.count("\r") == 4 and text.endswith("\n") and text.count("\n") == 1

    def test_throttled_on_a_terminal(self):
        out = FakeTerminal()
        bar = ProgressBar(total=10_000, file=out, min_interval=3600)
        for _ in range(10_000):
            bar.update()
        bar.close()
        assert out.getvalue().count("\r") == 2  # the first draw and the final line

    def test_disabled_prints_nothing_and_close_is_idempotent(self):
        out = FakeTerminal()
        with ProgressBar(total=2, file=out, enabled=False) as bar:
            bar.update()
        bar.close()
        assert out.getvalue() == ""
        plain = io.StringIO()
        bar = ProgressBar(file=plain)
        bar.close()
        bar.close()
        assert plain.getvalue().count("\n") == 1

    def test_progress_yields_everything_without_len(self):
        out = io.StringIO()
        assert list(progress((i for i in range(5)), file=out)) == [0, 1, 2, 3, 4]

    def test_defaults_to_stdout(self, capsys):
        list(progress(range(3)))
        assert capsys.readouterr().out.count("\n") == 1


# --- the Trainer ----------------------------------------------------------------------------------------


def blobs(n=120, seed=0):
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.normal(-2, 1, (n // 2, 2)), rng.normal(2, 1, (n // 2, 2))]).astype(np.float32)
    y = np.repeat([0, 1], n // 2)
    order = rng.permutation(n)
    return x[order], y[order]


def batched(x, y, size):
    return [(x[i:i + size], y[i:i + size]) for i in range(0, len(x), size)]


class Spy(Module):
    """Wraps a model; records training mode and grad mode at every forward."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner
        self.calls = []

    def forward(self, x):
        self.calls.append((self.training, Config.grad_enabled))
        return self.inner(x)


class TestTrainer:
    def test_gradients_do_not_leak_between_batches(self):
        x, y = blobs(40)
        model = Linear(2, 2, rng=0)
        seen = []

        class Recording(SGD):
            def step(self):
                grad = self.params[0].grad
                seen.append(None if grad is None else np.array(grad.data))
                super().step()

        trainer = Trainer(model, Recording(model.parameters(), lr=0.0), CrossEntropyLoss(), progress=False)
        trainer.train_epoch([(x[:10], y[:10])] * 3)
        assert all(g is not None and np.any(g) for g in seen), \
            "optimizer.step() saw no gradient (None or zeros): clear gradients before backward(), not after"
        for later in seen[1:]:
            np.testing.assert_allclose(later, seen[0], rtol=1e-6, err_msg=(
                "the same batch (lr 0) must give the same gradient at every step: gradients accumulate, so "
                "clear them (zero_grad) before each backward()"))

    def test_clipping_happens_before_the_step(self):
        x, y = blobs(40)
        model = Linear(2, 2, rng=0)
        norms = []

        class Recording(SGD):
            def step(self):
                norms.append(np.sqrt(sum(np.sum(p.grad.data.astype(np.float64) ** 2)
                                         for p in self.params if p.grad is not None)))
                super().step()

        trainer = Trainer(model, Recording(model.parameters(), lr=0.1), CrossEntropyLoss(),
                          max_grad_norm=1e-3, progress=False)
        trainer.train_epoch(batched(x, y, 10))
        assert len(norms) == 4 and max(norms) <= 1e-3 * (1 + 1e-4), \
            f"clip after backward(), before step(): norms seen by step() {[float(n) for n in norms]}"

    def test_modes_and_no_graph_in_evaluate(self):
        x, y = blobs()
        spy = Spy(Sequential(Linear(2, 2, rng=0), Dropout(0.2)))
        trainer = Trainer(spy, SGD(spy.parameters(), lr=0.1), CrossEntropyLoss(), progress=False)
        spy.eval()  # train_epoch must switch a model in eval mode to training mode
        trainer.train_epoch(batched(x, y, 60))
        assert spy.calls == [(True, True), (True, True)], \
            f"train_epoch: every forward in training mode with grad on, (training, grad) seen: {spy.calls}"
        spy.calls.clear()
        spy.eval()
        trainer.evaluate(batched(x, y, 60))
        assert spy.calls == [(False, False), (False, False)], \
            f"evaluate: every forward in eval mode under no_grad(), (training, grad) seen: {spy.calls}"
        assert not spy.training, "evaluate() restores the mode the model was in"
        spy.train()
        trainer.evaluate(batched(x, y, 60))
        assert spy.training and Config.grad_enabled

    @pytest.mark.parametrize("start_in_training", [True, False])
    def test_evaluate_restores_the_mode_when_the_pass_raises(self, start_in_training):
        """A loss that rejects a batch must not leave the model stuck in eval mode (or grad mode off)."""
        x, y = blobs()
        model = Sequential(Linear(2, 2, rng=0), Dropout(0.2))
        model.train(start_in_training)
        trainer = Trainer(model, SGD(model.parameters(), lr=0.1), CrossEntropyLoss(), progress=False)
        with pytest.raises(IndexError, match="out of range"):
            trainer.evaluate([(x[:4], np.array([0, 1, 7, 0]))])  # class 7 of 2: the loss raises
        assert model.training is start_in_training and model.layers[1].training is start_in_training, \
            f"when the pass raises, evaluate() must still restore the mode (training={start_in_training})"
        assert Config.grad_enabled, "when the pass raises, grad mode must be on again"

    def test_evaluate_changes_nothing_and_weighs_batches(self):
        x, y = blobs(100)
        model = Sequential(Linear(2, 3, rng=0))
        opt = SGD(model.parameters(), lr=0.1)
        trainer = Trainer(model, opt, CrossEntropyLoss(), progress=False)
        before = [p.data.copy() for p in model.parameters()]
        result = trainer.evaluate(batched(x, y, 30))  # sizes 30, 30, 30, 10
        for a, p in zip(before, model.parameters()):
            np.testing.assert_array_equal(a, p.data)
        assert all(p.grad is None for p in model.parameters())
        out = model(Tensor(x))
        assert result["loss"] == pytest.approx(CrossEntropyLoss()(out, y).item(), rel=1e-5)
        assert result["accuracy"] == pytest.approx(accuracy(out, y))

    def test_matches_a_hand_written_torch_loop(self, torch):
        """Clip, step and schedule in the right order: same weights as PyTorch after 3 epochs."""
        x, y = blobs(64)
        data = batched(x, y, 16)
        model = Sequential(Linear(2, 4, rng=0), ReLU(), Linear(4, 2, rng=1))
        t_model = torch.nn.Sequential(torch.nn.Linear(2, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
        with torch.no_grad():
            for mine, layer in zip((model[0], model[2]), (t_model[0], t_model[2])):
                layer.weight.copy_(torch.from_numpy(mine.weight.data.T.copy()))
                layer.bias.copy_(torch.from_numpy(mine.bias.data))
        opt = SGD(model.parameters(), lr=0.5, momentum=0.9)
        trainer = Trainer(model, opt, CrossEntropyLoss(), scheduler=StepLR(opt, 1, 0.5),
                          max_grad_norm=0.3, progress=False)
        trainer.fit(data, epochs=3)
        t_opt = torch.optim.SGD(t_model.parameters(), lr=0.5, momentum=0.9)
        t_sched = torch.optim.lr_scheduler.StepLR(t_opt, 1, 0.5)
        for _ in range(3):
            for xb, yb in data:
                loss = torch.nn.functional.cross_entropy(t_model(torch.from_numpy(xb)), torch.from_numpy(yb))
                t_opt.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(t_model.parameters(), 0.3)
                t_opt.step()
            t_sched.step()
        for mine, layer in zip((model[0], model[2]), (t_model[0], t_model[2])):
            np.testing.assert_allclose(mine.weight.data, layer.weight.detach().numpy().T,
                                       rtol=1e-4, atol=1e-5)
            np.testing.assert_allclose(mine.bias.data, layer.bias.detach().numpy(), rtol=1e-4, atol=1e-5)

    def test_regression_with_custom_metrics(self):
        rng = np.random.default_rng(0)
        x = rng.normal(size=(64, 3)).astype(np.float32)
        y = (x @ np.array([[1.0], [-1.0], [2.0]]) + 0.5).astype(np.float32)
        model = Linear(3, 1, rng=0)
        mae = lambda out, target: float(np.mean(np.abs(out.data - target)))
        trainer = Trainer(model, Adam(model.parameters(), lr=0.1), MSELoss(), metrics={"mae": mae},
                          progress=False)
        history = trainer.fit(batched(x, y, 16), epochs=40)
        assert list(history) == ["lr", "loss", "mae"]
        assert history["loss"][-1] < 1e-3 and history["mae"][-1] < 0.05
        with pytest.raises(ValueError, match="metrics=\\{\\}"):
            plain = Trainer(model, SGD(model.parameters(), lr=0.1), MSELoss(), progress=False)
            plain.evaluate(batched(x, y, 16))

    def test_accepts_tensor_batches(self):
        x, y = blobs(40)
        model = Linear(2, 2, rng=0)
        trainer = Trainer(model, SGD(model.parameters(), lr=0.1), CrossEntropyLoss(), progress=False)
        result = trainer.train_epoch([(Tensor(x), Tensor(y))])
        assert set(result) == {"loss", "accuracy"}

    def test_generators_are_refused_after_the_first_epoch(self):
        x, y = blobs(40)
        model = Linear(2, 2, rng=0)
        trainer = Trainer(model, SGD(model.parameters(), lr=0.1), CrossEntropyLoss(), progress=False)
        with pytest.raises(ValueError, match="re-iterable"):
            trainer.fit(((x[i:i + 10], y[i:i + 10]) for i in range(0, 40, 10)), epochs=2)
        with pytest.raises(ValueError, match="no batches"):
            trainer.evaluate([])

    def test_history_and_schedule(self):
        x, y = blobs()
        data = batched(x, y, 32)
        model = Sequential(Linear(2, 8, rng=0), ReLU(), Linear(8, 2, rng=1))
        opt = SGD(model.parameters(), lr=0.2, momentum=0.9)
        trainer = Trainer(model, opt, CrossEntropyLoss(), scheduler=StepLR(opt, 2, 0.5), progress=False)
        history = trainer.fit(data, epochs=5, val_data=data)
        assert list(history) == ["lr", "loss", "accuracy", "val_loss", "val_accuracy"]
        assert history["lr"] == [0.2, 0.2, 0.1, 0.1, 0.05]
        assert all(len(v) == 5 for v in history.values())
        assert history["val_accuracy"][-1] > 0.95 and history["loss"][-1] < history["loss"][0]
        assert all(isinstance(v, float) for v in history["loss"])
        trainer.fit(data, epochs=2)
        assert trainer.epoch == 7 and len(history["lr"]) == 7 and len(history["val_loss"]) == 5

    def test_progress_output_is_one_line_per_pass_off_a_terminal(self, capsys):
        x, y = blobs(40)
        model = Linear(2, 2, rng=0)
        trainer = Trainer(model, SGD(model.parameters(), lr=0.1), CrossEntropyLoss())
        trainer.fit(batched(x, y, 10), epochs=2, val_data=batched(x, y, 20))
        out = capsys.readouterr().out
        assert out.count("\n") == 4 and "\r" not in out

    def test_save_and_load_resume_training(self, tmp_path):
        x, y = blobs()
        data = batched(x, y, 30)

        def make():
            manual_seed(0)
            model = Sequential(Linear(2, 6), ReLU(), Linear(6, 2))
            opt = Adam(model.parameters(), lr=0.05)
            return Trainer(model, opt, CrossEntropyLoss(), scheduler=CosineAnnealingLR(opt, 6),
                           progress=False)

        straight = make()
        straight.fit(data, epochs=6)
        first = make()
        first.fit(data, epochs=3)
        first.save(tmp_path / "t.npz")
        second = make()
        second.load(tmp_path / "t.npz")
        assert second.epoch == 3 and second.history == first.history
        assert second.optimizer.lr == first.optimizer.lr
        second.fit(data, epochs=3)
        assert second.history["loss"] == pytest.approx(straight.history["loss"], rel=1e-6)
        for a, b in zip(straight.model.parameters(), second.model.parameters()):
            np.testing.assert_allclose(a.data, b.data, rtol=1e-6, atol=1e-7)


@pytest.mark.timeout(120)
def test_tinydigits_end_to_end(tmp_path):
    from tinytorch.datasets import load_tinydigits

    x_train, y_train, x_test, y_test = load_tinydigits()
    train = batched(x_train.reshape(-1, 64), y_train, 32)
    test = batched(x_test.reshape(-1, 64), y_test, 256)
    manual_seed(0)
    model = Sequential(Linear(64, 128), ReLU(), Dropout(0.1), Linear(128, 10))
    opt = Adam(model.parameters(), lr=3e-3)
    trainer = Trainer(model, opt, CrossEntropyLoss(), scheduler=CosineAnnealingLR(opt, 20),
                      max_grad_norm=5.0, progress=False)
    history = trainer.fit(train, epochs=20, val_data=test)
    assert history["val_accuracy"][-1] > 0.93  # 96.1% with this seed; margin for other BLAS builds
    trainer.save(tmp_path / "digits.npz")
    manual_seed(1)
    clone = Sequential(Linear(64, 128), ReLU(), Dropout(0.1), Linear(128, 10))
    load_checkpoint(tmp_path / "digits.npz", clone)
    again = Trainer(clone, SGD(clone.parameters(), lr=0.0), CrossEntropyLoss(), progress=False)
    assert again.evaluate(test)["accuracy"] == history["val_accuracy"][-1]
