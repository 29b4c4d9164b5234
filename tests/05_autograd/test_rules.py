"""Module 05: every backward rule of modules 01-04 checked with gradcheck (float64 central differences)."""

import operator

import numpy as np
import pytest

from tinytorch.activations import GELU, ReLU, Sigmoid, Softmax, Tanh
from tinytorch.autograd import backward, gradcheck
from tinytorch.losses import BinaryCrossEntropyLoss, CrossEntropyLoss, MSELoss, log_softmax
from tinytorch.tensor import BACKWARD_RULES, Tensor
from tinytorch.testing import raises

OPS_01_TO_04 = ["add", "sub", "mul", "div", "neg", "pow", "exp", "log", "sqrt", "matmul", "sum", "mean",
                "max", "reshape", "transpose", "getitem", "relu", "sigmoid", "tanh", "gelu", "softmax",
                "cross_entropy", "binary_cross_entropy"]


def leaf(shape, low=-1.0, high=1.0, seed=0, requires_grad=True):
    return Tensor(np.random.default_rng(seed).uniform(low, high, size=shape), requires_grad=requires_grad)


def distinct(shape, seed=0):
    """Values at least 0.1 apart, so max() has no ties and small perturbations keep the argmax."""
    n = int(np.prod(shape))
    return Tensor(np.random.default_rng(seed).permutation(n).reshape(shape) * 0.1 - 1.0, requires_grad=True)


def test_every_op_of_modules_01_to_04_has_a_rule():
    missing = [name for name in OPS_01_TO_04 if name not in BACKWARD_RULES]
    assert not missing, f"no backward rule for {missing}"


# --- arithmetic with broadcasting ----------------------------------------------------------------

BROADCAST_PAIRS = [((3, 4), (3, 4)), ((3, 4), (4,)), ((4,), (3, 4)), ((2, 3, 4), (3, 1)), ((4,), (2, 1, 4)),
                   ((), (2, 3)), ((2, 3), ()), ((2, 1, 4), (1, 3, 1)), ((1,), (5,))]


@pytest.mark.parametrize("name", ["add", "sub", "mul", "truediv"])
@pytest.mark.parametrize("sa,sb", BROADCAST_PAIRS)
def test_binary_ops_with_broadcasting(name, sa, sb):
    a = leaf(sa, seed=1)
    b = leaf(sb, 0.5, 2.0, seed=2) if name == "truediv" else leaf(sb, seed=2)
    assert gradcheck(getattr(operator, name), a, b)


@pytest.mark.parametrize("fn", [lambda x: x + 2, lambda x: 2 - x, lambda x: 3 * x, lambda x: x / 4,
                                lambda x: 1.5 / x, lambda x: -x, lambda x: x - x * x],
                         ids=["add-const", "rsub", "rmul", "div-const", "rdiv", "neg", "self-twice"])
def test_ops_with_constants(fn):
    assert gradcheck(fn, leaf((3, 4), 0.5, 2.0))


def test_only_one_operand_requires_grad():
    a, c = leaf((3, 4)), leaf((4,), 0.5, 2.0, requires_grad=False)
    assert gradcheck(lambda x, k: x * k - k / x.exp() + (x - k), a, c)
    out = a * c
    backward(out.sum())
    assert c.grad is None, "a constant receives no gradient"


# --- unary ops ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["exp", "log", "sqrt"])
def test_unary_ops(name):
    assert gradcheck(lambda x: getattr(x, name)(), leaf((2, 3, 4), 0.3, 3.0))


@pytest.mark.parametrize("p", [2, 3, 0.5, -1, -2.5, 1, 0])
def test_pow(p):
    assert gradcheck(lambda x: x ** p, leaf((3, 4), 0.3, 2.0))


