"""Module 11: the embedding op and layer, forward and backward, and how ids are accepted."""

import sys
import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinytorch.autograd import gradcheck, no_grad
from tinytorch.embeddings import Embedding, as_token_ids, embedding, one_hot
from tinytorch.layers import Linear
from tinytorch.tensor import BACKWARD_RULES, Tensor
from tinytorch.testing import close, ops_in_graph, raises


def _scatter_loop(ids, grad, num_rows):
    """The gradient of a lookup, one position at a time."""
    want = np.zeros((num_rows, grad.shape[-1]))
    for pos, i in np.ndenumerate(ids):
        want[i] += grad[pos]
    return want


def test_rule_is_registered_by_the_package():
    assert "embedding" in BACKWARD_RULES


# --- one-hot ------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape,classes", [((), 5), ((4,), 3), ((2, 3), 6), ((2, 2, 2), 2), ((0,), 4)])
def test_one_hot_is_float32_with_the_class_axis_last(shape, classes):
    ids = np.random.default_rng(len(shape)).integers(0, classes, size=shape)
    got = one_hot(ids, classes)
    assert got.shape == (*shape, classes) and got.dtype == np.float32, \
        f"one_hot of ids {shape}, {classes} classes: got {got.shape} {got.dtype}, " \
        f"expected {(*shape, classes)} float32"
    assert np.array_equal(got, np.eye(classes, dtype=np.float32)[ids])


def test_one_hot_times_a_table_is_the_lookup():
    ids = np.array([[3, 0, 3], [1, 2, 2]])
    table = np.arange(12, dtype=np.float32).reshape(4, 3)
    close(one_hot(ids, 4) @ table, table[ids])


# --- forward -----------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(), (1,), (7,), (3, 4), (2, 3, 5), (0,), (2, 0)])
def test_lookup_matches_numpy_indexing_for_every_shape(shape):
    rng = np.random.default_rng(0)
    table = rng.normal(size=(9, 4)).astype(np.float32)
    ids = rng.integers(0, 9, size=shape)
    out = embedding(ids, Tensor(table))
    assert out.shape == (*shape, 4) and out.dtype == np.float32
    assert np.array_equal(out.data, table[ids])


@pytest.mark.parametrize("kind", ["list", "int8", "uint16", "int32", "int64", "float32", "float64", "tensor"])
def test_ids_in_every_accepted_form_give_the_same_rows(kind):
    table = np.arange(20, dtype=np.float32).reshape(5, 4)
    base = [[4, 0], [2, 2]]
    ids = {"list": base, "tensor": Tensor(base)}.get(kind)
    if ids is None:
        ids = np.array(base, dtype=kind)
    assert np.array_equal(embedding(ids, Tensor(table)).data, table[np.array(base)])


def test_as_token_ids_returns_int64_of_the_same_shape():
    got = as_token_ids(Tensor([[3.0, 0.0, 1.0]]), 4)
    assert got.dtype == np.int64 and got.shape == (1, 3) and got.tolist() == [[3, 0, 1]]
    assert as_token_ids(2, 3).shape == () and as_token_ids([], 3).shape == (0,)


def test_embedding_layer_init_and_forward():
    emb = Embedding(50, 300, rng=0)
    assert emb.weight.shape == (50, 300) and emb.weight.requires_grad and emb.weight.dtype == np.float32
    assert emb.parameters() == [emb.weight]
    assert abs(float(emb.weight.data.mean())) < 0.02 and abs(float(emb.weight.data.std()) - 1) < 0.02, \
        "weights are drawn from N(0, 1), like torch.nn.Embedding"
    assert np.array_equal(Embedding(50, 300, rng=0).weight.data, emb.weight.data), "rng=0 is reproducible"
    assert not np.array_equal(Embedding(50, 300, rng=1).weight.data, emb.weight.data)
    ids = np.array([[1, 49], [0, 1]])
    assert np.array_equal(emb(ids).data, emb.weight.data[ids])
    assert ops_in_graph(emb(ids)) == ["embedding"]
    assert repr(emb) == "Embedding(50, 300)"


def test_the_output_is_a_copy_not_a_view_of_the_table():
    emb = Embedding(4, 2, rng=0)
    out = emb([1])
    out.data[...] = 99
    assert not np.any(emb.weight.data == 99)


