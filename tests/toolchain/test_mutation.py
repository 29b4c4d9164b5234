"""The mutation check itself, and the bar it holds every written module to."""

from __future__ import annotations

import pytest

from tito.registry import available
from tito.run import mutation

from .conftest import REPO

SOURCE = '''def f(a, b):
    ### BEGIN SOLUTION
    return (a - b).sum(axis=0, keepdims=True).T
    ### END SOLUTION


def g(a):
    return a - 1
'''


def test_mutants_touch_only_solution_regions():
    found = mutation.mutants(SOURCE)
    assert found and all(m.line == 3 for m in found)
    kinds = {m.description for m in found}
    assert {"'-' -> '+'", "operands swapped", "'sum' -> 'mean'", "'.T' dropped",
            "keyword 'axis' set to None", "True -> False"} <= kinds
    assert all(m.text.endswith("    return a - 1\n") for m in found)


def test_every_mutant_compiles_and_differs():
    for m in mutation.mutants(SOURCE):
        compile(m.text, "<mutant>", "exec")
        assert m.text != SOURCE


@pytest.mark.slow
@pytest.mark.parametrize("module", available(REPO), ids=lambda m: m.name)
def test_graded_tests_catch_at_least_80_percent_of_mutants(module):
    report = mutation.check(REPO / module.source, REPO)
    survivors = "\n".join(f"line {m.line}: {m.description}" for m in report.survivors)
    assert report.total > 0
    assert report.score >= 0.8, f"{module.name}: {report.score:.0%} caught; survivors:\n{survivors}"