def test_pow_zero_exponent_at_zero_is_zero_not_nan():
    x = Tensor([0.0, 1.0], requires_grad=True)
    backward((x ** 0).sum())
    assert np.array_equal(x.grad.data, [0.0, 0.0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pow_zero_exponent_gradient_has_grad_dtype(dtype):
    x = Tensor([0.0, 1.0, 2.0], requires_grad=True)
    (g,) = BACKWARD_RULES["pow"](np.ones(3, dtype=dtype), Tensor(np.ones(3)), x, exponent=0)
    assert g.dtype == dtype and np.array_equal(g, [0.0, 0.0, 0.0]), \
        f"x ** 0: gradient {g} of dtype {g.dtype}, expected zeros in grad's dtype {np.dtype(dtype)}"


# --- matmul -------------------------------------------------------------------------------------

MATMUL_SHAPES = [((4, 5), (5, 3)), ((2, 4, 5), (5, 3)), ((4, 5), (2, 5, 3)), ((2, 4, 5), (2, 5, 3)),
                 ((2, 1, 4, 5), (3, 5, 2)), ((5,), (5, 3)), ((4, 5), (5,)), ((5,), (5,)), ((5,), (2, 5, 3)),
                 ((2, 4, 5), (5,)), ((1, 5), (5, 1))]


@pytest.mark.parametrize("sa,sb", MATMUL_SHAPES)
def test_matmul(sa, sb):
    assert gradcheck(operator.matmul, leaf(sa, seed=1), leaf(sb, seed=2))


@pytest.mark.parametrize("sa,sb", [((2, 4, 5), (5, 3)), ((5,), (2, 5, 3))])
def test_matmul_with_one_constant_operand(sa, sb):
    assert gradcheck(operator.matmul, leaf(sa, seed=1), leaf(sb, seed=2, requires_grad=False))
    assert gradcheck(operator.matmul, leaf(sa, seed=1, requires_grad=False), leaf(sb, seed=2))


# --- reductions ---------------------------------------------------------------------------------

AXES = [(None, False), (None, True), (0, False), (-1, False), (1, True), ((0, 2), False), ((0, 2), True),
        ((-1, 0), False), ((0, 1, 2), False)]


@pytest.mark.parametrize("name", ["sum", "mean", "max"])
@pytest.mark.parametrize("axis,keepdims", AXES)
def test_reductions(name, axis, keepdims):
    x = distinct((2, 3, 4))
    assert gradcheck(lambda t: getattr(t, name)(axis=axis, keepdims=keepdims), x)


@pytest.mark.parametrize("name", ["sum", "mean"])
def test_reducing_an_empty_array_gives_an_empty_gradient(name):
    x = Tensor(np.zeros((0, 3)), requires_grad=True)
    backward(getattr(x, name)(axis=1), np.zeros(0, dtype=np.float32))
    assert x.grad.shape == (0, 3), f"{name}(axis=1) of a (0, 3) array: gradient shape {x.grad.shape}"


def test_reduction_of_a_scalar_and_a_vector():
    assert gradcheck(lambda t: t.sum() * t.mean(), leaf((), 0.5, 1.0))
    assert gradcheck(lambda t: t.max(axis=0) + t.mean(axis=0), distinct((5,)))


TIES = {"all": (None, [[1, 5, 3], [0, 2, 5]], [[0, 0.5, 0], [0, 0, 0.5]]),
        "rows": (1, [[1, 5, 3], [5, 2, 5]], [[0, 1, 0], [0.5, 0, 0.5]]),
        "columns": (0, [[1, 5, 3], [0, 2, 3]], [[1, 1, 0.5], [0, 0, 0.5]])}


@pytest.mark.parametrize("case", TIES)
def test_max_splits_the_gradient_evenly_among_ties(case):
    axis, values, want = TIES[case]
    x = Tensor(values, requires_grad=True)
    backward(x.max(axis=axis).sum())
    assert np.allclose(x.grad.data, want)


# --- shapes and indexing ------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(6, 4), (-1,), (4, 3, 2), (1, 24), (2, 3, 4)])
def test_reshape(shape):
    assert gradcheck(lambda t: t.reshape(shape) * leaf((24,), seed=5).reshape(shape), leaf((2, 3, 4)))


@pytest.mark.parametrize("dims", [(0, 1), (0, 2), (1, 2), (-1, -2), (0, 3)])
def test_transpose_swaps(dims):
    assert gradcheck(lambda t: t.transpose(*dims), leaf((2, 3, 4, 5)))


@pytest.mark.parametrize("axes", [(1, 2, 0), (2, 0, 1), (0, 2, 1), (3, 1, 0, 2)])
def test_transpose_full_permutation(axes):
    x = leaf((2, 3, 4) if len(axes) == 3 else (2, 3, 4, 5))
    assert gradcheck(lambda t: Tensor._op("transpose", t.data.transpose(axes), t, axes=axes), x)


def test_T_of_a_batch():
    assert gradcheck(lambda t: t.T @ t, leaf((2, 3, 4)))


INDICES = [1, -1, slice(1, 3), slice(None, None, -1), (Ellipsis, 2), (None, 1), (0, slice(1, None), 2),
           [0, 0, 2], np.array([[1, 0], [1, 1]]), (np.array([0, 1, 1]), slice(None), np.array([3, 0, 3])),
           (slice(None), [2, 2, 0]), np.array([True, False, True])]


@pytest.mark.parametrize("index", INDICES, ids=[repr(i).replace(" ", "") for i in INDICES])
def test_getitem(index):
    assert gradcheck(lambda t: t[index] * 1.5, leaf((3, 3, 4)))


def test_getitem_with_a_tensor_index_and_repeats():
    x = leaf((5, 3))
    idx = Tensor([4, 0, 4, 4])
    assert gradcheck(lambda t: t[idx], x)
    backward(x[idx].sum())
    assert np.allclose(x.grad.data[:, 0], [1, 0, 0, 0, 3]), "row 4 was picked three times"


def test_getitem_with_a_boolean_mask():
    x = leaf((3, 4))
    mask = x.data > 0
    backward(x[mask].sum())
    assert np.array_equal(x.grad.data, mask.astype(np.float32))


# --- activations (module 02) --------------------------------------------------------------------


@pytest.mark.parametrize("layer", [Sigmoid(), Tanh(), GELU()], ids=repr)
def test_smooth_activations(layer):
    assert gradcheck(layer, leaf((3, 5), -3.0, 3.0))


def test_relu_away_from_the_kink():
    x = Tensor(np.array([[-2.0, -0.5, 0.3], [1.2, -0.1, 0.7]]), requires_grad=True)
    assert gradcheck(ReLU(), x)


def test_relu_gradient_at_zero_is_zero():
    x = Tensor([0.0, -1.0, 2.0], requires_grad=True)
    backward(ReLU()(x).sum())
    assert np.array_equal(x.grad.data, [0.0, 0.0, 1.0])


@pytest.mark.parametrize("dim", [0, 1, -1, -3])
def test_softmax(dim):
    assert gradcheck(Softmax(dim=dim), leaf((2, 3, 4), -2.0, 2.0))


def jacobian_product(grad, s, axis):
    """Σᵢ gᵢ ∂sᵢ/∂xⱼ for softmax output `s` along `axis`, from each slice's full C×C Jacobian (float64)."""
    g = np.moveaxis(np.asarray(grad, np.float64), axis, -1)
    s = np.moveaxis(np.asarray(s, np.float64), axis, -1)
    jac = s[..., :, None] * (np.eye(s.shape[-1]) - s[..., None, :])  # [..., i, j] = sᵢ (δᵢⱼ − sⱼ)
    return np.moveaxis(np.einsum("...i,...ij->...j", g, jac), -1, axis)


def check_softmax_rule(rule, axis):
    """`rule` (a softmax backward rule) on a (3, 4) input along `axis`, against the full Jacobian;
    an AssertionError names the mistake it recognizes."""
    x = leaf((3, 4), -2.0, 2.0, seed=3)
    e = np.exp(x.data - x.data.max(axis=axis, keepdims=True))
    s = e / e.sum(axis=axis, keepdims=True)
    g = np.random.default_rng(4).uniform(-2.0, 2.0, size=(3, 4))
    want = jacobian_product(g, s, axis)
    (got,) = rule(g, Tensor(s), x, axis=axis)
    assert np.shape(got) == s.shape, \
        f"softmax(axis={axis}): a gradient of shape {np.shape(got)}, expected {s.shape}"
    if not np.allclose(got, want, atol=1e-6) and np.allclose(got * s, want, atol=1e-6):
        raise AssertionError(f"softmax(axis={axis}): the gradient lacks the factor s = out.data (times s "
                             f"element by element it is right): every term of ∂L/∂xⱼ = Σᵢ gᵢ sᵢ (δᵢⱼ − sⱼ) "
                             f"carries sⱼ")
    sums = np.abs(np.sum(got, axis=axis)).max()
    assert sums < 1e-6, f"softmax(axis={axis}): the gradient sums to {sums:.3g} along the axis, not 0"
    worst = np.unravel_index(np.argmax(np.abs(got - want)), s.shape)
    assert np.allclose(got, want, atol=1e-6), \
        f"softmax(axis={axis}): at {tuple(map(int, worst))} got {got[worst]:.6g}, expected {want[worst]:.6g}"


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_softmax_rule_against_the_full_jacobian(axis):
    check_softmax_rule(BACKWARD_RULES["softmax"], axis)


@pytest.mark.parametrize("axis", [0, 1])
def test_a_softmax_rule_without_the_factor_s_is_named(axis):
    def planted(grad, out, x, axis=-1):  # the right product divided by s: the factor s left out
        return (jacobian_product(grad, out.data, axis) / out.data,)

    raises(AssertionError, lambda: check_softmax_rule(planted, axis), "lacks the factor s")


def test_sigmoid_saturated_gradient_is_finite():
    x = Tensor([-100.0, 0.0, 100.0], requires_grad=True)
    backward(Sigmoid()(x).sum())
    assert np.all(np.isfinite(x.grad.data)) and np.allclose(x.grad.data, [0.0, 0.25, 0.0])


def test_sigmoid_rule_reads_only_the_saved_output():
    x = Tensor([-100.0, 0.0, 100.0], requires_grad=True)
    with np.errstate(all="raise"):  # recomputing exp(-x) overflows at -100; out.data needs no exponential
        (g,) = BACKWARD_RULES["sigmoid"](np.ones(3, dtype=np.float32), Tensor([0.0, 0.5, 1.0]), x)
    assert np.array_equal(g, [0.0, 0.25, 0.0]), f"sigmoid at -100, 0, 100: got {g.tolist()}, not [0, 0.25, 0]"


# --- losses (module 04) -------------------------------------------------------------------------


@pytest.mark.parametrize("shape,targets", [((4, 3), [0, 2, 1, 2]), ((2, 3, 5), [[0, 4, 4], [1, 2, 3]]),
                                           ((1, 2), [1])])
def test_cross_entropy(shape, targets):
    assert gradcheck(CrossEntropyLoss(), leaf(shape, -2.0, 2.0), np.array(targets))


def test_cross_entropy_gradient_is_probs_minus_onehot_over_n():
    logits = leaf((4, 3), -2.0, 2.0)
    targets = np.array([0, 2, 1, 2])
    backward(CrossEntropyLoss()(logits, targets))
    e = np.exp(logits.data - logits.data.max(axis=1, keepdims=True))
    probs = e / e.sum(axis=1, keepdims=True)
    assert np.allclose(logits.grad.data, (probs - np.eye(3)[targets]) / 4, atol=1e-6)


def test_cross_entropy_rule_leaves_ctx_probs_untouched():
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]], dtype=np.float32)
    saved = probs.copy()
    rule = BACKWARD_RULES["cross_entropy"]
    (g,) = rule(np.array(1.0, dtype=np.float32), Tensor(0.0), Tensor(np.zeros((2, 3))), probs=probs,
                targets=np.array([0, 2]))
    changed = [tuple(map(int, i)) for i in np.argwhere(probs != saved)]
    assert not changed, (f"the rule modified ctx['probs'] in place at {changed}: {probs.tolist()} instead of "
                         f"{saved.tolist()}; build a new array")
    assert np.allclose(g, [[-0.15, 0.1, 0.05], [0.05, 0.15, -0.2]], atol=1e-6), g


