"""Module 14: the tracer, the per-layer report, Amdahl's law and layer replacement."""

import math
import re
import sys
from itertools import combinations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from tinytorch.activations import GELU, ReLU
from tinytorch.layers import Linear, Module, Sequential
from tinytorch.profiling import (
    OpTracer,
    Profiler,
    Replay,
    amdahl_speedup,
    choose_layers,
    count_flops,
    format_report,
    interleaved_latency,
    named_layers,
    profile_layers,
    replace_layers,
    trace,
)
from tinytorch.testing import raises
from tinytorch.transformers import GPT


def test_named_layers_finds_activations_and_list_items_once():
    shared = Linear(3, 3, rng=0)
    model = Sequential(shared, GELU(), shared)
    names = [n for n, _ in named_layers(model)]
    assert names == ["", "layers.0", "layers.1"]


def test_the_tracer_restores_the_previous_profiler_and_survives_errors():
    def outer(frame, event, arg):
        return None

    sys.setprofile(outer)
    try:
        class Boom(Module):
            def forward(self, x):
                raise KeyError("boom")

        tracer = OpTracer(Boom())
        try:
            with tracer:
                Boom()(1)
        except KeyError:
            pass
        assert sys.getprofile() is outer
    finally:
        sys.setprofile(None)


def test_layers_are_attributed_to_the_innermost_layer():
    model = GPT(11, 8, 1, 2, 6, rng=0)
    tracer, _ = trace(model, np.zeros((1, 5), np.int64))
    by_layer = {}
    for r in tracer.records:
        by_layer.setdefault(r.layer, []).append(r.op)
    assert by_layer["token_embedding"] == ["embedding"]
    assert by_layer["blocks.0.mlp.act"] == ["gelu"]
    assert by_layer["blocks.0.attn.q_proj"] == ["matmul", "add"]
    assert "softmax" in by_layer["blocks.0.attn"] and "masked_fill" in by_layer["blocks.0.attn"]
    assert by_layer["blocks.0"] == ["add", "add"], "the residual additions belong to the block"
    assert set(tracer.inclusive) >= {"", "blocks.0", "head"}
    assert tracer.inclusive[""] >= tracer.inclusive["blocks.0"] >= tracer.inclusive["blocks.0.attn"]


def test_report_rows_add_up_for_a_gpt():
    model = GPT(19, 16, 2, 2, 10, rng=0)
    ids = np.ones((2, 10), np.int64)
    rows = profile_layers(model, ids, runs=2)
    assert sum(r.flops for r in rows) == count_flops(model, ids)
    assert sum(r.params for r in rows) == sum(p.size for p in model.parameters())
    assert all(r.self_ms >= 0 for r in rows)
    table = format_report(rows)
    assert table.count("\n") == len(rows) + 3
    assert "blocks.1.mlp.fc2" in table and "LearnedPositionalEmbedding" in table


def test_each_row_sums_its_own_ops():
    B = 3
    rows = profile_layers(Sequential(Linear(8, 4, rng=0), ReLU(), Linear(4, 2, rng=0)),
                          np.ones((B, 8), np.float32), runs=1)
    got = [(r.name, r.kind, r.params, r.macs, r.flops, r.input_bytes, r.output_bytes) for r in rows]
    assert got == [
        ("layers.0", "Linear", 36, B * 32, 2 * B * 32 + B * 4, 4 * (B * 8 + 32 + B * 4 + 4), 4 * 2 * B * 4),
        ("layers.1", "ReLU", 0, 0, B * 4, 4 * B * 4, 4 * B * 4),
        ("layers.2", "Linear", 10, B * 8, 2 * B * 8 + B * 2, 4 * (B * 4 + 8 + B * 2 + 2), 4 * 2 * B * 2),
    ], got


def test_unused_layers_keep_their_parameters_in_the_report():
    class Partial(Module):
        def __init__(self):
            super().__init__()
            self.used, self.unused = Linear(2, 2, rng=0), Linear(2, 5, rng=0)

        def forward(self, x):
            return self.used(x)

    rows = profile_layers(Partial(), np.ones((1, 2), np.float32), runs=1)
    assert [r.name for r in rows] == ["used", "(layers that ran no op)"]
    assert rows[1].params == 15


def test_profiler_report_is_text():
    model = Sequential(Linear(4, 4, rng=0), ReLU())
    text = Profiler(threads=1).report(model, np.ones((2, 4), np.float32), runs=1)
    assert text.splitlines()[0].startswith("layer") and "total" in text


