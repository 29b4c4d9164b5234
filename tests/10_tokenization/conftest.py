"""Plain references for module 10's tests: obvious, slow, independent of the package.

Tests get them through the session fixture `ref` (pytest runs with --import-mode=importlib, so
test files cannot import a sibling helper module).
"""

from types import SimpleNamespace

import pytest


def replace_pair(word, pair, new_id):
    """Every occurrence of `pair` in `word`, left to right, replaced by `new_id` (a skip flag)."""
    out, skip = [], False
    for i, token in enumerate(word):
        if skip:
            skip = False
        elif i + 1 < len(word) and (token, word[i + 1]) == tuple(pair):
            out.append(new_id)
            skip = True
        else:
            out.append(token)
    return out


def naive_merges(word_counts, num_merges):
    """Recount every pair before every merge; highest count wins, ties go to the smallest pair."""
    words = [(list(w), n) for w, n in word_counts.items()]
    merges = []
    for k in range(num_merges):
        counts = {}
        for w, n in words:
            for i in range(len(w) - 1):
                counts[(w[i], w[i + 1])] = counts.get((w[i], w[i + 1]), 0) + n
        if not counts:
            break
        top = max(counts.values())
        best = sorted(p for p, c in counts.items() if c == top)[0]
        merges.append(best)
        words = [(replace_pair(w, best, 256 + k), n) for w, n in words]
    return merges


def apply_merges(merges, word: bytes):
    """Encode one word the way training saw it: every merge, in order, over the whole word."""
    ids = list(word)
    for k, pair in enumerate(merges):
        ids = replace_pair(ids, pair, 256 + k)
    return ids


def explain_merges(word_counts, got, want):
    """Where two lists of merges part, with the pair counts at that point, and the likely reason."""
    i = next((k for k, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
    words = [(list(w), n) for w, n in word_counts.items()]
    for k, pair in enumerate(want[:i]):
        words = [(replace_pair(w, pair, 256 + k), n) for w, n in words]
    now = {}
    for w, n in words:
        for a, b in zip(w, w[1:]):
            now[(a, b)] = now.get((a, b), 0) + n
    if i >= len(want):
        return f"merges 0..{i - 1} agree, then you made more ({got[i:i + 3]}...), but no pair is left"
    if i >= len(got):
        return f"merges 0..{i - 1} agree, then you stopped; {want[i]} still occurs {now.get(want[i], 0)} " \
               f"times"
    w, g = want[i], got[i]
    if max(g) >= 256 + i:
        why = f"your pair uses id {max(g)}, which no merge has made yet: merge k makes id 256 + k"
    elif g not in now:
        why = ("this pair no longer occurs at that point: your count for it did not come down to 0 (a "
               "visited word changes each pair's count by the word's count)")
    elif now[g] == now[w]:
        why = ("equal counts at that point, and the tie goes to the smallest pair (if your code breaks ties "
               "that way, the count it used for your pair was out of date)")
    else:
        why = ("your pair has the lower count at that point: a count not updated after a merge, or an old "
               "(stale) count taken")
    return (f"merge {i} (the first {i} agree): expected {w} (count {now[w]}), got {g} "
            f"(count {now.get(g, 0)} at that point): {why}")


@pytest.fixture(scope="session")
def ref():
    return SimpleNamespace(replace_pair=replace_pair, naive_merges=naive_merges, apply_merges=apply_merges,
                           explain_merges=explain_merges)


@pytest.fixture(scope="session")
def shakespeare():
    from tinytorch.datasets import load_shakespeare
    return load_shakespeare()


@pytest.fixture(scope="session")
def trained(shakespeare):
    """A BPE tokenizer with 400 merges and two special tokens, trained on 50 KB of Shakespeare."""
    from tinytorch.tokenization import BPETokenizer
    return BPETokenizer(658, special_tokens=["<|endoftext|>", "<|pad|>"]).train(shakespeare[:50_000])
