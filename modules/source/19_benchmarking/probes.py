"""Grading probes for module 19 (Benchmarking): the graded checks again, on inputs drawn at grading time.

tito calls each probe after the notebook's cells, with the notebook's namespace and a seeded NumPy
generator, and compares what it returns with the reference's values (tito/grading/probes.py).
No probe times anything: every harness runs on a fake clock that the benchmarked functions move by
drawn amounts, so the seconds it reports are known. The order in which `compare` calls its
candidates is the student's design: its probe returns only what every fair protocol measures.
"""

import numpy as np


class _Clock:
    """A fake clock: reading it returns `now`; only `advance` moves it."""

    def __init__(self, start):
        self.now = float(start)

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += seconds


def _blas_threads():
    from threadpoolctl import threadpool_info

    counts = [i["num_threads"] for i in threadpool_info() if i.get("user_api") == "blas"]
    return max(counts) if counts else -1


def _error(fn):
    try:
        fn()
    except Exception as exc:  # noqa: BLE001 - the error's class is the answer
        return type(exc).__name__
    return "no error"


def median_ci_ranks(ns, rng):
    ranks = ns["median_ci_ranks"]
    sizes = [int(n) for n in rng.integers(6, 400, size=6)] + [int(rng.integers(1100, 2500))]
    levels = [float(v) for v in rng.uniform(0.5, 0.995, size=4)]
    table = [ranks(n, 0.95) for n in sizes] + [ranks(sizes[i], level) for i, level in enumerate(levels)]
    small = int(rng.integers(1, 6))
    return {"ranks": np.array(table, dtype=np.int64), "too_few": _error(lambda: ranks(small)),
            "bad_level": _error(lambda: ranks(20, 1.0 + float(rng.uniform(0, 1))))}


def benchmark(ns, rng):
    Benchmark = ns["Benchmark"]
    clock = _Clock(rng.uniform(10, 1000))
    warmup, repeats = int(rng.integers(0, 5)), int(rng.integers(3, 12))
    costs = rng.uniform(0.001, 2.0, size=warmup + repeats)
    calls, threads = [], []

    def work():
        clock.advance(costs[len(calls)])
        calls.append(len(calls))
        threads.append(_blas_threads())

    result = Benchmark(work, name="drawn", warmup=warmup, repeats=repeats, timer=clock).run()
    seen_one, made = sorted(set(threads)), len(calls)
    threads.clear()
    calls.clear()
    costs = rng.uniform(0.001, 2.0, size=2)
    Benchmark(work, warmup=1, repeats=1, threads=2, timer=clock).run()
    return {"times": np.array(result.times), "name": result.name, "calls": made,
            "median": result.median, "p90": result.p90, "threads_1": np.array(seen_one),
            "threads_2": np.array(sorted(set(threads))), "repeats_0": _error(lambda: Benchmark(work, repeats=0))}


def compare(ns, rng):
    compare = ns["compare"]
    out = {}
    # a quiet machine where each candidate's first `warmup` calls are slow (cold) and the rest cost
    # a drawn constant: every protocol that keeps the contract reports exactly those constants
    clock = _Clock(rng.uniform(10, 1000))
    count = int(rng.integers(2, 5))
    warmup, repeats = int(rng.integers(1, 4)), int(rng.integers(1, 9))
    works = rng.uniform(0.5, 3.0, size=count)
    made = {}
    threads = set()

    def candidate(i):
        def fn():
            made[i] = made.get(i, 0) + 1
            threads.add(_blas_threads())
            clock.advance(100.0 if made[i] <= warmup else works[i])
        return fn

    names = [f"c{i}" for i in rng.permutation(count)]
    results = compare({name: candidate(int(name[1:])) for name in names}, warmup=warmup, repeats=repeats,
                      timer=clock)
    out["order"] = ",".join(results)
    for label in names:
        out[f"times_{label}"] = np.array(results[label].times)
        out[f"names_{label}"] = results[label].name
    out["threads"] = np.array(sorted(threads))

    # a drifting machine (and a messy candidate): fair protocols agree within the test's bounds
    def mean_ratio(works, over, under, drift, messy=None):
        clock, log = _Clock(100.0), []

        def candidate(name, work):
            def fn():
                seconds = work * (1 + drift * len(log))
                if log and log[-1] == messy:
                    seconds *= 1.3
                log.append(name)
                clock.advance(seconds)
            return fn
        results = compare({n: candidate(n, w) for n, w in works.items()}, timer=clock)
        return float(np.mean(results[over].times) / np.mean(results[under].times))

    drift, extra = float(rng.uniform(0.002, 0.01)), float(rng.uniform(0.02, 0.08))
    base = float(rng.uniform(0.5, 2.0))
    works = {"A": base, "A again": base, "C": base * (1 + extra)}
    out["drift_same"] = abs(mean_ratio(works, "A again", "A", drift) - 1) <= 0.02
    out["drift_slower"] = abs(mean_ratio(works, "C", "A", drift) - (1 + extra)) <= 0.01
    messy = ["A", "B"][int(rng.integers(0, 2))]
    out["position"] = abs(mean_ratio({"A": base, "B": base}, "B", "A", drift, messy) - 1) <= 0.02
    return out


