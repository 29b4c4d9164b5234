"""Module 16: the distillation loss against PyTorch's formulation, and its gradient."""

import numpy as np
import pytest

from tinytorch.autograd import gradcheck
from tinytorch.compression import distillation_loss
from tinytorch.losses import CrossEntropyLoss
from tinytorch.tensor import Tensor
from tinytorch.testing import close, raises


def _numpy_reference(student, teacher, targets, temperature, alpha):
    def log_softmax(z):
        z = z - z.max(axis=-1, keepdims=True)
        return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
    log_p, log_q = log_softmax(teacher / temperature), log_softmax(student / temperature)
    rows = student.size // student.shape[-1]
    kl = np.sum(np.exp(log_p) * (log_p - log_q)) / rows
    ce = -np.mean(np.take_along_axis(log_softmax(student), targets[..., None], axis=-1))
    return alpha * temperature ** 2 * kl + (1 - alpha) * ce


@pytest.mark.parametrize("temperature,alpha", [(1.0, 0.5), (4.0, 0.9), (3.0, 1.0), (2.5, 0.0)])
@pytest.mark.parametrize("shape", [(6, 10), (2, 3, 5)])
def test_matches_a_numpy_reference(temperature, alpha, shape):
    rng = np.random.default_rng(8)
    student, teacher = rng.normal(size=shape) * 3, rng.normal(size=shape) * 3
    targets = rng.integers(0, shape[-1], size=shape[:-1])
    got = distillation_loss(Tensor(student), teacher, targets, temperature, alpha).item()
    close(got, _numpy_reference(student, teacher, targets, temperature, alpha), atol=1e-5,
          what=f"T = {temperature}, alpha = {alpha}: alpha·T²·KL (sum over classes, mean over rows) + CE")


@pytest.mark.parametrize("temperature,alpha", [(1.0, 0.5), (4.0, 0.9), (10.0, 1.0), (2.5, 0.0)])
@pytest.mark.parametrize("shape", [(6, 10), (2, 3, 5)])
def test_matches_torch_forward_and_backward(temperature, alpha, shape):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(0)
    student = rng.normal(size=shape).astype(np.float32) * 3
    teacher = rng.normal(size=shape).astype(np.float32) * 5
    targets = rng.integers(0, shape[-1], size=shape[:-1])
    s = Tensor(student, requires_grad=True)
    loss = distillation_loss(s, teacher, targets, temperature, alpha)
    loss.backward()
    st = torch.tensor(student, requires_grad=True)
    C = shape[-1]
    soft = F.kl_div(F.log_softmax(st.reshape(-1, C) / temperature, dim=-1),
                    F.log_softmax(torch.tensor(teacher).reshape(-1, C) / temperature, dim=-1),
                    reduction="batchmean", log_target=True)
    hard = F.cross_entropy(st.reshape(-1, C), torch.tensor(targets).reshape(-1))
    expected = alpha * temperature ** 2 * soft + (1 - alpha) * hard
    expected.backward()
    close(loss.item(), expected.item(), atol=1e-5, rtol=1e-5, what="loss")
    close(s.grad.data, st.grad.numpy(), atol=1e-6, rtol=1e-4, what="gradient")


def test_gradcheck():
    rng = np.random.default_rng(1)
    teacher = rng.normal(size=(4, 6)) * 2
    targets = rng.integers(0, 6, size=4)
    student = Tensor(rng.normal(size=(4, 6)), requires_grad=True)
    assert gradcheck(lambda s: distillation_loss(s, teacher, targets, 3.0, 0.7), student)


def test_alpha_zero_is_cross_entropy_and_the_teacher_gets_no_gradient():
    rng = np.random.default_rng(2)
    student = Tensor(rng.normal(size=(5, 4)), requires_grad=True)
    teacher = Tensor(rng.normal(size=(5, 4)), requires_grad=True)
    targets = rng.integers(0, 4, size=5)
    close(distillation_loss(student, teacher, targets, 3.0, 0.0).item(),
          CrossEntropyLoss()(student, targets).item())
    distillation_loss(student, teacher, targets, 3.0, 0.5).backward()
    assert teacher.grad is None, "the teacher is a constant"


def test_t_squared_keeps_the_soft_gradient_the_same_size():
    rng = np.random.default_rng(3)
    student, teacher, targets = rng.normal(size=(8, 10)), rng.normal(size=(8, 10)), rng.integers(0, 10, 8)
    norms = []
    for temperature in (5.0, 20.0, 80.0):
        s = Tensor(student, requires_grad=True)
        distillation_loss(s, teacher, targets, temperature, 1.0).backward()
        norms.append(np.linalg.norm(s.grad.data))
    assert max(norms) / min(norms) < 1.1, f"gradient norms at T = 5, 20, 80: {norms}"


def test_extreme_logits_stay_finite(strict_numerics):
    student = Tensor(np.array([[500.0, -500.0, 0.0]]), requires_grad=True)
    teacher = np.array([[-800.0, 800.0, 0.0]])
    with strict_numerics():
        loss = distillation_loss(student, teacher, [1], 1.0, 0.5)
        loss.backward()
    assert np.isfinite(loss.item()) and np.all(np.isfinite(student.grad.data))


def test_each_teacher_row_is_shifted_by_its_own_maximum():
    """Rows far apart: one maximum for the whole batch would underflow the lower row to zeros."""
    student = np.array([[0.5, -0.5, 0.0], [1.0, 0.0, -1.0]])
    teacher = np.array([[3000.0, 2999.0, 2998.0], [0.0, 1.0, 2.0]])  # 1500 apart at T = 2: exp(-1500) is 0
    both = distillation_loss(Tensor(student), teacher, [0, 1], 2.0, 1.0).item()
    rows = [distillation_loss(Tensor(student[i:i + 1]), teacher[i:i + 1], [i], 2.0, 1.0).item()
            for i in (0, 1)]
    close(both, np.mean(rows), atol=1e-6, what="two rows 1500 apart at T = 2: the mean of each row's loss "
          "(shift each teacher row by its own maximum, not the batch's)")


def test_bad_arguments_are_named():
    s, t, y = Tensor(np.zeros((2, 3))), np.zeros((2, 3)), np.array([0, 1])
    raises(ValueError, lambda: distillation_loss(s, np.zeros((2, 4)), y), "shape")
    raises(ValueError, lambda: distillation_loss(s, t, y, temperature=-1.0), "temperature")
    raises(ValueError, lambda: distillation_loss(s, t, y, temperature=float("nan")), "temperature")
    raises(ValueError, lambda: distillation_loss(s, t, y, alpha=2.0), "alpha")
    raises(TypeError, lambda: distillation_loss(np.zeros((2, 3)), t, y), "Tensor")
    raises(IndexError, lambda: distillation_loss(s, t, np.array([0, 3])), "out of range")