def test_state_dict_round_trip():
    a, b = Embedding(6, 3, rng=0), Embedding(6, 3, rng=1)
    b.load_state_dict(a.state_dict())
    assert np.array_equal(a([0, 5]).data, b([0, 5]).data)


# --- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize("ids,fragments", [
    ([0, 5], ("token id 5", "index (1,)", "0..4")),
    ([[0, 1], [-1, 2]], ("token id -1", "index (1, 0)", "0..4")),
    (Tensor([7.0]), ("token id 7", "0..4")),
    (np.array([2**40]), ("0..4",)),
    (np.array([2**63], dtype=np.uint64), ("0..4",)),
])
def test_out_of_range_ids_raise_index_error_naming_id_and_range(ids, fragments):
    raises(IndexError, lambda: Embedding(5, 2, rng=0)(ids), *fragments)


@pytest.mark.parametrize("ids,fragments", [
    (Tensor([1.0, 2.5]), ("whole numbers", "2.5", "(1,)")),
    (np.array([[0.0], [np.nan]]), ("whole numbers", "nan", "(1, 0)")),
    (np.array([np.inf]), ("whole numbers", "inf")),
    (np.array([1.0 + 1e-6]), ("whole numbers",)),
])
def test_non_integer_ids_raise_value_error(ids, fragments):
    raises(ValueError, lambda: Embedding(5, 2, rng=0)(ids), *fragments)


@pytest.mark.parametrize("ids", [np.array([True, False]), ["a", "b"], "ab", [[1, 2], [3]], None, {1: 2}])
def test_things_that_are_not_ids_raise_type_error(ids):
    raises(TypeError, lambda: Embedding(5, 2, rng=0)(ids), "token ids")


@pytest.mark.parametrize("ids, where", [([[1, 2], [3]], "row 0 is a list of 2 but row 1 is a list of 1"),
                                        ([[[1, 2], [3, 4]], [[1, 2], [3]]], "in ids[1], row 0 is a list"),
                                        ([1, [2, 3]], "row 0 is a single id but row 1 is a list of 2")])
def test_a_ragged_id_list_names_the_rows_that_differ(ids, where):
    raises(TypeError, lambda: Embedding(5, 2, rng=0)(ids), "rectangular", where)


@pytest.mark.parametrize("args,exc,fragment", [
    ((0, 4), ValueError, "num_embeddings"), ((4, 0), ValueError, "embedding_dim"),
    ((4.0, 4), TypeError, "num_embeddings"), ((4, True), TypeError, "embedding_dim"),
])
def test_bad_layer_sizes(args, exc, fragment):
    raises(exc, lambda: Embedding(*args), fragment)


def test_a_bad_id_leaves_no_partial_result_and_does_not_wrap_around():
    emb = Embedding(3, 2, rng=0)
    raises(IndexError, lambda: emb([2, -1]), "-1")  # NumPy alone would return the last row


# --- backward ----------------------------------------------------------------------------------


@pytest.mark.parametrize("shape,num_rows", [((5,), 3), ((2, 6), 4), ((3, 2, 4), 10), ((1,), 1), ((8,), 2)])
def test_gradcheck(shape, num_rows):
    rng = np.random.default_rng(sum(shape))
    ids = rng.integers(0, num_rows, size=shape)
    weight = Tensor(rng.normal(size=(num_rows, 3)), requires_grad=True)
    assert gradcheck(lambda w: embedding(ids, w), weight)
    # the same table read twice, through a non-linear function: the rule must add, not overwrite
    assert gradcheck(lambda w: (embedding(ids, w) * embedding(ids[::-1], w)).exp(), weight)


