"""Module 04 (losses) against the exported package: values, stability, targets, the op contract."""


import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tinytorch.losses import BCEWithLogitsLoss, BinaryCrossEntropyLoss, CrossEntropyLoss, MSELoss, log_softmax
from tinytorch.tensor import BACKWARD_RULES, Config, Tensor
from tinytorch.testing import replay_graph

MODULE_01_OPS = {"add", "sub", "mul", "div", "neg", "exp", "log", "sqrt", "pow", "matmul", "sum", "mean",
                 "max", "reshape", "transpose", "getitem"}

# --- float64 references ------------------------------------------------------------------------


def log_softmax_ref(z, axis=-1):
    z = np.asarray(z, np.float64)
    m = z.max(axis=axis, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(axis=axis, keepdims=True))


def cross_entropy_ref(z, y):
    """Mean of -log softmax(z) picked at the targets, by an explicit loop over rows."""
    logp = log_softmax_ref(z).reshape(-1, np.shape(z)[-1])
    flat = np.asarray(y).reshape(-1)
    return -np.mean([logp[i, flat[i]] for i in range(len(flat))])


def bce_ref(p, t, eps=1e-7):
    p = np.clip(np.asarray(p, np.float32), eps, 1 - eps).astype(np.float64)
    t = np.asarray(t, np.float64)
    return -np.mean(t * np.log(p) + (1 - t) * np.log(1 - p))


@pytest.fixture
def dummy_rules(monkeypatch):
    """Register throw-away rules for every op of modules 01 and 04 (restored afterwards)."""
    for name in MODULE_01_OPS | {"cross_entropy", "binary_cross_entropy"}:
        monkeypatch.setitem(BACKWARD_RULES, name, lambda grad, out, *inputs, **ctx: None)


def graph_ops(out):
    """Op names recorded in the graph behind `out`, and the ids of every tensor in it."""
    names, ids, stack = set(), set(), [out]
    while stack:
        node = stack.pop()
        ids.add(id(node))
        if node._op_name:
            names.add(node._op_name)
        stack.extend(node._inputs)
    return names, ids


# --- MSELoss ----------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(5,), (4, 3), (2, 3, 4), ()])
def test_mse_values(shape):
    rng = np.random.default_rng(len(shape))
    p, t = rng.normal(size=shape).astype(np.float32), rng.normal(size=shape).astype(np.float32)
    loss = MSELoss()(Tensor(p), t)
    assert isinstance(loss, Tensor) and loss.shape == ()
    assert loss.item() == pytest.approx(np.mean((p.astype(np.float64) - t) ** 2), rel=1e-5)


def test_mse_targets_as_tensor_array_list():
    p = Tensor([1.0, 2.0, 4.0])
    for t in ([0.0, 2.0, 1.0], np.array([0.0, 2.0, 1.0]), Tensor([0.0, 2.0, 1.0])):
        assert MSELoss()(p, t).item() == pytest.approx(10 / 3)


def test_mse_zero_for_perfect_prediction():
    p = Tensor(np.random.default_rng(1).normal(size=(3, 3)))
    assert MSELoss()(p, p.data.copy()).item() == 0.0


@pytest.mark.parametrize("pred_shape, target_shape",
                         [((4, 1), (4,)), ((4,), (4, 1)), ((2, 3), (3,)), ((3,), (4,))])
def test_mse_shape_mismatch_names_both_shapes(pred_shape, target_shape):
    with pytest.raises(ValueError) as err:
        MSELoss()(Tensor(np.zeros(pred_shape)), np.zeros(target_shape))
    assert str(pred_shape) in str(err.value) and str(target_shape) in str(err.value)


def test_mse_is_composed_of_tensor_ops(dummy_rules):
    pred = Tensor([[0.5, 1.0], [2.0, -1.0]], requires_grad=True)
    loss = MSELoss()(pred, np.zeros((2, 2)))
    names, ids = graph_ops(loss)
    assert id(pred) in ids, "the graph of MSELoss must reach pred"
    assert names and names <= MODULE_01_OPS, f"MSELoss should use only module 01 ops, used {names}"


# --- log_softmax ------------------------------------------------------------------------------


