"""Module 18: the matmul ladder — loops, vectorized and blocked agree with BLAS; errors are clear."""

import sys
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinytorch import acceleration
from tinytorch.acceleration import gflops, matmul_blocked, matmul_flops, matmul_loops, matmul_vectorized
from tinytorch.testing import close, raises

KERNELS = [matmul_loops, matmul_vectorized, matmul_blocked]


@pytest.mark.parametrize("kernel", KERNELS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("shape", [(1, 1, 1), (3, 4, 5), (17, 9, 13), (8, 1, 8), (1, 12, 1), (33, 31, 35)])
def test_agrees_with_numpy_in_float32(kernel, shape):
    n, k, m = shape
    rng = np.random.default_rng(sum(shape))
    a, b = rng.normal(size=(n, k)).astype(np.float32), rng.normal(size=(k, m)).astype(np.float32)
    c = kernel(a, b)
    assert c.dtype == np.float32 and c.shape == (n, m)
    close(c, a.astype(np.float64) @ b.astype(np.float64), atol=2e-5, rtol=1e-5)


@pytest.mark.parametrize("kernel", KERNELS, ids=lambda f: f.__name__)
def test_float64_is_kept_and_integers_become_float64(kernel):
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(6, 5)), rng.normal(size=(5, 4))
    c = kernel(a, b)
    assert c.dtype == np.float64
    close(c, a @ b, atol=1e-12, rtol=1e-12)
    ints = kernel(np.arange(6).reshape(2, 3), np.arange(6).reshape(3, 2))
    assert ints.dtype == np.float64
    close(ints, np.arange(6).reshape(2, 3) @ np.arange(6).reshape(3, 2), atol=0)
    mixed = kernel(a.astype(np.float32), b)
    assert mixed.dtype == np.float64


@pytest.mark.parametrize("kernel", KERNELS, ids=lambda f: f.__name__)
def test_empty_shared_dimension_gives_zeros(kernel):
    c = kernel(np.zeros((3, 0), np.float32), np.zeros((0, 4), np.float32))
    assert c.shape == (3, 4) and c.dtype == np.float32 and not c.any()


@pytest.mark.parametrize("kernel", KERNELS, ids=lambda f: f.__name__)
def test_bad_inputs_are_named(kernel):
    raises(ValueError, lambda: kernel(np.ones((2, 3)), np.ones((4, 2))), "shape mismatch", "(2, 3)", "(4, 2)")
    raises(ValueError, lambda: kernel(np.ones(3), np.ones((3, 2))), "2-D", "a")
    raises(ValueError, lambda: kernel(np.ones((2, 3)), np.ones((3, 2, 1))), "2-D", "b")
    raises(TypeError, lambda: kernel(np.array([["x"]]), np.ones((1, 1))), "numbers")


def test_inputs_are_not_modified():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(5, 7)).astype(np.float32), rng.normal(size=(7, 3)).astype(np.float32)
    a0, b0 = a.copy(), b.copy()
    for kernel in KERNELS:
        kernel(a, b)
    assert np.array_equal(a, a0) and np.array_equal(b, b0)


@pytest.mark.parametrize("block", [1, 2, 5, 8, 16, 100, np.int64(4)])
def test_blocked_every_block_size(block):
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(19, 23)).astype(np.float32), rng.normal(size=(23, 11)).astype(np.float32)
    close(matmul_blocked(a, b, block), a.astype(np.float64) @ b.astype(np.float64), atol=2e-5, rtol=1e-5)


@pytest.mark.parametrize("bad", [0, -1, 2.0, "4", True, None])
def test_blocked_rejects_bad_blocks(bad):
    raises(ValueError, lambda: matmul_blocked(np.ones((2, 2)), np.ones((2, 2)), bad), "block")


def test_vectorized_accepts_non_contiguous_views():
    rng = np.random.default_rng(3)
    a = rng.normal(size=(8, 6)).astype(np.float32)
    b = rng.normal(size=(10, 8)).astype(np.float32)[::2].T  # (8, 5), strided
    close(matmul_vectorized(a.T, b), a.T.astype(np.float64) @ b.astype(np.float64), atol=2e-5)
    close(matmul_blocked(a.T, b, 3), a.T.astype(np.float64) @ b.astype(np.float64), atol=2e-5)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 9), st.integers(0, 9), st.integers(1, 9), st.integers(1, 10), st.integers(0, 2**16))
def test_property_all_rungs_agree(n, k, m, block, seed):
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=(n, k)), rng.normal(size=(k, m))
    expected = a @ b
    close(matmul_loops(a, b), expected, atol=1e-10)
    close(matmul_vectorized(a, b), expected, atol=1e-10)
    close(matmul_blocked(a, b, block), expected, atol=1e-10)


def test_flop_count_and_rate():
    assert matmul_flops(512, 512, 512) == 268_435_456
    assert matmul_flops(2, 3, 4) == 48
    assert gflops(2e9, 0.5) == pytest.approx(4.0)
    assert gflops(0, 1.0) == 0.0
    raises(ValueError, lambda: gflops(1e9, 0.0), "seconds")
    raises(ValueError, lambda: gflops(-1, 1.0), "flops")


def _python_lines(fn):
    lines = 0

    def tracer(frame, event, arg):
        nonlocal lines
        lines += event == "line"
        return tracer

    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        fn()
    finally:
        sys.settrace(previous)
    return lines


