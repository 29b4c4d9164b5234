"""Module 19: the harness — confidence ranks, BenchmarkResult, Benchmark, compare, environment.

No test here times anything: the harness is driven by a fake clock, or its real-clock results
are checked for counts and order only."""

import json
import math
from datetime import datetime, timezone
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from threadpoolctl import threadpool_info, threadpool_limits

from tinytorch.benchmarking import Benchmark, BenchmarkResult, capture_environment, compare, median_ci_ranks
from tinytorch.testing import close, raises


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def _blas_threads():
    counts = [i["num_threads"] for i in threadpool_info() if i.get("user_api") == "blas"]
    return max(counts) if counts else None


def _tail(n, c):
    """P(Binomial(n, 1/2) <= c), exactly."""
    return Fraction(sum(math.comb(n, i) for i in range(c + 1)), 2**n)


@settings(max_examples=60, deadline=None)
@given(st.integers(6, 400), st.sampled_from([0.8, 0.9, 0.95, 0.99]))
def test_ranks_are_the_tightest_interval_with_the_coverage(n, level):
    if _tail(n, 0) > Fraction(1 - level) / 2:
        raises(ValueError, lambda: median_ci_ranks(n, level), "samples")
        return
    lo, hi = median_ci_ranks(n, level)
    assert hi == n - 1 - lo and 0 <= lo < hi < n
    coverage = 1 - 2 * _tail(n, lo)
    assert coverage >= level - 1e-12, f"n={n}: coverage {float(coverage)} < {level}"
    assert 1 - 2 * _tail(n, lo + 1) < level, f"n={n}: lo={lo} is not the tightest"


def check_ranks_of_2000(ranks) -> None:
    """`ranks(2000)` must be (955, 1044); a power of two made a float (an overflow, or tails that underflow
    to 0 and give crossing ranks) is named."""
    try:
        lo, hi = ranks(2000)
    except OverflowError as error:
        raise AssertionError(f"median_ci_ranks(2000) raised OverflowError ({error}): 2**2000 is past the "
                             f"largest float (about 1.8e308), so a power of two was made a float; keep the "
                             f"sums and the division exact (int / int)") from None
    assert lo <= hi, f"n=2000: ranks ({lo}, {hi}) cross: every tail came out 0, as when 2**-2000 " \
        "underflows to 0.0 in floating point; keep the sums and the division exact (int / int)"
    assert (lo, hi) == (955, 1044), f"n=2000: (955, 1044), got ({lo}, {hi}); 2**2000 overflows a float, so " \
        "keep the sums and the division exact (int / int)"


def test_large_samples_use_exact_integers():
    check_ranks_of_2000(median_ci_ranks)


def _ranks_with_float_powers(n, level=0.95):
    """Planted: as a search that divides by float(2 ** n): exact while 2 ** n fits in a float (n < 1024),
    an OverflowError past that."""
    return median_ci_ranks(n, level) if n < 1024 else float(2**n)


def test_a_power_of_two_made_a_float_is_named():
    raises(AssertionError, lambda: check_ranks_of_2000(_ranks_with_float_powers), "OverflowError", "float")


def test_too_few_samples_and_bad_levels_are_errors():
    for n in range(1, 6):
        raises(ValueError, lambda n=n: median_ci_ranks(n), f"{n} samples")
    assert median_ci_ranks(6) == (0, 5)
    for level in (0, 1, -0.5, 2, True, "0.95"):
        raises(ValueError, lambda level=level: median_ci_ranks(20, level), "level")
    for n in (0, -3, 2.5, True):
        raises(ValueError, lambda n=n: median_ci_ranks(n), "n must be")


def test_empirical_coverage_on_a_skewed_distribution():
    """2,000 experiments of 20 exponential 'timings': the interval covers the true median ln 2 in
    about 95.9 % of them (the exact coverage of ranks (5, 14))."""
    rng = np.random.default_rng(0)
    samples = np.sort(rng.exponential(size=(2000, 20)), axis=1)
    lo, hi = median_ci_ranks(20)
    covered = np.mean((samples[:, lo] <= math.log(2)) & (math.log(2) <= samples[:, hi]))
    exact = 1 - 2 * float(_tail(20, lo))
    assert abs(covered - exact) < 0.015, f"coverage {covered:.3f}, exact {exact:.3f}"