@pytest.mark.parametrize("dim", [0, 1, 2, -1, -2])
def test_log_softmax_values_any_dim(dim):
    z = (np.random.default_rng(2).normal(size=(3, 4, 5)) * 5).astype(np.float32)
    out = log_softmax(Tensor(z), dim=dim)
    assert out.shape == z.shape and out.dtype == np.float32
    np.testing.assert_allclose(out.data, log_softmax_ref(z, axis=dim), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.exp(out.data).sum(axis=dim), 1, atol=1e-5)


def test_log_softmax_default_dim_is_last():
    z = np.random.default_rng(3).normal(size=(2, 6)).astype(np.float32)
    np.testing.assert_array_equal(log_softmax(Tensor(z)).data, log_softmax(Tensor(z), dim=1).data)


def test_log_softmax_stable_and_exact(strict_numerics):
    with strict_numerics():
        out = log_softmax(Tensor([[1e4, -1e4, 0.0], [1e4, 1e4, 1e4], [-1e4, -1e4, -1e4]])).data
    np.testing.assert_allclose(out, [[0.0, -2e4, -1e4], [-np.log(3)] * 3, [-np.log(3)] * 3], rtol=1e-6)


def test_log_softmax_uses_module_01_ops_and_reaches_input(dummy_rules):
    x = Tensor([[1.0, 2.0, 0.5]], requires_grad=True)
    out = log_softmax(x)
    names, ids = graph_ops(out)
    assert id(x) in ids, f"the graph (ops {sorted(names)}) does not reach the input"
    # recomputed elsewhere with the .data constants held, the graph must still be log_softmax
    moved = np.array([[0.5, 2.5, -1.0]])
    again = replay_graph(out, x, moved)
    assert again is not None and np.allclose(again, log_softmax_ref(moved), atol=1e-5), \
        "a value from .data carries part of log_softmax's dependence on x: only the shift may be a constant"
    assert names <= MODULE_01_OPS and {"exp", "log", "sum"} <= names, f"ops recorded: {sorted(names)}"


@pytest.mark.parametrize("dim", [2, -3])
def test_log_softmax_bad_dim(dim):
    with pytest.raises(ValueError, match=r"\(2, 3\)"):
        log_softmax(Tensor(np.zeros((2, 3))), dim=dim)


@settings(max_examples=50, deadline=None)
@given(hnp.arrays(np.float32, hnp.array_shapes(min_dims=1, max_dims=3, max_side=6),
                  elements=st.floats(-1e4, 1e4, width=32)), st.data())
def test_property_log_softmax(strict_numerics, z, data):
    dim = data.draw(st.integers(-z.ndim, z.ndim - 1), label="dim")
    with strict_numerics():
        out = log_softmax(Tensor(z), dim=dim).data
    assert np.all(out <= 1e-6) and np.all(np.isfinite(out))
    np.testing.assert_allclose(out, log_softmax_ref(z, axis=dim), rtol=1e-5, atol=1e-4)


# --- CrossEntropyLoss: values ------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(1, 2), (8, 3), (16, 10), (2, 5, 7), (2, 2, 3, 4)])
def test_cross_entropy_equals_minus_log_softmax_at_targets(shape):
    rng = np.random.default_rng(sum(shape))
    z = (rng.normal(size=shape) * 3).astype(np.float32)
    y = rng.integers(0, shape[-1], size=shape[:-1])
    loss = CrossEntropyLoss()(Tensor(z), y)
    assert isinstance(loss, Tensor) and loss.shape == () and loss.dtype == np.float32
    assert loss.item() == pytest.approx(cross_entropy_ref(z, y), rel=1e-5, abs=1e-6)
    picked = np.take_along_axis(log_softmax(Tensor(z)).data, y[..., None], axis=-1)
    assert loss.item() == pytest.approx(-picked.mean(), rel=1e-5, abs=1e-6)


def test_cross_entropy_single_row_of_logits():
    z = np.array([1.0, 3.0, 0.0], dtype=np.float32)
    assert CrossEntropyLoss()(Tensor(z), np.array(1)).item() == pytest.approx(cross_entropy_ref(z[None], [1]))


def test_cross_entropy_is_a_mean_over_rows():
    rng = np.random.default_rng(9)
    z, y = rng.normal(size=(6, 4)).astype(np.float32), rng.integers(0, 4, size=6)
    rows = [CrossEntropyLoss()(Tensor(z[i:i + 1]), y[i:i + 1]).item() for i in range(6)]
    assert CrossEntropyLoss()(Tensor(z), y).item() == pytest.approx(np.mean(rows), rel=1e-6)


