"""Module 14: measure_memory and measure_latency. No test asserts a wall time."""

import time
import tracemalloc

import numpy as np

from tinytorch.activations import ReLU
from tinytorch.autograd import enable_grad, no_grad
from tinytorch.layers import Linear, Module, Sequential
from tinytorch.profiling import (
    LatencyReport,
    MemoryReport,
    Profiler,
    blas_threads,
    count_parameters,
    measure_latency,
    measure_memory,
)
from tinytorch.spatial import Conv2d, Flatten
from tinytorch.tensor import Config, Tensor
from tinytorch.testing import raises


def mlp(width=64):
    return Sequential(Linear(32, width, rng=0), ReLU(), Linear(width, width, rng=0), ReLU(),
                      Linear(width, 4, rng=0))


def test_memory_report_fields():
    model = mlp()
    x = np.ones((128, 32), np.float32)
    report = measure_memory(model, x)
    assert isinstance(report, MemoryReport) and report.grad
    assert report.parameter_bytes == 4 * (32 * 64 + 64 + 64 * 64 + 64 + 64 * 4 + 4)
    act = 128 * 64 * 4
    assert report.activation_bytes == 6 * act + 2 * 128 * 4 * 4
    assert report.retained_bytes >= report.activation_bytes
    assert report.peak_bytes >= report.retained_bytes


def test_no_grad_keeps_only_the_output_and_the_peak_is_smaller():
    deep = [Linear(32, 256, rng=0), ReLU()]
    deep += [m for _ in range(4) for m in (Linear(256, 256, rng=0), ReLU())]
    model = Sequential(*deep)
    x = np.ones((256, 32), np.float32)
    on, off = measure_memory(model, x), measure_memory(model, x, grad=False)
    assert off.retained_bytes < 2 * 256 * 256 * 4, f"only the output (one (256, 256) array) stays: {off}"
    assert off.peak_bytes < on.peak_bytes / 2, (on, off)


def test_conv_keeps_its_im2col_matrix_for_backward():
    model = Sequential(Conv2d(2, 4, 3, padding=1, rng=0), Flatten())
    x = np.ones((8, 2, 10, 10), np.float32)
    report = measure_memory(model, x)
    cols = 8 * (2 * 3 * 3) * 100 * 4
    assert report.retained_bytes >= report.activation_bytes + cols, report


def test_memory_when_tracemalloc_is_already_running():
    tracemalloc.start()
    try:
        report = measure_memory(mlp(), np.ones((64, 32), np.float32))
        assert tracemalloc.is_tracing(), "measure_memory must not stop someone else's tracing"
        assert report.peak_bytes > 0
    finally:
        tracemalloc.stop()


def test_an_earlier_peak_and_earlier_memory_are_not_counted():
    model, x = mlp(), np.ones((64, 32), np.float32)
    clean = measure_memory(model, x, grad=False)
    tracemalloc.start()
    try:
        kept = np.ones(1_000_000, np.float32)  # 4 MB that exist before the forward pass
        spike = np.ones(3_000_000, np.float32)  # a 12 MB peak before the forward pass
        del spike
        report = measure_memory(model, x, grad=False)
        del kept
    finally:
        tracemalloc.stop()
    assert report.peak_bytes < 2 * clean.peak_bytes + 65536, \
        f"an earlier 12 MB peak leaked into the pass's: {report.peak_bytes:,} vs {clean.peak_bytes:,} alone"
    assert report.retained_bytes < 65536, \
        f"memory allocated before the pass counted as retained: {report.retained_bytes:,}"


def test_count_parameters_counts_numbers_and_shared_tensors_once():
    first = Linear(5, 7, rng=0)
    assert count_parameters(Sequential(first, ReLU(), Linear(7, 3, bias=False, rng=0))) == 5 * 7 + 7 + 21
    assert count_parameters(Sequential(first, first)) == 42, "a shared layer counts once"
    raises(TypeError, lambda: count_parameters([first]), "Module")


