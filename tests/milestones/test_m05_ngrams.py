"""M05's n-gram baselines (milestones/05_2017_transformer/ngrams.py) against hand-computed values.

The module is plain NumPy, so these tests need no course module.
"""

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
_path = ROOT / "milestones" / "05_2017_transformer" / "ngrams.py"
_spec = importlib.util.spec_from_file_location("ngrams", _path)
ngrams = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ngrams)

# Training ids over a vocabulary of 3 (id 2 never occurs in training).
TRAIN = np.array([0, 1, 0, 1, 1])
V = 3


def test_unigram_by_hand():
    # counts 0: 2, 1: 3, 2: 0 of N = 5; add-1: (count + 1) / (5 + 3)
    model = ngrams.NGram(1, TRAIN, V)
    ids = np.array([0, 1, 2])
    got = np.exp(model.log_probs(ids, np.arange(3), k=1.0))
    np.testing.assert_allclose(got, [3 / 8, 4 / 8, 1 / 8])


def test_bigram_by_hand():
    # pairs (0,1) x2, (1,0) x1, (1,1) x1; contexts counted once per following character: 0: 2, 1: 2
    model = ngrams.NGram(2, TRAIN, V)
    ids = np.array([0, 1, 2, 0, 1, 0])
    # targets 1..5: P(1|0), P(2|1), P(0|2), P(1|0), P(0|1) with k = 0.5: (c + 0.5) / (n_ctx + 1.5)
    got = np.exp(model.log_probs(ids, np.arange(1, 6), k=0.5))
    np.testing.assert_allclose(got, [2.5 / 3.5, 0.5 / 3.5, 0.5 / 1.5, 2.5 / 3.5, 1.5 / 3.5])
    assert model.loss(ids, np.arange(1, 6), 0.5) == pytest.approx(-np.log(got).mean())


def test_trigram_by_hand():
    # triples (0,1,0), (1,0,1), (0,1,1); contexts (0,1) x2, (1,0) x1
    model = ngrams.NGram(3, TRAIN, V)
    ids = np.array([0, 1, 0, 1, 0, 2, 2])
    # P(0|0,1) = (1+1)/(2+3), P(1|1,0) = (1+1)/(1+3), P(0|0,1) again, P(2|1,0) = 1/4, P(2|0,2) = 1/3
    got = np.exp(model.log_probs(ids, np.arange(2, 7), k=1.0))
    np.testing.assert_allclose(got, [2 / 5, 2 / 4, 2 / 5, 1 / 4, 1 / 3])


@pytest.mark.parametrize("n", [1, 2, 3])
@pytest.mark.parametrize("k", [1.0, 0.01])
def test_probabilities_sum_to_one_for_every_context(n, k):
    rng = np.random.default_rng(n)
    vocab = 5
    train = rng.integers(0, vocab, size=200)
    model = ngrams.NGram(n, train, vocab)
    contexts = [()] if n == 1 else [tuple(c) for c in np.ndindex(*(vocab,) * (n - 1))]
    for ctx in contexts:
        ids = np.array([list(ctx) + [c] for c in range(vocab)])  # every continuation of ctx
        flat = ids.reshape(-1)
        targets = np.arange(vocab) * n + n - 1
        assert np.exp(model.log_probs(flat, targets, k)).sum() == pytest.approx(1.0)


def test_choose_k_uses_the_training_ids_only_and_picks_the_best_of_the_grid():
    rng = np.random.default_rng(0)
    train = rng.integers(0, 4, size=1000)
    k, losses = ngrams.choose_k(2, train, 4, grid=(1.0, 0.1))
    cut = 900  # the last 10% of the training ids is the development slice
    dev = ngrams.NGram(2, train[:cut], 4)
    for kk in (1.0, 0.1):
        assert losses[kk] == pytest.approx(dev.loss(train, np.arange(cut, 1000), kk))
    assert k == min(losses, key=losses.get)


def test_baselines_report_uniform_and_the_ks_used():
    rng = np.random.default_rng(1)
    ids = rng.integers(0, 6, size=500)
    out = ngrams.baselines(ids[:450], ids, np.arange(450, 500), 6, ks={1: 1.0, 2: 0.5, 3: 0.1})
    assert out["uniform"] == (math.log(6), None)
    assert [out[name][1] for name in ("unigram", "bigram", "trigram")] == [1.0, 0.5, 0.1]
    tri = ngrams.NGram(3, ids[:450], 6).loss(ids, np.arange(450, 500), 0.1)
    assert out["trigram"][0] == pytest.approx(tri)


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="n must be >= 1"):
        ngrams.NGram(0, TRAIN, V)
    with pytest.raises(ValueError, match="at least 3 training characters"):
        ngrams.NGram(3, TRAIN[:2], V)
    with pytest.raises(ValueError, match="needs 2 characters before each target"):
        ngrams.NGram(3, TRAIN, V).log_probs(TRAIN, np.array([1]), 1.0)


def test_baselines_of_other_orders_are_named_by_n():
    ids = np.random.default_rng(2).integers(0, 4, size=400)
    out = ngrams.baselines(ids[:360], ids, np.arange(360, 400), 4, ks={1: 1.0, 4: 0.1}, orders=(1, 4))
    assert list(out) == ["uniform", "unigram", "4-gram"]
    four = ngrams.NGram(4, ids[:360], 4).loss(ids, np.arange(360, 400), 0.1)
    assert out["4-gram"][0] == pytest.approx(four)