@pytest.mark.parametrize("classes", [1, 2, 10, 1000])
def test_cross_entropy_uniform_logits_give_log_c(classes):
    loss = CrossEntropyLoss()(Tensor(np.zeros((4, classes))), np.zeros(4, dtype=int))
    assert loss.item() == pytest.approx(np.log(classes), abs=1e-6)


def test_cross_entropy_stable_at_1e4(strict_numerics):
    z = Tensor([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4], [1e4, 1e4, 1e4]])
    with strict_numerics():
        losses = [CrossEntropyLoss()(Tensor(z.data[i:i + 1]), [y]).item()
                  for i, y in [(0, 0), (0, 1), (0, 2), (1, 1), (1, 0), (2, 2)]]
        batch = CrossEntropyLoss()(z, np.array([1, 0, 2])).item()
        low = CrossEntropyLoss()(Tensor([[1e4, -1e4], [-1e4, -1e4]]), np.array([0, 1])).item()
    np.testing.assert_allclose(losses, [0.0, 2e4, 1e4, np.log(2), 2e4 + np.log(2), np.log(3)], rtol=1e-6)
    assert batch == pytest.approx((2e4 + 2e4 + np.log(2) + np.log(3)) / 3, rel=1e-6)
    assert low == pytest.approx(np.log(2) / 2, rel=1e-6)  # each row shifted by its own maximum


def test_cross_entropy_float64_mode(monkeypatch):
    monkeypatch.setattr(Config, "dtype", np.float64)
    rng = np.random.default_rng(10)
    z, y = rng.normal(size=(5, 4)), rng.integers(0, 4, size=5)
    loss = CrossEntropyLoss()(Tensor(z), y)
    assert loss.dtype == np.float64
    assert loss.item() == pytest.approx(cross_entropy_ref(z, y), rel=1e-13)


def test_cross_entropy_does_not_modify_logits():
    z = np.array([[1.0, 2.0], [3.0, -1.0]], dtype=np.float32)
    logits = Tensor(z.copy())
    CrossEntropyLoss()(logits, [0, 1])
    assert np.array_equal(logits.data, z)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 8), st.integers(1, 10), st.data())
def test_property_cross_entropy(strict_numerics, n, c, data):
    z = data.draw(hnp.arrays(np.float32, (n, c), elements=st.floats(-1e4, 1e4, width=32)), label="logits")
    y = data.draw(hnp.arrays(np.int64, (n,), elements=st.integers(0, c - 1)), label="targets")
    with strict_numerics():
        loss = CrossEntropyLoss()(Tensor(z), y).item()
    assert np.isfinite(loss) and loss >= 0
    assert loss == pytest.approx(cross_entropy_ref(z, y), rel=1e-5, abs=1e-4)


# --- CrossEntropyLoss: targets -----------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint64])
def test_cross_entropy_integer_array_targets(dtype):
    z = np.array([[0.1, 2.0, -1.0], [1.5, 0.0, 0.3]], dtype=np.float32)
    y = np.array([1, 2], dtype=dtype)
    assert CrossEntropyLoss()(Tensor(z), y).item() == pytest.approx(cross_entropy_ref(z, [1, 2]), rel=1e-6)


def test_cross_entropy_tensor_and_list_targets_agree_with_array():
    z = Tensor(np.random.default_rng(12).normal(size=(5, 3)))
    y = np.array([0, 2, 1, 1, 0])
    want = CrossEntropyLoss()(z, y).item()
    assert CrossEntropyLoss()(z, Tensor(y)).item() == want
    assert CrossEntropyLoss()(z, y.tolist()).item() == want
    assert CrossEntropyLoss()(z, y.astype(np.float64)).item() == want


@pytest.mark.parametrize("targets, words", [
    (np.array([[0], [1], [2]]), ["(3, 4)", "(3,)", "(3, 1)"]),
    (np.array([0, 1]), ["(3, 4)", "(3,)", "(2,)"]),
    (np.array(1), ["(3,)", "()"]),
])
def test_cross_entropy_wrong_target_shape(targets, words):
    with pytest.raises(ValueError) as err:
        CrossEntropyLoss()(Tensor(np.zeros((3, 4))), targets)
    assert all(w in str(err.value) for w in words), str(err.value)


