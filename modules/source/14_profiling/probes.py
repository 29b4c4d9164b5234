"""Grading probes for module 14 (Profiling): the graded checks again, on inputs drawn at grading time.

tito calls each probe after the notebook's cells, with the notebook's namespace and a seeded NumPy
generator, and compares what it returns with the reference's values (tito/grading/probes.py).
Timings differ from run to run, so the probes return counts, bytes and structure; the latency probe
swaps `time.perf_counter` for a fake clock that the model advances by drawn durations.
"""

import math
import re

import numpy as np


def _size(rng, low=2, high=7):
    return int(rng.integers(low, high))


def _mlp(rng):
    from tinytorch.activations import ReLU
    from tinytorch.layers import Linear, Sequential

    i, h, o = _size(rng, 3, 12), _size(rng, 3, 12), _size(rng, 2, 6)
    return Sequential(Linear(i, h, rng=0), ReLU(), Linear(h, o, rng=0)), i


def count_parameters(ns, rng):
    from tinytorch.layers import Linear, Sequential

    a, b, c = _size(rng, 2, 9), _size(rng, 2, 9), _size(rng, 2, 9)
    first = Linear(a, b, rng=0)
    model = Sequential(first, Linear(b, c, bias=False, rng=0))
    tied = Sequential(first, first, Linear(b, b, rng=0))  # `first` counts once
    return {"model": ns["count_parameters"](model), "tied": ns["count_parameters"](tied)}


def flop_rules(ns, rng):
    out = {}
    m, k, n, batch = _size(rng), _size(rng), _size(rng), _size(rng, 1, 4)
    cases = {
        "matmul_2d": ("matmul_flops", [(m, k), (k, n)], (m, n)),
        "matmul_batched": ("matmul_flops", [(batch, 2, m, k), (batch, 2, k, n)], (batch, 2, m, n)),
        "matmul_dot": ("matmul_flops", [(k,), (k,)], ()),
        "matmul_3d_2d": ("matmul_flops", [(batch, m, k), (k, n)], (batch, m, n)),
        "matmul_vector": ("matmul_flops", [(m, k), (k,)], (m,)),
    }
    c, o, kh, kw, side = _size(rng, 1, 4), _size(rng, 1, 5), _size(rng, 1, 4), _size(rng, 1, 4), _size(rng, 5, 9)
    out_shape = (batch, o, side - kh + 1, side - kw + 1)
    cases["conv"] = ("conv2d_flops", [(batch, c, side, side), (o, c, kh, kw)], out_shape)
    cases["conv_bias"] = ("conv2d_flops", [(batch, c, side, side), (o, c, kh, kw), (o,)], out_shape)
    d = _size(rng, 2, 10)
    cases["layer_norm_3d"] = ("layer_norm_flops", [(batch, m, d), (d,), (d,)], (batch, m, d))
    cases["layer_norm_2d"] = ("layer_norm_flops", [(n, d), (d,), (d,)], (n, d))
    for key, (rule, inputs, output) in cases.items():
        out[key] = np.array([int(v) for v in ns[rule](inputs, output, {})], dtype=np.int64)
    rules = ns["FLOP_RULES"]
    out["registered"] = all(rules.get(op) is ns[rule] for op, rule in (
        ("matmul", "matmul_flops"), ("conv2d", "conv2d_flops"), ("layer_norm", "layer_norm_flops")))
    return out


def count_flops(ns, rng):
    # Only the public behaviour: the integer FLOP total of a forward pass.
    from tinytorch.transformers import LayerNorm

    mlp, width = _mlp(rng)
    batch = _size(rng, 1, 6)
    d = _size(rng, 2, 10)
    return {"mlp": int(ns["count_flops"](mlp, np.ones((batch, width), np.float32))),
            "layer_norm": int(ns["count_flops"](LayerNorm(d), np.ones((batch, 3, d), np.float32)))}


def measure_memory(ns, rng):
    import tracemalloc

    from tinytorch.activations import ReLU
    from tinytorch.autograd import no_grad
    from tinytorch.layers import Linear, Sequential

    batch, width, classes = int(rng.integers(96, 160)), int(rng.integers(48, 80)), _size(rng, 2, 9)
    model = Sequential(Linear(width, width, rng=0), ReLU(), Linear(width, width, rng=0), ReLU(),
                       Linear(width, classes, rng=0))
    x = rng.normal(size=(batch, width)).astype(np.float32)
    act = batch * width * 4
    measure = ns["measure_memory"]
    graph, bare = measure(model, x), measure(model, x, grad=False)
    with no_grad():
        forced = measure(model, x, grad=True)
    # Coarse facts about tracemalloc's numbers (exact bytes vary); the byte counts are exact.
    return {"parameter_bytes": int(graph.parameter_bytes), "activation_bytes": int(graph.activation_bytes),
            "bare_activation_bytes": int(bare.activation_bytes), "grad": [graph.grad, bare.grad] == [True, False],
            "graph_kept": bool(graph.retained_bytes >= 6 * act and forced.retained_bytes >= 6 * act),
            "bare_dropped": bool(bare.retained_bytes < act), "peak_covers": bool(graph.peak_bytes >= graph.retained_bytes),
            "tracing_stopped": not tracemalloc.is_tracing()}


