"""Module 19: the suite — tasks, references (deterministic), run_task, run_suite, JSON, table, plot.

The references are trained once per process (the package caches them); the timed parts run with
few repeats, and no test asserts on a time."""

import hashlib
import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from tinytorch.benchmarking import (
    TASKS,
    Task,
    TaskResult,
    check_quality,
    format_table,
    get_task,
    load_results,
    measure_reference_quality,
    next_token_accuracy,
    plot_results,
    run_compared,
    run_suite,
    run_task,
    save_results,
)
from tinytorch.compression import magnitude_prune
from tinytorch.layers import Linear, Module, Sequential
from tinytorch.quantization import model_nbytes, quantize_model
from tinytorch.tensor import Tensor
from tinytorch.testing import raises

FAST = {"warmup": 1, "repeats": 3}

DIGEST = textwrap.dedent("""
    import hashlib, json
    from tinytorch.benchmarking import TASKS
    out = {}
    for name in ("digits-mlp", "digits-cnn"):
        task = TASKS[name]
        model = task.build_reference()
        h = hashlib.sha256()
        for key, value in sorted(model.state_dict().items()):
            h.update(key.encode()); h.update(value.tobytes())
        out[name] = [h.hexdigest(), task.quality(model)]
    print(json.dumps(out))
""")


def _digest(model):
    h = hashlib.sha256()
    for key, value in sorted(model.state_dict().items()):
        h.update(key.encode())
        h.update(value.tobytes())
    return h.hexdigest()


# --- the pieces first, fast (no training): a mistake in one of them fails here, by name -------------


class _NextPlusOne(Module):
    """Predicts (token id + 1) mod 4 everywhere; records its input and whether a graph could be built."""

    def forward(self, ids):
        from tinytorch.tensor import Config
        ids = np.asarray(ids.data if isinstance(ids, Tensor) else ids).astype(np.int64)
        self.seen, self.grad_seen = ids, Config.grad_enabled
        logits = np.zeros((*ids.shape, 4), dtype=np.float32)
        np.put_along_axis(logits, ((ids + 1) % 4)[..., None], 1.0, axis=-1)
        return Tensor(logits)


WINDOWS = np.array([[0, 1, 2, 3, 3], [2, 3, 0, 0, 1], [1, 2, 2, 3, 0]])  # T = V = 4: a wrong axis runs


def accuracy_on_windows(accuracy, model) -> float:
    """`accuracy(model, WINDOWS)`; an argmax over the wrong axis of the (3, 4, 4) logits is named (on these
    windows one over the positions scores 1/12, one over the flattened array 2/12, the right one 9/12)."""
    axis = "the argmax runs over the vocabulary, the last axis of the (N, T, V) logits"
    try:
        got = accuracy(model, WINDOWS)
    except ValueError as error:
        if "broadcast" not in str(error):
            raise
        raise AssertionError(f"next_token_accuracy raised ValueError ({error}): the predictions do not line "
                             f"up with the (3, 4) targets; {axis}") from None
    wrong = {1 / 12: "the positions (axis 1)", 2 / 12: "the flattened array (no axis)"}
    for value, over in wrong.items():
        assert abs(got - value) > 1e-12, f"got {got}, what an argmax over {over} gives here: {axis}"
    return got


def _argmax_over_the_positions(model, windows):
    """Planted: scores what an argmax over the positions (axis 1) of _NextPlusOne's logits scores on WINDOWS.
    Its predictions are then [3, 0, 1, 2], [1, 2, 0, 0] and [3, 0, 0, 1] against the targets [1, 2, 3, 3],
    [3, 0, 0, 1] and [2, 2, 3, 0]: one match in 12."""
    return 1 / 12


def test_an_argmax_over_the_positions_is_named():
    raises(AssertionError, lambda: accuracy_on_windows(_argmax_over_the_positions, _NextPlusOne()),
           "positions", "last axis")


def test_next_token_accuracy_shifts_by_one_in_eval_mode_without_a_graph():
    windows = WINDOWS
    model = _NextPlusOne().train()
    got = accuracy_on_windows(next_token_accuracy, model)
    assert model.seen.shape == (3, 4) and np.array_equal(model.seen, windows[:, :-1]), \
        f"the model reads columns 0 .. T-1 of the windows, got {model.seen.tolist()}"
    assert got == pytest.approx(9 / 12, abs=1e-12), \
        f"the prediction at position t (argmax over the last axis) is compared with column t + 1: 9 of 12 " \
        f"match, got {got}"
    assert type(got) is float, f"a Python float, got {type(got).__name__}"
    assert not model.training and model.grad_seen is False, "evaluate in eval mode, under no_grad()"


