"""Module 13: find_causal_leak — None on causal models, a real leaking pair on each planted leak."""

import numpy as np
import pytest

from tinytorch.autograd import no_grad
from tinytorch.layers import Module
from tinytorch.tensor import Tensor
from tinytorch.testing import raises
from tinytorch.transformers import GPT, find_causal_leak


class Probe(Module):
    """A model whose logits (B, T, 3) are fn(ids, embedding of ids); counts its calls."""

    def __init__(self, fn, vocab=7, max_seq_len=8):
        super().__init__()
        self.fn, self.vocab_size, self.max_seq_len = fn, vocab, max_seq_len
        self.calls = 0

    def forward(self, ids):
        ids = np.asarray(ids)
        assert ids.ndim == 2 and 1 <= ids.shape[1] <= self.max_seq_len and ids.dtype.kind in "iu", \
            f"the model takes int token ids (B, T <= {self.max_seq_len}), got {ids.shape} {ids.dtype}"
        self.calls += 1
        table = np.linspace(-1.0, 1.0, self.vocab_size * 3).reshape(self.vocab_size, 3)
        return Tensor(self.fn(ids, table[ids]).astype(np.float32))


def prefix_mean(ids, e):
    return np.cumsum(e, axis=1) / np.arange(1, e.shape[1] + 1)[:, None]


def rounding(ids, e):  # causal up to float32 rounding that depends on later tokens
    e = (e * 1234.567 + 0.1234).astype(np.float32)
    suffix = np.cumsum(e[:, ::-1], axis=1)[:, ::-1]
    later = np.concatenate([suffix[:, 1:], np.zeros_like(suffix[:, :1])], axis=1)
    return (e.sum(axis=1, keepdims=True) - later) / np.float32(1234.567)


def large(ids, e):  # causal, logits near 1000 computed as (1000 + total) - suffix: float32 rounding ~1e-4
    e = e.astype(np.float32)
    suffix = np.cumsum(e[:, ::-1], axis=1)[:, ::-1]
    later = np.concatenate([suffix[:, 1:], np.zeros_like(suffix[:, :1])], axis=1)
    return (np.float32(1000.0) + e.sum(axis=1, keepdims=True)) - later


def leak(t, s, size=1.0, when=None):
    def fn(ids, e):
        out = prefix_mean(ids, e)
        if s < ids.shape[1]:
            gate = 1.0 if when is None else when(ids[:, s])[:, None]
            out[:, t] += size * e[:, s] * gate
        return out
    return fn


def shift_by_one(ids, e):
    return prefix_mean(ids, e) + np.concatenate([e[:, 1:], np.zeros_like(e[:, :1])], axis=1)


def _gpt(seed=0, seq=8):
    model = GPT(9, 16, 2, 2, seq, rng=seed)
    rng = np.random.default_rng(seed)
    for p in model.parameters():
        p.data[...] = rng.normal(size=p.shape) * 0.5
    return model


class MaskedWrongly(Module):
    """A block that ignores the mask it is given: no mask at all, or one where each position also
    sees the next one (off by one)."""

    def __init__(self, block, off_by_one=False):
        super().__init__()
        self.block, self.off_by_one = block, off_by_one

    def forward(self, x, mask=None, cache=None):
        T = x.shape[1]
        wrong = np.tril(np.ones((T, T), bool), k=1) if self.off_by_one else None
        return self.block(x, mask=wrong, cache=cache)


def _wrongly_masked(off_by_one):
    model = _gpt(0)
    model.blocks = [MaskedWrongly(b, off_by_one) for b in model.blocks]
    return model


def _require_causal_gpt(model):
    rng = np.random.default_rng(9)
    ids = rng.integers(0, model.vocab_size, size=(2, model.max_seq_len))
    changed = ids.copy()
    changed[:, -1] = (changed[:, -1] + 1) % model.vocab_size
    with no_grad():
        moved = np.abs(model(changed).data[:, :-1] - model(ids).data[:, :-1]).max()
    assert moved < 1e-4, (
        f"the GPT is not causal: changing the last token moved earlier logits by {moved:.3g}. Fix "
        "GPT.forward first (tests/13_transformers/test_3_gpt.py; does every block get the causal mask?): "
        "this test needs a causal GPT to check find_causal_leak")