def test_benchmark_result_summaries_match_numpy_and_round_trip_through_json():
    rng = np.random.default_rng(1)
    times = list(rng.lognormal(-7, 0.5, size=25))
    r = BenchmarkResult("x", times)
    close(r.median, np.median(times))
    close(r.p90, np.percentile(times, 90))
    close(r.mean, np.mean(times))
    lo, hi = median_ci_ranks(25)
    assert r.ci95 == (sorted(times)[lo], sorted(times)[hi])
    assert r.ci95[0] <= r.median <= r.ci95[1]
    d = json.loads(json.dumps(r.to_dict()))
    again = BenchmarkResult.from_dict(d)
    assert again == r and d["ci95"] == list(r.ci95) and d["median"] == r.median
    assert "median" in str(r) and "25 runs" in str(r)


def test_benchmark_result_rejects_bad_times_and_short_samples_have_no_interval():
    for bad in ([], [1.0, float("nan")], [-1e-3], [float("inf")]):
        raises(ValueError, lambda bad=bad: BenchmarkResult("x", bad), "times")
    raises(ValueError, lambda: BenchmarkResult("", [1.0]), "name")
    short = BenchmarkResult("short", [3.0, 1.0, 2.0])
    assert short.median == 2.0 and short.to_dict()["ci95"] is None
    raises(ValueError, lambda: short.ci95, "3 samples")
    assert "nan" in str(short)
    raises(ValueError, lambda: BenchmarkResult.from_dict({"name": "x"}), "times")
    raises(ValueError, lambda: BenchmarkResult.from_dict({"name": "x", "times": "1 2"}), "list")
    raises(ValueError, lambda: BenchmarkResult.from_dict([1, 2]), "dict")


def test_benchmark_counts_and_attributes_each_call_with_a_fake_clock():
    clock, calls = Clock(), []

    def fn():
        calls.append(_blas_threads())
        clock.now += len(calls)  # call k takes k seconds

    result = Benchmark(fn, name="f", warmup=4, repeats=10, timer=clock).run()
    assert len(calls) == 14, f"4 warm-up + 10 timed calls, got {len(calls)} calls"
    assert result.times == [float(k) for k in range(5, 15)], \
        f"call k takes k seconds: the timed calls 5..14, each timed on its own, got {result.times}"
    if _blas_threads() is not None:
        assert set(calls) == {1}, f"every call (warm-ups too) under threads=1, saw {set(calls)}"


def test_benchmark_restores_the_thread_count_and_leaves_it_alone_with_none():
    if _blas_threads() is None:
        pytest.skip("no BLAS library found by threadpoolctl")
    seen = []
    with threadpool_limits(limits=2, user_api="blas"):
        before = _blas_threads()
        Benchmark(lambda: seen.append(_blas_threads()), repeats=2, warmup=0).run()
        assert _blas_threads() == before, "the limit is lifted after run()"
        Benchmark(lambda: seen.append(_blas_threads()), repeats=2, warmup=0, threads=None).run()
    assert seen[:2] == [1, 1], f"threads=1 (the default): every call under 1 BLAS thread, saw {seen[:2]}"
    assert seen[2:] == [before, before], f"threads=None leaves the count alone ({before}), saw {seen[2:]}"


def test_benchmark_runs_every_call_warm_ups_included_under_the_requested_limit():
    with threadpool_limits(limits=2, user_api="blas"):
        two = _blas_threads()
    if two in (None, 1):
        pytest.skip("this BLAS cannot run 2 threads here")
    seen = []
    Benchmark(lambda: seen.append(_blas_threads()), repeats=2, warmup=3, threads=2).run()
    assert seen == [two] * 5, f"threads=2: all 5 calls (3 warm-ups, 2 timed) under the limit {two}: {seen}"


def test_benchmark_with_the_real_clock_records_one_positive_time_per_call():
    x = np.ones((64, 64), dtype=np.float32)
    result = Benchmark(lambda: x @ x, name="matmul", repeats=7, warmup=1).run()
    assert result.name == "matmul" and len(result.times) == 7 and all(t > 0 for t in result.times)


def test_benchmark_argument_errors():
    raises(TypeError, lambda: Benchmark("not callable"), "callable")
    for kwargs, word in (({"repeats": 0}, "repeats"), ({"warmup": -1}, "warmup"), ({"threads": 0}, "threads"),
                         ({"repeats": 2.0}, "repeats"), ({"threads": True}, "threads")):
        raises(ValueError, lambda kwargs=kwargs: Benchmark(lambda: None, **kwargs), word)


class Machine:
    """A simulated noisy machine: each call costs work x (1 + drift x calls so far), x (1 + penalty)
    right after a call of `messy`; the fake clock advances by that much. Calls are logged."""

    def __init__(self, drift=0.01, messy=None, penalty=0.3):
        self.clock, self.drift, self.messy, self.penalty, self.log = Clock(), drift, messy, penalty, []

    def fn(self, name, work):
        def call():
            seconds = work * (1 + self.drift * len(self.log))
            if self.log and self.log[-1][0] == self.messy:
                seconds *= 1 + self.penalty
            self.log.append((name, seconds))
            self.clock.now += seconds
        return call

    def calls(self, name):
        return [s for who, s in self.log if who == name]


