# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Module 19: Benchmarking — numbers you can defend
#
# Modules 14 to 18 made models smaller and faster, and each one measured its own effect. This
# module turns those one-off measurements into a **benchmark**: a harness that times any
# function the same careful way every time, a summary that says how sure we are of a number,
# a record of the machine the number came from, and a small suite in the spirit of **MLPerf
# Inference** (the industry's benchmark since 2018) with fixed tasks, fixed data and seeds, a
# quality target per task, and two scenarios: one query at a time (latency) and everything at
# once (throughput).
#
# Why so much ceremony? Because a speed-up is a claim about two noisy measurements. Timings on
# a real machine wander with other programs, CPU frequency, caches, memory allocation and the
# number of threads NumPy's BLAS uses. On our 2-core reference machine, shared with other jobs
# (load average 13), the same CNN forward pass timed 20 times, then 20 more times under a second
# name, gave medians whose ratio ranged from 0.33 to 2.7 over 14 such runs (wall time): a
# threefold "speed-up" between two identical functions. Even in CPU time, which hardly depends on
# the other programs, the ratio reached 1.14 in 6 runs. And a faster model is worth nothing if it got faster by getting
# worse: MLPerf's rule is that a result whose accuracy misses the target is **invalid**, not a
# slower-but-fine score. This module enforces both: statistics that admit their uncertainty,
# and a quality gate in front of every score. Module 20 (the capstone) and `tito benchmark` use
# exactly this code to check your optimized model.
#
# ## Learning objectives
# - Explain why a benchmark warms up, repeats, pins BLAS threads, and reports the median and
#   the 90th percentile rather than the mean or the minimum.
# - Derive a distribution-free 95 % confidence interval for the median from order statistics.
# - Write a harness that times a function, and design a comparison that stays fair on a noisy
#   machine.
# - Record the environment a number comes from, and save results as JSON.
# - Run an MLPerf-style suite: closed division, quality targets, single-stream latency and
#   offline throughput, and reject invalid results instead of scoring them.
#
# ## How to work
# Each piece you write is a stub that raises `NotImplementedError`: replace the `raise` with
# your code and run the test cell after it. `tito hint 19` lists the stubs, `tito hint 19 NAME`
# gives the next hint for one of them. `tito module complete 19` then runs the pytest suite,
# which also trains the three reference models and checks that they are reproducible.

# %% nbgrader={"grade": false, "grade_id": "benchmarking-setup", "locked": false, "schema_version": 3, "solution": false, "task": false}
#| default_exp benchmarking
#| export
import copy
import json
import math
import os
import platform
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

import tinytorch
from tinytorch.activations import ReLU
from tinytorch.autograd import no_grad
from tinytorch.compression import evaluate, fit
from tinytorch.datasets import load_shakespeare, load_tinydigits
from tinytorch.layers import Linear, Module, Sequential
from tinytorch.losses import CrossEntropyLoss
from tinytorch.memoization import generate_cached
from tinytorch.optimizers import Adam
from tinytorch.quantization import model_nbytes
from tinytorch.spatial import Conv2d, Flatten, MaxPool2d
from tinytorch.tensor import Tensor
from tinytorch.tokenization import CharTokenizer
from tinytorch.transformers import GPT, generate, lm_batch


def _count(value, name: str, minimum: int = 1) -> int:
    """`value` as an int >= minimum, or a ValueError naming it (given)."""
    if not isinstance(value, int | np.integer) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _threads(value) -> int | None:
    """A BLAS thread count: None (leave it alone) or an int >= 1 (given)."""
    return None if value is None else _count(value, "threads")


# %% [markdown]
# ## 1. What a single timing hides
#
# The simplest benchmark is two calls to a clock around the code. The cell below does that 30
# times for the same forward pass: a small CNN (the model of section 6's `digits-cnn` task,
# untrained: the weights do not change the time) on the 360 test images of TinyDigits, and
# prints the first call, the fastest, the median, the 90th percentile and the slowest. Nothing
# changes between the calls, yet the numbers do.
#
# Where the spread comes from:
# - **Warm-up.** The first calls allocate memory NumPy then reuses, fill the CPU caches with the
#   weights, and (in Python) touch code and data for the first time. Benchmarks run a few untimed
#   *warm-up* calls first.
# - **The machine is shared.** Other processes, the operating system and interrupts take the
#   CPU away for a few milliseconds now and then; a timing that catches one is an outlier. The
#   outliers are always *slow*: nothing makes a call faster than the work it has to do.
# - **Frequency and threads.** CPUs change their clock speed with load and temperature, and
#   NumPy's BLAS may use one thread or all cores. Two runs with different thread counts measure
#   different things (module 18 measures how the thread count changes small and large
#   matmuls).
#
# So one timing is a sample from a distribution, skewed to the right. The **mean** is pulled up
# by the outliers; the **minimum** is the least disturbed run, a good estimate of the pure cost,
# but it says nothing about what a user waits; the **median** (p50) is robust to outliers and
# is "the typical call"; the **90th percentile** (p90) is the tail a user notices, and it is
# what MLPerf reports for latency. We report p50 and p90, and a confidence interval for p50.

# %% nbgrader={"grade": false, "grade_id": "spread-demo", "locked": false, "schema_version": 3, "solution": false, "task": false}
def digits_cnn(seed: int = 0) -> Sequential:
    """The CNN of this module's digits task: conv 3×3 (8 channels), ReLU, 2×2 max-pool, linear."""
    return Sequential(Conv2d(1, 8, 3, padding=1, rng=seed), ReLU(), MaxPool2d(2), Flatten(),
                      Linear(8 * 4 * 4, 10, rng=seed + 1))


if __name__ == "__main__":
    demo_model = digits_cnn()
    demo_x = Tensor(load_tinydigits().x_test[:, None])
    raw = []
    with no_grad():
        for _ in range(30):
            start = time.perf_counter()
            demo_model(demo_x)
            raw.append(time.perf_counter() - start)
    raw_ms = np.array(raw) * 1e3
    print(f"CNN forward on {demo_x.shape[0]} images, 30 timed calls (ms): first {raw_ms[0]:.3f}, "
          f"min {raw_ms.min():.3f}, median {np.median(raw_ms):.3f}, p90 {np.percentile(raw_ms, 90):.3f}, "
          f"max {raw_ms.max():.3f}, mean {raw_ms.mean():.3f}")
    print(f"slowest / fastest = {raw_ms.max() / raw_ms.min():.2f}: the same work, timed 30 times")

# %% [markdown]
# ## 2. The environment: where a number comes from
#
# A latency means nothing without the machine. MLPerf submissions list the hardware and the
# software stack in detail; ours records what a reader needs to judge a number and to
# reproduce it. `capture_environment()` (given) returns a dict with:
#
# | key | what | why it matters |
# |---|---|---|
# | `python`, `numpy`, `tinytorch` | versions | a new NumPy can change the speed of an op |
# | `platform` | OS and architecture | |
# | `cpu`, `cores` | CPU model (from `/proc/cpuinfo` on Linux) and logical cores | the hardware |
# | `blas` | NumPy's BLAS library: `internal_api` (openblas, mkl, …), `version`, `num_threads` | the library that runs every matmul, and how many threads it may use |
# | `load_average` | 1, 5 and 15-minute load (None where the OS has none) | a load above the core count means the machine was busy: expect slower, noisier numbers |
# | `timestamp` | ISO 8601, UTC | when |
#
# The load average is the honest footnote on a shared machine: compare two numbers measured
# under similar load, or better, measured together in the same run (section 5).

