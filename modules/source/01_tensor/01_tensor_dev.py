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
# # Module 01: Tensor
#
# Every deep-learning framework is built on one data structure: an n-dimensional array of
# numbers that knows its shape and can take part in arithmetic. In this module you build
# TinyTorch's `Tensor` on top of NumPy. Every later module (layers, losses, autograd, CNNs,
# transformers) is written with the operations you implement here.
#
# ## Learning objectives
# - Wrap a `float32` NumPy array and expose `shape`, `ndim`, `size`, `dtype`.
# - Implement element-wise arithmetic with **broadcasting**, matrix multiplication, reductions
#   and shape operations, and explain their memory and FLOP costs.
# - Route every operation through **one internal path**, `Tensor._op`, so that module 05 can
#   attach gradients to every operation without touching this code again.
#
# ## How to work
# Write your code between `### BEGIN SOLUTION` and `### END SOLUTION`; run the test cell right
# after each piece. When every test passes, run `tito module complete 01`: it checks this file,
# exports the `#| export` cells to `tinytorch/tensor.py`, and runs the full test suite.

# %% nbgrader={"grade": false, "grade_id": "tensor-setup", "locked": false, "schema_version": 3, "solution": false, "task": false}
#| default_exp tensor
#| export
import warnings
from collections.abc import Callable

import numpy as np

# %% [markdown]
# ## 1. Why float32, and what a tensor costs
#
# A tensor of shape `(256, 784)` (a batch of 256 MNIST images) holds 256·784 = 200,704 numbers.
# In `float64` (8 bytes each) that is 1.6 MB; in `float32` (4 bytes) 0.8 MB. Half the bytes also
# means half the memory traffic and twice as many numbers per SIMD instruction, so float32 matrix
# multiplications typically run about twice as fast. Its 7 significant digits are more than
# training needs. So every TinyTorch tensor stores `float32`.
#
# | operation | example shapes | result | FLOPs |
# |---|---|---|---|
# | element-wise `a + b` | `(256, 128) + (128,)` | `(256, 128)` | 256·128 = 32,768 |
# | matmul `a @ b` | `(256, 784) @ (784, 128)` | `(256, 128)` | 2·256·784·128 ≈ 51 M |
# | reduction `a.sum(axis=0)` | `(256, 128)` | `(128,)` | 255·128 ≈ 32 K |
#
# Matrix multiplication dominates: `(m, k) @ (k, n)` costs `2·m·k·n` FLOPs (each of the `m·n`
# outputs is a dot product of length `k`: `k` multiplies and `k` adds). That is why frameworks
# hand it to an optimized BLAS library, as NumPy does.
#
# ## 2. One path for every operation
#
# Each operation computes its result with NumPy and then calls
# `Tensor._op(name, data, *inputs, **ctx)`. Today `_op` simply wraps `data` in a new Tensor.
# In module 05 you will register a **backward rule** for each `name`; from then on `_op` also
# remembers the inputs, so gradients can flow back. Nothing in this file will change.
#
# Once autograd is active, `_op` also guards the graph: an op whose input requires a gradient
# but which has no backward rule raises an error naming the op, instead of quietly dropping out
# of the graph and leaving a wrong gradient behind. Ops that truly have no gradient (an `argmax`,
# a comparison) are declared with `register_non_differentiable(name)`: their outputs are constants.
#
# The rule registry and the global switches are given to you:

# %% nbgrader={"grade": false, "grade_id": "tensor-op-path", "locked": false, "schema_version": 3, "solution": false, "task": false}
#| export
# Backward rules, one per op name, registered by module 05 (autograd) and later modules.
# A rule receives (grad_of_output, output, *inputs, **ctx) and returns one gradient per input.
BACKWARD_RULES: dict[str, Callable] = {}
# Ops that have no gradient at all (an index, a comparison): their outputs never require grad.
NON_DIFFERENTIABLE: set[str] = set()
_NOTEBOOKS = ("__main__", "tito_student_module")  # a module file run as a notebook or by tito


def register_backward(name: str) -> Callable:
    """Decorator: register the backward rule for the op called `name`.

    Warns when another module already owns `name`: two rules fighting over one op name would make
    gradients depend on import order. Re-running a cell, or a notebook redefining the rule its own
    module exported (same function name), replaces the rule silently.
    """
    def decorate(rule: Callable) -> Callable:
        old = BACKWARD_RULES.get(name)
        if old is not None and _other_owner(old, rule):
            warnings.warn(f"register_backward({name!r}): replacing the rule {old.__module__}."
                          f"{old.__qualname__} with {rule.__module__}.{rule.__qualname__}. Op names "
                          "must be unique across modules: give a new op a new name.", stacklevel=2)
        BACKWARD_RULES[name] = rule
        return rule
    return decorate


