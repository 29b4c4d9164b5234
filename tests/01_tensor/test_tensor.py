"""Module 01: the Tensor, against NumPy as the ground truth."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tinytorch.tensor import BACKWARD_RULES, Config, Tensor
from tinytorch.testing import raises, recording_ops

FLOATS = st.floats(-100, 100, allow_nan=False, width=32)


def arrays(shape):
    return hnp.arrays(np.float32, shape, elements=FLOATS)


@st.composite
def broadcastable_pair(draw):
    shapes = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=4, max_side=5))
    a_shape, b_shape = shapes.input_shapes
    return draw(arrays(a_shape)), draw(arrays(b_shape))


class TestCreation:
    def test_float32_from_lists_ints_and_float64(self):
        for data in ([1, 2, 3], np.arange(3), np.arange(3, dtype=np.float64), 7):
            assert Tensor(data).dtype == np.float32

    def test_properties(self):
        t = Tensor(np.zeros((2, 3, 4)))
        assert (t.shape, t.ndim, t.size, len(t)) == ((2, 3, 4), 3, 24, 2)

    def test_no_copy_for_float32_arrays(self):
        a = np.ones(3, dtype=np.float32)
        assert Tensor(a).data is a and Tensor(a).numpy() is a

    def test_grad_defaults(self):
        t = Tensor([1.0], requires_grad=True)
        assert t.requires_grad and t.grad is None
        assert not Tensor([1.0]).requires_grad

    def test_item(self):
        assert Tensor([[2.5]]).item() == 2.5 and isinstance(Tensor(1).item(), float)
        with pytest.raises(ValueError, match=r"\(2,\)"):
            Tensor([1.0, 2.0]).item()

    def test_repr_shows_values_and_shape(self):
        text = repr(Tensor([[1.5, 2.0]], requires_grad=True))
        assert "1.5" in text and "shape=(1, 2)" in text and "requires_grad=True" in text

    @pytest.mark.parametrize("data, given", [
        (None, "NoneType"), (["1", "2"], "list"), ("3", "str"), ([1.0, None], "list"),
        ({"a": 1}, "dict"), (np.array(["x", "y"]), "ndarray"), (np.array([1 + 2j]), "ndarray"),
        (np.array([1.0, None]), "ndarray"), (object(), "object"),
    ])
    def test_non_numbers_raise_type_error_naming_what_was_given(self, data, given):
        err = raises(TypeError, lambda: Tensor(data), given)
        for accepted in ("number", "list", "NumPy", "Tensor"):
            assert accepted.lower() in str(err).lower(), f"the message should say what is accepted: {err}"

    def test_strings_are_never_converted_to_numbers(self):
        # np.asarray(["1", "2"], dtype=np.float32) would silently give [1., 2.]
        raises(TypeError, lambda: Tensor(["1", "2"]), "list")
        raises(TypeError, lambda: Tensor(np.array(["1.5"])), "ndarray")

    def test_booleans_and_integer_kinds_are_numbers(self):
        np.testing.assert_array_equal(Tensor([True, False]).data, [1.0, 0.0])
        for dtype in (np.bool_, np.int8, np.uint16, np.int64, np.float16, np.float64):
            assert Tensor(np.ones(2, dtype=dtype)).dtype == np.float32, dtype

    def test_detach_shares_data_without_grad(self):
        t = Tensor([1.0, 2.0], requires_grad=True)
        d = t.detach()
        assert d.data is t.data and not d.requires_grad


class TestArithmetic:
    @settings(max_examples=60, deadline=None)
    @given(broadcastable_pair())
    def test_binary_ops_broadcast_like_numpy(self, pair):
        a, b = pair
        x, y = Tensor(a), Tensor(b)
        with np.errstate(all="ignore"):
            for got, want in [(x + y, a + b), (x - y, a - b), (x * y, a * b), (x / y, a / b)]:
                assert got.shape == want.shape
                np.testing.assert_array_equal(got.data, want)

    def test_scalars_on_either_side(self):
        a = np.array([1.0, 2.0, 4.0], dtype=np.float32)
        x = Tensor(a)
        np.testing.assert_allclose((x + 1).data, a + 1)
        np.testing.assert_allclose((1 + x).data, 1 + a)
        np.testing.assert_allclose((10 - x).data, 10 - a)
        np.testing.assert_allclose((x - 10).data, a - 10)
        np.testing.assert_allclose((3 * x).data, 3 * a)
        np.testing.assert_allclose((8 / x).data, 8 / a)
        np.testing.assert_allclose((x / 8).data, a / 8)

    def test_numpy_array_on_the_left_gives_tensor(self):
        a = np.array([1.0, 2.0], dtype=np.float32)
        out = np.array([10.0, 20.0]) - Tensor(a)
        assert isinstance(out, Tensor)
        np.testing.assert_allclose(out.data, [9.0, 18.0])

    def test_unary_and_pow(self):
        a = np.array([0.25, 1.0, 4.0], dtype=np.float32)
        x = Tensor(a)
        np.testing.assert_allclose((-x).data, -a)
        np.testing.assert_allclose((x ** 3).data, a ** 3)
        np.testing.assert_allclose((x ** 0.5).data, np.sqrt(a))
        np.testing.assert_allclose(x.exp().data, np.exp(a), rtol=1e-6)
        np.testing.assert_allclose(x.log().data, np.log(a), rtol=1e-6)
        np.testing.assert_allclose(x.sqrt().data, np.sqrt(a))

    @pytest.mark.parametrize("exponent", [Tensor([2.0]), np.array([2.0]), np.array(2.0), [2], (2,), "2", None,
                                          2j, np.complex64(1j)], ids=repr)
    def test_an_exponent_that_is_not_a_real_number_is_refused(self, exponent):
        raises(TypeError, lambda: Tensor([1.0, 2.0]) ** exponent, type(exponent).__name__, "number")

    @pytest.mark.parametrize("exponent", [3, -1, 0.5, np.int64(3), np.int32(-1), np.float32(0.5),
                                          np.float64(2.5)], ids=repr)
    def test_python_and_numpy_scalars_are_exponents(self, exponent):
        a = np.array([0.25, 1.0, 4.0], dtype=np.float32)
        out = Tensor(a) ** exponent
        assert out.dtype == np.float32
        np.testing.assert_allclose(out.data, a.astype(np.float64) ** float(exponent), rtol=1e-6)

    def test_results_stay_float32(self):
        x = Tensor([1.0, 2.0])
        for out in (x + 1.5, x * np.float64(2), x / 3, x.exp(), x @ x, x.mean()):
            assert out.dtype == np.float32


class TestMatmul:
    @pytest.mark.parametrize("a_shape,b_shape", [
        ((3, 4), (4, 5)), ((2, 3, 4), (4, 5)), ((2, 3, 4), (2, 4, 5)),
        ((1, 3, 4), (6, 4, 2)), ((2, 1, 3, 4), (2, 3, 4, 5)), ((4,), (4, 5)), ((3, 4), (4,)), ((4,), (4,)),
    ])
    def test_matches_numpy(self, a_shape, b_shape):
        rng = np.random.default_rng(0)
        a = rng.normal(size=a_shape).astype(np.float32)
        b = rng.normal(size=b_shape).astype(np.float32)
        try:
            got = Tensor(a) @ Tensor(b)
        except ValueError as exc:
            pytest.fail(f"{a_shape} @ {b_shape} is a valid product (NumPy gives {np.matmul(a, b).shape}), "
                        f"but raised ValueError: {exc}")
        assert got.shape == np.matmul(a, b).shape
        np.testing.assert_allclose(got.data, a @ b, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(Tensor(a).matmul(b).data, a @ b, rtol=1e-5, atol=1e-5)

    def test_array_on_the_left(self):
        a, b = np.eye(2, dtype=np.float32), np.array([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32)
        out = a @ Tensor(b)
        assert isinstance(out, Tensor)
        np.testing.assert_array_equal(out.data, b)

    @pytest.mark.parametrize("a_shape,b_shape", [
        ((2, 3), (4, 5)), ((2, 3), (2,)), ((5,), (4, 2)),  # inner dimensions differ
        ((2, 3, 4), (2, 5, 6)), ((2, 3, 4), (5,)),  # batched, inner dimensions differ
        ((2, 3, 4), (3, 4, 5)), ((4, 2, 3, 4), (3, 4, 5)), ((2, 2, 3, 4), (3, 1, 4, 5)),  # batch dims
    ])
    def test_mismatch_names_both_shapes(self, a_shape, b_shape):
        raises(ValueError, lambda: Tensor(np.zeros(a_shape)) @ Tensor(np.zeros(b_shape)),
               str(a_shape), str(b_shape))

    def test_batch_mismatch_is_not_numpys_message(self):
        err = raises(ValueError, lambda: Tensor(np.ones((2, 3, 4))) @ Tensor(np.ones((3, 4, 5))),
                     "(2, 3, 4)", "(3, 4, 5)")
        assert "remapped" not in str(err) and "core dimension" not in str(err), err

    def test_scalar_operand_is_rejected(self):
        with pytest.raises(ValueError, match="at least 1 dimension"):
            Tensor(2.0) @ Tensor([1.0])


class TestReductions:
    @settings(max_examples=40, deadline=None)
    @given(hnp.array_shapes(min_dims=1, max_dims=4, max_side=5).flatmap(arrays), st.data())
    def test_match_numpy_over_any_axis(self, a, data):
        axis = data.draw(st.one_of(st.none(), st.integers(-a.ndim, a.ndim - 1),
                                   st.lists(st.integers(0, a.ndim - 1), min_size=1, unique=True).map(tuple)))
        keepdims = data.draw(st.booleans())
        x = Tensor(a)
        for name in ("sum", "mean", "max"):
            got = getattr(x, name)(axis=axis, keepdims=keepdims)
            want = getattr(a, name)(axis=axis, keepdims=keepdims)
            assert got.shape == np.shape(want), name
            np.testing.assert_allclose(got.data, want, rtol=1e-5, atol=1e-3)


class TestShapes:
    def test_reshape_forms(self):
        x = Tensor(np.arange(12))
        assert x.reshape(3, 4).shape == (3, 4)
        assert x.reshape((2, -1)).shape == (2, 6)
        assert x.reshape([-1, 3]).shape == (4, 3)
        np.testing.assert_array_equal(x.reshape(3, 4).data, np.arange(12).reshape(3, 4))

    def test_bad_reshape_names_shapes(self):
        with pytest.raises(ValueError, match=r"\(12,\).*\(5, 5\)"):
            Tensor(np.arange(12)).reshape(5, 5)

    @pytest.mark.parametrize("dims", [(0, 1), (0, 2), (1, 2), (-1, -3), (2, 2)])
    def test_transpose_matches_swapaxes(self, dims):
        a = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
        np.testing.assert_array_equal(Tensor(a).transpose(*dims).data, np.swapaxes(a, *dims))

    @pytest.mark.parametrize("dims", [(0, 3), (5, 1), (-4, 0), (0, -7)])
    def test_transpose_names_a_dimension_that_does_not_exist(self, dims):
        bad = [d for d in dims if not -3 <= d < 3][0]
        message = rf"dimension {bad} does not exist in a 3-D tensor of shape \(2, 3, 4\)"
        with pytest.raises(ValueError, match=message):
            Tensor(np.zeros((2, 3, 4))).transpose(*dims)

    def test_T(self):
        a = np.arange(6, dtype=np.float32).reshape(2, 3)
        np.testing.assert_array_equal(Tensor(a).T.data, a.T)
        np.testing.assert_array_equal(Tensor([1.0, 2.0]).T.data, [1.0, 2.0])

    @pytest.mark.parametrize("index", [0, -1, (1, 2), slice(1, None), (slice(None), 0), (Ellipsis, 1),
                                       np.array([2, 0, 2]), (np.array([0, 1]), np.array([1, 2]))])
    def test_indexing_matches_numpy(self, index):
        a = np.arange(12, dtype=np.float32).reshape(3, 4)
        np.testing.assert_array_equal(Tensor(a)[index].data, a[index])

    def test_tensor_as_index(self):
        a = np.arange(5, dtype=np.float32)
        np.testing.assert_array_equal(Tensor(a)[Tensor([4, 1])].data, [4.0, 1.0])

    @pytest.mark.parametrize("make", [
        lambda T: (T([2, 0]), T([1, 3])), lambda T: (T([2, 0]), slice(1, None)), lambda T: (1, T([3, 0])),
        lambda T: (Ellipsis, T([0, 0, 2])), lambda T: (T([[0], [2]]), T([1, 2])),
    ], ids=["tensor-tensor", "tensor-slice", "int-tensor", "ellipsis-tensor", "broadcast-tensors"])
    def test_tensors_inside_a_tuple_index(self, make):
        a = np.arange(12, dtype=np.float32).reshape(3, 4)
        want = a[make(lambda v: np.asarray(v, dtype=np.int64))]
        try:
            got = Tensor(a)[make(Tensor)]
        except (IndexError, TypeError) as exc:
            pytest.fail(f"a Tensor inside a tuple index must stand for integer positions; got {exc!r}")
        assert got.shape == want.shape, f"shape {got.shape}, expected {want.shape}"
        np.testing.assert_array_equal(got.data, want)

    def test_tensor_index_is_recorded_as_integers(self):
        with recording_ops("getitem"):
            x = Tensor(np.ones((3, 4)), requires_grad=True)
            alone = x[Tensor([2, 0])]._ctx["index"]
            inside = x[Tensor([2, 0]), 1]._ctx["index"]
        assert isinstance(alone, np.ndarray) and alone.dtype.kind == "i", repr(alone)
        assert list(alone) == [2, 0], repr(alone)
        assert isinstance(inside, tuple) and inside[1] == 1, repr(inside)
        assert isinstance(inside[0], np.ndarray) and inside[0].dtype.kind == "i", repr(inside)


class TestVar:
    """Your design (section 6): any formulation passes that meets these."""

    def test_population_variance(self):
        two = Tensor([1.0, 3.0]).var()
        assert two.shape == (), f"var() of a vector must be 0-d, got shape {two.shape}"
        assert two.item() == pytest.approx(1.0), f"var([1, 3]) = {two.item()}, expected 1 (divide by n)"

    def test_rows_of_a_matrix(self):
        a = np.array([[1.0, 3.0, 5.0], [2.0, 2.0, 8.0]], dtype=np.float32)
        try:
            got = Tensor(a).var(axis=1)
        except ValueError as exc:
            pytest.fail(f"var(axis=1) of a (2, 3) tensor raised ValueError: {exc} (does the per-row mean "
                        "keep its axis, (2, 1), to broadcast back against the rows?)")
        assert got.shape == (2,), f"var(axis=1) of a (2, 3) tensor has shape {got.shape}, expected (2,)"
        np.testing.assert_allclose(got.data, a.astype(np.float64).var(axis=1), rtol=1e-6)

    @settings(max_examples=40, deadline=None)
    @given(hnp.array_shapes(min_dims=1, max_dims=4, max_side=5).flatmap(arrays), st.data())
    def test_matches_numpy_over_any_axis(self, a, data):
        axis = data.draw(st.one_of(st.none(), st.integers(-a.ndim, a.ndim - 1),
                                   st.lists(st.integers(0, a.ndim - 1), min_size=1, unique=True).map(tuple)))
        keepdims = data.draw(st.booleans())
        want = a.astype(np.float64).var(axis=axis, keepdims=keepdims)
        got = Tensor(a).var(axis=axis, keepdims=keepdims)
        assert got.shape == np.shape(want)
        assert got.dtype == np.float32
        np.testing.assert_allclose(got.data, want, rtol=1e-4, atol=1e-3)

    def test_built_from_recorded_ops(self):
        names = ("add", "sub", "mul", "div", "neg", "pow", "sum", "mean", "max", "sqrt", "exp", "log",
                 "reshape", "transpose", "getitem", "matmul")
        with recording_ops(*names):
            x = Tensor([[1.0, 3.0, 5.0], [2.0, 2.0, 8.0]], requires_grad=True)
            v = x.var(axis=1)
        assert v.requires_grad and v._op_name in names, f"var recorded {v._op_name!r}, not a graph of ops"
        stack, seen = [v], []
        while stack:
            node = stack.pop()
            seen.append(node)
            stack.extend(node._inputs)
        assert any(node is x for node in seen), "the graph of var does not lead back to its input"

    def test_never_negative_on_constants(self):
        for value in (10_000.5, 3.0e6, -7.25):
            out = Tensor(np.full((3, 1000), value, dtype=np.float32)).var(axis=1).data
            low = float(out.min())
            assert low >= 0, f"var of a constant row ({value} repeated) is negative: {low:.4g}"
            assert out.max() <= 1e-6 * max(1, abs(value)), f"var of constant rows ({value}): {out.max():.3g}"

    @pytest.mark.parametrize("offset", [1e4, -1e4, 1e5])
    def test_accurate_when_the_mean_is_large(self, offset):
        readings = (offset + np.random.default_rng(0).normal(size=(4, 1000))).astype(np.float32)
        want = readings.astype(np.float64).var(axis=1)
        got = Tensor(readings).var(axis=1).data
        np.testing.assert_allclose(got, want, rtol=1e-3)
        whole = Tensor(readings).var().item()
        assert whole == pytest.approx(readings.astype(np.float64).var(), rel=1e-3)

    def test_does_not_change_its_input(self):
        a = np.array([[1.0, 2.0], [5.0, -3.0]], dtype=np.float32)
        x = Tensor(a.copy())
        x.var(axis=0)
        np.testing.assert_array_equal(x.data, a)


class TestOpPath:
    """Module 05 depends on this contract; see docs/MODULE_FORMAT.md."""

    @pytest.fixture
    def empty_registry(self):
        """No rule registered anywhere, as in modules 01-04 (restored afterwards)."""
        saved = dict(BACKWARD_RULES)
        BACKWARD_RULES.clear()
        yield BACKWARD_RULES
        BACKWARD_RULES.clear()
        BACKWARD_RULES.update(saved)

    def test_every_op_records_its_name(self):
        names = ("add", "sub", "mul", "div", "neg", "pow", "exp", "log", "sqrt", "matmul", "sum", "mean",
                 "max", "reshape", "transpose", "getitem")
        with recording_ops(*names):
            x = Tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
            outs = (x + 1, x - 1, x * 2, x / 2, -x, x ** 2, x.exp(), x.log(), x.sqrt(), x @ x, x.sum(),
                    x.mean(), x.max(), x.reshape(4), x.T, x[0])
            for name, out in zip(names, outs):
                assert out._op_name == name, \
                    f"the {name} op recorded {out._op_name!r}: does it return Tensor._op({name!r}, ...)?"

    def test_nothing_recorded_before_autograd_exists(self, empty_registry):
        out = Tensor([1.0], requires_grad=True) + 1
        assert out._op_name is None and out._inputs == () and not out.requires_grad

    def test_an_op_without_a_rule_raises_once_autograd_exists(self, empty_registry):
        with recording_ops("mul"):
            raises(RuntimeError, lambda: Tensor([1.0], requires_grad=True) + 1,
                   "'add' has no backward rule", "register_backward('add')")

    def test_rule_records_inputs_and_ctx(self):
        with recording_ops("sum"):
            x = Tensor([[1.0, 2.0]], requires_grad=True)
            out = x.sum(axis=1, keepdims=True)
        assert out.requires_grad and out._op_name == "sum" and out._inputs == (x,)
        assert out._ctx == {"axis": 1, "keepdims": True}

    def test_ctx_of_each_op(self):
        with recording_ops("pow", "transpose", "getitem"):
            x = Tensor(np.ones((2, 3, 4)), requires_grad=True)
            cube = x ** 3
            assert cube._ctx == {"exponent": 3}
            assert len(cube._inputs) == 1 and cube._inputs[0] is x, \
                f"pow's only input is x (the exponent is a setting), got {len(cube._inputs)} inputs"
            for p in (np.int64(3), np.float32(0.5), np.float64(-1.5)):
                saved = (x ** p)._ctx["exponent"]
                assert saved == p and type(saved) in (int, float), \
                    f"x ** {p!r} saves the Python number {p.item()!r}, got {saved!r} ({type(saved).__name__})"
            assert x.transpose(0, 2)._ctx == {"axes": (2, 1, 0)}
            assert x.transpose(-1, 0)._ctx == {"axes": (2, 1, 0)}
            assert x[1]._ctx == {"index": 1}

    @pytest.mark.parametrize("name", ["sum", "mean", "max"])
    def test_reductions_record_axis_and_keepdims(self, name):
        with recording_ops(name):
            x = Tensor(np.ones((2, 3, 4)), requires_grad=True)
            for axis, keepdims in [(1, True), (None, False), ((0, 2), False)]:
                ctx = getattr(x, name)(axis=axis, keepdims=keepdims)._ctx
                assert ctx == {"axis": axis, "keepdims": keepdims}, \
                    f"x.{name}(axis={axis}, keepdims={keepdims}) recorded ctx {ctx}"

    def test_binary_ops_record_left_then_right(self):
        names = ("add", "sub", "mul", "div", "matmul")
        with recording_ops(*names):
            a, b = Tensor(np.ones((2, 2)), requires_grad=True), Tensor(np.ones((2, 2)), requires_grad=True)
            for name, out in zip(names, (a + b, a - b, a * b, a / b, a @ b)):
                assert out._op_name == name, f"a {name} b recorded op {out._op_name!r}"
                order = ["a" if t is a else "b" if t is b else "?" for t in out._inputs]
                assert order == ["a", "b"], f"{name}: inputs recorded as {order}, not [a, b] (left first)"

    def test_grad_disabled_records_nothing(self):
        with recording_ops("mul"):
            Config.grad_enabled = False
            try:
                out = Tensor([1.0], requires_grad=True) * 2
            finally:
                Config.grad_enabled = True
        assert out._op_name is None and not out.requires_grad

    def test_dtype_switch(self):
        Config.dtype = np.float64
        try:
            assert Tensor([1.0]).dtype == np.float64
        finally:
            Config.dtype = np.float32
        assert Tensor([1.0]).dtype == np.float32

    def test_backward_without_autograd_says_what_to_do(self, monkeypatch):
        import sys
        monkeypatch.setitem(sys.modules, "tinytorch.autograd", None)
        with pytest.raises((RuntimeError, ImportError), match="05"):
            Tensor([1.0], requires_grad=True).backward()