def _run(model, **kwargs):
    calls = getattr(model, "calls", 0)
    try:
        found = find_causal_leak(model, **kwargs)
    except Exception as err:
        pytest.fail(f"find_causal_leak raised {type(err).__name__}: {err}")
    if hasattr(model, "calls"):
        assert model.calls - calls <= 4 * model.max_seq_len, \
            f"{model.calls - calls} model calls for max_seq_len {model.max_seq_len}: batch the probes"
    pair = isinstance(found, tuple) and len(found) == 2 and all(type(i) is int for i in found)
    assert found is None or pair, \
        f"find_causal_leak returns None or a pair of Python ints (t, s), got {found!r}"
    return found


@pytest.mark.parametrize("name", ["gpt", "gpt_long", "prefix_mean", "rounding", "large_logits"])
def test_causal_models_give_none(name):
    model = {"gpt": lambda: _gpt(0), "gpt_long": lambda: _gpt(1, seq=12),
             "prefix_mean": lambda: Probe(prefix_mean), "rounding": lambda: Probe(rounding),
             "large_logits": lambda: Probe(large)}[name]()
    if name.startswith("gpt"):
        _require_causal_gpt(model)
    found = _run(model)
    assert found is None, f"{name} is causal, but find_causal_leak reported {found}" + (
        " (is your tolerance absolute? logits of size 1000 round by about 1e-4 in float32, far above 1e-5: "
        "the tolerance is relative, 1e-5 * (1 + the largest |logit| of the unchanged sequence), see the "
        "contract of section 13)" if name == "large_logits" else
        " (float32 rounding is not a leak: see the tolerance of the contract)" if name == "rounding" else
        " (did you compare positions t >= s too? only t < s counts)")


def test_mode_is_restored_and_seed_is_deterministic():
    model = _gpt(2)
    model.train()
    _run(model)
    assert model.training
    model.eval()
    _run(model)
    assert not model.training
    leaky = Probe(leak(1, 6))
    assert _run(leaky, seed=4) == _run(leaky, seed=4)


def _planted():
    T = 8
    every = {(t, s) for s in range(T) for t in range(s)}
    unmasked, off = _wrongly_masked(False), _wrongly_masked(True)
    return {
        "GPT without mask": (unmasked, every),
        "GPT with a mask off by one": (off, {(t, t + 1) for t in range(T - 1)}),
        "position 0 reads the last token": (Probe(leak(0, T - 1)), {(0, T - 1)}),
        "every position reads the next token": (Probe(shift_by_one), {(t, t + 1) for t in range(T - 1)}),
        "a 1e-3 leak 5 -> 2": (Probe(leak(2, 5, size=1e-3)), {(2, 5)}),
        "a 3e-5 leak 1 -> 0": (Probe(leak(0, 1, size=3e-5)), {(0, 1)}),
        "a leak 6 -> 3 for odd tokens only": (Probe(leak(3, 6, when=lambda v: v % 2 == 1)), {(3, 6)}),
        "a leak 6 -> 3 for odd tokens, vocabulary 2":
            (Probe(leak(3, 6, when=lambda v: v % 2 == 1), vocab=2), {(3, 6)}),
        "a leak 4 -> 1 for token 0 only, vocabulary 3":
            (Probe(leak(1, 4, when=lambda v: v == 0), vocab=3), {(1, 4)}),
        "a leak 5 -> 2 for token 6 only, vocabulary 7": (Probe(leak(2, 5, when=lambda v: v == 6)), {(2, 5)}),
        "a leak 3 -> 0 for token 0 only, vocabulary 11":
            (Probe(leak(0, 3, when=lambda v: v == 0), vocab=11), {(0, 3)}),
        "a leak 7 -> 6 in a model of max_seq_len 8 probed at 8": (Probe(leak(6, 7)), {(6, 7)}),
    }


@pytest.mark.parametrize("name", list(_planted()))
def test_planted_leaks_are_found(name):
    model, allowed = _planted()[name]
    found = _run(model)
    assert found is not None, (f"{name}: find_causal_leak found no leak (do the probes change token s to "
                               "several values, so that a leak that shows for some values only is seen, and "
                               "compare the largest change, not an average?)")
    assert found in allowed, \
        f"{name}: reported {found}, not a leak of this model (its pairs include {sorted(allowed)[:4]})"


def test_seq_len_is_used_and_checked():
    model = Probe(leak(0, 7))
    assert _run(model, seq_len=7) is None, "with seq_len = 7 the leak from position 7 is out of reach"
    assert _run(model, seq_len=8) == (0, 7)
    raises(ValueError, lambda: find_causal_leak(model, seq_len=1), "seq_len")
    raises(ValueError, lambda: find_causal_leak(model, seq_len=9), "seq_len")
