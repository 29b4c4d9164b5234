"""Module 16's shared data: TinyDigits flattened to 64 features, and one trained dense MLP.

Every test here runs with one BLAS thread: on small shared machines a multi-threaded BLAS makes
these tiny matmuls many times slower, and the results do not depend on it. Tests get the data
through fixtures (pytest runs with --import-mode=importlib, so test files cannot import a helper).
"""

import copy
from types import SimpleNamespace

import pytest
from threadpoolctl import threadpool_limits

from tinytorch.compression import digits_mlp, evaluate, fit
from tinytorch.datasets import load_tinydigits


@pytest.fixture(autouse=True, scope="session")
def one_blas_thread():
    with threadpool_limits(1, user_api="blas"):
        yield


@pytest.fixture(scope="session")
def digits():
    x_train, y_train, x_test, y_test = load_tinydigits()
    return SimpleNamespace(x_train=x_train.reshape(len(x_train), 64), y_train=y_train,
                           x_test=x_test.reshape(len(x_test), 64), y_test=y_test)


@pytest.fixture(scope="session")
def trained(digits):
    """{seed: (model, test accuracy)} for the module's dense MLP, trained once per seed; tests get
    deep copies through `dense`."""
    cache = {}

    def get(seed):
        if seed not in cache:
            model = fit(digits_mlp(seed=seed), digits.x_train, digits.y_train, epochs=30, seed=seed)
            cache[seed] = (model, evaluate(model, digits.x_test, digits.y_test))
        model, accuracy = cache[seed]
        return copy.deepcopy(model), accuracy

    return get