def _other_owner(old: Callable, new: Callable) -> bool:
    if old.__qualname__ != new.__qualname__:
        return True
    return old.__module__ != new.__module__ and not {old.__module__, new.__module__} & set(_NOTEBOOKS)


def register_non_differentiable(*names: str) -> None:
    """Declare ops that have no gradient (e.g. `argmax`): autograd treats their outputs as constants."""
    NON_DIFFERENTIABLE.update(names)


def missing_rule_message(name: str) -> str:
    return (f"op {name!r} has no backward rule, so gradients through it would be silently wrong. "
            f"Register one with `@register_backward({name!r})` (module 05 shows how), or, if the op "
            f"has no gradient (like argmax), declare it with `register_non_differentiable({name!r})`.")


class Config:
    """Global switches, changed only through context managers that module 05 provides."""
    grad_enabled = True  # False inside `no_grad()`: ops record no graph
    dtype = np.float32  # float64 inside `gradcheck`, for precise finite differences


# %% [markdown]
# ## 3. The Tensor class
#
# Read the whole class first; then fill in each `### BEGIN SOLUTION` block. The class is one
# cell, so work group by group: write `__init__` and the properties, run the class cell and the
# first test below; then the arithmetic and its test; and so on down the list.
#
# **Construction.** `np.asarray(data, dtype=...)` converts lists, scalars and arrays, and copies
# nothing when the input already is an array of that dtype. Use `Config.dtype` rather than
# writing `np.float32`: it *is* float32, except inside module 05's `gradcheck`, which switches it
# to float64 for precise finite differences.
#
# **The pattern of every operation.** Compute the result with NumPy on `.data`, then hand it to
# `Tensor._op` with the op's name, its input tensors and any settings the derivative will need
# (the op names and ctx are listed in `docs/MODULE_FORMAT.md`). For example, an absolute value
# (not part of TinyTorch) would read:
#
# ```python
# def abs(self) -> "Tensor":
#     return Tensor._op("abs", np.abs(self.data), self)
# ```
#
# **Broadcasting.** NumPy aligns shapes from the right; a dimension of size 1 (or a missing one)
# is stretched: `(256, 128) + (128,)` → `(256, 128)`. No memory is copied for the stretched
# operand. Plain Python numbers work too: `2 * x`, `1 - x`, `x / 4` (the reflected forms
# `__rmul__`, `__rsub__`, `__rtruediv__` handle a number on the left).
#
# **Matmul.** `a @ b` multiplies the last two dimensions and broadcasts the leading (batch)
# ones: `(8, 4, 5) @ (5, 3)` → `(8, 4, 3)`. A 1-D operand on the right acts as a column, so
# `(4, 5) @ (5,)` → `(4,)`. A mismatch must name both shapes, because "shapes not aligned"
# alone sends a student hunting.
#
# **Reductions.** `sum`, `mean`, `max` take `axis` (an int, a tuple, or `None` for all) and
# `keepdims` (keep reduced axes as size 1, handy for broadcasting back: `x - x.max(axis=1,
# keepdims=True)`).
#
# **Shapes.** `reshape(2, -1)` infers the `-1`; `transpose(dim0, dim1)` swaps two axes (a view:
# no data moves); `.T` swaps the last two. Module 05 undoes a transpose with the full
# permutation of axes, so record that (`transpose(0, 2)` of a 3-D tensor is `(2, 1, 0)`).
#
# **Indexing.** `x[1, :, 2]`, `x[:, 1:]`, `x[[0, 0, 2]]`: whatever NumPy accepts. Record the
# index: module 05 needs it to send the gradient back to the picked elements.

