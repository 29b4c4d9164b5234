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
# # Module 14: Profiling — measure before you optimize
#
# Modules 01–13 built a framework and a GPT. The next modules make models smaller and faster:
# int8 weights (15), pruning (16), a KV cache (17). Each of those changes is worth exactly what
# it saves *on the model you run*, and the only way to know that is to measure. This module
# builds the measuring instruments: how many parameters, how many FLOPs, how many bytes, how
# many milliseconds — in total and layer by layer — and then uses them to predict, with
# Amdahl's law, what an optimization can buy before anyone writes it.
#
# ## Learning objectives
# - Count the parameters and the FLOPs of a forward pass exactly, op by op, with a stated
#   convention (a multiply-add is 2 FLOPs), and check the count against PyTorch's counter.
# - Watch a forward pass without changing a line of the model: Python's profiling hook.
# - Measure memory honestly: parameter bytes, activation bytes, and the peak seen by
#   `tracemalloc`, with and without autograd's graph.
# - Measure latency honestly: warm-up, many runs, median and p90, the BLAS thread count.
# - Tell a compute-bound op from a memory-bound one by its arithmetic intensity.
# - Apply Amdahl's law to a real profile and compare its prediction with a measurement.
#
# ## How to work
# Each piece you write is a stub that raises `NotImplementedError`: replace the `raise` with
# your code and run the test cell after it. `tito hint 14` lists the stubs, `tito hint 14 NAME`
# gives the next hint for one of them. `tito module complete 14` runs the pytest suite, which
# also compares your FLOP counts with `torch.utils.flop_counter.FlopCounterMode` when PyTorch is
# installed.

# %% nbgrader={"grade": false, "grade_id": "profiling-setup", "locked": false, "schema_version": 3, "solution": false, "task": false}
#| default_exp profiling
#| export
import copy
import math
import sys
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

from tinytorch.autograd import grad_mode, no_grad
from tinytorch.layers import Module
from tinytorch.tensor import Tensor

# %% [markdown]
# ## 1. Why profile first
#
# A forward pass of the GPT from module 13 runs a few hundred NumPy calls. Before making any of
# them faster, you need to know which ones matter. Intuition is a poor guide: the head `D × V`
# of a character model is tiny, attention's cost grows with `T²` while the MLP's grows with `T`,
# and a NumPy op that does almost no arithmetic (a transpose followed by a reshape that copies)
# can take as long as a matrix multiply that does a million multiply-adds. So a profiler answers
# four questions, each with a number you can check:
#
# | question | unit | instrument (this module) |
# |---|---|---|
# | how big is it? | parameters, bytes | `count_parameters` |
# | how much arithmetic? | FLOPs | `count_flops` (one traced forward) |
# | how much memory? | bytes: parameters, activations, peak | `measure_memory` (`tracemalloc`) |
# | how long? | ms: median, p90 | `measure_latency` (warm-up, many runs) |
#
# and then the same four per layer, in one table (`Profiler.report`). **Amdahl's law** (section 8)
# turns that table into a prediction: if a layer takes a fraction `p` of the time and you make
# it `k` times faster, the whole model gets `1 / ((1 − p) + p/k)` times faster — never more than
# `1 / (1 − p)`, however clever the trick.
#
# ## 2. Counting parameters
#
# The parameters are the tensors an optimizer updates: `model.parameters()` lists each one once,
# even when two layers share (tie) a tensor. Their count is the sum of their sizes; their memory
# is 4 bytes each in float32 (`nbytes`). Write `count_parameters`. Each instrument is a function;
# section 9 gathers them into a `Profiler` object.

# %% nbgrader={"grade": false, "grade_id": "count-parameters", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
def count_parameters(model) -> int:
    """The number of parameters of `model` (each shared tensor once)."""
    if not isinstance(model, Module):
        raise TypeError(f"count_parameters needs a Module, got {type(model).__name__}")
    ### BEGIN SOLUTION
    return int(sum(p.size for p in model.parameters()))
    ### END SOLUTION


# %% [markdown]
# ### Unit test: parameters

# %% nbgrader={"grade": true, "grade_id": "test-count-parameters", "locked": true, "points": 5, "schema_version": 3, "solution": false, "task": false}
def test_unit_count_parameters():
    from tinytorch.layers import Linear, Sequential
    from tinytorch.testing import raises
    model = Sequential(Linear(5, 7, rng=0), Linear(7, 3, bias=False, rng=0))
    got = count_parameters(model)
    assert got == 5 * 7 + 7 + 7 * 3, \
        (f"Linear(5, 7) + Linear(7, 3, bias=False): got {got}, expected 63 = 5·7 weights + 7 biases + 7·3 weights"
         + (" (4 times that is the bytes: count the numbers, not their bytes)" if got == 4 * 63 else ""))
    tied = Sequential(model.layers[0], model.layers[0])  # the same layer twice: its tensors count once
    assert count_parameters(tied) == 42, f"a shared layer counts once: got {count_parameters(tied)}"
    raises(TypeError, lambda: count_parameters([1, 2]), "Module")
    print("count_parameters: OK")


if __name__ == "__main__":
    test_unit_count_parameters()

# %% [markdown]
# ## 3. Counting FLOPs: one rule per op
#
# A FLOP is one floating-point addition, multiplication, comparison or elementary function
# (`exp`, `tanh`, `sqrt`), counted as the formula is written. The convention that matters most:
# **a multiply-add counts 2**. A dot product of length `K` is `K` multiply-adds (MACs), so
# `2K` FLOPs, and a matrix multiply `(m, K) @ (K, n)` is `m·n` dot products: `2·m·n·K` FLOPs.
# (Some papers count MACs and call them FLOPs; the factor 2 is the usual source of 2×
# disagreements between papers.) Every op of the framework goes through `Tensor._op(name,
# data, *inputs, **ctx)`, so a FLOP count is a sum over the ops of one forward pass, each
# costed by a rule that sees only the op's name, the shapes of its inputs and of its output:
#
# | op | MACs | FLOPs |
# |---|---|---|
# | `matmul` (NumPy semantics: batched, 1-D allowed) | one per term of each output element's dot product | 2 per MAC |
# | `conv2d` weight `(O, C, kh, kw)` | each output element is one filter against one window | 2 per MAC, + 1 per output element with a bias |
# | `layer_norm` over `R` rows of `D` | 0 | `R · (7D + 3)` |
# | `add` `sub` `mul` `div` `neg` `exp` `log` `sqrt` `pow` `tanh` `relu` `masked_fill` | 0 | `out.size` |
# | `sigmoid` (4 per element), `gelu` (9), `softmax` (5) | 0 | per element |
# | `sum` `max` (`n` values into `m` results) / `mean` | 0 | `n − m` / `n` |
# | `embedding` `reshape` `transpose` `getitem` | 0 | 0: they move data, they compute nothing |
#
# Where do LayerNorm's `7D + 3` come from? Per row of `D`: the mean is `D − 1` additions and one
# multiply by `1/D` (`D`); centring is `D` subtractions; the variance is `D` squares, `D − 1`
# additions and a multiply (`2D`); then `+ eps`, `sqrt` and `1/·` (3); and `D` each for
# `· inv_std`, `· weight` and `+ bias`. That is `D + D + 2D + 3 + 3D = 7D + 3`. Attention
# needs no rule of its own: it is two `matmul`s (`QKᵀ` and the weighted sum of `V`, each
# `2·B·H·T_q·T_k·d`), a scale, a `masked_fill` and a `softmax` — a causal mask does not save a
# FLOP, since the masked scores are computed and then overwritten.
#
# The rules live in a registry, `FLOP_RULES`, filled with `@register_flops(name)` — the same
# pattern as autograd's `@register_backward`, so a later module that adds an op (an int8 matmul
# in module 15) adds its FLOP rule beside it. An op with no rule is never counted as zero in
# silence: `count_flops` names it. Each rule returns `(macs, flops)`. You write the three rules
# that carry almost all the arithmetic: `matmul`, `conv2d` and `layer_norm`.

# %% nbgrader={"grade": false, "grade_id": "flop-rules", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
# A FLOP rule: rule(input_shapes, output_shape, ctx) -> (macs, flops), flops counting a MAC as 2.
FLOP_RULES: dict[str, Callable] = {}


def register_flops(*names: str) -> Callable:
    """Decorator: register the FLOP rule for the ops called `names`."""
    def decorate(rule: Callable) -> Callable:
        for name in names:
            FLOP_RULES[name] = rule
        return rule
    return decorate


def _size(shape) -> int:
    return math.prod(shape)


@register_flops("matmul")
def matmul_flops(input_shapes, output_shape, ctx) -> tuple[int, int]:
    """`(a, b)` with NumPy matmul semantics: batched (any leading dims), and 1-D allowed."""
    a_shape = input_shapes[0]
    ### BEGIN SOLUTION
    macs = a_shape[-1] * _size(output_shape)
    return macs, 2 * macs
    ### END SOLUTION


@register_flops("conv2d")
def conv2d_flops(input_shapes, output_shape, ctx) -> tuple[int, int]:
    """`(x, weight[, bias])`, weight (O, C, kh, kw), output (N, O, OH, OW)."""
    weight_shape = input_shapes[1]
    has_bias = len(input_shapes) == 3
    ### BEGIN SOLUTION
    macs = _size(weight_shape[1:]) * _size(output_shape)
    return macs, 2 * macs + (_size(output_shape) if has_bias else 0)
    ### END SOLUTION