# %% nbgrader={"grade": false, "grade_id": "environment", "locked": false, "schema_version": 3, "solution": false, "task": false}
#| export
def _cpu_model() -> str:
    """The CPU's model name: /proc/cpuinfo on Linux, else platform.processor() (given)."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip().lower() in ("model name", "hardware", "cpu model") and value.strip():
                return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def capture_environment() -> dict:
    """Where and when a measurement runs: versions, CPU, BLAS library and threads, load (given)."""
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):  # Windows has no load average
        load = None
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "numpy": np.__version__,
        "blas": [{"internal_api": info.get("internal_api"), "version": info.get("version"),
                  "num_threads": info.get("num_threads")}
                 for info in threadpool_info() if info.get("user_api") == "blas"],
        "tinytorch": tinytorch.__version__,
        "load_average": load,
        "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


# %% nbgrader={"grade": false, "grade_id": "environment-demo", "locked": false, "schema_version": 3, "solution": false, "task": false}
if __name__ == "__main__":
    for key, value in capture_environment().items():
        print(f"{key:>13}: {value}")

# %% [markdown]
# ## 3. How sure is a median? A confidence interval from order statistics
#
# Twenty timings give a median; twenty more would give a slightly different one. A
# **95 % confidence interval** is a range computed from the sample that contains the true median
# (the median of the distribution the timings come from) in 95 % of experiments. Two versions
# of a model whose intervals do not overlap really differ; overlapping intervals mean the
# measurement cannot tell them apart.
#
# The textbook interval `mean ± 1.96·σ/√n` assumes a roughly normal distribution of the mean;
# timings are skewed and have outliers. There is an interval for the median that assumes
# nothing about the distribution (only that ties are rare), built from the sorted sample
# `x₍₀₎ ≤ x₍₁₎ ≤ … ≤ x₍ₙ₋₁₎` (0-based ranks):
#
# Each timing falls below the true median `m` with probability exactly ½, independently. So the
# number `B` of timings below `m` is **binomial**, `B ~ Binomial(n, ½)`. The interval
# `[x₍ₗₒ₎, x₍ₕᵢ₎]` misses `m` on the left when `x₍ₗₒ₎ > m`, i.e. when at most `lo` timings are
# below `m` (`B ≤ lo`), and on the right, by symmetry, with the same probability when we choose
# `hi = n − 1 − lo`. So
#
# `P(interval misses m) = 2 · P(B ≤ lo) = 2 · Σ_{c=0}^{lo} C(n, c) / 2ⁿ`,
#
# and the tightest 95 % interval takes the **largest** `lo` with `P(B ≤ lo) ≤ 0.025`.
# Worked case, `n = 10`: `P(B ≤ 0) = 1/1024 ≈ 0.001`, `P(B ≤ 1) = 11/1024 ≈ 0.011`,
# `P(B ≤ 2) = 56/1024 ≈ 0.055`. The largest `lo` with at most 0.025 is 1, so the interval is
# `[x₍₁₎, x₍₈₎]`, the second smallest to the second largest, and it covers the median with
# probability `1 − 2·11/1024 ≈ 97.9 %` (a discrete distribution cannot hit 95 % exactly; we
# round to the safe side). With `n ≤ 5` no `lo` works: even `[min, max]` misses with
# probability `2/2ⁿ ≥ 6 %`, so there is no 95 % interval and the function says so.
#
# `median_ci_ranks(n, level)` returns `(lo, hi)` for any level; you write the search for `lo`.
# Python's `math.comb(n, c)` is exact, and `int / int` divides huge integers correctly (avoid
# `float(2 ** n)`, which overflows past `n = 1023`).

# %% nbgrader={"grade": false, "grade_id": "median-ci-ranks", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
def median_ci_ranks(n: int, level: float = 0.95) -> tuple[int, int]:
    """0-based ranks (lo, hi) of the sorted sample such that [x_lo, x_hi] is a distribution-free
    confidence interval for the median at `level` (at least): lo is the largest rank with
    P(Binomial(n, 1/2) <= lo) <= (1 - level) / 2, and hi = n - 1 - lo."""
    n = _count(n, "n")
    if not isinstance(level, float | int) or isinstance(level, bool) or not 0 < level < 1:
        raise ValueError(f"level must be a number strictly between 0 and 1, got {level!r}")
    ### BEGIN SOLUTION
    alpha = (1 - level) / 2
    lo, below = -1, 0
    for c in range(n):
        below += math.comb(n, c)
        if below / 2**n > alpha:
            break
        lo = c
    ### END SOLUTION
    if lo < 0:
        raise ValueError(f"no {level:.0%} interval for the median from {n} samples: even [min, max] misses "
                         f"it with probability {2 / 2**n:.3f}; take more samples")
    return lo, n - 1 - lo


# %% [markdown]
# ### Unit test: the ranks
# The ranks of the published tables (n = 6, 10, 20, 100 at 95 %, and 99 %), the probability
# bound itself, and the refusal for too few samples.

# %% nbgrader={"grade": true, "grade_id": "test-median-ci-ranks", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false}
def test_unit_median_ci_ranks():
    from tinytorch.testing import raises
    for n in (8, 15, 41):  # the definition first: lo satisfies the bound, lo + 1 does not
        try:
            lo, hi = median_ci_ranks(n)
        except ValueError as refusal:  # the given refusal runs when lo stays below 0
            raise AssertionError(
                f"median_ci_ranks({n}) refused ({refusal}), but lo = 0 satisfies the bound: P(B <= 0) = "
                f"C({n}, 0) / 2^{n} = {1 / 2**n:.4f} <= 0.025. The tail P(B <= lo) sums C(n, c) / 2^n "
                f"for c = 0 .. lo: does your sum start at c = 0?") from None
        tail = sum(math.comb(n, c) for c in range(lo + 1)) / 2**n
        tail_next = tail + math.comb(n, lo + 1) / 2**n
        assert tail <= 0.025, f"n={n}: got lo = {lo}, but P(B <= {lo}) = {tail:.4f} is above (1 - 0.95) / 2 = " \
            "0.025: lo must be the LAST rank whose tail is within the bound (and the bound is half the error)"
        assert 0.025 < tail_next, f"n={n}: got lo = {lo}, but P(B <= {lo + 1}) = {tail_next:.4f} is still within " \
            f"0.025: lo = {lo + 1} is allowed and gives a tighter interval; lo is the largest such rank"
        assert hi == n - 1 - lo, f"n={n}: hi mirrors lo, n - 1 - lo = {n - 1 - lo}, got {hi}"
    table = {(6, 0.95): (0, 5), (10, 0.95): (1, 8), (20, 0.95): (5, 14), (100, 0.95): (39, 60),
             (20, 0.99): (3, 16), (10, 0.99): (0, 9), (30, 0.9): (10, 19)}
    for (n, level), expected in table.items():
        got = median_ci_ranks(n, level)
        assert tuple(got) == expected, f"median_ci_ranks({n}, {level}) = {got}, expected {expected}"
    try:
        lo, hi = median_ci_ranks(2000)
    except OverflowError as error:
        raise AssertionError(f"median_ci_ranks(2000) raised OverflowError ({error}): 2^2000 is far past the largest "
                             f"float (about 1.8e308, just under 2^1024), so a power of two made a float overflows. "
                             f"Keep 2 ** n a Python int: int / int divides huge integers exactly") from None
    assert lo <= hi, \
        (f"n=2000: got ({lo}, {hi}), ranks that cross: every tail P(B <= lo) came out 0, as when 2^-2000 underflows "
         f"to 0.0 in floating point (0.5 ** n, or a division by 2.0 ** n that became inf). Keep 2 ** n a Python int: "
         f"int / int divides huge integers exactly")
    assert (lo, hi) == (955, 1044), f"n=2000 (exact big integers): got ({lo}, {hi}), expected (955, 1044)"
    raises(ValueError, lambda: median_ci_ranks(5), "5 samples")
    raises(ValueError, lambda: median_ci_ranks(20, 1.5), "level")
    print("median_ci_ranks: OK")


if __name__ == "__main__":
    test_unit_median_ci_ranks()

# %% [markdown]
# ### The result of a benchmark
#
# `BenchmarkResult(name, times)` holds the seconds of every timed call and derives the
# summaries: `median`, `p90` (NumPy's `percentile` with its default linear interpolation),
# `mean`, and `ci95`, the sorted times at the ranks above (a `ValueError` for fewer than 6
# times). `to_dict()` / `BenchmarkResult.from_dict(d)` convert to and from plain JSON types; the
# summaries are written too, for a human reading the file, and recomputed on loading.
# All of this is given.

# %% nbgrader={"grade": false, "grade_id": "benchmark-result", "locked": false, "schema_version": 3, "solution": false, "task": false}
#| export
@dataclass
class BenchmarkResult:
    """The seconds of every timed call of one benchmark, with its summaries (given)."""
    name: str
    times: list[float]

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"BenchmarkResult: name must be a non-empty str, got {self.name!r}")
        times = np.asarray(self.times, dtype=np.float64).ravel() if len(self.times) else np.empty(0)
        if times.size == 0 or not np.all(np.isfinite(times)) or np.any(times < 0):
            raise ValueError(f"BenchmarkResult {self.name!r}: times must be a non-empty list of finite "
                             f"seconds >= 0, got {self.times!r}")
        self.times = [float(t) for t in times]

    @property
    def median(self) -> float:
        return float(np.median(self.times))

    @property
    def p90(self) -> float:
        return float(np.percentile(self.times, 90))

    @property
    def mean(self) -> float:
        return float(np.mean(self.times))

    @property
    def ci95(self) -> tuple[float, float]:
        """A distribution-free 95 % confidence interval for the median (section 3)."""
        lo, hi = median_ci_ranks(len(self.times), 0.95)
        ordered = sorted(self.times)
        return ordered[lo], ordered[hi]

    def to_dict(self) -> dict:
        ci = self.ci95 if len(self.times) >= 6 else None
        return {"name": self.name, "times": list(self.times), "median": self.median, "p90": self.p90,
                "mean": self.mean, "ci95": None if ci is None else list(ci)}

    @classmethod
    def from_dict(cls, d) -> "BenchmarkResult":
        if not isinstance(d, dict) or "name" not in d or "times" not in d:
            raise ValueError(f"BenchmarkResult.from_dict needs a dict with 'name' and 'times', got {d!r:.200}")
        if not isinstance(d["times"], list):
            raise ValueError(f"BenchmarkResult.from_dict: 'times' must be a list, got {type(d['times']).__name__}")
        return cls(d["name"], d["times"])

    def __str__(self) -> str:
        ci = self.ci95 if len(self.times) >= 6 else (math.nan, math.nan)
        return (f"{self.name}: median {self.median * 1e3:.3f} ms (95% CI {ci[0] * 1e3:.3f}–{ci[1] * 1e3:.3f}), "
                f"p90 {self.p90 * 1e3:.3f} ms, {len(self.times)} runs")


# %% [markdown]
# Section 1's 30 timings, summarized:

# %% nbgrader={"grade": false, "grade_id": "result-demo", "locked": false, "schema_version": 3, "solution": false, "task": false}
if __name__ == "__main__":
    spread = BenchmarkResult("CNN forward, naive loop", raw)
    print(spread)
    lo, hi = median_ci_ranks(len(raw))
    print(f"n = {len(raw)}: the interval is sorted times [{lo}] and [{hi}] (0-based)")

# %% [markdown]
# ## 4. The harness
#
# `Benchmark(fn, name=..., warmup=3, repeats=20, threads=1)` times calls of `fn()` (a function
# of no arguments: wrap a model call in a `lambda`). What `run()` must do:
#
# - return `BenchmarkResult(name, times)`, where `times` holds the seconds of `repeats` timed
#   calls of `fn`, in the order they ran;
# - before them, call `fn` `warmup` times without timing it (section 1's warm-up);
# - run **every** call of `fn` (warm-up included) with NumPy's BLAS, and any other native thread
#   pool such as OpenMP's, limited to `threads` threads, and lift the limit when `run()` ends;
#   `threads=None` leaves the counts alone. `threadpoolctl` (imported above) does the limiting.
#   One thread is the default: the most reproducible setting on a shared machine, and the one
#   every number of this course uses.
#
# The clock is `self.timer`, `time.perf_counter` unless another is given: the highest-resolution
# monotonic clock Python has (`time.time()` can jump when the system clock is adjusted). The
# tests give a fake clock that advances exactly as they say, so they check your harness without
# timing anything. Time each call on its own rather than the whole loop: the loop's total gives
# only a mean, and the p90 and the interval need every call. Anything else between the two
# readings of the clock is counted as part of the call.

# %% nbgrader={"grade": false, "grade_id": "benchmark", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
class Benchmark:
    """Times `fn()`: `warmup` untimed calls, then `repeats` timed ones, under a BLAS thread limit."""

    def __init__(self, fn: Callable[[], object], *, name: str | None = None, warmup: int = 3,
                 repeats: int = 20, threads: int | None = 1, timer: Callable[[], float] = time.perf_counter):
        if not callable(fn):
            raise TypeError(f"Benchmark needs a callable of no arguments, got {type(fn).__name__}")
        self.fn = fn
        self.name = name if name is not None else getattr(fn, "__name__", "benchmark")
        self.warmup = _count(warmup, "warmup", minimum=0)
        self.repeats = _count(repeats, "repeats")
        self.threads = _threads(threads)
        self.timer = timer

    def run(self) -> BenchmarkResult:
        """Run the benchmark; the seconds of each timed call, in order."""
        ### BEGIN SOLUTION
        times = []
        with threadpool_limits(limits=self.threads):
            for _ in range(self.warmup):
                self.fn()
            for _ in range(self.repeats):
                start = self.timer()
                self.fn()
                times.append(self.timer() - start)
        ### END SOLUTION
        return BenchmarkResult(self.name, times)


# %% [markdown]
# ### Unit test: the harness, with a fake clock
# The fake clock only moves when the benchmarked function moves it, by known amounts, so the
# times are known exactly: the warm-up calls are not timed, every timed call is timed on its
# own, and the function runs under the requested number of BLAS threads.

# %% nbgrader={"grade": true, "grade_id": "test-benchmark", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false}
class FakeClock:
    """A clock for tests: `clock()` reads it, `clock.advance(s)` moves it (nothing else does)."""

    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def _blas_threads() -> int | None:
    counts = [i["num_threads"] for i in threadpool_info() if i.get("user_api") == "blas"]
    return max(counts) if counts else None


def _two_threads() -> int | None:
    """The BLAS thread count under `threadpool_limits(2)`, when that differs from 1 (else None):
    what fn must see when the harness is asked for `threads=2`."""
    with threadpool_limits(limits=2):
        count = _blas_threads()
    return count if count not in (None, 1) else None


def test_unit_benchmark():
    from tinytorch.testing import close, raises
    clock, calls, threads_seen = FakeClock(), [], []
    costs = [0.5, 0.25, 0.125, 1.0, 2.0, 3.0, 4.0, 5.0]  # two warm-up calls, then six timed ones

    def work():
        clock.advance(costs[len(calls)])
        calls.append(len(calls))
        threads_seen.append(_blas_threads())

    result = Benchmark(work, name="work", warmup=2, repeats=6, timer=clock).run()
    assert isinstance(result, BenchmarkResult) and result.name == "work", f"run() returns a BenchmarkResult, got {result!r}"
    assert len(calls) == 8, f"2 warm-up + 6 timed calls = 8 calls of fn, got {len(calls)}"
    close(result.times, costs[2:], what="each timed call's own seconds, warm-up calls not timed")
    close(result.median, 2.5, what="median of 0.125 and 1..5")
    if _blas_threads() is not None:
        assert set(threads_seen) == {1}, f"threads=1: fn must run with 1 BLAS thread, saw {set(threads_seen)}"
    calls.clear()
    costs[:] = [0.0, 0.0, 0.0, 7.0]
    threads_seen.clear()
    single = Benchmark(work, warmup=3, repeats=1, threads=None, timer=clock).run()
    close(single.times, [7.0], what="warmup=3, repeats=1")
    assert single.name == "work", f"the default name is fn.__name__, got {single.name!r}"
    if _two_threads() is not None:
        calls.clear()
        threads_seen.clear()
        costs[:] = [1.0, 1.0]
        Benchmark(work, warmup=1, repeats=1, threads=2, timer=clock).run()
        assert set(threads_seen) == {_two_threads()}, \
            f"threads=2: every call of fn, warm-ups included, runs under the limit self.threads; saw {set(threads_seen)}"
    raises(ValueError, lambda: Benchmark(work, repeats=0), "repeats")
    raises(ValueError, lambda: Benchmark(work, threads=0), "threads")
    raises(TypeError, lambda: Benchmark(42), "callable")
    print("Benchmark: OK")


if __name__ == "__main__":
    test_unit_benchmark()

# %% [markdown]
# The same CNN forward pass as in section 1, now through the harness, with one BLAS thread and
# with the library's default. Compare the medians and the intervals: an interval that does not
# overlap the other side's is a real difference on this machine, at this moment.

# %% nbgrader={"grade": false, "grade_id": "harness-demo", "locked": false, "schema_version": 3, "solution": false, "task": false}
if __name__ == "__main__":
    with no_grad():
        one_thread = Benchmark(lambda: demo_model(demo_x), name="CNN forward, 1 BLAS thread", repeats=30).run()
        default = Benchmark(lambda: demo_model(demo_x), name="CNN forward, default threads", repeats=30,
                            threads=None).run()
    print(one_thread)
    print(default)

# %% [markdown]
# ## 5. Comparing on a noisy machine: your measurement protocol
#
# To compare A and B, the obvious way runs all of A's repeats, then all of B's. Two things on a
# real machine make that unfair, and neither shows up in a single `Benchmark`:
#
# - **Drift.** The machine's speed changes *during* the comparison: another student starts a
#   training run halfway, the CPU heats up and lowers its clock. Whatever runs later pays for it.
#   A comparison of A with itself, run one after the other while the machine slows by 1 % per
#   call, shows a 20 % "difference".
# - **Position.** A call leaves the machine in a state the next call inherits: caches full of
#   its own weights, memory the allocator has to reclaim, a CPU clock that has just ramped up.
#   If B always runs right after A, B always finds A's leftovers, and B's time includes A's mess.
#
# `compare(fns, warmup=3, repeats=20, threads=1)` takes a dict `{name: fn}` and returns
# `{name: BenchmarkResult}` in the same order. **The order of the calls is your design.** The
# contract:
#
# - each candidate gets at least `warmup` untimed calls before its first timed call, and exactly
#   `repeats` timed calls, each timed on its own by `timer`; its result holds those seconds in
#   the order they ran, and every time is a call of *that* candidate;
# - every call runs under one thread limit, `threads`, as in `Benchmark`;
# - **fair on a noisy machine**: when the machine's speed drifts steadily during the comparison,
#   and when a call is slowed by what the call before it left behind, two candidates doing the
#   same work get medians within 2 % of each other, and a candidate 5 % slower is measured 5 %
#   slower (±1 %).
#
# The tests drive `compare` with a fake clock that simulates exactly such a machine (a drift of
# 1 % per call, and a call that runs right after one particular candidate costing 30 % more),
# so they judge what your protocol measures, never how long it takes; any protocol that keeps
# the contract passes. Ask yourself: which candidate runs while the machine is slow? Which one
# runs right after which, and how often? `tito hint 19 compare` helps, one level at a time.

# %% nbgrader={"grade": false, "grade_id": "compare", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
def compare(fns: dict[str, Callable[[], object]], *, warmup: int = 3, repeats: int = 20, threads: int | None = 1,
            timer: Callable[[], float] = time.perf_counter) -> dict[str, BenchmarkResult]:
    """Benchmark several functions against each other, fairly on a noisy machine (section 5)."""
    if not isinstance(fns, dict) or not fns or not all(callable(f) for f in fns.values()):
        raise TypeError("compare needs a non-empty dict {name: function of no arguments}")
    warmup, repeats, threads = _count(warmup, "warmup", minimum=0), _count(repeats, "repeats"), _threads(threads)
    names = list(fns)
    times: dict[str, list[float]] = {name: [] for name in names}
    ### BEGIN SOLUTION
    with threadpool_limits(limits=threads):
        for _round in range(warmup):
            for name in names:
                fns[name]()
        for r in range(repeats):
            shift = r % len(names)
            for name in names[shift:] + names[:shift]:
                start = timer()
                fns[name]()
                times[name].append(timer() - start)
    ### END SOLUTION
    return {name: BenchmarkResult(name, times[name]) for name in names}


# %% [markdown]
# ### Unit test: a noisy machine, simulated
# The fake clock becomes a noisy machine (`NoisyMachine`): every call is 1 % slower than the one
# before it (drift), and, in some checks, the call right after one particular candidate costs
# 30 % more (it left the caches in a mess). Candidates that do the same work must come out
# alike, and one doing 5 % more work must come out 5 % slower. The checks also follow every call:
# warm-ups untimed, `repeats` timed calls per candidate, each time in its own candidate's result,
# all under the thread limit.

# %% nbgrader={"grade": true, "grade_id": "test-compare", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false}
class NoisyMachine:
    """A simulated machine for `compare`: `machine.candidate(name, work)` is a function whose
    call advances `machine.clock` by work x (1 + drift x calls so far), x (1 + penalty) when the
    call before it was `messy`'s. Every call is logged as (name, seconds, BLAS threads)."""

    def __init__(self, drift: float = 0.01, messy: str | None = None, penalty: float = 0.3):
        self.clock, self.drift, self.messy, self.penalty = FakeClock(), drift, messy, penalty
        self.log: list[tuple[str, float, int | None]] = []

    def candidate(self, name: str, work: float) -> Callable[[], None]:
        def fn() -> None:
            seconds = work * (1 + self.drift * len(self.log))
            if self.log and self.log[-1][0] == self.messy:
                seconds *= 1 + self.penalty
            self.log.append((name, seconds, _blas_threads()))
            self.clock.advance(seconds)
        return fn

    def calls(self, name: str) -> list[float]:
        return [seconds for who, seconds, _ in self.log if who == name]