# %% nbgrader={"grade": false, "grade_id": "tensor-class", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
class Tensor:
    """An n-dimensional float32 array that takes part in arithmetic and (from module 05) autograd."""

    # Make NumPy defer to our reflected operators: `np_array + tensor` calls Tensor.__radd__.
    __array_ufunc__ = None

    def __init__(self, data, requires_grad: bool = False):
        """Store `data` (a list, number, NumPy array or another Tensor) in `self.data` as a NumPy
        array of dtype `Config.dtype`."""
        # Hint: from a Tensor, take its `.data`; then `np.asarray(..., dtype=...)`.
        ### BEGIN SOLUTION
        if isinstance(data, Tensor):
            data = data.data
        self.data = np.asarray(data, dtype=Config.dtype)
        ### END SOLUTION
        self.requires_grad = requires_grad
        self.grad: Tensor | None = None
        # Filled in by `_op` once autograd is active: how this tensor was computed.
        self._inputs: tuple[Tensor, ...] = ()
        self._op_name: str | None = None
        self._ctx: dict = {}

    # --- the one path every operation goes through (given) ---------------------------------
    @staticmethod
    def _op(name: str, data, *inputs: "Tensor", **ctx) -> "Tensor":
        """Wrap `data` (the op's result) in a Tensor; record the graph when a rule exists.

        Once autograd is active (any rule registered), an op that should record a graph but has
        neither a rule nor a non-differentiable declaration raises: a silently cut graph would
        give wrong gradients with no error.
        """
        out = Tensor(data)
        if not (Config.grad_enabled and any(t.requires_grad for t in inputs)):
            return out
        if name in BACKWARD_RULES:
            out.requires_grad = True
            out._inputs, out._op_name, out._ctx = inputs, name, ctx
        elif BACKWARD_RULES and name not in NON_DIFFERENTIABLE:
            raise RuntimeError(missing_rule_message(name))
        return out

    @staticmethod
    def _lift(value) -> "Tensor":
        """Turn a Python number or array into a constant Tensor (given)."""
        return value if isinstance(value, Tensor) else Tensor(value)

    # --- properties -----------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        """The size of each dimension, e.g. `(2, 3)`; `()` for a scalar."""
        # Hint: the NumPy array in `self.data` already knows its shape, ndim and size.
        ### BEGIN SOLUTION
        return self.data.shape
        ### END SOLUTION

    @property
    def ndim(self) -> int:
        """The number of dimensions: 2 for shape `(2, 3)`."""
        ### BEGIN SOLUTION
        return self.data.ndim
        ### END SOLUTION

    @property
    def size(self) -> int:
        """The number of elements: 6 for shape `(2, 3)`."""
        ### BEGIN SOLUTION
        return self.data.size
        ### END SOLUTION

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        body = np.array2string(self.data, precision=4, separator=", ", threshold=20)
        grad = ", requires_grad=True" if self.requires_grad else ""
        return f"Tensor({body}, shape={self.shape}{grad})"

    def numpy(self) -> np.ndarray:
        """The underlying NumPy array (shared, not copied)."""
        return self.data

    def item(self) -> float:
        """The single number held by a one-element tensor, as a Python float."""
        if self.data.size != 1:
            raise ValueError(f"item() needs a tensor with one element, got shape {self.shape}")
        return float(self.data.reshape(()))

    def detach(self) -> "Tensor":
        """A tensor sharing this data but cut off from the graph."""
        return Tensor(self.data)

    def backward(self, grad=None) -> None:
        """Backpropagate from this tensor. The algorithm arrives in module 05 (autograd)."""
        try:
            from tinytorch.autograd import backward
        except ModuleNotFoundError as exc:
            raise RuntimeError(
                "Tensor.backward() needs module 05: complete it with `tito module complete 05`"
            ) from exc
        backward(self, grad)

    # --- element-wise arithmetic with broadcasting ----------------------------------------------
    def __add__(self, other) -> "Tensor":
        """Element-wise `self + other` with broadcasting; op `"add"`, inputs `(self, other)`."""
        other = Tensor._lift(other)
        # Hint: NumPy broadcasts `self.data + other.data` for you; return it through
        # `Tensor._op` with the op name and both inputs (see "the pattern" above).
        ### BEGIN SOLUTION
        return Tensor._op("add", self.data + other.data, self, other)
        ### END SOLUTION

    def __sub__(self, other) -> "Tensor":
        """Element-wise `self - other` with broadcasting; op `"sub"`, inputs `(self, other)`."""
        other = Tensor._lift(other)
        ### BEGIN SOLUTION
        return Tensor._op("sub", self.data - other.data, self, other)
        ### END SOLUTION

    def __mul__(self, other) -> "Tensor":
        """Element-wise `self * other` with broadcasting; op `"mul"`, inputs `(self, other)`."""
        other = Tensor._lift(other)
        ### BEGIN SOLUTION
        return Tensor._op("mul", self.data * other.data, self, other)
        ### END SOLUTION

    def __truediv__(self, other) -> "Tensor":
        """Element-wise `self / other` with broadcasting; op `"div"`, inputs `(self, other)`."""
        other = Tensor._lift(other)
        ### BEGIN SOLUTION
        return Tensor._op("div", self.data / other.data, self, other)
        ### END SOLUTION

    def __radd__(self, other) -> "Tensor":
        return Tensor._lift(other) + self

    def __rsub__(self, other) -> "Tensor":
        return Tensor._lift(other) - self

    def __rmul__(self, other) -> "Tensor":
        return Tensor._lift(other) * self

    def __rtruediv__(self, other) -> "Tensor":
        return Tensor._lift(other) / self

    def __neg__(self) -> "Tensor":
        """`-self`; op `"neg"`, input `self`."""
        ### BEGIN SOLUTION
        return Tensor._op("neg", -self.data, self)
        ### END SOLUTION

    def __pow__(self, exponent: float) -> "Tensor":
        """`self ** exponent` for a Python number; op `"pow"`, input `self`, ctx `exponent`."""
        if isinstance(exponent, Tensor):
            raise TypeError("Tensor ** Tensor is not supported: use a Python number as the exponent")
        # Hint: settings go in as keyword arguments of `_op`; they land in the output's `_ctx`.
        ### BEGIN SOLUTION
        return Tensor._op("pow", self.data ** exponent, self, exponent=exponent)
        ### END SOLUTION

    def exp(self) -> "Tensor":
        """Element-wise `e^x` (`np.exp`); op `"exp"`, input `self`."""
        ### BEGIN SOLUTION
        return Tensor._op("exp", np.exp(self.data), self)
        ### END SOLUTION

    def log(self) -> "Tensor":
        """Element-wise natural log (`np.log`); op `"log"`, input `self`."""
        ### BEGIN SOLUTION
        return Tensor._op("log", np.log(self.data), self)
        ### END SOLUTION

    def sqrt(self) -> "Tensor":
        """Element-wise square root (`np.sqrt`); op `"sqrt"`, input `self`."""
        ### BEGIN SOLUTION
        return Tensor._op("sqrt", np.sqrt(self.data), self)
        ### END SOLUTION

    # --- matrix multiplication --------------------------------------------------------------------
    def matmul(self, other) -> "Tensor":
        """Matrix product with NumPy's `matmul` rules (batched, 1-D allowed); op `"matmul"`.
        Raise a ValueError naming both shapes when the inner dimensions differ."""
        other = Tensor._lift(other)
        if self.ndim == 0 or other.ndim == 0:
            raise ValueError(f"matmul needs tensors with at least 1 dimension, got shapes "
                             f"{self.shape} and {other.shape}")
        # Hint: the inner dimensions are the left's last and the right's second to last (its
        # only one when it is 1-D). Check them yourself, then compute with `np.matmul`.
        ### BEGIN SOLUTION
        inner_a = self.shape[-1]
        inner_b = other.shape[-2] if other.ndim > 1 else other.shape[-1]
        if inner_a != inner_b:
            raise ValueError(f"matmul shape mismatch: {self.shape} @ {other.shape}: the left's last "
                             f"dimension ({inner_a}) must equal the right's rows ({inner_b})")
        return Tensor._op("matmul", np.matmul(self.data, other.data), self, other)
        ### END SOLUTION

    def __matmul__(self, other) -> "Tensor":
        return self.matmul(other)

    def __rmatmul__(self, other) -> "Tensor":
        return Tensor._lift(other).matmul(self)

    # --- reductions ---------------------------------------------------------------------------
    def sum(self, axis=None, keepdims: bool = False) -> "Tensor":
        """Sum over `axis` (None: every axis; an int or a tuple); `keepdims` keeps the reduced axes
        as size 1. Op `"sum"`, input `self`, ctx `axis` and `keepdims` (module 05 needs both)."""
        # Hint: NumPy arrays have `.sum(axis=..., keepdims=...)`; the same goes for mean and max.
        ### BEGIN SOLUTION
        data = self.data.sum(axis=axis, keepdims=keepdims)
        return Tensor._op("sum", data, self, axis=axis, keepdims=keepdims)
        ### END SOLUTION

    def mean(self, axis=None, keepdims: bool = False) -> "Tensor":
        """Mean over `axis`, like `sum`; op `"mean"`, ctx `axis` and `keepdims`."""
        ### BEGIN SOLUTION
        data = self.data.mean(axis=axis, keepdims=keepdims)
        return Tensor._op("mean", data, self, axis=axis, keepdims=keepdims)
        ### END SOLUTION

    def max(self, axis=None, keepdims: bool = False) -> "Tensor":
        """Maximum over `axis`, like `sum`; op `"max"`, ctx `axis` and `keepdims`."""
        ### BEGIN SOLUTION
        data = self.data.max(axis=axis, keepdims=keepdims)
        return Tensor._op("max", data, self, axis=axis, keepdims=keepdims)
        ### END SOLUTION

    # --- shape operations -----------------------------------------------------------------------
    def reshape(self, *shape) -> "Tensor":
        """The same elements in a new shape (`reshape(2, -1)` or `reshape((2, -1))`); op
        `"reshape"`. A shape with a different number of elements raises a ValueError that names
        this tensor's shape and size and the requested shape."""
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        # Hint: NumPy's reshape raises ValueError on a mismatch; catch it and raise your own
        # (`raise ... from None` hides NumPy's message).
        ### BEGIN SOLUTION
        try:
            data = self.data.reshape(shape)
        except ValueError:
            raise ValueError(f"cannot reshape a tensor of shape {self.shape} ({self.size} elements) "
                             f"into shape {shape}") from None
        return Tensor._op("reshape", data, self)
        ### END SOLUTION

    def transpose(self, dim0: int = -2, dim1: int = -1) -> "Tensor":
        """Swap axes `dim0` and `dim1` (negative numbers count from the end); op `"transpose"`,
        ctx `axes`: the full permutation as a tuple, `(2, 1, 0)` for `transpose(0, 2)` in 3-D."""
        if self.ndim < 2:
            return self
        # Hint: start from `list(range(self.ndim))`, swap two entries, and pass the permutation
        # to the NumPy array's `.transpose`.
        ### BEGIN SOLUTION
        axes = list(range(self.ndim))
        axes[dim0], axes[dim1] = axes[dim1], axes[dim0]
        return Tensor._op("transpose", self.data.transpose(axes), self, axes=tuple(axes))
        ### END SOLUTION

    @property
    def T(self) -> "Tensor":
        """Swap the last two dimensions (a no-op for 0-D and 1-D tensors)."""
        return self.transpose(-2, -1)

    # --- indexing -----------------------------------------------------------------------------
    def __getitem__(self, index) -> "Tensor":
        """`self[index]` for any index NumPy accepts; op `"getitem"`, ctx `index`."""
        if isinstance(index, Tensor):
            index = index.data.astype(np.int64)
        ### BEGIN SOLUTION
        return Tensor._op("getitem", self.data[index], self, index=index)
        ### END SOLUTION