@register_flops("layer_norm")
def layer_norm_flops(input_shapes, output_shape, ctx) -> tuple[int, int]:
    """`(x, weight, bias)`, normalized over x's last axis of size D: R·(7D + 3) FLOPs."""
    x_shape = input_shapes[0]
    ### BEGIN SOLUTION
    dim = x_shape[-1]
    rows = _size(x_shape) // dim
    return 0, rows * (7 * dim + 3)
    ### END SOLUTION


# %% nbgrader={"grade": false, "grade_id": "flop-rules-given", "locked": false, "schema_version": 3, "solution": false, "task": false}
#| export
def _per_element(flops_each: int) -> Callable:
    def rule(input_shapes, output_shape, ctx) -> tuple[int, int]:
        return 0, flops_each * _size(output_shape)
    return rule


register_flops("add", "sub", "mul", "div", "neg", "exp", "log", "sqrt", "pow", "tanh", "relu",
               "masked_fill")(_per_element(1))
register_flops("sigmoid")(_per_element(4))  # neg, exp, add, divide
register_flops("gelu")(_per_element(9))  # 0.5·x·(1 + tanh(c·(x + 0.044715·x³)))
register_flops("softmax")(_per_element(5))  # max, subtract, exp, sum, divide
register_flops("embedding", "reshape", "transpose", "getitem")(_per_element(0))


@register_flops("sum", "max")
def _reduce_flops(input_shapes, output_shape, ctx) -> tuple[int, int]:
    return 0, _size(input_shapes[0]) - _size(output_shape)


@register_flops("mean")
def _mean_flops(input_shapes, output_shape, ctx) -> tuple[int, int]:
    return 0, _size(input_shapes[0])


@register_flops("max_pool2d")
def _max_pool_flops(input_shapes, output_shape, ctx) -> tuple[int, int]:
    return 0, _size(output_shape) * (_size(ctx["kernel"]) - 1)  # window − 1 compares per output


@register_flops("avg_pool2d")
def _avg_pool_flops(input_shapes, output_shape, ctx) -> tuple[int, int]:
    return 0, _size(output_shape) * _size(ctx["kernel"])  # window − 1 adds and a divide per output


@register_flops("batch_norm2d")
def _batch_norm_flops(input_shapes, output_shape, ctx) -> tuple[int, int]:
    n = _size(output_shape)  # (x − mean)·inv_std·weight + bias; batch statistics add 3 per element
    return 0, 4 * n + (3 * n if ctx.get("batch_stats") else 0)


@register_flops("cross_entropy")
def _cross_entropy_flops(input_shapes, output_shape, ctx) -> tuple[int, int]:
    logits = input_shapes[0]  # softmax (5 per logit), then a log and a sum per row, a divide
    rows = _size(logits[:-1])
    return 0, 5 * _size(logits) + 2 * rows + 1


@register_flops("binary_cross_entropy")
def _binary_cross_entropy_flops(input_shapes, output_shape, ctx) -> tuple[int, int]:
    n = _size(input_shapes[0])  # clamp (2), two logs, 1 − p, 1 − t, two products, a sum; the mean
    return 0, 9 * n + n + 1


# %% [markdown]
# ### Unit test: the FLOP rules, worked by hand

# %% nbgrader={"grade": true, "grade_id": "test-flop-rules", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false}
def test_unit_flop_rules():
    cases = [
        (matmul_flops, [(4, 3), (3, 5)], (4, 5), (60, 120), "(4, 3) @ (3, 5)"),
        (matmul_flops, [(2, 6, 4, 8), (2, 6, 8, 7)], (2, 6, 4, 7), (2 * 6 * 4 * 7 * 8, 2 * 2 * 6 * 4 * 7 * 8), "batched"),
        (matmul_flops, [(9,), (9,)], (), (9, 18), "a dot product of length 9"),
        (matmul_flops, [(2, 5, 16), (16, 3)], (2, 5, 3), (480, 960), "(2, 5, 16) @ (16, 3)"),
        (conv2d_flops, [(2, 3, 8, 8), (4, 3, 3, 3)], (2, 4, 6, 6), (27 * 288, 2 * 27 * 288), "conv, no bias"),
        (conv2d_flops, [(2, 3, 8, 8), (4, 3, 3, 3), (4,)], (2, 4, 6, 6), (27 * 288, 2 * 27 * 288 + 288), "conv + bias"),
        (conv2d_flops, [(1, 2, 5, 5), (3, 2, 1, 2), (3,)], (1, 3, 5, 4), (4 * 60, 8 * 60 + 60), "1x2 kernel"),
        (layer_norm_flops, [(2, 5, 8), (8,), (8,)], (2, 5, 8), (0, 10 * (7 * 8 + 3)), "LayerNorm(8) on (2, 5, 8)"),
        (layer_norm_flops, [(3, 4), (4,), (4,)], (3, 4), (0, 3 * 31), "LayerNorm(4) on (3, 4)"),
    ]
    for rule, inputs, output, expected, what in cases:
        got = tuple(int(v) for v in rule(inputs, output, {}))
        why = {matmul_flops: "one MAC per term of each output element's dot product (K = a's last axis), "
                             "for every output element, batch axes included; a MAC is 2 FLOPs",
               conv2d_flops: "one MAC per weight of a filter (C·kh·kw, not the output channels) for every "
                             "output element; 2 FLOPs per MAC, plus one per output element for a bias",
               layer_norm_flops: "7D + 3 for each of the R rows; R counts every axis but the last"}[rule]
        assert got == expected, f"{rule.__name__} for {what}: got (macs, flops) = {got}, expected {expected}: {why}"
    assert FLOP_RULES["matmul"] is matmul_flops and FLOP_RULES["layer_norm"] is layer_norm_flops, \
        "the rules must be registered under their op names"
    print("FLOP rules: OK")


if __name__ == "__main__":
    test_unit_flop_rules()

# %% [markdown]
# ## 4. Watching a forward pass without touching the model
#
# To count, we must see every op of one forward pass, with its shapes, and know which layer
# ran it. Three designs were possible:
#
# 1. **Walk autograd's graph** of the output (like `ops_in_graph`). It needs `requires_grad`
#    everywhere, misses every op on constants (anything before the first parameter), and knows
#    nothing about layers.
# 2. **Add an observer hook to `Tensor._op`** (module 01). Clean, but it changes an earlier
#    module for a tool, and it still does not know which layer is running.
# 3. **Use Python's own profiling hook**, `sys.setprofile(fn)`: the interpreter calls `fn(frame,
#    event, arg)` at every function call and return. That is how `cProfile` works. With it we
#    see `Tensor._op` return (`frame.f_locals` holds `name`, `inputs` and `ctx`; `arg` is the
#    output Tensor) and every layer's `forward` start and end (`frame.f_locals["self"]` is the
#    layer). No model, layer or Tensor changes, no monkeypatching, and it works under `no_grad`.
#
# We use the third. `OpTracer(model)` is a context manager: inside it, every op becomes an
# `OpRecord` (op name, the innermost running layer, shapes, MACs, FLOPs, bytes), and every layer
# gets its inclusive and self time and its last output. The hook costs a Python call per function
# call in the forward pass, so traced times run slower than untraced ones: we use traced times
# only as *shares* of the total, and measure totals without the hook (section 6).
# `named_layers` names every layer the way `named_parameters` names tensors, and also finds the
# activations, which are callables with a `forward` but not Modules.

# %% nbgrader={"grade": false, "grade_id": "tracer", "locked": false, "schema_version": 3, "solution": false, "task": false}
#| export
_OP_CODE = Tensor._op.__code__  # the code object of the one op path


@dataclass
class OpRecord:
    """One op of a traced forward pass."""
    op: str
    layer: str  # the innermost layer running when the op ran ("" for the model itself)
    input_shapes: tuple
    output_shape: tuple
    macs: int | None  # None: no FLOP rule registered for this op
    flops: int | None
    input_bytes: int  # bytes of the input tensors
    output_bytes: int  # bytes the op allocated for its output (0 when it is a view of an input)


def _items(value, name: str):
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from _items(item, f"{name}.{i}")
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _items(item, f"{name}.{key}")
    else:
        yield name, value


def _is_layer(value) -> bool:
    return not isinstance(value, type) and callable(getattr(value, "forward", None))


def named_layers(model) -> list[tuple[str, object]]:
    """[(name, layer)]: the model ("") and every layer under it, each once, depth first."""
    found, seen = [], set()

    def visit(prefix: str, layer) -> None:
        if id(layer) in seen:
            return
        seen.add(id(layer))
        found.append((prefix, layer))
        for attr, value in vars(layer).items():
            for name, item in _items(value, attr):
                if _is_layer(item):
                    visit(f"{prefix}.{name}" if prefix else name, item)

    visit("", model)
    return found