def test_unit_compare():
    from tinytorch.testing import close, raises
    machine = NoisyMachine()
    fns = {"a": machine.candidate("a", 1.0), "b": machine.candidate("b", 2.0), "c": machine.candidate("c", 4.0)}
    results = compare(fns, warmup=2, repeats=4, timer=machine.clock)
    assert isinstance(results, dict) and list(results) == ["a", "b", "c"], \
        f"a dict of results in the order of fns, got {list(results) if isinstance(results, dict) else results!r}"
    for name in fns:
        calls = machine.calls(name)
        assert len(calls) >= 2 + 4, f"{name!r}: 2 warm-up + 4 timed calls at least, got {len(calls)} calls"
        assert isinstance(results[name], BenchmarkResult) and results[name].name == name, \
            f"results[{name!r}] is a BenchmarkResult named {name!r}, got {results[name]!r:.120}"
        assert len(results[name].times) == 4, f"{name!r}: repeats=4 timed calls, got {len(results[name].times)} times"
        close(results[name].times, calls[-4:],
              what=f"times of {name!r}: the seconds of each of its last 4 calls, in the order they ran, each timed on its own")
    if _blas_threads() is not None:
        assert {t for _, _, t in machine.log} == {1}, f"threads=1 for every call, saw {({t for _, _, t in machine.log})}"
    if _two_threads() is not None:
        machine.log.clear()
        compare({"a": fns["a"]}, warmup=1, repeats=1, threads=2, timer=machine.clock)
        assert {t for _, _, t in machine.log} == {_two_threads()}, \
            f"threads=2: every call (warm-ups too) runs under a BLAS limit of `threads`; saw {({t for _, _, t in machine.log})}"

    cold = {"starts": 0}
    def cold_start():  # its first 3 calls take 100 s: a warm-up that is timed shows it
        cold["starts"] += 1
        machine.clock.advance(100.0 if cold["starts"] <= 3 else 1.0)
    slow = compare({"cold": cold_start, "a": fns["a"]}, warmup=3, repeats=5, timer=machine.clock)["cold"].times
    assert max(slow) < 100, f"warm-up calls must not be timed: the times of a candidate whose first 3 calls " \
        f"take 100 s include {[t for t in slow if t >= 100]}"

    def mean_ratio(machine, works, over, under, **kwargs):
        results = compare({n: machine.candidate(n, w) for n, w in works.items()}, timer=machine.clock, **kwargs)
        return float(np.mean(results[over].times) / np.mean(results[under].times))

    ratio = mean_ratio(NoisyMachine(), {"A": 1.0, "A again": 1.0, "C": 1.05}, "A again", "A")
    assert abs(ratio - 1) <= 0.02, \
        f"drift: the machine slows by 1 % per call; 'A again' does the same work as 'A' but measured " \
        f"{ratio:.3f} x A's mean time: a change of speed during the comparison must hit every candidate alike"
    ratio = mean_ratio(NoisyMachine(), {"A": 1.0, "A again": 1.0, "C": 1.05}, "C", "A")
    assert abs(ratio - 1.05) <= 0.01, \
        f"drift: 'C' does 5 % more work than 'A' but measured {ratio:.3f} x A's mean time; with three " \
        "candidates, does any of them always run at the same place in the order?"
    for messy in ("A", "B"):
        ratio = mean_ratio(NoisyMachine(messy=messy), {"A": 1.0, "B": 1.0}, "B", "A")
        assert abs(ratio - 1) <= 0.02, \
            f"position: a call right after one of {messy}'s costs 30 % more; A and B do the same work but B " \
            f"measured {ratio:.3f} x A's mean time: does each of them run right after {messy} equally often?"
    raises(TypeError, lambda: compare({}), "non-empty")
    raises(ValueError, lambda: compare({"a": fns["a"]}, repeats=0), "repeats")
    print("compare: OK")


