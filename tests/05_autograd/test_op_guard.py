"""The autograd guarantee: no op silently drops out of the graph (issue 7, item 1)."""

import importlib
import pkgutil
import re
import warnings
from pathlib import Path

import numpy as np
import pytest

import tinytorch
from tinytorch.autograd import backward
from tinytorch.tensor import (
    BACKWARD_RULES,
    NON_DIFFERENTIABLE,
    Config,
    Tensor,
    register_backward,
    register_non_differentiable,
)

PACKAGE = Path(tinytorch.__file__).parent
OP_NAME = re.compile(r"""_op\(\s*["']([A-Za-z_][\w]*)["']""")


@pytest.fixture
def registry():
    """Whatever a test registers is removed again."""
    rules, non_diff = dict(BACKWARD_RULES), set(NON_DIFFERENTIABLE)
    yield
    BACKWARD_RULES.clear()
    BACKWARD_RULES.update(rules)
    NON_DIFFERENTIABLE.clear()
    NON_DIFFERENTIABLE.update(non_diff)


def test_every_op_in_the_package_has_a_rule_or_is_declared_non_differentiable():
    for info in pkgutil.iter_modules([str(PACKAGE)]):
        importlib.import_module(f"tinytorch.{info.name}")  # every module registers its own rules
    names = {name: path.name for path in sorted(PACKAGE.glob("*.py"))
             for name in OP_NAME.findall(path.read_text(encoding="utf-8"))}
    assert len(names) >= 20, f"the scan found too few ops to be working: {sorted(names)}"
    missing = {n: f for n, f in names.items() if n not in BACKWARD_RULES and n not in NON_DIFFERENTIABLE}
    assert not missing, f"ops with neither a backward rule nor a non-differentiable declaration: {missing}"


def test_an_op_without_a_rule_raises_instead_of_cutting_the_graph(registry):
    w = Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"'mystery' has no backward rule.*register_backward"):
        Tensor._op("mystery", w.data * 7, w)


def test_the_issue_example_gets_the_true_gradient_once_the_rule_exists(registry):
    @register_backward("mystery")
    def mystery_backward(grad, out, a):
        return (grad * 7,)

    w = Tensor([1.0, 2.0], requires_grad=True)
    y = Tensor._op("mystery", w.data * 7, w)
    backward((y + w).sum())
    np.testing.assert_allclose(w.grad.data, [8.0, 8.0])


def test_no_error_where_no_graph_is_recorded(registry):
    w = Tensor([1.0, 2.0], requires_grad=True)
    assert not Tensor._op("mystery", w.data, Tensor([1.0, 2.0])).requires_grad  # constant input
    Config.grad_enabled = False
    try:
        assert not Tensor._op("mystery", w.data, w).requires_grad  # grad mode off
    finally:
        Config.grad_enabled = True
    BACKWARD_RULES.clear()  # autograd not active yet (modules 01-04): nothing is recorded, nothing raised
    assert Tensor._op("mystery", w.data, w)._inputs == ()


def test_non_differentiable_ops_give_constants(registry):
    register_non_differentiable("argmax_test")
    w = Tensor([1.0, 3.0, 2.0], requires_grad=True)
    out = Tensor._op("argmax_test", np.argmax(w.data), w)
    assert not out.requires_grad and out._inputs == ()


def test_a_second_owner_of_an_op_name_warns(registry):
    with pytest.warns(UserWarning, match=r"register_backward\('add'\): replacing the rule"):
        @register_backward("add")
        def another_add_backward(grad, out, a, b):
            return grad, grad


def test_rerunning_the_same_rule_is_silent(registry):
    def make():
        def same_rule(grad, out, a):
            return (grad,)
        return same_rule

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        register_backward("rerun_test")(make())
        register_backward("rerun_test")(make())  # a cell run twice: same module, same function name