class OpTracer:
    """`with OpTracer(model) as t: model(x)` records every op (t.records) and every layer's
    inclusive and self seconds (t.inclusive, t.self_time) and last output (t.outputs)."""

    def __init__(self, model):
        if not _is_layer(model):
            raise TypeError(f"OpTracer needs a model (a Module or an object with a forward method), "
                            f"got {type(model).__name__}")
        self.names = {id(layer): name for name, layer in named_layers(model)}
        self.records: list[OpRecord] = []
        self.inclusive: dict[str, float] = {}
        self.self_time: dict[str, float] = {}
        self.outputs: dict[str, object] = {}
        self._stack: list[list] = []  # [frame, name, start, seconds spent in child layers]

    def __enter__(self) -> "OpTracer":
        self._previous = sys.getprofile()
        sys.setprofile(self._event)
        return self

    def __exit__(self, *exc) -> None:
        sys.setprofile(self._previous)

    def _event(self, frame, event: str, arg) -> None:
        if event == "call" and frame.f_code.co_name == "forward":
            name = self.names.get(id(frame.f_locals.get("self")))
            if name is not None and not (self._stack and self._stack[-1][1] == name):  # super().forward
                self._stack.append([frame, name, time.perf_counter(), 0.0])
        elif event == "return":
            if frame.f_code is _OP_CODE:
                self._record(frame.f_locals, arg)
            elif self._stack and self._stack[-1][0] is frame:
                _, name, start, children = self._stack.pop()
                seconds = time.perf_counter() - start
                self.inclusive[name] = self.inclusive.get(name, 0.0) + seconds
                self.self_time[name] = self.self_time.get(name, 0.0) + seconds - children
                self.outputs[name] = arg
                if self._stack:
                    self._stack[-1][3] += seconds

    def _record(self, local: dict, out) -> None:
        if not isinstance(out, Tensor):  # the op raised
            return
        name, inputs = local["name"], [t for t in local["inputs"] if isinstance(t, Tensor)]
        shapes = tuple(t.shape for t in inputs)
        rule = FLOP_RULES.get(name)
        macs, flops = (None, None) if rule is None else (
            int(v) for v in rule(shapes, out.shape, local["ctx"]))
        layer = self._stack[-1][1] if self._stack else ""
        # A view of an input (reshape, transpose, a slice) allocates nothing: 0 new bytes.
        fresh = not any(np.may_share_memory(out.data, t.data) for t in inputs)
        self.records.append(OpRecord(name, layer, shapes, out.shape, macs, flops,
                                     sum(t.data.nbytes for t in inputs), out.data.nbytes if fresh else 0))


def trace(model, x) -> tuple[OpTracer, object]:
    """Run `model(x)` once under no_grad inside an OpTracer; returns (tracer, output)."""
    with no_grad(), OpTracer(model) as tracer:
        out = model(x)
    return tracer, out


# %% [markdown]
# Here is what the tracer sees for a small MLP on a batch of 4 digits (8×8 pixels):

# %% nbgrader={"grade": false, "grade_id": "tracer-demo", "locked": false, "schema_version": 3, "solution": false, "task": false}
if __name__ == "__main__":
    from tinytorch.activations import ReLU
    from tinytorch.layers import Linear, Sequential
    mlp = Sequential(Linear(64, 32, rng=0), ReLU(), Linear(32, 10, rng=0))
    tracer, _ = trace(mlp, np.zeros((4, 64), np.float32))
    for r in tracer.records:
        print(f"{r.layer:10s} {r.op:8s} {str(r.input_shapes):22s} -> {str(r.output_shape):8s} "
              f"MACs {r.macs:6,d}  FLOPs {r.flops:6,d}")

# %% [markdown]
# ## 5. `count_flops` and `total_flops`
#
# Now the count itself: trace one forward pass and add up the FLOPs of its records. The count
# does not depend on the data, only on shapes, so one forward pass is enough; it runs under
# `no_grad`, so no graph is built. `count_flops(model, x)` does the tracing (given) and hands
# the records to `total_flops(records)`, which you write; the per-layer report of section 9
# calls `total_flops` too, for the same guarantee. Its contract:
#
# - It returns the total FLOPs of the records as a Python `int` (a FLOP count is a whole
#   number: not a float, not a NumPy integer); no records cost 0.
# - It never counts an op it cannot cost as 0 in silence. If any record's op has no FLOP rule,
#   it raises a `ValueError` before returning anything. One run should show everything that is
#   missing, so the message names **every** op that has no rule (an op that ran many times is
#   named once), the layer each one ran in (for an op that ran in several, the first), and the
#   fix: `@register_flops`.
#
# Which records those are is yours to find out: section 4 shows what the tracer stores for an
# op whose name `FLOP_RULES` does not know.

# %% nbgrader={"grade": false, "grade_id": "count-flops", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
def total_flops(records: list[OpRecord]) -> int:
    """The FLOPs of traced records, an int; a ValueError names every op that has no FLOP rule."""
    ### BEGIN SOLUTION
    missing: dict[str, str] = {}  # op -> the layer it first ran in
    for r in records:
        if r.flops is None:
            missing.setdefault(r.op, r.layer or "<model>")
    if missing:
        named = ", ".join(f"{op!r} (in layer {missing[op]!r})" for op in missing)
        raise ValueError(f"count_flops: no FLOP rule for {named}; register each with "
                         "@register_flops(name) in tinytorch.profiling's FLOP_RULES")
    return int(sum(r.flops for r in records))
    ### END SOLUTION


def count_flops(model, x) -> int:
    """FLOPs of one forward pass `model(x)` (a multiply-add counts 2)."""
    tracer, _ = trace(model, x)
    return total_flops(tracer.records)


# %% [markdown]
# ### Unit test: `total_flops` on records, then an MLP, attention and a LayerNorm against hand counts