if __name__ == "__main__":
    test_unit_compare()

# %% [markdown]
# ### An A/A test: how big is the noise?
#
# Before trusting "B is 5 % faster than A", measure A against **itself**. The cell runs the same
# CNN forward pass under two names, first one after the other (two `Benchmark`s), then with your
# `compare`. Any ratio away from 1.00 is noise; its size is the smallest
# difference this machine can show you right now, and the intervals show whether the
# measurement noticed that it could not tell the two apart.
#
# Interleaving cancels drift and position; it cannot cancel a machine where your process gets a
# core for a few milliseconds at a time. On our reference machine at load 13 (2 cores), the
# wall-clock ratio of A to itself from `compare` ranged from 0.1 to 8 over 15 runs, as wild as
# one after the other. With `timer=time.process_time` (CPU time: the seconds the CPU spent on
# this process, which the other jobs hardly change) the same comparison gave 0.99 to 1.06 in 6
# runs, and one after the other 0.99 to 1.14. On a busy machine, compare CPU time, and still
# interleave. (Windows updates `process_time` only every 16 ms or so: there, time many calls
# per sample.)

# %% nbgrader={"grade": false, "grade_id": "aa-demo", "locked": false, "schema_version": 3, "solution": false, "task": false}
if __name__ == "__main__":
    def forward():
        with no_grad():
            demo_model(demo_x)

    first = Benchmark(forward, name="A", repeats=20).run()
    second = Benchmark(forward, name="A again", repeats=20).run()
    print(f"one after the other: A {first.median * 1e3:.3f} ms, A again {second.median * 1e3:.3f} ms, "
          f"ratio {second.median / first.median:.3f}")
    both = compare({"A": forward, "A again": forward}, repeats=20)
    ratio = both["A again"].median / both["A"].median
    (a_lo, a_hi), (b_lo, b_hi) = both["A"].ci95, both["A again"].ci95
    overlap = a_lo <= b_hi and b_lo <= a_hi
    print(f"compare():           A {both['A'].median * 1e3:.3f} ms, A again {both['A again'].median * 1e3:.3f} ms, "
          f"ratio {ratio:.3f}; 95% intervals {'overlap' if overlap else 'do NOT overlap'}")

# %% [markdown]
# ## 6. An MLPerf-style suite
#
# MLPerf Inference fixes everything but the system under test: the **model** (a reference
# network with trained weights), the **data** (a fixed validation set), the **quality target**
# (e.g. 99 % of the reference's accuracy), and the **scenarios** (how queries arrive). In the
# **closed division** a submission must compute the same thing: it may quantize, prune or
# rewrite kernels, but its accuracy must reach the target, and it is judged on the same data
# as everyone else. (The open division allows any model and reports accuracy beside speed.)
#
# Our suite has three tasks, each a `Task` with
# - `build_reference()`: trains the float reference **deterministically** (fixed data, fixed
#   seeds, one BLAS thread, so the same weights on every run of the same machine) and returns a
#   fresh copy each time (the training runs once per Python process);
# - `quality(model)`: the task's accuracy on its fixed held-out set;
# - `target` = 0.99: a result is valid when `quality ≥ target × reference quality`;
# - `sample(batch)`: `batch` fixed inputs (the first `batch` held-out items, repeated if more are
#   asked for);
# - `query(model, x, kv_cache)`: one query, the work that is timed;
# - `calibration(n)`: `n` fixed *training* inputs, for tools that must look at data before they
#   run, such as module 15's quantization calibration (never the held-out set the quality is
#   measured on: that would be tuning on the test).
#
# | task | reference | quality | one query |
# |---|---|---|---|
# | `digits-mlp` | 64 → 64 → 10 MLP on TinyDigits | test accuracy (360 images) | forward pass |
# | `digits-cnn` | section 1's CNN on TinyDigits | test accuracy (360 images) | forward pass |
# | `char-gpt` | 1-block char GPT (D = 32) on a 200,000-character slice of Shakespeare | next-character top-1 accuracy on 4,096 held-out positions | greedy generation of 16 characters after a 16-character prompt |
#
# Two scenarios, as in MLPerf:
# - **single stream**: one query at a time, batch 1, like a phone app. The metric is the p90
#   latency: 90 % of queries finish within it.
# - **offline**: all queries available at once, one big batch (the 360 test images; 32 prompts
#   for the GPT), like a nightly job. The metric is throughput, samples per second
#   = batch / median seconds per batch.
#
# For the GPT, a query is a generation, not one forward pass, because that is what a user of a
# language model waits for; it is also where module 17's KV cache pays: `query(..., kv_cache=True)`
# generates with `generate_cached`, the same tokens, fewer operations.
#
# ### 6b. Quality first: next-character accuracy
# The char-GPT's quality is the fraction of positions where the most likely next character (the
# argmax of the logits) is the true next character. The held-out set is `windows`, an int array
# `(N, T + 1)`: the model reads columns `0 … T − 1` and its prediction at position `t` is
# compared with column `t + 1`. Write `next_token_accuracy(model, windows)`: evaluation mode, no
# graph, one forward pass over all windows, the mean of the matches as a Python float.

