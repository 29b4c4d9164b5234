"""Helpers the module tests share (provided: no module exports this file).

    raises(TypeError, lambda: f(x), "bad_arity")   # the error type and words in its message
    close(out, expected, what="relu of a row")      # allclose; a failure shows the worst elements
    with recording_ops("relu", rules=BACKWARD_RULES):
        y = relu(x)
    assert ops_in_graph(y) == ["relu"]
    replay_graph(loss, x, x.data + 0.25)                  # the recorded graph recomputed at another x
    kept_bytes(calibrator)                                # the bytes of numbers an object holds

Every failure says what was expected and what happened instead, so a student can act on it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, MutableMapping

import numpy as np

__all__ = ["raises", "close", "recording_ops", "ops_in_graph", "replay_graph", "kept_bytes"]


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def raises(exc_type: type[BaseException] | tuple[type[BaseException], ...], fn: Callable[[], object],
           *fragments: str) -> BaseException:
    """Call `fn()`; it must raise `exc_type` whose message contains every fragment (any case).

    Returns the exception, for further checks.
    """
    names = (exc_type,) if isinstance(exc_type, type) else exc_type
    wanted = " or ".join(t.__name__ for t in names)
    matching = f" matching {', '.join(repr(f) for f in fragments)}" if fragments else ""
    try:
        result = fn()
    except names as exc:
        message = str(exc).lower()
        missing = [f for f in fragments if f.lower() not in message]
        if missing:
            raise AssertionError(f"expected {wanted}{matching}, got {_describe(exc)} "
                                 f"(the message lacks {', '.join(repr(f) for f in missing)})") from exc
        return exc
    except Exception as exc:  # noqa: BLE001 - report the wrong exception as a test failure
        raise AssertionError(f"expected {wanted}{matching}, got {_describe(exc)}") from exc
    raise AssertionError(f"expected {wanted}{matching}, but nothing was raised (returned {result!r:.200})")


def _array(value: object) -> np.ndarray:
    return np.asarray(getattr(value, "data", value))


def close(actual: object, expected: object, atol: float = 1e-6, rtol: float = 1e-5, what: str = "") -> None:
    """Assert `actual` ≈ `expected` (Tensors or arrays); a failure shows the three worst elements (and
    both arrays when they hold at most 16 values), in plain numbers.

    `actual` None (most often a `.grad` that no gradient reached) fails with a message saying so.
    """
    label = f"{what}: " if what else ""
    if actual is None:
        raise AssertionError(f"{label}the value is None, expected an array of shape {_array(expected).shape}. "
                             f"If it is a gradient (.grad), no gradient reached it: was the graph cut, e.g. "
                             f"by computing with .data or NumPy instead of Tensor ops, or is requires_grad False?")
    got, want = _array(actual), _array(expected)
    if got.shape != want.shape:
        raise AssertionError(f"{label}shape {got.shape}, expected {want.shape}")
    if np.allclose(got, want, atol=atol, rtol=rtol, equal_nan=True):
        return
    excess = np.abs(got.astype(np.float64) - want) - (atol + rtol * np.abs(want))
    excess = np.where(np.isnan(excess), np.inf, excess).reshape(got.shape)
    bad = int(np.count_nonzero(excess > 0))
    order = np.argsort(-excess, axis=None, kind="stable")[:min(bad, 3)]
    worst = [np.unravel_index(int(i), got.shape) if got.ndim else () for i in order]
    entries = "; ".join(f"at {_index(at)}: got {_number(got[at])}, expected {_number(want[at])}" for at in worst)
    text = f"{label}{bad} of {got.size} values differ; worst {entries}"
    nans = int(np.count_nonzero(np.isnan(got) & ~np.isnan(want)))
    if nans:
        text += (f"\n{nans} value(s) are NaN where numbers were expected: look for 0/0, inf - inf, the log or "
                 f"square root of a negative number, or exp overflowing before a division")
    if got.size <= 16:  # small enough to read whole
        text += f"\ngot:      {_row(got)}\nexpected: {_row(want)}"
    raise AssertionError(text)


def _index(at: tuple) -> str:
    return str(tuple(int(i) for i in at)) if at else "()"


def _number(value: object) -> str:
    """A plain number: 0.5, 3, nan, True (never np.float32(0.5))."""
    item = np.asarray(value).item()
    return f"{item:.6g}" if isinstance(item, float) else repr(item)


def _row(array: np.ndarray) -> str:
    return np.array2string(array, precision=6, separator=", ", threshold=16).replace("\n", "")


def _placeholder(grad, out, *inputs, **ctx):  # noqa: ANN001, ANN202 - a backward rule's signature
    raise AssertionError("a placeholder rule from tinytorch.testing.recording_ops was called")


@contextlib.contextmanager
def recording_ops(*names: str, rules: MutableMapping[str, Callable] | None = None) -> Iterator[None]:
    """Register placeholder backward rules for `names`, so outputs of those ops record their graph.

    `rules` is the registry to use: `tinytorch.tensor.BACKWARD_RULES` by default (then the
    non-differentiable declarations are saved and restored too); a module file that defines its
    own Tensor (module 01) passes its own. Everything is restored on exit.
    """
    declared: set[str] = set()
    if rules is None:
        from tinytorch.tensor import BACKWARD_RULES as rules
        from tinytorch.tensor import NON_DIFFERENTIABLE as declared
    saved, saved_declared = dict(rules), set(declared)
    try:
        for name in names:
            rules[name] = _placeholder
        yield
    finally:
        rules.clear()
        rules.update(saved)
        declared.clear()
        declared.update(saved_declared)


def ops_in_graph(tensor: object) -> list[str]:
    """Op names of the graph recorded under `tensor`, output first, each node once (depth first)."""
    names: list[str] = []
    seen: set[int] = set()
    stack = [tensor]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if getattr(node, "_op_name", None):
            names.append(node._op_name)
        stack.extend(reversed(getattr(node, "_inputs", ())))
    return names


def _softmax(a: np.ndarray, axis: int) -> np.ndarray:
    e = np.exp(a - a.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _reduce(name: str) -> Callable:
    return lambda node, a: getattr(a, name)(axis=node._ctx["axis"], keepdims=node._ctx["keepdims"])


# How each op of modules 01 and 02 computes its output from its inputs' arrays (float64 here).
_FORWARD: dict[str, Callable] = {
    "add": lambda node, a, b: a + b,
    "sub": lambda node, a, b: a - b,
    "mul": lambda node, a, b: a * b,
    "div": lambda node, a, b: a / b,
    "neg": lambda node, a: -a,
    "exp": lambda node, a: np.exp(a),
    "log": lambda node, a: np.log(a),
    "sqrt": lambda node, a: np.sqrt(a),
    "pow": lambda node, a: a ** node._ctx["exponent"],
    "matmul": lambda node, a, b: np.matmul(a, b),
    "sum": _reduce("sum"),
    "mean": _reduce("mean"),
    "max": _reduce("max"),
    "reshape": lambda node, a: a.reshape(node.shape),
    "transpose": lambda node, a: a.transpose(node._ctx["axes"]),
    "getitem": lambda node, a: a[node._ctx["index"]],
    "relu": lambda node, a: np.maximum(a, 0.0),
    "sigmoid": lambda node, a: np.exp(-np.logaddexp(0.0, -a)),
    "tanh": lambda node, a: np.tanh(a),
    "softmax": lambda node, a: _softmax(a, node._ctx["axis"]),
}


def replay_graph(out: object, leaf: object, value: object) -> np.ndarray | None:
    """The graph recorded under `out` (see `recording_ops`) recomputed in float64 with `value` in
    place of the tensor `leaf`, every other tensor held at its recorded data; None when the graph
    holds an op this helper cannot recompute.

    Gradients see only the graph. A function that took part of its dependence on `leaf` from a
    constant computed on `.data` gives the right value at `leaf` but, replayed at `leaf + 0.25`,
    a different one from the true function there: its gradient would be wrong. (A constant that
    only shifts or selects, like the row maximum of a stable softmax, replays exactly.)
    """
    memo: dict[int, np.ndarray] = {}

    def value_of(node: object) -> np.ndarray:
        key = id(node)
        if key not in memo:
            if node is leaf:
                memo[key] = np.asarray(value, dtype=np.float64)
            elif not getattr(node, "_op_name", None):
                memo[key] = np.asarray(node.data, dtype=np.float64)
            else:
                forward = _FORWARD.get(node._op_name)
                if forward is None:
                    raise LookupError(node._op_name)
                memo[key] = np.asarray(forward(node, *(value_of(i) for i in node._inputs)))
        return memo[key]

    try:
        with np.errstate(all="ignore"):
            return value_of(out)
    except LookupError:
        return None


def kept_bytes(value: object, seen: set[int] | None = None) -> int:
    """Bytes of the numbers an object keeps: arrays by nbytes, Python numbers 8 each, containers
    and attributes walked, each object once (what a summary holds, e.g. a streaming calibrator's)."""
    seen = set() if seen is None else seen
    if id(value) in seen:
        return 0
    seen.add(id(value))
    if isinstance(value, np.ndarray):
        return value.nbytes
    if isinstance(value, int | float | np.generic):
        return 8
    if isinstance(value, dict):
        return sum(kept_bytes(k, seen) + kept_bytes(v, seen) for k, v in value.items())
    if isinstance(value, list | tuple | set | frozenset):
        return sum(kept_bytes(v, seen) for v in value)
    if hasattr(value, "__dict__") and not isinstance(value, type):
        return kept_bytes(vars(value), seen)
    return 0
