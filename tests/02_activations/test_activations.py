"""Module 02 (activations) against the exported package: values, stability, the op contract."""

import math
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tinytorch.activations import GELU, ReLU, Sigmoid, Softmax, Tanh
from tinytorch.tensor import Config, Tensor
from tinytorch.testing import close, ops_in_graph, raises, recording_ops

# --- float64 references, written independently of the implementations under test -------------


def relu_ref(a):
    return np.where(a > 0, a, 0.0)


def _sigmoid_one(v):
    # the textbook formula in plain Python floats: e^-v raises OverflowError past v = -709, where
    # the true value (below 1e-308) is 0 for every float32 purpose
    return 0.0 if v < -700 else 1 / (1 + math.exp(-v))


def sigmoid_ref(a):
    return np.vectorize(_sigmoid_one, otypes=[np.float64])(np.asarray(a, np.float64))


def tanh_ref(a):
    return np.vectorize(math.tanh, otypes=[np.float64])(np.asarray(a, np.float64))


def gelu_ref(a):
    a = np.asarray(a, np.float64)
    return 0.5 * a * (1 + np.tanh(np.sqrt(2 / np.pi) * (a + 0.044715 * a**3)))


def softmax_ref(a, axis=-1):
    a = np.asarray(a, np.float64)
    e = np.exp(a - a.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


ELEMENTWISE = [(ReLU, relu_ref, "relu"), (Sigmoid, sigmoid_ref, "sigmoid"), (Tanh, tanh_ref, "tanh"),
               (GELU, gelu_ref, "gelu")]
ALL = [*ELEMENTWISE, (Softmax, softmax_ref, "softmax")]
IDS = [name for *_, name in ALL]


@pytest.fixture
def dummy_rules():
    """Register throw-away backward rules so `_op` records the graph (restored afterwards)."""
    with recording_ops("relu", "sigmoid", "tanh", "gelu", "softmax"):
        yield


# --- values ---------------------------------------------------------------------------------


def test_known_values():
    """One small case per activation, before any comparison over many values."""
    relu = ReLU()(Tensor([-1.0, 0.0, 2.0])).data
    assert np.array_equal(relu, [0.0, 0.0, 2.0]), f"ReLU([-1, 0, 2]) = {relu.tolist()}, expected [0, 0, 2]"
    s = Sigmoid()(Tensor([0.0, np.log(3.0), -np.log(3.0)])).data.tolist()
    assert s[0] == 0.5, f"sigmoid(0) = {s[0]:.9g}, expected exactly 0.5"
    assert s[1:] == pytest.approx([0.75, 0.25], rel=1e-6), \
        f"sigmoid(ln 3), sigmoid(-ln 3) = {s[1]:.6g}, {s[2]:.6g}; expected 0.75, 0.25"
    t = Tanh()(Tensor([0.0, np.log(2.0), -np.log(2.0)])).data.tolist()
    assert t == pytest.approx([0.0, 0.6, -0.6], rel=1e-6, abs=1e-7), f"tanh(0, ±ln 2) = {t}, not [0, ±0.6]"
    g = GELU()(Tensor([1.0, -1.0, 0.0])).data.tolist()
    assert g == pytest.approx([0.8411920, -0.1588080, 0.0], abs=1e-6), \
        f"GELU(1, -1, 0) = {[round(v, 7) for v in g]}, expected [0.841192, -0.158808, 0] (tanh approximation)"
    logits = Tensor([[0.0, np.log(3.0), 0.0], [np.log(3.0), 0.0, np.log(6.0)]])
    try:
        p = Softmax()(logits).data
    except ValueError as exc:
        pytest.fail(f"Softmax() of a (2, 3) tensor raised ValueError: {exc} (do the row maximum and sum keep "
                    "their axis, (2, 1)?)")
    want = [[0.2, 0.6, 0.2], [0.3, 0.1, 0.6]]
    close(p, want, rtol=1e-6, atol=1e-7, what="Softmax() of [[0, ln 3, 0], [ln 3, 0, ln 6]], row by row")


def test_gelu_is_close_to_exact_gelu():
    import math

    a = np.linspace(-6, 6, 241)
    exact = np.array([v * 0.5 * (1 + math.erf(v / math.sqrt(2))) for v in a])
    err = np.abs(GELU()(Tensor(a)).data - exact)
    assert err.max() < 1e-3


@pytest.mark.parametrize("cls, ref, name", ALL, ids=IDS)
def test_input_is_not_modified(cls, ref, name):
    a = np.array([[-2.0, 0.5, 3.0], [1.0, -1.0, 0.0]], dtype=np.float32)
    x = Tensor(a.copy())
    cls()(x)
    close(x, a, atol=0, rtol=0, what=f"the input of {name} afterwards (it must not change)")


@pytest.mark.parametrize("cls, ref, name", ALL, ids=IDS)
def test_float64_mode_keeps_precision(cls, ref, name, monkeypatch):
    """Inside gradcheck Config.dtype is float64: activations must not round through float32."""
    monkeypatch.setattr(Config, "dtype", np.float64)
    a = np.random.default_rng(3).normal(size=(3, 5)) * 2
    out = cls()(Tensor(a))
    assert out.dtype == np.float64
    close(out, ref(a), rtol=1e-12, atol=1e-14, what=f"{name} in float64 mode (rounded through float32?)")


# --- stability ------------------------------------------------------------------------------

def test_sigmoid_tails_keep_relative_accuracy(strict_numerics):
    """Your design (section 3): tiny but not zero; a loss takes the log of it."""
    tails = np.array([-15.0, -20.0, -40.0, -60.0, -80.0], dtype=np.float32)
    with strict_numerics():
        got = Sigmoid()(Tensor(tails)).data
    want = sigmoid_ref(tails)
    worst = int(np.argmax(np.abs(got - want) / want))
    assert abs(got[worst] - want[worst]) <= 1e-5 * want[worst], \
        f"sigmoid({tails[worst]:g}) = {got[worst]:.6g}, expected {want[worst]:.6g} (relative error > 1e-5)"


@pytest.mark.parametrize("v", [-3.4e38, -1e4, -1000.0, -89.0, 89.0, 1e4, 3.4e38])
def test_sigmoid_one_extreme_input_at_a_time(v, strict_numerics):
    try:
        with strict_numerics():
            out = Sigmoid()(Tensor([v])).data
    except (FloatingPointError, RuntimeWarning) as exc:
        pytest.fail(f"sigmoid({v:g}) raised {type(exc).__name__}: {exc} (a step overflows at this input)")
    assert 0.0 <= float(out[0]) <= 1.0, f"sigmoid({v:g}) = {float(out[0]):.6g}, outside [0, 1]"


def test_softmax_shifts_each_row_by_its_own_maximum(strict_numerics):
    try:
        with strict_numerics():
            p = Softmax()(Tensor([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4]])).data
    except (FloatingPointError, RuntimeWarning) as exc:
        overflow = "overflow" in str(exc)
        why = ("e^1e4 overflows unless each row is shifted by its maximum first" if overflow else
               "shifted by anything but its own maximum, the second row underflows to 0 / 0")
        pytest.fail(f"softmax of [[1e4, -1e4, 0], [-1e4, -1e4, -1e4]] raised {exc!r}: {why}")
    close(p, [[1, 0, 0], [1 / 3, 1 / 3, 1 / 3]], atol=1e-6, what="softmax of rows with different maxima")


