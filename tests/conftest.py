"""Fixtures shared by the module suites (pytest loads this for every folder under tests/)."""

import contextlib
import os
import shutil
import tempfile
import warnings

# One BLAS thread in every test process and the processes they start: the suite runs in parallel
# workers on every core already, and idle BLAS threads spinning beside them cost CPU for nothing.
# Set before NumPy is imported; tests that measure threading set their own limits (threadpoolctl).
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

# Property tests (hypothesis) are deterministic for students: the same examples on every run and no
# example database (a stored failing example would replay on every later run, even on correct code).
# `make stress` picks the "stress" profile: fresh random examples, many more of them, to find the
# rare inputs on which a correct reference fails (a tolerance too tight for float32, say).
try:
    from hypothesis import HealthCheck
    from hypothesis import settings as _hypothesis_settings
except ImportError:  # the module suites that use it say so when collected
    pass
else:
    _hypothesis_settings.register_profile("tinytorch", derandomize=True, database=None, deadline=None,
                                          print_blob=False)
    _hypothesis_settings.register_profile(  # each run of a method is a new instance: allow that
        "stress", derandomize=False, database=None, deadline=None, max_examples=2000,
        suppress_health_check=[HealthCheck.differing_executors])
    _hypothesis_settings.load_profile(os.environ.get("TINYTORCH_HYPOTHESIS", "tinytorch"))


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


# Test files whose tests build on each other in order (one student edition, modules completed one
# after another): in parallel runs each such file goes to one worker, whole and in order.
IN_ORDER = ("tests/toolchain/test_student_journey.py",)


# Milestone scripts that train through milestones/_common.py's train_or_reuse save the model here
# under a fingerprint of code, data and settings; a later run with the same fingerprint (the student
# journey's byte-identical package) reuses it. One folder per `pytest` run, shared by its workers.
TRAINING_CACHE = "TINYTORCH_TRAINING_CACHE"


def pytest_configure(config):
    if not hasattr(config, "workerinput") and TRAINING_CACHE not in os.environ:  # the controller
        config._training_cache = tempfile.mkdtemp(prefix="tinytorch-training-cache-")
        os.environ[TRAINING_CACHE] = config._training_cache  # workers and their children inherit it
    if getattr(config.option, "numprocesses", None) and config.getoption("dist") not in ("load",
                                                                                         "loadscope",
                                                                                         "loadfile"):
        raise pytest.UsageError(f"with -n, use the default --dist load (as `make test` does): the tests "
                                f"of {', '.join(IN_ORDER)} must run in order in one worker.")


# `make stress`: every property test runs this many times (fresh random examples each time, the
# "stress" profile above) and nothing else runs.
STRESS_RUNS = "TINYTORCH_STRESS_RUNS"


def _is_property_test(function) -> bool:
    return bool(getattr(function, "is_hypothesis_test", False))


def pytest_generate_tests(metafunc):
    runs = int(os.environ.get(STRESS_RUNS) or 0)
    if runs > 0 and _is_property_test(metafunc.function):
        metafunc.fixturenames.append("stress_run")
        metafunc.parametrize("stress_run", range(runs), ids=lambda run: f"run{run}")


def pytest_unconfigure(config):
    if getattr(config, "_training_cache", None):
        shutil.rmtree(config._training_cache, ignore_errors=True)
        os.environ.pop(TRAINING_CACHE, None)


@pytest.hookimpl(optionalhook=True)  # a pytest-xdist hook: pytest without xdist ignores it
def pytest_xdist_make_scheduler(config, log):
    """`pytest -n N` (pytest-xdist, --dist load): every test on its own, except that each file of
    IN_ORDER is one unit of work. The largest unit (the journey) starts first, then the rest in
    collection order (slow tests first, see below), so that the slow ones run in parallel."""
    if config.getoption("dist") != "load":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class InOrderFiles(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return path if path in IN_ORDER else nodeid

    return InOrderFiles(config, log)


def pytest_collection_modifyitems(config, items):
    """Slow tests (journeys, mutation, milestones) first, in their own order, so that in parallel
    runs they start at once while the fast suites fill the gaps. Run serially, the order of the
    checks is all it changes. Under `make stress`, only the property tests run. The book's tests
    (marked `book`) run only when `-m` names them (`make book-test`)."""
    if "book" not in (config.option.markexpr or ""):
        kept = [item for item in items if item.get_closest_marker("book") is None]
        if len(kept) < len(items):
            config.hook.pytest_deselected(items=[item for item in items if item not in kept])
            items[:] = kept
    if int(os.environ.get(STRESS_RUNS) or 0) > 0:
        kept = [item for item in items if _is_property_test(getattr(item, "obj", None))]
        config.hook.pytest_deselected(items=[item for item in items if item not in kept])
        items[:] = kept
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