# %% nbgrader={"grade": true, "grade_id": "test-count-flops", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false}
def test_unit_count_flops():
    from tinytorch.activations import ReLU
    from tinytorch.attention import MultiHeadAttention, causal_mask
    from tinytorch.layers import Linear, Sequential
    from tinytorch.testing import raises
    from tinytorch.transformers import LayerNorm

    def rec(op, layer, flops):  # a record as the tracer makes it (flops None: no rule for op)
        return OpRecord(op, layer, ((2, 3),), (2, 3), None if flops is None else 0, flops, 24, 24)

    # total_flops on records: every record counted, an int, nothing counted as 0 in silence
    records = [rec("matmul", "layers.0", 120), rec("add", "layers.0", 10), rec("relu", "layers.1", 10),
               rec("matmul", "layers.2", 60)]
    got = total_flops(records)
    assert got == 200, \
        (f"total_flops of records with FLOPs [120, 10, 10, 60]: got {got}, expected 200, the sum over every record"
         + (" (you counted only the first record)" if got == 120 else "")
         + (" (you left out the first record)" if got == 80 else "")
         + (" (you left out the last record)" if got == 140 else ""))
    assert type(got) is int, \
        f"total_flops returns a Python int (a FLOP count is a whole number), got {type(got).__name__} {got!r}"
    assert total_flops([]) == 0, f"no records cost 0 FLOPs, got {total_flops([])!r}"
    uncounted = [rec("matmul", "layers.0", 120), rec("frobnicate", "layers.1", None), rec("relu", "layers.1", 10),
                 rec("twiddle", "", None), rec("frobnicate", "layers.3", None)]
    try:
        err = raises(ValueError, lambda: total_flops(uncounted), "frobnicate", "register_flops")
    except AssertionError as failure:
        cause = failure.__cause__
        why = ("they were counted as 0 in silence" if cause is None else
               "the sum reached them before any check did: find them before you add anything up"
               if isinstance(cause, TypeError) and "NoneType" in str(cause) else "")
        raise AssertionError(f"records 1, 3 and 4 are ops with no FLOP rule ('frobnicate', 'twiddle'): total_flops "
                             f"must raise a ValueError naming them{f'; {why}' if why else ''}. {failure}") from None
    message = str(err)
    assert "twiddle" in message, \
        (f"the ValueError names only part of what is missing: 'twiddle' (record 3) has no FLOP rule either. Name "
         f"every op without a rule, so one run shows all the rules to write. Got: {message}")
    assert "layers.1" in message, \
        f"the ValueError names the layer where 'frobnicate' first ran ('layers.1'): got {message}"
    B = 6
    mlp = Sequential(Linear(64, 32, rng=0), ReLU(), Linear(32, 10, rng=0))
    expected = (2 * B * 64 * 32 + B * 32) + B * 32 + (2 * B * 32 * 10 + B * 10)  # matmul + bias, relu, ...
    got = count_flops(mlp, np.ones((B, 64), np.float32))
    macs = B * 64 * 32 + B * 32 * 10
    assert got == expected, \
        (f"MLP 64-32-10 on a batch of {B}: got {got:,} FLOPs, expected {expected:,} = 2·{B}·64·32 (matmul) + {B}·32 "
         f"(bias) + {B}·32 (ReLU) + 2·{B}·32·10 + {B}·10: the sum of every traced op's FLOPs"
         + (f" (the records' MACs sum to {macs:,}; a FLOP count counts a MAC as 2)" if got < expected else ""))
    ln = LayerNorm(16)
    got = count_flops(ln, np.ones((3, 5, 16), np.float32))
    assert got == 15 * (7 * 16 + 3), f"LayerNorm(16) on (3, 5, 16): got {got}, expected {15 * 115}"
    D, H, T = 8, 2, 5
    attn = MultiHeadAttention(D, H, rng=0)
    x = np.ones((2, T, D), np.float32)
    proj = 4 * (2 * 2 * T * D * D + 2 * T * D)  # four Linear(D, D), each matmul + bias
    core = 2 * (2 * 2 * H * T * T * (D // H))  # QKᵀ and weights @ V
    fill, soft = 2 * H * T * T, 5 * 2 * H * T * T
    scales = {2 * T * D: "q", 2 * H * T * T: "the scores"}  # module 12 lets you scale either
    got = count_flops(attn, x)
    assert got - (proj + core + soft) in scales, \
        f"attention without a mask: got {got:,}, expected {', or '.join(f'{proj + core + soft + k:,} (scaling {v})' for k, v in scales.items())}"
    got = count_flops(_Wrap(attn, causal_mask(T)), x)
    assert got - (proj + core + fill + soft) in scales, \
        f"causal attention: got {got:,}, expected {', or '.join(f'{proj + core + fill + soft + k:,} (scaling {v})' for k, v in scales.items())}"
    from tinytorch.tensor import Tensor as T_
    unknown = _Wrap(None, None, op=lambda z: T_._op("frobnicate", z.data * 2, z))
    raises(ValueError, lambda: count_flops(unknown, T_(np.ones(3))), "frobnicate", "register_flops")
    print("count_flops: OK")


class _Wrap:
    """A test helper: a layer whose forward calls `attn(x, mask)` or `op(x)`."""
    def __init__(self, attn, mask, op=None):
        self.attn, self.mask, self.op = attn, mask, op

    def forward(self, x):
        return self.op(x) if self.op else self.attn(x, mask=self.mask)

    def __call__(self, x):
        return self.forward(x)


if __name__ == "__main__":
    test_unit_count_flops()

# %% [markdown]
# ### FLOPs of the GPT, by op
#
# A GPT as in milestone M05, but small: its 76 characters, `D = 64`, 2 blocks, 4 heads,
# a batch of 4 sequences of 32 tokens. Module 13 estimated a forward pass at `2N` FLOPs per token
# (`N` matmul weights) plus attention's `4·T·D` per block; the exact count adds the biases,
# LayerNorms, GELUs, softmaxes and residual additions.

# %% nbgrader={"grade": false, "grade_id": "gpt-flops-demo", "locked": false, "schema_version": 3, "solution": false, "task": false}
if __name__ == "__main__":
    from tinytorch.transformers import GPT
    gpt = GPT(76, 64, 2, 4, 32, rng=0)
    ids = np.random.default_rng(0).integers(0, 76, size=(4, 32))
    tracer, _ = trace(gpt, ids)
    by_op: dict[str, int] = {}
    for r in tracer.records:
        by_op[r.op] = by_op.get(r.op, 0) + r.flops
    total = sum(by_op.values())
    for op, f in sorted(by_op.items(), key=lambda kv: -kv[1]):
        if f:
            print(f"{op:12s} {f:12,d}  {100 * f / total:5.1f}%")
    weights = sum(p.size for n, p in gpt.named_parameters() if p.ndim == 2 and "embedding" not in n)
    tokens = 4 * 32
    estimate = tokens * (2 * weights + 2 * 4 * 32 * 64)  # 2N per token + 4·T·D per token and block
    print(f"total {total:,} FLOPs = {total / tokens:,.0f} per token; module 13's estimate "
          f"{estimate / tokens:,.0f} per token (matmuls only: {2 * sum(r.macs for r in tracer.records) / tokens:,.0f})")

# %% [markdown]
# The matmuls carry most of the arithmetic, and the matmul-only count agrees with module 13's
# estimate (attention's `T` there is the full context, so it counts `QKᵀ` over all `T` keys, as
# the code computes them). PyTorch's `FlopCounterMode` follows the same convention (`2·m·n·K` per
# matmul, convolution as `2·MACs`) but counts *only* matrix multiplies, convolutions and fused
# attention kernels: bias additions, LayerNorm, softmax, GELU and residual additions are 0 to it,
# and in the PyTorch installed here its CPU `scaled_dot_product_attention` kernel is not counted
# either. The pytest suite checks that our `2 · Σ MACs` equals its total for Linear, Conv2d,
# attention written with matmuls and a whole GPT, exactly.
#
# ## 6. Memory: parameters, activations, peak
#
# Three numbers, three meanings:
#
# - **parameter bytes**: `Σ p.nbytes`, what the model costs to store and load;
# - **activation bytes**: `Σ` of every op's output bytes in one forward pass. With autograd on,
#   every one of them stays alive until `backward` (the graph holds them), so this is what
#   training must keep per batch;
# - **peak bytes**: the most memory the forward pass ever held on top of what existed before it,
#   measured by `tracemalloc` (Python's allocation tracer; NumPy reports its array buffers to it).
#   With autograd on, the peak also includes what ops keep for backward beyond their outputs
#   (LayerNorm's `x_hat`, a convolution's im2col matrix). Under `no_grad`, each intermediate is
#   freed as soon as the next op has used it, so the peak is a few activations, not all of them.
#
# `measure_memory(model, x, grad)` returns all three and `retained_bytes`, what is still allocated
# after the forward pass while its output is held. The parameter and activation bytes are computed
# for you; the peak and retained bytes are yours, and the contract is strict:
#
# - both count only what *this* forward pass allocated: memory that existed before it (another
#   array, an earlier peak) is not part of either;
# - someone else (pytest, a notebook) may already be tracing allocations: leave their tracing
#   running, and if you started tracing, stop it again, even when the model raises;
# - `grad=True` must build the graph even when the caller is inside `no_grad()` (a report that says
#   `grad=True` about a pass that kept no graph would be silently wrong), and `grad=False` must not.
#
# `tracemalloc`'s documentation lists what it can tell you; `tito hint 14 measure_memory` gives the
# steps if you want them.

# %% nbgrader={"grade": false, "grade_id": "measure-memory", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
@dataclass
class MemoryReport:
    parameter_bytes: int
    activation_bytes: int  # Σ op outputs of one forward pass
    peak_bytes: int  # tracemalloc peak during the forward pass, above the memory before it
    retained_bytes: int  # still allocated after the forward pass, while the output is held
    grad: bool  # measured with autograd on?


def measure_memory(model, x, grad: bool = True) -> MemoryReport:
    """Parameter, activation, peak and retained bytes of one forward pass `model(x)`."""
    if not isinstance(model, Module):
        raise TypeError(f"measure_memory needs a Module, got {type(model).__name__}")
    tracer, _ = trace(model, x)
    activation_bytes = sum(r.output_bytes for r in tracer.records)
    parameter_bytes = sum(p.data.nbytes for p in model.parameters())
    del tracer
    was_tracing = tracemalloc.is_tracing()
    ### BEGIN SOLUTION
    if not was_tracing:
        tracemalloc.start()
    try:
        tracemalloc.reset_peak()  # forget every earlier peak
        before, _ = tracemalloc.get_traced_memory()
        with grad_mode(grad):  # also inside a caller's no_grad(): grad=True means a graph
            out = model(x)
        after, peak = tracemalloc.get_traced_memory()
    finally:
        if not was_tracing:
            tracemalloc.stop()
    del out
    return MemoryReport(parameter_bytes, activation_bytes, peak - before, after - before, grad)
    ### END SOLUTION



# %% [markdown]
# ### Unit test: memory of a three-layer MLP, with and without the graph

# %% nbgrader={"grade": true, "grade_id": "test-measure-memory", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false}
def test_unit_measure_memory():
    from tinytorch.activations import ReLU
    from tinytorch.layers import Linear, Sequential
    from tinytorch.tensor import Config
    from tinytorch.testing import raises
    B, W = 256, 128
    model = Sequential(Linear(W, W, rng=0), ReLU(), Linear(W, W, rng=0), ReLU(), Linear(W, 10, rng=0))
    x = np.ones((B, W), np.float32)
    act = B * W * 4  # bytes of one (B, W) activation
    with_graph = measure_memory(model, x)
    assert with_graph.parameter_bytes == 4 * (2 * (W * W + W) + W * 10 + 10), \
        f"parameter bytes: got {with_graph.parameter_bytes}"
    expected = 6 * act + 2 * B * 10 * 4  # 2 matmuls + 2 adds + 2 relus of (B, W), then (B, 10) twice
    assert with_graph.activation_bytes == expected, f"activation bytes: got {with_graph.activation_bytes}, expected {expected}"
    assert with_graph.grad is True
    assert with_graph.retained_bytes >= 6 * act, \
        (f"with autograd on, the graph keeps all six (B, W) activations alive: retained {with_graph.retained_bytes} < "
         f"{6 * act}. retained_bytes is what is still allocated after the pass while its output is held")
    assert with_graph.peak_bytes >= with_graph.retained_bytes, "the peak is at least what is retained"
    assert with_graph.peak_bytes < 10 * act, f"peak {with_graph.peak_bytes} is far above the activations ({6 * act})"
    no_graph = measure_memory(model, x, grad=False)
    assert no_graph.grad is False and no_graph.activation_bytes == expected
    assert B * 10 * 4 <= no_graph.retained_bytes < act, \
        (f"measure_memory(model, x, grad=False) runs the pass without a graph, so only the (B, 10) output "
         f"({B * 10 * 4} bytes) stays: retained {no_graph.retained_bytes} bytes, "
         f"{no_graph.retained_bytes / act:.1f} (B, W) activations. grad=False must hold whatever the caller's grad mode")
    assert 2 * act <= no_graph.peak_bytes < 4 * act, \
        f"under no_grad at most two or three (B, W) arrays coexist: peak {no_graph.peak_bytes} vs one of {act}"
    assert not tracemalloc.is_tracing(), "measure_memory must stop tracemalloc if it started it"
    with no_grad():  # the caller is in inference mode, but asks for the training picture
        forced = measure_memory(model, x, grad=True)
    assert forced.retained_bytes >= 6 * act, \
        f"grad=True inside a caller's no_grad() must still build the graph: retained {forced.retained_bytes}"

    class FailsWithGrad(Module):  # the traced pass (no_grad) works, the measured pass raises
        def forward(self, z):
            if Config.grad_enabled:
                raise RuntimeError("boom")
            return Tensor(z)
    raises(RuntimeError, lambda: measure_memory(FailsWithGrad(), x), "boom")
    assert not tracemalloc.is_tracing(), "measure_memory must stop the tracing it started even when the model raises"
    tracemalloc.start()  # someone else is tracing; before the forward pass, 8 MB stay and a 16 MB peak passes
    try:
        ballast = np.ones(2_000_000, np.float32)  # 8 MB, alive during the pass
        spike = np.ones(4_000_000, np.float32)  # 16 MB, freed before the pass: an earlier peak
        del spike
        again = measure_memory(model, x, grad=False)
        assert tracemalloc.is_tracing(), "measure_memory must not stop tracing that it did not start"
        mb = 2**20
        assert again.retained_bytes < act, \
            (f"retained_bytes = {again.retained_bytes / mb:.2f} MB: the 8 MB array allocated before the forward pass "
             "(still alive) is not part of it; count from the memory in use when the pass starts")
        assert again.peak_bytes < 4 * act, \
            (f"peak_bytes = {again.peak_bytes / mb:.2f} MB for a pass whose own peak is under {4 * act / mb:.2f} MB: "
             "before it, 8 MB were in use and a 16 MB peak had come and gone in the same tracing; neither belongs "
             "to this pass's peak")
        del ballast
    finally:
        tracemalloc.stop()
    print("measure_memory: OK")


if __name__ == "__main__":
    test_unit_measure_memory()

# %% [markdown]
# ## 7. Latency: warm-up, many runs, median and p90
#
# One timing of one forward pass tells you little. The first call is slow (caches are cold,
# NumPy and BLAS allocate their buffers), and on a machine shared with other programs any one
# run can be slowed by something else. So: run `warmup` times without looking, then time
# `iterations` runs one by one with `time.perf_counter`, and report their **median** (robust to
# the odd slow run), their **p90** (what a user waits for in the bad 10% of cases) and their
# **spread**, the interquartile range relative to the median (a 20% spread means two runs of the
# same code often differ by 20%: do not trust a 5% "speed-up" measured on it). Record the number
# of BLAS threads, since a matmul on 2 threads and on 1 are different experiments; `threads`
# pins it with `threadpoolctl`. The forward passes run under `no_grad`, as in inference.

# %% nbgrader={"grade": false, "grade_id": "measure-latency", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
@dataclass
class LatencyReport:
    times_ms: np.ndarray  # one entry per timed run
    median_ms: float
    p90_ms: float
    spread: float  # interquartile range / median
    blas_threads: int | None  # threads NumPy's BLAS used (None: no BLAS library found)

    def __str__(self) -> str:
        return (f"median {self.median_ms:.3f} ms, p90 {self.p90_ms:.3f} ms, spread {100 * self.spread:.0f}% "
                f"({len(self.times_ms)} runs, {self.blas_threads} BLAS threads)")


def blas_threads() -> int | None:
    """The thread count of NumPy's BLAS library right now (given)."""
    counts = [info["num_threads"] for info in threadpool_info() if info.get("user_api") == "blas"]
    return max(counts) if counts else None


def measure_latency(model, x, warmup: int = 3, iterations: int = 20, threads: int | None = None) -> LatencyReport:
    """Time `model(x)` under no_grad: `warmup` untimed runs, then `iterations` timed ones."""
    for name, value, low in (("warmup", warmup, 0), ("iterations", iterations, 1)):
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise ValueError(f"measure_latency: {name} must be an int >= {low}, got {value!r}")
    with threadpool_limits(limits=threads, user_api="blas"), no_grad():
        used = blas_threads()
        ### BEGIN SOLUTION
        for _warm in range(warmup):
            model(x)
        seconds = np.empty(iterations)
        for run in range(iterations):
            began = time.perf_counter()
            model(x)
            seconds[run] = time.perf_counter() - began
        times_ms = seconds * 1e3
        q25, median, q75, p90 = np.percentile(times_ms, [25, 50, 75, 90])
        return LatencyReport(times_ms, float(median), float(p90), float((q75 - q25) / median), used)
        ### END SOLUTION



# %% [markdown]
# ### Unit test: latency, with a model that records its calls
#
# No test may assert a wall time (it would fail on a busy machine), so the test checks what holds
# on any machine: the number of calls, that each timing brackets exactly one call (the model
# notes when each call starts and ends), and the statistics computed from the recorded times.

# %% nbgrader={"grade": true, "grade_id": "test-measure-latency", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false}
def test_unit_measure_latency():
    from tinytorch.autograd import grad_mode
    from tinytorch.tensor import Config
    from tinytorch.testing import raises

    class Sleeper(Module):
        """Sleeps 1 ms per call and records when each call started and ended."""
        def __init__(self):
            super().__init__()
            self.spans, self.grad_seen = [], []

        def forward(self, x):
            start = time.perf_counter()
            time.sleep(0.001)
            self.spans.append((start, time.perf_counter()))
            self.grad_seen.append(Config.grad_enabled)
            return x

    model = Sleeper()
    report = measure_latency(model, np.ones(3), warmup=4, iterations=7, threads=1)
    assert len(model.spans) == 11, f"4 warm-up + 7 timed runs: the model was called {len(model.spans)} times"
    assert not any(model.grad_seen), "latency is measured under no_grad"
    t = report.times_ms
    assert t.shape == (7,), f"one time per timed run: times_ms has shape {t.shape}"
    spans = model.spans
    assert len(set(t.tolist())) > 1, \
        f"all 7 times are equal ({t[0]:.4f} ms): time each run on its own, not the total divided by the runs"
    for i in range(7):  # the clock is monotonic: timing i brackets call 4 + i and nothing of its neighbours
        start, end = spans[4 + i]
        assert t[i] >= (end - start) * 1e3, \
            f"run {i}: {t[i]:.4f} ms is shorter than the call itself ({(end - start) * 1e3:.4f} ms): seconds, not ms?"
        if i < 6:
            room = (spans[5 + i][0] - spans[3 + i][1]) * 1e3  # from the end of the call before to the start of the next
            assert t[i] <= room, \
                (f"run {i}: {t[i]:.4f} ms is longer than the time from the end of the call before it to the start of "
                 f"the call after it ({room:.4f} ms), which holds this call and nothing else: each entry times one "
                 "call on its own (units?)")
    assert report.median_ms == float(np.median(t)), \
        f"median_ms: got {report.median_ms:.4f}, expected the median of times_ms, {np.median(t):.4f}"
    assert report.p90_ms == float(np.percentile(t, 90)), \
        (f"p90_ms: got {report.p90_ms:.4f}, expected {np.percentile(t, 90):.4f}: the 90th percentile of times_ms, "
         "interpolated linearly between the two nearest runs (NumPy's default), not one run picked by index")
    iqr = (np.percentile(t, 75) - np.percentile(t, 25)) / np.median(t)
    assert abs(report.spread - iqr) < 1e-12, \
        f"spread: got {report.spread:.4f}, expected the interquartile range divided by the median, {iqr:.4f}"
    assert report.blas_threads == (None if blas_threads() is None else 1), \
        f"threads=1 pins BLAS to one thread and the report says so: saw {report.blas_threads}"
    raises(ValueError, lambda: measure_latency(model, 1, iterations=0), "iterations")
    with grad_mode(True):
        assert measure_latency(model, np.ones(3), 0, 2).times_ms.shape == (2,)
    print(f"measure_latency: OK ({report})")


if __name__ == "__main__":
    test_unit_measure_latency()

# %% [markdown]
# ## 8. Amdahl's law
#
# Suppose a layer takes a fraction `p` of the time and an optimization makes it `k` times faster.
# The rest, `1 − p`, is untouched, so the new time is `(1 − p) + p/k` of the old, and the speed-up
# is
#
# $$S(p, k) = \frac{1}{(1 - p) + p/k}, \qquad S(p, \infty) = \frac{1}{1 - p}.$$
#
# Gene Amdahl made the argument in 1967 about parallel computers; it applies to any speed-up of a
# part. A layer at 10% of the time can never buy more than 1.11×; making a 50% layer 10× faster
# gives 1.82×, and infinitely faster 2×. The profile tells you `p` before you write any code.
# Write `amdahl_speedup`; `k = math.inf` must work (the part vanishes), `p` must be in `[0, 1]` and
# `k` positive, else a ValueError. One corner: `p = 1` and `k = ∞` leaves nothing to run, an
# infinite speed-up: return `math.inf` there, not a `ZeroDivisionError`.

# %% nbgrader={"grade": false, "grade_id": "amdahl", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
def amdahl_speedup(fraction: float, factor: float) -> float:
    """The whole program's speed-up when a part taking `fraction` of the time gets `factor`× faster."""
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"amdahl_speedup: fraction must be in [0, 1], got {fraction!r}")
    if not factor > 0:
        raise ValueError(f"amdahl_speedup: factor must be positive, got {factor!r}")
    ### BEGIN SOLUTION
    if fraction == 1.0 and factor == math.inf:
        return math.inf  # the whole program vanishes
    return 1.0 / ((1.0 - fraction) + fraction / factor)
    ### END SOLUTION


# %% [markdown]
# ### Unit test: Amdahl's law

# %% nbgrader={"grade": true, "grade_id": "test-amdahl", "locked": true, "points": 5, "schema_version": 3, "solution": false, "task": false}
def test_unit_amdahl():
    from tinytorch.testing import raises
    for p, k, expected in [(0.5, 10, 1 / 0.55), (0.1, math.inf, 1 / 0.9), (0.5, math.inf, 2.0),
                           (0.25, 2, 1 / 0.875), (0.0, 5, 1.0), (1.0, 4, 4.0), (0.6, 0.5, 1 / 1.6)]:
        got = amdahl_speedup(p, k)
        assert abs(got - expected) < 1e-12, f"amdahl_speedup({p}, {k}) = {got}, expected {expected}"
    assert amdahl_speedup(1.0, math.inf) == math.inf, "p = 1, k = inf: nothing is left to run"
    raises(ValueError, lambda: amdahl_speedup(1.5, 2), "fraction")
    raises(ValueError, lambda: amdahl_speedup(0.5, 0), "factor")
    print("amdahl_speedup: OK")


if __name__ == "__main__":
    test_unit_amdahl()

# %% [markdown]
# ## 8b. Choosing what to optimize
#
# A profile gives every layer its share of the time. Suppose an optimization (int8, a fused
# kernel, a cache) would make any one layer `factor`× faster, each layer you apply it to costs you
# a day of work, and you need the whole model `target`× faster. Which layers do you take on, and
# how few can do it? `choose_layers(shares, target, factor)` decides. The contract:
#
# - `shares` maps layer names to *disjoint* fractions of the total time (self times, so they add
#   up to at most 1); `factor` may be `math.inf` (the layers vanish);
# - return a list of names from `shares`, each once, whose combined share, made `factor`× faster,
#   gives a whole-model speed-up of at least `target` by Amdahl's law, with **as few layers as
#   possible** (when several choices are equally small, any of them is right);
# - a `target` of 1 or less needs no work: return `[]`;
# - when no choice reaches `target`, not even all the layers, raise a ValueError that says the
#   best speed-up that *is* reachable, so the caller knows how far off the goal is.
#
# How you search is up to you: the tests check only what your choice achieves and that no smaller
# choice would do. Convince yourself your method finds the fewest layers, not just some layers.

# %% nbgrader={"grade": false, "grade_id": "choose-layers", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
def choose_layers(shares: dict[str, float], target: float, factor: float = math.inf) -> list[str]:
    """The fewest layers of `shares` (name -> disjoint fraction of the time) which, made `factor`×
    faster, make the whole model at least `target`× faster; a ValueError when none can."""
    if any(not 0.0 <= p <= 1.0 for p in shares.values()) or sum(shares.values()) > 1.0 + 1e-9:
        raise ValueError(f"choose_layers: shares must be fractions in [0, 1] adding up to at most 1, got {shares}")
    if not factor > 0:
        raise ValueError(f"choose_layers: factor must be positive, got {factor!r}")
    ### BEGIN SOLUTION
    if target <= 1.0:
        return []
    chosen, covered = [], 0.0
    for name, p in sorted(shares.items(), key=lambda item: -item[1]):  # the biggest share first
        chosen.append(name)
        covered += p
        if amdahl_speedup(min(covered, 1.0), factor) >= target:
            return chosen
    best = amdahl_speedup(min(covered, 1.0), factor)
    raise ValueError(f"choose_layers: a {target}x speed-up is out of reach; optimizing every layer "
                     f"{factor}x faster gives at most {best:.3f}x")
    ### END SOLUTION


# %% [markdown]
# ### Unit test: the fewest layers that reach the target

# %% nbgrader={"grade": true, "grade_id": "test-choose-layers", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false}
def test_unit_choose_layers():
    import re
    from itertools import combinations

    from tinytorch.testing import raises
    profile = {"embed": 0.02, "attn": 0.30, "mlp": 0.45, "ln": 0.05, "head": 0.08, "rest": 0.10}
    cases = [(1.5, math.inf), (2.5, math.inf), (1.6, 4.0), (3.9, math.inf), (1.05, 2.0), (6.0, 100.0)]
    for target, factor in cases:
        got = choose_layers(dict(profile), target, factor)
        what = f"choose_layers(profile, target={target}, factor={factor}) returned {got}"
        assert isinstance(got, list) and all(name in profile for name in got), f"{what}: names of the profile, in a list"
        assert len(set(got)) == len(got), f"{what}: a layer is listed twice"
        reached = amdahl_speedup(min(1.0, sum(profile[n] for n in got)), factor)
        assert reached >= target - 1e-9, \
            f"{what}: those layers reach only {reached:.3f}x, short of {target}x (did you stop too early?)"
        smaller = [c for c in combinations(profile, len(got) - 1)
                   if amdahl_speedup(min(1.0, sum(profile[n] for n in c)), factor) >= target - 1e-9] if got else []
        best = max(smaller, key=lambda c: sum(profile[n] for n in c)) if smaller else ()
        assert not smaller, (f"{what}: {len(got)} layers, but {len(got) - 1} are enough, e.g. {list(best)}; "
                             "which layers buy the most?")
    given = dict(profile)
    choose_layers(given, 2.5)
    assert given == profile, f"choose_layers must not change the shares it is given: after the call they are {given}"
    assert choose_layers(profile, 1.0) == [] and choose_layers(profile, 0.5, 2.0) == [], "a target <= 1 needs no layer"
    got = choose_layers({"a": 0.25, "b": 0.5}, 2.0)
    assert got == ["b"], f"p = 0.5 with k = inf gives exactly 2x, which reaches a target of 2: got {got}, expected ['b']"
    got = sorted(choose_layers({"a": 0.5, "b": 0.25, "c": 0.25}, 4.0))
    assert got in (["a", "b"], ["a", "c"]), f"0.5 + 0.25 = 0.75 made infinitely fast is exactly 4x: got {got}"
    for shares, target, factor, best in [({"a": 0.1, "b": 0.2}, 2.0, math.inf, 1 / 0.7),
                                         ({"a": 0.5, "b": 0.4}, 4.0, 4.0, 1 / (0.1 + 0.9 / 4))]:
        err = raises(ValueError, lambda s=shares, t=target, k=factor: choose_layers(s, t, k))
        numbers = [float(v) for v in re.findall(r"\d+\.\d+|\d+", str(err))]
        assert any(abs(v - best) < 0.01 for v in numbers), \
            f"choose_layers({shares}, {target}, {factor}) is out of reach: the error should say the best reachable speed-up, {best:.2f}x; it says: {err}"
    assert profile == {"embed": 0.02, "attn": 0.30, "mlp": 0.45, "ln": 0.05, "head": 0.08, "rest": 0.10}, \
        "choose_layers must not change the shares it is given"
    print("choose_layers: OK")


if __name__ == "__main__":
    test_unit_choose_layers()

# %% [markdown]
# ## 9. The per-layer report
#
# One traced forward pass gives every op's layer; `Profiler.profile_layers` groups the records
# by layer and adds each layer's own parameters (not its children's, so the column sums to the
# model's total) and its *self* time (time in the layer's `forward` minus time in its child
# layers' `forward`, the median over `runs` traced passes). Rows come in the order the layers
# first ran an op; layers that ran no op of their own are left out. Each row:
#
# - `macs`, `flops`, `output_bytes` summed over the layer's ops, `input_bytes` likewise;
# - `intensity`: FLOPs per byte moved (`flops / (input_bytes + output_bytes)`). A two-core CPU
#   does tens of GFLOP/s but reads memory at roughly 10 GB/s, so below a few FLOPs per byte an
#   op waits for memory, not for arithmetic (it is **memory-bound**): a matmul `(n, 128) @ (128, 128)`
#   does up to 32 FLOPs per byte (`2·128²·n` FLOPs over `4·(2·128·n + 128²)` bytes), an addition
#   1/12 (one FLOP, three 4-byte numbers), LayerNorm under 1, a transpose 0. Making a memory-bound op
#   do fewer FLOPs buys nothing; moving fewer bytes (fusing ops, smaller dtypes) does.
#
# You write the grouping (`_group_records`, given the records and the layer list); the table
# formatting is given.

# %% nbgrader={"grade": false, "grade_id": "layer-report", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
@dataclass
class LayerStats:
    name: str
    kind: str  # the layer's class name
    params: int  # the layer's own parameters (not its children's)
    macs: int
    flops: int
    input_bytes: int
    output_bytes: int
    self_ms: float = 0.0

    @property
    def intensity(self) -> float:
        """FLOPs per byte moved."""
        moved = self.input_bytes + self.output_bytes
        return self.flops / moved if moved else 0.0


def _own_parameters(layer) -> int:
    """Parameters held directly by `layer` (not by its child layers) (given)."""
    if not isinstance(layer, Module):
        return 0
    return sum(t.size for attr, value in vars(layer).items() for _, t in _items(value, attr)
               if isinstance(t, Tensor) and t.requires_grad and t._op_name is None)


def _group_records(records: list[OpRecord], layers: dict[str, object]) -> list[LayerStats]:
    """One LayerStats per layer that ran at least one op, in order of its first op."""
    total_flops(records)  # the same guarantee as count_flops: an op without a FLOP rule raises
    ### BEGIN SOLUTION
    rows = {}  # layer name -> its LayerStats, in order of first op
    for r in records:
        if r.layer not in rows:
            layer = layers[r.layer]
            rows[r.layer] = LayerStats(r.layer, type(layer).__name__, _own_parameters(layer), 0, 0, 0, 0)
        row = rows[r.layer]
        row.macs += r.macs
        row.flops += r.flops
        row.input_bytes += r.input_bytes
        row.output_bytes += r.output_bytes
    return list(rows.values())
    ### END SOLUTION


def profile_layers(model, x, runs: int = 3) -> list[LayerStats]:
    """Per-layer stats of `model(x)`; self_ms is the median over `runs` traced forward passes."""
    layers = dict(named_layers(model))
    times: dict[str, list[float]] = {}
    tracer = None
    for _ in range(max(1, runs)):
        tracer, _ = trace(model, x)
        for name, seconds in tracer.self_time.items():
            times.setdefault(name, []).append(seconds * 1e3)
    rows = _group_records(tracer.records, layers)
    for row in rows:
        row.self_ms = float(np.median(times.get(row.name, [0.0])))
    uncounted = sum(p for name, layer in layers.items() if name not in {r.name for r in rows}
                    for p in [_own_parameters(layer)])
    if uncounted:  # parameters of layers that ran no op (e.g. an unused layer) still get a row
        rows.append(LayerStats("(layers that ran no op)", "-", uncounted, 0, 0, 0, 0))
    return rows


def format_report(rows: list[LayerStats]) -> str:
    """A plain-text table of the rows with a total line (given)."""
    total_flops = sum(r.flops for r in rows) or 1
    total_ms = sum(r.self_ms for r in rows) or 1.0
    width = max([len("layer")] + [len(r.name or "(model)") for r in rows])
    kind = max([len("type")] + [len(r.kind) for r in rows])
    head = (f"{'layer':<{width}}  {'type':<{kind}} {'params':>9} {'FLOPs':>12} {'%FLOP':>6} {'out KiB':>9} "
            f"{'FLOP/B':>7} {'self ms':>8} {'%time':>6}")
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r.name or '(model)':<{width}}  {r.kind:<{kind}} {r.params:>9,} {r.flops:>12,} "
                     f"{100 * r.flops / total_flops:>5.1f}% {r.output_bytes / 1024:>9.1f} {r.intensity:>7.2f} "
                     f"{r.self_ms:>8.3f} {100 * r.self_ms / total_ms:>5.1f}%")
    lines.append("-" * len(head))
    lines.append(f"{'total':<{width}}  {'':<{kind}} {sum(r.params for r in rows):>9,} "
                 f"{sum(r.flops for r in rows):>12,} {'100.0%':>6} "
                 f"{sum(r.output_bytes for r in rows) / 1024:>9.1f} {'':>7} {sum(r.self_ms for r in rows):>8.3f} "
                 f"{'100.0%':>6}")
    return "\n".join(lines)