# %% nbgrader={"grade": false, "grade_id": "next-token-accuracy", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
def next_token_accuracy(model: Module, windows) -> float:
    """Top-1 next-token accuracy of a language model on `windows` (N, T + 1) of token ids."""
    windows = np.asarray(windows)
    if windows.ndim != 2 or windows.shape[1] < 2 or windows.dtype.kind not in "iu":
        raise ValueError(f"next_token_accuracy needs int windows of shape (N, T + 1) with T >= 1, "
                         f"got shape {windows.shape}, dtype {windows.dtype}")
    model.eval()
    ### BEGIN SOLUTION
    with no_grad():
        logits = model(windows[:, :-1]).data
    return float(np.mean(logits.argmax(axis=-1) == windows[:, 1:]))
    ### END SOLUTION


# %% [markdown]
# ### Unit test: next-token accuracy
# A stand-in "model" that predicts a chosen token at every position (its logits are given), so
# the accuracy is known by counting: inputs and targets must be shifted by exactly one.

# %% nbgrader={"grade": true, "grade_id": "test-next-token-accuracy", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false}
class PredictNext(Module):
    """A test double: at every position, predicts `(token + step) % vocab` with logit 1. Like the
    GPT it takes ids as an int array or a Tensor; it records the ids and whether a graph could be
    recorded (`grad_seen`)."""

    def __init__(self, vocab: int, step: int = 1):
        super().__init__()
        self.vocab, self.step = vocab, step
        self.seen = self.grad_seen = None

    def forward(self, ids):
        from tinytorch.tensor import Config
        ids = np.asarray(ids.data if isinstance(ids, Tensor) else ids)
        if not np.array_equal(ids, np.round(ids)):
            raise ValueError(f"PredictNext: token ids must be whole numbers, got {ids.tolist()}")
        ids = ids.astype(np.int64)
        self.seen, self.grad_seen = ids, Config.grad_enabled
        logits = np.zeros((*ids.shape, self.vocab), dtype=np.float32)
        np.put_along_axis(logits, ((ids + self.step) % self.vocab)[..., None], 1.0, axis=-1)
        return Tensor(logits)


def test_unit_next_token_accuracy():
    from tinytorch.testing import raises
    windows = np.array([[0, 1, 2, 3, 3], [2, 3, 0, 0, 1], [1, 2, 2, 3, 0]])  # T = 4 positions, V = 4 tokens
    model = PredictNext(4).train()  # predicts (token + 1) mod 4 at every position
    axis = ("the argmax runs over the vocabulary, the last axis of the (N, T, V) = (3, 4, 4) logits, and leaves one "
            "prediction per window and position")
    try:
        acc = next_token_accuracy(model, windows)
    except ValueError as error:
        if "broadcast" not in str(error):
            raise
        raise AssertionError(f"next_token_accuracy on windows (3, 5) raised ValueError ({error}): the predictions "
                             f"do not line up with the (3, 4) targets; {axis}") from None
    assert isinstance(acc, float), f"a Python float, got {type(acc).__name__}"
    wrong = {1 / 12: "axis 1 (the positions)", 2 / 12: "no axis (the whole array flattened)"}
    for value, over in wrong.items():
        assert abs(acc - value) > 1e-12, f"got {acc}, what an argmax over {over} gives here: {axis}"
    assert abs(acc - 9 / 12) < 1e-12, f"9 of the 12 next tokens are '(previous + 1) mod 4': got {acc}, expected " \
        f"{9 / 12} (the prediction at position t, the argmax over the vocabulary axis, the last one, is " \
        "compared with column t + 1)"
    assert model.seen.shape == (3, 4) and (model.seen == windows[:, :-1]).all(), \
        f"the model reads columns 0 .. T-1, got {model.seen.tolist()}"
    assert not model.training, "next_token_accuracy evaluates in eval mode"
    assert model.grad_seen is False, "next_token_accuracy runs the model under no_grad(): no graph for an evaluation"
    assert next_token_accuracy(PredictNext(4, step=0), windows) == 3 / 12, "three repeated tokens in 12"
    raises(ValueError, lambda: next_token_accuracy(model, windows[:, :1]), "shape")
    raises(ValueError, lambda: next_token_accuracy(model, windows.astype(float)), "dtype")
    print("next_token_accuracy: OK")


if __name__ == "__main__":
    test_unit_next_token_accuracy()

# %% [markdown]
# ### 6c. The tasks (given)
#
# The builders below train each reference once per process (then hand out deep copies), with
# one BLAS thread so that the arithmetic, and so the weights, are the same on every run: a
# multi-threaded BLAS may add partial sums in another order and change the last bits, and a
# closed-division check (module 20 re-measures a submission's quality and compares it with the
# claim) needs the same reference every time. Training all three takes some seconds of CPU,
# most of it the GPT. The digits models use module 16's `fit` (Adam, cross-entropy,
# shuffled mini-batches) and `evaluate`; the GPT is module 13's, trained on module 13's
# `lm_batch` windows, with module 10's `CharTokenizer` built on the whole corpus.

# %% nbgrader={"grade": false, "grade_id": "tasks", "locked": false, "schema_version": 3, "solution": false, "task": false}
#| export
@dataclass
class Task:
    """One benchmark task: a reference model, a quality metric and target, inputs, one query (given)."""
    name: str
    description: str
    build_reference: Callable[[], Module]  # a fresh copy of the trained float reference
    quality: Callable[[Module], float]
    sample: Callable[[int], np.ndarray]  # sample(batch) -> the first `batch` fixed inputs
    query: Callable[..., object]  # query(model, inputs, kv_cache) -> the output of one query
    target: float = 0.99  # a valid result has quality >= target * reference quality
    offline_batch: int = 360
    kv_cache: bool = False  # does query(..., kv_cache=True) exist for this task?
    calibration: Callable[[int], np.ndarray] | None = None  # calibration(n) -> n fixed training inputs


GPT_CONFIG = {"embed_dim": 32, "num_layers": 1, "num_heads": 2, "max_seq_len": 32}
GPT_TRAIN_CHARS, GPT_HELD_OUT = 200_000, (200_000, 220_000)
PROMPT_LEN, GEN_TOKENS = 16, 16


def _once(build: Callable[[], Module]) -> Callable[[], Module]:
    """Run `build` once (with one BLAS thread); every call returns a deep copy of its model."""
    made: list[Module] = []

    def build_reference() -> Module:
        if not made:
            with threadpool_limits(limits=1, user_api="blas"):
                made.append(build().eval())
        return copy.deepcopy(made[0])
    return build_reference


def _rows(data: np.ndarray, batch: int) -> np.ndarray:
    """The first `batch` rows of `data`, cycling when batch > len(data)."""
    batch = _count(batch, "batch")
    return data[np.arange(batch) % len(data)]


def _digits(flat: bool):
    x_train, y_train, x_test, y_test = load_tinydigits()
    shape = (-1, 64) if flat else (-1, 1, 8, 8)
    return x_train.reshape(shape), y_train, x_test.reshape(shape), y_test


def _forward(model: Module, x, kv_cache: bool = False):
    with no_grad():
        return model(Tensor(x))


def _digits_task(name: str, flat: bool, make: Callable[[], Module], epochs: int, description: str) -> Task:
    def build() -> Module:
        x_train, y_train, _, _ = _digits(flat)
        return fit(make(), x_train, y_train, epochs=epochs, lr=1e-2, batch_size=64, seed=0)

    def quality(model: Module) -> float:
        _, _, x_test, y_test = _digits(flat)
        return evaluate(model, x_test, y_test)

    return Task(name, description, _once(build), quality, lambda batch: _rows(_digits(flat)[2], batch), _forward,
                calibration=lambda n: _rows(_digits(flat)[0], n))


def _shakespeare_ids() -> tuple[CharTokenizer, np.ndarray]:
    text = load_shakespeare()
    tokenizer = CharTokenizer().train(text)
    return tokenizer, np.array(tokenizer.encode(text[:GPT_HELD_OUT[1]]), dtype=np.int64)


def _gpt_windows() -> np.ndarray:
    """The held-out set: 128 windows of max_seq_len + 1 characters, every 150 characters."""
    held = _shakespeare_ids()[1][GPT_HELD_OUT[0]:]
    starts = np.arange(128) * 150
    return held[starts[:, None] + np.arange(GPT_CONFIG["max_seq_len"] + 1)]


def _gpt_calibration(n: int) -> np.ndarray:
    """n fixed training windows of max_seq_len characters, every 997 characters."""
    ids = _shakespeare_ids()[1][:GPT_TRAIN_CHARS]
    starts = (np.arange(_count(n, "n")) * 997) % (GPT_TRAIN_CHARS - GPT_CONFIG["max_seq_len"])
    return ids[starts[:, None] + np.arange(GPT_CONFIG["max_seq_len"])]


