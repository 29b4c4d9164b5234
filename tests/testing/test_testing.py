"""tinytorch/testing.py: the helpers every module's tests use must themselves fail correctly."""

import numpy as np
import pytest

from tinytorch.tensor import BACKWARD_RULES, NON_DIFFERENTIABLE, Tensor, register_non_differentiable
from tinytorch.testing import close, ops_in_graph, raises, recording_ops, replay_graph


def _fail(message):
    raise ValueError(message)


def test_raises_returns_the_matching_exception():
    exc = raises(ValueError, lambda: _fail("Bad Shape (2, 3)"), "bad shape", "(2, 3)")
    assert isinstance(exc, ValueError)


@pytest.mark.parametrize("fn, fragments, expected", [
    (lambda: _fail("wrong shape"), ("bad_arity",),
     "expected ValueError matching 'bad_arity', got ValueError: wrong shape"),
    (lambda: 1 / 0, (), "expected ValueError, got ZeroDivisionError: division by zero"),
    (lambda: 42, ("x",), "expected ValueError matching 'x', but nothing was raised (returned 42)"),
])
def test_raises_says_what_it_expected_and_what_happened(fn, fragments, expected):
    with pytest.raises(AssertionError) as info:
        raises(ValueError, fn, *fragments)
    assert str(info.value).startswith(expected)


def test_close_passes_within_tolerance_and_shows_the_worst_element():
    close(Tensor([1.0, 2.0]), np.array([1.0, 2.0 + 1e-7]))
    first = r"relu: 1 of 4 values differ; worst at \(1, 0\): got 5, expected 3"
    with pytest.raises(AssertionError, match=first):
        close(np.array([[1.0, 2.0], [5.0, 4.0]]), np.array([[1.0, 2.0], [3.0, 4.0]]), what="relu")
    want = np.arange(400.0).reshape(20, 20)
    got = want.copy()
    got[:, -1] += 50.0
    with pytest.raises(AssertionError) as big:  # a large array: the three worst entries, never the whole
        close(got, want)
    assert "got:" not in str(big.value) and str(big.value).count("; at ") == 2, big.value
    with pytest.raises(AssertionError, match=r"got 0.5, expected 1\b") as plain:  # no np.float32(0.5) noise
        close(np.float32([0.5]), np.int64([1]))
    assert "np." not in str(plain.value)
    with pytest.raises(AssertionError, match=r"shape \(2,\), expected \(3,\)"):
        close([1.0, 2.0], [1.0, 2.0, 3.0])
    with pytest.raises(AssertionError, match="(?s)1 of 2 values differ.*NaN where numbers were expected"):
        close([1.0, np.nan], [1.0, 2.0])


def test_close_says_the_value_is_none_instead_of_a_shape():
    x = Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(AssertionError) as info:
        close(x.grad, np.ones(2), what="x gradient")
    message = str(info.value)
    assert message.startswith("x gradient: the value is None, expected an array of shape (2,)")
    assert "graph cut" in message and ".data" in message and "shape ()" not in message


def test_recording_ops_records_and_restores_the_registry():
    before, declared = dict(BACKWARD_RULES), set(NON_DIFFERENTIABLE)
    x = Tensor([1.0, -2.0], requires_grad=True)
    with recording_ops("exp", "mul"):
        y = (x * x).exp()
        assert ops_in_graph(y) == ["exp", "mul"]
        register_non_differentiable("argmax_in_a_test")
    assert BACKWARD_RULES == before and NON_DIFFERENTIABLE == declared


def test_recording_ops_restores_after_an_error_and_uses_the_given_registry():
    own: dict = {"keep": print}
    with pytest.raises(KeyError), recording_ops("relu", rules=own):
        assert "relu" in own
        raise KeyError("boom")
    assert own == {"keep": print}


def test_ops_in_graph_lists_each_node_once():
    x = Tensor([1.0, 2.0], requires_grad=True)
    with recording_ops("add", "mul"):
        h = x * 2
        y = h + h
    assert ops_in_graph(y) == ["add", "mul"]


def test_replay_recomputes_the_graph_and_holds_constants():
    x = Tensor([[1.0, -2.0, 0.5]], requires_grad=True)
    with recording_ops("sub", "exp", "sum", "log", "mul", "transpose", "reshape"):
        shift = Tensor(x.data.max(axis=1, keepdims=True))  # a constant that only shifts: replays exactly
        shifted = x - shift
        lse = shifted.exp().sum(axis=1, keepdims=True).log()
        good = (shifted - lse).T.reshape(3) * 2
        frozen = shifted - Tensor(lse.data)  # the log-sum-exp taken as a constant: it does not
    moved = np.array([[0.3, 0.1, -1.0]])
    want = 2 * (moved - np.log(np.exp(moved).sum())).reshape(3)
    np.testing.assert_allclose(replay_graph(good, x, moved), want)
    assert not np.allclose(replay_graph(frozen, x, moved), want / 2)
    with recording_ops("gelu"):
        unknown = Tensor._op("gelu", x.data, x)
    assert replay_graph(unknown, x, moved) is None