class Profiler:
    """The instruments of this module in one object: `Profiler(threads=1)` pins NumPy's BLAS to
    one thread for every measurement (None: leave the thread count alone)."""

    def __init__(self, threads: int | None = None):
        if threads is not None and (not isinstance(threads, int) or isinstance(threads, bool) or threads < 1):
            raise ValueError(f"Profiler: threads must be None or a positive int, got {threads!r}")
        self.threads = threads

    def count_parameters(self, model) -> int:
        return count_parameters(model)

    def count_flops(self, model, x) -> int:
        return count_flops(model, x)

    def measure_memory(self, model, x, grad: bool = True) -> MemoryReport:
        return measure_memory(model, x, grad)

    def measure_latency(self, model, x, warmup: int = 3, iterations: int = 20) -> LatencyReport:
        return measure_latency(model, x, warmup, iterations, self.threads)

    def profile_layers(self, model, x, runs: int = 3) -> list[LayerStats]:
        with threadpool_limits(limits=self.threads, user_api="blas"):
            return profile_layers(model, x, runs)

    def report(self, model, x, runs: int = 3) -> str:
        """The per-layer table of `model(x)` as plain text."""
        return format_report(self.profile_layers(model, x, runs))


# %% [markdown]
# ### Unit test: grouping by layer