def _build_gpt() -> GPT:
    tokenizer, ids = _shakespeare_ids()
    model = GPT(tokenizer.vocab_size, **GPT_CONFIG, rng=0)
    optimizer, loss_fn, rng = Adam(model.parameters(), lr=1.5e-2), CrossEntropyLoss(), np.random.default_rng(0)
    for _ in range(400):
        x, y = lm_batch(ids[:GPT_TRAIN_CHARS], 32, GPT_CONFIG["max_seq_len"], rng)
        loss = loss_fn(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model


def _generate(model: Module, prompts, kv_cache: bool = False):
    if kv_cache:
        return generate_cached(model, prompts, GEN_TOKENS, temperature=0)
    return generate(model, prompts, GEN_TOKENS, temperature=0)


TASKS: dict[str, Task] = {
    "digits-mlp": _digits_task(
        "digits-mlp", True, lambda: Sequential(Linear(64, 64, rng=0), ReLU(), Linear(64, 10, rng=1)), 20,
        "MLP 64-64-10 on TinyDigits; quality: test accuracy; query: a forward pass"),
    "digits-cnn": _digits_task(
        "digits-cnn", False, lambda: Sequential(Conv2d(1, 8, 3, padding=1, rng=0), ReLU(), MaxPool2d(2),
                                                Flatten(), Linear(8 * 4 * 4, 10, rng=1)), 10,
        "CNN conv3x3(8)-pool-linear on TinyDigits; quality: test accuracy; query: a forward pass"),
    "char-gpt": Task(
        "char-gpt", "1-block char GPT (D=32) on Shakespeare; quality: next-character top-1 accuracy on "
        "4,096 held-out positions; query: greedy generation of 16 characters after 16",
        _once(_build_gpt), lambda model: next_token_accuracy(model, _gpt_windows()),
        lambda batch: _rows(_gpt_windows()[:, :PROMPT_LEN], batch), _generate, offline_batch=32, kv_cache=True,
        calibration=_gpt_calibration),
}


def get_task(task) -> Task:
    """A Task from its name (a key of TASKS) or a Task itself (given)."""
    if isinstance(task, Task):
        return task
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; the tasks are {', '.join(TASKS)}")
    return TASKS[task]


_REFERENCE_QUALITY: dict[str, float] = {}


def measure_reference_quality(task) -> float:
    """The quality of the task's float reference (measured once per process, given)."""
    task = get_task(task)
    if task.name not in _REFERENCE_QUALITY or TASKS.get(task.name) is not task:
        _REFERENCE_QUALITY[task.name] = float(task.quality(task.build_reference()))
    return _REFERENCE_QUALITY[task.name]


# %% [markdown]
# The references, trained in this run, and their quality: the numbers every later result is
# judged against.

# %% nbgrader={"grade": false, "grade_id": "references-demo", "locked": false, "schema_version": 3, "solution": false, "task": false}
if __name__ == "__main__":
    for task_name, task in TASKS.items():
        started = time.process_time()
        reference = task.build_reference()
        seconds = time.process_time() - started
        print(f"{task_name:>10}: quality {task.quality(reference):.4f}, {model_nbytes(reference):,} parameter "
              f"bytes, trained in {seconds:.1f} s of CPU; valid results need quality >= "
              f"{task.target * measure_reference_quality(task_name):.4f}")

# %% [markdown]
# ## 7. The quality gate
#
# A result is valid when its quality reaches the target: `quality ≥ target × reference`. Write
# `check_quality(quality, reference, target)`, which returns `None` for a valid result and
# otherwise the **reason** as a sentence with the numbers, e.g.
# `"quality 0.8120 is below the target 0.99 x reference 0.9694 = 0.9597"`. A quality that is not a
# finite number (a model that produced NaN) is invalid too, with a reason saying so: NaN
# compares False with everything, so a check written as `quality < threshold` would let it
# through. The comparison is inclusive: exactly the threshold is valid.

# %% nbgrader={"grade": false, "grade_id": "check-quality", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
def check_quality(quality: float, reference: float, target: float = 0.99) -> str | None:
    """None when `quality` reaches `target` × `reference`; else the reason, naming the numbers."""
    if not (isinstance(reference, int | float) and math.isfinite(reference) and reference > 0):
        raise ValueError(f"check_quality: the reference quality must be a positive number, got {reference!r}")
    if not (isinstance(target, int | float) and 0 < target <= 1):
        raise ValueError(f"check_quality: target must be in (0, 1], got {target!r}")
    ### BEGIN SOLUTION
    if not (isinstance(quality, int | float) and math.isfinite(quality)):
        return f"quality {quality!r} is not a finite number"
    threshold = target * reference
    if quality >= threshold:
        return None
    return f"quality {quality:.4f} is below the target {target} x reference {reference:.4f} = {threshold:.4f}"
    ### END SOLUTION


# %% [markdown]
# ### Unit test: the gate
# The boundary (numbers exact in binary, so no rounding decides), NaN and infinity, and a
# reason that names the quality and the threshold.

# %% nbgrader={"grade": true, "grade_id": "test-check-quality", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false}
def test_unit_check_quality():
    from tinytorch.testing import raises
    assert check_quality(0.375, 0.75, 0.5) is None, "exactly target x reference (0.375 = 0.5 x 0.75) is valid"
    assert check_quality(0.9, 0.75, 0.5) is None, "above the reference is valid"
    reason = check_quality(0.3125, 0.75, 0.5)
    assert isinstance(reason, str) and "0.3125" in reason and "0.3750" in reason, \
        f"0.3125 < 0.375: the reason names the quality and the threshold 0.3750, got {reason!r}"
    assert check_quality(0.961, 0.97) is None and check_quality(0.96, 0.97) is not None, \
        "the default target is 0.99: 0.99 x 0.97 = 0.9603, so 0.961 is valid and 0.96 is not"
    for bad in (float("nan"), float("inf"), -float("inf")):
        reason = check_quality(bad, 0.75, 0.5)
        assert isinstance(reason, str) and "finite" in reason, f"quality {bad}: invalid, got {reason!r}"
    raises(ValueError, lambda: check_quality(0.5, 0.0), "reference")
    print("check_quality: OK")


if __name__ == "__main__":
    test_unit_check_quality()

# %% [markdown]
# ## 8. Running a task
#
# `run_task(task, model=None, reference_quality=None, warmup=3, repeats=20, threads=1,
# kv_cache=False)` judges one model on one task and returns a `TaskResult`:
#
# 1. (given) `model=None` means the task's reference; `reference_quality=None` means the
#    reference's quality, measured once per process. The model's quality is measured and
#    `check_quality` decides. An **invalid** result is returned right away with its reason and
#    no timings (`None`): it is never scored, so there is nothing to time.
# 2. (you) the two scenarios with the harness of section 4, each a `Benchmark` of one query
#    with the given `warmup`, `repeats`, `threads` and `timer`:
#    - single stream: queries of `task.sample(1)`; `latency_p50` and `latency_p90` are the
#      median and p90 of its times (seconds);
#    - offline: queries of `task.sample(task.offline_batch)`; `throughput` is
#      `offline_batch / median` (samples per second).
#    A query is `task.query(model, inputs, kv_cache)`.
# 3. (given) the size, `tinytorch.quantization.model_nbytes(model)` (module 15: parameters,
#    and the int8 arrays of quantized layers), and the environment.
#
# `kv_cache=True` is for tasks whose query has a cached variant (the GPT); elsewhere it is an
# error. Every number a `TaskResult` holds was measured in this call, except the reference
# quality (measured once per process, or passed in).

# %% nbgrader={"grade": false, "grade_id": "run-task", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
@dataclass
class TaskResult:
    """One model judged on one task (seconds, samples per second, bytes); see run_task."""
    task: str
    quality: float
    reference_quality: float
    target: float
    valid: bool
    reason: str | None
    latency_p50: float | None  # seconds per query, single stream (batch 1); None when invalid
    latency_p90: float | None
    throughput: float | None  # samples per second, offline; None when invalid
    size_bytes: int
    environment: dict = field(default_factory=dict)
    kv_cache: bool = False

    def to_dict(self) -> dict:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, d) -> "TaskResult":
        if not isinstance(d, dict):
            raise ValueError(f"TaskResult.from_dict needs a dict, got {type(d).__name__}")
        required = [n for n, f in cls.__dataclass_fields__.items() if n not in ("environment", "kv_cache")]
        missing = [n for n in required if n not in d]
        if missing:
            raise ValueError(f"TaskResult.from_dict: missing field(s) {', '.join(missing)} (task {d.get('task')!r})")
        unknown = sorted(set(d) - set(cls.__dataclass_fields__))
        if unknown:
            raise ValueError(f"TaskResult.from_dict: unknown field(s) {', '.join(unknown)} (task {d.get('task')!r})")
        numbers = ["quality", "reference_quality", "target"] + (
            ["latency_p50", "latency_p90", "throughput"] if d["valid"] else [])
        for name in numbers:
            if isinstance(d[name], bool) or not isinstance(d[name], int | float):
                raise ValueError(f"TaskResult.from_dict: {name} must be a number, got {d[name]!r} (task {d['task']!r})")
        if not isinstance(d["valid"], bool) or not isinstance(d["size_bytes"], int):
            raise ValueError(f"TaskResult.from_dict: valid must be a bool and size_bytes an int (task {d['task']!r})")
        return cls(**d)


