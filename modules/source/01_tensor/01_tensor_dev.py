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
# - Wrap a `float32` NumPy array, and refuse input that is not numbers with a clear message.
# - Implement element-wise arithmetic with **broadcasting**, matrix multiplication, reductions
#   and shape operations, and explain their memory and FLOP costs.
# - Route every operation through **one internal path**, `Tensor._op`, so that module 05 can
#   attach gradients to every operation without touching this code again.
#
# ## How to work
# In your copy of this file, each piece you write is a stub that raises `NotImplementedError`;
# replace the stub with your code. Sections 3 to 7 explain each piece (the stub's docstring says
# which section); run the test cell after each group. Stuck? `tito hint 01` lists the stubs, and
# `tito hint 01 Tensor.matmul` (for example) shows hints one level at a time: the idea, then the
# math, then the shape of the code. When every test passes, run `tito module complete 01`: it
# checks this file, exports the `#| export` cells to `tinytorch/tensor.py`, and runs the full
# test suite.

# %% nbgrader={"grade": false, "grade_id": "tensor-setup", "locked": false, "schema_version": 3, "solution": false, "task": false}
#| default_exp tensor
#| export
import difflib
import warnings
from collections.abc import Callable

import numpy as np

# %% nbgrader={"grade": false, "grade_id": "tensor-test-helpers", "locked": false, "schema_version": 3, "solution": false, "task": false}
# Test helpers (not exported), here for your own experiments: `raises` checks an error's type
# and words, `close` compares numbers and shows the worst element, `recording_ops` registers
# throw-away backward rules so that you can see the graph your ops record. Each graded test
# imports the ones it uses itself, so a name of yours can never stand in for them.
from tinytorch.testing import close, raises, recording_ops  # noqa: F401 - for your experiments

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
# `Tensor._op(name, data, *inputs, **ctx)`: the op's name (`"add"`), its result, the tensors
# it was computed from, and any settings its derivative will need (`axis=1`). Today `_op`
# simply wraps `data` in a new Tensor. In module 05 you will register a **backward rule** for
# each op name; from then on `_op` also records, on the output, which op made it and from which
# inputs. That record is the graph gradients flow back through. Nothing in this file will have
# to change.
#
# Recording only works if every op goes through `_op` *and* has a rule. What if a later module
# adds an op and forgets its rule? Say `y` is `7·w` computed by such an op, and you
# backpropagate through `(y + w).sum()`. The true gradient for `w` is `7 + 1 = 8`. If `_op`
# quietly skipped the unknown op, the graph would lose the path through `y`, and `w.grad` would
# come out as `1`: wrong, with no error anywhere. So `_op` guards the graph: once autograd is
# active (at least one rule registered), an op whose input requires a gradient but which has no
# rule raises a `RuntimeError` that names the op and says how to register its rule. A few ops
# truly have no gradient (an `argmax`, a comparison); they are declared with
# `register_non_differentiable(name)`, and their outputs are treated as constants.
#
# Before module 05 no rule exists, so none of this happens yet: your ops just return tensors.
# All of this is given: the registry and the global switches in the next cell, and `_op`
# itself inside the class (section 8). Your part is to call `_op` correctly from every op.

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
    message = f"op {name!r} has no backward rule, so gradients through it would be silently wrong. "
    known = {str(op).lower(): op for op in [*BACKWARD_RULES, *NON_DIFFERENTIABLE]}
    low = str(name).lower()
    close_names = [known[low]] if low in known else [
        known[other] for other in difflib.get_close_matches(low, known, n=3, cutoff=0.7)]
    if close_names:  # most often a typo or the wrong case in the op name of the contract
        message += (f"Did you mean {' or '.join(map(repr, close_names))}? Op names are exact and "
                    "case-sensitive (docs/MODULE_FORMAT.md lists them). If it is a new op, register")
    else:
        message += "Register"
    return message + (f" one with `@register_backward({name!r})` (module 05 shows how), or, if the op "
                      f"has no gradient (like argmax), declare it with `register_non_differentiable({name!r})`.")


class Config:
    """Global switches, changed only through context managers that module 05 provides."""
    grad_enabled = True  # False inside `no_grad()`: ops record no graph
    dtype = np.float32  # float64 inside `gradcheck`, for precise finite differences