# %% nbgrader={"grade": true, "grade_id": "test-layer-report", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false}
def test_unit_layer_report():
    from tinytorch.activations import ReLU
    from tinytorch.layers import Linear, Sequential
    B = 3
    model = Sequential(Linear(8, 4, rng=0), ReLU(), Linear(4, 2, rng=0))
    rows = profile_layers(model, np.ones((B, 8), np.float32), runs=2)
    names = [r.name for r in rows]
    assert names == ["layers.0", "layers.1", "layers.2"], f"rows: {names}"
    first, relu, last = rows
    kinds = [r.kind for r in rows]
    assert kinds == ["Linear", "ReLU", "Linear"], f"kind is the layer's class name: got {kinds}"
    params = [r.params for r in rows]
    assert params == [36, 0, 10], \
        f"params per row: got {params}, expected [36, 0, 10] (each layer's own parameters, once per layer, not per op)"
    assert (first.macs, first.flops) == (B * 32, 2 * B * 32 + B * 4), f"Linear(8, 4): {first}"
    assert (relu.macs, relu.flops) == (0, B * 4), f"ReLU: {relu}"
    assert first.output_bytes == 2 * B * 4 * 4, f"Linear(8, 4) writes a matmul and an add output: {first.output_bytes}"
    assert first.input_bytes == 4 * (B * 8 + 32) + 4 * (B * 4 + 4), \
        (f"Linear(8, 4) on a batch of {B}: its matmul reads x ({B}, 8) and the weight (8, 4), its add the product "
         f"({B}, 4) and the bias (4,): input_bytes {first.input_bytes}, expected {4 * (B * 8 + 32) + 4 * (B * 4 + 4)}")
    assert abs(relu.intensity - (B * 4) / (2 * B * 4 * 4)) < 1e-12, f"ReLU intensity {relu.intensity}"
    assert all(r.self_ms > 0 for r in rows), [r.self_ms for r in rows]
    table = format_report(rows)
    assert "layers.2" in table and f"{sum(r.params for r in rows):,}" in table, table
    print("layer report: OK")
    print(table)


