"""Module 14: FLOP rules and count_flops, against hand counts from the shapes."""

import re
from pathlib import Path

import numpy as np
import pytest

import tinytorch
from tinytorch.activations import GELU, ReLU, Sigmoid, Softmax, Tanh
from tinytorch.attention import MultiHeadAttention, causal_mask
from tinytorch.embeddings import Embedding
from tinytorch.layers import Linear, Module, Sequential
from tinytorch.losses import BinaryCrossEntropyLoss, CrossEntropyLoss
from tinytorch.profiling import (
    FLOP_RULES,
    OpRecord,
    count_flops,
    profile_layers,
    register_flops,
    total_flops,
    trace,
)
from tinytorch.spatial import AvgPool2d, BatchNorm2d, Conv2d, Flatten, MaxPool2d
from tinytorch.tensor import Tensor
from tinytorch.testing import raises
from tinytorch.transformers import GPT, LayerNorm
from tito.registry import MODULES

OP_NAME = re.compile(r"""_op\(\s*["']([A-Za-z_][\w]*)["']""")


class Apply(Module):
    """A layer that applies `fn` to its input (for ops that are not layers)."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


def test_every_op_of_modules_01_to_14_has_a_flop_rule():
    package = Path(tinytorch.__file__).parent
    files = [package / m.export_target.name for m in MODULES if m.number <= "14"]
    names = {n for f in files if f.exists() for n in OP_NAME.findall(f.read_text(encoding="utf-8"))}
    assert len(names) >= 25, f"the scan found too few ops: {sorted(names)}"
    missing = sorted(names - set(FLOP_RULES))
    assert not missing, f"ops without a FLOP rule (add one with @register_flops): {missing}"


@pytest.mark.parametrize("batch_shape", [(7,), (2, 5)])
def test_linear_with_and_without_bias(batch_shape):
    n = int(np.prod(batch_shape))
    x = np.ones((*batch_shape, 12), np.float32)
    assert count_flops(Linear(12, 9, rng=0), x) == 2 * n * 12 * 9 + n * 9
    assert count_flops(Linear(12, 9, bias=False, rng=0), x) == 2 * n * 12 * 9


@pytest.mark.parametrize("stride, padding", [(1, 0), (2, 1), ((1, 2), (2, 0))])
def test_conv2d(stride, padding):
    conv = Conv2d(3, 5, (3, 2), stride=stride, padding=padding, rng=0)
    x = np.ones((2, 3, 9, 8), np.float32)
    tracer, out = trace(conv, x)
    positions = int(np.prod(out.shape))
    assert [r.op for r in tracer.records] == ["conv2d"]
    assert tracer.records[0].macs == positions * 3 * 3 * 2
    assert count_flops(conv, x) == 2 * positions * 18 + positions
    bare = Conv2d(3, 5, (3, 2), stride=stride, padding=padding, bias=False, rng=0)
    assert count_flops(bare, x) == 2 * positions * 18, "no bias: no extra FLOP per output element"


def test_pools_flatten_batchnorm():
    x = np.ones((2, 4, 6, 6), np.float32)
    assert count_flops(MaxPool2d(2), x) == 2 * 4 * 3 * 3 * 3  # 3 compares per 2x2 window
    assert count_flops(AvgPool2d(3), x) == 2 * 4 * 2 * 2 * 9
    assert count_flops(Flatten(), x) == 0
    bn = BatchNorm2d(4)
    assert count_flops(bn.eval(), x) == 4 * x.size
    assert count_flops(bn.train(), x) == 7 * x.size


@pytest.mark.parametrize("layer, per_element", [(ReLU(), 1), (Tanh(), 1), (Sigmoid(), 4), (GELU(), 9),
                                                (Softmax(dim=-1), 5)])
def test_activations(layer, per_element):
    x = Tensor(np.ones((3, 7)))
    assert count_flops(Apply(layer), x) == per_element * 21


def test_elementwise_and_reductions():
    x = Tensor(np.ones((4, 6)))
    assert count_flops(Apply(lambda t: t * 2.0 + 1.0), x) == 48
    assert count_flops(Apply(lambda t: -(t.exp().log().sqrt())), x) == 96
    assert count_flops(Apply(lambda t: t ** 2), x) == 24
    assert count_flops(Apply(lambda t: t.sum()), x) == 23
    assert count_flops(Apply(lambda t: t.sum(axis=0)), x) == 24 - 6
    assert count_flops(Apply(lambda t: t.max(axis=1, keepdims=True)), x) == 24 - 4
    assert count_flops(Apply(lambda t: t.mean(axis=1)), x) == 24
    assert count_flops(Apply(lambda t: t.reshape(6, 4).T[1:]), x) == 0
    v = Tensor(np.ones(9))
    assert count_flops(Apply(lambda t: t @ t), v) == 18, "a dot product of two 1-D vectors of 9: 9 MACs"
    assert count_flops(Apply(lambda t: t @ Tensor(np.ones((9, 2)))), v) == 36, "(9,) @ (9, 2): 18 MACs"


def test_embedding_is_zero_flops_but_allocates():
    emb = Embedding(50, 16, rng=0)
    ids = np.array([[1, 2, 3], [4, 5, 49]])
    tracer, _ = trace(emb, ids)
    (record,) = tracer.records
    assert (record.op, record.macs, record.flops) == ("embedding", 0, 0)
    assert record.output_bytes == 6 * 16 * 4


def test_views_allocate_nothing():
    tracer, _ = trace(Apply(lambda t: (t.reshape(4, 3).transpose(0, 1)[0:2] + 1.0)), Tensor(np.ones(12)))
    assert [(r.op, r.output_bytes) for r in tracer.records] == [
        ("reshape", 0), ("transpose", 0), ("getitem", 0), ("add", 2 * 4 * 4)]


def test_layer_norm_and_losses():
    assert count_flops(LayerNorm(10), np.ones((3, 4, 10), np.float32)) == 12 * 73
    (record,) = trace(LayerNorm(10), np.ones((3, 4, 10), np.float32))[0].records
    assert (record.op, record.macs) == ("layer_norm", 0), "LayerNorm does no multiply-add of a dot product"
    logits = Tensor(np.zeros((5, 7)))
    assert count_flops(Apply(lambda t: CrossEntropyLoss()(t, np.arange(5))), logits) == 5 * 35 + 2 * 5 + 1
    pred = Tensor(np.full((2, 3), 0.5))
    assert count_flops(Apply(lambda t: BinaryCrossEntropyLoss()(t, np.ones((2, 3)))), pred) == 10 * 6 + 1


@pytest.mark.parametrize("masked", [False, True])
def test_attention_is_its_matmuls_plus_the_elementwise_work(masked):
    B, T, D, H = 2, 7, 12, 3
    attn = MultiHeadAttention(D, H, rng=0)
    layer = Apply(lambda x: attn(x, mask=causal_mask(T) if masked else None))
    tracer, _ = trace(layer, np.ones((B, T, D), np.float32))
    n, scores = B * T, B * H * T * T
    macs = 4 * n * D * D + 2 * scores * (D // H)
    assert sum(r.macs for r in tracer.records) == macs
    rest = 2 * macs + 4 * n * D + 5 * scores + (scores if masked else 0)
    scaled = {n * D: "q", scores: "the scores"}  # module 12 lets attention scale either
    got = sum(r.flops for r in tracer.records)
    assert got - rest in scaled, (f"attention FLOPs: got {got:,}, expected "
                                  + " or ".join(f"{rest + k:,} (scaling {v})" for k, v in scaled.items()))


def test_gpt_grows_with_batch_and_quadratically_in_attention():
    model = GPT(17, 16, 2, 4, 32, rng=0)
    base = count_flops(model, np.zeros((1, 8), np.int64))
    assert count_flops(model, np.zeros((3, 8), np.int64)) == 3 * base
    def core_macs(T):
        records = trace(model, np.zeros((1, T), np.int64))[0].records
        return sum(r.macs for r in records if r.op == "matmul" and len(r.input_shapes[0]) == 4)

    t8, t16, t32 = (core_macs(T) for T in (8, 16, 32))
    assert (t16, t32) == (4 * t8, 16 * t8), "attention's QKᵀ and weights·V MACs grow as T²"


def test_unknown_ops_are_named_and_rules_can_be_added():
    layer = Apply(lambda t: Tensor._op("frobnicate_test", t.data * 3, t))
    raises(ValueError, lambda: count_flops(layer, Tensor(np.ones(4))), "frobnicate_test", "register_flops")
    try:
        @register_flops("frobnicate_test")
        def _rule(input_shapes, output_shape, ctx):
            return 0, 2 * int(np.prod(output_shape))
        assert count_flops(layer, Tensor(np.ones(4))) == 8
    finally:
        FLOP_RULES.pop("frobnicate_test", None)


def record(op: str, layer: str, flops: int | None) -> OpRecord:
    """A record as the tracer makes it: flops (and macs) None when no rule is registered for op."""
    return OpRecord(op, layer, ((2, 3),), (2, 3), None if flops is None else 0, flops, 24, 24)


@pytest.mark.parametrize("flops", [[7], [120, 10, 10, 60], [0, 5, 0, 3, 11]])
def test_total_flops_adds_every_record_as_an_int(flops):
    got = total_flops([record("add", f"layers.{i}", f) for i, f in enumerate(flops)])
    assert got == sum(flops), f"records with FLOPs {flops}: got {got!r}, expected {sum(flops)}"
    assert type(got) is int, f"a FLOP count is a Python int, got {type(got).__name__} {got!r}"
    assert total_flops([]) == 0


def test_total_flops_names_every_op_without_a_rule_before_summing():
    records = [record("matmul", "layers.0", 120), record("frobnicate", "layers.1", None),
               record("relu", "layers.1", 10), record("twiddle", "", None),
               record("frobnicate", "layers.3", None), record("wobble", "head", None)]
    err = raises(ValueError, lambda: total_flops(records), "frobnicate", "register_flops")
    message = str(err)
    missing = [op for op in ("twiddle", "wobble") if op not in message]
    assert not missing, \
        f"every op without a rule is named, not only the first: {missing} missing from {message!r}"
    assert "layers.1" in message and "head" in message, f"each op's (first) layer is named: {message!r}"
    raises(ValueError, lambda: total_flops([record("wobble", "layers.9", None)]), "wobble", "layers.9")


def test_the_layer_report_refuses_an_op_without_a_rule():
    layer = Sequential(Linear(4, 3, rng=0), Apply(lambda t: Tensor._op("frobnicate_report", t.data, t)))
    x = np.ones((2, 4), np.float32)
    raises(ValueError, lambda: profile_layers(layer, x, runs=1), "frobnicate_report", "register_flops")


def test_counting_does_not_build_a_graph_or_change_the_output():
    model = Sequential(Linear(4, 3, rng=0), ReLU())
    x = Tensor(np.arange(8.0).reshape(2, 4))
    tracer, out = trace(model, x)
    assert not out.requires_grad and out._inputs == ()
    np.testing.assert_array_equal(out.data, model(x).data)