def run_task(task, model: Module | None = None, *, reference_quality: float | None = None, warmup: int = 3,
             repeats: int = 20, threads: int | None = 1, kv_cache: bool = False,
             timer: Callable[[], float] = time.perf_counter) -> TaskResult:
    """Measure `model` (None: the reference) on `task` (a TASKS name or a Task): quality first;
    a valid result then gets its single-stream latency, offline throughput and size."""
    task = get_task(task)
    if kv_cache and not task.kv_cache:
        raise ValueError(f"run_task: task {task.name!r} has no KV-cache variant (kv_cache=True is for "
                         f"{', '.join(t.name for t in TASKS.values() if t.kv_cache)})")
    model = task.build_reference() if model is None else model
    if not isinstance(model, Module):
        raise TypeError(f"run_task needs a Module, got {type(model).__name__}")
    if reference_quality is None:
        reference_quality = measure_reference_quality(task)
    model.eval()
    quality = float(task.quality(model))
    reason = check_quality(quality, reference_quality, task.target)
    latency_p50 = latency_p90 = throughput = None
    if reason is None:
        one, batch = task.sample(1), task.sample(task.offline_batch)
        ### BEGIN SOLUTION
        single = Benchmark(lambda: task.query(model, one, kv_cache), warmup=warmup, repeats=repeats,
                           threads=threads, timer=timer).run()
        offline = Benchmark(lambda: task.query(model, batch, kv_cache), warmup=warmup, repeats=repeats,
                            threads=threads, timer=timer).run()
        latency_p50, latency_p90 = single.median, single.p90
        throughput = task.offline_batch / offline.median
        ### END SOLUTION
    return TaskResult(task.name, quality, float(reference_quality), task.target, reason is None, reason,
                      latency_p50, latency_p90, throughput, int(model_nbytes(model)), capture_environment(),
                      bool(kv_cache))


# %% [markdown]
# ### Unit test: a task with a fake clock
# A tiny task whose query moves the fake clock by `1 ms + 0.1 ms per sample`, plus 0 to 0.6 ms
# that changes from call to call (so the median, mean, minimum and p90 of the times all differ),
# so every latency and the throughput are known exactly; a model that
# misses the target is invalid and never timed.

# %% nbgrader={"grade": true, "grade_id": "test-run-task", "locked": true, "points": 15, "schema_version": 3, "solution": false, "task": false}
def _toy_task(clock: FakeClock, calls: list) -> Task:
    """A test task on 20 fixed samples: quality = the model's `score`, queries advance `clock`."""
    def query(model, x, kv_cache=False):
        calls.append((len(x), kv_cache, _blas_threads()))
        clock.advance(0.001 + 0.0001 * len(x) + 0.0001 * (5 * len(calls) % 7))
        return model(Tensor(x))

    data = np.arange(40, dtype=np.float32).reshape(20, 2)
    return Task("toy", "a test task", lambda: Sequential(Linear(2, 3, rng=0)),
                lambda model: getattr(model, "score", 0.8), lambda batch: _rows(data, batch), query,
                target=0.9, offline_batch=8, kv_cache=True)


def test_unit_run_task():
    from tinytorch.testing import close
    clock, calls = FakeClock(), []
    toy = _toy_task(clock, calls)
    result = run_task(toy, reference_quality=0.8, warmup=1, repeats=6, timer=clock, kv_cache=True)
    assert isinstance(result, TaskResult) and result.valid and result.reason is None, f"valid: got {result!r}"
    assert result.task == "toy" and result.quality == 0.8 and result.target == 0.9 and result.kv_cache
    assert [n for n, _, _ in calls] == [1] * 7 + [8] * 7, f"7 single-stream queries of 1, then 7 offline of 8: {calls}"
    assert all(kv for _, kv, _ in calls), "kv_cache is passed to every query"
    if _blas_threads() is not None:
        assert {t for _, _, t in calls} == {1}, f"threads=1 (the default) for every query: {calls}"
    if _two_threads() is not None:
        calls.clear()
        run_task(toy, reference_quality=0.8, warmup=0, repeats=1, threads=2, timer=clock)
        assert {t for _, _, t in calls} == {_two_threads()}, \
            f"threads=2 is passed to both benchmarks (single stream and offline): {calls}"
    single = [0.0011 + 0.0001 * (5 * i % 7) for i in range(2, 8)]  # call numbers 2..7 are timed
    offline = [0.0018 + 0.0001 * (5 * i % 7) for i in range(9, 15)]
    close(result.latency_p50, np.median(single), what="latency_p50: the median of the single-stream times")
    close(result.latency_p90, np.percentile(single, 90), what="latency_p90: the p90 of the single-stream times")
    close(result.throughput, 8 / np.median(offline), rtol=1e-9, what="throughput: offline_batch / median seconds")
    assert result.size_bytes == 2 * 3 * 4 + 3 * 4, f"size: Linear(2, 3) is 36 bytes, got {result.size_bytes}"
    assert set(result.environment) >= {"cpu", "blas", "numpy", "timestamp"}, "the environment is recorded"
    calls.clear()
    weak = Sequential(Linear(2, 3, rng=0))
    weak.score = 0.7
    bad = run_task(toy, weak, reference_quality=0.8, timer=clock)
    assert not bad.valid and "0.7000" in bad.reason and "0.7200" in bad.reason, f"0.7 < 0.9 x 0.8: got {bad!r}"
    assert bad.latency_p50 is None and bad.latency_p90 is None and bad.throughput is None and not calls, \
        "an invalid result is never timed or scored"
    print("run_task: OK")


if __name__ == "__main__":
    test_unit_run_task()

# %% [markdown]
# ## 9. The suite, the record, the table
#
# Given, to finish the tool:
# - `run_suite(models=None, tasks=None, **options)`: `run_task` for each task (all of `TASKS` by
#   default, or the keys of `models`), each with its model from `models` or the reference.
# - `run_compared(task, {name: model}, kv_cache={name: True}, ...)`: several models of one task
#   (`None` stands for the reference), each through the quality gate, then the valid ones timed
#   **together** with your `compare` (section 5), one comparison per scenario. Use it
#   whenever you want a ratio: two `run_task` calls made minutes apart measure the machine's
#   mood as much as the models.
# - `save_results(results, path)` writes `{"schema_version": 1, "environment": …, "results":
#   [...]}` atomically (a temporary file in the same folder, then `os.replace`, so a crash never
#   leaves half a file); `load_results(path)` reads it back with clear errors for a missing file,
#   a file that is not JSON, or a result with missing fields.
# - `format_table(results, baseline=None)`: one row per result; with a baseline (a list of
#   results, e.g. the references'), the ratios against the baseline's row of the same task:
#   `p90 ×` = baseline p90 / p90 (above 1: faster), `thr ×` = throughput / baseline throughput,
#   `size ×` = baseline bytes / bytes (above 1: smaller). Invalid rows show `INVALID` and the
#   reason, and no numbers to compare.
# - `plot_results(results, baseline, path)`: the three ratios as bars, a PNG, when matplotlib is
#   installed (a clear error otherwise).

# %% nbgrader={"grade": false, "grade_id": "suite", "locked": false, "schema_version": 3, "solution": false, "task": false}
#| export
def run_suite(models: dict[str, Module] | None = None, tasks=None, **options) -> list[TaskResult]:
    """run_task for each task: `tasks` (names), else the keys of `models`, else all of TASKS (given)."""
    models = dict(models or {})
    names = list(tasks) if tasks is not None else (list(models) if models else list(TASKS))
    for name in list(models) + names:
        get_task(name)  # unknown names fail before any work
    return [run_task(name, models.get(name), **options) for name in names]


def run_compared(task, models: dict[str, Module | None], *, kv_cache: dict[str, bool] | None = None,
                 reference_quality: float | None = None, warmup: int = 3, repeats: int = 20,
                 threads: int | None = 1, timer: Callable[[], float] = time.perf_counter) -> dict[str, TaskResult]:
    """run_task for several models of one task (None: the reference), with the timings of all the
    valid ones measured together by `compare` (section 5), so that their ratios compare like with like.
    `kv_cache` maps a name to True for a cached query (given)."""
    task = get_task(task)
    flags = dict(kv_cache or {})
    if not isinstance(models, dict) or not models or set(flags) - set(models):
        raise ValueError(f"run_compared needs a non-empty dict {{name: model or None}} and kv_cache names among "
                         f"its keys, got models {list(models) if isinstance(models, dict) else models!r}, "
                         f"kv_cache {list(flags)}")
    if any(flags.values()) and not task.kv_cache:
        raise ValueError(f"run_compared: task {task.name!r} has no KV-cache variant")
    built = {name: task.build_reference() if model is None else model for name, model in models.items()}
    if reference_quality is None:
        reference_quality = measure_reference_quality(task)
    gated = {}
    for name, model in built.items():
        if not isinstance(model, Module):
            raise TypeError(f"run_compared: model {name!r} is not a Module but {type(model).__name__}")
        model.eval()
        quality = float(task.quality(model))
        gated[name] = (quality, check_quality(quality, reference_quality, task.target))
    valid = [name for name, (_, reason) in gated.items() if reason is None]

    def query(name: str, inputs) -> Callable[[], object]:
        model, cached = built[name], bool(flags.get(name))
        return lambda: task.query(model, inputs, cached)

    def queries(inputs) -> dict[str, Callable[[], object]]:
        return {name: query(name, inputs) for name in valid}

    options = {"warmup": warmup, "repeats": repeats, "threads": threads, "timer": timer}
    single = compare(queries(task.sample(1)), **options) if valid else {}
    offline = compare(queries(task.sample(task.offline_batch)), **options) if valid else {}
    results = {}
    for name, (quality, reason) in gated.items():
        timed = name in single
        results[name] = TaskResult(
            task.name, quality, float(reference_quality), task.target, reason is None, reason,
            single[name].median if timed else None, single[name].p90 if timed else None,
            task.offline_batch / offline[name].median if timed else None, int(model_nbytes(built[name])),
            capture_environment(), bool(flags.get(name)))
    return results


RESULTS_SCHEMA = 1


def save_results(results: list[TaskResult], path) -> None:
    """Write results and the environment to the JSON file `path`, atomically (given)."""
    if not all(isinstance(r, TaskResult) for r in results):
        raise TypeError("save_results needs a list of TaskResult")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps({"schema_version": RESULTS_SCHEMA, "environment": capture_environment(),
                       "results": [r.to_dict() for r in results]}, indent=2)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    moved = False
    try:
        with open(fd, "w", encoding="utf-8") as handle:
            handle.write(text + "\n")
        os.replace(temporary, path)  # atomic: a reader sees the old file or the new one
        moved = True
    finally:
        if not moved:
            Path(temporary).unlink(missing_ok=True)