def measure_latency(ns, rng):
    from tinytorch.layers import Module
    from tinytorch.tensor import Config

    clock = ns["time"]
    now = [1000.0]
    durations = (rng.integers(1, 4096, size=64) / 4096.0).tolist()  # seconds, exact in binary

    class Ticker(Module):
        """Advances the fake clock by the next drawn duration at every call."""

        def __init__(self):
            super().__init__()
            self.calls, self.grad_seen = 0, []

        def forward(self, x):
            now[0] += durations[self.calls]
            self.calls += 1
            self.grad_seen.append(Config.grad_enabled)
            return x

    warmup, iterations = _size(rng, 0, 5), _size(rng, 5, 12)
    model, real = Ticker(), clock.perf_counter
    clock.perf_counter = lambda: now[0]
    try:
        report = ns["measure_latency"](model, np.ones(3), warmup=warmup, iterations=iterations, threads=1)
    finally:
        clock.perf_counter = real
    return {"times_ms": np.asarray(report.times_ms, dtype=np.float64), "median_ms": float(report.median_ms),
            "p90_ms": float(report.p90_ms), "spread": float(report.spread), "calls": model.calls,
            "no_grad": not any(model.grad_seen), "blas_threads": str(report.blas_threads)}


def amdahl(ns, rng):
    speedup = ns["amdahl_speedup"]
    fractions = rng.uniform(0, 1, size=6).tolist() + [0.0, 1.0]
    factors = rng.uniform(0.3, 50, size=8).tolist()
    out = {"finite": np.array([speedup(p, k) for p, k in zip(fractions, factors)], dtype=np.float64),
           "ceiling": np.array([speedup(p, math.inf) for p in fractions[:6]], dtype=np.float64),
           "everything_vanishes": speedup(1.0, math.inf) == math.inf}
    for key, args in (("bad_fraction", (1.0 + float(rng.uniform(0.01, 1)), 2.0)), ("bad_factor", (0.5, 0.0))):
        try:
            speedup(*args)
            out[key] = "no error"
        except Exception as exc:  # noqa: BLE001 - the kind of error is the answer
            out[key] = type(exc).__name__
    return out


def _shares(rng, count):
    raw = rng.uniform(0.05, 1, size=count)
    return {f"layer{i}": float(v) for i, v in enumerate(raw / raw.sum() * rng.uniform(0.85, 1.0))}


def choose_layers(ns, rng):
    choose, speedup = ns["choose_layers"], ns["amdahl_speedup"]
    out = {}
    for case in range(3):
        shares = _shares(rng, _size(rng, 4, 8))
        factor = math.inf if case == 0 else float(rng.uniform(2, 20))
        # a target that exactly the m biggest shares reach (so the answer is unique)
        ranked = sorted(shares.values(), reverse=True)
        m = int(rng.integers(1, len(ranked)))
        low, high = sum(ranked[:m - 1]) + ranked[m], sum(ranked[:m])
        target = speedup(min(1.0, (low + high) / 2), factor)
        given = dict(shares)
        out[f"chosen_{case}"] = ",".join(sorted(choose(given, target, factor)))
        out[f"kept_{case}"] = given == shares
    out["no_work"] = choose(_shares(rng, 3), float(rng.uniform(0.2, 1.0)), 2.0) == []
    shares = _shares(rng, 3)
    total, factor = sum(shares.values()), float(rng.uniform(2, 10))
    best = speedup(min(1.0, total), factor)
    try:
        choose(shares, best * 1.5, factor)
        out["out_of_reach"], out["says_best"] = "no error", False
    except Exception as exc:  # noqa: BLE001 - the kind of error is the answer
        numbers = [float(v) for v in re.findall(r"\d+\.\d+|\d+", str(exc))]
        out["out_of_reach"] = type(exc).__name__
        out["says_best"] = any(abs(v - best) < 0.01 for v in numbers)
    return out


def _rows(rows):
    return {"names": "|".join(r.name for r in rows), "kinds": "|".join(r.kind for r in rows),
            "numbers": np.array([[r.params, r.macs, r.flops, r.input_bytes, r.output_bytes] for r in rows],
                                dtype=np.int64),
            "intensity": np.array([r.intensity for r in rows], dtype=np.float64)}


def layer_report(ns, rng):
    mlp, width = _mlp(rng)
    rows = ns["profile_layers"](mlp, np.ones((_size(rng, 1, 6), width), np.float32), runs=1)
    return {**_rows(rows), "timed": all(r.self_ms > 0 for r in rows)}


def module(ns, rng):
    from tinytorch.transformers import GPT

    heads = _size(rng, 1, 3)
    vocab, dim, layers, context = _size(rng, 5, 15), heads * _size(rng, 2, 5), _size(rng, 1, 3), 8
    model = GPT(vocab, dim, layers, heads, context, rng=0)
    ids = rng.integers(0, vocab, size=(_size(rng, 1, 4), _size(rng, 2, context + 1)))
    prof = ns["Profiler"](threads=1)
    rows = prof.profile_layers(model, ids, runs=1)
    mem = prof.measure_memory(model, ids)
    return {"parameters": int(prof.count_parameters(model)), "flops": int(prof.count_flops(model, ids)),
            **_rows(rows), "parameter_bytes": int(mem.parameter_bytes), "activation_bytes": int(mem.activation_bytes)}


PROBES = {
    "test-count-parameters": ["count_parameters"],
    "test-flop-rules": ["flop_rules"],
    "test-count-flops": ["count_flops"],
    "test-measure-memory": ["measure_memory"],
    "test-measure-latency": ["measure_latency"],
    "test-amdahl": ["amdahl"],
    "test-choose-layers": ["choose_layers"],
    "test-layer-report": ["layer_report"],
    "test-module": ["module"],
}