def test_repeated_ids_accumulate_and_unused_rows_get_exact_zeros():
    ids = np.array([[3, 3, 3, 1], [3, 0, 1, 3]])  # 3 five times, rows 2, 4 (the last) never
    grad = np.arange(2 * 4 * 2, dtype=np.float32).reshape(2, 4, 2) + 1
    w = Tensor(np.zeros((5, 2)), requires_grad=True)
    embedding(ids, w).backward(grad)
    assert np.array_equal(w.grad.data, _scatter_loop(ids, grad, 5))
    assert np.array_equal(w.grad.data[2], [0, 0]) and np.array_equal(w.grad.data[4], [0, 0])
    assert w.grad.dtype == np.float32 and w.grad.shape == (5, 2)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_rule_returns_the_dtype_of_the_incoming_gradient(dtype):
    # backward() casts what reaches a leaf, so only the rule itself shows a float64 result
    rule = BACKWARD_RULES["embedding"]
    w = Tensor(np.zeros((5, 2)), requires_grad=True)
    grads = rule(np.ones((2, 3, 2), dtype), None, w, ids=np.array([[3, 3, 0], [1, 3, 0]]))
    assert isinstance(grads, tuple) and len(grads) == 1
    (got,) = grads
    assert isinstance(got, np.ndarray) and got.dtype == dtype and got.shape == (5, 2), \
        f"the rule returned {type(got).__name__} {getattr(got, 'dtype', None)}, expected {np.dtype(dtype)}"
    assert got[:, 0].tolist() == [2, 1, 0, 3, 0]


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 6), st.integers(1, 4),
       st.lists(st.integers(0, 5), min_size=1, max_size=20), st.integers(0, 2**31 - 1))
def test_backward_equals_the_loop_for_any_ids(num_rows, dim, raw, seed):
    ids = np.array([i % num_rows for i in raw])
    grad = np.random.default_rng(seed).normal(size=(ids.size, dim)).astype(np.float32)
    w = Tensor(np.zeros((num_rows, dim)), requires_grad=True)
    embedding(ids, w).backward(grad)
    close(w.grad, _scatter_loop(ids, grad, num_rows), atol=1e-5)


def test_the_rule_leaves_grad_untouched_and_keeps_every_column_total():
    rule = BACKWARD_RULES["embedding"]
    grad = np.random.default_rng(4).normal(size=(3, 5, 4)).astype(np.float32)
    kept = grad.copy()
    ids = np.array([[0, 2, 2, 2, 6], [6, 6, 0, 1, 2], [2, 2, 0, 0, 6]])  # rows 3, 4, 5, 7 never read
    (got,) = rule(grad, None, Tensor(np.zeros((8, 4))), ids=ids)
    assert np.array_equal(grad, kept), "the rule wrote into the caller's grad"
    assert got.shape == (8, 4), f"all 8 rows, the last never read, got shape {got.shape}"
    assert not got[[3, 4, 5, 7]].any(), "rows never read get exactly 0"
    close(got.sum(axis=0), grad.reshape(-1, 4).sum(axis=0), atol=1e-5, what="each column keeps its total")


def _python_lines(fn):
    """How many Python lines run inside fn() (a loop over positions runs thousands)."""
    lines = 0

    def tracer(frame, event, arg):
        nonlocal lines
        lines += event == "line"
        return tracer

    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        fn()
    finally:
        sys.settrace(previous)
    return lines


def _peak_bytes(fn):
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("num_rows,dim,shape", [(4000, 2, (40, 50)), (50, 16, (8, 250)), (10000, 1, (1000,))])
def test_the_rule_neither_loops_in_python_nor_builds_a_one_hot(num_rows, dim, shape):
    rule = BACKWARD_RULES["embedding"]
    ids = np.random.default_rng(1).integers(0, num_rows, size=shape)
    grad = np.random.default_rng(2).normal(size=(*shape, dim)).astype(np.float32)
    weight = Tensor(np.zeros((num_rows, dim)))
    (got,) = rule(grad, None, weight, ids=ids)
    close(got, _scatter_loop(ids, grad, num_rows), atol=1e-4, what=f"{ids.size} ids into ({num_rows}, {dim})")
    lines = _python_lines(lambda: rule(grad, None, weight, ids=ids))
    assert lines <= 500, f"{ids.size} ids: the rule ran {lines} Python lines, a loop over positions or ids"
    peak = _peak_bytes(lambda: rule(grad, None, weight, ids=ids))
    budget = 10 * num_rows * dim * 4 + 16 * ids.size * dim * 8
    assert peak <= budget, f"{ids.size} ids into ({num_rows}, {dim}): peak {peak:,} bytes > budget {budget:,}"


