"""Module 20's shared pieces: one BLAS thread, and one honest digits-MLP submission per session
(making it trains the task's reference once: `reference_model` keeps it for the process)."""

import copy

import pytest
from threadpoolctl import threadpool_limits

from tinytorch.capstone import make_submission

FAST = {"warmup": 1, "repeats": 3}  # timing is reported, never checked: a few repeats are enough
RECIPE = {"prune": {"sparsity": 0.1, "scope": "global"},
          "quantize": {"method": "minmax", "per_channel": True}}


@pytest.fixture(autouse=True, scope="session")
def one_blas_thread():
    with threadpool_limits(1, user_api="blas"):
        yield


@pytest.fixture(scope="session")
def fast():
    return dict(FAST)


@pytest.fixture(scope="session")
def _honest():
    return make_submission("digits-mlp", RECIPE, student="pytest", **FAST)


@pytest.fixture
def honest(_honest):
    """A deep copy of a valid digits-MLP submission (pruned 10% + int8), measured in this session."""
    return copy.deepcopy(_honest)