def test_cross_entropy_matches_log_softmax_composition():
    logits = leaf((5, 4), -2.0, 2.0)
    targets = np.array([3, 0, 1, 1, 2])
    fused = leaf((5, 4), -2.0, 2.0)
    backward(CrossEntropyLoss()(fused, targets))
    composed = -(log_softmax(logits)[np.arange(5), targets]).mean()
    backward(composed)
    assert np.allclose(fused.grad.data, logits.grad.data, atol=1e-6)


@pytest.mark.parametrize("soft", [False, True])
def test_binary_cross_entropy_inside_the_clamp(soft):
    rng = np.random.default_rng(3)
    target = rng.uniform(0, 1, size=(4, 3)) if soft else (rng.uniform(size=(4, 3)) > 0.5).astype(float)
    assert gradcheck(BinaryCrossEntropyLoss(), leaf((4, 3), 0.05, 0.95), target)


def test_binary_cross_entropy_clamped_region_keeps_a_clamp_consistent_gradient():
    eps = 1e-3
    pred = Tensor([0.0, 1.0, 0.5, 1e-4], requires_grad=True)
    target = np.array([1.0, 0.0, 1.0, 0.0])
    backward(BinaryCrossEntropyLoss(eps=eps)(pred, target))
    p = np.clip(pred.data.astype(np.float64), eps, 1 - eps)
    want = (p - target) / (p * (1 - p)) / 4
    assert np.all(np.isfinite(pred.grad.data))
    assert np.allclose(pred.grad.data, want, rtol=1e-4), "the formula evaluated at the clamped prediction"
    assert pred.grad.data[0] < 0 < pred.grad.data[1], "a confidently wrong prediction is still pushed back"