# %% [markdown]
# ### Unit test: creation and properties
# A tensor must store `float32` whatever it is given, and report its shape.

# %% nbgrader={"grade": true, "grade_id": "test-creation", "locked": true, "points": 5, "schema_version": 3, "solution": false, "task": false}
def test_unit_creation():
    t = Tensor([[1, 2, 3], [4, 5, 6]])
    assert t.shape == (2, 3), f"shape should be (2, 3), got {t.shape}"
    assert t.ndim == 2 and t.size == 6, f"ndim/size wrong: {t.ndim}, {t.size}"
    assert t.dtype == np.float32, f"data must be float32, got {t.dtype}"
    assert Tensor(3.5).shape == () and Tensor(3.5).item() == 3.5
    assert Tensor(t).shape == (2, 3), "a Tensor built from a Tensor keeps its data"
    assert np.array_equal(t.numpy(), [[1, 2, 3], [4, 5, 6]])
    assert "shape=(2, 3)" in repr(t), f"repr should show the shape: {t!r}"
    Config.dtype = np.float64  # module 05's gradcheck switches to float64 like this
    try:
        assert Tensor([1, 2]).dtype == np.float64, "Tensor must store Config.dtype, not a fixed float32"
    finally:
        Config.dtype = np.float32
    print("creation: OK")


