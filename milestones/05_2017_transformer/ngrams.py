"""Character n-gram baselines for milestone M05 (NumPy only; not a milestone script).

An n-gram model predicts a character from the n-1 characters before it, with add-k smoothing:

    P(c | context) = (count(context + c) + k) / (count(context) + k * V)

where V is the vocabulary size and the counts come from the training text only. n = 1 is the
unigram (no context), n = 2 the bigram, n = 3 the trigram. ``uniform`` is 1/V for every character.
Loss is the mean negative log-probability in nats per character, the unit of the GPT's
cross-entropy, so the numbers compare directly.

Counting is vectorised: each n-gram of ids becomes one int64 code (base-V digits), counted with
``np.unique`` and looked up with ``np.searchsorted``; memory grows with the number of distinct
n-grams seen, never with V**n, so any text and vocabulary work.
"""

from __future__ import annotations

import math

import numpy as np

# add-k values tried for each n (on a development split carved out of the training text).
K_GRID = (1.0, 0.3, 0.1, 0.03, 0.01, 0.003, 0.001)


def _codes(ids: np.ndarray, n: int, vocab_size: int) -> np.ndarray:
    """The base-V code of every n-gram starting at positions 0..len(ids)-n."""
    ids = np.asarray(ids, dtype=np.int64)
    m = len(ids) - n + 1
    code = np.zeros(max(m, 0), dtype=np.int64)
    for j in range(n):  # n <= 3: a loop over the n-gram order, not over the text
        code = code * vocab_size + ids[j:j + m]
    return code


class NGram:
    """Counts of n-grams and of their (n-1)-gram contexts in ``train_ids``."""

    def __init__(self, n: int, train_ids: np.ndarray, vocab_size: int):
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        if vocab_size ** n >= 2 ** 62:
            raise ValueError(f"vocab_size {vocab_size} is too large for {n}-gram codes in int64")
        train_ids = np.asarray(train_ids, dtype=np.int64)
        if len(train_ids) < n:
            raise ValueError(f"need at least {n} training characters, got {len(train_ids)}")
        self.n, self.vocab_size = n, vocab_size
        self.grams, self.gram_counts = np.unique(_codes(train_ids, n, vocab_size), return_counts=True)
        # A context is counted once per n-gram that follows it (so the probabilities sum to 1).
        ctx = _codes(train_ids[:-1], n - 1, vocab_size) if n > 1 else np.zeros(len(train_ids), np.int64)
        self.contexts, self.context_counts = np.unique(ctx, return_counts=True)

    @staticmethod
    def _lookup(keys: np.ndarray, counts: np.ndarray, query: np.ndarray) -> np.ndarray:
        pos = np.minimum(np.searchsorted(keys, query), len(keys) - 1)
        return np.where(keys[pos] == query, counts[pos], 0)

    def log_probs(self, ids: np.ndarray, targets: np.ndarray, k: float) -> np.ndarray:
        """log P(ids[t] | ids[t-n+1..t-1]) for each position t in ``targets`` (each t >= n-1)."""
        ids = np.asarray(ids, dtype=np.int64)
        targets = np.asarray(targets, dtype=np.int64)
        if len(targets) and targets.min() < self.n - 1:
            raise ValueError(f"a {self.n}-gram needs {self.n - 1} characters before each target")
        ctx = np.zeros(len(targets), dtype=np.int64)
        for j in range(self.n - 1, 0, -1):
            ctx = ctx * self.vocab_size + ids[targets - j]
        gram = ctx * self.vocab_size + ids[targets]
        c_gram = self._lookup(self.grams, self.gram_counts, gram).astype(np.float64)
        c_ctx = (self._lookup(self.contexts, self.context_counts, ctx) if self.n > 1
                 else np.full(len(targets), self.context_counts[0])).astype(np.float64)
        return np.log(c_gram + k) - np.log(c_ctx + k * self.vocab_size)

    def loss(self, ids: np.ndarray, targets: np.ndarray, k: float) -> float:
        """Mean negative log-likelihood in nats per character over ``targets``."""
        return float(-self.log_probs(ids, targets, k).mean())


def choose_k(n: int, train_ids: np.ndarray, vocab_size: int, grid=K_GRID, dev_fraction: float = 0.1):
    """The add-k from ``grid`` with the lowest loss on the last ``dev_fraction`` of the training
    ids, counting on the rest of them (the held-out text is never looked at). Returns (k, losses)."""
    train_ids = np.asarray(train_ids, dtype=np.int64)
    cut = int(len(train_ids) * (1 - dev_fraction))
    model = NGram(n, train_ids[:cut], vocab_size)
    targets = np.arange(max(cut, n - 1), len(train_ids))
    losses = {k: model.loss(train_ids, targets, k) for k in grid}
    return min(losses, key=losses.get), losses


NAMES = {1: "unigram", 2: "bigram", 3: "trigram"}


def baselines(train_ids: np.ndarray, ids: np.ndarray, targets: np.ndarray, vocab_size: int,
              ks: dict[int, float] | None = None, orders=(1, 2, 3)) -> dict[str, tuple[float, float | None]]:
    """Held-out loss (nats/char) at positions ``targets`` of ``ids`` for the uniform model and the
    n-grams of ``orders`` (default unigram, bigram, trigram) counted on ``train_ids``. ``ks`` maps
    n to its add-k; missing entries are chosen with ``choose_k`` on the training ids. Returns
    {name: (loss, k)} (k None for uniform)."""
    ks = dict(ks or {})
    out: dict[str, tuple[float, float | None]] = {"uniform": (math.log(vocab_size), None)}
    for n in orders:
        if n not in ks:
            ks[n] = choose_k(n, train_ids, vocab_size)[0]
        out[NAMES.get(n, f"{n}-gram")] = (NGram(n, train_ids, vocab_size).loss(ids, targets, ks[n]), ks[n])
    return out