@pytest.mark.parametrize("targets, bad",
                         [([0, 4, 1], "4"), ([0, -1, 1], "-1"), (Tensor([7.0, 0.0, 0.0]), "7")])
def test_cross_entropy_out_of_range_target(targets, bad):
    with pytest.raises(IndexError) as err:
        CrossEntropyLoss()(Tensor(np.zeros((3, 4))), targets)
    message = str(err.value)
    assert f"target {bad}" in message and "4 classes" in message and "(3, 4)" in message


def test_cross_entropy_non_integer_targets():
    with pytest.raises(ValueError, match="whole numbers"):
        CrossEntropyLoss()(Tensor(np.zeros((2, 3))), Tensor([0.5, 1.0]))
    with pytest.raises(ValueError, match="whole numbers"):
        CrossEntropyLoss()(Tensor(np.zeros((2, 3))), np.array([np.nan, 1.0]))
    with pytest.raises(TypeError, match="dtype bool"):
        CrossEntropyLoss()(Tensor(np.zeros((2, 3))), np.array([True, False]))


def test_cross_entropy_bad_logits():
    with pytest.raises(ValueError, match="class axis"):
        CrossEntropyLoss()(Tensor(1.0), np.array(0))
    with pytest.raises(ValueError, match="empty"):
        CrossEntropyLoss()(Tensor(np.zeros((0, 3))), np.zeros(0, dtype=int))


# --- CrossEntropyLoss: the op contract ---------------------------------------------------------