if __name__ == "__main__":
    test_unit_creation()

# %% [markdown]
# ### Unit test: arithmetic and broadcasting
# Compare with NumPy, which is the ground truth for broadcasting rules.

# %% nbgrader={"grade": true, "grade_id": "test-arithmetic", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false}
def test_unit_arithmetic():
    a = np.arange(6, dtype=np.float32).reshape(2, 3) + 1
    b = np.array([10.0, 20.0, 40.0], dtype=np.float32)
    x, y = Tensor(a), Tensor(b)
    for got, want, name in [(x + y, a + b, "+"), (x - y, a - b, "-"), (x * y, a * b, "*"),
                            (x / y, a / b, "/"), (-x, -a, "unary -"), (x ** 2, a ** 2, "**")]:
        assert isinstance(got, Tensor), f"{name} must return a Tensor"
        assert got.shape == want.shape, f"{name}: shape {got.shape}, expected {want.shape}"
        assert np.allclose(got.data, want), f"{name} gave {got.data}, expected {want}"
    assert np.allclose((2 - x).data, 2 - a) and np.allclose((1 / x).data, 1 / a)
    assert np.allclose((3 * x).data, 3 * a) and np.allclose((x + 1).data, a + 1)
    assert np.allclose(x.exp().log().data, a, atol=1e-5), "log(exp(x)) should give x back"
    assert np.allclose(x.sqrt().data, np.sqrt(a))
    print("arithmetic: OK")