def test_tanh_near_zero_keeps_relative_accuracy():
    small = np.array([1e-3, -2e-4, 3e-6, 1e-8], dtype=np.float32)
    got = Tanh()(Tensor(small)).data
    close(got, tanh_ref(small), rtol=1e-5, atol=0,
          what="tanh near 0, to a relative 1e-5 (does a step subtract numbers close to 1, or overflow?)")


EXTREMES = np.array([-1e4, -1000.0, -100.0, -88.0, -20.0, -1e-3, 0.0, 1e-3, 20.0, 88.0, 100.0, 1000.0, 1e4],
                    dtype=np.float32)


@pytest.mark.parametrize("cls, ref, name", ALL, ids=IDS)
def test_extreme_inputs_no_warning_no_nan(cls, ref, name, strict_numerics):
    with strict_numerics():
        out = cls()(Tensor(EXTREMES)).data
        out2d = cls()(Tensor(np.stack([EXTREMES, -EXTREMES]))).data
    assert np.all(np.isfinite(out)) and np.all(np.isfinite(out2d))
    np.testing.assert_allclose(out, ref(EXTREMES), rtol=1e-6, atol=1e-30)


@pytest.mark.parametrize("cls", [ReLU, Sigmoid, Tanh], ids=["relu", "sigmoid", "tanh"])
def test_float32_limits(cls, strict_numerics):
    big = np.finfo(np.float32).max
    with strict_numerics():
        out = cls()(Tensor([-big, big])).data
    assert np.all(np.isfinite(out))


