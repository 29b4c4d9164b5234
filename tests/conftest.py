"""Fixtures shared by the module suites (pytest loads this for every folder under tests/)."""

import contextlib
import warnings

import numpy as np
import pytest


@contextlib.contextmanager
def _strict_numerics():
    """Overflow, division by zero, invalid values and every warning become errors.

    Underflow stays allowed: e^-10000 rounding to 0 is the correctly rounded answer.
    """
    with warnings.catch_warnings(), np.errstate(over="raise", divide="raise", invalid="raise"):
        warnings.simplefilter("error")
        yield


@pytest.fixture(scope="session")
def strict_numerics():
    """`with strict_numerics():` inside a test (session-scoped, so hypothesis tests may use it)."""
    return _strict_numerics



def pytest_configure(config):
    """In parallel (pytest-xdist), whole test files go to one worker: the student journey's tests
    build on each other in order. `make test` runs `-n auto --dist loadscope --no-loadscope-reorder`."""
    if getattr(config.option, "numprocesses", None) and config.getoption("dist") not in ("loadscope",
                                                                                         "loadfile"):
        raise pytest.UsageError("with -n, pass --dist loadscope (as `make test` does): the tests of "
                                "tests/toolchain/test_student_journey.py must run in order in one worker.")


def pytest_collection_modifyitems(config, items):
    """Slow tests (journeys, mutation, milestones) first, in their own order, so that under
    `pytest -n N --dist loadscope --no-loadscope-reorder` (what `make test` runs) their files start at
    once, in parallel with each other, while the fast suites fill the gaps. Run serially, the order of
    the checks is all it changes."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
