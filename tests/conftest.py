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


def pytest_collection_modifyitems(config, items):
    """Slow tests (journeys, mutation, milestones) first, in their own order, so that under
    `pytest -n N --dist loadgroup` (what `make test` runs) they start at once, in parallel with each
    other, while the fast suites fill the gaps. Run serially, the order of the checks is all it changes."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