def test_saturation_is_exact(strict_numerics):
    with strict_numerics():
        s = Sigmoid()(Tensor([-1e4, 1e4])).data
        t = Tanh()(Tensor([-1e4, 1e4])).data
        g = GELU()(Tensor([-1e4, 1e4])).data
        p = Softmax()(Tensor([[1e4, -1e4], [-1e4, 1e4], [1e4, 1e4], [-1e4, -1e4]])).data
    assert s.tolist() == [0.0, 1.0], f"sigmoid(-1e4), sigmoid(1e4) = {s.tolist()}, expected exactly [0, 1]"
    assert t.tolist() == [-1.0, 1.0], f"tanh(-1e4), tanh(1e4) = {t.tolist()}, expected exactly [-1, 1]"
    assert g.tolist() == [0.0, 1e4], f"GELU(-1e4), GELU(1e4) = {g.tolist()}, expected exactly [0, 1e4]"
    assert p.tolist() == [[1.0, 0.0], [0.0, 1.0], [0.5, 0.5], [0.5, 0.5]], f"softmax, ±1e4 rows: {p.tolist()}"


def test_naive_sigmoid_would_have_overflowed(strict_numerics):
    """Guards the test above: the textbook formula does overflow on these inputs."""
    with strict_numerics(), pytest.raises(FloatingPointError):
        1 / (1 + np.exp(-EXTREMES))


def test_softmax_large_equal_logits_are_uniform(strict_numerics):
    with strict_numerics():
        p = Softmax()(Tensor(np.full((2, 8), 1e4))).data
    np.testing.assert_allclose(p, 1 / 8, rtol=1e-6)


# --- values over many inputs (after the specific checks above) ------------------------------


@pytest.mark.parametrize("cls, ref, name", ALL, ids=IDS)
@pytest.mark.parametrize("shape", [(7,), (4, 5), (2, 3, 4), (1, 1, 2, 6)])
def test_values_match_reference(cls, ref, name, shape):
    a = (np.random.default_rng(sum(shape)).normal(size=shape) * 3).astype(np.float32)
    out = cls()(Tensor(a))
    assert isinstance(out, Tensor)
    assert out.shape == shape and out.dtype == np.float32
    close(out, ref(a), rtol=1e-5, atol=1e-6, what=f"{name} of a {shape} tensor, against a float64 reference")


@pytest.mark.parametrize("cls, ref, name", ELEMENTWISE, ids=IDS[:4])
def test_elementwise_on_scalars(cls, ref, name):
    for v in [-2.5, 0.0, 0.75]:
        out = cls()(Tensor(v))
        assert out.shape == ()
        assert out.item() == pytest.approx(float(ref(np.float32(v))), rel=1e-6, abs=1e-7)


# --- softmax along any axis -------------------------------------------------------------------