if __name__ == "__main__":
    test_unit_layer_report()

# %% [markdown]
# ## 10. A real profile: the GPT, and Amdahl tested
#
# Now the whole toolbox on one model: a GPT like milestone M05's but smaller (76 characters,
# `D = 96`, 3 blocks, 4 heads, a batch of 8 sequences of 64 tokens), BLAS pinned to one thread.
# Untrained weights are fine: FLOPs, bytes and time do not depend on the values.

# %% nbgrader={"grade": false, "grade_id": "gpt-profile", "locked": false, "schema_version": 3, "solution": false, "task": false}
if __name__ == "__main__":
    from tinytorch.transformers import GPT
    gpt = GPT(76, 96, 3, 4, 64, rng=0)
    ids = np.random.default_rng(0).integers(0, 76, size=(8, 64))
    prof = Profiler(threads=1)
    with threadpool_limits(limits=1, user_api="blas"):
        print(f"parameters: {prof.count_parameters(gpt):,}   FLOPs per forward: {prof.count_flops(gpt, ids):,}")
        for grad in (True, False):
            m = prof.measure_memory(gpt, ids, grad=grad)
            print(f"memory (grad={grad!s:5}): parameters {m.parameter_bytes / 2**20:.2f} MiB, activations "
                  f"{m.activation_bytes / 2**20:.2f} MiB, peak {m.peak_bytes / 2**20:.2f} MiB, "
                  f"retained {m.retained_bytes / 2**20:.2f} MiB")
        plain = prof.measure_latency(gpt, ids, warmup=2, iterations=15)
        print(f"latency: {plain}")
        rows = prof.profile_layers(gpt, ids, runs=5)
        print(format_report(rows))
        traced = sum(r.self_ms for r in rows)
        print(f"traced forward (sum of the self-time medians) {traced:.2f} ms; untraced median "
              f"{plain.median_ms:.2f} ms, spread {100 * plain.spread:.0f}%")

# %% [markdown]
# Compare the `%time` column with the `%FLOP` column. The four attention projections and the
# MLP's two Linears carry most FLOPs at 10–25 FLOPs per byte, and their share of the time is
# smaller than their share of the FLOPs: BLAS runs them near the core's arithmetic speed. The
# attention layer's *own* ops (split into heads, `QKᵀ`, the mask, softmax, the weighted sum,
# merge) move `(B, H, T, T)` score arrays through several NumPy passes at about 2 FLOPs per byte:
# memory-bound, and a much larger share of the time than of the FLOPs. The GELU does 9 FLOPs per
# element, each a separate NumPy pass over a `(B, T, 4D)` array, at about 1 FLOP per byte: a few
# tenths of a percent of the FLOPs and a larger share of the time. The embeddings do 0 FLOPs and
# still take time. The traced total and the untraced median differ by the hook's cost and by the
# machine's noise. A self time is wall-clock time: on a busy machine (several programs per core)
# the operating system pauses this process for milliseconds at a time, and a layer that happens
# to be running then gets the pause added. Identical blocks then show very different self times,
# so compare the three blocks' rows (and the latency's spread) before trusting one row; the table
# shows medians over several traced runs to damp this.
#
# **Amdahl, tested.** Pick layers, read their share `p` from the profile, predict the speed-up if
# they cost nothing at all (`k = ∞`), then *make* them cost nothing and measure. `Replay(output)` is
# a layer that returns the output the real layer produced in the traced run, whatever its input,
# in a few microseconds: the limit of any optimization of that layer. The model's output is
# unchanged (the printout checks it), so this is exactly the experiment Amdahl's law describes.
# Both models are timed in the same run, one thread, interleaved run by run, so a slow moment of
# the machine hits both. The prediction uses the inclusive time of the replaced layers in the
# traced profile, as a share of the traced total.

# %% nbgrader={"grade": false, "grade_id": "replay", "locked": false, "schema_version": 3, "solution": false, "task": false}
#| export
class Replay(Module):
    """Stands in for a layer: returns `output` (recorded from the real layer) for any input."""

    def __init__(self, output):
        super().__init__()
        self.output = output

    def forward(self, *args, **kwargs):
        return self.output


def replace_layers(model, replacements: dict[str, object]):
    """A deep copy of `model` with the layers named by `replacements` (dotted names from
    `named_layers`, e.g. "blocks.0.mlp") swapped for the given layers."""
    clone = copy.deepcopy(model)
    for name, new in replacements.items():
        *path, last = name.split(".")
        parent = clone
        for part in path:
            parent = parent[int(part)] if isinstance(parent, (list, tuple)) else getattr(parent, part)
        if isinstance(parent, list):
            parent[int(last)] = new
        elif hasattr(parent, last):
            setattr(parent, last, new)
        else:
            raise ValueError(f"replace_layers: {type(parent).__name__} has no layer {last!r} (in {name!r})")
    return clone