@pytest.mark.parametrize("quality, reference, target, valid", [
    (0.375, 0.75, 0.5, True), (0.3749, 0.75, 0.5, False), (0.961, 0.97, 0.99, True),
    (0.96, 0.97, 0.99, False), (1.0, 0.75, 0.5, True)])
def test_check_quality_boundary_is_inclusive(quality, reference, target, valid):
    reason = check_quality(quality, reference, target)
    threshold = reference * target  # the bar the quality must reach
    if valid:
        assert reason is None, \
            f"{quality} >= {target} x {reference} = {threshold:.4f} is valid (inclusive), got {reason!r}"
    else:
        assert isinstance(reason, str) and f"{quality:.4f}" in reason and f"{threshold:.4f}" in reason, \
            f"{quality} < {threshold:.4f}: a reason naming both numbers (4 decimals), got {reason!r}"


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_check_quality_refuses_non_finite_quality(bad):
    reason = check_quality(bad, 0.75, 0.5)
    assert isinstance(reason, str) and "finite" in reason, \
        f"quality {bad}: invalid, with a reason saying it is not finite (NaN >= x is False, NaN < x too), " \
        f"got {reason!r}"


def test_run_task_derives_latency_and_throughput_from_the_two_scenarios():
    from threadpoolctl import threadpool_info, threadpool_limits

    def blas_threads():
        counts = [i["num_threads"] for i in threadpool_info() if i.get("user_api") == "blas"]
        return max(counts) if counts else None

    clock, log = _Clock(), []
    data = np.arange(20, dtype=np.float32).reshape(10, 2)

    def query(model, x, kv_cache=False):  # call k costs 1 + 0.01 per sample + (k mod 5)² / 10 seconds
        log.append((len(x), kv_cache, blas_threads()))
        clock.now += 1.0 + 0.01 * len(x) + (len(log) % 5) ** 2 / 10

    toy = Task("toy", "test", lambda: _tagged("ref", 1.0, 0.8), lambda m: m.score,
               lambda batch: data[np.arange(batch) % 10], query, offline_batch=4, kv_cache=True)
    r = run_task(toy, _tagged("m", 1.0, 0.8), reference_quality=0.8, warmup=1, repeats=5, timer=clock,
                 kv_cache=True)
    sizes = [n for n, _, _ in log]
    assert sizes == [1] * 6 + [4] * 6, f"single stream on 1 sample, then offline on offline_batch=4: {sizes}"
    assert all(kv for _, kv, _ in log), f"kv_cache is passed to every query: {log}"
    single = [1.01 + (k % 5) ** 2 / 10 for k in range(2, 7)]  # skewed: median, mean and p90 all differ
    offline = [1.04 + (k % 5) ** 2 / 10 for k in range(8, 13)]
    assert np.median(offline) != pytest.approx(np.mean(offline))  # the test itself tells them apart
    assert r.latency_p50 == pytest.approx(np.median(single)), \
        f"latency_p50: the median of the single-stream times {single}, got {r.latency_p50}"
    assert r.latency_p90 == pytest.approx(np.percentile(single, 90)), \
        f"latency_p90: the 90th percentile of {single} = {np.percentile(single, 90):.4f}, got {r.latency_p90}"
    assert r.throughput == pytest.approx(4 / np.median(offline)), \
        f"offline: 4 samples / median seconds per call = {4 / np.median(offline):.4f}/s, got {r.throughput}"
    with threadpool_limits(limits=2, user_api="blas"):
        two = blas_threads()
    if two not in (None, 1):
        log.clear()
        run_task(toy, _tagged("m", 1.0, 0.8), reference_quality=0.8, warmup=0, repeats=1, timer=clock,
                 threads=2)
        assert {t for _, _, t in log} == {two}, f"threads=2 reaches both scenarios' queries: {log}"


