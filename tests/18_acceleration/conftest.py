"""Module 18's tests run with one BLAS thread: the results do not depend on it, and on small
shared machines a multi-threaded BLAS makes small matmuls slower. No test times anything."""

import pytest
from threadpoolctl import threadpool_limits


@pytest.fixture(autouse=True, scope="session")
def one_blas_thread():
    with threadpool_limits(1, user_api="blas"):
        yield