if __name__ == "__main__":
    test_unit_arithmetic()

# %% [markdown]
# ### Unit test: matrix multiplication
# Includes a batched product and the error message for mismatched shapes.

# %% nbgrader={"grade": true, "grade_id": "test-matmul", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false}
def test_unit_matmul():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(4, 5)), rng.normal(size=(5, 3))
    assert np.allclose((Tensor(a) @ Tensor(b)).data, a @ b, atol=1e-5)
    batch = rng.normal(size=(8, 4, 5))
    out = Tensor(batch).matmul(Tensor(b))
    assert out.shape == (8, 4, 3), f"batched matmul shape {out.shape}, expected (8, 4, 3)"
    assert np.allclose(out.data, batch @ b, atol=1e-5)
    stacked = rng.normal(size=(2, 5, 3))
    assert np.allclose((Tensor(a) @ Tensor(stacked)).data, a @ stacked, atol=1e-5), "(4,5) @ (2,5,3)"
    v = rng.normal(size=5)
    assert np.allclose((Tensor(a) @ Tensor(v)).data, a @ v, atol=1e-5), "matrix @ vector"
    try:
        Tensor(a) @ Tensor(a)
    except ValueError as err:
        assert "(4, 5)" in str(err), f"the error should name both shapes, got: {err}"
    else:
        raise AssertionError("(4, 5) @ (4, 5) must raise ValueError")
    print("matmul: OK")


if __name__ == "__main__":
    test_unit_matmul()

# %% [markdown]
# ### Unit test: reductions

# %% nbgrader={"grade": true, "grade_id": "test-reductions", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false}
def test_unit_reductions():
    a = np.array([[1.0, 5.0, 3.0], [4.0, 2.0, 6.0]], dtype=np.float32)
    x = Tensor(a)
    assert x.sum().item() == 21.0 and x.mean().item() == 3.5 and x.max().item() == 6.0
    assert np.array_equal(x.sum(axis=0).data, [5.0, 7.0, 9.0])
    assert np.array_equal(x.max(axis=1).data, [5.0, 6.0])
    assert x.mean(axis=1, keepdims=True).shape == (2, 1), "keepdims must keep the reduced axis"
    assert np.allclose(x.mean(axis=0).data, [2.5, 3.5, 4.5])
    print("reductions: OK")


if __name__ == "__main__":
    test_unit_reductions()

# %% [markdown]
# ### Unit test: shapes and indexing

# %% nbgrader={"grade": true, "grade_id": "test-shapes", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false}
def test_unit_shapes():
    a = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    x = Tensor(a)
    assert x.reshape(6, -1).shape == (6, 4) and x.reshape((4, 6)).shape == (4, 6)
    assert np.array_equal(x.reshape(-1).data, a.reshape(-1))
    assert x.transpose(0, 2).shape == (4, 3, 2)
    assert np.array_equal(x.transpose(0, 2).data, a.transpose(2, 1, 0))
    assert np.array_equal(x.T.data, a.transpose(0, 2, 1)), ".T swaps the last two dimensions"
    assert np.array_equal(x[1, :, 2].data, a[1, :, 2])
    assert np.array_equal(x[:, 1:].data, a[:, 1:])
    try:
        x.reshape(5, 5)
    except ValueError as err:
        assert "(2, 3, 4)" in str(err), f"the error should name the shape, got: {err}"
    else:
        raise AssertionError("reshape to a different size must raise ValueError")
    print("shapes: OK")