def test_tasks_and_their_inputs():
    assert list(TASKS) == ["digits-mlp", "digits-cnn", "char-gpt"]
    shapes = {"digits-mlp": (64,), "digits-cnn": (1, 8, 8), "char-gpt": (16,)}
    for name, task in TASKS.items():
        assert task.name == name and task.target == 0.99 and get_task(name) is task
        one, many = task.sample(1), task.sample(task.offline_batch)
        assert one.shape == (1, *shapes[name]) and many.shape == (task.offline_batch, *shapes[name])
        assert np.array_equal(many[:1], one), "the single-stream input is the first offline input"
        cycled = task.sample(1000)  # more than the held-out set: the inputs repeat, in order
        assert np.array_equal(cycled[:task.offline_batch], many)
        period = next(i for i in range(1, 1000) if np.array_equal(cycled[i], cycled[0]))
        assert np.array_equal(cycled[period:], cycled[:1000 - period])
        calib = task.calibration(8)
        assert calib.shape[0] == 8 and not any(np.array_equal(c, s) for c in calib for s in task.sample(8))
    assert TASKS["char-gpt"].kv_cache and not TASKS["digits-cnn"].kv_cache
    assert TASKS["char-gpt"].sample(1).dtype.kind == "i"
    raises(ValueError, lambda: get_task("imagenet"), "imagenet", "digits-mlp")
    raises(ValueError, lambda: TASKS["digits-mlp"].sample(0), "batch")


def test_references_are_trained_once_and_handed_out_as_copies():
    task = TASKS["digits-mlp"]
    a, b = task.build_reference(), task.build_reference()
    assert a is not b and _digest(a) == _digest(b)
    a.parameters()[0].data[...] = 0
    assert _digest(task.build_reference()) == _digest(b), "changing a copy leaves the reference alone"
    assert not b.training


def test_the_char_gpt_reference_reaches_its_quality():
    """The first test to train the GPT (a few seconds of CPU); later tests get copies."""
    task = TASKS["char-gpt"]
    model = task.build_reference()
    assert 0.33 <= task.quality(model) == measure_reference_quality("char-gpt")
    assert model.max_seq_len == 32 and len(model.blocks) == 1


def test_digits_references_reach_their_quality_and_are_reproducible_in_a_fresh_process():
    """Same seeds, one BLAS thread: another process trains bit-identical weights."""
    here = {name: [_digest(TASKS[name].build_reference()), TASKS[name].quality(TASKS[name].build_reference())]
            for name in ("digits-mlp", "digits-cnn")}
    assert here["digits-mlp"][1] >= 0.95 and here["digits-cnn"][1] >= 0.92, here
    out = subprocess.run([sys.executable, "-c", DIGEST], capture_output=True, text=True, check=True,
                         timeout=600)
    assert json.loads(out.stdout) == here, "another process trained different references"
    for name in here:
        assert measure_reference_quality(name) == here[name][1]


def test_next_token_accuracy_of_the_gpt_matches_a_direct_count():
    task = TASKS["char-gpt"]
    model = task.build_reference()
    windows = task.calibration(5)
    inputs, targets = windows[:, :-1], windows[:, 1:]
    logits = model(inputs).data
    direct = np.mean(logits.argmax(-1) == targets)
    assert next_token_accuracy(model, windows) == pytest.approx(direct, abs=0)
    raises(ValueError, lambda: next_token_accuracy(model, windows[0]), "shape")


def test_run_task_on_each_reference_is_valid_and_complete():
    for name, task in TASKS.items():
        r = run_task(name, **FAST)
        assert isinstance(r, TaskResult) and r.task == name and r.valid and r.reason is None
        assert r.quality == r.reference_quality == measure_reference_quality(name)
        assert 0 < r.latency_p50 <= r.latency_p90 and r.throughput > 0
        assert r.size_bytes == model_nbytes(task.build_reference())
        assert r.environment["numpy"] == np.__version__ and not r.kv_cache


def test_kv_cache_query_gives_the_same_tokens_and_is_refused_where_absent():
    task = TASKS["char-gpt"]
    model, prompts = task.build_reference(), task.sample(3)
    plain, cached = task.query(model, prompts, False), task.query(model, prompts, True)
    assert plain.shape == (3, 32) and np.array_equal(plain, cached)
    r = run_task("char-gpt", model, kv_cache=True, **FAST)
    assert r.valid and r.kv_cache
    raises(ValueError, lambda: run_task("digits-mlp", kv_cache=True), "KV-cache", "char-gpt")