def next_token_accuracy(ns, rng):
    from tinytorch.layers import Module
    from tinytorch.tensor import Config, Tensor
    from tinytorch.transformers import GPT

    accuracy = ns["next_token_accuracy"]

    class Shifted(Module):
        """Predicts (token + step) % vocab at every position; records what it saw."""

        def __init__(self, vocab, step):
            super().__init__()
            self.vocab, self.step, self.seen, self.grad = vocab, step, None, None

        def forward(self, ids):
            ids = np.asarray(ids.data if isinstance(ids, Tensor) else ids).astype(np.int64)
            self.seen, self.grad = ids, bool(Config.grad_enabled)
            logits = np.zeros((*ids.shape, self.vocab), dtype=np.float32)
            np.put_along_axis(logits, ((ids + self.step) % self.vocab)[..., None], 1.0, axis=-1)
            return Tensor(logits)

    vocab, step = int(rng.integers(3, 7)), int(rng.integers(0, 3))
    n, t = int(rng.integers(2, 8)), int(rng.integers(2, 10))
    windows = rng.integers(0, vocab, size=(n, t + 1))
    hit = rng.random((n, t)) < 0.5  # about half the targets are what the double predicts
    windows[:, 1:][hit] = ((windows[:, :-1] + step) % vocab)[hit]
    double = Shifted(vocab, step).train()
    out = {"shifted": accuracy(double, windows), "seen": double.seen, "eval": not double.training,
           "no_graph": double.grad is False}
    gpt = GPT(vocab, 8, 1, 2, 16, rng=0)
    for _, p in gpt.named_parameters():  # weights set here, not by an init
        p.data[...] = rng.normal(size=p.shape)
    gpt_windows = rng.integers(0, vocab, size=(int(rng.integers(3, 9)), int(rng.integers(4, 16))))
    out["gpt"] = accuracy(gpt, gpt_windows)
    out["is_float"] = type(out["gpt"]).__name__
    out["bad_shape"] = _error(lambda: accuracy(double, windows[:, :1]))
    return out


def check_quality(ns, rng):
    check = ns["check_quality"]
    out, valid = {}, []
    for i in range(6):
        # dyadic numbers: target x reference is exact, so no rounding decides at the boundary
        reference, target = int(rng.integers(33, 64)) / 64, int(rng.integers(9, 17)) / 16
        boundary = reference * target
        quality = boundary + int(rng.integers(-3, 4)) / 1024
        reason = check(quality, reference, target)
        valid.append(reason is None)
        if reason is not None:  # the reason names the quality and the threshold
            out[f"named_{i}"] = f"{quality:.4f}" in reason and f"{boundary:.4f}" in reason
        else:
            out[f"named_{i}"] = True
    exact = int(rng.integers(33, 64)) / 64
    valid.append(check(exact * 0.75, exact, 0.75) is None)  # exactly at the threshold
    default = float(rng.uniform(0.5, 1.0))
    valid += [check(default * 0.99 + d, default) is None for d in (-1e-3, 1e-3)]
    out["valid"] = np.array(valid)
    bad = [float("nan"), float("inf"), -float("inf")][int(rng.integers(0, 3))]
    reason = check(bad, 0.75, 0.5)
    out["not_finite"] = isinstance(reason, str) and "finite" in reason
    out["bad_reference"] = _error(lambda: check(0.5, 0.0))
    return out


def _toy_task(ns, clock, calls, costs):
    from tinytorch.layers import Linear, Sequential
    from tinytorch.tensor import Tensor

    def query(model, x, kv_cache=False):
        calls.append((len(x), kv_cache, _blas_threads()))
        clock.advance(costs[0] + costs[1] * len(x) + costs[2] * (5 * len(calls) % 7))
        return model(Tensor(x))

    data = np.arange(40, dtype=np.float32).reshape(20, 2)
    batch = int(costs[3])
    return ns["Task"]("toy", "a probe task", lambda: Sequential(Linear(2, 3, rng=0)),
                      lambda model: getattr(model, "score", 0.8), lambda b: data[np.arange(b) % len(data)], query,
                      target=0.9, offline_batch=batch, kv_cache=True)