def _mean_ratio(machine, works, over, under, **kwargs):
    results = compare({n: machine.fn(n, w) for n, w in works.items()}, timer=machine.clock, **kwargs)
    return float(np.mean(results[over].times) / np.mean(results[under].times))


def test_compare_keeps_each_time_with_its_candidate():
    machine = Machine()
    results = compare({"slow": machine.fn("slow", 3.0), "fast": machine.fn("fast", 1.0)}, warmup=1, repeats=5,
                      timer=machine.clock)
    assert list(results) == ["slow", "fast"]
    for name in ("slow", "fast"):
        calls = machine.calls(name)
        assert len(calls) >= 6, f"{name}: 1 warm-up + 5 timed calls at least, got {len(calls)} calls"
        assert results[name].name == name, f"results[{name!r}] is named {results[name].name!r}"
        close(results[name].times, calls[-5:], what=f"{name}: its own last 5 calls, in order")


@pytest.mark.parametrize("warmup, repeats", [(3, 20), (0, 20), (2, 30)])
def test_compare_is_fair_under_drift(warmup, repeats):
    ratio = _mean_ratio(Machine(), {"A": 1.0, "A again": 1.0, "C": 1.05}, "A again", "A",
                        warmup=warmup, repeats=repeats)
    assert abs(ratio - 1) <= 0.02, f"identical candidates measured {ratio:.3f} apart under a 1 %/call drift"
    ratio = _mean_ratio(Machine(), {"A": 1.0, "A again": 1.0, "C": 1.05}, "C", "A",
                        warmup=warmup, repeats=repeats)
    assert abs(ratio - 1.05) <= 0.01, f"5 % more work measured as {ratio:.3f} x under a 1 %/call drift"


@pytest.mark.parametrize("messy", ["A", "B"])
@pytest.mark.parametrize("warmup, repeats", [(3, 20), (1, 40)])
def test_compare_is_fair_when_a_call_pays_for_the_one_before(messy, warmup, repeats):
    ratio = _mean_ratio(Machine(messy=messy), {"A": 1.0, "B": 1.0}, "B", "A", warmup=warmup, repeats=repeats)
    assert abs(ratio - 1) <= 0.02, \
        f"a call after one of {messy}'s costs 30 % more; identical A and B measured {ratio:.3f} apart: " \
        f"does each run right after {messy} equally often?"


def test_compare_runs_every_call_under_the_requested_limit():
    with threadpool_limits(limits=2, user_api="blas"):
        two = _blas_threads()
    if two in (None, 1):
        pytest.skip("this BLAS cannot run 2 threads here")
    seen = []
    compare({"a": lambda: seen.append(_blas_threads()), "b": lambda: seen.append(_blas_threads())},
            warmup=1, repeats=2, threads=2)
    assert seen == [two] * 6, f"threads=2: all 6 calls (warm-ups too) under the limit {two}: {seen}"


def test_compare_does_not_time_warm_ups():
    clock, count = Clock(), {"n": 0}

    def cold():
        count["n"] += 1
        clock.now += 100.0 if count["n"] <= 2 else 1.0

    results = compare({"other": lambda: None, "cold": cold}, warmup=2, repeats=4, timer=clock)
    assert results["cold"].times == [1.0] * 4, \
        f"each candidate gets its own untimed warm-ups: the second candidate's times {results['cold'].times}"


def test_compare_with_the_real_clock_and_one_candidate():
    results = compare({"only": lambda: sum(range(100))}, repeats=6, warmup=0)
    assert list(results) == ["only"] and len(results["only"].times) == 6
    raises(TypeError, lambda: compare([lambda: None]), "dict")
    raises(TypeError, lambda: compare({"a": 3}), "dict")


def test_environment_has_every_key_and_is_json():
    env = capture_environment()
    assert set(env) == {"python", "platform", "cpu", "cores", "numpy", "blas", "tinytorch", "load_average",
                        "timestamp"}
    assert json.loads(json.dumps(env)) == env
    assert env["numpy"] == np.__version__ and isinstance(env["cpu"], str) and env["cpu"]
    stamp = datetime.fromisoformat(env["timestamp"])
    assert stamp.utcoffset() == timezone.utc.utcoffset(None)
    assert env["load_average"] is None or len(env["load_average"]) == 3
    for entry in env["blas"]:
        assert set(entry) == {"internal_api", "version", "num_threads"}