def test_a_model_that_misses_the_target_is_invalid_and_not_timed():
    model = TASKS["digits-cnn"].build_reference()
    magnitude_prune(model, 0.97)
    r = run_task("digits-cnn", model, **FAST)
    assert not r.valid and r.latency_p50 is None and r.latency_p90 is None and r.throughput is None
    assert r.reason == check_quality(r.quality, r.reference_quality, 0.99) and f"{r.quality:.4f}" in r.reason
    assert r.size_bytes == model_nbytes(model)
    raises(TypeError, lambda: run_task("digits-cnn", "model"), "Module")


def test_a_quantized_mlp_is_smaller_and_judged_against_the_float_reference():
    task = TASKS["digits-mlp"]
    q = quantize_model(task.build_reference(), [task.calibration(256)])
    r = run_task("digits-mlp", q, **FAST)
    assert r.size_bytes < model_nbytes(task.build_reference()) / 2
    assert r.reference_quality == measure_reference_quality("digits-mlp")
    assert r.valid == (r.quality >= 0.99 * r.reference_quality)


def test_run_suite_selects_tasks_and_fails_fast_on_unknown_names():
    model = TASKS["digits-mlp"].build_reference()
    results = run_suite({"digits-mlp": model}, **FAST)
    assert [r.task for r in results] == ["digits-mlp"]
    results = run_suite(tasks=["digits-cnn", "digits-mlp"], **FAST)
    assert [r.task for r in results] == ["digits-cnn", "digits-mlp"] and all(r.valid for r in results)
    raises(ValueError, lambda: run_suite({"mnist": model}), "mnist")
    raises(ValueError, lambda: run_suite(tasks=["digits-mlp", "cifar"]), "cifar")


def _result(task="digits-mlp", valid=True, p90=0.002, throughput=1000.0, size=4000, quality=0.97):
    return TaskResult(task, quality, 0.97, 0.99, valid, None if valid else "quality too low",
                      0.001 if valid else None, p90 if valid else None, throughput if valid else None, size,
                      {"cpu": "test"})


def test_save_and_load_round_trip_atomically(tmp_path):
    results = [_result(), _result("digits-cnn", valid=False, quality=0.5)]
    path = tmp_path / "deep" / "results.json"
    save_results(results, path)
    assert load_results(path) == results
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["schema_version"] == 1 and set(data["environment"]) >= {"cpu", "blas", "timestamp"}
    assert [p.name for p in path.parent.iterdir()] == ["results.json"], "no temporary file left behind"
    save_results(results[:1], path)
    assert len(load_results(path)) == 1
    raises(TypeError, lambda: save_results([{"task": "x"}], tmp_path / "x.json"), "TaskResult")