# %% [markdown]
# ## 3. Building a tensor: what `Tensor(data)` accepts
#
# `Tensor(data)` takes numbers in every form they arrive in: a Python number (`3.5`), a nested
# list of numbers (`[[1, 2], [3, 4]]`), a NumPy array of numbers, or another Tensor (take its
# `.data`). It stores them in `self.data` as a NumPy array of dtype `Config.dtype`. That *is*
# `float32`, except inside module 05's `gradcheck`, which switches it to `float64` for precise
# finite differences; so use `Config.dtype`, never a hard-coded `np.float32`.
#
# **Refuse what is not numbers.** Converting straight to floats accepts almost anything, and not
# always in a way you would want:
#
# | `data` | what NumPy reads it as (its dtype) | converted straight to float32 |
# |---|---|---|
# | `[[1, 2], [3, 4]]` | `int64` | `[[1., 2.], [3., 4.]]`: right |
# | `None` | `object` (an array holding a Python object) | `nan`, silently |
# | `[1, None]` | `object` | `[1., nan]`, silently |
# | `["1", "2"]` | `<U1` (text) | `[1., 2.]`, silently |
#
# A `nan` that appears three modules later, or text that quietly became numbers, costs an
# afternoon to trace back. So look before you convert: every NumPy dtype has a one-letter
# `dtype.kind`: `"b"` bool, `"i"` signed and `"u"` unsigned integers, `"f"` floats, `"c"`
# complex, `"U"` text, `"O"` Python objects. Accept booleans, integers and floats (booleans
# become 0 and 1); refuse every other kind (complex too: converting to float would drop the
# imaginary part) with a **`TypeError`** whose message
# - names the type of what was given (`NoneType`, `list`, `str`, `ndarray`...), and
# - says what is accepted: numbers, nested lists of numbers, NumPy arrays, Tensors.
#
# For `["1", "2"]`, for example: `Tensor() takes numbers (a number, a nested list of numbers, a
# NumPy array or a Tensor); got list, which NumPy reads as dtype <U1`.
#
# **Copy nothing you do not have to.** A `float32` array passed in must be stored as is (the
# same object, no copy: a batch of images can be hundreds of megabytes). Some NumPy conversions
# always copy; others copy only when the dtype has to change. You need one of the second kind.
#
# The properties `shape`, `ndim`, `size` and `dtype` are given: they read the same attributes of
# `self.data`.
#
# ## 4. Element-wise arithmetic: one pattern for every op
#
# Every operation follows the pattern of section 2: compute the result with NumPy on `.data`,
# then hand it to `Tensor._op` with the op's name, its input tensors in order (left, then right)
# and any settings the derivative will need. The op names and settings are fixed: the backward
# rules of module 05 look them up (the table in `docs/MODULE_FORMAT.md`; each docstring below
# repeats its line). Here is one op worked in full, `a * b`, which the class below gives you:
#
# 1. The math: the product element by element, broadcasting the two shapes (below). NumPy's
#    `*` on the two arrays does exactly that; the result is an array, not a Tensor.
# 2. The inputs: both tensors, left then right. Module 05 will need both values: the derivative
#    of `a * b` with respect to `a` is `b`, and with respect to `b` it is `a`.
# 3. The settings: none. Everything the derivative needs is in the two recorded inputs.
#
# Read `__mul__` in the class with those three answers in mind; `/`, `-x`, `exp`, `log` and
# `sqrt` are given too, written the same way. You write `+` and `-` (`"add"`, `"sub"`), and
# `x ** p` (`"pow"`), whose contract asks more:
#
# **Powers, `x ** p`.** Every element raised to the power `p`, with NumPy's values (a negative
# base to a fractional power is nan, as in NumPy).
# - *Which exponents.* `p` is a real number: a Python `int` or `float`, or a NumPy scalar of
#   either kind (`np.float32(0.5)`, `np.int64(3)`, or what `a.std()` returns for an array `a`).
#   Anything else (a Tensor, an array, even one holding a single number, a list, a string,
#   `None`, a complex number) raises a **`TypeError` whose message names the type it got** and
#   says that the exponent must be a number. A Tensor exponent would need a gradient of its own
#   (`x^p · ln x`), which this op does not record; a list or an array would make NumPy broadcast
#   one exponent per element without a word.
# - *Input or setting.* The derivative `p·x^(p-1)` needs `p`, but `p` is not a tensor that
#   could receive a gradient, so it is not an input: it travels as a setting, the way section 2
#   records `axis=1`, under the name the docstring gives.
# - *Dtypes.* The result has the tensor's dtype (`_op` sees to that). The recorded exponent is
#   a plain Python `int` or `float` of the same value, never a NumPy scalar: module 05 multiplies
#   gradients by it, and a NumPy `float64` scalar promotes a `float32` array (a `float32` array
#   times `np.float64(2.0)` is `float64`), where a Python number never does.
#
# **Broadcasting.** The binary ops `+ - * /` take two tensors whose shapes NumPy aligns from
# the right; a dimension of size 1 (or a missing one) is stretched: `(256, 128) + (128,)` →
# `(256, 128)`. No memory is copied for the stretched operand, and NumPy does all of it for you.
# Plain numbers work too, on either side: `x / 4`, `2 * x`, `1 - x`. The right-hand operand goes
# through the given `Tensor._lift`, which makes a number a constant Tensor, and the reflected
# forms (`__rsub__`, ...) are given. Every op returns a *new* tensor and leaves its inputs
# untouched: module 05 needs them unchanged to compute gradients.
#
# ## 5. Matrix multiplication
#
# `a @ b` multiplies the last two dimensions and broadcasts the leading (batch) ones, exactly as
# `np.matmul` does:
#
# | `a` | `b` | result | why |
# |---|---|---|---|
# | `(4, 5)` | `(5, 3)` | `(4, 3)` | inner dimensions 5 and 5 match |
# | `(8, 4, 5)` | `(5, 3)` | `(8, 4, 3)` | a matrix broadcasts over the batch of 8 |
# | `(1, 4, 5)` | `(6, 5, 3)` | `(6, 4, 3)` | batch dimensions 1 and 6 broadcast to 6 |
# | `(4, 5)` | `(5,)` | `(4,)` | a 1-D right operand acts as a column |
# | `(2, 3, 4)` | `(3, 4, 5)` | error | inner 4 and 4 match, but batch 2 and 3 do not broadcast |
# | `(4, 5)` | `(4, 5)` | error | inner dimensions 5 and 4 differ |
#
# Check both conditions yourself *before* multiplying: the inner dimensions (the left's last;
# the right's second to last, or its only one when it is 1-D) must be equal, and the batch
# dimensions (everything before the last two) must broadcast. On a mismatch raise a
# **`ValueError` whose message names both full shapes**, e.g. `matmul shape mismatch:
# (2, 3, 4) @ (3, 4, 5): ...`. NumPy's own message (`Input operand 1 has a mismatch in its core
# dimension 0`, or a list of "remapped shapes") sends a student hunting for which product in
# which layer failed; both shapes answer that at once. A 0-d operand is refused for you (given).
#
# Cost: `(…, m, k) @ (…, k, n)` is `2·m·k·n` FLOPs per batch entry.
#
# ## 6. Reductions
#
# `sum`, `mean` and `max` reduce over `axis`: `None` for every axis (the result is 0-d), an
# int, or a tuple of ints. `keepdims=True` keeps each reduced axis with size 1, which is what
# makes broadcasting back work: `x - x.max(axis=1, keepdims=True)` subtracts each row's maximum
# from that row, `(N, C) - (N, 1)`. Module 05 must undo the reduction to send the gradient back,
# so record both settings, under the names `axis` and `keepdims`.
#
# **Your design: `var`, a reduction built from reductions.** The variance over `axis` is the mean
# squared distance from the mean, `Var(x) = mean((x - mean(x))²)`, the same as
# `mean(x²) - mean(x)²` on paper. Yours takes the same `axis` and `keepdims` as `sum`, divides by
# the number of elements reduced (the population variance, as NumPy's `var` does by default:
# `var([1, 3])` is 1, not 2), and is **built from your Tensor ops**, recording no op of its own:
# module 05 then differentiates it with the rules it already has, and LayerNorm-style code can use
# it. How you compute it is up to you; the tests judge the result on data like a sensor's
# readings, around 10,000 with a spread of 1. In `float32` (7 significant digits) 10,000² is
# 100,000,000 give or take 8, so a formula can be exact on paper and useless here: the variance
# must stay within 0.1% of the true one there, never be negative (a constant row has variance
# exactly 0 or nearly), and agree with NumPy on ordinary data. Think about which intermediate
# values your formula forms, and how large they are, before you write it. Cost: every pass over
# the data is one read of it; count how many passes and temporaries your choice makes.
#
# ## 7. Shapes and indexing
#
# **`reshape(2, -1)`** (or `reshape((2, -1))`: the given code turns both forms into one tuple)
# keeps the elements in order and changes the shape; `-1` means "whatever is left". A shape with
# a different number of elements must raise a **`ValueError` naming this tensor's shape, its
# size and the requested shape** (`cannot reshape (2, 3, 4) (24 elements) into (5, 5)`), not
# NumPy's message.
#
# **`transpose(dim0, dim1)`** swaps two axes (negative numbers count from the end; `.T` swaps
# the last two; 0-d and 1-D tensors come back unchanged, given). It moves no data: NumPy returns
# a view with the strides swapped. Module 05 undoes a transpose by applying the inverse
# permutation, so record the **full permutation** of axes as `axes=` (a tuple): for a 3-D
# tensor, `transpose(0, 2)` is `(2, 1, 0)`, and `transpose(-1, 0)` is `(2, 1, 0)` too.
#
# **Indexing** `x[1, :, 2]`, `x[:, 1:]`, `x[[0, 0, 2]]`: whatever NumPy accepts, with the
# result NumPy gives. Indices often arrive as Tensors (class labels, token ids): a Tensor stores
# `float32`, and NumPy refuses floats as positions. So a Tensor in the index, on its own
# (`x[labels]`) or as one entry of a tuple (`x[rows, labels]`, `x[labels, 1:]`), stands for the
# integer positions it holds. Record the index NumPy actually used as the setting `index`:
# module 05 needs it to send the gradient back to the picked elements, with NumPy's own indexing.
#
# ## 8. The Tensor class: which section explains each stub
#
# Read the whole class first. It is one cell, so work group by group, running the class cell
# and then the group's test cell below after each:
#
# | you write | explained in | test |
# |---|---|---|
# | `__init__` | section 3 | creation and properties |
# | `__add__` `__sub__` `__pow__` (`*`, `/`, `-x`, `exp`, `log`, `sqrt` are given) | section 4 | arithmetic and broadcasting |
# | `matmul` | section 5 | matrix multiplication |
# | `sum` `mean` `max` | section 6 | reductions |
# | `var` (your design) | section 6 | variance |
# | `reshape` `transpose` `__getitem__` | section 7 | shapes and indexing |
#
# The last two tests check everything together: that every op goes through `_op` with its
# name, inputs and settings, and a small linear model.