def test_mse_and_log_softmax_compositions():
    target = np.random.default_rng(1).normal(size=(3, 4))
    assert gradcheck(MSELoss(), leaf((3, 4)), target)
    assert gradcheck(lambda t: log_softmax(t, dim=0), leaf((3, 4), -2.0, 2.0))


# --- the rule contract: gradients in grad's dtype -----------------------------------------------


def every_op(a, b):
    """A scalar built from every op of modules 01-04 (a: (3, 4) in [0.5, 1.5], b: (4,))."""
    terms = [((a + b) * a - b / a - (-a)).sum(),
             (a ** 3 + (a * b).exp() + b.log() - a.sqrt()).sum(),
             (a @ b).reshape(3, 1).sum(),
             a.mean(axis=1).sum() + a.max(axis=0).sum(),
             a.transpose(1, 0)[[0, 0, 3], 1:].sum(),
             (Sigmoid()(a) + Tanh()(a) + GELU()(a) + ReLU()(a - 1.01) + Softmax(dim=1)(a)).sum(),
             CrossEntropyLoss()(a, np.array([0, 3, 1])),
             BinaryCrossEntropyLoss()(a / 2, np.ones((3, 4)))]
    total = terms[0]
    for term in terms[1:]:
        total = total + term
    return total


def test_every_rule_returns_gradients_in_the_dtype_of_grad(monkeypatch):
    """float32 in training, float64 inside gradcheck: a rule must follow `grad`, never fix a dtype."""
    seen = []

    def checked(name, rule):
        def wrapper(grad, out, *inputs, **ctx):
            result = rule(grad, out, *inputs, **ctx)
            seen.extend((name, grad.dtype, np.asarray(g).dtype) for g in result if g is not None)
            return result
        return wrapper

    for name in OPS_01_TO_04:
        monkeypatch.setitem(BACKWARD_RULES, name, checked(name, BACKWARD_RULES[name]))
    a, b = leaf((3, 4), 0.5, 1.5, seed=1), leaf((4,), 0.5, 1.5, seed=2)
    backward(every_op(a, b))
    assert gradcheck(every_op, a, b)
    assert {name for name, _, _ in seen} == set(OPS_01_TO_04), "every op's rule was exercised"
    assert {g for _, g, _ in seen} == {np.dtype(np.float32), np.dtype(np.float64)}, "both precisions were run"
    wrong = sorted({(name, str(g), str(r)) for name, g, r in seen if g != r})
    assert not wrong, f"rules returning another dtype than grad's (op, grad dtype, returned dtype): {wrong}"