def load_results(path) -> list[TaskResult]:
    """The results saved by save_results, with a clear error for a missing or bad file (given)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no results file at {path}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as err:
        raise ValueError(f"{path} is not a results file (not UTF-8 text: {err.reason})") from None
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not a results file (not JSON: {err.msg} at line {err.lineno}, "
                         f"column {err.colno})") from None
    if not isinstance(data, dict) or data.get("schema_version") != RESULTS_SCHEMA or \
            not isinstance(data.get("results"), list):
        raise ValueError(f"{path} is not a results file of schema_version {RESULTS_SCHEMA} "
                         "(a JSON object with 'schema_version' and a 'results' list)")
    results = []
    for i, entry in enumerate(data["results"]):
        try:
            results.append(TaskResult.from_dict(entry))
        except (TypeError, ValueError) as err:
            raise ValueError(f"{path}: result {i}: {err}") from None
    return results


def _ratio(value: float | None, base: float | None) -> str:
    return f"{value / base:.2f}x" if value and base else "-"


def format_table(results: list[TaskResult], baseline: list[TaskResult] | None = None) -> str:
    """A plain-text table of results; with `baseline`, the ratios against its row of each task (given)."""
    base = {r.task: r for r in baseline or [] if r.valid}
    head = (f"{'task':<12} {'status':<8} {'quality':>8} {'target':>8} {'p50 ms':>9} {'p90 ms':>9} "
            f"{'samples/s':>11} {'size KiB':>9}")
    if baseline is not None:
        head += f" {'p90 x':>7} {'thr x':>7} {'size x':>7}"
    lines = [head, "-" * len(head)]
    for r in results:
        threshold = r.target * r.reference_quality
        row = f"{r.task:<12} {'VALID' if r.valid else 'INVALID':<8} {r.quality:>8.4f} {threshold:>8.4f} "
        if r.valid:
            row += (f"{r.latency_p50 * 1e3:>9.3f} {r.latency_p90 * 1e3:>9.3f} {r.throughput:>11,.1f} "
                    f"{r.size_bytes / 1024:>9.1f}")
            if baseline is not None:
                b = base.get(r.task)
                row += (f" {_ratio(b and b.latency_p90, r.latency_p90):>7} {_ratio(r.throughput, b and b.throughput):>7}"
                        f" {_ratio(b and b.size_bytes, r.size_bytes):>7}")
        else:
            row += f"{'-':>9} {'-':>9} {'-':>11} {r.size_bytes / 1024:>9.1f}   INVALID: {r.reason}"
        lines.append(row.rstrip())
    return "\n".join(lines)


def plot_results(results: list[TaskResult], baseline: list[TaskResult], path) -> Path:
    """Bars of the p90, throughput and size ratios against `baseline` for the valid results,
    written to the PNG `path`; needs matplotlib (given)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise RuntimeError("plot_results needs matplotlib, which is not installed: "
                           "`pip install matplotlib`, or use format_table for a text table") from None
    base = {r.task: r for r in baseline if r.valid}
    rows = [r for r in results if r.valid and r.task in base]
    if not rows:
        raise ValueError("plot_results: no valid result has a valid baseline of the same task")
    ratios = {"p90 latency (x faster)": [base[r.task].latency_p90 / r.latency_p90 for r in rows],
              "throughput (x)": [r.throughput / base[r.task].throughput for r in rows],
              "size (x smaller)": [base[r.task].size_bytes / r.size_bytes for r in rows]}
    fig, ax = plt.subplots(figsize=(7, 3.5))
    width = 0.8 / len(ratios)
    for i, (label, values) in enumerate(ratios.items()):
        ax.bar(np.arange(len(rows)) + i * width, values, width, label=label)
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_xticks(np.arange(len(rows)) + width, [r.task for r in rows])
    ax.set_ylabel("ratio against the baseline")
    ax.legend(fontsize=8)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


# %% [markdown]
# ## 10. A first submission, judged
#
# The cell judges three candidates built with earlier modules' tools, each with
# `run_compared` against its task's reference (the baseline), so that each ratio comes from
# one `compare`:
# - `digits-mlp` quantized to int8 (module 15, calibrated on 256 inputs of the task's
#   `calibration` set): smaller, and valid if the quality holds;
# - `digits-cnn` with 90 % of its weights pruned by magnitude and no fine-tuning (module 16):
#   one-shot pruning that aggressive usually costs accuracy: watch the gate;
# - `char-gpt` with the KV cache (module 17): the same model, the same tokens, a cached query.
#
# Read the table: valid rows get ratios, invalid rows get a reason and no score. The numbers are
# this run's, under this machine's current load (printed with the environment). Two things to
# look for. The int8 MLP is about 3.6 times smaller, but do not expect it to be faster: NumPy
# has no int8 matrix multiply, so module 15's integer matmul runs in NumPy's own int32 loop
# instead of the BLAS library, and the quantize/rescale steps are extra work; int8 pays off on
# hardware and libraries built for it. And the cached GPT computes the same tokens with less
# work per new token: its ratios are the KV cache's gain on this 16 + 16-character query.

# %% nbgrader={"grade": false, "grade_id": "suite-demo", "locked": false, "schema_version": 3, "solution": false, "task": false}
if __name__ == "__main__":
    from tinytorch.compression import magnitude_prune
    from tinytorch.quantization import quantize_model

    quantized = quantize_model(TASKS["digits-mlp"].build_reference(), [TASKS["digits-mlp"].calibration(256)])
    pruned = TASKS["digits-cnn"].build_reference()
    magnitude_prune(pruned, 0.9)
    judged = [run_compared("digits-mlp", {"reference": None, "int8": quantized}, repeats=10),
              run_compared("digits-cnn", {"reference": None, "pruned 90%": pruned}, repeats=10),
              run_compared("char-gpt", {"reference": None, "kv cache": None}, kv_cache={"kv cache": True},
                           repeats=10)]
    baseline = [runs["reference"] for runs in judged]
    candidates = [next(r for name, r in runs.items() if name != "reference") for runs in judged]
    print("the references:")
    print(format_table(baseline))
    print("\nthe candidates, against the references measured in the same comparison:")
    print(format_table(candidates, baseline))
    results_file = Path(tempfile.mkdtemp()) / "results.json"
    save_results(baseline + candidates, results_file)
    print(f"\nsaved and reloaded {len(load_results(results_file))} results ({results_file.stat().st_size:,} bytes); "
          f"load average during the run: {capture_environment()['load_average']}")

# %% [markdown]
# ## Module test
# The pieces together on the toy task: a suite of two models (one valid, one invalid), saved
# and loaded back unchanged, and a table against a baseline with the right ratios and the
# invalid row marked.

# %% nbgrader={"grade": true, "grade_id": "test-module", "locked": true, "points": 15, "schema_version": 3, "solution": false, "task": false}
def test_module():
    from tinytorch.testing import raises
    clock, calls = FakeClock(), []
    toy = _toy_task(clock, calls)
    fast, weak = Sequential(Linear(2, 3, rng=1)), Sequential(Linear(2, 3, rng=2))
    fast.score, weak.score = 0.79, 0.5
    base = run_task(toy, reference_quality=0.8, warmup=0, repeats=6, timer=clock)
    results = [run_task(toy, fast, reference_quality=0.8, warmup=0, repeats=6, timer=clock),
               run_task(toy, weak, reference_quality=0.8, warmup=0, repeats=6, timer=clock)]
    assert results[0].valid and not results[1].valid, f"0.79 >= 0.72 is valid, 0.5 is not: {results}"
    assert results[0].latency_p90 > 0 and results[1].latency_p90 is None, "the valid model is timed, the invalid not"
    folder = Path(tempfile.mkdtemp())
    save_results([base] + results, folder / "r.json")
    loaded = load_results(folder / "r.json")
    assert [r.to_dict() for r in loaded] == [r.to_dict() for r in [base] + results], "save/load round trip"
    table = format_table(results, [base])
    rows = table.splitlines()
    assert "INVALID" in rows[-1] and "0.5000" in rows[-1] and "INVALID" not in rows[-2], f"the invalid row:\n{table}"
    expected = f"{base.latency_p90 / results[0].latency_p90:.2f}x"
    assert expected in rows[-2], f"p90 ratio {expected} in the valid row:\n{table}"
    (folder / "bad.json").write_text("{not json", encoding="utf-8")
    raises(ValueError, lambda: load_results(folder / "bad.json"), "not JSON")
    raises(FileNotFoundError, lambda: load_results(folder / "missing.json"), "missing.json")
    print("module 19: all tests passed")


if __name__ == "__main__":
    test_module()

# %% [markdown]
# ## Reflection
# - Your A/A test printed a ratio away from 1.00. How many repeats would you need before a 2 %
#   difference between two models becomes visible in non-overlapping intervals? (Hint: the
#   interval's width shrinks like `1/√n`.)
# - Why does MLPerf report the p90 latency for single stream, and throughput for offline,
#   instead of one number for both? Which would you optimize for a phone keyboard's next-word
#   prediction, and which for translating a whole library overnight?
# - The quality gate uses 99 % of the reference. What could a submission do if the target were
#   "quality within 1 % on 20 test images"? Why do the tasks use hundreds or thousands of
#   held-out items?
# - The references are trained with one BLAS thread "so the weights are the same". Why would
#   four threads change the last bits of a matmul, and why does that matter for a closed
#   division that re-measures claims?