@pytest.mark.parametrize("shape,block,tiles", [((8, 8, 8), 2, 64), ((9, 7, 5), 3, 27), ((4, 12, 4), 4, 3)])
def test_blocked_works_tile_by_tile(shape, block, tiles):
    n, k, m = shape
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(n, k)), rng.normal(size=(k, m))
    close(matmul_blocked(a, b, block), a @ b, atol=1e-9, what=f"{shape} with block {block}")
    lines = _python_lines(lambda: matmul_blocked(a, b, block))
    assert lines >= tiles, f"{shape}, block {block}: {tiles} tile products, but only {lines} Python lines ran"


class _Entry:
    """An entry of a or b that logs every product it takes part in: a[i, p] * b[p, j] appends (i, p, p, j).
    Sums and products of entries are _Entry placeholders too; only the log matters."""

    def __init__(self, log, where=None):
        self.log, self.where = log, where  # where: ("a", i, p), ("b", p, j) or None (a partial sum)

    def __mul__(self, other):
        if isinstance(other, _Entry) and self.where and other.where:
            (_, i, p), (_, q, j) = sorted((self.where, other.where))  # ("a", i, p) sorts before ("b", q, j)
            self.log.append((i, p, q, j))
        return _Entry(self.log)

    __rmul__ = __mul__

    def __add__(self, other):
        return _Entry(self.log)

    __radd__ = __add__

    def __float__(self):  # an accumulator of floats may store an entry: the log is already written
        return 0.0


def _logged_products(monkeypatch, n, k, m, block):
    """The products matmul_blocked computes, in order, with a and b made of logging entries."""
    log = []
    a = np.empty((n, k), dtype=object)
    b = np.empty((k, m), dtype=object)
    for i, p in np.ndindex(n, k):
        a[i, p] = _Entry(log, ("a", i, p))
    for p, j in np.ndindex(k, m):
        b[p, j] = _Entry(log, ("b", p, j))
    monkeypatch.setattr(acceleration, "_check_matmul", lambda a, b, where: (a, b, np.dtype(object)))
    try:
        matmul_blocked(a, b, block)
    except TypeError:  # e.g. `+=` into a float64 accumulator refuses object entries: a correct design too
        pytest.skip("this matmul_blocked cannot run on logging entries (a float accumulator?): its tiling is "
                    "judged by test_blocked_works_tile_by_tile alone")
    return log


@pytest.mark.parametrize("shape,block", [((8, 8, 8), 2), ((6, 9, 4), 3), ((4, 8, 6), 4)])
def test_blocked_computes_each_product_once_tile_by_tile(monkeypatch, shape, block):
    """Judged by behaviour, whatever the loops look like: every product a[i, p]·b[p, j] is computed exactly
    once, and the products come in tile products of block × block × block, each one computed in one go.
    Catches what counting lines cannot: tiles of C that each take the whole shared dimension, or a loop
    that does nothing before one a @ b."""
    n, k, m = shape
    log = _logged_products(monkeypatch, n, k, m, block)
    assert all(p == q for _, p, q, _ in log), "a product paired a[i, p] with b[q, j] for q != p"
    counts = Counter((i, p, j) for i, p, _, j in log)
    repeated = sorted(key for key, count in counts.items() if count > 1)
    assert not repeated, \
        (f"{shape} with block {block}: {len(repeated)} products a[i, p]·b[p, j] computed more than once, "
         f"e.g. (i, p, j) = {repeated[:3]}: each tile product takes only its own {block} indices of the "
         f"shared dimension")
    assert len(counts) == n * k * m, f"{shape}: {n * k * m} products expected, {len(counts)} computed"
    tiles = [(i // block, p // block, j // block) for i, p, _, j in log]
    runs = 1 + sum(t != u for t, u in zip(tiles, tiles[1:]))
    expected = -(-n // block) * -(-k // block) * -(-m // block)
    assert runs == expected, \
        (f"{shape} with block {block}: {expected} tile products expected, each computed in one go, but the "
         f"products switched tiles {runs - 1} times: the product of an A tile and a B tile is one small "
         f"matrix product (a rank-1 update or a whole row of C at a time is not a tile)")


def check_tile_indices(blocked) -> None:
    """With A = I the product is B, with B = I it is A (block 2 on 4 x 4): a swapped tile index, which moves
    whole tiles (i, j) to (j, i) or raises on mismatched tile shapes, is named."""
    eye, mat = np.eye(4), np.arange(16.0).reshape(4, 4)
    moved = mat.reshape(2, 2, 2, 2).transpose(2, 1, 0, 3).reshape(4, 4)  # tile (i, j) of mat at (j, i)
    tiles = "the A tile takes rows i of C and columns p (the shared dimension), the B tile rows p, columns j"
    for name, a, b in (("B", eye, mat), ("A", mat, eye)):
        product = "I @ B" if name == "B" else "A @ I"
        try:
            c = blocked(a, b, 2)
        except ValueError as err:
            raise AssertionError(f"{product} with block 2 raised ValueError ({err}): tile products whose "
                                 f"shapes do not match; {tiles}") from None
        assert not np.array_equal(c, moved), \
            f"{product} with block 2 gave {name} with its tiles (i, j) and (j, i) exchanged: the {name} " \
            f"tile's indices are swapped; {tiles}"
        close(c, mat, what=f"a product that must equal {name}")


def _tiles_exchanged(a, b, block):
    """Planted: what a B tile taken at (j, p) instead of (p, j) gives on square inputs, a @ (B with its tiles
    exchanged)."""
    n = b.shape[0] // block
    return a @ b.reshape(n, block, n, block).transpose(2, 1, 0, 3).reshape(b.shape)


def test_tile_indices():
    check_tile_indices(matmul_blocked)


def test_a_swapped_b_tile_index_is_named():
    raises(AssertionError, lambda: check_tile_indices(_tiles_exchanged), "B tile's indices are swapped")