@pytest.mark.parametrize("dim", [0, 1, 2, -1, -2, -3])
def test_softmax_dim(dim):
    a = np.random.default_rng(7).normal(size=(3, 4, 5)).astype(np.float32) * 4
    p = Softmax(dim=dim)(Tensor(a)).data
    np.testing.assert_allclose(p, softmax_ref(a, axis=dim), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(p.sum(axis=dim), 1, atol=1e-6)


def test_softmax_default_dim_is_last():
    a = np.random.default_rng(8).normal(size=(4, 6)).astype(np.float32)
    assert Softmax().dim == -1
    np.testing.assert_array_equal(Softmax()(Tensor(a)).data, Softmax(dim=1)(Tensor(a)).data)


@pytest.mark.parametrize("dim", [2, -3, 5])
def test_softmax_bad_dim_names_the_shape(dim):
    raises(ValueError, lambda: Softmax(dim=dim)(Tensor(np.zeros((2, 3)))), "(2, 3)", f"dim={dim}")


def test_softmax_rejects_scalar():
    raises(ValueError, lambda: Softmax()(Tensor(1.0)), "shape")


# --- property tests over random shapes ----------------------------------------------------------

finite32 = st.floats(-1e4, 1e4, allow_nan=False, width=32)
arrays = hnp.arrays(np.float32, hnp.array_shapes(min_dims=1, max_dims=4, max_side=6), elements=finite32)


@settings(max_examples=60, deadline=None)
@given(arrays)
def test_property_elementwise_identities(strict_numerics, a):
    x, neg = Tensor(a), Tensor(-a)
    with strict_numerics():
        relu, relu_neg = ReLU()(x).data, ReLU()(neg).data
        s, s_neg = Sigmoid()(x).data, Sigmoid()(neg).data
        t = Tanh()(x).data
        s2 = Sigmoid()(Tensor(2 * a)).data
        g, g_neg = GELU()(x).data, GELU()(neg).data
    assert np.array_equal(relu - relu_neg, a)
    assert np.all((s >= 0) & (s <= 1))
    np.testing.assert_allclose(s_neg, 1 - s, atol=1e-6)
    np.testing.assert_allclose(s, sigmoid_ref(a), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(t, 2 * s2 - 1, atol=1e-6)
    np.testing.assert_allclose(g - g_neg, a, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(g, gelu_ref(a), rtol=1e-5, atol=1e-6)
    for out in (relu, s, t, g):
        assert out.shape == a.shape and np.all(np.isfinite(out))


@settings(max_examples=60, deadline=None)
@given(hnp.arrays(np.float32, hnp.array_shapes(min_dims=1, max_dims=4, max_side=6), elements=finite32),
       st.data())
def test_property_softmax_any_dim(strict_numerics, a, data):
    dim = data.draw(st.integers(-a.ndim, a.ndim - 1), label="dim")
    with strict_numerics():
        p = Softmax(dim=dim)(Tensor(a)).data
    assert p.shape == a.shape and np.all(np.isfinite(p))
    assert np.all((p >= 0) & (p <= 1))
    np.testing.assert_allclose(p.sum(axis=dim), 1, atol=1e-5)
    np.testing.assert_allclose(p, softmax_ref(a, axis=dim), rtol=1e-4, atol=1e-6)


@settings(max_examples=40, deadline=None)
@given(hnp.arrays(np.float32, hnp.array_shapes(min_dims=2, max_dims=2, max_side=6),
                  elements=st.floats(-50, 50, width=32)),
       st.floats(-100, 100, width=32))
def test_property_softmax_shift_invariant(a, c):
    np.testing.assert_allclose(Softmax()(Tensor(a + c)).data, Softmax()(Tensor(a)).data, atol=1e-5)


@settings(max_examples=40, deadline=None)
@given(hnp.arrays(np.float32, st.integers(2, 30), elements=finite32, unique=True))
def test_property_sigmoid_tanh_gelu_monotone_where_expected(a):
    a = np.sort(a)
    assert np.all(np.diff(Sigmoid()(Tensor(a)).data) >= 0)
    assert np.all(np.diff(Tanh()(Tensor(a)).data) >= 0)
    pos = a[a >= 0]  # GELU dips below zero for negative inputs; it is increasing for x >= 0
    assert np.all(np.diff(GELU()(Tensor(pos)).data) >= 0)


# --- no Python loop over the elements (counted in steps, never in seconds) ----------------------


def python_steps(function, *args):
    """Python lines run and calls made (math's C functions wrapped so they count) by `function(*args)`."""
    steps = [0]

    def count_lines(frame, event, arg):
        steps[0] += 1
        return count_lines

    def count_calls(frame, event, arg):
        if event in ("call", "c_call"):
            steps[0] += 1

    names = ("exp", "expm1", "tanh", "erf", "log", "log1p", "sqrt")
    originals = {name: getattr(math, name) for name in names}
    for name, fn in originals.items():
        setattr(math, name, lambda *a, _f=fn: _f(*a))
    old_trace, old_profile = sys.gettrace(), sys.getprofile()
    sys.settrace(count_lines)
    sys.setprofile(count_calls)
    try:
        function(*args)
    finally:
        sys.settrace(old_trace)
        sys.setprofile(old_profile)
        for name, fn in originals.items():
            setattr(math, name, fn)
    return steps[0]


LOOP_N = 20_000


@pytest.mark.parametrize("cls, ref, name", ALL, ids=IDS)
def test_no_python_loop_over_elements(cls, ref, name):
    x = Tensor(np.linspace(-6.0, 6.0, LOOP_N).reshape(100, 200))
    steps = python_steps(cls(), x)
    assert steps < LOOP_N // 10, (
        f"{cls.__name__} took {steps:,} Python steps (lines and calls) for {LOOP_N:,} elements: it loops "
        "over the elements in Python (a for loop, a comprehension, np.vectorize or np.frompyfunc of a Python "
        "function, map). The contract asks for NumPy operations on the whole array at once")


@pytest.mark.parametrize("loop", ["vectorize", "comprehension", "vectorize_math", "for"])
def test_the_loop_check_sees_loops(loop):
    def looped(x):
        a = x.data
        if loop == "vectorize":
            data = np.vectorize(lambda v: 1 / (1 + np.exp(-v)))(a)
        elif loop == "comprehension":
            data = np.array([[max(v, 0.0) for v in row] for row in a], dtype=a.dtype)
        elif loop == "vectorize_math":
            data = np.vectorize(math.tanh)(a)
        else:
            data = a.copy()
            for i in range(a.size):
                if data.flat[i] < 0:
                    data.flat[i] = 0
        return Tensor._op("relu", data, x)
    x = Tensor(np.linspace(-6.0, 6.0, LOOP_N).reshape(100, 200))
    assert python_steps(looped, x) >= LOOP_N
    assert python_steps(ReLU(), x) < LOOP_N // 10


def test_a_wrong_op_name_suggests_the_contract_name(dummy_rules):
    x = Tensor([1.0, -1.0], requires_grad=True)
    raises(RuntimeError, lambda: Tensor._op("ReLU", np.maximum(x.data, 0), x),
           "'ReLU' has no backward rule", "Did you mean 'relu'?")
    raises(RuntimeError, lambda: Tensor._op("soft_max", x.data, x, axis=-1), "Did you mean 'softmax'?")


# --- the op contract that module 05 relies on ---------------------------------------------------


@pytest.mark.parametrize("cls, ref, name", ALL, ids=IDS)
def test_op_name_and_inputs_recorded(cls, ref, name, dummy_rules):
    x = Tensor([[0.5, -1.0, 2.0]], requires_grad=True)
    out = cls()(x)
    assert out._op_name == name
    assert len(out._inputs) == 1 and out._inputs[0] is x
    assert out.requires_grad


@pytest.mark.parametrize("cls, ref, name", ELEMENTWISE, ids=IDS[:4])
def test_elementwise_ops_have_no_ctx(cls, ref, name, dummy_rules):
    assert cls()(Tensor([1.0, -1.0], requires_grad=True))._ctx == {}


@pytest.mark.parametrize("dim", [0, 1, -1, -2])
def test_softmax_ctx_axis(dim, dummy_rules):
    out = Softmax(dim=dim)(Tensor(np.ones((2, 3)), requires_grad=True))
    assert out._ctx == {"axis": dim}, f"Softmax(dim={dim}) recorded ctx {out._ctx}, not {{'axis': {dim}}}"


def test_activations_compose_into_one_graph(dummy_rules):
    x = Tensor([[0.5, -1.0, 2.0]], requires_grad=True)
    out = Softmax()(GELU()(Tanh()(Sigmoid()(ReLU()(x)))))
    assert ops_in_graph(out) == ["softmax", "gelu", "tanh", "sigmoid", "relu"]


@pytest.mark.parametrize("cls, ref, name", ALL, ids=IDS)
def test_no_graph_for_constants(cls, ref, name, dummy_rules):
    out = cls()(Tensor([[1.0, 2.0]]))
    assert out._inputs == () and out._op_name is None and not out.requires_grad


def test_repr():
    assert repr(ReLU()) == "ReLU()" and repr(GELU()) == "GELU()"
    assert repr(Softmax(dim=0)) == "Softmax(dim=0)"


def test_forward_and_call_agree():
    x = Tensor(np.linspace(-3, 3, 7))
    for act in (ReLU(), Sigmoid(), Tanh(), GELU(), Softmax()):
        assert np.array_equal(act(x).data, act.forward(x).data)


# --- PyTorch as an oracle (skipped when torch is not installed) ----------------------------------


@pytest.mark.parametrize("name", ["relu", "sigmoid", "tanh", "gelu"])
def test_matches_torch_elementwise(name):
    torch = pytest.importorskip("torch")
    ours = {"relu": ReLU(), "sigmoid": Sigmoid(), "tanh": Tanh(), "gelu": GELU()}[name]
    theirs = {"relu": torch.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh,
              "gelu": lambda t: torch.nn.functional.gelu(t, approximate="tanh")}[name]
    a = np.concatenate([np.random.default_rng(11).normal(size=200) * 4, EXTREMES]).astype(np.float32)
    want = theirs(torch.from_numpy(a)).numpy()
    np.testing.assert_allclose(ours(Tensor(a)).data, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dim", [0, 1, 2, -1])
def test_matches_torch_softmax(dim):
    torch = pytest.importorskip("torch")
    a = (np.random.default_rng(12).normal(size=(4, 5, 6)) * 10).astype(np.float32)
    a[0, 0, 0] = 1e4
    want = torch.softmax(torch.from_numpy(a), dim=dim).numpy()
    np.testing.assert_allclose(Softmax(dim=dim)(Tensor(a)).data, want, rtol=1e-5, atol=1e-7)