def test_backward_equals_the_one_hot_matmul():
    rng = np.random.default_rng(3)
    ids = rng.integers(0, 6, size=(4, 5))
    table = rng.normal(size=(6, 3))
    w1 = Tensor(table, requires_grad=True)
    w2 = Tensor(table, requires_grad=True)
    hot = np.eye(6, dtype=np.float32)[ids]  # (4, 5, 6)
    grad = rng.normal(size=(4, 5, 3)).astype(np.float32)
    embedding(ids, w1).backward(grad)
    (Tensor(hot) @ w2).backward(grad)
    close(w1.grad, w2.grad, atol=1e-5)


def test_empty_batch_gives_a_zero_gradient():
    w = Tensor(np.ones((3, 2)), requires_grad=True)
    out = embedding(np.zeros((2, 0), dtype=np.int64), w)
    assert out.shape == (2, 0, 2)
    out.backward(np.zeros((2, 0, 2), np.float32))
    assert np.array_equal(w.grad.data, np.zeros((3, 2)))


def test_ids_changed_after_the_forward_pass_do_not_change_the_gradient():
    ids = np.array([0, 0, 1])
    w = Tensor(np.zeros((3, 1)), requires_grad=True)
    out = embedding(ids, w)
    ids[:] = 2
    out.backward(np.ones((3, 1), np.float32))
    assert w.grad.data[:, 0].tolist() == [2, 1, 0]


def test_ids_tensor_never_gets_a_gradient():
    ids = Tensor([0.0, 1.0], requires_grad=True)
    w = Tensor(np.ones((2, 2)), requires_grad=True)
    embedding(ids, w).sum().backward()
    assert ids.grad is None and np.array_equal(w.grad.data, np.ones((2, 2)))


def test_gradients_accumulate_over_two_backwards_and_no_grad_records_nothing():
    emb = Embedding(4, 2, rng=0)
    emb([1, 1]).sum().backward()
    emb([1, 2]).sum().backward()
    assert np.array_equal(emb.weight.grad.data, [[0, 0], [3, 3], [1, 1], [0, 0]])
    with no_grad():
        out = emb([0])
    assert not out.requires_grad and ops_in_graph(out) == []


def test_embedding_then_linear_trains_end_to_end():
    from tinytorch.losses import CrossEntropyLoss
    from tinytorch.optimizers import SGD
    # 4 tokens, each must predict its own id: embedding -> linear -> cross-entropy
    emb, head = Embedding(4, 8, rng=0), Linear(8, 4, rng=1)
    opt = SGD(emb.parameters() + head.parameters(), lr=0.5)
    ids = np.array([0, 1, 2, 3, 3, 2, 1, 0])
    first = None
    for _ in range(60):
        loss = CrossEntropyLoss()(head(emb(ids)), ids)
        opt.zero_grad()
        loss.backward()
        opt.step()
        first = first if first is not None else loss.item()
    assert loss.item() < first / 10


def test_the_numbers_quoted_in_the_prose():
    """The introduction and sections 2, 4 and 5 quote these numbers: a run must give the same."""
    from tinytorch.datasets import load_shakespeare
    from tinytorch.tokenization import CharTokenizer

    tok = CharTokenizer().train(load_shakespeare())
    assert tok.vocab_size == 76, \
        f"the prose says the Shakespeare corpus has 76 distinct characters, got {tok.vocab_size}"
    assert tok.encode("to be") == [67, 62, 1, 49, 52], \
        f"the introduction says 'to be' becomes [67, 62, 1, 49, 52], got {tok.encode('to be')}"
    chars = Embedding(76, 128, rng=0).weight
    assert (chars.size, chars.size * 4) == (9_728, 38_912), \
        f"section 5: 76 x 128 is 9,728 parameters, 39 KB in float32, got {chars.size}"
    gpt2 = 50_257 * 768
    sizes = (round(gpt2 / 1e6, 1), round(gpt2 * 4 / 1e6), round(4 * gpt2 * 4 / 1e6))
    assert sizes == (38.6, 154, 618), \
        "section 5: GPT-2's token table is 38.6 M parameters, 154 MB, 618 MB with gradient and Adam"
    assert (round(8_192 * 50_257 * 4 / 1e9, 2), round(2 * 8_192 * 50_257 * 768 / 1e9)) == (1.65, 632), \
        "section 2: the one-hot of 8,192 GPT-2 tokens is 1.65 GB, its product 632 GFLOPs"
    assert round(gpt2 * 8 / 1e6) == 309, "section 4: a float64 slot per cell of GPT-2's table is 309 MB"