if __name__ == "__main__":
    test_unit_shapes()

# %% [markdown]
# ### Unit test: every operation goes through `Tensor._op`
# Module 05 relies on this: when a backward rule is registered for an op name, the output must
# remember its inputs. We register throw-away rules, check the graph, then remove them.

# %% nbgrader={"grade": true, "grade_id": "test-op-path", "locked": true, "points": 5, "schema_version": 3, "solution": false, "task": false}
def test_unit_op_path():
    names = ["add", "sub", "mul", "div", "neg", "pow", "exp", "log", "sqrt", "matmul",
             "sum", "mean", "max", "reshape", "transpose", "getitem"]
    saved = dict(BACKWARD_RULES)
    try:
        for name in names:
            BACKWARD_RULES[name] = lambda grad, out, *inputs, **ctx: None
        x = Tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
        ops = {"add": x + 1, "sub": x - 1, "mul": x * 2, "div": x / 2, "neg": -x, "pow": x ** 2,
               "exp": x.exp(), "log": x.log(), "sqrt": x.sqrt(), "matmul": x @ x,
               "sum": x.sum(), "mean": x.mean(), "max": x.max(), "reshape": x.reshape(4),
               "transpose": x.T, "getitem": x[0]}
        for name, out in ops.items():
            assert out._op_name == name, f"{name}: output recorded op {out._op_name!r}"
            assert out._inputs[0] is x, f"{name}: output must remember its inputs, self first"
        two = Tensor([[5.0, 6.0], [7.0, 8.0]])
        for name, out in {"sub": x - two, "div": x / two, "matmul": x @ two}.items():
            assert out._inputs == (x, two), f"{name}: inputs must be recorded in order (left, right)"
        assert (Tensor([1.0]) + 1)._inputs == (), "constants must not record a graph"
        # Backward rules need the op's settings, saved as keyword arguments (ctx):
        y = Tensor(np.ones((2, 3, 4)), requires_grad=True)
        assert (y ** 3)._ctx == {"exponent": 3}
        for name in ("sum", "mean", "max"):
            ctx = getattr(y, name)(axis=1, keepdims=True)._ctx
            assert ctx == {"axis": 1, "keepdims": True}, f"{name} must save axis and keepdims, got {ctx}"
        assert y.transpose(0, 2)._ctx == {"axes": (2, 1, 0)}, "transpose must save the permutation"
        assert y[1]._ctx == {"index": 1}, "getitem must save the index"
    finally:
        BACKWARD_RULES.clear()
        BACKWARD_RULES.update(saved)
    print("op path: OK")


if __name__ == "__main__":
    test_unit_op_path()

# %% [markdown]
# ## Module test
# Everything together: a tiny linear model `y = x @ W + b` on a batch, built only from your ops.

# %% nbgrader={"grade": true, "grade_id": "test-module", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false}
def test_module():
    rng = np.random.default_rng(1)
    x, w, b = rng.normal(size=(32, 10)), rng.normal(size=(10, 4)), rng.normal(size=(4,))
    y = Tensor(x) @ Tensor(w) + Tensor(b)
    assert y.shape == (32, 4) and np.allclose(y.data, x @ w + b, atol=1e-4)
    centered = y - y.mean(axis=0, keepdims=True)
    assert np.allclose(centered.mean(axis=0).data, 0, atol=1e-5)
    scores = (y - y.max(axis=1, keepdims=True)).exp()
    probs = scores / scores.sum(axis=1, keepdims=True)
    assert np.allclose(probs.sum(axis=1).data, 1, atol=1e-5), "rows of a softmax sum to 1"
    print("module 01: all tests passed")


if __name__ == "__main__":
    test_module()

# %% [markdown]
# ## Reflection
# - `(256, 784) @ (784, 128)` costs about 51 MFLOPs; the `+ b` after it costs 32 K. Where would
#   you look first to make a network faster?
# - Broadcasting `(256, 128) + (128,)` creates no copy of the bias. What would it cost in memory
#   if it did?
# - Why does every op return a *new* tensor instead of changing `self` in place? (Hint: module 05
#   needs the inputs unchanged to compute gradients.)