def test_load_results_errors_name_the_file_and_the_problem(tmp_path):
    raises(FileNotFoundError, lambda: load_results(tmp_path / "none.json"), "none.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema_version": 1,\n "results": [', encoding="utf-8")
    raises(ValueError, lambda: load_results(bad), "not JSON", "line 2")
    bad.write_bytes(b"\xff\xfe{}")
    raises(ValueError, lambda: load_results(bad), "UTF-8")
    bad.write_text(json.dumps({"schema_version": 7, "results": []}), encoding="utf-8")
    raises(ValueError, lambda: load_results(bad), "schema_version 1")
    entry = _result().to_dict()
    del entry["throughput"]
    bad.write_text(json.dumps({"schema_version": 1, "results": [_result().to_dict(), entry]}),
                   encoding="utf-8")
    raises(ValueError, lambda: load_results(bad), "result 1", "throughput")
    entry = _result().to_dict() | {"speedup": 9}
    bad.write_text(json.dumps({"schema_version": 1, "results": [entry]}), encoding="utf-8")
    raises(ValueError, lambda: load_results(bad), "result 0", "speedup")
    entry = _result().to_dict() | {"latency_p90": "fast"}
    bad.write_text(json.dumps({"schema_version": 1, "results": [entry]}), encoding="utf-8")
    raises(ValueError, lambda: load_results(bad), "latency_p90")


def test_format_table_ratios_and_invalid_rows():
    base = [_result(p90=0.004, throughput=500.0, size=8000), _result("char-gpt", p90=0.1, throughput=10.0)]
    results = [_result(p90=0.002, throughput=1000.0, size=2000), _result("digits-cnn"),
               _result("char-gpt", valid=False, quality=0.1)]
    table = format_table(results, base)
    rows = table.splitlines()
    assert "p90 x" in rows[0] and len(rows) == 5
    assert rows[2].split()[-3:] == ["2.00x", "2.00x", "4.00x"], rows[2]
    assert rows[3].split()[-3:] == ["-", "-", "-"], "no baseline for digits-cnn: no ratios"
    assert "INVALID" in rows[4] and "quality too low" in rows[4] and "x " not in rows[4].split("INVALID")[0]
    plain = format_table(results)
    assert "p90 x" not in plain and "VALID" in plain.splitlines()[2]


def test_plot_results_needs_matplotlib_or_writes_a_png(tmp_path):
    results, base = [_result(p90=0.001)], [_result(p90=0.002)]
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raises(RuntimeError, lambda: plot_results(results, base, tmp_path / "p.png"), "matplotlib",
               "pip install")
        return
    path = plot_results(results, base, tmp_path / "p.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    raises(ValueError, lambda: plot_results([_result(valid=False)], base, tmp_path / "q.png"), "no valid")


class _Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def _toy(clock, log):
    """A task on 10 fixed 2-feature samples: quality = the model's `score`; a query by model `m`
    takes m.cost + 0.01 per sample seconds of the fake clock and is logged."""
    data = np.arange(20, dtype=np.float32).reshape(10, 2)

    def query(model, x, kv_cache=False):
        log.append((model.tag, len(x), kv_cache))
        clock.now += model.cost + 0.01 * len(x)

    return Task("toy", "test", lambda: _tagged("ref", 1.0, 0.8), lambda m: m.score,
                lambda batch: data[np.arange(batch) % 10], query, offline_batch=4, kv_cache=True)


def _tagged(tag, cost, score):
    model = Sequential(Linear(2, 2, rng=0))
    model.tag, model.cost, model.score = tag, cost, score
    return model


def test_run_compared_gates_then_interleaves_the_valid_models():
    clock, log = _Clock(), []
    toy = _toy(clock, log)
    models = {"ref": None, "fast": _tagged("fast", 0.5, 0.8), "bad": _tagged("bad", 0.1, 0.5)}
    runs = run_compared(toy, models,
                        kv_cache={"fast": True}, reference_quality=0.8, warmup=1, repeats=3, timer=clock)
    assert list(runs) == ["ref", "fast", "bad"]
    # single stream first, then offline; within each, the order of calls is compare's design
    sizes = [size for _, size, _ in log]
    assert sizes == sorted(sizes), f"single-stream queries (1 sample) before offline ones (4): {log}"
    for size in (1, 4):
        calls = [(tag, kv) for tag, n, kv in log if n == size]
        assert set(calls) == {("ref", False), ("fast", True)} and min(map(calls.count, set(calls))) >= 4, log
    ref, fast, bad = runs["ref"], runs["fast"], runs["bad"]
    assert ref.valid and fast.valid and fast.kv_cache and not ref.kv_cache
    assert ref.latency_p50 == pytest.approx(1.01) and fast.latency_p90 == pytest.approx(0.51)
    assert ref.throughput == pytest.approx(4 / 1.04) and fast.throughput == pytest.approx(4 / 0.54)
    assert not bad.valid and bad.latency_p50 is None and bad.throughput is None and "0.5000" in bad.reason
    table = format_table([fast], [ref])
    assert f"{1.01 / 0.51:.2f}x" in table


def test_run_compared_errors_and_a_real_task():
    toy = _toy(_Clock(), [])
    raises(ValueError, lambda: run_compared(toy, {}), "non-empty")
    raises(ValueError, lambda: run_compared(toy, {"a": None}, kv_cache={"b": True}), "kv_cache")
    raises(ValueError, lambda: run_compared("digits-cnn", {"a": None}, kv_cache={"a": True}), "KV-cache")
    raises(TypeError, lambda: run_compared(toy, {"a": "model"}, reference_quality=0.8), "'a'")
    runs = run_compared("digits-mlp", {"one": None, "two": None}, **FAST)
    assert runs["one"].valid and runs["two"].valid and runs["one"].quality == runs["two"].quality
    assert runs["one"].latency_p50 > 0 and runs["two"].throughput > 0