def test_cross_entropy_op_and_ctx(dummy_rules):
    rng = np.random.default_rng(13)
    z = Tensor((rng.normal(size=(2, 3, 5)) * 4).astype(np.float32), requires_grad=True)
    y = rng.integers(0, 5, size=(2, 3))
    loss = CrossEntropyLoss()(z, Tensor(y))
    assert loss._op_name == "cross_entropy"
    assert len(loss._inputs) == 1 and loss._inputs[0] is z and loss.requires_grad
    assert set(loss._ctx) == {"probs", "targets"}
    probs, targets = loss._ctx["probs"], loss._ctx["targets"]
    assert probs.shape == z.shape and probs.dtype == z.dtype
    np.testing.assert_allclose(probs, np.exp(log_softmax_ref(z.data)), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(probs.sum(axis=-1), 1, atol=1e-6)
    assert isinstance(targets, np.ndarray) and targets.dtype.kind == "i"
    assert np.array_equal(targets, y)


def test_cross_entropy_no_graph_for_constants(dummy_rules):
    loss = CrossEntropyLoss()(Tensor([[1.0, 2.0]]), [0])
    assert loss._inputs == () and not loss.requires_grad


# --- BinaryCrossEntropyLoss --------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(6,), (4, 1), (2, 3, 2)])
def test_bce_values(shape):
    rng = np.random.default_rng(sum(shape))
    p = rng.uniform(0.01, 0.99, size=shape).astype(np.float32)
    t = (rng.uniform(size=shape) > 0.5).astype(np.float32)
    loss = BinaryCrossEntropyLoss()(Tensor(p), t)
    assert isinstance(loss, Tensor) and loss.shape == () and loss.dtype == np.float32
    assert loss.item() == pytest.approx(bce_ref(p, t), rel=1e-5)


def test_bce_soft_targets_and_tensor_target():
    p, t = np.array([0.2, 0.7, 0.5], dtype=np.float32), np.array([0.1, 0.9, 0.5], dtype=np.float32)
    assert BinaryCrossEntropyLoss()(Tensor(p), Tensor(t)).item() == pytest.approx(bce_ref(p, t), rel=1e-5)
    assert BinaryCrossEntropyLoss()(Tensor(p), t.tolist()).item() == pytest.approx(bce_ref(p, t), rel=1e-5)


def test_bce_minimum_is_the_entropy_of_the_target():
    """For a soft target t the loss is smallest at p = t."""
    t = 0.3
    ps = np.linspace(0.05, 0.95, 19)
    losses = [BinaryCrossEntropyLoss()(Tensor([p]), [t]).item() for p in ps]
    assert ps[int(np.argmin(losses))] == pytest.approx(t)


@pytest.mark.parametrize("eps", [1e-7, 1e-4, 0.1])
def test_bce_clamps_at_eps(eps, strict_numerics):
    p = np.array([0.0, 1.0, 0.0, 1.0], dtype=np.float32)
    t = np.array([0.0, 1.0, 1.0, 0.0], dtype=np.float32)
    with strict_numerics():
        loss = BinaryCrossEntropyLoss(eps=eps)(Tensor(p), t).item()
    assert np.isfinite(loss)
    assert loss == pytest.approx(bce_ref(p, t, eps=eps), rel=1e-5)
    assert loss == pytest.approx((-np.log(eps) - np.log1p(-eps)) / 2, rel=0.02)  # 1 - eps rounds in float32


def test_bce_float64_mode(monkeypatch):
    monkeypatch.setattr(Config, "dtype", np.float64)
    p, t = np.array([0.3, 0.8, 0.999999]), np.array([0.0, 1.0, 0.0])
    loss = BinaryCrossEntropyLoss()(Tensor(p), t)
    assert loss.dtype == np.float64
    want = -np.mean(t * np.log(p) + (1 - t) * np.log(1 - p))
    assert loss.item() == pytest.approx(want, rel=1e-12)


def test_bce_op_and_ctx(dummy_rules):
    pred = Tensor([[0.2, 0.9], [0.6, 0.0]], requires_grad=True)
    loss = BinaryCrossEntropyLoss(eps=1e-5)(pred, Tensor([[0.0, 1.0], [1.0, 0.0]]))
    assert loss._op_name == "binary_cross_entropy"
    assert len(loss._inputs) == 1 and loss._inputs[0] is pred and loss.requires_grad
    assert set(loss._ctx) == {"target", "eps"} and loss._ctx["eps"] == 1e-5
    target = loss._ctx["target"]
    assert isinstance(target, np.ndarray) and target.dtype == pred.dtype
    assert np.array_equal(target, [[0.0, 1.0], [1.0, 0.0]])


def test_bce_shape_mismatch_names_shapes():
    with pytest.raises(ValueError) as err:
        BinaryCrossEntropyLoss()(Tensor(np.full((4, 1), 0.5)), np.zeros(4))
    assert "(4, 1)" in str(err.value) and "(4,)" in str(err.value)


@pytest.mark.parametrize("pred", [[1.5, 0.5], [-0.1, 0.5], [3.0, -2.0]])
def test_bce_rejects_logits(pred):
    with pytest.raises(ValueError, match="Sigmoid"):
        BinaryCrossEntropyLoss()(Tensor(pred), [1.0, 0.0])


@pytest.mark.parametrize("pred, count, first", [([0.5, np.nan], "1 of 2", "(1,)"),
                                                 ([[0.2, 0.3], [np.nan, 1.5]], "1 of 4", "(1, 0)"),
                                                 ([np.nan, np.nan, 0.5], "2 of 3", "(0,)")])
def test_bce_nan_predictions_say_nan(pred, count, first):
    """NaN is not a logit: the message says NaN, how many and where, not 'apply Sigmoid first'."""
    with pytest.raises(ValueError) as err:
        BinaryCrossEntropyLoss()(Tensor(pred), np.zeros(np.shape(pred)))
    message = str(err.value)
    assert "NaN in its predictions" in message and count in message and first in message, message
    assert "Sigmoid" not in message, message


def test_bce_nan_targets_say_nan():
    with pytest.raises(ValueError) as err:
        BinaryCrossEntropyLoss()(Tensor([0.5, 0.5, 0.5]), [1.0, np.nan, 0.0])
    assert "NaN in its targets" in str(err.value) and "(1,)" in str(err.value), str(err.value)


def test_bce_rejects_targets_outside_unit_interval():
    with pytest.raises(ValueError, match="targets"):
        BinaryCrossEntropyLoss()(Tensor([0.5, 0.5]), [2.0, 0.0])


@pytest.mark.parametrize("eps", [0.0, -1e-3, 0.5, 1e-9])
def test_bce_rejects_bad_eps(eps):
    with pytest.raises(ValueError, match="eps"):
        BinaryCrossEntropyLoss(eps=eps)


@settings(max_examples=50, deadline=None)
@given(hnp.arrays(np.float32, hnp.array_shapes(min_dims=1, max_dims=3, max_side=6),
                  elements=st.floats(0, 1, width=32)), st.data())
def test_property_bce(strict_numerics, p, data):
    t = data.draw(hnp.arrays(np.float32, p.shape, elements=st.floats(0, 1, width=32)), label="target")
    with strict_numerics():
        loss = BinaryCrossEntropyLoss()(Tensor(p), t).item()
    assert np.isfinite(loss) and loss >= 0
    assert loss == pytest.approx(bce_ref(p, t), rel=1e-4, abs=1e-6)


# --- BCEWithLogitsLoss (the DESIGN task of section 6): judged by behaviour only ------------------

MODULE_05_OPS = MODULE_01_OPS | {"relu", "sigmoid", "tanh", "gelu", "softmax"}


def bce_logits_ref(x, t):
    x, t = np.asarray(x, np.float64), np.asarray(t, np.float64)
    return float(np.mean(np.logaddexp(0.0, x) - x * t))


@pytest.mark.parametrize("t", [0.0, 1.0, 0.25])
@pytest.mark.parametrize("x", [-1e4, -700.0, -100.0, -30.0, -17.0, -3.0, -1e-3, 0.0, 1e-3, 3.0, 17.0, 30.0,
                               100.0, 700.0, 1e4])
def test_bce_with_logits_exact_and_finite_everywhere(strict_numerics, x, t):
    with strict_numerics():
        got = BCEWithLogitsLoss()(Tensor([x]), [t]).item()
    want = bce_logits_ref([x], [t])
    capped = " (capped near -log(eps): sigmoid(x) rounds to 0 or 1)" if 15 < got < 16.2 else ""
    assert got == pytest.approx(want, rel=1e-6, abs=2e-6), \
        f"logit {x:g}, target {t:g}: got {got}, want {want}{capped}"


@settings(max_examples=50, deadline=None)
@given(hnp.arrays(np.float32, hnp.array_shapes(min_dims=1, max_dims=3, max_side=6),
                  elements=st.floats(-200, 200, width=32)), st.data())
def test_property_bce_with_logits(strict_numerics, x, data):
    t = data.draw(hnp.arrays(np.float32, x.shape, elements=st.floats(0, 1, width=32)), label="target")
    with strict_numerics():
        loss = BCEWithLogitsLoss()(Tensor(x), t)
    assert loss.shape == () and loss.dtype == np.float32, f"{loss!r}: a float32 scalar"
    want = bce_logits_ref(x, t)
    assert loss.item() == pytest.approx(want, rel=1e-5, abs=1e-5)


def test_bce_with_logits_agrees_with_bce_of_sigmoid_where_both_are_exact():
    rng = np.random.default_rng(30)
    x = rng.uniform(-6, 6, size=(5, 4)).astype(np.float32)
    t = rng.uniform(size=(5, 4)).astype(np.float32)
    p = 1 / (1 + np.exp(-x.astype(np.float64)))
    assert BCEWithLogitsLoss()(Tensor(x), t).item() == pytest.approx(bce_ref(p, t), rel=1e-4)


def test_bce_with_logits_builds_a_graph_module_05_can_differentiate(dummy_rules, monkeypatch):
    for name in MODULE_05_OPS:
        monkeypatch.setitem(BACKWARD_RULES, name, lambda grad, out, *inputs, **ctx: None)
    x = Tensor(np.array([[-2.0, 0.0, 30.0]]), requires_grad=True)
    out = BCEWithLogitsLoss()(x, np.array([[1.0, 0.0, 0.5]]))
    names, ids = graph_ops(out)
    assert names, "the loss records no graph: it was computed on .data and cannot train"
    assert names <= MODULE_05_OPS, f"ops with no backward rule in module 05: {sorted(names - MODULE_05_OPS)}"
    assert id(x) in ids, f"the graph (ops {sorted(names)}) does not reach the logits"
    moved = x.data.astype(np.float64) + np.array([[0.5, -0.25, 0.125]])
    again = replay_graph(out, x, moved)
    want = bce_logits_ref(moved, [[1.0, 0.0, 0.5]])
    assert again is not None and float(again) == pytest.approx(want, rel=1e-4, abs=1e-5), \
        (f"the graph recomputed at other logits, .data constants held, gives {again} where the loss is "
         f"{want:.6g}: a value from .data stands in for a function of x (such as |x|): wrong gradient")


def test_bce_with_logits_gradient_is_sigmoid_minus_target():
    """With module 05 in place: d loss / d x = (sigmoid(x) - t) / n, at x = 0 too."""
    pytest.importorskip("tinytorch.autograd")
    x = np.array([-1e4, -30.0, -2.0, 0.0, 0.0, 1.5, 30.0, 1e4], dtype=np.float32)
    t = np.array([0.0, 1.0, 0.3, 1.0, 0.0, 0.5, 0.0, 1.0], dtype=np.float32)
    logits = Tensor(x, requires_grad=True)
    BCEWithLogitsLoss()(logits, t).backward()
    want = (np.exp(-np.logaddexp(0.0, -x.astype(np.float64))) - t) / len(x)  # a sigmoid that cannot overflow
    got = np.asarray(logits.grad.data if isinstance(logits.grad, Tensor) else logits.grad)
    worst = int(np.argmax(np.abs(got - want)))
    assert np.allclose(got, want, atol=1e-6), (
        f"gradient at logit {x[worst]:g}, target {t[worst]:g}: got {got[worst]:.6g}, "
        f"want (sigmoid(x) - t)/n = {want[worst]:.6g}")


def test_bce_with_logits_checks_shapes_and_targets():
    with pytest.raises(ValueError, match=r"\(3,\).*\(3, 1\)"):
        BCEWithLogitsLoss()(Tensor(np.zeros(3)), np.zeros((3, 1)))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        BCEWithLogitsLoss()(Tensor(np.zeros(2)), [0.0, 2.0])


def test_bce_with_logits_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(24)
    x = (rng.normal(size=(10, 2)) * 20).astype(np.float32)
    t = rng.uniform(size=(10, 2)).astype(np.float32)
    bce_with_logits = torch.nn.functional.binary_cross_entropy_with_logits
    want = bce_with_logits(torch.from_numpy(x), torch.from_numpy(t)).item()
    assert BCEWithLogitsLoss()(Tensor(x), t).item() == pytest.approx(want, rel=1e-5)


def test_reprs():
    assert repr(MSELoss()) == "MSELoss()" and repr(CrossEntropyLoss()) == "CrossEntropyLoss()"
    assert repr(BinaryCrossEntropyLoss(eps=1e-4)) == "BinaryCrossEntropyLoss(eps=0.0001)"
    assert repr(BCEWithLogitsLoss()) == "BCEWithLogitsLoss()"


# --- PyTorch as an oracle (skipped when torch is not installed) ----------------------------------


def test_mse_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(20)
    p, t = rng.normal(size=(8, 3)).astype(np.float32), rng.normal(size=(8, 3)).astype(np.float32)
    want = torch.nn.functional.mse_loss(torch.from_numpy(p), torch.from_numpy(t)).item()
    assert MSELoss()(Tensor(p), t).item() == pytest.approx(want, rel=1e-6)


@pytest.mark.parametrize("shape", [(16, 10), (4, 1), (2, 7, 5)])
def test_cross_entropy_matches_torch(shape):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(21)
    z = (rng.normal(size=shape) * 5).astype(np.float32)
    z.flat[0] = 1e4
    y = rng.integers(0, shape[-1], size=shape[:-1])
    tz = torch.from_numpy(z)
    if tz.ndim > 2:  # PyTorch wants the class axis second: (N, C, d1, ...)
        tz = tz.movedim(-1, 1)
    want = torch.nn.functional.cross_entropy(tz, torch.from_numpy(y)).item()
    assert CrossEntropyLoss()(Tensor(z), y).item() == pytest.approx(want, rel=1e-5, abs=1e-6)


def test_log_softmax_matches_torch():
    torch = pytest.importorskip("torch")
    z = (np.random.default_rng(22).normal(size=(3, 4, 5)) * 50).astype(np.float32)
    for dim in (0, 1, -1):
        want = torch.log_softmax(torch.from_numpy(z), dim=dim).numpy()
        np.testing.assert_allclose(log_softmax(Tensor(z), dim=dim).data, want, rtol=1e-5, atol=1e-4)


def test_bce_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(23)
    p = rng.uniform(1e-3, 1 - 1e-3, size=(10, 2)).astype(np.float32)
    t = rng.uniform(size=(10, 2)).astype(np.float32)
    want = torch.nn.functional.binary_cross_entropy(torch.from_numpy(p), torch.from_numpy(t)).item()
    assert BinaryCrossEntropyLoss()(Tensor(p), t).item() == pytest.approx(want, rel=1e-5)