def interleaved_latency(a, b, x, iterations: int = 15, warmup: int = 2) -> np.ndarray:
    """Milliseconds of `a(x)` and `b(x)` timed alternately under no_grad with one BLAS thread:
    an array (iterations, 2), column 0 for `a`."""
    times = np.empty((iterations, 2))
    with threadpool_limits(limits=1, user_api="blas"), no_grad():
        for _ in range(warmup):
            a(x), b(x)
        for i in range(iterations):
            for j, model in enumerate((a, b)):
                start = time.perf_counter()
                model(x)
                times[i, j] = time.perf_counter() - start
    return times * 1e3


# %% nbgrader={"grade": false, "grade_id": "amdahl-demo", "locked": false, "schema_version": 3, "solution": false, "task": false}
if __name__ == "__main__":
    with threadpool_limits(limits=1, user_api="blas"):
        shares: dict[str, list[float]] = {}
        for _ in range(5):
            tracer, reference = trace(gpt, ids)
            total_s = tracer.inclusive[""]
            for name, s in tracer.inclusive.items():
                shares.setdefault(name, []).append(s / total_s)
    share = {name: float(np.median(v)) for name, v in shares.items()}
    experiments = {
        "every MLP": [f"blocks.{i}.mlp" for i in range(3)],
        "every attention": [f"blocks.{i}.attn" for i in range(3)],
        "the head": ["head"],
        "every LayerNorm": [f"blocks.{i}.ln{j}" for i in range(3) for j in (1, 2)] + ["ln_f"],
    }
    print(f"{'replaced':16s} {'share p':>8s} {'predicted':>10s} {'measured':>9s} {'(p25-p75)':>14s}   "
          "k = 2 would give")
    for label, names in experiments.items():
        p = sum(share[n] for n in names)
        fast = replace_layers(gpt, {n: Replay(tracer.outputs[n]) for n in names})
        with no_grad():
            same = np.array_equal(fast(ids).data, reference.data)
        ms = interleaved_latency(gpt, fast, ids, iterations=21)
        ratios = ms[:, 0] / ms[:, 1]  # one speed-up per interleaved pair
        low, mid, high = np.percentile(ratios, [25, 50, 75])
        print(f"{label:16s} {100 * p:7.1f}% {amdahl_speedup(p, math.inf):9.2f}x {mid:8.2f}x "
              f"({low:5.2f}-{high:5.2f}x)   {amdahl_speedup(p, 2):.2f}x   output unchanged: {same}")

# %% [markdown]
# Compare the predicted and measured columns, and judge each gap against the measured band (the
# middle half of the per-pair speed-ups): on a busy two-core machine a gap inside the band is
# noise. Gaps beyond it have reasons you can name. The profile's shares come from traced runs,
# whose hook cost is spread over the layers by how many Python calls each makes, not by how much
# work it does. A replayed layer is not quite free (a Python call remains). And the rest of the
# model runs differently once a layer is gone: fewer arrays are allocated and freed, the caches
# hold other data, so the remaining layers can get faster too, which pushes the measurement
# above the prediction. Most importantly, read the ceiling: making every MLP *infinitely* fast
# buys about what the profile predicts, and the head or the LayerNorms, a few percent of the
# time, are not worth any work at all however the FLOPs look. Amdahl's law is why profilers
# exist: optimize the biggest share first, then profile again, because the shares have moved.
#
# ## 11. The digits CNN
#
# The same report for the convolutional network of milestone M04 (TinyDigits, 8×8 images): here
# the convolution's im2col matmul dominates the FLOPs, and `measure_memory` shows the im2col
# buffer that the convolution keeps for its backward pass.

# %% nbgrader={"grade": false, "grade_id": "cnn-profile", "locked": false, "schema_version": 3, "solution": false, "task": false}
if __name__ == "__main__":
    from tinytorch.activations import ReLU
    from tinytorch.layers import Linear, Sequential
    from tinytorch.spatial import Conv2d, Flatten, MaxPool2d
    cnn = Sequential(Conv2d(1, 8, 3, padding=1, rng=0), ReLU(), MaxPool2d(2),
                     Conv2d(8, 16, 3, padding=1, rng=0), ReLU(), MaxPool2d(2),
                     Flatten(), Linear(16 * 2 * 2, 10, rng=0))
    images = np.random.default_rng(0).standard_normal((64, 1, 8, 8)).astype(np.float32)
    with threadpool_limits(limits=1, user_api="blas"):
        print(f"parameters {prof.count_parameters(cnn):,}, FLOPs {prof.count_flops(cnn, images):,} "
              f"for a batch of 64")
        print(prof.report(cnn, images, runs=5))
        for grad in (True, False):
            m = prof.measure_memory(cnn, images, grad=grad)
            print(f"grad={grad!s:5}: activations {m.activation_bytes / 1024:.0f} KiB, peak "
                  f"{m.peak_bytes / 1024:.0f} KiB, retained {m.retained_bytes / 1024:.0f} KiB")

# %% [markdown]
# With autograd on, the retained memory exceeds the sum of the activations: each convolution
# keeps its im2col matrix (`C·kh·kw` rows per output position, 9× the input for a 3×3 kernel)
# for the backward pass. Under `no_grad` almost nothing is retained. That is the first thing to
# know before running a larger model: training memory is activations *plus* what each op saves,
# and inference needs neither.

# %% [markdown]
# ## Module test
# The whole toolbox on one GPT: parameters against module 13's formula, FLOPs against an
# independent count from the configuration, memory and latency reports that make sense, and a
# report whose rows add up to the totals.

# %% nbgrader={"grade": true, "grade_id": "test-module", "locked": true, "points": 15, "schema_version": 3, "solution": false, "task": false}
def test_module():
    from tinytorch.transformers import GPT, gpt_parameter_count
    V, D, L, H, T, B = 11, 16, 2, 2, 6, 3
    model = GPT(V, D, L, H, 8, rng=0)
    ids = np.arange(B * T).reshape(B, T) % V
    prof = Profiler(threads=1)
    assert prof.count_parameters(model) == gpt_parameter_count(V, D, L, 8), "parameters vs module 13's formula"
    n, hd = B * T, D // H
    linear = lambda i, o: 2 * n * i * o + n * o  # noqa: E731 - matmul + bias
    got = prof.count_flops(model, ids)
    for scale in (n * D, B * H * T * T):  # module 12 lets attention scale q or the scores
        attn = 4 * linear(D, D) + 2 * 2 * B * H * T * T * hd + scale + B * H * T * T * (1 + 5)
        block = 2 * n * (7 * D + 3) + attn + linear(D, 4 * D) + 9 * n * 4 * D + linear(4 * D, D) + 2 * n * D
        expected = n * D + L * block + n * (7 * D + 3) + linear(D, V)  # position add, blocks, ln_f, head
        if got == expected:
            break
    assert got == expected, f"GPT FLOPs: got {got:,}, expected {expected:,} (off by {got - expected:,})"
    rows = prof.profile_layers(model, ids, runs=1)
    assert sum(r.flops for r in rows) == expected, "the report's FLOPs add up to count_flops"
    own = {name: _own_parameters(layer) for name, layer in named_layers(model)}
    wrong = [(r.name, r.params, own[r.name]) for r in rows if r.name in own and r.params != own[r.name]]
    assert sum(r.params for r in rows) == prof.count_parameters(model), \
        (f"the report's params add up to count_parameters: got {sum(r.params for r in rows):,}, expected "
         f"{prof.count_parameters(model):,}" + (f"; row {wrong[0][0]!r} has {wrong[0][1]:,}, but the layer itself holds "
                                                f"{wrong[0][2]:,} (a row counts the layer's own parameters, not its "
                                                "children's)" if wrong else ""))
    names = [r.name for r in rows]
    assert names[:5] == ["token_embedding", "position_embedding", "blocks.0.ln1", "blocks.0.attn.q_proj",
                         "blocks.0.attn"], f"rows come in the order each layer first ran an op: {names[:5]}"
    assert {"blocks.1.attn", "blocks.0.mlp.fc1", "head"} <= set(names) and names[-1] == "head", names
    mem = prof.measure_memory(model, ids)
    assert mem.parameter_bytes == 4 * prof.count_parameters(model)
    assert mem.activation_bytes == sum(r.output_bytes for r in rows)
    assert mem.retained_bytes >= mem.activation_bytes - 4 * n * D, "with grad on, the graph keeps the activations"
    lat = prof.measure_latency(model, ids, warmup=1, iterations=3)
    assert lat.median_ms <= lat.p90_ms <= lat.times_ms.max() and lat.blas_threads in (1, None)
    print(f"module 14: all tests passed ({got:,} FLOPs, {prof.count_parameters(model):,} parameters, {lat})")


if __name__ == "__main__":
    test_module()

# %% [markdown]
# ## Reflection
# - The GPT report puts the attention layer's own ops higher in `%time` than in `%FLOP`. Which of
#   its arrays grows with `T²`, and how many bytes is it at `T = 256` for this model?
# - `FlopCounterMode` says the GPT costs fewer FLOPs than `count_flops`. Which ops make the
#   difference, and would you include them when estimating training time? When estimating memory
#   traffic?
# - Your profile says the MLPs take a share `p`. Module 15 makes their matmuls run in int8. What is
#   the best speed-up of the whole model it can give, and what would you measure to find out?
# - Measure the GPT at batches 1, 2, 4 and 8: the peak under `no_grad` and the retained memory with
#   autograd on both grow in proportion to the batch, at very different slopes. Which arrays set
#   each slope, and which of the two limits the batch you can train with?