@pytest.mark.parametrize("name,forward", [("add", np.add), ("sub", np.subtract), ("mul", np.multiply),
                                          ("div", np.divide), ("matmul", np.matmul)])
def test_binary_rules_skip_the_work_for_a_constant_input(name, forward):
    """A rule returns None for an input without requires_grad (no wasted matmul for the images)."""
    rule = BACKWARD_RULES[name]
    for a_grad, b_grad in ((True, False), (False, True)):
        a = leaf((3, 4), 0.5, 1.5, seed=1, requires_grad=a_grad)
        b = leaf((4, 2) if name == "matmul" else (4,), 0.5, 1.5, seed=2, requires_grad=b_grad)
        out = Tensor(forward(a.data, b.data))
        ga, gb = rule(np.ones(out.shape, dtype=np.float32), out, a, b)
        got = (type(ga).__name__, type(gb).__name__)
        assert (ga is None) != a_grad and (gb is None) != b_grad, \
            f"{name} with requires_grad=({a_grad}, {b_grad}) returned gradients of types {got}"


def test_cross_entropy_rule_follows_grad_dtype_when_probs_are_wider():
    probs = np.full((2, 3), 1 / 3)  # float64, e.g. computed inside gradcheck
    saved = probs.copy()
    (g,) = BACKWARD_RULES["cross_entropy"](np.array(1.0, dtype=np.float32), Tensor(0.0),
                                           Tensor(np.zeros((2, 3))), probs=probs, targets=np.array([0, 2]))
    assert g.dtype == np.float32, f"cross_entropy returned {g.dtype} for a float32 grad"
    np.testing.assert_allclose(g, [[-1 / 3, 1 / 6, 1 / 6], [1 / 6, 1 / 6, -1 / 3]], rtol=1e-6)
    np.testing.assert_array_equal(probs, saved)
