"""M06's scripts: their helpers (the sparse int8 format, the FLOP count of a generation, the
interleaved timer) imported directly, and short runs of the generation script (small --iters,
--tokens, --rounds) for its errors and its claims. The full runs and their claims are in
test_milestones.py.

The speed claim of 02 is the one claim of a milestone that reads a clock (issue 10 asks for it):
on a clock where every timed block lasts the same, the script must report no speed-up and fail."""

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "milestones"))
sys.path.insert(0, str(ROOT))
_BLAS = [info["num_threads"] for info in threadpool_info() if info.get("user_api") == "blas"]
from _common import import_script  # noqa: E402

from tito.registry import get_milestone  # noqa: E402
from tito.run.milestones import not_exported  # noqa: E402

M06 = get_milestone("M06")
FOLDER = ROOT / "milestones" / M06.folder
COMPRESS, GENERATION = FOLDER / "01_mlperf_compress.py", FOLDER / "02_mlperf_generation.py"
MISSING = not_exported(ROOT, M06)
_skip = pytest.mark.skipif(bool(MISSING), reason=f"M06 needs module(s) {', '.join(MISSING)} exported")


def needs_package(test):
    """A run of a script (slow): skipped while a module M06 needs has no package file yet."""
    return pytest.mark.slow(_skip(test))

compress = import_script(f"{M06.folder}/01_mlperf_compress.py")
generation = import_script(f"{M06.folder}/02_mlperf_generation.py")
if _BLAS:  # importing _common pinned NumPy's BLAS to 1 thread, for scripts; give this process its own back
    threadpool_limits(max(_BLAS), user_api="blas")