def _costs(rng):
    return [float(rng.uniform(1e-3, 2e-3)), float(rng.uniform(1e-5, 1e-4)), float(rng.uniform(1e-5, 1e-4)),
            int(rng.integers(2, 30))]


def _numbers(result):
    return {"valid": result.valid, "quality": result.quality, "reference_quality": result.reference_quality,
            "target": result.target, "p50": result.latency_p50, "p90": result.latency_p90,
            "throughput": result.throughput, "size_bytes": result.size_bytes, "kv_cache": result.kv_cache,
            "task": result.task}


def run_task(ns, rng):
    from tinytorch.layers import Linear, Sequential

    run = ns["run_task"]
    clock, calls, costs = _Clock(rng.uniform(10, 1000)), [], _costs(rng)
    toy = _toy_task(ns, clock, calls, costs)
    warmup, repeats = int(rng.integers(1, 4)), int(rng.integers(3, 10))
    hidden = int(rng.integers(1, 6))
    model = Sequential(Linear(2, hidden, rng=0))
    model.score = float(rng.uniform(0.72, 1.0))
    result = run(toy, model, reference_quality=0.8, warmup=warmup, repeats=repeats, timer=clock, kv_cache=True)
    out = {f"valid_{k}": v for k, v in _numbers(result).items()}
    out["batches"] = np.array([n for n, _, _ in calls])
    out["kv_flags"] = np.array([k for _, k, _ in calls])
    out["threads_1"] = np.array(sorted({t for _, _, t in calls}))
    calls.clear()
    run(toy, model, reference_quality=0.8, warmup=0, repeats=1, threads=2, timer=clock)
    out["threads_2"] = np.array(sorted({t for _, _, t in calls}))
    out["kv_flags_off"] = np.array([k for _, k, _ in calls])
    calls.clear()
    weak = Sequential(Linear(2, 3, rng=0))
    weak.score = float(rng.uniform(0.3, 0.7))
    bad = run(toy, weak, reference_quality=0.8, timer=clock)
    out.update({f"invalid_{k}": v for k, v in _numbers(bad).items()})
    out["invalid_queries"] = len(calls)
    out["invalid_reason_named"] = isinstance(bad.reason, str) and f"{weak.score:.4f}" in bad.reason
    return out


def module(ns, rng):
    import tempfile
    from pathlib import Path

    from tinytorch.layers import Linear, Sequential

    run, save, load, table = ns["run_task"], ns["save_results"], ns["load_results"], ns["format_table"]
    clock, calls, costs = _Clock(rng.uniform(10, 1000)), [], _costs(rng)
    toy = _toy_task(ns, clock, calls, costs)
    repeats = int(rng.integers(6, 15))
    fast, weak = Sequential(Linear(2, 3, rng=1)), Sequential(Linear(2, 3, rng=2))
    fast.score, weak.score = float(rng.uniform(0.72, 1.0)), float(rng.uniform(0.2, 0.7))
    base = run(toy, reference_quality=0.8, warmup=0, repeats=repeats, timer=clock)
    results = [run(toy, fast, reference_quality=0.8, warmup=0, repeats=repeats, timer=clock),
               run(toy, weak, reference_quality=0.8, warmup=0, repeats=repeats, timer=clock)]
    with tempfile.TemporaryDirectory() as folder:
        save([base] + results, Path(folder) / "r.json")
        loaded = load(Path(folder) / "r.json")
    out = {"round_trip": [r.to_dict() for r in loaded] == [r.to_dict() for r in [base] + results]}
    for name, result in (("base", base), ("fast", results[0]), ("weak", results[1])):
        out.update({f"{name}_{k}": v for k, v in _numbers(result).items()})
    out["valid_row"] = table(results, [base]).splitlines()[-2]
    times = rng.uniform(0.001, 0.01, size=int(rng.integers(6, 60)))
    summary = ns["BenchmarkResult"]("drawn", times.tolist())
    out["ci95"] = np.array(summary.ci95)
    out["saved_ci95"] = np.array(summary.to_dict()["ci95"])
    return out


PROBES = {
    "test-median-ci-ranks": ["median_ci_ranks"],
    "test-benchmark": ["benchmark"],
    "test-compare": ["compare"],
    "test-next-token-accuracy": ["next_token_accuracy"],
    "test-check-quality": ["check_quality"],
    "test-run-task": ["run_task"],
    "test-module": ["module"],
}
