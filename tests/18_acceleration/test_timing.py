"""Module 18: time_interleaved — round robin order, thread pinning, shapes, errors (no time asserted);
the prose's vocabulary size against the corpus."""

import re
from pathlib import Path

import numpy as np
import pytest

from tinytorch.acceleration import time_interleaved
from tinytorch.datasets import load_shakespeare
from tinytorch.profiling import blas_threads
from tinytorch.testing import raises


def test_round_robin_order_and_counts():
    calls = []
    fns = {"a": lambda: calls.append("a"), "b": lambda: calls.append("b"), "c": lambda: calls.append("c")}
    times = time_interleaved(fns, repeats=3, warmup=1, number=2)
    assert set(times) == {"a", "b", "c"}
    assert all(isinstance(t, np.ndarray) and t.shape == (3,) and (t >= 0).all() for t in times.values())
    # warm-up: a, b, c once; then each round a, a, b, b, c, c
    assert calls == ["a", "b", "c"] + ["a", "a", "b", "b", "c", "c"] * 3


def test_no_warmup():
    calls = []
    time_interleaved({"x": lambda: calls.append(1)}, repeats=2, warmup=0)
    assert calls == [1, 1]


@pytest.mark.parametrize("threads", [1, 2])
def test_blas_threads_are_pinned_during_the_calls(threads):
    if blas_threads() is None:
        pytest.skip("no BLAS library found by threadpoolctl")
    seen = []
    time_interleaved({"probe": lambda: seen.append(blas_threads())}, repeats=2, warmup=0, threads=threads)
    assert seen == [threads, threads]


@pytest.mark.parametrize("kwargs,fragment", [({"repeats": 0}, "repeats"), ({"warmup": -1}, "warmup"),
                                             ({"number": 0}, "number"), ({"repeats": 2.0}, "repeats"),
                                             ({"number": True}, "number")])
def test_bad_arguments_are_named(kwargs, fragment):
    raises(ValueError, lambda: time_interleaved({"f": lambda: None}, **kwargs), fragment)


def test_needs_callables():
    raises(ValueError, lambda: time_interleaved({}), "non-empty")
    raises(ValueError, lambda: time_interleaved({"f": 3}), "functions")


def test_the_prose_vocabulary_is_the_corpus():
    """Section 8 builds M05's char-GPT with `M05_VOCAB` outputs and its prose says how many
    characters: both must be the number of distinct characters of datasets/shakespeare.txt."""
    source = (Path(__file__).resolve().parents[2] / "modules" / "source" / "18_acceleration"
              / "18_acceleration_dev.py").read_text(encoding="utf-8")
    distinct = len(set(load_shakespeare()))
    constant = re.search(r"^M05_VOCAB = (\d+)", source, re.M)
    said = re.search(r"char-GPT shape: (\d+) characters", source)
    assert constant and said, "module 18 no longer defines M05_VOCAB or describes char_gpt's vocabulary"
    assert int(constant.group(1)) == int(said.group(1)) == distinct, \
        f"M05_VOCAB = {constant.group(1)}, the prose says {said.group(1)}, the corpus has {distinct}"