def test_amdahl():
    assert amdahl_speedup(0.5, math.inf) == 2.0
    assert abs(amdahl_speedup(0.9, 10) - 1 / 0.19) < 1e-12
    assert amdahl_speedup(0.3, 1) == 1.0
    raises(ValueError, lambda: amdahl_speedup(-0.1, 2), "fraction")
    raises(ValueError, lambda: amdahl_speedup(0.5, -2), "factor")
    assert amdahl_speedup(1.0, math.inf) == math.inf, "nothing left to run: an infinite speed-up"
    assert amdahl_speedup(1.0, 4) == 4.0


def _reach(shares, names, factor):
    return amdahl_speedup(min(1.0, sum(shares[n] for n in names)), factor)


@given(st.lists(st.integers(1, 40), min_size=1, max_size=7), st.floats(1.01, 12.0),
       st.sampled_from([1.5, 3.0, 10.0, math.inf]))
def test_choose_layers_is_the_fewest_that_reach_the_target(weights, target, factor):
    total = sum(weights) * 1.25  # a fifth of the time is outside the listed layers
    shares = {f"layer{i}": w / total for i, w in enumerate(weights)}
    best = _reach(shares, shares, factor)
    if best < target - 1e-9:
        err = raises(ValueError, lambda: choose_layers(dict(shares), target, factor))
        numbers = [float(v) for v in re.findall(r"\d+\.\d+|\d+", str(err))]
        assert any(abs(v - best) < 0.01 for v in numbers), \
            f"the error should say the best speed-up {best:.3f}: {err}"
        return
    if best < target + 1e-9:
        return  # exactly on the boundary: float rounding decides, no test
    got = choose_layers(dict(shares), target, factor)
    assert len(set(got)) == len(got) and set(got) <= set(shares), got
    reached = _reach(shares, got, factor)
    assert reached >= target - 1e-9, f"{got} reaches {reached:.3f} < {target}"
    fewer = [c for c in combinations(shares, len(got) - 1) if _reach(shares, c, factor) >= target + 1e-9]
    assert not fewer, f"{got} ({len(got)} layers) but {list(fewer[0])} also reach {target}"


def test_choose_layers_corners():
    assert choose_layers({"a": 0.5}, 1.0) == [] and choose_layers({}, 0.9) == []
    assert choose_layers({"a": 0.25, "b": 0.5}, 2.0) == ["b"], "exactly 2x reaches a target of 2"
    assert choose_layers({"a": 0.1, "b": 0.9}, 5.0, 10.0) == ["b"], "1 / (0.1 + 0.09) = 5.26x"
    raises(ValueError, lambda: choose_layers({"a": 1.5}, 2.0), "shares")
    raises(ValueError, lambda: choose_layers({"a": 0.6, "b": 0.6}, 2.0), "shares")
    raises(ValueError, lambda: choose_layers({"a": 0.5}, 2.0, 0.0), "factor")
    raises(ValueError, lambda: choose_layers({}, 1.5), "1.0")
    shares = {"a": 0.2, "b": 0.5, "c": 0.1}
    assert sorted(choose_layers(shares, 2.5)) == ["a", "b"] and shares == {"a": 0.2, "b": 0.5, "c": 0.1}, \
        f"the shares given are left as they were: {shares}"


def test_rows_come_in_the_order_of_each_layers_first_op():
    model = GPT(11, 8, 2, 2, 6, rng=0)
    names = [r.name for r in profile_layers(model, np.zeros((1, 5), np.int64), runs=1)]
    assert names[:6] == ["token_embedding", "position_embedding", "blocks.0.ln1", "blocks.0.attn.q_proj",
                         "blocks.0.attn", "blocks.0.attn.k_proj"], names
    assert names[-2:] == ["ln_f", "head"], names


def test_tracing_something_that_is_not_a_model_is_a_clear_error():
    raises(TypeError, lambda: count_flops([1, 2], np.ones(3)), "forward", "list")
    raises(TypeError, lambda: OpTracer(42), "forward", "int")


def test_replay_keeps_the_output_and_removes_the_work():
    model = GPT(11, 16, 2, 2, 8, rng=0)
    ids = np.arange(8)[None] % 11
    tracer, out = trace(model, ids)
    fast = replace_layers(model, {"blocks.0.mlp": Replay(tracer.outputs["blocks.0.mlp"]),
                                  "blocks.1": Replay(tracer.outputs["blocks.1"])})
    assert isinstance(fast.blocks[1], Replay) and not isinstance(model.blocks[1], Replay), "a copy is changed"
    np.testing.assert_array_equal(fast(ids).data, out.data)
    assert count_flops(fast, ids) < count_flops(model, ids)
    ms = interleaved_latency(model, fast, ids, iterations=3, warmup=0)
    assert ms.shape == (3, 2) and np.all(ms > 0)
    raises(ValueError, lambda: replace_layers(model, {"blocks.0.nothing": Replay(None)}), "nothing")