def test_memory_errors():
    raises(TypeError, lambda: measure_memory(lambda x: x, np.ones(3)), "Module")


def test_grad_true_builds_the_graph_even_inside_a_callers_no_grad():
    model = mlp()
    x = np.ones((128, 32), np.float32)
    with no_grad():
        report = measure_memory(model, x, grad=True)
    assert report.grad and report.retained_bytes >= report.activation_bytes, report
    with enable_grad():
        off = measure_memory(model, x, grad=False)
    assert not off.grad and off.retained_bytes < 128 * 64 * 4, off


def test_tracing_is_stopped_when_the_model_raises():
    class FailsWithGrad(Module):  # the counting pass (no_grad) works, the measured pass raises
        def forward(self, x):
            if Config.grad_enabled:
                raise RuntimeError("boom")
            return Tensor(x)

    assert not tracemalloc.is_tracing()
    raises(RuntimeError, lambda: measure_memory(FailsWithGrad(), np.ones(3)), "boom")
    assert not tracemalloc.is_tracing(), "measure_memory stops the tracing it started, also after an error"
    assert Config.grad_enabled, "the grad mode is restored"


def test_latency_report():
    model = mlp()
    report = measure_latency(model, np.ones((16, 32), np.float32), warmup=1, iterations=9, threads=1)
    assert isinstance(report, LatencyReport) and report.times_ms.shape == (9,)
    assert report.times_ms.min() <= report.median_ms <= report.p90_ms <= report.times_ms.max()
    assert report.blas_threads == (None if blas_threads() is None else 1), report
    assert report.spread >= 0
    assert "median" in str(report) and "BLAS" in str(report)


class _Calls(Module):
    """Counts its calls and notes when each one ran."""

    def __init__(self):
        super().__init__()
        self.spans = []

    def forward(self, x):
        start = time.perf_counter()
        time.sleep(0.0005)
        self.spans.append((start, time.perf_counter()))
        return x


def test_latency_warms_up_times_each_run_and_summarizes_relative_spread():
    model = _Calls()
    report = measure_latency(model, np.ones(2), warmup=3, iterations=8)
    assert len(model.spans) == 11, f"3 warm-up runs + 8 timed ones: {len(model.spans)} calls"
    t = report.times_ms
    spans = model.spans
    for i, (start, end) in enumerate(spans[3:]):  # the timed runs are the last 8 calls
        assert t[i] >= (end - start) * 1e3, f"run {i}: {t[i]:.4f} ms is shorter than its call (in ms?)"
        if i < 7:  # from the end of the call before to the start of the next: this call and nothing else
            room = (spans[4 + i][0] - spans[2 + i][1]) * 1e3
            assert t[i] <= room, f"run {i}: {t[i]:.4f} ms is longer than the {room:.4f} ms around its call"
    q25, median, q75, p90 = np.percentile(t, [25, 50, 75, 90])
    assert report.median_ms == median and report.p90_ms == p90, report
    assert abs(report.spread - (q75 - q25) / median) < 1e-12, \
        f"spread is the interquartile range relative to the median: {report.spread} vs {(q75 - q25) / median}"


def test_latency_errors():
    model = mlp()
    x = np.ones((2, 32), np.float32)
    raises(ValueError, lambda: measure_latency(model, x, warmup=-1), "warmup")
    raises(ValueError, lambda: measure_latency(model, x, iterations=0), "iterations")
    raises(ValueError, lambda: measure_latency(model, x, iterations=2.5), "iterations")


def test_profiler_object_pins_threads():
    raises(ValueError, lambda: Profiler(threads=0), "threads")
    prof = Profiler(threads=1)
    before = blas_threads()
    report = prof.measure_latency(mlp(), np.ones((4, 32), np.float32), 0, 3)
    assert report.blas_threads in (1, None)
    assert blas_threads() == before, "the thread limit is lifted afterwards"
    assert prof.count_parameters(mlp()) == 32 * 64 + 64 + 64 * 64 + 64 + 64 * 4 + 4