# The same clock as test_milestones.py: every call of time.perf_counter is 1000 s after the last.
SLOW_CLOCK = """import itertools, runpy, sys, time
ticks = itertools.count(0, 1000)
time.perf_counter = lambda: float(next(ticks))
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""
TEXT = "\n".join(f"{name}.\nTo be, or not to be, that is the question ({i})." for i, name in
                 zip(range(200), ["Ham", "Oph", "Hor"] * 100)) + "\n"
SHORT = ("--iters", "3", "--tokens", "12", "--rounds", "2")


def run(script: Path, *args: str, slow_clock: bool = False) -> subprocess.CompletedProcess:
    prelude = ["-c", SLOW_CLOCK] if slow_clock else []
    return subprocess.run([sys.executable, *prelude, str(script), *args], cwd=ROOT, env=dict(os.environ),
                          capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)


@pytest.fixture
def corpus(tmp_path) -> Path:
    path = tmp_path / "corpus.txt"
    path.write_text(TEXT, encoding="utf-8")
    return path


# --- 01: the sparse int8 format and the size and zero checks ------------------------------------

@pytest.mark.parametrize("shape, density", [((64, 256), 0.2), ((7, 3), 0.5), ((1, 9), 0.0), ((5, 5), 1.0)])
def test_sparse_format_round_trips_and_costs_a_bit_per_weight_plus_the_nonzeros(shape, density):
    rng = np.random.default_rng(0)
    weights = rng.integers(-127, 128, size=shape).astype(np.int8)
    weights[rng.random(shape) >= density] = 0
    bitmap, values = compress.encode_sparse(weights)
    n, nnz = weights.size, int(np.count_nonzero(weights))
    assert bitmap.nbytes == (n + 7) // 8 and values.nbytes == nnz and values.dtype == np.int8
    decoded = compress.decode_sparse(bitmap, values, shape)
    assert decoded.dtype == np.int8 and np.array_equal(decoded, weights)


def test_sparse_format_refuses_what_it_cannot_encode_or_decode():
    with pytest.raises(TypeError, match="int8"):
        compress.encode_sparse(np.ones((2, 2), dtype=np.float32))
    bitmap, values = compress.encode_sparse(np.array([[1, 0], [0, 2]], dtype=np.int8))
    with pytest.raises(ValueError, match="2 nonzero weights but 1 values"):
        compress.decode_sparse(bitmap, values[:1], (2, 2))


def _digits():
    from tinytorch.datasets import load_tinydigits

    x_train, y_train, x_test, y_test = load_tinydigits()
    return x_train.reshape(len(x_train), -1), y_train


def test_sparse_size_and_zero_checks_on_a_pruned_quantized_mlp():
    from tinytorch.compression import digits_mlp, magnitude_prune
    from tinytorch.quantization import QuantizedLinear, model_nbytes, quantize_model

    x, _ = _digits()
    model = digits_mlp(32, 0.0, seed=0)
    magnitude_prune(model, 0.75)
    int8 = quantize_model(model, x[:64])
    size, exact = compress.sparse_nbytes(int8)
    layers = [m for m in int8.modules() if isinstance(m, QuantizedLinear)]
    expected = sum(m.nbytes - m.weight_q.nbytes + (m.weight_q.size + 7) // 8 + np.count_nonzero(m.weight_q)
                   for m in layers)
    assert exact and size == expected and size < model_nbytes(int8)
    assert compress.int8_zero_fraction(int8) >= 0.75
    assert compress.keeps_zeros(model, int8)
    layers[1].weight_q[model.layers[3].weight.data == 0] = 1  # a pruned weight that came back
    assert not compress.keeps_zeros(model, int8)
    with pytest.raises(ValueError, match="3 Linear layers but 1 QuantizedLinear"):
        compress.keeps_zeros(model, layers[0])


def test_interleaved_times_alternates_the_models_round_by_round():
    calls = []

    class Recorder:
        def __init__(self, name):
            self.name = name

        def eval(self):
            return self

        def __call__(self, x):
            calls.append((self.name, float(x.data[0, 0])))

    inputs = [np.full((1, 2), i, dtype=np.float32) for i in range(3)]
    times = compress.interleaved_times({"a": Recorder("a"), "b": Recorder("b")}, inputs, rounds=4)
    assert set(times) == {"a", "b"} and all(t.shape == (4,) and (t >= 0).all() for t in times.values())
    assert calls == [("a", 0.0), ("b", 0.0)] + [(m, float(r % 3)) for r in range(4) for m in "ab"]


# --- 02: work counted by the tracer, the timer, short runs ---------------------------------------

def test_generation_flops_counts_less_work_with_the_cache_and_the_same_tokens():
    from tinytorch.layers import manual_seed
    from tinytorch.memoization import generate_cached
    from tinytorch.transformers import GPT

    manual_seed(0)
    model = GPT(11, 16, 2, 2, 32)
    prompt = np.arange(5)
    flops_u, ops_u = generation.generation_flops(model, lambda: model.generate(prompt, 20, 0.0))
    flops_c, ops_c = generation.generation_flops(model, lambda: generate_cached(model, prompt, 20, 0.0))
    assert 0 < flops_c < flops_u / 5
    assert ops_u > 20 and ops_c > 20  # every step runs every layer, with or without the cache
    assert np.array_equal(model.generate(prompt, 20, 0.0), generate_cached(model, prompt, 20, 0.0))


def test_interleaved_runs_each_cached_call_right_after_its_uncached_partner():
    calls = []
    uncached, cached = generation.interleaved(lambda r: calls.append(("u", r)),
                                              lambda r: calls.append(("c", r)), 3)
    assert calls == [("u", 0), ("c", 0), ("u", 1), ("c", 1), ("u", 2), ("c", 2), ("u", 3), ("c", 3)]
    assert uncached.shape == cached.shape == (3,)


@needs_package
def test_generation_short_run_checks_tokens_work_and_time(corpus):
    proc = run(GENERATION, "--data", str(corpus), *SHORT)
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr  # 3 iterations, 12 tokens: time may not show
    assert "Traceback" not in proc.stderr
    out = proc.stdout
    assert f"data: {corpus}: {len(TEXT):,} characters, vocabulary of {len(set(TEXT))}" in out
    assert "12 new tokens after a prompt of 19 (prompt + tokens = 31 <= context 128)" in out
    assert "[PASS] greedy generation gives the same tokens with and without the cache" in out
    assert "[PASS] sampled generation (temperature 0.8, same seed) gives the same tokens" in out
    assert "[PASS] the cached generation does less arithmetic" in out
    assert re.search(r"speed-up per pair: \d+\.\d\d, \d+\.\d\d; median \d+\.\d\dx", out)
    assert re.search(r"the cached generation is faster than the uncached one "
                     r"\(measured speed-up \d+\.\d\dx > 1\)", out)
    sample = re.search(r"^--- sampled, with the cache ---\n(.*?)\n---$", out, flags=re.S | re.M).group(1)
    assert sample.startswith("To be, or not to be") and len(sample) == 19 + 12 and set(sample) <= set(TEXT)


@needs_package
def test_generation_fails_when_the_clock_shows_no_speed_up(corpus):
    """Every timed generation lasts 1000 s on this clock: a speed-up of 1.00, so the claim fails
    (exit 1) while the claims that do not read the clock still pass."""
    proc = run(GENERATION, "--data", str(corpus), *SHORT, slow_clock=True)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "speed-up per pair: 1.00, 1.00; median 1.00x" in proc.stdout
    assert "[FAIL] the cached generation is faster than the uncached one (measured speed-up 1.00x > 1)" \
        in proc.stdout
    assert proc.stdout.count("[PASS]") == 3 and "RESULT: NOT reached" in proc.stdout


@needs_package
@pytest.mark.parametrize("args, message", [
    (("--prompt", "Zebra"), "the prompt cannot be encoded"),
    (("--tokens", "200"), "--tokens 200 does not fit"),
    (("--prompt", "To be " * 30), "it must be shorter than 127"),
], ids=["unknown-character", "too-many-tokens", "prompt-too-long"])
def test_generation_errors_are_clear(corpus, args, message):
    proc = run(GENERATION, "--data", str(corpus), "--iters", "1", *args)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert "training" not in proc.stdout  # refused before any work


@needs_package
def test_generation_data_errors_and_bad_numbers_exit_2(tmp_path):
    missing = run(GENERATION, "--data", str(tmp_path / "absent.txt"))
    assert missing.returncode == 2 and "text file not found" in missing.stderr
    short = tmp_path / "short.txt"
    short.write_text("too short", encoding="utf-8")
    assert "needs at least" in run(GENERATION, "--data", str(short)).stderr
    for bad in (("--iters", "0"), ("--tokens", "0"), ("--rounds", "0"), ("--prompt", "")):
        proc = run(GENERATION, *bad)
        assert proc.returncode == 2 and "usage:" in proc.stderr, bad


@needs_package
def test_compress_refuses_bad_rounds():
    proc = run(COMPRESS, "--rounds", "0")
    assert proc.returncode == 2 and "argument --rounds: must be >= 1, got 0" in proc.stderr