# %% nbgrader={"grade": false, "grade_id": "tensor-class", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
class Tensor:
    """An n-dimensional float32 array that takes part in arithmetic and (from module 05) autograd."""

    # Make NumPy defer to our reflected operators: `np_array + tensor` calls Tensor.__radd__.
    __array_ufunc__ = None

    def __init__(self, data, requires_grad: bool = False):
        """Store `data` in `self.data` as a NumPy array of dtype `Config.dtype` (section 3).

        Accepts a number, a nested list of numbers, a NumPy array of booleans, integers or floats,
        or another Tensor; a float32 array is stored as is, without a copy. Anything else raises
        a TypeError naming the type given and what is accepted.
        """
        ### BEGIN SOLUTION
        if isinstance(data, Tensor):
            data = data.data
        array = np.asarray(data)
        if array.dtype.kind not in "biuf":
            raise TypeError(f"Tensor() takes numbers (a number, a nested list of numbers, a NumPy "
                            f"array or a Tensor); got {type(data).__name__}, which NumPy reads as "
                            f"dtype {array.dtype}")
        self.data = np.asarray(array, dtype=Config.dtype)
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

    # --- properties (given) ---------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        """The size of each dimension, e.g. `(2, 3)`; `()` for a scalar."""
        return self.data.shape

    @property
    def ndim(self) -> int:
        """The number of dimensions: 2 for shape `(2, 3)`."""
        return self.data.ndim

    @property
    def size(self) -> int:
        """The number of elements: 6 for shape `(2, 3)`."""
        return self.data.size

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

    # --- element-wise arithmetic with broadcasting (section 4) ----------------------------------
    def __add__(self, other) -> "Tensor":
        """Element-wise `self + other` with broadcasting; op `"add"`, inputs `(self, other)`."""
        other = Tensor._lift(other)
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
        """Element-wise `self * other` with broadcasting; op `"mul"`, inputs `(self, other)`
        (given: section 4 works it through)."""
        other = Tensor._lift(other)
        return Tensor._op("mul", self.data * other.data, self, other)

    def __truediv__(self, other) -> "Tensor":
        """Element-wise `self / other` with broadcasting; op `"div"`, inputs `(self, other)`
        (given)."""
        other = Tensor._lift(other)
        return Tensor._op("div", self.data / other.data, self, other)

    def __radd__(self, other) -> "Tensor":
        return Tensor._lift(other) + self

    def __rsub__(self, other) -> "Tensor":
        return Tensor._lift(other) - self

    def __rmul__(self, other) -> "Tensor":
        return Tensor._lift(other) * self

    def __rtruediv__(self, other) -> "Tensor":
        return Tensor._lift(other) / self

    def __neg__(self) -> "Tensor":
        """`-self`; op `"neg"`, input `self` (given)."""
        return Tensor._op("neg", -self.data, self)

    def __pow__(self, exponent: float) -> "Tensor":
        """`self ** exponent` for a real number, a Python or NumPy scalar (anything else: TypeError);
        op `"pow"`, input `self`, ctx `exponent` as a Python number (section 4)."""
        ### BEGIN SOLUTION
        if not isinstance(exponent, (int, float, np.integer, np.floating)):
            raise TypeError(f"Tensor ** {type(exponent).__name__} is not supported: the exponent must be a "
                            "real number (a Python int or float, or a NumPy scalar)")
        if isinstance(exponent, np.generic):
            exponent = exponent.item()  # a Python number: no float64 promotion in module 05's gradient
        return Tensor._op("pow", self.data ** exponent, self, exponent=exponent)
        ### END SOLUTION

    def exp(self) -> "Tensor":
        """Element-wise `e^x`; op `"exp"`, input `self` (given)."""
        return Tensor._op("exp", np.exp(self.data), self)

    def log(self) -> "Tensor":
        """Element-wise natural logarithm; op `"log"`, input `self` (given)."""
        return Tensor._op("log", np.log(self.data), self)

    def sqrt(self) -> "Tensor":
        """Element-wise square root; op `"sqrt"`, input `self` (given)."""
        return Tensor._op("sqrt", np.sqrt(self.data), self)

    # --- matrix multiplication (section 5) --------------------------------------------------------
    def matmul(self, other) -> "Tensor":
        """Matrix product with NumPy's `matmul` rules (batched, 1-D allowed); op `"matmul"`,
        inputs `(self, other)`. Inner dimensions that differ, or batch dimensions that do not
        broadcast, raise a ValueError naming both shapes (section 5)."""
        other = Tensor._lift(other)
        if self.ndim == 0 or other.ndim == 0:
            raise ValueError(f"matmul needs tensors with at least 1 dimension, got shapes "
                             f"{self.shape} and {other.shape}")
        ### BEGIN SOLUTION
        inner_a = self.shape[-1]
        inner_b = other.shape[-2] if other.ndim > 1 else other.shape[0]
        if inner_a != inner_b:
            raise ValueError(f"matmul shape mismatch: {self.shape} @ {other.shape}: the left's last "
                             f"dimension ({inner_a}) must equal the right's rows ({inner_b})")
        try:
            np.broadcast_shapes(self.shape[:-2], other.shape[:-2])
        except ValueError:
            raise ValueError(f"matmul shape mismatch: {self.shape} @ {other.shape}: the batch "
                             "dimensions (all but the last two) do not broadcast") from None
        return Tensor._op("matmul", np.matmul(self.data, other.data), self, other)
        ### END SOLUTION

    def __matmul__(self, other) -> "Tensor":
        return self.matmul(other)

    def __rmatmul__(self, other) -> "Tensor":
        return Tensor._lift(other).matmul(self)

    # --- reductions (section 6) -----------------------------------------------------------------
    def sum(self, axis=None, keepdims: bool = False) -> "Tensor":
        """Sum over `axis` (None: every axis; an int or a tuple); `keepdims` keeps the reduced axes
        as size 1. Op `"sum"`, input `self`, ctx `axis` and `keepdims` (section 6)."""
        ### BEGIN SOLUTION
        data = self.data.sum(axis=axis, keepdims=keepdims)
        return Tensor._op("sum", data, self, axis=axis, keepdims=keepdims)
        ### END SOLUTION

    def mean(self, axis=None, keepdims: bool = False) -> "Tensor":
        """Mean over `axis`, like `sum`; op `"mean"`, ctx `axis` and `keepdims` (section 6)."""
        ### BEGIN SOLUTION
        data = self.data.mean(axis=axis, keepdims=keepdims)
        return Tensor._op("mean", data, self, axis=axis, keepdims=keepdims)
        ### END SOLUTION

    def max(self, axis=None, keepdims: bool = False) -> "Tensor":
        """Maximum over `axis`, like `sum`; op `"max"`, ctx `axis` and `keepdims` (section 6)."""
        ### BEGIN SOLUTION
        data = self.data.max(axis=axis, keepdims=keepdims)
        return Tensor._op("max", data, self, axis=axis, keepdims=keepdims)
        ### END SOLUTION

    def var(self, axis=None, keepdims: bool = False) -> "Tensor":
        """Population variance over `axis` (dividing by the number of elements reduced), like
        `sum` in its arguments; built from your ops (no op of its own), and accurate in float32
        even when the mean is large next to the spread (section 6, your design)."""
        ### BEGIN SOLUTION
        centered = self - self.mean(axis=axis, keepdims=True)
        return (centered * centered).mean(axis=axis, keepdims=keepdims)
        ### END SOLUTION

    # --- shape operations (section 7) -----------------------------------------------------------
    def reshape(self, *shape) -> "Tensor":
        """The same elements in a new shape (`reshape(2, -1)` or `reshape((2, -1))`); op
        `"reshape"`, input `self`. A shape with a different number of elements raises a
        ValueError naming this tensor's shape and size and the requested shape (section 7)."""
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
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
        input `self`, ctx `axes`: the full permutation as a tuple, `(2, 1, 0)` for
        `transpose(0, 2)` in 3-D (section 7)."""
        if self.ndim < 2:
            return self
        for dim in (dim0, dim1):  # given: an axis that does not exist is named, never wrapped around
            if not -self.ndim <= dim < self.ndim:
                raise ValueError(f"transpose: dimension {dim} does not exist in a {self.ndim}-D tensor "
                                 f"of shape {self.shape} (use 0 to {self.ndim - 1}, or -1 to -{self.ndim})")
        ### BEGIN SOLUTION
        axes = list(range(self.ndim))
        axes[dim0], axes[dim1] = axes[dim1], axes[dim0]
        return Tensor._op("transpose", self.data.transpose(axes), self, axes=tuple(axes))
        ### END SOLUTION

    @property
    def T(self) -> "Tensor":
        """Swap the last two dimensions (a no-op for 0-D and 1-D tensors)."""
        return self.transpose(-2, -1)

    # --- indexing (section 7) -------------------------------------------------------------------
    def __getitem__(self, index) -> "Tensor":
        """`self[index]` for any index NumPy accepts, where a Tensor (alone, or an entry of a tuple)
        stands for the integer positions it holds; op `"getitem"`, input `self`, ctx `index`: the
        index NumPy used (section 7)."""
        ### BEGIN SOLUTION
        if isinstance(index, Tensor):
            index = index.data.astype(np.int64)
        elif isinstance(index, tuple):
            index = tuple(part.data.astype(np.int64) if isinstance(part, Tensor) else part for part in index)
        return Tensor._op("getitem", self.data[index], self, index=index)
        ### END SOLUTION


# %% [markdown]
# ### Unit test: creation and properties
# A tensor stores `Config.dtype` (float32) whatever numbers it is given, copies nothing it need
# not, and refuses what is not numbers with a `TypeError` that names what it got.

# %% nbgrader={"grade": true, "grade_id": "test-creation", "locked": true, "points": 5, "schema_version": 3, "solution": false, "task": false}
def test_unit_creation():
    from tinytorch.testing import close, raises
    t = Tensor([[1, 2, 3], [4, 5, 6]])
    assert t.shape == (2, 3), f"shape should be (2, 3), got {t.shape}"
    assert t.dtype == np.float32, f"data must be float32, got {t.dtype}"
    close(t, np.array([[1, 2, 3], [4, 5, 6]]), what="Tensor([[1, 2, 3], [4, 5, 6]])")
    scalar = Tensor(3.5)
    assert scalar.shape == () and scalar.item() == 3.5, f"Tensor(3.5) gave {scalar!r}"
    assert Tensor(np.array([True, False])).dtype == np.float32, "booleans become 0.0 and 1.0"
    assert Tensor(t).shape == (2, 3), "a Tensor built from a Tensor keeps its data"
    same = np.ones((2, 2), dtype=np.float32)
    assert Tensor(same).data is same, "a float32 array must be stored as is, not copied"
    raises(TypeError, lambda: Tensor(None), "NoneType", "numbers")
    raises(TypeError, lambda: Tensor(["1", "2"]), "list", "numbers")
    raises(TypeError, lambda: Tensor([1.0, None]), "list", "numbers")
    raises(TypeError, lambda: Tensor("3"), "str", "numbers")
    Config.dtype = np.float64  # module 05's gradcheck switches to float64 like this
    try:
        got = Tensor([1, 2]).dtype
    finally:
        Config.dtype = np.float32
    assert got == np.float64, f"Tensor must store Config.dtype (here float64), got {got}"
    print("creation: OK")


if __name__ == "__main__":
    test_unit_creation()

# %% [markdown]
# ### Unit test: arithmetic and broadcasting
# Compared with NumPy, the ground truth for broadcasting. Each op gets its own fresh inputs, and
# must leave them unchanged.

# %% nbgrader={"grade": true, "grade_id": "test-arithmetic", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false}
def test_unit_arithmetic():
    from tinytorch.testing import close, raises
    a = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], dtype=np.float32)
    b = np.array([10.0, 20.0, 40.0], dtype=np.float32)
    binary = {"+": (lambda x, y: x + y, a + b), "-": (lambda x, y: x - y, a - b),
              "*": (lambda x, y: x * y, a * b), "/": (lambda x, y: x / y, a / b)}
    swapped = {"-": b - a, "/": b / a}  # what y - x and y / x give: operands in the wrong order
    for name, (op, want) in binary.items():
        x, y = Tensor(a.copy()), Tensor(b.copy())
        got = op(x, y)
        assert isinstance(got, Tensor), f"x {name} y must return a Tensor, got {type(got).__name__}"
        if name in swapped and got.shape == want.shape and np.allclose(got.data, swapped[name]):
            raise AssertionError(f"x {name} y gave y {name} x (got {got.data[0, 2]:g} at (0, 2), expected "
                                 f"{want[0, 2]:g}): the left operand is self, the right one other")
        close(got, want, what=f"(2, 3) {name} (3,)")
        close(x, a, what=f"x after x {name} y (inputs must stay unchanged)")
        close(y, b, what=f"y after x {name} y (inputs must stay unchanged)")
    x = Tensor(a.copy())  # pow: any real number as the exponent, a Python or a NumPy scalar
    for p in (2, 0.5, -1.0, np.int64(3), np.float32(0.5), np.float64(-2.0)):
        try:
            got = x ** p
        except TypeError as exc:
            raise AssertionError(f"x ** {p!r}: {type(p).__name__} is a real number, an exponent to accept; "
                                 f"got TypeError: {exc}") from None
        close(got, a ** float(p), rtol=1e-6, what=f"x ** {p!r}")
    for bad in (Tensor([2.0]), np.array([2.0]), np.array(2.0), [2], "2", None, 2j):
        kind = type(bad).__name__
        try:
            raises(TypeError, lambda bad=bad: x ** bad, kind, "number")
        except AssertionError as failure:
            raise AssertionError(f"x ** {bad!r}: {kind} is not a real number, so the exponent is refused with a "
                                 f"TypeError naming {kind!r} and saying it must be a number; {failure}") from None
    unary = {"-x": (lambda x: -x, -a), "x ** 2": (lambda x: x ** 2, a ** 2),
             "x ** 0.5": (lambda x: x ** 0.5, np.sqrt(a)), "x.exp()": (lambda x: x.exp(), np.exp(a)),
             "x.log()": (lambda x: x.log(), np.log(a)), "x.sqrt()": (lambda x: x.sqrt(), np.sqrt(a))}
    for name, (op, want) in unary.items():
        x = Tensor(a.copy())
        close(op(x), want, what=name)
        close(x, a, what=f"x after {name} (inputs must stay unchanged)")
    x = Tensor(a)
    close(2 - x, 2 - a, what="2 - x")
    close(1 / x, 1 / a, what="1 / x")
    close(3 * x, 3 * a, what="3 * x")
    close(x + 1, a + 1, what="x + 1")
    print("arithmetic: OK")


if __name__ == "__main__":
    test_unit_arithmetic()

# %% [markdown]
# ### Unit test: matrix multiplication
# Plain, batched and matrix-vector products, and a `ValueError` naming both shapes for each kind
# of mismatch.

# %% nbgrader={"grade": true, "grade_id": "test-matmul", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false}
def test_unit_matmul():
    from tinytorch.testing import close, raises
    rng = np.random.default_rng(0)

    def product(left, right):
        what = f"{left.shape} @ {right.shape}"
        try:
            got = Tensor(left) @ Tensor(right)
        except ValueError as exc:
            raise AssertionError(f"{what} is a valid product (NumPy computes it, shape "
                                 f"{np.matmul(left, right).shape}), but raised ValueError: {exc}") from None
        close(got, left @ right, atol=1e-5, what=what)

    a, b = rng.normal(size=(4, 5)), rng.normal(size=(5, 3))
    product(a, b)
    product(rng.normal(size=(8, 4, 5)), b)
    stacked = rng.normal(size=(2, 5, 3))
    product(a, stacked)
    product(rng.normal(size=(1, 4, 5)), stacked)
    product(a, rng.normal(size=5))
    batch = rng.normal(size=(8, 4, 5))
    close(Tensor(batch).matmul(Tensor(b)), batch @ b, atol=1e-5, what="Tensor.matmul, (8, 4, 5) by (5, 3)")
    raises(ValueError, lambda: Tensor(np.ones((4, 5))) @ Tensor(np.ones((4, 5))), "(4, 5)")
    raises(ValueError, lambda: Tensor(np.ones((3, 4))) @ Tensor(np.ones(3)), "(3, 4)", "(3,)")
    # inner dimensions 4 and 4 match, but the batch dimensions 2 and 3 do not broadcast:
    raises(ValueError, lambda: Tensor(np.ones((2, 3, 4))) @ Tensor(np.ones((3, 4, 5))), "(2, 3, 4)", "(3, 4, 5)")
    print("matmul: OK")


if __name__ == "__main__":
    test_unit_matmul()

# %% [markdown]
# ### Unit test: reductions

# %% nbgrader={"grade": true, "grade_id": "test-reductions", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false}
def test_unit_reductions():
    from tinytorch.testing import close
    a = np.array([[1.0, 5.0, 3.0], [4.0, 2.0, 6.0]], dtype=np.float32)
    x = Tensor(a)
    for name in ("sum", "mean", "max"):
        close(getattr(x, name)(), getattr(a, name)(), what=f"x.{name}()")
        for axis in (0, 1, (0, 1)):
            close(getattr(x, name)(axis=axis), getattr(a, name)(axis=axis), what=f"x.{name}(axis={axis})")
        kept = getattr(x, name)(axis=1, keepdims=True)
        close(kept, getattr(a, name)(axis=1, keepdims=True), what=f"x.{name}(axis=1, keepdims=True)")
    print("reductions: OK")


if __name__ == "__main__":
    test_unit_reductions()

# %% [markdown]
# ### Unit test: variance (your design)
# In order: the population variance (divide by the count), a graph built from your ops, NumPy's
# values on ordinary data, never negative, and then float32 readings around 10,000 with a
# spread of 1, where the formula you chose is put to the test.

# %% nbgrader={"grade": true, "grade_id": "test-var", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false}
def test_unit_var():
    from tinytorch.testing import close, ops_in_graph, recording_ops
    two = Tensor([1.0, 3.0]).var()
    assert isinstance(two, Tensor), f"var must return a Tensor, got {type(two).__name__}"
    assert two.shape == (), f"Tensor([1., 3.]).var() must be 0-d like a sum, got shape {two.shape}"
    sample = " (that is n - 1 = 1: the sample variance; divide by the count n = 2)" if abs(two.item() - 2) < 1e-6 else ""
    assert abs(two.item() - 1.0) < 1e-6, f"Tensor([1., 3.]).var() must be 1.0, got {two.item():.6g}{sample}"
    names = ["add", "sub", "mul", "div", "neg", "pow", "exp", "log", "sqrt", "matmul",
             "sum", "mean", "max", "reshape", "transpose", "getitem"]
    with recording_ops(*names, rules=BACKWARD_RULES):
        x = Tensor([[1.0, 3.0, 5.0], [2.0, 2.0, 8.0]], requires_grad=True)
        try:
            v = x.var(axis=1)
        except RuntimeError as exc:
            raise AssertionError(f"var must be built from your Tensor ops, with no op of its own: {exc}") from None
        except ValueError as exc:
            raise AssertionError(f"x.var(axis=1) of a (2, 3) tensor raised ValueError: {exc}. A mean over "
                                 "axis 1 has shape (2,), which does not broadcast against the (2, 3) rows; "
                                 "with the reduced axis kept, (2, 1), it does (section 6)") from None
        assert v._op_name in names, \
            f"x.var(axis=1) of an x that requires grad recorded no graph (op {v._op_name}): build var " \
            "from Tensor operations, not on .data or with NumPy, so that module 05 can differentiate it"
        stack, reached = [v], False
        while stack:
            node = stack.pop()
            reached = reached or node is x
            stack.extend(node._inputs)
        assert reached, f"the graph of x.var(axis=1) ({ops_in_graph(v)}) does not lead back to x: " \
            "build var from x with Tensor ops"
    a = np.array([[1.0, 5.0, 3.0, 0.5], [4.0, 2.0, 6.0, 9.0], [7.0, 7.0, 1.0, 2.0]], dtype=np.float32)
    for axis in (None, 0, 1, -1, (0, 1)):
        for keepdims in (False, True):
            want = a.astype(np.float64).var(axis=axis, keepdims=keepdims)
            close(Tensor(a).var(axis=axis, keepdims=keepdims), want, atol=1e-5,
                  what=f"x.var(axis={axis}, keepdims={keepdims}) of a (3, 4) tensor, against NumPy")
    flat = Tensor(np.full((3, 1000), 10_000.5, dtype=np.float32)).var(axis=1).data
    assert flat.min() >= 0, f"var of a constant row (10,000.5 repeated) came out negative: {flat.min():.4g}. " \
        "A mean of squares is never negative: a formula gets there only by subtracting two large, " \
        "nearly equal numbers, each rounded in float32"
    assert flat.max() <= 1e-6, f"var of a constant row (10,000.5 repeated) must be 0, got up to {flat.max():.4g}"
    readings = (10_000 + np.random.default_rng(0).normal(size=(4, 1000))).astype(np.float32)
    want = readings.astype(np.float64).var(axis=1)
    got = Tensor(readings).var(axis=1).data
    worst = int(np.argmax(np.abs(got - want) / want))
    assert abs(got[worst] - want[worst]) <= 1e-3 * want[worst], \
        f"var of float32 readings around 10,000 with spread 1, row {worst}: got {got[worst]:.6g}, " \
        f"expected {want[worst]:.6g} (within 0.1%). Values near 10,000² = 1e8 carry a float32 rounding " \
        "error of about 8, more than the whole variance: does your formula square the raw readings?"
    print("var: OK")


if __name__ == "__main__":
    test_unit_var()

# %% [markdown]
# ### Unit test: shapes and indexing

# %% nbgrader={"grade": true, "grade_id": "test-shapes", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false}
def test_unit_shapes():
    from tinytorch.testing import close, raises
    a = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    x = Tensor(a)
    close(x.reshape(6, -1), a.reshape(6, 4), what="reshape(6, -1)")
    close(x.reshape((4, 6)), a.reshape(4, 6), what="reshape((4, 6))")
    close(x.reshape(-1), a.reshape(-1), what="reshape(-1)")
    close(x.transpose(0, 2), a.transpose(2, 1, 0), what="transpose(0, 2)")
    close(x.transpose(-1, 1), a.transpose(0, 2, 1), what="transpose(-1, 1)")
    close(x.T, a.transpose(0, 2, 1), what=".T swaps the last two dimensions")
    close(x[1, :, 2], a[1, :, 2], what="x[1, :, 2]")
    close(x[:, 1:], a[:, 1:], what="x[:, 1:]")
    close(x[[1, 0, 1]], a[[1, 0, 1]], what="x[[1, 0, 1]]")
    try:
        got = x[Tensor([1, 0, 1])]
    except (IndexError, TypeError) as exc:
        raise AssertionError(f"x[Tensor([1, 0, 1])] raised {type(exc).__name__}: {exc}. The index Tensor "
                             "stores float32, and NumPy takes only integer positions (section 7)") from None
    close(got, a[[1, 0, 1]], what="x[Tensor([1, 0, 1])] (a Tensor holds positions)")
    for index, want, what in [((Tensor([1, 0]), Tensor([2, 0])), a[[1, 0], [2, 0]], "x[Tensor([1, 0]), Tensor([2, 0])]"),
                              ((Tensor([1, 0]), slice(1, None), 3), a[[1, 0], 1:, 3], "x[Tensor([1, 0]), 1:, 3]")]:
        try:
            got = x[index]
        except (IndexError, TypeError) as exc:
            raise AssertionError(f"{what} raised {type(exc).__name__}: {exc}. A Tensor inside a tuple index "
                                 "stands for integer positions too (section 7)") from None
        close(got, want, what=f"{what} (Tensors inside a tuple index)")
    raises(ValueError, lambda: x.reshape(5, 5), "(2, 3, 4)", "24", "(5, 5)")
    print("shapes: OK")


if __name__ == "__main__":
    test_unit_shapes()

# %% [markdown]
# ### Unit test: every operation goes through `Tensor._op`
# Module 05 relies on this: when a backward rule is registered for an op name, the output must
# remember its op, its inputs in order, and its settings. `recording_ops` registers throw-away
# rules for these names (in this file's own registry) and removes them again afterwards.

# %% nbgrader={"grade": true, "grade_id": "test-op-path", "locked": true, "points": 5, "schema_version": 3, "solution": false, "task": false}
def test_unit_op_path():
    from tinytorch.testing import recording_ops
    names = ["add", "sub", "mul", "div", "neg", "pow", "exp", "log", "sqrt", "matmul",
             "sum", "mean", "max", "reshape", "transpose", "getitem"]
    with recording_ops(*names, rules=BACKWARD_RULES):
        x = Tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)
        col = Tensor([[1.0], [2.0], [3.0]])
        ops = {"add": x + 1, "sub": x - 1, "mul": x * 2, "div": x / 2, "neg": -x, "pow": x ** 2,
               "exp": x.exp(), "log": x.log(), "sqrt": x.sqrt(), "matmul": x @ col,
               "sum": x.sum(), "mean": x.mean(), "max": x.max(), "reshape": x.reshape(6),
               "transpose": x.T, "getitem": x[0]}
        for name, out in ops.items():
            assert out._op_name == name, f"{name}: output recorded op {out._op_name!r}, expected {name!r}"
            assert out._inputs[:1] == (x,), f"{name}: output must remember its inputs, self first"
        right = Tensor([[5.0, 6.0, 7.0], [8.0, 9.0, 10.0]])
        for name, out in {"sub": x - right, "div": x / right, "matmul": x @ right.T}.items():
            assert out._inputs[0] is x and out._inputs[1] is not x and len(out._inputs) == 2, \
                f"{name}: inputs must be recorded in order (left, right), got {out._inputs}"
        assert (Tensor([1.0]) + 1)._inputs == (), "constants must not record a graph"
        # Backward rules need the op's settings, saved as keyword arguments (ctx):
        y = Tensor(np.ones((2, 3, 4)), requires_grad=True)
        cube = y ** 3
        assert len(cube._inputs) == 1, f"pow: the exponent is a setting (ctx `exponent=`), not an input; " \
            f"the output recorded {len(cube._inputs)} inputs"
        assert cube._ctx == {"exponent": 3}, f"pow must save the exponent as ctx `exponent`, got {cube._ctx}"
        for p in (np.int64(3), np.float64(0.5)):
            saved = (y ** p)._ctx.get("exponent")
            assert saved == p, f"y ** {p!r}: the exponent saved must keep its value {p.item()!r}, got {saved!r}"
            assert type(saved) in (int, float), \
                (f"y ** {p!r}: the exponent is saved as the Python number it holds ({p.item()!r}), got {saved!r} "
                 f"({type(saved).__name__}): module 05 multiplies gradients by it, and a NumPy float64 would "
                 f"turn a float32 gradient into float64")
        for name in ("sum", "mean", "max"):
            ctx = getattr(y, name)(axis=1, keepdims=True)._ctx
            assert ctx == {"axis": 1, "keepdims": True}, f"{name} must save axis and keepdims, got {ctx}"
        axes = y.transpose(0, 2)._ctx
        assert axes == {"axes": (2, 1, 0)}, f"transpose(0, 2) must save the permutation (2, 1, 0), got {axes}"
        index = y[1]._ctx
        assert index == {"index": 1}, f"y[1] must save the index, got {index}"
        index = y[Tensor([1, 0]), 2]._ctx.get("index")
        assert isinstance(index, tuple) and len(index) == 2 and index[1] == 2 and \
            isinstance(index[0], np.ndarray) and index[0].dtype.kind == "i" and list(index[0]) == [1, 0], \
            f"y[Tensor([1, 0]), 2] must save the index NumPy used, (integer array [1, 0], 2), got {index!r}"
    print("op path: OK")


if __name__ == "__main__":
    test_unit_op_path()

# %% [markdown]
# ## Module test
# Everything together: a tiny linear model `y = x @ W + b` on a batch, built only from your ops.

# %% nbgrader={"grade": true, "grade_id": "test-module", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false}
def test_module():
    from tinytorch.testing import close
    rng = np.random.default_rng(1)
    x, w, b = rng.normal(size=(32, 10)), rng.normal(size=(10, 4)), rng.normal(size=(4,))
    y = Tensor(x) @ Tensor(w) + Tensor(b)
    close(y, x @ w + b, atol=1e-4, what="linear model x @ W + b, (32, 10) @ (10, 4) + (4,)")
    centered = y - y.mean(axis=0, keepdims=True)
    close(centered.mean(axis=0), np.zeros(4), atol=1e-5, what="columns minus their mean average to 0")
    scores = (y - y.max(axis=1, keepdims=True)).exp()
    probs = scores / scores.sum(axis=1, keepdims=True)
    close(probs.sum(axis=1), np.ones(32), atol=1e-5, what="rows of a softmax sum to 1")
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
# - `Tensor(["1", "2"])` could have returned `[1., 2.]`. Why is refusing it the kinder choice?
